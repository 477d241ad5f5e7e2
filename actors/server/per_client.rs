//! `session = "per_client"`: an HTTP server gets one downstream session per client session. A client's calls
//! go out in its own session, so the server's progress, logging and requests in that session can only be for
//! that client; the session is initialized on the client's first call and ended (DELETE) when the client's
//! session closes. The server's own connection (handshake, lists, catalog) stays as in shared mode.
//!
//! A modern (2026-07-28) server has no sessions: its calls all go through the server's connection.

use std::sync::Arc;
use std::time::Instant;

use ractor::ActorRef;

use super::{downstream, ServerMsg, ServerState};
use crate::config::SessionMode;
use crate::dispatch::{Call, ChildEvent, HttpConnection, Requester, Responder};
use crate::transport::http::HttpSpec;
use crate::transport::DownstreamError;

/// One client's own downstream session.
pub(super) struct ClientSession {
    conn: HttpConnection,
    /// Numbers the connections of this client, so events of a replaced one are told apart.
    number: u64,
    ready: bool,
    /// Calls waiting for the session to be initialized.
    queue: Vec<Call>,
}

impl ClientSession {
    pub(super) fn pending(&self) -> usize {
        self.conn.requester.pending().len() + self.queue.len()
    }

    /// Ends the session (its client is gone, or the server idles out).
    pub(super) async fn stop(self, grace: std::time::Duration) {
        self.conn.stop(grace).await;
    }
}

impl ServerState {
    /// Calls of each client go to a session of their own.
    pub(super) fn per_client(&self) -> bool {
        self.envelope.is_none() && self.cfg.http.as_ref().is_some_and(|h| h.session == SessionMode::PerClient)
    }

    pub(super) fn dispatch_per_client(&mut self, call: Call) {
        let session = call.reply.client.session;
        if let Some(s) = self.sessions.get_mut(&session) {
            if s.ready {
                let requester = s.conn.requester.clone();
                return self.send_call(&requester, call);
            }
            return s.queue.push(call);
        }
        let Some(http) = &self.cfg.http else { return call.reply_fail(&self.unavailable("it has no url")) };
        self.next_sub += 1;
        let number = self.next_sub;
        let Some(me) = self.myself.clone() else { return };
        let events_to = me.clone();
        let lookup = self.ctx.lookup_env.clone();
        let opened = HttpConnection::open(HttpSpec {
            http,
            label: self.label.clone(),
            max_frame_bytes: self.ctx.max_frame_bytes,
            events: Arc::new(move |ev| {
                let _ = events_to.cast(ServerMsg::Sub(session, number, ev));
            }),
            breaker: Some(self.breaker.clone()),
            lookup_env: &*lookup,
        });
        let conn = match opened {
            Ok(conn) => conn,
            Err(e) => return call.reply_fail(&e),
        };
        tracing::debug!(server = %self.label, session, "opening a downstream session for a client");
        let requester = conn.requester.clone();
        self.sessions.insert(session, ClientSession { conn, number, ready: false, queue: vec![call] });
        self.init_session(&me, session, number, requester);
    }

    fn init_session(&self, me: &ActorRef<ServerMsg>, session: u64, number: u64, requester: Requester) {
        let (me, timeout, caps) = (me.clone(), self.cfg.start_timeout, self.ctx.client_caps.clone());
        let level = self.log_level.clone();
        tokio::spawn(async move {
            let result = downstream::open_session(&requester, timeout, caps, level).await;
            let _ = me.cast(ServerMsg::SubStarted(session, number, result));
        });
    }

    pub(super) fn on_sub_started(
        &mut self,
        myself: &ActorRef<ServerMsg>,
        session: u64,
        number: u64,
        result: Result<(), DownstreamError>,
    ) {
        let Some(s) = self.sessions.get_mut(&session).filter(|s| s.number == number) else { return };
        match result {
            Ok(()) => {
                s.ready = true;
                let requester = s.conn.requester.clone();
                for call in std::mem::take(&mut s.queue) {
                    self.send_call(&requester, call);
                }
            }
            Err(e) => {
                tracing::warn!(server = %self.label, session, error = %e, "a client's downstream session failed to start");
                let s = self.sessions.remove(&session).expect("found above");
                self.breaker.failure();
                let err = self.unavailable(&format!("its session for this client could not be initialized: {e}"));
                for call in s.queue {
                    self.recover_or_fail(myself, call.reply, err.clone(), false);
                }
                s.conn.requester.pending().fail_all(&err);
            }
        }
    }

    pub(super) fn on_sub_event(&mut self, myself: &ActorRef<ServerMsg>, session: u64, number: u64, event: ChildEvent) {
        let Some(s) = self.sessions.get_mut(&session).filter(|s| s.number == number) else { return };
        match event {
            ChildEvent::Exited { status, .. } => {
                let s = self.sessions.remove(&session).expect("found above");
                self.breaker.failure();
                let err = self.unavailable(&status);
                for call in s.queue {
                    self.recover_or_fail(myself, call.reply, err.clone(), false);
                }
                for entry in s.conn.requester.pending().drain() {
                    match entry.responder {
                        Responder::Call(reply) => self.recover_or_fail(myself, reply, err.clone(), true),
                        other => other.fail(&err),
                    }
                }
            }
            ChildEvent::SessionExpired { entry, reinit } => {
                if reinit && s.ready {
                    tracing::info!(server = %self.label, session, "a client's downstream session expired; initializing a new one");
                    s.ready = false;
                    let requester = s.conn.requester.clone();
                    self.init_session(myself, session, number, requester);
                }
                let err = self.unavailable(
                    "its session expired (the server answered 404); the gateway opened a new one, call again",
                );
                if let Some(entry) = entry {
                    match entry.responder {
                        Responder::Call(reply) => self.recover_or_fail(myself, reply, err, true),
                        other => other.fail(&err),
                    }
                }
            }
            ChildEvent::Request(frame) => {
                let requester = s.conn.requester.clone();
                let owner = self.ctx.clients.get(session);
                self.forward_server_request(&requester, owner, frame);
            }
            ChildEvent::Notification(frame) => {
                let is_log = crate::protocol::Envelope::parse(&frame)
                    .is_ok_and(|e| e.method.as_deref() == Some("notifications/message"));
                match (is_log, self.ctx.clients.get(session)) {
                    // Logging in a client's own session is for that client alone.
                    (true, Some(client)) => client.send(crate::transport::child::with_newline(&frame)),
                    (true, None) => {}
                    (false, _) => self.on_notification(myself, frame),
                }
            }
            // The rest carries its own reply and is handled as for the server's connection.
            other => self.on_child_event(myself, other),
        }
    }

    /// Timeouts of the calls in client sessions, and the end of sessions whose client has gone.
    pub(super) fn tick_sessions(&mut self, myself: &ActorRef<ServerMsg>, now: Instant) {
        let gone: Vec<u64> = self.sessions.keys().copied().filter(|s| self.ctx.clients.get(*s).is_none()).collect();
        for session in gone {
            if let Some(s) = self.sessions.remove(&session) {
                tracing::debug!(server = %self.label, session, "the client's session ended; ending its downstream session");
                let grace = self.ctx.stop_grace;
                tokio::spawn(async move { s.conn.stop(grace).await });
            }
        }
        let requesters: Vec<Requester> = self.sessions.values().map(|s| s.conn.requester.clone()).collect();
        for requester in requesters {
            for (id, entry) in requester.pending().expire(now) {
                if entry.cancel_on_timeout {
                    let params = format!(r#"{{"requestId":{id},"reason":"timed out in dfs-gateway"}}"#);
                    requester.notify("notifications/cancelled", Some(params.as_bytes()));
                }
                let err = DownstreamError::Timeout { server: self.label.to_string(), after: self.cfg.timeout };
                match entry.responder {
                    Responder::Call(reply) => {
                        self.breaker.failure();
                        self.recover_or_fail(myself, reply, err, true);
                    }
                    other => other.fail(&err),
                }
            }
        }
    }

    /// A client cancelled a call that went out in its own session.
    pub(super) fn cancel_in_session(&mut self, session: u64, client_id: &str) -> bool {
        let Some(s) = self.sessions.get_mut(&session) else { return false };
        if let Some(pos) = s.queue.iter().position(|c| crate::protocol::raw_key(&c.reply.id) == client_id) {
            s.queue.remove(pos);
            return true;
        }
        match s.conn.requester.pending().remove_request(session, client_id) {
            Some((id, _)) => {
                let params = format!(r#"{{"requestId":{id},"reason":"cancelled by the client"}}"#);
                s.conn.requester.notify("notifications/cancelled", Some(params.as_bytes()));
                true
            }
            None => false,
        }
    }

    /// Ends every client session (the gateway stops, or the server idles out).
    pub(super) async fn stop_sessions(&mut self, err: &DownstreamError) {
        for (_, s) in self.sessions.drain() {
            for call in s.queue {
                call.reply_fail(err);
            }
            s.conn.requester.pending().fail_all(err);
            s.conn.stop(self.ctx.stop_grace).await;
        }
    }
}
