//! The actors that assemble the parts in `src/` into a running gateway: the control plane.
//!
//! ```text
//! Gateway (root)                     start, stop in order, a failed child ends the gateway cleanly (logged)
//! ├── EvidenceActor                  owns the evidence writer thread; restarts it if it panics
//! ├── Router                         builds routing-table snapshots (arc-swap) from the servers' lists;
//! │                                  list_changed fan-out, start-up readiness
//! ├── ServerSupervisor               one ServerActor per server; respawns one that panics; reconciles on reload
//! │   └── ServerActor × N            process or HTTP session, handshake, lists, lazy start, restarts with
//! │                                  backoff, circuit, timeouts, idle stop; opens and closes its fast lane
//! ├── StdioFront                     owns the stdin reader and stdout writer tasks; a panic there ends the
//! │                                  gateway cleanly (a half-read stdin cannot be resumed)
//! └── HttpFront                      owns the /mcp listener and the idle-session sweeper; restarts them
//! ```
//!
//! Which plane each part is: everything drawn above is the control plane (lifecycles and decisions that change
//! rarely). The data plane, the path of a call, touches no mailbox while a server is ready: the front's reader
//! task (or the HTTP handler) parses the envelope and hands it to the [`Session`](crate::session::Session), which
//! resolves the name in the router's current snapshot and admits the call; the server's lane
//! ([`crate::dispatch::lane`]) puts it on the child's writer queue; the transport's reader task matches the
//! answer and completes it through the reply path ([`crate::dispatch`] draws it). A call reaches a `ServerActor`
//! only when the lane is closed (the server is starting, backing off, its circuit is open or probing, it keeps a
//! session per client, or it is being retired); timeouts, crashes and retries are the actor's as well.
//!
//! Outside the tree, owned by `serve` in [`crate::cli`]: the configuration watcher ([`crate::reload`]) and the
//! ops listeners (`/healthz`, `/metrics`); a panic in either ends the gateway cleanly, with the reason logged.

pub(crate) mod evidence;
pub mod gateway;
pub(crate) mod http_front;
pub(crate) mod router;
pub(crate) mod server;
pub(crate) mod stdio_front;
pub(crate) mod supervisor;
mod tasks;
