//! `EvidenceActor`: the single writer of `_federation/evidence`. It owns a dedicated OS thread that drains a
//! bounded queue into the [`Writer`]; callers hold an [`EvidenceHandle`] and never wait.
//!
//! ```text
//! session / server code ── EvidenceHandle::record (try_send, never blocks; full → dropped += 1)
//!                                   │  bounded tokio mpsc (queue_capacity)
//!                                   ▼
//!                          "evidence-writer" thread: redact, hash, one write(2) per batch, fsync at rotation
//!                                   ▲
//! EvidenceActor ── owns the thread: starts it (pre_start waits for the crash repair), flush barriers,
//!                  shutdown (post_stop drains the queue, fsyncs, joins the thread)
//! ```
//!
//! Why a thread rather than work in `handle` or `spawn_blocking` per record: file I/O blocks, an actor must not
//! block in `handle`, and a per-record `spawn_blocking` would reorder lines and break the chain. One long-lived
//! thread keeps the order by construction, holds the only file descriptor, and costs nothing on the 2 async
//! workers. Control messages (flush, shutdown) travel through the same queue as records, so "flushed" means
//! "everything recorded before this call is on disk".

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::sync::{mpsc, oneshot};

use crate::evidence::{EvidenceConfig, EvidenceError, Record, Writer, WriterStats};

/// What travels through the queue to the writer thread.
enum Item {
    /// Boxed: a record is a few hundred bytes and the queue's slots should not all be that size. With the
    /// argument and result bytes it holds against the queue's byte budget.
    Record(Box<Record>, usize),
    /// Write everything before this, fsync, answer.
    #[cfg(test)]
    Flush(oneshot::Sender<EvidenceStats>),
    /// Write everything queued, fsync, answer, end the thread.
    Shutdown(oneshot::Sender<EvidenceStats>),
}

/// The writer's counters as of a flush.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct EvidenceStats {
    /// Lines written, write errors, repairs, the chain head and the open file.
    pub(crate) writer: WriterStats,
    /// Records that never reached the file since start (queue full, write failed, or sent after shutdown).
    pub(crate) dropped: u64,
}

/// The caller's side: cheap to clone, never blocks. Hand one to every session.
#[derive(Clone)]
pub(crate) struct EvidenceHandle {
    /// `None` for a disabled trail: `record` is then a no-op, so callers need no `if`.
    tx: Option<mpsc::Sender<Item>>,
    /// Records that did not make it; exported as a metric, and the writer puts the count into the file.
    dropped: Arc<AtomicU64>,
    /// Larger arguments are replaced by their size before queueing.
    max_argument_bytes: usize,
    /// Argument and result bytes queued now, shared with the writer (which gives them back).
    queued_bytes: Arc<AtomicUsize>,
    /// The budget for `queued_bytes`: past it, the caller digests the result itself and arguments are omitted.
    max_queued_bytes: usize,
    /// Records the writer is done with, handed back to be reused and dropped where they were made.
    spent: Arc<Spent>,
}

/// Written records on their way back from the writer thread, so their memory is freed (and their boxes reused)
/// by the thread that allocated it. With glibc's allocator, a thread freeing another thread's allocations takes
/// that thread's arena lock: freeing every record on the writer thread made the runtime thread's own allocations
/// wait on that lock (tens of thousands of futex calls a second under load, measured with `perf`). A record waits
/// here, holding its arguments and result bytes, until the next record reuses its box.
#[derive(Default)]
struct Spent {
    /// Boxed as they came through the queue: unboxing would free the box on the writer thread.
    #[allow(clippy::vec_box)]
    records: std::sync::Mutex<Vec<Box<Record>>>,
    /// Some records wait in `records` (checked without the lock on every call).
    waiting: std::sync::atomic::AtomicBool,
}

impl Spent {
    /// Most records kept waiting: when nobody records any more (the gateway went idle, or records come from a
    /// thread that stopped), the writer drops further ones itself rather than hold them.
    const MAX: usize = 8192;

    /// The writer hands back a batch (emptying `batch`, whose capacity it keeps).
    #[allow(clippy::vec_box)]
    fn give_back(&self, batch: &mut Vec<Box<Record>>) {
        if batch.is_empty() {
            return;
        }
        let mut records = self.records.lock().unwrap_or_else(|p| p.into_inner());
        if records.len() + batch.len() > Self::MAX {
            drop(records);
            batch.clear();
            return;
        }
        records.append(batch);
        self.waiting.store(true, Ordering::Release);
    }

    /// A recording thread boxes `rec` in a returned record's box (whose old content it drops) or a new one.
    /// One returned box per record: the frees are spread over the calls rather than made in bursts.
    fn boxed(&self, rec: Record) -> Box<Record> {
        if self.waiting.load(Ordering::Acquire) {
            let mut records = self.records.lock().unwrap_or_else(|p| p.into_inner());
            let reused = records.pop();
            if records.is_empty() {
                self.waiting.store(false, Ordering::Relaxed);
            }
            drop(records);
            if let Some(mut old) = reused {
                *old = rec;
                return old;
            }
        }
        Box::new(rec)
    }
}

impl std::fmt::Debug for EvidenceHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EvidenceHandle").field("enabled", &self.tx.is_some()).field("dropped", &self.dropped()).finish()
    }
}

impl EvidenceHandle {
    /// A handle that records nothing (evidence turned off, or a CLI command that needs no trail).
    pub(crate) fn disabled() -> EvidenceHandle {
        EvidenceHandle {
            tx: None,
            dropped: Arc::new(AtomicU64::new(0)),
            max_argument_bytes: 0,
            queued_bytes: Arc::new(AtomicUsize::new(0)),
            max_queued_bytes: 0,
            spent: Arc::default(),
        }
    }

    pub(crate) fn is_enabled(&self) -> bool {
        self.tx.is_some()
    }

    /// Queues `rec` for the writer. Never waits: when the queue is full (or the writer has stopped) the record
    /// is dropped and counted, and the writer notes the count in the file at its next write.
    pub(crate) fn record(&self, mut rec: Record) {
        let Some(tx) = &self.tx else { return };
        let queued = self.queued_bytes.load(Ordering::Relaxed);
        let mut held = 0;
        if let Some(len) = rec.arguments.as_ref().map(|a| a.get().len()) {
            if len > self.max_argument_bytes || queued + len > self.max_queued_bytes {
                rec.arguments = None;
                rec.arguments_omitted_bytes = Some(len);
            } else {
                held += len;
            }
        }
        if let Some(len) = rec.result.as_ref().map(Bytes::len) {
            if queued + held + len > self.max_queued_bytes {
                // Rare (large results under a backlog): pay the digest here rather than hold the bytes.
                rec.result_digest = rec.result.take().map(|r| crate::evidence::sha256_hex(&r));
            } else {
                held += len;
            }
        }
        self.queued_bytes.fetch_add(held, Ordering::Relaxed);
        if tx.try_send(Item::Record(self.spent.boxed(rec), held)).is_err() {
            self.queued_bytes.fetch_sub(held, Ordering::Relaxed);
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The drop counter, for a metric (e.g. a prometheus-client counter/gauge reading it at scrape time).
    pub(crate) fn dropped_counter(&self) -> Arc<AtomicU64> {
        self.dropped.clone()
    }

    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    #[cfg(test)]
    /// Waits until everything recorded before this call is written and fsynced. Waits for queue space itself,
    /// so it is for shutdown paths and tests, not for the call path.
    pub(crate) async fn flush(&self) -> Result<EvidenceStats, EvidenceError> {
        let Some(tx) = &self.tx else { return Ok(EvidenceStats::default()) };
        flush_via(tx).await
    }
}

#[cfg(test)]
async fn flush_via(tx: &mpsc::Sender<Item>) -> Result<EvidenceStats, EvidenceError> {
    let (reply, answer) = oneshot::channel();
    tx.send(Item::Flush(reply)).await.map_err(|_| EvidenceError::Closed)?;
    answer.await.map_err(|_| EvidenceError::Closed)
}

/// The actor's arguments; made together with the [`EvidenceHandle`] so that callers can hold a handle before
/// the actor runs (records queue up meanwhile).
pub(crate) struct EvidenceArgs {
    /// Validated; moves to the writer thread.
    config: EvidenceConfig,
    /// The actor's own sender, for flush and shutdown.
    tx: mpsc::Sender<Item>,
    /// Drained by the writer thread.
    rx: mpsc::Receiver<Item>,
    /// Shared with the handles: they count, the writer notes the count in the file.
    dropped: Arc<AtomicU64>,
    /// Shared with the handles: they add what they queue, the writer subtracts what it has written.
    queued_bytes: Arc<AtomicUsize>,
    /// Shared with the handles: the writer hands written records back to them.
    spent: Arc<Spent>,
}

impl EvidenceArgs {
    /// Validates `config` and creates the queue.
    pub(crate) fn new(config: EvidenceConfig) -> Result<(EvidenceArgs, EvidenceHandle), EvidenceError> {
        let config = config.validate()?;
        let (tx, rx) = mpsc::channel(config.queue_capacity);
        let dropped = Arc::new(AtomicU64::new(0));
        let queued_bytes = Arc::new(AtomicUsize::new(0));
        let spent = Arc::new(Spent::default());
        let handle = EvidenceHandle {
            tx: Some(tx.clone()),
            dropped: dropped.clone(),
            max_argument_bytes: config.max_argument_bytes,
            queued_bytes: queued_bytes.clone(),
            max_queued_bytes: config.max_queued_bytes,
            spent: spent.clone(),
        };
        Ok((EvidenceArgs { config, tx, rx, dropped, queued_bytes, spent }, handle))
    }
}

pub(crate) enum EvidenceMsg {}

pub(crate) struct EvidenceState {
    /// To send flush and shutdown through the same queue as records (keeps their order).
    tx: mpsc::Sender<Item>,
    /// Joined in `post_stop`, after the thread has written everything.
    thread: Option<std::thread::JoinHandle<()>>,
}

pub(crate) struct EvidenceActor;

impl Actor for EvidenceActor {
    type Msg = EvidenceMsg;
    type State = EvidenceState;
    type Arguments = EvidenceArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<EvidenceMsg>,
        args: EvidenceArgs,
    ) -> Result<EvidenceState, ActorProcessingErr> {
        let (ready_tx, ready_rx) = oneshot::channel();
        let EvidenceArgs { config, tx, rx, dropped, queued_bytes, spent } = args;
        let thread = std::thread::Builder::new()
            .name("evidence-writer".into())
            .spawn(move || run_writer(config, rx, Counters { dropped, queued_bytes, spent }, ready_tx))
            .map_err(|e| EvidenceError::Spawn(e.to_string()))?;
        // Opening includes the crash repair: the gateway starts only with a trail it can append to.
        match ready_rx.await {
            Ok(Ok(())) => Ok(EvidenceState { tx, thread: Some(thread) }),
            Ok(Err(e)) => Err(e.into()),
            Err(_) => Err(EvidenceError::Spawn("the writer thread ended during start-up".into()).into()),
        }
    }

    async fn handle(
        &self,
        _myself: ActorRef<EvidenceMsg>,
        msg: EvidenceMsg,
        _state: &mut EvidenceState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {}
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<EvidenceMsg>,
        state: &mut EvidenceState,
    ) -> Result<(), ActorProcessingErr> {
        let (reply, answer) = oneshot::channel();
        if state.tx.send(Item::Shutdown(reply)).await.is_ok() {
            if let Ok(stats) = answer.await {
                tracing::info!(written = stats.writer.written, dropped = stats.dropped, "evidence writer stopped");
            }
        }
        if let Some(thread) = state.thread.take() {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
        Ok(())
    }
}

/// A running evidence trail, for callers that spawn it unsupervised (tests, CLI commands).
pub(crate) struct Evidence {
    /// Stop it (not kill: only `stop` runs the final drain and fsync) after everything that records has stopped.
    pub(crate) actor: ActorRef<EvidenceMsg>,
    /// Ends after the writer thread has written everything and ended.
    pub(crate) join: tokio::task::JoinHandle<()>,
    /// Clone one into every session.
    pub(crate) handle: EvidenceHandle,
}

impl Evidence {
    /// Stops the actor: everything queued is written and fsynced before this returns.
    pub(crate) async fn stop(self) {
        self.actor.stop(None);
        let _ = self.join.await;
    }
}

/// Starts the trail: opens (and if needed repairs) the directory, then accepts records.
pub(crate) async fn spawn(config: EvidenceConfig) -> Result<Evidence, EvidenceError> {
    let (args, handle) = EvidenceArgs::new(config)?;
    let (actor, join) =
        Actor::spawn(None, EvidenceActor, args).await.map_err(|e| EvidenceError::Spawn(spawn_error(e)))?;
    Ok(Evidence { actor, join, handle })
}

fn spawn_error(e: ractor::SpawnErr) -> String {
    match e {
        ractor::SpawnErr::StartupFailed(inner) => inner.to_string(),
        other => other.to_string(),
    }
}

/// The writer thread's loop state.
struct Drain {
    writer: Writer,
    dropped: Arc<AtomicU64>,
    /// Drops already noted in the file; the difference to `dropped` is the next `dropped` record's count.
    noted: u64,
    /// Writes are failing: log the first failure and the recovery, not every record in between.
    failing: bool,
}

/// What the writer thread shares with the handles.
struct Counters {
    dropped: Arc<AtomicU64>,
    queued_bytes: Arc<AtomicUsize>,
    spent: Arc<Spent>,
}

fn run_writer(
    config: EvidenceConfig,
    mut rx: mpsc::Receiver<Item>,
    Counters { dropped, queued_bytes, spent }: Counters,
    ready: oneshot::Sender<Result<(), EvidenceError>>,
) {
    let writer = match Writer::open(&config, SystemTime::now()) {
        Ok(w) => w,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let _ = ready.send(Ok(()));
    let mut writer = writer;
    // Everything queued at a moment goes out in one write; the queue running dry writes it out.
    writer.set_batching(true);
    let mut drain = Drain { writer, dropped, noted: 0, failing: false };
    let mut replies = Vec::new();
    let mut written = Vec::new();
    let mut released = 0;
    let window = config.flush_interval;
    // Park until something arrives; then give the batch `window` to gather, write it all at once, and park again.
    while let Some(first) = rx.blocking_recv() {
        let mut next = Some(first);
        let mut slept = window.is_zero();
        loop {
            while let Some(item) = next.take() {
                match item {
                    Item::Record(rec, held) => {
                        drain.record(&rec);
                        written.push(rec);
                        // Given back per batch: one atomic write instead of one per record on a line the
                        // recording threads write too.
                        released += held;
                    }
                    #[cfg(test)]
                    Item::Flush(reply) => {
                        queued_bytes.fetch_sub(std::mem::take(&mut released), Ordering::Relaxed);
                        drain.note_drops();
                        drain.sync();
                        let _ = reply.send(drain.stats());
                    }
                    Item::Shutdown(reply) => {
                        replies.push(reply);
                        // Refuse new records (they count as dropped) but write everything already queued.
                        rx.close();
                    }
                }
                next = rx.try_recv().ok();
            }
            queued_bytes.fetch_sub(std::mem::take(&mut released), Ordering::Relaxed);
            spent.give_back(&mut written);
            if slept {
                break;
            }
            std::thread::sleep(window);
            slept = true;
            next = rx.try_recv().ok();
        }
        drain.flush();
    }
    drain.note_drops();
    if let Err(e) = drain.writer.close() {
        tracing::error!(error = %e, "evidence: final fsync failed");
    }
    let stats = drain.stats();
    for reply in replies {
        let _ = reply.send(stats.clone());
    }
}

impl Drain {
    fn record(&mut self, rec: &Record) {
        self.note_drops();
        match self.writer.append(rec, SystemTime::now()) {
            Ok(()) => self.recovered(),
            Err(e) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                if !self.failing {
                    self.failing = true;
                    tracing::error!(error = %e, "evidence write failed; records are dropped (and counted) until it recovers");
                }
            }
        }
    }

    /// Writes a `dropped` record when records were lost since the last one, so the gap is in the file.
    fn note_drops(&mut self) {
        let total = self.dropped.load(Ordering::Relaxed);
        if total > self.noted && self.writer.append_dropped(total - self.noted, total, SystemTime::now()).is_ok() {
            self.noted = total;
            self.recovered();
        }
    }

    fn recovered(&mut self) {
        if std::mem::take(&mut self.failing) {
            tracing::info!("evidence writes recovered");
        }
    }

    /// Writes what the writer gathered; records lost to a failed write are counted as dropped.
    fn flush(&mut self) {
        let result = self.writer.flush();
        let lost = self.writer.take_lost();
        self.dropped.fetch_add(lost, Ordering::Relaxed);
        match result {
            Ok(()) => {}
            Err(e) if !self.failing => {
                self.failing = true;
                tracing::error!(error = %e, "evidence write failed; records are dropped (and counted) until it recovers");
            }
            Err(_) => {}
        }
    }

    #[cfg(test)]
    fn sync(&mut self) {
        if let Err(e) = self.writer.sync() {
            tracing::warn!(error = %e, "evidence: fsync failed");
        }
    }

    fn stats(&self) -> EvidenceStats {
        EvidenceStats { writer: self.writer.stats(), dropped: self.dropped.load(Ordering::Relaxed) }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::evidence::verify;

    fn config(dir: &Path, queue_capacity: usize) -> EvidenceConfig {
        EvidenceConfig { dir: dir.to_path_buf(), queue_capacity, ..EvidenceConfig::default() }
    }

    fn text(dir: &Path) -> String {
        let mut files: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
        files.sort();
        files.iter().map(|f| std::fs::read_to_string(f).unwrap()).collect()
    }

    #[tokio::test]
    async fn a_full_queue_drops_counts_and_marks_the_gap_in_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let (args, handle) = EvidenceArgs::new(config(dir.path(), 2)).unwrap();
        // The writer is not running yet: the queue fills after two records.
        for i in 0..5 {
            handle.record(Record { correlation_id: Some(format!("c-{i}").into()), ..Record::call("app.x.echo") });
        }
        assert_eq!(handle.dropped(), 3);
        let counter = handle.dropped_counter();
        let (actor, join) = Actor::spawn(None, EvidenceActor, args).await.unwrap();
        let stats = handle.flush().await.unwrap();
        assert_eq!(stats.dropped, 3);
        let text = text(dir.path());
        assert!(text.contains(r#""kind":"dropped","count":3,"total":3"#), "{text}");
        assert_eq!(text.matches(r#""kind":"call""#).count(), 2, "{text}");
        let report = verify(dir.path()).unwrap();
        assert!(report.is_ok(), "{report}");
        assert_eq!(report.dropped, 3);

        actor.stop(None);
        join.await.unwrap();
        // After shutdown nothing is written, and the loss is still counted.
        handle.record(Record::call("app.x.echo"));
        assert_eq!(counter.load(Ordering::Relaxed), 4);
    }

    #[tokio::test]
    async fn stopping_writes_everything_queued() {
        let dir = tempfile::tempdir().unwrap();
        let ev = spawn(config(dir.path(), 1000)).await.unwrap();
        for i in 0..500 {
            ev.handle.record(Record { attempts: Some(i), ..Record::call("ext.brave.search") });
        }
        let handle = ev.handle.clone();
        ev.stop().await;
        assert_eq!(handle.dropped(), 0);
        assert_eq!(text(dir.path()).matches(r#""kind":"call""#).count(), 500);
        let report = verify(dir.path()).unwrap();
        assert!(report.is_ok() && report.records == 501, "{report}");
        assert!(matches!(handle.flush().await, Err(EvidenceError::Closed)));
    }

    #[tokio::test]
    async fn large_arguments_are_replaced_by_their_size_before_queueing() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = EvidenceConfig { max_argument_bytes: 16, ..config(dir.path(), 8) };
        let ev = spawn(cfg).await.unwrap();
        let raw = serde_json::value::RawValue::from_string(r#"{"text":"a long argument value"}"#.into()).unwrap();
        ev.handle.record(Record::call("app.x.echo").with_arguments(&raw).with_result(Bytes::from_static(b"{}")));
        let stats = ev.handle.flush().await.unwrap();
        assert_eq!(stats.writer.written, 2);
        ev.stop().await;
        let text = text(dir.path());
        assert!(text.contains(r#""arguments_omitted_bytes":32"#), "{text}");
        assert!(!text.contains("long argument"), "{text}");
        assert!(text.contains(&crate::evidence::sha256_hex(b"{}")));
    }

    #[tokio::test]
    async fn queued_payload_bytes_stay_within_the_budget() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = EvidenceConfig { max_argument_bytes: 64, max_queued_bytes: 100, ..config(dir.path(), 8) };
        let (args, handle) = EvidenceArgs::new(cfg).unwrap();
        let result = Bytes::from(vec![b'x'; 60]);
        // The first result fits the budget and waits for the writer; the second would not, so the caller
        // digests it and queues no bytes.
        handle.record(Record::call("app.x.a").with_result(result.clone()));
        handle.record(Record::call("app.x.b").with_result(result.clone()));
        assert_eq!(handle.queued_bytes.load(Ordering::Relaxed), 60);
        let (actor, join) = Actor::spawn(None, EvidenceActor, args).await.unwrap();
        handle.flush().await.unwrap();
        assert_eq!(handle.queued_bytes.load(Ordering::Relaxed), 0, "the writer gives the bytes back");
        let text = text(dir.path());
        assert_eq!(text.matches(&crate::evidence::sha256_hex(&result)).count(), 2, "{text}");
        actor.stop(None);
        join.await.unwrap();
    }

    /// Set in the child process of `kill_9_under_load_leaves_a_verifiable_trail`: the directory to write to.
    const CHILD_DIR: &str = "DFS_EVIDENCE_KILL_CHILD_DIR";

    /// The child: records as fast as it can until it is killed. A no-op in a normal test run.
    #[test]
    fn kill_9_child_writer() {
        let Some(dir) = std::env::var_os(CHILD_DIR) else { return };
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(async move {
            let ev = spawn(config(Path::new(&dir), 4096)).await.unwrap();
            let raw = serde_json::value::RawValue::from_string(r#"{"q":"load","password":"p"}"#.into()).unwrap();
            for i in 0u64.. {
                ev.handle.record(Record { attempts: Some(i as u32), ..Record::call("ext.x.y").with_arguments(&raw) });
                if i % 256 == 0 {
                    tokio::task::yield_now().await;
                }
            }
        });
    }

    #[test]
    fn kill_9_under_load_leaves_a_verifiable_trail() {
        use std::time::{Duration, Instant};
        let dir = tempfile::tempdir().unwrap();
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "actors::evidence::tests::kill_9_child_writer", "--nocapture", "--test-threads=1"])
            .env(CHILD_DIR, dir.path())
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        let size = || std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().metadata().unwrap().len()).sum::<u64>();
        while size() < 2_000_000 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        assert!(size() > 0, "the child wrote nothing");

        let report = verify(dir.path()).unwrap();
        assert!(report.is_ok(), "{report}");
        assert!(report.torn_tail.as_ref().is_none_or(|t| t.lines == 1), "{report}");
        // The next start resumes (repairing a torn tail if the kill cut a write) and the chain stays intact.
        let mut w = Writer::open(&config(dir.path(), 8), SystemTime::now()).unwrap();
        w.append(&Record::call("ext.x.y"), SystemTime::now()).unwrap();
        w.close().unwrap();
        let after = verify(dir.path()).unwrap();
        assert!(after.is_ok() && after.torn_tail.is_none(), "{after}");
        assert_eq!(after.records, report.records + 1 + u64::from(report.torn_tail.is_some()));
    }

    #[tokio::test]
    async fn an_unusable_directory_fails_the_start_and_a_disabled_handle_is_inert() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("not-a-dir");
        std::fs::write(&file, b"x").unwrap();
        let Err(err) = spawn(config(&file, 8)).await else { panic!("a file is not a directory") };
        assert!(err.to_string().contains("not-a-dir"), "{err}");

        let off = EvidenceHandle::disabled();
        off.record(Record::call("app.x.echo"));
        assert_eq!((off.is_enabled(), off.dropped()), (false, 0));
        assert_eq!(off.flush().await.unwrap(), EvidenceStats::default());
    }
}
