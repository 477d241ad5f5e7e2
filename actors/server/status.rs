//! What operators see of a server (CLI `tools`, `/healthz`), and how the actor's phase reads as it.

use serde::Serialize;

use super::{Phase, ServerState};
use crate::breaker::CircuitState;
use crate::naming::Namespace;

/// What operators see of a server (CLI `tools`, `/healthz`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum State {
    NotStarted,
    Starting,
    Ready,
    Restarting,
    Stopped,
}

impl State {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            State::NotStarted => "not started",
            State::Starting => "starting",
            State::Ready => "ready",
            State::Restarting => "restarting",
            State::Stopped => "stopped",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct ServerStatus {
    pub(crate) name: String,
    pub(crate) namespace: Namespace,
    pub(crate) state: State,
    pub(crate) pid: Option<u32>,
    pub(crate) restarts: u64,
    pub(crate) pending: usize,
    pub(crate) last_error: Option<String>,
    pub(crate) protocol_version: Option<String>,
    pub(crate) circuit: CircuitState,
}

impl ServerStatus {
    /// What operators read: the circuit state when it is not closed, else the process state.
    pub(crate) fn display_state(&self) -> &'static str {
        match self.circuit {
            CircuitState::Open => "circuit open",
            CircuitState::HalfOpen => "circuit half-open",
            CircuitState::Closed => self.state.as_str(),
        }
    }
}

impl ServerState {
    pub(super) fn status(&self) -> ServerStatus {
        let state = match self.phase {
            Phase::Idle { ever_started: false } => State::NotStarted,
            Phase::Idle { ever_started: true } | Phase::Stopping => State::Stopped,
            Phase::Starting => State::Starting,
            Phase::Ready => State::Ready,
            Phase::Backoff { .. } => State::Restarting,
        };
        ServerStatus {
            name: self.cfg.name.clone(),
            namespace: self.cfg.namespace,
            state,
            pid: self.child.as_ref().and_then(|c| c.pid()),
            restarts: self.restarts,
            pending: self.child.as_ref().map_or(0, |c| c.requester().pending().len())
                + self.queue.len()
                + self.sessions.values().map(super::per_client::ClientSession::pending).sum::<usize>(),
            last_error: self.last_error.clone(),
            protocol_version: self.protocol_version.clone(),
            circuit: self.breaker.state(),
        }
    }
}
