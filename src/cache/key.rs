//! Cache keys: a digest of what was asked, in a form where equal requests are equal bytes.

use std::fmt;

use serde_json::value::RawValue;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// SHA-256 of (kind, target, canonical arguments, scope); fixed size, so keys of huge argument lists cost the
/// same to store and compare, and nothing of the arguments (which may be secret) is readable in Redis.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct CacheKey([u8; 32]);

/// A key is already a uniform digest: its first eight bytes are as good a hash as any hasher would make, so
/// hashing writes just those (maps of keys use [`KeyHashing`] and skip the hashing work altogether).
impl std::hash::Hash for CacheKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        let mut first = [0u8; 8];
        first.copy_from_slice(&self.0[..8]);
        state.write_u64(u64::from_le_bytes(first));
    }
}

/// The hasher for maps keyed by [`CacheKey`]: passes the key's own bits through.
#[derive(Default, Clone, Copy)]
pub(crate) struct KeyHasher(u64);

impl std::hash::Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Not reached by `CacheKey` (it writes one u64); folded in anyway so any use stays correct.
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// `BuildHasher` of [`KeyHasher`].
pub(crate) type KeyHashing = std::hash::BuildHasherDefault<KeyHasher>;

impl CacheKey {
    /// Lower-case hex, the form used in Redis key names and logs.
    pub(crate) fn to_hex(self) -> String {
        use fmt::Write;
        self.0.iter().fold(String::with_capacity(64), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
    }
}

impl fmt::Debug for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CacheKey({})", self.to_hex())
    }
}

impl fmt::Display for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// The key of a cacheable request.
///
/// - `kind`: what sort of request, e.g. `"tools/call"` or `"tools/list"`, so a tool result and a list result
///   never share a key.
/// - `target`: the canonical tool name (`app.optimize.lineup`), or the server for a list.
/// - `args`: the arguments as the client sent them; hashed in [canonical form](canonical_json), so key order and
///   whitespace do not matter. `None` (no `arguments` at all) is kept distinct from `{}`: a server may treat them
///   differently, and the cost of keeping them apart is only a miss.
/// - `scope`: who may share the entry, e.g. `"public"` or `"client:<identity>"`.
///
/// Each part is length-prefixed before hashing, so no choice of strings can make two different tuples hash the
/// same input (`("a.b", "c")` vs `("a", "b.c")`).
pub fn cache_key(kind: &str, target: &str, args: Option<&RawValue>, scope: &str) -> CacheKey {
    cache_key_scoped(kind, target, args, &[scope])
}

/// [`cache_key`] with the scope given in pieces (hashed as their concatenation), so a caller need not build the
/// string: `["client:", instance, ":", owner]`.
pub(crate) fn cache_key_scoped(kind: &str, target: &str, args: Option<&RawValue>, scope: &[&str]) -> CacheKey {
    let mut hasher = Sha256::new();
    let mut part = |pieces: &[&[u8]]| {
        let len: usize = pieces.iter().map(|p| p.len()).sum();
        hasher.update((len as u64).to_le_bytes());
        for piece in pieces {
            hasher.update(piece);
        }
    };
    part(&[kind.as_bytes()]);
    part(&[target.as_bytes()]);
    let mut scope_pieces = [&b""[..]; 4];
    assert!(scope.len() <= scope_pieces.len(), "a scope has at most four pieces");
    for (slot, piece) in scope_pieces.iter_mut().zip(scope) {
        *slot = piece.as_bytes();
    }
    part(&scope_pieces[..scope.len()]);
    match args {
        None => part(&[b""]),
        // A leading tag byte keeps `None` apart from any canonical text (which is never empty anyway).
        Some(raw) if is_canonical(raw.get().as_bytes()) => part(&[b"=", raw.get().as_bytes()]),
        Some(raw) => {
            let mut text = Vec::with_capacity(raw.get().len() + 1);
            text.push(b'=');
            write_canonical_raw(raw, &mut text);
            part(&[&text]);
        }
    }
    CacheKey(hasher.finalize().into())
}

/// Whether `text` (valid JSON) is already what [`canonical_json`] would print, so the key can hash it as it is:
/// no whitespace, strings without escapes, integers only (no `-0`, at most 18 digits, which every integer
/// type prints back the same), object keys strictly ascending, nesting at most 16 deep. Anything else, even if
/// it happens to be canonical, takes the parse-and-print path.
fn is_canonical(text: &[u8]) -> bool {
    /// Per open object: the previous key's range (the next must sort after it), and whether a key comes next.
    #[derive(Clone, Copy)]
    enum Open {
        Object { prev: Option<(usize, usize)>, key_next: bool },
        Array,
    }
    const DEPTH: usize = 16;
    let mut stack = [Open::Array; DEPTH];
    let mut depth = 0;
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            open @ (b'{' | b'[') => {
                if depth == DEPTH {
                    return false;
                }
                stack[depth] = if open == b'{' { Open::Object { prev: None, key_next: true } } else { Open::Array };
                depth += 1;
                i += 1;
            }
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                i += 1;
            }
            b',' => {
                if let Some(Open::Object { key_next, .. }) = depth.checked_sub(1).map(|d| &mut stack[d]) {
                    *key_next = true;
                }
                i += 1;
            }
            b':' => i += 1,
            b'"' => {
                let start = i + 1;
                let Some(len) = memchr::memchr2(b'"', b'\\', &text[start..]) else { return false };
                let end = start + len;
                if text[end] == b'\\' {
                    return false;
                }
                if let Some(Open::Object { prev, key_next }) = depth.checked_sub(1).map(|d| &mut stack[d]) {
                    if *key_next {
                        if prev.is_some_and(|(s, e)| text[s..e] >= text[start..end]) {
                            return false;
                        }
                        *prev = Some((start, end));
                        *key_next = false;
                    }
                }
                i = end + 1;
            }
            b'-' | b'0'..=b'9' => {
                let negative = text[i] == b'-';
                let digits_at = i + usize::from(negative);
                let digits = text[digits_at..].iter().take_while(|b| b.is_ascii_digit()).count();
                let first = text.get(digits_at).copied();
                if digits == 0 || digits > 18 || (first == Some(b'0') && (digits > 1 || negative)) {
                    return false;
                }
                i = digits_at + digits;
                if matches!(text.get(i), Some(b'.' | b'e' | b'E')) {
                    return false;
                }
            }
            b't' if text[i..].starts_with(b"true") => i += 4,
            b'f' if text[i..].starts_with(b"false") => i += 5,
            b'n' if text[i..].starts_with(b"null") => i += 4,
            _ => return false,
        }
    }
    true
}

#[cfg(test)]
/// `raw` re-printed compactly with the keys of every object sorted (by their UTF-8 bytes), recursively.
///
/// Strings are printed by serde_json after decoding, so `"\u00e9"` and `"é"` are the same; numbers are printed
/// as serde_json prints them after parsing, so `1e2` and `100.0` are the same but `1` and `1.0` are not (a
/// server may well distinguish an integer from a float). Of duplicate keys in one object the last wins, as in
/// every JSON parser a downstream is likely to use.
pub(crate) fn canonical_json(raw: &RawValue) -> String {
    let mut out = Vec::with_capacity(raw.get().len());
    write_canonical_raw(raw, &mut out);
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

fn write_canonical_raw(raw: &RawValue, out: &mut Vec<u8>) {
    match serde_json::from_str::<Value>(raw.get()) {
        Ok(value) => write_canonical(&value, out),
        // Unreachable for a `RawValue`, which is valid JSON by construction; the raw text is a safe key anyway.
        Err(_) => out.extend_from_slice(raw.get().trim().as_bytes()),
    }
}

fn write_canonical(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Object(map) => {
            // Sorted here rather than relying on serde_json's map order, which a `preserve_order` feature
            // enabled anywhere in the dependency graph would silently change.
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.push(b'{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_json(k.as_str(), out);
                out.push(b':');
                write_canonical(v, out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(v, out);
            }
            out.push(b']');
        }
        scalar => write_json(scalar, out),
    }
}

/// serde_json's compact form of `v`, appended without an intermediate string.
fn write_json<T: serde::Serialize + ?Sized>(v: &T, out: &mut Vec<u8>) {
    serde_json::to_writer(&mut *out, v).expect("writing JSON into a Vec cannot fail");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.to_string()).expect("valid JSON")
    }

    fn key(args: &str, scope: &str) -> CacheKey {
        cache_key("tools/call", "app.optimize.lineup", Some(&raw(args)), scope)
    }

    #[test]
    fn key_order_and_whitespace_do_not_matter() {
        assert_eq!(key(r#"{"a":1,"b":2}"#, "public"), key(r#"{"b":2,"a":1}"#, "public"));
        assert_eq!(
            key(r#"{"outer":{"z":[1,{"y":true,"x":null}],"a":"s"}}"#, "public"),
            key("{ \"outer\" : { \"a\" : \"s\", \"z\" : [ 1 , { \"x\":null, \"y\":true } ] } }", "public"),
        );
    }

    #[test]
    fn different_values_scopes_and_targets_differ() {
        let base = key(r#"{"a":1,"b":2}"#, "public");
        assert_ne!(base, key(r#"{"a":1,"b":3}"#, "public"));
        assert_ne!(base, key(r#"{"a":1,"b":"2"}"#, "public"));
        assert_ne!(base, key(r#"{"a":1,"b":2}"#, "client:alice"));
        assert_ne!(key(r#"{}"#, "client:alice"), key(r#"{}"#, "client:bob"));
        let args = raw(r#"{"a":1,"b":2}"#);
        assert_ne!(base, cache_key("tools/call", "app.optimize.other", Some(&args), "public"));
        assert_ne!(base, cache_key("resources/read", "app.optimize.lineup", Some(&args), "public"));
    }

    #[test]
    fn array_order_matters() {
        assert_ne!(key("[1,2]", "public"), key("[2,1]", "public"));
    }

    #[test]
    fn absent_arguments_differ_from_empty_ones() {
        let none = cache_key("tools/call", "t", None, "public");
        assert_eq!(none, cache_key("tools/call", "t", None, "public"));
        assert_ne!(none, cache_key("tools/call", "t", Some(&raw("{}")), "public"));
        assert_ne!(none, cache_key("tools/call", "t", Some(&raw("null")), "public"));
    }

    #[test]
    fn parts_cannot_run_into_each_other() {
        let args = raw("{}");
        assert_ne!(cache_key("k", "a.b", Some(&args), "c"), cache_key("k", "a", Some(&args), ".bc"));
    }

    #[test]
    fn canonical_form_decodes_escapes_and_normalises_numbers() {
        assert_eq!(canonical_json(&raw(r#"{"b":"\u00e9","a":1e2}"#)), r#"{"a":100.0,"b":"é"}"#);
        assert_ne!(canonical_json(&raw("1")), canonical_json(&raw("1.0")));
        assert_eq!(canonical_json(&raw(r#"{"a":1,"a":2}"#)), r#"{"a":2}"#);
        assert_eq!(canonical_json(&raw(r#"{"q\"k":"line\nbreak"}"#)), r#"{"q\"k":"line\nbreak"}"#);
    }

    #[test]
    fn text_already_canonical_is_recognised_and_keys_the_same() {
        for (text, canonical) in [
            (r#"{"text":"hello 1"}"#, true),
            (r#"{"a":1,"b":[true,false,null,-5,0],"c":{"x":"ü","y":{}}}"#, true),
            ("[]", true),
            ("123456789012345678", true),
            (r#"{"b":1,"a":2}"#, false),
            (r#"{"a":1,"a":2}"#, false),
            (r#"{"a": 1}"#, false),
            (r#"{"a":"\u00e9"}"#, false),
            (r#"{"a":1.0}"#, false),
            (r#"{"a":1e2}"#, false),
            (r#"{"a":-0}"#, false),
            (r#"{"a":0}"#, true),
            ("1234567890123456789", false),
            (r#"{"k":[{"b":1,"a":2}]}"#, false),
            (r#"{"a":{"z":1},"b":{"a":1}}"#, true),
        ] {
            assert_eq!(is_canonical(text.as_bytes()), canonical, "{text}");
            if canonical {
                assert_eq!(canonical_json(&raw(text)), text, "{text} is what the slow path prints too");
            }
        }
    }

    proptest::proptest! {
        /// The fast path never changes a key: whatever it accepts, the slow path prints unchanged.
        #[test]
        fn the_fast_path_agrees_with_the_slow_one(value in json_value(3)) {
            let text = serde_json::to_string(&value).unwrap();
            if is_canonical(text.as_bytes()) {
                proptest::prop_assert_eq!(canonical_json(&raw(&text)), text);
            }
        }
    }

    fn json_value(depth: u32) -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            (-1000i64..1000).prop_map(Value::from),
            any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
            "[a-c\\u{e9}\"\\\\ ]{0,4}".prop_map(Value::from),
        ];
        leaf.prop_recursive(depth, 32, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                proptest::collection::vec(("[a-c]{0,2}", inner), 0..4)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    #[test]
    fn scope_pieces_hash_like_their_concatenation() {
        let args = raw(r#"{"a":1}"#);
        assert_eq!(
            cache_key("tools/call", "t", Some(&args), "client:ab12:7"),
            cache_key_scoped("tools/call", "t", Some(&args), &["client:", "ab12", ":", "7"])
        );
    }

    #[test]
    fn hex_is_stable() {
        let k = cache_key("tools/call", "t", None, "public");
        assert_eq!(k.to_hex().len(), 64);
        assert_eq!(k.to_string(), k.to_hex());
        assert!(format!("{k:?}").contains(&k.to_hex()));
    }
}
