//! `ServerActor`: one per downstream server. It starts the process (with the gateway, or lazily on the first
//! call), runs the MCP handshake, forwards calls, keeps the server's tool list current, fails calls that time out,
//! answers everything in flight when the process dies, restarts it with exponential backoff, and stops a lazy
//! server that has been idle.
//!
//! Nothing here waits on I/O inside `handle`: the handshake and list refreshes run as spawned tasks that report
//! back as messages, writes go through the child's writer queue, and answers bypass the actor entirely (see
//! [`crate::transport`]).

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::router::RouterMsg;
use crate::catalog::{self, Catalog};
use crate::config::{Namespace, ServerConfig};
use crate::protocol::{self, Envelope};
use crate::transport::child::{ChildProcess, Requester, SpawnSpec};
use crate::transport::pending::{ClientReply, Responder};
use crate::transport::{ChildEvent, DownstreamError};

/// Everything servers share, set once by the gateway.
pub struct ServerContext {
    pub router: ActorRef<RouterMsg>,
    pub state_dir: PathBuf,
    pub max_frame_bytes: usize,
    /// Reads the gateway's environment for `${VAR}` in server env (the process environment outside tests).
    pub lookup_env: crate::config::EnvLookup,
    /// How long a stopping server gets between closing stdin, SIGTERM and SIGKILL.
    pub stop_grace: Duration,
}

pub struct ServerArgs {
    pub config: Arc<ServerConfig>,
    pub ctx: Arc<ServerContext>,
}

/// A client request to forward.
#[derive(Debug)]
pub struct Call {
    /// `tools/call` today; resources and prompts use the same path.
    pub method: &'static str,
    /// The params to send, already rewritten to the downstream's names.
    pub params: Bytes,
    pub reply: ClientReply,
}

pub enum ServerMsg {
    Call(Call),
    /// A client cancelled its request `client_id` (raw JSON text).
    Cancel {
        session: u64,
        client_id: String,
    },
    /// Something child number `generation` sent or did.
    Child(u64, ChildEvent),
    Started(u64, Result<Handshake, DownstreamError>),
    ToolsRefreshed(u64, Result<Vec<Box<RawValue>>, DownstreamError>),
    /// The backoff after a crash of child `generation` is over.
    Restart(u64),
    /// Periodic: timeouts, idle stop.
    Tick,
    /// Start now if not running (the CLI wants live state).
    Ensure,
    Status(RpcReplyPort<ServerStatus>),
}

/// What `initialize` and the first `tools/list` told us.
#[derive(Debug)]
pub struct Handshake {
    pub protocol_version: String,
    pub server_info: Option<Box<RawValue>>,
    pub capabilities: Option<Box<RawValue>>,
    pub tools: Vec<Box<RawValue>>,
}

/// What operators see of a server (CLI `tools`, `/healthz`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    NotStarted,
    Starting,
    Ready,
    Restarting,
    Stopped,
}

impl State {
    pub fn as_str(self) -> &'static str {
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
pub struct ServerStatus {
    pub name: String,
    pub namespace: Namespace,
    pub state: State,
    pub pid: Option<u32>,
    pub restarts: u64,
    pub pending: usize,
    pub last_error: Option<String>,
    pub protocol_version: Option<String>,
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

pub struct ServerState {
    cfg: Arc<ServerConfig>,
    ctx: Arc<ServerContext>,
    label: Arc<str>,
    phase: Phase,
    child: Option<ChildProcess>,
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
    /// The tool list last published (to skip republishing an unchanged one).
    tools_published: Option<Vec<Box<RawValue>>>,
    ticker: Option<tokio::task::JoinHandle<()>>,
}

pub struct ServerActor;

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
        let mut state = ServerState {
            label: cfg.qualified().into(),
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
            tools_published: None,
            ticker: Some(myself.send_interval(Duration::from_millis(100), || ServerMsg::Tick)),
        };
        // A lazy server is listed from its catalog; without one it is started once to discover its tools.
        let cached = catalog::load(&state.ctx.state_dir, &state.cfg.name, &state.cfg.launch_key());
        match cached {
            Some(cat) if state.cfg.lazy => state.publish(cat.tools, true),
            _ => state.start(&myself),
        }
        Ok(state)
    }

    async fn post_stop(&self, _myself: ActorRef<ServerMsg>, state: &mut ServerState) -> Result<(), ActorProcessingErr> {
        if let Some(t) = state.ticker.take() {
            t.abort();
        }
        state.phase = Phase::Stopping;
        let err = state.unavailable("the gateway is shutting down");
        state.fail_queue(&err);
        if let Some(child) = state.child.take() {
            for entry in child.requester.pending().drain() {
                entry.responder.fail(&err);
            }
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
            ServerMsg::Call(call) => state.on_call(&myself, call),
            ServerMsg::Cancel { session, client_id } => state.on_cancel(session, &client_id),
            ServerMsg::Child(generation, event) if generation == state.generation => {
                state.on_child_event(&myself, event)
            }
            ServerMsg::Child(..) => {}
            ServerMsg::Started(generation, result) if generation == state.generation => {
                state.on_started(&myself, result)
            }
            ServerMsg::Started(..) => {}
            ServerMsg::ToolsRefreshed(generation, result) if generation == state.generation => match result {
                Ok(tools) => state.publish(tools, false),
                Err(e) => tracing::warn!(server = %state.label, error = %e, "refreshing the tool list failed"),
            },
            ServerMsg::ToolsRefreshed(..) => {}
            ServerMsg::Restart(generation) => {
                if generation == state.generation && matches!(state.phase, Phase::Backoff { .. }) {
                    state.start(&myself);
                }
            }
            ServerMsg::Tick => state.on_tick(),
            ServerMsg::Ensure => {
                if matches!(state.phase, Phase::Idle { .. }) {
                    state.start(&myself);
                }
            }
            ServerMsg::Status(reply) => {
                let _ = reply.send(state.status());
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
            pid: self.child.as_ref().map(|c| c.pid),
            restarts: self.restarts,
            pending: self.child.as_ref().map_or(0, |c| c.requester.pending().len()) + self.queue.len(),
            last_error: self.last_error.clone(),
            protocol_version: self.protocol_version.clone(),
        }
    }

    fn on_call(&mut self, myself: &ActorRef<ServerMsg>, call: Call) {
        self.last_activity = Instant::now();
        match self.phase {
            Phase::Ready => self.dispatch(call),
            Phase::Stopping => call.reply_fail(&self.unavailable("the gateway is shutting down")),
            _ if self.queue.len() >= self.cfg.max_pending => call.reply_fail(&DownstreamError::Overloaded {
                server: self.label.to_string(),
                limit: self.cfg.max_pending,
            }),
            Phase::Starting => self.queue.push_back((Instant::now() + self.cfg.timeout, call)),
            Phase::Idle { .. } => {
                self.queue.push_back((Instant::now() + self.cfg.timeout, call));
                self.start(myself);
            }
            Phase::Backoff { until } => {
                self.queue.push_back((Instant::now() + self.cfg.timeout, call));
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
        let Some(child) = &self.child else {
            return call.reply_fail(&self.unavailable("it is not running"));
        };
        let requester = &child.requester;
        if requester.pending().len() >= self.cfg.max_pending {
            return call.reply_fail(&DownstreamError::Overloaded {
                server: self.label.to_string(),
                limit: self.cfg.max_pending,
            });
        }
        requester.send(call.method, Some(&call.params), Responder::Client(call.reply), self.cfg.timeout, true);
    }

    fn on_cancel(&mut self, session: u64, client_id: &str) {
        if let Some(pos) = self
            .queue
            .iter()
            .position(|(_, c)| c.reply.session == session && protocol::raw_key(&c.reply.id) == client_id)
        {
            // Never sent: forget it; a cancelled request gets no response.
            self.queue.remove(pos);
            return;
        }
        let Some(child) = &self.child else { return };
        if let Some((id, _entry)) = child.requester.pending().remove_client_request(session, client_id) {
            let params = format!(r#"{{"requestId":{id},"reason":"cancelled by the client"}}"#);
            child.requester.notify("notifications/cancelled", Some(params.as_bytes()));
        }
    }

    fn start(&mut self, myself: &ActorRef<ServerMsg>) {
        self.generation += 1;
        let generation = self.generation;
        let events_to = myself.clone();
        let lookup = self.ctx.lookup_env.clone();
        let spawned = ChildProcess::spawn(SpawnSpec {
            config: &self.cfg,
            label: self.label.clone(),
            max_frame_bytes: self.ctx.max_frame_bytes,
            events: Arc::new(move |ev| {
                let _ = events_to.cast(ServerMsg::Child(generation, ev));
            }),
            lookup_env: &*lookup,
        });
        let child = match spawned {
            Ok(child) => child,
            Err(e) => return self.on_failure(myself, e.to_string(), &e),
        };
        tracing::info!(server = %self.label, pid = child.pid, "server process started");
        self.phase = Phase::Starting;
        let requester = child.requester.clone();
        self.child = Some(child);
        let me = myself.clone();
        let start_timeout = self.cfg.start_timeout;
        tokio::spawn(async move {
            let result = handshake(&requester, start_timeout).await;
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
                tracing::info!(server = %self.label, protocol = %hs.protocol_version, tools = hs.tools.len(), "server ready");
                self.phase = Phase::Ready;
                self.ready_since = Some(Instant::now());
                self.protocol_version = Some(hs.protocol_version);
                self.write_catalog(&hs.tools, hs.server_info, hs.capabilities);
                self.publish(hs.tools, false);
                while let Some((_, call)) = self.queue.pop_front() {
                    self.dispatch(call);
                }
            }
            Err(e) => {
                // The process is up but unusable: stop it; its exit is then a known, not a new, failure.
                let msg = format!("start-up failed: {e}");
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
                let err =
                    DownstreamError::Exited { server: self.label.to_string(), status: status.clone(), stderr_tail };
                tracing::warn!(server = %self.label, %status, "server process exited");
                for entry in child.requester.pending().drain() {
                    entry.responder.fail(&err);
                }
                // Long healthy runs do not count toward the backoff of the next crash.
                if self.ready_since.is_some_and(|t| t.elapsed() > self.cfg.restart_backoff_max) {
                    self.crashes = 0;
                }
                self.on_failure(myself, format!("exited ({status})"), &err);
            }
            ChildEvent::Notification(frame) => self.on_notification(myself, frame),
            ChildEvent::Request(frame) => self.on_server_request(frame),
            ChildEvent::Garbage(line) => {
                tracing::warn!(server = %self.label, line = %line, "the server wrote a line that is not JSON-RPC to stdout; skipped");
            }
        }
    }

    /// A failure to start or a crash: fail what waits, back off, and restart (app servers) or wait for the next
    /// call (lazy servers).
    fn on_failure(&mut self, myself: &ActorRef<ServerMsg>, summary: String, err: &DownstreamError) {
        self.record_failure(summary, err);
        if !self.cfg.lazy {
            if let Phase::Backoff { until } = self.phase {
                let generation = self.generation;
                myself.send_after(until.saturating_duration_since(Instant::now()), move || {
                    ServerMsg::Restart(generation)
                });
            }
        }
    }

    fn record_failure(&mut self, summary: String, err: &DownstreamError) {
        self.fail_queue(err);
        self.crashes += 1;
        self.restarts += 1;
        self.last_error = Some(summary);
        self.ready_since = None;
        let exp = self.crashes.saturating_sub(1).min(16);
        let delay = self.cfg.restart_backoff.saturating_mul(1 << exp).min(self.cfg.restart_backoff_max);
        tracing::info!(server = %self.label, delay = ?delay, crashes = self.crashes, "restart backoff");
        // Start-up readiness must not wait for a server that cannot start.
        let _ = self.ctx.router.cast(RouterMsg::ServerSettled { server: self.cfg.name.clone() });
        self.phase = Phase::Backoff { until: Instant::now() + delay };
    }

    fn fail_queue(&mut self, err: &DownstreamError) {
        for (_, call) in self.queue.drain(..) {
            call.reply_fail(err);
        }
    }

    fn on_notification(&mut self, myself: &ActorRef<ServerMsg>, frame: Bytes) {
        let Ok(env) = Envelope::parse(&frame) else { return };
        match env.method.as_deref() {
            Some("notifications/tools/list_changed") => {
                let Some(child) = &self.child else { return };
                let requester = child.requester.clone();
                let (me, generation, timeout) = (myself.clone(), self.generation, self.cfg.timeout);
                tokio::spawn(async move {
                    let result = list_tools(&requester, timeout).await;
                    let _ = me.cast(ServerMsg::ToolsRefreshed(generation, result));
                });
            }
            Some("notifications/message") => {
                let _ = self.ctx.router.cast(RouterMsg::Broadcast(crate::transport::child::with_newline(&frame)));
            }
            Some(method) => tracing::debug!(server = %self.label, method, "notification not forwarded"),
            None => {}
        }
    }

    fn on_server_request(&mut self, frame: Bytes) {
        let Ok(env) = Envelope::parse(&frame) else { return };
        let (Some(id), Some(method)) = (env.id, env.method.as_deref()) else { return };
        let Some(child) = &self.child else { return };
        let answer = if method == "ping" {
            protocol::response_frame(id, &RawValue::from_string("{}".into()).expect("{} is JSON"))
        } else {
            protocol::error_frame(
                id,
                protocol::code::METHOD_NOT_FOUND,
                &format!("dfs-gateway does not forward `{method}` from servers to clients in this version"),
                None,
            )
        };
        child.requester.send_raw(answer);
    }

    fn on_tick(&mut self) {
        let now = Instant::now();
        while self.queue.front().is_some_and(|(deadline, _)| *deadline <= now) {
            if let Some((_, call)) = self.queue.pop_front() {
                call.reply_fail(&DownstreamError::Timeout { server: self.label.to_string(), after: self.cfg.timeout });
            }
        }
        let Some(child) = &self.child else { return };
        for (id, entry) in child.requester.pending().expire(now) {
            if entry.cancel_on_timeout {
                let params = format!(r#"{{"requestId":{id},"reason":"timed out in dfs-gateway"}}"#);
                child.requester.notify("notifications/cancelled", Some(params.as_bytes()));
            }
            entry.responder.fail(&DownstreamError::Timeout { server: self.label.to_string(), after: self.cfg.timeout });
        }
        let idle = self.cfg.lazy
            && matches!(self.phase, Phase::Ready)
            && child.requester.pending().is_empty()
            && self.last_activity.elapsed() >= self.cfg.idle_timeout;
        if idle {
            tracing::info!(server = %self.label, "stopping idle server");
            self.phase = Phase::Idle { ever_started: true };
            if let Some(child) = self.child.take() {
                let grace = self.ctx.stop_grace;
                tokio::spawn(async move { child.stop(grace).await });
            }
        }
    }

    /// Tells the router about a (possibly) new tool list.
    fn publish(&mut self, tools: Vec<Box<RawValue>>, from_catalog: bool) {
        let same = self
            .tools_published
            .as_ref()
            .is_some_and(|old| old.len() == tools.len() && old.iter().zip(&tools).all(|(a, b)| a.get() == b.get()));
        if same {
            return;
        }
        if !from_catalog && self.tools_published.is_some() {
            self.write_catalog(&tools, None, None);
        }
        self.tools_published = Some(tools.clone());
        let _ = self.ctx.router.cast(RouterMsg::ServerTools { server: self.cfg.name.clone(), tools: Arc::new(tools) });
    }

    fn write_catalog(
        &self,
        tools: &[Box<RawValue>],
        server_info: Option<Box<RawValue>>,
        capabilities: Option<Box<RawValue>>,
    ) {
        let cat = Catalog { key: self.cfg.launch_key(), server_info, capabilities, tools: tools.to_vec() };
        let (dir, name) = (self.ctx.state_dir.clone(), self.cfg.name.clone());
        tokio::task::spawn_blocking(move || {
            if let Err(e) = catalog::store(&dir, &name, &cat) {
                tracing::warn!(server = %name, error = %e, "cannot write the catalog");
            }
        });
    }
}

impl Call {
    fn reply_fail(self, err: &DownstreamError) {
        Responder::Client(self.reply).fail(err);
    }
}

/// `initialize`, `notifications/initialized`, then the tool list.
async fn handshake(req: &Requester, timeout: Duration) -> Result<Handshake, DownstreamError> {
    #[derive(Deserialize)]
    struct InitResult {
        #[serde(rename = "protocolVersion")]
        protocol_version: String,
        #[serde(default)]
        capabilities: Option<Box<RawValue>>,
        #[serde(default, rename = "serverInfo")]
        server_info: Option<Box<RawValue>>,
    }
    #[derive(Deserialize)]
    struct Caps<'a> {
        #[serde(borrow, default)]
        tools: Option<&'a RawValue>,
    }
    let params = serde_json::json!({
        "protocolVersion": protocol::LATEST_LEGACY_VERSION,
        "capabilities": {},
        "clientInfo": { "name": "dfs-gateway", "version": env!("CARGO_PKG_VERSION") },
    });
    let frame = req.request("initialize", Some(params.to_string().as_bytes()), timeout).await?;
    let init: InitResult = result_of(req, "initialize", &frame)?;
    req.notify("notifications/initialized", None);
    let has_tools = init
        .capabilities
        .as_deref()
        .and_then(|c| serde_json::from_str::<Caps<'_>>(c.get()).ok())
        .is_some_and(|c| c.tools.is_some());
    let tools = if has_tools { list_tools(req, timeout).await? } else { Vec::new() };
    Ok(Handshake {
        protocol_version: init.protocol_version,
        server_info: init.server_info,
        capabilities: init.capabilities,
        tools,
    })
}

/// Every page of `tools/list`.
async fn list_tools(req: &Requester, timeout: Duration) -> Result<Vec<Box<RawValue>>, DownstreamError> {
    #[derive(Deserialize)]
    struct Page {
        tools: Vec<Box<RawValue>>,
        #[serde(default, rename = "nextCursor")]
        next_cursor: Option<String>,
    }
    let mut tools = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..1000 {
        let params = cursor.as_ref().map(|c| serde_json::json!({ "cursor": c }).to_string());
        let frame = req.request("tools/list", params.as_deref().map(str::as_bytes), timeout).await?;
        let page: Page = result_of(req, "tools/list", &frame)?;
        tools.extend(page.tools);
        match page.next_cursor {
            Some(c) if !c.is_empty() => cursor = Some(c),
            _ => return Ok(tools),
        }
    }
    Ok(tools)
}

/// The `result` of a response frame, typed; an error response or a bad shape is a `BadResponse`.
fn result_of<T: for<'de> Deserialize<'de>>(req: &Requester, method: &str, frame: &[u8]) -> Result<T, DownstreamError> {
    let bad = |detail: String| DownstreamError::BadResponse { server: req.server().to_owned(), detail };
    let env = Envelope::parse(frame).map_err(|e| bad(format!("{method}: {e}")))?;
    match (env.result, env.error) {
        (Some(result), _) => serde_json::from_str(result.get()).map_err(|e| bad(format!("{method} result: {e}"))),
        (None, Some(error)) => Err(bad(format!("{method} was refused: {}", error.get()))),
        _ => Err(bad(format!("{method}: neither result nor error"))),
    }
}
