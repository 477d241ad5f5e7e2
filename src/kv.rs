//! The layer the cache and the rate limiter share: backend health and one Redis connection.
//!
//! Redis is an optimisation for the gateway, never a dependency of a call. So every operation here is bounded by
//! a short timeout (50 ms by default), fails at once while the connection is down instead of queueing behind
//! the reconnect, and records the outcome so [`RedisConn::health`] can say `degraded` without a probe of its own.
//! The connection reconnects by itself (fred's reconnect policy, exponential backoff with a low ceiling), from
//! the first connection on: a gateway started while Redis is down runs degraded and recovers when Redis appears.
//!
//! Redis 5 or newer is needed: the scripts read `TIME` before writing, which older versions allow only after
//! switching replication modes by hand. One server, not a cluster (see [`RedisConn::connect`]).
//!
//! Error messages name the Redis endpoint without its credentials (`redis://host:port/db`), because they reach
//! logs and `/healthz`.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fred::clients::Client;
use fred::interfaces::{ClientLike, LuaInterface};
use fred::prelude::{Builder, Config, Error as FredError, ErrorKind as FredErrorKind, FromValue, Options};
use fred::types::config::{ReconnectPolicy, UnresponsiveConfig};
use fred::types::{MultipleKeys, Value};

/// What a backend reports to `/healthz` and metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackendHealth {
    /// Working as configured.
    Ok,
    /// Serving calls in a reduced mode (cache bypassed, limits local); the reason says why, without secrets.
    Degraded(String),
}

impl BackendHealth {
    pub fn is_ok(&self) -> bool {
        matches!(self, BackendHealth::Ok)
    }
}

impl fmt::Display for BackendHealth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BackendHealth::Ok => f.write_str("ok"),
            BackendHealth::Degraded(reason) => write!(f, "degraded: {reason}"),
        }
    }
}

/// Which backend `[cache]` or `[rate_limit]` selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum BackendKind {
    /// In this process: nothing to run, nothing shared between gateways.
    #[default]
    Memory,
    /// Redis at `REDIS_URL`, shared by every gateway using it.
    Redis,
}

/// Why a Redis operation did not complete.
#[derive(Debug, Clone, thiserror::Error)]
pub enum KvError {
    /// The URL cannot be used at all; a configuration error, reported at startup.
    #[error("invalid Redis URL {url}: {reason}")]
    InvalidUrl { url: String, reason: String },
    /// Not connected (down, restarting, unreachable) or the connection failed under the command.
    #[error("Redis at {endpoint} is unavailable: {reason}")]
    Unavailable { endpoint: String, reason: String },
    /// Connected, but no answer within the operation timeout (a slow or stalled Redis).
    #[error("Redis at {endpoint} did not answer within {timeout:?}")]
    Timeout { endpoint: String, timeout: Duration },
    /// Redis answered with an error or an unexpected shape (a key of the wrong type, a script error).
    #[error("Redis at {endpoint} answered with an error: {reason}")]
    Reply { endpoint: String, reason: String },
}

/// How to reach Redis and how long to wait for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisOptions {
    /// `redis://[user:password@]host:port[/db]`, from `REDIS_URL`.
    pub(crate) url: String,
    /// Upper bound of one operation, round trips included; past it the call goes on without Redis. 50 ms by
    /// default: a healthy Redis on the same network answers in well under a millisecond.
    pub op_timeout: Duration,
    /// How long startup waits for the first connection before going on degraded. 1 s by default.
    pub startup_wait: Duration,
    /// Ceiling of the reconnect backoff, which starts at 20 ms and doubles; bounds how long after Redis comes
    /// back the gateway notices. 1 s by default.
    pub(crate) reconnect_max_delay: Duration,
    /// A connection with a command unanswered this long is closed and reconnected (a stalled or partitioned
    /// Redis leaves TCP open, and without this every call would keep paying the full timeout). 2 s by default.
    pub(crate) unresponsive_after: Duration,
}

impl RedisOptions {
    pub fn new(url: impl Into<String>) -> Self {
        RedisOptions {
            url: url.into(),
            op_timeout: Duration::from_millis(50),
            startup_wait: Duration::from_secs(1),
            reconnect_max_delay: Duration::from_secs(1),
            unresponsive_after: Duration::from_secs(2),
        }
    }
}

/// `scheme://host:port/db` of a Redis URL, without user and password, for messages.
pub(crate) fn redact_url(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
            format!("{scheme}://{host}")
        }
        None => "<redis url>".to_string(),
    }
}

/// A Lua script run with `EVALSHA`, its digest computed once so a restarted Redis (which forgets loaded
/// scripts) costs one `NOSCRIPT` and a reload, not a round trip per call.
#[derive(Debug)]
pub(crate) struct LuaScript {
    /// The source, sent only by `SCRIPT LOAD` after a `NOSCRIPT`.
    source: &'static str,
    /// SHA-1 of `source`, the name `EVALSHA` calls it by.
    sha1: String,
}

impl LuaScript {
    pub(crate) fn new(source: &'static str) -> Self {
        LuaScript { source, sha1: fred::util::sha1_hash(source) }
    }
}

/// One shared, self-healing Redis connection; cheap to clone.
#[derive(Clone)]
pub struct RedisConn {
    /// Shared so clones (cache and limiter, many tasks) use one connection and one health record.
    inner: Arc<ConnInner>,
}

struct ConnInner {
    /// fred's client: pipelines commands over one connection and runs the reconnect loop.
    client: Client,
    /// Per-command options: fail fast while disconnected, no retry on reconnect, bounded by `op_timeout`.
    options: Options,
    /// See [`RedisOptions::op_timeout`]; also enforced around whole multi-command operations.
    op_timeout: Duration,
    /// The URL without credentials, for messages.
    endpoint: String,
    /// Why the last operation failed, cleared by the next success: the health of a connection that is up but
    /// slow or misbehaving, which fred's connection state does not show.
    last_failure: Mutex<Option<String>>,
    /// Whether `last_failure` is set, read without the lock so a healthy operation costs no lock at all.
    failing: AtomicBool,
    /// Failed operations since start, for the error metric.
    errors: AtomicU64,
    /// The task that drives the connection and its reconnects; aborted when the last clone goes, so a dropped
    /// backend leaves nothing reconnecting in the background.
    task: Mutex<Option<tokio::task::JoinHandle<Result<(), FredError>>>>,
}

impl Drop for ConnInner {
    fn drop(&mut self) {
        if let Some(task) = self.task.lock().unwrap_or_else(|p| p.into_inner()).take() {
            task.abort();
        }
    }
}

impl fmt::Debug for RedisConn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisConn").field("endpoint", &self.inner.endpoint).finish_non_exhaustive()
    }
}

impl RedisConn {
    /// Connects, waiting at most `startup_wait` for the first connection. Fails only on a URL that can never
    /// work; an unreachable Redis gives a connection that is degraded now and reconnects in the background.
    pub async fn connect(opts: &RedisOptions) -> Result<Self, KvError> {
        let endpoint = redact_url(&opts.url);
        // Only a single server: the cache's Lua scripts touch keys they cannot declare up front, which a cluster
        // forbids, and TLS is not compiled in.
        if !opts.url.starts_with("redis://") {
            let reason = "only redis:// URLs (one server, no TLS) are supported".to_string();
            return Err(KvError::InvalidUrl { url: endpoint, reason });
        }
        let mut config = Config::from_url(&opts.url)
            .map_err(|e| KvError::InvalidUrl { url: endpoint.clone(), reason: e.details().to_string() })?;
        // Without this, a Redis that is down at startup would end the client instead of entering the reconnect loop.
        config.fail_fast = false;
        let max_delay = u32::try_from(opts.reconnect_max_delay.as_millis()).unwrap_or(u32::MAX).max(20);
        let probe = opts.unresponsive_after.max(Duration::from_millis(100));
        let client = Builder::from_config(config)
            .with_connection_config(|c| {
                c.connection_timeout = opts.startup_wait.max(opts.op_timeout);
                c.internal_command_timeout = opts.startup_wait.max(opts.op_timeout);
                // A command in flight when the connection drops is answered with an error, not replayed later
                // after the caller has long given up on it.
                c.max_command_attempts = 1;
                c.unresponsive = UnresponsiveConfig { max_timeout: Some(probe), interval: probe / 4 };
                c.tcp.nodelay = Some(true);
            })
            .with_performance_config(|p| p.default_command_timeout = opts.op_timeout)
            .set_policy(ReconnectPolicy::new_exponential(0, 20, max_delay, 2))
            .build()
            .map_err(|e| KvError::InvalidUrl { url: endpoint.clone(), reason: e.details().to_string() })?;
        let task = client.connect();
        let options =
            Options { timeout: Some(opts.op_timeout), fail_fast: true, max_attempts: Some(1), ..Default::default() };
        let conn = RedisConn {
            inner: Arc::new(ConnInner {
                client,
                options,
                op_timeout: opts.op_timeout,
                endpoint,
                last_failure: Mutex::new(None),
                failing: AtomicBool::new(false),
                errors: AtomicU64::new(0),
                task: Mutex::new(Some(task)),
            }),
        };
        // Polling rather than fred's connect notification: that one can fire before a subscriber exists.
        let deadline = Instant::now() + opts.startup_wait;
        while !conn.inner.client.is_connected() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        if !conn.inner.client.is_connected() {
            tracing::warn!(endpoint = %conn.inner.endpoint, "Redis is not reachable yet; running degraded and reconnecting");
        }
        Ok(conn)
    }

    /// `redis://host:port/db`, without credentials.
    pub(crate) fn endpoint(&self) -> &str {
        &self.inner.endpoint
    }

    /// Degraded while disconnected or since the last failed operation; no I/O.
    pub(crate) fn health(&self) -> BackendHealth {
        if !self.inner.client.is_connected() {
            let last = self.last_failure();
            let detail = last.map(|r| format!(" (last error: {r})")).unwrap_or_default();
            return BackendHealth::Degraded(format!(
                "Redis at {} is not connected; reconnecting{detail}",
                self.inner.endpoint
            ));
        }
        match self.last_failure() {
            Some(reason) => BackendHealth::Degraded(reason),
            None => BackendHealth::Ok,
        }
    }

    /// Operations that failed since start (timeouts, disconnects, error replies).
    pub fn error_count(&self) -> u64 {
        self.inner.errors.load(Ordering::Relaxed)
    }

    /// One `PING`; refreshes [`health`](Self::health) when no traffic has done so (e.g. for `/healthz`).
    pub(crate) async fn ping(&self) -> Result<(), KvError> {
        let client = self.inner.client.with_options(&self.inner.options);
        self.run(async move { client.ping::<()>(None).await }).await
    }

    /// Runs `op` (one or more commands on [`client`](Self::client)) under the operation timeout, failing at
    /// once while disconnected, and records the outcome for [`health`](Self::health).
    pub async fn run<T>(&self, op: impl std::future::Future<Output = Result<T, FredError>>) -> Result<T, KvError> {
        let result = if !self.inner.client.is_connected() {
            Err(KvError::Unavailable { endpoint: self.inner.endpoint.clone(), reason: "not connected".into() })
        } else {
            match tokio::time::timeout(self.inner.op_timeout, op).await {
                Ok(Ok(value)) => Ok(value),
                Ok(Err(e)) => Err(self.classify(&e)),
                Err(_) => Err(self.timeout_error()),
            }
        };
        match &result {
            Ok(_) => self.set_failure(None),
            Err(e) => {
                self.inner.errors.fetch_add(1, Ordering::Relaxed);
                self.set_failure(Some(e.to_string()));
            }
        }
        result
    }

    /// The client with this connection's per-command options, for use inside [`run`](Self::run).
    pub fn client(&self) -> fred::clients::WithOptions<Client> {
        self.inner.client.with_options(&self.inner.options)
    }

    /// `EVALSHA`, loading the script and trying once more on `NOSCRIPT` (first use, or Redis restarted), all
    /// within one operation timeout.
    pub(crate) async fn eval<R>(&self, script: &LuaScript, keys: Vec<String>, args: Vec<Value>) -> Result<R, KvError>
    where
        R: FromValue + Send,
    {
        let client = self.client();
        self.run(async move {
            let keys = MultipleKeys::from(keys);
            let args = Value::Array(args);
            match client.evalsha::<R, _, _, _>(script.sha1.as_str(), keys.clone(), args.clone()).await {
                Err(e) if e.details().starts_with("NOSCRIPT") => {
                    let _: String = client.script_load(script.source).await?;
                    client.evalsha(script.sha1.as_str(), keys, args).await
                }
                other => other,
            }
        })
        .await
    }

    fn classify(&self, e: &FredError) -> KvError {
        let endpoint = self.inner.endpoint.clone();
        match e.kind() {
            FredErrorKind::Timeout => self.timeout_error(),
            FredErrorKind::IO | FredErrorKind::Canceled | FredErrorKind::Backpressure | FredErrorKind::Unknown => {
                KvError::Unavailable { endpoint, reason: e.details().to_string() }
            }
            _ if !self.inner.client.is_connected() => {
                KvError::Unavailable { endpoint, reason: e.details().to_string() }
            }
            _ => KvError::Reply { endpoint, reason: e.details().to_string() },
        }
    }

    fn timeout_error(&self) -> KvError {
        KvError::Timeout { endpoint: self.inner.endpoint.clone(), timeout: self.inner.op_timeout }
    }

    fn last_failure(&self) -> Option<String> {
        if !self.inner.failing.load(Ordering::Acquire) {
            return None;
        }
        self.inner.last_failure.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn set_failure(&self, failure: Option<String>) {
        // The common case, success after success, touches one atomic.
        if failure.is_none() && !self.inner.failing.load(Ordering::Acquire) {
            return;
        }
        let mut last = self.inner.last_failure.lock().unwrap_or_else(|p| p.into_inner());
        self.inner.failing.store(failure.is_some(), Ordering::Release);
        *last = failure;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_credentials() {
        assert_eq!(redact_url("redis://user:s3cret@cache.local:6380/2"), "redis://cache.local:6380/2");
        assert_eq!(redact_url("redis://:p@ss@h:1"), "redis://h:1");
        assert_eq!(redact_url("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
        assert_eq!(redact_url("s3cret"), "<redis url>");
    }

    #[tokio::test]
    async fn a_bad_url_is_a_configuration_error() {
        let err = RedisConn::connect(&RedisOptions::new("http://nope")).await.unwrap_err();
        assert!(matches!(err, KvError::InvalidUrl { .. }), "{err}");
    }

    #[tokio::test]
    async fn an_unreachable_redis_is_degraded_and_fails_fast() {
        // Port 1 on loopback: nothing listens there, so connecting is refused at once.
        let mut opts = RedisOptions::new("redis://127.0.0.1:1");
        opts.startup_wait = Duration::from_millis(50);
        let conn = RedisConn::connect(&opts).await.expect("connect never fails on a down Redis");
        assert!(!conn.health().is_ok());
        let started = Instant::now();
        let err = conn.ping().await.unwrap_err();
        assert!(matches!(err, KvError::Unavailable { .. }), "{err}");
        assert!(started.elapsed() < Duration::from_millis(20), "took {:?}", started.elapsed());
        assert_eq!(conn.error_count(), 1);
    }
}
