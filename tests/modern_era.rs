//! Protocol 2026-07-28 through the gateway: a modern client (raw JSON-RPC with the per-request envelope, and the
//! Python `mcp` SDK pinned to 2026-07-28) in front of legacy and modern-capable servers.

mod support;

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{json, Value};
use support::*;

/// The modern envelope with `caps` as client capabilities.
fn meta(caps: Value) -> Value {
    json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": caps,
        "io.modelcontextprotocol/clientInfo": {"name": "modern-harness", "version": "1"},
    })
}

async fn modern(gw: &mut Gateway, method: &str, mut params: Value) -> Value {
    params["_meta"] = meta(json!({"sampling": {}, "elicitation": {}}));
    gw.request(method, params).await
}

#[tokio::test]
async fn a_modern_client_discovers_lists_calls_and_listens_through_the_gateway() {
    let ws = Workspace::new();
    let mut gw = Gateway::start(&ws.config(&fixture_server("fx", "app", ""))).await;

    let disc = modern(&mut gw, "server/discover", json!({})).await;
    let r = &disc["result"];
    assert!(r["supportedVersions"].as_array().unwrap().contains(&json!("2026-07-28")), "{disc}");
    assert_eq!(
        (r["resultType"].as_str(), r["ttlMs"].as_u64(), r["cacheScope"].as_str()),
        (Some("complete"), Some(0), Some("private"))
    );
    assert_eq!(r["_meta"]["io.modelcontextprotocol/serverInfo"]["name"], "dfs-gateway");
    assert!(r["capabilities"]["tools"].is_object());

    let list = modern(&mut gw, "tools/list", json!({})).await;
    assert_eq!(list["result"]["resultType"], "complete", "{list}");
    assert_eq!(list["result"]["cacheScope"], "private");
    assert!(list["result"]["tools"].as_array().unwrap().iter().any(|t| t["name"] == "app__fx__echo"));

    // A legacy server's result is completed for the modern client.
    let call = modern(&mut gw, "tools/call", json!({"name": "app__fx__echo", "arguments": {"message": "m"}})).await;
    assert_eq!(call["result"]["resultType"], "complete", "{call}");
    assert_eq!(call["result"]["content"][0]["text"], "m");
    assert!(call["result"].get("ttlMs").is_none(), "tool results carry no cache hints");

    // Envelope errors and removed methods.
    let missing =
        gw.request("tools/list", json!({"_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28"}})).await;
    assert_eq!(missing["error"]["code"], -32602, "{missing}");
    let old = gw
        .request(
            "tools/list",
            json!({"_meta": {"io.modelcontextprotocol/protocolVersion": "1999-01-01", "io.modelcontextprotocol/clientCapabilities": {}}}),
        )
        .await;
    assert_eq!(old["error"]["code"], -32022, "{old}");
    assert_eq!(old["error"]["data"]["requested"], "1999-01-01");
    assert!(old["error"]["data"]["supported"].as_array().unwrap().contains(&json!("2026-07-28")));
    let ping = modern(&mut gw, "ping", json!({})).await;
    assert_eq!(ping["error"]["code"], -32601, "{ping}");

    // subscriptions/listen: acknowledged, then list changes arrive tagged with the listen id, until cancelled.
    gw.send(&json!({"jsonrpc": "2.0", "id": "listen-1", "method": "subscriptions/listen",
        "params": {"_meta": meta(json!({})), "notifications": {"toolsListChanged": true}}}))
        .await;
    let ack = gw.notification("notifications/subscriptions/acknowledged", DEADLINE).await.expect("ack");
    assert_eq!(ack["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"], "listen-1");
    assert_eq!(ack["params"]["notifications"]["toolsListChanged"], true);
    modern(&mut gw, "tools/call", json!({"name": "app__fx__add_tool", "arguments": {"name": "later"}})).await;
    let changed =
        gw.notification("notifications/tools/list_changed", DEADLINE).await.expect("list_changed on the stream");
    assert_eq!(changed["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"], "listen-1");
    gw.notify("notifications/cancelled", json!({"requestId": "listen-1"})).await;
    modern(&mut gw, "tools/call", json!({"name": "app__fx__add_tool", "arguments": {"name": "later2"}})).await;
    assert!(gw.notification("notifications/tools/list_changed", Duration::from_millis(500)).await.is_none());
    assert!(
        gw.recv_matching(Duration::from_millis(200), |m| m["id"] == "listen-1").await.is_none(),
        "a listen gets no response"
    );
}

#[tokio::test]
async fn a_legacy_server_asking_a_modern_client_goes_through_input_required_and_a_retry() {
    let Some(everything) = npm_server("server-everything") else { return };
    let ws = Workspace::new();
    let body = format!(
        "[servers.everything]\nnamespace = \"app\"\ncommand = \"node\"\nargs = [\"{}\", \"stdio\"]\n",
        everything.display()
    );
    let mut gw = Gateway::start(&ws.config(&body)).await;
    // The first request's capabilities are what the server is initialized with: it then offers sampling tools.
    let tool = "app__everything__trigger-sampling-request";
    let until = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let list = modern(&mut gw, "tools/list", json!({})).await;
        if list["result"]["tools"].as_array().unwrap().iter().any(|t| t["name"] == tool)
            || std::time::Instant::now() > until
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Prompts and resources of a legacy server, for a modern client: completed with the modern members.
    let prompts = modern(&mut gw, "prompts/list", json!({})).await;
    assert_eq!(prompts["result"]["resultType"], "complete", "{prompts}");
    assert!(prompts["result"]["prompts"].to_string().contains("app__everything__args-prompt"));
    let prompt = modern(
        &mut gw,
        "prompts/get",
        json!({"name": "app__everything__args-prompt", "arguments": {"city": "Denver"}}),
    )
    .await;
    assert_eq!(prompt["result"]["resultType"], "complete", "{prompt}");
    assert!(prompt["result"]["messages"].to_string().contains("Denver"));
    let doc = "demo://resource/static/document/architecture.md";
    let read = modern(&mut gw, "resources/read", json!({"uri": doc})).await;
    let r = &read["result"];
    assert_eq!((r["resultType"].as_str(), r["cacheScope"].as_str()), (Some("complete"), Some("private")), "{read}");
    assert_eq!(r["contents"][0]["uri"], doc);

    let args = json!({"prompt": "name a fantasy lineup", "maxTokens": 20});
    let first = modern(&mut gw, "tools/call", json!({"name": tool, "arguments": args})).await;
    let r = &first["result"];
    assert_eq!(r["resultType"], "input_required", "{first}");
    let (key, request) =
        r["inputRequests"].as_object().unwrap().iter().next().map(|(k, v)| (k.clone(), v.clone())).unwrap();
    assert_eq!(request["method"], "sampling/createMessage");
    assert!(request["params"].to_string().contains("name a fantasy lineup"), "{request}");
    let state = r["requestState"].as_str().unwrap().to_owned();

    // A forged state is refused.
    let forged =
        modern(&mut gw, "tools/call", json!({"name": tool, "arguments": args, "requestState": "dfs1.ff.ff"})).await;
    assert_eq!(forged["error"]["code"], -32602, "{forged}");

    let answer = json!({"role": "assistant", "content": {"type": "text", "text": "Mahomes, Kelce"}, "model": "test-model", "stopReason": "endTurn"});
    let retry = modern(
        &mut gw,
        "tools/call",
        json!({"name": tool, "arguments": args, "inputResponses": {key: answer}, "requestState": state}),
    )
    .await;
    assert_eq!(retry["result"]["resultType"], "complete", "{retry}");
    let text = retry["result"]["content"][0]["text"].as_str().unwrap();
    assert!(text.contains("Mahomes, Kelce"), "{text}");

    // The state was used up.
    let again = modern(
        &mut gw,
        "tools/call",
        json!({"name": tool, "arguments": args, "inputResponses": {}, "requestState": state}),
    )
    .await;
    assert_eq!(again["error"]["code"], -32602);
}

/// The Python SDK client, pinned to `mode`, lists and calls through the gateway.
async fn python_client(mode: &str, cfg: &std::path::Path, calls: &[(&str, &str)]) -> Value {
    let python = venv_bin("python").expect("checked by the caller");
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/mcp_client.py");
    let mut cmd = tokio::process::Command::new(python);
    cmd.arg(script).args(["--mode", mode, "--timeout", "60"]);
    for (tool, args) in calls {
        cmd.args(["--call", tool, "--args", args]);
    }
    cmd.args(["--env", "LOG_LEVEL=warn", "--"]).arg(gateway_bin()).args(["serve", "--config"]).arg(cfg);
    let out = cmd.output().await.expect("run the python client");
    assert!(out.status.success(), "python client ({mode}) failed:\n{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("one JSON report")
}

#[tokio::test]
async fn python_sdk_in_both_eras_through_the_gateway_to_modern_capable_and_legacy_servers() {
    let (Some(time), Some(git), Some(memory), Some(_)) =
        (venv_bin("mcp-server-time"), venv_bin("mcp-server-git"), npm_server("server-memory"), venv_bin("python"))
    else {
        return;
    };
    let ws = Workspace::new();
    let repo = ws.file("repo");
    std::fs::create_dir_all(&repo).unwrap();
    let git_ok = std::process::Command::new("git").args(["init", "-q"]).arg(&repo).status().unwrap();
    assert!(git_ok.success());
    let body = format!(
        "[servers.time]\nnamespace = \"ext\"\ncommand = \"{}\"\nargs = [\"--local-timezone\", \"UTC\"]\n\n\
         [servers.git]\nnamespace = \"ext\"\ncommand = \"{}\"\nargs = [\"--repository\", \"{}\"]\n\n\
         [servers.memory]\nnamespace = \"app\"\ncommand = \"node\"\nargs = [\"{}\"]\nenv = {{ MEMORY_FILE_PATH = \"{}\" }}\n",
        time.display(),
        git.display(),
        repo.display(),
        memory.display(),
        ws.file("memory.jsonl").display()
    );
    let cfg = ws.config(&body);
    let calls = [
        ("ext__time__get_current_time", r#"{"timezone":"UTC"}"#),
        ("ext__git__git_status", &format!(r#"{{"repo_path":"{}"}}"#, repo.display()) as &str),
        ("app__memory__read_graph", "{}"),
    ];
    for mode in ["2026-07-28", "legacy", "auto"] {
        let report = python_client(mode, &cfg, &calls).await;
        let expected = if mode == "legacy" { "2025-11-25" } else { "2026-07-28" };
        assert_eq!(report["protocol"], expected, "{mode}: {report}");
        let tools: Vec<&str> = report["tools"].as_array().unwrap().iter().map(|t| t.as_str().unwrap()).collect();
        for t in ["ext__time__convert_time", "ext__git__git_log", "app__memory__create_entities"] {
            assert!(tools.contains(&t), "{mode}: {t} missing from {tools:?}");
        }
        let results = report["calls"].as_array().unwrap();
        assert_eq!(results[0]["structured"]["timezone"], "UTC", "{mode}: {}", results[0]);
        assert_eq!(results[1]["is_error"], false, "{mode}: {}", results[1]);
        assert!(results[1]["text"].as_str().unwrap().contains("branch"), "{mode}: {}", results[1]);
        assert_eq!(results[2]["structured"], json!({"entities": [], "relations": []}), "{mode}: {}", results[2]);
    }
    // Each server was spoken to in its own era, and the era is remembered for the next start.
    for (server, era) in [("time", "modern"), ("git", "modern"), ("memory", "legacy")] {
        let catalog: Value =
            serde_json::from_slice(&std::fs::read(ws.file(&format!("state/catalog/{server}.json"))).unwrap()).unwrap();
        assert_eq!(catalog["era"], era, "{server}");
    }
}

#[path = "support/rmcp_client.rs"]
mod rmcp_client;

#[tokio::test]
async fn a_modern_server_asking_a_legacy_client_gets_its_answers_through_ordinary_requests() {
    let Some(python) = venv_bin("python") else { return };
    let ws = Workspace::new();
    let server = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/mrtr_server.py");
    let body = format!(
        "[servers.mrtr]\nnamespace = \"app\"\ncommand = \"{}\"\nargs = [\"{}\"]\n",
        python.display(),
        server.display()
    );
    let cfg = ws.config(&body);
    let options = rmcp_client::ClientOptions {
        elicitation: Some("accept".into()),
        elicitation_content: Some(json!({"name": "octocat"})),
        sampling_reply: Some("a protocol for tools".into()),
        quiet_stderr: true,
        ..Default::default()
    };
    let client = rmcp_client::connect_gateway(gateway_bin(), &cfg, options).await.expect("connect");
    assert_eq!(client.protocol_version().as_deref(), Some("2025-11-25"));
    let out = client.call("app__mrtr__ask", json!({"topic": "MCP"})).await.unwrap();
    assert!(!out.is_error, "{}", out.text);
    assert!(out.text.contains("octocat"), "{}", out.text);
    assert!(out.text.contains("a protocol for tools"), "{}", out.text);
    assert!(out.text.contains("state=round-1"), "the server's own requestState is echoed: {}", out.text);
    let methods: Vec<String> = client.server_requests().into_iter().map(|r| r.method).collect();
    assert!(
        methods.contains(&"elicitation/create".to_owned()) && methods.contains(&"sampling/createMessage".to_owned()),
        "{methods:?}"
    );
    client.close().await.unwrap();
}
