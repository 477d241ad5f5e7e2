//! Test-side MCP client built on `rmcp` 3.11 (client + transport-child-process + streamable HTTP client).
//!
//! Include from an integration test with
//! `#[path = "support/rmcp_client.rs"] mod rmcp_client;`.
//!
//! * [`connect_stdio`] spawns a server command and runs the legacy
//!   `initialize` handshake (offering `2025-11-25`) with no client capabilities.
//! * [`connect_stdio_with`] takes [`ClientOptions`]: lifecycle (legacy / auto /
//!   pinned 2026-07-28 discover), declared capabilities, stderr, timeout.
//! * Every server notification is recorded in order in
//!   [`RunningClient::notifications`]; [`RunningClient::wait_for`] polls for one.
//! * rmcp stamps a fresh numeric `_meta.progressToken` on EVERY request it
//!   sends (overwriting any caller-supplied token), so progress works without
//!   opting in: [`RunningClient::call_with_progress`] returns the token that was
//!   used so a test can pick its progress notifications out of the log.
//!
//! Example:
//! ```ignore
//! let client = rmcp_client::connect_stdio(Path::new(env!("CARGO_BIN_EXE_dfs-gateway")),
//!     &["serve".into(), "--config".into(), cfg.display().to_string()], &[]).await?;
//! assert_eq!(client.protocol_version().as_deref(), Some("2025-11-25"));
//! let names = client.list_tool_names().await?;
//! let out = client.call("read_graph", serde_json::json!({})).await?;
//! let (out, token) = client.call_with_progress("trigger-long-running-operation",
//!     serde_json::json!({"duration": 1, "steps": 4})).await?;
//! assert_eq!(client.progress_for(&token).len(), 4);
//! client.close().await?;
//! ```
//!
//! Only anyhow, serde_json, tokio and rmcp are used.
#![allow(dead_code, deprecated)]

use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::{anyhow, bail, Context as _, Result};
use rmcp::model::{
    CallToolRequest, CallToolRequestParams, CallToolResult, ClientCapabilities, ClientConfig, ClientRequest,
    CreateMessageRequestParams, CreateMessageResult, ElicitRequestParams, ElicitResult, ElicitationAction,
    Implementation, ListRootsResult, LoggingLevel, LoggingMessageNotificationParam, ProgressNotificationParam,
    ProtocolVersion, ResourceUpdatedNotificationParam, ServerResult, SetLevelRequestParams, Tool,
};
use rmcp::service::{NotificationContext, PeerRequestOptions, RequestContext, RunningService, ServiceError};
use rmcp::transport::TokioChildProcess;
use rmcp::{ClientHandler, ClientLifecycleMode, ClientServiceExt as _, ErrorData, RoleClient};
use serde_json::Value;

/// Default bound on connect, every request and close.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// How the client establishes the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lifecycle {
    /// `initialize` + `notifications/initialized`, offering this protocol version
    /// (servers answer with the version they pick).
    Legacy(String),
    /// Probe `server/discover` (2026-07-28); fall back to `initialize`
    /// (offering `2025-11-25`) on a JSON-RPC error or after rmcp's 10 s probe timeout.
    Auto,
    /// `server/discover` only, 2026-07-28; fails against a legacy server.
    Modern,
}

impl Default for Lifecycle {
    fn default() -> Self {
        Lifecycle::Legacy("2025-11-25".to_owned())
    }
}

/// Connection options for [`connect_stdio_with`].
#[derive(Debug, Clone)]
pub struct ClientOptions {
    pub lifecycle: Lifecycle,
    /// Client implementation name/version sent as `clientInfo`.
    pub client_name: String,
    pub client_version: String,
    /// Declare `roots` (with listChanged); the handler answers `roots/list` with `roots`.
    pub roots: Option<Vec<(String, Option<String>)>>,
    /// Declare `elicitation`; the handler answers every elicitation with this
    /// action (`"accept"` with `elicitation_content`, `"decline"` or `"cancel"`).
    pub elicitation: Option<String>,
    pub elicitation_content: Option<Value>,
    /// Declare `sampling`; the handler answers `sampling/createMessage` with this text.
    pub sampling_reply: Option<String>,
    /// Raw `ClientCapabilities` JSON; when set it replaces the capabilities
    /// derived from `roots` / `elicitation` / `sampling_reply` (the handlers
    /// still answer according to those fields).
    pub capabilities: Option<Value>,
    /// Discard the child's stderr instead of inheriting it.
    pub quiet_stderr: bool,
    /// Bound on connect, each request and close.
    pub timeout: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            lifecycle: Lifecycle::default(),
            client_name: "dfs-gateway-tests".to_owned(),
            client_version: "0.1.0".to_owned(),
            roots: None,
            elicitation: None,
            elicitation_content: None,
            sampling_reply: None,
            capabilities: None,
            quiet_stderr: false,
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

/// A server notification as recorded by the client.
#[derive(Debug, Clone, PartialEq)]
pub enum Notification {
    Progress {
        token: Value,
        progress: f64,
        total: Option<f64>,
        message: Option<String>,
    },
    /// `notifications/message`; `level` is the wire string (`"info"`, `"error"`, ...).
    Log {
        level: String,
        logger: Option<String>,
        data: Value,
    },
    ToolListChanged,
    PromptListChanged,
    ResourceListChanged,
    ResourceUpdated {
        uri: String,
    },
    Cancelled {
        request_id: Option<Value>,
        reason: Option<String>,
    },
    /// Anything else, e.g. `notifications/tasks/status` or a custom method.
    Other {
        method: String,
        params: Value,
    },
}

impl Notification {
    /// The JSON-RPC method this notification arrived as.
    pub fn method(&self) -> &str {
        match self {
            Notification::Progress { .. } => "notifications/progress",
            Notification::Log { .. } => "notifications/message",
            Notification::ToolListChanged => "notifications/tools/list_changed",
            Notification::PromptListChanged => "notifications/prompts/list_changed",
            Notification::ResourceListChanged => "notifications/resources/list_changed",
            Notification::ResourceUpdated { .. } => "notifications/resources/updated",
            Notification::Cancelled { .. } => "notifications/cancelled",
            Notification::Other { method, .. } => method,
        }
    }
}

/// A server-to-client request the handler answered (`roots/list`, `sampling/createMessage`,
/// `elicitation/create`), with its params as JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerRequestRecord {
    pub method: String,
    pub params: Value,
}

/// A tool call's outcome, flattened for assertions.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolOutcome {
    pub is_error: bool,
    /// Every `text` content block, joined with `"\n"`.
    pub text: String,
    pub structured: Option<Value>,
    /// The full result as JSON (content blocks, `_meta`, ...).
    pub raw: Value,
}

impl ToolOutcome {
    pub fn from_result(result: &CallToolResult) -> Result<Self> {
        let raw = serde_json::to_value(result).context("serialize CallToolResult")?;
        let text = raw
            .get("content")
            .and_then(Value::as_array)
            .map(|blocks| {
                blocks
                    .iter()
                    .filter(|b| b.get("type").and_then(Value::as_str) == Some("text"))
                    .filter_map(|b| b.get("text").and_then(Value::as_str))
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .unwrap_or_default();
        Ok(Self {
            is_error: result.is_error.unwrap_or(false),
            text,
            structured: result.structured_content.clone(),
            raw,
        })
    }
}

/// Shared state between the handler (running inside rmcp) and the test.
#[derive(Debug, Default)]
struct Recorded {
    notifications: Mutex<Vec<Notification>>,
    server_requests: Mutex<Vec<ServerRequestRecord>>,
    changed: tokio::sync::Notify,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Recorded {
    fn push(&self, n: Notification) {
        lock(&self.notifications).push(n);
        self.changed.notify_waiters();
    }

    fn push_request(&self, method: &str, params: Value) {
        lock(&self.server_requests).push(ServerRequestRecord { method: method.to_owned(), params });
        self.changed.notify_waiters();
    }
}

/// The `ClientHandler`: declares the configured capabilities and records
/// everything the server sends.
#[derive(Debug, Clone)]
pub struct RecordingHandler {
    config: ClientConfig,
    options: Arc<ClientOptions>,
    recorded: Arc<Recorded>,
}

fn to_json<T: rmcp::serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

impl ClientHandler for RecordingHandler {
    fn get_info(&self) -> ClientConfig {
        self.config.clone()
    }

    async fn on_progress(&self, params: ProgressNotificationParam, _context: NotificationContext<RoleClient>) {
        self.recorded.push(Notification::Progress {
            token: to_json(&params.progress_token),
            progress: params.progress,
            total: params.total,
            message: params.message,
        });
    }

    async fn on_logging_message(
        &self,
        params: LoggingMessageNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        let level = match to_json(&params.level) {
            Value::String(s) => s,
            other => other.to_string(),
        };
        self.recorded.push(Notification::Log { level, logger: params.logger, data: params.data });
    }

    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.recorded.push(Notification::ToolListChanged);
    }

    async fn on_prompt_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.recorded.push(Notification::PromptListChanged);
    }

    async fn on_resource_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.recorded.push(Notification::ResourceListChanged);
    }

    async fn on_resource_updated(
        &self,
        params: ResourceUpdatedNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        self.recorded.push(Notification::ResourceUpdated { uri: params.uri });
    }

    async fn on_cancelled(
        &self,
        params: rmcp::model::CancelledNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        self.recorded.push(Notification::Cancelled {
            request_id: params.request_id.as_ref().map(to_json),
            reason: params.reason,
        });
    }

    async fn on_task_status(
        &self,
        params: rmcp::model::TaskStatusNotificationParams,
        _context: NotificationContext<RoleClient>,
    ) {
        self.recorded
            .push(Notification::Other { method: "notifications/tasks/status".to_owned(), params: to_json(&params) });
    }

    async fn on_custom_notification(
        &self,
        notification: rmcp::model::CustomNotification,
        _context: NotificationContext<RoleClient>,
    ) {
        self.recorded.push(Notification::Other {
            method: notification.method,
            params: notification.params.unwrap_or(Value::Null),
        });
    }

    async fn list_roots(&self, _context: RequestContext<RoleClient>) -> Result<ListRootsResult, ErrorData> {
        self.recorded.push_request("roots/list", Value::Null);
        let roots: Vec<Value> = self
            .options
            .roots
            .clone()
            .unwrap_or_default()
            .into_iter()
            .map(|(uri, name)| match name {
                Some(name) => serde_json::json!({ "uri": uri, "name": name }),
                None => serde_json::json!({ "uri": uri }),
            })
            .collect();
        serde_json::from_value(serde_json::json!({ "roots": roots }))
            .map_err(|e| ErrorData::internal_error(e.to_string(), None))
    }

    #[allow(deprecated)]
    async fn create_message(
        &self,
        params: CreateMessageRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<CreateMessageResult, ErrorData> {
        self.recorded.push_request("sampling/createMessage", to_json(&params));
        let Some(reply) = self.options.sampling_reply.clone() else {
            return Err(ErrorData::method_not_found::<rmcp::model::CreateMessageRequestMethod>());
        };
        serde_json::from_value(serde_json::json!({
            "model": "dfs-gateway-tests",
            "role": "assistant",
            "content": { "type": "text", "text": reply },
            "stopReason": "endTurn",
        }))
        .map_err(|e| ErrorData::internal_error(e.to_string(), None))
    }

    async fn create_elicitation(
        &self,
        request: ElicitRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, ErrorData> {
        self.recorded.push_request("elicitation/create", to_json(&request));
        let action = match self.options.elicitation.as_deref() {
            Some("accept") => ElicitationAction::Accept,
            Some("cancel") => ElicitationAction::Cancel,
            _ => ElicitationAction::Decline,
        };
        let accept = matches!(action, ElicitationAction::Accept);
        let mut result = ElicitResult::new(action);
        if accept {
            if let Some(content) = self.options.elicitation_content.clone() {
                result = result.with_content(content);
            }
        }
        Ok(result)
    }
}

/// A connected client plus the recorded server traffic.
pub struct RunningClient {
    service: RunningService<RoleClient, RecordingHandler>,
    recorded: Arc<Recorded>,
    timeout: Duration,
}

/// Spawn `program args...` (extra `envs` on top of the inherited environment)
/// and connect with default options (legacy handshake, no capabilities).
pub async fn connect_stdio(program: &Path, args: &[String], envs: &[(String, String)]) -> Result<RunningClient> {
    connect_stdio_with(program, args, envs, ClientOptions::default()).await
}

/// Connects through `dfs-gateway serve --config <config>` (the gateway's log level set to warn).
pub async fn connect_gateway(gateway: &Path, config: &Path, options: ClientOptions) -> Result<RunningClient> {
    let args = ["serve".to_owned(), "--config".to_owned(), config.display().to_string()];
    connect_stdio_with(gateway, &args, &[("LOG_LEVEL".into(), "warn".into())], options).await
}

/// Like [`connect_stdio`], with explicit [`ClientOptions`].
pub async fn connect_stdio_with(
    program: &Path,
    args: &[String],
    envs: &[(String, String)],
    options: ClientOptions,
) -> Result<RunningClient> {
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let stderr = if options.quiet_stderr { Stdio::null() } else { Stdio::inherit() };
    let (transport, _stderr) = TokioChildProcess::builder(cmd)
        .stderr(stderr)
        .spawn()
        .with_context(|| format!("spawn {}", program.display()))?;

    connect_transport(transport, options).await
}

/// Connects over Streamable HTTP to `url` (rmcp's reqwest-based transport), sending `Authorization: Bearer
/// <token>` when a token is given.
pub async fn connect_http(url: &str, token: Option<&str>, options: ClientOptions) -> Result<RunningClient> {
    use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
    let mut config = StreamableHttpClientTransportConfig::with_uri(url);
    if let Some(token) = token {
        config = config.auth_header(token);
    }
    connect_transport(rmcp::transport::StreamableHttpClientTransport::from_config(config), options).await
}

async fn connect_transport<T, E, A>(transport: T, options: ClientOptions) -> Result<RunningClient>
where
    T: rmcp::transport::IntoTransport<RoleClient, E, A>,
    E: std::error::Error + Send + Sync + 'static,
{
    let caps_json = match &options.capabilities {
        Some(raw) => raw.clone(),
        None => {
            let mut caps = serde_json::Map::new();
            if options.roots.is_some() {
                caps.insert("roots".into(), serde_json::json!({ "listChanged": true }));
            }
            if options.elicitation.is_some() {
                caps.insert("elicitation".into(), serde_json::json!({}));
            }
            if options.sampling_reply.is_some() {
                caps.insert("sampling".into(), serde_json::json!({}));
            }
            Value::Object(caps)
        }
    };
    let caps: ClientCapabilities = serde_json::from_value(caps_json).context("client capabilities JSON")?;
    let client_info = Implementation::new(&options.client_name, &options.client_version);
    let mut config = ClientConfig::new(caps, client_info);
    let lifecycle = match &options.lifecycle {
        Lifecycle::Legacy(version) => {
            config = config.with_protocol_version(parse_version(version)?);
            ClientLifecycleMode::Initialize
        }
        Lifecycle::Auto => ClientLifecycleMode::Auto {
            preferred_versions: vec![ProtocolVersion::V_2026_07_28],
            legacy_version: Some(ProtocolVersion::V_2025_11_25),
        },
        Lifecycle::Modern => ClientLifecycleMode::Discover { preferred_versions: vec![ProtocolVersion::V_2026_07_28] },
    };

    let recorded = Arc::new(Recorded::default());
    let timeout = options.timeout;
    let handler = RecordingHandler { config, options: Arc::new(options), recorded: recorded.clone() };
    let service = tokio::time::timeout(timeout, handler.serve_with_lifecycle(transport, lifecycle))
        .await
        .map_err(|_| anyhow!("MCP connect timed out after {timeout:?}"))?
        .map_err(|e| anyhow!("MCP connect failed: {e}"))?;
    Ok(RunningClient { service, recorded, timeout })
}

fn parse_version(version: &str) -> Result<ProtocolVersion> {
    serde_json::from_value(Value::String(version.to_owned())).with_context(|| format!("protocol version {version:?}"))
}

impl RunningClient {
    async fn bounded<T>(
        &self,
        what: &str,
        fut: impl std::future::Future<Output = Result<T, ServiceError>>,
    ) -> Result<T> {
        tokio::time::timeout(self.timeout, fut)
            .await
            .map_err(|_| anyhow!("{what} timed out after {:?}", self.timeout))?
            .map_err(|e| anyhow!("{what} failed: {e}"))
    }

    /// The underlying rmcp service (derefs to `Peer<RoleClient>`) for anything not wrapped here.
    pub fn service(&self) -> &RunningService<RoleClient, RecordingHandler> {
        &self.service
    }

    /// Negotiated protocol version (`"2025-11-25"`, `"2026-07-28"`, ...).
    pub fn protocol_version(&self) -> Option<String> {
        self.service.peer_info().map(|info| info.protocol_version.to_string())
    }

    /// `serverInfo.name` (legacy) or the discover result's `_meta` serverInfo stamp (modern).
    pub fn server_name(&self) -> Option<String> {
        self.service.peer_info().and_then(|info| info.server_info.as_ref().map(|i| i.name.clone()))
    }

    /// The server's peer info (capabilities, instructions, ...) as JSON.
    pub fn peer_info_json(&self) -> Value {
        self.service.peer_info().map(|info| to_json(&*info)).unwrap_or(Value::Null)
    }

    /// Every tool (all pages).
    pub async fn list_tools(&self) -> Result<Vec<Tool>> {
        self.bounded("tools/list", self.service.list_all_tools()).await
    }

    pub async fn list_tool_names(&self) -> Result<Vec<String>> {
        Ok(self.list_tools().await?.into_iter().map(|t| t.name.to_string()).collect())
    }

    /// `tools/call`; `args` must be a JSON object (or null for no arguments).
    /// A JSON-RPC error answer is an `Err`; a tool-level error is `is_error: true`.
    pub async fn call_raw(&self, name: &str, args: Value) -> Result<CallToolResult> {
        let params = call_params(name, args)?;
        self.bounded(&format!("tools/call {name}"), self.service.call_tool(params)).await
    }

    pub async fn call(&self, name: &str, args: Value) -> Result<ToolOutcome> {
        ToolOutcome::from_result(&self.call_raw(name, args).await?)
    }

    /// `tools/call` returning the `_meta.progressToken` rmcp put on the request
    /// (as JSON, e.g. `3`), so the test can filter [`Self::progress_for`].
    pub async fn call_with_progress(&self, name: &str, args: Value) -> Result<(ToolOutcome, Value)> {
        let request = ClientRequest::CallToolRequest(CallToolRequest::new(call_params(name, args)?));
        let handle = self
            .service
            .send_request_with_option(request, PeerRequestOptions::with_timeout(self.timeout))
            .await
            .map_err(|e| anyhow!("send tools/call {name}: {e}"))?;
        let token = to_json(&handle.progress_token);
        let response = handle.await_response().await.map_err(|e| anyhow!("tools/call {name} failed: {e}"))?;
        match response {
            ServerResult::CallToolResult(result) => Ok((ToolOutcome::from_result(&result)?, token)),
            other => bail!("tools/call {name}: unexpected response {other:?}"),
        }
    }

    /// Start a `tools/call` and cancel it (sends `notifications/cancelled`)
    /// after `after`. Returns the cancelled request id as JSON.
    pub async fn call_and_cancel(&self, name: &str, args: Value, after: Duration) -> Result<Value> {
        let request = ClientRequest::CallToolRequest(CallToolRequest::new(call_params(name, args)?));
        let handle = self
            .service
            .send_request_with_option(request, PeerRequestOptions::no_options())
            .await
            .map_err(|e| anyhow!("send tools/call {name}: {e}"))?;
        let id = to_json(&handle.id);
        tokio::time::sleep(after).await;
        handle
            .cancel(Some("cancelled by test".to_owned()))
            .await
            .map_err(|e| anyhow!("cancel tools/call {name}: {e}"))?;
        Ok(id)
    }

    /// `logging/setLevel` (handshake-era sessions).
    #[allow(deprecated)]
    pub async fn set_log_level(&self, level: &str) -> Result<()> {
        let level: LoggingLevel = serde_json::from_value(Value::String(level.to_owned()))
            .with_context(|| format!("logging level {level:?}"))?;
        self.bounded("logging/setLevel", self.service.set_level(SetLevelRequestParams::new(level))).await
    }

    /// `ping` (handshake-era sessions).
    pub async fn ping(&self) -> Result<()> {
        let request = ClientRequest::PingRequest(Default::default());
        match self.bounded("ping", self.service.send_request(request)).await? {
            ServerResult::EmptyResult(_) => Ok(()),
            other => bail!("ping: unexpected response {other:?}"),
        }
    }

    /// Snapshot of every notification received so far, in arrival order.
    pub fn notifications(&self) -> Vec<Notification> {
        lock(&self.recorded.notifications).clone()
    }

    /// Progress notifications whose token equals `token`, as `(progress, total)`.
    pub fn progress_for(&self, token: &Value) -> Vec<(f64, Option<f64>)> {
        self.notifications()
            .into_iter()
            .filter_map(|n| match n {
                Notification::Progress { token: t, progress, total, .. } if &t == token => Some((progress, total)),
                _ => None,
            })
            .collect()
    }

    /// Server-to-client requests the handler answered so far.
    pub fn server_requests(&self) -> Vec<ServerRequestRecord> {
        lock(&self.recorded.server_requests).clone()
    }

    /// Wait (up to `timeout`) until some recorded notification satisfies `pred`; returns it.
    pub async fn wait_for(
        &self,
        timeout: Duration,
        mut pred: impl FnMut(&Notification) -> bool,
    ) -> Result<Notification> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let changed = self.recorded.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if let Some(n) = lock(&self.recorded.notifications).iter().find(|n| pred(n)).cloned() {
                return Ok(n);
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                bail!("no matching notification within {timeout:?}; got {:?}", self.notifications());
            }
        }
    }

    /// Cancel the service: rmcp closes the child's stdin, waits up to 3 s for it
    /// to exit, then SIGTERM (+3 s), then SIGKILL. Bounded by the client timeout.
    pub async fn close(mut self) -> Result<()> {
        match self.service.close_with_timeout(self.timeout).await {
            Ok(Some(_reason)) => Ok(()),
            Ok(None) => bail!("MCP client close timed out after {:?}", self.timeout),
            Err(e) => bail!("MCP client task failed: {e}"),
        }
    }
}

fn call_params(name: &str, args: Value) -> Result<CallToolRequestParams> {
    let params = CallToolRequestParams::new(name.to_owned());
    match args {
        Value::Null => Ok(params),
        Value::Object(map) => Ok(params.with_arguments(map)),
        other => bail!("tool arguments must be a JSON object, got {other}"),
    }
}
