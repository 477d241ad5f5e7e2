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

/// A prefixed route to a server that is not running (the tables here are only resolved, never called).
fn route(ns: Namespace, name: &str) -> Arc<ServerRoute> {
    let label: Arc<str> = format!("{ns}.{name}").into();
    Arc::new(ServerRoute {
        name: name.into(),
        namespace: ns,
        handle: ServerHandle::detached(&label),
        label,
        retries: 0,
        prefix: true,
    })
}

fn table() -> RoutingTable {
    let tool =
        |n: &str| RawValue::from_string(format!(r#"{{"name":"{n}","inputSchema":{{"type":"object"}}}}"#)).unwrap();
    let mut servers = BTreeMap::new();
    for (ns, name, tools) in [
        (Namespace::App, "optimize", vec!["lineup", "Lineup", "delete_slate", "a.b"]),
        (Namespace::Ext, "fs", vec!["write_file", "read_file"]),
    ] {
        let route = route(ns, name);
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

/// Prompts and resources: whatever name or URI a client sends, if the table resolves it to an item a prompt,
/// resource or server rule denies, the policy refuses it (decided on `<ns>.<server>.<name or uri>`).
mod items {
    use super::*;
    use crate::policy::Kind;

    fn table() -> RoutingTable {
        let prompt = |n: &str| RawValue::from_string(format!(r#"{{"name":"{n}"}}"#)).unwrap();
        let resource = |u: &str| RawValue::from_string(format!(r#"{{"uri":"{u}","name":"r"}}"#)).unwrap();
        let template = |u: &str| RawValue::from_string(format!(r#"{{"uriTemplate":"{u}","name":"t"}}"#)).unwrap();
        let mut servers = BTreeMap::new();
        for (ns, name, prompts, resources, templates) in [
            (Namespace::App, "docs", vec!["summary", "secret-plan"], vec!["file:///a.txt", "mem://shared"], vec![]),
            (Namespace::Ext, "vault", vec!["summary"], vec!["mem://shared", "vault://k/1"], vec!["vault://k/{id}"]),
        ] {
            let route = route(ns, name);
            let lists = ServerLists {
                prompts: prompts.into_iter().map(prompt).collect(),
                resources: resources.into_iter().map(resource).collect(),
                resource_templates: templates.into_iter().map(template).collect(),
                ..ServerLists::default()
            };
            servers.insert(name.to_owned(), (route, Some(Arc::new(lists))));
        }
        RoutingTable::build(&Naming::default(), &servers)
    }

    fn policy() -> PolicySet {
        let rules = "[[rule]]\nprompt = \"docs.secret-*\"\naction = \"deny\"\n\n\
                     [[rule]]\nnamespace = \"app\"\nresource = \"docs.file://*\"\naction = \"deny\"\n\n\
                     [[rule]]\nnamespace = \"ext\"\nserver = \"vault\"\naction = \"deny\"\n";
        PolicySet::from_str("items.toml", rules, Action::Allow).unwrap()
    }

    /// Whether the documented rules deny `canonical` (a model, written apart from the matcher).
    fn denied(kind: Kind, canonical: &str) -> bool {
        canonical.starts_with("ext.vault.")
            || (kind == Kind::Prompt && canonical.starts_with("app.docs.secret-"))
            || (kind == Kind::Resource && canonical.starts_with("app.docs.file://"))
    }

    fn spelling() -> impl Strategy<Value = String> {
        let part = prop::sample::select(vec![
            "app",
            "ext",
            "docs",
            "vault",
            "Vault",
            "summary",
            "secret-plan",
            "secret",
            "file:///a.txt",
            "file://",
            "mem://shared",
            "vault://k/1",
            "vault://k/",
            "7",
            "app.docs",
            "ext.vault",
            "",
            " ",
            "*",
        ]);
        let sep = prop::sample::select(vec!["__", ".", "+", "", " ", "/", "-"]);
        (part.clone(), sep.clone(), part.clone(), sep, part).prop_map(|(a, s1, b, s2, c)| format!("{a}{s1}{b}{s2}{c}"))
    }

    fn once() -> &'static (RoutingTable, PolicySet) {
        static T: std::sync::OnceLock<(RoutingTable, PolicySet)> = std::sync::OnceLock::new();
        T.get_or_init(|| (table(), policy()))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]
        #[test]
        fn no_spelling_reaches_a_denied_prompt_or_resource(name in spelling()) {
            let (table, policy) = once();
            let now = chrono::Utc::now();
            if let Some(entry) = table.prompts.lookup(&name) {
                let d = policy.decide(&Subject::of(Kind::Prompt, &entry.canonical, None, now));
                prop_assert_eq!(d.action == Action::Deny, denied(Kind::Prompt, &entry.canonical), "{}", entry.canonical);
            }
            if let Some((server, original)) = table.resolve_uri(&name) {
                let canonical = server.canonical_of(&original);
                let d = policy.decide(&Subject::of(Kind::Resource, &canonical, None, now));
                prop_assert_eq!(d.action == Action::Deny, denied(Kind::Resource, &canonical), "{} -> {}", name, canonical);
            }
        }
    }

    #[test]
    fn the_denied_items_do_resolve_so_the_property_is_not_empty() {
        let (table, policy) = once();
        let now = chrono::Utc::now();
        for (uri, server) in
            [("file:///a.txt", "app.docs"), ("ext.vault+mem://shared", "ext.vault"), ("vault://k/9", "ext.vault")]
        {
            let (route, original) = table.resolve_uri(uri).unwrap();
            assert_eq!(&*route.label, server, "{uri}");
            let d = policy.decide(&Subject::of(Kind::Resource, &route.canonical_of(&original), None, now));
            assert_eq!(d.action, Action::Deny, "{uri}");
        }
        let e = table.prompts.lookup("app__docs__secret-plan").unwrap();
        assert_eq!(policy.decide(&Subject::of(Kind::Prompt, &e.canonical, None, now)).action, Action::Deny);
        let allowed = table.prompts.lookup("app.docs.summary").unwrap();
        assert_eq!(policy.decide(&Subject::of(Kind::Prompt, &allowed.canonical, None, now)).action, Action::Allow);
    }
}
