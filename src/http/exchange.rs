//! One legacy HTTP session's outbound frames, sorted onto the streams the client has open.
//!
//! The session's client handle calls [`Exchange::route`] for every frame, from whichever task produced it (the
//! downstream's reader, a server actor, the session itself), so an answer goes straight to the POST waiting for
//! it: one lock, one push onto its [`super::inbox`], no task in between.
//!
//! - A response goes to the POST that carries its request id (none waiting: the client left; it is dropped).
//! - Progress goes to the POST whose request carries that token, when that POST may stream (SSE).
//! - A server's request goes to the one streaming POST with a call in flight, else the GET stream, else any
//!   streaming POST.
//! - Anything else (list changes, resource updates, log messages) goes to the GET stream.
//!
//! What finds no stream is kept (bounded) for the next GET stream.

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};

use bytes::Bytes;
use serde::Deserialize;
use serde_json::value::RawValue;
use tokio::sync::mpsc;

use super::inbox;
use crate::protocol::{self, Envelope, Kind};

/// Frames kept for a GET stream that is not open yet; older ones are dropped first.
const BACKLOG: usize = 256;

/// The beginning of every frame the gateway builds with an id (responses and its requests to the client).
const ID_PREFIX: &[u8] = br#"{"jsonrpc":"2.0","id":"#;

/// What one outbound frame is, as far as routing goes.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Outbound<'a> {
    /// A response, with the client's request id (raw JSON text).
    Response(Cow<'a, str>),
    /// A request to the client (a server's sampling, elicitation, roots).
    Request,
    /// `notifications/progress` with the client's token (raw JSON text).
    Progress(String),
    Notification,
}

/// Classifies a frame: gateway-built frames by their fixed prefix (no full parse on the hot path), the rest
/// (notifications forwarded as the server wrote them) by their envelope.
pub(crate) fn classify(frame: &[u8]) -> Outbound<'_> {
    if let Some(rest) = frame.strip_prefix(ID_PREFIX) {
        let mut de = serde_json::Deserializer::from_slice(rest);
        if let Ok(id) = <&RawValue>::deserialize(&mut de) {
            let end = id.get().as_ptr() as usize - rest.as_ptr() as usize + id.get().len();
            let after = &rest[end..];
            if after.starts_with(br#","result":"#) || after.starts_with(br#","error":"#) {
                return Outbound::Response(Cow::Borrowed(protocol::raw_key(id)));
            }
            if after.starts_with(br#","method":"#) {
                return Outbound::Request;
            }
        }
    }
    let Ok(env) = Envelope::parse(frame) else { return Outbound::Notification };
    match env.kind() {
        Kind::Response => {
            Outbound::Response(Cow::Owned(protocol::raw_key(env.id.expect("a response has an id")).into()))
        }
        Kind::Request => Outbound::Request,
        Kind::Notification if env.method.as_deref() == Some("notifications/progress") => {
            let token = env
                .params
                .and_then(|p| protocol::RawObject::parse(p).ok())
                .and_then(|o| o.get("progressToken").map(|t| protocol::raw_key(t).to_owned()));
            token.map_or(Outbound::Notification, Outbound::Progress)
        }
        _ => Outbound::Notification,
    }
}

/// A POST waiting for its answer.
pub(crate) struct Waiter {
    pub(crate) tx: inbox::Sender,
    /// The client accepts an SSE answer, so frames other than the response may go to it.
    pub(crate) sse: bool,
    /// A routed call (a tool call and the like): a server's request is most likely caused by one of these.
    pub(crate) call: bool,
    /// The request's progress token (raw JSON text), if any.
    pub(crate) token: Option<Box<str>>,
}

#[derive(Default)]
struct Routes {
    /// By the client's request id (raw JSON text).
    waiting: HashMap<Box<str>, Waiter>,
    /// Progress token → request id.
    progress: HashMap<Box<str>, Box<str>>,
    /// The GET stream, when open.
    stream: Option<mpsc::UnboundedSender<Bytes>>,
    backlog: VecDeque<Bytes>,
    closed: bool,
}

/// Why a POST or GET could not be registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ExchangeError {
    #[error("a request with this id is already in flight in this session")]
    DuplicateId,
    #[error("this session has a GET stream open already")]
    StreamOpen,
    #[error("the session has ended")]
    Closed,
}

#[derive(Default)]
pub(crate) struct Exchange {
    routes: Mutex<Routes>,
}

impl Exchange {
    fn lock(&self) -> MutexGuard<'_, Routes> {
        self.routes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a POST waiting for the answer to request `id`.
    pub(crate) fn expect(&self, id: &str, waiter: Waiter) -> Result<(), ExchangeError> {
        let mut r = self.lock();
        if r.closed {
            return Err(ExchangeError::Closed);
        }
        if r.waiting.contains_key(id) {
            return Err(ExchangeError::DuplicateId);
        }
        if let Some(t) = &waiter.token {
            r.progress.insert(t.clone(), id.into());
        }
        r.waiting.insert(id.into(), waiter);
        Ok(())
    }

    /// The POST for `id` went away before its answer.
    pub(crate) fn forget(&self, id: &str) {
        let mut r = self.lock();
        if let Some(w) = r.waiting.remove(id) {
            if let Some(t) = w.token {
                r.progress.remove(&t);
            }
        }
    }

    /// Opens the GET stream; what waited for it comes first.
    pub(crate) fn open_stream(&self) -> Result<mpsc::UnboundedReceiver<Bytes>, ExchangeError> {
        let mut r = self.lock();
        if r.closed {
            return Err(ExchangeError::Closed);
        }
        if r.stream.as_ref().is_some_and(|s| !s.is_closed()) {
            return Err(ExchangeError::StreamOpen);
        }
        let (tx, rx) = mpsc::unbounded_channel();
        for frame in r.backlog.drain(..) {
            let _ = tx.send(frame);
        }
        r.stream = Some(tx);
        Ok(rx)
    }

    /// The GET stream went away.
    pub(crate) fn close_stream(&self) {
        let mut r = self.lock();
        if r.stream.as_ref().is_some_and(|s| s.is_closed()) {
            r.stream = None;
        }
    }

    /// Whether the client has a request waiting or a stream open (an idle session is one with neither).
    pub(crate) fn busy(&self) -> bool {
        let r = self.lock();
        !r.waiting.is_empty() || r.stream.as_ref().is_some_and(|s| !s.is_closed())
    }

    /// Ends everything: waiting POSTs and the GET stream see their channel close.
    pub(crate) fn close(&self) {
        let mut r = self.lock();
        r.closed = true;
        r.waiting.clear();
        r.progress.clear();
        r.stream = None;
        r.backlog.clear();
    }

    /// Sends one outbound frame where it belongs.
    pub(crate) fn route(&self, frame: Bytes) {
        let kind = classify(&frame);
        let mut r = self.lock();
        if r.closed {
            return;
        }
        match kind {
            Outbound::Response(id) => match r.waiting.remove(&*id) {
                Some(w) => {
                    if let Some(t) = &w.token {
                        r.progress.remove(t);
                    }
                    drop(r);
                    w.tx.send(frame);
                }
                None => tracing::debug!(id = %id, "an answer for a request whose client has gone; dropped"),
            },
            Outbound::Progress(token) => {
                let target = r.progress.get(token.as_str()).and_then(|id| r.waiting.get(id)).filter(|w| w.sse);
                match target {
                    Some(w) => {
                        w.tx.send(frame);
                    }
                    None => r.send_to_stream(frame),
                }
            }
            Outbound::Request => {
                let mut calls = r.waiting.values().filter(|w| w.sse && w.call);
                let target = match (calls.next(), calls.next()) {
                    (Some(only), None) => Some(only),
                    _ if r.stream.as_ref().is_some_and(|s| !s.is_closed()) => None,
                    _ => r.waiting.values().find(|w| w.sse),
                };
                match target {
                    Some(w) => {
                        w.tx.send(frame);
                    }
                    None => r.send_to_stream(frame),
                }
            }
            Outbound::Notification => r.send_to_stream(frame),
        }
    }
}

impl Routes {
    fn send_to_stream(&mut self, frame: Bytes) {
        if let Some(stream) = &self.stream {
            match stream.send(frame) {
                Ok(()) => return,
                Err(mpsc::error::SendError(frame)) => {
                    self.stream = None;
                    return self.keep(frame);
                }
            }
        }
        self.keep(frame);
    }

    fn keep(&mut self, frame: Bytes) {
        if self.backlog.len() == BACKLOG {
            self.backlog.pop_front();
        }
        self.backlog.push_back(frame);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_classified_without_parsing_gateway_built_ones() {
        let id: &RawValue = serde_json::from_str(r#""a,\"result\":""#).unwrap();
        let ok: &RawValue = serde_json::from_str("{}").unwrap();
        assert_eq!(
            classify(&protocol::response_frame(id, ok)),
            Outbound::Response(Cow::Borrowed(r#""a,\"result\":""#))
        );
        let err = protocol::error_frame(serde_json::from_str::<&RawValue>("7").unwrap(), -1, "x", None);
        assert_eq!(classify(&err), Outbound::Response(Cow::Borrowed("7")));
        assert_eq!(classify(&protocol::request_frame(3, "roots/list", None)), Outbound::Request);
        let progress =
            br#"{"method":"notifications/progress","params":{"progressToken":"t","progress":1},"jsonrpc":"2.0"}"#;
        assert_eq!(classify(progress), Outbound::Progress(r#""t""#.into()));
        assert_eq!(
            classify(&protocol::notification_frame("notifications/tools/list_changed", None)),
            Outbound::Notification
        );
        let foreign = br#"{"id":5,"jsonrpc":"2.0","result":{}}"#;
        assert_eq!(classify(foreign), Outbound::Response(Cow::Owned("5".into())));
    }

    fn waiter(sse: bool, call: bool, token: Option<&str>) -> (Waiter, inbox::Receiver) {
        let (tx, rx) = inbox::inbox();
        (Waiter { tx, sse, call, token: token.map(Into::into) }, rx)
    }

    #[test]
    fn each_frame_reaches_its_request_and_nothing_else() {
        let ex = Exchange::default();
        let (a, mut rx_a) = waiter(true, true, Some(r#""pa""#));
        let (b, mut rx_b) = waiter(false, true, Some(r#""pb""#));
        ex.expect("1", a).unwrap();
        ex.expect("2", b).unwrap();
        assert_eq!(ex.expect("1", waiter(true, true, None).0), Err(ExchangeError::DuplicateId));
        let progress = |t: &str| {
            Bytes::from(format!(
                r#"{{"jsonrpc":"2.0","method":"notifications/progress","params":{{"progressToken":{t}}}}}"#
            ))
        };
        ex.route(progress(r#""pa""#));
        ex.route(progress(r#""pb""#));
        // The only streaming call gets the server's request.
        ex.route(protocol::request_frame(9, "sampling/createMessage", None));
        ex.route(protocol::response_frame_bytes(serde_json::from_str::<&RawValue>("2").unwrap(), b"{}"));
        assert!(classify(&rx_a.try_recv().unwrap()) == Outbound::Progress(r#""pa""#.into()));
        assert_eq!(classify(&rx_a.try_recv().unwrap()), Outbound::Request);
        assert!(rx_a.try_recv().is_none());
        assert_eq!(classify(&rx_b.try_recv().unwrap()), Outbound::Response(Cow::Borrowed("2")));
        assert!(rx_b.try_recv().is_none(), "a JSON-only request gets only its response");
        // What found no stream (b's progress) waits for the GET stream.
        let mut stream = ex.open_stream().unwrap();
        assert_eq!(classify(&stream.try_recv().unwrap()), Outbound::Progress(r#""pb""#.into()));
        assert_eq!(ex.open_stream().unwrap_err(), ExchangeError::StreamOpen);
        ex.route(protocol::notification_frame("notifications/tools/list_changed", None));
        assert_eq!(classify(&stream.try_recv().unwrap()), Outbound::Notification);
        ex.close();
        assert!(rx_a.try_recv().is_none());
        assert_eq!(ex.expect("3", waiter(true, true, None).0), Err(ExchangeError::Closed));
    }
}
