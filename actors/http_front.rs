//! `HttpFront`: remote MCP clients over Streamable HTTP at `/mcp` (see [`crate::http`]). It binds the listener
//! (a bind failure fails the gateway's start: a front that cannot serve is a configuration error), serves
//! it with hyper, ends idle sessions, and on stop ends every session and stream before the servers go away.

use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::HttpFrontConfig;
use crate::http::auth::Auth;
use crate::http::handler::Front;
use crate::http::headers::Origins;
use crate::http::listener;
use crate::http::sessions::Sessions;
use crate::http::HttpError;
use crate::session::Shared;

pub(crate) struct HttpFrontArgs {
    pub(crate) shared: Arc<Shared>,
    pub(crate) config: HttpFrontConfig,
}

pub(crate) struct HttpFrontState {
    front: Arc<Front>,
    server: JoinHandle<()>,
    sweeper: JoinHandle<()>,
}

pub(crate) struct HttpFront;

impl Actor for HttpFront {
    type Msg = ();
    type State = HttpFrontState;
    type Arguments = HttpFrontArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<()>,
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
            sessions: Sessions::new(cfg.session_idle_timeout, cfg.max_sessions),
            max_body: cfg.max_body_bytes,
            closing: CancellationToken::new(),
            shared: args.shared,
        });
        let server = tokio::spawn(listener::serve(listener, front.clone()));
        // Expiry need not be precise: a tenth of the timeout, within [1 s, 60 s].
        let every = (cfg.session_idle_timeout / 10).clamp(Duration::from_secs(1), Duration::from_secs(60));
        let sweeping = front.clone();
        let sweeper = tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                sweeping.sessions.sweep();
            }
        });
        tracing::info!(%addr, auth = front.auth.required(), "mcp http front listening");
        Ok(HttpFrontState { front, server, sweeper })
    }

    async fn post_stop(&self, _myself: ActorRef<()>, state: &mut HttpFrontState) -> Result<(), ActorProcessingErr> {
        state.sweeper.abort();
        state.front.closing.cancel();
        state.front.sessions.clear();
        // Graceful: answers being written finish; whatever still hangs after a second is cut.
        if tokio::time::timeout(Duration::from_secs(1), &mut state.server).await.is_err() {
            state.server.abort();
        }
        Ok(())
    }
}
