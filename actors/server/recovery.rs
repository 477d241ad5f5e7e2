//! Failures of a server and of its calls: the process exits, a handshake fails, a call times out or fails, a
//! session expires. What can be repeated safely is repeated, what has a policy fallback goes there, the rest is
//! answered with the error; the server itself backs off and restarts.

use std::time::Instant;

use bytes::Bytes;
use ractor::ActorRef;
use serde_json::value::RawValue;

use super::{Phase, ServerMsg, ServerState};
use crate::actors::router::RouterMsg;
use crate::dispatch::{Call, ChildEvent, ClientReply, Diverted, Entry, Fallback, Responder};
use crate::protocol;
use crate::telemetry::ErrorKind;
use crate::transport::DownstreamError;

impl ServerState {
    pub(super) fn on_child_event(&mut self, myself: &ActorRef<ServerMsg>, event: ChildEvent) {
        match event {
            ChildEvent::Exited { status, stderr_tail } => {
                let Some(child) = self.child.take() else { return };
                if matches!(self.phase, Phase::Idle { .. } | Phase::Stopping) {
                    return;
                }
                // What it said last is usually why (a shim's "BRAVE_API_KEY is not set"): operators see it in
                // /healthz and `tools`.
                let last_words = stderr_tail.lines().last().map(str::trim).filter(|l| !l.is_empty());
                let summary = match last_words {
                    Some(line) => format!("exited ({status}): {line}"),
                    None => format!("exited ({status})"),
                };
                let err = if self.cfg.http.is_some() {
                    DownstreamError::Unavailable { server: self.label.to_string(), reason: status.clone() }
                } else {
                    DownstreamError::Exited { server: self.label.to_string(), status: status.clone(), stderr_tail }
                };
                self.metrics.record_error(ErrorKind::Crash);
                let in_flight = child.requester().pending().drain();
                // Long healthy runs do not count toward the backoff of the next crash.
                if self.ready_since.is_some_and(|t| t.elapsed() > self.cfg.restart_backoff_max) {
                    self.crashes = 0;
                }
                self.on_failure(myself, summary, &err);
                // After the backoff is set: calls safe to repeat wait for the restart, the rest fail at once.
                for entry in in_flight {
                    match entry.responder {
                        Responder::Call(reply) => self.recover_or_fail(myself, reply, err.clone(), true),
                        other => other.fail(&err),
                    }
                }
            }
            ChildEvent::Diverted(Diverted::ToolError(mut reply)) => {
                if let Some(log) = reply.log.as_ref() {
                    log.attempt_ended(crate::telemetry::Outcome::ToolError);
                }
                let err = DownstreamError::BadResponse {
                    server: self.label.to_string(),
                    detail: "the tool returned isError and its fallback could not be reached".into(),
                };
                match reply.fallback.take() {
                    Some(fb) => self.fall_back(reply, fb, err),
                    None => Responder::Call(reply).fail(&err),
                }
            }
            ChildEvent::Notification(frame) => self.on_notification(myself, frame),
            ChildEvent::Request(frame) => self.on_server_request(frame),
            ChildEvent::Diverted(Diverted::InputRequired(reply, frame)) => self.on_input_required(reply, &frame),
            ChildEvent::SessionExpired { entry, reinit } => self.on_session_expired(myself, entry, reinit),
            ChildEvent::Failed { entry, error } => match entry.responder {
                Responder::Call(reply) => {
                    self.breaker.failure();
                    self.recover_or_fail(myself, reply, error, true);
                }
                other => other.fail(&error),
            },
            ChildEvent::Garbage(line) => {
                self.metrics.record_error(ErrorKind::Protocol);
                tracing::warn!(server = %self.label, line = %line, "the server wrote a line that is not JSON-RPC to stdout; skipped");
            }
        }
    }

    /// An HTTP server forgot the session: initialize a new one (the first report only) and repeat the refused call
    /// when that is safe. Nothing else is disturbed: other servers, the clients' sessions and the breaker.
    pub(super) fn on_session_expired(&mut self, myself: &ActorRef<ServerMsg>, entry: Option<Entry>, reinit: bool) {
        if reinit && matches!(self.phase, Phase::Ready) {
            tracing::info!(server = %self.label, "the server's session expired; initializing a new one");
            self.set_phase(Phase::Starting);
            self.handshake(myself);
        }
        let Some(entry) = entry else { return };
        let err =
            self.unavailable("its session expired (the server answered 404); the gateway opened a new one, call again");
        match entry.responder {
            Responder::Call(reply) => self.recover_or_fail(myself, reply, err, true),
            other => other.fail(&err),
        }
    }

    /// A failure to start or a crash: fail what waits, back off, and restart (app servers) or wait for the next
    /// call (lazy servers).
    pub(super) fn on_failure(&mut self, myself: &ActorRef<ServerMsg>, summary: String, err: &DownstreamError) {
        self.breaker.failure();
        self.record_failure(myself, summary, err);
        // App servers restart by themselves; lazy ones when calls wait for them.
        if !self.cfg.lazy || !self.queue.is_empty() {
            if let Phase::Backoff { until } = self.phase {
                let generation = self.generation;
                myself.send_after(until.saturating_duration_since(Instant::now()), move || {
                    ServerMsg::Restart(generation)
                });
            }
        }
    }

    pub(super) fn record_failure(&mut self, myself: &ActorRef<ServerMsg>, summary: String, err: &DownstreamError) {
        // Queued calls never reached the server: they may wait for the next start, up to `retries` starts.
        let queued = std::mem::take(&mut self.queue);
        for (deadline, mut call) in queued {
            call.start_failures += 1;
            if call.start_failures > self.cfg.retries {
                self.recover_or_fail(myself, call.reply, err.clone(), false);
            } else {
                self.queue.push_back((deadline, call));
            }
        }
        self.crashes += 1;
        self.restarts += 1;
        self.restart_due = true;
        self.metrics.set_up(false);
        self.lane.set_down(Some(summary.as_str().into()));
        self.last_error = Some(summary);
        self.ready_since = None;
        let exp = self.crashes.saturating_sub(1).min(16);
        let delay = self.cfg.restart_backoff.saturating_mul(1 << exp).min(self.cfg.restart_backoff_max);
        // An operator must see why a server is down (a command not on PATH, a missing API key), but a server
        // that cannot start fails at every backoff: warn once per streak of failures (and when the reason
        // changes), the rest at debug. The streak ends when the server is ready.
        let reason = self.last_error.as_deref().unwrap_or_default();
        if self.warned.as_deref() != Some(reason) {
            tracing::warn!(server = %self.label, error = %reason, retry_in = ?delay, "server failed; restarting after a backoff");
            self.warned = Some(reason.to_owned());
        } else {
            tracing::debug!(server = %self.label, delay = ?delay, crashes = self.crashes, "restart backoff");
        }
        // Start-up readiness must not wait for a server that cannot start.
        let _ = self.ctx.router.cast(RouterMsg::ServerSettled { server: self.cfg.name.clone() });
        self.set_phase(Phase::Backoff { until: Instant::now() + delay });
    }

    /// A call that failed here: repeated when that is safe (`retryable` failures of calls with retries left),
    /// sent to its policy fallback, or answered with the error.
    pub(super) fn recover_or_fail(
        &mut self,
        myself: &ActorRef<ServerMsg>,
        mut reply: ClientReply,
        err: DownstreamError,
        retryable: bool,
    ) {
        if retryable {
            // The attempt reached the server and ended without an answer.
            if let Some(log) = reply.log.as_ref() {
                log.attempt_ended(crate::dispatch::record::failure_outcome(&err));
            }
        }
        if retryable && reply.retries_left > 0 {
            if let Some(resend) = reply.resend.clone() {
                reply.retries_left -= 1;
                let correlation = reply.log.as_ref().map(|l| l.correlation.to_string());
                tracing::info!(server = %self.label, correlation, error = %err, left = reply.retries_left, "retrying a call that is safe to repeat");
                let call = Call::new(resend.method, resend.params, reply, resend.timeout);
                return self.on_call(myself, call);
            }
        }
        match reply.fallback.take() {
            Some(fb) => self.fall_back(reply, fb, err),
            None => Responder::Call(reply).fail(&err),
        }
    }

    /// Sends a failed call to its fallback tool; the answer's `_meta` says which tool answered. The target is
    /// decided by policy for the same client, as if it had called the target: a denied target does not run, the
    /// call is answered with its own failure, and the audit trail says why.
    pub(super) fn fall_back(&self, mut reply: ClientReply, fb: Fallback, err: DownstreamError) {
        let client = reply.client.identity.get().map(|s| &**s);
        let subject = crate::policy::Subject::new(&fb.target, client, chrono::Utc::now());
        let decision = fb.policy.decide(&subject);
        if !decision.is_allowed() {
            let correlation = reply.log.as_ref().map(|l| l.correlation.to_string());
            tracing::warn!(correlation, from = %fb.from, to = %fb.target, %decision, "fallback target is denied to this client; answering the call's own failure");
            if let Some(log) = reply.log.as_ref() {
                log.fallback_denied(&fb.target, decision.rule_name(), &decision.to_string(), &err);
            }
            return Responder::Call(reply).fail(&err);
        }
        let table = self.ctx.table.load();
        let target = table.tools.lookup(&fb.target);
        let params = reply.resend.take().and_then(|resend| {
            let raw: &RawValue = serde_json::from_slice(&resend.params).ok()?;
            let obj = protocol::RawObject::parse(raw).ok()?;
            let mut out = Vec::with_capacity(resend.params.len() + 16);
            obj.write_with_str("name", &target?.name, &mut out);
            Some((Bytes::from(out), resend.timeout))
        });
        let (Some(entry), Some((params, timeout))) = (target, params) else {
            tracing::warn!(server = %self.label, target = %fb.target, "fallback target is not available");
            return Responder::Call(reply).fail(&err);
        };
        let correlation = reply.log.as_ref().map(|l| l.correlation.to_string());
        tracing::info!(correlation, from = %fb.from, to = %fb.target, error = %err, "falling back");
        if let Some(log) = reply.log.as_mut() {
            log.fell_back(&fb.target, &err);
        }
        reply.answered_by = Some((fb.target.clone(), fb.from.clone()));
        reply.retries_left = 0;
        let call = Call::new("tools/call", params, reply, timeout);
        entry.server.call(call);
    }
}
