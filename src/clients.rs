//! The connected client sessions, shared by everything that must reach a client on its own initiative: servers
//! forwarding notifications or their own requests, the router announcing `list_changed`.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use bytes::Bytes;
use serde_json::value::RawValue;

use crate::transport::child::Requester;
use crate::transport::ClientTx;

/// Server→client requests a client may have outstanding before new ones are refused.
const MAX_SERVER_REQUESTS: usize = 1024;

/// Where a client's answer to a server's request goes back to.
pub struct ReturnPath {
    pub requester: Requester,
    /// The server's own id for its request.
    pub id: Box<RawValue>,
}

/// One client session as the rest of the gateway sees it.
pub struct ClientHandle {
    pub session: u64,
    pub tx: ClientTx,
    /// Set once the client has listed tools: a client that never listed needs no `list_changed`.
    pub listed: AtomicBool,
    /// Set at `notifications/initialized`: before it, a client gets no notifications.
    pub initialized: AtomicBool,
    /// Requests forwarded from servers to this client, by the gateway's id toward the client.
    server_requests: Mutex<HashMap<u64, ReturnPath>>,
    /// Resources this client subscribed to: (server, URI as the server knows it).
    subscriptions: Mutex<HashSet<(String, String)>>,
}

impl ClientHandle {
    pub fn new(session: u64, tx: ClientTx) -> Self {
        ClientHandle {
            session,
            tx,
            listed: AtomicBool::new(false),
            initialized: AtomicBool::new(false),
            server_requests: Mutex::new(HashMap::new()),
            subscriptions: Mutex::new(HashSet::new()),
        }
    }

    pub fn send(&self, frame: Bytes) {
        let _ = self.tx.send(frame);
    }

    /// Remembers a forwarded server request; `false` when too many are outstanding.
    pub fn park_server_request(&self, gateway_id: u64, path: ReturnPath) -> bool {
        let mut map = self.server_requests.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_SERVER_REQUESTS {
            return false;
        }
        map.insert(gateway_id, path);
        true
    }

    pub fn take_server_request(&self, gateway_id: u64) -> Option<ReturnPath> {
        self.server_requests.lock().unwrap_or_else(|p| p.into_inner()).remove(&gateway_id)
    }

    /// The gateway id of a forwarded request, found by the server's own id (for the server's cancellation).
    pub fn find_server_request(&self, server: &str, id: &str) -> Option<u64> {
        let map = self.server_requests.lock().unwrap_or_else(|p| p.into_inner());
        map.iter()
            .find(|(_, p)| p.requester.server() == server && crate::protocol::raw_key(&p.id) == id)
            .map(|(gid, _)| *gid)
    }

    pub fn subscribe(&self, server: &str, uri: &str, on: bool) {
        let mut subs = self.subscriptions.lock().unwrap_or_else(|p| p.into_inner());
        if on {
            subs.insert((server.to_owned(), uri.to_owned()));
        } else {
            subs.remove(&(server.to_owned(), uri.to_owned()));
        }
    }

    pub fn is_subscribed(&self, server: &str, uri: &str) -> bool {
        self.subscriptions.lock().unwrap_or_else(|p| p.into_inner()).contains(&(server.to_owned(), uri.to_owned()))
    }
}

/// Every live session.
#[derive(Default)]
pub struct Clients {
    sessions: RwLock<HashMap<u64, Arc<ClientHandle>>>,
    next_session: AtomicU64,
    /// Ids of requests the gateway sends to clients (forwarded server requests); unique across sessions.
    next_request: AtomicU64,
}

impl Clients {
    /// A new session, registered.
    pub fn open(&self, tx: ClientTx) -> Arc<ClientHandle> {
        let session = self.next_session.fetch_add(1, Ordering::Relaxed) + 1;
        let handle = Arc::new(ClientHandle::new(session, tx));
        self.sessions.write().unwrap_or_else(|p| p.into_inner()).insert(session, handle.clone());
        handle
    }

    pub fn close(&self, session: u64) {
        self.sessions.write().unwrap_or_else(|p| p.into_inner()).remove(&session);
    }

    pub fn next_request_id(&self) -> u64 {
        self.next_request.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Every initialized session.
    pub fn initialized(&self) -> Vec<Arc<ClientHandle>> {
        let map = self.sessions.read().unwrap_or_else(|p| p.into_inner());
        map.values().filter(|c| c.initialized.load(Ordering::Acquire)).cloned().collect()
    }

    /// The one initialized session, when there is exactly one (the stdio front).
    pub fn only(&self) -> Option<Arc<ClientHandle>> {
        let all = self.initialized();
        (all.len() == 1).then(|| all.into_iter().next().expect("one"))
    }
}
