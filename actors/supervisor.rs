//! `ServerSupervisor`: spawns one `ServerActor` per configured server, linked to itself, and respawns an actor
//! that failed (a bug: a panic in `handle`). Crashes of the server *processes* are expected failures handled by
//! the actors themselves; this supervisor only keeps the actors alive. ractor's default would stop the
//! supervisor when a child exits, so that is overridden here.

use std::collections::HashMap;
use std::sync::Arc;

use ractor::{Actor, ActorId, ActorProcessingErr, ActorRef, SupervisionEvent};

use super::router::RouterMsg;
use super::server::{ServerActor, ServerArgs, ServerContext};
use crate::config::ServerConfig;
use crate::routing::ServerRoute;

pub struct SupervisorArgs {
    pub servers: Vec<Arc<ServerConfig>>,
    pub ctx: Arc<ServerContext>,
}

pub struct SupervisorState {
    ctx: Arc<ServerContext>,
    children: HashMap<ActorId, Arc<ServerConfig>>,
    /// Set in `post_stop`, so that children stopping with the gateway are not respawned.
    stopping: bool,
}

pub struct ServerSupervisor;

impl ServerSupervisor {
    async fn spawn_server(
        myself: &ActorRef<()>,
        state: &mut SupervisorState,
        config: Arc<ServerConfig>,
    ) -> Result<(), ActorProcessingErr> {
        let args = ServerArgs { config: config.clone(), ctx: state.ctx.clone() };
        let (actor, _) = Actor::spawn_linked(None, ServerActor, args, myself.get_cell()).await?;
        state.children.insert(actor.get_id(), config.clone());
        let route = ServerRoute {
            name: config.name.clone(),
            namespace: config.namespace,
            label: config.qualified().into(),
            actor,
            retries: config.retries,
            prefix: config.prefix,
        };
        state.ctx.router.cast(RouterMsg::SetRoute(Arc::new(route)))?;
        Ok(())
    }
}

impl Actor for ServerSupervisor {
    type Msg = ();
    type State = SupervisorState;
    type Arguments = SupervisorArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<()>,
        args: SupervisorArgs,
    ) -> Result<SupervisorState, ActorProcessingErr> {
        let mut state = SupervisorState { ctx: args.ctx, children: HashMap::new(), stopping: false };
        for config in args.servers {
            Self::spawn_server(&myself, &mut state, config).await?;
        }
        Ok(state)
    }

    async fn post_stop(&self, myself: ActorRef<()>, state: &mut SupervisorState) -> Result<(), ActorProcessingErr> {
        state.stopping = true;
        // Each server stops its process group in its own post_stop; wait for all of them.
        myself.stop_children_and_wait(Some("gateway stopping".into()), Some(std::time::Duration::from_secs(10))).await;
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<()>,
        event: SupervisionEvent,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        let (cell, why) = match event {
            SupervisionEvent::ActorFailed(cell, err) => (cell, err.to_string()),
            SupervisionEvent::ActorTerminated(cell, _, reason) => (cell, reason.unwrap_or_else(|| "stopped".into())),
            _ => return Ok(()),
        };
        let Some(config) = state.children.remove(&cell.get_id()) else { return Ok(()) };
        if state.stopping {
            return Ok(());
        }
        tracing::error!(server = %config.qualified(), reason = %why, "server actor ended unexpectedly; respawning it");
        Self::spawn_server(&myself, state, config).await
    }
}
