//! Resources and resource templates: items identified by a URI (or URI template).
//!
//! URIs pass through unchanged, so links inside results keep working. Only when two servers list the same URI
//! does the gateway rewrite it, for every server that lists it, as `<namespace>.<server>+<uri>` — still a valid
//! URI (`+` and `.` are allowed in a scheme) — and such a prefixed URI is accepted for any server at any time.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use serde_json::value::RawValue;

use super::ServerRoute;
use crate::protocol::RawObject;

#[derive(Debug)]
pub(crate) struct UriEntry {
    /// What clients see.
    pub(crate) wire: Box<str>,
    /// What the server listed.
    pub(crate) original: Box<str>,
    /// For templates: the literal text before the first `{`, to match URIs against.
    pub(crate) literal_prefix: Box<str>,
    pub(crate) server: Arc<ServerRoute>,
}

#[derive(Debug, Default)]
pub(crate) struct UriList {
    pub(super) key: &'static str,
    entries: Vec<UriEntry>,
    index: HashMap<Box<str>, usize>,
    pub(super) items: Vec<Bytes>,
}

/// Splits `<namespace>.<server>+<uri>` when it names a known server.
pub(super) fn split_prefixed<'s, 'u>(
    uri: &'u str,
    servers: &'s [Arc<ServerRoute>],
) -> Option<(&'s Arc<ServerRoute>, &'u str)> {
    let (prefix, rest) = uri.split_once('+')?;
    let route = servers.iter().find(|s| s.label.as_ref() == prefix)?;
    Some((route, rest))
}

impl UriList {
    pub(super) fn build<'a>(
        key: &'static str,
        field: &'static str,
        servers: impl Iterator<Item = (&'a Arc<ServerRoute>, &'a [Box<RawValue>])>,
    ) -> Self {
        let mut found: Vec<(&Arc<ServerRoute>, String, RawObject<'_>)> = Vec::new();
        for (route, items) in servers {
            for item in items {
                let Ok(raw) = RawObject::parse(item) else { continue };
                let Some(uri) = raw.get_str(field).filter(|u| !u.is_empty()) else {
                    tracing::warn!(server = %route.label, list = key, "a listed item has no {field}; skipped");
                    continue;
                };
                found.push((route, uri.into_owned(), raw));
            }
        }
        found.sort_by(|a, b| (a.0.namespace, &a.0.name).cmp(&(b.0.namespace, &b.0.name)));
        let mut count: HashMap<&str, usize> = HashMap::new();
        for (_, uri, _) in &found {
            *count.entry(uri.as_str()).or_default() += 1;
        }
        let mut list = UriList { key, ..UriList::default() };
        for (route, uri, raw) in &found {
            let wire = if count[uri.as_str()] > 1 { format!("{}+{uri}", route.label) } else { uri.clone() };
            if list.index.contains_key(wire.as_str()) {
                continue; // the same server listing the same URI twice
            }
            let mut item = Vec::with_capacity(256);
            raw.write_with_str(field, &wire, &mut item);
            list.items.push(Bytes::from(item));
            list.index.insert(wire.clone().into_boxed_str(), list.entries.len());
            let literal_prefix = uri.split('{').next().unwrap_or_default().into();
            list.entries.push(UriEntry {
                wire: wire.into(),
                original: uri.as_str().into(),
                literal_prefix,
                server: (*route).clone(),
            });
        }
        list
    }

    pub(crate) fn lookup(&self, uri: &str) -> Option<&UriEntry> {
        self.index.get(uri).map(|&i| &self.entries[i])
    }

    /// The items (as clients see them) whose entries `keep` accepts; for lists filtered per client.
    pub(crate) fn items_where(&self, keep: impl Fn(&UriEntry) -> bool) -> Vec<Bytes> {
        self.entries.iter().zip(&self.items).filter(|(e, _)| keep(e)).map(|(_, i)| i.clone()).collect()
    }

    pub(crate) fn entries(&self) -> &[UriEntry] {
        &self.entries
    }

    /// The template a concrete URI falls under: the longest literal prefix wins (app servers first on ties).
    pub(crate) fn match_template(&self, uri: &str) -> Option<&UriEntry> {
        self.entries
            .iter()
            .filter(|e| !e.literal_prefix.is_empty() && uri.starts_with(e.literal_prefix.as_ref()))
            .max_by(|a, b| {
                a.literal_prefix.len().cmp(&b.literal_prefix.len()).then(b.server.namespace.cmp(&a.server.namespace))
            })
    }

    /// The wire URI of `server`'s `original`, when it differs.
    pub(crate) fn wire_for(&self, server: &str, original: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|e| e.server.name == server && e.original.as_ref() == original && e.wire != e.original)
            .map(|e| e.wire.as_ref())
    }

    pub(super) fn same_items(&self, other: &UriList) -> bool {
        self.items == other.items
    }
}
