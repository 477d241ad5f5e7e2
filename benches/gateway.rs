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
//!
//! Layout: this file runs the phases and prints the report; `gateway/` holds one file per phase (`echo`,
//! `http`, `cache`, `idle`, `ready`, `list`, `iso`) and what they share: `settings`, `stats`, `wire` (what is
//! written and how answers are judged), `process` (child processes, /proc), `load` (the pipelined load driver),
//! `configs`, `report`. What the figures depend on is in `benches/README.md`.

#[path = "gateway/cache.rs"]
mod cache;
#[path = "gateway/configs.rs"]
mod configs;
#[path = "gateway/echo.rs"]
mod echo;
#[path = "gateway/http.rs"]
mod http;
#[path = "gateway/idle.rs"]
mod idle;
#[path = "gateway/iso.rs"]
mod iso;
#[path = "gateway/list.rs"]
mod list;
#[path = "gateway/load.rs"]
mod load;
#[path = "gateway/process.rs"]
mod process;
#[path = "gateway/ready.rs"]
mod ready;
#[path = "gateway/report.rs"]
mod report;
#[path = "gateway/settings.rs"]
mod settings;
#[path = "gateway/stats.rs"]
mod stats;
#[path = "gateway/wire.rs"]
mod wire;

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

use cache::*;
use configs::*;
use echo::*;
use idle::*;
use iso::*;
use list::*;
use load::*;
use process::*;
use ready::*;
use report::*;
use settings::*;
use stats::*;
use wire::*;

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
