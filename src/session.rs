//! One client's MCP session: what the gateway answers itself (`initialize`, `ping`, the merged lists,
//! `logging/setLevel`) and what it routes to one server (`tools/call`, `prompts/get`, `resources/read`,
//! subscriptions, `completion/complete`), plus the client's answers to requests servers sent it.
//! The stdio front runs one; the CLI's `call` runs one in-process.
//!
//! Handling a frame never waits: answers go to the client's outbound channel, calls are handed to the server's
//! handle (its fast lane, else its actor), and only a request that arrives before start-up has settled is parked
//! on a task.
//!
//! # Layout
//!
//! - this file: the session, what it answers itself, notifications and the client's responses.
//! - `route`: a request for one server: name or URI resolved, policy decided, call record and admission
//!   planned, call handed over (the start of the call path drawn in [`crate::dispatch`]).
//! - `lists`: the merged lists and `server/discover`, answered from the routing table.

mod lists;
mod route;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::value::RawValue;
use tokio::sync::watch;

use crate::dispatch::ToServer;
use crate::dispatch::{ClientHandle, ClientTx, Clients, ReturnPath};
use crate::era;
use crate::policy::{Action, PolicySet};
use crate::protocol::{self, code, Envelope, Kind};
use crate::routing::RoutingTable;
use crate::transport::framing::Frame;

/// What every session of one gateway shares.
pub struct Shared {
    pub(crate) name: String,
    pub(crate) table: Arc<ArcSwap<RoutingTable>>,
    /// True once every server has reported its first lists (or failed to start).
    pub(crate) ready: watch::Receiver<bool>,
    /// Longest a list request waits for start-up to settle before answering with what is there.
    pub(crate) ready_wait: Duration,
    pub(crate) clients: Arc<Clients>,
    /// Items per page of a merged list (0: everything in one page).
    pub(crate) page_size: usize,
    /// `"resultType":"complete","ttlMs":0,"cacheScope":"private","_meta":{serverInfo}`: the members every
    /// gateway-made modern list (and discover) result ends with.
    pub(crate) modern_list_members: String,
    /// The policy in force (replaced whole on reload).
    pub(crate) policy: ArcSwap<ActivePolicy>,
    /// What servers are initialized with: with the stdio front alone, the capabilities of its one client (once
    /// it has sent them); with the HTTP front, everything the gateway can forward
    /// ([`crate::dispatch::client::FORWARDED_CAPS`]), each client's own declaration being checked per server request.
    pub(crate) client_caps: watch::Sender<Option<Arc<str>>>,
    /// Metrics, evidence, cache and rate limits.
    pub(crate) services: Arc<crate::dispatch::Services>,
}

/// A policy set and what it implies for lists.
pub(crate) struct ActivePolicy {
    /// Shared with calls that may fall back: their target is decided by the policy the call was decided by.
    pub(crate) set: Arc<PolicySet>,
    /// Whether any rule can deny (and so hide) a tool: without one, lists need no per-client filtering.
    pub(crate) hides: bool,
}

impl ActivePolicy {
    pub(crate) fn new(set: PolicySet) -> Self {
        let hides = set.default_action() == Action::Deny || set.rules().iter().any(|r| r.action == Action::Deny);
        ActivePolicy { set: Arc::new(set), hides }
    }
}

impl Shared {
    /// Waits (bounded) until start-up has settled.
    pub async fn wait_ready(&self) {
        let mut ready = self.ready.clone();
        let _ = tokio::time::timeout(self.ready_wait, ready.wait_for(|r| *r)).await;
    }
}

pub struct Session {
    shared: Arc<Shared>,
    client: Arc<ClientHandle>,
}

impl Session {
    pub fn new(shared: Arc<Shared>, tx: ClientTx) -> Self {
        let client = shared.clients.open(tx);
        Session { shared, client }
    }

    /// A session for a client registered already (the HTTP front opens handles with its own outbound routing).
    pub(crate) fn with_client(shared: Arc<Shared>, client: Arc<ClientHandle>) -> Self {
        Session { shared, client }
    }

    /// The client gave up on its request `id` (its HTTP stream closed): the server that has it is told.
    pub(crate) fn cancel(&self, id: &RawValue) {
        self.cancel_key(protocol::raw_key(id));
    }

    fn send(&self, frame: Bytes) {
        self.client.send(frame);
    }

    /// Handles one frame from the client.
    pub(crate) fn handle_frame(&self, frame: Frame) {
        match frame {
            Frame::Line(line) => self.handle_line(&line),
            Frame::Oversized { prefix, len } => {
                let id = protocol::sniff_id(&prefix).unwrap_or_else(protocol::null_id);
                self.send(protocol::error_frame(
                    &id,
                    code::INVALID_REQUEST,
                    &format!("message of {len} bytes is over the gateway's frame limit (gateway.max_frame_bytes); it was skipped"),
                    None,
                ));
            }
        }
    }

    /// Handles one line from the client; what is not a JSON-RPC 2.0 message MCP allows is answered with the
    /// reason (-32700 or -32600) and nothing else happens.
    pub fn handle_line(&self, line: &[u8]) {
        match Envelope::parse_client(line) {
            Ok(env) => self.handle_envelope(&env),
            Err(refused) => self.send(refused.to_frame()),
        }
    }

    /// Handles one parsed message (a front that parsed the envelope already need not parse it again).
    pub(crate) fn handle_envelope(&self, env: &Envelope<'_>) {
        match env.kind() {
            Kind::Request => self.on_request(env),
            Kind::Notification => self.on_notification(env),
            Kind::Response => self.on_response(env),
            Kind::Invalid => {
                let id = env.id.map(|i| i.to_owned()).unwrap_or_else(protocol::null_id);
                let msg = "invalid request: a JSON-RPC 2.0 message needs a method, or a result or error with an id";
                self.send(protocol::error_frame(&id, code::INVALID_REQUEST, msg, None));
            }
        }
    }

    fn on_request(&self, env: &Envelope<'_>) {
        let id = env.id.expect("a request has an id");
        let method = env.method.as_deref().expect("a request has a method");
        let modern = match era::classify(method, env.params) {
            Ok(Some(envelope)) => {
                self.adopt_client_caps(envelope.client_caps.get());
                if let Some(name) = envelope.client_name {
                    let _ = self.client.identity.set(name.into());
                }
                true
            }
            Ok(None) => false,
            Err(e) => return self.send(protocol::error_frame(id, e.code, &e.message, e.data)),
        };
        if modern {
            self.client.modern.store(true, Ordering::Release);
            if era::removed_in_modern(method) {
                let msg = format!("Method not found: {method} (not part of protocol {})", protocol::MODERN_VERSION);
                return self.send(protocol::error_frame(id, code::METHOD_NOT_FOUND, &msg, None));
            }
        }
        match method {
            "tools/call"
            | "prompts/get"
            | "resources/read"
            | "resources/subscribe"
            | "resources/unsubscribe"
            | "completion/complete"
            | "tasks/get"
            | "tasks/result"
            | "tasks/cancel"
            | "tasks/list" => self.on_routed(id, method, env.params, modern),
            "tools/list" | "prompts/list" | "resources/list" | "resources/templates/list" => {
                self.on_list(id, method, env.params, modern)
            }
            "server/discover" => self.on_discover(id),
            "subscriptions/listen" if modern => self.on_listen(id, env.params),
            "ping" => self.send(protocol::response_frame(id, empty_object())),
            "initialize" => self.on_initialize(id, env.params),
            "logging/setLevel" => self.on_set_level(id, env.params),
            _ => self.send(protocol::error_frame(
                id,
                code::METHOD_NOT_FOUND,
                &format!("Method not found: {method}"),
                None,
            )),
        }
    }

    fn on_notification(&self, env: &Envelope<'_>) {
        match env.method.as_deref() {
            Some("notifications/initialized") => self.client.initialized.store(true, Ordering::Release),
            Some("notifications/cancelled") => self.on_cancelled(env.params),
            Some("notifications/roots/list_changed") => {
                // Every server that may have asked for roots hears that they changed.
                for server in &self.shared.table.load().servers {
                    server.handle.post(ToServer::Notify("notifications/roots/list_changed"));
                }
            }
            _ => {}
        }
    }

    /// The client's answer to a request a server sent it: back to that server, with the server's own id.
    fn on_response(&self, env: &Envelope<'_>) {
        let Some(path) =
            env.id.and_then(protocol::parse_downstream_id).and_then(|id| self.client.take_server_request(id))
        else {
            tracing::debug!(session = self.client.session, "a response from the client that nothing waits for");
            return;
        };
        match path {
            ReturnPath::Server { requester, id } => {
                let frame = match (env.result, env.error) {
                    (Some(result), _) => protocol::response_frame(&id, result),
                    (None, Some(error)) => protocol::raw_error_frame(&id, error),
                    (None, None) => return,
                };
                requester.send_raw(frame);
            }
            ReturnPath::Gather { server, round, key } => {
                let answer = match (env.result, env.error) {
                    (Some(result), _) => Ok(result.to_owned()),
                    (None, Some(error)) => Err(error.to_owned()),
                    (None, None) => return,
                };
                server.post(ToServer::InputResponse { round, key, answer });
            }
        }
    }

    fn on_initialize(&self, id: &RawValue, params: Option<&RawValue>) {
        #[derive(Deserialize)]
        struct Init<'a> {
            #[serde(rename = "protocolVersion")]
            protocol_version: Option<String>,
            #[serde(rename = "clientInfo")]
            client_info: Option<ClientInfo>,
            #[serde(borrow, default)]
            capabilities: Option<&'a RawValue>,
        }
        #[derive(Deserialize)]
        struct ClientInfo {
            name: Option<String>,
        }
        let init: Option<Init<'_>> = params.and_then(|p| serde_json::from_str(p.get()).ok());
        let asked = init.as_ref().and_then(|i| i.protocol_version.as_deref());
        let version = asked
            .filter(|v| protocol::SUPPORTED_LEGACY_VERSIONS.contains(v))
            .unwrap_or(protocol::LATEST_LEGACY_VERSION)
            .to_owned();
        self.adopt_client_caps(init.as_ref().and_then(|i| i.capabilities).map_or("{}", |c| c.get()));
        // The identity policy `when.clients` rules see (kept on the handle, which servers and the router share).
        if let Some(name) = init.and_then(|i| i.client_info).and_then(|c| c.name) {
            let _ = self.client.identity.set(name.into());
        }
        let result = serde_json::json!({
            "protocolVersion": version,
            "capabilities": {
                "tools": { "listChanged": true },
                "prompts": { "listChanged": true },
                "resources": { "subscribe": true, "listChanged": true },
                "completions": {},
                "logging": {},
            },
            "serverInfo": { "name": self.shared.name, "version": env!("CARGO_PKG_VERSION") },
            "instructions": "dfs-gateway federates several MCP servers; names look like <namespace>__<server>__<name>.",
        });
        let result = serde_json::value::to_raw_value(&result).expect("JSON serializes");
        self.send(protocol::response_frame(id, &result));
    }

    /// The first client decides what servers are told the client side can do (from `initialize`, or from the
    /// envelope of its first modern request).
    fn adopt_client_caps(&self, caps: &str) {
        let _ = self.client.caps.set(crate::dispatch::client::ClientCaps::parse(caps));
        self.shared.client_caps.send_if_modified(|current| match current {
            None => {
                *current = Some(caps.into());
                true
            }
            Some(_) => false,
        });
    }

    /// `subscriptions/listen` (2026-07-28): list changes and resource updates for this client, tagged with the
    /// listen request's id, until the client cancels it.
    fn on_listen(&self, id: &RawValue, params: Option<&RawValue>) {
        #[derive(Deserialize, Default)]
        struct Filter {
            #[serde(default, rename = "toolsListChanged")]
            tools: bool,
            #[serde(default, rename = "promptsListChanged")]
            prompts: bool,
            #[serde(default, rename = "resourcesListChanged")]
            resources: bool,
            #[serde(default, rename = "resourceSubscriptions")]
            uris: Vec<String>,
        }
        #[derive(Deserialize, Default)]
        struct Params {
            #[serde(default)]
            notifications: Filter,
        }
        let p: Params = params.and_then(|p| serde_json::from_str(p.get()).ok()).unwrap_or_default();
        let f = p.notifications;
        let table = self.shared.table.load();
        let mut honoured = Vec::new();
        for uri in &f.uris {
            if let Some((server, original)) = table
                .resolve_uri(uri)
                .filter(|(server, original)| route::resource_allowed(&self.shared, &self.client, server, original))
            {
                self.client.subscribe(&server.name, &original, true);
                server.handle.post(ToServer::SubscribeResource(original));
                honoured.push(uri.clone());
            }
        }
        self.client.set_listen(Some(crate::dispatch::client::Listen {
            id: id.to_owned(),
            tools: f.tools,
            prompts: f.prompts,
            resources: f.resources,
        }));
        let filter = serde_json::json!({
            "toolsListChanged": f.tools, "promptsListChanged": f.prompts,
            "resourcesListChanged": f.resources, "resourceSubscriptions": honoured,
        });
        let mut members = b"\"notifications\":".to_vec();
        members.extend_from_slice(filter.to_string().as_bytes());
        self.send(crate::dispatch::client::stream_notification(
            "notifications/subscriptions/acknowledged",
            id,
            Some(&members),
        ));
    }

    fn on_set_level(&self, id: &RawValue, params: Option<&RawValue>) {
        #[derive(Deserialize)]
        struct Level {
            level: String,
        }
        let Some(level) = params.and_then(|p| serde_json::from_str::<Level>(p.get()).ok()) else {
            return self.send(protocol::error_frame(
                id,
                code::INVALID_PARAMS,
                "logging/setLevel needs params.level",
                None,
            ));
        };
        const LEVELS: &[&str] = &["debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"];
        if !LEVELS.contains(&level.level.as_str()) {
            let msg = format!("unknown log level `{}`; use one of {}", level.level, LEVELS.join(", "));
            return self.send(protocol::error_frame(id, code::INVALID_PARAMS, &msg, None));
        }
        let level: Arc<str> = level.level.into();
        for server in &self.shared.table.load().servers {
            server.handle.post(ToServer::SetLogLevel(level.clone()));
        }
        self.send(protocol::response_frame(id, empty_object()));
    }

    fn on_cancelled(&self, params: Option<&RawValue>) {
        #[derive(Deserialize)]
        struct Cancelled<'a> {
            #[serde(borrow, rename = "requestId")]
            request_id: &'a RawValue,
        }
        let Some(c) = params.and_then(|p| serde_json::from_str::<Cancelled<'_>>(p.get()).ok()) else { return };
        self.cancel_key(protocol::raw_key(c.request_id));
    }

    fn cancel_key(&self, client_id: &str) {
        if self.client.cancel_listen(client_id) {
            return;
        }
        // Rare: ask every server; the one that has the request forwards the cancellation with its own id.
        for server in &self.shared.table.load().servers {
            server.handle.cancel(self.client.session, client_id);
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.shared.clients.close(self.client.session);
    }
}

fn empty_object() -> &'static RawValue {
    static EMPTY: std::sync::OnceLock<Box<RawValue>> = std::sync::OnceLock::new();
    EMPTY.get_or_init(|| RawValue::from_string("{}".into()).expect("{} is JSON"))
}
