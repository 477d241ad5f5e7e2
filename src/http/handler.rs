//! The endpoints: `/mcp` (POST, GET, DELETE in both eras) and the protected resource metadata.
//!
//! A POST is parsed once (envelope only); its answer is awaited on a channel of its own. The first frame for
//! it decides the shape of the HTTP answer: the response itself → `application/json`; anything before it
//! (progress, a server's request) → an SSE stream that ends with the response. A client that goes away before
//! its answer cancels the call at the server (`notifications/cancelled`), in both eras: nobody is left to
//! receive the result.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes};
use serde_json::value::RawValue;
use tokio::sync::mpsc;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};
use warp::http::header::{HeaderMap, HeaderValue, ACCEPT, ALLOW, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, HOST};
use warp::http::{Method, StatusCode};
use warp::reply::{Reply, Response};
use warp::sse::Event;
use warp::{Filter, Stream};

use super::auth::Auth;
use super::exchange::{classify, ExchangeError, Outbound as Routed, Waiter};
use super::headers::{self, check_modern, Accepts, ModernHeaders, Origins};
use super::sessions::{HttpSession, Sessions};
use crate::clients::Outbound;
use crate::protocol::{self, code, Envelope, Kind, MODERN_VERSION, SUPPORTED_LEGACY_VERSIONS};
use crate::session::{Session, Shared};

/// How often an idle SSE stream carries a comment, so that proxies and clients keep it open.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// JSON-RPC code of "session not found" (what the reference SDKs answer with the 404).
const SESSION_NOT_FOUND: i64 = -32001;

/// Everything the endpoints share.
pub struct Front {
    pub shared: Arc<Shared>,
    pub sessions: Sessions,
    pub auth: Auth,
    pub origins: Origins,
    pub max_body: usize,
    /// Cancelled when the front stops: open streams end.
    pub closing: CancellationToken,
}

/// The warp filter serving every path of the front's listener.
pub fn routes(front: Arc<Front>) -> impl Filter<Extract = (Response,), Error = warp::Rejection> + Clone {
    warp::method().and(warp::path::full()).and(warp::header::headers_cloned()).and(warp::body::stream()).then(
        move |method: Method, path: warp::path::FullPath, headers: HeaderMap, body| {
            let front = front.clone();
            async move { front.handle(&method, path.as_str(), &headers, body).await }
        },
    )
}

fn header(headers: &HeaderMap, name: impl warp::http::header::AsHeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

impl Front {
    async fn handle<S, B>(&self, method: &Method, path: &str, headers: &HeaderMap, body: S) -> Response
    where
        S: Stream<Item = Result<B, warp::Error>>,
        B: Buf,
    {
        match path {
            "/mcp" => {}
            "/.well-known/oauth-protected-resource" | "/.well-known/oauth-protected-resource/mcp" => {
                if method != Method::GET {
                    return with_header(plain(StatusCode::METHOD_NOT_ALLOWED, "use GET\n"), ALLOW, "GET");
                }
                let doc = self.auth.metadata(header(headers, HOST));
                return json(StatusCode::OK, Bytes::from(doc.to_string()));
            }
            _ => return plain(StatusCode::NOT_FOUND, "not found; the MCP endpoint is /mcp\n"),
        }
        // DNS rebinding: a browser page from elsewhere must not reach a local gateway.
        if let Some(origin) = headers.get("origin") {
            if !origin.to_str().is_ok_and(|o| self.origins.allows(o)) {
                let shown = String::from_utf8_lossy(origin.as_bytes()).into_owned();
                tracing::warn!(origin = %shown, "refused a request from an origin that is not allowed");
                let msg = format!("Forbidden: origin {shown} is not allowed ([front.http] allowed_origins)");
                return rpc_error(StatusCode::FORBIDDEN, None, code::INVALID_REQUEST, &msg);
            }
        }
        let identity = match self.auth.check(header(headers, AUTHORIZATION)) {
            Ok(identity) => identity,
            Err(e) => {
                let challenge = self.auth.challenge(header(headers, HOST), e);
                let resp =
                    rpc_error(StatusCode::UNAUTHORIZED, None, code::INVALID_REQUEST, &format!("Unauthorized: {e}"));
                return with_header(resp, warp::http::header::WWW_AUTHENTICATE, &challenge);
            }
        };
        match *method {
            Method::POST => self.post(headers, body, identity).await,
            Method::GET => self.get(headers, identity.as_deref()),
            Method::DELETE => self.delete(headers, identity.as_deref()),
            _ => with_header(
                plain(StatusCode::METHOD_NOT_ALLOWED, "use POST, GET or DELETE\n"),
                ALLOW,
                "GET, POST, DELETE",
            ),
        }
    }

    async fn post<S, B>(&self, headers: &HeaderMap, body: S, identity: Option<Arc<str>>) -> Response
    where
        S: Stream<Item = Result<B, warp::Error>>,
        B: Buf,
    {
        let body = match read_body(headers, body, self.max_body).await {
            Ok(body) => body,
            Err(BodyError::TooLarge(len)) => {
                let msg = format!(
                    "Payload Too Large: the request body{} is over this gateway's limit of {} bytes ([front.http] max_body_bytes); it was not read",
                    len.map_or(String::new(), |l| format!(" of {l} bytes")),
                    self.max_body
                );
                return rpc_error(StatusCode::PAYLOAD_TOO_LARGE, None, code::INVALID_REQUEST, &msg);
            }
            Err(BodyError::Read(e)) => {
                return rpc_error(
                    StatusCode::BAD_REQUEST,
                    None,
                    code::PARSE_ERROR,
                    &format!("cannot read the body: {e}"),
                )
            }
        };
        let env = match Envelope::parse(&body) {
            Ok(env) => env,
            Err(e) => {
                let msg = format!("Parse error: the body must be one JSON-RPC message ({e})");
                return rpc_error(StatusCode::BAD_REQUEST, None, code::PARSE_ERROR, &msg);
            }
        };
        let accepts = Accepts::parse(header(headers, ACCEPT));
        if !accepts.json && !accepts.sse {
            let msg = "Not Acceptable: the client must accept application/json and text/event-stream";
            return rpc_error(StatusCode::NOT_ACCEPTABLE, env.id, code::INVALID_REQUEST, msg);
        }
        let version = headers.get(headers::PROTOCOL_VERSION);
        let session_id = header(headers, headers::SESSION_ID);
        let modern = version.is_some_and(|v| v.as_bytes() == MODERN_VERSION.as_bytes())
            || (session_id.is_none() && is_modern_body(&env));
        if modern {
            return self.modern_post(headers, &env, accepts, identity).await;
        }
        if let Some(v) = version {
            if !v.to_str().is_ok_and(|v| SUPPORTED_LEGACY_VERSIONS.contains(&v)) {
                let msg = format!(
                    "Bad Request: unsupported MCP-Protocol-Version {}; this gateway speaks {} and {MODERN_VERSION}",
                    String::from_utf8_lossy(v.as_bytes()),
                    SUPPORTED_LEGACY_VERSIONS.join(", ")
                );
                return rpc_error(StatusCode::BAD_REQUEST, env.id, code::INVALID_REQUEST, &msg);
            }
        }
        self.legacy_post(session_id, &env, accepts, identity).await
    }

    async fn legacy_post(
        &self,
        session_id: Option<&str>,
        env: &Envelope<'_>,
        accepts: Accepts,
        identity: Option<Arc<str>>,
    ) -> Response {
        let is_initialize = env.kind() == Kind::Request && env.method.as_deref() == Some("initialize");
        let (http, created) = match session_id {
            Some(sid) => match self.sessions.get(sid, identity.as_deref()) {
                Some(s) => (s, false),
                None => return session_not_found(env.id),
            },
            None if is_initialize => match self.sessions.create(&self.shared, identity) {
                Ok(s) => (s, true),
                Err(e) => {
                    let resp = rpc_error(StatusCode::SERVICE_UNAVAILABLE, env.id, code::INTERNAL_ERROR, &e.to_string());
                    return with_header(resp, warp::http::header::RETRY_AFTER, "5");
                }
            },
            None => {
                let msg = "Bad Request: the Mcp-Session-Id header is missing; send initialize first";
                return rpc_error(StatusCode::BAD_REQUEST, env.id, code::INVALID_REQUEST, msg);
            }
        };
        if env.kind() != Kind::Request {
            http.session.handle_envelope(env);
            return plain(StatusCode::ACCEPTED, "");
        }
        let id = env.id.expect("a request has an id");
        let (tx, rx) = mpsc::unbounded_channel();
        let waiter = Waiter {
            tx,
            sse: accepts.sse,
            call: matches!(
                env.method.as_deref(),
                Some("tools/call" | "prompts/get" | "resources/read" | "completion/complete")
            ),
            token: progress_token(env.params),
        };
        match http.exchange.expect(protocol::raw_key(id), waiter) {
            Ok(()) => {}
            Err(ExchangeError::DuplicateId) => {
                let msg = "Invalid Request: a request with this id is still in flight in this session";
                return rpc_error(StatusCode::BAD_REQUEST, Some(id), code::INVALID_REQUEST, msg);
            }
            Err(_) => return session_not_found(Some(id)),
        }
        let guard = InFlight { owner: Owner::Legacy(http.clone()), id: id.to_owned(), armed: true };
        http.session.handle_envelope(env);
        let resp = self.answer(rx, guard, accepts, false).await;
        if created {
            with_header(resp, headers::SESSION_ID, &http.id)
        } else {
            resp
        }
    }

    async fn modern_post(
        &self,
        headers: &HeaderMap,
        env: &Envelope<'_>,
        accepts: Accepts,
        identity: Option<Arc<str>>,
    ) -> Response {
        let kind = env.kind();
        if !matches!(kind, Kind::Request | Kind::Notification) {
            let msg = "Invalid Request: the body must be a JSON-RPC request or notification";
            return rpc_error(StatusCode::BAD_REQUEST, env.id, code::INVALID_REQUEST, msg);
        }
        let method = env.method.as_deref().expect("requests and notifications have a method");
        let visible = |name: &str| headers.get(name).map(|v| v.to_str().map_err(|_| name.to_owned())).transpose();
        let checked = (|| {
            let h = ModernHeaders {
                version: visible(headers::PROTOCOL_VERSION).map_err(invalid_chars)?,
                method: visible(headers::MCP_METHOD).map_err(invalid_chars)?,
                name: visible(headers::MCP_NAME).map_err(invalid_chars)?,
            };
            check_modern(&h, method, env.params)?;
            self.check_param_headers(headers, method, env.params)
        })();
        if let (Err(msg), Kind::Request) = (checked, kind) {
            return rpc_error(StatusCode::BAD_REQUEST, env.id, code::HEADER_MISMATCH, &msg);
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let owner = identity.as_deref().map_or(ANONYMOUS, owner_of);
        let client = self.shared.clients.open_with(Outbound::Channel(tx), Some(owner));
        if let Some(who) = &identity {
            let _ = client.identity.set(who.to_string());
        }
        let session = Session::with_client(self.shared.clone(), client);
        if kind == Kind::Notification {
            session.handle_envelope(env);
            return plain(StatusCode::ACCEPTED, "");
        }
        let guard = InFlight { owner: Owner::Modern(session), id: env.id.expect("a request").to_owned(), armed: true };
        guard.session().handle_envelope(env);
        self.answer(rx, guard, accepts, true).await
    }

    /// `Mcp-Param-*` headers of a `tools/call`, against the arguments the tool's schema annotates.
    fn check_param_headers(&self, sent: &HeaderMap, method: &str, params: Option<&RawValue>) -> Result<(), String> {
        if method != "tools/call" {
            return Ok(());
        }
        let obj = params.and_then(|p| protocol::RawObject::parse(p).ok()).unwrap_or_default();
        let Some(name) = obj.get_str("name") else { return Ok(()) };
        let table = self.shared.table.load();
        let Some(item) = table.tools.item(&name) else { return Ok(()) };
        let annotations = headers::param_headers(item);
        headers::check_params(&annotations, obj.get("arguments"), |h| sent.get(h).map(|v| v.to_str().map_err(|_| ())))
    }

    /// Waits for what answers one request: JSON when the response comes first (unless the client prefers a stream),
    /// else an SSE stream.
    async fn answer(
        &self,
        mut rx: mpsc::UnboundedReceiver<Bytes>,
        mut guard: InFlight,
        accepts: Accepts,
        modern: bool,
    ) -> Response {
        loop {
            let frame = tokio::select! {
                frame = rx.recv() => frame,
                _ = self.closing.cancelled() => None,
            };
            let Some(frame) = frame else {
                guard.armed = false;
                return match guard.owner {
                    Owner::Legacy(_) => session_not_found(Some(&guard.id)),
                    Owner::Modern(_) => rpc_error(
                        StatusCode::SERVICE_UNAVAILABLE,
                        Some(&guard.id),
                        code::INTERNAL_ERROR,
                        "the gateway is shutting down",
                    ),
                };
            };
            if matches!(classify(&frame), Routed::Response(_)) {
                let status = if modern { modern_status(&frame) } else { StatusCode::OK };
                // A client that would rather stream gets its answer as a stream (unless the status says more).
                if !(accepts.prefers_sse && accepts.sse && status == StatusCode::OK) {
                    guard.armed = false;
                    return json(status, frame);
                }
            } else if !accepts.sse {
                // Only the response can reach a JSON-only client; a legacy session sends the rest elsewhere.
                continue;
            }
            let frames = SseFrames {
                first: Some(frame),
                rx,
                guard: Some(guard),
                closing: Box::pin(self.closing.clone().cancelled_owned()),
                done: false,
            };
            return sse(frames);
        }
    }

    fn get(&self, headers: &HeaderMap, identity: Option<&str>) -> Response {
        let modern = headers.get(headers::PROTOCOL_VERSION).is_some_and(|v| v.as_bytes() == MODERN_VERSION.as_bytes());
        let Some(sid) = header(headers, headers::SESSION_ID).filter(|_| !modern) else {
            return method_not_allowed();
        };
        if !Accepts::parse(header(headers, ACCEPT)).sse {
            let msg = "Not Acceptable: the GET stream is text/event-stream";
            return rpc_error(StatusCode::NOT_ACCEPTABLE, None, code::INVALID_REQUEST, msg);
        }
        let Some(http) = self.sessions.get(sid, identity) else { return session_not_found(None) };
        let rx = match http.exchange.open_stream() {
            Ok(rx) => rx,
            Err(ExchangeError::StreamOpen) => {
                let msg = "Conflict: this session has a GET stream open already";
                return rpc_error(StatusCode::CONFLICT, None, code::INVALID_REQUEST, msg);
            }
            Err(_) => return session_not_found(None),
        };
        let frames = StreamFrames { rx, session: http, closing: Box::pin(self.closing.clone().cancelled_owned()) };
        let events = warp::sse::keep_alive().interval(KEEP_ALIVE).stream(frames);
        let resp = warp::sse::reply(events).into_response();
        with_header(resp, "x-accel-buffering", "no")
    }

    fn delete(&self, headers: &HeaderMap, identity: Option<&str>) -> Response {
        let modern = headers.get(headers::PROTOCOL_VERSION).is_some_and(|v| v.as_bytes() == MODERN_VERSION.as_bytes());
        let Some(sid) = header(headers, headers::SESSION_ID).filter(|_| !modern) else {
            return method_not_allowed();
        };
        if self.sessions.get(sid, identity).is_none() {
            return session_not_found(None);
        }
        self.sessions.remove(sid);
        tracing::info!(session = %sid, "HTTP session ended by the client");
        plain(StatusCode::OK, "")
    }
}

fn invalid_chars(name: String) -> String {
    format!("Header mismatch: the {name} header value contains characters that are not visible ASCII")
}

/// Stateless requests without a token share one owner (anyone may resume an anonymous parked call that they
/// hold the unguessable `requestState` of); with tokens, each identity is its own owner.
const ANONYMOUS: u64 = 1 << 63;

fn owner_of(identity: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    identity.hash(&mut h);
    h.finish() | ANONYMOUS
}

/// A body that carries the 2026-07-28 envelope (or is `server/discover`).
fn is_modern_body(env: &Envelope<'_>) -> bool {
    match env.method.as_deref() {
        Some("server/discover") => true,
        Some(method) => !matches!(crate::era::classify(method, env.params), Ok(None)),
        None => false,
    }
}

/// The request's progress token (raw JSON text), looked for only when the params mention one.
fn progress_token(params: Option<&RawValue>) -> Option<Box<str>> {
    let params = params?;
    memchr::memmem::find(params.get().as_bytes(), b"progressToken")?;
    let obj = protocol::RawObject::parse(params).ok()?;
    protocol::progress_token(&obj).map(|t| protocol::raw_key(&t).into())
}

/// The HTTP status of a modern request's answer: its errors that the transport names get their own status.
fn modern_status(frame: &[u8]) -> StatusCode {
    if memchr::memmem::find(frame, br#""error""#).is_none() {
        return StatusCode::OK;
    }
    #[derive(serde::Deserialize)]
    struct Code {
        code: i64,
    }
    let code = Envelope::parse(frame)
        .ok()
        .and_then(|e| e.error)
        .and_then(|e| serde_json::from_str::<Code>(e.get()).ok())
        .map(|c| c.code);
    match code {
        Some(code::METHOD_NOT_FOUND) => StatusCode::NOT_FOUND,
        Some(code::HEADER_MISMATCH | code::MISSING_CLIENT_CAPABILITY | code::UNSUPPORTED_VERSION) => {
            StatusCode::BAD_REQUEST
        }
        _ => StatusCode::OK,
    }
}

enum BodyError {
    TooLarge(Option<u64>),
    Read(warp::Error),
}

/// How much of an oversized body is read and thrown away before the 413, so that the client, still sending,
/// reads the answer instead of a connection reset (closing a socket with unread data resets it).
const DRAIN: u64 = 1 << 20;

/// The whole body, refused once it is known to be over `limit` (by `Content-Length`, or while reading); what
/// is left of a moderately oversized body is drained (up to [`DRAIN`]) but not kept.
async fn read_body<S, B>(headers: &HeaderMap, body: S, limit: usize) -> Result<Vec<u8>, BodyError>
where
    S: Stream<Item = Result<B, warp::Error>>,
    B: Buf,
{
    let declared = header(headers, CONTENT_LENGTH).and_then(|v| v.trim().parse::<u64>().ok());
    let mut body = std::pin::pin!(body);
    if declared.is_some_and(|len| len > limit as u64) {
        if declared.is_some_and(|len| len <= limit as u64 + DRAIN) {
            while let Some(Ok(_)) = next_chunk(&mut body).await {}
        }
        return Err(BodyError::TooLarge(declared));
    }
    let mut out = Vec::with_capacity(declared.unwrap_or(256).min(limit as u64) as usize);
    while let Some(chunk) = next_chunk(&mut body).await {
        let mut chunk = chunk.map_err(BodyError::Read)?;
        if out.len() + chunk.remaining() > limit {
            let mut seen = (out.len() + chunk.remaining()) as u64;
            while seen <= limit as u64 + DRAIN {
                match next_chunk(&mut body).await {
                    Some(Ok(more)) => seen += more.remaining() as u64,
                    _ => break,
                }
            }
            return Err(BodyError::TooLarge(None));
        }
        while chunk.has_remaining() {
            let part = chunk.chunk();
            out.extend_from_slice(part);
            let n = part.len();
            chunk.advance(n);
        }
    }
    Ok(out)
}

async fn next_chunk<S: Stream>(s: &mut Pin<&mut S>) -> Option<S::Item> {
    std::future::poll_fn(|cx| s.as_mut().poll_next(cx)).await
}

/// Whose request is in flight, so that a client leaving early cancels it.
enum Owner {
    Legacy(Arc<HttpSession>),
    /// A stateless request owns its session (its client handle ends with it).
    Modern(Session),
}

/// A request in flight; dropped while armed (the client went away), it cancels the call at its server.
struct InFlight {
    owner: Owner,
    id: Box<RawValue>,
    armed: bool,
}

impl InFlight {
    fn session(&self) -> &Session {
        match &self.owner {
            Owner::Legacy(http) => &http.session,
            Owner::Modern(session) => session,
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        tracing::info!(id = %self.id.get(), "the client went away before its answer; cancelling the call");
        if let Owner::Legacy(http) = &self.owner {
            http.exchange.forget(protocol::raw_key(&self.id));
        }
        self.session().cancel(&self.id);
    }
}

/// The frames of one request as SSE events, ending with its response.
struct SseFrames {
    first: Option<Bytes>,
    rx: mpsc::UnboundedReceiver<Bytes>,
    guard: Option<InFlight>,
    closing: Pin<Box<WaitForCancellationFutureOwned>>,
    done: bool,
}

impl SseFrames {
    fn emit(&mut self, frame: Bytes) -> Poll<Option<Result<Event, Infallible>>> {
        if matches!(classify(&frame), Routed::Response(_)) {
            self.done = true;
            if let Some(mut guard) = self.guard.take() {
                guard.armed = false;
            }
        }
        Poll::Ready(Some(Ok(event(&frame))))
    }
}

impl Stream for SseFrames {
    type Item = Result<Event, Infallible>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        if let Some(frame) = this.first.take() {
            return this.emit(frame);
        }
        if this.closing.as_mut().poll(cx).is_ready() {
            this.done = true;
            return Poll::Ready(None);
        }
        match this.rx.poll_recv(cx) {
            Poll::Ready(Some(frame)) => this.emit(frame),
            Poll::Ready(None) => {
                this.done = true;
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

/// A legacy session's GET stream.
struct StreamFrames {
    rx: mpsc::UnboundedReceiver<Bytes>,
    session: Arc<HttpSession>,
    closing: Pin<Box<WaitForCancellationFutureOwned>>,
}

impl Stream for StreamFrames {
    type Item = Result<Event, Infallible>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.closing.as_mut().poll(cx).is_ready() {
            return Poll::Ready(None);
        }
        this.rx.poll_recv(cx).map(|frame| frame.map(|f| Ok(event(&f))))
    }
}

impl Drop for StreamFrames {
    fn drop(&mut self) {
        self.rx.close();
        self.session.exchange.close_stream();
    }
}

/// One frame as an SSE `message` event (frames are single-line JSON).
fn event(frame: &[u8]) -> Event {
    let text = frame.strip_suffix(b"\n").unwrap_or(frame);
    Event::default().event("message").data(String::from_utf8_lossy(text).into_owned())
}

fn sse(frames: SseFrames) -> Response {
    let events = warp::sse::keep_alive().interval(KEEP_ALIVE).stream(frames);
    with_header(warp::sse::reply(events).into_response(), "x-accel-buffering", "no")
}

fn json(status: StatusCode, body: impl Into<Bytes>) -> Response {
    let mut resp = Response::new(body.into().into());
    *resp.status_mut() = status;
    resp.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

fn plain(status: StatusCode, text: &'static str) -> Response {
    let mut resp = Response::new(Bytes::from_static(text.as_bytes()).into());
    *resp.status_mut() = status;
    if !text.is_empty() {
        resp.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    }
    resp
}

fn with_header(mut resp: Response, name: impl warp::http::header::IntoHeaderName, value: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(value) {
        resp.headers_mut().insert(name, v);
    }
    resp
}

/// An HTTP error with a JSON-RPC error body (id `null` when the request's id is unknown).
fn rpc_error(status: StatusCode, id: Option<&RawValue>, code: i64, message: &str) -> Response {
    let null = protocol::null_id();
    json(status, protocol::error_frame(id.unwrap_or(&null), code, message, None))
}

fn session_not_found(id: Option<&RawValue>) -> Response {
    let msg = "Session not found: it ended (DELETE, idle timeout, or a restart of the gateway); initialize a new one";
    rpc_error(StatusCode::NOT_FOUND, id, SESSION_NOT_FOUND, msg)
}

fn method_not_allowed() -> Response {
    let resp = rpc_error(
        StatusCode::METHOD_NOT_ALLOWED,
        None,
        code::INVALID_REQUEST,
        "Method Not Allowed: without an Mcp-Session-Id (and always in protocol 2026-07-28) only POST is served",
    );
    with_header(resp, ALLOW, "POST")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modern_errors_named_by_the_transport_get_their_status() {
        let id: &RawValue = serde_json::from_str("1").unwrap();
        assert_eq!(modern_status(&protocol::error_frame(id, -32601, "x", None)), StatusCode::NOT_FOUND);
        assert_eq!(modern_status(&protocol::error_frame(id, -32022, "x", None)), StatusCode::BAD_REQUEST);
        assert_eq!(modern_status(&protocol::error_frame(id, -32602, "x", None)), StatusCode::OK);
        assert_eq!(modern_status(&protocol::response_frame_bytes(id, br#"{"error":1}"#)), StatusCode::OK);
    }

    #[test]
    fn tokens_are_read_only_when_mentioned() {
        let p: &RawValue = serde_json::from_str(r#"{"name":"t","_meta":{"progressToken":"a b"}}"#).unwrap();
        assert_eq!(progress_token(Some(p)).as_deref(), Some(r#""a b""#));
        let none: &RawValue = serde_json::from_str(r#"{"name":"t"}"#).unwrap();
        assert_eq!(progress_token(Some(none)), None);
    }
}
