//! The environment variables that overlay a configuration file, and `${VAR}` expansion.

use std::collections::BTreeMap;
use std::sync::Arc;

/// Reads one variable of the gateway's environment (the process environment, or a map in tests).
pub type EnvLookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// The environment variables the gateway reads, captured once so that loading is a pure function (tests build
/// an `Overlay` by hand instead of mutating the process environment).
#[derive(Debug, Clone, Default)]
pub struct Overlay {
    /// `LOG_LEVEL`: overrides `gateway.log_level`.
    pub(crate) log_level: Option<String>,
    /// `APP_SERVERS`: comma-separated commands added as `app` servers.
    pub(crate) app_servers: Option<String>,
    /// `EXTERNAL_SERVERS`: comma-separated commands added as `ext` servers.
    pub(crate) external_servers: Option<String>,
    /// `DATABASE_URL`: passed through to app servers that do not set it themselves.
    pub(crate) database_url: Option<String>,
    /// `LOG_DIR`, `LOG_ROTATION`, `LOG_KEEP`: override `[log] dir`, `rotation`, `keep`.
    pub(crate) log_dir: Option<String>,
    pub(crate) log_rotation: Option<String>,
    pub(crate) log_keep: Option<String>,
    /// `REDIS_URL`: the cache and rate limiter use Redis when set (unless `backend = "memory"`).
    pub(crate) redis_url: Option<String>,
    /// `ENABLE_HTTP`, `HTTP_LISTEN`: the Streamable HTTP front.
    pub(crate) http: super::HttpOverlay,
    /// `ENABLE_HEALTH`, `HEALTH_PORT`, `ENABLE_METRICS`, `METRICS_PORT`, `OPS_BIND`, `DFS_GATEWAY_WORKERS`,
    /// `DFS_GATEWAY_SPIN_US`: settings of the process itself.
    pub(crate) process: super::ProcessOverlay,
}

impl Overlay {
    pub(crate) fn from_process() -> Self {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        Overlay {
            log_level: var("LOG_LEVEL"),
            app_servers: var("APP_SERVERS"),
            external_servers: var("EXTERNAL_SERVERS"),
            database_url: var("DATABASE_URL"),
            log_dir: var("LOG_DIR"),
            log_rotation: var("LOG_ROTATION"),
            log_keep: var("LOG_KEEP"),
            redis_url: var("REDIS_URL"),
            http: super::HttpOverlay { enabled: var("ENABLE_HTTP"), listen: var("HTTP_LISTEN") },
            process: super::ProcessOverlay::from_process(var),
        }
    }
}

/// One server named by `APP_SERVERS` / `EXTERNAL_SERVERS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EnvServer {
    pub(crate) name: String,
    pub(crate) command: String,
    pub(crate) args: Vec<String>,
    /// The name was written (`name=path`), not taken from the file stem.
    pub(crate) named: bool,
}

/// The app fleet's servers, one per role, as the bundled configuration runs them.
const FLEET_ROLES: [&str; 3] = ["data", "optimize", "simulation"];

/// Entries that name the app fleet's crate (`./mcp-servers/dfs-mcp`), or a file inside it that does not exist
/// (the seed's `./mcp-servers/dfs-mcp/dist/index.js` from before the fleet was written in Rust), become the
/// fleet's servers run by this binary (`dfs-gateway app <role>`): every role, or the one named by the first
/// argument or by `name=` (`optimize=./mcp-servers/dfs-mcp`). Relative paths are relative to `base`.
pub(crate) fn expand_fleet(entries: Vec<EnvServer>, base: &std::path::Path) -> Result<Vec<EnvServer>, String> {
    let mut out = Vec::new();
    for entry in entries {
        let script = matches!(entry.command.as_str(), "node" | "python3");
        let path = if script { entry.args.first().cloned().unwrap_or_default() } else { entry.command.clone() };
        if !is_fleet_path(&base.join(&path)) {
            out.push(entry);
            continue;
        }
        let mut rest: Vec<String> = entry.args.iter().skip(usize::from(script)).cloned().collect();
        let roles: Vec<String> = if !rest.is_empty() {
            vec![rest.remove(0)]
        } else if entry.named {
            vec![entry.name.clone()]
        } else {
            FLEET_ROLES.iter().map(|r| (*r).to_owned()).collect()
        };
        for role in roles {
            if !FLEET_ROLES.contains(&role.as_str()) && role != "all" {
                return Err(format!(
                    "`{path}` is the app fleet (dfs-mcp); its servers are data, optimize, simulation and all, not \
                     `{role}` (write e.g. `optimize={path}`)"
                ));
            }
            let name = if entry.named { entry.name.clone() } else { role.clone() };
            let mut args = vec!["app".to_owned(), role];
            args.extend(rest.iter().cloned());
            out.push(EnvServer { name, command: "dfs-gateway".into(), args, named: true });
        }
    }
    Ok(out)
}

/// The dfs-mcp crate folder, or a path inside it that does not exist.
fn is_fleet_path(path: &std::path::Path) -> bool {
    let is_crate = |dir: &std::path::Path| {
        std::fs::read_to_string(dir.join("Cargo.toml")).is_ok_and(|t| t.contains("name = \"dfs-mcp\""))
    };
    if path.is_dir() {
        return is_crate(path);
    }
    !path.exists() && path.ancestors().skip(1).take_while(|d| !d.exists() || d.is_dir()).any(is_crate)
}

/// Parses a comma-separated server list. Each entry is `[name=]path [args...]`: `.js` runs under node, `.py`
/// under python3, anything else is executed; the name defaults to the file stem.
pub(crate) fn parse_server_list(list: &str) -> Result<Vec<EnvServer>, String> {
    let mut out = Vec::new();
    for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (name, rest) = match entry.split_once('=') {
            Some((n, r)) if !n.contains(char::is_whitespace) && !n.contains('/') => (Some(n.trim()), r.trim()),
            _ => (None, entry),
        };
        let mut words = rest.split_whitespace().map(str::to_owned);
        let path = words.next().ok_or_else(|| format!("entry `{entry}` names no command"))?;
        let stem = std::path::Path::new(&path)
            .file_stem()
            .and_then(|s| s.to_str())
            .ok_or_else(|| format!("entry `{entry}`: cannot take a server name from `{path}`"))?;
        let named = name.is_some();
        let name = name.map(str::to_owned).unwrap_or_else(|| {
            stem.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect()
        });
        let (command, mut args) = if path.ends_with(".js") || path.ends_with(".mjs") {
            ("node".to_owned(), vec![path])
        } else if path.ends_with(".py") {
            ("python3".to_owned(), vec![path])
        } else {
            (path, Vec::new())
        };
        args.extend(words);
        out.push(EnvServer { name, command, args, named });
    }
    Ok(out)
}

/// Expands `${VAR}` references from `lookup`. `$$` is a literal `$`. Returns the names that were not set
/// (expanded as empty), so the caller can warn without ever printing a value.
pub(crate) fn expand_env(
    value: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<(String, Vec<String>), String> {
    let mut out = String::with_capacity(value.len());
    let mut missing = Vec::new();
    let mut rest = value;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        if let Some(stripped) = after.strip_prefix('$') {
            out.push('$');
            rest = stripped;
        } else if let Some(body) = after.strip_prefix('{') {
            let end = body.find('}').ok_or_else(|| format!("`{value}`: `${{` without a closing `}}`"))?;
            let name = &body[..end];
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(format!("`{value}`: `${{{name}}}` is not a variable name"));
            }
            match lookup(name) {
                Some(v) => out.push_str(&v),
                None => missing.push(name.to_owned()),
            }
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok((out, missing))
}

/// Checks the `${VAR}` syntax of every value without expanding.
pub(crate) fn check_env_syntax(env: &BTreeMap<String, String>) -> Result<(), String> {
    for value in env.values() {
        expand_env(value, |_| Some(String::new()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_lists() {
        let list = parse_server_list("./srv/dfs-mcp/index.js, /opt/slate.py --fast,tools=/bin/my-tool a b").unwrap();
        assert_eq!(
            list,
            vec![
                EnvServer {
                    name: "index".into(),
                    command: "node".into(),
                    args: vec!["./srv/dfs-mcp/index.js".into()],
                    named: false
                },
                EnvServer {
                    name: "slate".into(),
                    command: "python3".into(),
                    args: vec!["/opt/slate.py".into(), "--fast".into()],
                    named: false
                },
                EnvServer {
                    name: "tools".into(),
                    command: "/bin/my-tool".into(),
                    args: vec!["a".into(), "b".into()],
                    named: true
                },
            ]
        );
        assert!(parse_server_list(" , ").unwrap().is_empty());
    }

    #[test]
    fn the_fleet_crate_becomes_the_fleet() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let fleet = |list: &str| expand_fleet(parse_server_list(list).unwrap(), root);
        let all = fleet("./mcp-servers/dfs-mcp").unwrap();
        let names: Vec<(&str, &[String])> = all.iter().map(|e| (e.name.as_str(), &e.args[..])).collect();
        assert_eq!(
            names,
            [
                ("data", &["app".to_owned(), "data".to_owned()][..]),
                ("optimize", &["app".to_owned(), "optimize".to_owned()][..]),
                ("simulation", &["app".to_owned(), "simulation".to_owned()][..]),
            ]
        );
        assert!(all.iter().all(|e| e.command == "dfs-gateway"));
        // The seed's Node entry point inside the crate folder, and one role by name or by argument.
        assert_eq!(fleet("./mcp-servers/dfs-mcp/dist/index.js").unwrap(), all);
        let one = fleet("optimize=./mcp-servers/dfs-mcp, sims=./mcp-servers/dfs-mcp simulation --no-samples").unwrap();
        assert_eq!(
            (one[0].name.as_str(), &one[0].args[..]),
            ("optimize", &["app".to_owned(), "optimize".to_owned()][..])
        );
        assert_eq!(one[1].name, "sims");
        assert_eq!(one[1].args, ["app", "simulation", "--no-samples"]);
        let e = fleet("lineups=./mcp-servers/dfs-mcp").unwrap_err();
        assert!(e.contains("not `lineups`"), "{e}");
        // Anything else is left alone: an existing file of the crate, other paths.
        let other = fleet("./mcp-servers/dfs-mcp/Cargo.toml, ./elsewhere/x.js").unwrap();
        assert_eq!(other[0].command, "./mcp-servers/dfs-mcp/Cargo.toml");
        assert_eq!(other[1].args, ["./elsewhere/x.js"]);
    }

    #[test]
    fn expansion() {
        let look = |k: &str| (k == "KEY").then(|| "v4lue".to_owned());
        assert_eq!(expand_env("Bearer ${KEY}", look).unwrap(), ("Bearer v4lue".into(), vec![]));
        assert_eq!(expand_env("${NOPE}x", look).unwrap(), ("x".into(), vec!["NOPE".into()]));
        assert_eq!(expand_env("$$5 and $x", look).unwrap().0, "$5 and $x");
        assert!(expand_env("${KEY", look).is_err());
        assert!(expand_env("${K-Y}", look).is_err());
    }
}
