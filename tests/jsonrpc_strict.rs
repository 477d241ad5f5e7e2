//! JSON-RPC strictness at both fronts of the real gateway: a JSON array is neither a positional request nor an
//! accepted batch (-32600: neither 2025-11-25 nor 2026-07-28 has batches), `"jsonrpc": "2.0"` is required, ids
//! are strings or integers. Each refusal is answered with the reason, nothing runs, and the session goes on.

mod support;

use serde_json::{json, Value};
use support::*;
use tokio::process::Command;

/// (frame, the id the error answer carries). Every one of them is answered -32600 and runs nothing.
fn invalid_frames() -> Vec<(&'static str, Value)> {
    vec![
        // serde reads an array onto a struct by position: this was a `tools/call` of the counter.
        (r#"[null, 41, "tools/call", {"name": "app__fx__counter", "arguments": {}}]"#, Value::Null),
        (r#"[41, "tools/call", {"name": "app__fx__counter", "arguments": {}}]"#, Value::Null),
        (
            r#"[{"jsonrpc":"2.0","id":42,"method":"tools/call","params":{"name":"app__fx__counter","arguments":{}}}]"#,
            Value::Null,
        ),
        (r#"{"id":43,"method":"tools/call","params":{"name":"app__fx__counter","arguments":{}}}"#, json!(43)),
        (
            r#"{"jsonrpc":"1.0","id":44,"method":"tools/call","params":{"name":"app__fx__counter","arguments":{}}}"#,
            json!(44),
        ),
        (
            r#"{"jsonrpc":"2.0","id":4.5,"method":"tools/call","params":{"name":"app__fx__counter","arguments":{}}}"#,
            Value::Null,
        ),
        (
            r#"{"jsonrpc":"2.0","id":true,"method":"tools/call","params":{"name":"app__fx__counter","arguments":{}}}"#,
            Value::Null,
        ),
        (
            r#"{"jsonrpc":"2.0","id":{"n":46},"method":"tools/call","params":{"name":"app__fx__counter","arguments":{}}}"#,
            Value::Null,
        ),
        (
            r#"{"jsonrpc":"2.0","id":null,"method":"tools/call","params":{"name":"app__fx__counter","arguments":{}}}"#,
            Value::Null,
        ),
    ]
}

#[tokio::test]
async fn stdio_refuses_arrays_bad_versions_and_bad_ids_and_runs_nothing() {
    let ws = Workspace::new();
    let mut gw = Gateway::start(&ws.config(&fixture_server("fx", "app", ""))).await;
    gw.initialize().await;
    for (frame, id) in invalid_frames() {
        gw.send_raw(frame).await;
        let answer = gw
            .recv_matching(DEADLINE, |m| m.get("error").is_some())
            .await
            .unwrap_or_else(|| panic!("no answer to {frame}; log:\n{}", gw.stderr()));
        assert_eq!(answer["error"]["code"], -32600, "{frame}: {answer}");
        assert_eq!(answer["id"], id, "{frame}: {answer}");
        assert_eq!(answer["jsonrpc"], "2.0");
    }
    // Nothing ran: the counter's first increment is 1, and the session goes on.
    assert_eq!(gw.call_text("app__fx__counter", json!({})).await, "1");
    let pong = gw.request("ping", json!({})).await;
    assert_eq!(pong["result"], json!({}), "{pong}");
}

#[tokio::test]
async fn http_refuses_the_same_in_both_eras_with_400() {
    let ws = Workspace::new();
    let cfg = ws.config(&format!(
        "[front.stdio]\nenabled = false\n\n[front.http]\nenabled = true\nlisten = \"127.0.0.1:0\"\n\n{}",
        fixture_server("fx", "app", "")
    ));
    let log = cfg.with_extension("stderr.log");
    let _child = serve_quietly(Command::new(gateway_bin()), &cfg, &log)
        .env("LOG_LEVEL", "info")
        .spawn()
        .expect("spawn dfs-gateway");
    let mut addr = None;
    assert!(
        eventually(DEADLINE, || {
            addr = std::fs::read_to_string(&log).ok().and_then(|t| {
                t.lines().filter_map(|l| serde_json::from_str::<Value>(l).ok()).find_map(|v| {
                    (v["fields"]["message"] == "mcp http front listening")
                        .then(|| v["fields"]["addr"].as_str().map(str::to_owned))?
                })
            });
            addr.is_some()
        })
        .await
    );
    let url = format!("http://{}/mcp", addr.unwrap());
    let http = reqwest::Client::new();
    let post = |body: String, headers: Vec<(&'static str, String)>| {
        let mut req = http
            .post(&url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(body);
        for (k, v) in headers {
            req = req.header(k, v);
        }
        async move {
            let resp = req.send().await.expect("HTTP");
            let status = resp.status().as_u16();
            let sid = resp.headers().get("mcp-session-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
            let text = resp.text().await.unwrap();
            let value: Value = text
                .lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .find_map(|d| serde_json::from_str(d.trim()).ok())
                .or_else(|| serde_json::from_str(&text).ok())
                .unwrap_or(Value::Null);
            (status, sid, value)
        }
    };
    let init = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"strict","version":"1"}}}"#;
    let (_, sid, _) = post(init.into(), vec![]).await;
    let sid = sid.expect("a session");
    let modern = vec![("mcp-protocol-version", "2026-07-28".to_owned()), ("mcp-method", "tools/call".to_owned())];
    for headers in [vec![("mcp-session-id", sid.clone())], modern] {
        for (frame, id) in invalid_frames() {
            let (status, _, answer) = post(frame.to_owned(), headers.clone()).await;
            assert_eq!(status, 400, "{frame}: {answer}");
            assert_eq!(answer["error"]["code"], -32600, "{frame}: {answer}");
            assert_eq!(answer["id"], id, "{frame}: {answer}");
        }
    }
    // Nothing ran, and the session goes on.
    let call = r#"{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"app__fx__counter","arguments":{}}}"#;
    let (status, _, answer) = post(call.into(), vec![("mcp-session-id", sid)]).await;
    assert_eq!((status, &answer["result"]["content"][0]["text"]), (200, &json!("1")), "{answer}");
}
