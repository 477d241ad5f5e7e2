//! The `http` phase: echo calls through the gateway's Streamable HTTP front, in 2025-11-25 sessions and in
//! 2026-07-28 stateless requests, measured in alternating rounds with the fixture called directly over its stdio
//! (the baseline every other phase uses).
//!
//! HTTP load is `BENCH_INFLIGHT` keep-alive HTTP/1.1 connections, each with one request in flight at a time (as
//! an HTTP client without pipelining does); the legacy connections share `BENCH_HTTP_SESSIONS` sessions. The
//! client is hyper's, on the bench's one thread. Every answer must be a 200 with the JSON response to its own
//! request (id and echoed text), or it counts as wrong.

use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use tokio::task::JoinSet;

use super::*;

const META: &str = r#""_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}"#;
const TOOL: &str = "app__fx__echo";

/// The three sides of the phase, in the order of [`HttpPhase::sides`].
pub const SIDES: [&str; 3] = ["direct (stdio)", "HTTP legacy", "HTTP modern"];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Era {
    /// 2025-11-25: requests carry their session's `Mcp-Session-Id`.
    Legacy,
    /// 2026-07-28: every request stands alone, with its metadata headers.
    Modern,
}

/// A gateway with only its HTTP front on, the fixture as its one app server. Killed if dropped unstopped.
struct HttpGateway {
    child: Child,
    pid: u32,
    addr: SocketAddr,
    _ws: tempfile::TempDir,
}

impl HttpGateway {
    async fn start() -> Result<HttpGateway> {
        let ws = tempfile::tempdir()?;
        let front = "[front.stdio]\nenabled = false\n[front.http]\nenabled = true\nlisten = \"127.0.0.1:0\"\n";
        let cfg = write_config(ws.path(), "http.toml", &format!("{front}\n{}", server_toml("fx", "app", &[], "")))?;
        let log = ws.path().join("gateway.log");
        let mut child = Command::new(GATEWAY)
            .args(["serve", "--config"])
            .arg(&cfg)
            // As quiet as the stdio phases, but for the line that says where the front listens.
            .env("LOG_LEVEL", "warn,dfs_gateway::actors::http_front=info")
            .env("ENABLE_HEALTH", "false")
            .env("ENABLE_METRICS", "false")
            .env_remove("APP_SERVERS")
            .env_remove("EXTERNAL_SERVERS")
            .env_remove("DFS_GATEWAY_CONFIG")
            .env_remove("ENABLE_HTTP")
            .env_remove("HTTP_LISTEN")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?)
            .kill_on_drop(true)
            .spawn()
            .context("starting the gateway with its HTTP front")?;
        let pid = child.id().context("no pid")?;
        let deadline = Instant::now() + STEP;
        let addr = loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let found = text.lines().filter_map(|l| serde_json::from_str::<Value>(l).ok()).find_map(|v| {
                (v["fields"]["message"] == "mcp http front listening")
                    .then(|| v["fields"]["addr"].as_str()?.parse().ok())?
            });
            if let Some(addr) = found {
                break addr;
            }
            if let Ok(Some(status)) = child.try_wait() {
                bail!("the gateway exited ({status}) before listening; its log:\n{text}");
            }
            ensure!(Instant::now() < deadline, "the gateway's HTTP front did not listen within {STEP:?}; log:\n{text}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        Ok(HttpGateway { child, pid, addr, _ws: ws })
    }

    /// SIGTERM, then the exit and no process of it left behind (as [`Conn::close`] checks for stdio).
    async fn stop(mut self) -> Result<()> {
        let kids = children_of(self.pid);
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid as i32), nix::sys::signal::Signal::SIGTERM);
        let status = match timeout(Duration::from_secs(10), self.child.wait()).await {
            Ok(status) => status?,
            Err(_) => {
                self.child.kill().await?;
                bail!("the HTTP gateway (pid {}) did not exit within 10 s of SIGTERM; killed it", self.pid);
            }
        };
        let left = reap(&kids).await;
        ensure!(left.is_empty(), "the HTTP gateway exited but left processes {left:?} running (killed them)");
        ensure!(status.success(), "the HTTP gateway exited with {status}");
        Ok(())
    }
}

/// One keep-alive connection to the front, speaking one era.
struct HttpConn {
    sender: SendRequest<Full<Bytes>>,
    era: Era,
    /// Legacy: the session's id.
    session: Option<HeaderValue>,
    body: Vec<u8>,
}

/// Request headers every POST carries, and those of each era (built once: the client should cost little).
struct Headers {
    common: [(HeaderName, HeaderValue); 3],
    legacy_version: (HeaderName, HeaderValue),
    /// Modern: version, then `Mcp-Method` and `Mcp-Name` of an echo call, then `Mcp-Method` of `server/discover`.
    modern: [(HeaderName, HeaderValue); 4],
}

fn headers() -> &'static Headers {
    static H: std::sync::OnceLock<Headers> = std::sync::OnceLock::new();
    H.get_or_init(|| {
        let h = |k: &'static str, v: &'static str| (HeaderName::from_static(k), HeaderValue::from_static(v));
        Headers {
            common: [
                h("host", "127.0.0.1"),
                h("content-type", "application/json"),
                h("accept", "application/json, text/event-stream"),
            ],
            legacy_version: h("mcp-protocol-version", PROTOCOL),
            modern: [
                h("mcp-protocol-version", "2026-07-28"),
                h("mcp-method", "tools/call"),
                h("mcp-name", TOOL),
                h("mcp-method", "server/discover"),
            ],
        }
    })
}

impl HttpConn {
    async fn open(addr: SocketAddr, era: Era, session: Option<HeaderValue>) -> Result<HttpConn> {
        let stream = tokio::net::TcpStream::connect(addr).await.with_context(|| format!("connecting to {addr}"))?;
        stream.set_nodelay(true)?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(conn);
        Ok(HttpConn { sender, era, session, body: Vec::with_capacity(256) })
    }

    /// POSTs `self.body` (a tool call unless `ping`) to `/mcp`: (status, session id header, body).
    async fn post(&mut self, ping: bool) -> Result<(u16, Option<HeaderValue>, Bytes)> {
        self.sender.ready().await.context("the connection to the HTTP front closed")?;
        let mut req = Request::new(Full::new(Bytes::copy_from_slice(&self.body)));
        *req.method_mut() = Method::POST;
        *req.uri_mut() = hyper::Uri::from_static("/mcp");
        let h = req.headers_mut();
        let all = headers();
        for (k, v) in &all.common {
            h.insert(k.clone(), v.clone());
        }
        match (self.era, &self.session) {
            (Era::Legacy, Some(sid)) => {
                h.insert(all.legacy_version.0.clone(), all.legacy_version.1.clone());
                h.insert(HeaderName::from_static("mcp-session-id"), sid.clone());
            }
            (Era::Legacy, None) => {}
            (Era::Modern, _) => {
                let [version, method, name, ping_method] = &all.modern;
                let wanted = if ping { [version, ping_method].to_vec() } else { vec![version, method, name] };
                for (k, v) in wanted {
                    h.insert(k.clone(), v.clone());
                }
            }
        }
        let resp = self.sender.send_request(req).await.context("POST /mcp")?;
        let status = resp.status().as_u16();
        let sid = resp.headers().get("mcp-session-id").cloned();
        let body = resp.into_body().collect().await.context("reading an answer")?.to_bytes();
        Ok((status, sid, body))
    }

    /// Opens a legacy session on this connection: `initialize`, then `notifications/initialized`.
    async fn initialize(&mut self) -> Result<HeaderValue> {
        self.body.clear();
        self.body.extend_from_slice(
            br#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}"#,
        );
        let (status, sid, body) = self.post(false).await?;
        let sid = sid.with_context(|| {
            format!("initialize answered {status} without a session: {}", String::from_utf8_lossy(&body))
        })?;
        self.session = Some(sid.clone());
        self.body.clear();
        self.body.extend_from_slice(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
        let (status, _, _) = self.post(false).await?;
        ensure!(status == 202, "notifications/initialized answered {status}");
        Ok(sid)
    }

    /// One echo call with id and message number `seq`: whether its answer is its own.
    async fn echo(&mut self, seq: u64) -> Result<bool> {
        self.body.clear();
        let meta = if self.era == Era::Modern { format!(",{META}") } else { String::new() };
        write!(
            self.body,
            r#"{{"jsonrpc":"2.0","id":{seq},"method":"tools/call","params":{{"name":"{TOOL}","arguments":{{"message":"m{seq}"}}{meta}}}}}"#
        )?;
        let (status, _, body) = self.post(false).await?;
        let good = status == 200
            && serde_json::from_slice::<Reply<'_>>(&body)
                .is_ok_and(|r| r.id == Some(seq) && matches!(judge(&r, &Work::Echo, seq, ""), Verdict::Ok));
        Ok(good)
    }
}

impl HttpConn {
    /// One request the gateway answers itself (the front's own cost, without a downstream): `ping`, or in
    /// 2026-07-28, which has no `ping`, `server/discover`.
    async fn ping(&mut self, seq: u64) -> Result<bool> {
        self.body.clear();
        match self.era {
            Era::Legacy => write!(self.body, r#"{{"jsonrpc":"2.0","id":{seq},"method":"ping"}}"#)?,
            Era::Modern => {
                write!(self.body, r#"{{"jsonrpc":"2.0","id":{seq},"method":"server/discover","params":{{{META}}}}}"#)?
            }
        }
        let (status, _, body) = self.post(true).await?;
        #[derive(Deserialize)]
        struct Pong<'a> {
            id: Option<u64>,
            #[serde(borrow)]
            result: Option<&'a RawValue>,
        }
        Ok(status == 200
            && serde_json::from_slice::<Pong<'_>>(&body).is_ok_and(|p| p.id == Some(seq) && p.result.is_some()))
    }
}

/// `n` sequential pings after `warmup` unmeasured ones: round trips in ns, and the wrong answers.
async fn http_pings(conn: &mut HttpConn, seq: &Seq, warmup: usize, n: usize) -> Result<(Vec<u64>, u64)> {
    let mut lat = Vec::with_capacity(n);
    let mut wrong = 0;
    for i in 0..warmup + n {
        let t0 = Instant::now();
        let ok = conn.ping(seq.next()).await?;
        let dt = t0.elapsed();
        wrong += u64::from(!ok);
        if i >= warmup {
            lat.push(dt.as_nanos() as u64);
        }
    }
    Ok((lat, wrong))
}

/// Message numbers of the phase: every call echoes a new one, so no answer comes from the gateway's cache.
struct Seq(Arc<AtomicU64>);

impl Seq {
    fn new() -> Seq {
        Seq(Arc::new(AtomicU64::new(1 << 50)))
    }

    fn next(&self) -> u64 {
        self.0.fetch_add(1, Ordering::Relaxed)
    }
}

/// `n` sequential calls after `warmup` unmeasured ones: round trips in ns, and the wrong answers.
async fn http_latency(conn: &mut HttpConn, seq: &Seq, warmup: usize, n: usize) -> Result<(Vec<u64>, u64)> {
    let mut lat = Vec::with_capacity(n);
    let mut wrong = 0;
    for i in 0..warmup + n {
        let t0 = Instant::now();
        let ok = conn.echo(seq.next()).await?;
        let dt = t0.elapsed();
        wrong += u64::from(!ok);
        if i >= warmup {
            lat.push(dt.as_nanos() as u64);
        }
    }
    Ok((lat, wrong))
}

/// Calls on `inflight` connections (opened before timing starts), each with one call in flight, for `window`.
async fn http_load(
    addr: SocketAddr,
    era: Era,
    sessions: &[HeaderValue],
    inflight: usize,
    window: Duration,
    seq: &Seq,
) -> Result<StreamStats> {
    let mut conns = Vec::with_capacity(inflight);
    for i in 0..inflight {
        let session = (era == Era::Legacy).then(|| sessions[i % sessions.len()].clone());
        conns.push(HttpConn::open(addr, era, session).await?);
    }
    let start = Instant::now();
    let until = start + window;
    let mut tasks = JoinSet::new();
    for mut conn in conns {
        let seq = Seq(seq.0.clone());
        tasks.spawn(async move {
            let mut lat = Vec::with_capacity(1 << 14);
            let (mut wrong, mut last) = (0u64, start);
            while Instant::now() < until {
                let t0 = Instant::now();
                let ok = conn.echo(seq.next()).await?;
                last = Instant::now();
                lat.push((last - t0).as_nanos() as u64);
                wrong += u64::from(!ok);
            }
            Ok::<_, anyhow::Error>((lat, wrong, last))
        });
    }
    let mut st = StreamStats { start: Some(start), last: Some(start), ..StreamStats::default() };
    let joined = timeout(window + STEP, async {
        while let Some(done) = tasks.join_next().await {
            let (mut lat, wrong, last) = done??;
            st.received += lat.len() as u64;
            st.wrong += wrong;
            st.lat_ns.append(&mut lat);
            st.last = st.last.max(Some(last));
        }
        Ok::<_, anyhow::Error>(())
    })
    .await;
    match joined {
        Ok(r) => r?,
        Err(_) => bail!("HTTP load: calls still unanswered {STEP:?} after the window closed"),
    }
    st.ok = st.received - st.wrong;
    Ok(st)
}

/// One side's figures.
pub struct HttpSide {
    pub lat: Lat,
    /// `ping` (modern: `server/discover`) at 1 in flight (HTTP sides only).
    pub ping: Option<Lat>,
    pub lat_wrong: u64,
    pub rate: f64,
    pub load_lat: Lat,
    pub load_calls: u64,
    pub load_bad: u64,
    /// The fixture's CPU per call (direct), the gateway's without its child (HTTP).
    pub cpu_per_call_us: Option<f64>,
}

pub struct HttpPhase {
    pub sides: [HttpSide; 3],
    pub sessions: usize,
}

/// The fixture directly and the gateway's HTTP front in both eras, all kept running and measured in rotating
/// rounds, so that drift in the machine's speed favours none of them.
pub async fn http_phase(s: &Settings) -> Result<HttpPhase> {
    let sessions_wanted = env_or("BENCH_HTTP_SESSIONS", 1usize).max(1);
    let mut fx = Conn::fixture(&["--name", "fx"])?;
    fx.handshake().await?;
    let gw = HttpGateway::start().await?;
    let seq = Seq::new();

    // Sessions, and the first answer (the fixture is started with the gateway, so it may not be ready yet).
    let mut sessions = Vec::new();
    for _ in 0..sessions_wanted {
        sessions.push(HttpConn::open(gw.addr, Era::Legacy, None).await?.initialize().await?);
    }
    let mut legacy = HttpConn::open(gw.addr, Era::Legacy, Some(sessions[0].clone())).await?;
    let mut modern = HttpConn::open(gw.addr, Era::Modern, None).await?;
    let ready = Instant::now() + STEP;
    while !legacy.echo(seq.next()).await? {
        ensure!(Instant::now() < ready, "no right answer through the HTTP front within {STEP:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let mut lat: [Vec<u64>; 3] = Default::default();
    let mut pings: [Vec<u64>; 3] = Default::default();
    let mut lat_wrong = [0u64; 3];
    let mut acc: [Acc; 3] = Default::default();
    let mut cpu = [Some(0.0f64); 3];
    let warm_window = (s.window() / 6).min(Duration::from_millis(500));
    let late = |what: &'static str| move |_| anyhow!("{what} did not finish in time");

    // Warm-up: sequential calls, then a short unmeasured load, on every side.
    let (_, w) = timeout(STEP, fx.latency("echo", s.warmup, 0)).await.map_err(late("warm-up"))??;
    lat_wrong[0] += w;
    acc[0].bad += warm_load(s, &mut fx, "echo").await?;
    for (k, conn) in [(1, &mut legacy), (2, &mut modern)] {
        let (_, w) = timeout(STEP, http_latency(conn, &seq, s.warmup, 0)).await.map_err(late("warm-up"))??;
        lat_wrong[k] += w;
        let era = conn.era;
        acc[k].bad += http_load(gw.addr, era, &sessions, s.inflight, warm_window, &seq).await?.bad();
    }

    let per_round = s.lat_calls.div_ceil(s.rounds);
    let window = s.window() / s.rounds as u32;
    for r in 0..s.rounds {
        for k in [r % 3, (r + 1) % 3, (r + 2) % 3] {
            let (v, w) = match k {
                0 => timeout(STEP * 2, fx.latency("echo", 0, per_round)).await,
                1 => timeout(STEP * 2, http_latency(&mut legacy, &seq, 0, per_round)).await,
                _ => timeout(STEP * 2, http_latency(&mut modern, &seq, 0, per_round)).await,
            }
            .map_err(late("sequential echo calls"))??;
            lat[k].extend(v);
            lat_wrong[k] += w;
            let pinged = match k {
                0 => continue,
                1 => timeout(STEP * 2, http_pings(&mut legacy, &seq, 0, per_round)).await,
                _ => timeout(STEP * 2, http_pings(&mut modern, &seq, 0, per_round)).await,
            };
            let (v, w) = pinged.map_err(late("sequential pings"))??;
            pings[k].extend(v);
            lat_wrong[k] += w;
        }
        for k in [r % 3, (r + 1) % 3, (r + 2) % 3] {
            let pid = if k == 0 { fx.pid } else { gw.pid };
            let before = cpu_us(pid);
            let st = match k {
                0 => {
                    let mut out = fx.load(vec![Stream::new("echo", Work::Echo, s.inflight, window, s)]).await?;
                    acc[0].bad += out.stray;
                    out.streams.remove(0)
                }
                1 => http_load(gw.addr, Era::Legacy, &sessions, s.inflight, window, &seq).await?,
                _ => http_load(gw.addr, Era::Modern, &sessions, s.inflight, window, &seq).await?,
            };
            let used = before.zip(cpu_us(pid)).map(|(a, b)| b - a);
            cpu[k] = cpu[k].zip(used).map(|(t, u)| t + u);
            acc[k].add(st);
        }
    }
    drop((legacy, modern));
    let (closed_fx, closed_gw) = (fx.close().await, gw.stop().await);
    closed_fx?;
    closed_gw?;
    let mut k = 0;
    let sides = [(); 3].map(|()| {
        let a = &mut acc[k];
        let side = HttpSide {
            lat: lat_stats(&mut lat[k]),
            ping: (k > 0).then(|| lat_stats(&mut pings[k])),
            lat_wrong: lat_wrong[k],
            rate: a.rate(),
            load_lat: lat_stats(&mut a.lat_ns),
            load_calls: a.calls,
            load_bad: a.bad,
            cpu_per_call_us: cpu[k].filter(|_| a.calls > 0).map(|t| t / a.calls as f64),
        };
        k += 1;
        side
    });
    Ok(HttpPhase { sides, sessions: sessions.len() })
}
