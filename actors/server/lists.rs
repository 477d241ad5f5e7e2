//! A server's lists (tools, prompts, resources, templates): fetched at start-up and on `list_changed`, refetched
//! when older than their time to live, published to the router, and kept in the catalog for lazy starts.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ractor::ActorRef;
use serde_json::value::RawValue;

use super::downstream::{self, ListKind};
use super::{Phase, ServerMsg, ServerState};
use crate::actors::router::RouterMsg;
use crate::catalog::{self, Catalog};
use crate::routing::ServerLists;

impl ServerState {
    /// A server's own `ttlMs` for its lists replaces the configured list lifetime.
    pub(super) fn note_list_ttl(&mut self, ttl_ms: Option<u64>) {
        if let Some(ms) = ttl_ms {
            self.list_ttl = Duration::from_millis(ms);
        }
    }

    pub(super) fn on_lists_wanted(&mut self, myself: &ActorRef<ServerMsg>) {
        let stale = self.lists_fetched.is_some_and(|t| t.elapsed() >= self.list_ttl);
        if !matches!(self.phase, Phase::Ready) || !stale {
            return;
        }
        tracing::debug!(server = %self.label, ttl = ?self.list_ttl, "lists are older than their time to live; refetching");
        self.lists_fetched = Some(Instant::now());
        for kind in ListKind::ALL {
            if kind.offered_by(self.caps) {
                self.refresh(myself, kind);
            }
        }
    }

    pub(super) fn refresh(&self, myself: &ActorRef<ServerMsg>, kind: ListKind) {
        let Some(child) = &self.child else { return };
        let requester = child.requester().clone();
        let (me, generation, timeout) = (myself.clone(), self.generation, self.cfg.timeout);
        let envelope = self.envelope.clone();
        tokio::spawn(async move {
            let link = downstream::Link { req: &requester, envelope: envelope.as_deref() };
            let result = downstream::list_all(&link, kind, timeout).await;
            let _ = me.cast(ServerMsg::ListRefreshed(generation, kind, result));
        });
    }

    /// Tells the router about (possibly) new lists.
    pub(super) fn publish(&mut self, lists: ServerLists, from_catalog: bool) {
        if self.lists.as_ref().is_some_and(|old| old.same_as(&lists)) {
            return;
        }
        if !from_catalog && self.lists.is_some() {
            self.write_catalog(&lists, None, None);
        }
        self.lists = Some(lists.clone());
        let _ = self.ctx.router.cast(RouterMsg::ServerLists { server: self.cfg.name.clone(), lists: Arc::new(lists) });
    }

    pub(super) fn write_catalog(
        &self,
        lists: &ServerLists,
        server_info: Option<Box<RawValue>>,
        capabilities: Option<Box<RawValue>>,
    ) {
        let cat =
            Catalog { key: self.cfg.launch_key(), server_info, capabilities, era: self.era, lists: lists.clone() };
        let (dir, name) = (self.ctx.state_dir.clone(), self.cfg.name.clone());
        tokio::task::spawn_blocking(move || {
            if let Err(e) = catalog::store(&dir, &name, &cat) {
                tracing::warn!(server = %name, error = %e, "cannot write the catalog");
            }
        });
    }

    /// What this server answered before may be stale now: its cached results go.
    pub(super) fn invalidate_cache(&self) {
        let tag = crate::cache::server_tag(self.cfg.namespace.as_str(), &self.cfg.name);
        self.ctx.services.invalidate_tag(tag);
    }
}
