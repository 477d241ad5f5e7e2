//! Finding the program a server's `command` names, the same way for `check` (which reports what is missing)
//! and for the start of the process (which runs what was found).
//!
//! A path (`./shims/github.sh`, `/usr/bin/node`) was made absolute when the file was read. A bare name is looked
//! up first beside the gateway's own executable (the app fleet and the fixture server are built into the same
//! folder, which a desktop client's minimal `PATH` does not include), then on the `PATH` the child gets (its own
//! `env` table's `PATH` when it sets one, else the gateway's).

use std::path::{Path, PathBuf};

use super::{expand_env, ServerConfig};

/// Why a command cannot be run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum CommandError {
    #[error("command `{name}` was not found beside the gateway ({beside}) or on PATH ({path})")]
    NotFound { name: String, beside: String, path: String },
    #[error("command `{0}` does not exist")]
    Missing(PathBuf),
    #[error("command `{0}` is not an executable file")]
    NotExecutable(PathBuf),
}

/// The program `cfg` runs, as an absolute path. `lookup_env` reads the gateway's environment; `exe_dir` is the
/// folder of the gateway's executable (`None` when it cannot be known).
pub(crate) fn resolve(
    cfg: &ServerConfig,
    exe_dir: Option<&Path>,
    lookup_env: &dyn Fn(&str) -> Option<String>,
) -> Result<PathBuf, CommandError> {
    let command = &cfg.command;
    if command.components().count() > 1 || command.is_absolute() {
        return check_file(command).map(|()| command.clone());
    }
    let name = command.to_string_lossy().into_owned();
    if let Some(dir) = exe_dir {
        let candidate = dir.join(command);
        if check_file(&candidate).is_ok() {
            return Ok(candidate);
        }
    }
    let path = match cfg.env.get("PATH") {
        Some(p) => expand_env(p, lookup_env).map(|(v, _)| v).unwrap_or_default(),
        None => lookup_env("PATH").unwrap_or_default(),
    };
    for dir in std::env::split_paths(&path).filter(|d| !d.as_os_str().is_empty()) {
        let candidate = dir.join(command);
        if check_file(&candidate).is_ok() {
            return Ok(candidate);
        }
    }
    let beside = exe_dir.map_or_else(|| "its folder is unknown".to_owned(), |d| d.display().to_string());
    let path = if path.is_empty() { "unset".to_owned() } else { path };
    Err(CommandError::NotFound { name, beside, path })
}

/// The folder of the running executable.
pub(crate) fn exe_dir() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    exe.parent().map(Path::to_path_buf)
}

fn check_file(path: &Path) -> Result<(), CommandError> {
    use std::os::unix::fs::PermissionsExt;
    match std::fs::metadata(path) {
        Err(_) => Err(CommandError::Missing(path.to_path_buf())),
        Ok(m) if !m.is_file() || m.permissions().mode() & 0o111 == 0 => {
            Err(CommandError::NotExecutable(path.to_path_buf()))
        }
        Ok(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, Overlay};

    fn server(command: &str, env_path: Option<&str>) -> ServerConfig {
        let text = match env_path {
            Some(p) => {
                format!("[servers.s]\nnamespace = \"app\"\ncommand = \"{command}\"\nenv = {{ PATH = \"{p}\" }}\n")
            }
            None => format!("[servers.s]\nnamespace = \"app\"\ncommand = \"{command}\"\n"),
        };
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("gw.toml");
        std::fs::write(&file, text).unwrap();
        let cfg = Config::load(Some(&file), &Overlay::default()).unwrap();
        (*cfg.servers[0]).clone()
    }

    fn executable(dir: &Path, name: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let p = dir.join(name);
        std::fs::write(&p, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    #[test]
    fn bare_names_beside_the_gateway_first_then_path() {
        let beside = tempfile::tempdir().unwrap();
        let on_path = tempfile::tempdir().unwrap();
        let p1 = executable(beside.path(), "tool");
        let p2 = executable(on_path.path(), "tool");
        let path = on_path.path().display().to_string();
        let env = |k: &str| (k == "PATH").then(|| path.clone());
        let cfg = server("tool", None);
        assert_eq!(resolve(&cfg, Some(beside.path()), &env).unwrap(), p1);
        let elsewhere = tempfile::tempdir().unwrap();
        assert_eq!(resolve(&cfg, Some(elsewhere.path()), &env).unwrap(), p2);
        // The server's own PATH wins over the gateway's.
        let cfg = server("tool", Some("/nonexistent-dir"));
        let e = resolve(&cfg, Some(elsewhere.path()), &env).unwrap_err();
        assert!(e.to_string().contains("on PATH (/nonexistent-dir)"), "{e}");
    }

    #[test]
    fn missing_and_non_executable_commands_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let env = |k: &str| (k == "PATH").then(|| "/usr/bin:/bin".to_owned());
        let e = resolve(&server("no-such-program-dfs", None), Some(dir.path()), &env).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "command `no-such-program-dfs` was not found beside the gateway ({}) or on PATH (/usr/bin:/bin)",
                dir.path().display()
            )
        );
        let plain = dir.path().join("plain");
        std::fs::write(&plain, "x").unwrap();
        let mut cfg = server("sh", None);
        cfg.command = plain.clone();
        assert_eq!(resolve(&cfg, None, &env).unwrap_err(), CommandError::NotExecutable(plain));
    }
}
