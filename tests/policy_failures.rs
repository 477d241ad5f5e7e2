//! Policy routing and failure handling through the real gateway binary: deny rules under every spelling, rule
//! timeouts, the circuit breaker's transitions, and fallback from a failing app tool to an ext tool.

mod support;

use std::time::{Duration, Instant};

use serde_json::json;
use support::*;

fn config_with_rules(ws: &Workspace, rules: &str, alpha_extra: &str) -> std::path::PathBuf {
    let servers = format!("{}\n{}", fixture_server("alpha", "app", alpha_extra), fixture_server("beta", "ext", ""));
    ws.config_with_rules(rules, "", &servers)
}

#[tokio::test]
async fn a_denied_tool_is_hidden_and_refused_under_every_spelling() {
    let ws = Workspace::new();
    let rules = "[[rule]]\nname = \"no-counter\"\nnamespace = \"app\"\ntool = \"alpha.counter\"\naction = \"deny\"\n";
    let mut gw = Gateway::start(&config_with_rules(&ws, rules, "")).await;
    gw.initialize().await;
    let names = gw.tool_names().await;
    assert!(!names.contains(&"app__alpha__counter".to_owned()), "{names:?}");
    assert!(names.contains(&"app__alpha__echo".to_owned()) && names.contains(&"ext__beta__counter".to_owned()));
    for spelling in ["app__alpha__counter", "app.alpha.counter"] {
        let resp = gw.call(spelling, json!({})).await;
        assert_eq!(resp["error"]["code"], -32004, "{spelling}: {resp}");
        assert!(resp["error"]["message"].as_str().unwrap().contains("no-counter"), "{resp}");
    }
    for spelling in ["APP__ALPHA__COUNTER", "app__alpha__Counter", "app__alpha__counter ", "alpha__counter"] {
        let resp = gw.call(spelling, json!({})).await;
        assert!(resp.get("result").is_none(), "{spelling} must not reach the tool: {resp}");
    }
    assert_eq!(gw.call_text("ext__beta__counter", json!({})).await, "1");
    // The denied tool really never ran.
    assert_eq!(gw.call_text("ext__beta__counter", json!({})).await, "2");
}

#[test]
fn check_and_explain_speak_about_rules() {
    let ws = Workspace::new();
    let cfg = config_with_rules(
        &ws,
        "[[rule]]\nname = \"slow-ok\"\ntool = \"alpha.sleep\"\naction = \"allow\"\ntimeout = \"300ms\"\n\n[[rule]]\nname = \"nope\"\ntool = \"*.counter\"\naction = \"deny\"\nwhen = { clients = [\"intern-*\"] }\n",
        "",
    );
    let out = cli(&["explain", "--config", cfg.to_str().unwrap(), "app.alpha.counter", "--client", "intern-bob"], &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains("nope"), "{text}");
    let out = cli(&["explain", "--config", cfg.to_str().unwrap(), "app__alpha__counter", "--client", "boss"], &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.to_lowercase().contains("allow"), "{text}");

    std::fs::write(ws.file("rules.toml"), "[[rule]]\ntool = \"alpha.echo\"\naction = \"fallback\"\n").unwrap();
    let out = cli(&["check", "--config", cfg.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(64));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("rules.toml:3") && err.contains("needs `fallback"), "{err}");
}

#[tokio::test]
async fn a_rule_timeout_overrides_the_server_timeout() {
    let ws = Workspace::new();
    let rules = "[[rule]]\nname = \"quick\"\ntool = \"alpha.slow_counter\"\naction = \"allow\"\ntimeout = \"300ms\"\n";
    let mut gw = Gateway::start(&config_with_rules(&ws, rules, "timeout = \"20s\"")).await;
    gw.initialize().await;
    let started = Instant::now();
    let resp = gw.call("app__alpha__slow_counter", json!({"ms": 10000})).await;
    assert_eq!(resp["error"]["code"], -32001, "{resp}");
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
}

#[tokio::test]
async fn the_circuit_opens_after_repeated_failures_probes_after_the_cooldown_and_closes() {
    let ws = Workspace::new();
    let extra = "timeout = \"300ms\"\nretries = 0\ncircuit_failures = 2\ncircuit_cooldown = \"1s\"";
    let mut gw = Gateway::start(&config_with_rules(&ws, "", extra)).await;
    gw.initialize().await;
    for _ in 0..2 {
        let resp = gw.call("app__alpha__slow_counter", json!({"ms": 5000})).await;
        assert_eq!(resp["error"]["code"], -32001, "{resp}");
    }
    // Open: fails fast, without reaching the server.
    let started = Instant::now();
    let resp = gw.call("app__alpha__counter", json!({})).await;
    assert_eq!(resp["error"]["code"], -32005, "{resp}");
    assert!(resp["error"]["message"].as_str().unwrap().contains("circuit"), "{resp}");
    assert!(started.elapsed() < Duration::from_millis(250));
    // Other servers are not affected.
    assert_eq!(gw.call_text("ext__beta__echo", json!({"message": "fine"})).await, "fine");
    // After the cool-down one probe goes through; it succeeds, the circuit closes.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(gw.call_text("app__alpha__counter", json!({})).await, "3", "the probe reached the server");
    assert_eq!(gw.call_text("app__alpha__counter", json!({})).await, "4");
}

#[tokio::test]
async fn a_failing_app_tool_falls_back_to_an_ext_tool_and_says_so() {
    let ws = Workspace::new();
    let rules = "[[rule]]\nname = \"crash-to-beta\"\ntool = \"alpha.crash\"\nnamespace = \"app\"\naction = \"fallback\"\nfallback = \"ext.beta.echo\"\n\n\
                 [[rule]]\nname = \"fail-to-beta\"\ntool = \"alpha.fail\"\nnamespace = \"app\"\naction = \"fallback\"\nfallback = \"ext.beta.echo\"\nfallback_on_error = true\n";
    let mut gw = Gateway::start(&config_with_rules(&ws, rules, "restart_backoff = \"50ms\"")).await;
    gw.initialize().await;
    // The app server crashes mid-call: the ext tool answers with the same arguments.
    let resp = gw.call("app__alpha__crash", json!({"message": "from the crash"})).await;
    assert_eq!(result_text(&resp), "from the crash", "{resp}");
    let meta = &resp["result"]["_meta"];
    assert_eq!(meta["dfs-gateway/answeredBy"], "ext.beta.echo", "{resp}");
    assert_eq!(meta["dfs-gateway/fallbackFrom"], "app.alpha.crash");
    // isError falls back too when the rule says so.
    let resp = gw.call("app__alpha__fail", json!({"message": "from fail"})).await;
    assert_eq!(result_text(&resp), "from fail", "{resp}");
    assert_eq!(resp["result"]["_meta"]["dfs-gateway/answeredBy"], "ext.beta.echo");
    // Tools without a fallback rule answer for themselves, with no fallback marker (alpha restarted meanwhile).
    let resp = gw.call("app__alpha__echo", json!({"message": "own"})).await;
    assert_eq!(result_text(&resp), "own");
    assert!(resp["result"].get("_meta").is_none(), "{resp}");
}

#[tokio::test]
async fn a_policy_edited_on_disk_takes_effect_in_the_open_session_and_a_bad_edit_is_refused() {
    let ws = Workspace::new();
    let cfg = config_with_rules(&ws, "", "");
    let mut gw = Gateway::start(&cfg).await;
    gw.initialize().await;
    assert!(gw.tool_names().await.contains(&"app__alpha__counter".to_owned()));
    assert_eq!(gw.call_text("app__alpha__counter", json!({})).await, "1");

    // An editor replaces the file by rename.
    let rules = ws.file("rules.toml");
    let tmp = ws.file("rules.toml.tmp");
    std::fs::write(&tmp, "[[rule]]\nname = \"stop-counting\"\ntool = \"alpha.counter\"\naction = \"deny\"\n").unwrap();
    std::fs::rename(&tmp, &rules).unwrap();
    gw.notification("notifications/tools/list_changed", Duration::from_secs(10))
        .await
        .expect("list_changed after reload");
    assert!(!gw.tool_names().await.contains(&"app__alpha__counter".to_owned()));
    let resp = gw.call("app__alpha__counter", json!({})).await;
    assert_eq!(resp["error"]["code"], -32004, "{resp}");

    // A broken edit is refused: the previous policy stays in force, the session goes on.
    std::fs::write(&rules, "[[rule]]\naction = \"maybe\"\n").unwrap();
    let log = gw.stderr_path.clone();
    let refused = eventually(Duration::from_secs(10), || {
        std::fs::read_to_string(&log).unwrap_or_default().contains("previous configuration and policy stay in force")
    })
    .await;
    assert!(refused, "{}", gw.stderr());
    assert_eq!(gw.call("app__alpha__counter", json!({})).await["error"]["code"], -32004);
    assert_eq!(gw.call_text("app__alpha__echo", json!({"message": "still here"})).await, "still here");
}

/// `dfs-gateway tools --health URL`: the row of `server` in the live table of a running gateway.
fn live_row(url: &str, server: &str) -> String {
    let out = cli(&["tools", "--health", url], &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let table = String::from_utf8_lossy(&out.stdout).into_owned();
    table.lines().find(|l| l.starts_with(server)).unwrap_or_else(|| panic!("{server} not in\n{table}")).to_owned()
}

#[tokio::test]
async fn breaker_transitions_are_visible_in_the_tools_state_of_a_running_gateway() {
    let ws = Workspace::new();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port().to_string();
    let rules = "[[rule]]\nname = \"quick\"\ntool = \"alpha.slow_counter\"\naction = \"allow\"\ntimeout = \"200ms\"\nretry = false\n";
    let extra = "timeout = \"5s\"\ncircuit_failures = 2\ncircuit_cooldown = \"1s\"";
    let cfg = config_with_rules(&ws, rules, extra);
    let mut gw = Gateway::start_with(&cfg, &[("ENABLE_HEALTH", "true"), ("HEALTH_PORT", &port)]).await;
    gw.initialize().await;
    let url = format!("http://127.0.0.1:{port}/healthz");
    // The ops listener comes up next to the stdio front, not before it: wait for it.
    let addr = format!("127.0.0.1:{port}");
    assert!(eventually(Duration::from_secs(10), || std::net::TcpStream::connect(&addr).is_ok()).await, "no /healthz");
    assert!(live_row(&url, "app.alpha").contains("closed"), "{}", live_row(&url, "app.alpha"));
    for _ in 0..2 {
        assert_eq!(gw.call("app__alpha__slow_counter", json!({"ms": 3000})).await["error"]["code"], -32001);
    }
    let row = live_row(&url, "app.alpha");
    assert!(row.contains("circuit open") && row.contains(" open "), "{row}");
    // After the cool-down, a slow probe is in flight: half-open.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    gw.send(&json!({"jsonrpc": "2.0", "id": "probe", "method": "tools/call",
        "params": {"name": "app__alpha__sleep", "arguments": {"ms": 1500}}}))
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let row = live_row(&url, "app.alpha");
    assert!(row.contains("half-open"), "{row}");
    // The probe is answered: closed again.
    assert_eq!(result_text(&gw.response(json!("probe")).await), "slept 1500ms");
    let row = live_row(&url, "app.alpha");
    assert!(row.contains("ready") && row.contains("closed"), "{row}");
}

/// A fallback is decided by policy for the same client, as if it had called the target: a target denied to
/// this client never runs (the call's own failure is answered and the audit trail says why), and `check`
/// reports such rules.
#[tokio::test]
async fn a_fallback_into_a_tool_denied_to_the_client_does_not_run_it() {
    let ws = Workspace::new();
    let rules = "[[rule]]\nname = \"crash-to-counter\"\ntool = \"alpha.crash\"\nnamespace = \"app\"\naction = \"fallback\"\nfallback = \"ext.beta.counter\"\n\n\
                 [[rule]]\nname = \"no-counter-for-interns\"\ntool = \"beta.counter\"\naction = \"deny\"\nwhen = { clients = [\"intern-*\"] }\n";
    let cfg = config_with_rules(&ws, rules, "restart_backoff = \"50ms\"");
    let mut gw = Gateway::start(&cfg).await;
    let init = json!({"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "intern-1", "version": "1"}});
    gw.request("initialize", init).await;
    gw.notify("notifications/initialized", json!({})).await;
    let direct = gw.call("ext__beta__counter", json!({})).await;
    assert_eq!(direct["error"]["code"], -32004, "called directly it is denied: {direct}");

    let resp = gw.call("app__alpha__crash", json!({"message": "boom"})).await;
    assert!(resp.get("result").is_none(), "the denied fallback must not answer: {resp}");
    let message = resp["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("app.alpha"), "the call's own failure (alpha crashed) is answered: {resp}");
    // The counter never ran: the first increment (the same process-wide counter) is 1.
    assert_eq!(gw.call_text("ext__beta__slow_counter", json!({"ms": 0})).await, "1");

    let denial = eventually(DEADLINE, || {
        let dir = ws.path().join("state/evidence");
        std::fs::read_dir(&dir).into_iter().flatten().flatten().any(|f| {
            std::fs::read_to_string(f.path()).unwrap_or_default().lines().any(|l| {
                let r: serde_json::Value = serde_json::from_str(l).unwrap_or_default();
                r["decision"] == "deny"
                    && r["tool"] == "ext.beta.counter"
                    && r["rule"] == "no-counter-for-interns"
                    && r["error"].as_str().is_some_and(|e| e.contains("fallback from app.alpha.crash refused"))
            })
        })
    })
    .await;
    assert!(denial, "the audit trail records the refused fallback and the rule that denied it");

    // `check` warns about a fallback whose target is denied to some clients, and refuses one denied to all.
    let out = cli(&["check", "--config", cfg.to_str().unwrap()], &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("warning") && err.contains("ext.beta.counter") && err.contains("no-counter-for-interns"),
        "{err}"
    );
    let always = rules.replace("when = { clients = [\"intern-*\"] }\n", "");
    std::fs::write(ws.file("rules.toml"), always).unwrap();
    let out = cli(&["check", "--config", cfg.to_str().unwrap()], &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{err}");
    assert!(err.contains("rules.toml:1") && err.contains("never runs"), "{err}");
}
