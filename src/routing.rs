//! The routing table: every federated tool under its wire and canonical names, the server that has it, and the
//! pre-serialized `tools/list` result.
//!
//! The `Router` actor builds a new table whenever a server's tools change and publishes it through an
//! [`ArcSwap`](arc_swap::ArcSwap); fronts read the current table without a message hop, so resolving a name costs
//! one hash lookup on the calling task.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use bytes::Bytes;
use ractor::ActorRef;
use serde_json::value::RawValue;

use crate::actors::server::ServerMsg;
use crate::config::Namespace;
use crate::naming::{canonical, Naming};
use crate::protocol::RawObject;

/// One downstream server as routes see it.
#[derive(Debug)]
pub struct ServerRoute {
    pub name: String,
    pub namespace: Namespace,
    /// `<namespace>.<server>`.
    pub label: Arc<str>,
    pub actor: ActorRef<ServerMsg>,
}

/// One federated tool.
#[derive(Debug)]
pub struct ToolEntry {
    pub wire: Box<str>,
    pub canonical: Arc<str>,
    /// The name the downstream knows it by.
    pub tool: Box<str>,
    pub server: Arc<ServerRoute>,
}

/// A server's tool objects exactly as it listed them.
pub type ToolList = Arc<Vec<Box<RawValue>>>;

/// An immutable snapshot; replaced whole when anything changes.
#[derive(Debug, Default)]
pub struct RoutingTable {
    tools: Vec<ToolEntry>,
    /// Wire and canonical names → index into `tools`.
    index: HashMap<Box<str>, usize>,
    /// `{"tools":[...]}` with wire names, ready to send.
    tools_list: Bytes,
    /// Every server, listed or not, for fan-out (cancellation, logging).
    pub servers: Vec<Arc<ServerRoute>>,
}

impl RoutingTable {
    /// Builds the table from every server's tools (servers in name order).
    pub fn build(naming: &Naming, servers: &BTreeMap<String, (Arc<ServerRoute>, Option<ToolList>)>) -> Self {
        struct Found<'a> {
            route: &'a Arc<ServerRoute>,
            name: String,
            raw: RawObject<'a>,
        }
        let mut found: Vec<Found<'_>> = Vec::new();
        for (route, tools) in servers.values() {
            let Some(tools) = tools else { continue };
            let mut seen = std::collections::HashSet::new();
            for tool in tools.iter() {
                let Ok(raw) = RawObject::parse(tool) else {
                    tracing::warn!(server = %route.label, "a listed tool is not a JSON object; skipped");
                    continue;
                };
                let Some(name) = raw.get_str("name").filter(|n| !n.is_empty()) else {
                    tracing::warn!(server = %route.label, "a listed tool has no name; skipped");
                    continue;
                };
                if !seen.insert(name.clone()) {
                    tracing::warn!(server = %route.label, tool = %name, "the server lists this tool twice; keeping the first");
                    continue;
                }
                found.push(Found { route, name: name.into_owned(), raw });
            }
        }
        found.sort_by(|a, b| {
            (a.route.namespace, &a.route.name, &a.name).cmp(&(b.route.namespace, &b.route.name, &b.name))
        });
        let wires =
            naming.assign(found.iter().map(|f| (f.route.namespace.as_str(), f.route.name.as_str(), f.name.as_str())));

        let mut list = Vec::with_capacity(64 + found.iter().map(|f| f.raw.members.len() * 32).sum::<usize>());
        list.extend_from_slice(b"{\"tools\":[");
        let mut tools = Vec::with_capacity(found.len());
        let mut index = HashMap::with_capacity(found.len() * 2);
        for (i, (f, wire)) in found.iter().zip(wires).enumerate() {
            if i > 0 {
                list.push(b',');
            }
            f.raw.write_with_str("name", &wire, &mut list);
            let canonical: Arc<str> = canonical(f.route.namespace.as_str(), &f.route.name, &f.name).into();
            index.insert(wire.clone().into_boxed_str(), i);
            index.entry(canonical.as_ref().into()).or_insert(i);
            tools.push(ToolEntry {
                wire: wire.into(),
                canonical,
                tool: f.name.as_str().into(),
                server: f.route.clone(),
            });
        }
        list.extend_from_slice(b"]}");
        RoutingTable {
            tools,
            index,
            tools_list: Bytes::from(list),
            servers: servers.values().map(|(r, _)| r.clone()).collect(),
        }
    }

    /// The tool a client means by `name`: a wire name or a canonical dotted name.
    pub fn lookup(&self, name: &str) -> Option<&ToolEntry> {
        self.index.get(name).map(|&i| &self.tools[i])
    }

    pub fn tools(&self) -> &[ToolEntry] {
        &self.tools
    }

    /// The `tools/list` result.
    pub fn tools_list(&self) -> &Bytes {
        &self.tools_list
    }
}
