//! `HttpFront`: remote MCP clients over Streamable HTTP at `/mcp` (see [`crate::http`]). It binds the listener
//! (a bind failure fails the gateway's start: a front that cannot serve is a configuration error), serves it with
//! hyper, ends idle sessions, and on stop ends every session and stream before the servers go away.
//!
//! It owns two tasks: the listener (the accept loop; requests are the data plane and run on tasks of their own)
//! and the sweeper of idle sessions. A task that panics is started again, the listener on the address it had, so
//! open sessions stay; one that keeps panicking, or an address that cannot be bound again, fails the front, and
//! the gateway shuts down with the reason logged.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::tasks::{Owned, TaskEnd};
use crate::config::HttpFrontConfig;
use crate::http::auth::Auth;
use crate::http::conn::{self, ConnLimits};
use crate::http::handler::Front;
use crate::http::headers::Origins;
use crate::http::listener;
use crate::http::sessions::Sessions;
use crate::http::HttpError;
use crate::session::Shared;

/// Restarts of the front's tasks after which it gives up.
const MAX_RESTARTS: u32 = 5;

pub(crate) struct HttpFrontArgs {
    pub(crate) shared: Arc<Shared>,
    pub(crate) config: HttpFrontConfig,
}

/// The front's tasks.
#[derive(Debug, Clone, Copy)]
pub(crate) enum HttpTask {
    Listener,
    Sweeper,
}

pub(crate) enum HttpFrontMsg {
    /// One of the front's tasks ended.
    Ended(HttpTask, TaskEnd),
    /// Where it listens (the configured port may be 0: the OS picked one).
    Addr(RpcReplyPort<SocketAddr>),
}

pub(crate) struct HttpFrontState {
    front: Arc<Front>,
    addr: SocketAddr,
    /// How often idle sessions are looked for.
    sweep_every: Duration,
    listener: Owned,
    sweeper: Owned,
    restarts: u32,
}

pub(crate) struct HttpFront;

impl HttpFront {
    fn serve(myself: &ActorRef<HttpFrontMsg>, listener: TcpListener, front: &Arc<Front>) -> Owned {
        let task = tokio::spawn(listener::serve(listener, front.clone()));
        Owned::watch(myself, task, |end| HttpFrontMsg::Ended(HttpTask::Listener, end))
    }

    fn sweep(myself: &ActorRef<HttpFrontMsg>, front: &Arc<Front>, every: Duration) -> Owned {
        let front = front.clone();
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                front.sessions.sweep();
            }
        });
        Owned::watch(myself, task, |end| HttpFrontMsg::Ended(HttpTask::Sweeper, end))
    }
}

impl Actor for HttpFront {
    type Msg = HttpFrontMsg;
    type State = HttpFrontState;
    type Arguments = HttpFrontArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<HttpFrontMsg>,
        args: HttpFrontArgs,
    ) -> Result<HttpFrontState, ActorProcessingErr> {
        let cfg = args.config;
        let listener =
            TcpListener::bind(cfg.listen).await.map_err(|source| HttpError::Bind { addr: cfg.listen, source })?;
        let addr = listener.local_addr().map_err(|source| HttpError::Bind { addr: cfg.listen, source })?;
        if !addr.ip().is_loopback() && cfg.tokens.is_empty() {
            tracing::warn!(%addr, "the MCP HTTP front listens beyond loopback without bearer tokens ([front.http] tokens)");
        }
        let front = Arc::new(Front {
            auth: Auth::new(&cfg, &args.shared.name),
            origins: Origins::new(cfg.allowed_origins.as_deref()),
            sessions: Sessions::new(cfg.session_idle_timeout, cfg.max_sessions, cfg.max_sessions_per_client),
            max_body: cfg.max_body_bytes,
            limits: ConnLimits {
                max_connections: conn::fit_to_fd_limit(cfg.max_connections),
                header_read_timeout: cfg.header_read_timeout,
                keep_alive_timeout: cfg.keep_alive_timeout,
            },
            closing: CancellationToken::new(),
            shared: args.shared,
        });
        // Expiry need not be precise: a tenth of the timeout, within [1 s, 60 s].
        let sweep_every = (cfg.session_idle_timeout / 10).clamp(Duration::from_secs(1), Duration::from_secs(60));
        let listener = Self::serve(&myself, listener, &front);
        let sweeper = Self::sweep(&myself, &front, sweep_every);
        tracing::info!(%addr, auth = front.auth.required(), "mcp http front listening");
        Ok(HttpFrontState { front, addr, sweep_every, listener, sweeper, restarts: 0 })
    }

    async fn handle(
        &self,
        myself: ActorRef<HttpFrontMsg>,
        msg: HttpFrontMsg,
        state: &mut HttpFrontState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            HttpFrontMsg::Addr(reply) => {
                let _ = reply.send(state.addr);
            }
            HttpFrontMsg::Ended(task, TaskEnd::Panicked(why)) => {
                state.restarts += 1;
                if state.restarts > MAX_RESTARTS {
                    return Err(
                        format!("the HTTP front's {task:?} task panicked {} times: {why}", state.restarts).into()
                    );
                }
                tracing::error!(task = ?task, error = %why, restarts = state.restarts, "an HTTP front task panicked; starting it again");
                match task {
                    HttpTask::Listener => {
                        // The panicked loop dropped its socket: bind the same address again.
                        let addr = state.addr;
                        let listener =
                            TcpListener::bind(addr).await.map_err(|source| HttpError::Bind { addr, source })?;
                        state.listener = Self::serve(&myself, listener, &state.front);
                    }
                    HttpTask::Sweeper => state.sweeper = Self::sweep(&myself, &state.front, state.sweep_every),
                }
            }
            // A task returns only once the front is closing.
            HttpFrontMsg::Ended(..) => {}
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<HttpFrontMsg>,
        state: &mut HttpFrontState,
    ) -> Result<(), ActorProcessingErr> {
        state.sweeper.abort();
        state.front.closing.cancel();
        state.front.sessions.clear();
        // Graceful: answers being written finish; whatever still hangs after a second is cut.
        state.listener.stop_within(Duration::from_secs(1)).await;
        Ok(())
    }
}
