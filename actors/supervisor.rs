//! `ServerSupervisor`: spawns one `ServerActor` per configured server, linked to itself, and respawns an actor
//! that failed (a bug: a panic in `handle`). Crashes of the server *processes* are expected failures handled by
//! the actors themselves; this supervisor only keeps the actors alive. ractor's default would stop the
//! supervisor when a child exits, so that is overridden here.
//!
//! On a configuration reload it also brings the set of servers in line with the new configuration
//! ([`SupervisorMsg::Reconcile`]): a removed server is retired (its calls answered with an error naming it, its
//! process group stopped, its route and lists taken out of the table), a changed one is retired and started anew,
//! an added one is started as at start-up, and an unchanged one is not touched at all.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorId, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};

use super::router::RouterMsg;
use super::server::{ServerActor, ServerArgs, ServerContext, ServerMsg};
use crate::config::ServerConfig;
use crate::dispatch::{Lane, ServerHandle};
use crate::routing::ServerRoute;

/// How long the supervisor waits for a retiring server to answer its calls and stop its process group.
const RETIRE_WAIT: Duration = Duration::from_secs(30);

pub(crate) struct SupervisorArgs {
    pub(crate) servers: Vec<Arc<ServerConfig>>,
    pub(crate) ctx: Arc<ServerContext>,
}

pub(crate) enum SupervisorMsg {
    /// Bring the running servers in line with a reloaded configuration (servers in any order). Answered once
    /// every retired server has stopped and every new one has been spawned (not necessarily started).
    Reconcile(Vec<Arc<ServerConfig>>, RpcReplyPort<ReconcileReport>),
    /// The live server actors, in name order (for status queries, which ask each one).
    Servers(RpcReplyPort<Vec<ActorRef<ServerMsg>>>),
}

/// What a reconcile did, by server name (for the reload's log line).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct ReconcileReport {
    pub(crate) added: Vec<String>,
    pub(crate) removed: Vec<String>,
    /// Changed definitions: the old server was stopped and a new one started.
    pub(crate) replaced: Vec<String>,
    pub(crate) unchanged: usize,
}

impl ReconcileReport {}

/// One running server actor and the definition it was started from.
struct Child {
    actor: ActorRef<ServerMsg>,
    config: Arc<ServerConfig>,
}

pub(crate) struct SupervisorState {
    ctx: Arc<ServerContext>,
    /// The live server actors by server name.
    servers: BTreeMap<String, Child>,
    /// Which server an actor runs, to tell a failed child from a retired one (retired ones are not here).
    by_id: HashMap<ActorId, String>,
    /// Set in `post_stop`, so that children stopping with the gateway are not respawned.
    stopping: bool,
}

pub(crate) struct ServerSupervisor;

impl ServerSupervisor {
    async fn spawn_server(
        myself: &ActorRef<SupervisorMsg>,
        state: &mut SupervisorState,
        config: Arc<ServerConfig>,
    ) -> Result<(), ActorProcessingErr> {
        let breaker = crate::breaker::Breaker::new(config.circuit_failures, config.circuit_cooldown);
        let lane = Arc::new(Lane::new(Arc::new(breaker)));
        let args = ServerArgs { config: config.clone(), ctx: state.ctx.clone(), lane: lane.clone() };
        let (actor, _) = Actor::spawn_linked(None, ServerActor, args, myself.get_cell()).await?;
        state.by_id.insert(actor.get_id(), config.name.clone());
        state.servers.insert(config.name.clone(), Child { actor: actor.clone(), config: config.clone() });
        let label: Arc<str> = config.qualified().into();
        let route = ServerRoute {
            name: config.name.clone(),
            namespace: config.namespace,
            handle: ServerHandle::new(label.clone(), lane, Arc::new(actor)),
            label,
            retries: config.retries,
            prefix: config.prefix,
        };
        state.ctx.router.cast(RouterMsg::SetRoute(Arc::new(route)))?;
        Ok(())
    }

    /// Stops a server for good: no respawn, its calls answered with `reason`, its process group stopped.
    async fn retire(state: &mut SupervisorState, name: &str, reason: &str) {
        let Some(child) = state.servers.remove(name) else { return };
        state.by_id.remove(&child.actor.get_id());
        let label = child.config.qualified();
        let retired =
            ractor::call_t!(child.actor, ServerMsg::Retire, RETIRE_WAIT.as_millis() as u64, reason.to_owned());
        if let Err(e) = retired {
            // It did not answer in time (or was gone already): make sure it ends; its process group is killed
            // in its post_stop.
            tracing::warn!(server = %label, error = %e, "a retiring server did not stop in time; stopping its actor");
            child.actor.stop(Some(reason.to_owned()));
        }
    }

    async fn reconcile(
        myself: &ActorRef<SupervisorMsg>,
        state: &mut SupervisorState,
        wanted: Vec<Arc<ServerConfig>>,
    ) -> Result<ReconcileReport, ActorProcessingErr> {
        let wanted: BTreeMap<String, Arc<ServerConfig>> = wanted.into_iter().map(|c| (c.name.clone(), c)).collect();
        let mut report = ReconcileReport::default();
        let removed: Vec<String> = state.servers.keys().filter(|n| !wanted.contains_key(*n)).cloned().collect();
        if !removed.is_empty() {
            // Out of the table first, so that no new call resolves to a server that is going away.
            let servers = removed.clone();
            ractor::call_t!(state.ctx.router, RouterMsg::RemoveServers, 5000, servers)?;
            for name in &removed {
                Self::retire(state, name, "it was removed from the configuration").await;
                tracing::info!(server = %name, "server removed by a configuration reload");
            }
        }
        for (name, config) in wanted {
            match state.servers.get(&name) {
                Some(child) if child.config.same_definition(&config) => report.unchanged += 1,
                Some(_) => {
                    Self::retire(state, &name, "it is being restarted because its configuration changed").await;
                    // The old lists stay listed until the new process reports its own (or fails to start), so
                    // that a replacement with the same tools does not make clients re-list.
                    state.ctx.router.cast(RouterMsg::Replacing { server: name.clone() })?;
                    Self::spawn_server(myself, state, config).await?;
                    tracing::info!(server = %name, "server restarted with its changed configuration");
                    report.replaced.push(name);
                }
                None => {
                    Self::spawn_server(myself, state, config).await?;
                    tracing::info!(server = %name, "server added by a configuration reload");
                    report.added.push(name);
                }
            }
        }
        report.removed = removed;
        Ok(report)
    }
}

impl Actor for ServerSupervisor {
    type Msg = SupervisorMsg;
    type State = SupervisorState;
    type Arguments = SupervisorArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<SupervisorMsg>,
        args: SupervisorArgs,
    ) -> Result<SupervisorState, ActorProcessingErr> {
        let mut state =
            SupervisorState { ctx: args.ctx, servers: BTreeMap::new(), by_id: HashMap::new(), stopping: false };
        for config in args.servers {
            Self::spawn_server(&myself, &mut state, config).await?;
        }
        Ok(state)
    }

    async fn post_stop(
        &self,
        myself: ActorRef<SupervisorMsg>,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        state.stopping = true;
        // Each server stops its process group in its own post_stop; wait for all of them.
        myself.stop_children_and_wait(Some("gateway stopping".into()), Some(std::time::Duration::from_secs(10))).await;
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<SupervisorMsg>,
        msg: SupervisorMsg,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            SupervisorMsg::Reconcile(servers, reply) => {
                let report = Self::reconcile(&myself, state, servers).await?;
                let _ = reply.send(report);
            }
            SupervisorMsg::Servers(reply) => {
                let _ = reply.send(state.servers.values().map(|c| c.actor.clone()).collect());
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<SupervisorMsg>,
        event: SupervisionEvent,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        let (cell, why) = match event {
            SupervisionEvent::ActorFailed(cell, err) => (cell, err.to_string()),
            SupervisionEvent::ActorTerminated(cell, _, reason) => (cell, reason.unwrap_or_else(|| "stopped".into())),
            _ => return Ok(()),
        };
        // A retired server is no longer in the maps: its end is expected.
        let Some(name) = state.by_id.remove(&cell.get_id()) else { return Ok(()) };
        let Some(child) = state.servers.remove(&name) else { return Ok(()) };
        if state.stopping {
            return Ok(());
        }
        tracing::error!(server = %child.config.qualified(), reason = %why, "server actor ended unexpectedly; respawning it");
        Self::spawn_server(&myself, state, child.config).await
    }
}
