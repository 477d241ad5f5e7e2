//! The result cache and rate limits through the real gateway binary, embedded and on a real `redis-server`:
//! what is cached and for how long, coalescing of identical calls, invalidation (writer rules, list_changed, the
//! CLI), limits with their refusal, two gateways sharing one Redis, and Redis going away and coming back.
//!
//! The fixture's `counter` tool answers a process-wide count, so a repeated answer means the cache answered.

mod support;
mod support_redis;

use std::time::Duration;

use serde_json::{json, Value};
use support::*;
use support_redis::RedisServer;

fn config_with_rules(ws: &Workspace, rules: &str, extra_sections: &str) -> std::path::PathBuf {
    ws.config_with_rules(rules, extra_sections, &fixture_server("fx", "app", ""))
}

const COUNTER_CACHED: &str = r#"
[[rule]]
name = "counter-reads"
namespace = "app"
tool = "fx.counter"
action = "allow"
cache = { ttl = "1m", tags = ["ctr"], scope = "public" }

[[rule]]
name = "echo-writes"
namespace = "app"
tool = "fx.echo"
action = "allow"
invalidates = ["ctr"]

[[rule]]
name = "failures-cached"
namespace = "app"
tool = "fx.fail"
action = "allow"
cache = { ttl = "1m", scope = "public" }
"#;

async fn metrics_text(port: u16) -> String {
    http("GET", port, "/metrics").map(|(_, body)| body).unwrap_or_default()
}

#[tokio::test]
async fn cached_results_follow_rules_arguments_writers_and_list_changes() {
    let ws = Workspace::new();
    let port = free_port();
    let cfg = config_with_rules(&ws, COUNTER_CACHED, "[cache]\nbackend = \"memory\"\n");
    let metrics_port = port.to_string();
    let mut gw = Gateway::start_with(&cfg, &[("ENABLE_METRICS", "true"), ("METRICS_PORT", &metrics_port)]).await;
    gw.initialize().await;
    gw.tool_names().await;
    let tool = "app__fx__counter";
    assert_eq!(gw.call_text(tool, json!({"a": 1, "b": [1, 2]})).await, "1");
    // Same arguments in another key order and spacing: the same entry.
    gw.send_raw(r#"{"jsonrpc":"2.0","id":"x","method":"tools/call","params":{"name":"app__fx__counter","arguments":{ "b" : [1,2], "a":1 }}}"#).await;
    assert_eq!(result_text(&gw.response(json!("x")).await), "1");
    // Other arguments: another entry, a real call.
    assert_eq!(gw.call_text(tool, json!({"a": 2})).await, "2");
    assert_eq!(gw.call_text(tool, json!({"a": 2})).await, "2");
    // A successful writer drops the rule's tag: the next read runs again.
    gw.call_text("app__fx__echo", json!({"message": "write"})).await;
    assert_eq!(gw.call_text(tool, json!({"a": 1, "b": [1, 2]})).await, "3");
    assert_eq!(gw.call_text(tool, json!({"a": 1, "b": [1, 2]})).await, "3");
    // A server that reports list_changed may answer differently now: its entries go.
    gw.call_text("app__fx__add_tool", json!({"name": "fresh"})).await;
    gw.notification("notifications/tools/list_changed", DEADLINE).await.expect("list_changed");
    assert_eq!(gw.call_text(tool, json!({"a": 1, "b": [1, 2]})).await, "4");
    // isError results are never cached, even under a caching rule.
    for _ in 0..2 {
        let resp = gw.call("app__fx__fail", json!({"message": "no"})).await;
        assert_eq!(resp["result"]["isError"], true, "{resp}");
    }
    let text = metrics_text(port).await;
    let hits =
        |t: &str| sample(&text, &format!("gateway_cache_hits_total{{namespace=\"app\",server=\"fx\",tool=\"{t}\"}}"));
    assert_eq!(hits("counter"), Some(3.0), "{text}");
    assert_eq!(hits("fail"), None, "{text}");
    let misses = sample(&text, "gateway_cache_misses_total{namespace=\"app\",server=\"fx\",tool=\"fail\"}");
    assert_eq!(misses, Some(2.0), "{text}");
    assert_eq!(
        sample(&text, "gateway_requests_total{namespace=\"app\",server=\"fx\",tool=\"counter\",outcome=\"cache_hit\"}"),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "gateway_tool_executions_total{namespace=\"app\",server=\"fx\",tool=\"counter\",outcome=\"ok\"}"),
        Some(4.0),
        "{text}"
    );
}

#[tokio::test]
async fn read_only_tools_are_cached_per_client_by_default_and_identical_calls_in_flight_run_once() {
    let ws = Workspace::new();
    let rules = r#"
[[rule]]
name = "slow-shared"
namespace = "app"
tool = "fx.slow_counter"
action = "allow"
cache = { ttl = "1m", scope = "public" }
"#;
    let port = free_port();
    let p = port.to_string();
    let mut gw =
        Gateway::start_with(&config_with_rules(&ws, rules, ""), &[("ENABLE_METRICS", "true"), ("METRICS_PORT", &p)])
            .await;
    gw.initialize().await;
    // Eight identical calls at once, the tool taking 300 ms: one downstream call, every caller answered.
    let calls: Vec<(&str, Value)> = (0..8).map(|_| ("app__fx__slow_counter", json!({"ms": 300}))).collect();
    let answers = call_concurrently(&mut gw, &calls).await;
    for a in &answers {
        assert_eq!(result_text(a), "1", "{a}");
    }
    // The counter moved once: the next (uncached) increment says 2.
    assert_eq!(gw.call_text("app__fx__counter", json!({})).await, "2");
    // `sleep` is annotated read-only: cached without a rule (privately, for this client).
    let first = gw.call("app__fx__sleep", json!({"ms": 20})).await;
    let second = gw.call("app__fx__sleep", json!({"ms": 20})).await;
    assert_eq!(first["result"], second["result"]);
    let text = metrics_text(port).await;
    let series = |kind: &str, tool: &str, outcome: &str| {
        let outcome = if outcome.is_empty() { String::new() } else { format!(",outcome=\"{outcome}\"") };
        sample(&text, &format!("{kind}{{namespace=\"app\",server=\"fx\",tool=\"{tool}\"{outcome}}}"))
    };
    assert_eq!(series("gateway_cache_hits_total", "sleep", ""), Some(1.0), "{text}");
    assert_eq!(series("gateway_tool_executions_total", "sleep", "ok"), Some(1.0), "{text}");
    // The coalesced callers: one execution, eight answered requests, no hits (they shared a call in flight).
    assert_eq!(series("gateway_tool_executions_total", "slow_counter", "ok"), Some(1.0), "{text}");
    assert_eq!(series("gateway_requests_total", "slow_counter", "ok"), Some(8.0), "{text}");
}

#[tokio::test]
async fn rate_limits_refuse_with_the_limit_and_the_time_to_retry() {
    let ws = Workspace::new();
    let rules = r#"
[[rule]]
name = "counter-budget"
namespace = "app"
tool = "fx.counter"
action = "allow"
rate_limit = { count = 2, per = "1m" }

[[rule]]
name = "app-budget"
namespace = "app"
tool = "fx.e*"
action = "allow"
rate_limit = { count = 3, per = "1m", scope = "namespace" }
"#;
    let mut gw = Gateway::start(&config_with_rules(&ws, rules, "")).await;
    gw.initialize().await;
    assert_eq!(gw.call_text("app__fx__counter", json!({})).await, "1");
    assert_eq!(gw.call_text("app__fx__counter", json!({})).await, "2");
    let refused = gw.call("app__fx__counter", json!({})).await;
    assert_eq!(refused["error"]["code"], -32006, "{refused}");
    let msg = refused["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("app.fx.counter") && msg.contains("at most 2 calls per 1m") && msg.contains("retry in"),
        "{msg}"
    );
    let wait = refused["error"]["data"]["retryAfterMs"].as_u64().unwrap();
    assert!(wait > 50_000 && wait <= 60_000, "{refused}");
    // The refused call never ran.
    gw.call_text("app__fx__echo", json!({"message": "x"})).await;
    gw.call_text("app__fx__env", json!({"name": "PATH"})).await;
    // echo and env share the namespace budget of 3 (echo answers from the cache would not count again: a new
    // message each time).
    gw.call_text("app__fx__echo", json!({"message": "y"})).await;
    let refused = gw.call("app__fx__env", json!({"name": "HOME"})).await;
    assert_eq!(refused["error"]["code"], -32006, "{refused}");
    assert!(refused["error"]["message"].as_str().unwrap().contains("namespace app"), "{refused}");
    // Other tools are not limited.
    assert!(gw.call_text("app__fx__pid", json!({})).await.parse::<u32>().is_ok());
}

#[tokio::test]
async fn the_cache_invalidate_command_reaches_a_running_gateway() {
    let ws = Workspace::new();
    let port = free_port().to_string();
    let cfg = config_with_rules(&ws, COUNTER_CACHED, "");
    let mut gw = Gateway::start_with(&cfg, &[("ENABLE_HEALTH", "true"), ("HEALTH_PORT", &port)]).await;
    gw.initialize().await;
    assert_eq!(gw.call_text("app__fx__counter", json!({})).await, "1");
    assert_eq!(gw.call_text("app__fx__counter", json!({})).await, "1");
    let url = format!("http://127.0.0.1:{port}");
    let out = cli(&["cache", "invalidate", "--config", cfg.to_str().unwrap(), "--tag", "ctr", "--gateway", &url], &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("1 entries with tag `ctr` dropped"), "{stdout}");
    assert_eq!(gw.call_text("app__fx__counter", json!({})).await, "2");
    // Standard tags work too.
    let out = cli(&["cache", "invalidate", "--tag", "tool:app.fx.counter", "--gateway", &url], &[]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 entries"), "{:?}", out);
    assert_eq!(gw.call_text("app__fx__counter", json!({})).await, "3");
    // Nothing listening: a clear failure.
    let dead = format!("http://127.0.0.1:{}", free_port());
    let out = cli(&["cache", "invalidate", "--tag", "ctr", "--gateway", &dead], &[]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("connecting to"), "{:?}", out);
}

const SHARED_RULES: &str = r#"
[[rule]]
name = "pid-shared"
namespace = "app"
tool = "fx.pid"
action = "allow"
cache = { ttl = "1m", tags = ["pids"], scope = "public" }

[[rule]]
name = "global-budget"
namespace = "app"
tool = "fx.counter"
action = "allow"
rate_limit = { count = 3, per = "1m" }
"#;

#[tokio::test]
async fn two_gateways_on_one_redis_share_cache_hits_and_one_global_limit() {
    let Some(redis) = RedisServer::start() else { return };
    let url = redis.url();
    let (ws_a, ws_b) = (Workspace::new(), Workspace::new());
    let mut a = Gateway::start_with(&config_with_rules(&ws_a, SHARED_RULES, ""), &[("REDIS_URL", &url)]).await;
    let mut b = Gateway::start_with(&config_with_rules(&ws_b, SHARED_RULES, ""), &[("REDIS_URL", &url)]).await;
    a.initialize().await;
    b.initialize().await;
    let pid_a = a.call_text("app__fx__pid", json!({})).await;
    redis.wait_for_cached(1);
    // B's own fixture has another pid: the answer it gets is A's, from Redis.
    assert_eq!(b.call_text("app__fx__pid", json!({})).await, pid_a);
    // Three calls per minute between both gateways.
    assert_eq!(a.call_text("app__fx__counter", json!({})).await, "1");
    assert_eq!(b.call_text("app__fx__counter", json!({})).await, "1");
    assert_eq!(a.call_text("app__fx__counter", json!({})).await, "2");
    for gw in [&mut b, &mut a] {
        let refused = gw.call("app__fx__counter", json!({})).await;
        assert_eq!(refused["error"]["code"], -32006, "{refused}");
    }
    // Invalidating in Redis reaches both.
    let cfg = config_with_rules(&ws_a, SHARED_RULES, "");
    let out = cli(&["cache", "invalidate", "--config", cfg.to_str().unwrap(), "--tag", "pids"], &[("REDIS_URL", &url)]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 entries with tag `pids` dropped"), "{:?}", out);
    let pid_b = b.call_text("app__fx__pid", json!({})).await;
    assert_ne!(pid_b, pid_a, "after invalidation B asks its own server");
    redis.wait_for_cached(1);
    assert_eq!(a.call_text("app__fx__pid", json!({})).await, pid_b, "and A now gets B's cached answer");
    drop(redis);
}

fn health(port: u16) -> Option<Value> {
    http("GET", port, "/healthz").and_then(|(_, body)| serde_json::from_str(&body).ok())
}

#[tokio::test]
async fn calls_survive_redis_going_away_and_the_cache_heals_when_it_returns() {
    let Some(mut redis) = RedisServer::start() else { return };
    let ws = Workspace::new();
    let rules = format!(
        "{COUNTER_CACHED}\n[[rule]]\nname = \"env-budget\"\nnamespace = \"app\"\ntool = \"fx.env\"\naction = \"allow\"\nrate_limit = {{ count = 2, per = \"1m\" }}\n"
    );
    let port = free_port();
    let cfg = config_with_rules(&ws, &rules, "");
    let p = port.to_string();
    let envs = [
        ("REDIS_URL", redis.url()),
        ("ENABLE_HEALTH", "true".into()),
        ("ENABLE_METRICS", "true".into()),
        ("HEALTH_PORT", p.clone()),
        ("METRICS_PORT", p.clone()),
    ];
    let envs: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut gw = Gateway::start_with(&cfg, &envs).await;
    gw.initialize().await;
    assert_eq!(gw.call_text("app__fx__counter", json!({})).await, "1");
    redis.wait_for_cached(1);
    assert_eq!(gw.call_text("app__fx__counter", json!({})).await, "1");
    let h = health(port).expect("healthz");
    assert_eq!(
        (h["status"].as_str(), h["cache"]["backend"].as_str(), h["cache"]["state"].as_str()),
        (Some("ok"), Some("redis"), Some("up")),
        "{h}"
    );

    redis.stop();
    // Calls go on without the cache (each one really runs) and limits hold locally.
    assert_eq!(gw.call_text("app__fx__counter", json!({})).await, "2");
    assert_eq!(gw.call_text("app__fx__counter", json!({})).await, "3");
    gw.call_text("app__fx__env", json!({"name": "A"})).await;
    gw.call_text("app__fx__env", json!({"name": "B"})).await;
    let refused = gw.call("app__fx__env", json!({"name": "C"})).await;
    assert_eq!(refused["error"]["code"], -32006, "a limit must hold while Redis is down: {refused}");
    let h = health(port).expect("healthz");
    assert_eq!((h["status"].as_str(), h["cache"]["state"].as_str()), (Some("degraded"), Some("down")), "{h}");
    let text = http("GET", port, "/metrics").unwrap().1;
    let errors = sample(&text, "gateway_errors_total{namespace=\"gateway\",server=\"gateway\",kind=\"cache\"}");
    assert!(errors.unwrap_or(0.0) >= 1.0, "{text}");
    assert_eq!(sample(&text, "gateway_cache_backend_up"), Some(0.0), "{text}");

    redis.restart();
    // The connection comes back by itself: caching works again and health is ok.
    let mut healed = false;
    for _ in 0..100 {
        let a = gw.call_text("app__fx__counter", json!({})).await;
        let b = gw.call_text("app__fx__counter", json!({})).await;
        if a == b && health(port).is_some_and(|h| h["status"] == "ok") {
            healed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(healed, "the cache did not recover after Redis came back; log:\n{}", gw.stderr());
}

#[tokio::test]
async fn lists_of_a_server_that_never_says_they_changed_are_refetched_after_their_ttl() {
    let ws = Workspace::new();
    let cfg = config_with_rules(&ws, "", "[cache]\nlist_ttl = \"300ms\"\n");
    let mut gw = Gateway::start(&cfg).await;
    gw.initialize().await;
    assert!(!gw.tool_names().await.contains(&"app__fx__quiet".to_owned()));
    // The server adds a tool without telling anyone.
    gw.call_text("app__fx__add_tool", json!({"name": "quiet", "silent": true})).await;
    assert!(!gw.tool_names().await.contains(&"app__fx__quiet".to_owned()), "nothing said it changed yet");
    // Once the lists are older than list_ttl, a listing refetches them, and the client hears list_changed.
    let mut seen = false;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if gw.tool_names().await.contains(&"app__fx__quiet".to_owned()) {
            seen = true;
            break;
        }
    }
    assert!(seen, "the new tool never appeared; log:\n{}", gw.stderr());
    assert_eq!(gw.call_text("app__fx__quiet", json!({"message": "hi"})).await, "hi");
}
