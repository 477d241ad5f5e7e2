//! The `cache` phase: sequential echo latency uncached, from the embedded cache and from Redis.

use super::*;

/// One row of the cache phase: what was measured, its latencies and wrong answers.
pub(crate) struct CacheRow {
    pub(crate) label: &'static str,
    pub(crate) lat: Lat,
    pub(crate) wrong: u64,
}

/// A `redis-server` of the bench's own on a free loopback port; killed on drop.
pub(crate) struct BenchRedis {
    pub(crate) child: std::process::Child,
    pub(crate) port: u16,
    pub(crate) _dir: tempfile::TempDir,
}

impl BenchRedis {
    pub(crate) fn start() -> Result<BenchRedis> {
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
pub(crate) async fn cache_phase(s: &Settings) -> Result<Vec<Result<CacheRow>>> {
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
