//! Hand-written JSON for the members of an evidence line.
//!
//! The writer encodes one line per call, so this is on the evidence thread's hot path: members are appended to
//! a buffer the writer keeps, strings without anything to escape are copied as they are, numbers go through
//! `itoa`, and the time's date part is formatted once per second. What serde would have produced for the same
//! values is what comes out (strings needing escapes are handed to serde_json), except `duration_ms`, which is
//! written with microsecond precision.

use std::time::{SystemTime, UNIX_EPOCH};

/// `"s"`, escaped as JSON.
pub(super) fn string(out: &mut Vec<u8>, s: &str) {
    // Without early exit, so the check compiles to a vector loop: these strings are short and rarely escaped.
    let escapes = s.bytes().fold(false, |any, b| any | (b == b'"') | (b == b'\\') | (b < 0x20));
    if escapes {
        serde_json::to_writer(&mut *out, s).expect("writing to a Vec cannot fail");
        return;
    }
    out.reserve(s.len() + 2);
    out.push(b'"');
    out.extend_from_slice(s.as_bytes());
    out.push(b'"');
}

/// `,"key":` (keys are the writer's own and need no escaping).
fn key(out: &mut Vec<u8>, key: &str) {
    out.extend_from_slice(b",\"");
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\":");
}

/// `,"key":"value"`.
pub(super) fn member_str(out: &mut Vec<u8>, name: &str, value: &str) {
    key(out, name);
    string(out, value);
}

/// `,"key":"…"` with pre-escaped ASCII (hex digits).
pub(super) fn member_ascii(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    key(out, name);
    out.push(b'"');
    out.extend_from_slice(value);
    out.push(b'"');
}

/// `,"key":` followed by `raw`, which must be valid JSON on one line.
pub(super) fn member_raw(out: &mut Vec<u8>, name: &str, raw: &str) {
    key(out, name);
    out.extend_from_slice(raw.as_bytes());
}

pub(super) fn member_u64(out: &mut Vec<u8>, name: &str, n: u64) {
    key(out, name);
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

pub(super) fn member_bool(out: &mut Vec<u8>, name: &str, b: bool) {
    key(out, name);
    out.extend_from_slice(if b { b"true" } else { b"false" });
}

/// A duration in milliseconds, to the microsecond: `12.5`, `0.105`, `3`. Not-finite or negative values are
/// left out (the caller checks), as JSON has no way to say them.
pub(super) fn member_ms(out: &mut Vec<u8>, name: &str, ms: f64) {
    key(out, name);
    let micros = (ms * 1000.0).round() as u64;
    let mut buf = itoa::Buffer::new();
    out.extend_from_slice(buf.format(micros / 1000).as_bytes());
    let frac = micros % 1000;
    if frac != 0 {
        let digits = [b'.', b'0' + (frac / 100) as u8, b'0' + (frac / 10 % 10) as u8, b'0' + (frac % 10) as u8];
        let len = if frac % 100 == 0 {
            2
        } else if frac % 10 == 0 {
            3
        } else {
            4
        };
        out.extend_from_slice(&digits[..len]);
    }
}

/// RFC 3339 UTC timestamps with microseconds (`2026-11-25T04:18:40.123456Z`); the part up to the second is
/// formatted once per second.
#[derive(Default)]
pub(super) struct TimeText {
    /// The second `prefix` is for, since the epoch.
    secs: Option<u64>,
    /// `2026-11-25T04:18:40`.
    prefix: String,
}

impl TimeText {
    /// Appends `t` (times before 1970 are written as the epoch).
    pub(super) fn push(&mut self, out: &mut Vec<u8>, t: SystemTime) {
        let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
        let secs = since.as_secs();
        if self.secs != Some(secs) {
            let text = humantime::format_rfc3339_seconds(UNIX_EPOCH + std::time::Duration::from_secs(secs));
            self.prefix = text.to_string().trim_end_matches('Z').to_owned();
            self.secs = Some(secs);
        }
        out.extend_from_slice(self.prefix.as_bytes());
        let micros = since.subsec_micros();
        let mut digits = [b'.', b'0', b'0', b'0', b'0', b'0', b'0', b'Z'];
        let mut n = micros;
        for d in digits[1..7].iter_mut().rev() {
            *d = b'0' + (n % 10) as u8;
            n /= 10;
        }
        out.extend_from_slice(&digits);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn strings_match_serde_with_and_without_escapes() {
        for s in ["plain", "", "quote\"d", "back\\slash", "line\nbreak", "tab\t", "\u{1}", "ünïcödé ✓"] {
            let mut out = Vec::new();
            string(&mut out, s);
            assert_eq!(out, serde_json::to_vec(s).unwrap(), "{s:?}");
        }
    }

    #[test]
    fn times_are_rfc3339_with_micros_like_humantime() {
        let mut text = TimeText::default();
        for (secs, nanos) in
            [(0, 0), (1_764_000_000, 123_456_789), (1_764_000_000, 999_999_999), (1_764_000_001, 7_000)]
        {
            let t = UNIX_EPOCH + Duration::new(secs, nanos);
            let mut out = Vec::new();
            text.push(&mut out, t);
            assert_eq!(String::from_utf8(out).unwrap(), humantime::format_rfc3339_micros(t).to_string());
        }
    }

    #[test]
    fn milliseconds_keep_microseconds_and_parse_back() {
        for (ms, text) in
            [(12.5, "12.5"), (0.105, "0.105"), (3.0, "3"), (0.0004, "0"), (1.23456, "1.235"), (0.01, "0.01")]
        {
            let mut out = Vec::new();
            member_ms(&mut out, "d", ms);
            assert_eq!(String::from_utf8(out).unwrap(), format!(",\"d\":{text}"));
        }
    }
}
