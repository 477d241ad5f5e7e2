//! The JSON-RPC 2.0 envelope and the MCP names the gateway needs.
//!
//! The gateway reads only the envelope of a message (`id`, `method`, and where it must, `params.name` and
//! `params._meta`); `params`, `result` and `error` stay [`RawValue`] slices of the bytes that arrived and are
//! copied into outgoing frames untouched. Nothing here re-serializes a payload it does not change.

use std::borrow::Cow;
use std::fmt;

use bytes::Bytes;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

/// The protocol revision the gateway speaks by default on its stdio front and toward legacy downstreams.
pub(crate) const LATEST_LEGACY_VERSION: &str = "2025-11-25";

/// Legacy-era revisions a client may ask for and get back unchanged in `initialize`.
pub(crate) const SUPPORTED_LEGACY_VERSIONS: &[&str] = &["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"];

/// The protocol revision of the modern era (stateless requests, `server/discover`, per-request `_meta`).
pub(crate) const MODERN_VERSION: &str = "2026-07-28";

/// `_meta` keys of the modern era.
pub(crate) mod meta {
    pub(crate) const PROTOCOL_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
    pub(crate) const CLIENT_CAPABILITIES: &str = "io.modelcontextprotocol/clientCapabilities";
    pub(crate) const CLIENT_INFO: &str = "io.modelcontextprotocol/clientInfo";
    pub(crate) const LOG_LEVEL: &str = "io.modelcontextprotocol/logLevel";
    pub(crate) const SERVER_INFO: &str = "io.modelcontextprotocol/serverInfo";
    pub(crate) const SUBSCRIPTION_ID: &str = "io.modelcontextprotocol/subscriptionId";
}

/// JSON-RPC and gateway error codes. The gateway's own codes live in the implementation-defined server-error
/// range (-32000 to -32099) so clients can tell them from a downstream's errors by `data.gateway`.
/// Position of the byte string literal `$needle` in `$hay`, with the searcher built once per call site (building
/// a `memmem` finder costs more than searching a short frame).
#[macro_export]
macro_rules! find_bytes {
    ($hay:expr, $needle:literal) => {{
        static FINDER: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
            std::sync::LazyLock::new(|| memchr::memmem::Finder::new($needle));
        FINDER.find($hay)
    }};
}

pub(crate) mod code {
    pub(crate) const PARSE_ERROR: i64 = -32700;
    pub(crate) const INVALID_REQUEST: i64 = -32600;
    pub(crate) const METHOD_NOT_FOUND: i64 = -32601;
    pub(crate) const INVALID_PARAMS: i64 = -32602;
    pub(crate) const INTERNAL_ERROR: i64 = -32603;
    /// The downstream did not answer in time.
    pub(crate) const TIMEOUT: i64 = -32001;
    /// The downstream is not available: it crashed, failed to start, or is restarting.
    pub(crate) const SERVER_UNAVAILABLE: i64 = -32002;
    /// The gateway is overloaded for that server (too many calls in flight).
    pub(crate) const OVERLOADED: i64 = -32003;
    /// A policy rule denies the call.
    pub(crate) const DENIED: i64 = -32004;
    /// The server's circuit breaker is open: calls fail fast until a probe succeeds.
    pub(crate) const CIRCUIT_OPEN: i64 = -32005;
    /// A policy rate limit refuses the call; `data` says the limit and when to retry.
    pub(crate) const RATE_LIMITED: i64 = -32006;
    /// 2026-07-28: an HTTP header does not match the body.
    pub(crate) const HEADER_MISMATCH: i64 = -32020;
    /// 2026-07-28: the server needs a client capability the request did not declare.
    pub(crate) const MISSING_CLIENT_CAPABILITY: i64 = -32021;
    /// 2026-07-28: the protocol version is not served (`data: {supported, requested}`).
    pub(crate) const UNSUPPORTED_VERSION: i64 = -32022;
}

/// One JSON-RPC message, borrowed from the bytes it was parsed from.
///
/// `id` is kept raw so that the exact bytes the peer used (`7`, `"abc"`) go back unchanged. A missing `id` is a
/// notification; `"id": null` is kept as `Some("null")` and treated as a request with a null id.
#[derive(Debug, Deserialize)]
pub(crate) struct Envelope<'a> {
    /// Must be `"2.0"` in what clients send ([`Envelope::parse_client`]); downstream frames are not held to it.
    #[serde(borrow, default)]
    pub(crate) jsonrpc: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "present")]
    pub(crate) id: Option<&'a RawValue>,
    /// A string when present (`null` is not a method: refused, not read as absent).
    #[serde(borrow, default, deserialize_with = "method")]
    pub(crate) method: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub(crate) params: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    pub(crate) result: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub(crate) error: Option<&'a RawValue>,
}

/// A member that is present is `Some`, even when it is `null` (serde's `Option` would make `null` a `None`,
/// turning a request with `"id": null` into a notification).
fn present<'de: 'a, 'a, D: Deserializer<'de>>(d: D) -> Result<Option<&'a RawValue>, D::Error> {
    <&'a RawValue>::deserialize(d).map(Some)
}

/// `method`, borrowed when it holds no escapes; present means a string.
fn method<'de: 'a, 'a, D: Deserializer<'de>>(d: D) -> Result<Option<Cow<'a, str>>, D::Error> {
    Text::deserialize(d).map(|t| Some(t.0))
}

/// What kind of message an envelope is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Request,
    Notification,
    Response,
    Invalid,
}

impl<'a> Envelope<'a> {
    /// Parses the envelope of one frame. Fails on anything that is not a JSON object: serde would read a JSON
    /// array as the struct's members by position, so `[1,"tools/list"]` would pass for a request.
    pub(crate) fn parse(frame: &'a [u8]) -> Result<Self, serde_json::Error> {
        match first_byte(frame) {
            Some(b'{') => serde_json::from_slice(frame),
            Some(b'[') => {
                serde_json::from_slice::<&RawValue>(frame)?; // not JSON at all is a parse error
                Err(serde::de::Error::custom("a JSON array is not a JSON-RPC message"))
            }
            _ => {
                // Anything else: let serde say what is wrong (not JSON, a string, a number...), or that it is not
                // an object.
                serde_json::from_slice::<&RawValue>(frame)?;
                Err(serde::de::Error::custom("a JSON-RPC message must be a JSON object"))
            }
        }
    }

    /// Parses a frame a client sent and holds it to JSON-RPC 2.0 as MCP uses it: one object per frame (batches
    /// are not part of MCP since 2025-06-18, and neither era the gateway speaks has them), `"jsonrpc": "2.0"`,
    /// an id that is a string or an integer.
    pub(crate) fn parse_client(frame: &'a [u8]) -> Result<Self, Refused> {
        if first_byte(frame) == Some(b'[') && serde_json::from_slice::<&RawValue>(frame).is_ok() {
            return Err(Refused::new(
                code::INVALID_REQUEST,
                None,
                "Invalid Request: JSON-RPC batches are not supported (MCP removed them in 2025-06-18; \
                 2025-11-25 and 2026-07-28 take one message per frame); send the messages one by one",
            ));
        }
        let env = Envelope::parse(frame).map_err(|e| match e.classify() {
            serde_json::error::Category::Data => {
                Refused::new(code::INVALID_REQUEST, None, format!("Invalid Request: {e}"))
            }
            _ => Refused::new(code::PARSE_ERROR, None, format!("Parse error: {e}")),
        })?;
        let id = match env.id {
            Some(id) if !is_string_or_integer(id) => {
                let msg = format!("Invalid Request: the id must be a string or an integer, not {}", clip(id.get()));
                return Err(Refused::new(code::INVALID_REQUEST, None, msg));
            }
            id => id,
        };
        if env.jsonrpc.as_deref() != Some("2.0") {
            let msg = match env.jsonrpc.as_deref() {
                None => "Invalid Request: \"jsonrpc\": \"2.0\" is missing".to_owned(),
                Some(v) => format!("Invalid Request: \"jsonrpc\" must be \"2.0\", not {:?}", clip(v)),
            };
            return Err(Refused::new(code::INVALID_REQUEST, id, msg));
        }
        Ok(env)
    }

    pub(crate) fn kind(&self) -> Kind {
        match (&self.method, &self.id) {
            (Some(_), Some(_)) => Kind::Request,
            (Some(_), None) => Kind::Notification,
            (None, Some(_)) if self.result.is_some() || self.error.is_some() => Kind::Response,
            _ => Kind::Invalid,
        }
    }
}

/// A client frame the gateway does not take, and the error response it gets.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message} ({code})")]
pub(crate) struct Refused {
    /// -32700 (not JSON) or -32600 (JSON, but not a JSON-RPC 2.0 message MCP allows).
    pub(crate) code: i64,
    /// The request's id when it could be read and is valid; the answer carries `null` otherwise.
    pub(crate) id: Option<Box<RawValue>>,
    pub(crate) message: String,
}

impl Refused {
    fn new(code: i64, id: Option<&RawValue>, message: impl Into<String>) -> Self {
        Refused { code, id: id.map(ToOwned::to_owned), message: message.into() }
    }

    /// The error response to send back.
    pub(crate) fn to_frame(&self) -> Bytes {
        let id = self.id.clone().unwrap_or_else(null_id);
        error_frame(&id, self.code, &self.message, None)
    }
}

/// The first byte that is not JSON whitespace.
fn first_byte(frame: &[u8]) -> Option<u8> {
    frame.iter().copied().find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
}

/// A JSON string, or a number written without fraction or exponent.
fn is_string_or_integer(id: &RawValue) -> bool {
    let s = id.get().trim();
    if s.starts_with('"') {
        return true; // RawValue holds valid JSON: a leading quote is a whole string
    }
    let digits = s.strip_prefix('-').unwrap_or(s);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// At most 40 characters of `s`, for messages that quote what a client sent.
fn clip(s: &str) -> String {
    match s.char_indices().nth(40) {
        Some((at, _)) => format!("{}...", &s[..at]),
        None => s.to_owned(),
    }
}

/// A JSON object kept as its members' raw values, in order, so that one member can be replaced and the rest
/// written back byte for byte (e.g. `tools/call` params whose `name` changes while `arguments` must not).
#[derive(Debug, Default)]
pub(crate) struct RawObject<'a> {
    pub(crate) members: Vec<(Cow<'a, str>, &'a RawValue)>,
}

impl<'a> RawObject<'a> {
    pub(crate) fn parse(raw: &'a RawValue) -> Result<Self, serde_json::Error> {
        serde_json::from_str(raw.get())
    }

    pub(crate) fn get(&self, key: &str) -> Option<&'a RawValue> {
        self.members.iter().find(|(k, _)| k == key).map(|(_, v)| *v)
    }

    /// The member as a string, when it is one.
    pub(crate) fn get_str(&self, key: &str) -> Option<Cow<'a, str>> {
        self.get(key).and_then(|v| serde_json::from_str::<Text<'a>>(v.get()).ok()).map(|t| t.0)
    }

    /// Writes the object back with `key` set to the JSON string `value` (added if absent).
    pub(crate) fn write_with_str(&self, key: &str, value: &str, out: &mut Vec<u8>) {
        self.write_with(key, out, |out| write_json_str(out, value));
    }

    /// Writes the object back with `key` set to `value`, which must be JSON text (added if absent).
    pub(crate) fn write_with_raw(&self, key: &str, value: &[u8], out: &mut Vec<u8>) {
        self.write_with(key, out, |out| out.extend_from_slice(value));
    }

    fn write_with(&self, key: &str, out: &mut Vec<u8>, value: impl Fn(&mut Vec<u8>)) {
        out.push(b'{');
        let mut first = true;
        let mut replaced = false;
        for (k, v) in &self.members {
            if !first {
                out.push(b',');
            }
            first = false;
            write_json_str(out, k);
            out.push(b':');
            if k == key {
                value(out);
                replaced = true;
            } else {
                out.extend_from_slice(v.get().as_bytes());
            }
        }
        if !replaced {
            if !first {
                out.push(b',');
            }
            write_json_str(out, key);
            out.push(b':');
            value(out);
        }
        out.push(b'}');
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for RawObject<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = RawObject<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
                let mut members = Vec::with_capacity(map.size_hint().unwrap_or(4));
                while let Some(Text(key)) = map.next_key::<Text<'de>>()? {
                    let value: &'de RawValue = map.next_value()?;
                    members.push((key, value));
                }
                Ok(RawObject { members })
            }
        }
        deserializer.deserialize_map(V(std::marker::PhantomData))
    }
}

/// A JSON string borrowed from the input when it holds no escapes. (serde's own `Cow<str>` always copies unless
/// a derived field says `#[serde(borrow)]`: an allocation per object key and per name read on the call path.)
struct Text<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Text<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(V(std::marker::PhantomData))
    }
}

/// An object (params or a result) with `members` (JSON object members, without braces) merged into its `_meta`:
/// the new members first, then the old ones except those named with `drop_prefix`. Everything else is kept.
pub(crate) fn merge_meta(object: Option<&[u8]>, members: &[u8], drop_prefix: Option<&str>) -> Vec<u8> {
    let raw: Option<&RawValue> = object.and_then(|p| serde_json::from_slice(p).ok());
    let obj = raw.and_then(|r| RawObject::parse(r).ok()).unwrap_or_default();
    let mut new_meta = Vec::with_capacity(members.len() + 64);
    new_meta.push(b'{');
    new_meta.extend_from_slice(members);
    if let Some(old) = obj.get("_meta").and_then(|m| RawObject::parse(m).ok()) {
        for (k, v) in &old.members {
            if drop_prefix.is_some_and(|p| k.starts_with(p)) || k.is_empty() {
                continue;
            }
            new_meta.push(b',');
            write_json_str(&mut new_meta, k);
            new_meta.push(b':');
            new_meta.extend_from_slice(v.get().as_bytes());
        }
    }
    new_meta.push(b'}');
    let mut out = Vec::with_capacity(new_meta.len() + object.map_or(2, <[u8]>::len));
    obj.write_with_raw("_meta", &new_meta, &mut out);
    out
}

/// Writes `s` as a JSON string literal.
pub(crate) fn write_json_str(out: &mut Vec<u8>, s: &str) {
    // serde_json's escaping is the reference; strings here are short names, so the call is cheap.
    serde_json::to_writer(&mut *out, s).expect("writing to a Vec cannot fail");
}

/// The `progressToken` inside `params._meta`, if the request carries one.
pub(crate) fn progress_token(params: &RawObject<'_>) -> Option<Box<RawValue>> {
    #[derive(Deserialize)]
    struct Meta<'a> {
        #[serde(borrow, rename = "progressToken")]
        progress_token: Option<&'a RawValue>,
    }
    let meta = params.get("_meta")?;
    let meta: Meta<'_> = serde_json::from_str(meta.get()).ok()?;
    meta.progress_token.map(|t| t.to_owned())
}

/// Builds `{"jsonrpc":"2.0","id":<id>,"result":<result>}\n`.
pub(crate) fn response_frame(id: &RawValue, result: &RawValue) -> Bytes {
    frame_with(id, "result", result.get().as_bytes())
}

/// Like [`response_frame`], for a result already held as JSON bytes (e.g. the pre-serialized tool list).
pub(crate) fn response_frame_bytes(id: &RawValue, result: &[u8]) -> Bytes {
    frame_with(id, "result", result)
}

/// Builds `{"jsonrpc":"2.0","id":<id>,"error":<error>}\n` from an error object the downstream sent.
pub(crate) fn raw_error_frame(id: &RawValue, error: &RawValue) -> Bytes {
    frame_with(id, "error", error.get().as_bytes())
}

// The frame builders size their buffer exactly: `Bytes::from` a vector with spare capacity allocates a second
// block to share it, one more allocation per frame.
fn frame_with(id: &RawValue, member: &str, payload: &[u8]) -> Bytes {
    let id = id.get().as_bytes();
    let mut out = Vec::with_capacity(28 + id.len() + member.len() + payload.len());
    out.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"id\":");
    out.extend_from_slice(id);
    out.extend_from_slice(b",\"");
    out.extend_from_slice(member.as_bytes());
    out.extend_from_slice(b"\":");
    out.extend_from_slice(payload);
    out.extend_from_slice(b"}\n");
    Bytes::from(out)
}

/// Builds a JSON-RPC error response. `data` is attached as given.
pub(crate) fn error_frame(id: &RawValue, code: i64, message: &str, data: Option<serde_json::Value>) -> Bytes {
    let mut error = serde_json::json!({ "code": code, "message": message });
    if let Some(data) = data {
        error["data"] = data;
    }
    let error = serde_json::value::to_raw_value(&error).expect("a JSON value serializes");
    raw_error_frame(id, &error)
}

/// Builds a request frame `{"jsonrpc":"2.0","id":<n>,"method":<m>,"params":<p>}\n` with a numeric id.
pub(crate) fn request_frame(id: u64, method: &str, params: Option<&[u8]>) -> Bytes {
    let mut digits = itoa::Buffer::new();
    let id = digits.format(id).as_bytes();
    // Exact unless the method needs escapes (it never does in practice).
    let mut out = Vec::with_capacity(36 + id.len() + method.len() + params.map_or(0, |p| 10 + p.len()));
    out.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"id\":");
    out.extend_from_slice(id);
    out.extend_from_slice(b",\"method\":");
    write_json_str(&mut out, method);
    if let Some(params) = params {
        out.extend_from_slice(b",\"params\":");
        out.extend_from_slice(params);
    }
    out.extend_from_slice(b"}\n");
    Bytes::from(out)
}

/// Builds a notification frame `{"jsonrpc":"2.0","method":<m>,"params":<p>}\n`.
pub(crate) fn notification_frame(method: &str, params: Option<&[u8]>) -> Bytes {
    let mut out = Vec::with_capacity(48 + method.len() + params.map_or(0, <[u8]>::len));
    out.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"method\":");
    write_json_str(&mut out, method);
    if let Some(params) = params {
        out.extend_from_slice(b",\"params\":");
        out.extend_from_slice(params);
    }
    out.extend_from_slice(b"}\n");
    Bytes::from(out)
}

/// Parses a downstream response id that the gateway assigned (always a non-negative integer, but some servers
/// echo it back as a string).
pub(crate) fn parse_downstream_id(id: &RawValue) -> Option<u64> {
    let s = id.get().trim();
    let s = s.strip_prefix('"').and_then(|s| s.strip_suffix('"')).unwrap_or(s);
    s.parse().ok()
}

/// Best effort: find the `"id"` of a frame that was too large to parse, from its first bytes, so that the
/// request it answers can be failed at once instead of timing out.
pub(crate) fn sniff_id(prefix: &[u8]) -> Option<Box<RawValue>> {
    let pos = crate::find_bytes!(prefix, b"\"id\"")?;
    let rest = &prefix[pos + 4..];
    let rest = rest.iter().position(|b| *b == b':').map(|p| &rest[p + 1..])?;
    let start = rest.iter().position(|b| !b.is_ascii_whitespace())?;
    let rest = &rest[start..];
    let end = if rest.first() == Some(&b'"') {
        rest[1..].iter().position(|b| *b == b'"').map(|p| p + 2)?
    } else {
        rest.iter().position(|b| !(b.is_ascii_digit() || *b == b'-')).unwrap_or(rest.len())
    };
    let text = std::str::from_utf8(&rest[..end]).ok()?;
    RawValue::from_string(text.to_owned()).ok()
}

/// The text a raw JSON value compares by (ids and progress tokens): its bytes without surrounding space.
pub(crate) fn raw_key(v: &RawValue) -> &str {
    v.get().trim()
}

/// `null`, as a raw value, for responses to frames whose id could not be read.
pub(crate) fn null_id() -> Box<RawValue> {
    RawValue::from_string("null".to_owned()).expect("null is JSON")
}

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_keys_and_names_borrow_unless_escaped() {
        let raw: &RawValue = serde_json::from_str(r#"{"name":"app__x__echo","n\u0061me2":"a\"b","k":1}"#).unwrap();
        let obj = RawObject::parse(raw).unwrap();
        assert!(matches!(obj.members[0].0, Cow::Borrowed("name")));
        assert!(matches!(obj.members[1].0, Cow::Owned(ref k) if k == "name2"));
        assert!(matches!(obj.get_str("name"), Some(Cow::Borrowed("app__x__echo"))));
        assert_eq!(obj.get_str("name2").as_deref(), Some("a\"b"));
        assert_eq!(obj.get_str("k"), None, "not a string");
    }

    #[test]
    fn frames_are_built_in_buffers_of_their_exact_size() {
        let id: &RawValue = serde_json::from_str("\"a-1\"").unwrap();
        for frame in [
            request_frame(12345, "tools/call", Some(br#"{"name":"x"}"#)),
            request_frame(7, "ping", None),
            response_frame_bytes(id, br#"{"content":[]}"#),
            raw_error_frame(id, serde_json::from_str(r#"{"code":1}"#).unwrap()),
        ] {
            // A vector of exactly its length turns into `Bytes` without a second allocation; the content must
            // still be one JSON line.
            assert!(frame.ends_with(b"}\n"));
            serde_json::from_slice::<serde_json::Value>(&frame).unwrap();
        }
        let mut digits = itoa::Buffer::new();
        let expected = 36 + digits.format(12345u64).len() + "tools/call".len() + 10 + br#"{"name":"x"}"#.len();
        assert_eq!(request_frame(12345, "tools/call", Some(br#"{"name":"x"}"#)).len(), expected);
        assert_eq!(response_frame_bytes(id, b"{}").len(), 28 + 5 + "result".len() + 2);
    }

    #[test]
    fn envelope_kinds() {
        let req = br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;
        assert_eq!(Envelope::parse(req).unwrap().kind(), Kind::Request);
        let note = br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;
        assert_eq!(Envelope::parse(note).unwrap().kind(), Kind::Notification);
        let resp = br#"{"jsonrpc":"2.0","id":"a","result":{}}"#;
        assert_eq!(Envelope::parse(resp).unwrap().kind(), Kind::Response);
        let null_id = br#"{"jsonrpc":"2.0","id":null,"method":"ping"}"#;
        assert_eq!(Envelope::parse(null_id).unwrap().id.unwrap().get(), "null");
        assert!(Envelope::parse(b"not json").is_err());
        assert!(Envelope::parse(b"[1,2]").is_err());
    }

    #[test]
    fn a_json_array_is_not_a_positional_request() {
        // serde reads a sequence into a struct by position: without the object check this was a `ping` with id 1.
        let positional = br#"[null, 1, "ping"]"#;
        assert!(Envelope::parse(positional).is_err());
        assert!(Envelope::parse(br#" [1, "ping"]"#).is_err());
        let refused = Envelope::parse_client(positional).unwrap_err();
        assert_eq!(refused.code, code::INVALID_REQUEST, "{refused}");
        assert!(refused.message.contains("batches"), "{refused}");
    }

    #[test]
    fn clients_are_held_to_json_rpc_2() {
        let ok = |f: &str| Envelope::parse_client(f.as_bytes()).map(|e| e.kind()).map_err(|e| e.message);
        assert_eq!(ok(r#"{"jsonrpc":"2.0","id":7,"method":"ping"}"#), Ok(Kind::Request));
        assert_eq!(ok(r#"{"jsonrpc":"2.0","id":"a","method":"ping"}"#), Ok(Kind::Request));
        assert_eq!(ok(r#"{"jsonrpc":"2.0","id":-3,"result":{}}"#), Ok(Kind::Response));
        assert_eq!(ok(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#), Ok(Kind::Notification));
        let refused = |f: &str| Envelope::parse_client(f.as_bytes()).unwrap_err();
        for (frame, code, id) in [
            (r#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#, code::INVALID_REQUEST, None),
            (r#"{"id":1,"method":"ping"}"#, code::INVALID_REQUEST, Some("1")),
            (r#"{"jsonrpc":"1.0","id":"x","method":"ping"}"#, code::INVALID_REQUEST, Some(r#""x""#)),
            (r#"{"jsonrpc":2.0,"id":1,"method":"ping"}"#, code::INVALID_REQUEST, None),
            (r#"{"jsonrpc":"2.0","id":1.5,"method":"ping"}"#, code::INVALID_REQUEST, None),
            (r#"{"jsonrpc":"2.0","id":1e3,"method":"ping"}"#, code::INVALID_REQUEST, None),
            (r#"{"jsonrpc":"2.0","id":null,"method":"ping"}"#, code::INVALID_REQUEST, None),
            (r#"{"jsonrpc":"2.0","id":true,"method":"ping"}"#, code::INVALID_REQUEST, None),
            (r#"{"jsonrpc":"2.0","id":{"a":1},"method":"ping"}"#, code::INVALID_REQUEST, None),
            (r#"{"jsonrpc":"2.0","id":[1],"method":"ping"}"#, code::INVALID_REQUEST, None),
            (r#""just a string""#, code::INVALID_REQUEST, None),
            (r#"{"jsonrpc":"2.0","id":1,"method":"ping""#, code::PARSE_ERROR, None),
            ("not json", code::PARSE_ERROR, None),
        ] {
            let r = refused(frame);
            assert_eq!((r.code, r.id.as_deref().map(RawValue::get)), (code, id), "{frame}: {r}");
            let answer: serde_json::Value = serde_json::from_slice(&r.to_frame()).unwrap();
            assert_eq!(answer["error"]["code"], code);
            assert_eq!(
                answer["id"]
                    .as_str()
                    .map(|s| format!("{s:?}"))
                    .or_else(|| answer["id"].as_i64().map(|i| i.to_string()))
                    .as_deref(),
                id,
                "{frame}"
            );
        }
    }

    #[test]
    fn raw_object_replaces_one_member_and_keeps_the_rest_byte_for_byte() {
        let params = r#"{"name":"app__x__echo","arguments":{"b": 1,  "a":[1, 2.50]},"_meta":{"progressToken":"t1"}}"#;
        let raw: &RawValue = serde_json::from_str(params).unwrap();
        let obj = RawObject::parse(raw).unwrap();
        assert_eq!(obj.get_str("name").unwrap(), "app__x__echo");
        let mut out = Vec::new();
        obj.write_with_str("name", "echo", &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"name":"echo","arguments":{"b": 1,  "a":[1, 2.50]},"_meta":{"progressToken":"t1"}}"#
        );
        assert_eq!(progress_token(&obj).unwrap().get(), r#""t1""#);
    }

    #[test]
    fn frames_keep_ids_and_payloads() {
        let id: &RawValue = serde_json::from_str(r#""abc""#).unwrap();
        let result: &RawValue = serde_json::from_str(r#"{"x": 1}"#).unwrap();
        assert_eq!(&response_frame(id, result)[..], b"{\"jsonrpc\":\"2.0\",\"id\":\"abc\",\"result\":{\"x\": 1}}\n");
        assert_eq!(
            &request_frame(7, "tools/call", Some(b"{}"))[..],
            b"{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/call\",\"params\":{}}\n"
        );
        let err = error_frame(id, code::METHOD_NOT_FOUND, "nope", None);
        let v: serde_json::Value = serde_json::from_slice(&err).unwrap();
        assert_eq!(v["error"]["code"], -32601);
        assert_eq!(v["id"], "abc");
    }

    #[test]
    fn downstream_ids_and_sniffing() {
        let id: &RawValue = serde_json::from_str("42").unwrap();
        assert_eq!(parse_downstream_id(id), Some(42));
        let id: &RawValue = serde_json::from_str(r#""42""#).unwrap();
        assert_eq!(parse_downstream_id(id), Some(42));
        assert_eq!(sniff_id(br#"{"jsonrpc":"2.0","id": 17,"result":{"content":[{"#).unwrap().get(), "17");
        assert_eq!(sniff_id(br#"{"id":"x-1","method":"tools/call","params":{"#).unwrap().get(), r#""x-1""#);
        assert!(sniff_id(br#"{"result":{"content":"#).is_none());
    }
}
