//! The DFS servers behind the real `dfs-gateway` binary (same workspace; built here if the target directory does
//! not have it yet), driven by a real MCP client over the gateway's stdio front.
//!
//! - `tools/list` shows the wire names `app__data__slate`... with the servers' schemas and annotations.
//! - A read-only call is answered from the gateway's cache the second time (the evidence trail records
//!   `cache_hit`), and a write through `app.data.import_slate` drops those entries under the shipped policy
//!   (`gateway/dfs-app.toml`), so the next listing is fresh.
//! - Without `DFS_MCP_STATE_DIR` the store lands in `_federation/dfs` under the directory the gateway starts its
//!   children in (its configuration file's directory).

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::mcp::{dfs_mcp_bin, Client, Era};

fn gateway_bin() -> PathBuf {
    let path = dfs_mcp_bin().with_file_name("dfs-gateway");
    if !path.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = std::process::Command::new(cargo)
            .args(["build", "-p", "dfs-gateway", "--bin", "dfs-gateway"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("run cargo build for dfs-gateway");
        assert!(status.success(), "cargo build -p dfs-gateway failed");
    }
    assert!(path.exists(), "{} was not built", path.display());
    path
}

fn policy_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("gateway/dfs-app.toml")
}

fn config(dir: &Path) -> PathBuf {
    let bin = dfs_mcp_bin().display().to_string();
    let servers: String = ["data", "optimize", "simulation"]
        .iter()
        .map(|s| format!("[servers.{s}]\nnamespace = \"app\"\ncommand = \"{bin}\"\nargs = [\"{s}\"]\n\n"))
        .collect();
    let text = format!(
        "[gateway]\nstate_dir = \"state\"\n\n[evidence]\nflush_interval = \"0ms\"\n\n[policy]\nfiles = [\"{}\"]\n\
         default_action = \"allow\"\n\n{servers}",
        policy_file().display()
    );
    let path = dir.join("gateway.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// The evidence records of calls of `tool` so far.
fn calls_of(state: &Path, tool: &str) -> Vec<Value> {
    let Ok(entries) = std::fs::read_dir(state.join("evidence")) else { return vec![] };
    let mut out = Vec::new();
    for e in entries.flatten() {
        let text = std::fs::read_to_string(e.path()).unwrap_or_default();
        for line in text.lines() {
            if let Ok(v) = serde_json::from_str::<Value>(line) {
                if v["kind"] == "call" && v["tool"] == tool {
                    out.push(v);
                }
            }
        }
    }
    out
}

/// Waits until `tool` has `n` call records; they come from the gateway's writer thread.
async fn wait_calls(state: &Path, tool: &str, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let calls = calls_of(state, tool);
        if calls.len() >= n || Instant::now() > deadline {
            return calls;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn through_the_gateway() {
    let gateway = tokio::task::spawn_blocking(gateway_bin).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let envs = [("ENABLE_HEALTH", "false"), ("ENABLE_METRICS", "false"), ("APP_SERVERS", ""), ("EXTERNAL_SERVERS", "")];
    let c = Client::start(&gateway, &["serve", "--config", cfg.to_str().unwrap()], &envs, Era::Legacy).await;

    let tools = c.list_tools().await;
    let mut names: Vec<String> = tools.iter().map(|t| t.name.to_string()).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "app__data__import_slate",
            "app__data__player_pool",
            "app__data__set_projections",
            "app__data__slate",
            "app__optimize__lineup",
            "app__simulation__run"
        ]
    );
    let slate_tool = c.tool("app__data__slate");
    assert_eq!(slate_tool.annotations.as_ref().unwrap().read_only_hint, Some(true));
    assert!(slate_tool.output_schema.is_some());

    // The default state directory, relative to the directory the gateway starts the servers in.
    assert!(dir.path().join("_federation/dfs/dfs.sqlite3").exists(), "store at <config dir>/_federation/dfs");

    let state = dir.path().join("state");
    let first = c.call("app__data__slate", json!({"limit": 50})).await.ok();
    assert_eq!(first["total"], 16);
    let second = c.call("app__data__slate", json!({"limit": 50})).await.ok();
    assert_eq!(second, first);
    let calls = wait_calls(&state, "app.data.slate", 2).await;
    let hits: Vec<Option<bool>> = calls.iter().map(|c| c["cache_hit"].as_bool()).collect();
    assert_eq!(hits, [Some(false), Some(true)], "the second read came from the gateway's cache: {calls:?}");

    // A write drops the data server's cached reads (policy gateway/dfs-app.toml): the listing is fresh.
    let imported = c.call("app__data__import_slate", json!({"csv": support::file("dk-mlb-classic.csv")})).await.ok();
    let third = c.call("app__data__slate", json!({"limit": 50})).await.ok();
    assert_eq!(third["total"], 17);
    assert_eq!(third["slates"][0]["slate_id"], imported["slate_id"]);
    let calls = wait_calls(&state, "app.data.slate", 3).await;
    assert_eq!(calls[2]["cache_hit"].as_bool(), Some(false));

    // Tool errors pass through as tool errors.
    let e = c.call("app__data__player_pool", json!({"slate_id": "nope"})).await.err();
    assert!(e.contains(r#"no slate "nope""#), "{e}");
    let e = c.call("app__simulation__run", json!({"slate_id": imported["slate_id"]})).await.err();
    assert!(e.contains("has no lineup set yet"), "{e}");
    let pool =
        c.call("app__data__player_pool", json!({"slate_id": imported["slate_id"], "positions": ["OF"]})).await.ok();
    assert_eq!(pool["total"], 2);
    c.close().await;
}
