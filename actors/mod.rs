//! The actors that assemble the parts in `src/` into a running gateway.
//!
//! ```text
//! Gateway (root)
//! ├── Router            routing table snapshot (ArcSwap), list_changed fan-out, start-up readiness
//! ├── ServerSupervisor  keeps one ServerActor per server alive (respawns on panic); reconciles on reload
//! │   └── ServerActor × N   process, handshake, calls, timeouts, crash restarts with backoff, idle stop
//! ├── StdioFront        stdin → Session → ServerActor; every answer → stdout
//! └── HttpFront         /mcp over Streamable HTTP: a Session per legacy session / per modern request
//! ```
//!
//! A `tools/call` goes StdioFront (parse envelope, resolve name in the table) → ServerActor (assign downstream
//! id, park the client's reply in the pending map, queue the frame) → the child; the child's answer is matched
//! in the transport's reader task and written to the client's channel without passing through an actor.

pub(crate) mod evidence;
pub mod gateway;
pub(crate) mod http_front;
pub(crate) mod router;
pub(crate) mod server;
pub(crate) mod stdio_front;
pub(crate) mod supervisor;
