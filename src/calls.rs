//! What every client tool call leaves behind, and the services that keep it: Prometheus series, the evidence
//! record, the result cache (with identical calls in flight coalesced), rate limits, and the correlation id that
//! ties a call's log lines to its evidence record.
//!
//! ```text
//! Session::route ── policy ──► Services::admit: rate limit ─► cache lookup ─► coalesce ─► ServerActor
//!                     │ deny          │ refused          │ hit           │ follower
//!                     ▼               ▼                  ▼               ▼ (waits for the leader's answer)
//!                  answered and logged where they are decided
//!
//! ClientReply { log: CallLog } travels with the call through retries and fallbacks; whoever answers the client
//! calls ClientReply::deliver(frame, answer), and CallLog::finish records the call: metrics, cache store,
//! followers answered, writer tags invalidated, evidence queued.
//! ```
//!
//! With the embedded backends every step is synchronous on the calling task. With Redis, the lookups that need a
//! round trip run on a spawned task, and every Redis failure means "no cache / local limit this time", never a
//! failed call.

mod admit;

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use bytes::Bytes;
use serde_json::value::RawValue;

pub(crate) use admit::{CachePlan, LimitPlan, Plan};

use crate::cache::{Cache, CacheBackend, CacheKey};
use crate::evidence::EvidenceHandle;
use crate::evidence::Record;
use crate::kv::BackendHealth;
use crate::ratelimit::{Limiter, RateLimiter};
use crate::telemetry::{CallTimer, ErrorKind, Metrics, Outcome, ServerLabels, ToolLabels, ToolMetrics};
use crate::transport::pending::ClientReply;
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

/// The gateway-wide services every call uses. One per gateway, shared as `Arc<Services>`.
pub struct Services {
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) evidence: EvidenceHandle,
    /// `None` when `[cache] enabled = false`.
    pub(crate) cache: Option<Cache>,
    pub(crate) limiter: Limiter,
    /// Cache lifetime of a read-only tool's result when no rule says otherwise.
    pub(crate) result_ttl: Duration,
    /// How long a downstream's lists are trusted before a list request refreshes them.
    pub(crate) list_ttl: Duration,
    /// Identifies this gateway process in correlation ids and private cache scopes (gateways sharing a Redis
    /// must not share a client's private entries).
    pub(crate) instance: String,
    next_correlation: AtomicU64,
    /// Per canonical tool, what every call of it shares: the metrics handle (series resolved once) and the
    /// standard cache tags.
    tools: RwLock<HashMap<Arc<str>, Arc<ToolInfo>>>,
    /// Calls to names the routing table does not know.
    unknown: Arc<ToolMetrics>,
    /// Identical cacheable calls in flight: the leader's key → the followers waiting for its answer.
    inflight: Mutex<HashMap<CacheKey, Vec<ClientReply>, crate::cache::key::KeyHashing>>,
    /// The gateway's own error series (cache backend failures).
    gateway_metrics: crate::telemetry::ServerMetrics,
}

impl Services {
    pub(crate) fn new(
        metrics: Arc<Metrics>,
        evidence: EvidenceHandle,
        cache: Option<Cache>,
        limiter: Limiter,
        cfg: &crate::config::CacheConfig,
    ) -> Services {
        let instance = instance_id();
        metrics.track_evidence_dropped(evidence.dropped_counter());
        metrics.set_cache_backend_up(cache.as_ref().is_some_and(|c| c.health().is_ok()));
        Services {
            unknown: Arc::new(metrics.unknown_tool()),
            gateway_metrics: metrics.gateway(),
            metrics,
            evidence,
            cache,
            limiter,
            result_ttl: cfg.result_ttl,
            list_ttl: cfg.list_ttl,
            instance,
            next_correlation: AtomicU64::new(1),
            tools: RwLock::new(HashMap::new()),
            inflight: Mutex::new(HashMap::default()),
        }
    }

    /// Embedded backends, no evidence: for the CLI's one-off commands and tests.
    pub fn embedded() -> Services {
        let cfg = crate::config::CacheConfig::default();
        let cache = Cache::Memory(crate::cache::MemoryCache::new(cfg.settings.memory));
        let limiter = Limiter::Memory(crate::ratelimit::MemoryLimiter::new());
        Services::new(Arc::new(Metrics::new()), EvidenceHandle::disabled(), Some(cache), limiter, &cfg)
    }

    /// A fresh correlation id.
    pub(crate) fn correlation(&self) -> Correlation {
        Correlation(self.next_correlation.fetch_add(1, Ordering::Relaxed))
    }

    /// The metrics handle of a canonical tool (`None`: a name nobody lists).
    pub(crate) fn tool_metrics(&self, canonical: Option<&Arc<str>>) -> Arc<ToolMetrics> {
        match canonical {
            Some(canonical) => self.tool_info(canonical).metrics.clone(),
            None => self.unknown.clone(),
        }
    }

    /// What calls of `canonical` share, made on its first call.
    pub(crate) fn tool_info(&self, canonical: &Arc<str>) -> Arc<ToolInfo> {
        if let Some(info) = self.tools.read().unwrap_or_else(|p| p.into_inner()).get(canonical) {
            return info.clone();
        }
        let mut parts = canonical.splitn(3, '.');
        let (ns, server, tool) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        let labels = ToolLabels::new(&ServerLabels::new(ns, server), tool);
        let info = Arc::new(ToolInfo {
            metrics: Arc::new(self.metrics.tool(labels)),
            tags: crate::cache::standard_tags(canonical).into(),
        });
        let mut map = self.tools.write().unwrap_or_else(|p| p.into_inner());
        // Bounded by the tools servers list; a server that renames tools forever would grow it, so start over.
        if map.len() > 100_000 {
            map.clear();
        }
        map.entry(canonical.clone()).or_insert(info).clone()
    }

    /// Starts the log of one client call of `tool` (whose shared part, [`Services::tool_info`], is `info`).
    pub(crate) fn start_call(self: &Arc<Self>, info: &ToolInfo, tool: &Arc<str>, server: &Arc<str>) -> CallLog {
        let metrics = info.metrics.clone();
        CallLog {
            services: self.clone(),
            timer: Some(metrics.start()),
            metrics,
            correlation: self.correlation(),
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

    /// Drops every cache entry with `tag` (a server's list changed, a writer succeeded, an operator asked).
    /// Embedded: at once; Redis: on a task. Failures are logged and counted: the entries then expire by TTL.
    pub(crate) fn invalidate_tag(self: &Arc<Self>, tag: String) {
        match &self.cache {
            None => {}
            Some(Cache::Memory(m)) => {
                let n = m.invalidate_tag_now(&tag);
                tracing::debug!(%tag, entries = n, "cache entries invalidated");
            }
            Some(Cache::Redis(_)) => {
                let me = self.clone();
                tokio::spawn(async move {
                    let _ = me.invalidate_tag_now(&tag).await;
                });
            }
        }
    }

    /// Drops every cache entry with `tag` and says how many went.
    pub(crate) async fn invalidate_tag_now(&self, tag: &str) -> Result<u64, crate::cache::CacheError> {
        let Some(cache) = &self.cache else { return Ok(0) };
        match cache.invalidate_tag(tag).await {
            Ok(n) => {
                tracing::debug!(%tag, entries = n, "cache entries invalidated");
                Ok(n)
            }
            Err(e) => {
                self.cache_failed(&e);
                Err(e)
            }
        }
    }

    /// A cache backend error: the call goes on without the cache; the error is counted and health follows.
    fn cache_failed(&self, e: &crate::cache::CacheError) {
        if matches!(e, crate::cache::CacheError::TooLarge { .. }) {
            return;
        }
        tracing::warn!(error = %e, "cache backend failed; going on without it");
        self.gateway_metrics.record_error(ErrorKind::Cache);
        self.metrics.set_cache_backend_up(false);
    }

    /// Cache and rate-limit backends as `/healthz` reports them. A Redis connection that reports trouble is
    /// pinged first (bounded by its operation timeout), so health recovers without waiting for call traffic.
    pub(crate) async fn backend_health(&self) -> crate::ops::health::CacheHealth {
        use crate::ops::health::{CacheHealth, CacheState};
        let Some(cache) = &self.cache else { return CacheHealth::disabled() };
        if let Cache::Redis(r) = cache {
            if !r.conn().health().is_ok() {
                let _ = r.conn().ping().await;
            }
        }
        if let Limiter::Redis(l) = &self.limiter {
            if !l.redis().conn().health().is_ok() {
                let _ = l.redis().conn().ping().await;
            }
        }
        let (cache_health, limiter_health) = (cache.health(), self.limiter.health());
        self.metrics.set_cache_backend_up(cache_health.is_ok());
        let detail = match (&cache_health, &limiter_health) {
            (BackendHealth::Ok, BackendHealth::Ok) => None,
            (BackendHealth::Degraded(r), _) => Some(r.clone()),
            (_, BackendHealth::Degraded(r)) => Some(format!("rate limits: {r}")),
        };
        CacheHealth {
            backend: cache.backend_name().to_owned(),
            state: if detail.is_none() { CacheState::Up } else { CacheState::Down },
            detail,
        }
    }
}

/// What every call of one tool shares.
pub(crate) struct ToolInfo {
    pub(crate) metrics: Arc<ToolMetrics>,
    /// `ns:…`, `server:…`, `tool:…` (see [`crate::cache::standard_tags`]).
    pub(crate) tags: Arc<[String]>,
}

/// A short id for this process: pid and start time, so that two gateways on one host differ.
fn instance_id() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    format!("{:x}{:06x}", std::process::id(), (nanos as u64) & 0xff_ffff)
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
    metrics: Arc<ToolMetrics>,
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
