//! `cargo bench --bench http_front`: echo calls through the HTTP front of the real `dfs-gateway` binary (bench
//! profile) with the fixture server as its one app server, over keep-alive HTTP/1.1 connections.
//!
//! Measures latency at 1 in flight (p50/p99) and throughput with p50/p99 at `BENCH_INFLIGHT` (32) in flight, one
//! connection per in-flight request, in 2025-11-25 sessions (`BENCH_SESSIONS`: how many sessions the connections
//! share, default 1) and in 2026-07-28 stateless requests. Every answer's text must be the echoed message of its
//! own request, or it counts as wrong. The client runs on one thread.
//!
//! Knobs: `BENCH_SECS` (throughput window, default 5), `BENCH_LAT_CALLS` (default 5000), `BENCH_INFLIGHT`,
//! `BENCH_SESSIONS`.

use std::net::SocketAddr;
use std::process::{ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::process::Command;

const GATEWAY: &str = env!("CARGO_BIN_EXE_dfs-gateway");
const FIXTURE: &str = env!("CARGO_BIN_EXE_dfs-fixture-server");
const META: &str = r#""_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}"#;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() -> ExitCode {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    match rt.block_on(run()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("http_front bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// One keep-alive connection speaking one era.
struct Conn {
    sender: SendRequest<Full<Bytes>>,
    /// `Some(session id)`: 2025-11-25; `None`: 2026-07-28 stateless.
    session: Option<String>,
}

impl Conn {
    async fn open(addr: SocketAddr, session: Option<String>) -> Result<Self> {
        let stream = tokio::net::TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(conn);
        Ok(Conn { sender, session })
    }

    async fn post(&mut self, body: String, extra: &[(&str, &str)]) -> Result<(u16, Option<String>, Bytes)> {
        self.sender.ready().await?;
        let mut req = Request::post("/mcp")
            .header("host", "127.0.0.1")
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream");
        if let Some(s) = &self.session {
            req = req.header("mcp-session-id", s.as_str()).header("mcp-protocol-version", "2025-11-25");
        }
        for (k, v) in extra {
            req = req.header(*k, *v);
        }
        let resp = self.sender.send_request(req.body(Full::new(Bytes::from(body)))?).await?;
        let status = resp.status().as_u16();
        let sid = resp.headers().get("mcp-session-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let body = resp.into_body().collect().await?.to_bytes();
        Ok((status, sid, body))
    }

    /// One echo call; checks the answer is this call's.
    async fn echo(&mut self, seq: u64) -> Result<()> {
        let message = format!("m{seq}");
        let (status, _, body) = match self.session {
            Some(_) => {
                let body = format!(
                    r#"{{"jsonrpc":"2.0","id":{seq},"method":"tools/call","params":{{"name":"app__fx__echo","arguments":{{"message":"{message}"}}}}}}"#
                );
                self.post(body, &[]).await?
            }
            None => {
                let body = format!(
                    r#"{{"jsonrpc":"2.0","id":{seq},"method":"tools/call","params":{{"name":"app__fx__echo","arguments":{{"message":"{message}"}},{META}}}}}"#
                );
                let h = [
                    ("mcp-protocol-version", "2026-07-28"),
                    ("mcp-method", "tools/call"),
                    ("mcp-name", "app__fx__echo"),
                ];
                self.post(body, &h).await?
            }
        };
        let v: Value = serde_json::from_slice(&body).with_context(|| format!("status {status}: not JSON"))?;
        if status != 200 || v["id"] != seq || v["result"]["content"][0]["text"] != message.as_str() {
            bail!("wrong answer to {seq}: {status} {v}");
        }
        Ok(())
    }
}

async fn initialize(addr: SocketAddr) -> Result<String> {
    let mut c = Conn::open(addr, None).await?;
    let init = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}"#;
    let (status, sid, _) = c.post(init.into(), &[]).await?;
    let sid = sid.ok_or_else(|| anyhow!("initialize answered {status} without a session"))?;
    c.session = Some(sid.clone());
    let (status, _, _) = c.post(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#.into(), &[]).await?;
    if status != 202 {
        bail!("initialized answered {status}");
    }
    Ok(sid)
}

/// CPU time (user + system) the process has used so far, in µs (from /proc/<pid>/stat, clock ticks of 10 ms
/// on Linux: meaningful over seconds, not per call).
fn cpu_us(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> =
        stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect()).unwrap_or_default();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    // After the command name: state is field 0, utime 11, stime 12.
    (ticks(11) + ticks(12)) * 10_000
}

fn pct(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize] as f64 / 1000.0
}

/// Latency at 1 in flight: (p50, p99) in µs.
async fn latency(conn: &mut Conn, calls: u64) -> Result<(f64, f64)> {
    for i in 0..calls / 10 {
        conn.echo(i).await?;
    }
    let mut ns = Vec::with_capacity(calls as usize);
    for i in 0..calls {
        let t = Instant::now();
        conn.echo(1_000_000 + i).await?;
        ns.push(t.elapsed().as_nanos() as u64);
    }
    ns.sort_unstable();
    Ok((pct(&ns, 0.5), pct(&ns, 0.99)))
}

/// Throughput with `conns` connections each keeping one call in flight for `secs`: (calls/s, p50, p99).
async fn throughput(mut conns: Vec<Conn>, secs: f64) -> Result<(f64, f64, f64)> {
    let start = Instant::now();
    let until = start + Duration::from_secs_f64(secs);
    let mut tasks = tokio::task::JoinSet::new();
    for (n, mut c) in conns.drain(..).enumerate() {
        tasks.spawn(async move {
            let mut ns = Vec::with_capacity(100_000);
            let mut seq = (n as u64 + 1) << 32;
            while Instant::now() < until {
                let t = Instant::now();
                c.echo(seq).await?;
                ns.push(t.elapsed().as_nanos() as u64);
                seq += 1;
            }
            Ok::<_, anyhow::Error>(ns)
        });
    }
    let mut all = Vec::new();
    while let Some(r) = tasks.join_next().await {
        all.extend(r??);
    }
    let elapsed = start.elapsed().as_secs_f64();
    all.sort_unstable();
    Ok((all.len() as f64 / elapsed, pct(&all, 0.5), pct(&all, 0.99)))
}

async fn run() -> Result<()> {
    let secs: f64 = env_or("BENCH_SECS", 5.0);
    let lat_calls: u64 = env_or("BENCH_LAT_CALLS", 5000);
    let inflight: usize = env_or("BENCH_INFLIGHT", 32);
    let sessions: usize = env_or("BENCH_SESSIONS", 1).max(1);
    let dir = tempfile::tempdir()?;
    let cfg = dir.path().join("gateway.toml");
    std::fs::write(
        &cfg,
        format!(
            "[gateway]\nstate_dir = \"state\"\n[front.stdio]\nenabled = false\n[front.http]\nenabled = true\nlisten = \"127.0.0.1:0\"\n\n[servers.fx]\nnamespace = \"app\"\ncommand = \"{FIXTURE}\"\nargs = [\"--name\", \"fx\"]\n"
        ),
    )?;
    let log = dir.path().join("gateway.log");
    let mut gw = Command::new(GATEWAY)
        .args(["serve", "--config"])
        .arg(&cfg)
        .env("LOG_LEVEL", "info")
        .env("ENABLE_HEALTH", "false")
        .env("ENABLE_METRICS", "false")
        .env_remove("APP_SERVERS")
        .env_remove("EXTERNAL_SERVERS")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log)?)
        .kill_on_drop(true)
        .spawn()?;
    let deadline = Instant::now() + Duration::from_secs(30);
    let addr: SocketAddr = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let found = text.lines().filter_map(|l| serde_json::from_str::<Value>(l).ok()).find_map(|v| {
            (v["fields"]["message"] == "mcp http front listening")
                .then(|| v["fields"]["addr"].as_str()?.parse().ok())?
        });
        if let Some(a) = found {
            break a;
        }
        if Instant::now() > deadline {
            bail!("the gateway did not listen; log:\n{text}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // The fixture must be ready before timing starts.
    let ids: Vec<String> = {
        let mut v = Vec::new();
        for _ in 0..sessions {
            v.push(initialize(addr).await?);
        }
        v
    };
    let mut probe = Conn::open(addr, Some(ids[0].clone())).await?;
    let ready = Instant::now() + Duration::from_secs(30);
    while probe.echo(0).await.is_err() {
        if Instant::now() > ready {
            bail!("the fixture never answered");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    println!("HTTP front, echo through dfs-gateway (fixture server), {inflight} keep-alive connections for throughput");
    let (p50, p99) = latency(&mut probe, lat_calls).await?;
    println!("legacy (2025-11-25 session)  @1 in flight: p50 {p50:.1} µs, p99 {p99:.1} µs");
    let mut conns = Vec::new();
    for i in 0..inflight {
        conns.push(Conn::open(addr, Some(ids[i % sessions].clone())).await?);
    }
    let pid = gw.id().unwrap_or(0);
    let cpu0 = cpu_us(pid);
    let (rate, p50, p99) = throughput(conns, secs).await?;
    let per_call = (cpu_us(pid) - cpu0) as f64 / (rate * secs);
    println!(
        "legacy (2025-11-25, {sessions} session(s)) @{inflight} in flight: {rate:.0} calls/s, p50 {p50:.1} µs, p99 {p99:.1} µs; gateway CPU {per_call:.1} µs/call"
    );
    let mut modern = Conn::open(addr, None).await?;
    let (p50, p99) = latency(&mut modern, lat_calls).await?;
    println!("modern (2026-07-28 stateless) @1 in flight: p50 {p50:.1} µs, p99 {p99:.1} µs");
    let mut conns = Vec::new();
    for _ in 0..inflight {
        conns.push(Conn::open(addr, None).await?);
    }
    let (rate, p50, p99) = throughput(conns, secs).await?;
    println!(
        "modern (2026-07-28 stateless) @{inflight} in flight: {rate:.0} calls/s, p50 {p50:.1} µs, p99 {p99:.1} µs"
    );
    println!("wrong answers: 0 (any wrong answer aborts the run)");
    let _ = gw.start_kill();
    let _ = gw.wait().await;
    Ok(())
}
