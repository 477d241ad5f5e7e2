//! Redaction of what goes into evidence: arguments under secret-looking keys, and any occurrence of the value of
//! a configured secret environment variable anywhere in a string.
//!
//! Redaction runs in the evidence writer, never on the call path: the caller hands over the raw argument bytes
//! and the writer walks them, redacting as it copies (see [`Redactor::redact_json`]).

use std::borrow::Cow;

use crate::scrub::Scrubber;
pub(crate) use crate::scrub::REDACTED;

/// The default key patterns. A key is secret when its [`normalize`]d spelling contains one of them, so each
/// covers every spelling of the words: `apikey` covers `api_key`, `x-api-key`, `apiKey` and `X_API_KEY`;
/// `secret` covers `client_secret` and `secret_access_key`; `accesskey` covers `aws_access_key_id`.
pub(crate) const DEFAULT_KEYS: &[&str] = &[
    "token",
    "password",
    "passwd",
    "passphrase",
    "secret",
    "authorization",
    "apikey",
    "privatekey",
    "privkey",
    "bearer",
    "accesskey",
    "sessionid",
    "cookie",
    "credential",
];

/// The spelling-insensitive form of a key or a key pattern: lower case, letters and digits only. `X-Api-Key`,
/// `x_api_key`, `xApiKey` and `XAPIKEY` all read `xapikey`.
pub(crate) fn normalize(key: &str) -> String {
    key.chars().flat_map(char::to_lowercase).filter(|c| c.is_alphanumeric()).collect()
}

/// Redacts JSON values and strings. Built once at start-up; secret values are read from the environment then
/// and never printed (its `Debug` shows only how many there are).
#[derive(Clone, Default)]
pub(crate) struct Redactor {
    /// [`normalize`]d key patterns; a key whose normalized form contains any of them has its whole value
    /// replaced.
    keys: Vec<String>,
    /// Blanks secret values out of every string: the same scrubber as errors and logs use.
    secrets: Scrubber,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redactor").field("keys", &self.keys).field("secrets", &self.secrets).finish()
    }
}

impl Redactor {
    pub(crate) fn new<K: AsRef<str>, S: AsRef<str>>(keys: &[K], secrets: &[S]) -> Redactor {
        let keys: Vec<String> = keys.iter().map(|k| normalize(k.as_ref())).filter(|k| !k.is_empty()).collect();
        Redactor { keys, secrets: Scrubber::new(secrets) }
    }

    /// True when `key`, in any spelling, looks like it holds a secret.
    pub(crate) fn is_secret_key(&self, key: &str) -> bool {
        if self.keys.is_empty() {
            return false;
        }
        let key = normalize(key);
        self.keys.iter().any(|p| key.contains(p.as_str()))
    }

    /// Whether raw JSON `text` might need redacting: it holds a secret value, something that looks like a secret
    /// key (anywhere, in any spelling, so a value that merely mentions one counts too), or an escape sequence
    /// (which could spell either in disguise). `false` means the text can be written as it is.
    ///
    /// The normalized text holds the normalized form of every key in it (normalizing drops characters, it never
    /// joins across a kept one), so a pattern a key would match is always found here.
    pub(crate) fn might_touch(&self, text: &str) -> bool {
        if text.contains('\\') || self.secrets.finds(text) {
            return true;
        }
        if self.keys.is_empty() {
            return false;
        }
        let squeezed: Vec<u8> = if text.is_ascii() {
            text.bytes().filter(u8::is_ascii_alphanumeric).map(|b| b.to_ascii_lowercase()).collect()
        } else {
            normalize(text).into_bytes()
        };
        self.keys.iter().any(|k| memchr::memmem::find(&squeezed, k.as_bytes()).is_some())
    }

    /// Replaces every occurrence of a secret value in `s`.
    pub(crate) fn scrub<'a>(&self, s: &'a str) -> Cow<'a, str> {
        self.secrets.scrub(s)
    }

    /// Writes the JSON value `text` into `out` without insignificant whitespace (so it fits on one line), with
    /// the value of every secret-looking key replaced by `"[REDACTED]"` and secret values scrubbed from every
    /// string, at any depth. Everything else is copied as the client sent it, byte for byte: members keep their
    /// order, numbers their spelling (`1e400` stays `1e400`), strings their escapes. It walks the text with a
    /// loop rather than building a tree, so no nesting depth and no number is beyond it, and it never goes
    /// through a type that could change a value.
    ///
    /// `Err` (and `out` as it was) when `text` is not one valid JSON value.
    pub(crate) fn redact_json(&self, text: &str, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
        // Validates the whole value first, with serde_json's iterative skipper, so the walk below can trust its
        // input.
        serde_json::from_str::<serde::de::IgnoredAny>(text)?;
        let b = text.as_bytes();
        // One entry per open container: `true` for an object, whose next string (after `{` or `,`) is a key.
        let mut objects: Vec<bool> = Vec::new();
        let mut expect_key = false;
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                b' ' | b'\t' | b'\n' | b'\r' => i += 1,
                c @ (b'{' | b'[') => {
                    out.push(c);
                    objects.push(c == b'{');
                    expect_key = c == b'{';
                    i += 1;
                }
                c @ (b'}' | b']') => {
                    out.push(c);
                    objects.pop();
                    expect_key = false;
                    i += 1;
                }
                b',' => {
                    out.push(b',');
                    expect_key = objects.last() == Some(&true);
                    i += 1;
                }
                b':' => {
                    out.push(b':');
                    i += 1;
                }
                b'"' => {
                    let end = string_end(b, i);
                    let token = &text[i..end];
                    i = end;
                    if !expect_key {
                        self.string_token(token, out);
                        continue;
                    }
                    expect_key = false;
                    let secret = self.is_secret_key(&decode(token));
                    self.string_token(token, out);
                    if secret {
                        // Skip the `:` and the value, whatever it is, and write the placeholder instead.
                        let colon = i + b[i..].iter().position(|&c| c == b':').expect("validated: a key has a colon");
                        let mut values =
                            serde_json::Deserializer::from_str(&text[colon + 1..]).into_iter::<serde::de::IgnoredAny>();
                        values.next().expect("validated: a member has a value")?;
                        i = colon + 1 + values.byte_offset();
                        out.push(b':');
                        super::encode::string(out, REDACTED);
                    }
                }
                _ => {
                    // A number or a literal: copied up to the next delimiter.
                    let end = b[i..]
                        .iter()
                        .position(|c| matches!(c, b',' | b']' | b'}' | b' ' | b'\t' | b'\n' | b'\r'))
                        .map_or(b.len(), |n| i + n);
                    out.extend_from_slice(&b[i..end]);
                    i = end;
                }
            }
        }
        Ok(())
    }

    /// Copies one string token (quotes included), scrubbed of secret values: as it is when nothing in it
    /// changes, re-encoded when something does.
    fn string_token(&self, token: &str, out: &mut Vec<u8>) {
        if self.secrets.is_empty() {
            out.extend_from_slice(token.as_bytes());
            return;
        }
        match self.scrub(&decode(token)) {
            Cow::Owned(clean) => super::encode::string(out, &clean),
            Cow::Borrowed(_) => out.extend_from_slice(token.as_bytes()),
        }
    }
}

/// The index just past the closing quote of the string token starting at `start` (a `"`) of valid JSON.
fn string_end(b: &[u8], start: usize) -> usize {
    let mut i = start + 1;
    loop {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
}

/// The text of a (valid) string token. A lone surrogate escape, which no Rust string can hold, reads as U+FFFD:
/// that character is neither a letter nor a digit, so it can never hide a secret key's spelling.
fn decode(token: &str) -> Cow<'_, str> {
    let inner = &token[1..token.len() - 1];
    if !inner.contains('\\') {
        return Cow::Borrowed(inner);
    }
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    let hex4 = |chars: &mut std::str::Chars<'_>| -> u32 {
        chars.by_ref().take(4).fold(0, |n, c| n * 16 + c.to_digit(16).unwrap_or(0))
    };
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('b') => out.push('\u{8}'),
            Some('f') => out.push('\u{c}'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('t') => out.push('\t'),
            Some('u') => {
                let unit = hex4(&mut chars);
                let c = if (0xD800..0xDC00).contains(&unit) && chars.as_str().starts_with("\\u") {
                    let rest = chars.as_str();
                    let low = rest[2..].chars().take(4).fold(0, |n, c| n * 16 + c.to_digit(16).unwrap_or(0));
                    if (0xDC00..0xE000).contains(&low) {
                        chars = rest[6..].chars();
                        char::from_u32(0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00))
                    } else {
                        None
                    }
                } else {
                    char::from_u32(unit)
                };
                out.push(c.unwrap_or(char::REPLACEMENT_CHARACTER));
            }
            Some(other) => out.push(other),
            None => {}
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn default() -> Redactor {
        Redactor::new(DEFAULT_KEYS, &["sk-live-0123456789"])
    }

    fn redacted(r: &Redactor, text: &str) -> String {
        let mut out = Vec::new();
        r.redact_json(text, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn only_text_that_may_hold_a_secret_needs_the_slow_path() {
        let r = default();
        assert!(!r.might_touch(r#"{"message":"hello","n":1}"#));
        assert!(r.might_touch(r#"{"Api_Key":"x"}"#));
        assert!(r.might_touch(r#"{"x-api-key":"x"}"#));
        assert!(r.might_touch(r#"{"apiKey":"x"}"#));
        assert!(r.might_touch(r#"{"note":"my PASSWORD is"}"#));
        assert!(r.might_touch(r#"{"v":"sk-live-0123456789"}"#));
        assert!(r.might_touch(r#"{"pass\u0077ord":"x"}"#));
        // Not ASCII: the Kelvin sign lower-cases to `k`, so this key is a token key for `is_secret_key` too.
        assert!(r.might_touch("{\"TO\u{212A}EN\":\"x\"}"));
        assert!(r.is_secret_key("TO\u{212A}EN"));
    }

    #[test]
    fn every_spelling_of_a_secret_key_is_caught() {
        let r = default();
        for key in [
            "x-api-key",
            "X-API-KEY",
            "apiKey",
            "api_key",
            "Api-Key",
            "private_key",
            "privateKey",
            "PRIVATE-KEY",
            "ssh_privkey",
            "Bearer",
            "bearer_token",
            "access_key",
            "accessKeyId",
            "aws_access_key_id",
            "secret_key",
            "secretAccessKey",
            "client_secret",
            "clientSecret",
            "session_id",
            "sessionId",
            "SESSION-ID",
            "Cookie",
            "set-cookie",
            "Authorization",
            "passPhrase",
            "refresh_token",
        ] {
            assert!(r.is_secret_key(key), "{key}");
            assert!(r.might_touch(&format!("{{{:?}:1}}", key)), "{key}");
        }
        for key in ["query", "message", "keyword", "session_count", "access", "private", "monkey"] {
            assert!(!r.is_secret_key(key), "{key}");
        }
    }

    #[test]
    fn secret_keys_are_redacted_at_any_depth_and_spelling() {
        let text = r#"{"query": "rust", "Authorization": "Bearer abc",
            "nested": {"GITHUB_TOKEN": {"deep": [1, {"x": 2}]}, "list": [{"password": "p"}, {"ok": "x"}]},
            "x-Api-Key": 42, "Cookie": null, "pass\u0077ord": "escaped key", "after": 1e400}"#;
        assert_eq!(
            redacted(&default(), text),
            r#"{"query":"rust","Authorization":"[REDACTED]","nested":{"GITHUB_TOKEN":"[REDACTED]","list":[{"password":"[REDACTED]"},{"ok":"x"}]},"x-Api-Key":"[REDACTED]","Cookie":"[REDACTED]","pass\u0077ord":"[REDACTED]","after":1e400}"#
        );
    }

    #[test]
    fn secret_values_are_replaced_wherever_they_occur() {
        let text = r#"{"q": "sk-live-0123456789", "note": ["use sk-live-0123456789 here", "sk-live-\u0030123456789"],
            "sk-live-0123456789": 5}"#;
        assert_eq!(
            redacted(&default(), text),
            r#"{"q":"[REDACTED]","note":["use [REDACTED] here","[REDACTED]"],"[REDACTED]":5}"#
        );
        assert_eq!(default().scrub("401 for key sk-live-0123456789"), "401 for key [REDACTED]");
        assert!(matches!(default().scrub("nothing here"), Cow::Borrowed(_)));
    }

    #[test]
    fn everything_else_is_copied_as_sent_whatever_its_depth() {
        let r = default();
        let deep = format!("{}{}{}", "[".repeat(5000), r#"{"token":"t","v":-0.0E+07}"#, "]".repeat(5000));
        let expected = deep.replace(r#""token":"t""#, r#""token":"[REDACTED]""#);
        assert_eq!(redacted(&r, &deep), expected);
        let odd = "{\"u\":\"\\ud800 \\u00fc ü \\\" \\\\ \\/\",\"n\":[1E400,-1e-400,123456789012345678901234567890],\"t\":true,\"f\":false,\"z\":null,\"e\":{},\"a\":[]}";
        assert_eq!(redacted(&r, &format!(" \r\n{}\t", odd.replace(',', " ,\n "))), odd);
        let mut out = b"kept".to_vec();
        assert!(r.redact_json("{\"a\":", &mut out).is_err());
        assert!(r.redact_json("{} {}", &mut out).is_err());
        assert_eq!(out, b"kept");
    }

    #[test]
    fn clean_values_are_untouched_and_short_secrets_ignored() {
        let r = Redactor::new(DEFAULT_KEYS, &["1", "", "abc"]);
        // `tokens_used` contains `token`: a substring pattern errs on the side of hiding.
        assert_eq!(
            redacted(&r, r#"{"query":"1 abc","tokens_used":1}"#),
            r#"{"query":"1 abc","tokens_used":"[REDACTED]"}"#
        );
        let none = Redactor::new::<&str, &str>(&[], &[]);
        assert_eq!(redacted(&none, r#"{"password":"x"}"#), r#"{"password":"x"}"#);
    }

    #[test]
    fn escapes_decode_like_serde_and_lone_surrogates_to_the_replacement_character() {
        for token in [r#""plain""#, r#""a\"b\\c\/d\b\f\n\r\t""#, r#""\u00fc\u0041\ud83d\ude00\uFFFF""#] {
            assert_eq!(decode(token), serde_json::from_str::<String>(token).unwrap(), "{token}");
        }
        assert_eq!(decode(r#""api\ud800key""#), "api\u{fffd}key");
        assert_eq!(decode(r#""\udc00\ud800\u0041""#), "\u{fffd}\u{fffd}A");
        assert!(default().is_secret_key(&decode(r#""api\ud800key""#)));
    }

    #[test]
    fn longer_secret_wins_over_its_prefix() {
        let r = Redactor::new::<&str, _>(&[], &["secret-1", "secret-1-and-more"]);
        assert_eq!(r.scrub("x secret-1-and-more y"), "x [REDACTED] y");
        assert!(!format!("{r:?}").contains("secret-1"));
    }
}
