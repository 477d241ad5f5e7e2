//! Processes: a child speaking JSON-RPC on its stdio, and what /proc says about processes (RSS, CPU, children).

use super::*;

/// A child speaking newline-delimited JSON-RPC on its stdio. Killed if dropped without [`Conn::close`].
pub(crate) struct Conn {
    pub(crate) label: String,
    pub(crate) child: Child,
    pub(crate) pid: u32,
    pub(crate) stdin: Option<ChildStdin>,
    pub(crate) stdout: Option<BufReader<ChildStdout>>,
    pub(crate) line: Vec<u8>,
    pub(crate) next_id: u64,
    /// The first message number the next load uses (above every sequential call's id).
    pub(crate) next_msg: u64,
}

impl Conn {
    pub(crate) fn spawn(label: &str, program: &str, args: &[&str]) -> Result<Conn> {
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

    pub(crate) fn gateway(config: &Path) -> Result<Conn> {
        let config = config.to_str().context("config path is not UTF-8")?;
        Conn::spawn("gateway", GATEWAY, &["serve", "--config", config])
    }

    pub(crate) fn fixture(args: &[&str]) -> Result<Conn> {
        Conn::spawn("fixture", FIXTURE, args)
    }

    pub(crate) fn take_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    pub(crate) async fn send_raw(&mut self, bytes: &[u8]) -> Result<()> {
        let stdin = self.stdin.as_mut().context("stdin is closed")?;
        stdin.write_all(bytes).await.with_context(|| format!("writing to {}", self.label))
    }

    pub(crate) async fn send(&mut self, msg: &Value) -> Result<()> {
        let mut line = serde_json::to_vec(msg)?;
        line.push(b'\n');
        self.send_raw(&line).await
    }

    /// Reads one line into `self.line` (no timeout: callers bound whole phases).
    pub(crate) async fn read_line(&mut self) -> Result<()> {
        self.line.clear();
        let out = self.stdout.as_mut().context("stdout is closed")?;
        let n = out.read_until(b'\n', &mut self.line).await?;
        ensure!(n > 0 && self.line.ends_with(b"\n"), "{} closed its stdout", self.label);
        Ok(())
    }

    /// Waits for the answer to `id`, skipping notifications.
    pub(crate) async fn response(&mut self, id: u64) -> Result<Value> {
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

    pub(crate) async fn request(&mut self, method: &str, params: Value) -> Result<Value> {
        let id = self.take_id();
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})).await?;
        self.response(id).await
    }

    pub(crate) async fn handshake(&mut self) -> Result<Value> {
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
    pub(crate) async fn tool_names(&mut self) -> Result<Vec<String>> {
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
    pub(crate) async fn latency(&mut self, tool: &str, warmup: usize, n: usize) -> Result<(Vec<u64>, u64)> {
        self.latency_of(tool, warmup, n, None).await
    }

    /// Like [`Conn::latency`]; with `same = Some(k)` every call asks to echo `m<k>` (a cacheable repeat).
    pub(crate) async fn latency_of(
        &mut self,
        tool: &str,
        warmup: usize,
        n: usize,
        same: Option<u64>,
    ) -> Result<(Vec<u64>, u64)> {
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
    pub(crate) async fn list_times(&mut self, calls: usize) -> Result<(Vec<u64>, usize, usize, usize)> {
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

    pub(crate) fn rss_kib(&self) -> Option<u64> {
        vm_rss_kib(self.pid)
    }

    /// Closes stdin and waits for the exit (killing after 10 s); then checks the child's own children are gone.
    pub(crate) async fn close(mut self) -> Result<()> {
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
    pub(crate) async fn load(&mut self, mut streams: Vec<Stream>) -> Result<LoadOut> {
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

pub(crate) fn vm_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// (state, ppid, comm) of a process, from /proc.
pub(crate) fn proc_stat(pid: i32) -> Option<(char, i32, String)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (open, close) = (stat.find('(')?, stat.rfind(')')?);
    let comm = stat[open + 1..close].to_owned();
    let mut rest = stat[close + 1..].split_whitespace();
    let state = rest.next()?.chars().next()?;
    let ppid = rest.next()?.parse().ok()?;
    Some((state, ppid, comm))
}

/// CPU time (user + system, all threads) a process has used so far, in µs; `None` when it is gone.
pub(crate) fn cpu_us(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the command: state is field 3 of the file, utime 14 and stime 15 (1-based), in clock ticks.
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks * 1e6 / clock_ticks_per_sec())
}

pub(crate) fn clock_ticks_per_sec() -> f64 {
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
pub(crate) async fn reap(kids: &[(i32, String)]) -> Vec<i32> {
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

pub(crate) fn pid_alive(pid: i32) -> bool {
    proc_stat(pid).is_some_and(|(state, _, _)| state != 'Z' && state != 'X')
}

/// Live children of `pid`: (pid, comm).
pub(crate) fn children_of(pid: u32) -> Vec<(i32, String)> {
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|p| {
            let (state, ppid, comm) = proc_stat(p)?;
            (ppid == pid as i32 && state != 'Z' && state != 'X').then_some((p, comm))
        })
        .collect()
}
