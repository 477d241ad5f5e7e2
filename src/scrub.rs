//! The one scrubber of secret values. The values of the `secret_env` variables and of every configured server
//! `env` entry are blanked out, the same way, of the evidence trail (through [`crate::evidence::Redactor`]), of
//! the errors clients receive (a crashed server's stderr tail included) and of every log line at every level.
//!
//! The gateway [`install`]s the set once its configuration is read (before logging starts) and again at each
//! reload; everything that scrubs reads the installed set, so no path can use a different list.

use std::borrow::Cow;
use std::sync::{Arc, LazyLock};

use arc_swap::ArcSwap;

/// What replaces a secret value.
pub(crate) const REDACTED: &str = "[REDACTED]";

/// Secret values shorter than this are not searched for: a variable set to `1` or `yes` would otherwise turn
/// every such character sequence in every record into `[REDACTED]`, hiding evidence without protecting anything.
pub(crate) const MIN_SECRET_LEN: usize = 6;

/// Replaces secret values in text. Never printed: its `Debug` shows only how many values it holds.
#[derive(Clone, Default)]
pub(crate) struct Scrubber {
    /// The values, and each one's JSON-escaped spelling when that differs (a log line is JSON), longest first
    /// so that a secret containing another is replaced whole.
    secrets: Vec<String>,
}

impl std::fmt::Debug for Scrubber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Scrubber([{} hidden])", self.secrets.len())
    }
}

impl Scrubber {
    pub(crate) fn new<S: AsRef<str>>(values: &[S]) -> Scrubber {
        let mut secrets = Vec::new();
        for value in values.iter().map(AsRef::as_ref).filter(|s| s.chars().count() >= MIN_SECRET_LEN) {
            secrets.push(value.to_owned());
            let escaped = serde_json::to_string(value).expect("a string serializes");
            let escaped = &escaped[1..escaped.len() - 1];
            if escaped != value {
                secrets.push(escaped.to_owned());
            }
        }
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Scrubber { secrets }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    /// Whether `text` holds a secret value.
    pub(crate) fn finds(&self, text: &str) -> bool {
        self.secrets.iter().any(|s| text.contains(s.as_str()))
    }

    /// Replaces every occurrence of a secret value in `text`.
    pub(crate) fn scrub<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(text);
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = Cow::Owned(out.replace(secret.as_str(), REDACTED));
            }
        }
        out
    }
}

static INSTALLED: LazyLock<ArcSwap<Scrubber>> = LazyLock::new(|| ArcSwap::from_pointee(Scrubber::default()));

/// Makes `scrubber` the one every error and log line goes through from now on.
pub(crate) fn install(scrubber: Scrubber) {
    INSTALLED.store(Arc::new(scrubber));
}

/// `text` through the installed scrubber.
pub(crate) fn scrub(text: &str) -> Cow<'_, str> {
    let s = INSTALLED.load();
    if s.is_empty() {
        return Cow::Borrowed(text);
    }
    match s.scrub(text) {
        Cow::Borrowed(_) => Cow::Borrowed(text),
        Cow::Owned(clean) => Cow::Owned(clean),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_replaced_raw_and_json_escaped_and_short_ones_ignored() {
        let s = Scrubber::new(&["sk-live-0123456789", "quo\"ted-secret", "abc", "secret-1", "secret-1-and-more"]);
        assert_eq!(s.scrub("401 for key sk-live-0123456789"), "401 for key [REDACTED]");
        assert_eq!(s.scrub(r#"{"m":"quo\"ted-secret"}"#), r#"{"m":"[REDACTED]"}"#);
        assert_eq!(s.scrub("x secret-1-and-more y abc"), "x [REDACTED] y abc");
        assert!(matches!(s.scrub("nothing here"), Cow::Borrowed(_)));
        assert!(!format!("{s:?}").contains("secret"));
    }
}
