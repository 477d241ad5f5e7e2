//! The load driver: pipelined streams of calls, a writer and a reader task per connection.

use super::*;

#[derive(Clone)]
pub(crate) struct Stream {
    pub(crate) tool: String,
    pub(crate) work: Work,
    pub(crate) inflight: usize,
    pub(crate) start_delay: Duration,
    pub(crate) duration: Duration,
    pub(crate) max_calls: usize,
    /// Added to the sequence number to make the echoed message: every message a connection ever sends is new,
    /// so the gateway's cache (echo is read-only) never answers one and every call reaches the server.
    pub(crate) msg_base: u64,
}

impl Stream {
    pub(crate) fn new(tool: &str, work: Work, inflight: usize, duration: Duration, s: &Settings) -> Stream {
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
pub(crate) struct Track {
    pub(crate) sent_at: Vec<AtomicU64>,
    pub(crate) permits: Semaphore,
}

impl Track {
    pub(crate) fn new(max_calls: usize, inflight: usize) -> Track {
        Track { sent_at: (0..max_calls).map(|_| AtomicU64::new(0)).collect(), permits: Semaphore::new(inflight) }
    }
}

#[derive(Default)]
pub(crate) struct StreamStats {
    pub(crate) received: u64,
    pub(crate) ok: u64,
    pub(crate) wrong: u64,
    pub(crate) errors: u64,
    pub(crate) lat_ns: Vec<u64>,
    pub(crate) start: Option<Instant>,
    pub(crate) last: Option<Instant>,
}

impl StreamStats {
    pub(crate) fn bad(&self) -> u64 {
        self.wrong + self.errors
    }
}

pub(crate) struct LoadOut {
    pub(crate) streams: Vec<StreamStats>,
    /// Lines that belong to no outstanding request (unknown or repeated id, unparseable).
    pub(crate) stray: u64,
}

pub(crate) fn stamp(base: Instant) -> u64 {
    base.elapsed().as_nanos() as u64 + 1
}

pub(crate) async fn writer(
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

pub(crate) async fn reader(
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
