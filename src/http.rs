//! The Streamable HTTP front's parts: what `/mcp` needs besides the [`crate::session::Session`] it shares with
//! the stdio front. The `HttpFront` actor (`actors/http_front.rs`) binds the listener and serves [`handler`]
//! through [`listener`].
//!
//! Both protocol eras share one endpoint:
//!
//! - **2025-11-25** ("legacy"): `initialize` opens a session (`Mcp-Session-Id`); each POST is answered as JSON
//!   when its answer is the first thing for it, or as an SSE stream when progress or a server's request comes
//!   first; GET opens the stream for traffic tied to no request; DELETE ends the session.
//! - **2026-07-28** ("modern"): every POST stands alone (its own client handle), its headers must match its body,
//!   GET and DELETE get 405, and closing the response stream cancels the request.
//!
//! A client's frames reach the right response stream without a task hop: the session's client handle routes
//! each frame itself ([`exchange::Exchange`]), keyed by the client's request id.
//!
//! - [`auth`]: bearer tokens → client identities, the 401 challenge, protected resource metadata (RFC 9728).
//! - [`headers`]: `Origin`, `Accept`, and the modern request headers checked against the body.
//! - [`exchange`]: one legacy session's outbound frames sorted onto its requests' streams.
//! - [`inbox`]: the frames on their way to one waiting request.
//! - [`sessions`]: the table of legacy sessions, with idle expiry.
//! - [`handler`]: the `/mcp` and metadata endpoints.
//! - [`body`]: what they answer with (one JSON buffer, or an SSE stream).
//! - [`conn`]: bounds on connections (count, header read and idle timeouts, a descriptor reserve).
//! - [`listener`]: the accept loop (hyper, `TCP_NODELAY`, graceful shutdown).

pub(crate) mod auth;
pub(crate) mod body;
pub(crate) mod conn;
pub(crate) mod exchange;
pub(crate) mod handler;
pub(crate) mod headers;
pub(crate) mod inbox;
pub(crate) mod listener;
pub(crate) mod sessions;

/// Errors of the HTTP front that end it (request-level problems are HTTP answers, not errors).
#[derive(Debug, thiserror::Error)]
pub(crate) enum HttpError {
    #[error("cannot listen on {addr} for the MCP HTTP front: {source} (is the port in use? set [front.http] listen or HTTP_LISTEN)")]
    Bind { addr: std::net::SocketAddr, source: std::io::Error },
}
