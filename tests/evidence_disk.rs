//! The audit trail on a full disk: a small tmpfs the test mounts (we run as root). Without `fail_closed` calls
//! keep working while records are dropped, counted and logged, and the trail verifies afterwards with the gap
//! in it; with `fail_closed` calls are refused with a clear error until writing recovers.

mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::json;
use support::*;

/// A size-limited tmpfs, unmounted on drop.
struct SmallFs(PathBuf);

impl SmallFs {
    fn mount(at: PathBuf, size: &str) -> SmallFs {
        std::fs::create_dir_all(&at).unwrap();
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&at)
            .output()
            .expect("run mount");
        assert!(out.status.success(), "mounting a tmpfs needs root: {}", String::from_utf8_lossy(&out.stderr));
        SmallFs(at)
    }

    /// Fills the file system up; the returned file, once removed, frees it again.
    fn fill(&self) -> PathBuf {
        let path = self.0.join("filler");
        let mut f = std::fs::File::create(&path).unwrap();
        let block = vec![b'x'; 4096];
        while f.write_all(&block).is_ok() {}
        let _ = f.sync_all();
        path
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn gateway_config(ws: &Workspace, dir: &Path, fail_closed: bool) -> PathBuf {
    ws.config(&format!(
        "[evidence]\ndir = \"{}\"\nmax_file_bytes = 4096\nfail_closed = {fail_closed}\n\n{}",
        dir.display(),
        fixture_server("alpha", "app", "")
    ))
}

async fn echo(gw: &mut Gateway, message: &str) -> serde_json::Value {
    gw.call("app__alpha__echo", json!({ "message": message })).await
}

fn verify(dir: &Path) -> String {
    let out = cli(&["evidence", "verify", dir.to_str().unwrap()], &[]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0), "{text}{}", String::from_utf8_lossy(&out.stderr));
    text
}

#[tokio::test]
async fn on_a_full_disk_calls_go_on_and_the_drops_are_counted_logged_and_in_the_trail() {
    let ws = Workspace::new();
    let fs = SmallFs::mount(ws.path().join("small"), "256k");
    let cfg = gateway_config(&ws, &fs.0, false);
    let mut gw = Gateway::start(&cfg).await;
    gw.initialize().await;
    assert_eq!(result_text(&echo(&mut gw, "before").await), "before");
    let filler = fs.fill();
    for i in 0..30 {
        let msg = format!("full {i}");
        assert_eq!(result_text(&echo(&mut gw, &msg).await), msg, "calls keep working on a full disk");
    }
    assert!(
        eventually(DEADLINE, || gw.stderr().contains("evidence write failed")).await,
        "the failure is logged:\n{}",
        gw.stderr()
    );
    std::fs::remove_file(filler).unwrap();
    // The next records reach the disk again.
    for i in 0..5 {
        assert_eq!(result_text(&echo(&mut gw, &format!("after {i}")).await), format!("after {i}"));
    }
    assert!(eventually(DEADLINE, || gw.stderr().contains("evidence writes recovered")).await, "{}", gw.stderr());
    gw.close_stdin();
    assert!(gw.wait_exit(DEADLINE).await.success(), "{}", gw.stderr());
    let report = verify(&fs.0);
    assert!(report.contains("dropped: "), "the gap is in the trail:\n{report}");
}

#[tokio::test]
async fn with_fail_closed_calls_that_cannot_be_recorded_are_refused_until_writing_recovers() {
    let ws = Workspace::new();
    let fs = SmallFs::mount(ws.path().join("small"), "256k");
    let cfg = gateway_config(&ws, &fs.0, true);
    let mut gw = Gateway::start(&cfg).await;
    gw.initialize().await;
    assert_eq!(result_text(&echo(&mut gw, "before").await), "before");
    let filler = fs.fill();
    // The first record that fails to be written turns refusal on; from then on every call is refused.
    let mut refused = None;
    for i in 0..200 {
        let resp = echo(&mut gw, &format!("full {i}")).await;
        if resp.get("error").is_some() {
            refused = Some(resp);
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let refused = refused.unwrap_or_else(|| panic!("no call was refused on a full disk:\n{}", gw.stderr()));
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(message.contains("audit trail cannot be written") && message.contains("fail_closed"), "{message}");
    for i in 0..3 {
        let resp = echo(&mut gw, &format!("still full {i}")).await;
        assert!(resp.get("error").is_some(), "refused while the disk is full: {resp}");
    }

    std::fs::remove_file(filler).unwrap();
    let mut answered = false;
    for i in 0..200 {
        let resp = echo(&mut gw, &format!("recovered {i}")).await;
        if resp.get("result").is_some() {
            answered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(answered, "calls must work again once writing recovers:\n{}", gw.stderr());
    gw.close_stdin();
    assert!(gw.wait_exit(DEADLINE).await.success(), "{}", gw.stderr());
    verify(&fs.0);
}
