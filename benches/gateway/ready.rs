//! The `ready` phase: from spawn to the first `tools/list` answer.

use super::*;

pub(crate) struct Ready {
    pub(crate) label: String,
    pub(crate) ms: Vec<f64>,
    pub(crate) tools: usize,
    pub(crate) rss_kib: Option<u64>,
}

/// Spawn → initialize → initialized → tools/list answered, `runs` times.
pub(crate) async fn ready(label: &str, cfg: &Path, runs: usize) -> Result<Ready> {
    ready_runs(label, cfg, runs).await.with_context(|| format!("config with {label}"))
}

pub(crate) async fn ready_runs(label: &str, cfg: &Path, runs: usize) -> Result<Ready> {
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
