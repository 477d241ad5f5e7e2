//! Rate limiting: at most `limit` calls per sliding `window`, per key, embedded or on Redis.
//!
//! # Algorithm: a sliding log
//!
//! Each key keeps the times of the calls it allowed within the last window; a call is allowed while fewer than
//! `limit` remain. This is exact: no window of length `window`, wherever it starts, ever holds more than
//! `limit` allowed calls, and `retry_after` is the moment the oldest counted call leaves the window, not an
//! estimate. The two-window approximation (weighting the previous fixed window's count) needs O(1) memory
//! instead of O(limit) but admits up to ~2× bursts at window edges in the worst case and can only guess when
//! to retry; the gateway's limits are policy limits on tools (tens to thousands of calls per window), where a
//! log of that length costs little and the operator gets exactly the number they wrote. Refused calls are not
//! recorded, so a client hammering a limited tool does not extend its own lockout.
//!
//! On Redis the log is a sorted set scored by Redis server time, checked and appended by one Lua script
//! (`EVALSHA`), so gateways on one Redis share one exact limit and their clocks do not need to agree.
//!
//! # Redis down
//!
//! [`FallbackLimiter`] asks Redis and, when Redis does not answer within its short timeout, decides with an
//! embedded limiter instead: limits stay enforced, per gateway, and health says `degraded` until Redis answers
//! again. While Redis is healthy, calls it allows are also recorded locally, so a gateway that loses Redis
//! does not start from an empty log.
//!
//! # Layout
//!
//! - [`memory`]: the embedded sliding log.
//! - [`redis`]: the Redis script.
//! - [`fallback`]: Redis with the embedded limiter behind it.

pub(crate) mod fallback;
pub(crate) mod memory;
pub(crate) mod redis;

use std::fmt;
use std::future::Future;
use std::time::Duration;

pub use self::fallback::FallbackLimiter;
pub use self::memory::MemoryLimiter;
pub use self::redis::RedisLimiter;
pub(crate) use crate::kv::{BackendHealth, BackendKind};
use crate::kv::{KvError, RedisConn, RedisOptions};

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Go ahead; `remaining` more calls fit in the window right now.
    Allowed { remaining: u32 },
    /// Refused: `limit` calls per `window` are used up; one more fits after `retry_after`.
    Limited { retry_after: Duration, limit: u32, window: Duration },
}

impl Decision {
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allowed { .. })
    }

    /// For a refusal, the message the client gets, naming what was limited, the limit and when to retry:
    /// `rate limit for app.optimize.lineup exceeded: at most 10 calls per 1m; retry in 12.345s`.
    pub(crate) fn rejection_message(&self, what: &str) -> Option<String> {
        match *self {
            Decision::Allowed { .. } => None,
            Decision::Limited { retry_after, limit, window } => Some(format!(
                "rate limit for {what} exceeded: at most {limit} call{} per {}; retry in {}",
                if limit == 1 { "" } else { "s" },
                humantime::format_duration(window),
                humantime::format_duration(round_up_to_ms(retry_after)),
            )),
        }
    }
}

/// Why no decision could be made.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RateLimitError {
    /// Redis did not answer in time or is down (the [`FallbackLimiter`] decides locally instead).
    #[error("rate limiter unavailable: {0}")]
    Unavailable(#[from] KvError),
    /// A zero count or window; policy validation rejects these, so seeing one is a bug in the caller.
    #[error("invalid rate limit: {limit} calls per {window:?} (both must be above zero)")]
    InvalidLimit { limit: u32, window: Duration },
    /// Redis answered the script with something it never returns; the script and the code disagree.
    #[error("rate limiter got an unexpected reply from Redis: {0}")]
    BadReply(String),
}

/// What every limiter does. Implemented by [`MemoryLimiter`], [`RedisLimiter`], [`FallbackLimiter`] and
/// [`Limiter`] (the configured one).
pub trait RateLimiter: Send + Sync {
    /// Counts a call against `key` if fewer than `limit` were allowed in the last `window`.
    fn check(
        &self,
        key: &str,
        limit: u32,
        window: Duration,
    ) -> impl Future<Output = Result<Decision, RateLimitError>> + Send;

    /// `Ok`, or `Degraded` with the reason (e.g. enforcing locally while Redis is down). No I/O.
    fn health(&self) -> BackendHealth;
}

/// What one rate-limit budget is shared by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum RateScope {
    /// One budget per canonical tool, shared by all clients.
    Tool,
    /// One budget per namespace (`app` / `ext`) for all tools the rule matches.
    Namespace,
    /// One budget per tool per client identity, so one busy client cannot starve the others.
    Client,
}

/// The key of a policy rule's budget: one per rule and scope, so two rules never share a count.
///
/// - `Tool`: `<rule>|tool|<canonical tool>`, shared by all clients.
/// - `Namespace`: `<rule>|ns|<namespace>`, shared by every tool of the namespace the rule matches.
/// - `Client`: `<rule>|client|<identity>|<canonical tool>`, one per client and tool.
pub(crate) fn limit_key(rule: &str, scope: RateScope, canonical_tool: &str, client: &str) -> String {
    match scope {
        RateScope::Tool => format!("{rule}|tool|{canonical_tool}"),
        RateScope::Namespace => {
            let namespace = canonical_tool.split('.').next().unwrap_or(canonical_tool);
            format!("{rule}|ns|{namespace}")
        }
        RateScope::Client => format!("{rule}|client|{client}|{canonical_tool}"),
    }
}

/// The typed `[rate_limit]` configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RateLimitSettings {
    /// `backend = "memory" | "redis"`; memory by default. With Redis, limits are global across gateways.
    pub(crate) backend: BackendKind,
    /// Where Redis is and its timeouts; required when `backend` is Redis (from `REDIS_URL`).
    pub(crate) redis: Option<RedisOptions>,
    /// Prefix of every Redis key of the limiter; `dfs-gateway:rl` by default.
    pub(crate) key_prefix: String,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        RateLimitSettings { backend: BackendKind::Memory, redis: None, key_prefix: redis::DEFAULT_PREFIX.to_string() }
    }
}

/// The limiter the gateway holds: embedded, or Redis with local fallback; cheap to clone.
#[derive(Clone)]
pub(crate) enum Limiter {
    Memory(MemoryLimiter),
    Redis(FallbackLimiter),
}

impl Limiter {
    /// Builds the configured limiter on its own connection; a Redis that is down is not an error.
    pub(crate) async fn build(settings: &RateLimitSettings) -> Result<Limiter, RateLimitError> {
        match settings.backend {
            BackendKind::Memory => Ok(Limiter::Memory(MemoryLimiter::new())),
            BackendKind::Redis => {
                let Some(opts) = settings.redis.as_ref() else {
                    let url = KvError::InvalidUrl { url: String::new(), reason: "REDIS_URL is not set".into() };
                    return Err(RateLimitError::Unavailable(url));
                };
                Ok(Self::on_redis(RedisConn::connect(opts).await?, settings.key_prefix.clone()))
            }
        }
    }

    /// A Redis limiter (with local fallback) on an existing connection, e.g. the one the cache uses.
    pub(crate) fn on_redis(conn: RedisConn, key_prefix: impl Into<String>) -> Limiter {
        Limiter::Redis(FallbackLimiter::new(RedisLimiter::new(conn, key_prefix)))
    }

    /// `"memory"` or `"redis"`, for metrics labels and `/healthz`.
    pub(crate) fn backend_name(&self) -> &'static str {
        match self {
            Limiter::Memory(_) => "memory",
            Limiter::Redis(_) => "redis",
        }
    }
}

impl RateLimiter for Limiter {
    async fn check(&self, key: &str, limit: u32, window: Duration) -> Result<Decision, RateLimitError> {
        match self {
            Limiter::Memory(l) => l.check(key, limit, window).await,
            Limiter::Redis(l) => l.check(key, limit, window).await,
        }
    }

    fn health(&self) -> BackendHealth {
        match self {
            Limiter::Memory(l) => l.health(),
            Limiter::Redis(l) => l.health(),
        }
    }
}

impl fmt::Debug for Limiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Limiter").field(&self.backend_name()).finish()
    }
}

fn validate(limit: u32, window: Duration) -> Result<(), RateLimitError> {
    if limit == 0 || window.is_zero() {
        return Err(RateLimitError::InvalidLimit { limit, window });
    }
    Ok(())
}

/// Whole milliseconds, rounded up, so "retry in" never names a moment at which the call would still be refused.
fn round_up_to_ms(d: Duration) -> Duration {
    Duration::from_millis(u64::try_from(d.as_nanos().div_ceil(1_000_000)).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_separate_rules_scopes_and_clients() {
        let k = |rule, scope, tool, client| limit_key(rule, scope, tool, client);
        assert_eq!(k("r", RateScope::Tool, "app.a.b", "c1"), k("r", RateScope::Tool, "app.a.b", "c2"));
        assert_ne!(k("r", RateScope::Tool, "app.a.b", "c"), k("s", RateScope::Tool, "app.a.b", "c"));
        assert_eq!(k("r", RateScope::Namespace, "app.a.b", "c"), k("r", RateScope::Namespace, "app.x.y", "d"));
        assert_eq!(k("r", RateScope::Namespace, "app.a.b", "c"), "r|ns|app");
        assert_ne!(k("r", RateScope::Client, "app.a.b", "c1"), k("r", RateScope::Client, "app.a.b", "c2"));
        assert_ne!(k("r", RateScope::Client, "app.a.b", "c1"), k("r", RateScope::Client, "app.a.x", "c1"));
    }

    #[test]
    fn a_refusal_names_the_limit_and_when_to_retry() {
        let d = Decision::Limited {
            retry_after: Duration::from_micros(12_344_001),
            limit: 10,
            window: Duration::from_secs(60),
        };
        assert_eq!(
            d.rejection_message("app.optimize.lineup").unwrap(),
            "rate limit for app.optimize.lineup exceeded: at most 10 calls per 1m; retry in 12s 345ms"
        );
        assert_eq!(Decision::Allowed { remaining: 0 }.rejection_message("x"), None);
    }

    #[tokio::test]
    async fn builds_memory_by_default_and_refuses_redis_without_a_url() {
        let limiter = Limiter::build(&RateLimitSettings::default()).await.unwrap();
        assert_eq!(limiter.backend_name(), "memory");
        let settings = RateLimitSettings { backend: BackendKind::Redis, ..Default::default() };
        assert!(Limiter::build(&settings).await.unwrap_err().to_string().contains("REDIS_URL"));
    }
}
