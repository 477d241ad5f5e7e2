//! The accept loop: every connection is served by hyper straight into [`Front::handle`], with no routing layer
//! in between (the front has one endpoint and two metadata paths; a filter chain and a copy of every request's
//! headers cost more than the routing they would do).
//!
//! Accepted sockets get `TCP_NODELAY`: an answer is one write, and it must not wait for the peer's ACK of the
//! previous one. HTTP/1.1 and HTTP/2 (prior knowledge, `h2c`) are both served, as before.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use super::conn::{ConnState, Tracked, Verdict, Watched};
use super::handler::Front;

/// Serves `listener` until `front.closing` is cancelled; then stops accepting and waits for the connections
/// to finish what they are writing (open streams end with the token too). At most `front.limits.max_connections`
/// are served at once (see [`super::conn`]).
pub(crate) async fn serve(listener: TcpListener, front: Arc<Front>) {
    let graceful = GracefulShutdown::new();
    let builder = auto::Builder::new(TokioExecutor::new());
    let limits = front.limits;
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let mut full_logged = false;
    loop {
        // A slot first: at the cap, new connections wait in the listen queue until a connection ends (an idle
        // or slow one within its timeout).
        let slot = match slots.clone().try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                if !full_logged {
                    full_logged = true;
                    tracing::warn!(max_connections = limits.max_connections, "the MCP HTTP front has as many connections open as it serves ([front.http] max_connections); new ones wait until one closes");
                }
                tokio::select! {
                    slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
                    _ = front.closing.cancelled() => break,
                }
            }
        };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = front.closing.cancelled() => break,
        };
        let stream = match accepted {
            Ok((stream, _peer)) => stream,
            Err(e) if is_connection_error(&e) => continue,
            Err(e) => {
                // Out of file descriptors and the like: give the connections in flight a moment to close.
                tracing::error!(error = %e, "the MCP HTTP front cannot accept a connection; retrying in 1 s");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                    _ = front.closing.cancelled() => break,
                }
            }
        };
        #[cfg(test)]
        faults::check(&listener);
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY on an accepted connection");
        }
        if slots.available_permits() > 0 {
            full_logged = false;
        }
        let serving = front.clone();
        let state = ConnState::new();
        let watched = state.clone();
        let service = service_fn(move |req: hyper::Request<Incoming>| {
            let front = serving.clone();
            let active = watched.begin();
            async move { Ok::<_, Infallible>(front.handle(req).await.map(|body| Tracked { body, _active: active })) }
        });
        let io = TokioIo::new(Watched { stream, state: state.clone() });
        let conn = graceful.watch(builder.serve_connection(io, service).into_owned());
        tokio::spawn(async move {
            let _slot = slot;
            let mut conn = std::pin::pin!(conn);
            let mut check = tokio::time::interval(limits.check_every());
            check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    ended = &mut conn => {
                        if let Err(e) = ended {
                            tracing::debug!(error = %e, "an MCP HTTP connection ended with an error");
                        }
                        break;
                    }
                    _ = check.tick() => match state.verdict(&limits) {
                        Verdict::Keep => {}
                        // Nothing is in flight: dropping the connection closes the socket and frees the slot.
                        verdict => {
                            tracing::debug!(?verdict, "closing an MCP HTTP connection");
                            break;
                        }
                    },
                }
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// Errors of one connection that was being accepted, not of the listener.
fn is_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(e.kind(), ConnectionRefused | ConnectionAborted | ConnectionReset)
}

/// Failures the supervision tests inject into a running accept loop.
#[cfg(test)]
pub(crate) mod faults {
    use std::net::SocketAddr;
    use std::sync::Mutex;

    static PANIC_AT: Mutex<Vec<SocketAddr>> = Mutex::new(Vec::new());

    /// The loop listening on `addr` panics once, at its next accepted connection.
    pub(crate) fn panic_at_next_accept(addr: SocketAddr) {
        PANIC_AT.lock().unwrap().push(addr);
    }

    pub(super) fn check(listener: &tokio::net::TcpListener) {
        let Ok(addr) = listener.local_addr() else { return };
        let mut armed = PANIC_AT.lock().unwrap();
        if let Some(i) = armed.iter().position(|a| *a == addr) {
            armed.remove(i);
            drop(armed);
            panic!("injected failure of the accept loop on {addr}");
        }
    }
}
