//! The asynchronous side of the trail: the bounded queue callers record into without ever waiting, and the
//! drain the writer thread runs.
//!
//! ```text
//! session / server code ── EvidenceHandle::record (try_send, never blocks; full → dropped += 1)
//!                                   │  bounded tokio mpsc (queue_capacity)
//!                                   ▼
//!                          Queue::drain on the "evidence-writer" thread: redact, hash, one write(2) per batch
//!                                   ▲
//! EvidenceActor (actors/evidence.rs) ── owns the thread: starts it, restarts it if it panics, shuts it down
//! ```
//!
//! Why a thread rather than `spawn_blocking` per record: file I/O blocks, and a per-record `spawn_blocking`
//! would reorder lines and break the chain. One long-lived thread keeps the order by construction and holds the
//! only file descriptor. Control items (flush, shutdown) travel through the same queue as records, so "flushed"
//! means "everything recorded before this call is on disk".

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

use super::{EvidenceConfig, EvidenceError, Record, Writer, WriterStats};

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
    /// Set by the writer while writes fail (a full or failing disk), cleared when one succeeds again.
    failing: Arc<AtomicBool>,
    /// `fail_closed`: calls are refused while records cannot be written (see [`EvidenceHandle::refuses`]).
    fail_closed: bool,
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
    records: Mutex<Vec<Box<Record>>>,
    /// Some records wait in `records` (checked without the lock on every call).
    waiting: AtomicBool,
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
            failing: Arc::default(),
            fail_closed: false,
        }
    }

    /// With `fail_closed`: whether a call must be refused now because its record could not be written (the
    /// writer's last write failed, or the queue is full or closed). One atomic load and a queue length check;
    /// always `false` without `fail_closed`. A refused call is still recorded: that record is what tells the
    /// writer, by succeeding, that writing has recovered.
    pub(crate) fn refuses(&self) -> bool {
        self.fail_closed
            && (self.failing.load(Ordering::Relaxed) || self.tx.as_ref().is_none_or(|tx| tx.capacity() == 0))
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
                rec.result_digest = rec.result.take().map(|r| super::sha256_hex(&r));
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

    /// Waits until everything recorded before this call is written and fsynced. Waits for queue space itself,
    /// so it is for tests, not for the call path.
    #[cfg(test)]
    pub(crate) async fn flush(&self) -> Result<EvidenceStats, EvidenceError> {
        let Some(tx) = &self.tx else { return Ok(EvidenceStats::default()) };
        let (reply, answer) = oneshot::channel();
        tx.send(Item::Flush(reply)).await.map_err(|_| EvidenceError::Closed)?;
        answer.await.map_err(|_| EvidenceError::Closed)
    }

    /// The bytes queued now (what the writer has not given back yet).
    #[cfg(test)]
    pub(crate) fn queued_bytes(&self) -> usize {
        self.queued_bytes.load(Ordering::Relaxed)
    }
}

/// The writer's side of one trail: the queue's receiving end and what the writer shares with the handles. Made
/// together with the first [`EvidenceHandle`], so that callers can hold handles before the writer runs (records
/// queue up meanwhile).
pub(crate) struct Queue {
    /// Validated.
    config: EvidenceConfig,
    /// For shutdown (and flush in tests), through the same queue as records, to keep their order.
    tx: mpsc::Sender<Item>,
    /// Taken by the running drain; put back when it ends, also by a panic, so that a new writer thread resumes
    /// the same queue and every handle stays connected.
    rx: Mutex<Option<mpsc::Receiver<Item>>>,
    /// Shared with the handles: they count, the writer notes the count in the file.
    dropped: Arc<AtomicU64>,
    /// Drops already noted in the file (survives a writer restart, so a gap is noted once).
    noted: AtomicU64,
    /// Shared with the handles: they add what they queue, the writer subtracts what it has written.
    queued_bytes: Arc<AtomicUsize>,
    /// Shared with the handles: the writer hands written records back to them.
    spent: Arc<Spent>,
    /// Shared with the handles: writes are failing now (for `fail_closed`).
    failing: Arc<AtomicBool>,
}

/// A record with this tool makes the writer thread panic: how the supervision tests inject a failure.
#[cfg(test)]
pub(crate) const PANIC_TOOL: &str = "test.evidence.panic";

impl Queue {
    /// Validates `config` and creates the queue.
    pub(crate) fn new(config: EvidenceConfig) -> Result<(Queue, EvidenceHandle), EvidenceError> {
        let config = config.validate()?;
        let (tx, rx) = mpsc::channel(config.queue_capacity);
        let dropped = Arc::new(AtomicU64::new(0));
        let queued_bytes = Arc::new(AtomicUsize::new(0));
        let spent = Arc::new(Spent::default());
        let failing = Arc::new(AtomicBool::new(false));
        let handle = EvidenceHandle {
            failing: failing.clone(),
            fail_closed: config.fail_closed,
            tx: Some(tx.clone()),
            dropped: dropped.clone(),
            max_argument_bytes: config.max_argument_bytes,
            queued_bytes: queued_bytes.clone(),
            max_queued_bytes: config.max_queued_bytes,
            spent: spent.clone(),
        };
        let queue = Queue {
            config,
            tx,
            rx: Mutex::new(Some(rx)),
            dropped,
            noted: AtomicU64::new(0),
            queued_bytes,
            spent,
            failing,
        };
        Ok((queue, handle))
    }

    /// Opens (and if needed repairs) the directory for a writer. Blocking file I/O: call it on the writer thread.
    pub(crate) fn open_writer(&self) -> Result<Writer, EvidenceError> {
        Writer::open(&self.config, SystemTime::now())
    }

    /// Asks the writer to write everything queued, fsync and end; answers its final counters (`None`: no
    /// writer is running any more).
    pub(crate) async fn shutdown(&self) -> Option<EvidenceStats> {
        let (reply, answer) = oneshot::channel();
        self.tx.send(Item::Shutdown(reply)).await.ok()?;
        answer.await.ok()
    }

    /// Runs on the writer thread: writes what arrives until shut down. If it panics, the records taken from the
    /// queue but not yet written are counted as dropped and the queue is left for a new writer to resume.
    pub(crate) fn drain(&self, writer: Writer) {
        let Some(rx) = self.rx.lock().unwrap_or_else(|p| p.into_inner()).take() else {
            tracing::error!("evidence: a second writer for one queue; it stops at once");
            return;
        };
        let mut lease = Lease { rx: Some(rx), home: &self.rx };
        let rx = lease.rx.as_mut().expect("taken above");
        let mut writer = writer;
        // Everything queued at a moment goes out in one write; the queue running dry writes it out.
        writer.set_batching(true);
        let mut drain = Drain {
            writer,
            dropped: &self.dropped,
            noted: &self.noted,
            unflushed: 0,
            failing: false,
            shared_failing: &self.failing,
            noting: None,
            unflushed_notes: false,
        };
        let mut replies = Vec::new();
        let mut written = Vec::new();
        let mut released = 0;
        let window = self.config.flush_interval;
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
                            self.queued_bytes.fetch_sub(std::mem::take(&mut released), Ordering::Relaxed);
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
                self.queued_bytes.fetch_sub(std::mem::take(&mut released), Ordering::Relaxed);
                self.spent.give_back(&mut written);
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
        drain.flush();
        if let Err(e) = drain.writer.close() {
            tracing::error!(error = %e, "evidence: final fsync failed");
        }
        let stats = drain.stats();
        for reply in replies {
            let _ = reply.send(stats.clone());
        }
    }
}

/// The queue's receiver while a drain runs; goes back to the queue when the drain ends, by return or by panic.
struct Lease<'q> {
    rx: Option<mpsc::Receiver<Item>>,
    home: &'q Mutex<Option<mpsc::Receiver<Item>>>,
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        *self.home.lock().unwrap_or_else(|p| p.into_inner()) = self.rx.take();
    }
}

/// The writer thread's loop state.
struct Drain<'q> {
    writer: Writer,
    dropped: &'q AtomicU64,
    /// Drops already noted in the file; the difference to `dropped` is the next `dropped` record's count.
    noted: &'q AtomicU64,
    /// Records appended since the last write: lost (and counted) if the thread panics before writing them.
    unflushed: u64,
    /// Writes are failing: log the first failure and the recovery, not every record in between.
    failing: bool,
    /// The same, for the handles (`fail_closed` refuses calls while it is set).
    shared_failing: &'q AtomicBool,
    /// The drop count a `dropped` record gathered but not yet written says is noted.
    noting: Option<u64>,
    /// A `dropped` record is gathered but not yet written.
    unflushed_notes: bool,
}

impl Drop for Drain<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.dropped.fetch_add(self.unflushed, Ordering::Relaxed);
        }
    }
}

impl Drain<'_> {
    fn record(&mut self, rec: &Record) {
        #[cfg(test)]
        if rec.tool.as_deref() == Some(PANIC_TOOL) {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            panic!("injected evidence writer failure");
        }
        self.note_drops();
        match self.writer.append(rec, SystemTime::now()) {
            // Gathered, not written: recovery is declared by the flush that puts it on disk.
            Ok(()) => self.unflushed += 1,
            Err(e) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                self.shared_failing.store(true, Ordering::Relaxed);
                if !self.failing {
                    self.failing = true;
                    tracing::error!(error = %e, "evidence write failed; records are dropped (and counted) until it recovers");
                }
            }
        }
    }

    /// Writes a `dropped` record when records were lost since the last one, so the gap is in the file. The
    /// count counts as noted once the line is on disk (a failed flush loses the note too; it is made again).
    fn note_drops(&mut self) {
        let (total, noted) = (self.dropped.load(Ordering::Relaxed), self.noted.load(Ordering::Relaxed));
        let noting = self.noting.unwrap_or(noted);
        if total > noting && self.writer.append_dropped(total - noting, total, SystemTime::now()).is_ok() {
            self.noting = Some(total);
            self.unflushed_notes = true;
        }
    }

    fn recovered(&mut self) {
        if std::mem::take(&mut self.failing) {
            self.shared_failing.store(false, Ordering::Relaxed);
            tracing::info!("evidence writes recovered");
        }
    }

    /// Writes what the writer gathered; records lost to a failed write are counted as dropped. A write that
    /// put lines on disk ends a failure (and lets `fail_closed` calls through again).
    fn flush(&mut self) {
        let wrote = self.unflushed > 0 || self.unflushed_notes;
        let result = self.writer.flush();
        self.unflushed = 0;
        self.unflushed_notes = false;
        let lost = self.writer.take_lost();
        self.dropped.fetch_add(lost, Ordering::Relaxed);
        let noting = self.noting.take();
        match result {
            Ok(()) if wrote => {
                if let Some(n) = noting {
                    self.noted.store(n, Ordering::Relaxed);
                }
                self.recovered();
            }
            Ok(()) => {}
            Err(e) => {
                self.shared_failing.store(true, Ordering::Relaxed);
                if !self.failing {
                    self.failing = true;
                    tracing::error!(error = %e, "evidence write failed; records are dropped (and counted) until it recovers");
                }
            }
        }
    }

    #[cfg(test)]
    fn sync(&mut self) {
        self.flush();
        if let Err(e) = self.writer.sync() {
            tracing::warn!(error = %e, "evidence: fsync failed");
        }
    }

    fn stats(&self) -> EvidenceStats {
        EvidenceStats { writer: self.writer.stats(), dropped: self.dropped.load(Ordering::Relaxed) }
    }
}
