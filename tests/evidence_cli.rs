//! `dfs-gateway evidence verify [DIR]` on trails written by the real evidence writer: intact, tampered, torn.

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use dfs_gateway::evidence::{EvidenceConfig, Record, Writer};
use support::*;

fn at(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_600_800 + secs)
}

/// Writes `n` call records into `dir` (small files, so the trail spans several) and returns its files in order.
fn write_trail(dir: &Path, n: u64) -> Vec<PathBuf> {
    let config = EvidenceConfig { dir: dir.to_path_buf(), max_file_bytes: 4096, ..EvidenceConfig::default() };
    let mut w = Writer::open(&config, at(0)).unwrap();
    for i in 0..n {
        let rec = Record {
            correlation_id: Some(format!("c-{i}").into()),
            server: Some("brave".into()),
            outcome: Some("ok".into()),
            arguments: serde_json::value::RawValue::from_string(format!(r#"{{"q":"query {i}"}}"#)).ok(),
            ..Record::call("ext.brave.search")
        };
        w.append(&rec, at(i)).unwrap();
    }
    w.close().unwrap();
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    // evidence-<day>.jsonl, then evidence-<day>-1.jsonl, -2, ... (one day here).
    files.sort_by_key(|p| {
        let stem = p.file_stem().unwrap().to_str().unwrap();
        stem["evidence-2026-11-25".len()..].trim_start_matches('-').parse::<u32>().unwrap_or(0)
    });
    files
}

fn verify(dir: &Path) -> (Option<i32>, String) {
    let out = cli(&["evidence", "verify", dir.to_str().unwrap()], &[]);
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code(), text)
}

#[test]
fn an_intact_trail_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let files = write_trail(dir.path(), 40);
    assert!(files.len() > 1, "the trail should span several files: {files:?}");
    let (code, text) = verify(dir.path());
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("OK: the chain is intact") && text.contains("head: seq"), "{text}");
}

#[test]
fn a_tampered_record_is_named_by_file_and_line_and_exits_65() {
    let dir = tempfile::tempdir().unwrap();
    write_trail(dir.path(), 40);
    // Find the record of call 7 and change its arguments, keeping the line well-formed JSON.
    let (file, line_no) = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find_map(|p| {
            let text = std::fs::read_to_string(&p).ok()?;
            let n = text.lines().position(|l| l.contains("\"c-7\""))?;
            Some((p, n + 1))
        })
        .expect("record c-7 in the trail");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("query 7"));
    std::fs::write(&file, text.replace("query 7", "query 8")).unwrap();
    let (code, out) = verify(dir.path());
    assert_eq!(code, Some(65), "{out}");
    let expected = format!("BROKEN: {}:{line_no}:", file.display());
    assert!(out.contains(&expected), "expected `{expected}` in:\n{out}");
}

#[test]
fn a_torn_final_line_is_tolerated_and_named() {
    let dir = tempfile::tempdir().unwrap();
    let files = write_trail(dir.path(), 10);
    let newest = files.last().unwrap();
    let lines = std::fs::read_to_string(newest).unwrap().lines().count();
    // A crash cut the next record off mid-write: no newline, not a whole record.
    let mut f = std::fs::OpenOptions::new().append(true).open(newest).unwrap();
    std::io::Write::write_all(&mut f, br#"{"kind":"call","seq":12,"tool":"ext.bra"#).unwrap();
    drop(f);
    let (code, out) = verify(dir.path());
    assert_eq!(code, Some(0), "{out}");
    let expected = format!("torn tail: {}:{}", newest.display(), lines + 1);
    assert!(out.contains(&expected) && out.contains("OK"), "expected `{expected}` in:\n{out}");
}

#[test]
fn a_torn_line_in_the_middle_is_broken() {
    let dir = tempfile::tempdir().unwrap();
    let files = write_trail(dir.path(), 40);
    let first = &files[0];
    let text = std::fs::read_to_string(first).unwrap();
    // Cut the file's last line in half: it is no longer the end of the trail.
    let cut = text.trim_end_matches('\n');
    let cut = &cut[..cut.len() - 20];
    std::fs::write(first, cut).unwrap();
    let (code, out) = verify(dir.path());
    assert_eq!(code, Some(65), "{out}");
    assert!(out.contains(&format!("BROKEN: {}:{}", first.display(), text.lines().count())), "{out}");
}

#[test]
fn without_a_dir_the_configured_state_dir_is_used_and_a_missing_trail_exits_66() {
    let ws = Workspace::new();
    let cfg = ws.config("");
    let evidence = ws.path().join("state/evidence");
    let out = cli(&["evidence", "verify", "--config", cfg.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(66), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("evidence"), "{out:?}");
    write_trail(&evidence, 3);
    let out = cli(&["evidence", "verify", "--config", cfg.to_str().unwrap()], &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains(&evidence.display().to_string()) && text.contains("4 record(s)"), "{text}");
}

#[tokio::test]
async fn the_trail_a_real_gateway_wrote_verifies_from_its_configuration() {
    let ws = Workspace::new();
    let cfg = ws.config(&fixture_server("alpha", "app", ""));
    let mut gw = Gateway::start(&cfg).await;
    gw.initialize().await;
    for i in 0..5 {
        let msg = format!("m{i}");
        assert_eq!(gw.call_text("app__alpha__echo", serde_json::json!({ "message": msg })).await, msg);
    }
    gw.close_stdin();
    assert!(gw.wait_exit(Duration::from_secs(15)).await.success());
    let out = cli(&["evidence", "verify", "--config", cfg.to_str().unwrap()], &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains(&ws.path().join("state/evidence").display().to_string()), "{text}");
    // A genesis record and one record per call at least.
    let records: u64 = text.split(" record(s)").next().and_then(|t| t.rsplit(' ').next()).unwrap().parse().unwrap();
    assert!(records >= 6, "{text}");
}

/// Arguments no JSON library reads into its tree (`1e400`, nesting thousands deep, lone surrogate escapes) are
/// recorded as sent, the trail verifies, and a restart keeps such a record when it is the last line (it used to
/// be taken for a torn write and cut off).
#[tokio::test]
async fn hostile_arguments_through_a_real_gateway_verify_and_survive_restarts() {
    let ws = Workspace::new();
    let cfg = ws.config(&fixture_server("alpha", "app", ""));
    let deep = format!("{}1{}", "[".repeat(2000), "]".repeat(2000));
    let calls = [
        r#"{"message":"esc \u0000 \ud800 ü","x-api-key":"hide-me-please"}"#.to_owned(),
        r#"{"message":"big","n":1e400,"m":-123456789012345678901234567890e-999}"#.to_owned(),
        format!(r#"{{"message":"deep","d":{deep}}}"#),
    ];
    for round in 0..2u64 {
        let mut gw = Gateway::start(&cfg).await;
        gw.initialize().await;
        for (i, args) in calls.iter().enumerate() {
            let id = 100 + round * 10 + i as u64;
            gw.send_raw(&format!(
                r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"app__alpha__echo","arguments":{args}}}}}"#
            ))
            .await;
            let resp = gw.response(serde_json::json!(id)).await;
            assert!(resp.get("result").is_some() || resp.get("error").is_some(), "{resp}");
        }
        gw.close_stdin();
        assert!(gw.wait_exit(Duration::from_secs(15)).await.success(), "{}", gw.stderr());
        let out = cli(&["evidence", "verify", "--config", cfg.to_str().unwrap()], &[]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{text}{}", String::from_utf8_lossy(&out.stderr));
        assert!(!text.contains("repaired") && !text.contains("torn"), "round {round}: {text}");
    }
    let trail: String = std::fs::read_dir(ws.path().join("state/evidence"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    assert_eq!(trail.matches("\"n\":1e400").count(), 2, "numbers are kept as sent");
    assert_eq!(trail.matches(&deep).count(), 2, "nesting is kept as sent");
    assert!(!trail.contains("hide-me-please"));
    assert!(!trail.contains("\"kind\":\"repair\""));
}
