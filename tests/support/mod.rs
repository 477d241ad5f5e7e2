//! Test harness: start the real `dfs-gateway` binary against real downstream processes and speak raw
//! newline-delimited JSON-RPC to it, the way a desktop client does.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// How long a single expected message may take before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(15);

pub fn gateway_bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_dfs-gateway"))
}

pub fn fixture_bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_dfs-fixture-server"))
}

/// Where `.ci/install-deps` put the npm and PyPI peers.
pub fn peer_cache() -> PathBuf {
    std::env::var_os("DFS_TEST_CACHE").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| "/root".into())).join(".cache/dfs-gateway-tests")
    })
}

/// A real peer the test needs. Under `CI=true` a missing one fails the test; elsewhere the test is skipped
/// with a message saying how to install it.
pub fn require(path: PathBuf, what: &str) -> Option<PathBuf> {
    if path.exists() {
        return Some(path);
    }
    let msg = format!("{what} is not installed at {}; run `bash .ci/install-deps`", path.display());
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{msg} (CI=true: a missing dependency is a failure)");
    }
    eprintln!("SKIPPED: {msg}");
    None
}

pub fn npm_server(package: &str) -> Option<PathBuf> {
    require(peer_cache().join("npm/node_modules/@modelcontextprotocol").join(package).join("dist/index.js"), package)
}

pub fn venv_bin(name: &str) -> Option<PathBuf> {
    require(peer_cache().join("venv/bin").join(name), name)
}

/// A TOML `[servers.<name>]` table running the fixture server.
pub fn fixture_server(name: &str, namespace: &str, extra: &str) -> String {
    format!(
        "[servers.{name}]\nnamespace = \"{namespace}\"\ncommand = \"{}\"\nargs = [\"--name\", \"{name}\"]\n{extra}\n",
        fixture_bin().display()
    )
}

/// A temporary directory holding a gateway config and its state.
pub struct Workspace {
    pub dir: tempfile::TempDir,
}

impl Workspace {
    pub fn new() -> Self {
        Workspace { dir: tempfile::tempdir().expect("tempdir") }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `gateway.toml` with `state_dir` inside the workspace, then `body`.
    pub fn config(&self, body: &str) -> PathBuf {
        self.config_with("", body)
    }

    /// Like [`Workspace::config`], with more keys for the `[gateway]` table.
    pub fn config_with(&self, gateway: &str, body: &str) -> PathBuf {
        let p = self.dir.path().join("gateway.toml");
        std::fs::write(&p, format!("[gateway]\nstate_dir = \"state\"\n{gateway}\n\n{body}")).expect("write config");
        p
    }

    /// Writes `rules` to `rules.toml` and a config whose `[policy]` uses it: `sections` (e.g. `[cache]`) first,
    /// then `servers` (see [`fixture_server`]).
    pub fn config_with_rules(&self, rules: &str, sections: &str, servers: &str) -> PathBuf {
        let rules_path = self.file("rules.toml");
        std::fs::write(&rules_path, rules).expect("write rules");
        self.config(&format!("{sections}\n[policy]\nfiles = [\"{}\"]\n\n{servers}", rules_path.display()))
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// A running gateway with a raw JSON-RPC client on its stdio.
pub struct Gateway {
    pub child: Child,
    stdin: Option<ChildStdin>,
    lines: Lines<BufReader<ChildStdout>>,
    /// Messages read while waiting for something else.
    stash: VecDeque<Value>,
    pub next_id: u64,
    pub stderr_path: PathBuf,
}

impl Gateway {
    pub async fn start(config: &Path) -> Self {
        Self::start_with(config, &[]).await
    }

    pub async fn start_with(config: &Path, envs: &[(&str, &str)]) -> Self {
        let stderr_path = config.with_extension("stderr.log");
        let mut cmd = Command::new(gateway_bin());
        cmd.args(["serve", "--config"])
            .arg(config)
            .env("LOG_LEVEL", "debug")
            .env_remove("APP_SERVERS")
            .env_remove("EXTERNAL_SERVERS")
            // Tests run many gateways at once: ops endpoints only where a test asks for them.
            .env("ENABLE_HEALTH", "false")
            .env("ENABLE_METRICS", "false");
        for (k, v) in envs {
            cmd.env(k, v);
        }
        Self::spawn(cmd, stderr_path)
    }

    /// Starts `cmd` (a gateway, or whatever launches one: a shim) with a client on its stdio and its stderr in
    /// `stderr_path`; the caller sets program, arguments, environment and directory.
    pub fn spawn(mut cmd: Command, stderr_path: PathBuf) -> Self {
        let stderr = std::fs::File::create(&stderr_path).expect("stderr log");
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(stderr).kill_on_drop(true);
        let mut child = cmd.spawn().expect("spawn dfs-gateway");
        let stdin = child.stdin.take();
        let lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        Gateway { child, stdin, lines, stash: VecDeque::new(), next_id: 1, stderr_path }
    }

    /// The gateway's log so far (for failure messages).
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    pub async fn send_raw(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin.write_all(line.as_bytes()).await.expect("write to gateway");
        stdin.write_all(b"\n").await.expect("write to gateway");
        stdin.flush().await.expect("flush");
    }

    pub async fn send(&mut self, msg: &Value) {
        self.send_raw(&msg.to_string()).await;
    }

    /// Reads the next message from stdout; every line must be JSON (stdout carries protocol frames only).
    async fn read(&mut self, until: Instant) -> Option<Value> {
        let left = until.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, self.lines.next_line()).await {
            Ok(Ok(Some(line))) => Some(
                serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("gateway stdout carried a non-JSON line ({e}): {line:?}")),
            ),
            Ok(Ok(None)) => None,
            Ok(Err(e)) => panic!("reading gateway stdout: {e}"),
            Err(_) => None,
        }
    }

    /// The first message (stashed or new) matching `pred`, within `timeout`.
    pub async fn recv_matching(&mut self, timeout: Duration, pred: impl Fn(&Value) -> bool) -> Option<Value> {
        if let Some(pos) = self.stash.iter().position(&pred) {
            return self.stash.remove(pos);
        }
        let until = Instant::now() + timeout;
        while let Some(msg) = self.read(until).await {
            if pred(&msg) {
                return Some(msg);
            }
            self.stash.push_back(msg);
        }
        None
    }

    /// Sends a request and waits for its response.
    pub async fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})).await;
        self.response(json!(id)).await
    }

    pub async fn response(&mut self, id: Value) -> Value {
        match self.recv_matching(DEADLINE, |m| m.get("id") == Some(&id) && m.get("method").is_none()).await {
            Some(m) => m,
            None => panic!("no response to request {id} within {DEADLINE:?}; gateway log:\n{}", self.stderr()),
        }
    }

    pub async fn notify(&mut self, method: &str, params: Value) {
        self.send(&json!({"jsonrpc": "2.0", "method": method, "params": params})).await;
    }

    /// `initialize` + `notifications/initialized`; returns the initialize result.
    pub async fn initialize(&mut self) -> Value {
        self.initialize_with(json!({})).await
    }

    /// Like [`Gateway::initialize`], declaring client `capabilities`.
    pub async fn initialize_with(&mut self, capabilities: Value) -> Value {
        let params = json!({"protocolVersion": "2025-11-25", "capabilities": capabilities, "clientInfo": {"name": "harness", "version": "1"}});
        let resp = self.request("initialize", params).await;
        self.notify("notifications/initialized", json!({})).await;
        resp["result"].clone()
    }

    /// Every item of a paged list method (`tools/list`, ...), following `nextCursor`; also returns the pages seen.
    pub async fn list_all(&mut self, method: &str, key: &str) -> (Vec<Value>, usize) {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let params = cursor.as_ref().map_or(json!({}), |c| json!({ "cursor": c }));
            let resp = self.request(method, params).await;
            let result = &resp["result"];
            items.extend(result[key].as_array().unwrap_or_else(|| panic!("{method} answered {resp}")).iter().cloned());
            pages += 1;
            match result.get("nextCursor").and_then(Value::as_str) {
                Some(c) => cursor = Some(c.to_owned()),
                None => return (items, pages),
            }
        }
    }

    /// `tools/call`; returns the whole response.
    pub async fn call(&mut self, tool: &str, args: Value) -> Value {
        self.request("tools/call", json!({"name": tool, "arguments": args})).await
    }

    /// The concatenated text of a successful tool result; panics on an error response.
    pub async fn call_text(&mut self, tool: &str, args: Value) -> String {
        let resp = self.call(tool, args).await;
        result_text(&resp)
    }

    pub async fn tool_names(&mut self) -> Vec<String> {
        let resp = self.request("tools/list", json!({})).await;
        resp["result"]["tools"]
            .as_array()
            .unwrap_or_else(|| panic!("tools/list answered {resp}"))
            .iter()
            .map(|t| t["name"].as_str().expect("tool name").to_owned())
            .collect()
    }

    pub async fn notification(&mut self, method: &str, timeout: Duration) -> Option<Value> {
        self.recv_matching(timeout, |m| m["method"] == method && m.get("id").is_none()).await
    }

    pub fn close_stdin(&mut self) {
        self.stdin.take();
    }

    pub async fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        match tokio::time::timeout(timeout, self.child.wait()).await {
            Ok(status) => status.expect("wait"),
            Err(_) => panic!("the gateway did not exit within {timeout:?}; log:\n{}", self.stderr()),
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.id().expect("running") as i32
    }
}

pub fn result_text(resp: &Value) -> String {
    let content = resp["result"]["content"].as_array().unwrap_or_else(|| panic!("expected a tool result, got {resp}"));
    content.iter().filter_map(|c| c["text"].as_str()).collect::<Vec<_>>().join("\n")
}

/// True while `pid` exists and is not a zombie.
pub fn pid_alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            // The state letter follows the parenthesised command name.
            let state = stat.rsplit_once(')').map(|(_, rest)| rest.trim_start().chars().next());
            !matches!(state, Some(Some('Z')) | Some(Some('X')))
        }
        Err(_) => false,
    }
}

/// Pids written by fixture servers started with `--pid-file`.
pub fn pids_in(file: &Path) -> Vec<i32> {
    std::fs::read_to_string(file).unwrap_or_default().lines().filter_map(|l| l.trim().parse().ok()).collect()
}

/// Polls `cond` until it holds or `timeout` passes.
pub async fn eventually(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let until = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= until {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Runs the gateway CLI to completion.
/// `cmd` (the gateway, or a wrapper that runs it) set up as `serve --config cfg` for a test over HTTP: the
/// process environment's server lists and front settings removed, the ops listeners off, stdin and stdout
/// closed, stderr into `log`, killed when dropped.
pub fn serve_quietly(mut cmd: Command, cfg: &Path, log: &Path) -> Command {
    cmd.args(["serve", "--config"])
        .arg(cfg)
        .env_remove("APP_SERVERS")
        .env_remove("EXTERNAL_SERVERS")
        .env_remove("ENABLE_HTTP")
        .env_remove("HTTP_LISTEN")
        .env("ENABLE_HEALTH", "false")
        .env("ENABLE_METRICS", "false")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).expect("gateway stderr log"))
        .kill_on_drop(true);
    cmd
}

pub fn cli(args: &[&str], envs: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = std::process::Command::new(gateway_bin());
    cmd.args(args).env_remove("DFS_GATEWAY_CONFIG").env_remove("APP_SERVERS").env_remove("EXTERNAL_SERVERS");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().expect("run dfs-gateway")
}

/// A free loopback port (bound and released; another process could take it in between, which tests accept).
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local addr").port()
}

/// One plain HTTP/1.0 request to a loopback listener: (status, body). `None` while nothing answers.
pub fn http(method: &str, port: u16, path: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut stream =
        std::net::TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(500)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let req = format!("{method} {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\n\r\n");
    stream.write_all(req.as_bytes()).ok()?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).ok()?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, body.to_owned()))
}

/// The value of one sample line of a Prometheus/OpenMetrics text (`name{labels}`), written with labels in the
/// order the gateway encodes them; `None` when the series is absent.
pub fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        l.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')).and_then(|v| v.trim().parse().ok())
    })
}

/// Sends `tools/call` requests for every `(tool, args)` at once, then collects each response (in request order).
pub async fn call_concurrently(gw: &mut Gateway, calls: &[(&str, Value)]) -> Vec<Value> {
    let first = gw.next_id;
    for (i, (tool, args)) in calls.iter().enumerate() {
        let id = first + i as u64;
        gw.send(
            &json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": tool, "arguments": args}}),
        )
        .await;
    }
    gw.next_id += calls.len() as u64;
    let mut out = Vec::with_capacity(calls.len());
    for i in 0..calls.len() {
        out.push(gw.response(json!(first + i as u64)).await);
    }
    out
}

/// Settles the MCP Inspector CLI in `home` (its catalog, client config and storage stay there, not in the user's
/// home), without colours, stdin closed, killed if the test drops it.
pub fn inspector_sandbox(cmd: &mut Command, home: &Path) {
    cmd.env("HOME", home)
        .env("MCP_CATALOG_PATH", home.join("mcp.json"))
        .env("MCP_CLIENT_CONFIG_PATH", home.join("client.json"))
        .env("MCP_STORAGE_DIR", home.join("storage"))
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .kill_on_drop(true);
}
