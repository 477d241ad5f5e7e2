//! Property: whatever string a client sends as a tool name, if the routing table resolves it to a denied
//! canonical tool, the policy refuses it; and no spelling other than the wire and canonical names resolves.

use std::collections::BTreeMap;
use std::sync::Arc;

use proptest::prelude::*;
use serde_json::value::RawValue;

use crate::dispatch::ServerHandle;
use crate::naming::{Namespace, Naming};
use crate::policy::{Action, PolicySet, Subject};
use crate::routing::{RoutingTable, ServerLists, ServerRoute};

fn table() -> RoutingTable {
    let tool =
        |n: &str| RawValue::from_string(format!(r#"{{"name":"{n}","inputSchema":{{"type":"object"}}}}"#)).unwrap();
    let mut servers = BTreeMap::new();
    for (ns, name, tools) in [
        (Namespace::App, "optimize", vec!["lineup", "Lineup", "delete_slate", "a.b"]),
        (Namespace::Ext, "fs", vec!["write_file", "read_file"]),
    ] {
        let label: Arc<str> = format!("{ns}.{name}").into();
        let route = Arc::new(ServerRoute {
            name: name.into(),
            namespace: ns,
            handle: ServerHandle::detached(&label),
            label,
            retries: 0,
            prefix: true,
        });
        let lists = ServerLists { tools: tools.into_iter().map(tool).collect(), ..ServerLists::default() };
        servers.insert(name.to_owned(), (route, Some(Arc::new(lists))));
    }
    RoutingTable::build(&Naming::default(), &servers)
}

fn policy() -> PolicySet {
    let rules = "[[rule]]\nnamespace = \"app\"\ntool = \"optimize.delete_*\"\naction = \"deny\"\n\n\
                 [[rule]]\nnamespace = \"ext\"\ntool = \"fs.write_*\"\naction = \"deny\"\n\n\
                 [[rule]]\ntool = \"*\"\naction = \"allow\"\npriority = -5\n";
    PolicySet::from_str("spelling.toml", rules, Action::Allow).unwrap()
}

/// Spellings built from pieces of real names, with case, separator and whitespace variations.
fn spelling() -> impl Strategy<Value = String> {
    let part = prop::sample::select(vec![
        "app",
        "ext",
        "APP",
        "optimize",
        "Optimize",
        "fs",
        "delete_slate",
        "DELETE_SLATE",
        "delete_",
        "slate",
        "write_file",
        "Write_File",
        "lineup",
        "a.b",
        "a_b",
        "",
        " ",
        "*",
        "?",
    ]);
    let sep = prop::sample::select(vec!["__", ".", "_", "___", "", " ", "/", "-"]);
    (part.clone(), sep.clone(), part.clone(), sep, part).prop_map(|(a, s1, b, s2, c)| format!("{a}{s1}{b}{s2}{c}"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]
    #[test]
    fn no_spelling_reaches_a_denied_tool(name in spelling()) {
        let (table, policy) = (table_once(), policy_once());
        if let Some(entry) = table.tools.lookup(&name) {
            prop_assert!(name == *entry.wire || name == *entry.canonical, "{name} resolved to {}", entry.canonical);
            let decision = policy.decide(&Subject::new(&entry.canonical, None, chrono::Utc::now()));
            let denied = entry.canonical.contains(".delete_") || entry.canonical.contains(".write_");
            prop_assert_eq!(decision.action == Action::Deny, denied, "{}", entry.canonical);
        }
    }
}

fn table_once() -> &'static RoutingTable {
    static T: std::sync::OnceLock<RoutingTable> = std::sync::OnceLock::new();
    T.get_or_init(table)
}

fn policy_once() -> &'static PolicySet {
    static P: std::sync::OnceLock<PolicySet> = std::sync::OnceLock::new();
    P.get_or_init(policy)
}

#[test]
fn the_denied_tools_do_resolve_so_the_property_is_not_empty() {
    let t = table_once();
    for n in ["app__optimize__delete_slate", "app.optimize.delete_slate", "ext__fs__write_file"] {
        let e = t.tools.lookup(n).unwrap();
        let d = policy_once().decide(&Subject::new(&e.canonical, None, chrono::Utc::now()));
        assert_eq!(d.action, Action::Deny, "{n}");
    }
}
