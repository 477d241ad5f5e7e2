//! dfs-gateway: one MCP server in front of many.
//!
//! A desktop client is configured with this gateway as its only MCP server and reaches, through it, the
//! application's own servers (`app.*`) and third-party ones (`ext.*`). The gateway starts them (eagerly or on
//! first use), routes each call by name, forwards argument and result bytes untouched, supervises the processes
//! and answers every failure as a value the client can act on.
//!
//! # Layout
//!
//! - [`config`]: the TOML file and environment overlay, validated with file/line errors.
//! - [`protocol`]: the JSON-RPC envelope (borrowed, raw payloads) and frame builders.
//! - [`naming`]: canonical `<namespace>.<server>.<tool>` names and the wire names clients see.
//! - [`transport`]: framing, the pending-request map, downstream child processes.
//! - [`routing`]: the routing table snapshot the fronts read.
//! - [`catalog`]: persisted tool lists of lazy servers.
//! - [`session`]: one client's MCP session.
//! - [`dispatch`]: the call path (start here): the call, its admission, the fast lane, the reply path, the clients.
//! - [`http`]: the Streamable HTTP front's parts (sessions, auth, header checks, response routing).
//! - [`actors`]: the actor tree that assembles the above (see its module docs for the tree).
//! - [`reload`]: applying configuration and policy changes to the running gateway.
//! - [`cli`]: the `dfs-gateway` commands.
#![forbid(unsafe_code)]
#![warn(unreachable_pub)]

#[path = "../actors/mod.rs"]
pub mod actors;
pub(crate) mod breaker;
pub mod cache;
pub(crate) mod catalog;
pub mod cli;
pub mod clock;
pub mod config;
pub(crate) mod diagnostics;
pub mod dispatch;
pub(crate) mod era;
pub mod evidence;
pub(crate) mod http;
pub mod kv;
pub(crate) mod naming;
pub(crate) mod ops;
pub mod policy;
pub(crate) mod protocol;
pub mod ratelimit;
pub(crate) mod reload;
pub(crate) mod routing;
pub mod session;
pub(crate) mod spin;
pub(crate) mod telemetry;
pub(crate) mod transport;
pub(crate) mod watch;
