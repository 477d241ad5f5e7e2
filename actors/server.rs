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
//!
//! # Layout
//!
//! - this file: the actor, its state and phases, the calls that reach it, start-up and the periodic tick.
//! - `downstream`: the handshake and list fetches, as the server's own client.
//! - `lists`: keeping the server's lists current, publishing them to the router, the catalog.
//! - `recovery`: crashes, failed starts, timeouts, expired sessions; retries and fallbacks.
//! - `inbound`: what the server sends on its own (notifications, its own requests).
//! - `rounds`: input rounds between protocol eras.
//! - `per_client`: one downstream session per client session (`session = "per_client"`).
//! - `retire`: leaving the gateway on a configuration reload.
//! - `status`: what operators see of the server.

mod downstream;
mod inbound;
mod lists;
mod per_client;
mod recovery;
mod retire;
mod rounds;
mod status;

use rounds::Round;
pub(crate) use status::{ServerStatus, State};

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use serde_json::value::RawValue;
use tokio::sync::watch;

use super::router::RouterMsg;
use crate::breaker::{Breaker, CircuitState, Permit};
use crate::catalog;
use crate::config::ServerConfig;
use crate::dispatch::lane::{self, Lane};
use crate::dispatch::{Call, ClientReply, Clients};
use crate::dispatch::{ChildEvent, ChildProcess, Connection, HttpConnection, Requester, Responder};
use crate::dispatch::{ServerHandle, ServerPort, ToServer};
use crate::era::Era;
use crate::protocol;
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
    /// The failure last logged at warn level in the current streak of failures (cleared when ready).
    warned: Option<String>,
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
            warned: None,
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
                self.warned = None;
                self.lane.set_down(None);
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
                tracing::debug!(server = %self.label, error = %e, "start-up failed");
                if let Some(child) = self.child.take() {
                    child.kill();
                }
                self.generation += 1;
                self.on_failure(myself, msg, &e);
            }
        }
    }

    fn fail_queue(&mut self, err: &DownstreamError) {
        for (_, call) in self.queue.drain(..) {
            call.reply_fail(err);
        }
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
                // A call that waited for a server that keeps failing to start gets the reason, not a timeout.
                let err = match (&self.phase, &self.last_error) {
                    (Phase::Backoff { .. }, Some(why)) => self.unavailable(&format!("it cannot run: {why}")),
                    _ => DownstreamError::Timeout { server: self.label.to_string(), after: self.cfg.timeout },
                };
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
}
