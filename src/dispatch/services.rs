//! The gateway-wide services every call uses, built once by the CLI and shared as `Arc<Services>`: the metrics
//! registry, the evidence handle, the result cache and the coalescing of identical calls in flight, the rate
//! limiter, and correlation ids.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use super::record::{CallLog, Correlation};
use super::ClientReply;
use crate::cache::{Cache, CacheBackend, CacheKey};
use crate::evidence::EvidenceHandle;
use crate::kv::BackendHealth;
use crate::ratelimit::{Limiter, RateLimiter};
use crate::telemetry::{ErrorKind, Metrics, ServerLabels, ToolLabels, ToolMetrics};

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
    pub(super) inflight: Mutex<HashMap<CacheKey, Vec<ClientReply>, crate::cache::key::KeyHashing>>,
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
        CallLog::start(self.clone(), info.metrics.clone(), self.correlation(), tool, server)
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
    pub(super) fn cache_failed(&self, e: &crate::cache::CacheError) {
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
