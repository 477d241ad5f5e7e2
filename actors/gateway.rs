//! `Gateway`: the root actor. It assembles the tree (router, server supervisor, stdio front), and on stop takes
//! it down in order: front first (no new calls), then the servers (each stops its process group), then the
//! router. [`start`] returns a [`GatewayHandle`] for `main` and the CLI.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::http_front::{HttpFront, HttpFrontArgs};
use super::router::{Router, RouterArgs, RouterMsg};
use super::server::{ServerContext, ServerMsg, ServerStatus};
use super::stdio_front::{StdioFront, StdioFrontArgs};
use super::supervisor::{ReconcileReport, ServerSupervisor, SupervisorArgs, SupervisorMsg};
use crate::config::Config;
use crate::dispatch::Clients;
use crate::routing::RoutingTable;
use crate::session::Shared;

pub struct GatewayArgs {
    pub config: Arc<Config>,
    /// Run the stdio front (off for the CLI's in-process gateway). With it, servers are initialized with the
    /// capabilities of the stdio client, once it has sent them.
    pub stdio: bool,
    /// Run the HTTP front (`[front.http]`; off for the CLI's in-process gateway). With it, servers are
    /// initialized with every capability the gateway can forward, since many clients come and go.
    pub http: bool,
    /// Cancelled when the gateway should end (end of stdin); `main` waits on it.
    pub shutdown: CancellationToken,
    /// Reads the gateway's environment for `${VAR}` in server env.
    pub lookup_env: crate::config::EnvLookup,
    /// The policy rules loaded from `[policy] files`.
    pub policy: crate::policy::PolicySet,
    /// Metrics, evidence, cache and rate limits, built by the caller (the backends may need I/O to start).
    pub services: Arc<crate::dispatch::Services>,
}

pub(crate) enum GatewayMsg {
    Shared(RpcReplyPort<Arc<Shared>>),
    Supervisor(RpcReplyPort<ActorRef<SupervisorMsg>>),
}

pub(crate) struct GatewayState {
    shared: Arc<Shared>,
    router: ActorRef<RouterMsg>,
    supervisor: ActorRef<SupervisorMsg>,
    front: Option<ActorRef<()>>,
    http_front: Option<ActorRef<()>>,
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
        let table = Arc::new(ArcSwap::from_pointee(RoutingTable::build(&cfg.gateway.naming, &Default::default())));
        let (ready_tx, ready_rx) = watch::channel(false);
        let clients = Arc::new(Clients::default());
        let http = args.http && cfg.http.enabled;
        let initial_caps = match (http, args.stdio) {
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
        let front = if args.stdio {
            let front_args = StdioFrontArgs {
                shared: shared.clone(),
                max_frame_bytes: cfg.gateway.max_frame_bytes,
                shutdown: args.shutdown.clone(),
            };
            Some(Actor::spawn_linked(None, StdioFront, front_args, myself.get_cell()).await?.0)
        } else {
            None
        };
        let http_front = if http {
            let front_args = HttpFrontArgs { shared: shared.clone(), config: cfg.http.clone() };
            Some(Actor::spawn_linked(None, HttpFront, front_args, myself.get_cell()).await?.0)
        } else {
            None
        };
        Ok(GatewayState { shared, router, supervisor, front, http_front, shutdown: args.shutdown })
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<GatewayMsg>,
        state: &mut GatewayState,
    ) -> Result<(), ActorProcessingErr> {
        for front in state.front.iter().chain(&state.http_front) {
            let _ = front.stop_and_wait(None, Some(Duration::from_secs(2))).await;
        }
        let _ = state.supervisor.stop_and_wait(None, Some(Duration::from_secs(15))).await;
        let _ = state.router.stop_and_wait(None, Some(Duration::from_secs(1))).await;
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
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        _myself: ActorRef<GatewayMsg>,
        event: SupervisionEvent,
        state: &mut GatewayState,
    ) -> Result<(), ActorProcessingErr> {
        // The router, supervisor and front hold no state worth a partial restart: if one fails, the gateway ends
        // (cleanly, through the shutdown token) rather than serve with a hole in it.
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
}

/// Starts the actor tree.
pub async fn start(args: GatewayArgs) -> anyhow::Result<GatewayHandle> {
    let (actor, join) = Actor::spawn(None, Gateway, args).await?;
    let shared = ractor::call!(actor, GatewayMsg::Shared)?;
    let supervisor = ractor::call!(actor, GatewayMsg::Supervisor)?;
    Ok(GatewayHandle { actor, join, shared, supervisor })
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
