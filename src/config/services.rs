//! `[cache]`, `[rate_limit]` and `[evidence]`: the raw sections as written and their compilation into the typed
//! settings the call path takes ([`ServicesConfig`]).
//!
//! Redis is chosen by `backend = "redis"`, or by leaving `backend` out while `REDIS_URL` is set (the compose
//! deployment sets it); `backend = "memory"` keeps the embedded backend whatever the environment says.

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::parse_duration;
use crate::cache::{CacheSettings, MemoryLimits};
use crate::evidence::EvidenceConfig;
use crate::kv::{BackendKind, RedisOptions};
use crate::ratelimit::RateLimitSettings;

/// The typed sections.
#[derive(Debug, Clone, Default)]
pub(crate) struct ServicesConfig {
    pub(crate) cache: CacheConfig,
    pub(crate) rate_limit: RateLimitSettings,
    /// `None` when `[evidence] enabled = false`.
    pub(crate) evidence: Option<EvidenceConfig>,
}

/// `[cache]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CacheConfig {
    /// `enabled = false` turns the result cache off (lists are still refreshed after `list_ttl`).
    pub(crate) enabled: bool,
    /// Backend, bounds and Redis options.
    pub(crate) settings: CacheSettings,
    /// How long a result of a read-only tool is kept when no policy rule sets a `cache.ttl`. 5 minutes.
    pub(crate) result_ttl: Duration,
    /// How long a downstream's lists are trusted before a client's list request refreshes them (servers that
    /// never send `list_changed`; a modern server's own `ttlMs` wins). 1 minute.
    pub(crate) list_ttl: Duration,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            enabled: true,
            settings: CacheSettings::default(),
            result_ttl: Duration::from_secs(300),
            list_ttl: Duration::from_secs(60),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawCache {
    /// Default true.
    enabled: Option<bool>,
    /// "memory" | "redis"; default "redis" when `REDIS_URL` is set, else "memory".
    backend: Option<Spanned<String>>,
    /// Default `REDIS_URL`.
    redis_url: Option<String>,
    /// Default "5m".
    result_ttl: Option<Spanned<String>>,
    /// Default "1m".
    list_ttl: Option<Spanned<String>>,
    /// Default 10000.
    max_entries: Option<Spanned<usize>>,
    /// Default 64 MiB.
    max_bytes: Option<Spanned<usize>>,
    /// Default 1 MiB.
    max_entry_bytes: Option<Spanned<usize>>,
    /// Default "dfs-gateway:cache".
    key_prefix: Option<String>,
    /// Default "50ms": past it a Redis operation is given up and the call goes on without the cache.
    redis_timeout: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawRateLimit {
    /// "memory" | "redis"; default "redis" when `REDIS_URL` is set, else "memory".
    backend: Option<Spanned<String>>,
    /// Default `REDIS_URL`.
    redis_url: Option<String>,
    /// Default "dfs-gateway:rl".
    key_prefix: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawEvidence {
    /// Default true.
    enabled: Option<bool>,
    /// Default "<state_dir>/evidence".
    dir: Option<String>,
    /// Default 64 MiB.
    max_file_bytes: Option<Spanned<u64>>,
    /// Default 4096.
    queue_capacity: Option<Spanned<usize>>,
    /// Default "1ms"; "0ms" writes every record as soon as the queue runs dry.
    flush_interval: Option<Spanned<String>>,
    /// Added to the built-in list (token, password, secret, authorization, api_key, ...).
    redact_keys: Vec<String>,
    /// Added to the built-in list (BRAVE_API_KEY, GITHUB_PERSONAL_ACCESS_TOKEN, GITHUB_TOKEN, DATABASE_URL,
    /// REDIS_URL).
    secret_env: Vec<String>,
    /// Retention by age: default "30d"; "never" keeps files forever.
    max_age: Option<Spanned<String>>,
    /// Retention by size of all evidence files together: default 1 GiB; 0: no bound.
    max_total_bytes: Option<Spanned<u64>>,
    /// Refuse calls that cannot be recorded (full or failing disk) until writing recovers. Default false.
    fail_closed: bool,
}

/// Records a problem at a span (the caller knows the file).
pub(super) type Report<'a> = dyn FnMut(std::ops::Range<usize>, String) + 'a;

fn backend(raw: &Option<Spanned<String>>, url: Option<&str>, report: &mut Report<'_>) -> BackendKind {
    match raw.as_ref().map(|b| (b.span(), b.get_ref().as_str())) {
        None if url.is_some() => BackendKind::Redis,
        None | Some((_, "memory")) => BackendKind::Memory,
        Some((_, "redis")) => BackendKind::Redis,
        Some((span, other)) => {
            report(span, format!("backend must be \"memory\" or \"redis\", not \"{other}\""));
            BackendKind::Memory
        }
    }
}

fn duration(raw: &Option<Spanned<String>>, default: Duration, what: &str, report: &mut Report<'_>) -> Duration {
    let Some(raw) = raw else { return default };
    match parse_duration(raw.get_ref()) {
        Ok(d) if !d.is_zero() => d,
        Ok(_) => {
            report(raw.span(), format!("{what} must be longer than zero"));
            default
        }
        Err(e) => {
            report(raw.span(), format!("{what}: {e}"));
            default
        }
    }
}

fn positive<T: Copy + PartialOrd + Default + std::fmt::Display>(
    raw: &Option<Spanned<T>>,
    default: T,
    what: &str,
    report: &mut Report<'_>,
) -> T {
    match raw {
        Some(v) if *v.get_ref() <= T::default() => {
            report(v.span(), format!("{what} must be at least 1, not {}", v.get_ref()));
            default
        }
        Some(v) => *v.get_ref(),
        None => default,
    }
}

fn redis_options(
    url: Option<String>,
    kind: BackendKind,
    section: &str,
    report: &mut Report<'_>,
) -> Option<RedisOptions> {
    match (kind, url) {
        (_, Some(url)) => {
            if let Err(e) = check_redis_url(&url) {
                report(0..0, format!("[{section}] {e}"));
            }
            Some(RedisOptions::new(url))
        }
        (BackendKind::Redis, None) => {
            report(
                0..0,
                format!("[{section}] backend = \"redis\" needs REDIS_URL (or redis_url = \"redis://host:6379\")"),
            );
            None
        }
        (BackendKind::Memory, None) => None,
    }
}

fn check_redis_url(url: &str) -> Result<(), String> {
    let scheme_ok = ["redis://", "rediss://", "redis+unix://", "unix://"].iter().any(|s| url.starts_with(s));
    if scheme_ok {
        Ok(())
    } else {
        Err(format!("the Redis URL `{}` must start with redis:// or rediss://", crate::kv::redact_url(url)))
    }
}

/// Compiles the three sections. `redis_url` is `REDIS_URL` from the environment.
pub(super) fn compile(
    cache: &RawCache,
    rate_limit: &RawRateLimit,
    evidence: &RawEvidence,
    redis_url: Option<&str>,
    state_dir: &Path,
    base: &Path,
    report: &mut Report<'_>,
) -> ServicesConfig {
    let cache_url = cache.redis_url.clone().or_else(|| redis_url.map(str::to_owned));
    let cache_kind = backend(&cache.backend, cache_url.as_deref(), report);
    let defaults = MemoryLimits::default();
    let mut redis = redis_options(cache_url, cache_kind, "cache", report);
    if let Some(r) = redis.as_mut() {
        r.op_timeout = duration(&cache.redis_timeout, r.op_timeout, "redis_timeout", report);
    }
    let cache = CacheConfig {
        enabled: cache.enabled.unwrap_or(true),
        settings: CacheSettings {
            backend: cache_kind,
            memory: MemoryLimits {
                max_entries: positive(&cache.max_entries, defaults.max_entries, "max_entries", report),
                max_bytes: positive(&cache.max_bytes, defaults.max_bytes, "max_bytes", report),
                max_entry_bytes: positive(&cache.max_entry_bytes, defaults.max_entry_bytes, "max_entry_bytes", report),
            },
            redis,
            key_prefix: cache.key_prefix.clone().unwrap_or_else(|| CacheSettings::default().key_prefix),
        },
        result_ttl: duration(&cache.result_ttl, Duration::from_secs(300), "result_ttl", report),
        list_ttl: duration(&cache.list_ttl, Duration::from_secs(60), "list_ttl", report),
    };

    let rl_url = rate_limit.redis_url.clone().or_else(|| redis_url.map(str::to_owned));
    let rl_kind = backend(&rate_limit.backend, rl_url.as_deref(), report);
    let rate_limit = RateLimitSettings {
        backend: rl_kind,
        redis: redis_options(rl_url, rl_kind, "rate_limit", report),
        key_prefix: rate_limit.key_prefix.clone().unwrap_or_else(|| RateLimitSettings::default().key_prefix),
    };

    let evidence = evidence.enabled.unwrap_or(true).then(|| {
        let mut cfg = EvidenceConfig {
            dir: evidence.dir.as_deref().map_or_else(|| state_dir.join("evidence"), |d| super::raw::resolve(base, d)),
            ..EvidenceConfig::default()
        };
        cfg.max_file_bytes = match &evidence.max_file_bytes {
            Some(v) if *v.get_ref() < EvidenceConfig::MIN_FILE_BYTES => {
                report(v.span(), format!("max_file_bytes must be at least {}", EvidenceConfig::MIN_FILE_BYTES));
                cfg.max_file_bytes
            }
            Some(v) => *v.get_ref(),
            None => cfg.max_file_bytes,
        };
        cfg.queue_capacity = positive(&evidence.queue_capacity, cfg.queue_capacity, "queue_capacity", report);
        if let Some(raw) = &evidence.flush_interval {
            match parse_duration(raw.get_ref()) {
                Ok(d) if d <= Duration::from_secs(1) => cfg.flush_interval = d,
                Ok(_) => report(raw.span(), "flush_interval must be at most 1s (a crash loses what waits)".into()),
                Err(e) => report(raw.span(), format!("flush_interval: {e}")),
            }
        }
        if let Some(raw) = &evidence.max_age {
            match raw.get_ref().as_str() {
                "never" => cfg.max_age = None,
                text => match parse_duration(text) {
                    Ok(d) if !d.is_zero() => cfg.max_age = Some(d),
                    Ok(_) => report(raw.span(), "max_age must be longer than zero (or \"never\")".into()),
                    Err(e) => report(raw.span(), format!("max_age: {e}")),
                },
            }
        }
        if let Some(raw) = &evidence.max_total_bytes {
            match *raw.get_ref() {
                0 => cfg.max_total_bytes = None,
                n if n < 2 * cfg.max_file_bytes => report(
                    raw.span(),
                    format!(
                        "max_total_bytes must be 0 (no bound) or at least twice max_file_bytes ({})",
                        cfg.max_file_bytes
                    ),
                ),
                n => cfg.max_total_bytes = Some(n),
            }
        }
        cfg.fail_closed = evidence.fail_closed;
        cfg.redact_keys.extend(evidence.redact_keys.iter().cloned());
        cfg.secret_env.extend(evidence.secret_env.iter().cloned());
        cfg
    });
    ServicesConfig { cache, rate_limit, evidence }
}
