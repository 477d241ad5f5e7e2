use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};

use super::*;

/// Monday 2025-01-06 12:00 UTC: the fixed clock of tests that do not care about time.
fn monday_noon() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 1, 6, 12, 0, 0).unwrap()
}

fn set(text: &str) -> PolicySet {
    PolicySet::from_str("policies/test.toml", text, Action::Allow).unwrap_or_else(|e| panic!("{e}"))
}

fn decide<'a>(set: &'a PolicySet, canonical: &str) -> Decision<'a> {
    set.decide(&Subject::new(canonical, None, monday_noon()))
}

/// The errors of an invalid text, as `line: message`.
fn errors(text: &str) -> Vec<(usize, String)> {
    match PolicySet::from_str("bad.toml", text, Action::Allow) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(ConfigErrors(list)) => list
            .into_iter()
            .map(|e| {
                assert_eq!(e.origin, "bad.toml");
                (e.line.expect("every rule error has a line").0, e.message)
            })
            .collect(),
    }
}

#[test]
fn deny_rule_denies_matching_tools_only() {
    let s = set(r#"
[[rule]]
name = "no-fs-writes"
namespace = "ext"
tool = "filesystem.write_*"
action = "deny"
"#);
    let d = decide(&s, "ext.filesystem.write_file");
    assert_eq!(d.action, Action::Deny);
    assert_eq!(d.rule_name(), Some("no-fs-writes"));
    assert_eq!(d.to_string(), "deny by policy rule `no-fs-writes` (policies/test.toml:2)");
    assert!(!d.is_allowed());
    // Other tool, other server, other namespace: the default.
    for other in ["ext.filesystem.read_file", "ext.github.write_file", "app.filesystem.write_file"] {
        let d = decide(&s, other);
        assert_eq!((d.action, d.rule_name()), (Action::Allow, None), "{other}");
        assert_eq!(d.to_string(), "allow by default_action (no policy rule matched)");
    }
}

#[test]
fn allow_rule_overrides_a_deny_default() {
    let s = PolicySet::from_str(
        "p.toml",
        "[[rule]]\nnamespace = \"app\"\ntool = \"optimize.?ineup\"\naction = \"allow\"\n",
        Action::Deny,
    )
    .unwrap();
    assert_eq!(decide(&s, "app.optimize.lineup").action, Action::Allow);
    assert_eq!(decide(&s, "app.optimize.lineups").action, Action::Deny);
    assert_eq!(decide(&s, "app.optimize.other").action, Action::Deny);
    assert_eq!(s.default_action(), Action::Deny);
}

#[test]
fn fallback_rule_names_its_target_and_error_handling() {
    let s = set(r#"
[[rule]]
namespace = "app"
tool = "optimize.*"
action = "fallback"
fallback = "ext.brave.search"
fallback_on_error = true
"#);
    let d = decide(&s, "app.optimize.lineup");
    assert_eq!(d.action, Action::Fallback);
    assert!(d.is_allowed(), "a fallback rule runs the call first");
    assert_eq!(d.fallback(), Some("ext.brave.search"));
    assert!(d.fallback_on_error());
    assert_eq!(d.rule_name(), Some("test.toml:2"), "default name is <file name>:<line>");
    assert_eq!(decide(&s, "ext.brave.search").fallback(), None);
}

#[test]
fn attributes_come_from_the_winning_rule() {
    let s = set(r#"
[[rule]]
name = "slate-read"
tool = "dfs.get_slate"
action = "allow"
rate_limit = { count = 10, per = "1m", scope = "client" }
cache = { ttl = "5m", tags = ["slate"], scope = "public" }
retry = true
timeout = "2s"

[[rule]]
name = "slate-write"
tool = "dfs.set_slate"
action = "allow"
invalidates = ["slate"]
retry = false

[[rule]]
name = "limited"
tool = "dfs.*"
action = "allow"
rate_limit = { count = 1, per = "1s" }
cache = { ttl = "1s" }
"#);
    let read = decide(&s, "app.dfs.get_slate");
    assert_eq!(read.rule_name(), Some("slate-read"));
    assert_eq!(
        read.rate_limit(),
        Some(&RateLimit { count: 10, per: Duration::from_secs(60), scope: RateScope::Client })
    );
    assert_eq!(
        read.cache(),
        Some(&CachePolicy { ttl: Duration::from_secs(300), tags: vec!["slate".into()], scope: CacheScope::Public })
    );
    assert_eq!(read.retry(), Some(true));
    assert_eq!(read.timeout(), Some(Duration::from_secs(2)));
    assert!(read.invalidates().is_empty());

    // The writer has no rate limit or cache of its own, and does not inherit those of `limited` below it.
    let write = decide(&s, "app.dfs.set_slate");
    assert_eq!(write.rule_name(), Some("slate-write"));
    assert_eq!(write.invalidates(), ["slate".to_owned()]);
    assert_eq!(write.retry(), Some(false));
    assert_eq!((write.rate_limit(), write.cache(), write.timeout()), (None, None, None));

    let other = decide(&s, "app.dfs.other");
    assert_eq!(other.rate_limit(), Some(&RateLimit { count: 1, per: Duration::from_secs(1), scope: RateScope::Tool }));
    assert_eq!(other.cache().map(|c| c.scope), Some(CacheScope::Private), "private is the default cache scope");
    assert_eq!(other.retry(), None, "no retry key: the tool's annotations decide");

    // The default decision carries nothing.
    let none = decide(&s, "ext.brave.search");
    assert!(none.rule.is_none() && none.rate_limit().is_none() && none.cache().is_none() && none.timeout().is_none());
}

#[test]
fn app_rules_outrank_others_by_default() {
    // The catch-all deny comes first in the file, but a namespace = "app" rule defaults to priority 100.
    let s = set(r#"
[[rule]]
name = "deny-all"
action = "deny"

[[rule]]
name = "app-ok"
namespace = "app"
tool = "*"
action = "allow"

[[rule]]
name = "ext-ok"
namespace = "ext"
tool = "brave.*"
action = "allow"
"#);
    assert_eq!(decide(&s, "app.optimize.lineup").rule_name(), Some("app-ok"));
    // ext rules default to 0 like "*" rules: the tie goes to the first in the file.
    assert_eq!(decide(&s, "ext.brave.search").rule_name(), Some("deny-all"));
    let order: Vec<(&str, i64)> = s.rules().iter().map(|r| (r.name.as_str(), r.priority)).collect();
    assert_eq!(order, [("app-ok", 100), ("deny-all", 0), ("ext-ok", 0)]);
}

#[test]
fn explicit_priority_beats_the_default() {
    let s = set(r#"
[[rule]]
name = "app-ok"
namespace = "app"
action = "allow"

[[rule]]
name = "freeze"
tool = "optimize.*"
action = "deny"
priority = 101
"#);
    assert_eq!(decide(&s, "app.optimize.lineup").rule_name(), Some("freeze"));
    assert_eq!(decide(&s, "app.other.x").rule_name(), Some("app-ok"));
}

#[test]
fn equal_priority_goes_to_the_first_rule_across_files() {
    let a = "[[rule]]\nname = \"a-deny\"\ntool = \"x.*\"\naction = \"deny\"\npriority = 5\n";
    let b = "[[rule]]\nname = \"b-allow\"\ntool = \"x.y\"\naction = \"allow\"\npriority = 5\n";
    let ab = PolicySet::from_sources(&[("a.toml", a), ("b.toml", b)], Action::Allow).unwrap();
    assert_eq!(decide(&ab, "ext.x.y").rule_name(), Some("a-deny"));
    let ba = PolicySet::from_sources(&[("b.toml", b), ("a.toml", a)], Action::Allow).unwrap();
    assert_eq!(decide(&ba, "ext.x.y").rule_name(), Some("b-allow"));
}

#[test]
fn default_names_of_same_named_files_stay_distinct() {
    let text = "[[rule]]\ntool = \"x.*\"\naction = \"deny\"\n";
    let s = PolicySet::from_sources(&[("a/default.toml", text), ("b/default.toml", text)], Action::Allow).unwrap();
    let names: Vec<&str> = s.rules().iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["default.toml:1", "b/default.toml:1"]);
}

#[test]
fn patterns_are_case_sensitive_and_anchored() {
    let s = set("[[rule]]\ntool = \"filesystem.write\"\naction = \"deny\"\n");
    assert_eq!(decide(&s, "ext.filesystem.write").action, Action::Deny);
    for other in ["ext.filesystem.Write", "ext.FileSystem.write", "ext.filesystem.write2", "ext.xfilesystem.write"] {
        assert_eq!(decide(&s, other).action, Action::Allow, "{other}");
    }
    // A tool name holding dots: the pattern covers everything after the namespace.
    let s = set("[[rule]]\ntool = \"github.repo.*\"\naction = \"deny\"\n");
    assert_eq!(decide(&s, "ext.github.repo.delete").action, Action::Deny);
}

#[test]
fn when_clients_selects_by_identity() {
    let s = set(r#"
[[rule]]
name = "claude-may-write"
tool = "filesystem.*"
action = "allow"
priority = 10
when = { clients = ["claude-*"] }

[[rule]]
name = "others-may-not"
tool = "filesystem.*"
action = "deny"
"#);
    let at = |client| s.decide(&Subject::new("ext.filesystem.write", client, monday_noon())).rule_name();
    assert_eq!(at(Some("claude-desktop")), Some("claude-may-write"));
    assert_eq!(at(Some("cursor")), Some("others-may-not"));
    assert_eq!(at(Some("Claude-desktop")), Some("others-may-not"), "client patterns are case-sensitive");
    assert_eq!(at(None), Some("others-may-not"), "an unknown client is not any named client");
}

#[test]
fn when_time_window_with_a_fake_clock_and_time_zone() {
    let s = set(r#"
[[rule]]
name = "office-hours-only"
namespace = "app"
tool = "optimize.*"
action = "deny"
when = { days = ["sat", "sun"], from = "22:00", to = "06:00", tz = "Europe/Berlin" }
"#);
    let at = |y, mo, d, h, mi| {
        let now = Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap();
        s.decide(&Subject::new("app.optimize.lineup", None, now)).action
    };
    // Berlin is UTC+1 in January. Saturday 2025-01-11 22:30 Berlin = 21:30 UTC.
    assert_eq!(at(2025, 1, 11, 21, 30), Action::Deny);
    // Sunday 03:00 Berlin (Saturday night's window) = Sunday 02:00 UTC.
    assert_eq!(at(2025, 1, 12, 2, 0), Action::Deny);
    // Monday 03:00 Berlin belongs to Sunday night's window.
    assert_eq!(at(2025, 1, 13, 2, 0), Action::Deny);
    // Saturday 03:00 Berlin belongs to Friday night: not a listed day.
    assert_eq!(at(2025, 1, 11, 2, 0), Action::Allow);
    // Saturday 21:30 Berlin: before the window (and 21:30 UTC would be inside it in UTC).
    assert_eq!(at(2025, 1, 11, 20, 30), Action::Allow);
    // Tuesday 06:00 Berlin: the window has ended.
    assert_eq!(at(2025, 1, 14, 5, 0), Action::Allow);
}

#[test]
fn denied_tools_are_hidden() {
    let s = set("[[rule]]\ntool = \"github.delete_*\"\naction = \"deny\"\nwhen = { clients = [\"bot-*\"] }\n");
    let visible = |name, client| s.is_visible(&Subject::new(name, client, monday_noon()));
    assert!(!visible("ext.github.delete_repo", Some("bot-1")));
    assert!(visible("ext.github.delete_repo", Some("human")));
    assert!(visible("ext.github.list_repos", Some("bot-1")));
}

#[test]
fn default_action_applies_when_nothing_matches() {
    for default in [Action::Allow, Action::Deny] {
        let s = PolicySet::from_str("p.toml", "", default).unwrap();
        let d = decide(&s, "ext.any.tool");
        assert_eq!((d.action, d.rule_name()), (default, None));
        assert_eq!(decide(&PolicySet::empty(default), "ext.any.tool").action, default);
    }
    let err = PolicySet::from_str("p.toml", "", Action::Fallback).unwrap_err();
    assert!(err.to_string().contains("default_action must be \"allow\" or \"deny\""), "{err}");
}

#[test]
fn explain_lists_every_rule_and_why() {
    let s = set(r#"
[[rule]]
name = "ext-only"
namespace = "ext"
action = "deny"

[[rule]]
name = "other-tool"
tool = "optimize.other"
action = "deny"

[[rule]]
name = "capital"
tool = "Optimize.*"
action = "deny"

[[rule]]
name = "bots"
action = "deny"
when = { clients = ["bot-*"] }

[[rule]]
name = "weekend"
action = "deny"
when = { days = ["sat"] }

[[rule]]
name = "winner"
tool = "optimize.*"
action = "allow"
rate_limit = { count = 3, per = "1m" }

[[rule]]
name = "also"
action = "allow"
"#);
    let text = s.explain(&Subject::new("app.optimize.lineup", Some("claude"), monday_noon()));
    for expected in [
        "app.optimize.lineup for client `claude` at 2025-01-06 12:00:00 UTC",
        "`ext-only` (policies/test.toml:2): deny ext.*, priority 0: no match: namespace `app`, the rule is for `ext`",
        "`other-tool` (policies/test.toml:7): deny *.optimize.other, priority 0: no match: `optimize.lineup` does not \
         match `optimize.other`",
        "no match: `optimize.lineup` does not match `Optimize.*` (it would ignoring case, but patterns are \
         case-sensitive)",
        "`bots` (policies/test.toml:17): deny *.* when clients bot-*, priority 0: no match: client `claude` matches \
         none",
        "no match: mon is not one of the rule's days",
        "`winner` (policies/test.toml:27): allow *.optimize.*, priority 0: MATCHES, decides",
        "`also` (policies/test.toml:33): allow *.*, priority 0: matches, but a rule above decides",
        "decision: allow by policy rule `winner` (policies/test.toml:27)",
        "rate limit: 3 per 1m (per tool)",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    let none = s.explain(&Subject::new("ext.x.y", None, monday_noon()));
    assert!(none.contains("decision: deny by policy rule `ext-only`"), "{none}");
    let empty = PolicySet::empty(Action::Allow).explain(&Subject::new("ext.x.y", None, monday_noon()));
    assert!(empty.contains("no policy rules are loaded") && empty.contains("allow by default_action"), "{empty}");
}

#[test]
fn every_validation_error_has_its_line() {
    let cases: &[(&str, usize, &str)] = &[
        ("[[rule]]\naction = \"deny\"\nacton = \"x\"\n", 3, "unknown field `acton`"),
        ("[[rule]]\naction = \"deny\"\nwhen = { client = [\"a\"] }\n", 3, "unknown field `client`"),
        ("[[rule]]\naction = \"allow\"\ncache = { ttl = \"1s\", size = 3 }\n", 3, "unknown field `size`"),
        ("[[rules]]\naction = \"deny\"\n", 1, "unknown field `rules`"),
        ("[[rule]]\naction = \"deny\"\npriority = \"high\"\n", 3, "invalid type"),
        ("[[rule]]\naction = \"allow\"\nrate_limit = { count = -1, per = \"1s\" }\n", 3, "invalid value"),
        ("[[rule]]\naction = \"allow\"\nrate_limit = { per = \"1s\" }\n", 3, "missing field `count`"),
        ("[[rule]]\naction = \"allow\"\nnamespace = \"apps\"\n", 3, "namespace must be \"app\", \"ext\" or \"*\""),
        ("\n[[rule]]\ntool = \"a.b\"\n", 2, "action is missing"),
        ("[[rule]]\naction = \"block\"\n", 2, "action must be \"allow\", \"deny\" or \"fallback\", not \"block\""),
        ("[[rule]]\naction = \"fallback\"\n", 2, "needs `fallback = "),
        ("[[rule]]\naction = \"deny\"\nfallback = \"ext.a.b\"\n", 3, "only read with action = \"fallback\""),
        ("[[rule]]\naction = \"allow\"\nfallback_on_error = true\n", 3, "`fallback_on_error` is only read"),
        ("[[rule]]\ntool = \"x.*\"\naction = \"fallback\"\nfallback = \"brave.search\"\n", 4, "three parts"),
        ("[[rule]]\ntool = \"x.*\"\naction = \"fallback\"\nfallback = \"web.brave.search\"\n", 4, "app or ext"),
        ("[[rule]]\ntool = \"x.*\"\naction = \"fallback\"\nfallback = \"ext.br ave.search\"\n", 4, "server name"),
        ("[[rule]]\ntool = \"x.*\"\naction = \"fallback\"\nfallback = \"ext.brave.\"\n", 4, "tool name is empty"),
        ("[[rule]]\ntool = \"x.*\"\naction = \"fallback\"\nfallback = \"ext.brave.*\"\n", 4, "without wildcards"),
        ("[[rule]]\ntool = \"brave.*\"\naction = \"fallback\"\nfallback = \"ext.brave.search\"\n", 4, "own namespace"),
        ("[[rule]]\naction = \"deny\"\ntool = \"\"\n", 3, "tool pattern must not be empty"),
        ("[[rule]]\naction = \"deny\"\ntool = \"write_file\"\n", 3, "can never match"),
        ("[[rule]]\naction = \"deny\"\ntool = \"ext.fs.write\"\n", 3, "starts with a namespace"),
        ("[[rule]]\naction = \"deny\"\nwhen = { days = [\"mon\", \"funday\"] }\n", 3, "`funday` is not a day"),
        ("[[rule]]\naction = \"deny\"\nwhen = { days = [] }\n", 3, "`days` is empty"),
        ("[[rule]]\naction = \"deny\"\nwhen = { clients = [] }\n", 3, "`clients` is empty"),
        ("[[rule]]\naction = \"deny\"\nwhen = { clients = [\"\"] }\n", 3, "client pattern must not be empty"),
        ("[[rule]]\naction = \"deny\"\nwhen = { from = \"9:00\", to = \"17:00\" }\n", 3, "`9:00` is not a time"),
        ("[[rule]]\naction = \"deny\"\nwhen = { from = \"09:00\", to = \"25:00\" }\n", 3, "`25:00` is not a time"),
        ("[[rule]]\naction = \"deny\"\nwhen = { from = \"09:00\" }\n", 3, "needs both `from` and `to`"),
        ("[[rule]]\naction = \"deny\"\nwhen = { from = \"09:00\", to = \"09:00\" }\n", 3, "window is empty"),
        ("[[rule]]\naction = \"deny\"\n[rule.when]\ntz = \"Mars/Base\"\n", 4, "not a known time zone"),
        ("[[rule]]\naction = \"allow\"\ntimeout = \"soon\"\n", 3, "timeout: `soon` is not a duration"),
        ("[[rule]]\naction = \"allow\"\ntimeout = \"0s\"\n", 3, "timeout must be longer than zero"),
        ("[[rule]]\naction = \"allow\"\nrate_limit = { count = 0, per = \"1s\" }\n", 3, "count must be at least 1"),
        ("[[rule]]\naction = \"allow\"\nrate_limit = { count = 1, per = \"1 fortnight\" }\n", 3, "rate_limit per:"),
        ("[[rule]]\naction = \"allow\"\nrate_limit = { count = 1, per = \"1s\", scope = \"user\" }\n", 3, "scope must"),
        ("[[rule]]\naction = \"allow\"\ncache = { ttl = \"0ms\" }\n", 3, "cache ttl must be longer than zero"),
        ("[[rule]]\naction = \"allow\"\ncache = { ttl = \"1m\", scope = \"shared\" }\n", 3, "cache scope must"),
        ("[[rule]]\naction = \"allow\"\ncache = { ttl = \"1m\", tags = [\" \"] }\n", 3, "tag must not be empty"),
        ("[[rule]]\naction = \"allow\"\ninvalidates = [\"\"]\n", 3, "tag must not be empty"),
        ("[[rule]]\naction = \"deny\"\nretry = true\n", 3, "`retry` has no effect on a deny rule"),
        ("[[rule]]\naction = \"deny\"\nrate_limit = { count = 1, per = \"1s\" }\n", 3, "`rate_limit` has no effect"),
        ("[[rule]]\nname = \"\"\naction = \"deny\"\n", 2, "name must not be empty"),
        (
            "[[rule]]\nname = \"x\"\naction = \"deny\"\n\n[[rule]]\nname = \"x\"\naction = \"allow\"\n",
            5,
            "already used",
        ),
        ("[[rule]]\naction = \"deny\"\ntool = [\n", 4, "invalid array"),
    ];
    for (text, line, message) in cases {
        let errs = errors(text);
        assert_eq!(errs.len(), 1, "{text}: {errs:?}");
        assert_eq!(errs[0].0, *line, "{text}: {errs:?}");
        assert!(errs[0].1.contains(message), "{text}: {errs:?}");
    }
}

#[test]
fn all_semantic_errors_of_a_file_are_reported() {
    let errs = errors(
        r#"
[[rule]]
action = "block"

[[rule]]
action = "allow"
timeout = "never"
when = { days = ["someday"], tz = "Nowhere" }
"#,
    );
    let lines: Vec<usize> = errs.iter().map(|e| e.0).collect();
    assert_eq!(lines, [3, 7, 8, 8], "{errs:?}");
}

#[test]
fn load_reads_files_in_order_and_reports_all_of_them() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.toml");
    let b = dir.path().join("b.toml");
    std::fs::write(&a, "[[rule]]\nname = \"a\"\ntool = \"x.*\"\naction = \"deny\"\n").unwrap();
    std::fs::write(&b, "[[rule]]\nname = \"b\"\ntool = \"x.*\"\naction = \"allow\"\n").unwrap();
    let s = PolicySet::load(&[a.clone(), b.clone()], Action::Allow).unwrap();
    assert_eq!(decide(&s, "ext.x.y").rule_name(), Some("a"));
    assert_eq!(s.rules()[0].origin, format!("{}:1", a.display()));

    std::fs::write(&b, "[[rule]]\naction = \"nope\"\n").unwrap();
    let missing = dir.path().join("missing.toml");
    let ConfigErrors(errs) = PolicySet::load(&[missing.clone(), a, b.clone()], Action::Allow).unwrap_err();
    assert_eq!(errs.len(), 2, "{errs:?}");
    assert_eq!((errs[0].origin.as_str(), errs[0].line), (missing.to_str().unwrap(), None));
    assert!(errs[0].message.contains("cannot read the policy file"));
    assert_eq!((errs[1].origin.as_str(), errs[1].line), (b.to_str().unwrap(), Some((2, 10))));
}

#[test]
fn shipped_default_policy_is_valid_and_allows_by_default() {
    let path = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/policies/default.toml"));
    let s = PolicySet::load(&[path], Action::Allow).unwrap_or_else(|e| panic!("policies/default.toml:\n{e}"));
    for name in ["app.optimize.lineup", "ext.brave.search", "ext.github.create_issue", "ext.memory.read_graph"] {
        assert!(s.is_visible(&Subject::new(name, Some("claude-desktop"), monday_noon())), "{name}");
    }
}

#[test]
fn shipped_default_policy_examples_work_when_uncommented() {
    let text = include_str!("../../policies/default.toml");
    // `# ` marks an example line, `##` prose; keeping every line keeps the line numbers of errors.
    let uncommented: Vec<&str> = text
        .lines()
        .map(|l| if l.starts_with("##") { l } else { l.strip_prefix("# ").unwrap_or(l.trim_start_matches('#')) })
        .collect();
    let s = PolicySet::from_str("policies/default.toml", &uncommented.join("\n"), Action::Allow)
        .unwrap_or_else(|e| panic!("an example in policies/default.toml is invalid:\n{e}"));
    assert!(s.rules().len() >= 6, "{:?}", s.rules().iter().map(|r| &r.name).collect::<Vec<_>>());
    let at = |name, client: Option<&'static str>, now| s.decide(&Subject::new(name, client, now));
    assert_eq!(at("ext.filesystem.write_file", None, monday_noon()).rule_name(), Some("no-fs-writes"));
    assert_eq!(at("ext.github.delete_repo", Some("bot-7"), monday_noon()).action, Action::Deny);
    assert_eq!(at("ext.github.delete_repo", Some("claude-desktop"), monday_noon()).action, Action::Allow);
    assert_eq!(at("app.optimize.lineup", None, monday_noon()).fallback(), Some("ext.brave.search"));
    assert_eq!(at("app.dfs.set_slate", None, monday_noon()).invalidates(), ["slate".to_owned()]);
    // Monday 12:00 UTC is 07:00 in New York: inside office hours; 23:00 UTC is 18:00, 00:30 UTC is 19:30.
    assert_eq!(at("ext.puppeteer.navigate", None, monday_noon()).action, Action::Allow);
    let evening = Utc.with_ymd_and_hms(2025, 1, 7, 0, 30, 0).unwrap();
    assert_eq!(at("ext.puppeteer.navigate", None, evening).rule_name(), Some("puppeteer-nights"));
}

#[test]
fn policy_set_is_shareable() {
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<PolicySet>();
    assert_send_sync::<std::sync::Arc<PolicySet>>();
}
