//! A downstream MCP server reached over Streamable HTTP, behind the same shapes as a child process: a
//! [`Requester`] whose frames go to a writer queue, the shared [`Pending`](super::pending::Pending) map, and every
//! message the server sends fed through the same [`on_line`] as a child's stdout line.
//!
//! The writer task POSTs each frame (`Accept: application/json, text/event-stream`) on a task of its own, so a
//! slow call never holds up another; the answer is a JSON body or an SSE stream that may carry notifications and
//! the server's own requests before the response. Legacy (2025-11-25) sessions: `Mcp-Session-Id` from the
//! `initialize` answer, `MCP-Protocol-Version` on every later request, the GET stream for messages the server
//! starts when it offers one, DELETE on stop. Modern (2026-07-28) requests are stateless POSTs with
//! `MCP-Protocol-Version`, `Mcp-Method` and `Mcp-Name` matching the body (the era is decided by the actor's
//! `server/discover` probe, exactly as for stdio; the transport reads it off each request's envelope).
//!
//! Failures become values for the actor: a server that cannot be reached is reported once as
//! [`ChildEvent::Exited`] (the actor fails or retries what is in flight and reconnects with backoff, as for a
//! crashed process); a 404 for the session is [`ChildEvent::SessionExpired`]; any other bad answer to a call is
//! [`ChildEvent::Failed`]. Header values (tokens) are never logged.

mod sse;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::header::{HeaderMap, HeaderName, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use http::{Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::value::RawValue;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::child::{on_line, EventSink, Requester};
use super::{Caller, ChildEvent, DownstreamError};
use crate::config::{expand_env, HttpServer};
use crate::protocol::{self, Envelope, Kind};
use sse::{SseEvent, SseParser};

const SESSION_ID: HeaderName = HeaderName::from_static("mcp-session-id");
const PROTOCOL_VERSION: HeaderName = HeaderName::from_static("mcp-protocol-version");
const MCP_METHOD: HeaderName = HeaderName::from_static("mcp-method");
const MCP_NAME: HeaderName = HeaderName::from_static("mcp-name");
const LAST_EVENT_ID: HeaderName = HeaderName::from_static("last-event-id");

/// How often a task reading a call's answer checks that someone still waits for it: once the call timed out or
/// was cancelled, the stream is dropped (for a modern server, closing the stream *is* the cancellation).
const WAIT_CHECK: Duration = Duration::from_millis(500);
/// A notification (or an answer to the server's request) must be accepted within this long.
const NOTIFY_TIMEOUT: Duration = Duration::from_secs(10);
/// Bounds of the GET stream's reconnects.
const GET_RETRY_MIN: Duration = Duration::from_millis(500);
const GET_RETRY_MAX: Duration = Duration::from_secs(30);

type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// Everything needed to open one connection.
pub(crate) struct HttpSpec<'a, C: Caller> {
    pub(crate) http: &'a HttpServer,
    /// `app.optimize`, for messages.
    pub(crate) label: Arc<str>,
    pub(crate) max_frame_bytes: usize,
    pub(crate) events: EventSink<C>,
    pub(crate) breaker: Option<Arc<crate::breaker::Breaker>>,
    /// Reads the gateway's environment (the process environment outside tests).
    pub(crate) lookup_env: &'a dyn Fn(&str) -> Option<String>,
}

/// One logical connection (one downstream session, in the legacy era) to an HTTP server.
pub(crate) struct HttpConnection<C: Caller> {
    pub(crate) requester: Requester<C>,
    conn: Arc<Conn<C>>,
}

/// What the connection's tasks share.
struct Conn<C: Caller> {
    label: Arc<str>,
    client: HttpClient,
    uri: Uri,
    /// Configured headers, `${VAR}` expanded and marked sensitive (never printed).
    headers: HeaderMap,
    /// The legacy session, once `initialize` was answered with one.
    session: Mutex<Option<HeaderValue>>,
    /// The legacy protocol version negotiated at `initialize`, sent on every later request.
    version: Mutex<Option<HeaderValue>>,
    max: usize,
    events: EventSink<C>,
    requester: Requester<C>,
    /// Ends every task of the connection (stop, or the actor dropped it).
    cancel: CancellationToken,
    /// The connection failure was reported (once per connection).
    lost: AtomicBool,
    /// A GET stream was started for the current session.
    listening: AtomicBool,
}

impl<C: Caller> HttpConnection<C> {
    /// Prepares the connection; nothing is sent until the first frame (the actor's handshake).
    pub(crate) fn open(spec: HttpSpec<'_, C>) -> Result<HttpConnection<C>, DownstreamError> {
        let unavailable = |reason: String| DownstreamError::Unavailable { server: spec.label.to_string(), reason };
        let uri: Uri = spec.http.url.parse().map_err(|e| unavailable(format!("bad url `{}`: {e}", spec.http.url)))?;
        let mut headers = HeaderMap::new();
        for (key, value) in &spec.http.headers {
            let (value, missing) = expand_env(value, spec.lookup_env).map_err(&unavailable)?;
            for var in missing {
                tracing::warn!(server = %spec.label, var, "header {key} refers to ${{{var}}}, which is not set; sending it empty");
            }
            let name = HeaderName::from_bytes(key.as_bytes()).map_err(|e| unavailable(format!("header {key}: {e}")))?;
            let mut value = HeaderValue::from_str(&value)
                .map_err(|_| unavailable(format!("header {key}: its value holds characters a header cannot carry")))?;
            value.set_sensitive(true);
            headers.insert(name, value);
        }
        if let Some(var) = &spec.http.bearer_env {
            match (spec.lookup_env)(var).filter(|t| !t.is_empty()) {
                Some(token) => {
                    let mut value = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
                        unavailable(format!("the token in ${var} holds characters a header cannot carry"))
                    })?;
                    value.set_sensitive(true);
                    headers.insert(AUTHORIZATION, value);
                }
                None => {
                    tracing::warn!(server = %spec.label, var, "bearer_env names a variable that is not set; no Authorization header is sent")
                }
            }
        }
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(Duration::from_secs(10)));
        let client = Client::builder(TokioExecutor::new()).pool_idle_timeout(Duration::from_secs(60)).build(connector);
        let (tx, rx) = mpsc::unbounded_channel();
        let requester = Requester::new(spec.label.clone(), spec.breaker, tx);
        let conn = Arc::new(Conn {
            label: spec.label,
            client,
            uri,
            headers,
            session: Mutex::new(None),
            version: Mutex::new(None),
            max: spec.max_frame_bytes,
            events: spec.events,
            requester: requester.clone(),
            cancel: CancellationToken::new(),
            lost: AtomicBool::new(false),
            listening: AtomicBool::new(false),
        });
        tokio::spawn(write_loop(conn.clone(), rx));
        Ok(HttpConnection { requester, conn })
    }

    /// Ends the session (DELETE, when there is one) and every task of the connection.
    pub(crate) async fn stop(&self, grace: Duration) {
        let session = self.conn.session.lock().unwrap_or_else(|p| p.into_inner()).take();
        self.conn.cancel.cancel();
        if let Some(session) = session {
            let mut req = self.conn.request(Method::DELETE, Bytes::new());
            req.headers_mut().insert(SESSION_ID, session);
            match tokio::time::timeout(grace, self.conn.client.request(req)).await {
                Ok(Ok(resp)) => tracing::debug!(server = %self.conn.label, status = %resp.status(), "session ended"),
                Ok(Err(e)) => tracing::debug!(server = %self.conn.label, error = %e, "ending the session failed"),
                Err(_) => tracing::debug!(server = %self.conn.label, "ending the session timed out"),
            }
        }
    }

    /// Ends every task at once, without telling the server.
    pub(crate) fn kill(&self) {
        self.conn.cancel.cancel();
    }
}

impl<C: Caller> Drop for HttpConnection<C> {
    fn drop(&mut self) {
        self.conn.cancel.cancel();
    }
}

/// Takes frames off the queue and POSTs each on its own task. `notifications/initialized` is the exception: it
/// is sent in line, so that no request of the session can overtake it.
async fn write_loop<C: Caller>(conn: Arc<Conn<C>>, mut rx: mpsc::UnboundedReceiver<Bytes>) {
    loop {
        let frame = tokio::select! {
            biased;
            _ = conn.cancel.cancelled() => return,
            frame = rx.recv() => match frame { Some(f) => f, None => return },
        };
        if memchr::memmem::find(&frame, b"notifications/initialized").is_some() {
            let _ = tokio::time::timeout(NOTIFY_TIMEOUT, post(conn.clone(), frame)).await;
        } else {
            tokio::spawn(post(conn.clone(), frame));
        }
    }
}

/// What one frame is, as far as the transport cares.
struct Outgoing {
    method: Option<String>,
    /// The gateway's id, for a request.
    id: Option<u64>,
    /// `_meta["io.modelcontextprotocol/protocolVersion"]`: set on every request to a modern server.
    modern_version: Option<String>,
    /// The value for `Mcp-Name` (tools/call, prompts/get: name; resources/read: uri).
    name: Option<String>,
}

impl Outgoing {
    fn of(frame: &[u8]) -> Outgoing {
        let Ok(env) = Envelope::parse(frame) else {
            return Outgoing { method: None, id: None, modern_version: None, name: None };
        };
        let id = match env.kind() {
            Kind::Request => env.id.and_then(protocol::parse_downstream_id),
            _ => None,
        };
        let params = env.params.and_then(|p| protocol::RawObject::parse(p).ok());
        let modern_version = params
            .as_ref()
            .and_then(|p| p.get("_meta"))
            .and_then(|m| protocol::RawObject::parse(m).ok())
            .and_then(|m| m.get_str(protocol::meta::PROTOCOL_VERSION).map(|v| v.into_owned()));
        let name_key = match env.method.as_deref() {
            Some("tools/call" | "prompts/get") => Some("name"),
            Some("resources/read") => Some("uri"),
            _ => None,
        };
        let name = name_key.and_then(|k| params.as_ref()?.get_str(k).map(|v| v.into_owned()));
        Outgoing { method: env.method.map(|m| m.into_owned()), id, modern_version, name }
    }
}

impl<C: Caller> Conn<C> {
    fn request(&self, method: Method, body: Bytes) -> Request<Full<Bytes>> {
        let mut req = Request::new(Full::new(body));
        *req.method_mut() = method;
        *req.uri_mut() = self.uri.clone();
        let h = req.headers_mut();
        h.insert(ACCEPT, HeaderValue::from_static("application/json, text/event-stream"));
        h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        for (k, v) in &self.headers {
            h.insert(k, v.clone());
        }
        req
    }

    fn session(&self) -> Option<HeaderValue> {
        self.session.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The server cannot be reached: reported once; the actor then treats the connection like an exited process.
    fn lost(&self, why: String) {
        if self.lost.swap(true, Ordering::AcqRel) || self.cancel.is_cancelled() {
            return;
        }
        tracing::warn!(server = %self.label, url = %self.uri, error = %why, "the HTTP server cannot be reached");
        self.cancel.cancel();
        (self.events)(ChildEvent::Exited {
            status: format!("{} cannot be reached: {why}", self.uri),
            stderr_tail: String::new(),
        });
    }

    /// A call got no usable answer: its waiter hears it through the actor (breaker, retry, fallback).
    fn failed(&self, id: Option<u64>, error: DownstreamError) {
        match id.and_then(|id| self.requester.pending().remove(id)) {
            Some(entry) => (self.events)(ChildEvent::Failed { entry, error }),
            None => tracing::debug!(server = %self.label, error = %error, "an HTTP exchange failed"),
        }
    }

    fn bad(&self, detail: String) -> DownstreamError {
        DownstreamError::BadResponse { server: self.label.to_string(), detail }
    }

    /// The session the request went out with is unknown to the server now.
    fn expired(&self, sent: &HeaderValue, id: Option<u64>) {
        let reinit = {
            let mut session = self.session.lock().unwrap_or_else(|p| p.into_inner());
            // Only the first to notice clears it; a 404 for an older session says nothing about the new one.
            if session.as_ref() == Some(sent) {
                *session = None;
                *self.version.lock().unwrap_or_else(|p| p.into_inner()) = None;
                self.listening.store(false, Ordering::Release);
                true
            } else {
                false
            }
        };
        let entry = id.and_then(|id| self.requester.pending().remove(id));
        if reinit {
            tracing::info!(server = %self.label, "the server no longer knows the gateway's session");
        }
        (self.events)(ChildEvent::SessionExpired { entry, reinit });
    }

    /// One message from the server, as a child's stdout line. Remembers the negotiated version when it is the
    /// answer to `initialize` (`init_id`).
    fn deliver(&self, msg: Bytes, init_id: Option<u64>) {
        if let Some(init) = init_id {
            if let Ok(env) = Envelope::parse(&msg) {
                if env.id.and_then(protocol::parse_downstream_id) == Some(init) {
                    let version = env
                        .result
                        .and_then(|r| protocol::RawObject::parse(r).ok())
                        .and_then(|r| r.get_str("protocolVersion").map(|v| v.into_owned()))
                        .and_then(|v| HeaderValue::from_str(&v).ok());
                    *self.version.lock().unwrap_or_else(|p| p.into_inner()) = version;
                }
            }
        }
        on_line(msg, &self.requester, &self.events);
    }

    /// A JSON body: one message or a batch of them.
    fn deliver_json(&self, body: &[u8], init_id: Option<u64>) -> Result<(), String> {
        let trimmed = body.trim_ascii();
        if trimmed.first() == Some(&b'[') {
            let batch: Vec<&RawValue> = serde_json::from_slice(trimmed).map_err(|e| e.to_string())?;
            for msg in batch {
                self.deliver(Bytes::copy_from_slice(msg.get().as_bytes()), init_id);
            }
            Ok(())
        } else if trimmed.first() == Some(&b'{') {
            self.deliver(Bytes::copy_from_slice(trimmed), init_id);
            Ok(())
        } else {
            Err("the body is not JSON".into())
        }
    }

    fn waiting(&self, id: Option<u64>) -> bool {
        id.is_some_and(|id| self.requester.pending().contains(id))
    }
}

/// Sends one frame and feeds whatever comes back into the shared handling.
async fn post<C: Caller>(conn: Arc<Conn<C>>, frame: Bytes) {
    let out = Outgoing::of(&frame);
    let is_init = out.method.as_deref() == Some("initialize");
    let mut req = conn.request(Method::POST, frame);
    let sent_session = if is_init { None } else { conn.session() };
    {
        let h = req.headers_mut();
        if let Some(s) = &sent_session {
            h.insert(SESSION_ID, s.clone());
        }
        match &out.modern_version {
            Some(v) => {
                if let Ok(v) = HeaderValue::from_str(v) {
                    h.insert(PROTOCOL_VERSION, v);
                }
                if let Some(m) = out.method.as_deref().and_then(|m| HeaderValue::from_str(m).ok()) {
                    h.insert(MCP_METHOD, m);
                }
                if let Some(name) = out.name.as_deref().and_then(header_text) {
                    h.insert(MCP_NAME, name);
                }
            }
            None if !is_init => {
                if let Some(v) = conn.version.lock().unwrap_or_else(|p| p.into_inner()).clone() {
                    h.insert(PROTOCOL_VERSION, v);
                }
            }
            None => {}
        }
    }
    let resp = tokio::select! {
        _ = conn.cancel.cancelled() => return,
        resp = conn.client.request(req) => resp,
    };
    let resp = match resp {
        Ok(resp) => resp,
        Err(e) if e.is_connect() => return conn.lost(error_chain(&e)),
        Err(e) => {
            let why = format!("the HTTP exchange failed: {}", error_chain(&e));
            return conn.failed(out.id, DownstreamError::Unavailable { server: conn.label.to_string(), reason: why });
        }
    };
    let status = resp.status();
    if is_init && status.is_success() {
        if let Some(s) = resp.headers().get(SESSION_ID) {
            *conn.session.lock().unwrap_or_else(|p| p.into_inner()) = Some(s.clone());
            conn.listening.store(false, Ordering::Release);
        }
    }
    let sse = resp
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.trim_start().to_ascii_lowercase().starts_with("text/event-stream"));
    let init_id = if is_init { out.id } else { None };
    if status.is_success() && sse {
        read_sse(&conn, resp.into_body(), out.id, init_id).await;
        if conn.waiting(out.id) && !conn.cancel.is_cancelled() {
            conn.failed(out.id, conn.bad("the server ended its event stream without answering the call".into()));
        }
        return;
    }
    let body = match read_body(&conn, resp.into_body(), out.id).await {
        Some(b) => b,
        None => return,
    };
    if let Some(sent) = &sent_session {
        // A session the server does not know: 404 by the spec; some servers (server-everything) say 400 and name
        // the session in the message.
        let about_session = || String::from_utf8_lossy(&body).to_ascii_lowercase().contains("session");
        if status == StatusCode::NOT_FOUND || (status == StatusCode::BAD_REQUEST && about_session()) {
            return conn.expired(sent, out.id);
        }
    }
    // An error status counts as the call's answer only when the body is a JSON-RPC answer to it (a modern server
    // answers e.g. an unknown method with 404 and a JSON-RPC error); anything else is an HTTP-level failure.
    let answers_call = status.is_success()
        || Envelope::parse(&body)
            .ok()
            .and_then(|e| e.id.and_then(protocol::parse_downstream_id))
            .is_some_and(|i| Some(i) == out.id);
    if answers_call && !body.trim_ascii().is_empty() {
        if let Err(e) = conn.deliver_json(&body, init_id) {
            if status.is_success() {
                (conn.events)(ChildEvent::Garbage(String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned()));
                return conn.failed(out.id, conn.bad(format!("HTTP {status} with a body that is not JSON-RPC ({e})")));
            }
        }
    }
    if conn.waiting(out.id) {
        let detail = if status.is_success() {
            format!("HTTP {status} without an answer to the call")
        } else {
            format!("HTTP {status}: {}", snippet(&body))
        };
        return conn.failed(out.id, conn.bad(detail));
    }
    if !status.is_success() && out.id.is_none() {
        tracing::debug!(server = %conn.label, %status, method = ?out.method, "the server refused a notification or answer");
    }
    if out.method.as_deref() == Some("notifications/initialized") && status.is_success() {
        start_listening(&conn);
    }
}

/// The whole body of a JSON (or error) answer, bounded by the frame limit; `None` after reporting a failure.
async fn read_body<C: Caller>(conn: &Conn<C>, mut body: hyper::body::Incoming, id: Option<u64>) -> Option<Bytes> {
    let mut buf = BytesMut::new();
    loop {
        let frame = tokio::select! {
            _ = conn.cancel.cancelled() => return None,
            frame = body.frame() => frame,
        };
        match frame {
            None => return Some(buf.freeze()),
            Some(Ok(f)) => {
                if let Ok(data) = f.into_data() {
                    if buf.len() + data.len() > conn.max {
                        let size = buf.len() + data.len();
                        let err =
                            DownstreamError::FrameTooLarge { server: conn.label.to_string(), size, max: conn.max };
                        conn.failed(id, err);
                        return None;
                    }
                    buf.extend_from_slice(&data);
                }
            }
            Some(Err(e)) => {
                let reason = format!("reading the answer failed: {}", error_chain(&e));
                conn.failed(id, DownstreamError::Unavailable { server: conn.label.to_string(), reason });
                return None;
            }
        }
    }
}

/// Feeds every event of an SSE body to the shared handling, until the stream ends, the call it answers is no
/// longer waited for, or the connection ends.
async fn read_sse<C: Caller>(conn: &Conn<C>, mut body: hyper::body::Incoming, id: Option<u64>, init_id: Option<u64>) {
    let mut parser = SseParser::new(conn.max);
    let mut check = tokio::time::interval(WAIT_CHECK);
    check.tick().await;
    loop {
        let frame = tokio::select! {
            _ = conn.cancel.cancelled() => return,
            _ = check.tick(), if id.is_some() => {
                if !conn.waiting(id) {
                    return;
                }
                continue;
            }
            frame = body.frame() => frame,
        };
        let data = match frame {
            None => return,
            Some(Ok(f)) => match f.into_data() {
                Ok(d) => d,
                Err(_) => continue,
            },
            Some(Err(e)) => {
                tracing::debug!(server = %conn.label, error = %error_chain(&e), "an event stream broke off");
                return;
            }
        };
        for event in parser.feed(&data) {
            match event {
                SseEvent::Data(msg) => conn.deliver(msg, init_id),
                SseEvent::Oversized(len) => {
                    tracing::warn!(server = %conn.label, len, max = conn.max, "the server sent an event over the size limit; skipped");
                    let err =
                        DownstreamError::FrameTooLarge { server: conn.label.to_string(), size: len, max: conn.max };
                    conn.failed(id, err);
                }
            }
        }
        if id.is_some() && !conn.waiting(id) {
            // Answered: what follows on this stream (nothing, by the spec) is not worth keeping it open.
            return;
        }
    }
}

/// Opens the GET stream for messages the server starts (legacy sessions), once per session, when the server
/// offers one (405 means it does not).
fn start_listening<C: Caller>(conn: &Arc<Conn<C>>) {
    let Some(session) = conn.session() else { return };
    if conn.listening.swap(true, Ordering::AcqRel) {
        return;
    }
    let conn = conn.clone();
    tokio::spawn(async move {
        let mut delay = GET_RETRY_MIN;
        let mut last_event: Option<HeaderValue> = None;
        loop {
            if conn.session().as_ref() != Some(&session) {
                return;
            }
            let mut req = conn.request(Method::GET, Bytes::new());
            req.headers_mut().remove(CONTENT_TYPE);
            req.headers_mut().insert(ACCEPT, HeaderValue::from_static("text/event-stream"));
            req.headers_mut().insert(SESSION_ID, session.clone());
            if let Some(v) = conn.version.lock().unwrap_or_else(|p| p.into_inner()).clone() {
                req.headers_mut().insert(PROTOCOL_VERSION, v);
            }
            if let Some(id) = &last_event {
                req.headers_mut().insert(LAST_EVENT_ID, id.clone());
            }
            let resp = tokio::select! {
                _ = conn.cancel.cancelled() => return,
                resp = conn.client.request(req) => resp,
            };
            match resp {
                Ok(resp) if resp.status() == StatusCode::METHOD_NOT_ALLOWED => {
                    tracing::debug!(server = %conn.label, "the server offers no GET stream");
                    return;
                }
                Ok(resp) if resp.status().is_success() => {
                    delay = GET_RETRY_MIN;
                    last_event = listen(&conn, resp.into_body()).await.or(last_event);
                }
                Ok(resp) => {
                    tracing::debug!(server = %conn.label, status = %resp.status(), "the GET stream was refused");
                    return;
                }
                Err(e) => tracing::debug!(server = %conn.label, error = %error_chain(&e), "the GET stream failed"),
            }
            tokio::select! {
                _ = conn.cancel.cancelled() => return,
                _ = tokio::time::sleep(delay) => {}
            }
            delay = (delay * 2).min(GET_RETRY_MAX);
        }
    });
}

/// Reads the GET stream until it ends; returns the last event id seen.
async fn listen<C: Caller>(conn: &Conn<C>, mut body: hyper::body::Incoming) -> Option<HeaderValue> {
    let mut parser = SseParser::new(conn.max);
    loop {
        let frame = tokio::select! {
            _ = conn.cancel.cancelled() => return parser.last_id(),
            frame = body.frame() => frame,
        };
        let Some(Ok(frame)) = frame else { return parser.last_id() };
        let Ok(data) = frame.into_data() else { continue };
        for event in parser.feed(&data) {
            match event {
                SseEvent::Data(msg) => conn.deliver(msg, None),
                SseEvent::Oversized(len) => {
                    tracing::warn!(server = %conn.label, len, max = conn.max, "the server sent an event over the size limit; skipped")
                }
            }
        }
    }
}

/// A header value for `Mcp-Name`: as it is when it is visible ASCII, else `=?base64?…?=`.
fn header_text(s: &str) -> Option<HeaderValue> {
    if s.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return HeaderValue::from_str(s).ok();
    }
    HeaderValue::from_str(&format!("=?base64?{}?=", base64(s.as_bytes()))).ok()
}

/// Standard base64 with padding (the `=?base64?…?=` header encoding).
fn base64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// An error and its causes on one line (hyper's own message alone is often just "client error (Connect)").
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut msg = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    msg
}

/// The start of a body, for an error message.
fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(200)]);
    let text = text.trim();
    if text.is_empty() {
        "(no body)".into()
    } else {
        text.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_header_values() {
        assert_eq!(header_text("get_weather").unwrap(), "get_weather");
        assert_eq!(header_text("héllo").unwrap(), "=?base64?aMOpbGxv?=");
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b"abc"), "YWJj");
        assert_eq!(base64(b"a"), "YQ==");
    }

    #[test]
    fn outgoing_frames_are_classified() {
        let f = br#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"echo","_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}"#;
        let o = Outgoing::of(f);
        assert_eq!((o.id, o.method.as_deref(), o.name.as_deref()), (Some(4), Some("tools/call"), Some("echo")));
        assert_eq!(o.modern_version.as_deref(), Some("2026-07-28"));
        let o = Outgoing::of(br#"{"jsonrpc":"2.0","id":"s-1","result":{}}"#);
        assert_eq!((o.id, o.method), (None, None));
    }
}
