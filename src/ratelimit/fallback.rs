//! Redis with the embedded limiter behind it: global limits while Redis answers, local ones while it does not.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::{Decision, MemoryLimiter, RateLimitError, RateLimiter, RedisLimiter};
use crate::kv::BackendHealth;

/// The limiter a gateway with Redis uses; cheap to clone.
///
/// A Redis failure costs a call at most the connection's operation timeout (and nothing while the connection
/// is known to be down: those checks fail at once), after which the local log decides. Local limits are per
/// gateway, so N gateways allow up to N × limit while Redis is away; that is the price of not failing calls.
#[derive(Clone)]
pub struct FallbackLimiter {
    /// The global limiter, asked first.
    redis: RedisLimiter,
    /// Decides while Redis is unavailable; also shadows Redis's decisions (see [`check`](RateLimiter::check)).
    local: MemoryLimiter,
    /// Checks decided locally because Redis failed, for metrics.
    fallbacks: Arc<AtomicU64>,
}

impl FallbackLimiter {
    pub fn new(redis: RedisLimiter) -> Self {
        Self::with_local(redis, MemoryLimiter::new())
    }

    pub(crate) fn with_local(redis: RedisLimiter, local: MemoryLimiter) -> Self {
        FallbackLimiter { redis, local, fallbacks: Arc::new(AtomicU64::new(0)) }
    }

    /// Checks decided locally since start.
    pub fn fallback_count(&self) -> u64 {
        self.fallbacks.load(Ordering::Relaxed)
    }

    pub(crate) fn redis(&self) -> &RedisLimiter {
        &self.redis
    }
}

impl RateLimiter for FallbackLimiter {
    /// Redis decides; a call it allows is also logged locally (if it fits the local limit), so that when Redis
    /// goes away this gateway keeps counting from its own recent calls rather than from zero.
    async fn check(&self, key: &str, limit: u32, window: Duration) -> Result<Decision, RateLimitError> {
        match self.redis.check(key, limit, window).await {
            Ok(decision) => {
                if decision.is_allowed() {
                    let _ = self.local.check_now(key, limit, window);
                }
                Ok(decision)
            }
            Err(RateLimitError::Unavailable(e)) => {
                self.fallbacks.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(error = %e, key, "rate limit decided locally");
                self.local.check_now(key, limit, window)
            }
            Err(e) => Err(e),
        }
    }

    fn health(&self) -> BackendHealth {
        match self.redis.health() {
            BackendHealth::Ok => BackendHealth::Ok,
            BackendHealth::Degraded(reason) => {
                BackendHealth::Degraded(format!("{reason}; rate limits enforced per gateway until Redis is back"))
            }
        }
    }
}
