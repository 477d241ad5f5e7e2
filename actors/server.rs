//! `ServerActor`: one per downstream server. It starts the process (with the gateway, or lazily on the first
//! call), runs the MCP handshake, forwards calls, keeps the server's tool list current, fails calls that time out,
//! answers everything in flight when the process dies, restarts it with exponential backoff, and stops a lazy
//! server that has been idle.
//!
//! Control plane: while the server is ready, calls do not pass through here at all; they take the fast lane
//! ([`crate::dispatch::lane`]), which this actor opens and closes as its phase changes, and answers are completed
//! in the transport's reader task. Calls the lane cannot take arrive as [`ToServer`] messages through the
//! [`ServerPort`] this actor implements.
//!
//! Nothing here waits on I/O inside `handle`: the handshake and list refreshes run as spawned tasks that report
//! back as messages, and writes go through the child's writer queue.

mod downstream;
mod per_client;
mod retire;

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use serde::Serialize;
use serde_json::value::RawValue;
use tokio::sync::watch;

use super::router::RouterMsg;
use crate::breaker::{Breaker, CircuitState, Permit};
use crate::catalog::{self, Catalog};
use crate::config::ServerConfig;
use crate::dispatch::lane::{self, Lane};
use crate::dispatch::mrtr::{InputRequest, ParkedCall};
use crate::dispatch::{Call, ClientHandle, ClientReply, Clients, Diverted, Fallback, ReturnPath};
use crate::dispatch::{ChildEvent, ChildProcess, Connection, Entry, HttpConnection, Requester, Responder};
use crate::dispatch::{ServerHandle, ServerPort, ToServer};
use crate::era::{self, Era};
use crate::naming::Namespace;
use crate::protocol::{self, Envelope};
use crate::routing::{RoutingTable, ServerLists};
use crate::telemetry::ErrorKind;
use crate::transport::child::SpawnSpec;
use crate::transport::http::HttpSpec;
use crate::transport::DownstreamError;
use downstream::{Caps, Handshake, ListKind};

/// Everything servers share, set once by the gateway.
pub(crate) struct ServerContext {
    pub(crate) router: ActorRef<RouterMsg>,
    pub(crate) state_dir: PathBuf,
    pub(crate) max_frame_bytes: usize,
    /// Reads the gateway's environment for `${VAR}` in server env (the process environment outside tests).
    pub(crate) lookup_env: crate::config::EnvLookup,
    /// How long a stopping server gets between closing stdin, SIGTERM and SIGKILL.
    pub(crate) stop_grace: Duration,
    /// The connected clients: where notifications and the servers' own requests go.
    pub(crate) clients: Arc<Clients>,
    /// The current routing table, for the URIs clients know resources by.
    pub(crate) table: Arc<arc_swap::ArcSwap<RoutingTable>>,
    /// The capabilities servers are initialized with; `None` until the (stdio) client has initialized.
    pub(crate) client_caps: watch::Receiver<Option<Arc<str>>>,
    /// Metrics, evidence and the cache (invalidated when a server's lists or resources change).
    pub(crate) services: Arc<crate::dispatch::Services>,
}

pub(crate) struct ServerArgs {
    pub(crate) config: Arc<ServerConfig>,
    pub(crate) ctx: Arc<ServerContext>,
    /// The fast lane sessions use while the server is ready (shared with its route; holds its breaker).
    pub(crate) lane: Arc<Lane>,
}

pub(crate) enum ServerMsg {
    /// From sessions and clients: what the data plane asks outside the fast lane (see [`ServerPort`]).
    Port(ToServer),
    /// Something child number `generation` sent or did.
    Child(u64, ChildEvent),
    /// Something a client's own downstream session (per-client mode: client session, connection number) did.
    Sub(u64, u64, ChildEvent),
    /// A client's own downstream session was initialized, or failed to.
    SubStarted(u64, u64, Result<(), DownstreamError>),
    Started(u64, Result<Handshake, DownstreamError>),
    ListRefreshed(u64, ListKind, Result<(Vec<Box<RawValue>>, Option<u64>), DownstreamError>),
    /// The backoff after a crash of child `generation` is over.
    Restart(u64),
    /// Periodic: timeouts, idle stop.
    Tick,
    Status(RpcReplyPort<ServerStatus>),
    /// The server leaves the gateway (removed or changed by a configuration reload): calls are answered with an
    /// error giving the reason, the process group is stopped, then the actor ends. Answered once the process is
    /// gone.
    Retire(String, RpcReplyPort<()>),
}

/// The data plane reaches a server's actor through its mailbox.
impl ServerPort for ActorRef<ServerMsg> {
    fn post(&self, msg: ToServer) -> Result<(), ToServer> {
        match self.cast(ServerMsg::Port(msg)) {
            Ok(()) => Ok(()),
            Err(ractor::MessagingErr::SendErr(ServerMsg::Port(msg))) => Err(msg),
            // The message is lost with the mailbox; a call in it records itself as cancelled.
            Err(_) => Ok(()),
        }
    }
}

/// What operators see of a server (CLI `tools`, `/healthz`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum State {
    NotStarted,
    Starting,
    Ready,
    Restarting,
    Stopped,
}

impl State {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            State::NotStarted => "not started",
            State::Starting => "starting",
            State::Ready => "ready",
            State::Restarting => "restarting",
            State::Stopped => "stopped",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct ServerStatus {
    pub(crate) name: String,
    pub(crate) namespace: Namespace,
    pub(crate) state: State,
    pub(crate) pid: Option<u32>,
    pub(crate) restarts: u64,
    pub(crate) pending: usize,
    pub(crate) last_error: Option<String>,
    pub(crate) protocol_version: Option<String>,
    pub(crate) circuit: CircuitState,
}

impl ServerStatus {
    /// What operators read: the circuit state when it is not closed, else the process state.
    pub(crate) fn display_state(&self) -> &'static str {
        match self.circuit {
            CircuitState::Open => "circuit open",
            CircuitState::HalfOpen => "circuit half-open",
            CircuitState::Closed => self.state.as_str(),
        }
    }
}

/// A legacy client's call that a modern server answered `input_required`: the server's requests went to the
/// client as ordinary requests; once every answer is in, the call is sent again with them.
struct Round {
    reply: ClientReply,
    /// `requestState` to echo, as the server sent it.
    state: Option<Box<RawValue>>,
    waiting: Vec<String>,
    answers: Vec<(String, Box<RawValue>)>,
}

enum Phase {
    /// Not running: lazy and never started, or stopped after idling.
    Idle {
        ever_started: bool,
    },
    Starting,
    Ready,
    /// Crashed or failed to start; no new start before `until`.
    Backoff {
        until: Instant,
    },
    /// The gateway is shutting down.
    Stopping,
}

pub(crate) struct ServerState {
    cfg: Arc<ServerConfig>,
    ctx: Arc<ServerContext>,
    label: Arc<str>,
    phase: Phase,
    child: Option<Connection>,
    /// Numbers children, so late events of a previous process are told apart.
    generation: u64,
    /// Calls waiting for the process to be ready, with their deadlines.
    queue: VecDeque<(Instant, Call)>,
    /// Consecutive crashes, for the backoff.
    crashes: u32,
    restarts: u64,
    last_error: Option<String>,
    last_activity: Instant,
    ready_since: Option<Instant>,
    protocol_version: Option<String>,
    /// The lists last published (to skip republishing unchanged ones).
    lists: Option<ServerLists>,
    /// What the running process offers.
    caps: Caps,
    /// The level clients last set, applied to every (re)started process that supports logging.
    log_level: Option<Arc<str>>,
    /// The era the server speaks, once known (from its catalog or a handshake): later starts skip the probe.
    era: Option<Era>,
    /// For a modern server: the `_meta` members its requests carry.
    envelope: Option<Arc<[u8]>>,
    /// Fails calls fast after repeated failures (shared with the reader task, which records answers).
    breaker: Arc<Breaker>,
    /// Legacy clients' calls whose modern server asked for input, waiting for the client's answers, by round.
    rounds: HashMap<u64, Round>,
    next_round: u64,
    /// Lists the server announced as changed while its handshake was still fetching them: fetched again once
    /// it is ready, so no change is lost and no partial list is published.
    stale: Vec<ListKind>,
    ticker: Option<tokio::task::JoinHandle<()>>,
    /// Why a retired server no longer takes calls (see [`ServerMsg::Retire`]).
    retired: Option<String>,
    /// `session = "per_client"`: each client's own downstream session, by client session.
    sessions: HashMap<u64, per_client::ClientSession>,
    next_sub: u64,
    /// This actor, for connections opened outside `handle`'s arguments (client sessions).
    myself: Option<ActorRef<ServerMsg>>,
    /// Sessions send here directly while the server is ready (see [`lane`]).
    lane: Arc<Lane>,
    /// This server as the data plane sees it (for clients' answers to its questions).
    handle: ServerHandle,
    /// This server's series: up, restarts, errors, circuit.
    metrics: crate::telemetry::ServerMetrics,
    /// The circuit state last exported, so the gauge is set only on change.
    exported_circuit: CircuitState,
    /// The next start follows a crash or failed start: it counts as a restart.
    restart_due: bool,
    /// When the lists were last fetched from the running process.
    lists_fetched: Option<Instant>,
    /// How long they are trusted: `[cache] list_ttl`, or the server's own `ttlMs` when it gives one.
    list_ttl: Duration,
}

pub(crate) struct ServerActor;

impl Actor for ServerActor {
    type Msg = ServerMsg;
    type State = ServerState;
    type Arguments = ServerArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<ServerMsg>,
        args: ServerArgs,
    ) -> Result<ServerState, ActorProcessingErr> {
        let cfg = args.config;
        let labels = crate::telemetry::ServerLabels::new(cfg.namespace.as_str(), cfg.name.as_str());
        let mut state = ServerState {
            metrics: args.ctx.services.metrics.server(labels),
            exported_circuit: CircuitState::Closed,
            restart_due: false,
            lists_fetched: None,
            list_ttl: args.ctx.services.list_ttl,
            label: cfg.qualified().into(),
            breaker: args.lane.breaker().clone(),
            handle: ServerHandle::new(cfg.qualified().into(), args.lane.clone(), Arc::new(myself.clone())),
            lane: args.lane,
            cfg,
            ctx: args.ctx,
            phase: Phase::Idle { ever_started: false },
            child: None,
            generation: 0,
            queue: VecDeque::new(),
            crashes: 0,
            restarts: 0,
            last_error: None,
            last_activity: Instant::now(),
            ready_since: None,
            protocol_version: None,
            lists: None,
            caps: Caps::default(),
            log_level: None,
            stale: Vec::new(),
            era: None,
            envelope: None,
            rounds: HashMap::new(),
            next_round: 0,
            ticker: Some(myself.send_interval(Duration::from_millis(100), || ServerMsg::Tick)),
            retired: None,
            sessions: HashMap::new(),
            next_sub: 0,
            myself: Some(myself.clone()),
        };
        // A lazy server is listed from its catalog; without one it is started once to discover its tools.
        let cached = catalog::load(&state.ctx.state_dir, &state.cfg.name, &state.cfg.launch_key());
        state.era = cached.as_ref().and_then(|c| c.era);
        match cached {
            Some(cat) if state.cfg.lazy => state.publish(cat.lists, true),
            _ => state.start(&myself),
        }
        Ok(state)
    }

    async fn post_stop(&self, _myself: ActorRef<ServerMsg>, state: &mut ServerState) -> Result<(), ActorProcessingErr> {
        if let Some(t) = state.ticker.take() {
            t.abort();
        }
        state.set_phase(Phase::Stopping);
        let err = state.unavailable("the gateway is shutting down");
        state.fail_queue(&err);
        state.stop_sessions(&err).await;
        if let Some(child) = state.child.take() {
            child.requester().pending().fail_all(&err);
            child.stop(state.ctx.stop_grace).await;
        }
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<ServerMsg>,
        msg: ServerMsg,
        state: &mut ServerState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            ServerMsg::Port(msg) => state.on_port(&myself, msg),
            ServerMsg::Child(generation, event) if generation == state.generation => {
                state.on_child_event(&myself, event)
            }
            ServerMsg::Child(..) => {}
            ServerMsg::Sub(session, number, event) => state.on_sub_event(&myself, session, number, event),
            ServerMsg::SubStarted(session, number, result) => state.on_sub_started(&myself, session, number, result),
            ServerMsg::Started(generation, result) if generation == state.generation => {
                state.on_started(&myself, result)
            }
            ServerMsg::Started(..) => {}
            ServerMsg::ListRefreshed(generation, kind, result)
                if generation == state.generation && matches!(state.phase, Phase::Ready) =>
            {
                match result {
                    Ok((items, ttl_ms)) => {
                        state.note_list_ttl(ttl_ms);
                        let mut lists = state.lists.clone().unwrap_or_default();
                        *kind.slot(&mut lists) = items;
                        state.publish(lists, false);
                    }
                    Err(e) => tracing::warn!(server = %state.label, error = %e, ?kind, "refreshing a list failed"),
                }
            }
            ServerMsg::ListRefreshed(..) => {}
            ServerMsg::Restart(generation) => {
                if generation == state.generation && matches!(state.phase, Phase::Backoff { .. }) {
                    state.start(&myself);
                }
            }
            ServerMsg::Tick => state.on_tick(&myself),
            ServerMsg::Status(reply) => {
                let _ = reply.send(state.status());
            }
            ServerMsg::Retire(reason, reply) => {
                state.retire(&myself, reason).await;
                let _ = reply.send(());
            }
        }
        Ok(())
    }
}

impl ServerState {
    fn unavailable(&self, reason: &str) -> DownstreamError {
        DownstreamError::Unavailable { server: self.label.to_string(), reason: reason.to_owned() }
    }

    fn status(&self) -> ServerStatus {
        let state = match self.phase {
            Phase::Idle { ever_started: false } => State::NotStarted,
            Phase::Idle { ever_started: true } | Phase::Stopping => State::Stopped,
            Phase::Starting => State::Starting,
            Phase::Ready => State::Ready,
            Phase::Backoff { .. } => State::Restarting,
        };
        ServerStatus {
            name: self.cfg.name.clone(),
            namespace: self.cfg.namespace,
            state,
            pid: self.child.as_ref().and_then(|c| c.pid()),
            restarts: self.restarts,
            pending: self.child.as_ref().map_or(0, |c| c.requester().pending().len())
                + self.queue.len()
                + self.sessions.values().map(per_client::ClientSession::pending).sum::<usize>(),
            last_error: self.last_error.clone(),
            protocol_version: self.protocol_version.clone(),
            circuit: self.breaker.state(),
        }
    }

    /// What sessions and clients ask (see [`ToServer`]).
    fn on_port(&mut self, myself: &ActorRef<ServerMsg>, msg: ToServer) {
        match msg {
            ToServer::Call(call) => self.on_call(myself, call),
            ToServer::Cancel { session, client_id } => self.on_cancel(session, &client_id),
            ToServer::ListsWanted => self.on_lists_wanted(myself),
            ToServer::SetLogLevel(level) => self.on_set_level(level),
            ToServer::SubscribeResource(uri) => self.subscribe_resource(uri),
            ToServer::InputResponse { round, key, answer } => self.on_input_response(round, key, answer),
            ToServer::Notify(method) => {
                if let (Phase::Ready, Some(child)) = (&self.phase, &self.child) {
                    child.requester().notify(method, None);
                }
            }
        }
    }

    fn on_call(&mut self, myself: &ActorRef<ServerMsg>, call: Call) {
        self.last_activity = Instant::now();
        if let Permit::Rejected { retry_in } = self.breaker.allow() {
            let err = DownstreamError::CircuitOpen { server: self.label.to_string(), retry_in };
            return self.recover_or_fail(myself, call.reply, err, false);
        }
        match self.phase {
            Phase::Ready => self.dispatch(call),
            Phase::Stopping => {
                call.reply_fail(&self.unavailable(self.retired.as_deref().unwrap_or("the gateway is shutting down")))
            }
            _ if self.queue.len() >= self.cfg.max_pending => call.reply_fail(&DownstreamError::Overloaded {
                server: self.label.to_string(),
                limit: self.cfg.max_pending,
            }),
            Phase::Starting => self.queue.push_back((Instant::now() + call.timeout.unwrap_or(self.cfg.timeout), call)),
            Phase::Idle { .. } => {
                self.queue.push_back((Instant::now() + call.timeout.unwrap_or(self.cfg.timeout), call));
                self.start(myself);
            }
            Phase::Backoff { until } => {
                self.queue.push_back((Instant::now() + call.timeout.unwrap_or(self.cfg.timeout), call));
                if Instant::now() >= until {
                    self.start(myself);
                } else if self.cfg.lazy {
                    // Lazy servers restart on demand: the first call after a crash schedules it.
                    let generation = self.generation;
                    myself.send_after(until - Instant::now(), move || ServerMsg::Restart(generation));
                }
            }
        }
    }

    fn dispatch(&mut self, call: Call) {
        if self.per_client() {
            return self.dispatch_per_client(call);
        }
        let Some(child) = &self.child else {
            return call.reply_fail(&self.unavailable("it is not running"));
        };
        let requester = child.requester().clone();
        self.send_call(&requester, call);
    }

    /// Sends a call on one connection (the server's, or a client's own session).
    fn send_call(&self, requester: &Requester, call: Call) {
        let spec = lane::Spec {
            envelope: self.envelope.as_deref(),
            timeout: self.cfg.timeout,
            max_pending: self.cfg.max_pending,
            label: &self.label,
        };
        lane::send_call(requester, &spec, call);
    }

    /// Moves to `phase`, opening the fast lane when the server is ready on its own connection and closing it
    /// otherwise.
    fn set_phase(&mut self, phase: Phase) {
        self.phase = phase;
        let open = matches!(self.phase, Phase::Ready) && !self.per_client() && self.retired.is_none();
        match (&self.child, open) {
            (Some(child), true) => self.lane.open(lane::Target {
                requester: child.requester().clone(),
                envelope: self.envelope.clone(),
                timeout: self.cfg.timeout,
                max_pending: self.cfg.max_pending,
                label: self.label.clone(),
            }),
            _ => self.lane.close(),
        }
    }

    fn on_cancel(&mut self, session: u64, client_id: &str) {
        if let Some(pos) = self
            .queue
            .iter()
            .position(|(_, c)| c.reply.client.session == session && protocol::raw_key(&c.reply.id) == client_id)
        {
            // Never sent: forget it; a cancelled request gets no response.
            self.queue.remove(pos);
            return;
        }
        if self.cancel_in_session(session, client_id) {
            return;
        }
        let Some(child) = &self.child else { return };
        if let Some((id, _entry)) = child.requester().pending().remove_request(session, client_id) {
            let params = format!(r#"{{"requestId":{id},"reason":"cancelled by the client"}}"#);
            child.requester().notify("notifications/cancelled", Some(params.as_bytes()));
        }
    }

    fn start(&mut self, myself: &ActorRef<ServerMsg>) {
        self.generation += 1;
        self.stale.clear();
        let generation = self.generation;
        let events_to = myself.clone();
        let lookup = self.ctx.lookup_env.clone();
        let events: crate::transport::child::EventSink<ClientReply> = Arc::new(move |ev| {
            let _ = events_to.cast(ServerMsg::Child(generation, ev));
        });
        let opened = match &self.cfg.http {
            Some(http) => HttpConnection::open(HttpSpec {
                http,
                label: self.label.clone(),
                max_frame_bytes: self.ctx.max_frame_bytes,
                events,
                breaker: Some(self.breaker.clone()),
                lookup_env: &*lookup,
            })
            .map(Connection::Http),
            None => ChildProcess::spawn(SpawnSpec {
                config: &self.cfg,
                label: self.label.clone(),
                max_frame_bytes: self.ctx.max_frame_bytes,
                breaker: Some(self.breaker.clone()),
                events,
                lookup_env: &*lookup,
            })
            .map(Connection::Child),
        };
        let child = match opened {
            Ok(child) => child,
            Err(e) => {
                self.metrics.record_error(ErrorKind::Spawn);
                return self.on_failure(myself, e.to_string(), &e);
            }
        };
        if std::mem::take(&mut self.restart_due) {
            self.metrics.record_restart();
        }
        match (child.pid(), &self.cfg.http) {
            (Some(pid), _) => tracing::info!(server = %self.label, pid, "server process started"),
            (None, Some(http)) => {
                tracing::info!(server = %self.label, url = %http.url, "connecting to the HTTP server")
            }
            (None, None) => {}
        }
        self.child = Some(child);
        self.set_phase(Phase::Starting);
        self.handshake(myself);
    }

    /// Runs the handshake on the current connection, reporting back as `Started`.
    fn handshake(&self, myself: &ActorRef<ServerMsg>) {
        let Some(child) = &self.child else { return };
        let requester = child.requester().clone();
        let (me, generation) = (myself.clone(), self.generation);
        let (start_timeout, caps, level) =
            (self.cfg.start_timeout, self.ctx.client_caps.clone(), self.log_level.clone());
        let known_era = self.era;
        tokio::spawn(async move {
            let result = downstream::handshake(&requester, start_timeout, caps, level, known_era).await;
            let _ = me.cast(ServerMsg::Started(generation, result));
        });
    }

    fn on_started(&mut self, myself: &ActorRef<ServerMsg>, result: Result<Handshake, DownstreamError>) {
        if !matches!(self.phase, Phase::Starting) {
            // The process died during the handshake; its exit was handled already.
            return;
        }
        match result {
            Ok(hs) => {
                tracing::info!(server = %self.label, protocol = %hs.protocol_version, tools = hs.lists.tools.len(), "server ready");
                self.envelope = hs.envelope.clone();
                self.set_phase(Phase::Ready);
                self.metrics.set_up(true);
                self.ready_since = Some(Instant::now());
                self.protocol_version = Some(hs.protocol_version);
                self.caps = hs.caps;
                self.era = Some(hs.era);
                self.lists_fetched = Some(Instant::now());
                self.note_list_ttl(hs.list_ttl_ms);
                self.write_catalog(&hs.lists, hs.server_info, hs.capabilities);
                self.publish(hs.lists, false);
                for kind in std::mem::take(&mut self.stale) {
                    self.refresh(myself, kind);
                }
                while let Some((_, call)) = self.queue.pop_front() {
                    self.dispatch(call);
                }
            }
            Err(e) => {
                // The process is up but unusable: stop it; its exit is then a known, not a new, failure.
                self.metrics.record_error(ErrorKind::Handshake);
                let msg = format!("start-up failed: {e}");
                tracing::warn!(server = %self.label, error = %e, "start-up failed");
                if let Some(child) = self.child.take() {
                    child.kill();
                }
                self.generation += 1;
                self.on_failure(myself, msg, &e);
            }
        }
    }

    fn on_child_event(&mut self, myself: &ActorRef<ServerMsg>, event: ChildEvent) {
        match event {
            ChildEvent::Exited { status, stderr_tail } => {
                let Some(child) = self.child.take() else { return };
                if matches!(self.phase, Phase::Idle { .. } | Phase::Stopping) {
                    return;
                }
                let err = if self.cfg.http.is_some() {
                    DownstreamError::Unavailable { server: self.label.to_string(), reason: status.clone() }
                } else {
                    DownstreamError::Exited { server: self.label.to_string(), status: status.clone(), stderr_tail }
                };
                tracing::warn!(server = %self.label, %status, "server process exited");
                self.metrics.record_error(ErrorKind::Crash);
                let in_flight = child.requester().pending().drain();
                // Long healthy runs do not count toward the backoff of the next crash.
                if self.ready_since.is_some_and(|t| t.elapsed() > self.cfg.restart_backoff_max) {
                    self.crashes = 0;
                }
                self.on_failure(myself, format!("exited ({status})"), &err);
                // After the backoff is set: calls safe to repeat wait for the restart, the rest fail at once.
                for entry in in_flight {
                    match entry.responder {
                        Responder::Call(reply) => self.recover_or_fail(myself, reply, err.clone(), true),
                        other => other.fail(&err),
                    }
                }
            }
            ChildEvent::Diverted(Diverted::ToolError(mut reply)) => {
                if let Some(log) = reply.log.as_ref() {
                    log.attempt_ended(crate::telemetry::Outcome::ToolError);
                }
                let err = DownstreamError::BadResponse {
                    server: self.label.to_string(),
                    detail: "the tool returned isError and its fallback could not be reached".into(),
                };
                match reply.fallback.take() {
                    Some(fb) => self.fall_back(reply, fb, err),
                    None => Responder::Call(reply).fail(&err),
                }
            }
            ChildEvent::Notification(frame) => self.on_notification(myself, frame),
            ChildEvent::Request(frame) => self.on_server_request(frame),
            ChildEvent::Diverted(Diverted::InputRequired(reply, frame)) => self.on_input_required(reply, &frame),
            ChildEvent::SessionExpired { entry, reinit } => self.on_session_expired(myself, entry, reinit),
            ChildEvent::Failed { entry, error } => match entry.responder {
                Responder::Call(reply) => {
                    self.breaker.failure();
                    self.recover_or_fail(myself, reply, error, true);
                }
                other => other.fail(&error),
            },
            ChildEvent::Garbage(line) => {
                self.metrics.record_error(ErrorKind::Protocol);
                tracing::warn!(server = %self.label, line = %line, "the server wrote a line that is not JSON-RPC to stdout; skipped");
            }
        }
    }

    /// An HTTP server forgot the session: initialize a new one (the first report only) and repeat the refused call
    /// when that is safe. Nothing else is disturbed: other servers, the clients' sessions and the breaker.
    fn on_session_expired(&mut self, myself: &ActorRef<ServerMsg>, entry: Option<Entry>, reinit: bool) {
        if reinit && matches!(self.phase, Phase::Ready) {
            tracing::info!(server = %self.label, "the server's session expired; initializing a new one");
            self.set_phase(Phase::Starting);
            self.handshake(myself);
        }
        let Some(entry) = entry else { return };
        let err =
            self.unavailable("its session expired (the server answered 404); the gateway opened a new one, call again");
        match entry.responder {
            Responder::Call(reply) => self.recover_or_fail(myself, reply, err, true),
            other => other.fail(&err),
        }
    }

    /// A failure to start or a crash: fail what waits, back off, and restart (app servers) or wait for the next
    /// call (lazy servers).
    fn on_failure(&mut self, myself: &ActorRef<ServerMsg>, summary: String, err: &DownstreamError) {
        self.breaker.failure();
        self.record_failure(myself, summary, err);
        // App servers restart by themselves; lazy ones when calls wait for them.
        if !self.cfg.lazy || !self.queue.is_empty() {
            if let Phase::Backoff { until } = self.phase {
                let generation = self.generation;
                myself.send_after(until.saturating_duration_since(Instant::now()), move || {
                    ServerMsg::Restart(generation)
                });
            }
        }
    }

    fn record_failure(&mut self, myself: &ActorRef<ServerMsg>, summary: String, err: &DownstreamError) {
        // Queued calls never reached the server: they may wait for the next start, up to `retries` starts.
        let queued = std::mem::take(&mut self.queue);
        for (deadline, mut call) in queued {
            call.start_failures += 1;
            if call.start_failures > self.cfg.retries {
                self.recover_or_fail(myself, call.reply, err.clone(), false);
            } else {
                self.queue.push_back((deadline, call));
            }
        }
        self.crashes += 1;
        self.restarts += 1;
        self.restart_due = true;
        self.metrics.set_up(false);
        self.last_error = Some(summary);
        self.ready_since = None;
        let exp = self.crashes.saturating_sub(1).min(16);
        let delay = self.cfg.restart_backoff.saturating_mul(1 << exp).min(self.cfg.restart_backoff_max);
        tracing::info!(server = %self.label, delay = ?delay, crashes = self.crashes, "restart backoff");
        // Start-up readiness must not wait for a server that cannot start.
        let _ = self.ctx.router.cast(RouterMsg::ServerSettled { server: self.cfg.name.clone() });
        self.set_phase(Phase::Backoff { until: Instant::now() + delay });
    }

    /// A call that failed here: repeated when that is safe (`retryable` failures of calls with retries left),
    /// sent to its policy fallback, or answered with the error.
    fn recover_or_fail(
        &mut self,
        myself: &ActorRef<ServerMsg>,
        mut reply: ClientReply,
        err: DownstreamError,
        retryable: bool,
    ) {
        if retryable {
            // The attempt reached the server and ended without an answer.
            if let Some(log) = reply.log.as_ref() {
                log.attempt_ended(crate::dispatch::record::failure_outcome(&err));
            }
        }
        if retryable && reply.retries_left > 0 {
            if let Some(resend) = reply.resend.clone() {
                reply.retries_left -= 1;
                let correlation = reply.log.as_ref().map(|l| l.correlation.to_string());
                tracing::info!(server = %self.label, correlation, error = %err, left = reply.retries_left, "retrying a call that is safe to repeat");
                let call = Call::new(resend.method, resend.params, reply, resend.timeout);
                return self.on_call(myself, call);
            }
        }
        match reply.fallback.take() {
            Some(fb) => self.fall_back(reply, fb, err),
            None => Responder::Call(reply).fail(&err),
        }
    }

    /// Sends a failed call to its fallback tool; the answer's `_meta` says which tool answered.
    fn fall_back(&self, mut reply: ClientReply, fb: Fallback, err: DownstreamError) {
        let table = self.ctx.table.load();
        let target = table.tools.lookup(&fb.target);
        let params = reply.resend.take().and_then(|resend| {
            let raw: &RawValue = serde_json::from_slice(&resend.params).ok()?;
            let obj = protocol::RawObject::parse(raw).ok()?;
            let mut out = Vec::with_capacity(resend.params.len() + 16);
            obj.write_with_str("name", &target?.name, &mut out);
            Some((Bytes::from(out), resend.timeout))
        });
        let (Some(entry), Some((params, timeout))) = (target, params) else {
            tracing::warn!(server = %self.label, target = %fb.target, "fallback target is not available");
            return Responder::Call(reply).fail(&err);
        };
        let correlation = reply.log.as_ref().map(|l| l.correlation.to_string());
        tracing::info!(correlation, from = %fb.from, to = %fb.target, error = %err, "falling back");
        if let Some(log) = reply.log.as_mut() {
            log.fell_back(&fb.target, &err);
        }
        reply.answered_by = Some((fb.target.clone(), fb.from.clone()));
        reply.retries_left = 0;
        let call = Call::new("tools/call", params, reply, timeout);
        entry.server.call(call);
    }

    /// What this server answered before may be stale now: its cached results go.
    fn invalidate_cache(&self) {
        let tag = crate::cache::server_tag(self.cfg.namespace.as_str(), &self.cfg.name);
        self.ctx.services.invalidate_tag(tag);
    }

    fn fail_queue(&mut self, err: &DownstreamError) {
        for (_, call) in self.queue.drain(..) {
            call.reply_fail(err);
        }
    }

    fn on_notification(&mut self, myself: &ActorRef<ServerMsg>, frame: Bytes) {
        let Ok(env) = Envelope::parse(&frame) else { return };
        let Some(method) = env.method.as_deref() else { return };
        match method {
            "notifications/tools/list_changed"
            | "notifications/prompts/list_changed"
            | "notifications/resources/list_changed" => {
                self.invalidate_cache();
                for &kind in ListKind::from_notification(method) {
                    if matches!(self.phase, Phase::Ready) {
                        self.refresh(myself, kind);
                    } else if !self.stale.contains(&kind) {
                        self.stale.push(kind);
                    }
                }
            }
            "notifications/message" => {
                let frame = crate::transport::child::with_newline(&frame);
                for client in self.ctx.clients.initialized() {
                    client.send(frame.clone());
                }
            }
            "notifications/resources/updated" => {
                self.invalidate_cache();
                self.on_resource_updated(env.params)
            }
            "notifications/cancelled" => self.on_server_cancelled(env.params),
            _ => tracing::debug!(server = %self.label, method, "notification not forwarded"),
        }
    }

    /// Goes to the clients subscribed to that resource, under the URI they know it by.
    fn on_resource_updated(&self, params: Option<&RawValue>) {
        let Some(params) = params else { return };
        let Ok(obj) = protocol::RawObject::parse(params) else { return };
        let Some(uri) = obj.get_str("uri") else { return };
        let table = self.ctx.table.load();
        let wire = table.wire_uri(&self.cfg.name, &uri);
        for client in self.ctx.clients.all() {
            client.notify_resource_updated(&self.cfg.name, &uri, &wire);
        }
    }

    /// The server gave up on a request it sent a client: tell that client, under the gateway's id.
    fn on_server_cancelled(&self, params: Option<&RawValue>) {
        #[derive(serde::Deserialize)]
        struct Cancelled<'a> {
            #[serde(borrow, rename = "requestId")]
            request_id: &'a RawValue,
        }
        let Some(c) = params.and_then(|p| serde_json::from_str::<Cancelled<'_>>(p.get()).ok()) else { return };
        for client in self.ctx.clients.initialized() {
            if let Some(gid) = client.find_server_request(&self.label, protocol::raw_key(c.request_id)) {
                client.take_server_request(gid);
                let params = format!(r#"{{"requestId":{gid},"reason":"cancelled by the server"}}"#);
                client.send(protocol::notification_frame("notifications/cancelled", Some(params.as_bytes())));
            }
        }
    }

    /// A request of the server's own (sampling, elicitation, roots): to the client whose call caused it, under a
    /// gateway-unique id, remembering how to return the answer.
    fn on_server_request(&mut self, frame: Bytes) {
        let Some(child) = &self.child else { return };
        let requester = child.requester().clone();
        self.forward_server_request(&requester, None, frame);
    }

    /// Forwards a server's request that came in on `requester`'s connection; `owner` is the client that
    /// connection belongs to (a per-client session), else the client is found by the calls in flight.
    fn forward_server_request(&self, requester: &Requester, owner: Option<Arc<ClientHandle>>, frame: Bytes) {
        let Ok(env) = Envelope::parse(&frame) else { return };
        let (Some(id), Some(method)) = (env.id, env.method.as_deref()) else { return };
        if method == "ping" {
            requester.send_raw(protocol::response_frame_bytes(id, b"{}"));
            return;
        }
        let client =
            owner.or_else(|| requester.pending().sole(|c| c.client.clone())).or_else(|| self.ctx.clients.only());
        let Some(client) = client else {
            let msg = format!(
                "dfs-gateway cannot tell which client `{method}` is for (no single client has calls in flight here)"
            );
            requester.send_raw(protocol::error_frame(id, protocol::code::INTERNAL_ERROR, &msg, None));
            return;
        };
        if client.caps.get().is_some_and(|caps| !caps.allows(method)) {
            // Servers are initialized with what the gateway can forward; this client cannot answer this one.
            let msg = format!("the client of this call did not declare the capability `{method}` needs");
            requester.send_raw(protocol::error_frame(id, protocol::code::METHOD_NOT_FOUND, &msg, None));
            return;
        }
        if client.is_modern() {
            return self.ask_modern_client(requester, &client, id, method, env.params);
        }
        let gid = self.ctx.clients.next_request_id();
        if !client.park_server_request(gid, ReturnPath::Server { requester: requester.clone(), id: id.to_owned() }) {
            let msg = "the client has too many requests from servers outstanding";
            requester.send_raw(protocol::error_frame(id, protocol::code::INTERNAL_ERROR, msg, None));
            return;
        }
        client.send(protocol::request_frame(gid, method, env.params.map(|p| p.get().as_bytes())));
    }

    /// Subscribes at the server on behalf of a modern client's listen stream (a legacy client subscribes itself).
    fn subscribe_resource(&self, uri: String) {
        let (Phase::Ready, Some(child)) = (&self.phase, &self.child) else { return };
        let (requester, timeout) = (child.requester().clone(), self.cfg.timeout);
        tokio::spawn(async move {
            let params = serde_json::json!({ "uri": uri }).to_string();
            if let Err(e) = requester.request("resources/subscribe", Some(params.as_bytes()), timeout).await {
                tracing::debug!(server = requester.server(), error = %e, "resources/subscribe failed");
            }
        });
    }

    /// A server's own `ttlMs` for its lists replaces the configured list lifetime.
    fn note_list_ttl(&mut self, ttl_ms: Option<u64>) {
        if let Some(ms) = ttl_ms {
            self.list_ttl = Duration::from_millis(ms);
        }
    }

    fn on_lists_wanted(&mut self, myself: &ActorRef<ServerMsg>) {
        let stale = self.lists_fetched.is_some_and(|t| t.elapsed() >= self.list_ttl);
        if !matches!(self.phase, Phase::Ready) || !stale {
            return;
        }
        tracing::debug!(server = %self.label, ttl = ?self.list_ttl, "lists are older than their time to live; refetching");
        self.lists_fetched = Some(Instant::now());
        for kind in ListKind::ALL {
            if kind.offered_by(self.caps) {
                self.refresh(myself, kind);
            }
        }
    }

    fn refresh(&self, myself: &ActorRef<ServerMsg>, kind: ListKind) {
        let Some(child) = &self.child else { return };
        let requester = child.requester().clone();
        let (me, generation, timeout) = (myself.clone(), self.generation, self.cfg.timeout);
        let envelope = self.envelope.clone();
        tokio::spawn(async move {
            let link = downstream::Link { req: &requester, envelope: envelope.as_deref() };
            let result = downstream::list_all(&link, kind, timeout).await;
            let _ = me.cast(ServerMsg::ListRefreshed(generation, kind, result));
        });
    }

    /// A modern client cannot receive requests: its call is answered `input_required` with the server's request,
    /// and the downstream call waits, parked, for the client's retry (see [`crate::dispatch::mrtr`]).
    fn ask_modern_client(
        &self,
        requester: &Requester,
        client: &Arc<ClientHandle>,
        id: &RawValue,
        method: &str,
        params: Option<&RawValue>,
    ) {
        let parking = &self.ctx.clients.parking;
        let input = InputRequest {
            key: parking.next_key(method),
            method: method.to_owned(),
            params: params.map(|p| p.to_owned()),
            downstream_id: id.to_owned(),
        };
        // The server asked again before the client came back: ask with the rest when it does.
        let Err(input) = parking.add_input(client.session, &self.label, input) else { return };
        let parked = requester.pending().latest_call_of(client.session).and_then(|call_id| {
            requester.pending().park(call_id, crate::dispatch::mrtr::HOLD).map(|reply| (call_id, reply))
        });
        let Some((call_id, reply)) = parked else {
            let msg = format!("dfs-gateway has no call of this client to attach `{method}` to");
            requester.send_raw(protocol::error_frame(id, protocol::code::INTERNAL_ERROR, &msg, None));
            return;
        };
        let call = ParkedCall {
            requester: requester.clone(),
            call_id,
            session: client.session,
            owner: client.owner,
            inputs: vec![input],
            timeout: self.cfg.timeout,
        };
        let result = parking.park_with(call, crate::dispatch::mrtr::input_required);
        reply.client.send(protocol::response_frame_bytes(&reply.id, &result));
    }

    /// A modern server needs input for a legacy client's call: ask the client with ordinary requests.
    fn on_input_required(&mut self, reply: ClientReply, frame: &[u8]) {
        #[derive(serde::Deserialize)]
        struct Input<'a> {
            method: Cow<'a, str>,
            #[serde(borrow, default)]
            params: Option<&'a RawValue>,
        }
        let parsed = Envelope::parse(frame).ok().and_then(|env| {
            let result = protocol::RawObject::parse(env.result?).ok()?;
            let inputs: Vec<(String, Input<'_>)> = match result.get("inputRequests") {
                Some(raw) => protocol::RawObject::parse(raw)
                    .ok()?
                    .members
                    .iter()
                    .map(|(k, v)| Some((k.to_string(), serde_json::from_str::<Input<'_>>(v.get()).ok()?)))
                    .collect::<Option<_>>()?,
                None => Vec::new(),
            };
            let inputs: Vec<(String, String, Option<Box<RawValue>>)> =
                inputs.into_iter().map(|(k, i)| (k, i.method.into_owned(), i.params.map(|p| p.to_owned()))).collect();
            Some((inputs, result.get("requestState").map(|s| s.to_owned())))
        });
        let Some((inputs, state)) = parsed else {
            let err = DownstreamError::BadResponse {
                server: self.label.to_string(),
                detail: "an input_required result the gateway cannot read".into(),
            };
            return Responder::Call(reply).fail(&err);
        };
        self.next_round += 1;
        let round = self.next_round;
        let client = reply.client.clone();
        let waiting = inputs.iter().map(|(k, _, _)| k.clone()).collect();
        self.rounds.insert(round, Round { reply, state, waiting, answers: Vec::new() });
        for (key, method, params) in inputs {
            let gid = self.ctx.clients.next_request_id();
            let path = ReturnPath::Gather { server: self.handle.clone(), round, key };
            if !client.park_server_request(gid, path) {
                tracing::warn!(server = %self.label, "the client has too many requests outstanding; input request dropped");
                continue;
            }
            client.send(protocol::request_frame(gid, &method, params.as_ref().map(|p| p.get().as_bytes())));
        }
        // A state-only answer (the server shed load) is retried at once.
        self.retry_if_complete(round);
    }

    fn on_input_response(&mut self, round: u64, key: String, answer: Result<Box<RawValue>, Box<RawValue>>) {
        let Some(r) = self.rounds.get_mut(&round) else { return };
        match answer {
            Ok(result) => {
                r.waiting.retain(|k| *k != key);
                r.answers.push((key, result));
                self.retry_if_complete(round);
            }
            Err(error) => {
                let r = self.rounds.remove(&round).expect("found above");
                let err = DownstreamError::BadResponse {
                    server: self.label.to_string(),
                    detail: format!("the client refused the server's request for input: {}", error.get()),
                };
                Responder::Call(r.reply).fail(&err);
            }
        }
    }

    /// Sends the call again with every answer, once all are in.
    fn retry_if_complete(&mut self, round: u64) {
        if !self.rounds.get(&round).is_some_and(|r| r.waiting.is_empty()) {
            return;
        }
        let r = self.rounds.remove(&round).expect("checked above");
        let (Some(child), Some(resend)) = (&self.child, &r.reply.resend) else {
            return Responder::Call(r.reply).fail(&self.unavailable("it restarted while the client was answering"));
        };
        let mut answers = Vec::with_capacity(256);
        answers.push(b'{');
        for (i, (k, v)) in r.answers.iter().enumerate() {
            if i > 0 {
                answers.push(b',');
            }
            protocol::write_json_str(&mut answers, k);
            answers.push(b':');
            answers.extend_from_slice(v.get().as_bytes());
        }
        answers.push(b'}');
        let original: &RawValue = match serde_json::from_slice(&resend.params) {
            Ok(p) => p,
            Err(_) => return,
        };
        let Ok(obj) = protocol::RawObject::parse(original) else { return };
        let mut with_answers = Vec::with_capacity(resend.params.len() + answers.len() + 64);
        obj.write_with_raw("inputResponses", &answers, &mut with_answers);
        let params = match &r.state {
            Some(state) => {
                let raw: &RawValue = serde_json::from_slice(&with_answers).expect("written as JSON");
                let obj = protocol::RawObject::parse(raw).expect("an object");
                let mut out = Vec::with_capacity(with_answers.len() + state.get().len() + 16);
                obj.write_with_raw("requestState", state.get().as_bytes(), &mut out);
                out
            }
            None => with_answers,
        };
        let method = resend.method;
        let params = match &self.envelope {
            Some(envelope) => era::with_envelope(Some(&params), envelope),
            None => params,
        };
        child.requester().send(method, Some(&params), Responder::Call(r.reply), self.cfg.timeout, true);
    }

    fn on_set_level(&mut self, level: Arc<str>) {
        self.log_level = Some(level.clone());
        if let (Phase::Ready, Some(child), true) = (&self.phase, &self.child, self.caps.logging) {
            let (requester, timeout) = (child.requester().clone(), self.cfg.timeout);
            tokio::spawn(async move { downstream::set_level(&requester, &level, timeout).await });
        }
    }

    fn on_tick(&mut self, myself: &ActorRef<ServerMsg>) {
        let circuit = self.breaker.state();
        if circuit != self.exported_circuit {
            self.exported_circuit = circuit;
            self.metrics.set_circuit(circuit);
        }
        let now = Instant::now();
        if !self.sessions.is_empty() {
            self.tick_sessions(myself, now);
        }
        while self.queue.front().is_some_and(|(deadline, _)| *deadline <= now) {
            if let Some((_, call)) = self.queue.pop_front() {
                let err = DownstreamError::Timeout { server: self.label.to_string(), after: self.cfg.timeout };
                self.recover_or_fail(myself, call.reply, err, false);
            }
        }
        let Some(child) = &self.child else { return };
        let expired = child.requester().pending().expire(now);
        for (id, entry) in expired {
            if entry.cancel_on_timeout {
                if let Some(child) = &self.child {
                    let params = format!(r#"{{"requestId":{id},"reason":"timed out in dfs-gateway"}}"#);
                    child.requester().notify("notifications/cancelled", Some(params.as_bytes()));
                }
            }
            let err = DownstreamError::Timeout { server: self.label.to_string(), after: self.cfg.timeout };
            self.metrics.record_error(ErrorKind::Timeout);
            match entry.responder {
                Responder::Call(reply) => {
                    self.breaker.failure();
                    self.recover_or_fail(myself, reply, err, true);
                }
                other => other.fail(&err),
            }
        }
        let Some(child) = &self.child else { return };
        let idle = self.cfg.lazy
            && matches!(self.phase, Phase::Ready)
            && child.requester().pending().is_empty()
            && self.sessions.values().all(|s| s.pending() == 0)
            && self.last_activity.max(self.lane.last_used()).elapsed() >= self.cfg.idle_timeout;
        if idle {
            tracing::info!(server = %self.label, "stopping idle server");
            self.set_phase(Phase::Idle { ever_started: true });
            self.metrics.set_up(false);
            let grace = self.ctx.stop_grace;
            for (_, session) in self.sessions.drain() {
                tokio::spawn(async move { session.stop(grace).await });
            }
            if let Some(child) = self.child.take() {
                // A call the fast lane sent after the idle check would wait for an answer nobody reads any more.
                let err = self.unavailable("it was stopped for being idle as the call arrived; call again");
                child.requester().pending().fail_all(&err);
                tokio::spawn(async move { child.stop(grace).await });
            }
        }
    }

    /// Tells the router about (possibly) new lists.
    fn publish(&mut self, lists: ServerLists, from_catalog: bool) {
        if self.lists.as_ref().is_some_and(|old| old.same_as(&lists)) {
            return;
        }
        if !from_catalog && self.lists.is_some() {
            self.write_catalog(&lists, None, None);
        }
        self.lists = Some(lists.clone());
        let _ = self.ctx.router.cast(RouterMsg::ServerLists { server: self.cfg.name.clone(), lists: Arc::new(lists) });
    }

    fn write_catalog(
        &self,
        lists: &ServerLists,
        server_info: Option<Box<RawValue>>,
        capabilities: Option<Box<RawValue>>,
    ) {
        let cat =
            Catalog { key: self.cfg.launch_key(), server_info, capabilities, era: self.era, lists: lists.clone() };
        let (dir, name) = (self.ctx.state_dir.clone(), self.cfg.name.clone());
        tokio::task::spawn_blocking(move || {
            if let Err(e) = catalog::store(&dir, &name, &cat) {
                tracing::warn!(server = %name, error = %e, "cannot write the catalog");
            }
        });
    }
}
