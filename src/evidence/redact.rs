//! Redaction of what goes into evidence: arguments under secret-looking keys, and any occurrence of the value of
//! a configured secret environment variable anywhere in a string.
//!
//! Redaction runs in the evidence writer, never on the call path: the caller hands over the raw argument bytes
//! and the writer parses, redacts and re-serializes them.

use std::borrow::Cow;

use serde_json::Value;

/// What replaces a redacted value (or the secret inside a string).
pub(crate) const REDACTED: &str = "[REDACTED]";

/// Secret values shorter than this are not searched for: a variable set to `1` or `yes` would otherwise turn
/// every such character sequence in every record into `[REDACTED]`, hiding evidence without protecting anything.
pub(crate) const MIN_SECRET_LEN: usize = 6;

/// The default key patterns (case-insensitive substrings of an object key).
pub(crate) const DEFAULT_KEYS: &[&str] =
    &["token", "password", "passwd", "secret", "authorization", "api_key", "apikey", "cookie", "credential"];

/// Redacts JSON values and strings. Built once at start-up; secret values are read from the environment then
/// and never printed (its `Debug` shows only how many there are).
#[derive(Clone, Default)]
pub(crate) struct Redactor {
    /// Lower-cased key patterns; a key containing any of them has its whole value replaced.
    keys: Vec<String>,
    /// Every pattern is ASCII, so [`Redactor::might_touch`] can search ASCII text without lower-casing a copy.
    ascii_keys: bool,
    /// Secret values to blank out of every string, longest first so that a secret containing another is
    /// replaced whole.
    secrets: Vec<String>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redactor").field("keys", &self.keys).field("secrets", &self.secrets.len()).finish()
    }
}

impl Redactor {
    pub(crate) fn new<K: AsRef<str>, S: AsRef<str>>(keys: &[K], secrets: &[S]) -> Redactor {
        let keys: Vec<String> = keys.iter().map(|k| k.as_ref().to_lowercase()).filter(|k| !k.is_empty()).collect();
        let ascii_keys = keys.iter().all(|k| k.is_ascii());
        let mut secrets: Vec<String> =
            secrets.iter().map(|s| s.as_ref().to_owned()).filter(|s| s.chars().count() >= MIN_SECRET_LEN).collect();
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Redactor { keys, ascii_keys, secrets }
    }

    /// True when `key` looks like it holds a secret.
    pub(crate) fn is_secret_key(&self, key: &str) -> bool {
        if self.keys.is_empty() {
            return false;
        }
        let key = key.to_lowercase();
        self.keys.iter().any(|p| key.contains(p.as_str()))
    }

    /// Whether raw JSON `text` might need redacting: it holds a secret value, something that looks like a secret
    /// key (anywhere, case-insensitive, so a value that merely mentions one counts too), or an escape sequence
    /// (which could spell either in disguise). `false` means the text can be written as it is.
    pub(crate) fn might_touch(&self, text: &str) -> bool {
        if text.contains('\\') || self.secrets.iter().any(|s| text.contains(s.as_str())) {
            return true;
        }
        if self.keys.is_empty() {
            return false;
        }
        // ASCII text holds an ASCII pattern in any case exactly when its lower-cased form holds it; other text
        // (where e.g. the Kelvin sign lower-cases to `k`) takes the Unicode path.
        if self.ascii_keys && text.is_ascii() {
            return self.keys.iter().any(|k| contains_ignore_ascii_case(text.as_bytes(), k.as_bytes()));
        }
        let lower = text.to_lowercase();
        self.keys.iter().any(|k| lower.contains(k.as_str()))
    }

    /// Replaces every occurrence of a secret value in `s`.
    pub(crate) fn scrub<'a>(&self, s: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(s);
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = Cow::Owned(out.replace(secret.as_str(), REDACTED));
            }
        }
        out
    }

    /// Redacts `value` in place, at any depth. Returns whether anything was changed.
    pub(crate) fn redact(&self, value: &mut Value) -> bool {
        match value {
            Value::Object(map) => {
                let mut changed = false;
                for (key, v) in map.iter_mut() {
                    if self.is_secret_key(key) {
                        if v.as_str() != Some(REDACTED) {
                            *v = Value::String(REDACTED.to_owned());
                            changed = true;
                        }
                    } else {
                        changed |= self.redact(v);
                    }
                }
                changed
            }
            Value::Array(items) => items.iter_mut().fold(false, |changed, v| self.redact(v) | changed),
            Value::String(s) => match self.scrub(s) {
                Cow::Owned(clean) => {
                    *s = clean;
                    true
                }
                Cow::Borrowed(_) => false,
            },
            _ => false,
        }
    }
}

/// Whether `hay` holds `needle` (lower-case ASCII) in any ASCII case: candidates are found by their first byte in
/// either case (a vectorised search), then compared.
fn contains_ignore_ascii_case(hay: &[u8], needle: &[u8]) -> bool {
    let Some((first, rest)) = needle.split_first() else { return true };
    let mut at = 0;
    while let Some(i) = memchr::memchr2(*first, first.to_ascii_uppercase(), &hay[at..]) {
        let start = at + i;
        let Some(candidate) = hay.get(start + 1..start + needle.len()) else { return false };
        if candidate.eq_ignore_ascii_case(rest) {
            return true;
        }
        at = start + 1;
    }
    false
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn default() -> Redactor {
        Redactor::new(DEFAULT_KEYS, &["sk-live-0123456789"])
    }

    #[test]
    fn ascii_search_ignores_case_and_finds_every_position() {
        for (hay, needle, found) in [
            ("xxTOKEN", "token", true),
            ("tokE", "token", false),
            ("ttoken", "token", true),
            ("a_ApI_KeY_b", "api_key", true),
            ("", "token", false),
            ("anything", "", true),
            ("tok en", "token", false),
        ] {
            assert_eq!(contains_ignore_ascii_case(hay.as_bytes(), needle.as_bytes()), found, "{hay} / {needle}");
        }
    }

    #[test]
    fn only_text_that_may_hold_a_secret_needs_the_slow_path() {
        let r = default();
        assert!(!r.might_touch(r#"{"message":"hello","n":1}"#));
        assert!(r.might_touch(r#"{"Api_Key":"x"}"#));
        assert!(r.might_touch(r#"{"note":"my PASSWORD is"}"#));
        assert!(r.might_touch(r#"{"v":"sk-live-0123456789"}"#));
        assert!(r.might_touch(r#"{"pass\u0077ord":"x"}"#));
        // Not ASCII: the Kelvin sign lower-cases to `k`, so this key is a token key for `is_secret_key` too.
        assert!(r.might_touch("{\"TO\u{212A}EN\":\"x\"}"));
        assert!(r.is_secret_key("TO\u{212A}EN"));
    }

    #[test]
    fn secret_keys_are_redacted_at_any_depth_and_case() {
        let mut v = json!({
            "query": "rust",
            "Authorization": "Bearer abc",
            "nested": {"GITHUB_TOKEN": {"deep": 1}, "list": [{"password": "p"}, {"ok": "x"}]},
            "x_Api_Key": 42,
            "Cookie": null,
        });
        assert!(default().redact(&mut v));
        assert_eq!(
            v,
            json!({
                "query": "rust",
                "Authorization": REDACTED,
                "nested": {"GITHUB_TOKEN": REDACTED, "list": [{"password": REDACTED}, {"ok": "x"}]},
                "x_Api_Key": REDACTED,
                "Cookie": REDACTED,
            })
        );
    }

    #[test]
    fn secret_values_are_replaced_wherever_they_occur() {
        let mut v = json!({"q": "sk-live-0123456789", "note": ["use sk-live-0123456789 here"], "n": 5});
        assert!(default().redact(&mut v));
        assert_eq!(v, json!({"q": REDACTED, "note": ["use [REDACTED] here"], "n": 5}));
        assert_eq!(default().scrub("401 for key sk-live-0123456789"), "401 for key [REDACTED]");
        assert!(matches!(default().scrub("nothing here"), Cow::Borrowed(_)));
    }

    #[test]
    fn clean_values_are_untouched_and_short_secrets_ignored() {
        let r = Redactor::new(DEFAULT_KEYS, &["1", "", "abc"]);
        let mut v = json!({"query": "1 abc", "tokens_used": 1});
        let before = v.clone();
        // `tokens_used` contains `token`: a substring pattern errs on the side of hiding.
        assert!(r.redact(&mut v));
        assert_eq!(v["query"], before["query"]);
        assert_eq!(v["tokens_used"], REDACTED);
        assert!(!Redactor::new::<&str, &str>(&[], &[]).redact(&mut json!({"password": "x"})));
    }

    #[test]
    fn longer_secret_wins_over_its_prefix() {
        let r = Redactor::new::<&str, _>(&[], &["secret-1", "secret-1-and-more"]);
        assert_eq!(r.scrub("x secret-1-and-more y"), "x [REDACTED] y");
        assert!(!format!("{r:?}").contains("secret-1"));
    }
}
