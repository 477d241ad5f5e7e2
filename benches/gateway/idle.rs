//! The `idle` phase: the RSS of a gateway with lazy, catalogued servers, none of them started.

use super::*;

pub(crate) struct Idle {
    pub(crate) servers: usize,
    pub(crate) tools: usize,
    pub(crate) discovery: Duration,
    pub(crate) catalogs: usize,
    pub(crate) rss_kib: u64,
    pub(crate) children: Vec<(i32, String)>,
    pub(crate) started_by_fresh: usize,
}

/// Writes the catalogs of `s.lazy_servers` lazy servers with a discovery run, then measures a fresh gateway.
pub(crate) async fn idle_rss(s: &Settings, ws: &Path) -> Result<(Idle, PathBuf)> {
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
