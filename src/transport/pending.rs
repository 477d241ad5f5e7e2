//! Requests sent to one downstream and not answered yet, keyed by the id the gateway gave them.
//!
//! Shared by the reader task (which completes entries as responses arrive) and the server actor (which adds
//! entries, expires them, and fails them all when the process exits). One short critical section per call.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::value::RawValue;
use tokio::sync::oneshot;

use super::DownstreamError;
use crate::clients::ClientHandle;

/// Where a client's request came from, so the answer finds its way back with the client's own id.
pub(crate) struct ClientReply {
    pub(crate) client: Arc<ClientHandle>,
    /// The id exactly as the client wrote it.
    pub(crate) id: Box<RawValue>,
    /// `_meta.progressToken` of the request, if any: progress with this token goes to this client.
    pub(crate) progress_token: Option<Box<RawValue>>,
    /// The token the server was given instead (raw JSON text): client tokens are unique per client only.
    pub(crate) downstream_token: Option<Box<str>>,
    /// `Some(cacheable)` when a modern client waits for a legacy server's result: the result then gets the
    /// modern `resultType` (and cache hints when `cacheable`).
    pub(crate) complete_for_modern: Option<bool>,
    /// The request as this server first got it (before any era conversion), kept when the call may have to be
    /// sent again: a retry, a fallback, or a modern server's round of input requests.
    pub(crate) resend: Option<Resend>,
    /// The call asked for a task (2025-11-25 `params.task`): the task id in the result is remembered, so that
    /// `tasks/*` requests for it reach this server.
    pub(crate) record_task: bool,
    /// Times the call may still be repeated after a timeout or crash: non-zero only when repeating is safe (a
    /// read-only or idempotent tool, by annotation or by policy).
    pub(crate) retries_left: u32,
    /// Where the call goes when it fails (a policy `fallback` rule).
    pub(crate) fallback: Option<Fallback>,
    /// On a fallback call: the tool that answered and the one first asked, for the result's `_meta`.
    pub(crate) answered_by: Option<(Arc<str>, Arc<str>)>,
    /// A modern server serves a legacy client: an `input_required` result must be bridged into requests.
    pub(crate) bridge_input: bool,
    /// The record of a tool call (metrics, evidence, cache): finished when the client is answered.
    pub(crate) log: Option<Box<crate::calls::CallLog>>,
}

impl ClientReply {
    /// A reply to `id` with nothing special about it.
    pub(crate) fn new(client: Arc<ClientHandle>, id: Box<RawValue>) -> Self {
        ClientReply {
            client,
            id,
            progress_token: None,
            downstream_token: None,
            complete_for_modern: None,
            resend: None,
            record_task: false,
            retries_left: 0,
            fallback: None,
            answered_by: None,
            bridge_input: false,
            log: None,
        }
    }

    /// The response frame carrying a downstream's `result` (or a cached one) as this client gets it: the
    /// fallback's `_meta` added when another tool answered, the modern members when the client is modern.
    pub(crate) fn result_frame(&self, result: &[u8]) -> Bytes {
        let with_meta;
        let result = match &self.answered_by {
            Some((by, from)) => {
                let members = format!(r#""dfs-gateway/answeredBy":"{by}","dfs-gateway/fallbackFrom":"{from}""#);
                with_meta = crate::protocol::merge_meta(Some(result), members.as_bytes(), None);
                &with_meta[..]
            }
            None => result,
        };
        match self.complete_for_modern {
            Some(cacheable) => {
                crate::protocol::response_frame_bytes(&self.id, &crate::era::complete_result(result, cacheable))
            }
            None => crate::protocol::response_frame_bytes(&self.id, result),
        }
    }

    /// Sends `frame` to the client and records the call (`answer` says how it ended).
    pub(crate) fn deliver(mut self, frame: Bytes, answer: crate::calls::Answer<'_>) {
        let log = self.log.take();
        match log {
            Some(log) => {
                self.client.send(frame.clone());
                log.finish(&self, &frame, answer);
            }
            None => self.client.send(frame),
        }
    }

    /// Answers with a failure the gateway saw.
    pub(crate) fn fail(self, err: &DownstreamError) {
        let frame = err.to_frame(&self.id);
        self.deliver(frame, crate::calls::Answer::Failure(err));
    }
}

/// A policy fallback: the canonical tool to call instead.
pub(crate) struct Fallback {
    pub(crate) target: Arc<str>,
    /// Also fall back when the tool answers `isError: true`.
    pub(crate) on_error: bool,
    /// The canonical tool first asked.
    pub(crate) from: Arc<str>,
}

/// A request as it went to the server, kept when it may have to be sent again (retry, fallback, input rounds).
#[derive(Clone)]
pub(crate) struct Resend {
    pub(crate) method: &'static str,
    pub(crate) params: Bytes,
    /// A policy timeout for the call, if any.
    pub(crate) timeout: Option<Duration>,
}

/// Who waits for an answer.
pub(crate) enum Responder {
    Client(ClientReply),
    /// The gateway's own request (initialize, tools/list): gets the whole response frame.
    Internal(oneshot::Sender<Result<Bytes, DownstreamError>>),
    /// A modern client's call whose server asked for input: the client was answered `input_required` and will
    /// retry with a new id, which is then bound here again.
    Parked,
}

impl Responder {
    /// Answers with a failure.
    pub(crate) fn fail(self, err: &DownstreamError) {
        match self {
            Responder::Client(c) => c.fail(err),
            Responder::Internal(tx) => {
                let _ = tx.send(Err(err.clone()));
            }
            Responder::Parked => {}
        }
    }
}

pub(crate) struct Entry {
    pub(crate) responder: Responder,
    pub(crate) deadline: Instant,
    /// Whether to tell the downstream `notifications/cancelled` when this entry times out.
    pub(crate) cancel_on_timeout: bool,
}

/// The progress token an entry is known by at the server.
fn progress_key(entry: &Entry) -> Option<&str> {
    match &entry.responder {
        Responder::Client(ClientReply { downstream_token: Some(t), .. }) => Some(t),
        Responder::Client(ClientReply { progress_token: Some(t), .. }) => Some(crate::protocol::raw_key(t)),
        _ => None,
    }
}

#[derive(Default)]
pub(crate) struct Inner {
    entries: HashMap<u64, Entry>,
    /// progress token (raw JSON text) → downstream id of the request that carries it.
    progress: HashMap<Box<str>, u64>,
    /// Set by `drain`: the connection is gone.
    closed: bool,
}

/// The pending map of one downstream process.
#[derive(Default)]
pub(crate) struct Pending {
    inner: Mutex<Inner>,
}

impl Pending {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding this lock leaves plain data behind; keep serving.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn len(&self) -> usize {
        self.lock().entries.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds an entry (`None`); gives it back when the map was closed by [`Pending::drain`] (the process is gone,
    /// and nothing would ever answer or expire it).
    pub(crate) fn insert(&self, id: u64, entry: Entry) -> Option<Entry> {
        let mut inner = self.lock();
        if inner.closed {
            return Some(entry);
        }
        if let Some(token) = progress_key(&entry) {
            let token = token.into();
            inner.progress.insert(token, id);
        }
        inner.entries.insert(id, entry);
        None
    }

    pub(crate) fn contains(&self, id: u64) -> bool {
        self.lock().entries.contains_key(&id)
    }

    pub(crate) fn remove(&self, id: u64) -> Option<Entry> {
        let mut inner = self.lock();
        let entry = inner.entries.remove(&id)?;
        if let Some(token) = progress_key(&entry) {
            inner.progress.remove(token);
        }
        Some(entry)
    }

    /// The client that progress with `token` (as the server knows it) belongs to, and that client's own token.
    pub(crate) fn progress_target(&self, token: &str) -> Option<(Arc<ClientHandle>, Box<RawValue>)> {
        let inner = self.lock();
        let id = inner.progress.get(token)?;
        match &inner.entries.get(id)?.responder {
            Responder::Client(c) => Some((c.client.clone(), c.progress_token.clone()?)),
            Responder::Internal(_) | Responder::Parked => None,
        }
    }

    /// The most recent call of `session` still waiting here (ids grow, so the largest is the latest).
    pub(crate) fn latest_client_call(&self, session: u64) -> Option<u64> {
        let inner = self.lock();
        inner
            .entries
            .iter()
            .filter(|(_, e)| matches!(&e.responder, Responder::Client(c) if c.client.session == session))
            .map(|(id, _)| *id)
            .max()
    }

    /// Detaches the client of call `id` (answered elsewhere for now), keeping the call waiting `hold` longer.
    pub(crate) fn park(&self, id: u64, hold: Duration) -> Option<ClientReply> {
        let mut inner = self.lock();
        let entry = inner.entries.get_mut(&id)?;
        if !matches!(entry.responder, Responder::Client(_)) {
            return None;
        }
        entry.deadline = Instant::now() + hold;
        match std::mem::replace(&mut entry.responder, Responder::Parked) {
            Responder::Client(c) => Some(c),
            _ => unreachable!("checked above"),
        }
    }

    /// Attaches a client again to parked call `id`; `false` when the call is gone.
    pub(crate) fn rebind(&self, id: u64, reply: ClientReply, timeout: Duration) -> bool {
        let mut inner = self.lock();
        match inner.entries.get_mut(&id) {
            Some(entry) if matches!(entry.responder, Responder::Parked) => {
                entry.deadline = Instant::now() + timeout;
                entry.responder = Responder::Client(reply);
                true
            }
            _ => false,
        }
    }

    /// The client whose calls are in flight here, when they all come from one session: a server's own request
    /// arriving now was most likely caused by one of them.
    pub(crate) fn sole_client(&self) -> Option<Arc<ClientHandle>> {
        let inner = self.lock();
        let mut found: Option<&Arc<ClientHandle>> = None;
        for e in inner.entries.values() {
            if let Responder::Client(c) = &e.responder {
                match found {
                    Some(f) if f.session != c.client.session => return None,
                    _ => found = Some(&c.client),
                }
            }
        }
        found.cloned()
    }

    /// Removes and returns the entries whose deadline has passed.
    pub(crate) fn expire(&self, now: Instant) -> Vec<(u64, Entry)> {
        let inner = self.lock();
        let ids: Vec<u64> = inner.entries.iter().filter(|(_, e)| e.deadline <= now).map(|(id, _)| *id).collect();
        drop(inner);
        ids.into_iter().filter_map(|id| self.remove(id).map(|e| (id, e))).collect()
    }

    /// Removes the entry of a client's request, found by session and the client's id.
    pub(crate) fn remove_client_request(&self, session: u64, client_id: &str) -> Option<(u64, Entry)> {
        let inner = self.lock();
        let id = inner.entries.iter().find_map(|(id, e)| match &e.responder {
            Responder::Client(c) if c.client.session == session && crate::protocol::raw_key(&c.id) == client_id => {
                Some(*id)
            }
            _ => None,
        })?;
        drop(inner);
        self.remove(id).map(|e| (id, e))
    }

    /// [`Pending::drain`], answering every entry with `err`.
    pub(crate) fn fail_all(&self, err: &DownstreamError) {
        for entry in self.drain() {
            entry.responder.fail(err);
        }
    }

    /// Removes every entry and closes the map (the process is gone): later inserts are refused.
    pub(crate) fn drain(&self) -> Vec<Entry> {
        let mut inner = self.lock();
        inner.closed = true;
        inner.progress.clear();
        inner.entries.drain().map(|(_, e)| e).collect()
    }
}
