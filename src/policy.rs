//! The policy engine: which calls may run, where they go when they fail, and the per-call attributes (rate
//! limit, cache, retry, timeout) that the router, cache and rate limiter read.
//!
//! # Rule files
//!
//! Rules live in TOML files (`policies/*.toml`, named by `[policy] files` in the configuration), as data:
//!
//! ```toml
//! [[rule]]
//! name = "no-fs-writes"            # optional; default "<file name>:<line>"
//! namespace = "ext"                # "app" | "ext" | "*" (default "*")
//! tool = "filesystem.write_*"      # wildcard (`*`, `?`) over "<server>.<tool>", case-sensitive; default "*"
//! action = "deny"                  # allow | deny | fallback
//! priority = 10                    # higher wins; default 100 for namespace "app" rules, 0 otherwise
//! when = { clients = ["claude-*"], days = ["mon", "fri"], from = "09:00", to = "17:30", tz = "America/New_York" }
//! ```
//!
//! Instead of `tool`, a rule may name `prompt = "<server>.<prompt>"`, `resource = "<server>.<uri>"` (resources and
//! URIs under templates, matched on the URI as the server lists it) or `server = "<server>"` (everything the server
//! offers: tools, prompts, resources, templates and the completion refs naming them); exactly one of the four.
//!
//! and, on allow and fallback rules, `fallback = "<ns>.<server>.<tool>"` (required with, and only with,
//! `action = "fallback"`), `fallback_on_error`, `rate_limit = { count, per, scope }`, `cache = { ttl, tags, scope }`,
//! `retry`, `timeout` and `invalidates`. `policies/default.toml` documents every key.
//!
//! # Deciding
//!
//! A rule *matches* a call when its namespace, its tool pattern and every part of its `when` hold. Among the
//! matching rules of all files the highest priority wins; on a tie, the rule that comes first (files in the order
//! given, then position in the file). Nothing matching means `default_action`, with no attributes.
//!
//! The attributes come from the winning rule **only**; they are not merged from lower rules. A merge would make
//! a rule's effect depend on unrelated rules below it, and `explain` could no longer point at one rule as the
//! reason; to give a set of tools a rate limit *and* a cache, write both on one rule.
//!
//! `fallback` means: run the call as allowed, and if it fails (crash, timeout, open circuit; an `isError` result
//! too with `fallback_on_error`) send it to the fallback tool instead. The target is decided by the same policy
//! for the same client, as if the client had called it, so a fallback is no way around a deny rule: a denied
//! target does not run and the call's own failure is answered. A target denied to every caller is a load error
//! ([`PolicySet::denied_fallbacks`]).
//!
//! # Names
//!
//! Decisions are made on the canonical name `<namespace>.<server>.<tool>` only, and patterns match it
//! case-sensitively: `filesystem.Write` is not `filesystem.write`. The gateway resolves every wire name, dotted
//! name and shortened alias to the canonical name *before* asking the policy, so a client cannot reach a denied
//! tool by spelling its name differently; the remaining risk lies in that resolution, which the router's
//! integration tests cover.
//!
//! Matching is cheap and allocation-free: patterns are compiled at load time, rules are kept sorted by priority
//! and [`PolicySet::decide`] stops at the first (= winning) match.

mod raw;
mod when;

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use wildmatch::WildMatch;

use crate::diagnostics::{ConfigError, ConfigErrors};
use crate::naming::Namespace;
pub(crate) use crate::ratelimit::RateScope;

pub(crate) use when::When;

/// What a rule (or the default) does with a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Run the call.
    Allow,
    /// Refuse the call and hide the tool from lists.
    Deny,
    /// Run the call; if it fails, run the rule's fallback tool instead.
    Fallback,
}

impl Action {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Action::Allow => "allow",
            Action::Deny => "deny",
            Action::Fallback => "fallback",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Action {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "allow" => Ok(Action::Allow),
            "deny" => Ok(Action::Deny),
            "fallback" => Ok(Action::Fallback),
            _ => Err(format!("action must be \"allow\", \"deny\" or \"fallback\", not \"{s}\"")),
        }
    }
}

/// What kind of thing a decision is about: a server offers tools, prompts and resources (concrete ones and
/// templates); `completion/complete` is decided as the prompt or resource its `ref` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    Tool,
    Prompt,
    /// A resource, or a resource template: named by its URI (template).
    Resource,
}

impl Kind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Kind::Tool => "tool",
            Kind::Prompt => "prompt",
            Kind::Resource => "resource",
        }
    }
}

/// What a rule's pattern is over: one kind of item (`tool`, `prompt`, `resource` keys, pattern over
/// `<server>.<name or URI>`), or everything a server offers (`server` key, pattern over the server name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    Only(Kind),
    Server,
}

impl Target {
    /// The key of the rule file that sets this target.
    pub(crate) fn key(self) -> &'static str {
        match self {
            Target::Only(kind) => kind.as_str(),
            Target::Server => "server",
        }
    }
}

/// `rate_limit = { count, per, scope }`: at most `count` calls per `per`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RateLimit {
    /// Calls allowed per window; at least 1 (a limit of 0 is a deny rule, and should be written as one).
    pub(crate) count: u32,
    /// The window length; longer than zero.
    pub(crate) per: Duration,
    /// Who shares the budget; default [`RateScope::Tool`].
    pub(crate) scope: RateScope,
}

/// Whether a cached result may be served to other clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum CacheScope {
    /// One entry per tool and arguments, served to every client.
    Public,
    /// One entry per client identity as well; the default, because results may be personal.
    Private,
}

/// `cache = { ttl, tags, scope }`: successful results may be cached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CachePolicy {
    /// How long an entry lives; longer than zero.
    pub(crate) ttl: Duration,
    /// Labels a writer's `invalidates` can name to drop these entries early.
    pub(crate) tags: Vec<String>,
    /// Default [`CacheScope::Private`].
    pub(crate) scope: CacheScope,
}

/// One validated rule.
#[derive(Debug, Clone)]
pub(crate) struct Rule {
    /// The `name` key, or `<file name>:<line>`; what denials, `explain` and evidence cite.
    pub(crate) name: String,
    /// `<file>:<line>` of the `[[rule]]` header, so a message leads to the text.
    pub(crate) origin: String,
    /// `None` = any namespace (`"*"`).
    pub(crate) namespace: Option<Namespace>,
    /// The pattern as written (`tool`, `prompt`, `resource` or `server` key), for messages.
    pub(crate) tool: String,
    /// Which names the pattern is matched against.
    pub(crate) target: Target,
    /// The pattern compiled once, so matching on the request path does not parse.
    matcher: WildMatch,
    /// What the rule does with a matching call.
    pub(crate) action: Action,
    /// The canonical fallback target; `Some` exactly when `action` is [`Action::Fallback`].
    pub(crate) fallback: Option<String>,
    /// Higher wins; defaulted from the namespace (app 100, otherwise 0).
    pub(crate) priority: i64,
    /// Who and when the rule applies to; empty = always.
    pub(crate) when: When,
    /// Read by the rate limiter before the call is dispatched.
    pub(crate) rate_limit: Option<RateLimit>,
    /// Read by the cache: whether, how long and for whom results are kept.
    pub(crate) cache: Option<CachePolicy>,
    /// `Some(true)`: calls are safe to repeat; `Some(false)`: never retry, whatever the tool's annotations say;
    /// `None`: the tool's annotations decide.
    pub(crate) retry: Option<bool>,
    /// Per-call timeout overriding the server's.
    pub(crate) timeout: Option<Duration>,
    /// Also fall back when the tool answers with `isError: true` (only on fallback rules).
    pub(crate) fallback_on_error: bool,
    /// Cache tags a successful call drops: this rule's tools are writers.
    pub(crate) invalidates: Vec<String>,
    /// Position over all files, for the tie-break and stable listing.
    order: usize,
    /// File and 1-based (line, column) of the `[[rule]]` header, for errors found after compilation.
    place: (String, (usize, usize)),
    /// `name` was written (not defaulted): only written names must be unique.
    named: bool,
}

/// Why a rule does not match a call; building one allocates nothing, so `decide` and `explain` share it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Miss<'s> {
    Namespace(&'s str),
    /// The rule is about another kind of item (its target, the subject's kind).
    Kind(Target, Kind),
    Tool(&'s str),
    When(when::WhenMiss<'s>),
}

impl Rule {
    /// Whether the rule's namespace and pattern cover the tool `canonical`, ignoring `when`. A name that is not
    /// `<ns>.<rest>` has no namespace: only `"*"` rules see it, with the whole name as `<server>.<tool>`.
    pub(crate) fn covers(&self, canonical: &str) -> bool {
        self.miss_name(Kind::Tool, canonical).is_none()
    }

    fn miss_name<'s>(&self, kind: Kind, canonical: &'s str) -> Option<Miss<'s>> {
        let (ns, rest) = canonical.split_once('.').unwrap_or(("", canonical));
        if let Some(want) = self.namespace {
            if want.as_str() != ns {
                return Some(Miss::Namespace(ns));
            }
        }
        let subject = match self.target {
            Target::Only(k) if k == kind => rest,
            Target::Only(_) => return Some(Miss::Kind(self.target, kind)),
            // Server names have no dots (config validation), so the first dot ends the server name.
            Target::Server => rest.split_once('.').map_or(rest, |(server, _)| server),
        };
        if !self.matcher.matches(subject) {
            return Some(Miss::Tool(subject));
        }
        None
    }

    fn miss<'s>(&self, subject: &Subject<'s>) -> Option<Miss<'s>> {
        self.miss_name(subject.kind, subject.canonical)
            .or_else(|| self.when.miss(subject.client, subject.now).map(Miss::When))
    }
}

/// The call a decision is about.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Subject<'a> {
    /// What `canonical` names.
    pub(crate) kind: Kind,
    /// `<namespace>.<server>.<tool>` (or `.<prompt>`, or `.<uri>` for a resource or template), after the gateway
    /// resolved the wire name or URI.
    pub(crate) canonical: &'a str,
    /// The client identity, when known: `clientInfo.name` on stdio, the token's identity on HTTP.
    pub(crate) client: Option<&'a str>,
    /// The time of the call; passed in so tests use a fixed clock.
    pub(crate) now: DateTime<Utc>,
}

impl<'a> Subject<'a> {
    /// A tool call.
    pub(crate) fn new(canonical: &'a str, client: Option<&'a str>, now: DateTime<Utc>) -> Self {
        Subject { kind: Kind::Tool, canonical, client, now }
    }

    /// Any kind of item.
    pub(crate) fn of(kind: Kind, canonical: &'a str, client: Option<&'a str>, now: DateTime<Utc>) -> Self {
        Subject { kind, canonical, client, now }
    }
}

/// The outcome for one call: the action and the rule that decided it (none = `default_action`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Decision<'a> {
    /// What to do with the call.
    pub(crate) action: Action,
    /// The winning rule, which also carries the call's attributes; `None` when `default_action` applied.
    pub(crate) rule: Option<&'a Rule>,
}

impl<'a> Decision<'a> {
    /// Not denied: the call runs (possibly with a fallback).
    pub(crate) fn is_allowed(&self) -> bool {
        self.action != Action::Deny
    }
    /// The canonical tool to run when the call fails.
    pub(crate) fn fallback(&self) -> Option<&'a str> {
        self.rule.and_then(|r| r.fallback.as_deref())
    }
    pub(crate) fn fallback_on_error(&self) -> bool {
        self.rule.is_some_and(|r| r.fallback_on_error)
    }
    pub(crate) fn rate_limit(&self) -> Option<&'a RateLimit> {
        self.rule.and_then(|r| r.rate_limit.as_ref())
    }
    pub(crate) fn cache(&self) -> Option<&'a CachePolicy> {
        self.rule.and_then(|r| r.cache.as_ref())
    }
    /// See [`Rule::retry`].
    pub(crate) fn retry(&self) -> Option<bool> {
        self.rule.and_then(|r| r.retry)
    }
    pub(crate) fn timeout(&self) -> Option<Duration> {
        self.rule.and_then(|r| r.timeout)
    }
    pub(crate) fn invalidates(&self) -> &'a [String] {
        self.rule.map_or(&[], |r| &r.invalidates)
    }
    pub(crate) fn rule_name(&self) -> Option<&'a str> {
        self.rule.map(|r| r.name.as_str())
    }
}

/// `deny by rule `no-fs-writes` (policies/default.toml:12)` or `allow by default_action`: the tail of a
/// denial message or a log line.
impl fmt::Display for Decision<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.rule {
            Some(r) => write!(f, "{} by policy rule `{}` ({})", self.action, r.name, r.origin),
            None => write!(f, "{} by default_action (no policy rule matched)", self.action),
        }
    }
}

/// A fallback rule whose target the policy denies (see [`PolicySet::denied_fallbacks`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct DeniedFallback<'a> {
    /// The fallback rule.
    pub(crate) rule: &'a Rule,
    pub(crate) target: &'a str,
    /// The deny rule; `None`: `default_action = "deny"`.
    pub(crate) by: Option<&'a Rule>,
    /// Denied to every client at every time, so the fallback can never run.
    pub(crate) always: bool,
}

impl DeniedFallback<'_> {
    pub(crate) fn message(&self) -> String {
        let by = match self.by {
            Some(r) if r.when.is_empty() => format!("the deny rule `{}` ({})", r.name, r.origin),
            Some(r) => format!("the deny rule `{}` ({}) when {}", r.name, r.origin, r.when.describe()),
            None => "default_action = \"deny\" (no rule allows it)".to_owned(),
        };
        let reach = if self.always { "to every client, so the fallback never runs" } else { "to some calls" };
        format!(
            "fallback `{}` of rule `{}` is denied by {by}, {reach}: a fallback is decided as if the client had called the target itself",
            self.target, self.rule.name
        )
    }
}

/// All rules of all policy files, validated and sorted. Immutable: a reload builds a new set and swaps the
/// `Arc`, so a bad file never replaces a good set.
#[derive(Debug, Clone)]
pub struct PolicySet {
    /// Sorted by priority (highest first), then file order: the first match is the winner.
    rules: Vec<Rule>,
    /// What applies when no rule matches; never [`Action::Fallback`] (it has no target).
    default_action: Action,
}

impl PolicySet {
    /// Reads and validates `files` in order. Every problem is reported with file and line (a syntax or type error
    /// stops the reading of its own file only). `default_action` must be allow or deny.
    pub(crate) fn load(files: &[PathBuf], default_action: Action) -> Result<PolicySet, ConfigErrors> {
        let mut errors = Vec::new();
        let mut sources = Vec::with_capacity(files.len());
        for path in files {
            match std::fs::read_to_string(path) {
                Ok(text) => sources.push((path.display().to_string(), text)),
                Err(e) => errors.push(ConfigError {
                    origin: path.display().to_string(),
                    line: None,
                    message: format!("cannot read the policy file: {e}"),
                }),
            }
        }
        let sources: Vec<(&str, &str)> = sources.iter().map(|(o, t)| (o.as_str(), t.as_str())).collect();
        match Self::from_sources(&sources, default_action) {
            Ok(set) if errors.is_empty() => Ok(set),
            Ok(_) => Err(ConfigErrors(errors)),
            Err(ConfigErrors(more)) => {
                errors.extend(more);
                Err(ConfigErrors(errors))
            }
        }
    }

    /// One rule file given as text; `origin` names it in messages (tests, `check` of a single file).
    pub fn from_str(origin: &str, text: &str, default_action: Action) -> Result<PolicySet, ConfigErrors> {
        Self::from_sources(&[(origin, text)], default_action)
    }

    /// Rule files given as `(origin, text)`, in order.
    pub(crate) fn from_sources(sources: &[(&str, &str)], default_action: Action) -> Result<PolicySet, ConfigErrors> {
        let mut errors = Vec::new();
        if default_action == Action::Fallback {
            errors.push(ConfigError {
                origin: "[policy] default_action".into(),
                line: None,
                message: "default_action must be \"allow\" or \"deny\" (a fallback needs a rule naming its target)"
                    .into(),
            });
        }
        let mut rules = Vec::new();
        for (origin, text) in sources {
            raw::compile(origin, text, &mut rules, &mut errors);
        }
        // Two files of one name in different folders give equal default names: tell them apart by path.
        for i in 0..rules.len() {
            if !rules[i].named && rules[..i].iter().any(|o| o.name == rules[i].name) {
                rules[i].name = rules[i].origin.clone();
            }
        }
        // Names are how operators refer to rules (denial messages, explain, evidence): two rules with one written
        // name would make those ambiguous.
        for (i, r) in rules.iter().enumerate() {
            if let Some(first) = rules[..i].iter().find(|o| o.name == r.name).filter(|_| r.named) {
                errors.push(ConfigError {
                    origin: r.place.0.clone(),
                    line: Some(r.place.1),
                    message: format!("rule name `{}` is already used by the rule at {}", r.name, first.origin),
                });
            }
        }
        if !errors.is_empty() {
            return Err(ConfigErrors(errors));
        }
        // Stable: equal priorities keep file order, which is the tie-break.
        rules.sort_by_key(|r| std::cmp::Reverse(r.priority));
        let set = PolicySet { rules, default_action };
        // A fallback into a tool the policy denies to everyone never runs (the gateway decides the target as if
        // the client had called it): the rule is a mistake, refused like any other.
        let errors: Vec<ConfigError> = set
            .denied_fallbacks()
            .into_iter()
            .filter(|d| d.always)
            .map(|d| ConfigError { origin: d.rule.place.0.clone(), line: Some(d.rule.place.1), message: d.message() })
            .collect();
        if !errors.is_empty() {
            return Err(ConfigErrors(errors));
        }
        Ok(set)
    }

    /// Fallback rules whose target this policy denies, to every caller (`always`) or to some clients or times.
    /// The first kind makes the set invalid; `dfs-gateway check` reports the second.
    pub(crate) fn denied_fallbacks(&self) -> Vec<DeniedFallback<'_>> {
        let mut found = Vec::new();
        for rule in &self.rules {
            let Some(target) = rule.fallback.as_deref() else { continue };
            // Walk the rules that can decide the target, in decision order, until one decides it for everyone.
            let mut conditional_allow = false;
            let mut decided = false;
            for r in self.rules.iter().filter(|r| r.covers(target)) {
                let unconditional = r.when.is_empty();
                if r.action == Action::Deny {
                    found.push(DeniedFallback {
                        rule,
                        target,
                        by: Some(r),
                        always: unconditional && !conditional_allow,
                    });
                } else {
                    conditional_allow |= !unconditional;
                }
                if unconditional {
                    decided = true;
                    break;
                }
            }
            if !decided && self.default_action == Action::Deny {
                found.push(DeniedFallback { rule, target, by: None, always: !conditional_allow });
            }
        }
        found
    }

    /// An empty set: every call gets `default_action` (for a gateway without policy files, and tests).
    pub fn empty(default_action: Action) -> PolicySet {
        PolicySet { rules: Vec::new(), default_action }
    }

    /// The rules in decision order (highest priority first).
    pub(crate) fn rules(&self) -> &[Rule] {
        &self.rules
    }

    pub(crate) fn default_action(&self) -> Action {
        self.default_action
    }

    /// The decision for one call. Allocation-free: runs on every call.
    pub(crate) fn decide(&self, subject: &Subject<'_>) -> Decision<'_> {
        match self.rules.iter().find(|r| r.miss(subject).is_none()) {
            Some(rule) => Decision { action: rule.action, rule: Some(rule) },
            None => Decision { action: self.default_action, rule: None },
        }
    }

    /// Whether the tool appears in lists for this client now: denied tools are hidden.
    pub(crate) fn is_visible(&self, subject: &Subject<'_>) -> bool {
        self.decide(subject).is_allowed()
    }

    /// Every rule in decision order, whether it matched and if not why, and which one decided; for
    /// `dfs-gateway explain`.
    pub(crate) fn explain(&self, subject: &Subject<'_>) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        let client = subject.client.map_or_else(|| "no client identity".to_owned(), |c| format!("client `{c}`"));
        let what = if subject.kind == Kind::Tool { String::new() } else { format!("{} ", subject.kind.as_str()) };
        let _ = writeln!(
            out,
            "{what}{} for {client} at {}",
            subject.canonical,
            subject.now.format("%Y-%m-%d %H:%M:%S UTC")
        );
        if self.rules.is_empty() {
            let _ = writeln!(out, "no policy rules are loaded");
        } else {
            let _ = writeln!(out, "rules, in decision order (highest priority first, then file order):");
        }
        let decision = self.decide(subject);
        let winner = decision.rule.map(|r| r.order);
        for (i, r) in self.rules.iter().enumerate() {
            let ns = r.namespace.map_or("*", Namespace::as_str);
            let when = if r.when.is_empty() { String::new() } else { format!(" when {}", r.when.describe()) };
            let target = match r.target {
                Target::Only(Kind::Tool) => String::new(),
                t => format!("{} ", t.key()),
            };
            let _ = write!(
                out,
                "  {}. `{}` ({}): {} {target}{ns}.{}{when}, priority {}: ",
                i + 1,
                r.name,
                r.origin,
                r.action,
                r.tool,
                r.priority
            );
            let _ = match r.miss(subject) {
                Some(Miss::Namespace(ns)) => {
                    let got = if ns.is_empty() { "no namespace".to_owned() } else { format!("namespace `{ns}`") };
                    writeln!(out, "no match: {got}, the rule is for `{}`", r.namespace.map_or("*", Namespace::as_str))
                }
                Some(Miss::Kind(target, kind)) => {
                    writeln!(out, "no match: the rule is about {}s, this is a {}", target.key(), kind.as_str())
                }
                Some(Miss::Tool(rest)) => {
                    let case = if WildMatch::new_case_insensitive(&r.tool).matches(rest) {
                        " (it would ignoring case, but patterns are case-sensitive)"
                    } else {
                        ""
                    };
                    writeln!(out, "no match: `{rest}` does not match `{}`{case}", r.tool)
                }
                Some(Miss::When(w)) => writeln!(out, "no match: {w}"),
                None if Some(r.order) == winner => writeln!(out, "MATCHES, decides"),
                None => writeln!(out, "matches, but a rule above decides"),
            };
        }
        let _ = writeln!(out, "decision: {decision}");
        if let Some(target) = decision.fallback() {
            let on_error = if decision.fallback_on_error() { ", or answers with isError" } else { "" };
            let _ = writeln!(out, "  fallback: {target} when the call fails{on_error}");
        }
        if let Some(rl) = decision.rate_limit() {
            let scope = match rl.scope {
                RateScope::Tool => "tool",
                RateScope::Namespace => "namespace",
                RateScope::Client => "client",
            };
            let _ =
                writeln!(out, "  rate limit: {} per {} (per {scope})", rl.count, humantime::format_duration(rl.per));
        }
        if let Some(c) = decision.cache() {
            let scope = if c.scope == CacheScope::Public { "public" } else { "private" };
            let tags = if c.tags.is_empty() { String::new() } else { format!(", tags {}", c.tags.join(", ")) };
            let _ = writeln!(out, "  cache: {scope}, ttl {}{tags}", humantime::format_duration(c.ttl));
        }
        if let Some(retry) = decision.retry() {
            let _ = writeln!(out, "  retry: {}", if retry { "safe to repeat" } else { "never" });
        }
        if let Some(t) = decision.timeout() {
            let _ = writeln!(out, "  timeout: {}", humantime::format_duration(t));
        }
        if !decision.invalidates().is_empty() {
            let _ = writeln!(out, "  invalidates cache tags: {}", decision.invalidates().join(", "));
        }
        out
    }
}

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
