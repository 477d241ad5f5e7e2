//! The real `dfs-gateway` binary over stdio, in front of real fixture server processes in two namespaces.
//! Every test states what must survive and asserts what a client observes.

mod support;

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::*;

fn two_servers(extra_alpha: &str, extra_beta: &str) -> String {
    format!("{}\n{}", fixture_server("alpha", "app", extra_alpha), fixture_server("beta", "ext", extra_beta))
}

#[tokio::test]
async fn lifecycle_ping_unknown_method_and_malformed_frames() {
    let ws = Workspace::new();
    let mut gw = Gateway::start(&ws.config(&two_servers("", ""))).await;
    let init = gw.initialize().await;
    assert_eq!(init["protocolVersion"], "2025-11-25");
    assert_eq!(init["serverInfo"]["name"], "dfs-gateway");
    assert_eq!(init["capabilities"]["tools"]["listChanged"], true);

    assert_eq!(gw.request("ping", json!({})).await["result"], json!({}));
    let unknown = gw.request("no/such/method", json!({})).await;
    assert_eq!(unknown["error"]["code"], -32601, "{unknown}");

    // A malformed frame gets -32700 with a null id, and the session goes on.
    gw.send_raw("{\"jsonrpc\":\"2.0\",\"id\":99,\"method\":").await;
    let err = gw.recv_matching(DEADLINE, |m| m.get("error").is_some() && m["id"].is_null()).await.expect("parse error");
    assert_eq!(err["error"]["code"], -32700);
    gw.send_raw("this is not json at all").await;
    let err = gw.recv_matching(DEADLINE, |m| m.get("error").is_some() && m["id"].is_null()).await.expect("parse error");
    assert_eq!(err["error"]["code"], -32700);
    assert_eq!(gw.call_text("app__alpha__echo", json!({"message": "still here"})).await, "still here");

    // A request with "id": null is not a notification, and not a request MCP allows (ids are strings or
    // integers): it is answered -32600, with a null id.
    gw.send_raw(r#"{"jsonrpc":"2.0","id":null,"method":"ping"}"#).await;
    let refused = gw.recv_matching(DEADLINE, |m| m["id"].is_null() && m.get("error").is_some()).await;
    assert_eq!(refused.expect("ping with null id answered")["error"]["code"], -32600);
}

#[tokio::test]
async fn tools_are_merged_under_wire_names_and_routed_by_wire_or_canonical_name() {
    let ws = Workspace::new();
    let mut gw = Gateway::start(&ws.config(&two_servers("", ""))).await;
    gw.initialize().await;
    let names = gw.tool_names().await;
    assert!(names.contains(&"app__alpha__echo".to_owned()), "{names:?}");
    assert!(names.contains(&"ext__beta__echo".to_owned()), "{names:?}");
    assert!(names
        .iter()
        .all(|n| n.len() <= 64 && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')));
    // App tools are listed before ext tools.
    let first_ext = names.iter().position(|n| n.starts_with("ext__")).unwrap();
    assert!(names[..first_ext].iter().all(|n| n.starts_with("app__")), "{names:?}");

    assert_eq!(gw.call_text("app__alpha__echo", json!({"message": "a"})).await, "a");
    assert_eq!(gw.call_text("ext__beta__echo", json!({"message": "b"})).await, "b");
    assert_eq!(gw.call_text("app.alpha.echo", json!({"message": "dotted"})).await, "dotted");

    // Arguments reach the server byte for byte: spacing, key order, number spelling, escapes.
    let raw_args = r#"{"z": 1.50,  "a":[1e3, -0.0], "s":"\u00e9\"q\"\n", "nested":{"b":null,"a":true}}"#;
    gw.send_raw(&format!(
        r#"{{"jsonrpc":"2.0","id":"raw-1","method":"tools/call","params":{{"name":"app__alpha__echo_args","arguments":{raw_args}}}}}"#
    ))
    .await;
    let resp = gw.response(json!("raw-1")).await;
    assert_eq!(result_text(&resp), raw_args);

    // Unknown tools are -32602 and name the tool.
    let resp = gw.call("app__alpha__nope", json!({})).await;
    assert_eq!(resp["error"]["code"], -32602);
    assert!(resp["error"]["message"].as_str().unwrap().contains("app__alpha__nope"), "{resp}");
    let resp = gw.request("tools/call", json!({"arguments": {}})).await;
    assert_eq!(resp["error"]["code"], -32602);
}

#[tokio::test]
async fn progress_messages_list_changed_and_cancellation_reach_the_right_peer() {
    let ws = Workspace::new();
    let mut gw = Gateway::start(&ws.config(&two_servers("", ""))).await;
    gw.initialize().await;
    let before = gw.tool_names().await;

    // Progress comes back with the client's own token, string or number.
    gw.send(&json!({"jsonrpc":"2.0","id":"p1","method":"tools/call",
        "params":{"name":"app__alpha__progress","arguments":{"steps":3},"_meta":{"progressToken":"tok-A"}}}))
        .await;
    gw.send(&json!({"jsonrpc":"2.0","id":"p2","method":"tools/call",
        "params":{"name":"ext__beta__progress","arguments":{"steps":2},"_meta":{"progressToken":77}}}))
        .await;
    assert_eq!(result_text(&gw.response(json!("p1")).await), "done 3 steps");
    assert_eq!(result_text(&gw.response(json!("p2")).await), "done 2 steps");
    let mut a = 0;
    let mut b = 0;
    while let Some(n) = gw.recv_matching(Duration::from_millis(200), |m| m["method"] == "notifications/progress").await
    {
        match &n["params"]["progressToken"] {
            t if t == "tok-A" => a += 1,
            t if t == 77 => b += 1,
            other => panic!("progress with a token nobody sent: {other}"),
        }
    }
    assert_eq!((a, b), (3, 2));

    // Logging notifications from a server reach the client.
    gw.call_text("ext__beta__log", json!({"message": "hello from beta", "level": "warning"})).await;
    let msg = gw.notification("notifications/message", DEADLINE).await.expect("log message forwarded");
    assert_eq!(msg["params"]["data"], "hello from beta");
    assert_eq!(msg["params"]["logger"], "beta");

    // list_changed: the server adds a tool; the client is told once and sees the new tool.
    gw.call_text("app__alpha__add_tool", json!({"name": "fresh"})).await;
    gw.notification("notifications/tools/list_changed", DEADLINE).await.expect("list_changed passed on");
    assert!(gw.notification("notifications/tools/list_changed", Duration::from_millis(300)).await.is_none());
    let after = gw.tool_names().await;
    assert_eq!(after.len(), before.len() + 1);
    assert!(after.contains(&"app__alpha__fresh".to_owned()));
    assert_eq!(gw.call_text("app__alpha__fresh", json!({"message": "new"})).await, "new");

    // Cancellation reaches the server that runs the call, with that server's id; no response follows.
    gw.send(&json!({"jsonrpc":"2.0","id":"long","method":"tools/call",
        "params":{"name":"ext__beta__sleep","arguments":{"ms":5000}}}))
        .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    gw.notify("notifications/cancelled", json!({"requestId": "long", "reason": "user"})).await;
    let ids = gw.call_text("ext__beta__cancelled_ids", json!({})).await;
    let ids: Vec<Value> = serde_json::from_str(&ids).unwrap();
    assert_eq!(ids.len(), 1, "beta saw {ids:?}");
    assert!(ids[0].is_u64(), "the server sees its own numeric id, not the client's: {ids:?}");
    assert_eq!(gw.call_text("app__alpha__cancelled_ids", json!({})).await, "[]");
    assert!(gw.recv_matching(Duration::from_millis(500), |m| m["id"] == "long").await.is_none());
}

#[tokio::test]
async fn a_crash_mid_call_is_answered_at_once_with_the_stderr_tail_and_the_server_restarts() {
    let ws = Workspace::new();
    let mut gw = Gateway::start(&ws.config(&two_servers("restart_backoff = \"100ms\"", ""))).await;
    gw.initialize().await;
    let pid_before = gw.call_text("app__alpha__pid", json!({})).await;

    // A slow call in flight on alpha (not safe to repeat: no read-only or idempotent annotation), one on beta;
    // then alpha crashes.
    gw.send(&json!({"jsonrpc":"2.0","id":"slow","method":"tools/call",
        "params":{"name":"app__alpha__progress","arguments":{"steps":100,"interval_ms":100}}}))
        .await;
    gw.send(&json!({"jsonrpc":"2.0","id":"other","method":"tools/call",
        "params":{"name":"ext__beta__sleep","arguments":{"ms":300}}}))
        .await;
    let started = Instant::now();
    let crash = gw.call("app__alpha__crash", json!({"message": "boom: the disk is on fire"})).await;
    let slow = gw.response(json!("slow")).await;
    assert!(started.elapsed() < Duration::from_secs(3), "in-flight calls must fail at once, not time out");
    for resp in [&crash, &slow] {
        assert_eq!(resp["error"]["code"], -32002, "{resp}");
        let message = resp["error"]["message"].as_str().unwrap();
        assert!(message.contains("app.alpha"), "{message}");
        assert!(message.contains("boom: the disk is on fire"), "{message}");
        assert!(message.contains("fixture: last words"), "{message}");
    }
    // The other server is untouched.
    assert_eq!(result_text(&gw.response(json!("other")).await), "slept 300ms");

    // The next call restarts alpha (a new process) and succeeds.
    let pid_after = gw.call_text("app__alpha__pid", json!({})).await;
    assert_ne!(pid_before, pid_after);
    assert_eq!(gw.call_text("app__alpha__echo", json!({"message": "back"})).await, "back");
}

#[tokio::test]
async fn garbage_on_stdout_is_skipped_and_the_stream_goes_on() {
    let ws = Workspace::new();
    let mut gw =
        Gateway::start(&ws.config(&fixture_server("noisy", "app", "env = { FIXTURE_GARBAGE_ON_START = \"1\" }"))).await;
    gw.initialize().await;
    assert_eq!(gw.call_text("app__noisy__garbage", json!({"lines": 5})).await, "garbage printed");
    for i in 0..20 {
        assert_eq!(gw.call_text("app__noisy__echo", json!({"message": format!("m{i}")})).await, format!("m{i}"));
    }
    assert!(gw.stderr().contains("not JSON-RPC"), "garbage should be logged");
}

#[tokio::test]
async fn a_hung_call_times_out_is_cancelled_downstream_and_others_keep_working() {
    let ws = Workspace::new();
    let mut gw = Gateway::start(&ws.config(&two_servers("timeout = \"500ms\"\nretries = 2", ""))).await;
    gw.initialize().await;
    // A tool that is not safe to repeat runs exactly once, even when it times out.
    let started = Instant::now();
    let resp = gw.call("app__alpha__slow_counter", json!({"ms": 30000})).await;
    let took = started.elapsed();
    assert_eq!(resp["error"]["code"], -32001, "{resp}");
    assert!(resp["error"]["message"].as_str().unwrap().contains("app.alpha"), "{resp}");
    assert!(took >= Duration::from_millis(450) && took < Duration::from_secs(3), "timed out after {took:?}");
    assert_eq!(gw.call_text("app__alpha__counter", json!({})).await, "2", "slow_counter ran exactly once");
    // The downstream was told to stop working on it.
    let ids = gw.call_text("app__alpha__cancelled_ids", json!({})).await;
    assert_eq!(serde_json::from_str::<Vec<Value>>(&ids).unwrap().len(), 1, "{ids}");

    // A read-only tool is safe to repeat: it is tried 1 + `retries` times, each attempt cancelled downstream.
    let resp = gw.call("app__alpha__sleep", json!({"ms": 30000})).await;
    assert_eq!(resp["error"]["code"], -32001, "{resp}");
    let ids = gw.call_text("app__alpha__cancelled_ids", json!({})).await;
    assert_eq!(serde_json::from_str::<Vec<Value>>(&ids).unwrap().len(), 4, "{ids}");

    assert_eq!(gw.call_text("app__alpha__echo", json!({"message": "alive"})).await, "alive");
    assert_eq!(gw.call_text("ext__beta__echo", json!({"message": "alive"})).await, "alive");
}

#[tokio::test]
async fn a_server_that_never_answers_initialize_fails_its_calls_and_spares_the_rest() {
    let ws = Workspace::new();
    let cfg = format!(
        "{}\n{}",
        fixture_server(
            "stuck",
            "app",
            "env = { FIXTURE_HANG_ON_INITIALIZE = \"1\" }\nstart_timeout = \"600ms\"\ntimeout = \"2s\""
        ),
        fixture_server("fine", "ext", "")
    );
    let mut gw = Gateway::start(&ws.config(&cfg)).await;
    gw.initialize().await;
    let names = gw.tool_names().await;
    assert!(names.iter().all(|n| !n.starts_with("app__stuck")), "{names:?}");
    assert_eq!(gw.call_text("ext__fine__echo", json!({"message": "ok"})).await, "ok");
    // A tool never listed, of a server that cannot start: the error says which server and why, rather than
    // "unknown tool" (issue 13: a client must not see a missing server without a reason).
    let resp = gw.call("app.stuck.echo", json!({"message": "x"})).await;
    let message = resp["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("app.stuck") && message.contains("start-up failed"), "{resp}");
    // A name of no configured server stays unknown.
    let resp = gw.call("app.nobody.echo", json!({"message": "x"})).await;
    assert_eq!(resp["error"]["code"], -32602, "{resp}");
}

#[tokio::test]
async fn large_results_pass_intact_and_oversized_frames_are_rejected_without_losing_the_stream() {
    let ws = Workspace::new();
    let path = ws.config_with("max_frame_bytes = 300000", &fixture_server("big", "app", ""));
    let mut gw = Gateway::start(&path).await;
    gw.initialize().await;

    let text = gw.call_text("app__big__large", json!({"bytes": 250_000})).await;
    assert_eq!(text.len(), 250_000);
    assert!(text.starts_with("abcdefghij"));

    // Downstream → gateway: over the limit, answered as an error at once, and the next call works.
    let resp = gw.call("app__big__large", json!({"bytes": 400_000})).await;
    assert_eq!(resp["error"]["code"], -32603, "{resp}");
    assert!(resp["error"]["message"].as_str().unwrap().contains("frame limit"), "{resp}");
    assert_eq!(gw.call_text("app__big__echo", json!({"message": "after"})).await, "after");

    // Client → gateway: over the limit, rejected with -32600 naming its id, and the session goes on.
    let huge = "x".repeat(400_000);
    gw.send_raw(&format!(
        r#"{{"jsonrpc":"2.0","id":"huge","method":"tools/call","params":{{"name":"app__big__echo","arguments":{{"message":"{huge}"}}}}}}"#
    ))
    .await;
    let resp = gw.response(json!("huge")).await;
    assert_eq!(resp["error"]["code"], -32600, "{resp}");
    assert_eq!(gw.call_text("app__big__echo", json!({"message": "fine"})).await, "fine");
}

#[tokio::test]
async fn lazy_servers_start_on_first_call_list_from_the_catalog_and_stop_when_idle() {
    let ws = Workspace::new();
    let pids = ws.file("lazy.pids");
    let lazy = fixture_server(
        "lazy",
        "ext",
        &format!("env = {{ FIXTURE_PID_FILE = \"{}\" }}\nidle_timeout = \"700ms\"", pids.display()),
    );
    let cfg_path = ws.config(&lazy);

    // First run: no catalog, so the server is started once to discover its tools, then stopped when idle.
    let mut gw = Gateway::start(&cfg_path).await;
    gw.initialize().await;
    assert!(gw.tool_names().await.contains(&"ext__lazy__echo".to_owned()));
    let catalog = ws.file("state/catalog/lazy.json");
    assert!(eventually(Duration::from_secs(5), || catalog.exists()).await, "catalog written");
    let first = pids_in(&pids);
    assert_eq!(first.len(), 1);
    assert!(eventually(Duration::from_secs(5), || !pid_alive(first[0])).await, "idle lazy server stopped");
    // A call starts it again.
    assert_eq!(gw.call_text("ext__lazy__echo", json!({"message": "wake"})).await, "wake");
    assert_eq!(pids_in(&pids).len(), 2);
    gw.close_stdin();
    gw.wait_exit(Duration::from_secs(10)).await;

    // Second run: listed from the catalog without starting anything.
    let mut gw = Gateway::start(&cfg_path).await;
    gw.initialize().await;
    let names = gw.tool_names().await;
    assert!(names.contains(&"ext__lazy__echo".to_owned()), "{names:?}\n{}", gw.stderr());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(pids_in(&pids).len(), 2, "a catalogued lazy server is not started by tools/list");
    assert_eq!(gw.call_text("ext__lazy__echo", json!({"message": "first call"})).await, "first call");
    assert_eq!(pids_in(&pids).len(), 3, "the first call starts it");
}

#[tokio::test]
async fn children_get_a_minimal_environment_plus_their_own_env() {
    let ws = Workspace::new();
    let cfg = fixture_server("envy", "app", "env = { TOKEN_FOR_ME = \"${DFS_TEST_SECRET}\", PLAIN = \"x\" }");
    let mut gw = Gateway::start_with(&ws.config(&cfg), &[("DFS_TEST_SECRET", "s3cret"), ("OTHER_KEY", "leak")]).await;
    gw.initialize().await;
    assert_eq!(gw.call_text("app__envy__env", json!({"name": "TOKEN_FOR_ME"})).await, "s3cret");
    assert_eq!(gw.call_text("app__envy__env", json!({"name": "PLAIN"})).await, "x");
    assert_eq!(gw.call_text("app__envy__env", json!({"name": "OTHER_KEY"})).await, "<unset>");
    assert_ne!(gw.call_text("app__envy__env", json!({"name": "PATH"})).await, "<unset>");
    assert!(!gw.stderr().contains("s3cret"), "secrets never reach the logs");
}

/// Starts a gateway whose servers each spawned a grandchild, ends it with `how`, and checks no process of theirs
/// is left.
async fn no_process_left_after(how: &str) {
    let ws = Workspace::new();
    let pids = ws.file("all.pids");
    let env = format!("env = {{ FIXTURE_PID_FILE = \"{}\" }}", pids.display());
    let mut gw = Gateway::start(&ws.config(&two_servers(&env, &env))).await;
    gw.initialize().await;
    let mut all = Vec::new();
    for tool in ["app__alpha__spawn_child", "ext__beta__spawn_child"] {
        all.push(gw.call_text(tool, json!({})).await.trim().parse::<i32>().unwrap());
    }
    all.extend(pids_in(&pids));
    assert_eq!(all.len(), 4, "two servers and two grandchildren: {all:?}");
    assert!(all.iter().all(|p| pid_alive(*p)));
    match how {
        "eof" => gw.close_stdin(),
        "sigterm" => {
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(gw.pid()), nix::sys::signal::Signal::SIGTERM).unwrap()
        }
        "sigint" => {
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(gw.pid()), nix::sys::signal::Signal::SIGINT).unwrap()
        }
        _ => unreachable!(),
    }
    let status = gw.wait_exit(Duration::from_secs(10)).await;
    assert!(status.success(), "{how}: exit status {status}");
    let left: Vec<i32> = all.iter().copied().filter(|p| pid_alive(*p)).collect();
    assert!(eventually(Duration::from_secs(2), || all.iter().all(|p| !pid_alive(*p))).await, "{how}: left {left:?}");
}

#[tokio::test]
async fn no_process_is_left_after_eof() {
    no_process_left_after("eof").await;
}

#[tokio::test]
async fn no_process_is_left_after_sigterm() {
    no_process_left_after("sigterm").await;
}

#[tokio::test]
async fn no_process_is_left_after_sigint() {
    no_process_left_after("sigint").await;
}

#[tokio::test]
async fn many_concurrent_calls_each_get_their_own_answer() {
    let ws = Workspace::new();
    let mut gw = Gateway::start(&ws.config(&two_servers("", ""))).await;
    gw.initialize().await;
    let n = 400;
    for i in 0..n {
        let tool = if i % 2 == 0 { "app__alpha__echo" } else { "ext__beta__echo" };
        gw.send(&json!({"jsonrpc":"2.0","id": format!("c{i}"),"method":"tools/call",
            "params":{"name": tool,"arguments":{"message": format!("payload-{i}")}}}))
            .await;
    }
    for i in 0..n {
        let resp = gw.response(json!(format!("c{i}"))).await;
        assert_eq!(result_text(&resp), format!("payload-{i}"));
    }
}

/// Calls sent while the server dies under them (most go straight to its connection, not through its actor)
/// are each answered: with their result, or with an error naming the server; none waits forever.
#[tokio::test]
async fn calls_racing_a_crash_are_all_answered() {
    let ws = Workspace::new();
    let mut gw =
        Gateway::start(&ws.config(&fixture_server("alpha", "app", "retries = 0\nrestart_backoff = \"20ms\""))).await;
    gw.initialize().await;
    for round in 0..3 {
        let n = 300;
        for i in 0..n {
            let (tool, args) = match i {
                150 => ("app__alpha__crash", json!({})),
                _ => ("app__alpha__echo", json!({"message": format!("r{round}-{i}")})),
            };
            gw.send(&json!({"jsonrpc":"2.0","id": format!("{round}-{i}"),"method":"tools/call",
                "params":{"name": tool,"arguments": args}}))
                .await;
        }
        let (mut ok, mut failed) = (0, 0);
        for i in 0..n {
            let resp = gw.response(json!(format!("{round}-{i}"))).await;
            match (resp.get("result"), resp.get("error")) {
                (Some(_), _) => {
                    assert_eq!(result_text(&resp), format!("r{round}-{i}"), "{resp}");
                    ok += 1;
                }
                (None, Some(e)) => {
                    assert!(e["message"].as_str().unwrap().contains("app.alpha"), "{resp}");
                    failed += 1;
                }
                _ => panic!("{resp}"),
            }
        }
        assert!(failed >= 1 && ok + failed == n, "round {round}: {ok} ok, {failed} failed");
        // The server is back for the next round.
        let mut back = false;
        for _ in 0..200 {
            if gw.call("app__alpha__echo", json!({"message": format!("back{round}")})).await.get("result").is_some() {
                back = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(back, "the server did not come back; log:\n{}", gw.stderr());
    }
}

#[test]
fn check_reports_every_problem_with_file_and_line_and_exits_64() {
    let ws = Workspace::new();
    let path = ws.file("bad.toml");
    std::fs::write(&path, "[gateway]\nseparator = \"\"\n\n[servers.x]\nnamespace = \"moon\"\ncommand = \"sh\"\n")
        .unwrap();
    let out = cli(&["check", "--config", path.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(64));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.toml:2:13: separator must be non-empty"), "{err}");
    assert!(err.contains("bad.toml:4:1: server `x`: namespace must be"), "{err}");

    let good = ws.config(&fixture_server("alpha", "app", ""));
    let out = cli(&["check", "--config", good.to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // serve refuses a bad config with the same exit code, without touching stdout.
    let out = cli(&["serve", "--config", path.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(64));
    assert!(out.stdout.is_empty());
}

#[test]
fn process_settings_from_the_environment_are_validated_like_the_file() {
    let ws = Workspace::new();
    let good = ws.config(&fixture_server("alpha", "app", ""));
    let good = good.to_str().unwrap();
    for (var, value) in [
        ("HEALTH_PORT", "abc"),
        ("METRICS_PORT", "99999"),
        ("ENABLE_HEALTH", "maybe"),
        ("OPS_BIND", "localhost"),
        ("DFS_GATEWAY_WORKERS", "many"),
        ("DFS_GATEWAY_SPIN_US", "fast"),
    ] {
        for command in ["check", "serve"] {
            let out = cli(&[command, "--config", good], &[(var, value)]);
            assert_eq!(out.status.code(), Some(64), "{command} with {var}={value}");
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(err.contains(&format!("env:{var}: `{value}`")), "{command} with {var}={value}: {err}");
            assert!(out.stdout.is_empty());
        }
    }
    let out = cli(&["check", "--config", good], &[("HEALTH_PORT", "8081"), ("DFS_GATEWAY_SPIN_US", "0")]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn cli_tools_and_call_go_through_the_whole_gateway() {
    let ws = Workspace::new();
    let cfg = ws.config(&two_servers("", ""));
    let out = cli(&["tools", "--config", cfg.to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let table = String::from_utf8_lossy(&out.stdout);
    let row = table.lines().find(|l| l.starts_with("app__alpha__echo ")).expect("echo row");
    let cols: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cols, ["app__alpha__echo", "app.alpha.echo", "app.alpha", "ready"]);

    let out = cli(&["call", "--config", cfg.to_str().unwrap(), "ext.beta.echo", r#"{"message":"via cli"}"#], &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let result: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(result["content"][0]["text"], "via cli");
    let out = cli(&["call", "--config", cfg.to_str().unwrap(), "app__alpha__fail", r#"{"message":"nope"}"#], &[]);
    assert_eq!(out.status.code(), Some(1));
}

#[tokio::test]
async fn app_and_external_servers_from_the_environment_with_the_bundled_config() {
    let ws = Workspace::new();
    let fixture = fixture_bin().to_str().unwrap().to_owned();
    let mut cmd = tokio::process::Command::new(gateway_bin());
    cmd.current_dir(ws.path())
        .arg("serve")
        .env_remove("DFS_GATEWAY_CONFIG")
        .env("APP_SERVERS", &fixture)
        .env("EXTERNAL_SERVERS", format!("web={fixture} --name web"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true);
    let mut child = cmd.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let reqs = [
        json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}),
        json!({"jsonrpc":"2.0","id":2,"method":"tools/list"}),
        json!({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"ext__web__echo","arguments":{"message":"env"}}}),
    ];
    for r in &reqs {
        stdin.write_all(format!("{r}\n").as_bytes()).await.unwrap();
    }
    let mut got = std::collections::HashMap::new();
    while got.len() < 3 {
        let line = tokio::time::timeout(DEADLINE, lines.next_line()).await.unwrap().unwrap().unwrap();
        let v: Value = serde_json::from_str(&line).unwrap();
        if let Some(id) = v["id"].as_u64() {
            got.insert(id, v);
        }
    }
    let names: Vec<&str> =
        got[&2]["result"]["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"app__dfs-fixture-server__echo"), "{names:?}");
    assert!(names.contains(&"ext__web__echo"), "{names:?}");
    assert_eq!(got[&3]["result"]["content"][0]["text"], "env");
    drop(stdin);
    let status = tokio::time::timeout(DEADLINE, child.wait()).await.unwrap().unwrap();
    assert!(status.success());
}

#[tokio::test]
async fn a_server_that_keeps_crashing_is_restarted_with_exponential_backoff_up_to_a_ceiling() {
    let ws = Workspace::new();
    let pids = ws.file("crashy.pids");
    let crashy = fixture_server(
        "crashy",
        "app",
        &format!(
            "env = {{ FIXTURE_CRASH_ON_START = \"1\", FIXTURE_PID_FILE = \"{}\" }}\nrestart_backoff = \"100ms\"\nrestart_backoff_max = \"400ms\"",
            pids.display()
        ),
    );
    let mut gw = Gateway::start(&ws.config(&format!("{crashy}\n{}", fixture_server("ok", "ext", "")))).await;
    gw.initialize().await;
    // Starts at about 0, 0.1, 0.3, 0.7, 1.1, 1.5 s...: doubling delays capped at 400 ms. Without backoff there would
    // be hundreds of starts; without restarts, one.
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let starts = pids_in(&pids).len();
    assert!((4..=9).contains(&starts), "{starts} starts in 2 s");
    let resp = gw.call("app.crashy.echo", json!({"message": "x"})).await;
    assert!(resp.get("error").is_some(), "{resp}");
    assert_eq!(gw.call_text("ext__ok__echo", json!({"message": "unaffected"})).await, "unaffected");
}

#[tokio::test]
async fn a_gateway_with_no_servers_lists_empty_lists() {
    let ws = Workspace::new();
    let mut gw = Gateway::start(&ws.config("")).await;
    gw.initialize().await;
    assert_eq!(gw.request("tools/list", json!({})).await["result"], json!({"tools": []}));
    assert_eq!(gw.request("prompts/list", json!({})).await["result"], json!({"prompts": []}));
    assert_eq!(gw.request("resources/templates/list", json!({})).await["result"], json!({"resourceTemplates": []}));
}

/// CPU time (user + system) of a process so far, in clock ticks (1/100 s).
fn cpu_ticks(pid: i32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = &stat[stat.rfind(')').expect("comm") + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// A gateway with `DFS_GATEWAY_SPIN_US = spin_us` that has just answered one call, and the CPU ticks it uses in
/// the `ms` after that answer.
async fn cpu_after_a_call(ws: &Workspace, spin_us: &str, ms: u64) -> (Gateway, u64) {
    let config = ws.config(&fixture_server("alpha", "app", ""));
    let mut gw = Gateway::start_with(&config, &[("DFS_GATEWAY_SPIN_US", spin_us), ("LOG_LEVEL", "warn")]).await;
    gw.initialize().await;
    assert_eq!(gw.call_text("app__alpha__echo", json!({"message": "wake"})).await, "wake");
    let before = cpu_ticks(gw.pid());
    tokio::time::sleep(Duration::from_millis(ms)).await;
    let used = cpu_ticks(gw.pid()) - before;
    (gw, used)
}

#[tokio::test]
async fn the_runtime_spins_only_within_its_window_after_traffic() {
    // A window of 600 ms makes the spin measurable: right after a call the gateway keeps polling (using CPU),
    // and once the window has passed without a message it sleeps (using none).
    let ws = Workspace::new();
    let (gw, spinning) = cpu_after_a_call(&ws, "600000", 400).await;
    assert!(spinning >= 3, "expected the gateway to poll after a call; it used {spinning} ticks in 400 ms");
    tokio::time::sleep(Duration::from_millis(400)).await;
    let before = cpu_ticks(gw.pid());
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let idle = cpu_ticks(gw.pid()) - before;
    assert!(idle <= 3, "an idle gateway must sleep; it used {idle} ticks in 1 s");

    // Off: no spinning after a call.
    let ws_off = Workspace::new();
    let (_off, used) = cpu_after_a_call(&ws_off, "0", 400).await;
    assert!(used <= 2, "spinning is off, yet the gateway used {used} ticks in 400 ms");
}
