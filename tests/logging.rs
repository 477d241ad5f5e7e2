//! Rolling log files: the real binary with a log folder writes the same JSON lines to a file as to stderr, and
//! the last lines before exit reach the file.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};
use support::*;

fn log_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> =
        std::fs::read_dir(dir).map(|rd| rd.map(|e| e.unwrap().path()).collect()).unwrap_or_default();
    files.sort();
    files
}

/// Every line of `text` must be a JSON log record; returns their messages.
fn messages(text: &str, what: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{what}: not a JSON line ({e}): {l}"));
            assert!(v["level"].is_string() && v["timestamp"].is_string(), "{what}: not a log record: {l}");
            v["fields"]["message"].as_str().unwrap_or_default().to_owned()
        })
        .collect()
}

async fn run_once(cfg: &Path, envs: &[(&str, &str)]) -> String {
    let mut gw = Gateway::start_with(cfg, envs).await;
    gw.initialize().await;
    assert_eq!(gw.call_text("app__alpha__echo", json!({"message": "hi"})).await, "hi");
    gw.close_stdin();
    assert!(gw.wait_exit(Duration::from_secs(15)).await.success());
    gw.stderr()
}

#[tokio::test]
async fn log_dir_from_the_environment_gets_the_json_lines_of_stderr_up_to_the_last_one() {
    let ws = Workspace::new();
    let cfg = ws.config(&fixture_server("alpha", "app", ""));
    let dir = ws.path().join("logs");
    let stderr = run_once(&cfg, &[("LOG_DIR", dir.to_str().unwrap()), ("LOG_LEVEL", "info")]).await;
    let files = log_files(&dir);
    assert_eq!(files.len(), 1, "{files:?}");
    let name = files[0].file_name().unwrap().to_str().unwrap().to_owned();
    assert!(name.starts_with("dfs-gateway.") && name.ends_with(".log"), "{name}");
    let mut in_file = messages(&std::fs::read_to_string(&files[0]).unwrap(), "log file");
    let mut on_stderr = messages(&stderr, "stderr");
    assert!(in_file.iter().any(|m| m == "dfs-gateway serving"), "{in_file:?}");
    let last = on_stderr.last().cloned().expect("stderr has log lines");
    assert!(in_file.contains(&last), "the last line `{last}` did not reach the file (not flushed at exit)");
    // stderr stays, with the same lines (two threads may interleave them differently in the two outputs).
    in_file.sort();
    on_stderr.sort();
    assert_eq!(in_file, on_stderr);
}

#[tokio::test]
async fn log_section_of_the_config_file_is_relative_to_it_and_never_rotation_appends() {
    let ws = Workspace::new();
    let body =
        format!("[log]\ndir = \"var/log\"\nrotation = \"never\"\nkeep = 0\n\n{}", fixture_server("alpha", "app", ""));
    let cfg = ws.config(&body);
    let first = run_once(&cfg, &[("LOG_LEVEL", "info")]).await;
    let second = run_once(&cfg, &[("LOG_LEVEL", "info")]).await;
    let files = log_files(&ws.path().join("var/log"));
    assert_eq!(files.iter().map(|f| f.file_name().unwrap().to_str().unwrap()).collect::<Vec<_>>(), ["dfs-gateway.log"]);
    let text = std::fs::read_to_string(&files[0]).unwrap();
    let serving: Vec<usize> =
        text.lines().enumerate().filter(|(_, l)| l.contains("dfs-gateway serving")).map(|(i, _)| i).collect();
    assert_eq!(serving.len(), 2, "both runs appended to the one file:\n{text}");
    let mut in_file = messages(&text, "log file");
    let mut both = messages(&first, "stderr");
    both.extend(messages(&second, "stderr"));
    in_file.sort();
    both.sort();
    assert_eq!(in_file, both);
}

#[test]
fn a_bad_rotation_is_a_configuration_error_with_its_line() {
    let ws = Workspace::new();
    let cfg = ws.config("[log]\ndir = \"logs\"\nrotation = \"fortnightly\"\n");
    let out = cli(&["check", "--config", cfg.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(64));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("gateway.toml:7") && err.contains("fortnightly"), "{err}");
    let ok = ws.config("");
    let out = cli(&["check", "--config", ok.to_str().unwrap()], &[("LOG_ROTATION", "yearly")]);
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("env:LOG_ROTATION"), "{out:?}");
}
