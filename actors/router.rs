//! `Router`: owns the routing table. Servers report their lists here; the router rebuilds the table, publishes
//! it for the fronts (lock-free reads), tells clients once when what they were shown changed, and tracks
//! start-up readiness. On a configuration reload it drops removed servers and keeps a replaced server's lists
//! until its new process reports its own.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use arc_swap::ArcSwap;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use tokio::sync::watch;

use crate::dispatch::Clients;
use crate::naming::Naming;
use crate::routing::{RoutingTable, ServerLists, ServerRoute};

pub(crate) enum RouterMsg {
    /// A server (re)published its lists.
    ServerLists { server: String, lists: Arc<ServerLists> },
    /// A server's first start ended, with or without lists; start-up readiness no longer waits for it.
    ServerSettled { server: String },
    /// A server actor was (re)spawned: its route changes.
    SetRoute(Arc<ServerRoute>),
    /// Servers taken out of the configuration: their routes and lists go, in one new table. Answered once the
    /// table without them is published.
    RemoveServers(Vec<String>, RpcReplyPort<()>),
    /// A server is restarted with a changed definition: its current lists stay until the new process publishes
    /// its own, or are dropped if its first start fails.
    Replacing { server: String },
}

pub(crate) struct RouterArgs {
    pub(crate) naming: Naming,
    pub(crate) table: Arc<ArcSwap<RoutingTable>>,
    pub(crate) ready: watch::Sender<bool>,
    /// Servers whose first lists (live, or from a catalog) start-up readiness waits for.
    pub(crate) awaited: Vec<String>,
    pub(crate) clients: Arc<Clients>,
}

pub(crate) struct RouterState {
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
    /// Servers being replaced whose lists are still the old process's.
    replacing: HashSet<String>,
}

pub(crate) struct Router;

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
            replacing: HashSet::new(),
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
                state.replacing.remove(&server);
                state.lists.insert(server.clone(), lists);
                state.rebuild();
                state.settle(&server);
            }
            RouterMsg::ServerSettled { server } => {
                // A replacement that cannot start must not go on listing what the old process offered.
                if state.replacing.remove(&server) && state.lists.remove(&server).is_some() {
                    state.rebuild();
                }
                state.settle(&server);
            }
            RouterMsg::SetRoute(route) => {
                state.routes.insert(route.name.clone(), route);
                state.rebuild();
                state.check_ready();
            }
            RouterMsg::RemoveServers(servers, reply) => {
                for server in &servers {
                    if state.routes.remove(server).is_some() {
                        state.expected_routes = state.expected_routes.saturating_sub(1);
                    }
                    state.lists.remove(server);
                    state.replacing.remove(server);
                    state.awaited.retain(|s| s != server);
                }
                state.rebuild();
                state.check_ready();
                let _ = reply.send(());
            }
            RouterMsg::Replacing { server } => {
                state.replacing.insert(server);
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
