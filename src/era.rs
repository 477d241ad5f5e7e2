//! The two protocol eras the gateway speaks on both sides: 2025-11-25 ("legacy": `initialize` handshake,
//! sessions, server→client requests) and 2026-07-28 ("modern": `server/discover`, a protocol version and client
//! capabilities in every request's `_meta`, `resultType` on every result, multi-round-trip input requests).
//!
//! A request is modern when its `params._meta` names a protocol version; everything else is legacy. The helpers
//! here validate the modern envelope, complete results a legacy server produced so that a modern client accepts
//! them, and add the envelope to requests bound for a modern server.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::protocol::{code, meta, write_json_str, RawObject, MODERN_VERSION};

/// The era of one side of a conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Era {
    #[default]
    Legacy,
    Modern,
}

/// The modern envelope of one request.
#[derive(Debug)]
pub(crate) struct Envelope<'a> {
    /// `io.modelcontextprotocol/clientCapabilities`, as sent.
    pub(crate) client_caps: &'a RawValue,
    /// `io.modelcontextprotocol/logLevel`, when the client wants log messages for this request. Read, but not
    /// acted on yet: server log messages reach a modern client through its listen stream regardless.
    #[allow(dead_code)]
    pub(crate) log_level: Option<Cow<'a, str>>,
    /// `io.modelcontextprotocol/clientInfo.name`: the client's identity for policy.
    pub(crate) client_name: Option<String>,
}

/// Why a modern request was refused, as a JSON-RPC error.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct EnvelopeError {
    pub(crate) code: i64,
    pub(crate) message: String,
    pub(crate) data: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct MetaKeys<'a> {
    #[serde(borrow, default, rename = "io.modelcontextprotocol/protocolVersion")]
    version: Option<&'a RawValue>,
    #[serde(borrow, default, rename = "io.modelcontextprotocol/clientCapabilities")]
    caps: Option<&'a RawValue>,
    #[serde(borrow, default, rename = "io.modelcontextprotocol/logLevel")]
    log_level: Option<Cow<'a, str>>,
    #[serde(default, rename = "io.modelcontextprotocol/clientInfo")]
    client_info: Option<ClientInfo>,
}

#[derive(Deserialize)]
struct ClientInfo {
    name: Option<String>,
}

/// `Ok(None)`: a legacy request. `Ok(Some(..))`: a valid modern request. `Err`: a modern request whose envelope is
/// incomplete (-32602) or names a version the gateway does not serve (-32022). `server/discover` is always modern.
pub(crate) fn classify<'a>(method: &str, params: Option<&'a RawValue>) -> Result<Option<Envelope<'a>>, EnvelopeError> {
    let keys = params
        .and_then(|p| RawObject::parse(p).ok())
        .and_then(|o| o.get("_meta"))
        .and_then(|m| serde_json::from_str::<MetaKeys<'a>>(m.get()).ok());
    let keys = match keys {
        Some(k) if k.version.is_some() => k,
        _ if method == "server/discover" => return Err(missing_envelope()),
        _ => return Ok(None),
    };
    let Some(caps) = keys.caps else { return Err(missing_envelope()) };
    let version = keys.version.expect("checked above");
    let requested: Option<Cow<'_, str>> = serde_json::from_str(version.get()).ok();
    match requested.as_deref() {
        Some(MODERN_VERSION) => Ok(Some(Envelope {
            client_caps: caps,
            log_level: keys.log_level,
            client_name: keys.client_info.and_then(|c| c.name),
        })),
        Some(other) => Err(EnvelopeError {
            code: code::UNSUPPORTED_VERSION,
            message: "Unsupported protocol version".into(),
            data: Some(serde_json::json!({ "supported": [MODERN_VERSION], "requested": other })),
        }),
        None => Err(EnvelopeError {
            code: code::INVALID_PARAMS,
            message: format!("params._meta[\"{}\"] must be a string", meta::PROTOCOL_VERSION),
            data: None,
        }),
    }
}

fn missing_envelope() -> EnvelopeError {
    EnvelopeError {
        code: code::INVALID_PARAMS,
        message: format!(
            "params._meta must be an object carrying the required '{}' and '{}' envelope keys",
            meta::PROTOCOL_VERSION,
            meta::CLIENT_CAPABILITIES
        ),
        data: None,
    }
}

/// Methods a modern client may no longer use (answered -32601 like any unknown method).
pub(crate) fn removed_in_modern(method: &str) -> bool {
    matches!(method, "initialize" | "ping" | "logging/setLevel" | "resources/subscribe" | "resources/unsubscribe")
}

/// Results that carry cache hints in the modern era.
pub(crate) fn is_cacheable(method: &str) -> bool {
    matches!(
        method,
        "server/discover"
            | "tools/list"
            | "prompts/list"
            | "resources/list"
            | "resources/templates/list"
            | "resources/read"
    )
}

/// The members a gateway-made modern result ends with.
pub(crate) fn completion_members(cacheable: bool) -> &'static str {
    if cacheable {
        r#""resultType":"complete","ttlMs":0,"cacheScope":"private""#
    } else {
        r#""resultType":"complete""#
    }
}

/// A result from a legacy server, completed for a modern client: `resultType` (and, for cacheable results,
/// `ttlMs: 0` and `cacheScope: "private"`, the safe defaults) added when absent. Unchanged otherwise.
pub(crate) fn complete_result(result: &[u8], cacheable: bool) -> Cow<'_, [u8]> {
    if crate::find_bytes!(result, b"\"resultType\"").is_some() {
        return Cow::Borrowed(result);
    }
    let Some(close) = result.iter().rposition(|b| *b == b'}') else { return Cow::Borrowed(result) };
    let inner_empty = result[..close].iter().rev().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    let mut out = Vec::with_capacity(result.len() + 64);
    out.extend_from_slice(&result[..close]);
    if !inner_empty {
        out.push(b',');
    }
    out.extend_from_slice(completion_members(cacheable).as_bytes());
    out.extend_from_slice(&result[close..]);
    Cow::Owned(out)
}

/// The modern envelope the gateway sends with its own requests and with a legacy client's requests to a modern
/// server: version, the client's capabilities, and the gateway as client.
pub(crate) fn envelope_members(client_caps: &str, log_level: Option<&str>) -> Vec<u8> {
    let mut out = Vec::with_capacity(160 + client_caps.len());
    write_json_str(&mut out, meta::PROTOCOL_VERSION);
    out.push(b':');
    write_json_str(&mut out, MODERN_VERSION);
    out.push(b',');
    write_json_str(&mut out, meta::CLIENT_CAPABILITIES);
    out.push(b':');
    out.extend_from_slice(client_caps.as_bytes());
    out.push(b',');
    write_json_str(&mut out, meta::CLIENT_INFO);
    out.extend_from_slice(br#":{"name":"dfs-gateway","version":""#);
    out.extend_from_slice(env!("CARGO_PKG_VERSION").as_bytes());
    out.extend_from_slice(b"\"}");
    if let Some(level) = log_level {
        out.push(b',');
        write_json_str(&mut out, meta::LOG_LEVEL);
        out.push(b':');
        write_json_str(&mut out, level);
    }
    out
}

/// Params with the envelope members merged into `_meta` (kept: everything else, and `_meta` members such as a
/// progress token, unless the envelope replaces them).
pub(crate) fn with_envelope(params: Option<&[u8]>, envelope: &[u8]) -> Vec<u8> {
    crate::protocol::merge_meta(params, envelope, Some("io.modelcontextprotocol/"))
}

/// Params with the modern envelope keys taken out of `_meta` (for a legacy server, which may refuse them); `None`
/// when there were none, so the params go unchanged.
pub(crate) fn without_envelope(params: &[u8]) -> Option<Vec<u8>> {
    crate::find_bytes!(params, b"io.modelcontextprotocol/")?;
    let raw: &RawValue = serde_json::from_slice(params).ok()?;
    let obj = RawObject::parse(raw).ok()?;
    let old = RawObject::parse(obj.get("_meta")?).ok()?;
    let mut kept = Vec::with_capacity(64);
    kept.push(b'{');
    for (k, v) in old.members.iter().filter(|(k, _)| !k.starts_with("io.modelcontextprotocol/")) {
        if kept.len() > 1 {
            kept.push(b',');
        }
        write_json_str(&mut kept, k);
        kept.push(b':');
        kept.extend_from_slice(v.get().as_bytes());
    }
    kept.push(b'}');
    let mut out = Vec::with_capacity(params.len());
    obj.write_with_raw("_meta", &kept, &mut out);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(s: &str) -> &RawValue {
        serde_json::from_str(s).unwrap()
    }

    #[test]
    fn classifies_requests_by_their_envelope() {
        assert!(classify("tools/list", None).unwrap().is_none());
        assert!(classify("tools/list", Some(raw(r#"{"_meta":{"progressToken":1}}"#))).unwrap().is_none());
        let ok = raw(
            r#"{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{"sampling":{}},"io.modelcontextprotocol/logLevel":"debug"}}"#,
        );
        let env = classify("tools/list", Some(ok)).unwrap().unwrap();
        assert_eq!(env.client_caps.get(), r#"{"sampling":{}}"#);
        assert_eq!(env.log_level.as_deref(), Some("debug"));
        let no_caps = raw(r#"{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}"#);
        assert_eq!(classify("tools/list", Some(no_caps)).unwrap_err().code, -32602);
        let old = raw(
            r#"{"_meta":{"io.modelcontextprotocol/protocolVersion":"1900-01-01","io.modelcontextprotocol/clientCapabilities":{}}}"#,
        );
        let err = classify("tools/list", Some(old)).unwrap_err();
        assert_eq!(err.code, -32022);
        assert_eq!(err.data.unwrap()["requested"], "1900-01-01");
        assert_eq!(classify("server/discover", None).unwrap_err().code, -32602);
    }

    #[test]
    fn completes_legacy_results_once() {
        assert_eq!(&*complete_result(br#"{"content":[]}"#, false), br#"{"content":[],"resultType":"complete"}"#);
        assert_eq!(&*complete_result(b"{ }", true), br#"{ "resultType":"complete","ttlMs":0,"cacheScope":"private"}"#);
        let modern = br#"{"content":[],"resultType":"input_required"}"#;
        assert_eq!(&*complete_result(modern, false), modern);
    }

    #[test]
    fn envelope_is_taken_out_for_legacy_servers() {
        let modern =
            br#"{"name":"t","_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","progressToken":7}}"#;
        let v: serde_json::Value = serde_json::from_slice(&without_envelope(modern).unwrap()).unwrap();
        assert_eq!(v["_meta"], serde_json::json!({"progressToken": 7}));
        assert!(without_envelope(br#"{"name":"t","arguments":{}}"#).is_none());
    }

    #[test]
    fn envelope_is_merged_into_meta_keeping_other_members() {
        let env = envelope_members("{}", Some("info"));
        let out = with_envelope(Some(br#"{"name":"t","arguments":{"a":1},"_meta":{"progressToken":"p"}}"#), &env);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["_meta"]["progressToken"], "p");
        assert_eq!(v["_meta"][meta::PROTOCOL_VERSION], MODERN_VERSION);
        assert_eq!(v["_meta"][meta::LOG_LEVEL], "info");
        assert_eq!(v["arguments"]["a"], 1);
        let bare: serde_json::Value = serde_json::from_slice(&with_envelope(None, &env)).unwrap();
        assert_eq!(bare["_meta"][meta::CLIENT_CAPABILITIES], serde_json::json!({}));
    }
}
