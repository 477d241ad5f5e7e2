//! The Redis cache: entries shared by every gateway on one Redis.
//!
//! # Layout in Redis
//!
//! - `<prefix>:v:<key hex>`: the value bytes, with `PX <ttl>`; Redis expires it.
//! - `<prefix>:t:<tag>`: a sorted set of the value keys carrying the tag, each scored by the time its entry
//!   expires (Redis server time, ms). Writing an entry drops the set's dead members first, so a tag that is
//!   written forever (`ns:app`) holds only live entries instead of growing without end; the set itself expires
//!   with its longest-lived member.
//!
//! A write (value + every tag) and an invalidation (read a tag's members, delete them and the set) are each one
//! Lua script, so an entry written while its tag is being invalidated is either deleted with it or indexed
//! afterwards, never left live and unindexed. The scripts touch keys they cannot declare up front, which is
//! fine on one Redis server and why cluster URLs are refused.
//!
//! An entry whose tags change on overwrite stays a member of its old tags until its old expiry time; an
//! invalidation of an old tag in that window deletes it early, which costs a miss and nothing else.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use fred::interfaces::KeysInterface;
use fred::types::Value;

use super::{CacheBackend, CacheError, CacheKey};
use crate::kv::{BackendHealth, KvError, LuaScript, RedisConn, RedisOptions};

/// KEYS[1]: the value key; KEYS[2..]: the tag sets. ARGV[1]: the value; ARGV[2]: time to live in ms.
const PUT: &str = r#"
local ttl = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl)
for i = 2, #KEYS do
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now)
  redis.call('ZADD', KEYS[i], now + ttl, KEYS[1])
  if redis.call('PTTL', KEYS[i]) < ttl then
    redis.call('PEXPIRE', KEYS[i], ttl)
  end
end
return 1
"#;

/// KEYS[1]: a tag set. Returns how many live entries were deleted.
const INVALIDATE_TAG: &str = r#"
local members = redis.call('ZRANGE', KEYS[1], 0, -1)
local removed = 0
for i = 1, #members, 1000 do
  removed = removed + redis.call('UNLINK', unpack(members, i, math.min(i + 999, #members)))
end
redis.call('DEL', KEYS[1])
return removed
"#;

/// The Redis cache; cheap to clone.
#[derive(Clone, Debug)]
pub struct RedisCache {
    /// The shared, self-healing connection (health and timeouts live there).
    conn: RedisConn,
    /// Parts shared by clones.
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// Namespace of every key this cache writes, so several gateways' deployments (or a test per port) can
    /// share a Redis and `invalidate_all` deletes only this cache's keys.
    prefix: String,
    /// Largest value written; a large write would hold the connection longer than the operation timeout.
    max_entry_bytes: usize,
    /// The write script.
    put: LuaScript,
    /// The tag invalidation script.
    invalidate: LuaScript,
}

/// `dfs-gateway:cache`, the default key prefix.
pub(crate) const DEFAULT_PREFIX: &str = "dfs-gateway:cache";

impl RedisCache {
    pub(crate) fn new(conn: RedisConn, prefix: impl Into<String>, max_entry_bytes: usize) -> Self {
        let inner = Inner {
            prefix: prefix.into(),
            max_entry_bytes,
            put: LuaScript::new(PUT),
            invalidate: LuaScript::new(INVALIDATE_TAG),
        };
        RedisCache { conn, inner: Arc::new(inner) }
    }

    /// A cache on its own connection; see [`RedisConn::connect`] for what happens when Redis is down.
    pub async fn connect(
        opts: &RedisOptions,
        prefix: impl Into<String>,
        max_entry_bytes: usize,
    ) -> Result<Self, KvError> {
        Ok(Self::new(RedisConn::connect(opts).await?, prefix, max_entry_bytes))
    }

    pub fn conn(&self) -> &RedisConn {
        &self.conn
    }

    fn value_key(&self, key: &CacheKey) -> String {
        format!("{}:v:{}", self.inner.prefix, key.to_hex())
    }

    fn tag_key(&self, tag: &str) -> String {
        format!("{}:t:{}", self.inner.prefix, tag)
    }
}

impl CacheBackend for RedisCache {
    async fn get(&self, key: &CacheKey) -> Result<Option<Bytes>, CacheError> {
        let client = self.conn.client();
        let value_key = self.value_key(key);
        Ok(self.conn.run(async move { client.get::<Option<Bytes>, _>(value_key).await }).await?)
    }

    async fn put(&self, key: &CacheKey, value: Bytes, ttl: Duration, tags: &[String]) -> Result<(), CacheError> {
        if value.len() > self.inner.max_entry_bytes {
            return Err(CacheError::TooLarge { size: value.len(), max: self.inner.max_entry_bytes });
        }
        let mut keys = Vec::with_capacity(1 + tags.len());
        keys.push(self.value_key(key));
        keys.extend(tags.iter().map(|t| self.tag_key(t)));
        keys[1..].sort_unstable();
        keys.dedup();
        // PX 0 is an error in Redis; a sub-millisecond TTL is as good as not caching, but harmless.
        let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX).max(1);
        let args = vec![Value::Bytes(value), Value::Integer(ttl_ms)];
        let _: i64 = self.conn.eval(&self.inner.put, keys, args).await?;
        Ok(())
    }

    async fn remove(&self, key: &CacheKey) -> Result<bool, CacheError> {
        let client = self.conn.client();
        let value_key = self.value_key(key);
        let n: i64 = self.conn.run(async move { client.del(value_key).await }).await?;
        Ok(n > 0)
    }

    async fn invalidate_tag(&self, tag: &str) -> Result<u64, CacheError> {
        let n: i64 = self.conn.eval(&self.inner.invalidate, vec![self.tag_key(tag)], Vec::new()).await?;
        Ok(n.max(0) as u64)
    }

    /// Deletes every key under the prefix with `SCAN` + `UNLINK`, page by page (each page its own operation
    /// timeout), so a large cache does not block Redis; entries written meanwhile may survive.
    async fn invalidate_all(&self) -> Result<u64, CacheError> {
        let pattern = format!("{}:*", glob_escape(&self.inner.prefix));
        let value_marker = format!("{}:v:", self.inner.prefix);
        let mut cursor = "0".to_string();
        let mut removed = 0u64;
        loop {
            let client = self.conn.client();
            let (page_pattern, page_cursor) = (pattern.clone(), cursor.clone());
            let (next, keys): (String, Vec<String>) = self
                .conn
                .run(async move { client.scan_page(page_cursor, page_pattern, Some(500), None).await })
                .await?;
            let values = keys.iter().filter(|k| k.starts_with(&value_marker)).count() as u64;
            if !keys.is_empty() {
                let client = self.conn.client();
                let _: i64 = self.conn.run(async move { client.unlink(keys).await }).await?;
                removed += values;
            }
            if next == "0" {
                return Ok(removed);
            }
            cursor = next;
        }
    }

    fn health(&self) -> BackendHealth {
        self.conn.health()
    }
}

/// `s` with Redis glob metacharacters escaped, for a `SCAN MATCH` on a literal prefix.
fn glob_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_glob_metacharacters() {
        assert_eq!(glob_escape("dfs-gateway:cache"), "dfs-gateway:cache");
        assert_eq!(glob_escape("a*b?[c]\\"), "a\\*b\\?\\[c\\]\\\\");
    }
}
