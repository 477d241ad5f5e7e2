//! Requests sent to one downstream and not answered yet, keyed by the id the gateway gave them.
//!
//! Shared by the reader task (which completes entries as responses arrive) and the server actor (which adds
//! entries, expires them, and fails them all when the process exits). One short critical section per call.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use bytes::Bytes;
use serde_json::value::RawValue;
use tokio::sync::oneshot;

use super::{ClientTx, DownstreamError};

/// Where a client's request came from, so the answer finds its way back with the client's own id.
#[derive(Debug)]
pub struct ClientReply {
    /// The client session, for cancellation lookups.
    pub session: u64,
    /// The id exactly as the client wrote it.
    pub id: Box<RawValue>,
    pub tx: ClientTx,
    /// `_meta.progressToken` of the request, if any: progress with this token goes to `tx`.
    pub progress_token: Option<Box<RawValue>>,
}

/// Who waits for an answer.
#[derive(Debug)]
pub enum Responder {
    Client(ClientReply),
    /// The gateway's own request (initialize, tools/list): gets the whole response frame.
    Internal(oneshot::Sender<Result<Bytes, DownstreamError>>),
}

impl Responder {
    /// Answers with a failure.
    pub fn fail(self, err: &DownstreamError) {
        match self {
            Responder::Client(c) => {
                let _ = c.tx.send(err.to_frame(&c.id));
            }
            Responder::Internal(tx) => {
                let _ = tx.send(Err(err.clone()));
            }
        }
    }
}

#[derive(Debug)]
pub struct Entry {
    pub responder: Responder,
    pub deadline: Instant,
    /// Whether to tell the downstream `notifications/cancelled` when this entry times out.
    pub cancel_on_timeout: bool,
}

#[derive(Debug, Default)]
pub struct Inner {
    entries: HashMap<u64, Entry>,
    /// progress token (raw JSON text) → downstream id of the request that carries it.
    progress: HashMap<Box<str>, u64>,
}

/// The pending map of one downstream process.
#[derive(Debug, Default)]
pub struct Pending {
    inner: Mutex<Inner>,
}

impl Pending {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding this lock leaves plain data behind; keep serving.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn insert(&self, id: u64, entry: Entry) {
        let mut inner = self.lock();
        if let Responder::Client(ClientReply { progress_token: Some(t), .. }) = &entry.responder {
            inner.progress.insert(crate::protocol::raw_key(t).into(), id);
        }
        inner.entries.insert(id, entry);
    }

    pub fn remove(&self, id: u64) -> Option<Entry> {
        let mut inner = self.lock();
        let entry = inner.entries.remove(&id)?;
        if let Responder::Client(ClientReply { progress_token: Some(t), .. }) = &entry.responder {
            inner.progress.remove(crate::protocol::raw_key(t));
        }
        Some(entry)
    }

    /// The client channel that progress with `token` belongs to.
    pub fn progress_target(&self, token: &str) -> Option<ClientTx> {
        let inner = self.lock();
        let id = inner.progress.get(token)?;
        match &inner.entries.get(id)?.responder {
            Responder::Client(c) => Some(c.tx.clone()),
            Responder::Internal(_) => None,
        }
    }

    /// Removes and returns the entries whose deadline has passed.
    pub fn expire(&self, now: Instant) -> Vec<(u64, Entry)> {
        let inner = self.lock();
        let ids: Vec<u64> = inner.entries.iter().filter(|(_, e)| e.deadline <= now).map(|(id, _)| *id).collect();
        drop(inner);
        ids.into_iter().filter_map(|id| self.remove(id).map(|e| (id, e))).collect()
    }

    /// Removes the entry of a client's request, found by session and the client's id.
    pub fn remove_client_request(&self, session: u64, client_id: &str) -> Option<(u64, Entry)> {
        let inner = self.lock();
        let id = inner.entries.iter().find_map(|(id, e)| match &e.responder {
            Responder::Client(c) if c.session == session && crate::protocol::raw_key(&c.id) == client_id => Some(*id),
            _ => None,
        })?;
        drop(inner);
        self.remove(id).map(|e| (id, e))
    }

    /// Removes every entry (the process is gone).
    pub fn drain(&self) -> Vec<Entry> {
        let mut inner = self.lock();
        inner.progress.clear();
        inner.entries.drain().map(|(_, e)| e).collect()
    }
}
