//! The configuration file as written (serde structs with documented defaults), and its compilation into
//! [`Config`]: validation, defaults by namespace, path resolution and the environment overlay.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::env::{check_env_syntax, expand_fleet, parse_server_list, Overlay};
use super::{
    parse_duration, Config, ConfigError, ConfigErrors, GatewayConfig, HttpServer, LogConfig, LogRotation, Namespace,
    PolicyConfig, ServerConfig, SessionMode, Source, StdioFrontConfig,
};
use crate::diagnostics::line_col;
use crate::naming::Naming;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    gateway: RawGateway,
    #[serde(default)]
    front: RawFront,
    #[serde(default)]
    servers: BTreeMap<String, Spanned<RawServer>>,
    #[serde(default)]
    policy: RawPolicy,
    #[serde(default)]
    cache: super::services::RawCache,
    #[serde(default)]
    rate_limit: super::services::RawRateLimit,
    #[serde(default)]
    evidence: super::services::RawEvidence,
    #[serde(default)]
    log: RawLog,
    #[serde(default)]
    secrets: RawSecrets,
}

/// `[secrets]`: what clients may see of what servers print.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawSecrets {
    /// Remote (HTTP) clients get the last stderr lines of a crashed server in the error. Default false: a
    /// server's stderr is the operator's (it is in the gateway's log, scrubbed); the stdio client, the local
    /// user, always gets it (scrubbed).
    stderr_to_remote_clients: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawLog {
    /// Folder of rolling JSON log files, relative to the config file. Default: none (stderr only).
    dir: Option<String>,
    /// "minutely", "hourly", "daily" (default), "weekly" or "never".
    rotation: Spanned<String>,
    /// Files kept; default 7; 0 keeps every file.
    keep: usize,
}

impl Default for RawLog {
    fn default() -> Self {
        RawLog { dir: None, rotation: Spanned::new(0..0, "daily".into()), keep: 7 }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawPolicy {
    /// Rule files, relative to the config file. Default: none (every call allowed by `default_action`).
    files: Vec<String>,
    /// "allow" (default) or "deny": what happens when no rule matches.
    default_action: Spanned<String>,
}

impl Default for RawPolicy {
    fn default() -> Self {
        RawPolicy { files: Vec::new(), default_action: Spanned::new(0..0, "allow".into()) }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawGateway {
    /// Default "dfs-gateway".
    name: String,
    /// Default "__".
    separator: Spanned<String>,
    /// Default 64.
    max_name_len: Spanned<usize>,
    /// Default "_federation", relative to the config file.
    state_dir: String,
    /// Default 16 MiB.
    max_frame_bytes: Spanned<usize>,
    /// Default "info".
    log_level: String,
    /// Default 1000; 0 sends every list in one page.
    page_size: usize,
}

impl Default for RawGateway {
    fn default() -> Self {
        RawGateway {
            name: "dfs-gateway".into(),
            separator: Spanned::new(0..0, "__".into()),
            max_name_len: Spanned::new(0..0, 64),
            state_dir: "_federation".into(),
            max_frame_bytes: Spanned::new(0..0, 16 * 1024 * 1024),
            log_level: "info".into(),
            page_size: 1000,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFront {
    #[serde(default)]
    stdio: RawStdio,
    http: Option<super::http::RawHttp>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawStdio {
    /// Default true: the Claude Desktop entry.
    enabled: bool,
}

impl Default for RawStdio {
    fn default() -> Self {
        RawStdio { enabled: true }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServer {
    namespace: Option<String>,
    command: Option<Spanned<String>>,
    #[serde(default)]
    args: Vec<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    cwd: Option<String>,
    #[serde(default)]
    inherit_env: bool,
    /// Default: false for app, true for ext.
    lazy: Option<bool>,
    /// Default "5s".
    timeout: Option<String>,
    /// Default "30s".
    start_timeout: Option<String>,
    /// Default 2.
    retries: Option<u32>,
    /// Default "10m".
    idle_timeout: Option<String>,
    /// Default 1024.
    max_pending: Option<usize>,
    /// Default 5.
    circuit_failures: Option<u32>,
    /// Default "30s".
    circuit_cooldown: Option<String>,
    /// Default "250ms".
    restart_backoff: Option<String>,
    /// Default "30s".
    restart_backoff_max: Option<String>,
    /// A Streamable HTTP server instead of `command`: `http://host[:port]/path`.
    url: Option<String>,
    /// HTTP servers: extra request headers, values with `${VAR}` from the gateway's environment.
    headers: Option<BTreeMap<String, String>>,
    /// HTTP servers: the variable of the gateway's environment holding a bearer token (`Authorization`).
    bearer_env: Option<String>,
    /// HTTP servers: "shared" (default) or "per_client".
    session: Option<String>,
    /// Default true; false keeps the server's own tool and prompt names on the wire.
    prefix: Option<bool>,
}

/// Collects errors with their place in one text.
struct Errors<'a> {
    origin: String,
    text: &'a str,
    list: Vec<ConfigError>,
}

impl Errors<'_> {
    fn at(&mut self, span: Range<usize>, message: impl Into<String>) {
        let line = (span != (0..0)).then(|| line_col(self.text, span.start));
        self.list.push(ConfigError { origin: self.origin.clone(), line, message: message.into() });
    }
    fn env(&mut self, var: &str, message: impl Into<String>) {
        self.list.push(ConfigError { origin: format!("env:{var}"), line: None, message: message.into() });
    }
}

pub(super) fn compile(source: Source, text: &str, base: &Path, overlay: &Overlay) -> Result<Config, ConfigErrors> {
    let mut errs = Errors { origin: source.to_string(), text, list: Vec::new() };
    let raw: RawConfig = match toml::from_str(text) {
        Ok(raw) => raw,
        Err(e) => {
            errs.at(e.span().unwrap_or(0..0), e.message().to_owned());
            return Err(ConfigErrors(errs.list));
        }
    };

    let g = &raw.gateway;
    let separator = g.separator.get_ref().clone();
    if separator.is_empty() || !separator.chars().all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c)) {
        errs.at(g.separator.span(), "separator must be non-empty and use only letters, digits, `_`, `-` or `.`");
    }
    let max_len = *g.max_name_len.get_ref();
    if !(16..=128).contains(&max_len) {
        errs.at(g.max_name_len.span(), format!("max_name_len must be between 16 and 128, not {max_len}"));
    }
    let max_frame = *g.max_frame_bytes.get_ref();
    if max_frame < 4096 {
        errs.at(g.max_frame_bytes.span(), format!("max_frame_bytes must be at least 4096, not {max_frame}"));
    }
    let (http, env_errors) =
        super::http::compile(raw.front.http.as_ref(), &overlay.http, &|k| std::env::var(k).ok(), &mut |span, m| {
            errs.at(span, format!("[front.http] {m}"))
        });
    for (var, m) in env_errors {
        errs.env(var, m);
    }
    let log_level = overlay.log_level.clone().unwrap_or_else(|| g.log_level.clone());
    if tracing_subscriber::EnvFilter::try_new(&log_level).is_err() {
        errs.at(0..0, format!("log level `{log_level}` is not a valid filter (try info, debug, warn)"));
    }

    let log = compile_log(&raw.log, base, overlay, &mut errs);
    let (ops, runtime) = super::process::compile(&overlay.process, &mut |var, m| errs.env(var, m));

    let default_action = match raw.policy.default_action.get_ref().as_str() {
        "allow" => crate::policy::Action::Allow,
        "deny" => crate::policy::Action::Deny,
        other => {
            errs.at(
                raw.policy.default_action.span(),
                format!("default_action must be \"allow\" or \"deny\", not \"{other}\""),
            );
            crate::policy::Action::Allow
        }
    };
    let files = raw.policy.files.iter().map(|f| resolve(base, f)).collect();
    let policy = PolicyConfig { files, embedded: Vec::new(), default_action };

    let mut servers = Vec::new();
    for (name, server) in &raw.servers {
        let span = server.span();
        let (line, _) = line_col(text, span.start);
        let origin = format!("{source}:{line}");
        let command_at = server.get_ref().command.as_ref().map(|c| line_col(text, c.span().start));
        if let Some(mut s) =
            compile_server(name, server.get_ref(), base, overlay, origin, &mut |m| errs.at(span.clone(), m))
        {
            s.command_place = (source.to_string(), command_at);
            servers.push(s);
        }
    }
    for (var, list, namespace) in [
        ("APP_SERVERS", &overlay.app_servers, Namespace::App),
        ("EXTERNAL_SERVERS", &overlay.external_servers, Namespace::Ext),
    ] {
        let Some(list) = list else { continue };
        let cwd = std::env::current_dir().unwrap_or_default();
        let entries = match parse_server_list(list).and_then(|e| expand_fleet(e, &cwd)) {
            Ok(entries) => entries,
            Err(e) => {
                errs.env(var, e);
                continue;
            }
        };
        for entry in entries {
            if let Some(pos) = servers.iter().position(|s: &ServerConfig| s.name == entry.name) {
                // The bundled configuration's servers are defaults the environment may replace; a file's are
                // the operator's own, and two definitions of one name are a mistake.
                if source == Source::Bundled && !servers[pos].origin.starts_with("env:") {
                    servers.remove(pos);
                } else {
                    errs.env(var, format!("server `{}` is already defined at {}", entry.name, servers[pos].origin));
                    continue;
                }
            }
            let raw = RawServer {
                namespace: Some(namespace.as_str().to_owned()),
                command: Some(Spanned::new(0..0, entry.command)),
                args: entry.args,
                ..RawServer::default()
            };
            if let Some(mut s) =
                compile_server(&entry.name, &raw, &cwd, overlay, format!("env:{var}"), &mut |m| errs.env(var, m))
            {
                s.command_place = (format!("env:{var}"), None);
                servers.push(s);
            }
        }
    }
    servers.sort_by(|a, b| a.name.cmp(&b.name));

    let state_dir = resolve(base, &g.state_dir);
    let services = super::services::compile(
        &raw.cache,
        &raw.rate_limit,
        &raw.evidence,
        overlay.redis_url.as_deref(),
        &state_dir,
        base,
        &mut |span, m| errs.at(span, m),
    );

    if !errs.list.is_empty() {
        return Err(ConfigErrors(errs.list));
    }
    Ok(Config {
        source,
        gateway: GatewayConfig {
            name: g.name.clone(),
            naming: Naming { separator, max_len },
            state_dir,
            max_frame_bytes: max_frame,
            log_level,
            page_size: g.page_size,
        },
        stdio: StdioFrontConfig { enabled: raw.front.stdio.enabled },
        http,
        policy,
        servers: servers.into_iter().map(Arc::new).collect(),
        services,
        log,
        secrets: super::SecretsConfig { stderr_to_remote_clients: raw.secrets.stderr_to_remote_clients },
        ops,
        runtime,
    })
}

/// `[log]` with `LOG_DIR` / `LOG_ROTATION` / `LOG_KEEP` over it (a relative `LOG_DIR` is relative to the current
/// directory, like any path given on a command line).
fn compile_log(raw: &RawLog, base: &Path, overlay: &Overlay, errs: &mut Errors<'_>) -> LogConfig {
    const ROTATIONS: &str = "\"minutely\", \"hourly\", \"daily\", \"weekly\" or \"never\"";
    let dir = match (&overlay.log_dir, &raw.dir) {
        (Some(d), _) => Some(resolve(&std::env::current_dir().unwrap_or_default(), d)),
        (None, Some(d)) if d.trim().is_empty() => {
            errs.at(0..0, "[log] dir must not be empty; leave it out to log to stderr only");
            None
        }
        (None, Some(d)) => Some(resolve(base, d)),
        (None, None) => None,
    };
    let rotation = match &overlay.log_rotation {
        Some(r) => LogRotation::parse(r).unwrap_or_else(|| {
            errs.env("LOG_ROTATION", format!("`{r}` is not a rotation; use {ROTATIONS}"));
            LogRotation::Daily
        }),
        None => LogRotation::parse(raw.rotation.get_ref()).unwrap_or_else(|| {
            let msg = format!("rotation `{}` is not a rotation; use {ROTATIONS}", raw.rotation.get_ref());
            errs.at(raw.rotation.span(), msg);
            LogRotation::Daily
        }),
    };
    let keep = match &overlay.log_keep {
        Some(k) => k.trim().parse().unwrap_or_else(|_| {
            errs.env("LOG_KEEP", format!("`{k}` is not a number of files (0 keeps every file)"));
            raw.keep
        }),
        None => raw.keep,
    };
    LogConfig { dir, rotation, keep }
}

pub(super) fn resolve(base: &Path, p: &str) -> PathBuf {
    let p = Path::new(p);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

fn compile_server(
    name: &str,
    raw: &RawServer,
    base: &Path,
    overlay: &Overlay,
    origin: String,
    err: &mut dyn FnMut(String),
) -> Option<ServerConfig> {
    let before = std::cell::Cell::new(0usize);
    let mut fail = |m: String| {
        before.set(before.get() + 1);
        err(format!("server `{name}`: {m}"));
    };
    if name.is_empty() || name.len() > 48 || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        fail("the name must be 1-48 letters, digits, `_` or `-` (it becomes part of every tool name)".into());
    }
    let namespace = match raw.namespace.as_deref() {
        Some("app") => Namespace::App,
        Some("ext") => Namespace::Ext,
        Some(other) => {
            fail(format!("namespace must be \"app\" or \"ext\", not \"{other}\""));
            Namespace::Ext
        }
        None => {
            fail("namespace is missing: set namespace = \"app\" or \"ext\"".into());
            Namespace::Ext
        }
    };
    let http = match (&raw.url, &raw.command) {
        (Some(_), Some(_)) => {
            fail(
                "set either `command` (a process speaking stdio) or `url` (a Streamable HTTP server), not both".into(),
            );
            None
        }
        (Some(url), None) => compile_http(raw, url, &mut fail),
        (None, _) => {
            for (key, set) in [
                ("headers", raw.headers.is_some()),
                ("bearer_env", raw.bearer_env.is_some()),
                ("session", raw.session.is_some()),
            ] {
                if set {
                    fail(format!("`{key}` applies to HTTP servers only (set `url`)"));
                }
            }
            None
        }
    };
    let command = match raw.command.as_ref().map(|c| c.get_ref().as_str()) {
        Some(c) if !c.trim().is_empty() => {
            if c.contains('/') {
                let p = resolve(base, c);
                if !p.exists() {
                    fail(format!("command `{}` does not exist", p.display()));
                }
                p
            } else {
                PathBuf::from(c)
            }
        }
        Some(_) => {
            fail("command is empty: name the program that runs the server".into());
            PathBuf::new()
        }
        None if raw.url.is_some() => PathBuf::new(),
        None => {
            fail(
                "neither `command` nor `url` is set: name the program that runs the server, or its Streamable HTTP URL"
                    .into(),
            );
            PathBuf::new()
        }
    };
    let mut duration = |field: &str, value: &Option<String>, default: Duration| -> Duration {
        match value.as_deref().map(parse_duration) {
            None => default,
            Some(Ok(d)) if !d.is_zero() => d,
            Some(Ok(_)) => {
                fail(format!("{field} must be longer than zero"));
                default
            }
            Some(Err(e)) => {
                fail(format!("{field}: {e}"));
                default
            }
        }
    };
    let timeout = duration("timeout", &raw.timeout, Duration::from_secs(5));
    let start_timeout = duration("start_timeout", &raw.start_timeout, Duration::from_secs(30));
    let idle_timeout = duration("idle_timeout", &raw.idle_timeout, Duration::from_secs(600));
    let restart_backoff = duration("restart_backoff", &raw.restart_backoff, Duration::from_millis(250));
    let circuit_cooldown = duration("circuit_cooldown", &raw.circuit_cooldown, Duration::from_secs(30));
    let restart_backoff_max = duration("restart_backoff_max", &raw.restart_backoff_max, Duration::from_secs(30));
    let max_pending = raw.max_pending.unwrap_or(1024);
    if max_pending == 0 {
        fail("max_pending must be at least 1".into());
    }
    for key in raw.env.keys() {
        if key.is_empty() || key.contains('=') {
            fail(format!("env key `{key}` is not a variable name"));
        }
    }
    if let Err(e) = check_env_syntax(&raw.env) {
        fail(format!("env: {e}"));
    }
    let mut env = raw.env.clone();
    if namespace == Namespace::App && overlay.database_url.is_some() && !env.contains_key("DATABASE_URL") {
        env.insert("DATABASE_URL".into(), "${DATABASE_URL}".into());
    }
    if before.get() > 0 {
        return None;
    }
    Some(ServerConfig {
        name: name.to_owned(),
        namespace,
        http,
        prefix: raw.prefix.unwrap_or(true),
        command,
        args: raw.args.clone(),
        env,
        cwd: raw.cwd.as_deref().map_or_else(|| base.to_path_buf(), |c| resolve(base, c)),
        inherit_env: raw.inherit_env,
        lazy: raw.lazy.unwrap_or(namespace == Namespace::Ext),
        timeout,
        start_timeout,
        retries: raw.retries.unwrap_or(2),
        idle_timeout,
        max_pending,
        circuit_failures: raw.circuit_failures.unwrap_or(5).max(1),
        circuit_cooldown,
        restart_backoff,
        restart_backoff_max: restart_backoff_max.max(restart_backoff),
        origin,
        command_place: (String::new(), None),
    })
}

/// The HTTP part of a `url` server; `None` after reporting what is wrong.
fn compile_http(raw: &RawServer, url: &str, fail: &mut dyn FnMut(String)) -> Option<HttpServer> {
    let before_args = raw.args.is_empty() && raw.env.is_empty() && raw.cwd.is_none() && !raw.inherit_env;
    if !before_args {
        fail(
            "`args`, `env`, `cwd` and `inherit_env` apply to command servers only; an HTTP server takes `headers`"
                .into(),
        );
    }
    let mut ok = true;
    match check_url(url) {
        Ok(()) => {}
        Err(e) => {
            fail(format!("url `{url}`: {e}"));
            ok = false;
        }
    }
    let headers = raw.headers.clone().unwrap_or_default();
    for key in headers.keys() {
        let reserved = [
            "content-type",
            "accept",
            "mcp-session-id",
            "mcp-protocol-version",
            "mcp-method",
            "mcp-name",
            "host",
            "content-length",
        ];
        if http::HeaderName::from_bytes(key.as_bytes()).is_err() {
            fail(format!("header name `{key}` is not a valid HTTP header name"));
            ok = false;
        } else if reserved.contains(&key.to_ascii_lowercase().as_str()) {
            fail(format!("header `{key}` is set by the gateway itself (MCP transport); remove it"));
            ok = false;
        }
    }
    if let Err(e) = check_env_syntax(&headers) {
        fail(format!("headers: {e}"));
        ok = false;
    }
    if let Some(var) = &raw.bearer_env {
        if var.is_empty() || !var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            fail(format!("bearer_env must name an environment variable (letters, digits, `_`), not `{var}`"));
            ok = false;
        }
        if headers.keys().any(|k| k.eq_ignore_ascii_case("authorization")) {
            fail("set `bearer_env` or an `Authorization` header, not both".into());
            ok = false;
        }
    }
    let session = match raw.session.as_deref() {
        None | Some("shared") => SessionMode::Shared,
        Some("per_client") => SessionMode::PerClient,
        Some(other) => {
            fail(format!("session must be \"shared\" or \"per_client\", not \"{other}\""));
            ok = false;
            SessionMode::Shared
        }
    };
    ok.then(|| HttpServer { url: url.to_owned(), headers, bearer_env: raw.bearer_env.clone(), session })
}

/// A URL the HTTP transport can reach: `http://host[:port]/path`.
fn check_url(url: &str) -> Result<(), String> {
    let uri: http::Uri =
        url.parse().map_err(|e| format!("not a URL ({e}); write e.g. \"http://127.0.0.1:3001/mcp\""))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => {
            return Err("https is not supported yet (no TLS client is built in); reach the server over http, e.g. through a local TLS-terminating proxy".into())
        }
        _ => return Err("the scheme must be http://".into()),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err("it names no host".into());
    }
    Ok(())
}
