//! The result cache: one trait, two backends (embedded memory, the default; Redis, shared by gateways).
//!
//! # Use
//!
//! ```text
//! key  = cache_key("tools/call", canonical_tool, arguments, scope)     // scope: "public" | "client:<id>"
//! hit  = cache.get(&key).await                                         // Err => bypass (count the error)
//! miss → identical calls in flight are coalesced by the caller (see crate::dispatch::admit)
//!      → cache.put(&key, result_bytes, ttl, &tags).await               // tags: standard_tags(tool) + rule tags
//! writer succeeded / list_changed / resources/updated → cache.invalidate_tag(tag)
//! ```
//!
//! Values are opaque bytes: the exact `result` JSON the downstream sent, served again without re-serialising.
//! Every error of a backend means "no cache this time", never "fail the call"; [`CacheBackend::health`] says
//! whether the cache is currently being bypassed, and why.
//!
//! # Layout
//!
//! - [`key`]: the digest of (kind, target, canonical arguments, scope).
//! - [`memory`]: the embedded cache (CLOCK eviction), bounded by entries and bytes.
//! - [`redis`]: the Redis backend (tag sets, Lua scripts, timeouts through [`crate::kv`]).

pub(crate) mod key;
pub(crate) mod memory;
pub(crate) mod redis;

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;

pub(crate) use self::key::cache_key_scoped;
pub use self::key::{cache_key, CacheKey};
pub use self::memory::{MemoryCache, MemoryLimits};
pub use self::redis::RedisCache;
pub(crate) use crate::kv::{BackendHealth, BackendKind};
use crate::kv::{KvError, RedisOptions};

/// Why the cache did not answer; the call goes on without it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CacheError {
    /// The backend is down, slow or misbehaving; bypass the cache for this call (and count it).
    #[error("cache bypassed: {0}")]
    Unavailable(#[from] KvError),
    /// The value is over the configured `max_entry_bytes`; not cached, and nothing is wrong.
    #[error("result of {size} bytes not cached: larger than the {max}-byte limit per entry")]
    TooLarge { size: usize, max: usize },
    /// The cache cannot be built from this configuration (startup only).
    #[error("cache configuration: {0}")]
    Config(String),
}

/// What every cache backend does. Implemented by [`MemoryCache`], [`RedisCache`] and [`Cache`] (either).
///
/// Methods are `async` so the Redis backend can do I/O; the embedded one never awaits.
pub trait CacheBackend: Send + Sync {
    /// The value stored under `key`, if present and not expired.
    fn get(&self, key: &CacheKey) -> impl Future<Output = Result<Option<Bytes>, CacheError>> + Send;

    /// Stores `value` under `key` for `ttl`, replacing what was there, indexed under each of `tags`.
    fn put(
        &self,
        key: &CacheKey,
        value: Bytes,
        ttl: Duration,
        tags: &[String],
    ) -> impl Future<Output = Result<(), CacheError>> + Send;

    /// Drops one entry; whether it was there.
    fn remove(&self, key: &CacheKey) -> impl Future<Output = Result<bool, CacheError>> + Send;

    /// Drops every entry carrying `tag`; how many live entries went.
    fn invalidate_tag(&self, tag: &str) -> impl Future<Output = Result<u64, CacheError>> + Send;

    /// Drops every entry of this cache; how many went.
    fn invalidate_all(&self) -> impl Future<Output = Result<u64, CacheError>> + Send;

    /// `Ok`, or `Degraded` with the reason while the cache is being bypassed. No I/O.
    fn health(&self) -> BackendHealth;
}

/// The tag of every entry of a namespace: `ns:<namespace>`.
pub(crate) fn namespace_tag(namespace: &str) -> String {
    format!("ns:{namespace}")
}

/// The tag of every entry of one server: `server:<namespace>.<server>`; invalidated when it reports
/// `list_changed` or restarts with a different catalog.
pub(crate) fn server_tag(namespace: &str, server: &str) -> String {
    format!("server:{namespace}.{server}")
}

/// The tag of every entry of one tool: `tool:<canonical name>`.
pub(crate) fn tool_tag(canonical_tool: &str) -> String {
    format!("tool:{canonical_tool}")
}

/// Namespace, server and tool tags of a canonical `<namespace>.<server>.<tool>` name; rule tags are added to
/// these as written (unprefixed), so `dfs-gateway cache invalidate --tag slate` names a rule's tag directly.
pub(crate) fn standard_tags(canonical_tool: &str) -> Vec<String> {
    let mut parts = canonical_tool.splitn(3, '.');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(ns), Some(server), Some(_)) => {
            vec![namespace_tag(ns), server_tag(ns, server), tool_tag(canonical_tool)]
        }
        _ => vec![tool_tag(canonical_tool)],
    }
}

/// The typed `[cache]` configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CacheSettings {
    /// `backend = "memory" | "redis"`; memory by default.
    pub(crate) backend: BackendKind,
    /// Bounds of the memory backend; `max_entry_bytes` applies to Redis as well.
    pub(crate) memory: MemoryLimits,
    /// Where Redis is and its timeouts; required when `backend` is Redis (from `REDIS_URL`).
    pub(crate) redis: Option<RedisOptions>,
    /// Prefix of every Redis key of the cache; `dfs-gateway:cache` by default.
    pub(crate) key_prefix: String,
}

impl Default for CacheSettings {
    fn default() -> Self {
        CacheSettings {
            backend: BackendKind::Memory,
            memory: MemoryLimits::default(),
            redis: None,
            key_prefix: redis::DEFAULT_PREFIX.to_string(),
        }
    }
}

/// The cache the gateway holds: either backend behind one type; cheap to clone.
#[derive(Clone)]
pub(crate) enum Cache {
    Memory(MemoryCache),
    Redis(RedisCache),
}

impl Cache {
    /// Builds the configured backend. A Redis that is down is not an error (the cache starts degraded and
    /// heals); a missing or malformed URL is.
    pub(crate) async fn build(settings: &CacheSettings) -> Result<Cache, CacheError> {
        match settings.backend {
            BackendKind::Memory => Ok(Cache::Memory(MemoryCache::new(settings.memory))),
            BackendKind::Redis => {
                let opts = settings.redis.as_ref().ok_or_else(|| {
                    CacheError::Config("backend = \"redis\" needs REDIS_URL (or [cache] redis_url)".into())
                })?;
                let cache = RedisCache::connect(opts, settings.key_prefix.clone(), settings.memory.max_entry_bytes)
                    .await
                    .map_err(|e| CacheError::Config(e.to_string()))?;
                Ok(Cache::Redis(cache))
            }
        }
    }

    /// `"memory"` or `"redis"`, for metrics labels and `/healthz`.
    pub(crate) fn backend_name(&self) -> &'static str {
        match self {
            Cache::Memory(_) => "memory",
            Cache::Redis(_) => "redis",
        }
    }
}

impl CacheBackend for Cache {
    async fn get(&self, key: &CacheKey) -> Result<Option<Bytes>, CacheError> {
        match self {
            Cache::Memory(c) => c.get(key).await,
            Cache::Redis(c) => c.get(key).await,
        }
    }

    async fn put(&self, key: &CacheKey, value: Bytes, ttl: Duration, tags: &[String]) -> Result<(), CacheError> {
        match self {
            Cache::Memory(c) => c.put(key, value, ttl, tags).await,
            Cache::Redis(c) => c.put(key, value, ttl, tags).await,
        }
    }

    async fn remove(&self, key: &CacheKey) -> Result<bool, CacheError> {
        match self {
            Cache::Memory(c) => c.remove(key).await,
            Cache::Redis(c) => c.remove(key).await,
        }
    }

    async fn invalidate_tag(&self, tag: &str) -> Result<u64, CacheError> {
        match self {
            Cache::Memory(c) => c.invalidate_tag(tag).await,
            Cache::Redis(c) => c.invalidate_tag(tag).await,
        }
    }

    async fn invalidate_all(&self) -> Result<u64, CacheError> {
        match self {
            Cache::Memory(c) => c.invalidate_all().await,
            Cache::Redis(c) => c.invalidate_all().await,
        }
    }

    fn health(&self) -> BackendHealth {
        match self {
            Cache::Memory(c) => c.health(),
            Cache::Redis(c) => c.health(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_tags_name_namespace_server_and_tool() {
        assert_eq!(standard_tags("app.optimize.lineup"), ["ns:app", "server:app.optimize", "tool:app.optimize.lineup"]);
        assert_eq!(standard_tags("ext.fs.read.file")[1], "server:ext.fs");
        assert_eq!(standard_tags("odd"), ["tool:odd"]);
    }

    #[tokio::test]
    async fn builds_memory_by_default_and_refuses_redis_without_a_url() {
        let cache = Cache::build(&CacheSettings::default()).await.unwrap();
        assert_eq!(cache.backend_name(), "memory");
        assert!(cache.health().is_ok());
        let settings = CacheSettings { backend: BackendKind::Redis, ..Default::default() };
        let err = Cache::build(&settings).await.err().expect("no URL");
        assert!(err.to_string().contains("REDIS_URL"), "{err}");
    }
}
