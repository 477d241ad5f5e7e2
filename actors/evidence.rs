//! `EvidenceActor`: the single writer of `_federation/evidence`. It owns the dedicated OS thread that drains the
//! trail's bounded queue ([`crate::evidence::queue`]) into the file writer; callers hold a
//! [`crate::evidence::EvidenceHandle`] and never wait.
//!
//! The actor starts the thread (its `pre_start` waits for the directory to be opened and, after a crash,
//! repaired: the gateway starts only with a trail it can append to), restarts it when it panics (the queue and
//! every handle stay; records taken but not yet written are counted as dropped and the gap is noted in the
//! file), and on stop has it write everything queued, fsync, and end. A thread that keeps failing, or a
//! directory that cannot be opened again, fails the actor, and its supervisor decides.

use std::sync::Arc;
use std::thread::JoinHandle;

use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::sync::oneshot;

use crate::evidence::queue::Queue;
use crate::evidence::EvidenceError;
#[cfg(test)]
use crate::evidence::{EvidenceConfig, EvidenceHandle};

/// Restarts of the writer thread after which the actor gives up (a bug that strikes every record).
const MAX_RESTARTS: u32 = 5;

pub(crate) enum EvidenceMsg {
    /// The writer thread ended while the actor runs.
    WriterEnded(Ended),
}

/// How a writer thread ended.
#[derive(Debug)]
pub(crate) enum Ended {
    Panicked,
    /// A restarted thread could not open the directory.
    OpenFailed(String),
    /// It returned without being asked to (never expected).
    Returned,
}

pub(crate) struct EvidenceState {
    queue: Arc<Queue>,
    /// Joined in `post_stop`, after the thread has written everything.
    thread: Option<JoinHandle<()>>,
    restarts: u32,
}

pub(crate) struct EvidenceActor;

/// Tells the actor that its writer thread ended, however it ended (dropped at the end of the thread's closure,
/// also while unwinding).
struct Watch {
    actor: ActorRef<EvidenceMsg>,
    open_failed: Option<String>,
}

impl Drop for Watch {
    fn drop(&mut self) {
        let ended = match self.open_failed.take() {
            Some(e) => Ended::OpenFailed(e),
            None if std::thread::panicking() => Ended::Panicked,
            None => Ended::Returned,
        };
        // After a requested shutdown the actor is gone, and so is the message: that is the normal end.
        let _ = self.actor.cast(EvidenceMsg::WriterEnded(ended));
    }
}

/// Says whether a new writer thread opened the directory.
type Ready = oneshot::Receiver<Result<(), EvidenceError>>;

/// Starts a writer thread on `queue`.
fn start_writer(queue: &Arc<Queue>, actor: ActorRef<EvidenceMsg>) -> Result<(JoinHandle<()>, Ready), EvidenceError> {
    let (ready_tx, ready_rx) = oneshot::channel();
    let queue = queue.clone();
    let thread = std::thread::Builder::new()
        .name("evidence-writer".into())
        .spawn(move || {
            let mut watch = Watch { actor, open_failed: None };
            match queue.open_writer() {
                Ok(writer) => {
                    let _ = ready_tx.send(Ok(()));
                    queue.drain(writer);
                }
                Err(e) => {
                    watch.open_failed = Some(e.to_string());
                    let _ = ready_tx.send(Err(e));
                }
            }
        })
        .map_err(|e| EvidenceError::Spawn(e.to_string()))?;
    Ok((thread, ready_rx))
}

impl Actor for EvidenceActor {
    type Msg = EvidenceMsg;
    type State = EvidenceState;
    type Arguments = Arc<Queue>;

    async fn pre_start(
        &self,
        myself: ActorRef<EvidenceMsg>,
        queue: Arc<Queue>,
    ) -> Result<EvidenceState, ActorProcessingErr> {
        let (thread, ready) = start_writer(&queue, myself)?;
        match ready.await {
            Ok(Ok(())) => Ok(EvidenceState { queue, thread: Some(thread), restarts: 0 }),
            Ok(Err(e)) => Err(e.into()),
            Err(_) => Err(EvidenceError::Spawn("the writer thread ended during start-up".into()).into()),
        }
    }

    async fn handle(
        &self,
        myself: ActorRef<EvidenceMsg>,
        msg: EvidenceMsg,
        state: &mut EvidenceState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            EvidenceMsg::WriterEnded(Ended::OpenFailed(e)) => {
                Err(format!("the evidence writer could not reopen its directory: {e}").into())
            }
            EvidenceMsg::WriterEnded(how) => {
                // The thread has ended (its last act was this message): nothing to wait for.
                state.thread.take();
                state.restarts += 1;
                if state.restarts > MAX_RESTARTS {
                    return Err(format!("the evidence writer thread failed {} times ({how:?})", state.restarts).into());
                }
                tracing::error!(ended = ?how, restarts = state.restarts, "the evidence writer thread ended; restarting it (records it had not written are counted as dropped)");
                // The new thread reports itself through its watch if it cannot open the directory.
                let (thread, _ready) = start_writer(&state.queue, myself)?;
                state.thread = Some(thread);
                Ok(())
            }
        }
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<EvidenceMsg>,
        state: &mut EvidenceState,
    ) -> Result<(), ActorProcessingErr> {
        if let Some(stats) = state.queue.shutdown().await {
            tracing::info!(written = stats.writer.written, dropped = stats.dropped, "evidence writer stopped");
        }
        if let Some(thread) = state.thread.take() {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
        Ok(())
    }
}

/// A running evidence trail outside a gateway's tree (tests).
#[cfg(test)]
pub(crate) struct Evidence {
    /// Stop it (not kill: only `stop` runs the final drain and fsync) after everything that records has stopped.
    pub(crate) actor: ActorRef<EvidenceMsg>,
    /// Ends after the writer thread has written everything and ended.
    pub(crate) join: tokio::task::JoinHandle<()>,
    /// Clone one into every session.
    pub(crate) handle: EvidenceHandle,
}

#[cfg(test)]
impl Evidence {
    /// Stops the actor: everything queued is written and fsynced before this returns.
    pub(crate) async fn stop(self) {
        self.actor.stop(None);
        let _ = self.join.await;
    }
}

/// Starts the trail: opens (and if needed repairs) the directory, then accepts records.
#[cfg(test)]
pub(crate) async fn spawn(config: EvidenceConfig) -> Result<Evidence, EvidenceError> {
    let (queue, handle) = Queue::new(config)?;
    spawn_queue(queue, handle).await
}

/// Starts the writer of a queue made beforehand.
#[cfg(test)]
pub(crate) async fn spawn_queue(queue: Queue, handle: EvidenceHandle) -> Result<Evidence, EvidenceError> {
    let (actor, join) =
        Actor::spawn(None, EvidenceActor, Arc::new(queue)).await.map_err(|e| EvidenceError::Spawn(spawn_error(e)))?;
    Ok(Evidence { actor, join, handle })
}

#[cfg(test)]
fn spawn_error(e: ractor::SpawnErr) -> String {
    match e {
        ractor::SpawnErr::StartupFailed(inner) => inner.to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::atomic::Ordering;
    use std::time::SystemTime;

    use bytes::Bytes;

    use super::*;
    use crate::evidence::queue::PANIC_TOOL;
    use crate::evidence::{verify, EvidenceStats, Record, Writer};

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
        let (queue, handle) = Queue::new(config(dir.path(), 2)).unwrap();
        // The writer is not running yet: the queue fills after two records.
        for i in 0..5 {
            handle.record(Record { correlation_id: Some(format!("c-{i}").into()), ..Record::call("app.x.echo") });
        }
        assert_eq!(handle.dropped(), 3);
        let counter = handle.dropped_counter();
        let (actor, join) = Actor::spawn(None, EvidenceActor, Arc::new(queue)).await.unwrap();
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
        let (queue, handle) = Queue::new(cfg).unwrap();
        let result = Bytes::from(vec![b'x'; 60]);
        // The first result fits the budget and waits for the writer; the second would not, so the caller
        // digests it and queues no bytes.
        handle.record(Record::call("app.x.a").with_result(result.clone()));
        handle.record(Record::call("app.x.b").with_result(result.clone()));
        assert_eq!(handle.queued_bytes(), 60);
        let (actor, join) = Actor::spawn(None, EvidenceActor, Arc::new(queue)).await.unwrap();
        handle.flush().await.unwrap();
        assert_eq!(handle.queued_bytes(), 0, "the writer gives the bytes back");
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

    #[tokio::test]
    async fn a_panicking_writer_thread_is_restarted_and_the_trail_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let ev = spawn(config(dir.path(), 64)).await.unwrap();
        for i in 0..10 {
            ev.handle.record(Record { attempts: Some(i), ..Record::call("app.x.before") });
        }
        ev.handle.flush().await.unwrap();
        // The writer thread panics on this record; the actor starts a new one on the same queue.
        ev.handle.record(Record::call(PANIC_TOOL));
        for i in 0..10 {
            ev.handle.record(Record { attempts: Some(i), ..Record::call("app.x.after") });
        }
        let stats = tokio::time::timeout(std::time::Duration::from_secs(10), ev.handle.flush())
            .await
            .expect("a new writer thread serves the queue")
            .unwrap();
        assert_eq!(stats.dropped, 1, "the record the thread died on is counted");
        let handle = ev.handle.clone();
        ev.stop().await;
        let text = text(dir.path());
        assert_eq!(text.matches(r#""tool":"app.x.before""#).count(), 10, "{text}");
        assert_eq!(text.matches(r#""tool":"app.x.after""#).count(), 10, "{text}");
        assert!(text.contains(r#""kind":"dropped","count":1"#), "the gap is noted in the file: {text}");
        let report = verify(dir.path()).unwrap();
        assert!(report.is_ok(), "{report}");
        assert_eq!(handle.dropped(), 1);
    }

    #[tokio::test]
    async fn a_writer_that_keeps_failing_fails_the_actor() {
        let dir = tempfile::tempdir().unwrap();
        let ev = spawn(config(dir.path(), 64)).await.unwrap();
        for _ in 0..=MAX_RESTARTS {
            ev.handle.record(Record::call(PANIC_TOOL));
            // One at a time: each must reach a thread of its own.
            let _ = tokio::time::timeout(std::time::Duration::from_secs(5), ev.handle.flush()).await;
        }
        let ended = tokio::time::timeout(std::time::Duration::from_secs(10), ev.join).await;
        assert!(ended.is_ok(), "the actor ends once the writer has failed more than {MAX_RESTARTS} times");
    }
}
