//! Admission of a tool call that policy allowed: its rate limit, its cache lookup, and coalescing with an
//! identical call in flight; then the hand-over to the server (its lane, or its actor). Also the other end of the cache: storing
//! a result and answering the followers of a leader.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::call::{Call, ClientReply};
use super::record::{Answer, Correlation, Store};
use super::server::ServerHandle;
use super::Services;
use crate::cache::{Cache, CacheBackend, CacheKey};
use crate::protocol::{self, code};
use crate::ratelimit::{Decision, Limiter, RateLimiter};
use crate::transport::DownstreamError;

/// A policy rate limit to check before the call goes anywhere.
pub(crate) struct LimitPlan {
    /// The budget's key (see [`crate::ratelimit::limit_key`]).
    pub(crate) key: String,
    pub(crate) limit: u32,
    pub(crate) window: Duration,
    /// What the client is told was limited (`app.optimize.lineup`, `namespace ext`).
    pub(crate) what: String,
}

/// A cacheable call: where its result is looked up and stored.
pub(crate) struct CachePlan {
    pub(crate) key: CacheKey,
    pub(crate) ttl: Duration,
    pub(crate) tags: Arc<[String]>,
    /// Shared by all clients (a rule's `scope = "public"`); a result the server marks private is then not stored.
    pub(crate) public: bool,
}

/// What admission does besides handing the call over.
#[derive(Default)]
pub(crate) struct Plan {
    pub(crate) limit: Option<LimitPlan>,
    pub(crate) cache: Option<CachePlan>,
}

impl Services {
    /// Checks the call's limit and cache, then hands it to `server` (or answers it here). Never waits: with a
    /// Redis backend in the plan, the rest runs on a task.
    pub(crate) fn admit(self: &Arc<Self>, call: Call, server: &ServerHandle, plan: Plan) {
        // `fail_closed`: a call whose record cannot be written is not made (its refusal is still recorded, and
        // that record is what finds out that writing works again).
        if self.evidence.refuses() {
            return call.reply_fail(&DownstreamError::Unrecordable { server: server.label().to_string() });
        }
        let remote_limit = plan.limit.is_some() && matches!(self.limiter, Limiter::Redis(_));
        let remote_cache = plan.cache.is_some() && matches!(self.cache, Some(Cache::Redis(_)));
        if !remote_limit && !remote_cache {
            return self.admit_now(call, server, plan);
        }
        // Only the Redis path pays for owning copies: the embedded one hands the call over on this task.
        let (me, server) = (self.clone(), server.clone());
        tokio::spawn(async move {
            let Plan { limit, cache } = plan;
            let call = match limit {
                Some(limit) => {
                    let decision = me.limiter.check(&limit.key, limit.limit, limit.window).await;
                    let Some(call) = me.after_limit(call, &limit, decision) else { return };
                    call
                }
                None => call,
            };
            me.after_limit_checked(call, &server, cache).await
        });
    }

    fn admit_now(self: &Arc<Self>, call: Call, server: &ServerHandle, plan: Plan) {
        let mut call = call;
        if let Some(limit) = &plan.limit {
            let decision = match &self.limiter {
                Limiter::Memory(m) => m.check_now(&limit.key, limit.limit, limit.window),
                Limiter::Redis(_) => unreachable!("admit sends Redis limits to a task"),
            };
            match self.after_limit(call, limit, decision) {
                Some(c) => call = c,
                None => return,
            }
        }
        if let Some(plan) = plan.cache {
            let hit = match &self.cache {
                Some(Cache::Memory(m)) => m.get_now(&plan.key),
                _ => None,
            };
            match hit {
                Some(hit) => return serve_hit(call.reply, &hit),
                None => match self.lead_or_follow(call, plan, true) {
                    Some(c) => call = c,
                    None => return,
                },
            }
        }
        server.call(call);
    }

    async fn after_limit_checked(self: &Arc<Self>, call: Call, server: &ServerHandle, plan: Option<CachePlan>) {
        let mut call = call;
        if let Some(plan) = plan {
            let cache = self.cache.as_ref().expect("a cache plan is made only with a cache");
            match cache.get(&plan.key).await {
                Ok(Some(hit)) => return serve_hit(call.reply, &hit),
                Ok(None) => match self.lead_or_follow(call, plan, true) {
                    Some(c) => call = c,
                    None => return,
                },
                // Bypass: the call goes on uncached (and does not try to store into a backend that just failed).
                Err(e) => {
                    self.cache_failed(&e);
                    match self.lead_or_follow(call, plan, false) {
                        Some(c) => call = c,
                        None => return,
                    }
                }
            }
        }
        server.call(call);
    }

    /// The call when its limit allows it; otherwise it is answered with the refusal here.
    fn after_limit(
        &self,
        mut call: Call,
        limit: &LimitPlan,
        decision: Result<Decision, crate::ratelimit::RateLimitError>,
    ) -> Option<Call> {
        let decision = match decision {
            Ok(d) => d,
            Err(e) => {
                // Only a broken limit gets here (Redis trouble is handled by the fallback limiter): let it pass.
                tracing::warn!(error = %e, key = %limit.key, "rate limit could not be checked; the call goes on");
                return Some(call);
            }
        };
        let Decision::Limited { retry_after, limit: count, window } = decision else { return Some(call) };
        let message = decision.rejection_message(&limit.what).unwrap_or_default();
        let reply = &mut call.reply;
        if let Some(log) = reply.log.as_mut() {
            log.decision = "rate_limited";
            log.metrics.record_rate_limited();
        }
        let data = serde_json::json!({
            "gateway": true, "limited": limit.what, "limit": count, "windowMs": window.as_millis() as u64,
            "retryAfterMs": retry_after.as_millis() as u64,
        });
        let frame = protocol::error_frame(&reply.id, code::RATE_LIMITED, &message, Some(data));
        call.reply.deliver(frame, Answer::RateLimited(&message));
        None
    }

    /// Registers the call as the leader of its key (it goes on, and stores its result when `store`), or as a
    /// follower of an identical call in flight (`None`: it is answered when the leader is).
    fn lead_or_follow(&self, mut call: Call, plan: CachePlan, store: bool) -> Option<Call> {
        if let Some(log) = call.reply.log.as_ref() {
            log.metrics.record_cache_lookup(false);
        }
        let mut inflight = self.inflight.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(followers) = inflight.get_mut(&plan.key) {
            followers.push(call.reply);
            return None;
        }
        inflight.insert(plan.key, Vec::new());
        drop(inflight);
        if let Some(log) = call.reply.log.as_mut() {
            let (ttl, tags) = if store { (plan.ttl, plan.tags) } else { (Duration::ZERO, Arc::from([])) };
            log.store = Some(Store { key: plan.key, ttl, tags, public: plan.public });
        }
        Some(call)
    }

    /// Stores a leader's result (the downstream's `result` bytes), honouring the server's own cache hints.
    pub(super) fn store(
        self: &Arc<Self>,
        key: CacheKey,
        result: &[u8],
        ttl: Duration,
        tags: Arc<[String]>,
        public: bool,
    ) {
        if ttl.is_zero() {
            return;
        }
        let Some(ttl) = server_ttl(result, ttl, public) else { return };
        let value = Bytes::copy_from_slice(result);
        match &self.cache {
            None => {}
            Some(Cache::Memory(m)) => {
                if let Err(e) = m.put_shared(&key, value, ttl, tags) {
                    tracing::debug!(error = %e, "result not cached");
                }
            }
            Some(cache @ Cache::Redis(_)) => {
                let (cache, me) = (cache.clone(), self.clone());
                tokio::spawn(async move {
                    if let Err(e) = cache.put(&key, value, ttl, &tags).await {
                        me.cache_failed(&e);
                    }
                });
            }
        }
    }
}

/// The lifetime to store a result for: the rule's (or default) `ttl`, shortened by the server's `ttlMs`; `None`
/// when the server says not to keep it (`ttlMs: 0`) or marks a result private that would be shared.
fn server_ttl(result: &[u8], ttl: Duration, public: bool) -> Option<Duration> {
    if crate::find_bytes!(result, b"\"ttlMs\"").is_none() && crate::find_bytes!(result, b"\"cacheScope\"").is_none() {
        return Some(ttl);
    }
    #[derive(serde::Deserialize)]
    struct Hints {
        #[serde(rename = "ttlMs")]
        ttl_ms: Option<u64>,
        #[serde(rename = "cacheScope")]
        cache_scope: Option<String>,
    }
    let hints: Hints = serde_json::from_slice(result).ok()?;
    if public && hints.cache_scope.as_deref() == Some("private") {
        return None;
    }
    match hints.ttl_ms {
        Some(0) => None,
        Some(ms) => Some(ttl.min(Duration::from_millis(ms))),
        None => Some(ttl),
    }
}

fn serve_hit(reply: ClientReply, hit: &Bytes) {
    let frame = reply.result_frame(hit);
    reply.deliver(frame, Answer::CacheHit(hit));
}

/// Answers the calls coalesced with a leader, each under its own id, with the leader's answer.
pub(super) fn answer_followers(
    services: &Services,
    key: &CacheKey,
    leader: &ClientReply,
    correlation: Correlation,
    answer: Answer<'_>,
) {
    let followers = services.inflight.lock().unwrap_or_else(|p| p.into_inner()).remove(key).unwrap_or_default();
    for mut f in followers {
        f.answered_by = leader.answered_by.clone();
        if let Some(log) = f.log.as_mut() {
            log.coalesced_with = Some(correlation);
        }
        let frame = match answer {
            Answer::Result(r) => f.result_frame(r.get().as_bytes()),
            Answer::CacheHit(r) => f.result_frame(r),
            Answer::Error(e) => protocol::raw_error_frame(&f.id, e),
            Answer::Failure(e) => e.to_frame_for(&f.id, f.client.sees_stderr),
            Answer::RateLimited(m) => protocol::error_frame(&f.id, code::RATE_LIMITED, m, None),
        };
        f.deliver(frame, answer);
    }
}

/// Fails the calls coalesced with a leader that will never answer.
pub(super) fn fail_followers(services: &Services, key: &CacheKey, err: &DownstreamError) {
    let followers = services.inflight.lock().unwrap_or_else(|p| p.into_inner()).remove(key).unwrap_or_default();
    for f in followers {
        f.fail(err);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_hints_shorten_or_forbid_storing() {
        let five = Duration::from_secs(300);
        assert_eq!(server_ttl(br#"{"content":[]}"#, five, true), Some(five));
        assert_eq!(server_ttl(br#"{"content":[],"ttlMs":2000}"#, five, true), Some(Duration::from_secs(2)));
        assert_eq!(server_ttl(br#"{"content":[],"ttlMs":900000}"#, five, false), Some(five));
        assert_eq!(server_ttl(br#"{"content":[],"ttlMs":0}"#, five, false), None);
        assert_eq!(server_ttl(br#"{"content":[],"cacheScope":"private"}"#, five, true), None);
        assert_eq!(server_ttl(br#"{"content":[],"cacheScope":"private"}"#, five, false), Some(five));
    }
}
