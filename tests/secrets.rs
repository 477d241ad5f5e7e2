//! Secrets stay secret: the values of `secret_env` and of the servers' configured `env` never reach a client's
//! error, a log line at any level or the evidence trail, even when a crashing server prints them; remote (HTTP)
//! clients get no server stderr at all unless configured. Real gateway, real fixture servers.

#[path = "support/rmcp_client.rs"]
mod rmcp_client;
mod support;

use std::net::SocketAddr;
use std::path::Path;

use serde_json::{json, Value};
use support::*;
use tokio::process::Command;

/// Reaches the crashing server through its configured `env` (`${HARDEN_TOKEN}`).
const SERVER_SECRET: &str = "tok-server-env-5f2a9c";
/// A `secret_env` variable of the gateway (BRAVE_API_KEY is in the default list).
const GATEWAY_SECRET: &str = "brave-secret-7d1e04";

fn config_body() -> String {
    fixture_server("alpha", "app", "env = { API_TOKEN = \"${HARDEN_TOKEN}\" }")
}

fn envs() -> [(&'static str, &'static str); 3] {
    [("HARDEN_TOKEN", SERVER_SECRET), ("BRAVE_API_KEY", GATEWAY_SECRET), ("LOG_LEVEL", "trace")]
}

fn crash_args() -> Value {
    json!({ "message": format!("fixture leaking {SERVER_SECRET} and {GATEWAY_SECRET} on stderr") })
}

fn assert_clean(what: &str, text: &str) {
    assert!(!text.contains(SERVER_SECRET) && !text.contains(GATEWAY_SECRET), "{what} holds a secret:\n{text}");
}

fn trail(dir: &Path) -> String {
    std::fs::read_dir(dir.join("state/evidence"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect()
}

#[tokio::test]
async fn a_crashing_server_printing_secrets_leaks_them_nowhere_and_the_local_client_sees_its_stderr() {
    let ws = Workspace::new();
    let cfg = ws.config(&config_body());
    let mut gw = Gateway::start_with(&cfg, &envs()).await;
    gw.initialize().await;
    let resp = gw.call("app__alpha__crash", crash_args()).await;
    let message = resp["error"]["message"].as_str().unwrap_or_else(|| panic!("an error: {resp}")).to_owned();
    assert!(message.contains("exited") && message.contains("fixture leaking [REDACTED] and [REDACTED]"), "{message}");
    assert_clean("the client's error", &resp.to_string());
    // The server comes back and a normal call works.
    assert_eq!(gw.call_text("app__alpha__echo", json!({ "message": "after" })).await, "after");
    gw.close_stdin();
    assert!(gw.wait_exit(DEADLINE).await.success());
    let log = gw.stderr();
    assert!(log.contains("fixture leaking [REDACTED]"), "the stderr line is logged, scrubbed:\n{log}");
    assert_clean("the gateway's log", &log);
    let trail = trail(ws.path());
    assert!(trail.contains("app.alpha.crash"), "{trail}");
    assert_clean("the evidence trail", &trail);
}

/// The address in the gateway's "mcp http front listening" log line.
fn listening_addr(log: &Path) -> Option<SocketAddr> {
    let text = std::fs::read_to_string(log).ok()?;
    text.lines().filter_map(|l| serde_json::from_str::<Value>(l).ok()).find_map(|v| {
        (v["fields"]["message"] == "mcp http front listening").then(|| v["fields"]["addr"].as_str()?.parse().ok())?
    })
}

/// An HTTP-only gateway; `secrets` goes into its `[secrets]` section. Returns the child, the /mcp URL and the
/// log path.
async fn http_gateway(ws: &Workspace, secrets: &str) -> (tokio::process::Child, String, std::path::PathBuf) {
    let cfg = ws.config(&format!(
        "[front.stdio]\nenabled = false\n\n[front.http]\nenabled = true\nlisten = \"127.0.0.1:0\"\n\n[secrets]\n{secrets}\n\n{}",
        config_body()
    ));
    let log = cfg.with_extension("stderr.log");
    let mut cmd = serve_quietly(Command::new(gateway_bin()), &cfg, &log);
    cmd.envs(envs());
    let child = cmd.spawn().expect("spawn dfs-gateway");
    let mut addr = None;
    assert!(
        eventually(DEADLINE, || {
            addr = listening_addr(&log);
            addr.is_some()
        })
        .await,
        "no listener: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    (child, format!("http://{}/mcp", addr.unwrap()), log)
}

async fn remote_crash_error(ws: &Workspace, secrets: &str) -> String {
    let (mut child, url, log) = http_gateway(ws, secrets).await;
    let client = rmcp_client::connect_http(&url, None, rmcp_client::ClientOptions::default()).await.unwrap();
    let err = client.call_raw("app__alpha__crash", crash_args()).await.expect_err("a crash is an error");
    let text = format!("{err:#}");
    let _ = client.close().await;
    child.kill().await.unwrap();
    assert_clean("the gateway's log", &std::fs::read_to_string(log).unwrap());
    assert_clean("the remote client's error", &text);
    text
}

#[tokio::test]
async fn remote_clients_get_no_server_stderr_unless_configured() {
    let ws = Workspace::new();
    let hidden = remote_crash_error(&ws, "").await;
    assert!(hidden.contains("exited") && hidden.contains("stderr is in the gateway's log"), "{hidden}");
    assert!(!hidden.contains("fixture leaking"), "{hidden}");

    let ws = Workspace::new();
    let shown = remote_crash_error(&ws, "stderr_to_remote_clients = true").await;
    assert!(shown.contains("fixture leaking [REDACTED] and [REDACTED]"), "{shown}");
}
