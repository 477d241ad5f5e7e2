//! Canonical and wire names of federated tools.
//!
//! The canonical name `<namespace>.<server>.<tool>` is what policies, metrics, logs and evidence use. The wire
//! name is what a client sees: the canonical parts joined by a separator (default `__`, because LLM APIs accept
//! only `^[a-zA-Z0-9_-]{1,64}$`), made to fit a length budget. Whenever the wire name is not a plain join of the
//! parts (a character had to be replaced, or it had to be shortened), a short hash of the canonical name is
//! appended, so the result is deterministic, stable as other tools come and go, and unique in practice; the
//! rare remaining collision gets a longer hash. The reverse map is kept by the router.

use sha2::{Digest, Sha256};

/// How wire names are formed, from `[gateway]` in the config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Naming {
    /// Joins namespace, server and tool on the wire. `.` keeps canonical names as they are.
    pub(crate) separator: String,
    /// The longest wire name a client accepts (64 for the Claude and OpenAI APIs).
    pub(crate) max_len: usize,
}

impl Default for Naming {
    fn default() -> Self {
        Self { separator: "__".to_owned(), max_len: 64 }
    }
}

/// The namespace a server's tools are published under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Namespace {
    /// The application's own servers: started with the gateway, preferred by policy.
    App,
    /// Third-party servers: started lazily on first use.
    Ext,
}

impl Namespace {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Namespace::App => "app",
            Namespace::Ext => "ext",
        }
    }
}

impl std::fmt::Display for Namespace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The canonical name of a federated tool, prompt or resource template.
pub(crate) fn canonical(namespace: &str, server: &str, tool: &str) -> String {
    format!("{namespace}.{server}.{tool}")
}

/// Characters a wire name may hold: the LLM-API set, plus `.` when it is the separator.
fn allowed(c: char, dots: bool) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-' || (dots && c == '.')
}

fn hash_hex(canonical: &str, len: usize) -> String {
    let digest = Sha256::digest(canonical.as_bytes());
    let mut hex = String::with_capacity(64);
    for b in digest {
        hex.push_str(&format!("{b:02x}"));
    }
    hex.truncate(len);
    hex
}

impl Naming {
    /// The wire name of one tool, with a hash of `hash_len` hex digits when it needs one.
    fn wire_with(&self, namespace: &str, server: &str, tool: &str, hash_len: usize) -> String {
        let dots = self.separator == ".";
        let joined = [namespace, server, tool].join(&self.separator);
        let clean: String = joined.chars().map(|c| if allowed(c, dots) { c } else { '_' }).collect();
        if clean == joined && clean.len() <= self.max_len && hash_len == 0 {
            return clean;
        }
        let hash = hash_hex(&canonical(namespace, server, tool), hash_len.max(8));
        let keep = self.max_len.saturating_sub(hash.len() + 1).min(clean.len());
        // `clean` is ASCII, so any byte index is a char boundary.
        format!("{}_{}", &clean[..keep], hash)
    }

    /// The wire name of one tool, on its own (no collision handling).
    pub(crate) fn wire(&self, namespace: &str, server: &str, tool: &str) -> String {
        self.wire_with(namespace, server, tool, 0)
    }

    /// Wire names for a whole set of tools, in the same order, all distinct. `parts` holds
    /// (namespace, server, tool); canonical names are assumed distinct.
    pub(crate) fn assign<'a, I>(&self, parts: I) -> Vec<String>
    where
        I: IntoIterator<Item = (&'a str, &'a str, &'a str)>,
    {
        let parts: Vec<_> = parts.into_iter().collect();
        let mut names: Vec<String> = parts.iter().map(|(n, s, t)| self.wire(n, s, t)).collect();
        let mut hash_len = 8;
        loop {
            let mut seen = std::collections::HashMap::with_capacity(names.len());
            let mut clashing = Vec::new();
            for (i, name) in names.iter().enumerate() {
                if let Some(&j) = seen.get(name.as_str()) {
                    clashing.push(i);
                    clashing.push(j);
                } else {
                    seen.insert(name.as_str(), i);
                }
            }
            if clashing.is_empty() || hash_len >= 64 {
                return names;
            }
            hash_len += 4;
            for i in clashing {
                let (n, s, t) = parts[i];
                names[i] = self.wire_with(n, s, t, hash_len);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_are_joined() {
        let n = Naming::default();
        assert_eq!(n.wire("app", "optimize", "lineup"), "app__optimize__lineup");
        let dots = Naming { separator: ".".into(), max_len: 128 };
        assert_eq!(dots.wire("app", "optimize", "lineup"), "app.optimize.lineup");
    }

    #[test]
    fn illegal_characters_are_replaced_and_hashed() {
        let n = Naming::default();
        let w = n.wire("ext", "git", "git.status");
        assert!(w.starts_with("ext__git__git_status_"), "{w}");
        assert!(w.chars().all(|c| allowed(c, false)));
        // A tool really named git_status must not collide with it.
        assert_ne!(w, n.wire("ext", "git", "git_status"));
    }

    #[test]
    fn long_names_fit_the_budget_deterministically() {
        let n = Naming::default();
        let tool = "a_really_long_tool_name_that_goes_on_and_on_and_on_forever";
        let w = n.wire("ext", "brave", tool);
        assert_eq!(w.len(), 64);
        assert_eq!(w, n.wire("ext", "brave", tool));
        let other = n.wire("ext", "brave", &format!("{tool}2"));
        assert_ne!(w, other);
        assert_eq!(w[..55], other[..55]);
    }

    #[test]
    fn assign_resolves_collisions() {
        // A tiny budget leaves room for nothing but the hash: the set must still be distinct and fit.
        let n = Naming { separator: "__".into(), max_len: 9 };
        let tools: Vec<String> = (0..500).map(|i| format!("tool{i}")).collect();
        let names = n.assign(tools.iter().map(|t| ("ext", "s", t.as_str())));
        let distinct: std::collections::HashSet<_> = names.iter().collect();
        assert_eq!(distinct.len(), names.len());
        assert!(names.iter().all(|w| w.len() <= 9), "{names:?}");
    }
}
