//! Requests sent to one downstream and not answered yet, keyed by the id the gateway gave them.
//!
//! Shared by the reader task (which completes entries as responses arrive) and the server actor (which adds
//! entries, expires them, and fails them all when the process exits). One short critical section per call.
//! The callers waiting here are opaque ([`Caller`]): the map knows only who asked and under which id.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::oneshot;

use super::{Caller, DownstreamError};

/// Who waits for an answer.
pub(crate) enum Responder<C: Caller> {
    /// A call of a client (the dispatch layer's reply path).
    Call(C),
    /// The gateway's own request (initialize, tools/list): gets the whole response frame.
    Internal(oneshot::Sender<Result<Bytes, DownstreamError>>),
    /// A modern client's call whose server asked for input: the client was answered `input_required` and will
    /// retry with a new id, which is then bound here again.
    Parked,
}

impl<C: Caller> Responder<C> {
    /// Answers with a failure.
    pub(crate) fn fail(self, err: &DownstreamError) {
        match self {
            Responder::Call(c) => c.fail(err),
            Responder::Internal(tx) => {
                let _ = tx.send(Err(err.clone()));
            }
            Responder::Parked => {}
        }
    }
}

pub(crate) struct Entry<C: Caller> {
    pub(crate) responder: Responder<C>,
    pub(crate) deadline: Instant,
    /// Whether to tell the downstream `notifications/cancelled` when this entry times out.
    pub(crate) cancel_on_timeout: bool,
}

/// The progress token an entry is known by at the server.
fn progress_key<C: Caller>(entry: &Entry<C>) -> Option<&str> {
    match &entry.responder {
        Responder::Call(c) => c.progress_key(),
        _ => None,
    }
}

pub(crate) struct Inner<C: Caller> {
    entries: HashMap<u64, Entry<C>>,
    /// progress token (raw JSON text) → downstream id of the request that carries it.
    progress: HashMap<Box<str>, u64>,
    /// Set by `drain`: the connection is gone.
    closed: bool,
}

/// The pending map of one downstream process.
pub(crate) struct Pending<C: Caller> {
    inner: Mutex<Inner<C>>,
}

impl<C: Caller> Default for Pending<C> {
    fn default() -> Self {
        Pending { inner: Mutex::new(Inner { entries: HashMap::new(), progress: HashMap::new(), closed: false }) }
    }
}

impl<C: Caller> Pending<C> {
    fn lock(&self) -> MutexGuard<'_, Inner<C>> {
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
    pub(crate) fn insert(&self, id: u64, entry: Entry<C>) -> Option<Entry<C>> {
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

    pub(crate) fn remove(&self, id: u64) -> Option<Entry<C>> {
        let mut inner = self.lock();
        let entry = inner.entries.remove(&id)?;
        if let Some(token) = progress_key(&entry) {
            inner.progress.remove(token);
        }
        Some(entry)
    }

    /// Where progress with `token` (as the server knows it) goes.
    pub(crate) fn progress_to(&self, token: &str) -> Option<C::ProgressTo> {
        let inner = self.lock();
        let id = inner.progress.get(token)?;
        match &inner.entries.get(id)?.responder {
            Responder::Call(c) => c.progress_to(),
            Responder::Internal(_) | Responder::Parked => None,
        }
    }

    /// The most recent call from `origin` still waiting here (ids grow, so the largest is the latest).
    pub(crate) fn latest_call_of(&self, origin: u64) -> Option<u64> {
        let inner = self.lock();
        inner
            .entries
            .iter()
            .filter(|(_, e)| matches!(&e.responder, Responder::Call(c) if c.origin() == origin))
            .map(|(id, _)| *id)
            .max()
    }

    /// Detaches the caller of call `id` (answered elsewhere for now), keeping the call waiting `hold` longer.
    pub(crate) fn park(&self, id: u64, hold: Duration) -> Option<C> {
        let mut inner = self.lock();
        let entry = inner.entries.get_mut(&id)?;
        if !matches!(entry.responder, Responder::Call(_)) {
            return None;
        }
        entry.deadline = Instant::now() + hold;
        match std::mem::replace(&mut entry.responder, Responder::Parked) {
            Responder::Call(c) => Some(c),
            _ => unreachable!("checked above"),
        }
    }

    /// Attaches a caller again to parked call `id`; `false` when the call is gone.
    pub(crate) fn rebind(&self, id: u64, caller: C, timeout: Duration) -> bool {
        let mut inner = self.lock();
        match inner.entries.get_mut(&id) {
            Some(entry) if matches!(entry.responder, Responder::Parked) => {
                entry.deadline = Instant::now() + timeout;
                entry.responder = Responder::Call(caller);
                true
            }
            _ => false,
        }
    }

    /// `f` of the calls in flight here when they all come from one origin: a server's own request arriving now
    /// was most likely caused by one of them.
    pub(crate) fn sole<T>(&self, f: impl FnOnce(&C) -> T) -> Option<T> {
        let inner = self.lock();
        let mut found: Option<&C> = None;
        for e in inner.entries.values() {
            if let Responder::Call(c) = &e.responder {
                match found {
                    Some(first) if first.origin() != c.origin() => return None,
                    _ => found = Some(found.unwrap_or(c)),
                }
            }
        }
        found.map(f)
    }

    /// Removes and returns the entries whose deadline has passed.
    pub(crate) fn expire(&self, now: Instant) -> Vec<(u64, Entry<C>)> {
        let inner = self.lock();
        let ids: Vec<u64> = inner.entries.iter().filter(|(_, e)| e.deadline <= now).map(|(id, _)| *id).collect();
        drop(inner);
        ids.into_iter().filter_map(|id| self.remove(id).map(|e| (id, e))).collect()
    }

    /// Removes the entry of a caller's request, found by its origin and its own id.
    pub(crate) fn remove_request(&self, origin: u64, key: &str) -> Option<(u64, Entry<C>)> {
        let inner = self.lock();
        let id = inner.entries.iter().find_map(|(id, e)| match &e.responder {
            Responder::Call(c) if c.origin() == origin && c.request_key() == key => Some(*id),
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
    pub(crate) fn drain(&self) -> Vec<Entry<C>> {
        let mut inner = self.lock();
        inner.closed = true;
        inner.progress.clear();
        inner.entries.drain().map(|(_, e)| e).collect()
    }
}
