//! The `iso` phase: a fast server's latency while another server is kept busy.

use super::*;

pub(crate) struct Isolation {
    pub(crate) alone: Acc,
    pub(crate) with_slow: Acc,
    pub(crate) slow: Acc,
    pub(crate) stray: u64,
}

/// Fast echo load alone and with a slow server kept busy, alternating (ABBA) over `s.iso_rounds` rounds.
pub(crate) async fn isolation(s: &Settings) -> Result<Isolation> {
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
