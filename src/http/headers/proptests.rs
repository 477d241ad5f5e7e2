//! Property tests of the header checks against what a client may send. The contract: never a panic; `Origin` is
//! allowed by default only for loopback hosts; `Accept` parsing sees JSON and SSE where listed; the 2026-07-28
//! headers are accepted exactly when they match the body (version, method and, for tools/call, prompts/get and
//! resources/read, the name or URI, plain or `=?base64?…?=`), and every refusal says which header.

use base64::Engine as _;
use proptest::prelude::*;

use super::*;

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\PC{0,16}",
        "[ -~]{0,16}",
        prop::sample::select(vec![
            "2026-07-28",
            "2025-11-25",
            "tools/call",
            "prompts/get",
            "resources/read",
            "echo",
            "file:///x"
        ])
        .prop_map(str::to_owned),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn origins_other_than_loopback_are_refused_by_default(
        scheme in prop::sample::select(vec!["http://", "https://", "ftp://", "", "http:/"]),
        host in prop_oneof![
            prop::sample::select(vec!["localhost", "LOCALHOST", "127.0.0.1", "127.9.8.7", "[::1]", "10.0.0.1", "evil.com",
                                      "localhost.evil.com", "127.0.0.1.evil.com", "[::2]", "null"]).prop_map(str::to_owned),
            "[!-~]{0,12}",
        ],
        port in prop_oneof![Just(String::new()), (0u32..70000).prop_map(|p| format!(":{p}")), "[:/?#][!-~]{0,4}"],
    ) {
        let origin = format!("{scheme}{host}{port}");
        let allowed = Origins::new(None).allows(&origin);
        let loopback_host = host.eq_ignore_ascii_case("localhost")
            || host == "[::1]"
            || host.parse::<std::net::Ipv4Addr>().is_ok_and(|ip| ip.octets()[0] == 127);
        let port_ok = port.is_empty() || (port.len() > 1 && port[1..].bytes().all(|b| b.is_ascii_digit()) && port.starts_with(':'));
        let expected = (scheme == "http://" || scheme == "https://") && loopback_host && port_ok;
        prop_assert_eq!(allowed, expected, "{}", origin);
    }

    #[test]
    fn accept_lists_json_and_sse_where_named(items in prop::collection::vec(
        prop::sample::select(vec!["application/json", "text/event-stream", "*/*", "text/html", "APPLICATION/JSON;q=0.5", "", " text/* "]), 0..5)) {
        let header = items.join(",");
        let got = Accepts::parse(Some(&header));
        let has = |f: &dyn Fn(&str) -> bool| items.iter().any(|i| f(i.split(';').next().unwrap_or_default().trim()));
        prop_assert_eq!(got.json, has(&|m| m.eq_ignore_ascii_case("application/json") || m == "*/*"), "{}", header);
        prop_assert_eq!(got.sse, has(&|m| m == "text/event-stream" || m == "text/*" || m == "*/*"), "{}", header);
    }

    #[test]
    fn modern_headers_pass_exactly_when_they_match_the_body(
        method in prop::sample::select(vec!["tools/call", "prompts/get", "resources/read", "tools/list", "server/discover"]),
        body_version in proptest::option::of(text()),
        header_version in proptest::option::of(text()),
        header_method in proptest::option::of(text()),
        name in text(),
        header_name in proptest::option::of(text()),
        encode in any::<bool>(),
        same in any::<(bool, bool, bool)>(),
    ) {
        // Often make the headers agree with the body, so both outcomes are exercised.
        let header_version = if same.0 { body_version.clone() } else { header_version };
        let header_method = if same.1 { Some(method.to_owned()) } else { header_method };
        let header_name = if same.2 { Some(name.clone()) } else { header_name };
        let header_name = header_name.map(|n| {
            if encode { format!("=?base64?{}?=", base64::engine::general_purpose::STANDARD.encode(n)) } else { n }
        });
        let field = if method == "resources/read" { "uri" } else { "name" };
        let mut params = serde_json::json!({ field: name });
        if let Some(v) = &body_version {
            params["_meta"] = serde_json::json!({ crate::protocol::meta::PROTOCOL_VERSION: v });
        }
        let raw = serde_json::value::to_raw_value(&params).unwrap();
        let obj = RawObject::parse(&raw).unwrap();
        let h = ModernHeaders {
            version: header_version.as_deref(),
            method: header_method.as_deref(),
            name: header_name.as_deref(),
        };
        let got = check_modern(&h, method, Some(&obj));
        let version_ok = match (&header_version, &body_version) {
            (None, _) => false,
            (Some(h), Some(b)) => h == b,
            (Some(h), None) => method == "server/discover" && h == crate::protocol::MODERN_VERSION,
        };
        let named = matches!(method, "tools/call" | "prompts/get" | "resources/read");
        let name_ok = !named || header_name.as_deref().and_then(decode_value).is_some_and(|n| n == name);
        let expected = version_ok && header_method.as_deref() == Some(method) && name_ok;
        prop_assert_eq!(got.is_ok(), expected, "{:?}", got);
        if let Err(message) = got {
            prop_assert!(
                message.contains("MCP-Protocol-Version") || message.contains("Mcp-Method") || message.contains("Mcp-Name"),
                "the refusal names the header: {}", message
            );
        }
    }
}
