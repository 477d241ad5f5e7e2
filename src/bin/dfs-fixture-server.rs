//! `dfs-fixture-server`: a scriptable downstream MCP server for the gateway's
//! integration tests and benchmarks, also handy for poking at by hand.
//!
//! Transport is stdio: one JSON-RPC 2.0 message per line on stdin, one per
//! line on stdout, logs on stderr. Protocol revision 2025-11-25 (older ones
//! are accepted at `initialize` when the client asks for them).
//!
//! ```sh
//! printf '%s\n' \
//!   '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25"}}' \
//!   '{"jsonrpc":"2.0","method":"notifications/initialized"}' \
//!   '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"message":"hi"}}}' \
//!   | dfs-fixture-server --name demo
//! ```
//!
//! Tools: `echo`, `sleep`, `crash`, `garbage`, `large`, `progress`, `log`,
//! `add_tool`, `counter`, `pid`, `spawn_child`, `env`, `cancelled_ids`,
//! `fail`, `ask`, `tagged` (schemas in `BASE_TOOL_DEFS` below, or ask `tools/list`). Every flag
//! can also be set through `FIXTURE_<FLAG>` (`FIXTURE_NAME=a`,
//! `FIXTURE_HANG_ON_INITIALIZE=true`, ...); `--help` lists them.
//!
//! Layout: the main thread reads stdin and dispatches; each `tools/call` runs
//! as its own tokio task (so `sleep` never delays `echo`); every outgoing
//! message goes through one channel to a dedicated writer thread, so lines
//! never interleave and stdout needs no async machinery on the hot path.
//! Stdin EOF exits 0 at once, abandoning running `sleep`/`progress` calls.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{json, Value};
use tokio::runtime::Handle;
use tokio::task::AbortHandle;

const SERVER_VERSION: &str = "0.1.0";
const LATEST_PROTOCOL: &str = "2025-11-25";
const PROTOCOL_VERSIONS: [&str; 4] = [LATEST_PROTOCOL, "2025-06-18", "2025-03-26", "2024-11-05"];
/// MCP log levels, least to most severe; the index is the rank.
const LOG_LEVELS: [&str; 8] = ["debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"];
/// Until `logging/setLevel` arrives every level is emitted.
const LEVEL_UNSET: u8 = u8::MAX;
/// Guards against a typo in a test asking for an absurd allocation.
const MAX_LARGE_BYTES: usize = 1 << 30;

/// Accepts `true/false/1/0/yes/no/on/off` from `FIXTURE_*` env vars.
type Boolish = clap::builder::BoolishValueParser;

#[derive(Parser, Debug)]
#[command(
    name = "dfs-fixture-server",
    version,
    about = "Scriptable downstream MCP server (stdio) for dfs-gateway tests and benchmarks"
)]
struct Args {
    /// serverInfo.name and the logger name of `notifications/message`.
    #[arg(long, env = "FIXTURE_NAME", default_value = "fixture")]
    name: String,
    /// Only expose these tools (comma list of base names; empty = none).
    #[arg(long, env = "FIXTURE_TOOLS", value_delimiter = ',')]
    tools: Option<Vec<String>>,
    /// Expose each tool (extras included) as `<prefix><tool>`.
    #[arg(long, env = "FIXTURE_PREFIX_TOOLS", default_value = "")]
    prefix_tools: String,
    /// Also expose N echo-like tools named `extra_0000`, `extra_0001`, ...
    #[arg(long, env = "FIXTURE_EXTRA_TOOLS", default_value_t = 0)]
    extra_tools: usize,
    /// Sleep this long before reading stdin.
    #[arg(long, env = "FIXTURE_STARTUP_DELAY_MS", default_value_t = 0)]
    startup_delay_ms: u64,
    /// Never answer `initialize` (everything else is still answered).
    #[arg(long, env = "FIXTURE_HANG_ON_INITIALIZE", value_parser = Boolish::new())]
    hang_on_initialize: bool,
    /// Print "fixture: failed to start" to stderr and exit 2 at once.
    #[arg(long, env = "FIXTURE_CRASH_ON_START", value_parser = Boolish::new())]
    crash_on_start: bool,
    /// Print two non-JSON lines to stdout before anything else.
    #[arg(long, env = "FIXTURE_GARBAGE_ON_START", value_parser = Boolish::new())]
    garbage_on_start: bool,
    /// Write N noise lines to stderr at start.
    #[arg(long, env = "FIXTURE_STDERR_NOISE", default_value_t = 0)]
    stderr_noise: usize,
    /// Append this process's pid (one per line) to the file at start.
    #[arg(long, env = "FIXTURE_PID_FILE")]
    pid_file: Option<PathBuf>,
    /// Append every line received on stdin to this file (what a client's data looked like on arrival).
    #[arg(long, env = "FIXTURE_TRANSCRIPT")]
    transcript: Option<PathBuf>,
}

/// Declares `Kind` (what a tool does) and `kind_of` (base name -> kind).
macro_rules! tool_kinds {
    ($($kind:ident = $name:literal),* $(,)?) => {
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        enum Kind { $($kind),* }

        fn kind_of(base: &str) -> Option<Kind> {
            match base { $($name => Some(Kind::$kind),)* _ => None }
        }
    };
}

tool_kinds! {
    Echo = "echo", Sleep = "sleep", Crash = "crash", Garbage = "garbage", Large = "large",
    Progress = "progress", Log = "log", AddTool = "add_tool", Counter = "counter", Pid = "pid",
    SpawnChild = "spawn_child", Env = "env", CancelledIds = "cancelled_ids", Fail = "fail",
    EchoArgs = "echo_args", SlowCounter = "slow_counter", Ask = "ask", Tagged = "tagged",
}

/// `tools/list` entries under their base names, in listing order. Kept as
/// JSON text because that is what a reader of this file wants to see. The
/// first entry (echo) is also the template for extra and added tools.
const BASE_TOOL_DEFS: &str = r#"[
{"name": "echo", "description": "Returns `message` as text and as structuredContent.",
 "inputSchema": {"type": "object", "properties": {"message": {"type": "string"}}, "required": ["message"]},
 "outputSchema": {"type": "object", "properties": {"message": {"type": "string"}}, "required": ["message"]},
 "annotations": {"readOnlyHint": true, "idempotentHint": true}},
{"name": "sleep", "description": "Waits `ms` milliseconds, then answers \"slept <ms>ms\". Cancellable.",
 "inputSchema": {"type": "object", "properties": {"ms": {"type": "integer", "minimum": 0}}, "required": ["ms"]},
 "annotations": {"readOnlyHint": true}},
{"name": "crash", "description": "Writes `message` and \"fixture: last words\" to stderr, then exits with `code` (default 3) without answering.",
 "inputSchema": {"type": "object", "properties": {"code": {"type": "integer"}, "message": {"type": "string"}}}},
{"name": "garbage", "description": "Prints `lines` (default 3) non-JSON lines to stdout, then answers normally.",
 "inputSchema": {"type": "object", "properties": {"lines": {"type": "integer", "minimum": 0}}}},
{"name": "large", "description": "Returns a text of exactly `bytes` ASCII characters.",
 "inputSchema": {"type": "object", "properties": {"bytes": {"type": "integer", "minimum": 0}}, "required": ["bytes"]}},
{"name": "progress", "description": "Waits `interval_ms` (default 10) before each of `steps` (default 3) steps, sending notifications/progress when the request has a progressToken, then answers. Cancellable.",
 "inputSchema": {"type": "object", "properties": {"steps": {"type": "integer", "minimum": 0}, "interval_ms": {"type": "integer", "minimum": 0}}}},
{"name": "log", "description": "Sends notifications/message at `level` (default info), then answers.",
 "inputSchema": {"type": "object", "properties": {"level": {"type": "string", "enum": ["debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"]}, "message": {"type": "string"}}, "required": ["message"]}},
{"name": "add_tool", "description": "Adds an echo-like tool called `name`, then sends notifications/tools/list_changed (unless `silent`).",
 "inputSchema": {"type": "object", "properties": {"name": {"type": "string"}, "silent": {"type": "boolean"}}, "required": ["name"]}},
{"name": "counter", "description": "Increments a process-wide counter and returns the new value.",
 "inputSchema": {"type": "object", "properties": {}},
 "annotations": {"readOnlyHint": false, "idempotentHint": false, "destructiveHint": false}},
{"name": "pid", "description": "Returns this process's pid.", "inputSchema": {"type": "object", "properties": {}}},
{"name": "spawn_child", "description": "Spawns `sleep 600` in this process group and returns its pid.",
 "inputSchema": {"type": "object", "properties": {}}},
{"name": "env", "description": "Returns the value of environment variable `name`, or <unset>.",
 "inputSchema": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}},
{"name": "cancelled_ids", "description": "Returns a JSON array of the request ids this process saw cancelled.",
 "inputSchema": {"type": "object", "properties": {}}},
{"name": "fail", "description": "Returns a tool result with isError: true and `message`.",
 "inputSchema": {"type": "object", "properties": {"message": {"type": "string"}}}},
{"name": "slow_counter", "description": "Increments the counter (like `counter`), then waits `ms` milliseconds: a slow tool that must not run twice.",
 "inputSchema": {"type": "object", "properties": {"ms": {"type": "integer", "minimum": 0}}, "required": ["ms"]},
 "annotations": {"readOnlyHint": false, "idempotentHint": false, "destructiveHint": false}},
{"name": "echo_args", "description": "Returns the raw JSON text of `arguments` exactly as received (proves byte-exact forwarding).",
 "inputSchema": {"type": "object"}},
{"name": "tagged", "description": "Like echo_args, with `region` mirrored into the Mcp-Param-Region HTTP header by 2026-07-28 clients (x-mcp-header).",
 "inputSchema": {"type": "object", "properties": {"region": {"type": "string", "x-mcp-header": "Region"}, "limit": {"type": "integer", "x-mcp-header": "Limit"}}}},
{"name": "ask", "description": "Sends the client a request (`method`: sampling/createMessage, elicitation/create, roots/list; with `params`) and answers with the client's result as JSON text (an error answer as isError). Cancellable.",
 "inputSchema": {"type": "object", "properties": {"method": {"type": "string"}, "params": {"type": "object"}}, "required": ["method"]}}
]"#;

/// Exposed tools by name, plus the serialized `tools/list` array cached so a
/// 1000-tool list is not rebuilt on every request.
struct Registry {
    kinds: HashMap<String, Kind>,
    defs: Vec<Value>,
    list: Box<RawValue>,
    echo_template: Value,
}

impl Registry {
    fn build(args: &Args) -> Result<Self> {
        let base: Vec<Value> = serde_json::from_str(BASE_TOOL_DEFS).context("BASE_TOOL_DEFS")?;
        let wanted: Option<Vec<&str>> = args.tools.as_ref().map(|t| {
            let names = t.iter().map(|s| s.trim());
            names.filter(|s| !s.is_empty()).collect()
        });
        for w in wanted.iter().flatten() {
            if kind_of(w).is_none() {
                let known: Vec<&str> = base.iter().filter_map(|d| d["name"].as_str()).collect();
                bail!("unknown tool in --tools: {w} (known: {})", known.join(","));
            }
        }
        let mut reg = Registry {
            kinds: HashMap::new(),
            defs: Vec::new(),
            list: RawValue::from_string("[]".into())?,
            echo_template: base[0].clone(),
        };
        let prefix = &args.prefix_tools;
        for mut def in base {
            let name = def["name"].as_str().unwrap_or_default().to_owned();
            let kind = kind_of(&name).with_context(|| format!("no kind for tool {name}"))?;
            if wanted.as_ref().is_none_or(|w| w.contains(&name.as_str())) {
                def["name"] = json!(format!("{prefix}{name}"));
                reg.insert(def, kind);
            }
        }
        for i in 0..args.extra_tools {
            reg.add_echo(format!("{prefix}extra_{i:04}"), format!("Extra echo-like tool #{i}."));
        }
        reg.rebuild_list()?;
        Ok(reg)
    }

    fn insert(&mut self, def: Value, kind: Kind) -> bool {
        let name = def["name"].as_str().unwrap_or_default().to_owned();
        if self.kinds.contains_key(&name) {
            return false;
        }
        self.kinds.insert(name, kind);
        self.defs.push(def);
        true
    }

    fn add_echo(&mut self, name: String, description: String) -> bool {
        let mut def = self.echo_template.clone();
        def["name"] = json!(name);
        def["description"] = json!(description);
        self.insert(def, Kind::Echo)
    }

    fn rebuild_list(&mut self) -> Result<()> {
        self.list = RawValue::from_string(serde_json::to_string(&self.defs)?)?;
        Ok(())
    }
}

enum Out {
    Line(Vec<u8>),
    /// Flush stdout, then acknowledge (used before exiting).
    Flush(mpsc::Sender<()>),
}

struct State {
    name: String,
    hang_on_initialize: bool,
    registry: RwLock<Registry>,
    counter: AtomicU64,
    log_level: AtomicU8,
    cancelled: Mutex<Vec<Value>>,
    /// Running cancellable calls, keyed by the request id's JSON text.
    inflight: Mutex<HashMap<String, AbortHandle>>,
    /// Running non-cancellable calls; EOF waits (briefly) for them so that
    /// `printf '...crash...' | fixture` reliably exits with the crash code.
    busy: AtomicUsize,
    out: mpsc::Sender<Out>,
    /// `ask` calls waiting for the client's answer, by the id of the request sent to it.
    asks: Mutex<HashMap<String, tokio::sync::oneshot::Sender<Value>>>,
    next_ask: AtomicU64,
}

/// A poisoned lock only means some task panicked; the data is still usable.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

// Typed, borrowing response structs keep the echo hot path down to one
// serialization into one buffer; rarer messages are built with `json!`.
#[derive(Serialize)]
struct Response<'a, T> {
    jsonrpc: &'static str,
    id: &'a RawValue,
    result: T,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CallResult<'a> {
    content: [TextContent<'a>; 1],
    #[serde(skip_serializing_if = "Option::is_none")]
    structured_content: Option<EchoOutput<'a>>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    is_error: bool,
}

#[derive(Serialize)]
struct TextContent<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    text: &'a str,
}

#[derive(Serialize)]
struct EchoOutput<'a> {
    message: &'a str,
}

fn rpc<T>(id: &RawValue, result: T) -> Response<'_, T> {
    Response { jsonrpc: "2.0", id, result }
}

/// One JSON value per line: the newline is part of the message.
fn encode<T: Serialize>(msg: &T) -> Vec<u8> {
    let mut buf = Vec::with_capacity(256);
    serde_json::to_writer(&mut buf, msg).expect("fixture messages always serialize");
    buf.push(b'\n');
    buf
}

fn result_line(id: &RawValue, text: &str, structured: Option<&str>, is_error: bool) -> Vec<u8> {
    let content = [TextContent { kind: "text", text }];
    let structured_content = structured.map(|message| EchoOutput { message });
    let result = CallResult { content, structured_content, is_error };
    encode(&rpc(id, result))
}

impl State {
    fn send(&self, line: Vec<u8>) {
        // The writer only goes away when the process is exiting.
        let _ = self.out.send(Out::Line(line));
    }

    fn respond<T: Serialize>(&self, id: &RawValue, result: T) {
        self.send(encode(&rpc(id, result)));
    }

    fn respond_error(&self, id: Option<&RawValue>, code: i32, message: &str) {
        let error = json!({"code": code, "message": message});
        self.send(encode(&json!({"jsonrpc": "2.0", "id": id, "error": error})));
    }

    fn notify(&self, method: &str, params: Option<Value>) {
        let mut msg = json!({"jsonrpc": "2.0", "method": method});
        if let Some(params) = params {
            msg["params"] = params;
        }
        self.send(encode(&msg));
    }

    /// Waits (bounded) until everything queued so far is on stdout.
    fn flush_output(&self, timeout: Duration) {
        let (ack_tx, ack_rx) = mpsc::channel();
        if self.out.send(Out::Flush(ack_tx)).is_ok() {
            let _ = ack_rx.recv_timeout(timeout);
        }
    }
}

fn write_loop(rx: mpsc::Receiver<Out>) {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    while let Ok(first) = rx.recv() {
        // Drain whatever is already queued before flushing: one syscall per
        // burst instead of per message, and nothing waits behind a flush.
        let mut next = Some(first);
        while let Some(msg) = next {
            let ok = match msg {
                Out::Line(bytes) => out.write_all(&bytes).is_ok(),
                Out::Flush(ack) => {
                    let ok = out.flush().is_ok();
                    let _ = ack.send(());
                    ok
                }
            };
            if !ok {
                stdout_gone();
            }
            next = rx.try_recv().ok();
        }
        if out.flush().is_err() {
            stdout_gone();
        }
    }
}

fn stdout_gone() -> ! {
    eprintln!("fixture: stdout closed, exiting");
    std::process::exit(1);
}

/// serde never borrows through `Option<Cow<str>>`, but does through this
/// newtype: unescaped strings (method names, echo messages) are not copied.
#[derive(Deserialize)]
struct Text<'a>(#[serde(borrow)] Cow<'a, str>);

#[derive(Deserialize)]
struct Incoming<'a> {
    #[serde(borrow)]
    id: Option<&'a RawValue>,
    #[serde(borrow)]
    method: Option<Text<'a>>,
    #[serde(borrow)]
    params: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct CallParams<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
    #[serde(borrow)]
    arguments: Option<&'a RawValue>,
    #[serde(borrow, rename = "_meta")]
    meta: Option<CallMeta<'a>>,
}

#[derive(Deserialize)]
struct CallMeta<'a> {
    #[serde(borrow, rename = "progressToken")]
    progress_token: Option<&'a RawValue>,
}

/// Owned copy of a `tools/call` so it can outlive the stdin line buffer.
struct Call {
    id: Box<RawValue>,
    args: Option<Box<RawValue>>,
    progress_token: Option<Value>,
}

fn parse_params<'a, T: Deserialize<'a>>(params: Option<&'a RawValue>) -> Result<T, String> {
    serde_json::from_str(params.map_or("{}", RawValue::get)).map_err(|e| e.to_string())
}

/// For the rare methods where convenience beats speed.
fn params_value(params: Option<&RawValue>) -> Value {
    parse_params(params).unwrap_or(Value::Null)
}

fn handle_line(state: &Arc<State>, rt: &Handle, line: &[u8]) {
    let msg: Incoming = match serde_json::from_slice(line) {
        Ok(m) => m,
        Err(e) => {
            let (code, what) = match e.is_data() {
                true => (-32600, "Invalid Request"),
                false => (-32700, "Parse error"),
            };
            eprintln!("fixture: {what}: {e}");
            state.respond_error(None, code, &format!("{what}: {e}"));
            return;
        }
    };
    let Some(method) = msg.method.as_ref().map(|t| t.0.as_ref()) else {
        // A response from the client: the answer to an `ask`.
        let answer: Value = serde_json::from_slice(line).unwrap_or(Value::Null);
        let key = answer["id"].to_string();
        match lock(&state.asks).remove(&key) {
            Some(waiting) => {
                let _ = waiting.send(answer);
            }
            None => eprintln!("fixture: an answer to {key}, which nobody asked"),
        }
        return;
    };
    let Some(id) = msg.id else {
        if method == "notifications/cancelled" {
            cancel(state, &params_value(msg.params));
        }
        // Other notifications (initialized, roots/list_changed, ...) need no reaction.
        return;
    };
    match method {
        "initialize" if state.hang_on_initialize => {
            eprintln!("fixture: --hang-on-initialize: not answering initialize");
        }
        "initialize" => {
            let params = params_value(msg.params);
            let requested = params["protocolVersion"].as_str().unwrap_or_default();
            let version = PROTOCOL_VERSIONS.into_iter().find(|&v| v == requested).unwrap_or(LATEST_PROTOCOL);
            let capabilities = json!({"tools": {"listChanged": true}, "logging": {}});
            let server_info = json!({"name": state.name, "version": SERVER_VERSION});
            let result = json!({"protocolVersion": version, "capabilities": capabilities,
                                "serverInfo": server_info});
            state.respond(id, result);
        }
        "ping" => state.respond(id, json!({})),
        "logging/setLevel" => {
            let params = params_value(msg.params);
            let level = params["level"].as_str().unwrap_or_default();
            match LOG_LEVELS.iter().position(|&l| l == level) {
                Some(rank) => {
                    state.log_level.store(rank as u8, Ordering::Relaxed);
                    state.respond(id, json!({}));
                }
                None => {
                    let message = format!("Invalid params: unknown log level {level:?}");
                    state.respond_error(Some(id), -32602, &message);
                }
            }
        }
        "tools/list" => {
            // Typed so the cached list is copied verbatim, not re-parsed.
            #[derive(Serialize)]
            struct ToolsList<'a> {
                tools: &'a RawValue,
            }
            let reg = state.registry.read().unwrap_or_else(|e| e.into_inner());
            state.respond(id, ToolsList { tools: &reg.list });
        }
        "tools/call" => start_call(state, rt, id, msg.params),
        _ => state.respond_error(Some(id), -32601, &format!("Method not found: {method}")),
    }
}

fn start_call(state: &Arc<State>, rt: &Handle, id: &RawValue, params: Option<&RawValue>) {
    let params: CallParams = match parse_params(params) {
        Ok(p) => p,
        Err(e) => {
            state.respond_error(Some(id), -32602, &format!("Invalid params: {e}"));
            return;
        }
    };
    let kind = {
        let reg = state.registry.read().unwrap_or_else(|e| e.into_inner());
        reg.kinds.get(params.name.as_ref()).copied()
    };
    let Some(kind) = kind else {
        let message = format!("Unknown tool: {}", params.name);
        state.respond_error(Some(id), -32602, &message);
        return;
    };
    // Only progress needs the token; parsing it into a Value keeps strings
    // and integers exactly as sent.
    let token = params.meta.and_then(|m| m.progress_token);
    let call = Call {
        id: id.to_owned(),
        args: params.arguments.map(RawValue::to_owned),
        progress_token: token.filter(|_| kind == Kind::Progress).map(|t| params_value(Some(t))),
    };
    if matches!(kind, Kind::Sleep | Kind::Progress | Kind::Ask) {
        // Registering under the lock means the task cannot finish (and try
        // to deregister) before it is registered.
        let key = params_value(Some(id)).to_string();
        let mut inflight = lock(&state.inflight);
        let task = rt.spawn(run_tool(state.clone(), kind, call, Some(key.clone())));
        inflight.insert(key, task.abort_handle());
    } else {
        state.busy.fetch_add(1, Ordering::SeqCst);
        rt.spawn(run_tool(state.clone(), kind, call, None));
    }
}

fn cancel(state: &State, params: &Value) {
    let Some(request_id) = params.get("requestId") else {
        eprintln!("fixture: ignoring notifications/cancelled without requestId");
        return;
    };
    // Every cancellation is recorded, also one that arrives too late.
    lock(&state.cancelled).push(request_id.clone());
    match lock(&state.inflight).remove(&request_id.to_string()) {
        Some(task) => {
            task.abort();
            eprintln!("fixture: cancelled request {request_id}");
        }
        None => eprintln!("fixture: cancel for request {request_id}, which is not running"),
    }
}

async fn run_tool(state: Arc<State>, kind: Kind, call: Call, key: Option<String>) {
    let line = execute(&state, kind, &call).await;
    if let Some(key) = key {
        lock(&state.inflight).remove(&key);
    } else {
        state.busy.fetch_sub(1, Ordering::SeqCst);
    }
    state.send(line);
}

/// Arguments of every tool in one struct: each tool reads only its fields.
#[derive(Deserialize)]
struct ToolArgs<'a> {
    #[serde(borrow)]
    message: Option<Text<'a>>,
    name: Option<String>,
    level: Option<String>,
    ms: Option<u64>,
    code: Option<i32>,
    lines: Option<usize>,
    bytes: Option<usize>,
    steps: Option<u64>,
    interval_ms: Option<u64>,
    method: Option<String>,
    #[serde(borrow)]
    params: Option<&'a RawValue>,
    #[serde(default)]
    silent: bool,
}

async fn execute(state: &State, kind: Kind, call: &Call) -> Vec<u8> {
    let id = &*call.id;
    let text = |t: &str| result_line(id, t, None, false);
    let failed = |t: &str| result_line(id, t, None, true);
    // Bad arguments are a tool execution error (isError), not a protocol
    // error, as the 2025-11-25 revision asks.
    let a: ToolArgs = match parse_params(call.args.as_deref()) {
        Ok(a) => a,
        Err(e) => return failed(&format!("Invalid arguments: {e}")),
    };
    macro_rules! required {
        ($field:ident) => {
            match a.$field {
                Some(v) => v,
                None => {
                    let field = stringify!($field);
                    return failed(&format!("Invalid arguments: missing field `{field}`"));
                }
            }
        };
    }
    match kind {
        Kind::Echo => {
            let Text(message) = required!(message);
            result_line(id, &message, Some(&message), false)
        }
        Kind::Sleep => {
            let ms = required!(ms);
            tokio::time::sleep(Duration::from_millis(ms)).await;
            text(&format!("slept {ms}ms"))
        }
        Kind::Crash => {
            // Earlier answers must not die with us in the writer's buffer.
            state.flush_output(Duration::from_secs(1));
            let mut err = std::io::stderr().lock();
            let message = a.message.as_ref().map_or("fixture: crashing on purpose", |t| &t.0);
            let _ = writeln!(err, "{message}\nfixture: last words");
            let _ = err.flush();
            std::process::exit(a.code.unwrap_or(3));
        }
        Kind::Garbage => {
            let lines = a.lines.unwrap_or(3);
            for i in 0..lines {
                // The last line looks like the start of a JSON object, to
                // catch readers that try to glue lines together.
                let junk = match lines > 1 && i + 1 == lines {
                    true => "{\"broken\": \n".to_owned(),
                    false => format!("this is not json {i}\n"),
                };
                state.send(junk.into_bytes());
            }
            text("garbage printed")
        }
        Kind::Large => {
            let bytes = required!(bytes);
            if bytes > MAX_LARGE_BYTES {
                return failed(&format!("bytes must be at most {MAX_LARGE_BYTES}"));
            }
            let mut body = "abcdefghij".repeat(bytes / 10 + 1);
            body.truncate(bytes);
            text(&body)
        }
        Kind::Progress => {
            let steps = a.steps.unwrap_or(3);
            let interval = Duration::from_millis(a.interval_ms.unwrap_or(10));
            for i in 1..=steps {
                // Waiting before each step (not only between steps) leaves
                // room to cancel even a one-step call.
                tokio::time::sleep(interval).await;
                if let Some(token) = &call.progress_token {
                    let params = json!({"progressToken": token, "progress": i, "total": steps,
                                        "message": format!("step {i}")});
                    state.notify("notifications/progress", Some(params));
                }
            }
            text(&format!("done {steps} steps"))
        }
        Kind::Log => {
            let Text(message) = required!(message);
            let level = a.level.as_deref().unwrap_or("info");
            let Some(rank) = LOG_LEVELS.iter().position(|&l| l == level) else {
                return failed(&format!("unknown log level: {level}"));
            };
            let min = state.log_level.load(Ordering::Relaxed);
            if min != LEVEL_UNSET && (rank as u8) < min {
                let min = LOG_LEVELS[min as usize];
                return text(&format!("logged (suppressed: below level {min})"));
            }
            let params = json!({"level": level, "logger": state.name, "data": message});
            state.notify("notifications/message", Some(params));
            text("logged")
        }
        Kind::AddTool => {
            let name = required!(name);
            {
                let mut reg = state.registry.write().unwrap_or_else(|e| e.into_inner());
                let description = "Echo-like tool added at run time by add_tool.".to_owned();
                if !reg.add_echo(name.clone(), description) {
                    return failed(&format!("Tool already exists: {name}"));
                }
                if let Err(e) = reg.rebuild_list() {
                    return failed(&format!("could not rebuild tool list: {e}"));
                }
            }
            if !a.silent {
                state.notify("notifications/tools/list_changed", None);
            }
            text(&format!("added {name}"))
        }
        Kind::Counter => {
            let value = state.counter.fetch_add(1, Ordering::SeqCst) + 1;
            text(&value.to_string())
        }
        Kind::Pid => text(&std::process::id().to_string()),
        Kind::SlowCounter => {
            let ms = required!(ms);
            let value = state.counter.fetch_add(1, Ordering::SeqCst) + 1;
            tokio::time::sleep(Duration::from_millis(ms)).await;
            text(&value.to_string())
        }
        Kind::EchoArgs | Kind::Tagged => text(call.args.as_deref().map_or("null", RawValue::get)),
        Kind::SpawnChild => {
            let spawned = Command::new("sleep")
                .arg("600")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn();
            match spawned {
                Ok(mut child) => {
                    let pid = child.id();
                    // Reap it if it dies while we live, so tests that look
                    // for leftovers don't trip over a zombie.
                    std::thread::spawn(move || child.wait());
                    text(&pid.to_string())
                }
                Err(e) => failed(&format!("spawn sleep failed: {e}")),
            }
        }
        Kind::Env => match std::env::var_os(required!(name)) {
            Some(v) => text(&v.to_string_lossy()),
            None => text("<unset>"),
        },
        Kind::CancelledIds => text(&Value::Array(lock(&state.cancelled).clone()).to_string()),
        Kind::Fail => failed(a.message.as_ref().map_or("fixture: failing on purpose", |t| &t.0)),
        Kind::Ask => {
            let method = required!(method);
            let ask_id = format!("ask-{}", state.next_ask.fetch_add(1, Ordering::Relaxed) + 1);
            let (tx, rx) = tokio::sync::oneshot::channel();
            lock(&state.asks).insert(json!(ask_id).to_string(), tx);
            let mut request = json!({"jsonrpc": "2.0", "id": ask_id, "method": method});
            if let Some(params) = a.params {
                request["params"] = params_value(Some(params));
            }
            state.send(encode(&request));
            match tokio::time::timeout(Duration::from_secs(20), rx).await {
                Ok(Ok(answer)) if answer.get("result").is_some() => text(&answer["result"].to_string()),
                Ok(Ok(answer)) => failed(&answer["error"].to_string()),
                _ => {
                    lock(&state.asks).remove(&json!(ask_id).to_string());
                    failed(&format!("no answer to {method}"))
                }
            }
        }
    }
}

fn startup(args: &Args) -> Result<()> {
    // The pid goes out first so a test can check for leftovers even when the
    // process crashes or hangs right after.
    if let Some(path) = &args.pid_file {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("opening pid file {}", path.display()))?;
        // One write, so that pids of servers sharing a file never interleave.
        f.write_all(format!("{}\n", std::process::id()).as_bytes())?;
    }
    if args.crash_on_start {
        eprintln!("fixture: failed to start");
        std::process::exit(2);
    }
    for i in 0..args.stderr_noise {
        eprintln!("fixture: stderr noise line {i} of {}", args.stderr_noise);
    }
    if args.garbage_on_start {
        let mut out = std::io::stdout().lock();
        out.write_all(b"fixture: garbage before the handshake\n{\"broken\": \n")?;
        out.flush()?;
    }
    if args.startup_delay_ms > 0 {
        std::thread::sleep(Duration::from_millis(args.startup_delay_ms));
    }
    Ok(())
}

fn main() {
    let args = Args::parse();
    if let Err(e) = run(args) {
        eprintln!("fixture: {e:#}");
        std::process::exit(2);
    }
}

fn run(args: Args) -> Result<()> {
    let registry = Registry::build(&args)?;
    startup(&args)?;

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("fixture-worker")
        .enable_time()
        .build()?;
    let (out_tx, out_rx) = mpsc::channel();
    std::thread::Builder::new().name("fixture-writer".into()).spawn(move || write_loop(out_rx))?;
    let state = Arc::new(State {
        name: args.name,
        hang_on_initialize: args.hang_on_initialize,
        registry: RwLock::new(registry),
        counter: AtomicU64::new(0),
        log_level: AtomicU8::new(LEVEL_UNSET),
        cancelled: Mutex::new(Vec::new()),
        inflight: Mutex::new(HashMap::new()),
        busy: AtomicUsize::new(0),
        out: out_tx,
        asks: Mutex::new(HashMap::new()),
        next_ask: AtomicU64::new(0),
    });
    let mut transcript = match &args.transcript {
        Some(path) => Some(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("opening transcript {}", path.display()))?,
        ),
        None => None,
    };

    // The main thread owns stdin: blocking reads are cheaper than tokio's
    // stdin, which would bounce every line through the blocking pool.
    let mut input = std::io::stdin().lock();
    let mut line = Vec::with_capacity(8192);
    loop {
        line.clear();
        match input.read_until(b'\n', &mut line) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                eprintln!("fixture: reading stdin failed: {e}");
                break;
            }
        }
        if let Some(t) = &mut transcript {
            let _ = t.write_all(&line);
        }
        let msg = line.trim_ascii();
        if !msg.is_empty() {
            handle_line(&state, rt.handle(), msg);
        }
    }
    // EOF: quick calls still running get to answer, sleeps are abandoned.
    let deadline = Instant::now() + Duration::from_secs(2);
    while state.busy.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    state.flush_output(Duration::from_secs(5));
    std::process::exit(0);
}
