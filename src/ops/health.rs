//! What `/healthz` reports: the [`Health`] document, the [`HealthSource`] the ops server asks for it, and the
//! [`HealthBoard`], a ready-made source that the gateway's actors update as servers change state.
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
use std::sync::{Arc, Mutex, PoisonError};

use serde::Serialize;

use crate::telemetry::{CircuitState, ErrorKind, Metrics, ServerLabels, ServerMetrics};

/// Overall, or one namespace's, ability to serve.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Every server is usable.
    Ok,
    /// Serving, but some server's circuit is open or it is restarting, or the cache backend is down.
    Degraded,
    /// Not serving: the gateway is starting or stopping, or no server at all is usable.
    Unavailable,
}

impl Status {
    /// Whether `/healthz` answers 200 (serving, possibly degraded) rather than 503.
    pub fn is_serving(self) -> bool {
        self != Status::Unavailable
    }
}

/// One downstream server's state as operators see it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ServerState {
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
    pub fn is_usable(self) -> bool {
        !matches!(self, ServerState::CircuitOpen | ServerState::Restarting)
    }
}

/// One server's entry in the document.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ServerHealth {
    /// Current state.
    pub state: ServerState,
    /// Restarts since the gateway started.
    pub restarts: u64,
    /// The latest failure, as the gateway described it (see the module docs on secrets); cleared when the
    /// server becomes ready again.
    pub last_error: Option<String>,
    /// The process id while a process runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// The circuit breaker: `closed`, `open` or `half-open` (absent when not known).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub circuit: Option<String>,
}

/// One namespace's servers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NamespaceHealth {
    /// The namespace's own status, by the same rule as the overall one.
    pub status: Status,
    /// Servers by configured name.
    pub servers: BTreeMap<String, ServerHealth>,
}

/// Whether the cache backend answers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CacheState {
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
pub struct CacheHealth {
    /// `memory`, `redis`..., or `none` when disabled.
    pub backend: String,
    /// Whether it answers.
    pub state: CacheState,
    /// Why it is down (or why rate limits are enforced locally), without secrets.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl CacheHealth {
    /// No cache configured.
    pub fn disabled() -> CacheHealth {
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
pub struct Health {
    /// Overall status; decides the HTTP status (200 unless `unavailable`).
    pub status: Status,
    /// False while the gateway starts up (before its servers are registered) and once it shuts down.
    pub serving: bool,
    /// Namespaces by name (`app`, `ext`).
    pub namespaces: BTreeMap<String, NamespaceHealth>,
    /// The cache backend.
    pub cache: CacheHealth,
    /// Why no real document could be produced (e.g. the health source timed out).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Health {
    /// Assembles the document and derives every status from the parts:
    /// - `unavailable` when not `serving`, or when there are servers and none is usable (all have an open circuit
    ///   or are restarting);
    /// - `degraded` when some server is not usable, or the cache backend is down;
    /// - `ok` otherwise.
    ///
    /// A namespace's status follows the same rule over its own servers (the cache does not count there).
    pub fn build<N, S>(
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
    pub fn failed(error: impl Into<String>) -> Health {
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
pub type HealthFuture<'a> = Pin<Box<dyn Future<Output = Health> + Send + 'a>>;

/// Produces the current [`Health`] for each `/healthz` request. The ops server bounds the wait (see
/// [`super::OpsEndpoints::health_timeout`]), so a source that asks actors cannot hang the endpoint.
///
/// Implemented by [`HealthBoard`], by any `Fn() -> Health` closure, and by [`AsyncHealth`] around an async one.
pub trait HealthSource: Send + Sync + 'static {
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
pub struct AsyncHealth<F>(pub F);

impl<F, Fut> HealthSource for AsyncHealth<F>
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Health> + Send + 'static,
{
    fn health(&self) -> HealthFuture<'_> {
        Box::pin((self.0)())
    }
}

/// Live health state that the gateway updates on every server state change, and `/healthz` reads.
///
/// With a [`Metrics`] attached it also keeps `gateway_server_up`, `gateway_circuit_state`,
/// `gateway_server_restarts_total`, `gateway_errors_total` and `gateway_cache_backend_up` in step, so each
/// lifecycle event is one call. Updates take a short mutex: they are lifecycle events (starts, crashes, breaker
/// trips), not per-call work.
#[derive(Debug, Default)]
pub struct HealthBoard {
    /// Everything the document is built from.
    inner: Mutex<Board>,
    /// Where the gauges and counters mirrored from the board live.
    metrics: Option<Arc<Metrics>>,
}

#[derive(Debug, Default)]
struct Board {
    /// See [`Health::serving`].
    serving: bool,
    /// See [`Health::cache`].
    cache: Option<CacheHealth>,
    /// Servers by (namespace, name).
    servers: BTreeMap<ServerLabels, Entry>,
}

#[derive(Debug)]
struct Entry {
    /// The process's state (what the server actor reports).
    process: ServerState,
    /// The breaker's state; an open circuit overrides the process state in the document.
    circuit: CircuitState,
    /// Restarts, last error, pid.
    health: ServerHealth,
    /// The server's series, when metrics are attached.
    metrics: Option<ServerMetrics>,
}

impl Entry {
    fn reported(&self) -> ServerState {
        if self.circuit == CircuitState::Open {
            ServerState::CircuitOpen
        } else {
            self.process
        }
    }

    /// Mirrors the up gauge: a process that is ready behind an open circuit takes no calls.
    fn sync_up(&self) {
        if let Some(m) = &self.metrics {
            m.set_up(self.process == ServerState::Ready && self.circuit != CircuitState::Open);
        }
    }
}

impl HealthBoard {
    /// An empty board, not yet serving. `metrics`: mirror lifecycle events into these series.
    pub fn new(metrics: Option<Arc<Metrics>>) -> HealthBoard {
        HealthBoard { inner: Mutex::default(), metrics }
    }

    fn with_entry<R>(&self, labels: &ServerLabels, f: impl FnOnce(&mut Entry) -> R) -> R {
        let mut board = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = board.servers.entry(labels.clone()).or_insert_with(|| Entry {
            process: ServerState::NotStarted,
            circuit: CircuitState::Closed,
            health: ServerHealth::default(),
            metrics: self.metrics.as_ref().map(|m| m.server(labels.clone())),
        });
        f(entry)
    }

    /// Marks the gateway as serving (after its servers are registered) or not (shutting down).
    pub fn set_serving(&self, serving: bool) {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner).serving = serving;
    }

    /// Adds a configured server as `not_started` (so a lazy server shows up before its first call). Every other
    /// update registers an unknown server too.
    pub fn register(&self, labels: &ServerLabels) {
        self.with_entry(labels, |_| ());
    }

    /// Forgets a server that was removed from the configuration (its metric series stay, as counters must).
    pub fn remove(&self, labels: &ServerLabels) {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner).servers.remove(labels);
    }

    /// Records the process state; becoming `Ready` clears `last_error`. Use [`HealthBoard::set_circuit`] for
    /// the breaker rather than `CircuitOpen` here (the two are tracked apart, so closing the circuit restores
    /// the process state).
    pub fn set_state(&self, labels: &ServerLabels, state: ServerState) {
        self.with_entry(labels, |e| {
            if state == ServerState::CircuitOpen {
                e.circuit = CircuitState::Open;
                if let Some(m) = &e.metrics {
                    m.set_circuit(CircuitState::Open);
                }
            } else {
                e.process = state;
            }
            if state == ServerState::Ready {
                e.health.last_error = None;
            }
            if matches!(state, ServerState::NotStarted | ServerState::Stopped | ServerState::Restarting) {
                e.health.pid = None;
            }
            e.sync_up();
        });
    }

    /// Records the breaker's state (and mirrors `gateway_circuit_state`).
    pub fn set_circuit(&self, labels: &ServerLabels, circuit: CircuitState) {
        self.with_entry(labels, |e| {
            e.circuit = circuit;
            if let Some(m) = &e.metrics {
                m.set_circuit(circuit);
            }
            e.sync_up();
        });
    }

    /// Counts a restart (a new process after a crash or failed start).
    pub fn record_restart(&self, labels: &ServerLabels) {
        self.with_entry(labels, |e| {
            e.health.restarts += 1;
            if let Some(m) = &e.metrics {
                m.record_restart();
            }
        });
    }

    /// Records a failure: counts it under `kind` and shows `message` as `last_error`. `message` is served as is:
    /// see the module docs on secrets.
    pub fn record_error(&self, labels: &ServerLabels, kind: ErrorKind, message: impl Into<String>) {
        self.with_entry(labels, |e| {
            e.health.last_error = Some(message.into());
            if let Some(m) = &e.metrics {
                m.record_error(kind);
            }
        });
    }

    /// Sets or clears the process id.
    pub fn set_pid(&self, labels: &ServerLabels, pid: Option<u32>) {
        self.with_entry(labels, |e| e.health.pid = pid);
    }

    /// Records the cache backend's state (and mirrors `gateway_cache_backend_up`).
    pub fn set_cache(&self, cache: CacheHealth) {
        if let Some(m) = &self.metrics {
            m.set_cache_backend_up(cache.state == CacheState::Up);
        }
        self.inner.lock().unwrap_or_else(PoisonError::into_inner).cache = Some(cache);
    }

    /// The current document.
    pub fn snapshot(&self) -> Health {
        let board = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let servers = board.servers.iter().map(|(l, e)| {
            let entry = ServerHealth { state: e.reported(), ..e.health.clone() };
            (&*l.namespace, &*l.server, entry)
        });
        Health::build(board.serving, servers, board.cache.clone().unwrap_or_else(CacheHealth::disabled))
    }
}

impl HealthSource for HealthBoard {
    fn health(&self) -> HealthFuture<'_> {
        Box::pin(std::future::ready(self.snapshot()))
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

    #[test]
    fn the_board_tracks_lifecycle_and_mirrors_metrics() {
        let metrics = Arc::new(Metrics::new());
        let board = HealthBoard::new(Some(metrics.clone()));
        let fs = ServerLabels::new("app", "fs");
        let gh = ServerLabels::new("ext", "github");
        board.register(&gh);
        board.set_serving(true);
        board.set_state(&fs, ServerState::Starting);
        board.set_pid(&fs, Some(7));
        board.set_state(&fs, ServerState::Ready);
        assert_eq!(board.snapshot().status, Status::Ok);
        assert!(metrics.encode().contains(r#"gateway_server_up{namespace="app",server="fs"} 1"#));

        board.record_error(&fs, ErrorKind::Crash, "process exited with status 1");
        board.set_state(&fs, ServerState::Restarting);
        board.record_restart(&fs);
        board.set_circuit(&fs, CircuitState::Open);
        let h = board.snapshot();
        assert_eq!(h.status, Status::Degraded);
        let e = &h.namespaces["app"].servers["fs"];
        assert_eq!(e.state, ServerState::CircuitOpen);
        assert_eq!(e.restarts, 1);
        assert_eq!(e.pid, None);
        assert_eq!(e.last_error.as_deref(), Some("process exited with status 1"));
        assert_eq!(h.namespaces["ext"].servers["github"].state, ServerState::NotStarted);
        let text = metrics.encode();
        assert!(text.contains(r#"gateway_server_up{namespace="app",server="fs"} 0"#), "{text}");
        assert!(text.contains(r#"gateway_circuit_state{namespace="app",server="fs"} 2"#), "{text}");
        assert!(text.contains(r#"gateway_server_restarts_total{namespace="app",server="fs"} 1"#), "{text}");
        assert!(text.contains(r#"gateway_errors_total{namespace="app",server="fs",kind="crash"} 1"#), "{text}");

        board.set_circuit(&fs, CircuitState::Closed);
        board.set_state(&fs, ServerState::Ready);
        let h = board.snapshot();
        assert_eq!(h.namespaces["app"].servers["fs"].state, ServerState::Ready);
        assert_eq!(h.namespaces["app"].servers["fs"].last_error, None);

        board.set_cache(CacheHealth { backend: "redis".into(), state: CacheState::Down, detail: None });
        assert_eq!(board.snapshot().status, Status::Degraded);
        assert!(metrics.encode().contains("gateway_cache_backend_up 0"));

        board.remove(&gh);
        board.set_serving(false);
        let h = board.snapshot();
        assert!(!h.namespaces.contains_key("ext"));
        assert_eq!(h.status, Status::Unavailable);
    }
}
