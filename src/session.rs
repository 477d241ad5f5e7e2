//! One client's MCP session: what the gateway answers itself (`initialize`, `ping`, the merged lists,
//! `logging/setLevel`) and what it routes to one server (`tools/call`, `prompts/get`, `resources/read`,
//! subscriptions, `completion/complete`), plus the client's answers to requests servers sent it.
//! The stdio front runs one; the CLI's `call` runs one in-process.
//!
//! Handling a frame never waits: answers go to the client's outbound channel, calls are handed to the owning
//! `ServerActor`, and only a request that arrives before start-up has settled is parked on a task.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::value::RawValue;
use tokio::sync::watch;

use crate::dispatch::record::CallLog;
use crate::dispatch::{mrtr, CachePlan, LimitPlan, Plan, ToServer};
use crate::dispatch::{Call, ClientHandle, ClientReply, ClientTx, Clients, Fallback, ReturnPath};
use crate::era;
use crate::policy::{Action, PolicySet, Subject};
use crate::protocol::{self, code, Envelope, Kind, RawObject};
use crate::routing::{NamedEntry, Page, RoutingTable, ServerRoute};
use crate::transport::framing::Frame;
use crate::transport::DownstreamError;
use chrono::Utc;

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
    pub(crate) set: PolicySet,
    /// Whether any rule can deny (and so hide) a tool: without one, lists need no per-client filtering.
    pub(crate) hides: bool,
}

impl ActivePolicy {
    pub(crate) fn new(set: PolicySet) -> Self {
        let hides = set.default_action() == Action::Deny || set.rules().iter().any(|r| r.action == Action::Deny);
        ActivePolicy { set, hides }
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

    pub fn handle_line(&self, line: &[u8]) {
        match Envelope::parse(line) {
            Ok(env) => self.handle_envelope(&env),
            Err(e) => {
                let msg = format!("parse error: {e}");
                self.send(protocol::error_frame(&protocol::null_id(), code::PARSE_ERROR, &msg, None))
            }
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
                    let _ = server.handle.post(ToServer::Notify("notifications/roots/list_changed"));
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

    fn on_list(&self, id: &RawValue, method: &str, params: Option<&RawValue>, modern: bool) {
        #[derive(Deserialize, Default)]
        struct ListParams {
            cursor: Option<String>,
        }
        let cursor = params.and_then(|p| serde_json::from_str::<ListParams>(p.get()).ok()).unwrap_or_default().cursor;
        if cursor.is_none() {
            // A fresh listing: servers whose lists have outlived their time to live fetch them again (the
            // answer now is what is known; a change follows as list_changed).
            for server in &self.shared.table.load().servers {
                server.handle.post(ToServer::ListsWanted);
            }
        }
        let answer = {
            let (shared, client, method, id) =
                (self.shared.clone(), self.client.clone(), method.to_owned(), id.to_owned());
            move || {
                let table = shared.table.load();
                let extra = if modern { shared.modern_list_members.as_str() } else { "" };
                let (cursor, size) = (cursor.as_deref(), shared.page_size);
                let page = match method.as_str() {
                    "tools/list" => {
                        client.listed.store(true, Ordering::Release);
                        let policy = shared.policy.load();
                        if policy.hides {
                            // Denied tools are not shown to this client (identity and time may matter).
                            let (who, now) = (client.identity.get().map(|s| &**s), Utc::now());
                            let visible = table
                                .tools
                                .items_where(|e| policy.set.is_visible(&Subject::new(&e.canonical, who, now)));
                            crate::routing::page_of("tools", &visible, cursor, size, extra)
                        } else {
                            table.tools.page(cursor, size, extra)
                        }
                    }
                    "prompts/list" => table.prompts.page(cursor, size, extra),
                    "resources/list" => table.resources.page(cursor, size, extra),
                    _ => table.templates.page(cursor, size, extra),
                };
                client.send(match page {
                    Ok(page) => protocol::response_frame_bytes(&id, &page),
                    Err(_) => protocol::error_frame(
                        &id,
                        code::INVALID_PARAMS,
                        "Invalid cursor: it was not issued by this gateway for this list",
                        None,
                    ),
                });
            }
        };
        if *self.shared.ready.borrow() {
            return answer();
        }
        let shared = self.shared.clone();
        tokio::spawn(async move {
            shared.wait_ready().await;
            answer();
        });
    }

    fn on_routed(&self, id: &RawValue, method: &str, params: Option<&RawValue>, modern: bool) {
        // Read before routing: the router publishes the table before it flags readiness, so a table read after
        // seeing "ready" is complete, while one read before may not be.
        let was_ready = *self.shared.ready.borrow();
        match route(&self.shared, &self.client, id, method, params, modern) {
            Ok(()) => {}
            // Before start-up has settled, an unknown name may belong to a server still starting: wait for it.
            Err(Unrouted::Unknown(..)) if !was_ready => {
                let (shared, client) = (self.shared.clone(), self.client.clone());
                let (id, method, params) = (id.to_owned(), method.to_owned(), params.map(|p| p.to_owned()));
                tokio::spawn(async move {
                    shared.wait_ready().await;
                    if let Err(e) = route(&shared, &client, &id, &method, params.as_deref(), modern) {
                        e.count(&shared);
                        client.send(e.to_frame(&id));
                    }
                });
            }
            Err(e) => {
                e.count(&self.shared);
                self.send(e.to_frame(id))
            }
        }
    }

    /// `server/discover` (2026-07-28): what the gateway offers, with the modern result members.
    fn on_discover(&self, id: &RawValue) {
        let mut result = format!(
            r#"{{"supportedVersions":["{}"],"capabilities":{{"tools":{{"listChanged":true}},"prompts":{{"listChanged":true}},"resources":{{"subscribe":true,"listChanged":true}},"completions":{{}}}},"instructions":"dfs-gateway federates several MCP servers; names look like <namespace>__<server>__<name>."#,
            protocol::MODERN_VERSION
        );
        result.push_str("\",");
        result.push_str(&self.shared.modern_list_members);
        result.push('}');
        self.send(protocol::response_frame_bytes(id, result.as_bytes()));
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
            if let Some((server, original)) = table.resolve_uri(uri) {
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

/// Why a request was not handed to a server.
enum Unrouted {
    Invalid(String),
    /// (what, name): nothing of that kind by that name.
    Unknown(&'static str, String),
    Unavailable(DownstreamError),
    /// A `requestState` the gateway did not issue to this session, or that was used already.
    InvalidState,
    /// (canonical tool, the decision explained).
    Denied(String, String),
}

impl Unrouted {
    /// A call to a tool nobody lists is counted under `tool="unknown"` (denials are counted where decided).
    fn count(&self, shared: &Shared) {
        if let Unrouted::Unknown("tool", _) = self {
            let metrics = shared.services.tool_metrics(None);
            metrics.record_request(crate::telemetry::Outcome::Unavailable, Duration::ZERO);
        }
    }

    fn to_frame(&self, id: &RawValue) -> Bytes {
        match self {
            Unrouted::Invalid(msg) => protocol::error_frame(id, code::INVALID_PARAMS, msg, None),
            Unrouted::Unknown("tool", name) => protocol::error_frame(
                id,
                code::INVALID_PARAMS,
                &format!("Unknown tool: {name}. Call tools/list for the tools this gateway federates (names look like app__server__tool)."),
                None,
            ),
            Unrouted::Unknown(what, name) => {
                protocol::error_frame(id, code::INVALID_PARAMS, &format!("Unknown {what}: {name}"), None)
            }
            Unrouted::Unavailable(e) => e.to_frame(id),
            Unrouted::Denied(tool, why) => protocol::error_frame(
                id,
                code::DENIED,
                &format!("Tool {tool} is denied: {why}. Ask the gateway's operator if you need it."),
                Some(serde_json::json!({ "gateway": true, "tool": tool })),
            ),
            Unrouted::InvalidState => protocol::error_frame(
                id,
                code::INVALID_PARAMS,
                "Invalid or expired requestState",
                Some(serde_json::json!({ "reason": "invalid_request_state" })),
            ),
        }
    }
}

/// Resolves the server a request is for and hands it over, with the names or URIs rewritten to the server's own
/// and every other byte of the params kept.
fn route(
    shared: &Shared,
    client: &Arc<ClientHandle>,
    id: &RawValue,
    method: &str,
    params: Option<&RawValue>,
    modern: bool,
) -> Result<(), Unrouted> {
    let invalid = |m: &str| Unrouted::Invalid(format!("{method}: {m}"));
    let params = params.ok_or_else(|| invalid("params are missing"))?;
    let obj = RawObject::parse(params).map_err(|_| invalid("params must be an object"))?;
    let complete_for_modern = modern.then(|| era::is_cacheable(method));
    if let Some(state) = obj.get_str("requestState").filter(|s| s.starts_with(mrtr::STATE_PREFIX)) {
        let mut reply = ClientReply::new(client.clone(), id.to_owned());
        reply.complete_for_modern = complete_for_modern;
        return resume(shared, reply, &obj, &state);
    }
    let table = shared.table.load();
    let mut rewritten = Vec::with_capacity(params.get().len() + 32);
    let mut timeout = None;
    let mut retries = 0;
    let mut fallback = None;
    // A tool call's record and what admission checks (rate limit, cache).
    let mut admission: Option<(Box<CallLog>, Plan)> = None;
    let (server, method): (&Arc<ServerRoute>, &'static str) = match method {
        "tools/call" | "prompts/get" => {
            let (list, what, method) = if method == "tools/call" {
                (&table.tools, "tool", "tools/call")
            } else {
                (&table.prompts, "prompt", "prompts/get")
            };
            let name = obj.get_str("name").ok_or_else(|| invalid("params.name must be a string"))?;
            let entry = list.lookup(&name).ok_or_else(|| Unrouted::Unknown(what, name.clone().into_owned()))?;
            if method == "tools/call" {
                // Policy decides on the canonical name the spelling resolved to, so no spelling gets around it.
                let policy = shared.policy.load();
                let subject = Subject::new(&entry.canonical, client.identity.get().map(|s| &**s), Utc::now());
                let decision = policy.set.decide(&subject);
                if decision.action == Action::Deny {
                    record_denial(shared, client, &entry.canonical, &decision);
                    return Err(Unrouted::Denied(entry.canonical.to_string(), decision.to_string()));
                }
                admission = Some(admit_plan(shared, client, entry, &obj, &decision));
                timeout = decision.timeout();
                // Repeat only what is safe to repeat: policy first, then the tool's own annotations.
                if decision.retry().unwrap_or(entry.safe) {
                    retries = entry.server.retries;
                }
                fallback = decision.fallback().map(|target| Fallback {
                    target: target.into(),
                    on_error: decision.fallback_on_error(),
                    from: entry.canonical.clone(),
                });
            }
            obj.write_with_str("name", &entry.name, &mut rewritten);
            (&entry.server, method)
        }
        "tasks/get" | "tasks/result" | "tasks/cancel" | "tasks/list" => {
            // Experimental tasks (2025-11-25): routed to the server that created the task; a list goes to the one
            // server holding this client's tasks.
            let label = if method == "tasks/list" {
                let servers = client.task_servers();
                let mut it = servers.into_iter();
                match (it.next(), it.next()) {
                    (Some(only), None) => only,
                    (None, _) => return Err(Unrouted::Unknown("task", "(none created through this session)".into())),
                    _ => {
                        return Err(Unrouted::Invalid(
                            "tasks/list: tasks of several servers cannot be merged; use tasks/get".into(),
                        ))
                    }
                }
            } else {
                let task = obj.get_str("taskId").ok_or_else(|| invalid("params.taskId must be a string"))?;
                client.task_server(&task).ok_or_else(|| Unrouted::Unknown("task", task.clone().into_owned()))?
            };
            let server = table
                .servers
                .iter()
                .find(|s| *s.label == *label)
                .ok_or_else(|| Unrouted::Unknown("task server", label.clone()))?;
            rewritten.extend_from_slice(params.get().as_bytes());
            let method = match method {
                "tasks/get" => "tasks/get",
                "tasks/result" => "tasks/result",
                "tasks/cancel" => "tasks/cancel",
                _ => "tasks/list",
            };
            (server, method)
        }
        "resources/read" | "resources/subscribe" | "resources/unsubscribe" => {
            let uri = obj.get_str("uri").ok_or_else(|| invalid("params.uri must be a string"))?;
            let (server, original) =
                table.resolve_uri(&uri).ok_or_else(|| Unrouted::Unknown("resource", uri.clone().into_owned()))?;
            obj.write_with_str("uri", &original, &mut rewritten);
            let method = match method {
                "resources/read" => "resources/read",
                "resources/subscribe" => {
                    client.subscribe(&server.name, &original, true);
                    "resources/subscribe"
                }
                _ => {
                    client.subscribe(&server.name, &original, false);
                    "resources/unsubscribe"
                }
            };
            (server, method)
        }
        _ => {
            // completion/complete: routed by the prompt or resource template its `ref` names.
            let reference = obj.get("ref").ok_or_else(|| invalid("params.ref is missing"))?;
            let r = RawObject::parse(reference).map_err(|_| invalid("params.ref must be an object"))?;
            let mut new_ref = Vec::with_capacity(reference.get().len() + 16);
            let server = match r.get_str("type").as_deref() {
                Some("ref/prompt") => {
                    let name = r.get_str("name").ok_or_else(|| invalid("ref.name must be a string"))?;
                    let e = table
                        .prompts
                        .lookup(&name)
                        .ok_or_else(|| Unrouted::Unknown("prompt", name.clone().into_owned()))?;
                    r.write_with_str("name", &e.name, &mut new_ref);
                    &e.server
                }
                Some("ref/resource") => {
                    let uri = r.get_str("uri").ok_or_else(|| invalid("ref.uri must be a string"))?;
                    let (server, original): (&Arc<ServerRoute>, String) = match table.templates.lookup(&uri) {
                        Some(e) => (&e.server, e.original.to_string()),
                        None => table
                            .resolve_uri(&uri)
                            .ok_or_else(|| Unrouted::Unknown("resource", uri.clone().into_owned()))?,
                    };
                    r.write_with_str("uri", &original, &mut new_ref);
                    server
                }
                _ => return Err(invalid("ref.type must be ref/prompt or ref/resource")),
            };
            obj.write_with_raw("ref", &new_ref, &mut rewritten);
            (server, "completion/complete")
        }
    };
    let mut reply = ClientReply::new(client.clone(), id.to_owned());
    reply.progress_token = protocol::progress_token(&obj);
    let mut params = Bytes::from(rewritten);
    if reply.progress_token.is_some() {
        // Tokens are unique per client only; the server sees a gateway-unique one, mapped back on the way out.
        let token = format!("\"dfs-{}\"", shared.clients.next_request_id());
        params =
            protocol::merge_meta(Some(&params), format!("\"progressToken\":{token}").as_bytes(), Some("progressToken"))
                .into();
        reply.downstream_token = Some(token.into());
    }
    reply.complete_for_modern = complete_for_modern;
    // A task-creating call: its result names the task, and tasks/* for it must reach this server.
    reply.record_task = method == "tools/call" && obj.get("task").is_some();
    reply.retries_left = retries;
    reply.fallback = fallback;
    if let Some((log, plan)) = admission {
        reply.log = Some(log);
        let call = Call::new(method, params, reply, timeout);
        shared.services.admit(call, server.handle.clone(), plan);
        return Ok(());
    }
    let call = Call::new(method, params, reply, timeout);
    // A call the server cannot take is answered there with the reason.
    server.call(call);
    Ok(())
}

/// Starts the record of an allowed tool call and plans its admission: the rule's rate limit, and the cache when
/// the rule caches or the tool is read-only (privately per client unless the rule says `scope = "public"`).
fn admit_plan(
    shared: &Shared,
    client: &ClientHandle,
    entry: &NamedEntry,
    params: &RawObject<'_>,
    decision: &crate::policy::Decision<'_>,
) -> (Box<CallLog>, Plan) {
    let services = &shared.services;
    let identity = client.identity.get();
    let arguments = params.get("arguments");
    let info = services.tool_info(&entry.canonical);
    let mut log = Box::new(services.start_call(&info, &entry.canonical, &entry.server.label));
    log.client = identity.cloned();
    log.rule = decision.rule_name().map(str::to_owned);
    log.decision = if decision.action == Action::Fallback { "fallback" } else { "allow" };
    log.invalidates = decision.invalidates().to_vec();
    if services.evidence.is_enabled() {
        log.arguments = arguments.map(|a| a.to_owned());
    }
    let mut plan = Plan::default();
    if let (Some(rl), Some(rule)) = (decision.rate_limit(), decision.rule_name()) {
        let who = identity.map_or_else(|| format!("session-{}", client.session), |s| s.to_string());
        plan.limit = Some(LimitPlan {
            key: crate::ratelimit::limit_key(rule, rl.scope, &entry.canonical, &who),
            limit: rl.count,
            window: rl.per,
            what: match rl.scope {
                crate::policy::RateScope::Namespace => format!("namespace {}", entry.server.namespace),
                crate::policy::RateScope::Client => format!("{} (per client)", entry.canonical),
                crate::policy::RateScope::Tool => entry.canonical.to_string(),
            },
        });
    }
    // A task-creating call answers with a task, not a result worth keeping.
    let rule_cache = decision.cache();
    if services.cache.is_some() && (rule_cache.is_some() || entry.read_only) && params.get("task").is_none() {
        let public = rule_cache.is_some_and(|c| c.scope == crate::policy::CacheScope::Public);
        // Private entries belong to the client's auth context: its session, or for stateless HTTP requests the
        // token identity they share (`owner`).
        let mut owner = itoa::Buffer::new();
        let owner = owner.format(client.owner);
        let private = ["client:", services.instance.as_str(), ":", owner];
        let scope: &[&str] = if public { &["public"] } else { &private };
        let tags = match rule_cache.filter(|c| !c.tags.is_empty()) {
            Some(c) => info.tags.iter().chain(&c.tags).cloned().collect(),
            None => info.tags.clone(),
        };
        plan.cache = Some(CachePlan {
            key: crate::cache::cache_key_scoped("tools/call", &entry.canonical, arguments, scope),
            ttl: rule_cache.map_or(services.result_ttl, |c| c.ttl),
            tags,
            public,
        });
    }
    (log, plan)
}

/// A denied tool call: counted, and written to the audit trail as a decision.
fn record_denial(shared: &Shared, client: &ClientHandle, canonical: &Arc<str>, decision: &crate::policy::Decision<'_>) {
    let services = &shared.services;
    let metrics = services.tool_metrics(Some(canonical));
    metrics.record_denied(decision.rule_name().unwrap_or("default_action"));
    metrics.record_request(crate::telemetry::Outcome::Denied, Duration::ZERO);
    if services.evidence.is_enabled() {
        services.evidence.record(crate::evidence::Record {
            correlation_id: Some(services.correlation().to_string().into()),
            client: client.identity.get().map(Into::into),
            rule: decision.rule_name().map(|r| r.to_owned().into()),
            outcome: Some("denied".into()),
            error: Some(decision.to_string().into()),
            ..crate::evidence::Record::decision(canonical, "deny")
        });
    }
}

/// A modern client's retry of a call the gateway parked: its answers go to the server's questions and the new
/// request id takes over the waiting call (see [`crate::dispatch::mrtr`]).
fn resume(shared: &Shared, reply: ClientReply, obj: &RawObject<'_>, state: &str) -> Result<(), Unrouted> {
    let invalid_state = || Unrouted::InvalidState;
    let parked = shared.clients.parking.take(state).ok_or_else(invalid_state)?;
    if parked.owner != reply.client.owner {
        return Err(invalid_state());
    }
    let responses = obj.get("inputResponses").and_then(|r| RawObject::parse(r).ok()).unwrap_or_default();
    let requester = parked.requester.clone();
    // Bind first: the server may answer the call as soon as it has its answers.
    if !requester.pending().rebind(parked.call_id, reply, parked.timeout) {
        return Err(Unrouted::Unavailable(DownstreamError::Unavailable {
            server: requester.server().to_owned(),
            reason: "the call this requestState belongs to has ended (timed out, or the server restarted); call again"
                .into(),
        }));
    }
    let mut unanswered = Vec::new();
    for input in parked.inputs {
        match responses.get(&input.key) {
            Some(answer) => requester.send_raw(protocol::response_frame(&input.downstream_id, answer)),
            None => unanswered.push(input),
        }
    }
    if !unanswered.is_empty() {
        // Ask again, at once, for what is still missing.
        if let Some(again) = requester.pending().park(parked.call_id, mrtr::HOLD) {
            let call = mrtr::ParkedCall { inputs: unanswered, ..parked };
            let state = shared.clients.parking.park_with(call, mrtr::input_required);
            again.client.send(protocol::response_frame_bytes(&again.id, &state));
        }
    }
    Ok(())
}

fn empty_object() -> &'static RawValue {
    static EMPTY: std::sync::OnceLock<Box<RawValue>> = std::sync::OnceLock::new();
    EMPTY.get_or_init(|| RawValue::from_string("{}".into()).expect("{} is JSON"))
}
