//! A downstream MCP server as a child process speaking newline-delimited JSON-RPC on stdin/stdout.
//!
//! The child runs in its own process group with a minimal environment. Four tasks serve it: the writer
//! (frames → stdin, flushed when the queue is empty, so bursts share one write), the reader (stdout → responses
//! matched in [`Pending`], the rest as [`ChildEvent`]s), the stderr ring (the last lines, for error messages),
//! and the exit watcher (reports the exit once stdout and stderr are drained, then kills the whole group so no
//! grandchild outlives its server).

use std::collections::VecDeque;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::process::{ChildStderr, ChildStdout, Command};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;

use super::framing::{Frame, FrameReader};
use super::pending::{Entry, Pending, Responder};
use super::{Caller, ChildEvent, DownstreamError};
use crate::config::{expand_env, ServerConfig};
use crate::protocol::{self, Envelope, Kind};

/// Variables a child gets from the gateway's environment even without `inherit_env`.
const BASE_ENV: &[&str] =
    &["PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "TZ", "USER", "LOGNAME", "SHELL", "TERM"];

/// Lines of stderr kept per server, and the longest line kept.
const STDERR_LINES: usize = 20;
const STDERR_LINE_MAX: usize = 512;

/// Receives what the child sends that is not a response (a dynamic call, but never for an answer: answers are
/// completed by the [`Caller`] in the reader task).
pub(crate) type EventSink<C> = Arc<dyn Fn(ChildEvent<C>) + Send + Sync>;

/// Sends requests and notifications to one child and registers who waits for the answers. Cheap to clone.
pub(crate) struct Requester<C: Caller> {
    server: Arc<str>,
    /// The server's circuit breaker: every answer to a client call closes it.
    breaker: Option<Arc<crate::breaker::Breaker>>,
    tx: mpsc::UnboundedSender<Bytes>,
    pending: Arc<Pending<C>>,
    next_id: Arc<AtomicU64>,
}

impl<C: Caller> Clone for Requester<C> {
    fn clone(&self) -> Self {
        Requester {
            server: self.server.clone(),
            breaker: self.breaker.clone(),
            tx: self.tx.clone(),
            pending: self.pending.clone(),
            next_id: self.next_id.clone(),
        }
    }
}

impl<C: Caller> Requester<C> {
    /// A requester whose frames go to `tx` (the transport's writer) and whose answers are matched in a new map.
    pub(super) fn new(
        server: Arc<str>,
        breaker: Option<Arc<crate::breaker::Breaker>>,
        tx: mpsc::UnboundedSender<Bytes>,
    ) -> Self {
        Requester { server, breaker, tx, pending: Arc::new(Pending::default()), next_id: Arc::new(AtomicU64::new(1)) }
    }

    /// Sends a request whose answer goes to `responder`. `params` must be a JSON object or array.
    pub(crate) fn send(
        &self,
        method: &str,
        params: Option<&[u8]>,
        responder: Responder<C>,
        timeout: Duration,
        cancel_on_timeout: bool,
    ) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let entry = Entry { responder, deadline: Instant::now() + timeout, cancel_on_timeout };
        if let Some(entry) = self.pending.insert(id, entry) {
            entry.responder.fail(&self.gone());
            return id;
        }
        if self.tx.send(protocol::request_frame(id, method, params)).is_err() {
            if let Some(entry) = self.pending.remove(id) {
                entry.responder.fail(&self.gone());
            }
        }
        id
    }

    /// Sends a request of the gateway's own and waits for the whole response frame.
    pub(crate) async fn request(
        &self,
        method: &str,
        params: Option<&[u8]>,
        timeout: Duration,
    ) -> Result<Bytes, DownstreamError> {
        let (tx, rx) = oneshot::channel();
        let id = self.send(method, params, Responder::Internal(tx), timeout, false);
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(_)) => Err(self.gone()),
            Err(_) => {
                self.pending.remove(id);
                Err(DownstreamError::Timeout { server: self.server.to_string(), after: timeout })
            }
        }
    }

    /// Sends a notification.
    pub(crate) fn notify(&self, method: &str, params: Option<&[u8]>) {
        let _ = self.tx.send(protocol::notification_frame(method, params));
    }

    /// Sends a frame as it is (answers to the server's own requests).
    pub(crate) fn send_raw(&self, frame: Bytes) {
        let _ = self.tx.send(frame);
    }

    /// `<namespace>.<server>`, for messages.
    pub(crate) fn server(&self) -> &str {
        &self.server
    }

    pub(crate) fn pending(&self) -> &Arc<Pending<C>> {
        &self.pending
    }

    fn gone(&self) -> DownstreamError {
        DownstreamError::Unavailable { server: self.server.to_string(), reason: "its process has exited".into() }
    }
}

/// The last lines a child wrote to stderr.
#[derive(Debug, Default)]
pub(crate) struct StderrRing {
    lines: Mutex<VecDeque<String>>,
}

impl StderrRing {
    fn push(&self, mut line: String) {
        if line.len() > STDERR_LINE_MAX {
            let mut cut = STDERR_LINE_MAX;
            while !line.is_char_boundary(cut) {
                cut -= 1;
            }
            line.truncate(cut);
            line.push('…');
        }
        let mut lines = self.lines.lock().unwrap_or_else(|p| p.into_inner());
        if lines.len() == STDERR_LINES {
            lines.pop_front();
        }
        lines.push_back(line);
    }

    /// The last `n` lines, newline-joined.
    pub(crate) fn tail(&self, n: usize) -> String {
        let lines = self.lines.lock().unwrap_or_else(|p| p.into_inner());
        let skip = lines.len().saturating_sub(n);
        lines.iter().skip(skip).cloned().collect::<Vec<_>>().join("\n")
    }
}

/// A running downstream process.
pub(crate) struct ChildProcess<C: Caller> {
    pub(crate) pid: u32,
    pub(crate) requester: Requester<C>,
    /// Closes stdin (the MCP way to ask a stdio server to exit).
    close_stdin: CancellationToken,
    /// Becomes true once the process has exited and been reaped.
    exited: watch::Receiver<bool>,
}

/// Everything needed to start one child.
pub(crate) struct SpawnSpec<'a, C: Caller> {
    pub(crate) config: &'a ServerConfig,
    /// `app.optimize`, for messages.
    pub(crate) label: Arc<str>,
    pub(crate) max_frame_bytes: usize,
    pub(crate) events: EventSink<C>,
    pub(crate) breaker: Option<Arc<crate::breaker::Breaker>>,
    /// Reads the gateway's environment (the process environment outside tests).
    pub(crate) lookup_env: &'a dyn Fn(&str) -> Option<String>,
}

impl<C: Caller> ChildProcess<C> {
    pub(crate) fn spawn(spec: SpawnSpec<'_, C>) -> Result<ChildProcess<C>, DownstreamError> {
        let cfg = spec.config;
        let unavailable = |reason: String| DownstreamError::Unavailable { server: spec.label.to_string(), reason };
        // Found as `check` finds it: beside the gateway, then on PATH (a desktop client's PATH is minimal).
        let program = crate::config::resolve_command(cfg, crate::config::exe_dir().as_deref(), spec.lookup_env)
            .map_err(|e| unavailable(format!("cannot start: {e} (defined at {})", cfg.origin)))?;
        let mut cmd = match super::reaper::launcher() {
            // Through the launcher, which makes the server die with the gateway (see `reaper`). The program is
            // found above, so that a missing one is reported as such rather than as an early exit.
            Some(launcher) => {
                let mut cmd = Command::new(launcher);
                cmd.arg(super::reaper::EXEC_CHILD).arg(std::process::id().to_string()).arg(&program);
                cmd
            }
            None => Command::new(&program),
        };
        cmd.args(&cfg.args)
            .current_dir(&cfg.cwd)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        if !cfg.inherit_env {
            cmd.env_clear();
            for key in BASE_ENV {
                if let Some(v) = (spec.lookup_env)(key) {
                    cmd.env(key, v);
                }
            }
        }
        // The mark by which a later start recognises this gateway's leftovers (see `reaper`).
        cmd.env(super::reaper::INSTANCE_ENV, super::reaper::instance_id());
        for (key, value) in &cfg.env {
            let (value, missing) = expand_env(value, spec.lookup_env).map_err(&unavailable)?;
            for var in missing {
                // Often on purpose (DATABASE_URL unset: the embedded store), and a server that needs it says so
                // when it fails, which is logged at warn: not a warning at every start.
                tracing::debug!(server = %spec.label, var, "env {key} refers to ${{{var}}}, which is not set; passing it empty");
            }
            cmd.env(key, value);
        }
        let mut child = cmd.spawn().map_err(|e| {
            unavailable(format!("cannot start `{}` (defined at {}): {e}", program.display(), cfg.origin))
        })?;
        let pid = child.id().unwrap_or(0);
        super::reaper::note(pid);
        let stdin = child.stdin.take().expect("stdin is piped");
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr_pipe = child.stderr.take().expect("stderr is piped");

        let (tx, rx) = mpsc::unbounded_channel();
        let requester = Requester::new(spec.label.clone(), spec.breaker.clone(), tx);
        let stderr = Arc::new(StderrRing::default());
        let close_stdin = CancellationToken::new();
        let (exited_tx, exited) = watch::channel(false);

        tokio::spawn(super::framing::write_frames(stdin, rx, close_stdin.clone()));
        let reader = tokio::spawn(read_loop(stdout, requester.clone(), spec.max_frame_bytes, spec.events.clone()));
        let stderr_task = tokio::spawn(stderr_loop(stderr_pipe, stderr.clone(), spec.label.clone()));
        let events = spec.events;
        let ring = stderr.clone();
        tokio::spawn(async move {
            let status = match child.wait().await {
                Ok(s) => s.to_string(),
                Err(e) => format!("wait failed: {e}"),
            };
            // Whatever the server wrote before dying is still in the pipes: answers first, then last words.
            let _ = tokio::time::timeout(Duration::from_millis(500), reader).await;
            let _ = tokio::time::timeout(Duration::from_millis(200), stderr_task).await;
            kill_group(pid, Signal::SIGKILL);
            let _ = exited_tx.send(true);
            events(ChildEvent::Exited { status, stderr_tail: ring.tail(5) });
        });

        Ok(ChildProcess { pid, requester, close_stdin, exited })
    }

    /// Asks the process to exit (stdin closed, then SIGTERM, then SIGKILL to the whole group) and waits until
    /// it has been reaped.
    pub(crate) async fn stop(&self, grace: Duration) {
        self.close_stdin.cancel();
        let mut exited = self.exited.clone();
        let half = grace / 2;
        if tokio::time::timeout(half, exited.wait_for(|e| *e)).await.is_ok() {
            return;
        }
        kill_group(self.pid, Signal::SIGTERM);
        if tokio::time::timeout(half, exited.wait_for(|e| *e)).await.is_ok() {
            return;
        }
        kill_group(self.pid, Signal::SIGKILL);
        let _ = tokio::time::timeout(Duration::from_secs(2), exited.wait_for(|e| *e)).await;
    }

    /// Kills the whole group at once (used when the gateway itself is going away fast).
    pub(crate) fn kill(&self) {
        kill_group(self.pid, Signal::SIGKILL);
    }
}

fn kill_group(pid: u32, signal: Signal) {
    if pid > 0 {
        // ESRCH (group already gone) is the normal case after a clean exit.
        let _ = killpg(Pid::from_raw(pid as i32), signal);
    }
}

async fn read_loop<C: Caller>(stdout: ChildStdout, requester: Requester<C>, max: usize, events: EventSink<C>) {
    let mut reader = FrameReader::new(stdout, max).counting_activity();
    loop {
        let frame = match reader.next().await {
            Ok(Some(f)) => f,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(server = %requester.server, error = %e, "reading the server's stdout failed");
                return;
            }
        };
        match frame {
            Frame::Line(line) => on_line(line, &requester, &events),
            Frame::Oversized { prefix, len } => {
                let id = protocol::sniff_id(&prefix).and_then(|id| protocol::parse_downstream_id(&id));
                tracing::warn!(server = %requester.server, len, max, "the server sent a frame over the size limit; skipped");
                if let Some(entry) = id.and_then(|id| requester.pending.remove(id)) {
                    entry.responder.fail(&DownstreamError::FrameTooLarge {
                        server: requester.server.to_string(),
                        size: len,
                        max,
                    });
                }
            }
        }
    }
}

/// One message from the server (a stdout line, or an HTTP body or event): a response completes its pending
/// entry, the rest becomes a [`ChildEvent`].
pub(super) fn on_line<C: Caller>(line: Bytes, requester: &Requester<C>, events: &EventSink<C>) {
    let env = match Envelope::parse(&line) {
        Ok(env) => env,
        Err(_) => {
            events(ChildEvent::Garbage(String::from_utf8_lossy(&line[..line.len().min(200)]).into_owned()));
            return;
        }
    };
    match env.kind() {
        Kind::Response => {
            let Some(id) = env.id.and_then(protocol::parse_downstream_id) else {
                tracing::warn!(server = %requester.server, "a response with an id the gateway never sent; dropped");
                return;
            };
            let Some(entry) = requester.pending.remove(id) else {
                tracing::debug!(server = %requester.server, id, "a response nobody waits for any more (timed out or cancelled)");
                return;
            };
            match entry.responder {
                Responder::Call(c) => {
                    if let Some(b) = &requester.breaker {
                        b.success();
                    }
                    if let Some(diverted) = c.complete(&line, &env, &requester.server) {
                        drop(env);
                        events(ChildEvent::Diverted(diverted));
                    }
                }
                Responder::Internal(tx) => {
                    drop(env);
                    let _ = tx.send(Ok(line));
                }
                Responder::Parked => {
                    tracing::warn!(server = %requester.server, id, "the server finished a call while its client was asked for input; the answer is dropped");
                }
            }
        }
        Kind::Notification if env.method.as_deref() == Some("notifications/progress") => {
            forward_progress(&env, &line, &requester.pending);
        }
        Kind::Notification => {
            drop(env);
            events(ChildEvent::Notification(line));
        }
        Kind::Request => {
            drop(env);
            events(ChildEvent::Request(line));
        }
        Kind::Invalid => {
            events(ChildEvent::Garbage(String::from_utf8_lossy(&line[..line.len().min(200)]).into_owned()))
        }
    }
}

/// Passes a progress notification to the caller whose request carries its token.
fn forward_progress<C: Caller>(env: &Envelope<'_>, line: &[u8], pending: &Pending<C>) {
    let Some(params) = env.params else { return };
    let Ok(obj) = protocol::RawObject::parse(params) else { return };
    let Some(token) = obj.get("progressToken") else { return };
    let Some(to) = pending.progress_to(protocol::raw_key(token)) else { return };
    C::forward_progress(to, line, &obj, token);
}

/// The frame with its line terminator back, for passing it on unchanged.
pub(crate) fn with_newline(line: &[u8]) -> Bytes {
    let mut v = Vec::with_capacity(line.len() + 1);
    v.extend_from_slice(line);
    v.push(b'\n');
    Bytes::from(v)
}

async fn stderr_loop(stderr: ChildStderr, ring: Arc<StderrRing>, label: Arc<str>) {
    // Bounded like stdout: a server that never ends a stderr line must not grow a buffer.
    let mut lines = FrameReader::new(stderr, 64 * 1024);
    while let Ok(Some(frame)) = lines.next().await {
        let line = match frame {
            Frame::Line(l) => String::from_utf8_lossy(&l).into_owned(),
            Frame::Oversized { len, .. } => format!("<a {len}-byte stderr line, skipped>"),
        };
        tracing::debug!(server = %label, stderr = %line, "downstream stderr");
        ring.push(line);
    }
}
