//! The request headers `/mcp` looks at: `Origin` (DNS rebinding), `Accept` (JSON and/or SSE), and the
//! 2026-07-28 request metadata headers (`MCP-Protocol-Version`, `Mcp-Method`, `Mcp-Name`), which must match the
//! body they travel with.

use base64::Engine as _;
use serde_json::value::RawValue;
use wildmatch::WildMatch;

use crate::protocol::RawObject;

pub(crate) const SESSION_ID: &str = "mcp-session-id";
pub(crate) const PROTOCOL_VERSION: &str = "mcp-protocol-version";
pub(crate) const MCP_METHOD: &str = "mcp-method";
pub(crate) const MCP_NAME: &str = "mcp-name";

/// Which browser origins may call the front.
pub(crate) struct Origins {
    /// `None`: loopback origins only.
    allowed: Option<Vec<WildMatch>>,
}

impl Origins {
    pub(crate) fn new(allowed: Option<&[String]>) -> Self {
        Origins { allowed: allowed.map(|list| list.iter().map(|p| WildMatch::new_case_insensitive(p)).collect()) }
    }

    /// Whether a request carrying `Origin: origin` may proceed. `null` (an opaque origin: a sandboxed page or a
    /// local file) is never allowed.
    pub(crate) fn allows(&self, origin: &str) -> bool {
        let origin = origin.trim();
        match &self.allowed {
            Some(list) => list.iter().any(|p| p.matches(origin)),
            None => is_loopback_origin(origin),
        }
    }
}

/// `http(s)://localhost`, `127.x.x.x` or `[::1]`, any port.
fn is_loopback_origin(origin: &str) -> bool {
    let Some(rest) = origin.strip_prefix("http://").or_else(|| origin.strip_prefix("https://")) else {
        return false;
    };
    let (host, port) = match rest.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some(split) => split,
            None => return false,
        },
        None => rest.find(':').map_or((rest, ""), |i| (&rest[..i], &rest[i..])),
    };
    let port_ok =
        port.is_empty() || (port.len() > 1 && port.starts_with(':') && port[1..].bytes().all(|b| b.is_ascii_digit()));
    let host_ok = host.eq_ignore_ascii_case("localhost")
        || host == "::1"
        || host.parse::<std::net::Ipv4Addr>().is_ok_and(|ip| ip.is_loopback());
    port_ok && host_ok
}

/// What an `Accept` header lets the front answer with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Accepts {
    pub(crate) json: bool,
    pub(crate) sse: bool,
    /// `text/event-stream` is listed before `application/json` (or alone): the client would rather stream, so
    /// even an answer that could be one JSON body comes as a (one-event) SSE stream.
    pub(crate) prefers_sse: bool,
}

impl Accepts {
    /// A missing header accepts anything (non-browser clients often send none).
    pub(crate) fn parse(accept: Option<&str>) -> Accepts {
        let Some(accept) = accept else { return Accepts { json: true, sse: true, prefers_sse: false } };
        let mut out = Accepts { json: false, sse: false, prefers_sse: false };
        // Bytes, not chars: this runs for every POST, and media types are ASCII.
        for item in accept.as_bytes().split(|&b| b == b',') {
            let media = item.split(|&b| b == b';').next().unwrap_or_default().trim_ascii();
            let is = |name: &str| media.eq_ignore_ascii_case(name.as_bytes());
            if is("*/*") {
                out.json = true;
                out.sse = true;
            } else if is("application/json") || is("application/*") {
                out.json = true;
            } else if is("text/event-stream") || is("text/*") {
                out.prefers_sse |= !out.json;
                out.sse = true;
            }
        }
        out
    }
}

/// A header value with the `=?base64?…?=` sentinel decoded (2026-07-28 value encoding); `None` when the
/// encoding is broken.
pub(crate) fn decode_value(value: &str) -> Option<String> {
    match value.strip_prefix("=?base64?").and_then(|v| v.strip_suffix("?=")) {
        Some(encoded) => {
            let bytes = base64::engine::general_purpose::STANDARD.decode(encoded).ok()?;
            String::from_utf8(bytes).ok()
        }
        None => Some(value.to_owned()),
    }
}

/// The modern request headers as sent (each `None` when absent; `Err` when a value is not visible ASCII).
pub(crate) struct ModernHeaders<'a> {
    pub(crate) version: Option<&'a str>,
    pub(crate) method: Option<&'a str>,
    pub(crate) name: Option<&'a str>,
}

/// Checks the 2026-07-28 metadata headers against the body (its `params`, parsed once by the caller, `None`
/// when absent or not an object); the error message says which header and why (answered 400 with -32020).
pub(crate) fn check_modern(h: &ModernHeaders<'_>, method: &str, params: Option<&RawObject<'_>>) -> Result<(), String> {
    let body_version = params
        .and_then(|o| o.get("_meta"))
        .and_then(|m| RawObject::parse(m).ok())
        .and_then(|m| m.get_str(crate::protocol::meta::PROTOCOL_VERSION).map(|v| v.into_owned()));
    match (h.version, body_version.as_deref()) {
        (None, _) => return Err("Header mismatch: the MCP-Protocol-Version header is required".into()),
        (Some(header), Some(body)) if header != body => {
            return Err(format!(
                "Header mismatch: MCP-Protocol-Version header value '{header}' does not match body value '{body}'"
            ))
        }
        (Some(header), None) if method != "server/discover" || header != crate::protocol::MODERN_VERSION => {
            return Err(format!(
                "Header mismatch: MCP-Protocol-Version header value '{header}' has no match in the body's _meta[\"{}\"]",
                crate::protocol::meta::PROTOCOL_VERSION
            ))
        }
        _ => {}
    }
    match h.method {
        None => return Err("Header mismatch: the Mcp-Method header is required".into()),
        Some(m) if m != method => {
            return Err(format!("Header mismatch: Mcp-Method header value '{m}' does not match body value '{method}'"))
        }
        _ => {}
    }
    let source = match method {
        "tools/call" | "prompts/get" => Some("name"),
        "resources/read" => Some("uri"),
        _ => None,
    };
    if let Some(field) = source {
        let body = params
            .and_then(|o| o.get_str(field).map(|v| v.into_owned()))
            .ok_or_else(|| format!("params.{field} must be a string"))?;
        let header = h.name.ok_or_else(|| format!("Header mismatch: the Mcp-Name header is required for {method}"))?;
        let decoded = decode_value(header)
            .ok_or_else(|| format!("Header mismatch: Mcp-Name header value '{header}' is not valid base64"))?;
        if decoded != body {
            return Err(format!(
                "Header mismatch: Mcp-Name header value '{decoded}' does not match body value '{body}'"
            ));
        }
    }
    Ok(())
}

/// The `x-mcp-header` annotations of a tool (as listed): (property path from the schema root, header name).
/// Only annotations reachable through `properties` keys count, as the specification says.
pub(crate) fn param_headers(tool: &[u8]) -> Vec<(Vec<String>, String)> {
    if memchr::memmem::find(tool, b"x-mcp-header").is_none() {
        return Vec::new();
    }
    fn walk(schema: &serde_json::Value, path: &mut Vec<String>, out: &mut Vec<(Vec<String>, String)>) {
        let Some(props) = schema.get("properties").and_then(|p| p.as_object()) else { return };
        for (name, prop) in props {
            path.push(name.clone());
            if let Some(header) = prop.get("x-mcp-header").and_then(|h| h.as_str()).filter(|h| !h.is_empty()) {
                out.push((path.clone(), header.to_owned()));
            }
            walk(prop, path, out);
            path.pop();
        }
    }
    let mut out = Vec::new();
    if let Ok(tool) = serde_json::from_slice::<serde_json::Value>(tool) {
        if let Some(schema) = tool.get("inputSchema") {
            walk(schema, &mut Vec::new(), &mut out);
        }
    }
    out
}

/// Checks the `Mcp-Param-{Name}` headers of a `tools/call` against its arguments: a primitive value at an
/// annotated path needs its header, equal after decoding (integers compared as numbers). `header` looks a
/// header up by name (`Err` when its value is not visible ASCII).
pub(crate) fn check_params<'h>(
    annotations: &[(Vec<String>, String)],
    arguments: Option<&RawValue>,
    header: impl Fn(&str) -> Option<Result<&'h str, ()>>,
) -> Result<(), String> {
    if annotations.is_empty() {
        return Ok(());
    }
    let args: serde_json::Value = arguments.and_then(|a| serde_json::from_str(a.get()).ok()).unwrap_or_default();
    for (path, name) in annotations {
        let value = path.iter().try_fold(&args, |v, key| v.get(key));
        let header_name = format!("Mcp-Param-{name}");
        let expected = match value {
            None | Some(serde_json::Value::Null) => continue,
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(serde_json::Value::Bool(b)) => b.to_string(),
            Some(serde_json::Value::Number(n)) => n.to_string(),
            Some(_) => continue,
        };
        let sent = match header(&header_name) {
            None => {
                return Err(format!(
                    "Header mismatch: the {header_name} header is required (argument {})",
                    path.join(".")
                ))
            }
            Some(Err(())) => {
                return Err(format!(
                    "Header mismatch: the {header_name} header value contains characters that are not visible ASCII"
                ))
            }
            Some(Ok(v)) => decode_value(v)
                .ok_or_else(|| format!("Header mismatch: {header_name} header value '{v}' is not valid base64"))?,
        };
        let same = match value {
            Some(serde_json::Value::Number(n)) => {
                sent.trim().parse::<f64>().ok().zip(n.as_f64()).is_some_and(|(a, b)| a == b)
            }
            _ => sent == expected,
        };
        if !same {
            return Err(format!(
                "Header mismatch: {header_name} header value '{sent}' does not match body value '{expected}'"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotated_parameters_need_matching_headers() {
        let tool = br#"{"name":"sql","inputSchema":{"type":"object","properties":{
            "region":{"type":"string","x-mcp-header":"Region"},
            "limit":{"type":"integer","x-mcp-header":"Limit"},
            "opts":{"type":"object","properties":{"dry":{"type":"boolean","x-mcp-header":"Dry"}}},
            "list":{"type":"array","items":{"type":"string","x-mcp-header":"Ignored"}},
            "query":{"type":"string"}}}}"#;
        let ann = param_headers(tool);
        assert_eq!(ann.len(), 3, "{ann:?}");
        let args: &RawValue =
            serde_json::from_str(r#"{"region":"us-west1","limit":42,"opts":{"dry":true},"query":"x"}"#).unwrap();
        let headers = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| pairs.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| Ok(*v))
        };
        let all = &[("mcp-param-region", "us-west1"), ("mcp-param-limit", "42.0"), ("mcp-param-dry", "true")];
        assert_eq!(check_params(&ann, Some(args), headers(all)), Ok(()));
        let b64 =
            &[("mcp-param-region", "=?base64?dXMtd2VzdDE=?="), ("mcp-param-limit", "42"), ("mcp-param-dry", "true")];
        assert_eq!(check_params(&ann, Some(args), headers(b64)), Ok(()));
        let missing = &[("mcp-param-region", "us-west1"), ("mcp-param-limit", "42")];
        assert!(check_params(&ann, Some(args), headers(missing)).unwrap_err().contains("Mcp-Param-Dry"));
        let wrong = &[("mcp-param-region", "eu"), ("mcp-param-limit", "42"), ("mcp-param-dry", "true")];
        assert!(check_params(&ann, Some(args), headers(wrong)).unwrap_err().contains("'eu'"));
        // A value that is absent needs no header.
        let few: &RawValue = serde_json::from_str(r#"{"query":"x"}"#).unwrap();
        assert_eq!(check_params(&ann, Some(few), headers(&[])), Ok(()));
        assert!(param_headers(br#"{"name":"plain","inputSchema":{"type":"object"}}"#).is_empty());
    }

    #[test]
    fn loopback_origins_pass_by_default_and_others_do_not() {
        let o = Origins::new(None);
        for ok in ["http://localhost", "http://localhost:6274", "https://127.0.0.1:8000", "http://[::1]:3000"] {
            assert!(o.allows(ok), "{ok}");
        }
        for bad in ["http://evil.example", "http://localhost.evil.example", "null", "file://", "http://[::2]:1"] {
            assert!(!o.allows(bad), "{bad}");
        }
        let listed = Origins::new(Some(&["https://app.example.com".into(), "http://localhost:*".into()]));
        assert!(listed.allows("https://app.example.com"));
        assert!(listed.allows("http://localhost:5173"));
        assert!(!listed.allows("https://app.example.com.evil"));
        assert!(!listed.allows("http://127.0.0.1:5173"));
    }

    #[test]
    fn accept_lists_are_read_by_media_type() {
        let a = |json, sse, prefers_sse| Accepts { json, sse, prefers_sse };
        assert_eq!(Accepts::parse(Some("application/json, text/event-stream")), a(true, true, false));
        assert_eq!(Accepts::parse(Some("text/event-stream, application/json")), a(true, true, true));
        assert_eq!(Accepts::parse(Some("application/json;q=0.9")), a(true, false, false));
        assert_eq!(Accepts::parse(Some("text/event-stream")), a(false, true, true));
        assert_eq!(Accepts::parse(Some("text/html")), a(false, false, false));
        assert_eq!(Accepts::parse(Some("Application/JSON, TEXT/Event-Stream")), a(true, true, false));
        assert_eq!(Accepts::parse(None), a(true, true, false));
    }

    #[test]
    fn modern_headers_must_match_the_body() {
        let raw: &RawValue = serde_json::from_str(
            r#"{"name":"app__x__echo","_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}"#,
        )
        .unwrap();
        let obj = RawObject::parse(raw).unwrap();
        let params = &obj;
        let good =
            ModernHeaders { version: Some("2026-07-28"), method: Some("tools/call"), name: Some("app__x__echo") };
        assert!(check_modern(&good, "tools/call", Some(params)).is_ok());
        let b64 = ModernHeaders { name: Some("=?base64?YXBwX194X19lY2hv?="), ..good };
        assert!(check_modern(&b64, "tools/call", Some(params)).is_ok());
        let wrong_name = ModernHeaders { name: Some("other"), ..b64 };
        assert!(check_modern(&wrong_name, "tools/call", Some(params)).unwrap_err().contains("Mcp-Name"));
        let no_name = ModernHeaders { name: None, ..wrong_name };
        assert!(check_modern(&no_name, "tools/call", Some(params)).is_err());
        let wrong_method = ModernHeaders { method: Some("tools/list"), name: Some("app__x__echo"), ..no_name };
        assert!(check_modern(&wrong_method, "tools/call", Some(params)).unwrap_err().contains("Mcp-Method"));
        let wrong_version = ModernHeaders { version: Some("2025-11-25"), method: Some("tools/call"), ..wrong_method };
        assert!(check_modern(&wrong_version, "tools/call", Some(params)).unwrap_err().contains("MCP-Protocol-Version"));
        assert_eq!(decode_value("=?base64?***?="), None);
    }
}
