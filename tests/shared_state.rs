//! Several gateways on one state directory: a desktop user whose Claude Desktop, Cursor and VS Code each launch
//! the gateway with the same configuration gets three working gateways. Each keeps a verifiable trail of its own
//! (the first the main chain, the others a lane each), `evidence verify` checks them all, and the shared
//! catalog of a lazy server serves every instance.

mod support;

use serde_json::json;
use support::*;

#[tokio::test]
async fn three_gateways_on_one_configuration_all_work_and_every_trail_verifies() {
    let ws = Workspace::new();
    let cfg = ws.config(&format!(
        "{}\n{}",
        fixture_server("alpha", "app", ""),
        fixture_server("lazy", "ext", "lazy = true\nidle_timeout = \"1m\"")
    ));
    let mut gateways = Vec::new();
    for _ in 0..3 {
        gateways.push(Gateway::start(&cfg).await);
    }
    for (g, gw) in gateways.iter_mut().enumerate() {
        gw.initialize().await;
        let names = gw.tool_names().await;
        assert!(
            names.contains(&"app__alpha__echo".to_owned()) && names.contains(&"ext__lazy__echo".to_owned()),
            "{names:?}"
        );
        for i in 0..3 {
            let msg = format!("gateway {g} call {i}");
            assert_eq!(gw.call_text("app__alpha__echo", json!({ "message": msg })).await, msg, "{}", gw.stderr());
            let lazy = format!("gateway {g} lazy {i}");
            assert_eq!(gw.call_text("ext__lazy__echo", json!({ "message": lazy })).await, lazy, "{}", gw.stderr());
        }
    }
    for gw in &mut gateways {
        gw.close_stdin();
    }
    for gw in &mut gateways {
        assert!(gw.wait_exit(DEADLINE).await.success(), "{}", gw.stderr());
    }

    let out = cli(&["evidence", "verify", "--config", cfg.to_str().unwrap()], &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(text.matches("OK: the chain is intact").count(), 3, "three chains:\n{text}");
    let evidence = ws.path().join("state/evidence");
    let mut trail = String::new();
    for dir in [evidence.clone(), evidence.join("lane-1"), evidence.join("lane-2")] {
        for f in std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()) {
            if f.extension().is_some_and(|e| e == "jsonl") {
                trail.push_str(&std::fs::read_to_string(f).unwrap());
            }
        }
    }
    for g in 0..3 {
        for i in 0..3 {
            assert!(trail.contains(&format!("gateway {g} call {i}")), "every call is recorded once:\n{trail}");
        }
    }

    // A tampered lane is caught by the same command.
    let lane = std::fs::read_dir(evidence.join("lane-2"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| std::fs::read_to_string(p).is_ok_and(|t| t.contains("\"kind\":\"call\"")))
        .expect("a lane file with calls");
    let text = std::fs::read_to_string(&lane).unwrap();
    let altered = text.replacen("\"outcome\":\"ok\"", "\"outcome\":\"no\"", 1);
    assert_ne!(text, altered);
    std::fs::write(&lane, altered).unwrap();
    let out = cli(&["evidence", "verify", "--config", cfg.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(65), "{}", String::from_utf8_lossy(&out.stdout));
}
