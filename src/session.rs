//! One client's MCP session: what the gateway answers itself (`initialize`, `ping`, `tools/list`) and what it
//! routes (`tools/call`, cancellation). The stdio front runs one; the CLI's `call` runs one in-process.
//!
//! Handling a frame never waits: answers go to the session's outbound channel, calls are handed to the owning
//! `ServerActor`, and only a `tools/list` that arrives before start-up has settled is parked on a task.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use bytes::Bytes;
use ractor::ActorRef;
use serde::Deserialize;
use serde_json::value::RawValue;
use tokio::sync::watch;

use crate::actors::router::{RouterMsg, Subscriber};
use crate::actors::server::{Call, ServerMsg};
use crate::protocol::{self, code, Envelope, Kind, RawObject};
use crate::routing::RoutingTable;
use crate::transport::framing::Frame;
use crate::transport::pending::ClientReply;
use crate::transport::{ClientTx, DownstreamError};

/// What every session of one gateway shares.
pub struct Shared {
    pub name: String,
    pub table: Arc<ArcSwap<RoutingTable>>,
    /// True once every server has reported its first tool list (or failed to start).
    pub ready: watch::Receiver<bool>,
    pub router: ActorRef<RouterMsg>,
    /// Longest a `tools/list` waits for start-up to settle before answering with what is there.
    pub ready_wait: Duration,
    next_session: AtomicU64,
}

impl Shared {
    pub fn new(
        name: String,
        table: Arc<ArcSwap<RoutingTable>>,
        ready: watch::Receiver<bool>,
        router: ActorRef<RouterMsg>,
        ready_wait: Duration,
    ) -> Self {
        Shared { name, table, ready, router, ready_wait, next_session: AtomicU64::new(1) }
    }

    /// Waits (bounded) until start-up has settled.
    pub async fn wait_ready(&self) {
        let mut ready = self.ready.clone();
        let _ = tokio::time::timeout(self.ready_wait, ready.wait_for(|r| *r)).await;
    }
}

pub struct Session {
    id: u64,
    shared: Arc<Shared>,
    tx: ClientTx,
    listed: Arc<AtomicBool>,
    subscribed: bool,
    /// `clientInfo.name` from `initialize`, for policy and logs.
    client_name: Option<String>,
}

impl Session {
    pub fn new(shared: Arc<Shared>, tx: ClientTx) -> Self {
        let id = shared.next_session.fetch_add(1, Ordering::Relaxed);
        Session { id, shared, tx, listed: Arc::new(AtomicBool::new(false)), subscribed: false, client_name: None }
    }

    pub fn client_name(&self) -> Option<&str> {
        self.client_name.as_deref()
    }

    fn send(&self, frame: Bytes) {
        let _ = self.tx.send(frame);
    }

    /// Handles one frame from the client.
    pub fn handle_frame(&mut self, frame: Frame) {
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

    pub fn handle_line(&mut self, line: &[u8]) {
        let env = match Envelope::parse(line) {
            Ok(env) => env,
            Err(e) => {
                return self.send(protocol::error_frame(
                    &protocol::null_id(),
                    code::PARSE_ERROR,
                    &format!("parse error: {e}"),
                    None,
                ));
            }
        };
        match env.kind() {
            Kind::Request => self.on_request(&env),
            Kind::Notification => self.on_notification(&env),
            Kind::Response => tracing::debug!(session = self.id, "a response from the client that nothing waits for"),
            Kind::Invalid => {
                let id = env.id.map(|i| i.to_owned()).unwrap_or_else(protocol::null_id);
                self.send(protocol::error_frame(
                    &id,
                    code::INVALID_REQUEST,
                    "invalid request: a JSON-RPC 2.0 message needs a method, or a result or error with an id",
                    None,
                ));
            }
        }
    }

    fn on_request(&mut self, env: &Envelope<'_>) {
        let id = env.id.expect("a request has an id");
        let method = env.method.as_deref().expect("a request has a method");
        match method {
            "tools/call" => self.on_tools_call(id, env.params),
            "tools/list" => self.on_tools_list(id),
            "ping" => self.send(protocol::response_frame(id, empty_object())),
            "initialize" => self.on_initialize(id, env.params),
            _ => self.send(protocol::error_frame(
                id,
                code::METHOD_NOT_FOUND,
                &format!("Method not found: {method}"),
                None,
            )),
        }
    }

    fn on_notification(&mut self, env: &Envelope<'_>) {
        match env.method.as_deref() {
            Some("notifications/initialized") if !self.subscribed => {
                self.subscribed = true;
                let subscriber = Subscriber { tx: self.tx.clone(), listed: self.listed.clone() };
                let _ = self.shared.router.cast(RouterMsg::Subscribe { session: self.id, subscriber });
            }
            Some("notifications/cancelled") => self.on_cancelled(env.params),
            _ => {}
        }
    }

    fn on_initialize(&mut self, id: &RawValue, params: Option<&RawValue>) {
        #[derive(Deserialize)]
        struct Init {
            #[serde(rename = "protocolVersion")]
            protocol_version: Option<String>,
            #[serde(rename = "clientInfo")]
            client_info: Option<ClientInfo>,
        }
        #[derive(Deserialize)]
        struct ClientInfo {
            name: Option<String>,
        }
        let init: Option<Init> = params.and_then(|p| serde_json::from_str(p.get()).ok());
        let asked = init.as_ref().and_then(|i| i.protocol_version.as_deref());
        let version = asked
            .filter(|v| protocol::SUPPORTED_LEGACY_VERSIONS.contains(v))
            .unwrap_or(protocol::LATEST_LEGACY_VERSION)
            .to_owned();
        self.client_name = init.and_then(|i| i.client_info).and_then(|c| c.name);
        let result = serde_json::json!({
            "protocolVersion": version,
            "capabilities": { "tools": { "listChanged": true } },
            "serverInfo": { "name": self.shared.name, "version": env!("CARGO_PKG_VERSION") },
            "instructions": "dfs-gateway federates several MCP servers; tool names are <namespace>__<server>__<tool>.",
        });
        let result = serde_json::value::to_raw_value(&result).expect("JSON serializes");
        self.send(protocol::response_frame(id, &result));
    }

    fn on_tools_list(&mut self, id: &RawValue) {
        if *self.shared.ready.borrow() {
            self.listed.store(true, Ordering::Release);
            let table = self.shared.table.load();
            return self.send(protocol::response_frame_bytes(id, table.tools_list()));
        }
        let (shared, tx, id, listed) = (self.shared.clone(), self.tx.clone(), id.to_owned(), self.listed.clone());
        tokio::spawn(async move {
            shared.wait_ready().await;
            listed.store(true, Ordering::Release);
            let _ = tx.send(protocol::response_frame_bytes(&id, shared.table.load().tools_list()));
        });
    }

    fn on_tools_call(&mut self, id: &RawValue, params: Option<&RawValue>) {
        match route_call(&self.shared, self.id, &self.tx, id, params) {
            Ok(()) => {}
            // Before start-up has settled, an unknown name may belong to a server still starting: wait for it.
            Err(Unrouted::UnknownTool(_)) if !*self.shared.ready.borrow() => {
                let (shared, session, tx) = (self.shared.clone(), self.id, self.tx.clone());
                let (id, params) = (id.to_owned(), params.map(|p| p.to_owned()));
                tokio::spawn(async move {
                    shared.wait_ready().await;
                    if let Err(e) = route_call(&shared, session, &tx, &id, params.as_deref()) {
                        let _ = tx.send(e.to_frame(&id));
                    }
                });
            }
            Err(e) => self.send(e.to_frame(id)),
        }
    }

    fn on_cancelled(&mut self, params: Option<&RawValue>) {
        #[derive(Deserialize)]
        struct Cancelled<'a> {
            #[serde(borrow, rename = "requestId")]
            request_id: &'a RawValue,
        }
        let Some(c) = params.and_then(|p| serde_json::from_str::<Cancelled<'_>>(p.get()).ok()) else { return };
        let client_id = protocol::raw_key(c.request_id).to_owned();
        // Rare: ask every server; the one that has the request forwards the cancellation with its own id.
        for server in &self.shared.table.load().servers {
            let _ = server.actor.cast(ServerMsg::Cancel { session: self.id, client_id: client_id.clone() });
        }
    }
}

/// Why a call was not handed to a server.
enum Unrouted {
    Invalid(&'static str),
    UnknownTool(String),
    Unavailable(DownstreamError),
}

impl Unrouted {
    fn to_frame(&self, id: &RawValue) -> Bytes {
        match self {
            Unrouted::Invalid(msg) => protocol::error_frame(id, code::INVALID_PARAMS, msg, None),
            Unrouted::UnknownTool(name) => protocol::error_frame(
                id,
                code::INVALID_PARAMS,
                &format!("Unknown tool: {name}. Call tools/list for the tools this gateway federates (names look like app__server__tool)."),
                None,
            ),
            Unrouted::Unavailable(e) => e.to_frame(id),
        }
    }
}

/// Resolves the tool a `tools/call` names and hands the call to its server, with the name rewritten to the
/// downstream's and every other byte of the params kept.
fn route_call(
    shared: &Shared,
    session: u64,
    tx: &ClientTx,
    id: &RawValue,
    params: Option<&RawValue>,
) -> Result<(), Unrouted> {
    let params = params.ok_or(Unrouted::Invalid("tools/call needs params with a tool name"))?;
    let obj = RawObject::parse(params).map_err(|_| Unrouted::Invalid("tools/call params must be an object"))?;
    let name = obj.get_str("name").ok_or(Unrouted::Invalid("tools/call needs params.name, a string"))?;
    let table = shared.table.load();
    let entry = table.lookup(&name).ok_or_else(|| Unrouted::UnknownTool(name.clone().into_owned()))?;
    let mut rewritten = Vec::with_capacity(params.get().len() + entry.tool.len());
    obj.write_with_str("name", &entry.tool, &mut rewritten);
    let reply =
        ClientReply { session, id: id.to_owned(), tx: tx.clone(), progress_token: protocol::progress_token(&obj) };
    let call = Call { method: "tools/call", params: Bytes::from(rewritten), reply };
    entry.server.actor.cast(ServerMsg::Call(call)).map_err(|_| {
        Unrouted::Unavailable(DownstreamError::Unavailable {
            server: entry.server.label.to_string(),
            reason: "its actor is restarting; retry".into(),
        })
    })
}

impl Drop for Session {
    fn drop(&mut self) {
        if self.subscribed {
            let _ = self.shared.router.cast(RouterMsg::Unsubscribe { session: self.id });
        }
    }
}

fn empty_object() -> &'static RawValue {
    static EMPTY: std::sync::OnceLock<Box<RawValue>> = std::sync::OnceLock::new();
    EMPTY.get_or_init(|| RawValue::from_string("{}".into()).expect("{} is JSON"))
}
