//! The connected client sessions: the end of every reply path, and what everything that must reach a client on
//! its own initiative shares (servers forwarding notifications or their own requests, the router announcing
//! `list_changed`).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use bytes::Bytes;
use serde_json::value::RawValue;

use super::server::ServerHandle;
use super::Requester;

/// Frames toward one client (its stdout writer, or an HTTP response stream). Unbounded because what flows
/// here is bounded elsewhere: responses by the pending caps, notifications by the servers' own rate.
pub(crate) type ClientTx = tokio::sync::mpsc::UnboundedSender<Bytes>;

/// What servers are told the client side can do when many clients share them (the HTTP front): everything the
/// gateway can forward. A request a given client did not declare is refused for that client (see
/// [`ClientCaps::allows`]).
pub(crate) const FORWARDED_CAPS: &str = r#"{"sampling":{},"elicitation":{},"roots":{"listChanged":true}}"#;

/// Server→client requests a client may have outstanding before new ones are refused.
const MAX_SERVER_REQUESTS: usize = 1024;

/// Where a client's answer to a request the gateway sent it goes back to.
pub(crate) enum ReturnPath {
    /// A legacy server's own request: the answer goes to it under its own id.
    Server {
        requester: Requester,
        /// The server's own id for its request.
        id: Box<RawValue>,
    },
    /// One of the input requests of a modern server's `input_required` result: the answer is gathered by the
    /// server's actor, which retries the call once every answer is in.
    Gather { server: ServerHandle, round: u64, key: String },
}

/// A modern client's `subscriptions/listen` stream: what it asked to hear, tagged with the listen request's id.
pub(crate) struct Listen {
    pub(crate) id: Box<RawValue>,
    pub(crate) tools: bool,
    pub(crate) prompts: bool,
    pub(crate) resources: bool,
}

/// Where a client's frames go: a channel (stdout's writer, one stateless HTTP request), or a function that routes
/// each frame itself (an HTTP session sorts them onto its requests' response streams without a task hop).
#[derive(Clone)]
pub(crate) enum Outbound {
    Channel(ClientTx),
    Sink(Arc<dyn Fn(Bytes) + Send + Sync>),
}

/// The server→client requests a client said it can answer (from its declared capabilities).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ClientCaps {
    pub(crate) sampling: bool,
    pub(crate) elicitation: bool,
    pub(crate) roots: bool,
}

impl ClientCaps {
    /// From a capabilities object as the client sent it.
    pub(crate) fn parse(caps: &str) -> ClientCaps {
        #[derive(serde::Deserialize, Default)]
        struct C<'a> {
            #[serde(borrow, default)]
            sampling: Option<&'a RawValue>,
            #[serde(borrow, default)]
            elicitation: Option<&'a RawValue>,
            #[serde(borrow, default)]
            roots: Option<&'a RawValue>,
        }
        let c: C<'_> = serde_json::from_str(caps).unwrap_or_default();
        let on = |v: Option<&RawValue>| v.is_some_and(|v| v.get().trim() != "null");
        ClientCaps { sampling: on(c.sampling), elicitation: on(c.elicitation), roots: on(c.roots) }
    }

    /// Whether a server's request `method` is one this client declared it can answer (methods outside the three
    /// capabilities are let through).
    pub(crate) fn allows(&self, method: &str) -> bool {
        match method {
            "sampling/createMessage" => self.sampling,
            "elicitation/create" => self.elicitation,
            "roots/list" => self.roots,
            _ => true,
        }
    }
}

/// One client session as the rest of the gateway sees it.
pub(crate) struct ClientHandle {
    pub(crate) session: u64,
    out: Outbound,
    /// Who may resume this client's parked calls (a modern `requestState`): its own session, or for stateless
    /// HTTP requests the authenticated identity they share, since each retry arrives as a new request.
    pub(crate) owner: u64,
    /// What the client declared it can answer, set at its first `initialize` or modern request.
    pub(crate) caps: std::sync::OnceLock<ClientCaps>,
    /// Set once the client has listed tools: a client that never listed needs no `list_changed`.
    pub(crate) listed: AtomicBool,
    /// Set at `notifications/initialized`: before it, a legacy client gets no notifications.
    pub(crate) initialized: AtomicBool,
    /// Set once the client sent a 2026-07-28 request: it then gets notifications only through its listen stream,
    /// and its servers' questions as `input_required` results.
    pub(crate) modern: AtomicBool,
    listen: Mutex<Option<Listen>>,
    /// Requests forwarded from servers to this client, by the gateway's id toward the client.
    server_requests: Mutex<HashMap<u64, ReturnPath>>,
    /// Resources this client subscribed to: (server, URI as the server knows it).
    subscriptions: Mutex<HashSet<(String, String)>>,
    /// `clientInfo.name`, the client's identity for policy `when.clients` rules (set once, at its first
    /// `initialize` or modern request).
    pub(crate) identity: std::sync::OnceLock<Arc<str>>,
    /// Tasks this client created (2025-11-25 experimental tasks): task id → server label, for routing `tasks/*`.
    tasks: Mutex<HashMap<String, String>>,
    /// Errors to this client carry a crashed server's last stderr lines (scrubbed): the stdio client always,
    /// remote (HTTP) clients only with `[secrets] stderr_to_remote_clients`.
    pub(crate) sees_stderr: bool,
}

impl ClientHandle {
    pub(crate) fn with_outbound(session: u64, out: Outbound, owner: u64) -> Self {
        ClientHandle {
            session,
            out,
            owner,
            caps: std::sync::OnceLock::new(),
            listed: AtomicBool::new(false),
            initialized: AtomicBool::new(false),
            modern: AtomicBool::new(false),
            listen: Mutex::new(None),
            server_requests: Mutex::new(HashMap::new()),
            subscriptions: Mutex::new(HashSet::new()),
            tasks: Mutex::new(HashMap::new()),
            identity: std::sync::OnceLock::new(),
            sees_stderr: true,
        }
    }

    pub(crate) fn send(&self, frame: Bytes) {
        match &self.out {
            Outbound::Channel(tx) => {
                let _ = tx.send(frame);
            }
            Outbound::Sink(sink) => sink(frame),
        }
    }

    /// Remembers a forwarded server request; `false` when too many are outstanding.
    pub(crate) fn park_server_request(&self, gateway_id: u64, path: ReturnPath) -> bool {
        let mut map = self.server_requests.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_SERVER_REQUESTS {
            return false;
        }
        map.insert(gateway_id, path);
        true
    }

    pub(crate) fn take_server_request(&self, gateway_id: u64) -> Option<ReturnPath> {
        self.server_requests.lock().unwrap_or_else(|p| p.into_inner()).remove(&gateway_id)
    }

    /// The gateway id of a forwarded request, found by the server's own id (for the server's cancellation).
    pub(crate) fn find_server_request(&self, server: &str, id: &str) -> Option<u64> {
        let map = self.server_requests.lock().unwrap_or_else(|p| p.into_inner());
        map.iter()
            .find(|(_, p)| match p {
                ReturnPath::Server { requester, id: own } => {
                    requester.server() == server && crate::protocol::raw_key(own) == id
                }
                ReturnPath::Gather { .. } => false,
            })
            .map(|(gid, _)| *gid)
    }

    pub(crate) fn subscribe(&self, server: &str, uri: &str, on: bool) {
        let mut subs = self.subscriptions.lock().unwrap_or_else(|p| p.into_inner());
        if on {
            subs.insert((server.to_owned(), uri.to_owned()));
        } else {
            subs.remove(&(server.to_owned(), uri.to_owned()));
        }
    }

    pub(crate) fn is_subscribed(&self, server: &str, uri: &str) -> bool {
        self.subscriptions.lock().unwrap_or_else(|p| p.into_inner()).contains(&(server.to_owned(), uri.to_owned()))
    }

    /// Bounded: a client that creates tasks forever forgets the oldest routes first (by arbitrary eviction).
    pub(crate) fn remember_task(&self, task_id: String, server: &str) {
        let mut tasks = self.tasks.lock().unwrap_or_else(|p| p.into_inner());
        if tasks.len() >= 4096 {
            if let Some(k) = tasks.keys().next().cloned() {
                tasks.remove(&k);
            }
        }
        tasks.insert(task_id, server.to_owned());
    }

    /// The server label of a task this client created.
    pub(crate) fn task_server(&self, task_id: &str) -> Option<String> {
        self.tasks.lock().unwrap_or_else(|p| p.into_inner()).get(task_id).cloned()
    }

    /// The servers holding this client's tasks.
    pub(crate) fn task_servers(&self) -> HashSet<String> {
        self.tasks.lock().unwrap_or_else(|p| p.into_inner()).values().cloned().collect()
    }

    pub(crate) fn is_modern(&self) -> bool {
        self.modern.load(Ordering::Acquire)
    }

    pub(crate) fn set_listen(&self, listen: Option<Listen>) {
        *self.listen.lock().unwrap_or_else(|p| p.into_inner()) = listen;
    }

    /// Ends the listen stream if `id` is its request id.
    pub(crate) fn cancel_listen(&self, id: &str) -> bool {
        let mut listen = self.listen.lock().unwrap_or_else(|p| p.into_inner());
        if listen.as_ref().is_some_and(|l| crate::protocol::raw_key(&l.id) == id) {
            *listen = None;
            return true;
        }
        false
    }

    /// `notifications/<kind>/list_changed` (`kind`: tools, prompts, resources), the way this client hears it: a
    /// legacy client once initialized (tools: once per listing), a modern one on its listen stream if it asked.
    pub(crate) fn notify_list_changed(&self, kind: &str) {
        let method = format!("notifications/{kind}/list_changed");
        if self.is_modern() {
            let listen = self.listen.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(l) = listen.as_ref() {
                let wanted = match kind {
                    "tools" => l.tools,
                    "prompts" => l.prompts,
                    _ => l.resources,
                };
                if wanted {
                    self.send(stream_notification(&method, &l.id, None));
                }
            }
        } else if self.initialized.load(Ordering::Acquire)
            && (kind != "tools" || self.listed.swap(false, Ordering::AcqRel))
        {
            self.send(crate::protocol::notification_frame(&method, None));
        }
    }

    /// `notifications/resources/updated` for a resource this client subscribed to.
    pub(crate) fn notify_resource_updated(&self, server: &str, original_uri: &str, wire_uri: &str) {
        if !self.is_subscribed(server, original_uri) {
            return;
        }
        let mut members = Vec::with_capacity(wire_uri.len() + 8);
        members.extend_from_slice(b"\"uri\":");
        crate::protocol::write_json_str(&mut members, wire_uri);
        if self.is_modern() {
            let listen = self.listen.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(l) = listen.as_ref() {
                self.send(stream_notification("notifications/resources/updated", &l.id, Some(&members)));
            }
        } else if self.initialized.load(Ordering::Acquire) {
            let mut params = Vec::with_capacity(members.len() + 2);
            params.push(b'{');
            params.extend_from_slice(&members);
            params.push(b'}');
            self.send(crate::protocol::notification_frame("notifications/resources/updated", Some(&params)));
        }
    }
}

/// A notification on a modern listen stream: `_meta.subscriptionId` names the stream, then `members`.
pub(crate) fn stream_notification(method: &str, listen_id: &RawValue, members: Option<&[u8]>) -> Bytes {
    let mut params = Vec::with_capacity(96);
    params.extend_from_slice(b"{\"_meta\":{");
    crate::protocol::write_json_str(&mut params, crate::protocol::meta::SUBSCRIPTION_ID);
    params.push(b':');
    params.extend_from_slice(listen_id.get().as_bytes());
    params.push(b'}');
    if let Some(m) = members {
        params.push(b',');
        params.extend_from_slice(m);
    }
    params.push(b'}');
    crate::protocol::notification_frame(method, Some(&params))
}

/// Every live session.
#[derive(Default)]
pub(crate) struct Clients {
    sessions: RwLock<HashMap<u64, Arc<ClientHandle>>>,
    next_session: AtomicU64,
    /// Ids of requests the gateway sends to clients (forwarded server requests); unique across sessions.
    next_request: AtomicU64,
    /// Calls of modern clients waiting for their answers to a server's questions.
    pub(crate) parking: super::mrtr::Parking,
    /// Remote (HTTP) sessions see crashed servers' stderr lines (`[secrets] stderr_to_remote_clients`).
    pub(crate) remote_stderr: AtomicBool,
}

impl Clients {
    /// A new local (stdio) session, registered.
    pub(crate) fn open(&self, tx: ClientTx) -> Arc<ClientHandle> {
        self.open_session(Outbound::Channel(tx), None, true)
    }

    /// A new remote (HTTP) session whose frames go to `out`; `owner` as in [`ClientHandle::owner`] (default:
    /// the session).
    pub(crate) fn open_with(&self, out: Outbound, owner: Option<u64>) -> Arc<ClientHandle> {
        self.open_session(out, owner, self.remote_stderr.load(Ordering::Relaxed))
    }

    fn open_session(&self, out: Outbound, owner: Option<u64>, sees_stderr: bool) -> Arc<ClientHandle> {
        let session = self.next_session.fetch_add(1, Ordering::Relaxed) + 1;
        let handle = Arc::new(ClientHandle {
            sees_stderr,
            ..ClientHandle::with_outbound(session, out, owner.unwrap_or(session))
        });
        self.sessions.write().unwrap_or_else(|p| p.into_inner()).insert(session, handle.clone());
        handle
    }

    pub(crate) fn close(&self, session: u64) {
        self.sessions.write().unwrap_or_else(|p| p.into_inner()).remove(&session);
    }

    pub(crate) fn next_request_id(&self) -> u64 {
        self.next_request.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// The session numbered `session`, while it is open.
    pub(crate) fn get(&self, session: u64) -> Option<Arc<ClientHandle>> {
        self.sessions.read().unwrap_or_else(|p| p.into_inner()).get(&session).cloned()
    }

    /// Every session.
    pub(crate) fn all(&self) -> Vec<Arc<ClientHandle>> {
        self.sessions.read().unwrap_or_else(|p| p.into_inner()).values().cloned().collect()
    }

    /// Every initialized session.
    pub(crate) fn initialized(&self) -> Vec<Arc<ClientHandle>> {
        let map = self.sessions.read().unwrap_or_else(|p| p.into_inner());
        map.values().filter(|c| c.initialized.load(Ordering::Acquire)).cloned().collect()
    }

    /// The one session, when there is exactly one (the stdio front).
    pub(crate) fn only(&self) -> Option<Arc<ClientHandle>> {
        let all = self.all();
        (all.len() == 1).then(|| all.into_iter().next().expect("one"))
    }
}
