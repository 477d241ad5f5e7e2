//! Bounds on the connections of the HTTP front: how many may be open, how long one may take to send a request
//! head, how long one may sit idle, and a reserve of file descriptors the connections can never take.
//!
//! A flood of connections that send nothing (or a byte now and then) would otherwise hold sockets forever: new
//! clients would queue behind them, and once the process is out of file descriptors a crashed downstream could
//! not be started again (its pipes need descriptors too), so its circuit would stay open for a reason that is
//! the gateway's own. So:
//!
//! - at most `max_connections` are served at once; more wait in the kernel's listen queue;
//! - a connection with nothing in flight is closed when a request head has been arriving for longer than
//!   `header_read_timeout`, or when nothing at all arrived for `keep_alive_timeout` (a new connection counts
//!   as idle from its accept): a slot held by a silent or slow client is free again within the timeout;
//! - the cap is lowered at start to leave [`fd_reserve`] descriptors of the process limit to everything else.
//!
//! A request is "in flight" from its head until its response body ended (an SSE stream included), so a long
//! stream is never cut by these timeouts.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body::Frame;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The configured bounds (`[front.http]`), with the cap already fitted to the descriptor limit.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnLimits {
    pub(crate) max_connections: usize,
    pub(crate) header_read_timeout: Duration,
    pub(crate) keep_alive_timeout: Duration,
}

impl ConnLimits {
    /// How often a connection's watchdog looks: often enough that a timeout is not overshot by much.
    pub(crate) fn check_every(&self) -> Duration {
        (self.header_read_timeout.min(self.keep_alive_timeout) / 4)
            .clamp(Duration::from_millis(20), Duration::from_secs(1))
    }
}

/// Descriptors kept free of connections: the gateway's own needs (three pipes and a pidfd per stdio
/// downstream, log and evidence files, Redis, outgoing HTTP) grow with the servers it runs.
pub(crate) fn fd_reserve(limit: u64) -> u64 {
    (limit / 4).max(64)
}

/// Raises the soft descriptor limit to the hard one (what the operator allowed) and returns the connection cap
/// that leaves [`fd_reserve`] free: `wanted`, or less when the limit is too low (then logged once, clearly).
pub(crate) fn fit_to_fd_limit(wanted: usize) -> usize {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else { return wanted };
    let soft = if soft < hard && setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_ok() { hard } else { soft };
    let room = soft.saturating_sub(fd_reserve(soft));
    if (wanted as u64) <= room {
        return wanted;
    }
    let cap = room.max(1) as usize;
    tracing::warn!(
        max_connections = wanted,
        fd_limit = soft,
        reserve = fd_reserve(soft),
        cap,
        "[front.http] max_connections is over what the file descriptor limit allows with a reserve for the \
         gateway's own needs (downstream restarts); serving at most {cap} connections (raise `ulimit -n` for more)"
    );
    cap
}

/// What one connection's watchdog needs to know.
pub(crate) struct ConnState {
    epoch: Instant,
    /// Requests whose response has not ended.
    active: AtomicUsize,
    /// Milliseconds since `epoch` of the last request start or response end (or the accept).
    last_done: AtomicU64,
    /// Milliseconds since `epoch` (plus one, 0 = none) of the first byte read while nothing was in flight: a
    /// request head is arriving. Later bytes do not move it (a head dribbled a byte at a time is still cut at
    /// `header_read_timeout`); only a complete head ([`ConnState::begin`]) clears it.
    head_since: AtomicU64,
}

/// Why a connection is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Keep,
    /// A request head has been arriving for longer than `header_read_timeout`.
    SlowHead,
    /// Nothing in flight and nothing arriving for `keep_alive_timeout`.
    Idle,
}

impl ConnState {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(ConnState {
            epoch: Instant::now(),
            active: AtomicUsize::new(0),
            last_done: AtomicU64::new(0),
            head_since: AtomicU64::new(0),
        })
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// A request head was read: in flight until the returned guard drops (with the response body).
    pub(crate) fn begin(self: &Arc<Self>) -> Active {
        self.active.fetch_add(1, Ordering::AcqRel);
        self.head_since.store(0, Ordering::Release);
        self.last_done.store(self.now_ms(), Ordering::Release);
        Active(self.clone())
    }

    fn read_some(&self) {
        if self.active.load(Ordering::Acquire) == 0 && self.head_since.load(Ordering::Acquire) == 0 {
            let _ = self.head_since.compare_exchange(0, self.now_ms() + 1, Ordering::AcqRel, Ordering::Relaxed);
        }
    }

    /// Whether the connection may stay open now.
    pub(crate) fn verdict(&self, limits: &ConnLimits) -> Verdict {
        if self.active.load(Ordering::Acquire) > 0 {
            return Verdict::Keep;
        }
        let now = self.now_ms();
        let head = self.head_since.load(Ordering::Acquire);
        if head != 0 && now.saturating_sub(head - 1) >= limits.header_read_timeout.as_millis() as u64 {
            return Verdict::SlowHead;
        }
        if head == 0
            && now.saturating_sub(self.last_done.load(Ordering::Acquire))
                >= limits.keep_alive_timeout.as_millis() as u64
        {
            return Verdict::Idle;
        }
        Verdict::Keep
    }
}

/// One request in flight on a connection.
pub(crate) struct Active(Arc<ConnState>);

impl Drop for Active {
    fn drop(&mut self) {
        let state = &self.0;
        state.last_done.store(state.now_ms(), Ordering::Release);
        state.active.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A response body that keeps its request in flight until it ends or is dropped.
pub(crate) struct Tracked<B> {
    pub(crate) body: B,
    pub(crate) _active: Active,
}

impl<B: http_body::Body<Data = Bytes> + Unpin> http_body::Body for Tracked<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// The accepted socket, noting when bytes of a request head begin to arrive.
pub(crate) struct Watched<S> {
    pub(crate) stream: S,
    pub(crate) state: Arc<ConnState>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.state.read_some();
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reserve_leaves_room_for_the_gateway() {
        assert_eq!(fd_reserve(1024), 256);
        assert_eq!(fd_reserve(100), 64);
        assert!(fd_reserve(1 << 20) < 1 << 20);
    }

    #[test]
    fn a_connection_in_flight_is_kept_and_an_idle_or_slow_one_is_not() {
        let limits = ConnLimits {
            max_connections: 1,
            header_read_timeout: Duration::ZERO,
            keep_alive_timeout: Duration::from_secs(3600),
        };
        let state = ConnState::new();
        assert_eq!(state.verdict(&limits), Verdict::Keep, "fresh, nothing read, idle timeout far away");
        state.read_some();
        assert_eq!(state.verdict(&limits), Verdict::SlowHead, "a head began and the header timeout is zero");
        let active = state.begin();
        assert_eq!(state.verdict(&limits), Verdict::Keep, "in flight: never cut");
        state.read_some();
        assert_eq!(state.verdict(&limits), Verdict::Keep, "bytes of a body in flight are no new head");
        drop(active);
        assert_eq!(state.verdict(&limits), Verdict::Keep, "answered: idle, but not for an hour");
        let idle = ConnLimits { keep_alive_timeout: Duration::ZERO, ..limits };
        assert_eq!(state.verdict(&idle), Verdict::Idle);
    }
}
