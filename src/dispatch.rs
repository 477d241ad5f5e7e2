//! The call: everything a client's request needs between the session that resolved it and the server that
//! answers it, and back. This is the data plane; it names no actor. Start reading here to follow a `tools/call`.
//!
//! ```text
//!  client frame ─► front (stdio reader task / HTTP handler) ─► Session::handle_envelope      src/session.rs
//!                                                               │ resolve the wire name in the routing
//!                                                               │ snapshot (arc-swap), policy decides
//!                                                               ▼
//!  Services::admit ── rate limit ─► cache lookup ─► coalesce                                  admit.rs
//!        │ refused        │ hit          │ follower waits for its leader's answer
//!        ▼                ▼              ▼
//!     answered here, through the reply path below
//!        │ admitted
//!        ▼
//!  ServerHandle::call ─► Lane::try_send (open: the server is ready, its circuit closed)       server.rs, lane.rs
//!        │                  │ era conversion, pending entry, frame onto the child's writer queue
//!        │ lane closed      ▼
//!        └─► ServerPort::post(ToServer::Call) ─► the server's actor (queues, starts, fails)  actors/server.rs
//!
//!  the transport's reader task (one per downstream) matches the answer by id               transport/child.rs
//!        ▼
//!  ClientReply::complete (the transport's `Caller`) ─► client's id restored, `_meta` /        call.rs
//!        modern members added ─► ClientHandle::send ─► CallLog::finish: metrics, cache        client.rs, record.rs
//!        store, followers answered, invalidations, evidence record
//! ```
//!
//! No step above waits on anything but the frame it handles; with a Redis cache or rate limiter, admission's
//! round trip runs on a task of its own. Expected failures (timeout, crash, open circuit, denial, limit) are
//! answered through the same reply path as values: [`ClientReply::fail`].
//!
//! # Layout
//!
//! - [`call`]: [`Call`] and the reply path ([`ClientReply`], its [`Caller`](crate::transport::Caller)
//!   implementation: what the reader does with each answer).
//! - [`client`]: the connected clients ([`ClientHandle`], [`Clients`]): where every reply path ends.
//! - [`server`]: the data plane's [`ServerHandle`]; the [`ServerPort`] trait its actor implements.
//! - [`lane`]: the fast lane, straight to the server's writer queue while it is ready.
//! - [`admit`]: rate limit, cache, coalescing.
//! - [`record`]: the call's record, finished when the client is answered.
//! - [`services`]: what every call shares (metrics, evidence, cache, limiter).
//! - [`mrtr`]: calls parked while a modern client answers a legacy server's questions.

pub(crate) mod admit;
pub(crate) mod call;
pub(crate) mod client;
pub(crate) mod lane;
pub(crate) mod mrtr;
pub(crate) mod record;
pub(crate) mod server;
mod services;

pub(crate) use admit::{CachePlan, LimitPlan, Plan};
pub(crate) use call::{Call, ClientReply, Diverted, Fallback};
pub(crate) use client::{ClientHandle, ClientTx, Clients, ReturnPath};
pub(crate) use lane::Lane;
pub(crate) use server::{ServerHandle, ServerPort, ToServer};
pub use services::Services;

/// The transport's types as this layer instantiates them: its callers are clients' calls.
pub(crate) type Requester = crate::transport::child::Requester<ClientReply>;
pub(crate) type Responder = crate::transport::pending::Responder<ClientReply>;
pub(crate) type Entry = crate::transport::pending::Entry<ClientReply>;
pub(crate) type ChildEvent = crate::transport::ChildEvent<ClientReply>;
pub(crate) type Connection = crate::transport::Connection<ClientReply>;
pub(crate) type ChildProcess = crate::transport::child::ChildProcess<ClientReply>;
pub(crate) type HttpConnection = crate::transport::http::HttpConnection<ClientReply>;
