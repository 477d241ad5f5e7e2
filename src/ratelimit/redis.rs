//! The Redis limiter: one sliding log per key, shared by every gateway on the Redis.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use fred::types::Value;

use super::{validate, Decision, RateLimitError, RateLimiter};
use crate::kv::{BackendHealth, LuaScript, RedisConn};

/// `dfs-gateway:rl`, the default key prefix.
pub(crate) const DEFAULT_PREFIX: &str = "dfs-gateway:rl";

/// KEYS[1]: the log. ARGV[1]: limit; ARGV[2]: window in µs; ARGV[3]: a member name unique to this check.
/// Returns `{1, remaining}` or `{0, retry after in µs}`.
///
/// Time is Redis's own (`TIME`), so gateways with skewed clocks still share one window. Members need unique
/// names because two calls in the same microsecond would otherwise be one set member and count once.
const CHECK: &str = r#"
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local used = redis.call('ZCARD', KEYS[1])
if used < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000))
  return {1, limit - used - 1}
end
local edge = redis.call('ZRANGE', KEYS[1], used - limit, used - limit, 'WITHSCORES')
return {0, tonumber(edge[2]) + window - now}
"#;

/// The Redis limiter; cheap to clone. Alone it reports Redis failures as errors; wrap it in a
/// [`FallbackLimiter`](super::FallbackLimiter) to keep deciding while Redis is away.
#[derive(Clone, Debug)]
pub struct RedisLimiter {
    /// The shared, self-healing connection.
    conn: RedisConn,
    /// Parts shared by clones.
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// Namespace of the limiter's keys in Redis.
    prefix: String,
    /// Random per limiter, so members written by different gateways never collide.
    instance: u64,
    /// Makes each member of this limiter unique.
    seq: AtomicU64,
    /// The check script.
    script: LuaScript,
}

impl RedisLimiter {
    pub fn new(conn: RedisConn, prefix: impl Into<String>) -> Self {
        // `RandomState` is seeded randomly per process and per instance: a random id without a `rand` dependency.
        let instance = std::hash::RandomState::new().build_hasher().finish();
        let inner = Inner { prefix: prefix.into(), instance, seq: AtomicU64::new(0), script: LuaScript::new(CHECK) };
        RedisLimiter { conn, inner: Arc::new(inner) }
    }

    pub(crate) fn conn(&self) -> &RedisConn {
        &self.conn
    }
}

impl RateLimiter for RedisLimiter {
    async fn check(&self, key: &str, limit: u32, window: Duration) -> Result<Decision, RateLimitError> {
        validate(limit, window)?;
        let window_us = i64::try_from(window.as_micros()).unwrap_or(i64::MAX).max(1);
        let member = format!("{:016x}:{}", self.inner.instance, self.inner.seq.fetch_add(1, Ordering::Relaxed));
        let args = vec![Value::Integer(i64::from(limit)), Value::Integer(window_us), Value::from(member)];
        let keys = vec![format!("{}:{}", self.inner.prefix, key)];
        let reply: Vec<i64> = self.conn.eval(&self.inner.script, keys, args).await?;
        match reply.as_slice() {
            [1, remaining] => Ok(Decision::Allowed { remaining: u32::try_from(*remaining).unwrap_or(0) }),
            [0, retry_us] => Ok(Decision::Limited {
                retry_after: Duration::from_micros(u64::try_from(*retry_us).unwrap_or(0).max(1)),
                limit,
                window,
            }),
            other => Err(RateLimitError::BadReply(format!("{other:?}"))),
        }
    }

    fn health(&self) -> BackendHealth {
        self.conn.health()
    }
}
