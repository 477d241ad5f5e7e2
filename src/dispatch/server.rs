//! A server as the data plane sees it: a [`ServerHandle`], held by its route in the routing table and by the
//! clients it asked questions. Calls take the server's fast lane while it is open; everything else goes through
//! a [`ServerPort`], which the server's actor implements, so nothing below the actors names one.

use std::sync::Arc;

use serde_json::value::RawValue;

use super::call::Call;
use super::lane::Lane;
use crate::transport::DownstreamError;

/// What a session or a client asks of a server outside the fast lane. Not boxed: a message is moved once, into
/// the actor's mailbox, and boxing would cost every call that takes this path an allocation.
#[allow(clippy::large_enum_variant)]
pub(crate) enum ToServer {
    /// A call the lane did not take (the server is starting, backing off, its circuit is not closed, it serves
    /// each client in a session of its own, or it is retired): the actor queues it, starts the server, or
    /// answers it with the reason it cannot run.
    Call(Call),
    /// A client cancelled its request `client_id` (raw JSON text).
    Cancel { session: u64, client_id: String },
    /// A client asked for a list: refetch this server's lists if they are older than their time to live (servers
    /// that never send `list_changed` are then seen to change at most `[cache] list_ttl` late).
    ListsWanted,
    /// A client set the log level (`logging/setLevel` fans out to every server).
    SetLogLevel(Arc<str>),
    /// A client notification every server hears (e.g. `notifications/roots/list_changed`).
    Notify(&'static str),
    /// A modern client listens for updates of this resource (URI as the server knows it).
    SubscribeResource(String),
    /// A legacy client answered one input request of a modern server's `input_required` (round, key; the
    /// client's result, or its error object).
    InputResponse { round: u64, key: String, answer: Result<Box<RawValue>, Box<RawValue>> },
}

/// The control plane's side of a server: its actor's mailbox, behind a trait so that this layer stays below the
/// actors. Not on the fast path: the lane carries calls while the server is ready.
pub(crate) trait ServerPort: Send + Sync + 'static {
    /// Hands `msg` to the server. `Err` gives it back when the server is gone (its actor is being replaced).
    #[allow(clippy::result_large_err)] // the message itself, given back unboxed for the same reason
    fn post(&self, msg: ToServer) -> Result<(), ToServer>;
}

/// One server, for the data plane. Cheap to clone.
#[derive(Clone)]
pub(crate) struct ServerHandle {
    /// `<namespace>.<server>`, for messages.
    label: Arc<str>,
    /// Calls go straight to the connection while the server is ready (see [`Lane`]).
    lane: Arc<Lane>,
    port: Arc<dyn ServerPort>,
}

impl std::fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerHandle").field("label", &self.label).field("lane", &self.lane).finish()
    }
}

impl ServerHandle {
    pub(crate) fn new(label: Arc<str>, lane: Arc<Lane>, port: Arc<dyn ServerPort>) -> ServerHandle {
        ServerHandle { label, lane, port }
    }

    /// `<namespace>.<server>`.
    pub(crate) fn label(&self) -> &str {
        &self.label
    }

    /// Hands a call to the server: through the fast lane when it is open, else to the actor (which queues it,
    /// starts the server, or answers it with the reason it cannot run). `false`: the actor is gone (the call
    /// was answered with an error).
    pub(crate) fn call(&self, call: Call) -> bool {
        let Some(call) = self.lane.try_send(call) else { return true };
        match self.port.post(ToServer::Call(call)) {
            Ok(()) => true,
            Err(ToServer::Call(call)) => {
                let err = DownstreamError::Unavailable {
                    server: self.label.to_string(),
                    reason: "its actor is restarting; retry".into(),
                };
                call.reply.fail(&err);
                false
            }
            Err(_) => false,
        }
    }

    /// Why the server cannot run now (it failed to start or crashed and is backing off), if it cannot.
    pub(crate) fn down(&self) -> Option<Arc<str>> {
        self.lane.down()
    }

    /// Cancels a client's request wherever it is: on the open lane at once, else through the actor.
    pub(crate) fn cancel(&self, session: u64, client_id: &str) {
        if !self.lane.try_cancel(session, client_id) {
            self.post(ToServer::Cancel { session, client_id: client_id.to_owned() });
        }
    }

    /// Hands a message to the server's actor; a server that is gone does not need it.
    pub(crate) fn post(&self, msg: ToServer) {
        let _ = self.port.post(msg);
    }

    /// A handle whose messages go nowhere, for routing tables built by hand in tests.
    #[cfg(test)]
    pub(crate) fn detached(label: &str) -> ServerHandle {
        struct Nowhere;
        impl ServerPort for Nowhere {
            fn post(&self, _msg: ToServer) -> Result<(), ToServer> {
                Ok(())
            }
        }
        ServerHandle { label: label.into(), lane: Default::default(), port: Arc::new(Nowhere) }
    }
}
