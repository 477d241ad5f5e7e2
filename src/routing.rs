//! The routing table: every federated tool, prompt, resource and resource template under the names and URIs
//! clients see, the server that has it, and the serialized list entries.
//!
//! The router (an actor) builds a new table whenever a server's lists change and publishes it through an
//! [`ArcSwap`](arc_swap::ArcSwap); sessions read the current table without a message hop, so resolving a name
//! costs one hash lookup on the calling task. A route holds the server's [`ServerHandle`], never its actor.

mod named;
mod pages;
#[cfg(test)]
mod spelling;
mod uris;

use std::collections::BTreeMap;
use std::sync::Arc;

pub(crate) use named::{NamedEntry, NamedList};
pub(crate) use pages::{page_of, Page};
pub(crate) use uris::{UriEntry, UriList};

pub(crate) use crate::catalog::ServerLists;
use crate::dispatch::{Call, ServerHandle};
use crate::naming::{Namespace, Naming};

/// One downstream server as routes see it.
#[derive(Debug)]
pub(crate) struct ServerRoute {
    pub(crate) name: String,
    pub(crate) namespace: Namespace,
    /// `<namespace>.<server>`.
    pub(crate) label: Arc<str>,
    /// Where calls and the session's other requests for this server go (its fast lane, else its actor).
    pub(crate) handle: ServerHandle,
    /// How often a call that is safe to repeat is retried (`retries` in the server's config).
    pub(crate) retries: u32,
    /// Its tools and prompts are named on the wire as the server names them (`prefix = false`).
    pub(crate) prefix: bool,
}

impl ServerRoute {
    /// `<namespace>.<server>.<name>`: the name policy decides a prompt, resource or template of this server by
    /// (`name` is the prompt's name or the URI as the server knows it).
    pub(crate) fn canonical_of(&self, name: &str) -> String {
        let mut s = String::with_capacity(self.label.len() + 1 + name.len());
        s.push_str(&self.label);
        s.push('.');
        s.push_str(name);
        s
    }

    /// Hands a call to the server (see [`ServerHandle::call`]).
    pub(crate) fn call(&self, call: Call) -> bool {
        self.handle.call(call)
    }
}

/// Which lists changed between two tables, for `list_changed` notifications.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Changed {
    pub(crate) tools: bool,
    pub(crate) prompts: bool,
    pub(crate) resources: bool,
}

/// An immutable snapshot; replaced whole when anything changes.
#[derive(Debug, Default)]
pub(crate) struct RoutingTable {
    pub(crate) tools: NamedList,
    pub(crate) prompts: NamedList,
    pub(crate) resources: UriList,
    pub(crate) templates: UriList,
    /// Every server, listed or not, for fan-out (cancellation, logging).
    pub(crate) servers: Vec<Arc<ServerRoute>>,
}

impl RoutingTable {
    /// Builds the table from every server's lists (servers in name order).
    pub(crate) fn build(
        naming: &Naming,
        servers: &BTreeMap<String, (Arc<ServerRoute>, Option<Arc<ServerLists>>)>,
    ) -> Self {
        let listed: Vec<(&Arc<ServerRoute>, &ServerLists)> =
            servers.values().filter_map(|(route, lists)| lists.as_deref().map(|l| (route, l))).collect();
        RoutingTable {
            tools: NamedList::build(naming, "tools", listed.iter().map(|(r, l)| (*r, &l.tools[..]))),
            prompts: NamedList::build(naming, "prompts", listed.iter().map(|(r, l)| (*r, &l.prompts[..]))),
            resources: UriList::build("resources", "uri", listed.iter().map(|(r, l)| (*r, &l.resources[..]))),
            templates: UriList::build(
                "resourceTemplates",
                "uriTemplate",
                listed.iter().map(|(r, l)| (*r, &l.resource_templates[..])),
            ),
            servers: servers.values().map(|(r, _)| r.clone()).collect(),
        }
    }

    pub(crate) fn changed_from(&self, old: &RoutingTable) -> Changed {
        Changed {
            tools: !self.tools.same_items(&old.tools),
            prompts: !self.prompts.same_items(&old.prompts),
            resources: !self.resources.same_items(&old.resources) || !self.templates.same_items(&old.templates),
        }
    }

    /// The server a resource URI (or a URI under one of its templates) belongs to, and the URI to send it.
    pub(crate) fn resolve_uri(&self, uri: &str) -> Option<(&Arc<ServerRoute>, String)> {
        // An explicitly prefixed URI names its server.
        if let Some((route, rest)) = uris::split_prefixed(uri, &self.servers) {
            return Some((route, rest.to_owned()));
        }
        if let Some(e) = self.resources.lookup(uri) {
            return Some((&e.server, e.original.to_string()));
        }
        if let Some(e) = self.templates.match_template(uri) {
            return Some((&e.server, uri.to_owned()));
        }
        // A URI nobody listed: if exactly one server serves resources, it is the only candidate.
        let mut serving = self.servers.iter().filter(|s| {
            self.resources.entries().iter().any(|e| e.server.name == s.name)
                || self.templates.entries().iter().any(|e| e.server.name == s.name)
        });
        match (serving.next(), serving.next()) {
            (Some(only), None) => Some((only, uri.to_owned())),
            _ => None,
        }
    }

    /// The URI clients know for `server`'s resource `original` (prefixed when it collides with another server's).
    pub(crate) fn wire_uri<'a>(&'a self, server: &str, original: &'a str) -> std::borrow::Cow<'a, str> {
        self.resources.wire_for(server, original).map_or(original.into(), |w| w.into())
    }
}
