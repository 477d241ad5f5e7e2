//! Property tests of the envelope parser against what a client may send: any JSON value, any bytes, torn
//! frames. The contract ([`Envelope::parse_client`]): never a panic; bytes that are not JSON are -32700; JSON that
//! is not a JSON-RPC 2.0 message MCP allows (an array, a scalar, no `"jsonrpc": "2.0"`, an id that is not a string
//! or an integer, a method that is not a string) is -32600; everything else parses, with the id and method as
//! sent.

use proptest::prelude::*;
use serde_json::{json, Map, Value};

use super::*;

/// Any JSON value: deep, huge and tiny numbers, unicode and escapes in strings and keys.
fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
        "\\PC{0,12}".prop_map(Value::String),
        "[\"\\\\/\\u{0}-\\u{1f}\\u{2028}é😀a]{0,6}".prop_map(Value::String),
    ];
    leaf.prop_recursive(6, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map("\\PC{0,6}", inner, 0..5).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A message-like object: each member present or not, mostly of the right type, sometimes of any.
fn envelope() -> impl Strategy<Value = Value> {
    let version = prop_oneof![6 => Just(json!("2.0")), 1 => Just(json!("1.0")), 1 => Just(json!(2.0)), 1 => json()];
    let id = prop_oneof![
        3 => any::<i64>().prop_map(Value::from),
        3 => "\\PC{0,8}".prop_map(Value::String),
        1 => any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
        1 => json(),
    ];
    let method = prop_oneof![4 => "[a-z/]{1,16}".prop_map(Value::String), 1 => json()];
    (
        proptest::option::weighted(0.9, version),
        proptest::option::weighted(0.7, id),
        proptest::option::weighted(0.8, method),
        proptest::option::of(json()),
        proptest::option::weighted(0.2, json()),
    )
        .prop_map(|(version, id, method, params, result)| {
            let mut m = Map::new();
            for (k, v) in [("jsonrpc", version), ("id", id), ("method", method), ("params", params), ("result", result)]
            {
                if let Some(v) = v {
                    m.insert(k.to_owned(), v);
                }
            }
            Value::Object(m)
        })
}

/// What the contract says about a JSON value: `Ok(())` when it must parse, else the error code.
fn expected(v: &Value) -> Result<(), i64> {
    let Value::Object(m) = v else { return Err(code::INVALID_REQUEST) };
    let id_ok = m.get("id").is_none_or(|id| id.is_string() || id.is_i64() || id.is_u64());
    let method_ok = m.get("method").is_none_or(Value::is_string);
    let version_ok = m.get("jsonrpc") == Some(&json!("2.0"));
    if id_ok && method_ok && version_ok {
        Ok(())
    } else {
        Err(code::INVALID_REQUEST)
    }
}

fn check(v: &Value) -> Result<(), TestCaseError> {
    let frame = serde_json::to_vec(v).unwrap();
    match (Envelope::parse_client(&frame), expected(v)) {
        (Ok(env), Ok(())) => {
            let m = v.as_object().unwrap();
            let id = env.id.map(|i| serde_json::from_str::<Value>(i.get()).unwrap());
            prop_assert_eq!(id.as_ref(), m.get("id"));
            prop_assert_eq!(env.method.as_deref(), m.get("method").and_then(Value::as_str));
        }
        (Err(refused), Err(code)) => {
            prop_assert_eq!(refused.code, code, "{}: {}", v, refused);
            // The answer is itself a valid JSON-RPC error response.
            let answer: Value = serde_json::from_slice(&refused.to_frame()).unwrap();
            prop_assert_eq!(&answer["error"]["code"], &json!(code));
        }
        (got, want) => prop_assert!(false, "{v}: got {:?}, want {want:?}", got.map(|_| ()).map_err(|e| e.to_string())),
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn any_json_value_is_parsed_or_refused_as_documented(v in json()) {
        check(&v)?;
    }

    #[test]
    fn message_like_objects_are_parsed_or_refused_as_documented(v in envelope()) {
        check(&v)?;
    }

    #[test]
    fn arrays_of_messages_are_refused_as_batches(vs in prop::collection::vec(envelope(), 0..4)) {
        let refused = Envelope::parse_client(&serde_json::to_vec(&Value::Array(vs)).unwrap()).unwrap_err();
        prop_assert_eq!(refused.code, code::INVALID_REQUEST);
        prop_assert!(refused.id.is_none());
    }

    #[test]
    fn a_torn_frame_is_a_parse_error(v in envelope(), cut in any::<prop::sample::Index>()) {
        let frame = serde_json::to_vec(&v).unwrap();
        let torn = &frame[..cut.index(frame.len())]; // strictly shorter: never the closing brace
        let refused = Envelope::parse_client(torn).unwrap_err();
        // A torn message is a parse error; a torn frame whose first part is already not a message may be told so.
        if expected(&v).is_ok() {
            prop_assert_eq!(refused.code, code::PARSE_ERROR, "{}", String::from_utf8_lossy(torn));
        } else {
            prop_assert!([code::PARSE_ERROR, code::INVALID_REQUEST].contains(&refused.code));
        }
    }

    #[test]
    fn any_bytes_are_parsed_or_refused_without_panic(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        match Envelope::parse_client(&bytes) {
            // Only an object parses (its payload members are kept raw, so e.g. 1e400 in params is fine).
            Ok(_) => prop_assert_eq!(bytes.iter().find(|b| !b.is_ascii_whitespace()), Some(&b'{')),
            Err(r) => {
                let is_json = serde_json::from_slice::<Value>(&bytes).is_ok();
                prop_assert_eq!(r.code, if is_json { code::INVALID_REQUEST } else { code::PARSE_ERROR });
            }
        }
    }
}
