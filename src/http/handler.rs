//! The endpoints: `/mcp` (POST, GET, DELETE in both eras) and the protected resource metadata.
//!
//! A POST is parsed once (envelope only); its answer is awaited on a channel of its own. The first frame for
//! it decides the shape of the HTTP answer: the response itself → `application/json`; anything before it
//! (progress, a server's request) → an SSE stream that ends with the response. A client that goes away before
//! its answer cancels the call at the server (`notifications/cancelled`), in both eras: nobody is left to
//! receive the result.
//!
//! Everything a request needs from its headers and body is taken before its answer is awaited, and the request
//! itself is dropped then: hyper's read buffer, which the headers and body point into, is free again for the
//! connection's next request instead of being reallocated.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http::header::{
    HeaderMap, HeaderValue, ACCEPT, ALLOW, AUTHORIZATION, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, HOST,
};
use http::{Method, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use serde_json::value::RawValue;
use tokio::sync::mpsc;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use super::auth::Auth;
use super::body::{Body, Frames};
use super::exchange::{classify, ExchangeError, Outbound as Routed, Waiter};
use super::headers::{self, check_modern, Accepts, ModernHeaders, Origins};
use super::inbox::{self, Receiver};
use super::sessions::{HttpSession, Sessions};
use crate::dispatch::client::Outbound;
use crate::protocol::{self, code, Envelope, Kind, MODERN_VERSION, SUPPORTED_LEGACY_VERSIONS};
use crate::session::{Session, Shared};

pub(crate) type Response = http::Response<Body>;

/// JSON-RPC code of "session not found" (what the reference SDKs answer with the 404).
const SESSION_NOT_FOUND: i64 = -32001;

/// Everything the endpoints share.
pub(crate) struct Front {
    pub(crate) shared: Arc<Shared>,
    pub(crate) sessions: Sessions,
    pub(crate) auth: Auth,
    pub(crate) origins: Origins,
    pub(crate) max_body: usize,
    /// Bounds on connections (count, timeouts), applied by the accept loop.
    pub(crate) limits: super::conn::ConnLimits,
    /// Cancelled when the front stops: open streams end, and the listener stops accepting.
    pub(crate) closing: CancellationToken,
}

fn header(headers: &HeaderMap, name: impl http::header::AsHeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// A request handled as far as it can be without waiting: answered, or waiting for its answer's first frame.
enum Step {
    Done(Response),
    Wait(Pending),
}

/// A request whose answer is awaited (its request already dropped).
struct Pending {
    rx: Receiver,
    guard: InFlight,
    accepts: Accepts,
    modern: bool,
    /// The `Mcp-Session-Id` to announce (the request was the session's `initialize`).
    created: Option<Arc<str>>,
}

impl Front {
    /// Answers one request on any path of the front's listener.
    pub(crate) async fn handle(&self, req: http::Request<Incoming>) -> Response {
        crate::spin::activity();
        let (parts, body) = req.into_parts();
        let step = self.step(&parts.method, parts.uri.path(), &parts.headers, body).await;
        drop(parts);
        match step {
            Step::Done(resp) => resp,
            Step::Wait(pending) => self.answer(pending).await,
        }
    }

    async fn step(&self, method: &Method, path: &str, headers: &HeaderMap, body: Incoming) -> Step {
        match path {
            "/mcp" => {}
            "/.well-known/oauth-protected-resource" | "/.well-known/oauth-protected-resource/mcp" => {
                if method != Method::GET {
                    return Step::Done(with_header(plain(StatusCode::METHOD_NOT_ALLOWED, "use GET\n"), ALLOW, "GET"));
                }
                let doc = self.auth.metadata(header(headers, HOST));
                return Step::Done(json(StatusCode::OK, Bytes::from(doc.to_string())));
            }
            _ => return Step::Done(plain(StatusCode::NOT_FOUND, "not found; the MCP endpoint is /mcp\n")),
        }
        // DNS rebinding: a browser page from elsewhere must not reach a local gateway.
        if let Some(origin) = headers.get("origin") {
            if !origin.to_str().is_ok_and(|o| self.origins.allows(o)) {
                let shown = String::from_utf8_lossy(origin.as_bytes()).into_owned();
                tracing::warn!(origin = %shown, "refused a request from an origin that is not allowed");
                let msg = format!("Forbidden: origin {shown} is not allowed ([front.http] allowed_origins)");
                return Step::Done(rpc_error(StatusCode::FORBIDDEN, None, code::INVALID_REQUEST, &msg));
            }
        }
        let identity = match self.auth.check(header(headers, AUTHORIZATION)) {
            Ok(identity) => identity,
            Err(e) => {
                let challenge = self.auth.challenge(header(headers, HOST), e);
                let resp =
                    rpc_error(StatusCode::UNAUTHORIZED, None, code::INVALID_REQUEST, &format!("Unauthorized: {e}"));
                return Step::Done(with_header(resp, http::header::WWW_AUTHENTICATE, &challenge));
            }
        };
        match *method {
            Method::POST => self.post(headers, body, identity).await,
            Method::GET => Step::Done(self.get(headers, identity.as_deref())),
            Method::DELETE => Step::Done(self.delete(headers, identity.as_deref())),
            _ => Step::Done(with_header(
                plain(StatusCode::METHOD_NOT_ALLOWED, "use POST, GET or DELETE\n"),
                ALLOW,
                "GET, POST, DELETE",
            )),
        }
    }

    async fn post(&self, headers: &HeaderMap, body: Incoming, identity: Option<Arc<str>>) -> Step {
        let body = match read_body(headers, body, self.max_body).await {
            Ok(body) => body,
            Err(BodyError::TooLarge(len)) => {
                let msg = format!(
                    "Payload Too Large: the request body{} is over this gateway's limit of {} bytes ([front.http] max_body_bytes); it was not read",
                    len.map_or(String::new(), |l| format!(" of {l} bytes")),
                    self.max_body
                );
                return Step::Done(rpc_error(StatusCode::PAYLOAD_TOO_LARGE, None, code::INVALID_REQUEST, &msg));
            }
            Err(BodyError::Read(e)) => {
                return Step::Done(rpc_error(
                    StatusCode::BAD_REQUEST,
                    None,
                    code::PARSE_ERROR,
                    &format!("cannot read the body: {e}"),
                ))
            }
        };
        let env = match Envelope::parse_client(&body) {
            Ok(env) => env,
            Err(refused) => {
                let msg = format!("{} (the body must be one JSON-RPC 2.0 message)", refused.message);
                return Step::Done(rpc_error(StatusCode::BAD_REQUEST, refused.id.as_deref(), refused.code, &msg));
            }
        };
        let accepts = Accepts::parse(header(headers, ACCEPT));
        if !accepts.json && !accepts.sse {
            let msg = "Not Acceptable: the client must accept application/json and text/event-stream";
            return Step::Done(rpc_error(StatusCode::NOT_ACCEPTABLE, env.id, code::INVALID_REQUEST, msg));
        }
        let version = headers.get(headers::PROTOCOL_VERSION);
        let session_id = header(headers, headers::SESSION_ID);
        let modern = version.is_some_and(|v| v.as_bytes() == MODERN_VERSION.as_bytes())
            || (session_id.is_none() && is_modern_body(&env));
        if modern {
            return self.modern_post(headers, &env, accepts, identity);
        }
        if let Some(v) = version {
            if !v.to_str().is_ok_and(|v| SUPPORTED_LEGACY_VERSIONS.contains(&v)) {
                let msg = format!(
                    "Bad Request: unsupported MCP-Protocol-Version {}; this gateway speaks {} and {MODERN_VERSION}",
                    String::from_utf8_lossy(v.as_bytes()),
                    SUPPORTED_LEGACY_VERSIONS.join(", ")
                );
                return Step::Done(rpc_error(StatusCode::BAD_REQUEST, env.id, code::INVALID_REQUEST, &msg));
            }
        }
        self.legacy_post(session_id, &env, accepts, identity)
    }

    fn legacy_post(
        &self,
        session_id: Option<&str>,
        env: &Envelope<'_>,
        accepts: Accepts,
        identity: Option<Arc<str>>,
    ) -> Step {
        let is_initialize = env.kind() == Kind::Request && env.method.as_deref() == Some("initialize");
        let (http, created) = match session_id {
            Some(sid) => match self.sessions.get(sid, identity.as_deref()) {
                Some(s) => (s, false),
                None => return Step::Done(session_not_found(env.id)),
            },
            None if is_initialize => match self.sessions.create(&self.shared, identity) {
                Ok(s) => (s, true),
                Err(e) => {
                    let resp = rpc_error(StatusCode::SERVICE_UNAVAILABLE, env.id, code::INTERNAL_ERROR, &e.to_string());
                    return Step::Done(with_header(resp, http::header::RETRY_AFTER, "5"));
                }
            },
            None => {
                let msg = "Bad Request: the Mcp-Session-Id header is missing; send initialize first";
                return Step::Done(rpc_error(StatusCode::BAD_REQUEST, env.id, code::INVALID_REQUEST, msg));
            }
        };
        if env.kind() != Kind::Request {
            http.session.handle_envelope(env);
            return Step::Done(plain(StatusCode::ACCEPTED, ""));
        }
        let id = env.id.expect("a request has an id");
        let (tx, rx) = inbox::inbox();
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
                return Step::Done(rpc_error(StatusCode::BAD_REQUEST, Some(id), code::INVALID_REQUEST, msg));
            }
            Err(_) => return Step::Done(session_not_found(Some(id))),
        }
        let created = created.then(|| http.id.clone());
        let guard = InFlight { owner: Owner::Legacy(http), id: id.to_owned(), armed: true };
        guard.session().handle_envelope(env);
        Step::Wait(Pending { rx, guard, accepts, modern: false, created })
    }

    fn modern_post(
        &self,
        headers: &HeaderMap,
        env: &Envelope<'_>,
        accepts: Accepts,
        identity: Option<Arc<str>>,
    ) -> Step {
        let kind = env.kind();
        if !matches!(kind, Kind::Request | Kind::Notification) {
            let msg = "Invalid Request: the body must be a JSON-RPC request or notification";
            return Step::Done(rpc_error(StatusCode::BAD_REQUEST, env.id, code::INVALID_REQUEST, msg));
        }
        let method = env.method.as_deref().expect("requests and notifications have a method");
        let visible = |name: &str| headers.get(name).map(|v| v.to_str().map_err(|_| name.to_owned())).transpose();
        // Parsed once for every check below (a parse of the whole params is most of their cost).
        let params = env.params.and_then(|p| protocol::RawObject::parse(p).ok());
        let checked = (|| {
            let h = ModernHeaders {
                version: visible(headers::PROTOCOL_VERSION).map_err(invalid_chars)?,
                method: visible(headers::MCP_METHOD).map_err(invalid_chars)?,
                name: visible(headers::MCP_NAME).map_err(invalid_chars)?,
            };
            check_modern(&h, method, params.as_ref())?;
            self.check_param_headers(headers, method, params.as_ref())
        })();
        if let (Err(msg), Kind::Request) = (checked, kind) {
            return Step::Done(rpc_error(StatusCode::BAD_REQUEST, env.id, code::HEADER_MISMATCH, &msg));
        }
        let (tx, rx) = inbox::inbox();
        let owner = identity.as_deref().map_or(ANONYMOUS, owner_of);
        let client = self.shared.clients.open_with(Outbound::Sink(Arc::new(move |frame| tx.send(frame))), Some(owner));
        if let Some(who) = &identity {
            let _ = client.identity.set(who.clone());
        }
        let session = Session::with_client(self.shared.clone(), client);
        if kind == Kind::Notification {
            session.handle_envelope(env);
            return Step::Done(plain(StatusCode::ACCEPTED, ""));
        }
        let guard = InFlight { owner: Owner::Modern(session), id: env.id.expect("a request").to_owned(), armed: true };
        guard.session().handle_envelope(env);
        Step::Wait(Pending { rx, guard, accepts, modern: true, created: None })
    }

    /// `Mcp-Param-*` headers of a `tools/call`, against the arguments the tool's schema annotates.
    fn check_param_headers(
        &self,
        sent: &HeaderMap,
        method: &str,
        params: Option<&protocol::RawObject<'_>>,
    ) -> Result<(), String> {
        if method != "tools/call" {
            return Ok(());
        }
        let Some(obj) = params else { return Ok(()) };
        let Some(name) = obj.get_str("name") else { return Ok(()) };
        let table = self.shared.table.load();
        let Some(item) = table.tools.item(&name) else { return Ok(()) };
        let annotations = headers::param_headers(item);
        headers::check_params(&annotations, obj.get("arguments"), |h| sent.get(h).map(|v| v.to_str().map_err(|_| ())))
    }

    /// Waits for what answers one request: JSON when the response comes first (unless the client prefers a stream),
    /// else an SSE stream.
    async fn answer(&self, pending: Pending) -> Response {
        let Pending { mut rx, mut guard, accepts, modern, created } = pending;
        let resp = loop {
            // A legacy request's inbox ends with its session (deleted, expired, or all of them as the front
            // stops), so only a stateless one needs to watch the front's closing too (that costs a lock on the
            // token shared by every request, per wait).
            let frame = if modern {
                tokio::select! {
                    frame = rx.recv() => frame,
                    _ = self.closing.cancelled() => None,
                }
            } else {
                rx.recv().await
            };
            let Some(frame) = frame else {
                guard.armed = false;
                break match guard.owner {
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
                    break json(status, frame);
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
            break sse(frames);
        };
        match created {
            Some(sid) => with_header(resp, headers::SESSION_ID, &sid),
            None => resp,
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
        sse(StreamFrames { rx, session: http, closing: Box::pin(self.closing.clone().cancelled_owned()) })
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
    Read(hyper::Error),
}

/// How much of an oversized body is read and thrown away before the 413, so that the client, still sending,
/// reads the answer instead of a connection reset (closing a socket with unread data resets it).
const DRAIN: u64 = 1 << 20;

/// The whole body, refused once it is known to be over `limit` (by `Content-Length`, or while reading); what
/// is left of a moderately oversized body is drained (up to [`DRAIN`]) but not kept. A body that arrives in one
/// piece (the usual case) is not copied.
async fn read_body(headers: &HeaderMap, mut body: Incoming, limit: usize) -> Result<Bytes, BodyError> {
    let declared = header(headers, CONTENT_LENGTH).and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        if declared.is_some_and(|len| len <= limit as u64 + DRAIN) {
            while let Some(Ok(_)) = body.frame().await {}
        }
        return Err(BodyError::TooLarge(declared));
    }
    let mut first: Option<Bytes> = None;
    let mut more: Option<BytesMut> = None;
    let mut seen = 0u64;
    while let Some(frame) = body.frame().await {
        let Ok(chunk) = frame.map_err(BodyError::Read)?.into_data() else { continue };
        seen += chunk.len() as u64;
        if seen > limit as u64 {
            while seen <= limit as u64 + DRAIN {
                match body.frame().await {
                    Some(Ok(f)) => seen += f.data_ref().map_or(0, |d| d.len() as u64),
                    _ => break,
                }
            }
            return Err(BodyError::TooLarge(None));
        }
        match (&mut first, &mut more) {
            (None, _) => first = Some(chunk),
            (Some(head), None) => {
                let mut buf = BytesMut::with_capacity(declared.unwrap_or(seen).max(seen) as usize);
                buf.extend_from_slice(head);
                buf.extend_from_slice(&chunk);
                more = Some(buf);
            }
            (Some(_), Some(buf)) => buf.extend_from_slice(&chunk),
        }
    }
    Ok(match more {
        Some(buf) => buf.freeze(),
        None => first.unwrap_or_default(),
    })
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
    rx: Receiver,
    guard: Option<InFlight>,
    closing: Pin<Box<WaitForCancellationFutureOwned>>,
    done: bool,
}

impl SseFrames {
    fn emit(&mut self, frame: Bytes) -> Poll<Option<Bytes>> {
        if matches!(classify(&frame), Routed::Response(_)) {
            self.done = true;
            if let Some(mut guard) = self.guard.take() {
                guard.armed = false;
            }
        }
        Poll::Ready(Some(frame))
    }
}

impl Frames for SseFrames {
    fn poll_frame(&mut self, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        if self.done {
            return Poll::Ready(None);
        }
        if let Some(frame) = self.first.take() {
            return self.emit(frame);
        }
        if self.closing.as_mut().poll(cx).is_ready() {
            self.done = true;
            return Poll::Ready(None);
        }
        match self.rx.poll_recv(cx) {
            Poll::Ready(Some(frame)) => self.emit(frame),
            Poll::Ready(None) => {
                self.done = true;
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

impl Frames for StreamFrames {
    fn poll_frame(&mut self, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        if self.closing.as_mut().poll(cx).is_ready() {
            return Poll::Ready(None);
        }
        self.rx.poll_recv(cx)
    }
}

impl Drop for StreamFrames {
    fn drop(&mut self) {
        self.rx.close();
        self.session.exchange.close_stream();
    }
}

fn sse(frames: impl Frames) -> Response {
    let mut resp = Response::new(Body::events(frames));
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    resp
}

fn json(status: StatusCode, body: impl Into<Bytes>) -> Response {
    let mut resp = Response::new(Body::full(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

fn plain(status: StatusCode, text: &'static str) -> Response {
    let mut resp = Response::new(Body::full(Bytes::from_static(text.as_bytes())));
    *resp.status_mut() = status;
    if !text.is_empty() {
        resp.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    }
    resp
}

fn with_header(mut resp: Response, name: impl http::header::IntoHeaderName, value: &str) -> Response {
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
