//! What the real gateway shows of itself while it serves: `/metrics` series by outcome, the audit trail (one
//! record per call and per decision, correlation ids shared with the log, secrets redacted, a hash chain that
//! verifies), and a trail that survives `kill -9` under load.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};
use support::*;

fn config(ws: &Workspace, rules: &str) -> PathBuf {
    let fx = fixture_server("fx", "app", "timeout = \"300ms\"\nretries = 0\nrestart_backoff = \"50ms\"");
    ws.config_with_rules(rules, "", &format!("{fx}\n{}", fixture_server("other", "ext", "")))
}

const RULES: &str = r#"
[[rule]]
name = "no-env"
namespace = "app"
tool = "fx.env"
action = "deny"
"#;

/// Every evidence record of a trail, in file order.
fn records(dir: &Path) -> Vec<Value> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.extension().is_some_and(|x| x == "jsonl")).collect()
        })
        .unwrap_or_default();
    files.sort();
    files
        .iter()
        .flat_map(|f| std::fs::read_to_string(f).unwrap_or_default().lines().map(str::to_owned).collect::<Vec<_>>())
        .filter_map(|l| serde_json::from_str(&l).ok())
        .collect()
}

fn series(text: &str, name: &str, tool: &str, outcome: &str) -> Option<f64> {
    sample(text, &format!("{name}{{namespace=\"app\",server=\"fx\",tool=\"{tool}\",outcome=\"{outcome}\"}}"))
}

#[tokio::test]
async fn metrics_count_every_call_by_tool_and_outcome() {
    let ws = Workspace::new();
    let port = free_port();
    let p = port.to_string();
    let mut gw = Gateway::start_with(&config(&ws, RULES), &[("ENABLE_METRICS", "true"), ("METRICS_PORT", &p)]).await;
    gw.initialize().await;
    for i in 0..3 {
        gw.call_text("app__fx__echo", json!({"message": format!("m{i}")})).await;
    }
    gw.call_text("app__fx__echo", json!({"message": "m0"})).await; // from the cache
    assert_eq!(gw.call("app__fx__fail", json!({})).await["result"]["isError"], true);
    assert_eq!(gw.call("app__fx__env", json!({"name": "PATH"})).await["error"]["code"], -32004);
    assert_eq!(gw.call("app__fx__nope", json!({})).await["error"]["code"], -32602);
    assert_eq!(gw.call("app__fx__slow_counter", json!({"ms": 2000})).await["error"]["code"], -32001);
    assert_eq!(gw.call("app__fx__crash", json!({})).await["error"]["code"], -32002);
    let text = http("GET", port, "/metrics").expect("metrics").1;
    assert_eq!(series(&text, "gateway_requests_total", "echo", "ok"), Some(3.0), "{text}");
    assert_eq!(series(&text, "gateway_requests_total", "echo", "cache_hit"), Some(1.0), "{text}");
    assert_eq!(series(&text, "gateway_tool_executions_total", "echo", "ok"), Some(3.0), "{text}");
    assert_eq!(series(&text, "gateway_requests_total", "fail", "tool_error"), Some(1.0), "{text}");
    assert_eq!(series(&text, "gateway_requests_total", "env", "denied"), Some(1.0), "{text}");
    assert_eq!(series(&text, "gateway_requests_total", "slow_counter", "timeout"), Some(1.0), "{text}");
    assert_eq!(series(&text, "gateway_tool_executions_total", "slow_counter", "timeout"), Some(1.0), "{text}");
    assert_eq!(series(&text, "gateway_requests_total", "crash", "error"), Some(1.0), "{text}");
    let denials = "gateway_policy_denials_total{namespace=\"app\",server=\"fx\",tool=\"env\",rule=\"no-env\"}";
    assert_eq!(sample(&text, denials), Some(1.0), "{text}");
    let unknown =
        "gateway_requests_total{namespace=\"unknown\",server=\"unknown\",tool=\"unknown\",outcome=\"unavailable\"}";
    assert_eq!(sample(&text, unknown), Some(1.0), "{text}");
    let count = "gateway_request_duration_seconds_count{namespace=\"app\",server=\"fx\",tool=\"echo\"}";
    assert_eq!(sample(&text, count), Some(4.0), "{text}");
    let errors =
        |kind: &str| sample(&text, &format!("gateway_errors_total{{namespace=\"app\",server=\"fx\",kind=\"{kind}\"}}"));
    assert_eq!(errors("timeout"), Some(1.0), "{text}");
    assert_eq!(errors("crash"), Some(1.0), "{text}");
    assert_eq!(sample(&text, "gateway_inflight_requests"), Some(0.0), "{text}");
    // The crashed server comes back (an app server restarts by itself) and says so.
    let mut restarted = false;
    for _ in 0..200 {
        let text = http("GET", port, "/metrics").expect("metrics").1;
        if sample(&text, "gateway_server_restarts_total{namespace=\"app\",server=\"fx\"}") == Some(1.0)
            && sample(&text, "gateway_server_up{namespace=\"app\",server=\"fx\"}") == Some(1.0)
        {
            restarted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(restarted, "restart and up series:\n{}", http("GET", port, "/metrics").unwrap().1);
    // Every configured server has its series, whether or not it was ever called.
    let text = http("GET", port, "/metrics").expect("metrics").1;
    assert!(sample(&text, "gateway_server_up{namespace=\"ext\",server=\"other\"}").is_some(), "{text}");
    assert_eq!(sample(&text, "gateway_server_restarts_total{namespace=\"ext\",server=\"other\"}"), Some(0.0));
    // Label values come from names, never from arguments or ids.
    assert!(!text.contains("m0") && !text.contains("PATH"), "{text}");
}

#[tokio::test]
async fn every_call_and_decision_is_in_the_trail_with_its_correlation_id_and_no_secret() {
    let ws = Workspace::new();
    let secret = "s3cr3t-brave-key-value";
    let mut gw = Gateway::start_with(&config(&ws, RULES), &[("BRAVE_API_KEY", secret)]).await;
    gw.initialize().await;
    gw.call_text("app__fx__echo", json!({"message": format!("my key is {secret}"), "api_key": "k-123", "n": 1})).await;
    gw.call("app__fx__env", json!({"name": "HOME"})).await;
    gw.call("app__fx__fail", json!({"message": "bad"})).await;
    gw.close_stdin();
    assert!(gw.wait_exit(DEADLINE).await.success());
    let dir = ws.path().join("state/evidence");
    let out = cli(&["evidence", "verify", dir.to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let report = dfs_gateway::evidence::verify(&dir).expect("verify");
    assert!(report.torn_tail.is_none(), "{report}");
    let recs = records(&dir);
    let echo = recs.iter().find(|r| r["tool"] == "app.fx.echo").unwrap_or_else(|| panic!("{recs:?}"));
    assert_eq!(
        (echo["kind"].as_str(), echo["outcome"].as_str(), echo["decision"].as_str()),
        (Some("call"), Some("ok"), Some("allow")),
        "{echo}"
    );
    assert_eq!(
        (echo["server"].as_str(), echo["attempts"].as_u64(), echo["cache_hit"].as_bool()),
        (Some("app.fx"), Some(1), Some(false)),
        "{echo}"
    );
    assert_eq!(echo["client"], "harness");
    assert_eq!(echo["arguments"]["api_key"], "[REDACTED]", "{echo}");
    assert_eq!(echo["arguments"]["n"], 1);
    assert!(echo["result_digest"].as_str().is_some_and(|d| d.len() == 64), "{echo}");
    assert!(echo["duration_ms"].as_f64().is_some());
    let deny = recs.iter().find(|r| r["tool"] == "app.fx.env").expect("deny record");
    assert_eq!(
        (deny["kind"].as_str(), deny["decision"].as_str(), deny["rule"].as_str()),
        (Some("decision"), Some("deny"), Some("no-env")),
        "{deny}"
    );
    let fail = recs.iter().find(|r| r["tool"] == "app.fx.fail").expect("fail record");
    assert_eq!(fail["outcome"], "tool_error", "{fail}");
    // One correlation id per request, also in the request's log line.
    let ids: Vec<&str> =
        [echo, deny, fail].iter().map(|r| r["correlation_id"].as_str().expect("correlation id")).collect();
    assert!(ids[0] != ids[1] && ids[1] != ids[2], "{ids:?}");
    let log = gw.stderr();
    let line =
        log.lines().find(|l| l.contains("call answered") && l.contains(ids[0])).unwrap_or_else(|| panic!("{log}"));
    assert!(line.contains("app.fx.echo"), "{line}");
    // The secret value is in neither the trail nor the log.
    let trail: String = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap_or_default())
        .collect();
    assert!(!trail.contains(secret) && !trail.contains("k-123"), "{trail}");
    assert!(!log.contains(secret), "the log leaked the secret");
}

#[tokio::test]
async fn kill_9_under_load_leaves_at_most_one_torn_line_and_the_next_start_repairs_it() {
    let ws = Workspace::new();
    let cfg = config(&ws, "");
    let dir = ws.path().join("state/evidence");
    let mut gw = Gateway::start_with(&cfg, &[("LOG_LEVEL", "warn")]).await;
    gw.initialize().await;
    // Thousands of calls in flight, then SIGKILL while records are being written.
    for i in 0..5000 {
        let msg = json!({"jsonrpc": "2.0", "id": 1000 + i, "method": "tools/call", "params": {"name": "app__fx__echo", "arguments": {"message": format!("load {i}"), "password": "pw"}}});
        gw.send(&msg).await;
    }
    let size = || {
        std::fs::read_dir(&dir)
            .map(|d| d.filter_map(|e| e.ok()?.metadata().ok()).map(|m| m.len()).sum::<u64>())
            .unwrap_or(0)
    };
    assert!(eventually(DEADLINE, || size() > 200_000).await, "no load reached the trail");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(gw.pid()), nix::sys::signal::Signal::SIGKILL).unwrap();
    gw.wait_exit(DEADLINE).await;
    let out = cli(&["evidence", "verify", dir.to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let report = dfs_gateway::evidence::verify(&dir).expect("verify");
    assert!(report.is_ok(), "{report}");
    assert!(report.torn_tail.as_ref().is_none_or(|t| t.lines == 1), "{report}");
    // A new gateway on the same state repairs any torn line and continues the chain.
    let mut again = Gateway::start(&cfg).await;
    again.initialize().await;
    again.call_text("app__fx__echo", json!({"message": "after"})).await;
    again.close_stdin();
    again.wait_exit(DEADLINE).await;
    let after = dfs_gateway::evidence::verify(&dir).expect("verify");
    assert!(after.is_ok() && after.torn_tail.is_none(), "{after}");
    assert!(after.records > report.records, "{after}");
}
