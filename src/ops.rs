//! The operations HTTP endpoints (warp): `GET /healthz` (JSON, 200 while serving, 503 when not),
//! `GET /metrics` (OpenMetrics text), and on the health listener `POST /cache/invalidate?tag=T` (what
//! `dfs-gateway cache invalidate` calls). Everything else is 404.
//!
//! The two endpoints may share a listener or have one each (`HEALTH_PORT` 8080 and `METRICS_PORT` 9090 by
//! default): [`serve`] runs one listener with whichever endpoints it is given, and [`start`] runs the one or two
//! listeners a [`OpsPlan`] asks for. Callers pass loopback addresses unless configured otherwise.
//!
//! Nothing here touches the call path: `/metrics` encodes the registry on the ops listener's task, and
//! `/healthz` asks a [`HealthSource`] with a deadline.
//!
//! - [`health`]: the `/healthz` document and its sources.

pub(crate) mod health;

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use warp::http::{header, Method, StatusCode};
use warp::reply::{Reply, Response};
use warp::Filter;

use crate::telemetry::{Format, Metrics};
pub(crate) use health::{Health, HealthSource};

/// How long `/healthz` waits for its source before answering 503 (a stuck actor must not hang probes, which
/// typically give up after a few seconds themselves).
pub(crate) const DEFAULT_HEALTH_TIMEOUT: Duration = Duration::from_secs(2);

/// Errors of the ops server.
#[derive(Debug, thiserror::Error)]
pub(crate) enum OpsError {
    /// The listener could not be bound.
    #[error("cannot listen on {addr} for {what}: {source} (is the port in use? set HEALTH_PORT / METRICS_PORT)")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Which endpoints the listener was for (`/healthz`, `/metrics`, or both).
        what: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
}

/// Drops the cache entries carrying a tag; answers how many went (or why it could not).
pub(crate) type Invalidate =
    Arc<dyn Fn(String) -> Pin<Box<dyn Future<Output = Result<u64, String>> + Send>> + Send + Sync>;

/// Which endpoints one listener serves. An endpoint left `None` answers 404 on that listener.
#[derive(Clone)]
pub(crate) struct OpsEndpoints {
    /// `POST /cache/invalidate?tag=T`.
    pub(crate) invalidate: Option<Invalidate>,
    /// `/healthz`'s source.
    pub(crate) health: Option<Arc<dyn HealthSource>>,
    /// `/metrics`' registry.
    pub(crate) metrics: Option<Arc<Metrics>>,
    /// How long `/healthz` waits for `health`.
    pub(crate) health_timeout: Duration,
}

impl Default for OpsEndpoints {
    fn default() -> Self {
        OpsEndpoints { invalidate: None, health: None, metrics: None, health_timeout: DEFAULT_HEALTH_TIMEOUT }
    }
}

impl std::fmt::Debug for OpsEndpoints {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpsEndpoints")
            .field("health", &self.health.is_some())
            .field("metrics", &self.metrics.is_some())
            .field("health_timeout", &self.health_timeout)
            .finish()
    }
}

impl OpsEndpoints {
    /// No endpoints (everything 404) until added.
    pub(crate) fn new() -> OpsEndpoints {
        OpsEndpoints::default()
    }

    /// Serves `/healthz` from `source`.
    pub(crate) fn with_health(mut self, source: Arc<dyn HealthSource>) -> OpsEndpoints {
        self.health = Some(source);
        self
    }

    /// Serves `/metrics` from `metrics`.
    pub(crate) fn with_metrics(mut self, metrics: Arc<Metrics>) -> OpsEndpoints {
        self.metrics = Some(metrics);
        self
    }

    fn describe(&self) -> &'static str {
        match (self.health.is_some(), self.metrics.is_some()) {
            (true, true) => "/healthz and /metrics",
            (true, false) => "/healthz",
            (false, true) => "/metrics",
            (false, false) => "nothing",
        }
    }
}

/// Binds `addr` (port 0 picks a free port) and serves `what` until `shutdown` completes; then stops accepting,
/// lets in-flight responses finish, and the task ends. Returns the bound address and the server task.
///
/// A bind failure is returned here, before anything runs, so `main` can report it with the port's name.
pub(crate) async fn serve<S>(
    addr: SocketAddr,
    what: OpsEndpoints,
    shutdown: S,
) -> Result<(SocketAddr, JoinHandle<()>), OpsError>
where
    S: Future<Output = ()> + Send + 'static,
{
    let bind_err = |source| OpsError::Bind { addr, what: what.describe(), source };
    let listener = TcpListener::bind(addr).await.map_err(bind_err)?;
    let bound = listener.local_addr().map_err(bind_err)?;
    let endpoints = Arc::new(what);
    let query = warp::query::raw().or(warp::any().map(String::new)).unify();
    let routes =
        warp::method().and(warp::path::full()).and(query).and(warp::header::optional::<String>("accept")).then(
            move |method: Method, path: warp::path::FullPath, query: String, accept: Option<String>| {
                let endpoints = endpoints.clone();
                async move {
                    if path.as_str() == "/cache/invalidate" {
                        return invalidate_response(&endpoints, &method, &query).await;
                    }
                    respond(&endpoints, &method, path.as_str(), accept.as_deref()).await
                }
            },
        );
    let server = warp::serve(routes).incoming(listener).graceful(shutdown);
    let task = tokio::spawn(async move {
        server.run().await;
        tracing::debug!(%bound, "ops listener stopped");
    });
    tracing::info!(%bound, "ops endpoints listening");
    Ok((bound, task))
}

async fn respond(ep: &OpsEndpoints, method: &Method, path: &str, accept: Option<&str>) -> Response {
    let wants = match path {
        "/healthz" if ep.health.is_some() => Endpoint::Health,
        "/metrics" if ep.metrics.is_some() => Endpoint::Metrics,
        _ => return text(StatusCode::NOT_FOUND, "not found\n"),
    };
    // HEAD shares GET's headers; hyper drops the body.
    if method != Method::GET && method != Method::HEAD {
        let reply =
            warp::reply::with_header(text(StatusCode::METHOD_NOT_ALLOWED, "use GET\n"), header::ALLOW, "GET, HEAD");
        return reply.into_response();
    }
    match (wants, &ep.health, &ep.metrics) {
        (Endpoint::Health, Some(source), _) => health_response(source.as_ref(), ep.health_timeout).await,
        (Endpoint::Metrics, _, Some(metrics)) => metrics_response(metrics, accept),
        _ => text(StatusCode::NOT_FOUND, "not found\n"),
    }
}

/// `POST /cache/invalidate?tag=T`: `{"tag":T,"invalidated":N}`, 400 without a tag, 502 when the backend failed.
async fn invalidate_response(ep: &OpsEndpoints, method: &Method, query: &str) -> Response {
    let Some(invalidate) = &ep.invalidate else { return text(StatusCode::NOT_FOUND, "not found\n") };
    if method != Method::POST {
        return warp::reply::with_header(text(StatusCode::METHOD_NOT_ALLOWED, "use POST\n"), header::ALLOW, "POST")
            .into_response();
    }
    let tag = query.split('&').find_map(|kv| kv.strip_prefix("tag=")).map(percent_decode).filter(|t| !t.is_empty());
    let Some(tag) = tag else { return text(StatusCode::BAD_REQUEST, "name the tag: /cache/invalidate?tag=T\n") };
    let (status, body) = match invalidate(tag.clone()).await {
        Ok(n) => (StatusCode::OK, serde_json::json!({ "tag": tag, "invalidated": n })),
        Err(e) => (StatusCode::BAD_GATEWAY, serde_json::json!({ "tag": tag, "error": e })),
    };
    let reply = warp::reply::with_header(body.to_string(), header::CONTENT_TYPE, "application/json");
    warp::reply::with_status(reply, status).into_response()
}

/// `%XX` escapes and `+` of a query value.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"), 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Which endpoint a request is for.
#[derive(Clone, Copy)]
enum Endpoint {
    Health,
    Metrics,
}

async fn health_response(source: &dyn HealthSource, timeout: Duration) -> Response {
    let health = tokio::time::timeout(timeout, source.health()).await.unwrap_or_else(|_| {
        Health::failed(format!("health check timed out after {}", humantime::format_duration(timeout)))
    });
    let status = if health.status.is_serving() { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let body = serde_json::to_vec(&health).unwrap_or_else(|_| br#"{"status":"unavailable"}"#.to_vec());
    let reply = warp::reply::with_header(body, header::CONTENT_TYPE, "application/json");
    // Probes must see the current state, never a cached one.
    let reply = warp::reply::with_header(reply, header::CACHE_CONTROL, "no-store");
    warp::reply::with_status(reply, status).into_response()
}

fn metrics_response(metrics: &Metrics, accept: Option<&str>) -> Response {
    let format = negotiate(accept);
    match metrics.encode_as(format) {
        Ok(body) => warp::reply::with_header(body, header::CONTENT_TYPE, format.content_type()).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "encoding metrics failed");
            text(StatusCode::INTERNAL_SERVER_ERROR, "encoding metrics failed\n")
        }
    }
}

/// OpenMetrics unless the client accepts only the classic text format (old scrapers send `text/plain` alone;
/// Prometheus lists OpenMetrics first; curl's `*/*` gets OpenMetrics).
fn negotiate(accept: Option<&str>) -> Format {
    match accept {
        Some(a) if !a.contains("application/openmetrics-text") && a.contains("text/plain") => Format::PrometheusText,
        _ => Format::OpenMetrics,
    }
}

fn text(status: StatusCode, body: &'static str) -> Response {
    warp::reply::with_status(warp::reply::with_header(body, header::CONTENT_TYPE, "text/plain; charset=utf-8"), status)
        .into_response()
}

/// Where each endpoint listens; `None` turns it off (`ENABLE_HEALTH=false`, `ENABLE_METRICS=false`). Equal
/// addresses share one listener.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct OpsPlan {
    /// `/healthz`'s address (default `127.0.0.1:8080`).
    pub(crate) health: Option<SocketAddr>,
    /// `/metrics`' address (default `127.0.0.1:9090`).
    pub(crate) metrics: Option<SocketAddr>,
}

/// The running listeners of an [`OpsPlan`].
#[derive(Debug)]
pub(crate) struct OpsServers {
    /// Where `/healthz` is served (the bound address: port 0 resolved).
    pub(crate) health_addr: Option<SocketAddr>,
    /// Where `/metrics` is served.
    pub(crate) metrics_addr: Option<SocketAddr>,
    /// One task per listener.
    tasks: Vec<JoinHandle<()>>,
}

impl OpsServers {
    /// Waits until every listener has stopped (after the shutdown token fired).
    pub(crate) async fn join(self) {
        for task in self.tasks {
            if let Err(e) = task.await {
                tracing::warn!(error = %e, "ops listener task failed");
            }
        }
    }
}

/// Starts the listeners `plan` asks for, all stopping when `shutdown` is cancelled. If the second listener
/// cannot bind, the first is stopped before the error is returned. A listener that panics cancels `shutdown`
/// (the gateway ends cleanly, the reason logged) rather than disappear unnoticed.
pub(crate) async fn start(
    plan: OpsPlan,
    health: Arc<dyn HealthSource>,
    metrics: Arc<Metrics>,
    invalidate: Option<Invalidate>,
    shutdown: CancellationToken,
) -> Result<OpsServers, OpsError> {
    let mut servers = OpsServers { health_addr: None, metrics_addr: None, tasks: Vec::new() };
    match (plan.health, plan.metrics) {
        (Some(h), Some(m)) if h == m => {
            let both = OpsEndpoints { invalidate, ..OpsEndpoints::new().with_health(health).with_metrics(metrics) };
            let (bound, task) = serve(h, both, shutdown.clone().cancelled_owned()).await?;
            servers = OpsServers { health_addr: Some(bound), metrics_addr: Some(bound), tasks: vec![task] };
        }
        (h, m) => {
            // A child token, so a failure below can stop the first listener without cancelling the gateway.
            let local = shutdown.child_token();
            if let Some(addr) = h {
                let endpoints = OpsEndpoints { invalidate, ..OpsEndpoints::new().with_health(health) };
                let (bound, task) = serve(addr, endpoints, local.clone().cancelled_owned()).await?;
                servers.health_addr = Some(bound);
                servers.tasks.push(task);
            }
            if let Some(addr) = m {
                match serve(addr, OpsEndpoints::new().with_metrics(metrics), local.clone().cancelled_owned()).await {
                    Ok((bound, task)) => {
                        servers.metrics_addr = Some(bound);
                        servers.tasks.push(task);
                    }
                    Err(e) => {
                        local.cancel();
                        servers.join().await;
                        return Err(e);
                    }
                }
            }
        }
    }
    servers.tasks = servers.tasks.into_iter().map(|task| tokio::spawn(end_on_panic(task, shutdown.clone()))).collect();
    Ok(servers)
}

/// Waits for a listener task; if it panicked, logs why and cancels `shutdown`.
async fn end_on_panic(task: JoinHandle<()>, shutdown: CancellationToken) {
    if let Err(e) = task.await {
        if e.is_panic() {
            tracing::error!(error = %e, "an ops listener panicked; shutting down");
            shutdown.cancel();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::health::{AsyncHealth, CacheHealth, ServerHealth, ServerState};
    use super::*;
    use crate::telemetry::{Outcome, ServerLabels, ToolLabels};
    use http_body_util::{BodyExt, Empty};
    use hyper::body::Bytes;

    /// One request on a fresh connection: (status, content type, body).
    async fn request(addr: SocketAddr, method: Method, path: &str, accept: Option<&str>) -> (u16, String, String) {
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (mut send, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await.unwrap();
        tokio::spawn(conn);
        let mut req = hyper::Request::builder().method(method).uri(path).header("host", addr.to_string());
        if let Some(a) = accept {
            req = req.header("accept", a);
        }
        let resp = send.send_request(req.body(Empty::<Bytes>::new()).unwrap()).await.unwrap();
        let status = resp.status().as_u16();
        let ctype = resp.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        (status, ctype, String::from_utf8(body.to_vec()).unwrap())
    }

    async fn get(addr: SocketAddr, path: &str) -> (u16, String, String) {
        request(addr, Method::GET, path, None).await
    }

    fn localhost() -> SocketAddr {
        "127.0.0.1:0".parse().unwrap()
    }

    /// One ready server `app.fs`; `serving` can be switched off.
    struct OneServer {
        serving: std::sync::atomic::AtomicBool,
    }

    impl OneServer {
        fn set_serving(&self, serving: bool) {
            self.serving.store(serving, std::sync::atomic::Ordering::Relaxed);
        }
    }

    impl HealthSource for OneServer {
        fn health(&self) -> health::HealthFuture<'_> {
            let fs = ServerHealth { state: ServerState::Ready, ..ServerHealth::default() };
            let serving = self.serving.load(std::sync::atomic::Ordering::Relaxed);
            Box::pin(std::future::ready(Health::build(serving, [("app", "fs", fs)], CacheHealth::disabled())))
        }
    }

    fn sources() -> (Arc<OneServer>, Arc<Metrics>) {
        let metrics = Arc::new(Metrics::new());
        let board = Arc::new(OneServer { serving: true.into() });
        let fs = ServerLabels::new("app", "fs");
        metrics.tool(ToolLabels::new(&fs, "read_file")).record_request(Outcome::Ok, Duration::from_millis(2));
        (board, metrics)
    }

    #[tokio::test]
    async fn one_listener_serves_both_endpoints_and_404s_the_rest() {
        let (board, metrics) = sources();
        let token = CancellationToken::new();
        let what = OpsEndpoints::new().with_health(board.clone()).with_metrics(metrics);
        let (addr, task) = serve(localhost(), what, token.clone().cancelled_owned()).await.unwrap();

        let (status, ctype, body) = get(addr, "/healthz").await;
        assert_eq!((status, ctype.as_str()), (200, "application/json"));
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(json["status"], "ok");
        assert_eq!(json["namespaces"]["app"]["servers"]["fs"]["state"], "ready");

        let (status, ctype, body) = get(addr, "/metrics").await;
        assert_eq!(status, 200);
        assert_eq!(ctype, Format::OpenMetrics.content_type());
        assert!(body.contains(r#"gateway_requests_total{namespace="app",server="fs",tool="read_file",outcome="ok"} 1"#));
        assert!(body.ends_with("# EOF\n"));

        let (status, ctype, body) = request(addr, Method::GET, "/metrics", Some("text/plain;version=0.0.4")).await;
        assert_eq!((status, ctype.as_str()), (200, Format::PrometheusText.content_type()));
        assert!(!body.contains("# EOF"));

        assert_eq!(get(addr, "/").await.0, 404);
        assert_eq!(get(addr, "/healthz/extra").await.0, 404);
        assert_eq!(get(addr, "/metricsx").await.0, 404);
        assert_eq!(request(addr, Method::POST, "/metrics", None).await.0, 405);
        assert_eq!(request(addr, Method::HEAD, "/healthz", None).await.0, 200);

        token.cancel();
        tokio::time::timeout(Duration::from_secs(5), task).await.expect("listener stops on shutdown").unwrap();
        assert!(tokio::net::TcpStream::connect(addr).await.is_err(), "the port is closed after shutdown");
    }

    #[tokio::test]
    async fn healthz_is_503_when_not_serving_or_when_the_source_hangs() {
        let (board, _) = sources();
        board.set_serving(false);
        let token = CancellationToken::new();
        let (addr, _) =
            serve(localhost(), OpsEndpoints::new().with_health(board), token.clone().cancelled_owned()).await.unwrap();
        let (status, _, body) = get(addr, "/healthz").await;
        assert_eq!(status, 503, "{body}");
        assert_eq!(get(addr, "/metrics").await.0, 404, "metrics are not on this listener");

        let stuck = AsyncHealth(std::future::pending::<Health>);
        let mut what = OpsEndpoints::new().with_health(Arc::new(stuck));
        what.health_timeout = Duration::from_millis(50);
        let (addr, _) = serve(localhost(), what, token.clone().cancelled_owned()).await.unwrap();
        let (status, _, body) = get(addr, "/healthz").await;
        assert_eq!(status, 503);
        assert!(body.contains("timed out after 50ms"), "{body}");
        token.cancel();
    }

    #[tokio::test]
    async fn a_plan_with_two_ports_runs_two_listeners() {
        let (board, metrics) = sources();
        let token = CancellationToken::new();
        // The metrics port is taken: the error names the endpoint, and the health listener started first is
        // stopped again.
        let taken = TcpListener::bind(localhost()).await.unwrap();
        let plan = OpsPlan { health: Some(localhost()), metrics: Some(taken.local_addr().unwrap()) };
        let e = start(plan, board.clone(), metrics.clone(), None, token.clone()).await.unwrap_err();
        assert!(e.to_string().contains("for /metrics"), "{e}");
        assert!(!token.is_cancelled(), "a failed start does not cancel the gateway's token");

        let plan = OpsPlan { health: Some(localhost()), metrics: Some(localhost()) };
        // Equal addresses (both port 0) share one listener.
        let shared = start(plan, board.clone(), metrics.clone(), None, token.clone()).await.unwrap();
        assert_eq!(shared.health_addr, shared.metrics_addr);

        let split =
            start(OpsPlan { health: Some(localhost()), metrics: None }, board, metrics.clone(), None, token.clone())
                .await
                .unwrap();
        let health = split.health_addr.unwrap();
        assert_eq!(split.metrics_addr, None);
        assert_eq!(get(health, "/healthz").await.0, 200);
        assert_eq!(get(health, "/metrics").await.0, 404);

        let (m_addr, _) =
            serve(localhost(), OpsEndpoints::new().with_metrics(metrics), token.clone().cancelled_owned())
                .await
                .unwrap();
        assert_ne!(m_addr, health);
        assert_eq!(get(m_addr, "/metrics").await.0, 200);
        assert_eq!(get(m_addr, "/healthz").await.0, 404);

        token.cancel();
        tokio::time::timeout(Duration::from_secs(5), async {
            shared.join().await;
            split.join().await;
        })
        .await
        .expect("every listener stops");
    }

    #[tokio::test]
    async fn a_taken_port_is_a_bind_error() {
        let taken = TcpListener::bind(localhost()).await.unwrap();
        let addr = taken.local_addr().unwrap();
        let err = serve(addr, OpsEndpoints::new(), std::future::pending()).await.unwrap_err();
        assert!(matches!(err, OpsError::Bind { addr: a, .. } if a == addr), "{err}");
    }

    #[test]
    fn negotiation() {
        assert_eq!(negotiate(None), Format::OpenMetrics);
        assert_eq!(negotiate(Some("*/*")), Format::OpenMetrics);
        assert_eq!(
            negotiate(Some("application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5")),
            Format::OpenMetrics
        );
        assert_eq!(negotiate(Some("text/plain;version=0.0.4")), Format::PrometheusText);
    }
}
