//! Processes never outlive the gateway: after `kill -9` of the gateway its servers die within seconds, even one
//! that ignores EOF on stdin and SIGTERM, and what they spawned (grandchildren) is stopped by the next start on
//! the same state directory. Real gateway binary, real processes.

mod support;

use std::time::Duration;

use serde_json::json;
use support::*;

/// Kills whatever a failed test left behind.
struct Leftovers(Vec<i32>);

impl Drop for Leftovers {
    fn drop(&mut self) {
        for pid in &self.0 {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(*pid), nix::sys::signal::Signal::SIGKILL);
        }
    }
}

#[tokio::test]
async fn kill_9_of_the_gateway_leaves_no_server_and_the_next_start_stops_grandchildren() {
    let ws = Workspace::new();
    let pids = ws.file("stubborn.pids");
    // Serves until EOF on stdin like any stdio server, then ignores the EOF (and SIGTERM) and lives on.
    let script = ws.file("stubborn.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho $$ >> '{}'\ntrap '' TERM INT HUP\n'{}' --name stubborn\nwhile :; do sleep 0.2; done\n",
            pids.display(),
            fixture_bin().display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let cfg = ws.config(&format!(
        "{}\n[servers.stubborn]\nnamespace = \"app\"\ncommand = \"{}\"\n",
        fixture_server("alpha", "app", ""),
        script.display()
    ));

    let mut gw = Gateway::start(&cfg).await;
    gw.initialize().await;
    let server: i32 = gw.call_text("app__alpha__pid", json!({})).await.parse().unwrap();
    let grandchild: i32 = gw.call_text("app__alpha__spawn_child", json!({})).await.parse().unwrap();
    assert_eq!(gw.call_text("app__stubborn__echo", json!({ "message": "up" })).await, "up");
    let stubborn = pids_in(&pids);
    assert_eq!(stubborn.len(), 1, "{stubborn:?}");
    let mut leftovers = Leftovers(vec![server, grandchild, stubborn[0]]);
    assert!(pid_alive(server) && pid_alive(grandchild) && pid_alive(stubborn[0]));

    gw.child.start_kill().unwrap();
    gw.child.wait().await.unwrap();
    for (what, pid) in [("the server", server), ("the server ignoring EOF", stubborn[0])] {
        assert!(eventually(Duration::from_secs(5), || !pid_alive(pid)).await, "{what} ({pid}) outlived the gateway");
    }

    // The next start on the same state directory finds what is left and stops it.
    let mut gw = Gateway::start(&cfg).await;
    gw.initialize().await;
    assert!(
        eventually(Duration::from_secs(5), || !pid_alive(grandchild)).await,
        "the grandchild ({grandchild}) survived the next start; log:\n{}",
        gw.stderr()
    );
    assert!(gw.stderr().contains("left running by a gateway that died"), "{}", gw.stderr());
    // The new instance's own servers are not touched.
    let again: i32 = gw.call_text("app__alpha__pid", json!({})).await.parse().unwrap();
    leftovers.0.push(again);
    assert!(pid_alive(again));
    gw.close_stdin();
    assert!(gw.wait_exit(DEADLINE).await.success());
    assert!(eventually(Duration::from_secs(5), || !pid_alive(again)).await);
}
