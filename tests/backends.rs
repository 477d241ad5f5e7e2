//! The cache and the rate limiter, each backend through the same suite, then what only Redis does: share state
//! between gateways, and survive Redis being stopped, stalled and restarted under it.
//!
//! Every Redis test starts its own `redis-server` on a free port (see `support_redis`); without one installed
//! they print SKIPPED, except under `CI=true`, where that is a failure.

mod support_redis;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use dfs_gateway::cache::{cache_key, CacheBackend, CacheError, CacheKey, MemoryCache, MemoryLimits, RedisCache};
use dfs_gateway::clock::ManualClock;
use dfs_gateway::kv::{BackendHealth, KvError, RedisConn, RedisOptions};
use dfs_gateway::ratelimit::{Decision, FallbackLimiter, MemoryLimiter, RateLimitError, RateLimiter, RedisLimiter};
use fred::interfaces::ClientLike;
use serde_json::value::RawValue;
use support_redis::RedisServer;

/// The operation timeout of the fault tests: the production default, which is what they show holding.
const OP_TIMEOUT: Duration = Duration::from_millis(50);
/// The operation timeout of the tests of *what* the backends do: long enough that a loaded two-core machine
/// never turns a correct answer into a timeout (a timeout is a legitimate outcome, just not the one tested).
const CORRECTNESS_TIMEOUT: Duration = Duration::from_secs(2);
/// How much longer than `OP_TIMEOUT` a failing call may take on a loaded two-core machine; still far from
/// "blocking a call".
const SLACK: Duration = Duration::from_millis(200);
/// How long recovery may take: reconnect backoff ceiling (1 s) plus startup and scheduling.
const RECOVERY: Duration = Duration::from_secs(15);

fn options(server: &RedisServer) -> RedisOptions {
    let mut opts = RedisOptions::new(server.url());
    opts.op_timeout = CORRECTNESS_TIMEOUT;
    opts
}

fn fault_options(server: &RedisServer) -> RedisOptions {
    let mut opts = RedisOptions::new(server.url());
    opts.op_timeout = OP_TIMEOUT;
    opts
}

async fn redis_cache(server: &RedisServer) -> RedisCache {
    RedisCache::connect(&options(server), "test:cache", 1 << 20).await.expect("connect")
}

async fn redis_limiter(server: &RedisServer) -> RedisLimiter {
    RedisLimiter::new(RedisConn::connect(&options(server)).await.expect("connect"), "test:rl")
}

/// `op` until it succeeds, for steps of the fault tests that a healthy Redis must do but that may time out
/// at 50 ms on a loaded machine (which is the design working, not what those steps test).
async fn succeeds<T, E, F, Fut>(what: &str, mut op: F) -> T
where
    E: std::fmt::Debug,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let deadline = Instant::now() + RECOVERY;
    loop {
        match op().await {
            Ok(value) => return value,
            Err(e) if Instant::now() > deadline => panic!("{what} kept failing: {e:?}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

/// Polls `cond` until it holds, failing the test after `within`.
async fn eventually<F, Fut>(what: &str, within: Duration, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    while !cond().await {
        assert!(Instant::now() < deadline, "timed out after {within:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn key(n: u32) -> CacheKey {
    let args = RawValue::from_string(format!(r#"{{"n":{n}}}"#)).unwrap();
    cache_key("tools/call", "app.test.tool", Some(&args), "public")
}

fn tags(t: &[&str]) -> Vec<String> {
    t.iter().map(|s| s.to_string()).collect()
}

const HOUR: Duration = Duration::from_secs(3600);

// ---------------------------------------------------------------------------------------------------------------
// The cache suite, once for each backend.

mod cache_suite {
    use super::*;

    pub async fn miss_then_hit_returns_the_exact_bytes(c: &impl CacheBackend) {
        assert_eq!(c.get(&key(1)).await.unwrap(), None);
        // Not UTF-8, with a NUL: values are opaque bytes.
        let value = Bytes::from_static(b"{\"content\":[]}\x00\xff\xfe");
        c.put(&key(1), value.clone(), HOUR, &tags(&["t"])).await.unwrap();
        assert_eq!(c.get(&key(1)).await.unwrap(), Some(value));
        assert_eq!(c.get(&key(2)).await.unwrap(), None);
    }

    pub async fn argument_order_shares_an_entry_and_scope_does_not(c: &impl CacheBackend) {
        let ab = RawValue::from_string(r#"{"a":1,"b":[true,{"x":1,"y":2}]}"#.into()).unwrap();
        let ba = RawValue::from_string(r#"{"b":[true,{"y":2,"x":1}],"a":1}"#.into()).unwrap();
        let public = cache_key("tools/call", "app.s.t", Some(&ab), "public");
        c.put(&public, Bytes::from_static(b"r"), HOUR, &[]).await.unwrap();
        let same = cache_key("tools/call", "app.s.t", Some(&ba), "public");
        assert_eq!(c.get(&same).await.unwrap().as_deref(), Some(&b"r"[..]));
        let private = cache_key("tools/call", "app.s.t", Some(&ba), "client:alice");
        assert_eq!(c.get(&private).await.unwrap(), None);
    }

    pub async fn overwrite_replaces_the_value_and_indexes_the_new_tags(c: &impl CacheBackend) {
        c.put(&key(1), Bytes::from_static(b"old"), HOUR, &tags(&["a"])).await.unwrap();
        c.put(&key(1), Bytes::from_static(b"new"), HOUR, &tags(&["b"])).await.unwrap();
        assert_eq!(c.get(&key(1)).await.unwrap().as_deref(), Some(&b"new"[..]));
        assert_eq!(c.invalidate_tag("b").await.unwrap(), 1);
        assert_eq!(c.get(&key(1)).await.unwrap(), None);
    }

    pub async fn entries_expire_after_their_ttl(c: &impl CacheBackend) {
        let ttl = Duration::from_millis(400);
        let written = Instant::now();
        c.put(&key(1), Bytes::from_static(b"short"), ttl, &tags(&["t"])).await.unwrap();
        c.put(&key(2), Bytes::from_static(b"long"), HOUR, &tags(&["t"])).await.unwrap();
        let first_read = c.get(&key(1)).await.unwrap();
        if written.elapsed() < ttl {
            assert!(first_read.is_some(), "served before its ttl");
        }
        eventually("the short entry to expire", Duration::from_secs(5), || async {
            c.get(&key(1)).await.unwrap().is_none()
        })
        .await;
        assert!(written.elapsed() >= ttl, "expired early, after {:?}", written.elapsed());
        assert!(c.get(&key(2)).await.unwrap().is_some(), "the long entry is untouched");
        assert_eq!(c.invalidate_tag("t").await.unwrap(), 1, "only the live entry counts");
    }

    pub async fn invalidating_a_tag_drops_exactly_its_entries(c: &impl CacheBackend) {
        c.put(&key(1), Bytes::from_static(b"1"), HOUR, &tags(&["ns:app", "tool:app.s.x", "slate"])).await.unwrap();
        c.put(&key(2), Bytes::from_static(b"2"), HOUR, &tags(&["ns:app", "tool:app.s.y"])).await.unwrap();
        c.put(&key(3), Bytes::from_static(b"3"), HOUR, &tags(&["ns:ext", "slate"])).await.unwrap();
        c.put(&key(4), Bytes::from_static(b"4"), HOUR, &[]).await.unwrap();
        assert_eq!(c.invalidate_tag("tool:app.s.x").await.unwrap(), 1);
        assert_eq!(c.get(&key(1)).await.unwrap(), None);
        assert!(c.get(&key(2)).await.unwrap().is_some());
        assert_eq!(c.invalidate_tag("slate").await.unwrap(), 1, "key 1 is already gone; key 3 goes");
        assert_eq!(c.invalidate_tag("ns:app").await.unwrap(), 1);
        assert_eq!(c.invalidate_tag("no-such-tag").await.unwrap(), 0);
        for n in 1..=3 {
            assert_eq!(c.get(&key(n)).await.unwrap(), None, "key {n}");
        }
        assert!(c.get(&key(4)).await.unwrap().is_some(), "untagged entries stay");
    }

    pub async fn remove_and_invalidate_all(c: &impl CacheBackend) {
        for n in 0..20 {
            c.put(&key(n), Bytes::from(n.to_string()), HOUR, &tags(&["t"])).await.unwrap();
        }
        assert!(c.remove(&key(0)).await.unwrap());
        assert!(!c.remove(&key(0)).await.unwrap());
        assert_eq!(c.invalidate_all().await.unwrap(), 19);
        for n in 0..20 {
            assert_eq!(c.get(&key(n)).await.unwrap(), None);
        }
        assert_eq!(c.invalidate_tag("t").await.unwrap(), 0);
        c.put(&key(0), Bytes::from_static(b"again"), HOUR, &[]).await.unwrap();
        assert!(c.get(&key(0)).await.unwrap().is_some(), "usable after clearing");
    }

    pub async fn oversized_values_are_refused_not_stored(c: &impl CacheBackend) {
        let big = Bytes::from(vec![b'x'; (1 << 20) + 1]);
        let err = c.put(&key(1), big, HOUR, &[]).await.unwrap_err();
        assert!(matches!(err, CacheError::TooLarge { .. }), "{err}");
        assert_eq!(c.get(&key(1)).await.unwrap(), None);
    }

    pub async fn health_is_ok(c: &impl CacheBackend) {
        assert_eq!(c.health(), BackendHealth::Ok);
    }
}

macro_rules! cache_suite {
    ($($name:ident),* $(,)?) => {
        mod memory_cache {
            use super::*;
            $(
                #[tokio::test]
                async fn $name() {
                    cache_suite::$name(&MemoryCache::new(MemoryLimits::default())).await;
                }
            )*
        }

        mod redis_cache {
            use super::*;
            $(
                #[tokio::test]
                async fn $name() {
                    let Some(server) = RedisServer::start() else { return };
                    cache_suite::$name(&redis_cache(&server).await).await;
                }
            )*
        }
    };
}

cache_suite!(
    miss_then_hit_returns_the_exact_bytes,
    argument_order_shares_an_entry_and_scope_does_not,
    overwrite_replaces_the_value_and_indexes_the_new_tags,
    entries_expire_after_their_ttl,
    invalidating_a_tag_drops_exactly_its_entries,
    remove_and_invalidate_all,
    oversized_values_are_refused_not_stored,
    health_is_ok,
);

// ---------------------------------------------------------------------------------------------------------------
// The rate limit suite, once for each backend. Time passes through the harness: the embedded limiter runs on a
// manual clock (exact edges), Redis on real time with short windows, asserting counts rather than timings.

trait Harness {
    type L: RateLimiter;
    fn limiter(&self) -> &Self::L;
    /// Lets at least `d` pass as the limiter sees time.
    async fn pass(&self, d: Duration);
}

struct MemoryHarness(MemoryLimiter, Arc<ManualClock>);

impl Harness for MemoryHarness {
    type L = MemoryLimiter;
    fn limiter(&self) -> &MemoryLimiter {
        &self.0
    }
    async fn pass(&self, d: Duration) {
        self.1.advance(d);
    }
}

struct RedisHarness(RedisLimiter, #[allow(dead_code)] RedisServer);

impl Harness for RedisHarness {
    type L = RedisLimiter;
    fn limiter(&self) -> &RedisLimiter {
        &self.0
    }
    async fn pass(&self, d: Duration) {
        // Redis's clock is the machine's; a little extra covers the microsecond rounding of its TIME.
        tokio::time::sleep(d + Duration::from_millis(2)).await;
    }
}

mod limit_suite {
    use super::*;

    const LONG: Duration = Duration::from_secs(30);
    const SHORT: Duration = Duration::from_millis(300);

    fn limited(d: Decision) -> Duration {
        match d {
            Decision::Limited { retry_after, .. } => retry_after,
            Decision::Allowed { .. } => panic!("expected a refusal, got {d:?}"),
        }
    }

    pub async fn allows_exactly_the_limit_then_refuses(h: &impl Harness) {
        let l = h.limiter();
        for remaining in (0..5).rev() {
            assert_eq!(l.check("k", 5, LONG).await.unwrap(), Decision::Allowed { remaining });
        }
        for _ in 0..10 {
            match l.check("k", 5, LONG).await.unwrap() {
                Decision::Limited { retry_after, limit, window } => {
                    assert_eq!((limit, window), (5, LONG));
                    assert!(retry_after > Duration::ZERO && retry_after <= LONG, "{retry_after:?}");
                }
                other => panic!("call over the limit: {other:?}"),
            }
        }
    }

    pub async fn keys_are_independent(h: &impl Harness) {
        let l = h.limiter();
        assert!(l.check("a", 1, LONG).await.unwrap().is_allowed());
        assert!(!l.check("a", 1, LONG).await.unwrap().is_allowed());
        assert!(l.check("b", 1, LONG).await.unwrap().is_allowed());
    }

    pub async fn calls_are_allowed_again_after_retry_after(h: &impl Harness) {
        let l = h.limiter();
        assert!(l.check("k", 2, SHORT).await.unwrap().is_allowed());
        assert!(l.check("k", 2, SHORT).await.unwrap().is_allowed());
        let wait = limited(l.check("k", 2, SHORT).await.unwrap());
        assert!(wait <= SHORT);
        h.pass(wait).await;
        // At least the first call has left (on real time the second may have too).
        assert!(l.check("k", 2, SHORT).await.unwrap().is_allowed());
    }

    pub async fn the_window_slides(h: &impl Harness) {
        let l = h.limiter();
        let window = Duration::from_millis(600);
        assert!(l.check("k", 2, window).await.unwrap().is_allowed()); // t0
        h.pass(Duration::from_millis(300)).await;
        assert!(l.check("k", 2, window).await.unwrap().is_allowed()); // t0 + 300
        let wait = limited(l.check("k", 2, window).await.unwrap());
        assert!(wait <= Duration::from_millis(300), "the first call leaves first: {wait:?}");
        h.pass(wait).await;
        // The first call has left; the second (leaving ~300 ms later) still counts: exactly one more fits.
        assert_eq!(l.check("k", 2, window).await.unwrap(), Decision::Allowed { remaining: 0 });
        assert!(!l.check("k", 2, window).await.unwrap().is_allowed());
    }

    pub async fn refusals_do_not_extend_the_lockout(h: &impl Harness) {
        let l = h.limiter();
        assert!(l.check("k", 1, SHORT).await.unwrap().is_allowed());
        let mut last = Duration::ZERO;
        for _ in 0..5 {
            last = limited(l.check("k", 1, SHORT).await.unwrap());
        }
        h.pass(last).await;
        assert!(l.check("k", 1, SHORT).await.unwrap().is_allowed());
    }

    pub async fn zero_limits_are_errors(h: &impl Harness) {
        let l = h.limiter();
        assert!(matches!(l.check("k", 0, LONG).await, Err(RateLimitError::InvalidLimit { .. })));
        assert!(matches!(l.check("k", 1, Duration::ZERO).await, Err(RateLimitError::InvalidLimit { .. })));
    }

    pub async fn health_is_ok(h: &impl Harness) {
        assert_eq!(h.limiter().health(), BackendHealth::Ok);
    }
}

macro_rules! limit_suite {
    ($($name:ident),* $(,)?) => {
        mod memory_limiter {
            use super::*;
            $(
                #[tokio::test]
                async fn $name() {
                    let clock = ManualClock::new();
                    limit_suite::$name(&MemoryHarness(MemoryLimiter::with_clock(clock.clone()), clock)).await;
                }
            )*
        }

        mod redis_limiter {
            use super::*;
            $(
                #[tokio::test]
                async fn $name() {
                    let Some(server) = RedisServer::start() else { return };
                    let limiter = redis_limiter(&server).await;
                    limit_suite::$name(&RedisHarness(limiter, server)).await;
                }
            )*
        }
    };
}

limit_suite!(
    allows_exactly_the_limit_then_refuses,
    keys_are_independent,
    calls_are_allowed_again_after_retry_after,
    the_window_slides,
    refusals_do_not_extend_the_lockout,
    zero_limits_are_errors,
    health_is_ok,
);

// ---------------------------------------------------------------------------------------------------------------
// Only Redis: two gateways on one Redis.

#[tokio::test]
async fn two_gateways_share_cache_entries_and_invalidations() {
    let Some(server) = RedisServer::start() else { return };
    let (a, b) = (redis_cache(&server).await, redis_cache(&server).await);
    a.put(&key(1), Bytes::from_static(b"from a"), HOUR, &tags(&["ns:app"])).await.unwrap();
    assert_eq!(b.get(&key(1)).await.unwrap().as_deref(), Some(&b"from a"[..]), "b hits what a cached");
    assert_eq!(b.invalidate_tag("ns:app").await.unwrap(), 1);
    assert_eq!(a.get(&key(1)).await.unwrap(), None, "b's invalidation reaches a");
}

#[tokio::test]
async fn invalidate_all_touches_only_its_own_prefix() {
    let Some(server) = RedisServer::start() else { return };
    let mine = redis_cache(&server).await;
    let other = RedisCache::connect(&options(&server), "other:cache", 1 << 20).await.unwrap();
    mine.put(&key(1), Bytes::from_static(b"1"), HOUR, &tags(&["t"])).await.unwrap();
    other.put(&key(1), Bytes::from_static(b"1"), HOUR, &tags(&["t"])).await.unwrap();
    assert_eq!(mine.invalidate_all().await.unwrap(), 1);
    assert!(other.get(&key(1)).await.unwrap().is_some());
    assert_eq!(other.invalidate_tag("t").await.unwrap(), 1);
}

#[tokio::test]
async fn tag_sets_keep_only_live_entries() {
    let Some(server) = RedisServer::start() else { return };
    let cache = redis_cache(&server).await;
    for n in 0..50 {
        cache.put(&key(n), Bytes::from_static(b"v"), Duration::from_millis(100), &tags(&["busy"])).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(150)).await;
    cache.put(&key(100), Bytes::from_static(b"v"), HOUR, &tags(&["busy"])).await.unwrap();
    let client = cache.conn().client();
    let members: i64 = cache
        .conn()
        .run(async move { client.custom(fred::cmd!("ZCARD"), vec!["test:cache:t:busy"]).await })
        .await
        .unwrap();
    assert_eq!(members, 1, "the expired entries' members were dropped by the next write");
}

#[tokio::test]
async fn two_limiters_on_one_redis_enforce_one_global_limit() {
    let Some(server) = RedisServer::start() else { return };
    let (a, b) = (redis_limiter(&server).await, redis_limiter(&server).await);
    let run = |l: RedisLimiter| {
        tokio::spawn(async move {
            let mut allowed = 0;
            for _ in 0..15 {
                allowed += u32::from(l.check("global", 10, Duration::from_secs(30)).await.unwrap().is_allowed());
            }
            allowed
        })
    };
    let (ta, tb) = (run(a.clone()), run(b.clone()));
    let (na, nb) = (ta.await.unwrap(), tb.await.unwrap());
    assert_eq!(na + nb, 10, "a allowed {na}, b allowed {nb}");
}

// ---------------------------------------------------------------------------------------------------------------
// Only Redis: faults.

fn assert_fast_unavailable<T: std::fmt::Debug>(result: Result<T, CacheError>, took: Duration) {
    assert!(matches!(result, Err(CacheError::Unavailable(_))), "{result:?}");
    assert!(took < OP_TIMEOUT + SLACK, "a failing call took {took:?}");
}

#[tokio::test]
async fn cache_survives_redis_stopping_and_heals_when_it_restarts() {
    let Some(mut server) = RedisServer::start() else { return };
    let cache = RedisCache::connect(&fault_options(&server), "test:cache", 1 << 20).await.unwrap();
    let (k1, k2) = (key(1), key(2));
    succeeds("the first write", || cache.put(&k1, Bytes::from_static(b"before"), HOUR, &[])).await;
    assert_eq!(cache.health(), BackendHealth::Ok);

    server.stop();
    eventually("health to say degraded", RECOVERY, || async { !cache.health().is_ok() }).await;
    for n in 0..10 {
        let started = Instant::now();
        let result = cache.get(&key(n)).await;
        assert_fast_unavailable(result, started.elapsed());
        let started = Instant::now();
        let result = cache.put(&key(n), Bytes::from_static(b"x"), HOUR, &tags(&["t"])).await;
        assert_fast_unavailable(result, started.elapsed());
    }
    let BackendHealth::Degraded(reason) = cache.health() else { panic!("degraded") };
    assert!(reason.contains(&format!("127.0.0.1:{}", server.port())), "names the endpoint: {reason}");
    assert!(cache.conn().error_count() >= 20);

    server.restart();
    // The write goes through the Lua script, which the new Redis has never seen: this also covers NOSCRIPT.
    eventually("the same backend to work again", RECOVERY, || async {
        cache.put(&key(2), Bytes::from_static(b"after"), HOUR, &tags(&["t"])).await.is_ok()
    })
    .await;
    assert_eq!(cache.health(), BackendHealth::Ok);
    let after = succeeds("a read", || cache.get(&k2)).await;
    assert_eq!(after.as_deref(), Some(&b"after"[..]));
    assert_eq!(succeeds("a read", || cache.get(&k1)).await, None, "the restarted Redis is empty");
    succeeds("an invalidation", || cache.invalidate_tag("t")).await;
    assert_eq!(succeeds("a read", || cache.get(&k2)).await, None);
}

#[tokio::test]
async fn a_stalled_redis_costs_a_call_at_most_the_timeout() {
    let Some(server) = RedisServer::start() else { return };
    let cache = RedisCache::connect(&fault_options(&server), "test:cache", 1 << 20).await.unwrap();
    let k1 = key(1);
    succeeds("the first write", || cache.put(&k1, Bytes::from_static(b"v"), HOUR, &[])).await;

    server.pause();
    for _ in 0..5 {
        let started = Instant::now();
        let result = cache.get(&key(1)).await;
        assert_fast_unavailable(result, started.elapsed());
    }
    assert!(!cache.health().is_ok(), "degraded while stalled");

    server.resume();
    eventually("a hit after the stall", RECOVERY, || async {
        cache.get(&key(1)).await.is_ok_and(|v| v.as_deref() == Some(&b"v"[..]))
    })
    .await;
    assert_eq!(cache.health(), BackendHealth::Ok);
}

#[tokio::test]
async fn a_backend_started_before_redis_heals_when_redis_appears() {
    let Some(mut server) = RedisServer::start() else { return };
    server.stop();
    let mut opts = fault_options(&server);
    opts.startup_wait = Duration::from_millis(100);
    let started = Instant::now();
    let cache = RedisCache::connect(&opts, "test:cache", 1 << 20).await.expect("a down Redis is not a config error");
    assert!(started.elapsed() < Duration::from_secs(2), "startup is not held up for long");
    assert!(!cache.health().is_ok());
    let started = Instant::now();
    let result = cache.get(&key(1)).await;
    assert_fast_unavailable(result, started.elapsed());

    server.restart();
    eventually("the cache to work", RECOVERY, || async {
        cache.put(&key(1), Bytes::from_static(b"v"), HOUR, &[]).await.is_ok()
    })
    .await;
    assert_eq!(cache.health(), BackendHealth::Ok);
}

#[tokio::test]
async fn limits_fall_back_to_local_while_redis_is_down_and_go_global_again() {
    let Some(mut server) = RedisServer::start() else { return };
    // A longer timeout than the cache's faults use: what is tested here is who decides, and a timeout under
    // load would make a check local that the test expects from Redis. Down is detected without waiting anyway.
    let mut opts = fault_options(&server);
    opts.op_timeout = Duration::from_millis(500);
    let gateway = FallbackLimiter::new(RedisLimiter::new(RedisConn::connect(&opts).await.unwrap(), "test:rl"));
    let other = redis_limiter(&server).await;
    let long = Duration::from_secs(30);
    assert!(gateway.check("k", 3, long).await.unwrap().is_allowed());
    assert_eq!((gateway.health(), gateway.fallback_count()), (BackendHealth::Ok, 0));

    server.stop();
    eventually("health to say degraded", RECOVERY, || async { !gateway.health().is_ok() }).await;
    let mut decisions = Vec::new();
    for _ in 0..4 {
        let started = Instant::now();
        decisions.push(gateway.check("fresh", 2, long).await.expect("decided locally").is_allowed());
        assert!(started.elapsed() < SLACK, "a disconnected Redis costs no wait: {:?}", started.elapsed());
    }
    assert_eq!(decisions, [true, true, false, false], "the limit is still enforced, locally");
    // The call Redis allowed before it went away was logged locally too: 2 more fit, not 3.
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(gateway.check("k", 3, long).await.unwrap().is_allowed());
    }
    assert_eq!(got, [true, true, false]);
    assert!(gateway.fallback_count() >= 7);
    let BackendHealth::Degraded(reason) = gateway.health() else { panic!("degraded") };
    assert!(reason.contains("per gateway"), "{reason}");

    server.restart();
    eventually("both gateways to reach Redis again", RECOVERY, || async {
        let _ = gateway.check("probe", 1000, long).await;
        gateway.health().is_ok() && other.check("probe", 1000, long).await.is_ok()
    })
    .await;
    // Global again: another gateway uses up the budget in Redis, and this one is refused although its local
    // log for the key is empty.
    let fallbacks = gateway.fallback_count();
    assert!(other.check("g", 2, long).await.unwrap().is_allowed());
    assert!(other.check("g", 2, long).await.unwrap().is_allowed());
    assert!(!gateway.check("g", 2, long).await.unwrap().is_allowed());
    assert_eq!(gateway.fallback_count(), fallbacks, "decided by Redis, not locally");
}

#[tokio::test]
async fn a_redis_limiter_alone_reports_unavailability_as_an_error() {
    let Some(mut server) = RedisServer::start() else { return };
    let limiter = RedisLimiter::new(RedisConn::connect(&fault_options(&server)).await.unwrap(), "test:rl");
    server.stop();
    eventually("health to say degraded", RECOVERY, || async { !limiter.health().is_ok() }).await;
    let started = Instant::now();
    let err = limiter.check("k", 1, Duration::from_secs(1)).await.unwrap_err();
    assert!(matches!(err, RateLimitError::Unavailable(KvError::Unavailable { .. })), "{err}");
    assert!(started.elapsed() < OP_TIMEOUT + SLACK);
}
