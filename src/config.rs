//! Configuration: a TOML file (raw serde structs) overlaid by environment variables, validated into the typed
//! [`Config`] the actors take.
//!
//! Every problem found is reported with the file (or the environment variable), line and column and what is
//! wrong; `dfs-gateway check` prints them all and exits with 64. Relative paths in a file (commands,
//! `state_dir`, `cwd`) are relative to the directory of that file; for the bundled configuration, to the current
//! directory.

mod command;
mod env;
mod http;
mod process;
mod raw;
mod services;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::naming::Naming;

pub(crate) use crate::diagnostics::parse_duration;
pub use crate::diagnostics::{ConfigError, ConfigErrors};
pub(crate) use crate::naming::Namespace;

pub(crate) use command::{exe_dir, resolve as resolve_command};
pub(crate) use env::expand_env;
pub use env::{EnvLookup, Overlay};
pub use http::token_hash;
#[cfg(test)]
pub(crate) use http::TokenEntry;
pub(crate) use http::{HttpFrontConfig, HttpOverlay};
pub(crate) use process::{OpsConfig, ProcessOverlay, RuntimeConfig, HEALTH_PORT};
pub(crate) use services::{CacheConfig, ServicesConfig};

/// The configuration compiled into the binary, used when no file is named.
pub(crate) const BUNDLED: &str = include_str!("config/bundled.toml");

/// The policy rules that come with the bundled configuration: the app fleet's own (a write drops the data
/// server's cached reads; the optimizer and the simulator get longer timeouts), compiled in so that the
/// bundled configuration works from any directory.
const BUNDLED_POLICY: (&str, &str) =
    ("<bundled>/dfs-app.toml", include_str!("../mcp-servers/dfs-mcp/gateway/dfs-app.toml"));

/// Where the configuration came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Source {
    File(PathBuf),
    Bundled,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::File(p) => write!(f, "{}", p.display()),
            Source::Bundled => f.write_str("<bundled>"),
        }
    }
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub(crate) source: Source,
    pub(crate) gateway: GatewayConfig,
    pub(crate) stdio: StdioFrontConfig,
    /// `[front.http]`: the Streamable HTTP front.
    pub(crate) http: HttpFrontConfig,
    /// Servers in name order.
    pub(crate) servers: Vec<Arc<ServerConfig>>,
    pub(crate) policy: PolicyConfig,
    /// `[cache]`, `[rate_limit]`, `[evidence]`.
    pub(crate) services: ServicesConfig,
    pub(crate) log: LogConfig,
    /// `[secrets]`.
    pub(crate) secrets: SecretsConfig,
    /// The ops listeners (`/healthz`, `/metrics`), from the environment only.
    pub(crate) ops: OpsConfig,
    /// The async runtime (threads, spin window), from the environment only.
    pub(crate) runtime: RuntimeConfig,
}

/// `[secrets]`: what clients may see of what servers print (secret values are scrubbed from everything
/// regardless; see [`crate::scrub`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct SecretsConfig {
    /// Remote (HTTP) clients get a crashed server's last stderr lines in the error. Default false.
    pub(crate) stderr_to_remote_clients: bool,
}

/// `[log]`: rolling JSON log files, written besides stderr (which always gets every line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LogConfig {
    /// Folder of the files, absolute; `None` (the default): stderr only. `LOG_DIR` overrides.
    pub(crate) dir: Option<PathBuf>,
    /// When a new file is begun (`LOG_ROTATION` overrides). Default daily.
    pub(crate) rotation: LogRotation,
    /// Files kept: at each rotation the oldest beyond this many are deleted; 0 keeps all (`LOG_KEEP`). Default 7.
    pub(crate) keep: usize,
}

/// `[log] rotation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LogRotation {
    Minutely,
    Hourly,
    Daily,
    Weekly,
    /// One file, `dfs-gateway.log`, never rotated.
    Never,
}

impl LogRotation {
    pub(crate) fn parse(s: &str) -> Option<LogRotation> {
        Some(match s.trim() {
            "minutely" => LogRotation::Minutely,
            "hourly" => LogRotation::Hourly,
            "daily" => LogRotation::Daily,
            "weekly" => LogRotation::Weekly,
            "never" => LogRotation::Never,
            _ => return None,
        })
    }
}

/// `[policy]`: where the rules are and what happens when none matches.
#[derive(Debug, Clone)]
pub(crate) struct PolicyConfig {
    /// Rule files, absolute.
    pub(crate) files: Vec<PathBuf>,
    /// Rules compiled into the binary, (origin, text), read before the files.
    pub(crate) embedded: Vec<(&'static str, &'static str)>,
    pub(crate) default_action: crate::policy::Action,
}

/// `[gateway]`: what the whole gateway shares.
#[derive(Debug, Clone)]
pub(crate) struct GatewayConfig {
    /// `serverInfo.name` toward clients.
    pub(crate) name: String,
    pub(crate) naming: Naming,
    /// Runtime state (`catalog/`, `evidence/`), absolute.
    pub(crate) state_dir: PathBuf,
    /// Largest single JSON-RPC frame accepted in either direction; larger ones are rejected and skipped.
    pub(crate) max_frame_bytes: usize,
    /// `tracing` filter directive (`LOG_LEVEL` overrides).
    pub(crate) log_level: String,
    /// Items per page of merged lists (0: one page).
    pub(crate) page_size: usize,
}

/// `[front.stdio]`.
#[derive(Debug, Clone)]
pub(crate) struct StdioFrontConfig {
    pub(crate) enabled: bool,
}

/// How many downstream sessions an HTTP server gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum SessionMode {
    /// One downstream session that every client's calls share (the default).
    #[default]
    Shared,
    /// One downstream session per client session: a client's calls, progress and the server's requests stay in
    /// its own session, which ends when the client's does.
    PerClient,
}

/// A Streamable HTTP downstream, `url = "http://…/mcp"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HttpServer {
    /// The MCP endpoint, `http://host[:port]/path`.
    pub(crate) url: String,
    /// Extra request headers; values may hold `${VAR}` references to the gateway's environment.
    pub(crate) headers: BTreeMap<String, String>,
    /// A variable of the gateway's environment holding a bearer token for `Authorization`.
    pub(crate) bearer_env: Option<String>,
    pub(crate) session: SessionMode,
}

/// One downstream MCP server, `[servers.<name>]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ServerConfig {
    /// The key under `[servers]`: the middle part of canonical names.
    pub(crate) name: String,
    pub(crate) namespace: Namespace,
    /// Set for a Streamable HTTP server (then `command`, `args`, `env` and `cwd` are unused).
    pub(crate) http: Option<HttpServer>,
    /// Its tools and prompts keep their own names on the wire (`prefix = false`), e.g. to run a test suite that
    /// calls a server's own names through the gateway. Canonical names (policy, logs) keep the prefix.
    pub(crate) prefix: bool,
    /// Program to run: a bare name is looked up on PATH, a path is absolute (relative ones were resolved).
    pub(crate) command: PathBuf,
    pub(crate) args: Vec<String>,
    /// Extra environment, values possibly holding `${VAR}` references to the gateway's environment.
    pub(crate) env: BTreeMap<String, String>,
    /// Working directory of the child.
    pub(crate) cwd: PathBuf,
    /// Pass the gateway's whole environment (otherwise only a minimal one plus `env`).
    pub(crate) inherit_env: bool,
    /// Start on first call (ext default) rather than with the gateway (app default).
    pub(crate) lazy: bool,
    /// Per-call timeout.
    pub(crate) timeout: Duration,
    /// How long start-up (spawn + initialize + first tools/list) may take.
    pub(crate) start_timeout: Duration,
    /// Retries of calls that are safe to repeat (used by the failure-handling work).
    pub(crate) retries: u32,
    /// A lazy server with no calls for this long is stopped.
    pub(crate) idle_timeout: Duration,
    /// Calls in flight (and queued while starting) at most; more are refused as overloaded.
    pub(crate) max_pending: usize,
    /// Consecutive failures (timeouts, crashes, failed starts) that open the circuit breaker.
    pub(crate) circuit_failures: u32,
    /// How long an open circuit fails calls fast before one probe call may try again.
    pub(crate) circuit_cooldown: Duration,
    /// First restart delay after a crash; doubles per consecutive crash up to `restart_backoff_max`.
    pub(crate) restart_backoff: Duration,
    pub(crate) restart_backoff_max: Duration,
    /// Where it was defined (`file:line` or `env:APP_SERVERS`), for messages.
    pub(crate) origin: String,
    /// Where its `command` is written (file, and line and column; `env:APP_SERVERS` has none), for `check`.
    pub(crate) command_place: (String, Option<(usize, usize)>),
}

impl ServerConfig {
    /// `<namespace>.<server>`, the prefix of its canonical tool names.
    pub(crate) fn qualified(&self) -> String {
        format!("{}.{}", self.namespace, self.name)
    }

    /// Whether `other` defines the same server: every setting equal, wherever in the file it is written (a reload
    /// must not restart a server because a line was added above it).
    pub(crate) fn same_definition(&self, other: &ServerConfig) -> bool {
        let unplaced = |c: &ServerConfig| ServerConfig {
            origin: String::new(),
            command_place: (String::new(), None),
            ..c.clone()
        };
        unplaced(self) == unplaced(other)
    }

    /// Identifies what is run, so a catalog written for another command (or URL) is not trusted.
    pub(crate) fn launch_key(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        match &self.http {
            Some(http) => h.update(http.url.as_bytes()),
            None => h.update(self.command.as_os_str().as_encoded_bytes()),
        }
        for a in &self.args {
            h.update([0]);
            h.update(a.as_bytes());
        }
        h.finalize().iter().take(8).map(|b| format!("{b:02x}")).collect()
    }
}

impl Config {
    /// Loads from `path`, or the bundled configuration when `None`, then overlays the environment.
    pub fn load(path: Option<&Path>, overlay: &Overlay) -> Result<Config, ConfigErrors> {
        let (source, text, base_dir) = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|e| {
                    ConfigErrors(vec![ConfigError {
                        origin: p.display().to_string(),
                        line: None,
                        message: format!("cannot read the configuration file: {e}"),
                    }])
                })?;
                let abs = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
                let dir = abs.parent().map(Path::to_path_buf).unwrap_or_default();
                (Source::File(p.to_path_buf()), text, dir)
            }
            None => (Source::Bundled, BUNDLED.to_owned(), std::env::current_dir().unwrap_or_default()),
        };
        let mut config = raw::compile(source, &text, &base_dir, overlay)?;
        if config.source == Source::Bundled {
            config.policy.embedded.push(BUNDLED_POLICY);
        }
        Ok(config)
    }

    /// Loads from `path` and the process environment.
    pub fn load_with_process_env(path: Option<&Path>) -> Result<Config, ConfigErrors> {
        Self::load(path, &Overlay::from_process())
    }

    #[cfg(test)]
    pub(crate) fn server(&self, name: &str) -> Option<&Arc<ServerConfig>> {
        self.servers.iter().find(|s| s.name == name)
    }

    /// Loads the policy rules, and checks that every fallback target names a configured server.
    pub fn load_policy(&self) -> Result<crate::policy::PolicySet, ConfigErrors> {
        let set = if self.policy.embedded.is_empty() {
            crate::policy::PolicySet::load(&self.policy.files, self.policy.default_action)?
        } else {
            let mut sources: Vec<(String, String)> =
                self.policy.embedded.iter().map(|(o, t)| ((*o).to_owned(), (*t).to_owned())).collect();
            for path in &self.policy.files {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    ConfigErrors(vec![ConfigError {
                        origin: path.display().to_string(),
                        line: None,
                        message: format!("cannot read the policy file: {e}"),
                    }])
                })?;
                sources.push((path.display().to_string(), text));
            }
            let sources: Vec<(&str, &str)> = sources.iter().map(|(o, t)| (o.as_str(), t.as_str())).collect();
            crate::policy::PolicySet::from_sources(&sources, self.policy.default_action)?
        };
        let mut errors = Vec::new();
        for rule in set.rules() {
            let Some(target) = rule.fallback.as_deref() else { continue };
            let mut parts = target.splitn(3, '.');
            let (ns, server) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
            if !self.servers.iter().any(|s| s.namespace.as_str() == ns && s.name == server) {
                let (origin, line) = match rule.origin.rsplit_once(':') {
                    Some((file, line)) => (file.to_owned(), line.parse().ok().map(|l| (l, 1))),
                    None => (rule.origin.clone(), None),
                };
                errors.push(ConfigError {
                    origin,
                    line,
                    message: format!(
                        "rule `{}`: fallback `{target}` names no configured server `{ns}.{server}`",
                        rule.name
                    ),
                });
            }
        }
        if errors.is_empty() {
            Ok(set)
        } else {
            Err(ConfigErrors(errors))
        }
    }
}

#[cfg(test)]
mod tests;
