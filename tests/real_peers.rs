//! Real clients (rmcp, the Python `mcp` SDK) through the real gateway, in front of real third-party servers:
//! `@modelcontextprotocol/server-memory` (npm) and `mcp-server-time` (PyPI), next to a fixture server.
//! Installed by `.ci/install-deps`; under `CI=true` a missing one fails the test.

#[path = "support/rmcp_client.rs"]
mod rmcp_client;
mod support;

use std::path::PathBuf;

use serde_json::{json, Value};
use support::*;

/// A gateway config with the fixture (app), server-memory and mcp-server-time (ext); `None` when a peer is
/// missing outside CI.
fn peers_config(ws: &Workspace) -> Option<PathBuf> {
    let memory = npm_server("server-memory")?;
    let time = venv_bin("mcp-server-time")?;
    let memory_file = ws.file("memory.jsonl");
    let body = format!(
        "{}\n[servers.memory]\nnamespace = \"ext\"\ncommand = \"node\"\nargs = [\"{}\"]\nenv = {{ MEMORY_FILE_PATH = \"{}\" }}\n\n\
         [servers.time]\nnamespace = \"ext\"\ncommand = \"{}\"\nargs = [\"--local-timezone\", \"UTC\"]\n",
        fixture_server("fx", "app", ""),
        memory.display(),
        memory_file.display(),
        time.display(),
    );
    Some(ws.config(&body))
}

#[tokio::test]
async fn rmcp_client_lists_and_calls_tools_of_npm_pypi_and_fixture_servers_through_the_gateway() {
    let ws = Workspace::new();
    let Some(cfg) = peers_config(&ws) else { return };
    let client = rmcp_client::connect_gateway(gateway_bin(), &cfg, rmcp_client::ClientOptions::default())
        .await
        .expect("rmcp client connects to the gateway");
    assert_eq!(client.server_name().as_deref(), Some("dfs-gateway"));
    assert_eq!(client.protocol_version().as_deref(), Some("2025-11-25"));

    let names = client.list_tool_names().await.unwrap();
    for expected in
        ["app__fx__echo", "ext__memory__read_graph", "ext__memory__create_entities", "ext__time__get_current_time"]
    {
        assert!(names.contains(&expected.to_owned()), "{expected} missing from {names:?}");
    }

    let out = client.call("app__fx__echo", json!({"message": "from rmcp"})).await.unwrap();
    assert!(!out.is_error);
    assert_eq!(out.text, "from rmcp");

    // A real side effect in the npm server, read back through a second call.
    let entities = json!({"entities": [{"name": "alice", "entityType": "person", "observations": ["plays DFS"]}]});
    let out = client.call("ext__memory__create_entities", entities).await.unwrap();
    assert!(!out.is_error, "{}", out.text);
    let graph = client.call("ext__memory__read_graph", json!({})).await.unwrap();
    assert!(graph.text.contains("alice"), "{}", graph.text);
    assert!(graph.text.contains("plays DFS"), "{}", graph.text);

    let now = client.call("ext__time__get_current_time", json!({"timezone": "UTC"})).await.unwrap();
    assert!(!now.is_error, "{}", now.text);
    assert_eq!(now.structured.as_ref().expect("structured content")["timezone"], "UTC");

    // Progress through the gateway to a real client, with the client's token.
    let (out, token) = client.call_with_progress("app__fx__progress", json!({"steps": 3})).await.unwrap();
    assert_eq!(out.text, "done 3 steps");
    assert_eq!(client.progress_for(&token).len(), 3);

    client.close().await.unwrap();
}

#[tokio::test]
async fn python_sdk_client_lists_and_calls_through_the_gateway() {
    let ws = Workspace::new();
    let Some(cfg) = peers_config(&ws) else { return };
    let Some(python) = venv_bin("python") else { return };
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/mcp_client.py");
    let out = tokio::process::Command::new(python)
        .arg(script)
        .args(["--mode", "legacy", "--timeout", "60"])
        .args(["--call", "app__fx__echo", "--args", r#"{"message":"from python"}"#])
        .args(["--call", "ext__time__get_current_time", "--args", r#"{"timezone":"UTC"}"#])
        .args(["--call", "ext__memory__read_graph", "--args", "{}"])
        .args(["--env", "LOG_LEVEL=warn", "--"])
        .arg(gateway_bin())
        .args(["serve", "--config"])
        .arg(&cfg)
        .output()
        .await
        .expect("run the python client");
    assert!(out.status.success(), "python client failed:\n{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).expect("one JSON report");
    assert_eq!(report["server_name"], "dfs-gateway");
    assert_eq!(report["protocol"], "2025-11-25");
    let tools: Vec<&str> = report["tools"].as_array().unwrap().iter().map(|t| t.as_str().unwrap()).collect();
    assert!(tools.contains(&"ext__memory__read_graph") && tools.contains(&"ext__time__convert_time"), "{tools:?}");
    let calls = report["calls"].as_array().unwrap();
    assert_eq!(calls[0]["text"], "from python");
    assert_eq!(calls[1]["is_error"], false, "{}", calls[1]);
    assert_eq!(calls[1]["structured"]["timezone"], "UTC");
    assert_eq!(calls[2]["structured"], json!({"entities": [], "relations": []}));
}
