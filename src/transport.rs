//! Talking to one downstream MCP server: framing, the pending-request map, the child process, the HTTP client.
//!
//! A downstream is a [`Connection`]: a child process ([`child::ChildProcess`]) or a Streamable HTTP endpoint
//! ([`http::HttpConnection`]), both behind the same [`child::Requester`] and pending map, so the server actor's
//! logic is the same for both. A [`child::ChildProcess`] owns four small tasks (stdin writer, stdout reader,
//! stderr ring, exit watcher).
//!
//! Responses are matched to requests in the reader task itself through the shared [`pending::Pending`] map and
//! completed there, so the reply path involves no actor hop. The transport does not know what a call is: whoever
//! waits for an answer implements [`Caller`] (the dispatch layer's reply path does), and the transport is generic
//! over it, so completing an answer is a direct call, not a dynamic one. Everything else a server sends becomes a
//! [`ChildEvent`] for its owner (the server's actor).

pub(crate) mod child;
pub(crate) mod framing;
pub(crate) mod http;
pub(crate) mod pending;
pub(crate) mod reaper;

use std::time::Duration;

use bytes::Bytes;
use serde_json::value::RawValue;

use crate::protocol::{code, error_frame, Envelope, RawObject};

/// The side of a request that waits for its answer, as the transport sees it. The dispatch layer's reply path
/// implements it; the transport only matches answers to it, forwards progress and reports failures.
pub(crate) trait Caller: Send + Sized + 'static {
    /// What an answer turns into when it must go to the server's owner before the caller (see [`Caller::complete`]).
    type Diverted: Send + 'static;
    /// Where this call's progress notifications go (taken out of the pending map under its lock).
    type ProgressTo: Send + 'static;

    /// Who asked (a client session): cancellations and the server's own requests are matched by it.
    fn origin(&self) -> u64;
    /// The asker's own request id (raw JSON text), for its cancellation.
    fn request_key(&self) -> &str;
    /// The token the call's progress carries at the server (raw JSON text), if it asked for progress.
    fn progress_key(&self) -> Option<&str>;
    /// Where its progress goes, if anywhere.
    fn progress_to(&self) -> Option<Self::ProgressTo>;
    /// Passes on one progress notification (`line` as the server sent it, `params` parsed, `token` its token).
    fn forward_progress(to: Self::ProgressTo, line: &[u8], params: &RawObject<'_>, token: &RawValue);
    /// The server answered (`line` is the whole response, `env` its envelope): answers the asker, or gives the
    /// answer back when it must go to the server's owner first.
    fn complete(self, line: &Bytes, env: &Envelope<'_>, server: &str) -> Option<Self::Diverted>;
    /// Answers the asker with a failure.
    fn fail(self, err: &DownstreamError);
}

/// What a downstream sent that is not a response to a pending request, or an answer its caller diverted.
pub(crate) enum ChildEvent<C: Caller> {
    /// A notification (the whole frame).
    Notification(Bytes),
    /// A server→client request (the whole frame).
    Request(Bytes),
    /// A line on stdout that is not JSON-RPC; the stream goes on.
    Garbage(String),
    /// An answer the caller wants its server's owner to handle (see [`Caller::complete`]).
    Diverted(C::Diverted),
    /// The process ended (for HTTP: the server cannot be reached). Pending requests are still in the map for the
    /// actor to fail.
    Exited { status: String, stderr_tail: String },
    /// HTTP: the server no longer knows the session (404). `reinit` is set for the first report of that session;
    /// `entry` is the call that was refused (it never ran).
    SessionExpired { entry: Option<pending::Entry<C>>, reinit: bool },
    /// HTTP: one call got no usable answer (error status, broken stream, bad body).
    Failed { entry: pending::Entry<C>, error: DownstreamError },
}

/// A running downstream: a child process or an HTTP connection.
pub(crate) enum Connection<C: Caller> {
    Child(child::ChildProcess<C>),
    Http(http::HttpConnection<C>),
}

impl<C: Caller> Connection<C> {
    pub(crate) fn requester(&self) -> &child::Requester<C> {
        match self {
            Connection::Child(c) => &c.requester,
            Connection::Http(h) => &h.requester,
        }
    }

    /// The process id (none for HTTP).
    pub(crate) fn pid(&self) -> Option<u32> {
        match self {
            Connection::Child(c) => Some(c.pid),
            Connection::Http(_) => None,
        }
    }

    /// Asks the server to end (closes stdin / ends the HTTP session) and waits until it has, within `grace`.
    pub(crate) async fn stop(&self, grace: Duration) {
        match self {
            Connection::Child(c) => c.stop(grace).await,
            Connection::Http(h) => h.stop(grace).await,
        }
    }

    /// Ends it at once.
    pub(crate) fn kill(&self) {
        match self {
            Connection::Child(c) => c.kill(),
            Connection::Http(h) => h.kill(),
        }
    }
}

/// Expected failures of a downstream call, answered to the caller as values.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub(crate) enum DownstreamError {
    #[error("server `{server}` did not answer within {}; the call was cancelled", humantime::format_duration(*.after))]
    Timeout { server: String, after: Duration },
    #[error("server `{server}` exited ({status}) while the call was in flight{}", tail(.stderr_tail))]
    Exited { server: String, status: String, stderr_tail: String },
    #[error("server `{server}` is unavailable: {reason}")]
    Unavailable { server: String, reason: String },
    #[error("server `{server}` has {limit} calls in flight already; retry later")]
    Overloaded { server: String, limit: usize },
    #[error(
        "server `{server}` sent a {size}-byte response, over the {max}-byte frame limit (gateway.max_frame_bytes)"
    )]
    FrameTooLarge { server: String, size: usize, max: usize },
    #[error("server `{server}` sent an answer the gateway cannot use: {detail}")]
    BadResponse { server: String, detail: String },
    #[error("server `{server}` failed repeatedly; its circuit is open and calls fail fast for another {}", humantime::format_duration(*.retry_in))]
    CircuitOpen { server: String, retry_in: Duration },
    #[error(
        "the call to server `{server}` was refused: the audit trail cannot be written and evidence.fail_closed is \
         on; calls are refused until writing recovers (check the evidence directory: disk full?)"
    )]
    Unrecordable { server: String },
}

fn tail(stderr: &str) -> String {
    if stderr.is_empty() {
        "; it wrote nothing to stderr".to_owned()
    } else {
        format!("; last stderr lines:\n{stderr}")
    }
}

impl DownstreamError {
    pub(crate) fn code(&self) -> i64 {
        match self {
            DownstreamError::Timeout { .. } => code::TIMEOUT,
            DownstreamError::Overloaded { .. } => code::OVERLOADED,
            DownstreamError::FrameTooLarge { .. } | DownstreamError::BadResponse { .. } => code::INTERNAL_ERROR,
            DownstreamError::Exited { .. }
            | DownstreamError::Unavailable { .. }
            | DownstreamError::Unrecordable { .. } => code::SERVER_UNAVAILABLE,
            DownstreamError::CircuitOpen { .. } => code::CIRCUIT_OPEN,
        }
    }

    pub(crate) fn server(&self) -> &str {
        match self {
            DownstreamError::Timeout { server, .. }
            | DownstreamError::Exited { server, .. }
            | DownstreamError::Unavailable { server, .. }
            | DownstreamError::Overloaded { server, .. }
            | DownstreamError::FrameTooLarge { server, .. }
            | DownstreamError::BadResponse { server, .. }
            | DownstreamError::CircuitOpen { server, .. }
            | DownstreamError::Unrecordable { server } => server,
        }
    }

    /// The JSON-RPC error response for a client's request `id`.
    pub(crate) fn to_frame(&self, id: &RawValue) -> Bytes {
        self.to_frame_for(id, true)
    }

    /// The error frame for a client that may (`stderr`) or may not see a crashed server's stderr lines.
    pub(crate) fn to_frame_for(&self, id: &RawValue, stderr: bool) -> Bytes {
        let data = serde_json::json!({ "gateway": true, "server": self.server() });
        let text = match self {
            DownstreamError::Exited { server, status, stderr_tail } if !stderr && !stderr_tail.is_empty() => format!(
                "server `{server}` exited ({status}) while the call was in flight; its stderr is in the gateway's log"
            ),
            _ => self.to_string(),
        };
        // Every message a client gets goes through the one scrubber (a crashed server's stderr may print its
        // own environment).
        error_frame(id, self.code(), &crate::scrub::scrub(&text), Some(data))
    }
}
