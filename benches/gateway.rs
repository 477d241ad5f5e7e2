//! `cargo bench --bench gateway`: what the gateway costs over talking to a stdio MCP server directly.
//!
//! One run measures, against the real binaries built in the bench profile:
//!
//! 1. the fixture server directly: echo latency at 1 in flight (p50/p99/mean) and throughput at 32 in flight;
//! 2. the same through `dfs-gateway serve` with the fixture as its one app server, and the ratios;
//! 3. idle RSS of a gateway with 10 lazy, catalogued servers (checking none of them was started);
//! 4. time from spawn to the first `tools/list` answer (10 lazy catalogued servers, no servers, one app server);
//! 5. `tools/list` round trip over 1,000+ tools, through the gateway and directly;
//! 6. slow-server isolation: the p99 of echo calls to one server while another is kept busy with 1 s sleeps;
//! 7. cache: sequential echo latency directly, through the gateway uncached, and answered from the embedded and
//!    the Redis cache;
//! 8. HTTP (`http`, in `gateway/http.rs`): echo through the Streamable HTTP front in 2025-11-25 sessions and in
//!    2026-07-28 stateless requests against the fixture directly, in rotating rounds: latency at 1 in flight,
//!    throughput and latency at `BENCH_INFLIGHT` keep-alive connections, the gateway's CPU per call.
//!
//! The stdio client is a writer task and a reader task on the child's stdin/stdout of a single-threaded
//! runtime, so it takes at most one core (the HTTP client, hyper's, runs on that same thread). Requests are
//! stamped when written and answers when read; every answer's id must belong to an outstanding request and every
//! echoed text must match, or it counts as wrong.
//!
//! Knobs (environment): `BENCH_QUICK=1` (short run), `BENCH_SECS` (throughput window, s), `BENCH_LAT_CALLS`,
//! `BENCH_WARMUP`, `BENCH_INFLIGHT`, `BENCH_SLOW_INFLIGHT`, `BENCH_SLOW_MS`, `BENCH_READY_RUNS`,
//! `BENCH_LIST_CALLS`, `BENCH_EXTRA_TOOLS`, `BENCH_LAZY_SERVERS`, `BENCH_MAX_CALLS` (cap per stream),
//! `BENCH_ROUNDS` / `BENCH_ISO_ROUNDS` (alternating rounds the echo, HTTP and isolation comparisons are split
//! into), `BENCH_HTTP_SESSIONS` (legacy sessions the HTTP connections share, default 1),
//! `BENCH_ONLY=echo,http,cache,idle,ready,list,iso` (a subset of the phases), `BENCH_GATEWAY_TOML` (sections
//! added to the gateway configs of the other phases, `\n` for newlines: e.g. `[evidence]\nenabled = false`).

#[path = "gateway/http.rs"]
mod http;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, ensure, Context, Result};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::sync::{mpsc, Mutex, Semaphore};
use tokio::time::timeout;

const GATEWAY: &str = env!("CARGO_BIN_EXE_dfs-gateway");
const FIXTURE: &str = env!("CARGO_BIN_EXE_dfs-fixture-server");
const PROTOCOL: &str = "2025-11-25";
/// Longest a single expected message (outside the load loops) may take.
const STEP: Duration = Duration::from_secs(30);
/// Load ids are `(stream + 1) << ID_SHIFT | seq`; sequential ids stay below `1 << ID_SHIFT`.
const ID_SHIFT: u32 = 40;
const SEQ_MASK: u64 = (1 << ID_SHIFT) - 1;
/// Tools each fixture server lists without `--extra-tools`, asked of the fixture itself once (so the bench
/// follows the fixture as it gains tools).
fn fixture_base_tools() -> usize {
    static COUNT: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *COUNT.get_or_init(|| {
        use std::io::Write;
        let mut child = std::process::Command::new(FIXTURE)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn the fixture");
        let mut stdin = child.stdin.take().expect("piped");
        let init = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}"#;
        writeln!(stdin, "{init}\n{{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/list\"}}").expect("write");
        drop(stdin);
        let out = child.wait_with_output().expect("fixture output");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|v| v["id"] == 2)
            .and_then(|v| v["result"]["tools"].as_array().map(Vec::len))
            .expect("the fixture lists its tools")
    })
}

fn main() -> ExitCode {
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bench: cannot build the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run()) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// Settings

struct Settings {
    quick: bool,
    secs: f64,
    lat_calls: usize,
    warmup: usize,
    inflight: usize,
    slow_inflight: usize,
    slow_ms: u64,
    ready_runs: usize,
    list_calls: usize,
    extra_tools: usize,
    lazy_servers: usize,
    max_calls: usize,
    rounds: usize,
    iso_rounds: usize,
    /// `BENCH_ONLY=echo,idle,ready,list,iso`: run just these phases.
    only: Option<Vec<String>>,
}

fn env_or<T: FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v.trim().parse().unwrap_or_else(|_| {
            eprintln!("bench: ignoring {name}={v:?} (not a valid value)");
            default
        }),
        _ => default,
    }
}

fn pick<T>(quick: bool, full: T, short: T) -> T {
    if quick {
        short
    } else {
        full
    }
}

impl Settings {
    fn from_env() -> Self {
        let quick = std::env::var("BENCH_QUICK").is_ok_and(|v| !matches!(v.as_str(), "" | "0" | "false" | "no"));
        Settings {
            quick,
            secs: env_or("BENCH_SECS", pick(quick, 3.0, 1.0)),
            lat_calls: env_or("BENCH_LAT_CALLS", pick(quick, 5000, 1000)),
            warmup: env_or("BENCH_WARMUP", pick(quick, 1000, 300)),
            inflight: env_or("BENCH_INFLIGHT", 32usize).max(1),
            slow_inflight: env_or("BENCH_SLOW_INFLIGHT", 16usize).max(1),
            slow_ms: env_or("BENCH_SLOW_MS", 1000),
            ready_runs: env_or("BENCH_READY_RUNS", pick(quick, 10, 4)).max(1),
            list_calls: env_or("BENCH_LIST_CALLS", pick(quick, 50, 15)).max(1),
            extra_tools: env_or("BENCH_EXTRA_TOOLS", 1000),
            lazy_servers: env_or("BENCH_LAZY_SERVERS", 10),
            max_calls: env_or("BENCH_MAX_CALLS", 2_000_000usize).max(1),
            rounds: env_or("BENCH_ROUNDS", pick(quick, 4, 2)).max(1),
            iso_rounds: env_or("BENCH_ISO_ROUNDS", pick(quick, 3, 1)).max(1),
            only: std::env::var("BENCH_ONLY")
                .ok()
                .filter(|v| !v.trim().is_empty())
                .map(|v| v.split(',').map(|p| p.trim().to_owned()).collect()),
        }
    }

    fn runs(&self, phase: &str) -> bool {
        self.only.as_ref().is_none_or(|o| o.iter().any(|p| p == phase))
    }

    fn window(&self) -> Duration {
        Duration::from_secs_f64(self.secs.max(0.05))
    }
}

// ---------------------------------------------------------------------------------------------------------
// Statistics

/// Latency summary, in microseconds.
#[derive(Clone, Copy, Default)]
struct Lat {
    n: usize,
    p50: f64,
    p99: f64,
    mean: f64,
    max: f64,
}

fn lat_stats(ns: &mut [u64]) -> Lat {
    if ns.is_empty() {
        return Lat::default();
    }
    ns.sort_unstable();
    let n = ns.len();
    // Nearest rank.
    let pct = |p: f64| ns[((p * n as f64).ceil() as usize).clamp(1, n) - 1] as f64 / 1e3;
    let mean = ns.iter().map(|&v| v as f64).sum::<f64>() / n as f64 / 1e3;
    Lat { n, p50: pct(0.50), p99: pct(0.99), mean, max: ns[n - 1] as f64 / 1e3 }
}

fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn min_max(v: &[f64]) -> (f64, f64) {
    v.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| (lo.min(x), hi.max(x)))
}

// ---------------------------------------------------------------------------------------------------------
// Wire formats

/// What the hot paths read of an answer: borrowed, everything else skipped.
#[derive(Deserialize)]
struct Reply<'a> {
    id: Option<u64>,
    #[serde(borrow)]
    method: Option<&'a str>,
    #[serde(borrow)]
    result: Option<CallResult<'a>>,
    #[serde(borrow)]
    error: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct CallResult<'a> {
    #[serde(borrow, default)]
    content: Vec<Content<'a>>,
    #[serde(rename = "isError", default)]
    is_error: bool,
}

#[derive(Deserialize)]
struct Content<'a> {
    #[serde(borrow)]
    text: Option<&'a str>,
}

#[derive(Deserialize)]
struct ListReply<'a> {
    id: Option<u64>,
    #[serde(borrow)]
    method: Option<&'a str>,
    #[serde(borrow)]
    result: Option<ListResult<'a>>,
}

#[derive(Deserialize)]
struct ListResult<'a> {
    #[serde(borrow)]
    tools: Vec<&'a RawValue>,
    #[serde(rename = "nextCursor")]
    next_cursor: Option<String>,
}

#[derive(Clone, Debug)]
enum Work {
    Echo,
    Sleep(u64),
}

/// Appends one `tools/call` line. Tool names are plain ASCII, so no escaping is needed.
fn write_call(buf: &mut Vec<u8>, id: u64, tool: &str, work: &Work, seq: u64) {
    let r = match work {
        Work::Echo => write!(buf, r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"{tool}","#)
            .and_then(|()| write!(buf, r#""arguments":{{"message":"m{seq}"}}}}}}"#)),
        // `n` makes every call's arguments new: sleep is read-only, and the gateway's cache must not answer it.
        Work::Sleep(ms) => {
            write!(buf, r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"{tool}","#)
                .and_then(|()| write!(buf, r#""arguments":{{"ms":{ms},"n":{seq}}}}}}}"#))
        }
    };
    r.expect("writing to a Vec cannot fail");
    buf.push(b'\n');
}

fn echo_ok(text: &str, seq: u64) -> bool {
    text.strip_prefix('m').and_then(|s| s.parse::<u64>().ok()) == Some(seq)
}

/// Outcome of checking one answer.
enum Verdict {
    Ok,
    Wrong,
    Error,
}

fn judge(reply: &Reply<'_>, work: &Work, seq: u64, sleep_text: &str) -> Verdict {
    if reply.error.is_some() {
        return Verdict::Error;
    }
    let Some(result) = &reply.result else { return Verdict::Wrong };
    if result.is_error {
        return Verdict::Error;
    }
    let text = result.content.first().and_then(|c| c.text).unwrap_or_default();
    let good = match work {
        Work::Echo => echo_ok(text, seq),
        Work::Sleep(_) => text == sleep_text,
    };
    if good {
        Verdict::Ok
    } else {
        Verdict::Wrong
    }
}

// ---------------------------------------------------------------------------------------------------------
// Processes

/// A child speaking newline-delimited JSON-RPC on its stdio. Killed if dropped without [`Conn::close`].
struct Conn {
    label: String,
    child: Child,
    pid: u32,
    stdin: Option<ChildStdin>,
    stdout: Option<BufReader<ChildStdout>>,
    line: Vec<u8>,
    next_id: u64,
    /// The first message number the next load uses (above every sequential call's id).
    next_msg: u64,
}

impl Conn {
    fn spawn(label: &str, program: &str, args: &[&str]) -> Result<Conn> {
        let mut cmd = Command::new(program);
        cmd.args(args)
            .env("LOG_LEVEL", "warn")
            .env_remove("APP_SERVERS")
            .env_remove("EXTERNAL_SERVERS")
            .env_remove("DFS_GATEWAY_CONFIG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        let mut child = cmd.spawn().with_context(|| format!("starting {label} ({program})"))?;
        let pid = child.id().context("no pid")?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().map(|s| BufReader::with_capacity(1 << 16, s));
        Ok(Conn {
            label: label.to_owned(),
            child,
            pid,
            stdin,
            stdout,
            line: Vec::with_capacity(1 << 16),
            next_id: 1,
            next_msg: 1 << 48,
        })
    }

    fn gateway(config: &Path) -> Result<Conn> {
        let config = config.to_str().context("config path is not UTF-8")?;
        Conn::spawn("gateway", GATEWAY, &["serve", "--config", config])
    }

    fn fixture(args: &[&str]) -> Result<Conn> {
        Conn::spawn("fixture", FIXTURE, args)
    }

    fn take_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    async fn send_raw(&mut self, bytes: &[u8]) -> Result<()> {
        let stdin = self.stdin.as_mut().context("stdin is closed")?;
        stdin.write_all(bytes).await.with_context(|| format!("writing to {}", self.label))
    }

    async fn send(&mut self, msg: &Value) -> Result<()> {
        let mut line = serde_json::to_vec(msg)?;
        line.push(b'\n');
        self.send_raw(&line).await
    }

    /// Reads one line into `self.line` (no timeout: callers bound whole phases).
    async fn read_line(&mut self) -> Result<()> {
        self.line.clear();
        let out = self.stdout.as_mut().context("stdout is closed")?;
        let n = out.read_until(b'\n', &mut self.line).await?;
        ensure!(n > 0 && self.line.ends_with(b"\n"), "{} closed its stdout", self.label);
        Ok(())
    }

    /// Waits for the answer to `id`, skipping notifications.
    async fn response(&mut self, id: u64) -> Result<Value> {
        let label = self.label.clone();
        timeout(STEP, async {
            loop {
                self.read_line().await?;
                let v: Value = serde_json::from_slice(&self.line).with_context(|| {
                    format!("{label} sent non-JSON: {}", String::from_utf8_lossy(&self.line).trim_end())
                })?;
                if v.get("method").is_some() {
                    continue; // a notification (or a request we do not serve)
                }
                ensure!(v["id"].as_u64() == Some(id), "{label}: expected the answer to {id}, got {v}");
                if let Some(e) = v.get("error") {
                    bail!("{label} answered {id} with an error: {e}");
                }
                return Ok(v);
            }
        })
        .await
        .map_err(|_| anyhow!("{label}: no answer to request {id} within {STEP:?}"))?
    }

    async fn request(&mut self, method: &str, params: Value) -> Result<Value> {
        let id = self.take_id();
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})).await?;
        self.response(id).await
    }

    async fn handshake(&mut self) -> Result<Value> {
        let params = json!({
            "protocolVersion": PROTOCOL,
            "capabilities": {},
            "clientInfo": {"name": "bench", "version": "1"},
        });
        let init = self.request("initialize", params).await?;
        self.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"})).await?;
        Ok(init)
    }

    /// Every listed tool name, following `nextCursor` through the pages.
    async fn tool_names(&mut self) -> Result<Vec<String>> {
        let mut names = Vec::new();
        let mut params = json!({});
        loop {
            let list = self.request("tools/list", params).await?;
            let tools = list["result"]["tools"]
                .as_array()
                .with_context(|| format!("{}: tools/list answer without result.tools: {list}", self.label))?;
            names.extend(tools.iter().filter_map(|t| t["name"].as_str().map(str::to_owned)));
            match list["result"]["nextCursor"].as_str() {
                Some(cursor) => params = json!({ "cursor": cursor }),
                None => return Ok(names),
            }
        }
    }

    /// `n` sequential echo calls after `warmup` unmeasured ones; round trips in ns, and the wrong answers.
    async fn latency(&mut self, tool: &str, warmup: usize, n: usize) -> Result<(Vec<u64>, u64)> {
        self.latency_of(tool, warmup, n, None).await
    }

    /// Like [`Conn::latency`]; with `same = Some(k)` every call asks to echo `m<k>` (a cacheable repeat).
    async fn latency_of(&mut self, tool: &str, warmup: usize, n: usize, same: Option<u64>) -> Result<(Vec<u64>, u64)> {
        let mut lat = Vec::with_capacity(n);
        let mut wrong = 0;
        let mut buf = Vec::with_capacity(256);
        for i in 0..warmup + n {
            let id = self.take_id();
            let seq = same.unwrap_or(id);
            buf.clear();
            write_call(&mut buf, id, tool, &Work::Echo, seq);
            let t0 = Instant::now();
            self.stdin.as_mut().context("stdin is closed")?.write_all(&buf).await?;
            let dt = loop {
                self.read_line().await?;
                let dt = t0.elapsed();
                match serde_json::from_slice::<Reply<'_>>(&self.line) {
                    Ok(r) if r.id.is_none() && r.method.is_some() => continue,
                    Ok(r) if r.id == Some(id) && matches!(judge(&r, &Work::Echo, seq, ""), Verdict::Ok) => {}
                    _ => wrong += 1,
                }
                break dt;
            };
            if i >= warmup {
                lat.push(dt.as_nanos() as u64);
            }
        }
        Ok((lat, wrong))
    }

    /// `calls` timed full listings (every page, following `nextCursor`) after one unmeasured one. A listing is
    /// timed from the first request's write to the receipt of the last page (pages before it are parsed for
    /// their cursor, as a client must). Returns the times in ns, and the tools, pages and bytes of a listing.
    async fn list_times(&mut self, calls: usize) -> Result<(Vec<u64>, usize, usize, usize)> {
        let mut times = Vec::with_capacity(calls);
        let mut shape = (0, 0, 0);
        for i in 0..=calls {
            let (mut tools, mut pages, mut bytes) = (0, 0, 0);
            let mut cursor: Option<String> = None;
            let t0 = Instant::now();
            let dt = loop {
                let id = self.take_id();
                let params = match &cursor {
                    Some(c) => format!("{{\"cursor\":{}}}", serde_json::to_string(c)?),
                    None => "{}".to_owned(),
                };
                let req =
                    format!("{{\"jsonrpc\":\"2.0\",\"id\":{id},\"method\":\"tools/list\",\"params\":{params}}}\n");
                self.send_raw(req.as_bytes()).await?;
                let (dt, r) = loop {
                    self.read_line().await?;
                    let dt = t0.elapsed();
                    let r: ListReply<'_> = serde_json::from_slice(&self.line).with_context(|| {
                        format!(
                            "tools/list answer: {}",
                            String::from_utf8_lossy(&self.line[..self.line.len().min(300)])
                        )
                    })?;
                    if r.id.is_none() && r.method.is_some() {
                        continue;
                    }
                    ensure!(r.id == Some(id), "tools/list: expected id {id}, got {:?}", r.id);
                    break (dt, r.result.context("tools/list without a result")?);
                };
                tools += r.tools.len();
                pages += 1;
                bytes += self.line.len();
                ensure!(pages <= 10_000, "tools/list: more than 10,000 pages");
                match r.next_cursor {
                    Some(c) => cursor = Some(c),
                    None => break dt,
                }
            };
            // Bytes may differ by a digit of the id; the tools and pages may not.
            ensure!(
                i == 0 || (tools, pages) == (shape.0, shape.1),
                "tools/list changed: {shape:?} then {:?}",
                (tools, pages, bytes)
            );
            shape = (tools, pages, bytes);
            if i > 0 {
                times.push(dt.as_nanos() as u64);
            }
        }
        Ok((times, shape.0, shape.1, shape.2))
    }

    fn rss_kib(&self) -> Option<u64> {
        vm_rss_kib(self.pid)
    }

    /// Closes stdin and waits for the exit (killing after 10 s); then checks the child's own children are gone.
    async fn close(mut self) -> Result<()> {
        let kids = children_of(self.pid);
        drop(self.stdin.take());
        let status = match timeout(Duration::from_secs(10), self.child.wait()).await {
            Ok(status) => status?,
            Err(_) => {
                self.child.kill().await?;
                bail!("{} (pid {}) did not exit within 10 s of stdin EOF; killed it", self.label, self.pid);
            }
        };
        let left = reap(&kids).await;
        ensure!(left.is_empty(), "{} exited but left processes {left:?} running (killed them)", self.label);
        ensure!(status.success(), "{} exited with {status}", self.label);
        Ok(())
    }

    /// Runs `streams` concurrently over this connection: one writer task per stream keeps `inflight` requests
    /// outstanding, one reader task takes every answer.
    async fn load(&mut self, mut streams: Vec<Stream>) -> Result<LoadOut> {
        for st in &mut streams {
            st.msg_base = self.next_msg;
            self.next_msg += st.max_calls as u64;
        }
        let stdin = Arc::new(Mutex::new(self.stdin.take().context("stdin is closed")?));
        let stdout = self.stdout.take().context("stdout is closed")?;
        let base = Instant::now();
        let tracks: Vec<Arc<Track>> = streams.iter().map(|s| Arc::new(Track::new(s.max_calls, s.inflight))).collect();
        let (fin_tx, fin_rx) = mpsc::unbounded_channel();
        let mut handles = Vec::new();
        let writers: Vec<_> = streams
            .iter()
            .enumerate()
            .map(|(k, s)| {
                let w = tokio::spawn(writer(k, s.clone(), tracks[k].clone(), stdin.clone(), base, fin_tx.clone()));
                handles.push(w.abort_handle());
                w
            })
            .collect();
        drop(fin_tx);
        let works = streams.iter().map(|s| (s.work.clone(), s.msg_base)).collect();
        let reader = tokio::spawn(reader(stdout, tracks, works, base, fin_rx));
        handles.push(reader.abort_handle());
        let limit = streams.iter().map(|s| s.start_delay + s.duration).max().unwrap_or_default() + STEP;
        let joined = timeout(limit, async move {
            let (stdout, out) = reader.await??;
            for w in writers {
                w.await??;
            }
            Ok::<_, anyhow::Error>((stdout, out))
        })
        .await;
        let (stdout, out) = match joined {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => {
                handles.iter().for_each(|h| h.abort());
                return Err(e.context(format!("load against {}", self.label)));
            }
            Err(_) => {
                handles.iter().for_each(|h| h.abort());
                bail!("load against {}: not finished within {limit:?} (answers lost?)", self.label);
            }
        };
        self.stdout = Some(stdout);
        let stdin = Arc::try_unwrap(stdin).map_err(|_| anyhow!("stdin is still shared"))?;
        self.stdin = Some(stdin.into_inner());
        Ok(out)
    }
}

fn vm_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// (state, ppid, comm) of a process, from /proc.
fn proc_stat(pid: i32) -> Option<(char, i32, String)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (open, close) = (stat.find('(')?, stat.rfind(')')?);
    let comm = stat[open + 1..close].to_owned();
    let mut rest = stat[close + 1..].split_whitespace();
    let state = rest.next()?.chars().next()?;
    let ppid = rest.next()?.parse().ok()?;
    Some((state, ppid, comm))
}

/// CPU time (user + system, all threads) a process has used so far, in µs; `None` when it is gone.
fn cpu_us(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the command: state is field 3 of the file, utime 14 and stime 15 (1-based), in clock ticks.
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks * 1e6 / clock_ticks_per_sec())
}

fn clock_ticks_per_sec() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// Waits up to 3 s for `kids` (children of a gateway that exited) to be gone; kills and returns those left:
/// ours (started through our gateway) and still alive, so they must not leak.
async fn reap(kids: &[(i32, String)]) -> Vec<i32> {
    let deadline = Instant::now() + Duration::from_secs(3);
    while kids.iter().any(|&(p, _)| pid_alive(p)) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let left: Vec<i32> = kids.iter().map(|&(p, _)| p).filter(|&p| pid_alive(p)).collect();
    for &p in &left {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(p), nix::sys::signal::Signal::SIGKILL);
    }
    left
}

fn pid_alive(pid: i32) -> bool {
    proc_stat(pid).is_some_and(|(state, _, _)| state != 'Z' && state != 'X')
}

/// Live children of `pid`: (pid, comm).
fn children_of(pid: u32) -> Vec<(i32, String)> {
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|p| {
            let (state, ppid, comm) = proc_stat(p)?;
            (ppid == pid as i32 && state != 'Z' && state != 'X').then_some((p, comm))
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------------------
// Load driver

#[derive(Clone)]
struct Stream {
    tool: String,
    work: Work,
    inflight: usize,
    start_delay: Duration,
    duration: Duration,
    max_calls: usize,
    /// Added to the sequence number to make the echoed message: every message a connection ever sends is new,
    /// so the gateway's cache (echo is read-only) never answers one and every call reaches the server.
    msg_base: u64,
}

impl Stream {
    fn new(tool: &str, work: Work, inflight: usize, duration: Duration, s: &Settings) -> Stream {
        Stream {
            tool: tool.to_owned(),
            work,
            inflight,
            start_delay: Duration::ZERO,
            duration,
            max_calls: s.max_calls,
            msg_base: 0,
        }
    }
}

/// Per stream: send stamps indexed by sequence number (ns since the load's base + 1; 0 = not outstanding) and
/// the free slots of the in-flight window.
struct Track {
    sent_at: Vec<AtomicU64>,
    permits: Semaphore,
}

impl Track {
    fn new(max_calls: usize, inflight: usize) -> Track {
        Track { sent_at: (0..max_calls).map(|_| AtomicU64::new(0)).collect(), permits: Semaphore::new(inflight) }
    }
}

#[derive(Default)]
struct StreamStats {
    received: u64,
    ok: u64,
    wrong: u64,
    errors: u64,
    lat_ns: Vec<u64>,
    start: Option<Instant>,
    last: Option<Instant>,
}

impl StreamStats {
    fn bad(&self) -> u64 {
        self.wrong + self.errors
    }
}

struct LoadOut {
    streams: Vec<StreamStats>,
    /// Lines that belong to no outstanding request (unknown or repeated id, unparseable).
    stray: u64,
}

fn stamp(base: Instant) -> u64 {
    base.elapsed().as_nanos() as u64 + 1
}

async fn writer(
    k: usize,
    s: Stream,
    track: Arc<Track>,
    stdin: Arc<Mutex<ChildStdin>>,
    base: Instant,
    fin: mpsc::UnboundedSender<(usize, u64, Instant)>,
) -> Result<()> {
    tokio::time::sleep(s.start_delay).await;
    let start = Instant::now();
    let deadline = start + s.duration;
    let tag = (k as u64 + 1) << ID_SHIFT;
    let max = s.max_calls as u64;
    let mut seq = 0u64;
    let mut buf = Vec::with_capacity(s.inflight * 160);
    loop {
        track.permits.acquire().await?.forget();
        let mut n = 1u64;
        while let Ok(p) = track.permits.try_acquire() {
            p.forget();
            n += 1;
        }
        if seq >= max || Instant::now() >= deadline {
            break;
        }
        let n = n.min(max - seq);
        buf.clear();
        for q in seq..seq + n {
            write_call(&mut buf, tag | q, &s.tool, &s.work, s.msg_base + q);
        }
        let mut w = stdin.lock().await;
        let t = stamp(base);
        for q in seq..seq + n {
            track.sent_at[q as usize].store(t, Ordering::Release);
        }
        seq += n;
        w.write_all(&buf).await?;
    }
    let _ = fin.send((k, seq, start));
    Ok(())
}

async fn reader(
    mut out: BufReader<ChildStdout>,
    tracks: Vec<Arc<Track>>,
    works: Vec<(Work, u64)>,
    base: Instant,
    mut fin: mpsc::UnboundedReceiver<(usize, u64, Instant)>,
) -> Result<(BufReader<ChildStdout>, LoadOut)> {
    let n = tracks.len();
    let mut stats: Vec<StreamStats> = (0..n).map(|_| StreamStats::default()).collect();
    let mut finals: Vec<Option<u64>> = vec![None; n];
    let sleep_texts: Vec<String> = works
        .iter()
        .map(|(w, _)| if let Work::Sleep(ms) = w { format!("slept {ms}ms") } else { String::new() })
        .collect();
    let mut stray = 0u64;
    let mut fin_open = true;
    let mut line = Vec::with_capacity(1 << 12);
    loop {
        if (0..n).all(|k| finals[k] == Some(stats[k].received)) {
            break;
        }
        tokio::select! {
            biased;
            got = out.read_until(b'\n', &mut line) => {
                // read_until keeps partial input in `line` if the other branch wins, so it is only cleared here.
                let got = got?;
                ensure!(got > 0 && line.ends_with(b"\n"), "the peer closed its stdout mid-run");
                let now_ns = stamp(base);
                let now = Instant::now();
                match serde_json::from_slice::<Reply<'_>>(&line) {
                    Ok(r) if r.id.is_none() && r.method.is_some() => {} // notification
                    Ok(r) => {
                        let id = r.id.unwrap_or(0);
                        let (k, seq) = ((id >> ID_SHIFT) as usize, id & SEQ_MASK);
                        let sent = (k >= 1 && k <= n)
                            .then(|| tracks[k - 1].sent_at.get(seq as usize))
                            .flatten()
                            .map_or(0, |a| a.swap(0, Ordering::AcqRel));
                        if sent == 0 {
                            stray += 1;
                        } else {
                            let k = k - 1;
                            let st = &mut stats[k];
                            st.lat_ns.push(now_ns.saturating_sub(sent));
                            st.received += 1;
                            st.last = Some(now);
                            match judge(&r, &works[k].0, works[k].1 + seq, &sleep_texts[k]) {
                                Verdict::Ok => st.ok += 1,
                                Verdict::Wrong => st.wrong += 1,
                                Verdict::Error => st.errors += 1,
                            }
                            tracks[k].permits.add_permits(1);
                        }
                    }
                    Err(_) => stray += 1,
                }
                line.clear();
            }
            f = fin.recv(), if fin_open => match f {
                Some((k, sent, start)) => {
                    finals[k] = Some(sent);
                    stats[k].start = Some(start);
                }
                None => {
                    fin_open = false;
                    ensure!(finals.iter().all(Option::is_some), "a writer failed");
                }
            },
        }
    }
    Ok((out, LoadOut { streams: stats, stray }))
}

// ---------------------------------------------------------------------------------------------------------
// Configs

fn server_toml(name: &str, namespace: &str, args: &[&str], extra: &str) -> String {
    let args: Vec<String> = ["--name", name].iter().chain(args).map(|a| format!("\"{a}\"")).collect();
    let args = args.join(", ");
    format!(
        "[servers.{name}]\nnamespace = \"{namespace}\"\ncommand = \"{FIXTURE}\"\nargs = [{args}]\n\
         timeout = \"30s\"\nmax_pending = 4096\n{extra}\n"
    )
}

/// A gateway config with `servers`, plus `BENCH_GATEWAY_TOML` (extra sections, e.g. `[evidence] enabled = false`,
/// to see what a feature costs).
fn write_config(dir: &Path, file: &str, servers: &str) -> Result<PathBuf> {
    let extra = std::env::var("BENCH_GATEWAY_TOML").unwrap_or_default().replace("\\n", "\n");
    write_config_exact(dir, file, &format!("{extra}\n{servers}"))
}

/// A gateway config with exactly `body` after its `[gateway]` table.
fn write_config_exact(dir: &Path, file: &str, body: &str) -> Result<PathBuf> {
    let path = dir.join(file);
    let state = dir.join("state");
    std::fs::write(&path, format!("[gateway]\nstate_dir = \"{}\"\n\n{body}", state.display()))?;
    Ok(path)
}

fn lines_in(path: &Path) -> usize {
    std::fs::read_to_string(path).map(|s| s.lines().filter(|l| !l.trim().is_empty()).count()).unwrap_or(0)
}

// ---------------------------------------------------------------------------------------------------------
// Phases

/// Pipelined results summed over several rounds.
#[derive(Default)]
struct Acc {
    calls: u64,
    secs: f64,
    lat_ns: Vec<u64>,
    bad: u64,
}

impl Acc {
    fn add(&mut self, mut st: StreamStats) {
        if let (Some(a), Some(b)) = (st.start, st.last) {
            self.secs += b.saturating_duration_since(a).as_secs_f64();
        }
        self.calls += st.received;
        self.bad += st.bad();
        self.lat_ns.append(&mut st.lat_ns);
    }

    fn rate(&self) -> f64 {
        if self.secs > 0.0 {
            self.calls as f64 / self.secs
        } else {
            0.0
        }
    }
}

/// ABBA: which of two sides goes first in round `r`.
fn order(r: usize) -> [usize; 2] {
    if r % 2 == 0 {
        [0, 1]
    } else {
        [1, 0]
    }
}

struct EchoSide {
    lat: Lat,
    lat_wrong: u64,
    rate: f64,
    load_lat: Lat,
    load_calls: u64,
    load_bad: u64,
    rss_kib: Option<u64>,
    /// CPU time the process (the fixture directly; the gateway without its child) used per pipelined call.
    cpu_per_call_us: Option<f64>,
}

/// An unmeasured pipelined run (a sixth of the window, at most 0.5 s) so the measured one starts warm; the
/// wrong answers it saw.
async fn warm_load(s: &Settings, conn: &mut Conn, tool: &str) -> Result<u64> {
    let window = (s.window() / 6).min(Duration::from_millis(500));
    let out = conn.load(vec![Stream::new(tool, Work::Echo, s.inflight, window, s)]).await?;
    Ok(out.streams.iter().map(StreamStats::bad).sum::<u64>() + out.stray)
}

/// The fixture directly and through a gateway, both kept running and measured in alternating rounds (ABBA) so
/// that drift in the machine's speed during the run does not favour either side.
async fn echo_compare(s: &Settings) -> Result<[EchoSide; 2]> {
    let ws = tempfile::tempdir()?;
    let cfg = write_config(ws.path(), "gateway.toml", &server_toml("fx", "app", &[], ""))?;
    let mut fx = Conn::fixture(&["--name", "fx"])?;
    fx.handshake().await?;
    let mut gw = Conn::gateway(&cfg)?;
    gw.handshake().await?;
    let names = gw.tool_names().await?;
    ensure!(names.iter().any(|n| n == "app__fx__echo"), "app__fx__echo is not listed: {names:?}");
    let mut sides = [(fx, "echo"), (gw, "app__fx__echo")];
    let mut lat: [Vec<u64>; 2] = Default::default();
    let mut lat_wrong = [0u64; 2];
    let mut acc: [Acc; 2] = Default::default();
    let phase = |what: &'static str| move |_| anyhow!("{what} did not finish in time");

    for (k, (conn, tool)) in sides.iter_mut().enumerate() {
        let (_, wrong) = timeout(STEP, conn.latency(tool, s.warmup, 0)).await.map_err(phase("warm-up"))??;
        lat_wrong[k] += wrong;
        acc[k].bad += warm_load(s, conn, tool).await?;
    }
    let per_round = s.lat_calls.div_ceil(s.rounds);
    for r in 0..s.rounds {
        for k in order(r) {
            let (conn, tool) = &mut sides[k];
            let call = conn.latency(tool, 0, per_round);
            let (v, wrong) = timeout(STEP * 2, call).await.map_err(phase("sequential echo calls"))??;
            lat[k].extend(v);
            lat_wrong[k] += wrong;
        }
    }
    let window = s.window() / s.rounds as u32;
    let mut cpu = [Some(0.0f64); 2];
    for r in 0..s.rounds {
        for k in order(r) {
            let (conn, tool) = &mut sides[k];
            let before = cpu_us(conn.pid);
            let mut out = conn.load(vec![Stream::new(tool, Work::Echo, s.inflight, window, s)]).await?;
            let used = before.zip(cpu_us(conn.pid)).map(|(a, b)| b - a);
            cpu[k] = cpu[k].zip(used).map(|(t, u)| t + u);
            acc[k].bad += out.stray;
            acc[k].add(out.streams.remove(0));
        }
    }
    let rss: Vec<Option<u64>> = sides.iter().map(|(c, _)| c.rss_kib()).collect();
    let [(fx, _), (gw, _)] = sides;
    let (closed_fx, closed_gw) = (fx.close().await, gw.close().await);
    closed_fx?;
    closed_gw?;
    let mut k = 0;
    Ok([(); 2].map(|()| {
        let (a, l) = (&mut acc[k], &mut lat[k]);
        let side = EchoSide {
            lat: lat_stats(l),
            lat_wrong: lat_wrong[k],
            rate: a.rate(),
            load_lat: lat_stats(&mut a.lat_ns),
            load_calls: a.calls,
            load_bad: a.bad,
            rss_kib: rss[k],
            cpu_per_call_us: cpu[k].filter(|_| a.calls > 0).map(|t| t / a.calls as f64),
        };
        k += 1;
        side
    }))
}

/// One row of the cache phase: what was measured, its latencies and wrong answers.
struct CacheRow {
    label: &'static str,
    lat: Lat,
    wrong: u64,
}

/// A `redis-server` of the bench's own on a free loopback port; killed on drop.
struct BenchRedis {
    child: std::process::Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl BenchRedis {
    fn start() -> Result<BenchRedis> {
        let dir = tempfile::tempdir()?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let child = std::process::Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("redis-server is not installed (apt-get install redis-server)")?;
        let until = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            ensure!(Instant::now() < until, "redis-server did not listen on {port}");
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(BenchRedis { child, port, _dir: dir })
    }
}

impl Drop for BenchRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sequential echo latency: the fixture directly, an uncached call through the gateway, and calls answered from
/// the embedded cache and from a Redis cache (the same repeated arguments, after one call that fills the entry).
async fn cache_phase(s: &Settings) -> Result<Vec<Result<CacheRow>>> {
    let ws = tempfile::tempdir()?;
    let fx = server_toml("fx", "app", &[], "");
    let uncached = write_config_exact(ws.path(), "uncached.toml", &format!("[cache]\nenabled = false\n\n{fx}"))?;
    let memory = write_config_exact(ws.path(), "memory.toml", &format!("[cache]\nbackend = \"memory\"\n\n{fx}"))?;
    let redis = BenchRedis::start();
    let redis_cfg = match &redis {
        Ok(r) => {
            let body = format!("[cache]\nbackend = \"redis\"\nredis_url = \"redis://127.0.0.1:{}\"\n\n{fx}", r.port);
            Some(write_config_exact(ws.path(), "redis.toml", &body)?)
        }
        Err(_) => None,
    };
    let n = s.lat_calls;
    let mut rows = Vec::new();
    let measure = |label: &'static str, conn: Result<Conn>, tool: &'static str, same: Option<u64>| async move {
        let mut conn = conn?;
        conn.handshake().await?;
        let (_, mut wrong) = timeout(STEP, conn.latency_of(tool, s.warmup, 0, same)).await??;
        let (mut v, w) = timeout(STEP * 2, conn.latency_of(tool, 0, n, same)).await??;
        wrong += w;
        conn.close().await?;
        Ok(CacheRow { label, lat: lat_stats(&mut v), wrong })
    };
    rows.push(measure("fixture directly (every call runs)", Conn::fixture(&["--name", "fx"]), "echo", None).await);
    rows.push(measure("gateway, cache off (every call runs)", Conn::gateway(&uncached), "app__fx__echo", None).await);
    rows.push(measure("gateway, embedded cache hit", Conn::gateway(&memory), "app__fx__echo", Some(7)).await);
    match (&redis, redis_cfg) {
        (Ok(_), Some(cfg)) => {
            rows.push(measure("gateway, Redis cache hit", Conn::gateway(&cfg), "app__fx__echo", Some(7)).await)
        }
        (Err(e), _) => rows.push(Err(anyhow!("Redis cache hit: {e:#}"))),
        _ => {}
    }
    drop(redis);
    Ok(rows)
}

struct Idle {
    servers: usize,
    tools: usize,
    discovery: Duration,
    catalogs: usize,
    rss_kib: u64,
    children: Vec<(i32, String)>,
    started_by_fresh: usize,
}

/// Writes the catalogs of `s.lazy_servers` lazy servers with a discovery run, then measures a fresh gateway.
async fn idle_rss(s: &Settings, ws: &Path) -> Result<(Idle, PathBuf)> {
    let pids = ws.join("lazy.pids");
    let env = format!("env = {{ FIXTURE_PID_FILE = \"{}\" }}", pids.display());
    let names: Vec<String> = (0..s.lazy_servers).map(|i| format!("lazy{i:02}")).collect();
    let servers: String = names.iter().map(|n| server_toml(n, "ext", &[], &env)).collect();
    let cfg = write_config(ws, "lazy.toml", &servers)?;

    // Discovery run: no catalogs yet, so every server is started once and its catalog written.
    let t0 = Instant::now();
    let mut gw = Conn::gateway(&cfg)?;
    gw.handshake().await?;
    let listed = gw.tool_names().await?;
    let want = names.len() * fixture_base_tools();
    ensure!(listed.len() == want, "discovery listed {} tools, expected {want}", listed.len());
    let catalog_of = |n: &str| ws.join("state").join("catalog").join(format!("{n}.json"));
    let deadline = Instant::now() + Duration::from_secs(15);
    while !names.iter().all(|n| catalog_of(n).exists()) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let discovery = t0.elapsed();
    let catalogs = names.iter().filter(|n| catalog_of(n).exists()).count();
    gw.close().await?;
    ensure!(catalogs == names.len(), "only {catalogs} of {} catalogs were written", names.len());
    let started_before = lines_in(&pids);

    // Fresh gateway: everything is listed from the catalogs.
    let mut gw = Conn::gateway(&cfg)?;
    gw.handshake().await?;
    let fresh = gw.tool_names().await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss_kib = gw.rss_kib().context("no VmRSS for the gateway")?;
    let children = children_of(gw.pid);
    gw.close().await?;
    ensure!(
        fresh.len() == listed.len(),
        "the catalogued list has {} tools, discovery had {}",
        fresh.len(),
        listed.len()
    );
    let idle = Idle {
        servers: names.len(),
        tools: fresh.len(),
        discovery,
        catalogs,
        rss_kib,
        children,
        started_by_fresh: lines_in(&pids) - started_before,
    };
    Ok((idle, cfg))
}

struct Ready {
    label: String,
    ms: Vec<f64>,
    tools: usize,
    rss_kib: Option<u64>,
}

/// Spawn → initialize → initialized → tools/list answered, `runs` times.
async fn ready(label: &str, cfg: &Path, runs: usize) -> Result<Ready> {
    ready_runs(label, cfg, runs).await.with_context(|| format!("config with {label}"))
}

async fn ready_runs(label: &str, cfg: &Path, runs: usize) -> Result<Ready> {
    let mut ms = Vec::with_capacity(runs);
    let (mut tools, mut rss_kib) = (0, None);
    for _ in 0..runs {
        let t0 = Instant::now();
        let mut gw = Conn::gateway(cfg)?;
        gw.handshake().await?;
        let names = gw.tool_names().await?;
        ms.push(t0.elapsed().as_secs_f64() * 1e3);
        tools = names.len();
        rss_kib = gw.rss_kib();
        gw.close().await?;
    }
    Ok(Ready { label: label.to_owned(), ms, tools, rss_kib })
}

struct ListSide {
    lat: Lat,
    tools: usize,
    pages: usize,
    bytes: usize,
}

async fn list_side(conn: &mut Conn, calls: usize) -> Result<ListSide> {
    let (mut times, tools, pages, bytes) =
        timeout(STEP * 4, conn.list_times(calls)).await.map_err(|_| anyhow!("tools/list calls did not finish"))??;
    Ok(ListSide { lat: lat_stats(&mut times), tools, pages, bytes })
}

async fn gateway_list(s: &Settings, gateway_keys: &str, args: &[&str]) -> Result<ListSide> {
    let ws = tempfile::tempdir()?;
    let cfg =
        write_config(ws.path(), "gateway.toml", &format!("{gateway_keys}\n{}", server_toml("big", "app", args, "")))?;
    let mut gw = Conn::gateway(&cfg)?;
    gw.handshake().await?;
    let side = list_side(&mut gw, s.list_calls).await?;
    gw.close().await?;
    Ok(side)
}

/// The fixture directly, the gateway with its default paging, and the gateway set to one page
/// (`page_size = 0`; `Err` if this build has no such key).
async fn big_list(s: &Settings) -> Result<(ListSide, ListSide, Result<ListSide>)> {
    let extra = s.extra_tools.to_string();
    let args = ["--extra-tools", extra.as_str()];
    let mut fx = Conn::fixture(&[&["--name", "big"][..], &args].concat())?;
    fx.handshake().await?;
    let direct = list_side(&mut fx, s.list_calls).await?;
    fx.close().await?;
    let want = s.extra_tools + fixture_base_tools();
    ensure!(direct.tools == want, "the fixture lists {} tools, expected {want}", direct.tools);

    let paged = gateway_list(s, "", &args).await?;
    ensure!(
        paged.tools == want,
        "the gateway lists {} tools over {} page(s), expected {want}",
        paged.tools,
        paged.pages
    );
    let one_page = gateway_list(s, "page_size = 0", &args).await.and_then(|side| {
        ensure!(side.tools == want, "with page_size = 0 the gateway lists {} tools, expected {want}", side.tools);
        Ok(side)
    });
    Ok((direct, paged, one_page))
}

struct Isolation {
    alone: Acc,
    with_slow: Acc,
    slow: Acc,
    stray: u64,
}

/// Fast echo load alone and with a slow server kept busy, alternating (ABBA) over `s.iso_rounds` rounds.
async fn isolation(s: &Settings) -> Result<Isolation> {
    let ws = tempfile::tempdir()?;
    let servers = format!("{}{}", server_toml("fast", "app", &[], ""), server_toml("slow", "app", &[], ""));
    let cfg = write_config(ws.path(), "gateway.toml", &servers)?;
    let mut gw = Conn::gateway(&cfg)?;
    gw.handshake().await?;
    let names = gw.tool_names().await?;
    for t in ["app__fast__echo", "app__slow__sleep"] {
        ensure!(names.iter().any(|n| n == t), "{t} is not listed");
    }
    let (_, mut wrong) = timeout(STEP, gw.latency("app__fast__echo", s.warmup, 0))
        .await
        .map_err(|_| anyhow!("warm-up did not finish in time"))??;
    wrong += warm_load(s, &mut gw, "app__fast__echo").await?;
    ensure!(wrong == 0, "{wrong} wrong answers while warming up");

    let window = s.window() / s.iso_rounds as u32;
    let fast = |delay| {
        let mut f = Stream::new("app__fast__echo", Work::Echo, s.inflight, window, s);
        f.start_delay = delay;
        f
    };
    // The slow stream starts first so its window is full before the fast one starts, and keeps sending until
    // the fast one has stopped.
    let lead = Duration::from_millis(300);
    let slow = Stream::new("app__slow__sleep", Work::Sleep(s.slow_ms), s.slow_inflight, lead + window, s);
    let mut iso = Isolation { alone: Acc::default(), with_slow: Acc::default(), slow: Acc::default(), stray: 0 };
    for r in 0..s.iso_rounds {
        for k in order(r) {
            if k == 0 {
                let mut out = gw.load(vec![fast(Duration::ZERO)]).await?;
                iso.stray += out.stray;
                iso.alone.add(out.streams.remove(0));
            } else {
                let mut out = gw.load(vec![slow.clone(), fast(lead)]).await?;
                iso.stray += out.stray;
                iso.with_slow.add(out.streams.remove(1));
                iso.slow.add(out.streams.remove(0));
            }
        }
    }
    gw.close().await?;
    Ok(iso)
}

// ---------------------------------------------------------------------------------------------------------
// Report

#[derive(Default)]
struct Report {
    out: String,
    failures: Vec<String>,
    bad_answers: u64,
}

impl Report {
    fn table(&mut self, title: &str, header: [&str; 4], rows: &[[String; 4]]) {
        let all: Vec<[String; 4]> = std::iter::once(header.map(str::to_owned)).chain(rows.iter().cloned()).collect();
        let w: Vec<usize> = (0..4).map(|i| all.iter().map(|r| r[i].chars().count()).max().unwrap_or(0)).collect();
        let total = w.iter().sum::<usize>() + 6;
        self.out.push_str(&format!("\n{title}\n{}\n", "-".repeat(total.max(title.len()))));
        for (i, r) in all.iter().enumerate() {
            let line = format!(
                "{:<w0$}  {:>w1$}  {:>w2$}  {:>w3$}",
                r[0],
                r[1],
                r[2],
                r[3],
                w0 = w[0],
                w1 = w[1],
                w2 = w[2],
                w3 = w[3]
            );
            self.out.push_str(line.trim_end());
            self.out.push('\n');
            if i == 0 {
                self.out.push_str(&format!("{}\n", "-".repeat(total)));
            }
        }
    }

    fn note(&mut self, text: &str) {
        self.out.push_str(&format!("  {text}\n"));
    }

    /// How busy the machine was since `mark`, and how much of that was not this benchmark's processes (other
    /// builds and the like, which make the figures noisier). Exact once every process of the phase has exited.
    fn cpu_note(&mut self, what: &str, mark: &CpuMark) {
        let now = CpuMark::now();
        let total = now.total.saturating_sub(mark.total).max(1) as f64;
        let pct = |j: u64| 100.0 * j as f64 / total;
        let busy = now.busy.saturating_sub(mark.busy);
        let other = busy.saturating_sub(now.own.saturating_sub(mark.own));
        self.note(&format!(
            "machine during {what} ({:.1} s): {:.0}% busy ({:.0}% from processes outside the benchmark), \
             steal {:.1}%",
            mark.at.elapsed().as_secs_f64(),
            pct(busy),
            pct(other),
            pct(now.steal.saturating_sub(mark.steal))
        ));
    }

    fn failed(&mut self, what: &str, e: &anyhow::Error) {
        let msg = format!("{what} FAILED: {e:#}");
        eprintln!("bench: {msg}");
        self.out.push_str(&format!("\n{msg}\n"));
        self.failures.push(msg);
    }
}

fn us(v: f64) -> String {
    format!("{v:.1}")
}

fn ms(v: f64) -> String {
    format!("{v:.2}")
}

fn mib(kib: u64) -> String {
    format!("{:.1}", kib as f64 / 1024.0)
}

fn delta(a: f64, b: f64) -> String {
    format!("{:+.1} µs", b - a)
}

fn ratio(a: f64, b: f64) -> String {
    if a > 0.0 {
        format!("{:.2}×", b / a)
    } else {
        "n/a".into()
    }
}

fn git_commit() -> String {
    let dir = env!("CARGO_MANIFEST_DIR");
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .current_dir(dir)
            .stderr(Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    match git(&["rev-parse", "--short=12", "HEAD"]) {
        Some(c) => {
            let dirty = git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
            format!("{c}{}", if dirty { " (with uncommitted changes)" } else { "" })
        }
        None => "unknown".into(),
    }
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name") || l.starts_with("Model") || l.starts_with("cpu model"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into())
}

/// CPU accounting at one instant: the machine's busy, total and steal jiffies (/proc/stat) and those of this
/// process with its reaped children (every gateway and fixture it started, once they have exited).
struct CpuMark {
    at: Instant,
    busy: u64,
    total: u64,
    steal: u64,
    own: u64,
}

impl CpuMark {
    fn now() -> CpuMark {
        let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
        let cpu = stat.lines().next().unwrap_or_default();
        let v: Vec<u64> = cpu.split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
        let get = |i: usize| v.get(i).copied().unwrap_or(0);
        // user nice system idle iowait irq softirq steal
        let busy = get(0) + get(1) + get(2) + get(5) + get(6) + get(7);
        let own = std::fs::read_to_string("/proc/self/stat")
            .ok()
            .and_then(|st| {
                let rest = &st[st.rfind(')')? + 1..];
                Some(rest.split_whitespace().skip(11).take(4).filter_map(|x| x.parse::<u64>().ok()).sum())
            })
            .unwrap_or(0);
        CpuMark { at: Instant::now(), busy, total: busy + get(3) + get(4), steal: get(7), own }
    }
}

fn progress(what: &str) {
    eprintln!("bench: {what}");
}

fn row(a: impl Into<String>, b: impl Into<String>, c: impl Into<String>, d: impl Into<String>) -> [String; 4] {
    [a.into(), b.into(), c.into(), d.into()]
}

async fn run() -> Result<bool> {
    let s = Settings::from_env();
    let started = Instant::now();
    let run_mark = CpuMark::now();
    let mut r = Report::default();
    let nproc = std::thread::available_parallelism().map_or(0, |n| n.get());
    r.out.push_str("dfs-gateway benchmark (benches/gateway.rs)\n");
    r.out.push_str(&format!("commit   : {}\n", git_commit()));
    r.out.push_str(&format!("machine  : {nproc} CPU(s), {}\n", cpu_model()));
    r.out.push_str(&format!(
        "settings : {}{} sequential calls and a {:.1} s window at {} in flight per side, split into {} \
         alternating rounds; {} warm-up calls; client on 1 thread\n",
        if s.quick { "BENCH_QUICK, " } else { "" },
        s.lat_calls,
        s.secs,
        s.inflight,
        s.rounds,
        s.warmup
    ));
    let i = s.inflight;

    // 1-3: echo, direct and through the gateway.
    if s.runs("echo") {
        progress("echo: direct and through the gateway, alternating");
        let mark = CpuMark::now();
        match echo_compare(&s).await {
            Ok([d, g]) => {
                let lat = |what: &str, a: f64, b: f64| row(what, us(a), us(b), delta(a, b));
                let rows = [
                    lat("latency @1 in flight, p50 (µs)", d.lat.p50, g.lat.p50),
                    lat("latency @1 in flight, p99 (µs)", d.lat.p99, g.lat.p99),
                    lat("latency @1 in flight, mean (µs)", d.lat.mean, g.lat.mean),
                    lat("latency @1 in flight, max (µs)", d.lat.max, g.lat.max),
                    row(
                        format!("throughput @{i} in flight (calls/s)"),
                        format!("{:.0}", d.rate),
                        format!("{:.0}", g.rate),
                        ratio(d.rate, g.rate),
                    ),
                    lat(&format!("latency @{i} in flight, p50 (µs)"), d.load_lat.p50, g.load_lat.p50),
                    lat(&format!("latency @{i} in flight, p99 (µs)"), d.load_lat.p99, g.load_lat.p99),
                    row(
                        "calls measured (seq / pipelined)",
                        format!("{} / {}", d.lat.n, d.load_calls),
                        format!("{} / {}", g.lat.n, g.load_calls),
                        "",
                    ),
                    row(
                        "wrong answers (seq / pipelined)",
                        format!("{} / {}", d.lat_wrong, d.load_bad),
                        format!("{} / {}", g.lat_wrong, g.load_bad),
                        "",
                    ),
                    row(
                        format!("CPU per call @{i} in flight (µs)"),
                        d.cpu_per_call_us.map_or("?".into(), |c| format!("{c:.2}")),
                        g.cpu_per_call_us.map_or("?".into(), |c| format!("{c:.2}")),
                        match (d.cpu_per_call_us, g.cpu_per_call_us) {
                            (Some(a), Some(b)) => ratio(a, b),
                            _ => String::new(),
                        },
                    ),
                    row(
                        "VmRSS after the load (MiB)",
                        d.rss_kib.map_or("?".into(), mib),
                        g.rss_kib.map_or("?".into(), mib),
                        "",
                    ),
                ];
                let header = ["", "direct", "gateway", "gateway vs direct"];
                r.table("Echo over stdio (gateway: one app fixture server)", header, &rows);
                r.note("vs direct: throughput is gateway/direct, latencies gateway - direct.");
                r.note("VmRSS and CPU: the fixture's own; the gateway's without its child (CPU: user + system, all threads).");
                r.bad_answers += d.lat_wrong + d.load_bad + g.lat_wrong + g.load_bad;
            }
            Err(e) => r.failed("echo", &e),
        }
        r.cpu_note("this phase", &mark);
    }

    // 8: the Streamable HTTP front, with its own direct baseline.
    if s.runs("http") {
        progress("http: direct and through the HTTP front in both eras, rotating");
        let mark = CpuMark::now();
        match http::http_phase(&s).await {
            Ok(p) => {
                let [d, l, m] = &p.sides;
                let three = |what: String, f: &dyn Fn(&http::HttpSide) -> String| row(what, f(d), f(l), f(m));
                let rows = [
                    three("latency @1 in flight, p50 (µs)".into(), &|x| us(x.lat.p50)),
                    three("latency @1 in flight, p99 (µs)".into(), &|x| us(x.lat.p99)),
                    three("ping @1 in flight, p50 / p99 (µs)".into(), &|x| {
                        x.ping.map_or(String::new(), |p| format!("{} / {}", us(p.p50), us(p.p99)))
                    }),
                    three(format!("throughput @{i} in flight (calls/s)"), &|x| format!("{:.0}", x.rate)),
                    three(format!("latency @{i} in flight, p50 (µs)"), &|x| us(x.load_lat.p50)),
                    three(format!("latency @{i} in flight, p99 (µs)"), &|x| us(x.load_lat.p99)),
                    three(format!("CPU per call @{i} in flight (µs)"), &|x| {
                        x.cpu_per_call_us.map_or("?".into(), |c| format!("{c:.2}"))
                    }),
                    three("calls measured (seq / pipelined)".into(), &|x| format!("{} / {}", x.lat.n, x.load_calls)),
                    three("wrong answers (seq / pipelined)".into(), &|x| format!("{} / {}", x.lat_wrong, x.load_bad)),
                ];
                let header = ["", http::SIDES[0], http::SIDES[1], http::SIDES[2]];
                r.table("Echo over Streamable HTTP (gateway: HTTP front only, one app fixture server)", header, &rows);
                r.note(&format!(
                    "direct: the fixture over its stdio pipe ({i} requests pipelined); HTTP: {i} keep-alive connections, \
                     one request in flight on each; legacy: {} session(s).",
                    p.sessions
                ));
                r.note("CPU: the fixture's own (direct); the gateway's without its child (HTTP; user + system, all threads).");
                r.note("ping (modern: server/discover): answered by the gateway itself, the front's round trip alone.");
                r.note(&format!(
                    "HTTP legacy vs direct: throughput {}, p50 @1 {}; HTTP modern: throughput {}, p50 @1 {}.",
                    ratio(d.rate, l.rate),
                    delta(d.lat.p50, l.lat.p50),
                    ratio(d.rate, m.rate),
                    delta(d.lat.p50, m.lat.p50)
                ));
                let met = |ok: bool| if ok { "met" } else { "NOT met" };
                r.note(&format!(
                    "target HTTP legacy >= 30,000 calls/s @{i} in flight: {} ({:.0}); p50 <= 150 µs @1 in flight: {} \
                     ({}; @{i} in flight: {} µs)",
                    met(l.rate >= 30_000.0),
                    l.rate,
                    met(l.lat.p50 <= 150.0),
                    us(l.lat.p50),
                    us(l.load_lat.p50)
                ));
                r.bad_answers += p.sides.iter().map(|x| x.lat_wrong + x.load_bad).sum::<u64>();
            }
            Err(e) => r.failed("http", &e),
        }
        r.cpu_note("this phase", &mark);
    }

    // Cache: hits against a direct call and an uncached one.
    if s.runs("cache") {
        progress("cache: embedded and Redis hits against direct and uncached calls");
        let mark = CpuMark::now();
        match cache_phase(&s).await {
            Ok(results) => {
                let mut rows = Vec::new();
                let mut direct = None;
                for res in results {
                    match res {
                        Ok(c) => {
                            let base = *direct.get_or_insert(c.lat.p50);
                            rows.push(row(c.label, us(c.lat.p50), us(c.lat.p99), delta(base, c.lat.p50)));
                            r.bad_answers += c.wrong;
                        }
                        Err(e) => r.failed("cache", &e),
                    }
                }
                let title = format!("Echo @1 in flight: cache hits ({} sequential calls each)", s.lat_calls);
                r.table(&title, ["", "p50 (µs)", "p99 (µs)", "p50 vs direct"], &rows);
                r.note("hits repeat one argument set after a first call filled the entry; misses use new ones.");
            }
            Err(e) => r.failed("cache", &e),
        }
        r.cpu_note("this phase", &mark);
    }

    // 4: idle RSS with lazy catalogued servers.
    let ws = tempfile::tempdir()?;
    let idle_mark = CpuMark::now();
    let lazy_cfg = if !s.runs("idle") {
        None
    } else {
        progress("idle RSS with lazy catalogued servers");
        match idle_rss(&s, ws.path()).await {
            Ok((idle, cfg)) => {
                let kids = match idle.children.is_empty() {
                    true => "none".to_owned(),
                    false => idle.children.iter().map(|(p, c)| format!("{p} {c}")).collect::<Vec<_>>().join(", "),
                };
                let discovery = format!("{} / {}", idle.catalogs, ms(idle.discovery.as_secs_f64() * 1e3));
                let rows = [
                    row("gateway VmRSS after handshake + tools/list + 300 ms (MiB)", mib(idle.rss_kib), "", ""),
                    row("child processes of the gateway", kids, "", ""),
                    row("fixture processes started by that gateway", idle.started_by_fresh.to_string(), "", ""),
                    row("tools listed (from the catalogs)", idle.tools.to_string(), "", ""),
                    row("discovery run before it: catalogs written / time (ms)", discovery, "", ""),
                ];
                let title = format!("Idle gateway, {} lazy servers with catalogs", idle.servers);
                r.table(&title, ["", "value", "", ""], &rows);
                if !idle.children.is_empty() || idle.started_by_fresh != 0 {
                    r.failures.push("a catalogued lazy server was started by an idle gateway".into());
                    r.note("!! a catalogued lazy server was started; expected none");
                }
                Some(cfg)
            }
            Err(e) => {
                r.failed("idle RSS", &e);
                None
            }
        }
    };
    if s.runs("idle") {
        r.cpu_note("this phase", &idle_mark);
    }

    // 5: ready for tools/list.
    if s.runs("ready") {
        progress("ready for tools/list");
        let mark = CpuMark::now();
        let empty = write_config(ws.path(), "empty.toml", "")?;
        let one_app = write_config(ws.path(), "one_app.toml", &server_toml("fx", "app", &[], ""))?;
        let mut readies = Vec::new();
        if let Some(cfg) = &lazy_cfg {
            readies.push(ready(&format!("{} lazy catalogued servers", s.lazy_servers), cfg, s.ready_runs).await);
        }
        readies.push(ready("no servers", &empty, s.ready_runs).await);
        readies.push(ready("1 app (eager) fixture server", &one_app, s.ready_runs).await);
        let mut rows = Vec::new();
        for res in readies {
            match res {
                Ok(mut rd) => {
                    let (lo, hi) = min_max(&rd.ms);
                    let med = median(&mut rd.ms);
                    let rss = rd.rss_kib.map_or("?".into(), mib);
                    rows.push(row(
                        format!("{} ({} tools)", rd.label, rd.tools),
                        ms(med),
                        format!("{} .. {}", ms(lo), ms(hi)),
                        rss,
                    ));
                }
                Err(e) => r.failed("ready for tools/list", &e),
            }
        }
        let title = format!("Spawn → initialize → tools/list answered ({} runs each)", s.ready_runs);
        r.table(&title, ["config", "median (ms)", "min .. max (ms)", "VmRSS (MiB)"], &rows);
        r.cpu_note("this phase", &mark);
    }

    // 6: tools/list over many tools.
    if s.runs("list") {
        progress("tools/list over many tools");
        let mark = CpuMark::now();
        match big_list(&s).await {
            Ok((d, g, one)) => {
                let lat = |what: &str, a: f64, b: f64| row(what, ms(a / 1e3), ms(b / 1e3), ratio(a, b));
                let kib = |b: usize| format!("{:.0}", b as f64 / 1024.0);
                let mut rows = vec![
                    lat("full listing p50 (ms)", d.lat.p50, g.lat.p50),
                    lat("full listing p99 (ms)", d.lat.p99, g.lat.p99),
                    lat("full listing mean (ms)", d.lat.mean, g.lat.mean),
                    row(
                        "pages / KiB per listing",
                        format!("{} / {}", d.pages, kib(d.bytes)),
                        format!("{} / {}", g.pages, kib(g.bytes)),
                        "",
                    ),
                ];
                match one {
                    Ok(o) => {
                        rows.push(lat("gateway with page_size = 0: p50 (ms)", d.lat.p50, o.lat.p50));
                        rows.push(lat("gateway with page_size = 0: p99 (ms)", d.lat.p99, o.lat.p99));
                        rows.push(row(
                            "gateway with page_size = 0: pages / KiB",
                            "",
                            format!("{} / {}", o.pages, kib(o.bytes)),
                            "",
                        ));
                    }
                    Err(e) => {
                        let why: String = format!("{e:#}").chars().take(60).collect();
                        rows.push(row("gateway with page_size = 0", "", "n/a", why));
                    }
                }
                let title = format!("tools/list with {} tools ({} listings each)", d.tools, d.lat.n);
                r.table(&title, ["", "direct", "gateway", "gateway/direct"], &rows);
                r.note("gateway column: default paging (nextCursor followed; timed to the last page's receipt).");
            }
            Err(e) => r.failed("tools/list over many tools", &e),
        }
        r.cpu_note("this phase", &mark);
    }

    // 7: slow server isolation.
    if s.runs("iso") {
        progress("slow-server isolation");
        let mark = CpuMark::now();
        match isolation(&s).await {
            Ok(mut iso) => {
                let a = lat_stats(&mut iso.alone.lat_ns);
                let b = lat_stats(&mut iso.with_slow.lat_ns);
                let sl = lat_stats(&mut iso.slow.lat_ns);
                let (ra, rb) = (iso.alone.rate(), iso.with_slow.rate());
                let slow = format!("{}, {} / {}", iso.slow.calls, ms(sl.p50 / 1e3), ms(sl.max / 1e3));
                let rows = [
                    row(format!("fast echo @{i} in flight, p50 (µs)"), us(a.p50), us(b.p50), ratio(a.p50, b.p50)),
                    row(format!("fast echo @{i} in flight, p99 (µs)"), us(a.p99), us(b.p99), ratio(a.p99, b.p99)),
                    row("fast echo throughput (calls/s)", format!("{ra:.0}"), format!("{rb:.0}"), ratio(ra, rb)),
                    row(
                        format!("slow sleep {} ms @{}: calls, p50 / max (ms)", s.slow_ms, s.slow_inflight),
                        "",
                        slow,
                        "",
                    ),
                    row(
                        "wrong answers (fast / slow)",
                        iso.alone.bad.to_string(),
                        format!("{} / {}", iso.with_slow.bad, iso.slow.bad),
                        "",
                    ),
                ];
                let title = "Slow-server isolation (two app servers behind one gateway)";
                r.table(title, ["", "fast alone", "with slow load", "with/alone"], &rows);
                let verdict = if b.p99 <= 2.0 * a.p99 { "met" } else { "NOT met" };
                let factor = b.p99 / a.p99.max(1e-9);
                r.note(&format!("target fast p99 with slow load <= 2x alone: {verdict} ({factor:.2}×)"));
                r.bad_answers += iso.alone.bad + iso.with_slow.bad + iso.slow.bad + iso.stray;
            }
            Err(e) => r.failed("slow-server isolation", &e),
        }
        r.cpu_note("this phase", &mark);
    }

    r.out.push('\n');
    r.cpu_note("the whole run", &run_mark);
    r.out.push_str(&format!(
        "wrong answers overall: {}   phases failed: {}   total time: {:.1} s\n",
        r.bad_answers,
        r.failures.len(),
        started.elapsed().as_secs_f64()
    ));
    print!("{}", r.out);
    Ok(r.bad_answers == 0 && r.failures.is_empty())
}
