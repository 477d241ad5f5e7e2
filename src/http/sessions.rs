//! The legacy sessions of the HTTP front, by `Mcp-Session-Id`: created at `initialize`, ended by DELETE, by
//! idling past `session_idle_timeout`, or with the front. An ended session's id gets 404 from then on.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use super::exchange::Exchange;
use crate::dispatch::client::Outbound;
use crate::session::{Session, Shared};

/// One legacy session.
pub(crate) struct HttpSession {
    pub(crate) id: Arc<str>,
    pub(crate) session: Session,
    pub(crate) exchange: Arc<Exchange>,
    /// The token identity that opened it: requests with another identity do not find it (no session hijacking
    /// across tokens).
    pub(crate) identity: Option<Arc<str>>,
    /// Milliseconds since the table's epoch of the last request.
    last_seen: AtomicU64,
}

/// Why a session could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SessionsError {
    #[error("the gateway has {0} HTTP sessions open, its limit ([front.http] max_sessions); retry later")]
    Full(usize),
    #[error("client `{0}` has {1} HTTP sessions open, the most one client may hold ([front.http] max_sessions_per_client); end one (DELETE) or retry later")]
    ClientFull(Arc<str>, usize),
}

pub(crate) struct Sessions {
    map: RwLock<HashMap<Arc<str>, Arc<HttpSession>>>,
    epoch: Instant,
    idle: Duration,
    max: usize,
    /// Sessions one token identity may hold (sessions without an identity are bounded by `max` only).
    max_per_client: usize,
}

impl Sessions {
    pub(crate) fn new(idle: Duration, max: usize, max_per_client: usize) -> Self {
        Sessions { map: RwLock::new(HashMap::new()), epoch: Instant::now(), idle, max, max_per_client }
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Opens a session for a client with this token identity (if any).
    pub(crate) fn create(
        &self,
        shared: &Arc<Shared>,
        identity: Option<Arc<str>>,
    ) -> Result<Arc<HttpSession>, SessionsError> {
        let exchange = Arc::new(Exchange::default());
        let routes = exchange.clone();
        let client = shared.clients.open_with(Outbound::Sink(Arc::new(move |frame| routes.route(frame))), None);
        if let Some(who) = &identity {
            // Set before `initialize` can set `clientInfo.name`: the token's identity wins.
            let _ = client.identity.set(who.clone());
        }
        let session = Session::with_client(shared.clone(), client);
        let http = Arc::new(HttpSession {
            id: new_id().into(),
            session,
            exchange,
            identity,
            last_seen: AtomicU64::new(self.now_ms()),
        });
        let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
        let refused = if map.len() >= self.max {
            Some(SessionsError::Full(self.max))
        } else {
            http.identity.as_ref().and_then(|who| {
                let held = map.values().filter(|s| s.identity.as_ref() == Some(who)).count();
                (held >= self.max_per_client).then(|| SessionsError::ClientFull(who.clone(), self.max_per_client))
            })
        };
        if let Some(refused) = refused {
            drop(map);
            http.exchange.close();
            return Err(refused);
        }
        map.insert(http.id.clone(), http.clone());
        Ok(http)
    }

    /// The session `id`, if it is live and belongs to `identity`; the lookup counts as activity.
    pub(crate) fn get(&self, id: &str, identity: Option<&str>) -> Option<Arc<HttpSession>> {
        let s = self.map.read().unwrap_or_else(|p| p.into_inner()).get(id).cloned()?;
        if s.identity.as_deref() != identity {
            return None;
        }
        s.last_seen.store(self.now_ms(), Ordering::Relaxed);
        Some(s)
    }

    /// Ends session `id` (DELETE, or a failed `initialize`).
    pub(crate) fn remove(&self, id: &str) -> Option<Arc<HttpSession>> {
        let s = self.map.write().unwrap_or_else(|p| p.into_inner()).remove(id)?;
        s.exchange.close();
        Some(s)
    }

    /// Ends the sessions idle for longer than the timeout (a request in flight or an open stream is activity).
    /// Returns how many ended.
    pub(crate) fn sweep(&self) -> usize {
        let now = self.now_ms();
        let idle = self.idle.as_millis() as u64;
        let mut expired = Vec::new();
        {
            let map = self.map.read().unwrap_or_else(|p| p.into_inner());
            for s in map.values() {
                if s.exchange.busy() {
                    s.last_seen.store(now, Ordering::Relaxed);
                } else if now.saturating_sub(s.last_seen.load(Ordering::Relaxed)) >= idle {
                    expired.push(s.id.clone());
                }
            }
        }
        for id in &expired {
            tracing::info!(session = %id, "HTTP session expired (idle)");
            self.remove(id);
        }
        expired.len()
    }

    /// Ends every session (the front is stopping).
    pub(crate) fn clear(&self) {
        let all: Vec<_> = self.map.write().unwrap_or_else(|p| p.into_inner()).drain().collect();
        for (_, s) in all {
            s.exchange.close();
        }
    }
}

/// 128 random bits as hex: visible ASCII, unguessable.
fn new_id() -> String {
    let mut bytes = [0u8; 16];
    getrandom::getrandom(&mut bytes).expect("the OS random source is available");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
