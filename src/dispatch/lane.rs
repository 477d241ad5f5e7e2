//! The fast lane: while a server is ready on its own connection and its circuit is closed, a session hands a
//! call straight to the connection's writer queue and pending map, without a message to the server's actor.
//! Everything else (starting, restarting, backing off, an open or probing circuit, per-client sessions, a retired
//! server) still goes through the actor, which opens and closes the lane as its phase changes.
//!
//! The actor stays in charge of everything time-based: it expires lane calls with the rest of the pending map,
//! answers them when the process dies (the map is closed first, so a call that slips in after the drain fails
//! itself at once), and counts lane calls as activity before stopping an idle server.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;

use super::call::{Call, Resend};
use super::{Requester, Responder};
use crate::breaker::{Breaker, CircuitState};
use crate::era;
use crate::transport::DownstreamError;

/// What the lane needs to send a call like the actor does.
pub(crate) struct Target {
    pub(crate) requester: Requester,
    /// The modern envelope this server's requests carry (`None`: a legacy server).
    pub(crate) envelope: Option<Arc<[u8]>>,
    pub(crate) timeout: Duration,
    pub(crate) max_pending: usize,
    pub(crate) label: Arc<str>,
}

/// Shared by a server's actor (which opens and closes it) and its route (which sessions call through).
pub(crate) struct Lane {
    open: ArcSwapOption<Target>,
    breaker: Arc<Breaker>,
    /// When the lane last carried a call, in ms since `epoch`: activity the actor does not see otherwise.
    last_used_ms: AtomicU64,
    epoch: Instant,
    /// Why the server failed to start or run last, until it is ready again (set by its actor): a call by a name
    /// the server would have listed is answered with it, not with "unknown tool". Read only on that error path.
    down: std::sync::Mutex<Option<Arc<str>>>,
}

impl std::fmt::Debug for Lane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lane").field("open", &self.open.load().is_some()).finish()
    }
}

/// A closed lane with a breaker of its own (for routes made outside a supervisor, e.g. in tests).
impl Default for Lane {
    fn default() -> Self {
        Lane::new(Arc::new(Breaker::new(5, Duration::from_secs(30))))
    }
}

impl Lane {
    pub(crate) fn new(breaker: Arc<Breaker>) -> Lane {
        Lane {
            open: ArcSwapOption::empty(),
            breaker,
            last_used_ms: AtomicU64::new(0),
            epoch: Instant::now(),
            down: std::sync::Mutex::new(None),
        }
    }

    /// Records why the server is down (`None`: it is ready).
    pub(crate) fn set_down(&self, reason: Option<Arc<str>>) {
        *self.down.lock().unwrap_or_else(|p| p.into_inner()) = reason;
    }

    /// Why the server is down, if it is.
    pub(crate) fn down(&self) -> Option<Arc<str>> {
        self.down.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The server's circuit breaker (the actor's, shared).
    pub(crate) fn breaker(&self) -> &Arc<Breaker> {
        &self.breaker
    }

    pub(crate) fn open(&self, target: Target) {
        self.open.store(Some(Arc::new(target)));
    }

    pub(crate) fn close(&self) {
        self.open.store(None);
    }

    /// When the lane last carried a call.
    pub(crate) fn last_used(&self) -> Instant {
        self.epoch + Duration::from_millis(self.last_used_ms.load(Ordering::Relaxed))
    }

    /// Sends `call` now if the lane is open and the circuit closed (`None`); otherwise gives it back for the
    /// actor.
    pub(crate) fn try_send(&self, call: Call) -> Option<Call> {
        let guard = self.open.load();
        let Some(target) = guard.as_ref() else { return Some(call) };
        if self.breaker.state() != CircuitState::Closed {
            return Some(call);
        }
        self.last_used_ms.store(self.epoch.elapsed().as_millis() as u64, Ordering::Relaxed);
        let spec = Spec {
            envelope: target.envelope.as_deref(),
            timeout: target.timeout,
            max_pending: target.max_pending,
            label: &target.label,
        };
        send_call(&target.requester, &spec, call);
        None
    }
}

/// How a server takes calls (borrowed from the actor's state or the lane's target).
pub(crate) struct Spec<'a> {
    pub(crate) envelope: Option<&'a [u8]>,
    pub(crate) timeout: Duration,
    pub(crate) max_pending: usize,
    pub(crate) label: &'a str,
}

impl Lane {
    /// Cancels a client's request sent on the open lane: removed from the pending map and the server told
    /// `notifications/cancelled` with its own id, on the same queue as the calls that may follow, so it arrives
    /// before them. `false` when the lane is closed or the request is not there (the actor then looks).
    pub(crate) fn try_cancel(&self, session: u64, client_id: &str) -> bool {
        let guard = self.open.load();
        let Some(target) = guard.as_ref() else { return false };
        let Some((id, _entry)) = target.requester.pending().remove_request(session, client_id) else {
            return false;
        };
        let params = format!(r#"{{"requestId":{id},"reason":"cancelled by the client"}}"#);
        target.requester.notify("notifications/cancelled", Some(params.as_bytes()));
        true
    }
}

/// Sends a call on a connection: the era conversion each side needs, what a retry or fallback needs kept, the
/// pending entry. Used by the lane and by the actor alike.
pub(crate) fn send_call(requester: &Requester, target: &Spec<'_>, call: Call) {
    if requester.pending().len() >= target.max_pending {
        let err = DownstreamError::Overloaded { server: target.label.to_owned(), limit: target.max_pending };
        return Responder::Call(call.reply).fail(&err);
    }
    // Each side in its own era: a legacy server must not see the modern envelope, a modern one needs it.
    let client_modern = call.reply.complete_for_modern.is_some();
    let converted = match (target.envelope, client_modern) {
        (Some(envelope), false) => Some(era::with_envelope(Some(&call.params), envelope)),
        (None, true) => era::without_envelope(&call.params),
        _ => None,
    };
    let mut reply = call.reply;
    if let Some(log) = reply.log.as_mut() {
        log.attempts += 1;
    }
    reply.bridge_input = target.envelope.is_some() && !client_modern;
    if reply.retries_left > 0 || reply.fallback.is_some() || reply.bridge_input {
        reply.resend = Some(Resend { method: call.method, params: call.params.clone(), timeout: call.timeout });
    }
    let params = converted.as_deref().unwrap_or(&call.params);
    let timeout = call.timeout.unwrap_or(target.timeout);
    requester.send(call.method, Some(params), Responder::Call(reply), timeout, true);
}
