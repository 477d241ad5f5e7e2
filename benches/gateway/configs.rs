//! The gateway configurations the phases start.

use super::*;

pub(crate) fn server_toml(name: &str, namespace: &str, args: &[&str], extra: &str) -> String {
    let args: Vec<String> = ["--name", name].iter().chain(args).map(|a| format!("\"{a}\"")).collect();
    let args = args.join(", ");
    format!(
        "[servers.{name}]\nnamespace = \"{namespace}\"\ncommand = \"{FIXTURE}\"\nargs = [{args}]\n\
         timeout = \"30s\"\nmax_pending = 4096\n{extra}\n"
    )
}

/// A gateway config with `servers`, plus `BENCH_GATEWAY_TOML` (extra sections, e.g. `[evidence] enabled = false`,
/// to see what a feature costs).
pub(crate) fn write_config(dir: &Path, file: &str, servers: &str) -> Result<PathBuf> {
    let extra = std::env::var("BENCH_GATEWAY_TOML").unwrap_or_default().replace("\\n", "\n");
    write_config_exact(dir, file, &format!("{extra}\n{servers}"))
}

/// A gateway config with exactly `body` after its `[gateway]` table.
pub(crate) fn write_config_exact(dir: &Path, file: &str, body: &str) -> Result<PathBuf> {
    let path = dir.join(file);
    let state = dir.join("state");
    std::fs::write(&path, format!("[gateway]\nstate_dir = \"{}\"\n\n{body}", state.display()))?;
    Ok(path)
}

pub(crate) fn lines_in(path: &Path) -> usize {
    std::fs::read_to_string(path).map(|s| s.lines().filter(|l| !l.trim().is_empty()).count()).unwrap_or(0)
}
