//! dfs-gateway: one MCP server in front of many.
//!
//! A desktop client is configured with this gateway as its only MCP server and reaches, through it, the
//! application's own servers (`app.*`) and third-party ones (`ext.*`). The gateway starts them (eagerly or on
//! first use), routes each call by name, forwards argument and result bytes untouched, supervises the processes
//! and answers every failure as a value the client can act on.
//!
//! # Layout
//!
//! `src/` is a DAG of parts, bottom to top; `actors/` sits on top of it, and only the orchestration (`cli`,
//! `reload`) names the actors (`tests/layering.rs` checks both). To follow a `tools/call`, start at
//! [`dispatch`], whose module docs draw the path file by file.
//!
//! - [`protocol`], [`era`]: the JSON-RPC envelope (borrowed, raw payloads), frame builders; the two eras.
//! - [`naming`], [`diagnostics`], [`clock`], [`breaker`], [`spin`]: names; file problems; time; the circuit
//!   breaker; the runtime's spin window.
//! - [`kv`], [`cache`], [`ratelimit`], [`policy`], [`evidence`], [`telemetry`], [`ops`]: the parts a call uses
//!   (Redis, result cache, limits, policy rules, audit trail, metrics and logs, /healthz and /metrics).
//! - [`config`]: the TOML file and the environment overlay, validated with file/line errors.
//! - [`scrub`]: the one scrubber of secret values, shared by the evidence trail, client errors and logs.
//! - [`transport`]: framing, the pending-request map, downstream child processes and HTTP servers; generic over
//!   the caller it answers.
//! - [`catalog`]: the lists of each server, persisted for lazy starts.
//! - [`dispatch`]: the call: its admission, the server handle and fast lane, the reply path, the clients.
//! - [`routing`]: the routing-table snapshots sessions read.
//! - [`session`]: one client's MCP session.
//! - [`http`]: the Streamable HTTP front's parts (sessions, auth, header checks, response routing).
//! - [`actors`]: the actor tree, the control plane (see its module docs for the tree and the planes).
//! - [`reload`], [`cli`]: orchestration: configuration reloads, the `dfs-gateway` commands.
//! - [`watch`]: file watching for reloads.
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
pub(crate) mod scrub;
pub mod session;
pub(crate) mod spin;
pub(crate) mod telemetry;
pub(crate) mod transport;
pub(crate) mod watch;
