//! What `/healthz` reports: the [`Health`] document and the [`HealthSource`] the ops server asks for it (the
//! gateway's source asks every server actor for its status when a probe comes in).
//!
//! # Secrets
//!
//! `last_error` and `error` strings are served to anyone who can reach the health port. They are produced by the
//! gateway (e.g. "spawn failed: No such file or directory", "handshake timed out after 10s") and must never
//! contain environment values, arguments or downstream output; the code that sets them is responsible for that.
//! Nothing else in the document is free text.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;

use serde::Serialize;

/// Overall, or one namespace's, ability to serve.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Status {
    /// Every server is usable.
    Ok,
    /// Serving, but some server's circuit is open or it is restarting, or the cache backend is down.
    Degraded,
    /// Not serving: the gateway is starting or stopping, or no server at all is usable.
    Unavailable,
}

impl Status {
    /// Whether `/healthz` answers 200 (serving, possibly degraded) rather than 503.
    pub(crate) fn is_serving(self) -> bool {
        self != Status::Unavailable
    }
}

/// One downstream server's state as operators see it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ServerState {
    /// Lazy and never started (not a problem: the first call starts it).
    #[default]
    NotStarted,
    /// Process spawned, MCP handshake in progress.
    Starting,
    /// Answering calls.
    Ready,
    /// Calls fail fast until the breaker's cool-down ends.
    CircuitOpen,
    /// Crashed or failed to start; waiting out the backoff before the next attempt.
    Restarting,
    /// Stopped after idling (a call starts it again), or the gateway is shutting down.
    Stopped,
}

impl ServerState {
    /// Whether the server can take a call now or after a start: everything but an open circuit or a backoff.
    pub(crate) fn is_usable(self) -> bool {
        !matches!(self, ServerState::CircuitOpen | ServerState::Restarting)
    }
}

/// One server's entry in the document.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub(crate) struct ServerHealth {
    /// Current state.
    pub(crate) state: ServerState,
    /// Restarts since the gateway started.
    pub(crate) restarts: u64,
    /// The latest failure, as the gateway described it (see the module docs on secrets); cleared when the
    /// server becomes ready again.
    pub(crate) last_error: Option<String>,
    /// The process id while a process runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) pid: Option<u32>,
    /// The circuit breaker: `closed`, `open` or `half-open` (absent when not known).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) circuit: Option<String>,
}

/// One namespace's servers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct NamespaceHealth {
    /// The namespace's own status, by the same rule as the overall one.
    pub(crate) status: Status,
    /// Servers by configured name.
    pub(crate) servers: BTreeMap<String, ServerHealth>,
}

/// Whether the cache backend answers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum CacheState {
    /// No cache configured.
    #[default]
    Disabled,
    /// The backend answers.
    Up,
    /// The backend does not answer; calls go through uncached (degraded, not unavailable).
    Down,
}

/// The cache backend's entry.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub(crate) struct CacheHealth {
    /// `memory`, `redis`..., or `none` when disabled.
    pub(crate) backend: String,
    /// Whether it answers.
    pub(crate) state: CacheState,
    /// Why it is down (or why rate limits are enforced locally), without secrets.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) detail: Option<String>,
}

impl CacheHealth {
    /// No cache configured.
    pub(crate) fn disabled() -> CacheHealth {
        CacheHealth { backend: "none".into(), state: CacheState::Disabled, detail: None }
    }
}

/// The `/healthz` document.
///
/// ```json
/// {"status":"degraded","serving":true,
///  "namespaces":{"app":{"status":"degraded","servers":{"fs":{"state":"circuit_open","restarts":3,
///                "last_error":"process exited with status 1","pid":4242}}}},
///  "cache":{"backend":"redis","state":"up"}}
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct Health {
    /// Overall status; decides the HTTP status (200 unless `unavailable`).
    pub(crate) status: Status,
    /// False while the gateway starts up (before its servers are registered) and once it shuts down.
    pub(crate) serving: bool,
    /// Namespaces by name (`app`, `ext`).
    pub(crate) namespaces: BTreeMap<String, NamespaceHealth>,
    /// The cache backend.
    pub(crate) cache: CacheHealth,
    /// Why no real document could be produced (e.g. the health source timed out).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) error: Option<String>,
}

impl Health {
    /// Assembles the document and derives every status from the parts:
    /// - `unavailable` when not `serving`, or when there are servers and none is usable (all have an open circuit
    ///   or are restarting);
    /// - `degraded` when some server is not usable, or the cache backend is down;
    /// - `ok` otherwise.
    ///
    /// A namespace's status follows the same rule over its own servers (the cache does not count there).
    pub(crate) fn build<N, S>(
        serving: bool,
        servers: impl IntoIterator<Item = (N, S, ServerHealth)>,
        cache: CacheHealth,
    ) -> Health
    where
        N: Into<String>,
        S: Into<String>,
    {
        let mut grouped: BTreeMap<String, BTreeMap<String, ServerHealth>> = BTreeMap::new();
        for (ns, name, entry) in servers {
            grouped.entry(ns.into()).or_default().insert(name.into(), entry);
        }
        let namespaces: BTreeMap<String, NamespaceHealth> = grouped
            .into_iter()
            .map(|(ns, servers)| {
                let status = status_of(true, servers.values(), false);
                (ns, NamespaceHealth { status, servers })
            })
            .collect();
        let status =
            status_of(serving, namespaces.values().flat_map(|n| n.servers.values()), cache.state == CacheState::Down);
        Health { status, serving, namespaces, cache, error: None }
    }

    /// The document served when no real one could be had (`unavailable`, with the reason).
    pub(crate) fn failed(error: impl Into<String>) -> Health {
        Health {
            status: Status::Unavailable,
            serving: false,
            namespaces: BTreeMap::new(),
            cache: CacheHealth::default(),
            error: Some(error.into()),
        }
    }
}

fn status_of<'a>(serving: bool, servers: impl Iterator<Item = &'a ServerHealth>, cache_down: bool) -> Status {
    let (mut total, mut usable) = (0usize, 0usize);
    for s in servers {
        total += 1;
        usable += usize::from(s.state.is_usable());
    }
    if !serving || (total > 0 && usable == 0) {
        Status::Unavailable
    } else if usable < total || cache_down {
        Status::Degraded
    } else {
        Status::Ok
    }
}

/// A boxed health future, so that [`HealthSource`] can be a trait object.
pub(crate) type HealthFuture<'a> = Pin<Box<dyn Future<Output = Health> + Send + 'a>>;

/// Produces the current [`Health`] for each `/healthz` request. The ops server bounds the wait (see
/// [`super::OpsEndpoints::health_timeout`]), so a source that asks actors cannot hang the endpoint.
///
/// Implemented by any `Fn() -> Health` closure, and by [`AsyncHealth`] around an async one.
pub(crate) trait HealthSource: Send + Sync + 'static {
    /// The current document.
    fn health(&self) -> HealthFuture<'_>;
}

impl<F> HealthSource for F
where
    F: Fn() -> Health + Send + Sync + 'static,
{
    fn health(&self) -> HealthFuture<'_> {
        Box::pin(std::future::ready(self()))
    }
}

/// Adapts an async closure (e.g. one that asks every server actor for its status) into a [`HealthSource`].
pub(crate) struct AsyncHealth<F>(pub(crate) F);

impl<F, Fut> HealthSource for AsyncHealth<F>
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Health> + Send + 'static,
{
    fn health(&self) -> HealthFuture<'_> {
        Box::pin((self.0)())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(state: ServerState) -> ServerHealth {
        ServerHealth { state, ..ServerHealth::default() }
    }

    #[test]
    fn status_rules() {
        let ok = Health::build(
            true,
            [("app", "a", entry(ServerState::Ready)), ("ext", "b", entry(ServerState::NotStarted))],
            CacheHealth::disabled(),
        );
        assert_eq!(ok.status, Status::Ok);

        let degraded = Health::build(
            true,
            [("app", "a", entry(ServerState::Ready)), ("ext", "b", entry(ServerState::CircuitOpen))],
            CacheHealth::disabled(),
        );
        assert_eq!(degraded.status, Status::Degraded);
        assert_eq!(degraded.namespaces["app"].status, Status::Ok);
        assert_eq!(degraded.namespaces["ext"].status, Status::Unavailable);

        let cache_down = Health::build(
            true,
            [("app", "a", entry(ServerState::Ready))],
            CacheHealth { backend: "redis".into(), state: CacheState::Down, detail: None },
        );
        assert_eq!(cache_down.status, Status::Degraded);

        let all_down = Health::build(
            true,
            [("app", "a", entry(ServerState::Restarting)), ("ext", "b", entry(ServerState::CircuitOpen))],
            CacheHealth::disabled(),
        );
        assert_eq!(all_down.status, Status::Unavailable);

        let none: [(&str, &str, ServerHealth); 0] = [];
        assert_eq!(Health::build(true, none.clone(), CacheHealth::disabled()).status, Status::Ok);
        assert_eq!(Health::build(false, none, CacheHealth::disabled()).status, Status::Unavailable);
    }

    #[test]
    fn the_document_serializes_as_documented() {
        let mut fs = entry(ServerState::CircuitOpen);
        fs.restarts = 3;
        fs.last_error = Some("process exited with status 1".into());
        fs.pid = Some(4242);
        let h = Health::build(
            true,
            [("app", "fs", fs)],
            CacheHealth { backend: "redis".into(), state: CacheState::Up, detail: None },
        );
        let json: serde_json::Value = serde_json::to_value(&h).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "status": "unavailable",
                "serving": true,
                "namespaces": {"app": {"status": "unavailable", "servers": {"fs": {
                    "state": "circuit_open", "restarts": 3, "last_error": "process exited with status 1", "pid": 4242
                }}}},
                "cache": {"backend": "redis", "state": "up"}
            })
        );
        let failed = serde_json::to_value(Health::failed("timed out")).unwrap();
        assert_eq!(failed["status"], "unavailable");
        assert_eq!(failed["error"], "timed out");
    }
}
