//! Property tests: no spelling of a canonical name slips past a deny rule, and `decide` agrees with a naive
//! model of the documented semantics.
//!
//! Only canonical names are generated: the gateway resolves wire names, dotted names and shortened aliases to the
//! canonical name before it asks the policy, so what remains to show here is that matching on the canonical name
//! has no gaps (wildcards, case, tie-breaks). Resolution itself is covered by the router's tests.

use chrono::{DateTime, TimeZone, Utc};
use proptest::prelude::*;

use super::*;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 1, 6, 12, 0, 0).unwrap()
}

/// Reference glob: `*` any run, `?` one char, everything else itself, case-sensitive; written independently of
/// the `wildmatch` crate so the two check each other.
fn glob(p: &[char], s: &[char]) -> bool {
    match p.split_first() {
        None => s.is_empty(),
        Some(('*', rest)) => (0..=s.len()).any(|i| glob(rest, &s[i..])),
        Some((c, rest)) => s.split_first().is_some_and(|(d, s)| (*c == '?' || c == d) && glob(rest, s)),
    }
}

fn glob_str(p: &str, s: &str) -> bool {
    glob(&p.chars().collect::<Vec<_>>(), &s.chars().collect::<Vec<_>>())
}

/// (namespace, server, tool). Servers follow the config's naming rule; tools hold mixed case and dots. A server
/// named like a namespace would make a pattern read as a canonical name, which validation rejects.
fn name_parts() -> impl Strategy<Value = (&'static str, String, String)> {
    (
        prop_oneof![Just("app"), Just("ext")],
        "[a-zA-Z0-9_-]{1,8}".prop_filter("not a namespace", |s| s != "app" && s != "ext"),
        "[a-zA-Z0-9_.-]{1,12}",
    )
}

/// A pattern that matches `text`: some characters turned into `?`, optionally a run turned into `*`.
fn derived_pattern(text: String) -> impl Strategy<Value = String> {
    let n = text.chars().count();
    (proptest::collection::vec(prop::bool::weighted(0.2), n), proptest::option::of((0..=n, 0..=n))).prop_map(
        move |(qs, star)| {
            let mut chars: Vec<char> = text.chars().zip(qs).map(|(c, q)| if q { '?' } else { c }).collect();
            if let Some((a, b)) = star {
                let (a, b) = (a.min(b), a.max(b));
                chars.splice(a..b, ['*']);
            }
            chars.into_iter().collect()
        },
    )
}

fn subject(canonical: &str) -> Subject<'_> {
    Subject::new(canonical, None, now())
}

proptest! {
    /// A name under a deny rule that outranks everything else is denied and hidden, for every client, whatever
    /// allow rules (even catch-alls and rules naming it exactly) sit below.
    #[test]
    fn a_denied_canonical_name_is_never_allowed(
        ((ns, server, tool), pattern) in name_parts().prop_flat_map(|(ns, server, tool)| {
            let text = format!("{server}.{tool}");
            (Just((ns, server, tool)), derived_pattern(text))
        }),
        client in proptest::option::of("[a-z-]{1,6}"),
        allow_priority in -1000i64..=1000,
    ) {
        let canonical = format!("{ns}.{server}.{tool}");
        let text = format!(
            "[[rule]]\nname = \"allow-all\"\naction = \"allow\"\npriority = {allow_priority}\n\n\
             [[rule]]\nname = \"allow-exact\"\nnamespace = \"{ns}\"\ntool = \"{server}.{tool}\"\naction = \"allow\"\n\
             priority = {allow_priority}\n\n\
             [[rule]]\nname = \"deny\"\nnamespace = \"{ns}\"\ntool = \"{pattern}\"\naction = \"deny\"\npriority = 1001\n"
        );
        let set = PolicySet::from_str("p.toml", &text, Action::Allow).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let s = Subject::new(&canonical, client.as_deref(), now());
        let d = set.decide(&s);
        prop_assert_eq!(d.action, Action::Deny, "{} under `{}`", canonical, pattern);
        prop_assert_eq!(d.rule_name(), Some("deny"));
        prop_assert!(!set.is_visible(&s));
    }

    /// Spellings that differ only by case are different names: one is denied only if the (case-sensitive)
    /// pattern matches it too, and never through the canonical name it resembles.
    #[test]
    fn case_variants_are_denied_exactly_when_the_pattern_matches_them(
        ((ns, server, tool), pattern, flips) in name_parts().prop_flat_map(|(ns, server, tool)| {
            let text = format!("{server}.{tool}");
            let n = text.chars().count();
            (Just((ns, server, tool)), derived_pattern(text), proptest::collection::vec(any::<bool>(), n))
        }),
    ) {
        let text = format!("[[rule]]\nnamespace = \"{ns}\"\ntool = \"{pattern}\"\naction = \"deny\"\n");
        let set = PolicySet::from_str("p.toml", &text, Action::Allow).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let rest: String = format!("{server}.{tool}")
            .chars()
            .zip(flips)
            .map(|(c, f)| if f && c.is_ascii_lowercase() { c.to_ascii_uppercase() } else if f { c.to_ascii_lowercase() } else { c })
            .collect();
        let variant = format!("{ns}.{rest}");
        let denied = set.decide(&subject(&variant)).action == Action::Deny;
        prop_assert_eq!(denied, glob_str(&pattern, &rest), "{} under `{}`", variant, pattern);
        if !pattern.contains(['*', '?']) && rest != format!("{server}.{tool}") {
            prop_assert!(!denied, "an exact pattern denied another spelling: {}", variant);
        }
        // The other namespace is never covered by a namespace-bound rule.
        let other_ns = if ns == "app" { "ext" } else { "app" };
        prop_assert_eq!(set.decide(&subject(&format!("{other_ns}.{rest}"))).action, Action::Allow);
    }

    /// `decide` is the documented rule: of the matching rules, highest priority (defaulted by namespace), then
    /// file order; else the default action.
    #[test]
    fn decide_agrees_with_a_naive_model(
        rules in proptest::collection::vec(
            (
                prop_oneof![Just("*"), Just("app"), Just("ext")],
                prop_oneof!["[ab]{0,2}\\*[ab.]{0,3}", "[ab]{1,2}\\.[ab?]{1,2}"],
                prop_oneof![Just("allow"), Just("deny")],
                proptest::option::of(-3i64..=3),
                any::<bool>(),
            ),
            0..8,
        ),
        ns in prop_oneof![Just("app"), Just("ext")],
        rest in "[ab]{1,2}\\.[ab]{1,2}",
        client in prop_oneof![Just(None), Just(Some("c1")), Just(Some("d1"))],
        default_deny in any::<bool>(),
    ) {
        let mut text = String::new();
        for (i, (rns, pattern, action, priority, only_c)) in rules.iter().enumerate() {
            text.push_str(&format!("[[rule]]\nname = \"r{i}\"\nnamespace = \"{rns}\"\ntool = \"{pattern}\"\naction = \"{action}\"\n"));
            if let Some(p) = priority {
                text.push_str(&format!("priority = {p}\n"));
            }
            if *only_c {
                text.push_str("when = { clients = [\"c?\"] }\n");
            }
        }
        let default = if default_deny { Action::Deny } else { Action::Allow };
        let set = PolicySet::from_str("p.toml", &text, default).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let canonical = format!("{ns}.{rest}");

        let mut best: Option<(i64, usize)> = None;
        for (i, (rns, pattern, _, priority, only_c)) in rules.iter().enumerate() {
            let matches = (*rns == "*" || *rns == ns)
                && glob_str(pattern, &rest)
                && (!only_c || client.is_some_and(|c| glob_str("c?", c)));
            let priority = priority.unwrap_or(if *rns == "app" { 100 } else { 0 });
            if matches && best.is_none_or(|(p, _)| priority > p) {
                best = Some((priority, i));
            }
        }
        let expected_name = best.map(|(_, i)| format!("r{i}"));
        let expected_action = match best {
            Some((_, i)) if rules[i].2 == "deny" => Action::Deny,
            Some(_) => Action::Allow,
            None => default,
        };
        let d = set.decide(&Subject::new(&canonical, client, now()));
        prop_assert_eq!(d.rule_name().map(str::to_owned), expected_name, "{}\n{}", canonical, text);
        prop_assert_eq!(d.action, expected_action);
    }
}

#[test]
fn reference_glob_behaves() {
    assert!(glob_str("a*c", "abbc") && glob_str("a*c", "ac") && glob_str("?.b", "a.b") && glob_str("*", ""));
    assert!(!glob_str("a?c", "ac") && !glob_str("A*", "a") && !glob_str("a", "ab"));
}
