//! A rule file as written (serde structs, every value spanned) and its validation into [`Rule`]s.
//!
//! Syntax and type errors (including unknown keys) come from the TOML reader and stop the reading of that file;
//! everything else is checked here, rule by rule, so one `check` run lists all of them with their lines.

use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;
use wildmatch::WildMatch;

use super::when::{parse_day, parse_hhmm, parse_tz, When};
use super::{Action, CachePolicy, CacheScope, Kind, RateLimit, RateScope, Rule, Target};
use crate::diagnostics::{line_col, parse_duration, ConfigError};
use crate::naming::Namespace;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    /// `[[rule]]` tables; a file without any is valid (and does nothing).
    #[serde(default)]
    rule: Vec<Spanned<RawRule>>,
}

/// One `[[rule]]`; defaults are those of the module docs.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    /// Default `<file name>:<line>`.
    name: Option<Spanned<String>>,
    /// "app" | "ext" | "*"; default "*".
    namespace: Option<Spanned<String>>,
    /// Default "*" (when none of `prompt`, `resource`, `server` is set).
    tool: Option<Spanned<String>>,
    /// Instead of `tool`: a pattern over `<server>.<prompt>`.
    prompt: Option<Spanned<String>>,
    /// Instead of `tool`: a pattern over `<server>.<uri>` (resources and resource templates).
    resource: Option<Spanned<String>>,
    /// Instead of `tool`: a pattern over the server name; the rule covers everything the server offers.
    server: Option<Spanned<String>>,
    /// Required.
    action: Option<Spanned<String>>,
    fallback: Option<Spanned<String>>,
    /// Default 100 for namespace "app", 0 otherwise.
    priority: Option<i64>,
    when: Option<RawWhen>,
    rate_limit: Option<Spanned<RawRateLimit>>,
    cache: Option<Spanned<RawCache>>,
    retry: Option<Spanned<bool>>,
    timeout: Option<Spanned<String>>,
    fallback_on_error: Option<Spanned<bool>>,
    invalidates: Option<Spanned<Vec<Spanned<String>>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWhen {
    clients: Option<Spanned<Vec<Spanned<String>>>>,
    days: Option<Spanned<Vec<Spanned<String>>>>,
    from: Option<Spanned<String>>,
    to: Option<Spanned<String>>,
    /// Default "UTC".
    tz: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRateLimit {
    count: Spanned<u32>,
    per: Spanned<String>,
    /// Default "tool".
    scope: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCache {
    ttl: Spanned<String>,
    #[serde(default)]
    tags: Vec<Spanned<String>>,
    /// Default "private".
    scope: Option<Spanned<String>>,
}

/// Collects errors with their place in one text.
struct Errors<'a> {
    origin: &'a str,
    text: &'a str,
    list: &'a mut Vec<ConfigError>,
    /// Errors pushed for the current rule, so an invalid rule is not kept.
    count: usize,
}

impl Errors<'_> {
    fn at(&mut self, span: Range<usize>, message: impl Into<String>) {
        self.count += 1;
        let line = Some(line_col(self.text, span.start));
        self.list.push(ConfigError { origin: self.origin.to_owned(), line, message: message.into() });
    }
}

/// Validates one file, appending its rules (in file order) to `rules` and its problems to `errors`.
pub(super) fn compile(origin: &str, text: &str, rules: &mut Vec<Rule>, errors: &mut Vec<ConfigError>) {
    let raw: RawFile = match toml::from_str(text) {
        Ok(raw) => raw,
        Err(e) => {
            let line = e.span().map(|s| line_col(text, s.start));
            errors.push(ConfigError { origin: origin.to_owned(), line, message: e.message().to_owned() });
            return;
        }
    };
    let file_name = Path::new(origin).file_name().map_or(origin.into(), |n| n.to_string_lossy());
    let mut file_errors = Vec::new();
    for raw_rule in &raw.rule {
        let mut errs = Errors { origin, text, list: &mut file_errors, count: 0 };
        let span = raw_rule.span();
        let (line, col) = line_col(text, span.start);
        let default_name = format!("{file_name}:{line}");
        let rule = compile_rule(raw_rule.get_ref(), span, default_name, &mut errs);
        if errs.count == 0 {
            let mut rule = rule;
            rule.origin = format!("{origin}:{line}");
            rule.place = (origin.to_owned(), (line, col));
            rule.order = rules.len();
            rules.push(rule);
        }
    }
    // Checks run key by key, not in text order; a reader wants the list top to bottom.
    file_errors.sort_by_key(|e| e.line);
    errors.extend(file_errors);
}

fn compile_rule(raw: &RawRule, span: Range<usize>, default_name: String, errs: &mut Errors<'_>) -> Rule {
    let name = match &raw.name {
        Some(n) if n.get_ref().trim().is_empty() => {
            errs.at(n.span(), "name must not be empty (leave it out for the default `<file>:<line>`)");
            default_name
        }
        Some(n) => n.get_ref().clone(),
        None => default_name,
    };
    let namespace = match &raw.namespace {
        None => None,
        Some(ns) => match ns.get_ref().as_str() {
            "*" => None,
            "app" => Some(Namespace::App),
            "ext" => Some(Namespace::Ext),
            other => {
                errs.at(ns.span(), format!("namespace must be \"app\", \"ext\" or \"*\", not \"{other}\""));
                None
            }
        },
    };
    let targets = [
        (Target::Only(Kind::Tool), &raw.tool),
        (Target::Only(Kind::Prompt), &raw.prompt),
        (Target::Only(Kind::Resource), &raw.resource),
        (Target::Server, &raw.server),
    ];
    let mut set = targets.iter().filter_map(|(t, p)| p.as_ref().map(|p| (*t, p)));
    let (target, tool) = match (set.next(), set.next()) {
        (None, _) => (Target::Only(Kind::Tool), "*".to_owned()),
        (Some((target, p)), None) => {
            check_pattern(target, p, errs);
            (target, p.get_ref().clone())
        }
        (Some((first, _)), Some((second, p))) => {
            let m = format!(
                "a rule has one of `tool`, `prompt`, `resource` or `server`, not both `{}` and `{}`",
                first.key(),
                second.key()
            );
            errs.at(p.span(), m);
            (first, String::new())
        }
    };
    let action = match &raw.action {
        None => {
            errs.at(span.clone(), "action is missing: set action = \"allow\", \"deny\" or \"fallback\"");
            Action::Allow
        }
        Some(a) => a.get_ref().parse().unwrap_or_else(|e: String| {
            errs.at(a.span(), e);
            Action::Allow
        }),
    };
    let fallback = match (&raw.fallback, action) {
        (Some(f), Action::Fallback) => match check_canonical(f.get_ref()) {
            Ok(()) => Some(f.get_ref().clone()),
            Err(e) => {
                errs.at(f.span(), e);
                None
            }
        },
        (Some(f), _) => {
            let m = format!("`fallback` is only read with action = \"fallback\" (this rule says \"{action}\")");
            errs.at(f.span(), m);
            None
        }
        (None, Action::Fallback) => {
            errs.at(
                raw.action.as_ref().map_or(span.clone(), Spanned::span),
                "action = \"fallback\" needs `fallback = \"<namespace>.<server>.<tool>\"`, the tool to use instead",
            );
            None
        }
        (None, _) => None,
    };
    if let (Some(f), true) = (&raw.fallback_on_error, action != Action::Fallback) {
        errs.at(f.span(), format!("`fallback_on_error` is only read with action = \"fallback\" (not \"{action}\")"));
    }

    if let (Target::Only(kind @ (Kind::Prompt | Kind::Resource)), Some(a)) = (target, &raw.action) {
        // Only tool calls fall back or carry call attributes; saying so beats ignoring them.
        if action == Action::Fallback {
            errs.at(a.span(), format!("a {} rule cannot fall back: fallbacks are for tools", kind.as_str()));
        }
        for (key, at) in call_attributes(raw).into_iter().filter(|_| action != Action::Deny) {
            if let Some(at) = at {
                errs.at(at, format!("`{key}` is only read for tool calls, not on a {} rule", kind.as_str()));
            }
        }
    }
    let when = raw.when.as_ref().map(|w| compile_when(w, errs)).unwrap_or_default();
    let rate_limit = raw.rate_limit.as_ref().map(|rl| compile_rate_limit(rl, errs));
    let cache = raw.cache.as_ref().map(|c| compile_cache(c, errs));
    let timeout = raw.timeout.as_ref().map(|t| positive_duration("timeout", t, errs));
    let mut invalidates = Vec::new();
    for tag in raw.invalidates.iter().flat_map(|l| l.get_ref()) {
        if tag.get_ref().trim().is_empty() {
            errs.at(tag.span(), "a cache tag must not be empty");
        }
        invalidates.push(tag.get_ref().clone());
    }
    if action == Action::Deny {
        // Attributes on a deny rule would never be read; saying so catches a rule meant as allow.
        for (key, at) in call_attributes(raw) {
            if let Some(at) = at {
                errs.at(at, format!("`{key}` has no effect on a deny rule: remove it or change the action"));
            }
        }
    }

    let rule = Rule {
        name,
        origin: String::new(),
        namespace,
        matcher: WildMatch::new(&tool),
        tool,
        target,
        action,
        priority: raw.priority.unwrap_or(if namespace == Some(Namespace::App) { 100 } else { 0 }),
        fallback,
        when,
        rate_limit,
        cache,
        retry: raw.retry.as_ref().map(|r| *r.get_ref()),
        timeout,
        fallback_on_error: raw.fallback_on_error.as_ref().is_some_and(|f| *f.get_ref()),
        invalidates,
        order: 0,
        place: (String::new(), (0, 0)),
        named: raw.name.is_some(),
    };
    if let (Some(target), Some(f)) = (&rule.fallback, &raw.fallback) {
        // A target the rule itself covers would, when it fails too, be sent to itself again.
        if rule.covers(target) {
            errs.at(f.span(), format!("fallback `{target}` is matched by this rule's own namespace and tool"));
        }
    }
    rule
}

/// A pattern: non-empty, over `<server>.<name>` (not the canonical name, which is the usual slip), or over the
/// server name alone for `server`.
fn check_pattern(target: Target, p: &Spanned<String>, errs: &mut Errors<'_>) {
    let s = p.get_ref().as_str();
    let key = target.key();
    if s.trim().is_empty() {
        errs.at(p.span(), format!("{key} pattern must not be empty (use \"*\" for every {key})"));
        return;
    }
    if target == Target::Server {
        if s.contains('.') {
            let m = format!(
                "server `{s}` holds a `.`: the pattern is over the server name alone (set `namespace` for app/ext)"
            );
            errs.at(p.span(), m);
        }
        return;
    }
    if target != Target::Only(Kind::Tool) {
        if s.starts_with("app.") || s.starts_with("ext.") {
            let m = format!(
                "{key} `{s}` starts with a namespace: patterns are over `<server>.<{key}>`; set `namespace` instead"
            );
            errs.at(p.span(), m);
        } else if !s.contains(['.', '*', '?']) {
            let m = format!("{key} `{s}` can never match: patterns are over `<server>.<{key}>`, e.g. \"myserver.{s}\"");
            errs.at(p.span(), m);
        }
        return;
    }
    if s.starts_with("app.") || s.starts_with("ext.") {
        errs.at(
            p.span(),
            format!("tool `{s}` starts with a namespace: patterns are over `<server>.<tool>`; set `namespace` instead"),
        );
    } else if !s.contains(['.', '*', '?']) {
        errs.at(
            p.span(),
            format!(
                "tool `{s}` can never match: patterns are over `<server>.<tool>`, e.g. \"*.{s}\" or \"myserver.{s}\""
            ),
        );
    }
}

/// `<namespace>.<server>.<tool>`, literal (no wildcards).
fn check_canonical(s: &str) -> Result<(), String> {
    let bad = |why: &str| {
        Err(format!("fallback `{s}` is not a canonical tool name ({why}); write e.g. \"ext.brave.search\""))
    };
    let mut parts = s.splitn(3, '.');
    let (ns, server, tool) = (parts.next().unwrap_or(""), parts.next(), parts.next());
    let (Some(server), Some(tool)) = (server, tool) else {
        return bad("it needs three parts");
    };
    if ns != "app" && ns != "ext" {
        return bad("the namespace must be app or ext");
    }
    if server.is_empty() || !server.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        return bad("the server name must be letters, digits, `_` or `-`");
    }
    if tool.is_empty() {
        return bad("the tool name is empty");
    }
    if s.contains(['*', '?']) {
        return bad("it must name one tool, without wildcards");
    }
    Ok(())
}

fn positive_duration(key: &str, s: &Spanned<String>, errs: &mut Errors<'_>) -> Duration {
    match parse_duration(s.get_ref()) {
        Ok(d) if !d.is_zero() => d,
        Ok(_) => {
            errs.at(s.span(), format!("{key} must be longer than zero"));
            Duration::ZERO
        }
        Err(e) => {
            errs.at(s.span(), format!("{key}: {e}"));
            Duration::ZERO
        }
    }
}

/// The attributes only a tool call reads, with where each was written.
fn call_attributes(raw: &RawRule) -> [(&'static str, Option<Range<usize>>); 5] {
    [
        ("rate_limit", raw.rate_limit.as_ref().map(Spanned::span)),
        ("cache", raw.cache.as_ref().map(Spanned::span)),
        ("retry", raw.retry.as_ref().map(Spanned::span)),
        ("timeout", raw.timeout.as_ref().map(Spanned::span)),
        ("invalidates", raw.invalidates.as_ref().map(Spanned::span)),
    ]
}

fn compile_when(raw: &RawWhen, errs: &mut Errors<'_>) -> When {
    let mut when = When::default();
    for (key, list) in [("clients", &raw.clients), ("days", &raw.days)] {
        if let Some(list) = list {
            if list.get_ref().is_empty() {
                errs.at(list.span(), format!("`{key}` is empty, so the rule could never match; leave it out instead"));
            }
        }
    }
    for c in raw.clients.iter().flat_map(|l| l.get_ref()) {
        if c.get_ref().is_empty() {
            errs.at(c.span(), "a client pattern must not be empty (use \"*\" for any known client)");
        }
        when.clients.push((c.get_ref().clone(), WildMatch::new(c.get_ref())));
    }
    if let Some(days) = &raw.days {
        let mut bits = 0;
        for d in days.get_ref() {
            match parse_day(d.get_ref()) {
                Ok(b) => bits |= b,
                Err(e) => errs.at(d.span(), e),
            }
        }
        when.days = Some(bits);
    }
    let time = |t: &Option<Spanned<String>>, errs: &mut Errors<'_>| {
        t.as_ref().and_then(|t| parse_hhmm(t.get_ref()).map_err(|e| errs.at(t.span(), e)).ok())
    };
    let (from, to) = (time(&raw.from, errs), time(&raw.to, errs));
    match (&raw.from, &raw.to) {
        (Some(_), Some(to_span)) => {
            if let (Some(from), Some(to)) = (from, to) {
                if from == to {
                    errs.at(to_span.span(), "`from` and `to` are equal, so the window is empty");
                }
                when.window = Some((from, to));
            }
        }
        (Some(s), None) | (None, Some(s)) => {
            errs.at(s.span(), "a time window needs both `from` and `to` (HH:MM; `to` < `from` wraps midnight)");
        }
        (None, None) => {}
    }
    if let Some(tz) = &raw.tz {
        match parse_tz(tz.get_ref()) {
            Ok(z) => when.tz = z,
            Err(e) => errs.at(tz.span(), e),
        }
    }
    when
}

fn compile_rate_limit(raw: &Spanned<RawRateLimit>, errs: &mut Errors<'_>) -> RateLimit {
    let r = raw.get_ref();
    let count = *r.count.get_ref();
    if count == 0 {
        errs.at(r.count.span(), "rate_limit count must be at least 1 (to block a tool, write a deny rule)");
    }
    let per = positive_duration("rate_limit per", &r.per, errs);
    let scope = match r.scope.as_ref().map(|s| (s.get_ref().as_str(), s.span())) {
        None | Some(("tool", _)) => RateScope::Tool,
        Some(("namespace", _)) => RateScope::Namespace,
        Some(("client", _)) => RateScope::Client,
        Some((other, span)) => {
            errs.at(span, format!("rate_limit scope must be \"tool\", \"namespace\" or \"client\", not \"{other}\""));
            RateScope::Tool
        }
    };
    RateLimit { count, per, scope }
}

fn compile_cache(raw: &Spanned<RawCache>, errs: &mut Errors<'_>) -> CachePolicy {
    let c = raw.get_ref();
    let ttl = positive_duration("cache ttl", &c.ttl, errs);
    for tag in &c.tags {
        if tag.get_ref().trim().is_empty() {
            errs.at(tag.span(), "a cache tag must not be empty");
        }
    }
    let scope = match c.scope.as_ref().map(|s| (s.get_ref().as_str(), s.span())) {
        None | Some(("private", _)) => CacheScope::Private,
        Some(("public", _)) => CacheScope::Public,
        Some((other, span)) => {
            errs.at(span, format!("cache scope must be \"public\" or \"private\", not \"{other}\""));
            CacheScope::Private
        }
    };
    CachePolicy { ttl, tags: c.tags.iter().map(|t| t.get_ref().clone()).collect(), scope }
}
