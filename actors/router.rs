//! `Router`: owns the routing table. Servers report their tool lists here; the router rebuilds the table,
//! publishes it for the fronts (lock-free reads), tells subscribed clients once when what they were shown
//! changed, tracks start-up readiness, and relays server notifications meant for every client.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwap;
use bytes::Bytes;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use serde_json::value::RawValue;
use tokio::sync::watch;

use crate::naming::Naming;
use crate::protocol::notification_frame;
use crate::routing::{RoutingTable, ServerRoute, ToolList};
use crate::transport::ClientTx;

/// A client session that wants `list_changed` and broadcast notifications.
pub struct Subscriber {
    pub tx: ClientTx,
    /// Set once the client has listed tools: a client that never listed needs no `list_changed`.
    pub listed: Arc<AtomicBool>,
}

pub enum RouterMsg {
    /// A server (re)published its tools.
    ServerTools {
        server: String,
        tools: Arc<Vec<Box<RawValue>>>,
    },
    /// A server's first start ended, with or without tools; start-up readiness no longer waits for it.
    ServerSettled {
        server: String,
    },
    /// A server actor was (re)spawned: its route changes.
    SetRoute(Arc<ServerRoute>),
    Subscribe {
        session: u64,
        subscriber: Subscriber,
    },
    Unsubscribe {
        session: u64,
    },
    /// A frame for every subscribed client (e.g. `notifications/message`).
    Broadcast(Bytes),
}

pub struct RouterArgs {
    pub naming: Naming,
    pub table: Arc<ArcSwap<RoutingTable>>,
    pub ready: watch::Sender<bool>,
    /// Servers whose first tool list (live, or from a catalog) start-up readiness waits for.
    pub awaited: Vec<String>,
}

pub struct RouterState {
    naming: Naming,
    table: Arc<ArcSwap<RoutingTable>>,
    routes: BTreeMap<String, Arc<ServerRoute>>,
    /// Tool lists by server; may arrive before the server's route does.
    tools: HashMap<String, ToolList>,
    subscribers: HashMap<u64, Subscriber>,
    ready: watch::Sender<bool>,
    awaited: Vec<String>,
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
            naming: args.naming,
            table: args.table,
            routes: BTreeMap::new(),
            tools: HashMap::new(),
            subscribers: HashMap::new(),
            ready: args.ready,
            awaited: args.awaited,
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
            RouterMsg::ServerTools { server, tools } => {
                state.tools.insert(server.clone(), tools);
                state.rebuild();
                state.settle(&server);
            }
            RouterMsg::ServerSettled { server } => state.settle(&server),
            RouterMsg::SetRoute(route) => {
                state.routes.insert(route.name.clone(), route);
                state.rebuild();
            }
            RouterMsg::Subscribe { session, subscriber } => {
                state.subscribers.insert(session, subscriber);
            }
            RouterMsg::Unsubscribe { session } => {
                state.subscribers.remove(&session);
            }
            RouterMsg::Broadcast(frame) => {
                for sub in state.subscribers.values() {
                    let _ = sub.tx.send(frame.clone());
                }
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
            .map(|(name, route)| (name.clone(), (route.clone(), self.tools.get(name).cloned())))
            .collect();
        let table = RoutingTable::build(&self.naming, &servers);
        let changed = self.table.load().tools_list() != table.tools_list();
        self.table.store(Arc::new(table));
        if changed {
            let frame = notification_frame("notifications/tools/list_changed", None);
            for sub in self.subscribers.values() {
                // Clear the flag: one notification until the client lists again.
                if sub.listed.swap(false, Ordering::AcqRel) {
                    let _ = sub.tx.send(frame.clone());
                }
            }
        }
    }

    fn settle(&mut self, server: &str) {
        self.awaited.retain(|s| s != server);
        self.check_ready();
    }

    fn check_ready(&self) {
        if self.awaited.is_empty() {
            self.ready.send_replace(true);
        }
    }
}
