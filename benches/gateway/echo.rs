//! The `echo` phase: the fixture directly and through a stdio gateway, alternating rounds (ABBA).

use super::*;

/// Pipelined results summed over several rounds.
#[derive(Default)]
pub(crate) struct Acc {
    pub(crate) calls: u64,
    pub(crate) secs: f64,
    pub(crate) lat_ns: Vec<u64>,
    pub(crate) bad: u64,
}

impl Acc {
    pub(crate) fn add(&mut self, mut st: StreamStats) {
        if let (Some(a), Some(b)) = (st.start, st.last) {
            self.secs += b.saturating_duration_since(a).as_secs_f64();
        }
        self.calls += st.received;
        self.bad += st.bad();
        self.lat_ns.append(&mut st.lat_ns);
    }

    pub(crate) fn rate(&self) -> f64 {
        if self.secs > 0.0 {
            self.calls as f64 / self.secs
        } else {
            0.0
        }
    }
}

/// ABBA: which of two sides goes first in round `r`.
pub(crate) fn order(r: usize) -> [usize; 2] {
    if r % 2 == 0 {
        [0, 1]
    } else {
        [1, 0]
    }
}

pub(crate) struct EchoSide {
    pub(crate) lat: Lat,
    pub(crate) lat_wrong: u64,
    pub(crate) rate: f64,
    pub(crate) load_lat: Lat,
    pub(crate) load_calls: u64,
    pub(crate) load_bad: u64,
    pub(crate) rss_kib: Option<u64>,
    /// CPU time the process (the fixture directly; the gateway without its child) used per pipelined call.
    pub(crate) cpu_per_call_us: Option<f64>,
}

/// An unmeasured pipelined run (a sixth of the window, at most 0.5 s) so the measured one starts warm; the
/// wrong answers it saw.
pub(crate) async fn warm_load(s: &Settings, conn: &mut Conn, tool: &str) -> Result<u64> {
    let window = (s.window() / 6).min(Duration::from_millis(500));
    let out = conn.load(vec![Stream::new(tool, Work::Echo, s.inflight, window, s)]).await?;
    Ok(out.streams.iter().map(StreamStats::bad).sum::<u64>() + out.stray)
}

/// The fixture directly and through a gateway, both kept running and measured in alternating rounds (ABBA) so
/// that drift in the machine's speed during the run does not favour either side.
pub(crate) async fn echo_compare(s: &Settings) -> Result<[EchoSide; 2]> {
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
