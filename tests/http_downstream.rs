//! Streamable HTTP downstreams: real HTTP MCP servers (npm server-everything in `streamableHttp` mode, the Python
//! SDK in both eras, an rmcp server started here) behind the real gateway binary, driven over its stdio front;
//! and per-client sessions through the in-process actor tree with two client sessions.

mod support;

use std::borrow::Cow;
use std::collections::HashSet;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ListToolsResult, PaginatedRequestParams,
    ProtocolVersion, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler};
use serde_json::{json, Value};
use support::*;
use tokio::net::TcpListener;
use tokio::process::{Child, Command};

// ---------------------------------------------------------------------------------------------------------------
// An rmcp Streamable HTTP server (2025-11-25, sessions), with knobs the tests turn.

/// What the test controls in its rmcp server.
#[derive(Default)]
struct Knobs {
    /// Headers every request must carry (name, value); otherwise 401.
    required: Vec<(String, String)>,
    /// Header values seen, by name (to show what reached the server).
    seen: Mutex<Vec<(String, String)>>,
    /// Numbers the sessions the server has opened.
    sessions: AtomicU64,
    /// The tools called, in order.
    called: Mutex<Vec<String>>,
}

struct TestServer {
    /// This session's number.
    number: u64,
    knobs: Arc<Knobs>,
}

fn tool(name: &str, read_only: bool) -> Tool {
    serde_json::from_value(json!({
        "name": name,
        "inputSchema": {"type": "object"},
        "annotations": {"readOnlyHint": read_only},
    }))
    .unwrap()
}

impl ServerHandler for TestServer {
    fn get_info(&self) -> ServerConfig {
        serde_json::from_value(json!({
            "protocolVersion": "2025-11-25",
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "rmcp-http", "version": "1"},
        }))
        .unwrap()
    }

    fn supported_protocol_versions(&self) -> Cow<'static, [ProtocolVersion]> {
        Cow::Borrowed(ProtocolVersion::known_up_to(&ProtocolVersion::V_2025_11_25))
    }

    async fn list_tools(
        &self,
        _: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let tools = vec![
            tool("lookup", true),
            tool("write", false),
            tool("session_no", true),
            tool("hang", false),
            tool("boom500", false),
            tool("garbage", false),
        ];
        Ok(serde_json::from_value(json!({ "tools": tools })).unwrap())
    }

    async fn call_tool(
        &self,
        req: CallToolRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        self.knobs.called.lock().unwrap().push(req.name.to_string());
        let text = match &*req.name {
            "lookup" => "looked up".to_owned(),
            "write" => "written".to_owned(),
            "session_no" => format!("session {}", self.number),
            "hang" => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                "never".to_owned()
            }
            other => format!("unexpected {other}"),
        };
        Ok(CallToolResult::success(vec![ContentBlock::text(text)]).into())
    }
}

/// A running rmcp HTTP server on 127.0.0.1.
struct RmcpHttp {
    port: u16,
    knobs: Arc<Knobs>,
    sessions: Arc<LocalSessionManager>,
    task: tokio::task::JoinHandle<()>,
}

impl RmcpHttp {
    async fn start(knobs: Knobs) -> RmcpHttp {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::serve(listener, Arc::new(knobs))
    }

    fn serve(listener: TcpListener, knobs: Arc<Knobs>) -> RmcpHttp {
        let port = listener.local_addr().unwrap().port();
        let sessions = Arc::new(LocalSessionManager::default());
        let factory_knobs = knobs.clone();
        let config = StreamableHttpServerConfig::default().with_legacy_session_mode(true);
        let service = StreamableHttpService::new(
            move || {
                let number = factory_knobs.sessions.fetch_add(1, Ordering::SeqCst) + 1;
                Ok(TestServer { number, knobs: factory_knobs.clone() })
            },
            sessions.clone(),
            config,
        );
        let k = knobs.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { return };
                let (service, knobs) = (service.clone(), k.clone());
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                        let (service, knobs) = (service.clone(), knobs.clone());
                        async move { Ok::<_, std::convert::Infallible>(answer(&service, &knobs, req).await) }
                    });
                    let io = hyper_util::rt::TokioIo::new(stream);
                    let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, svc).await;
                });
            }
        });
        RmcpHttp { port, knobs, sessions, task }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/mcp", self.port)
    }

    /// Forgets every session, as a restarted server would.
    async fn forget_sessions(&self) {
        self.sessions.sessions.write().await.clear();
    }

    async fn open_sessions(&self) -> usize {
        self.sessions.sessions.read().await.len()
    }
}

impl Drop for RmcpHttp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type Body = http_body_util::combinators::BoxBody<Bytes, std::convert::Infallible>;

async fn answer(
    service: &StreamableHttpService<TestServer, LocalSessionManager>,
    knobs: &Knobs,
    req: hyper::Request<hyper::body::Incoming>,
) -> hyper::Response<Body> {
    let plain = |status: u16, ctype: &str, body: &str| {
        hyper::Response::builder()
            .status(status)
            .header("content-type", ctype)
            .body(Full::new(Bytes::from(body.to_owned())).boxed())
            .unwrap()
    };
    for (name, value) in req.headers() {
        if name.as_str().starts_with("x-") || name == "authorization" {
            knobs.seen.lock().unwrap().push((name.to_string(), value.to_str().unwrap_or("").to_owned()));
        }
    }
    for (name, value) in &knobs.required {
        if req.headers().get(name.as_str()).and_then(|v| v.to_str().ok()) != Some(value.as_str()) {
            return plain(401, "text/plain", "missing credentials");
        }
    }
    let (parts, body) = req.into_parts();
    let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let text = String::from_utf8_lossy(&body);
    if text.contains("\"name\":\"boom500\"") {
        return plain(500, "text/plain", "internal trouble");
    }
    if text.contains("\"name\":\"garbage\"") {
        return plain(200, "application/json", "<html>this is not JSON</html>");
    }
    service.handle(hyper::Request::from_parts(parts, Full::new(body))).await
}

// ---------------------------------------------------------------------------------------------------------------
// Helpers.

fn http_server(name: &str, namespace: &str, url: &str, extra: &str) -> String {
    format!("[servers.{name}]\nnamespace = \"{namespace}\"\nurl = \"{url}\"\n{extra}\n")
}

async fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap().port()
}

/// Waits until something accepts connections on `port`.
async fn wait_listening(port: u16) -> bool {
    let until = std::time::Instant::now() + DEADLINE;
    while std::time::Instant::now() < until {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// server-everything in `streamableHttp` mode on `port`, bound to 127.0.0.1 (see tests/support/loopback.cjs).
async fn everything_http(script: &PathBuf, port: u16) -> Child {
    let preload = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support/loopback.cjs");
    let child = Command::new("node")
        .arg("-r")
        .arg(preload)
        .arg(script)
        .arg("streamableHttp")
        .env("PORT", port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start server-everything");
    assert!(wait_listening(port).await, "server-everything did not listen on {port}");
    child
}

fn error_message(resp: &Value) -> String {
    resp["error"]["message"].as_str().unwrap_or_else(|| panic!("expected an error, got {resp}")).to_owned()
}

async fn wait_for_tool(gw: &mut Gateway, name: &str) -> Vec<String> {
    let until = std::time::Instant::now() + DEADLINE;
    loop {
        let names = gw.tool_names().await;
        if names.iter().any(|n| n == name) || std::time::Instant::now() > until {
            return names;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Tests.

/// Legacy era over HTTP with server-everything: lists, a call, progress and a sampling request reaching the
/// client and its answer reaching the server; then the server restarts (it forgets the session, and says so with
/// a 400), the gateway opens a new session and the next calls work.
#[tokio::test]
async fn everything_over_http_lists_calls_progress_and_sampling() {
    let Some(script) = npm_server("server-everything") else { return };
    let port = free_port().await;
    let mut everything = everything_http(&script, port).await;
    let ws = Workspace::new();
    let config = ws.config(&http_server("ev", "app", &format!("http://127.0.0.1:{port}/mcp"), ""));
    let mut gw = Gateway::start(&config).await;
    gw.initialize_with(json!({"sampling": {}})).await;

    let names = wait_for_tool(&mut gw, "app__ev__trigger-sampling-request").await;
    assert!(names.contains(&"app__ev__echo".to_owned()), "{names:?}");
    assert_eq!(gw.call_text("app__ev__echo", json!({"message": "over http"})).await, "Echo: over http");

    // Progress with the client's own token.
    let args = json!({"name": "app__ev__trigger-long-running-operation", "arguments": {"duration": 1, "steps": 3},
                      "_meta": {"progressToken": "tok-1"}});
    gw.send(&json!({"jsonrpc": "2.0", "id": 900, "method": "tools/call", "params": args})).await;
    let done = gw.response(json!(900)).await;
    assert!(done["result"]["content"].is_array(), "{done}");
    let mut progress = 0;
    while let Some(p) = gw.recv_matching(Duration::from_millis(200), |m| m["method"] == "notifications/progress").await
    {
        assert_eq!(p["params"]["progressToken"], "tok-1", "{p}");
        progress += 1;
    }
    assert_eq!(progress, 3);

    // A server→client request comes over the server's SSE stream and its answer is POSTed back.
    let call = json!({"name": "app__ev__trigger-sampling-request", "arguments": {"prompt": "hello", "maxTokens": 5}});
    gw.send(&json!({"jsonrpc": "2.0", "id": 901, "method": "tools/call", "params": call})).await;
    let ask = gw.recv_matching(DEADLINE, |m| m["method"] == "sampling/createMessage").await.expect("sampling request");
    gw.send(&json!({"jsonrpc": "2.0", "id": ask["id"], "result": {
        "role": "assistant", "content": {"type": "text", "text": "sampled over http"}, "model": "test-model"}}))
        .await;
    let out = gw.response(json!(901)).await;
    assert!(out.to_string().contains("sampled over http"), "{out}");

    // The server restarts: the old session is gone. A call that is not safe to repeat is answered with a clear
    // error; the gateway has opened a new session, and the next call works.
    everything.kill().await.unwrap();
    let _everything = everything_http(&script, port).await;
    let first = gw.call("app__ev__echo", json!({"message": "after restart"})).await;
    if first.get("error").is_some() {
        assert!(error_message(&first).contains("session expired"), "{first}");
    }
    assert_eq!(gw.call_text("app__ev__echo", json!({"message": "again"})).await, "Echo: again");
    assert!(gw.stderr().contains("initializing a new one"), "{}", gw.stderr());
}

/// The modern era over HTTP (the Python SDK answers `server/discover`): stateless POSTs with the headers the
/// server checks against the body, and progress on the call's SSE stream.
#[tokio::test]
async fn a_modern_python_server_over_http() {
    let Some(python) = venv_bin("python") else { return };
    let port = free_port().await;
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/http_server.py");
    let _server = Command::new(python)
        .arg(script)
        .arg(port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    assert!(wait_listening(port).await);
    let ws = Workspace::new();
    let config = ws.config(&http_server("py", "ext", &format!("http://127.0.0.1:{port}/mcp"), "lazy = false"));
    let mut gw = Gateway::start(&config).await;
    gw.initialize().await;
    let names = wait_for_tool(&mut gw, "ext__py__echo").await;
    assert!(names.contains(&"ext__py__count".to_owned()), "{names:?}");
    assert_eq!(gw.call_text("ext__py__echo", json!({"message": "modern"})).await, "py echo: modern");
    let params = json!({"name": "ext__py__count", "arguments": {"to": 4}, "_meta": {"progressToken": 77}});
    gw.send(&json!({"jsonrpc": "2.0", "id": 500, "method": "tools/call", "params": params})).await;
    let out = gw.response(json!(500)).await;
    assert_eq!(result_text(&out), "counted to 4");
    let mut seen = 0;
    while gw.recv_matching(Duration::from_millis(200), |m| m["params"]["progressToken"] == 77).await.is_some() {
        seen += 1;
    }
    assert_eq!(seen, 4);
    let log = gw.stderr();
    assert!(log.contains("\"protocol\":\"2026-07-28\""), "the server was not spoken to in the modern era:\n{log}");
}

/// The rmcp server forgets its sessions (404): the gateway initializes a new one without disturbing the client
/// or the other server; a read-only call is repeated transparently, a call that is not safe to repeat gets an
/// error that says what happened, and the next one works.
#[tokio::test]
async fn an_expired_session_is_reinitialized_and_a_safe_call_retried_once() {
    let server = RmcpHttp::start(Knobs::default()).await;
    let ws = Workspace::new();
    let config =
        ws.config(&format!("{}{}", http_server("rm", "app", &server.url(), ""), fixture_server("fx", "app", "")));
    let mut gw = Gateway::start(&config).await;
    gw.initialize().await;
    wait_for_tool(&mut gw, "app__rm__lookup").await;
    // Distinct arguments: read-only results are cached by the gateway, and these calls must reach the server.
    assert_eq!(gw.call_text("app__rm__lookup", json!({"n": 1})).await, "looked up");
    assert_eq!(server.open_sessions().await, 1);

    server.forget_sessions().await;
    assert_eq!(gw.call_text("app__rm__lookup", json!({"n": 2})).await, "looked up");
    assert_eq!(server.open_sessions().await, 1, "one new session, not more");

    server.forget_sessions().await;
    let refused = gw.call("app__rm__write", json!({})).await;
    assert!(error_message(&refused).contains("session expired"), "{refused}");
    assert_eq!(gw.call_text("app__rm__write", json!({})).await, "written");
    // The other server and the client's session were not disturbed.
    assert_eq!(gw.call_text("app__fx__echo", json!({"message": "still here"})).await, "still here");
    let calls = server.knobs.called.lock().unwrap().clone();
    assert_eq!(calls, ["lookup", "lookup", "write"], "the refused calls never ran");
}

/// Configured headers and a bearer token from the gateway's environment reach the server (it refuses requests
/// without them) and never appear in the gateway's log, even at debug level.
#[tokio::test]
async fn headers_and_bearer_from_env_reach_the_server_and_stay_out_of_logs() {
    let token = "tok-9f8e7d6c5b4a";
    let key = "key-0a1b2c3d4e5f";
    let knobs = Knobs {
        required: vec![("authorization".into(), format!("Bearer {token}")), ("x-api-key".into(), key.into())],
        ..Knobs::default()
    };
    let server = RmcpHttp::start(knobs).await;
    let ws = Workspace::new();
    let extra = "headers = { \"X-Api-Key\" = \"${RM_KEY}\", \"X-Static\" = \"plain\" }\nbearer_env = \"RM_TOKEN\"";
    let config = ws.config(&http_server("rm", "app", &server.url(), extra));
    let mut gw = Gateway::start_with(&config, &[("RM_TOKEN", token), ("RM_KEY", key)]).await;
    gw.initialize().await;
    wait_for_tool(&mut gw, "app__rm__lookup").await;
    assert_eq!(gw.call_text("app__rm__lookup", json!({})).await, "looked up");
    let seen: HashSet<(String, String)> = server.knobs.seen.lock().unwrap().iter().cloned().collect();
    assert!(seen.contains(&("x-static".into(), "plain".into())), "{seen:?}");
    assert!(seen.contains(&("x-api-key".into(), key.into())));
    let log = gw.stderr();
    assert!(!log.contains(token) && !log.contains(key), "a secret reached the log:\n{log}");

    // Without the token the server refuses: the error says so, and still shows no secret.
    let ws2 = Workspace::new();
    let config = ws2.config(&http_server("rm", "app", &server.url(), extra));
    let mut gw2 = Gateway::start_with(&config, &[("RM_KEY", key)]).await;
    gw2.initialize().await;
    let resp = gw2.call("app.rm.lookup", json!({})).await;
    assert!(resp.get("error").is_some(), "{resp}");
    let log = gw2.stderr();
    assert!(log.contains("bearer_env names a variable that is not set"), "{log}");
    assert!(log.contains("401"), "{log}");
    assert!(!log.contains(key), "a secret reached the log:\n{log}");
}

/// A server that is down, one whose calls hang, one that answers 500 or garbage: each call gets a clear error
/// naming the server, repeated failures open the circuit, and the gateway goes on serving.
#[tokio::test]
async fn down_hanging_and_broken_servers_get_clear_errors_and_the_gateway_survives() {
    let server = RmcpHttp::start(Knobs::default()).await;
    let down = free_port().await; // nothing listens there
    let ws = Workspace::new();
    let config = ws.config(&format!(
        "{}{}",
        http_server("rm", "app", &server.url(), "timeout = \"500ms\"\ncircuit_failures = 3\ncircuit_cooldown = \"1m\""),
        http_server("gone", "app", &format!("http://127.0.0.1:{down}/mcp"), "start_timeout = \"2s\"")
    ));
    let mut gw = Gateway::start(&config).await;
    gw.initialize().await;
    wait_for_tool(&mut gw, "app__rm__lookup").await;

    let hung = gw.call("app__rm__hang", json!({})).await;
    assert!(error_message(&hung).contains("did not answer within 500ms"), "{hung}");
    let e500 = gw.call("app__rm__boom500", json!({})).await;
    let msg = error_message(&e500);
    assert!(msg.contains("app.rm") && msg.contains("500") && msg.contains("internal trouble"), "{e500}");
    let garbage = gw.call("app__rm__garbage", json!({})).await;
    assert!(error_message(&garbage).contains("not JSON-RPC"), "{garbage}");
    // Three failures in a row: the circuit is open and calls fail fast.
    let fast = gw.call("app__rm__lookup", json!({})).await;
    assert_eq!(fast["error"]["code"], -32005, "{fast}");

    // The server that is down: its tools are unknown (it never listed any); a call by canonical name says why.
    let gone = gw.call("app.gone.anything", json!({})).await;
    assert!(gone.get("error").is_some(), "{gone}");
    let log = gw.stderr();
    assert!(log.contains(&format!("127.0.0.1:{down}")) && log.contains("cannot be reached"), "{log}");

    // Still serving.
    let pong = gw.request("ping", json!({})).await;
    assert_eq!(pong["result"], json!({}));
}

/// `session = "per_client"`: each client session gets a downstream session of its own (its calls land there),
/// and the downstream session ends when the client's does. In shared mode both clients share one.
#[tokio::test]
async fn per_client_sessions_keep_clients_apart() {
    for (mode, separate) in [("per_client", true), ("shared", false)] {
        let server = RmcpHttp::start(Knobs::default()).await;
        let ws = Workspace::new();
        let path = ws.config(&http_server("rm", "app", &server.url(), &format!("session = \"{mode}\"")));
        let config = dfs_gateway::config::Config::load_with_process_env(Some(&path)).unwrap();
        let gw = dfs_gateway::actors::gateway::start(dfs_gateway::actors::gateway::GatewayArgs::new(
            Arc::new(config),
            dfs_gateway::policy::PolicySet::empty(dfs_gateway::policy::Action::Allow),
            Arc::new(dfs_gateway::dispatch::Services::embedded()),
        ))
        .await
        .unwrap();
        gw.shared.wait_ready().await;
        let mut a = InProcessClient::open(&gw.shared);
        let mut b = InProcessClient::open(&gw.shared);
        let a1 = a.call("app__rm__session_no").await;
        let b1 = b.call("app__rm__session_no").await;
        let a2 = a.call("app__rm__session_no").await;
        assert_eq!(a1, a2, "{mode}: one client's calls stay in one session");
        assert_eq!(a1 != b1, separate, "{mode}: a={a1} b={b1}");
        if separate {
            // The gateway's own session plus one per client.
            assert_eq!(server.open_sessions().await, 3);
            drop(a);
            let mut left = 3;
            for _ in 0..100 {
                left = server.open_sessions().await;
                if left == 2 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            assert_eq!(left, 2, "the closed client's downstream session was not ended");
            assert_eq!(b.call("app__rm__session_no").await, b1);
        } else {
            assert_eq!(server.open_sessions().await, 1);
        }
        gw.stop().await;
    }
}

/// A client session inside the test process, talking to the gateway's actor tree.
struct InProcessClient {
    session: dfs_gateway::session::Session,
    rx: tokio::sync::mpsc::UnboundedReceiver<Bytes>,
    next: u64,
}

impl InProcessClient {
    fn open(shared: &Arc<dfs_gateway::session::Shared>) -> Self {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let session = dfs_gateway::session::Session::new(shared.clone(), tx);
        let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "in-process", "version": "1"}}});
        session.handle_line(init.to_string().as_bytes());
        session.handle_line(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
        InProcessClient { session, rx, next: 1 }
    }

    /// Calls a tool and returns the text of its result.
    async fn call(&mut self, tool: &str) -> String {
        self.next += 1;
        let id = self.next;
        let req =
            json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": tool, "arguments": {}}});
        self.session.handle_line(req.to_string().as_bytes());
        loop {
            let frame = tokio::time::timeout(DEADLINE, self.rx.recv()).await.expect("answer in time").expect("open");
            let msg: Value = serde_json::from_slice(&frame).unwrap();
            if msg["id"] == json!(id) {
                return result_text(&msg);
            }
        }
    }
}
