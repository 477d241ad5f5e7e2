//! Tools and prompts: items with a `name`, federated under wire names built from canonical names.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use serde_json::value::RawValue;

use super::ServerRoute;
use crate::naming::{canonical, Naming};
use crate::protocol::RawObject;

/// One federated tool or prompt.
#[derive(Debug)]
pub(crate) struct NamedEntry {
    pub(crate) wire: Box<str>,
    pub(crate) canonical: Arc<str>,
    /// The name the downstream knows it by.
    pub(crate) name: Box<str>,
    pub(crate) server: Arc<ServerRoute>,
    /// A tool the server annotates as read-only or idempotent: safe to repeat after a timeout or crash (a hint
    /// from the server; policy `retry` overrides it).
    pub(crate) safe: bool,
    /// A tool the server annotates as read-only: its results may be cached (by default privately, per client).
    pub(crate) read_only: bool,
}

/// (`annotations.readOnlyHint` or `annotations.idempotentHint`, `annotations.readOnlyHint`).
fn annotated_safe(item: &RawObject<'_>) -> (bool, bool) {
    #[derive(serde::Deserialize, Default)]
    struct Hints {
        #[serde(default, rename = "readOnlyHint")]
        read_only: bool,
        #[serde(default, rename = "idempotentHint")]
        idempotent: bool,
    }
    item.get("annotations")
        .and_then(|a| serde_json::from_str::<Hints>(a.get()).ok())
        .map_or((false, false), |h| (h.read_only || h.idempotent, h.read_only))
}

/// Gives the items of servers mounted with `prefix = false` their own names on the wire. A name another item
/// has already (a prefixed wire name, or the same name from another unprefixed server; app servers and then
/// server names come first) is not shadowed: the later item keeps its prefixed wire name, and a warning names
/// both.
fn unprefixed(key: &str, found: &[(&Arc<ServerRoute>, &str)], wires: &mut [String]) {
    if found.iter().all(|(r, _)| r.prefix) {
        return;
    }
    let mut taken: HashMap<String, usize> =
        found.iter().enumerate().filter(|(_, (r, _))| r.prefix).map(|(i, _)| (wires[i].clone(), i)).collect();
    for (i, (route, name)) in found.iter().enumerate() {
        if route.prefix {
            continue;
        }
        match taken.get(*name) {
            None => {
                taken.insert((*name).to_owned(), i);
                wires[i] = (*name).to_owned();
            }
            Some(&j) => {
                let (other, other_name) = found[j];
                tracing::warn!(
                    list = key,
                    name,
                    server = %route.label,
                    taken_by = %format!("{}.{}", other.label, other_name),
                    wire = %wires[i],
                    "an unprefixed name is taken already; this one keeps its prefixed wire name"
                );
            }
        }
    }
}

/// All tools (or all prompts) of the gateway.
#[derive(Debug, Default)]
pub(crate) struct NamedList {
    /// The list's member name in results (`tools`, `prompts`).
    pub(super) key: &'static str,
    entries: Vec<NamedEntry>,
    /// Wire and canonical names → index into `entries`.
    index: HashMap<Box<str>, usize>,
    /// Each item as sent to clients (wire name in place of the server's), for pages.
    pub(super) items: Vec<Bytes>,
}

impl NamedList {
    pub(super) fn build<'a>(
        naming: &Naming,
        key: &'static str,
        servers: impl Iterator<Item = (&'a Arc<ServerRoute>, &'a [Box<RawValue>])>,
    ) -> Self {
        struct Found<'a> {
            route: &'a Arc<ServerRoute>,
            name: String,
            raw: RawObject<'a>,
        }
        let mut found: Vec<Found<'_>> = Vec::new();
        for (route, items) in servers {
            let mut seen = std::collections::HashSet::new();
            for item in items {
                let Ok(raw) = RawObject::parse(item) else {
                    tracing::warn!(server = %route.label, list = key, "a listed item is not a JSON object; skipped");
                    continue;
                };
                let Some(name) = raw.get_str("name").filter(|n| !n.is_empty()) else {
                    tracing::warn!(server = %route.label, list = key, "a listed item has no name; skipped");
                    continue;
                };
                if !seen.insert(name.clone()) {
                    tracing::warn!(server = %route.label, list = key, name = %name, "listed twice; keeping the first");
                    continue;
                }
                found.push(Found { route, name: name.into_owned(), raw });
            }
        }
        found.sort_by(|a, b| {
            (a.route.namespace, &a.route.name, &a.name).cmp(&(b.route.namespace, &b.route.name, &b.name))
        });
        let mut wires =
            naming.assign(found.iter().map(|f| (f.route.namespace.as_str(), f.route.name.as_str(), f.name.as_str())));
        unprefixed(key, &found.iter().map(|f| (f.route, f.name.as_str())).collect::<Vec<_>>(), &mut wires);
        let mut entries = Vec::with_capacity(found.len());
        let mut index = HashMap::with_capacity(found.len() * 2);
        let mut items = Vec::with_capacity(found.len());
        for (i, (f, wire)) in found.iter().zip(wires).enumerate() {
            let mut item = Vec::with_capacity(256);
            f.raw.write_with_str("name", &wire, &mut item);
            items.push(Bytes::from(item));
            let canonical: Arc<str> = canonical(f.route.namespace.as_str(), &f.route.name, &f.name).into();
            index.insert(wire.clone().into_boxed_str(), i);
            index.entry(canonical.as_ref().into()).or_insert(i);
            let (safe, read_only) = annotated_safe(&f.raw);
            entries.push(NamedEntry {
                wire: wire.into(),
                canonical,
                name: f.name.as_str().into(),
                server: f.route.clone(),
                safe,
                read_only,
            });
        }
        NamedList { key, entries, index, items }
    }

    /// The item a client means by `name`: a wire name or a canonical dotted name.
    pub(crate) fn lookup(&self, name: &str) -> Option<&NamedEntry> {
        self.index.get(name).map(|&i| &self.entries[i])
    }

    /// The item as clients see it (wire name in place of the server's), by any name it answers to.
    pub(crate) fn item(&self, name: &str) -> Option<&Bytes> {
        self.index.get(name).and_then(|&i| self.items.get(i))
    }

    pub(crate) fn entries(&self) -> &[NamedEntry] {
        &self.entries
    }

    /// The list items of the entries `keep` accepts (e.g. the tools a policy lets one client see).
    pub(crate) fn items_where(&self, keep: impl Fn(&NamedEntry) -> bool) -> Vec<Bytes> {
        self.entries.iter().zip(&self.items).filter(|(e, _)| keep(e)).map(|(_, i)| i.clone()).collect()
    }

    pub(super) fn same_items(&self, other: &NamedList) -> bool {
        self.items == other.items
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dispatch::ServerHandle;
    use crate::naming::Namespace;

    #[test]
    fn unprefixed_servers_keep_their_names_and_collisions_are_not_shadowed() {
        let route = |ns: Namespace, name: &str, prefix: bool| {
            let label: Arc<str> = format!("{ns}.{name}").into();
            Arc::new(ServerRoute {
                name: name.into(),
                namespace: ns,
                handle: ServerHandle::detached(&label),
                label,
                retries: 0,
                prefix,
            })
        };
        let tool = |n: &str| RawValue::from_string(format!(r#"{{"name":"{n}"}}"#)).unwrap();
        let (conf, other, plain) = (
            route(Namespace::Ext, "conf", false),
            route(Namespace::Ext, "other", false),
            route(Namespace::App, "x", true),
        );
        let conf_tools = [tool("test_simple_text"), tool("echo")];
        let other_tools = [tool("echo"), tool("only_here")];
        let plain_tools = [tool("echo")];
        let list = NamedList::build(
            &Naming::default(),
            "tools",
            [(&conf, &conf_tools[..]), (&other, &other_tools[..]), (&plain, &plain_tools[..])].into_iter(),
        );
        let wire =
            |canonical: &str| list.entries().iter().find(|e| &*e.canonical == canonical).unwrap().wire.to_string();
        assert_eq!(wire("ext.conf.test_simple_text"), "test_simple_text");
        assert_eq!(wire("ext.conf.echo"), "echo");
        // The same bare name from a later server keeps its prefixed name, reachable by both spellings.
        assert_eq!(wire("ext.other.echo"), "ext__other__echo");
        assert_eq!(wire("ext.other.only_here"), "only_here");
        assert_eq!(wire("app.x.echo"), "app__x__echo");
        assert_eq!(&*list.lookup("echo").unwrap().canonical, "ext.conf.echo");
        assert_eq!(&*list.lookup("ext.other.echo").unwrap().canonical, "ext.other.echo");
        assert_eq!(&*list.lookup("test_simple_text").unwrap().name, "test_simple_text");
    }
}
