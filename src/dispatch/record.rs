//! The record of one client tool call while it is under way ([`CallLog`]), and how it is finished once the
//! client is answered: metrics, the cache store and the coalesced followers, invalidations, the evidence record.
//! It travels inside the call's [`ClientReply`] through retries and fallbacks.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde_json::value::RawValue;

use super::{admit, ClientReply, Services};
use crate::cache::CacheKey;
use crate::evidence::Record;
use crate::telemetry::{CallTimer, Outcome, ToolMetrics};
use crate::transport::DownstreamError;

/// How a call was answered, as [`CallLog::finish`] needs to know it.
#[derive(Clone, Copy)]
pub(crate) enum Answer<'a> {
    /// The downstream's `result`, exactly as it sent it.
    Result(&'a RawValue),
    /// The downstream's JSON-RPC `error` object.
    Error(&'a RawValue),
    /// A failure the gateway answered itself (timeout, crash, open circuit...).
    Failure(&'a DownstreamError),
    /// A result from the cache (the stored bytes).
    CacheHit(&'a [u8]),
    /// Refused by a rate limit (the message sent).
    RateLimited(&'a str),
}

impl Answer<'_> {
    fn outcome(&self) -> Outcome {
        match self {
            Answer::Result(r) if is_error_result(r.get().as_bytes()) => Outcome::ToolError,
            Answer::Result(_) => Outcome::Ok,
            Answer::Error(_) => Outcome::Error,
            Answer::Failure(e) => failure_outcome(e),
            Answer::CacheHit(_) => Outcome::CacheHit,
            Answer::RateLimited(_) => Outcome::RateLimited,
        }
    }
}

/// The outcome label of a failure the gateway answered.
pub(crate) fn failure_outcome(e: &DownstreamError) -> Outcome {
    match e {
        DownstreamError::Timeout { .. } => Outcome::Timeout,
        DownstreamError::CircuitOpen { .. }
        | DownstreamError::Unavailable { .. }
        | DownstreamError::Unrecordable { .. }
        | DownstreamError::Overloaded { .. } => Outcome::Unavailable,
        DownstreamError::Exited { .. }
        | DownstreamError::FrameTooLarge { .. }
        | DownstreamError::BadResponse { .. } => Outcome::Error,
    }
}

/// `"isError": true` in a tool result (a cheap scan first: most results do not carry the member).
pub(crate) fn is_error_result(result: &[u8]) -> bool {
    if crate::find_bytes!(result, b"isError").is_none() {
        return false;
    }
    // The result was validated as JSON when its frame was parsed; this only finds the member.
    let Ok(raw) = serde_json::from_slice::<&RawValue>(result) else { return false };
    crate::protocol::RawObject::parse(raw).is_ok_and(|o| o.get("isError").is_some_and(|v| v.get().trim() == "true"))
}

/// A client request's correlation id: in every log line about the request and in its evidence record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Correlation(pub(crate) u64);

impl fmt::Display for Correlation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "c{:x}", self.0)
    }
}

/// The result cache entry a call will fill when it succeeds, and the coalescing it leads.
pub(crate) struct Store {
    pub(crate) key: CacheKey,
    /// Zero: the lookup failed, so the leader only answers its followers and stores nothing.
    pub(crate) ttl: Duration,
    pub(crate) tags: Arc<[String]>,
    /// The entry may be shared by all clients.
    pub(crate) public: bool,
}

/// The record of one client tool call while it is under way. Travels inside its [`ClientReply`]; finished by
/// [`ClientReply::deliver`]. Dropped unfinished (the client cancelled, the gateway stopped), it records the call
/// as cancelled and answers its coalesced followers with an error, so nobody waits forever.
pub(crate) struct CallLog {
    services: Arc<Services>,
    pub(super) metrics: Arc<ToolMetrics>,
    /// `None` once finished.
    timer: Option<CallTimer>,
    pub(crate) correlation: Correlation,
    /// Canonical name, the one policy decided on.
    tool: Arc<str>,
    /// `<namespace>.<server>` first asked.
    server: Arc<str>,
    pub(crate) client: Option<Arc<str>>,
    pub(crate) rule: Option<String>,
    /// `allow` or `fallback`.
    pub(crate) decision: &'static str,
    /// The raw arguments, kept only when evidence is on.
    pub(crate) arguments: Option<Box<RawValue>>,
    /// Times the call was written to a downstream.
    pub(crate) attempts: u32,
    /// Set on the leader of a cacheable call.
    pub(crate) store: Option<Store>,
    /// Cache tags a success drops (`invalidates` of the rule).
    pub(crate) invalidates: Vec<String>,
    /// Set on a coalesced follower: the leader's correlation id.
    pub(crate) coalesced_with: Option<Correlation>,
}

impl CallLog {
    /// Starts the record of one call of `tool` (whose series are `metrics`), first asked of `server`.
    pub(super) fn start(
        services: Arc<Services>,
        metrics: Arc<ToolMetrics>,
        correlation: Correlation,
        tool: &Arc<str>,
        server: &Arc<str>,
    ) -> CallLog {
        CallLog {
            services,
            timer: Some(metrics.start()),
            metrics,
            correlation,
            tool: tool.clone(),
            server: server.clone(),
            client: None,
            rule: None,
            decision: "allow",
            arguments: None,
            attempts: 0,
            store: None,
            invalidates: Vec::new(),
            coalesced_with: None,
        }
    }

    /// One attempt reached the downstream and ended without an answer the client gets (a timeout or crash before
    /// a retry or fallback, an `isError` result that falls back).
    pub(crate) fn attempt_ended(&self, outcome: Outcome) {
        self.metrics.record_execution(outcome);
    }

    /// The call failed and goes to its policy fallback: noted now as a decision record, and the final record
    /// says `fallback`.
    pub(crate) fn fell_back(&mut self, target: &str, err: &DownstreamError) {
        self.decision = "fallback";
        if self.services.evidence.is_enabled() {
            self.services.evidence.record(Record {
                correlation_id: Some(self.correlation.to_string().into()),
                client: self.client.clone().map(Into::into),
                rule: self.rule.clone().map(Into::into),
                server: Some(target.to_owned().into()),
                error: Some(err.to_string().into()),
                ..Record::decision(&self.tool, "fallback")
            });
        }
    }

    /// The call failed and its policy fallback is denied to this client: noted as a decision record (the deny
    /// of the target, under this call's correlation id); the call is answered with its own failure.
    pub(crate) fn fallback_denied(&self, target: &str, rule: Option<&str>, why: &str, err: &DownstreamError) {
        if self.services.evidence.is_enabled() {
            let error =
                format!("fallback from {} refused: {why}; the call's own failure is answered: {err}", self.tool);
            self.services.evidence.record(Record {
                correlation_id: Some(self.correlation.to_string().into()),
                client: self.client.clone().map(Into::into),
                rule: rule.map(|r| r.to_owned().into()),
                outcome: Some("denied".into()),
                error: Some(error.into()),
                ..Record::decision(target.to_owned(), "deny")
            });
        }
    }

    /// Records the finished call. `frame` is what the client got; `reply` carries where it came from.
    pub(crate) fn finish(mut self, reply: &ClientReply, frame: &Bytes, answer: Answer<'_>) {
        let outcome = answer.outcome();
        let executed = matches!(answer, Answer::Result(_) | Answer::Error(_)) && self.coalesced_with.is_none();
        if executed {
            self.metrics.record_execution(outcome);
        }
        if matches!(answer, Answer::CacheHit(_)) {
            self.metrics.record_cache_lookup(true);
        }
        let elapsed = self.timer.take().map_or(Duration::ZERO, |t| t.finish(outcome));
        let services = self.services.clone();
        if let Some(store) = self.store.take() {
            if let (Answer::Result(result), Outcome::Ok, None) = (answer, outcome, &reply.answered_by) {
                services.store(store.key, result.get().as_bytes(), store.ttl, store.tags, store.public);
            }
            admit::answer_followers(&services, &store.key, reply, self.correlation, answer);
        }
        if outcome == Outcome::Ok {
            for tag in std::mem::take(&mut self.invalidates) {
                services.invalidate_tag(tag);
            }
        }
        let answered_by = reply.answered_by.as_ref().map(|(by, _)| by.rsplit_once('.').map_or(&**by, |(s, _)| s));
        tracing::debug!(
            correlation = %self.correlation, tool = %self.tool, outcome = outcome.as_str(),
            duration_us = elapsed.as_micros() as u64, attempts = self.attempts, "call answered"
        );
        if !services.evidence.is_enabled() {
            return;
        }
        let error = match answer {
            Answer::Failure(e) => Some(e.to_string().into()),
            Answer::Error(e) => Some(e.get().to_owned().into()),
            Answer::RateLimited(m) => Some(m.to_owned().into()),
            _ => None,
        };
        let server = match answered_by {
            Some(by) => by.to_owned().into(),
            None => (&self.server).into(),
        };
        let mut rec = Record {
            correlation_id: Some(self.correlation.to_string().into()),
            client: self.client.take().map(Into::into),
            rule: self.rule.take().map(Into::into),
            decision: Some(self.decision.into()),
            cache_hit: Some(matches!(answer, Answer::CacheHit(_))),
            coalesced_with: self.coalesced_with.map(|c| c.to_string().into()),
            server: Some(server),
            attempts: Some(self.attempts),
            duration_ms: Some(elapsed.as_secs_f64() * 1000.0),
            outcome: Some(outcome.as_str().into()),
            error,
            arguments: self.arguments.take(),
            ..Record::call(&self.tool)
        };
        if let Some(result) = result_slice(frame) {
            rec.result = Some(result);
        }
        services.evidence.record(rec);
    }
}

impl Drop for CallLog {
    fn drop(&mut self) {
        // Unfinished: the timer records `cancelled` by itself; followers must not wait for an answer that will
        // never come.
        if let Some(store) = self.store.take() {
            let err = DownstreamError::Unavailable {
                server: self.server.to_string(),
                reason: "the identical call this one was waiting for was cancelled; call again".into(),
            };
            admit::fail_followers(&self.services, &store.key, &err);
        }
    }
}

/// The `result` member of a response frame (`{"jsonrpc":"2.0","id":…,"result":R}\n`), zero-copy. The id
/// comes before it and cannot contain the unescaped key.
fn result_slice(frame: &Bytes) -> Option<Bytes> {
    let at = crate::find_bytes!(frame, b"\"result\":")? + 9;
    let end = frame.len().checked_sub(2)?;
    (at < end).then(|| frame.slice(at..end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_result_member_is_cut_from_a_frame() {
        let id: Box<RawValue> = RawValue::from_string("\"a\\\"result\\\":b\"".into()).unwrap();
        let frame = crate::protocol::response_frame_bytes(&id, br#"{"content":[]}"#);
        assert_eq!(&result_slice(&frame).unwrap()[..], br#"{"content":[]}"#);
        let err = crate::protocol::error_frame(&id, -1, "x", None);
        assert!(result_slice(&err).is_none());
    }

    #[test]
    fn is_error_needs_the_member_set_true() {
        assert!(is_error_result(br#"{"content":[],"isError":true}"#));
        assert!(!is_error_result(br#"{"content":[{"text":"isError"}],"isError":false}"#));
        assert!(!is_error_result(br#"{"content":[]}"#));
    }
}
