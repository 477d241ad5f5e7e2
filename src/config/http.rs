//! `[front.http]`: the Streamable HTTP front as written, and its validation into [`HttpFrontConfig`].
//!
//! Tokens are never kept in clear in the file: an entry names the SHA-256 of a token, or the environment
//! variable the token is read from at start (its hash is all the gateway keeps).

use std::net::SocketAddr;
use std::ops::Range;
use std::time::Duration;

use serde::Deserialize;
use sha2::{Digest, Sha256};
use toml::Spanned;

use super::parse_duration;

/// Where the HTTP front listens unless configured: loopback only.
pub(super) const DEFAULT_LISTEN: &str = "127.0.0.1:8000";

/// The validated `[front.http]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HttpFrontConfig {
    pub(crate) enabled: bool,
    /// The listener; loopback unless the operator chose otherwise.
    pub(crate) listen: SocketAddr,
    /// Origins a browser may send; `None` allows loopback origins only (`http(s)://localhost|127.0.0.1|[::1]`
    /// on any port). A request without `Origin` (a non-browser client) is always let through.
    pub(crate) allowed_origins: Option<Vec<String>>,
    /// Largest request body; larger ones get 413 with a JSON-RPC error.
    pub(crate) max_body_bytes: usize,
    /// A legacy session with no request and no open stream for this long is ended (then 404).
    pub(crate) session_idle_timeout: Duration,
    /// Legacy sessions at most; an `initialize` beyond gets 503.
    pub(crate) max_sessions: usize,
    /// Legacy sessions one token identity may hold at once (an `initialize` beyond gets 503), so one client
    /// cannot take all of `max_sessions`. Sessions without an identity (no tokens configured) are bounded by
    /// `max_sessions` only: nothing tells their clients apart.
    pub(crate) max_sessions_per_client: usize,
    /// Open connections at most; more wait in the listen queue until one closes. Lowered at start when the
    /// file descriptor limit would not leave a reserve for the gateway's own needs (downstream processes,
    /// files), so a flood of connections cannot stop a crashed server from being restarted.
    pub(crate) max_connections: usize,
    /// A connection that has begun a request must have sent its whole head within this time, and a new
    /// connection its first request head (slow or silent clients are dropped).
    pub(crate) header_read_timeout: Duration,
    /// A connection with nothing in flight and nothing arriving for this long is closed.
    pub(crate) keep_alive_timeout: Duration,
    /// Bearer tokens and the client identity each stands for. Empty: no authentication.
    pub(crate) tokens: Vec<TokenEntry>,
    /// This resource's URL in the protected resource metadata (RFC 9728); default: built from the request's
    /// `Host` as `http://<host>/mcp`.
    pub(crate) resource: Option<String>,
    /// Authorization servers named in the protected resource metadata.
    pub(crate) authorization_servers: Vec<String>,
}

impl Default for HttpFrontConfig {
    fn default() -> Self {
        HttpFrontConfig {
            enabled: false,
            listen: DEFAULT_LISTEN.parse().expect("a socket address"),
            allowed_origins: None,
            max_body_bytes: 4 * 1024 * 1024,
            session_idle_timeout: Duration::from_secs(30 * 60),
            max_sessions: 1024,
            max_sessions_per_client: 64,
            max_connections: 1024,
            header_read_timeout: Duration::from_secs(10),
            keep_alive_timeout: Duration::from_secs(60),
            tokens: Vec::new(),
            resource: None,
            authorization_servers: Vec::new(),
        }
    }
}

/// One accepted bearer token.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct TokenEntry {
    /// The identity policy `when.clients` rules see for requests with this token.
    pub(crate) client: String,
    /// SHA-256 of the token.
    pub(crate) sha256: [u8; 32],
}

impl std::fmt::Debug for TokenEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Even the hash stays out of logs: it identifies a secret.
        f.debug_struct("TokenEntry").field("client", &self.client).finish_non_exhaustive()
    }
}

/// SHA-256 of a token, as kept in [`TokenEntry::sha256`].
pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHttp {
    /// Default false.
    #[serde(default)]
    enabled: Option<Spanned<bool>>,
    /// Default "127.0.0.1:8000".
    listen: Option<Spanned<String>>,
    /// Default: loopback origins only.
    allowed_origins: Option<Spanned<Vec<String>>>,
    /// Default 4 MiB.
    max_body_bytes: Option<Spanned<usize>>,
    /// Default "30m".
    session_idle_timeout: Option<Spanned<String>>,
    /// Default 1024.
    max_sessions: Option<Spanned<usize>>,
    /// Default 64.
    max_sessions_per_client: Option<Spanned<usize>>,
    /// Default 1024.
    max_connections: Option<Spanned<usize>>,
    /// Default "10s".
    header_read_timeout: Option<Spanned<String>>,
    /// Default "60s".
    keep_alive_timeout: Option<Spanned<String>>,
    /// Default: none (no authentication).
    #[serde(default)]
    tokens: Vec<Spanned<RawToken>>,
    resource: Option<Spanned<String>>,
    #[serde(default)]
    authorization_servers: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawToken {
    client: Option<String>,
    /// Hex SHA-256 of the token.
    sha256: Option<String>,
    /// Or: the environment variable holding the token.
    env: Option<String>,
}

/// Environment variables that overlay `[front.http]`.
#[derive(Debug, Clone, Default)]
pub(crate) struct HttpOverlay {
    /// `ENABLE_HTTP`: true/false.
    pub(crate) enabled: Option<String>,
    /// `HTTP_LISTEN`: the listen address (e.g. `0.0.0.0:8000` in a container).
    pub(crate) listen: Option<String>,
}

/// Validates the table; `at` records an error at a span of the file. Errors about environment variables are
/// returned as (variable, message).
pub(super) fn compile(
    raw: Option<&RawHttp>,
    overlay: &HttpOverlay,
    lookup: &dyn Fn(&str) -> Option<String>,
    at: &mut dyn FnMut(Range<usize>, String),
) -> (HttpFrontConfig, Vec<(&'static str, String)>) {
    let mut env_errors = Vec::new();
    let mut env = |var: &'static str, m: String| env_errors.push((var, m));
    let mut cfg = HttpFrontConfig::default();
    let default_raw = RawHttp::default();
    let raw = raw.unwrap_or(&default_raw);
    if let Some(e) = &raw.enabled {
        cfg.enabled = *e.get_ref();
    }
    if let Some(v) = &overlay.enabled {
        match v.trim() {
            "1" | "true" | "yes" | "on" => cfg.enabled = true,
            "0" | "false" | "no" | "off" => cfg.enabled = false,
            other => env("ENABLE_HTTP", format!("`{other}` is not true or false")),
        }
    }
    if let Some(listen) = &raw.listen {
        match listen.get_ref().parse() {
            Ok(addr) => cfg.listen = addr,
            Err(_) => {
                at(listen.span(), format!("listen `{}` is not an address like \"127.0.0.1:8000\"", listen.get_ref()))
            }
        }
    }
    if let Some(v) = &overlay.listen {
        match v.trim().parse() {
            Ok(addr) => cfg.listen = addr,
            Err(_) => env("HTTP_LISTEN", format!("`{v}` is not an address like \"127.0.0.1:8000\"")),
        }
    }
    if let Some(origins) = &raw.allowed_origins {
        for o in origins.get_ref() {
            if !(o.starts_with("http://") || o.starts_with("https://")) || o.ends_with('/') {
                at(
                    origins.span(),
                    format!("allowed_origins: `{o}` is not an origin like \"https://app.example.com\" (scheme://host[:port], `*` as a wildcard, no path)"),
                );
            }
        }
        cfg.allowed_origins = Some(origins.get_ref().clone());
    }
    if let Some(max) = &raw.max_body_bytes {
        if *max.get_ref() < 1024 {
            at(max.span(), format!("max_body_bytes must be at least 1024, not {}", max.get_ref()));
        } else {
            cfg.max_body_bytes = *max.get_ref();
        }
    }
    if let Some(t) = &raw.session_idle_timeout {
        match parse_duration(t.get_ref()) {
            Ok(d) if !d.is_zero() => cfg.session_idle_timeout = d,
            Ok(_) => at(t.span(), "session_idle_timeout must be longer than zero".into()),
            Err(e) => at(t.span(), format!("session_idle_timeout: {e}")),
        }
    }
    for (key, value, field) in [
        ("max_sessions", &raw.max_sessions, &mut cfg.max_sessions),
        ("max_sessions_per_client", &raw.max_sessions_per_client, &mut cfg.max_sessions_per_client),
        ("max_connections", &raw.max_connections, &mut cfg.max_connections),
    ] {
        if let Some(max) = value {
            if *max.get_ref() == 0 {
                at(max.span(), format!("{key} must be at least 1"));
            } else {
                *field = *max.get_ref();
            }
        }
    }
    for (key, value, field) in [
        ("header_read_timeout", &raw.header_read_timeout, &mut cfg.header_read_timeout),
        ("keep_alive_timeout", &raw.keep_alive_timeout, &mut cfg.keep_alive_timeout),
    ] {
        if let Some(t) = value {
            match parse_duration(t.get_ref()) {
                Ok(d) if !d.is_zero() => *field = d,
                Ok(_) => at(t.span(), format!("{key} must be longer than zero")),
                Err(e) => at(t.span(), format!("{key}: {e}")),
            }
        }
    }
    for token in &raw.tokens {
        let span = token.span();
        let t = token.get_ref();
        let client = match t.client.as_deref().map(str::trim) {
            Some(c) if !c.is_empty() => c.to_owned(),
            _ => {
                at(span.clone(), "tokens: every token needs `client`, the identity policy rules see".into());
                continue;
            }
        };
        let sha256 = match (&t.sha256, &t.env) {
            (Some(hex), None) => match parse_hex32(hex) {
                Some(h) => h,
                None => {
                    at(span, format!("tokens: client `{client}`: sha256 must be 64 hex digits (the SHA-256 of the token, e.g. from `printf %s TOKEN | sha256sum`)"));
                    continue;
                }
            },
            (None, Some(var)) => match lookup(var).filter(|v| !v.trim().is_empty()) {
                Some(token) => token_hash(token.trim()),
                None => {
                    at(span, format!("tokens: client `{client}`: environment variable {var} is not set (it should hold the token)"));
                    continue;
                }
            },
            _ => {
                at(span, format!("tokens: client `{client}`: set exactly one of `sha256` (hex SHA-256 of the token) or `env` (a variable holding it)"));
                continue;
            }
        };
        if cfg.tokens.iter().any(|e| e.sha256 == sha256) {
            at(token.span(), format!("tokens: client `{client}`: the same token is listed twice"));
            continue;
        }
        cfg.tokens.push(TokenEntry { client, sha256 });
    }
    if let Some(r) = &raw.resource {
        if !(r.get_ref().starts_with("http://") || r.get_ref().starts_with("https://")) {
            at(
                r.span(),
                format!("resource `{}` must be the URL clients use, like \"https://gw.example.com/mcp\"", r.get_ref()),
            );
        }
        cfg.resource = Some(r.get_ref().clone());
    }
    cfg.authorization_servers = raw.authorization_servers.clone();
    (cfg, env_errors)
}

fn parse_hex32(hex: &str) -> Option<[u8; 32]> {
    let hex = hex.trim();
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}
