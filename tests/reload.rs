//! Servers added, removed and changed in the configuration file of a running gateway, under an open client
//! session: the real binary over stdio, with fixture servers as downstreams.

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::*;

/// Replaces the configuration the way editors do: write a temporary file, rename it over the original.
fn save(ws: &Workspace, body: &str) -> PathBuf {
    let tmp = ws.file("gateway.toml.tmp");
    std::fs::write(&tmp, format!("[gateway]\nstate_dir = \"state\"\n\n{body}")).unwrap();
    let path = ws.file("gateway.toml");
    std::fs::rename(&tmp, &path).unwrap();
    path
}

fn occurrences(log: &Path, needle: &str) -> usize {
    std::fs::read_to_string(log).unwrap_or_default().matches(needle).count()
}

/// Waits until the gateway has logged `needle` `n` times in all.
async fn logged(gw: &Gateway, needle: &str, n: usize) {
    let log = gw.stderr_path.clone();
    let ok = eventually(Duration::from_secs(15), || occurrences(&log, needle) >= n).await;
    assert!(ok, "`{needle}` was not logged {n} time(s); log:\n{}", gw.stderr());
}

const RECONCILED: &str = "servers reconciled with the configuration";

async fn pid_of(gw: &mut Gateway, tool: &str) -> i32 {
    gw.call_text(tool, json!({})).await.trim().parse().unwrap_or_else(|e| panic!("{tool}: not a pid ({e})"))
}

fn is_response(id: &'static str) -> impl Fn(&Value) -> bool {
    move |m: &Value| m["id"] == id && m.get("method").is_none()
}

fn error_message(resp: &Value) -> String {
    resp["error"]["message"].as_str().unwrap_or_else(|| panic!("expected an error, got {resp}")).to_owned()
}

#[tokio::test]
async fn servers_follow_the_configuration_file_under_an_open_session() {
    let ws = Workspace::new();
    let alpha = fixture_server("alpha", "app", "");
    let beta = fixture_server("beta", "app", "env = { MODE = \"v1\" }");
    let mut gw = Gateway::start(&save(&ws, &format!("{alpha}\n{beta}"))).await;
    gw.initialize().await;
    let names = gw.tool_names().await;
    assert!(names.contains(&"app__alpha__echo".to_owned()) && names.contains(&"app__beta__env".to_owned()));
    let alpha_pid = pid_of(&mut gw, "app__alpha__pid").await;
    let beta_pid = pid_of(&mut gw, "app__beta__pid").await;
    assert_eq!(gw.call_text("app__beta__env", json!({"name": "MODE"})).await, "v1");

    // 1. Add an eager app server and a lazy ext server while a call to alpha is in flight. Alpha moves down the
    //    file under a comment: same definition, so it must not be touched.
    gw.send(&json!({"jsonrpc": "2.0", "id": "long", "method": "tools/call",
        "params": {"name": "app__alpha__sleep", "arguments": {"ms": 4000}}}))
        .await;
    let gamma = fixture_server("gamma", "app", "");
    let delta = fixture_server("delta", "ext", "");
    save(&ws, &format!("{beta}\n{gamma}\n{delta}\n# moved, not changed\n{alpha}"));
    gw.notification("notifications/tools/list_changed", Duration::from_secs(15))
        .await
        .unwrap_or_else(|| panic!("no list_changed after adding servers; log:\n{}", gw.stderr()));
    logged(&gw, RECONCILED, 1).await;
    assert!(
        gw.recv_matching(Duration::ZERO, is_response("long")).await.is_none(),
        "the call to alpha must still be in flight across the reload"
    );
    // Both new servers report their lists; the lazy one after its discovery run.
    let deadline = Instant::now() + Duration::from_secs(15);
    let names = loop {
        let names = gw.tool_names().await;
        if names.contains(&"app__gamma__echo".to_owned()) && names.contains(&"ext__delta__echo".to_owned()) {
            break names;
        }
        assert!(Instant::now() < deadline, "new servers never listed: {names:?}\n{}", gw.stderr());
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(names.contains(&"app__alpha__echo".to_owned()) && names.contains(&"app__beta__echo".to_owned()));
    assert_eq!(gw.call_text("app__gamma__echo", json!({"message": "new"})).await, "new");
    assert_eq!(gw.call_text("ext__delta__echo", json!({"message": "lazy"})).await, "lazy");
    let long = gw.recv_matching(DEADLINE, is_response("long")).await.expect("the long call is answered");
    assert_eq!(result_text(&long), "slept 4000ms", "the untouched server's call completes: {long}");
    assert_eq!(pid_of(&mut gw, "app__alpha__pid").await, alpha_pid, "alpha was restarted");
    assert_eq!(pid_of(&mut gw, "app__beta__pid").await, beta_pid, "beta was restarted");
    let gamma_pid = pid_of(&mut gw, "app__gamma__pid").await;

    // 2. Change beta while a call to it is in flight: a new process with the new settings; the old call gets an
    //    error naming beta and why.
    gw.send(&json!({"jsonrpc": "2.0", "id": "cut", "method": "tools/call",
        "params": {"name": "app__beta__sleep", "arguments": {"ms": 10000}}}))
        .await;
    let beta2 = fixture_server("beta", "app", "env = { MODE = \"v2\" }");
    save(&ws, &format!("{alpha}\n{beta2}\n{gamma}\n{delta}"));
    let cut = gw.recv_matching(DEADLINE, is_response("cut")).await.expect("the call to the old beta is answered");
    let msg = error_message(&cut);
    assert!(msg.contains("app.beta") && msg.contains("configuration changed"), "{cut}");
    logged(&gw, RECONCILED, 2).await;
    assert_eq!(gw.call_text("app__beta__env", json!({"name": "MODE"})).await, "v2");
    let new_beta = pid_of(&mut gw, "app__beta__pid").await;
    assert_ne!(new_beta, beta_pid);
    assert!(eventually(Duration::from_secs(10), || !pid_alive(beta_pid)).await, "the old beta process is still alive");
    assert_eq!(pid_of(&mut gw, "app__alpha__pid").await, alpha_pid);

    // 3. Remove gamma with a call in flight: the call gets an error naming gamma, its tools go, its process ends.
    gw.tool_names().await;
    gw.send(&json!({"jsonrpc": "2.0", "id": "gone", "method": "tools/call",
        "params": {"name": "app__gamma__sleep", "arguments": {"ms": 10000}}}))
        .await;
    save(&ws, &format!("{alpha}\n{beta2}\n{delta}"));
    let gone = gw.recv_matching(DEADLINE, is_response("gone")).await.expect("the call to gamma is answered");
    let msg = error_message(&gone);
    assert!(msg.contains("app.gamma") && msg.contains("removed from the configuration"), "{gone}");
    gw.notification("notifications/tools/list_changed", Duration::from_secs(15))
        .await
        .unwrap_or_else(|| panic!("no list_changed after removing gamma; log:\n{}", gw.stderr()));
    logged(&gw, RECONCILED, 3).await;
    let names = gw.tool_names().await;
    assert!(!names.iter().any(|n| n.contains("gamma")), "{names:?}");
    let resp = gw.call("app__gamma__echo", json!({"message": "x"})).await;
    assert!(error_message(&resp).contains("app__gamma__echo"), "{resp}");
    assert!(eventually(Duration::from_secs(10), || !pid_alive(gamma_pid)).await, "gamma's process is still alive");

    // 4. A broken file is refused: everything keeps serving as before.
    save(&ws, &format!("{alpha}\n{beta2}\n[servers.broken]\nnamespace = \"sideways\"\n"));
    logged(&gw, "previous configuration and policy stay in force", 1).await;
    assert_eq!(gw.call_text("app__alpha__echo", json!({"message": "still"})).await, "still");
    assert_eq!(gw.call_text("ext__delta__echo", json!({"message": "here"})).await, "here");
    assert_eq!(pid_of(&mut gw, "app__alpha__pid").await, alpha_pid);
    assert_eq!(pid_of(&mut gw, "app__beta__pid").await, new_beta);
    assert_eq!(occurrences(&gw.stderr_path, RECONCILED), 3, "the broken file must not reconcile anything");
}

#[tokio::test]
async fn a_changed_gateway_setting_is_reported_as_waiting_for_a_restart() {
    let ws = Workspace::new();
    let alpha = fixture_server("alpha", "app", "");
    let mut gw = Gateway::start(&save(&ws, &alpha)).await;
    gw.initialize().await;
    let pid = pid_of(&mut gw, "app__alpha__pid").await;
    let tmp = ws.file("gateway.toml.tmp");
    std::fs::write(&tmp, format!("[gateway]\nstate_dir = \"state\"\nseparator = \".\"\n\n{alpha}")).unwrap();
    std::fs::rename(&tmp, ws.file("gateway.toml")).unwrap();
    logged(&gw, "take effect after a restart of the gateway", 1).await;
    assert!(gw.stderr().contains("gateway.separator"), "{}", gw.stderr());
    // The running gateway keeps its names and its server.
    assert_eq!(pid_of(&mut gw, "app__alpha__pid").await, pid);
}
