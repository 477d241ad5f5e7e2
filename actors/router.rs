//! `Router`: owns the routing table. Servers report their lists here; the router rebuilds the table, publishes
//! it for the fronts (lock-free reads), tells clients once when what they were shown changed, and tracks
//! start-up readiness.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arc_swap::ArcSwap;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::sync::watch;

use crate::clients::Clients;
use crate::naming::Naming;
use crate::routing::{RoutingTable, ServerLists, ServerRoute};

pub enum RouterMsg {
    /// A server (re)published its lists.
    ServerLists { server: String, lists: Arc<ServerLists> },
    /// A server's first start ended, with or without lists; start-up readiness no longer waits for it.
    ServerSettled { server: String },
    /// A server actor was (re)spawned: its route changes.
    SetRoute(Arc<ServerRoute>),
}

pub struct RouterArgs {
    pub naming: Naming,
    pub table: Arc<ArcSwap<RoutingTable>>,
    pub ready: watch::Sender<bool>,
    /// Servers whose first lists (live, or from a catalog) start-up readiness waits for.
    pub awaited: Vec<String>,
    pub clients: Arc<Clients>,
}

pub struct RouterState {
    naming: Naming,
    table: Arc<ArcSwap<RoutingTable>>,
    routes: BTreeMap<String, Arc<ServerRoute>>,
    /// Lists by server; may arrive before the server's route does.
    lists: HashMap<String, Arc<ServerLists>>,
    ready: watch::Sender<bool>,
    awaited: Vec<String>,
    /// How many servers are configured: readiness also waits for every route, since a server may report its
    /// lists before the supervisor has announced its route.
    expected_routes: usize,
    clients: Arc<Clients>,
}

pub struct Router;

impl Actor for Router {
    type Msg = RouterMsg;
    type State = RouterState;
    type Arguments = RouterArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<RouterMsg>,
        args: RouterArgs,
    ) -> Result<RouterState, ActorProcessingErr> {
        let state = RouterState {
            expected_routes: args.awaited.len(),
            naming: args.naming,
            table: args.table,
            routes: BTreeMap::new(),
            lists: HashMap::new(),
            ready: args.ready,
            awaited: args.awaited,
            clients: args.clients,
        };
        state.check_ready();
        Ok(state)
    }

    async fn handle(
        &self,
        _myself: ActorRef<RouterMsg>,
        msg: RouterMsg,
        state: &mut RouterState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            RouterMsg::ServerLists { server, lists } => {
                state.lists.insert(server.clone(), lists);
                state.rebuild();
                state.settle(&server);
            }
            RouterMsg::ServerSettled { server } => state.settle(&server),
            RouterMsg::SetRoute(route) => {
                state.routes.insert(route.name.clone(), route);
                state.rebuild();
                state.check_ready();
            }
        }
        Ok(())
    }
}

impl RouterState {
    fn rebuild(&mut self) {
        let servers = self
            .routes
            .iter()
            .map(|(name, route)| (name.clone(), (route.clone(), self.lists.get(name).cloned())))
            .collect();
        let table = RoutingTable::build(&self.naming, &servers);
        let changed = table.changed_from(&self.table.load());
        self.table.store(Arc::new(table));
        for client in self.clients.all() {
            for (kind, yes) in
                [("tools", changed.tools), ("prompts", changed.prompts), ("resources", changed.resources)]
            {
                if yes {
                    client.notify_list_changed(kind);
                }
            }
        }
    }

    fn settle(&mut self, server: &str) {
        self.awaited.retain(|s| s != server);
        self.check_ready();
    }

    fn check_ready(&self) {
        if self.awaited.is_empty() && self.routes.len() >= self.expected_routes {
            self.ready.send_replace(true);
        }
    }
}
