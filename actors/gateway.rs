//! `Gateway`: the root actor. It assembles the tree (see the module docs of [`crate::actors`]): the evidence
//! writer first (so that nothing records into a trail nobody writes), the router, the server supervisor, then the
//! fronts. On stop it takes the tree down in the other order: fronts first (no new calls), then the servers (each
//! stops its process group), the router, and the evidence writer last (so the last calls' records are written).
//!
//! It restarts nothing itself: each child handles its own failures (the supervisor respawns server actors, the
//! fronts and the evidence actor restart their tasks); a child that fails anyway, or stops unexpectedly, ends the
//! gateway cleanly through the shutdown token, with the reason logged. [`start`] returns a [`GatewayHandle`] for
//! `main` and the CLI.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::evidence::{EvidenceActor, EvidenceMsg};
use super::http_front::{HttpFront, HttpFrontArgs, HttpFrontMsg};
use super::router::{Router, RouterArgs, RouterMsg};
use super::server::{ServerContext, ServerMsg, ServerStatus};
use super::stdio_front::{StdioFront, StdioFrontArgs, StdioFrontMsg, StdioStreams};
use super::supervisor::{ReconcileReport, ServerSupervisor, SupervisorArgs, SupervisorMsg};
use crate::config::Config;
use crate::dispatch::Clients;
use crate::evidence::queue::Queue;
use crate::routing::RoutingTable;
use crate::session::Shared;

/// What a gateway is started with. [`GatewayArgs::new`] gives an in-process gateway without fronts; the CLI sets
/// the rest.
pub struct GatewayArgs {
    pub(crate) config: Arc<Config>,
    /// Run the stdio front on these streams (off for the CLI's in-process gateway). With it, servers are
    /// initialized with the capabilities of the stdio client, once it has sent them.
    pub(crate) stdio: Option<StdioStreams>,
    /// Run the HTTP front (`[front.http]`; off for the CLI's in-process gateway). With it, servers are
    /// initialized with every capability the gateway can forward, since many clients come and go.
    pub(crate) http: bool,
    /// Cancelled when the gateway should end (end of stdin, a failed core actor); `main` waits on it.
    pub(crate) shutdown: CancellationToken,
    /// Reads the gateway's environment for `${VAR}` in server env.
    pub(crate) lookup_env: crate::config::EnvLookup,
    /// The policy rules loaded from `[policy] files`.
    pub(crate) policy: crate::policy::PolicySet,
    /// Metrics, evidence, cache and rate limits, built by the caller (the backends may need I/O to start).
    pub(crate) services: Arc<crate::dispatch::Services>,
    /// The writer side of the evidence trail whose handle `services` holds: its writer runs in the tree.
    pub(crate) evidence: Option<Queue>,
    /// Without a writer for the trail (another gateway holds its directory) the gateway starts anyway, records
    /// counted as dropped: for one-off commands. `serve` needs its trail.
    pub(crate) evidence_optional: bool,
}

impl GatewayArgs {
    /// An in-process gateway with no front and no evidence trail, reading the process environment.
    pub fn new(
        config: Arc<Config>,
        policy: crate::policy::PolicySet,
        services: Arc<crate::dispatch::Services>,
    ) -> Self {
        GatewayArgs {
            config,
            stdio: None,
            http: false,
            shutdown: CancellationToken::new(),
            lookup_env: Arc::new(|k: &str| std::env::var(k).ok()),
            policy,
            services,
            evidence: None,
            evidence_optional: false,
        }
    }
}

pub(crate) enum GatewayMsg {
    Shared(RpcReplyPort<Arc<Shared>>),
    Supervisor(RpcReplyPort<ActorRef<SupervisorMsg>>),
    HttpAddr(RpcReplyPort<Option<SocketAddr>>),
}

pub(crate) struct GatewayState {
    shared: Arc<Shared>,
    evidence: Option<ActorRef<EvidenceMsg>>,
    router: ActorRef<RouterMsg>,
    supervisor: ActorRef<SupervisorMsg>,
    front: Option<ActorRef<StdioFrontMsg>>,
    http_front: Option<ActorRef<HttpFrontMsg>>,
    /// Where the HTTP front listens.
    http_addr: Option<SocketAddr>,
    shutdown: CancellationToken,
}

pub(crate) struct Gateway;

impl Actor for Gateway {
    type Msg = GatewayMsg;
    type State = GatewayState;
    type Arguments = GatewayArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<GatewayMsg>,
        args: GatewayArgs,
    ) -> Result<GatewayState, ActorProcessingErr> {
        let cfg = args.config;
        let evidence = match args.evidence {
            Some(queue) => match Actor::spawn_linked(None, EvidenceActor, Arc::new(queue), myself.get_cell()).await {
                Ok((actor, _)) => Some(actor),
                Err(e) if args.evidence_optional => {
                    tracing::warn!(error = %e, "this command writes no evidence");
                    None
                }
                Err(e) => return Err(e.into()),
            },
            None => None,
        };
        let table = Arc::new(ArcSwap::from_pointee(RoutingTable::build(&cfg.gateway.naming, &Default::default())));
        let (ready_tx, ready_rx) = watch::channel(false);
        let clients = Arc::new(Clients::default());
        clients.remote_stderr.store(cfg.secrets.stderr_to_remote_clients, std::sync::atomic::Ordering::Relaxed);
        let http = args.http && cfg.http.enabled;
        let initial_caps = match (http, args.stdio.is_some()) {
            (true, _) => Some(Arc::from(crate::dispatch::client::FORWARDED_CAPS)),
            (false, true) => None,
            (false, false) => Some(Arc::from("{}")),
        };
        let (caps_tx, caps_rx) = watch::channel(initial_caps);
        let router_args = RouterArgs {
            naming: cfg.gateway.naming.clone(),
            table: table.clone(),
            ready: ready_tx,
            awaited: cfg.servers.iter().map(|s| s.name.clone()).collect(),
            clients: clients.clone(),
        };
        let (router, _) = Actor::spawn_linked(None, Router, router_args, myself.get_cell()).await?;
        let ctx = Arc::new(ServerContext {
            router: router.clone(),
            state_dir: cfg.gateway.state_dir.clone(),
            max_frame_bytes: cfg.gateway.max_frame_bytes,
            lookup_env: args.lookup_env,
            stop_grace: Duration::from_secs(2),
            clients: clients.clone(),
            table: table.clone(),
            client_caps: caps_rx,
            services: args.services.clone(),
        });
        let supervisor_args = SupervisorArgs { servers: cfg.servers.clone(), ctx };
        let (supervisor, _) = Actor::spawn_linked(None, ServerSupervisor, supervisor_args, myself.get_cell()).await?;
        let ready_wait = cfg.servers.iter().map(|s| s.start_timeout).max().unwrap_or_default() + Duration::from_secs(1);
        let shared = Arc::new(Shared {
            name: cfg.gateway.name.clone(),
            table,
            ready: ready_rx,
            ready_wait,
            clients,
            page_size: cfg.gateway.page_size,
            modern_list_members: format!(
                r#"{},"_meta":{{"{}":{{"name":{},"version":"{}"}}}}"#,
                crate::era::completion_members(true),
                crate::protocol::meta::SERVER_INFO,
                serde_json::Value::from(cfg.gateway.name.as_str()),
                env!("CARGO_PKG_VERSION")
            ),
            client_caps: caps_tx,
            policy: ArcSwap::from_pointee(crate::session::ActivePolicy::new(args.policy)),
            services: args.services,
        });
        let front = match args.stdio {
            Some(streams) => {
                let front_args = StdioFrontArgs {
                    shared: shared.clone(),
                    max_frame_bytes: cfg.gateway.max_frame_bytes,
                    shutdown: args.shutdown.clone(),
                    streams,
                };
                Some(Actor::spawn_linked(None, StdioFront, front_args, myself.get_cell()).await?.0)
            }
            None => None,
        };
        let (http_front, http_addr) = if http {
            let front_args = HttpFrontArgs { shared: shared.clone(), config: cfg.http.clone() };
            let front = Actor::spawn_linked(None, HttpFront, front_args, myself.get_cell()).await?.0;
            let addr = ractor::call!(front, HttpFrontMsg::Addr)?;
            (Some(front), Some(addr))
        } else {
            (None, None)
        };
        Ok(GatewayState { shared, evidence, router, supervisor, front, http_front, http_addr, shutdown: args.shutdown })
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<GatewayMsg>,
        state: &mut GatewayState,
    ) -> Result<(), ActorProcessingErr> {
        if let Some(front) = &state.front {
            let _ = front.stop_and_wait(None, Some(Duration::from_secs(2))).await;
        }
        if let Some(front) = &state.http_front {
            let _ = front.stop_and_wait(None, Some(Duration::from_secs(2))).await;
        }
        let _ = state.supervisor.stop_and_wait(None, Some(Duration::from_secs(15))).await;
        let _ = state.router.stop_and_wait(None, Some(Duration::from_secs(1))).await;
        if let Some(evidence) = &state.evidence {
            // Everything that records has stopped: write the rest and fsync.
            let _ = evidence.stop_and_wait(None, Some(Duration::from_secs(30))).await;
        }
        Ok(())
    }

    async fn handle(
        &self,
        _myself: ActorRef<GatewayMsg>,
        msg: GatewayMsg,
        state: &mut GatewayState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            GatewayMsg::Shared(reply) => {
                let _ = reply.send(state.shared.clone());
            }
            GatewayMsg::Supervisor(reply) => {
                let _ = reply.send(state.supervisor.clone());
            }
            GatewayMsg::HttpAddr(reply) => {
                let _ = reply.send(state.http_addr);
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        _myself: ActorRef<GatewayMsg>,
        event: SupervisionEvent,
        state: &mut GatewayState,
    ) -> Result<(), ActorProcessingErr> {
        // Every child restarts what it can itself; one that fails anyway (or a router, which holds no state worth
        // a partial restart) ends the gateway cleanly, through the shutdown token, rather than let it serve with a
        // hole in it.
        match event {
            SupervisionEvent::ActorFailed(cell, err) => {
                tracing::error!(actor = ?cell.get_id(), error = %err, "a core actor failed; shutting down");
                state.shutdown.cancel();
            }
            SupervisionEvent::ActorTerminated(cell, _, reason) if !state.shutdown.is_cancelled() => {
                tracing::error!(actor = ?cell.get_id(), ?reason, "a core actor stopped; shutting down");
                state.shutdown.cancel();
            }
            _ => {}
        }
        Ok(())
    }
}

/// The status of every configured server, asked of each server actor (bounded wait per server).
pub(crate) async fn statuses(supervisor: &ActorRef<SupervisorMsg>) -> Vec<ServerStatus> {
    let servers = ractor::call_t!(supervisor, SupervisorMsg::Servers, 2000).unwrap_or_default();
    let mut out = Vec::with_capacity(servers.len());
    for s in servers {
        if let Ok(st) = ractor::call_t!(s, ServerMsg::Status, 2000) {
            out.push(st);
        }
    }
    out
}

/// The `/healthz` document of a running gateway.
pub(crate) async fn health(shared: &Shared, supervisor: &ActorRef<SupervisorMsg>) -> crate::ops::health::Health {
    use super::server::State;
    use crate::ops::health::{Health, ServerHealth, ServerState};
    let servers = statuses(supervisor).await.into_iter().map(|s| {
        let state = match (s.circuit, s.state) {
            (crate::breaker::CircuitState::Open, _) => ServerState::CircuitOpen,
            (_, State::NotStarted) => ServerState::NotStarted,
            (_, State::Starting) => ServerState::Starting,
            (_, State::Ready) => ServerState::Ready,
            (_, State::Restarting) => ServerState::Restarting,
            (_, State::Stopped) => ServerState::Stopped,
        };
        let circuit = Some(s.circuit.as_str().to_owned());
        let entry = ServerHealth { state, restarts: s.restarts, last_error: s.last_error, pid: s.pid, circuit };
        (s.namespace.as_str(), s.name, entry)
    });
    Health::build(true, servers, shared.services.backend_health().await)
}

/// A running gateway.
pub struct GatewayHandle {
    actor: ActorRef<GatewayMsg>,
    join: tokio::task::JoinHandle<()>,
    pub shared: Arc<Shared>,
    /// Where a configuration reload sends the new server definitions (see [`reconcile`]).
    pub(crate) supervisor: ActorRef<SupervisorMsg>,
    /// Where the HTTP front listens, when it runs.
    pub(crate) http_addr: Option<SocketAddr>,
}

/// Starts the actor tree.
pub async fn start(args: GatewayArgs) -> anyhow::Result<GatewayHandle> {
    let (actor, join) = Actor::spawn(None, Gateway, args).await?;
    let shared = ractor::call!(actor, GatewayMsg::Shared)?;
    let supervisor = ractor::call!(actor, GatewayMsg::Supervisor)?;
    let http_addr = ractor::call!(actor, GatewayMsg::HttpAddr)?;
    Ok(GatewayHandle { actor, join, shared, supervisor, http_addr })
}

/// Starts, stops and replaces servers so that the running set matches `servers` (a reloaded configuration);
/// unchanged servers are not touched. Waits until removed and changed servers' processes are gone.
pub(crate) async fn reconcile(
    supervisor: &ActorRef<SupervisorMsg>,
    servers: Vec<Arc<crate::config::ServerConfig>>,
) -> anyhow::Result<ReconcileReport> {
    // Each retiring server may take its stop grace and more; the supervisor bounds every wait itself.
    Ok(ractor::call_t!(supervisor, SupervisorMsg::Reconcile, 300_000, servers)?)
}

impl GatewayHandle {
    /// Where the HTTP front listens, when it runs (its configured port may be 0).
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http_addr
    }

    /// The status of every configured server.
    pub(crate) async fn statuses(&self) -> Vec<ServerStatus> {
        statuses(&self.supervisor).await
    }

    /// Stops the tree and waits until every server process is gone.
    pub async fn stop(self) {
        self.actor.stop(None);
        let _ = self.join.await;
    }
}

#[cfg(test)]
mod tests {
    //! The tree is honest: a panic in a task it owns ends in a restart or a clean, logged shutdown.

    use std::pin::Pin;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Mutex;
    use std::task::{Context, Poll, Waker};

    use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader, ReadBuf};

    use super::*;
    use crate::config::Overlay;
    use crate::dispatch::Services;
    use crate::policy::{Action, PolicySet};

    const DEADLINE: Duration = Duration::from_secs(10);

    /// A gateway without servers, its state in `dir`, with `extra` added to its configuration.
    fn args(dir: &std::path::Path, extra: &str) -> GatewayArgs {
        let path = dir.join("gateway.toml");
        std::fs::write(&path, format!("[gateway]\nstate_dir = \"state\"\n{extra}")).unwrap();
        let config = Config::load(Some(&path), &Overlay::default()).unwrap();
        GatewayArgs::new(Arc::new(config), PolicySet::empty(Action::Allow), Arc::new(Services::embedded()))
    }

    /// Gives one frame, then (once armed) panics, as a bug in the stdin reader would.
    struct OneFrameThenPanic {
        frame: Option<&'static [u8]>,
        armed: Arc<AtomicBool>,
        waker: Arc<Mutex<Option<Waker>>>,
    }

    impl AsyncRead for OneFrameThenPanic {
        fn poll_read(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<std::io::Result<()>> {
            if let Some(frame) = self.frame.take() {
                buf.put_slice(frame);
                return Poll::Ready(Ok(()));
            }
            if self.armed.load(Ordering::SeqCst) {
                panic!("injected failure of the stdin reader");
            }
            *self.waker.lock().unwrap() = Some(cx.waker().clone());
            Poll::Pending
        }
    }

    #[tokio::test]
    async fn a_panic_in_the_stdin_reader_shuts_the_gateway_down_cleanly() {
        let dir = tempfile::tempdir().unwrap();
        let (armed, waker) = (Arc::new(AtomicBool::new(false)), Arc::new(Mutex::new(None::<Waker>)));
        let input = OneFrameThenPanic {
            frame: Some(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}\n"),
            armed: armed.clone(),
            waker: waker.clone(),
        };
        let (output, client_end) = tokio::io::duplex(4096);
        let mut args = args(dir.path(), "");
        args.stdio = Some(StdioStreams { input: Box::new(input), output: Box::new(output) });
        let shutdown = args.shutdown.clone();
        let gateway = start(args).await.unwrap();

        // The front works: the ping is answered.
        let mut answers = BufReader::new(client_end).lines();
        let pong = tokio::time::timeout(DEADLINE, answers.next_line()).await.unwrap().unwrap().unwrap();
        assert!(pong.contains(r#""id":1"#) && pong.contains(r#""result":{}"#), "{pong}");
        assert!(!shutdown.is_cancelled());

        // The reader panics: the front fails and the gateway shuts down instead of hanging deaf.
        armed.store(true, Ordering::SeqCst);
        if let Some(w) = waker.lock().unwrap().take() {
            w.wake();
        }
        tokio::time::timeout(DEADLINE, shutdown.cancelled()).await.expect("the gateway shuts down");
        tokio::time::timeout(DEADLINE, gateway.stop()).await.expect("and stops");
    }

    #[tokio::test]
    async fn a_panicking_http_listener_is_started_again_on_its_address() {
        let dir = tempfile::tempdir().unwrap();
        let mut args = args(dir.path(), "[front.http]\nenabled = true\nlisten = \"127.0.0.1:0\"\n");
        args.http = true;
        let shutdown = args.shutdown.clone();
        let gateway = start(args).await.unwrap();
        let addr = gateway.http_addr().expect("the HTTP front runs");

        crate::http::listener::faults::panic_at_next_accept(addr);
        // This connection makes the accept loop panic; the front binds the same address again.
        drop(tokio::net::TcpStream::connect(addr).await);
        let answered = tokio::time::timeout(DEADLINE, async {
            loop {
                if let Ok(mut conn) = tokio::net::TcpStream::connect(addr).await {
                    let request = "GET /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
                    if conn.write_all(request.as_bytes()).await.is_ok() {
                        let mut head = String::new();
                        let mut reader = BufReader::new(conn);
                        if reader.read_line(&mut head).await.is_ok_and(|n| n > 0) {
                            return head;
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .expect("the listener serves again");
        assert!(answered.starts_with("HTTP/1.1 "), "{answered}");
        assert!(!shutdown.is_cancelled(), "a restarted listener does not end the gateway");
        gateway.stop().await;
    }

    #[tokio::test]
    async fn an_evidence_writer_that_keeps_failing_shuts_the_gateway_down() {
        let dir = tempfile::tempdir().unwrap();
        let mut args = args(dir.path(), "");
        let evidence = crate::evidence::EvidenceConfig { dir: dir.path().join("evidence"), ..Default::default() };
        let (queue, handle) = Queue::new(evidence).unwrap();
        args.evidence = Some(queue);
        let shutdown = args.shutdown.clone();
        let gateway = start(args).await.unwrap();
        // Each of these makes the writer thread panic; the evidence actor restarts it a few times, then fails.
        let failing = async {
            loop {
                handle.record(crate::evidence::Record::call(crate::evidence::queue::PANIC_TOOL));
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        };
        tokio::select! {
            _ = failing => unreachable!(),
            _ = tokio::time::timeout(DEADLINE, shutdown.cancelled()) => {}
        }
        assert!(shutdown.is_cancelled(), "the gateway shuts down once its trail cannot be written");
        tokio::time::timeout(DEADLINE, gateway.stop()).await.expect("and stops");
    }
}
