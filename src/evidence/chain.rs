//! The on-disk format of one evidence line and of the file names, shared by the writer and `verify` so the two
//! can never disagree.
//!
//! A line is a JSON object whose **last** member is `"hash"`:
//!
//! ```text
//! {"seq":7,"time":"2026-11-25T04:18:40.123456Z","kind":"call",...,"prev":"<64 hex>","hash":"<64 hex>"}\n
//! ```
//!
//! `hash` is the SHA-256 of the line's bytes with the `,"hash":"…"` member cut out (that is, the bytes up to the
//! `,"hash"` plus the closing `}`), and `prev` is the `hash` of the record before it. Hashing the bytes as
//! written, rather than a re-serialization, means any verifier in any language checks a line with a byte slice and
//! a SHA-256, and no JSON library's key order or number formatting can make an intact line look altered.

use std::path::Path;

use serde::Deserialize;
use sha2::{Digest, Sha256};

/// `prev` of the very first record of a chain: there is nothing before it.
pub(crate) const GENESIS_PREV: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What ends every line before the newline: `,"hash":"` + 64 hex digits + `"}`.
const HASH_KEY: &[u8] = b",\"hash\":\"";
const HASH_HEX_LEN: usize = 64;
const SUFFIX_LEN: usize = HASH_KEY.len() + HASH_HEX_LEN + 2;

/// Lower-case hex SHA-256 of `bytes`: the record hash and the result digest use the same encoding.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    let hex = sha256_hex_bytes(bytes);
    // Hex digits are ASCII.
    String::from_utf8(hex.to_vec()).expect("hex is ASCII")
}

/// [`sha256_hex`] without the allocation, for the writer's hot path.
pub(crate) fn sha256_hex_bytes(bytes: &[u8]) -> [u8; 64] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::digest(bytes);
    let mut out = [0u8; 64];
    for (i, b) in digest.iter().enumerate() {
        out[2 * i] = DIGITS[(b >> 4) as usize];
        out[2 * i + 1] = DIGITS[(b & 0xf) as usize];
    }
    out
}

#[cfg(test)]
/// Turns the canonical bytes of a record (a JSON object without `hash`) into the line to write, newline
/// included, and returns it with its hash.
pub(crate) fn seal(mut canonical: Vec<u8>) -> (Vec<u8>, String) {
    let hash = seal_in_place(&mut canonical);
    let hash = String::from_utf8(hash.to_vec()).expect("hex is ASCII");
    (canonical, hash)
}

/// [`seal`] on a buffer the caller keeps: `canonical` becomes the line; the hash's hex digits are returned.
pub(crate) fn seal_in_place(canonical: &mut Vec<u8>) -> [u8; 64] {
    debug_assert_eq!(canonical.last(), Some(&b'}'));
    let hash = sha256_hex_bytes(canonical);
    canonical.pop();
    canonical.extend_from_slice(HASH_KEY);
    canonical.extend_from_slice(&hash);
    canonical.extend_from_slice(b"\"}\n");
    hash
}

/// One entry of a repair record: a line that a crash cut off, identified by where it starts and what it held.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, Deserialize)]
pub(crate) struct TornRef {
    /// Byte offset of the line's first byte in its file (stable, unlike a line number, and free to compute).
    pub(crate) offset: u64,
    /// Length of the line without its newline.
    pub(crate) bytes: u64,
    /// SHA-256 of those bytes, so the repair vouches for exactly the fragment that is there.
    pub(crate) sha256: String,
}

/// The members of a line that the chain checks need; the rest of the record is covered by the hash only.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Parsed {
    /// Position in the chain: one more than the record before, across files.
    pub(crate) seq: u64,
    /// `call`, `decision`, or one of the writer's own: `genesis`, `dropped`, `repair`.
    pub(crate) kind: String,
    /// `hash` of the record before (all zeros before the first record ever).
    pub(crate) prev: String,
    /// Genesis records: the file they open, so a renamed or reordered file is detected.
    #[serde(default)]
    pub(crate) file: Option<String>,
    /// Repair records: the torn lines just before them.
    #[serde(default)]
    pub(crate) torn: Vec<TornRef>,
    /// Dropped records: how many records never reached the file.
    #[serde(default)]
    pub(crate) count: Option<u64>,
    /// Kept from the line rather than recomputed: `check_line` has compared the two already.
    #[serde(skip)]
    pub(crate) hash: String,
}

/// Why a line is not an intact record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LineError {
    /// Not a JSON object at all (typically a write that a crash cut off).
    NotJson(String),
    /// JSON, but not a record of this format (no trailing `hash`, or a required member missing).
    NotRecord(String),
    /// The bytes do not hash to the stored `hash`: the record was altered after it was written.
    HashMismatch { stored: String, computed: String },
}

impl std::fmt::Display for LineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LineError::NotJson(e) => write!(f, "not a JSON record ({e})"),
            LineError::NotRecord(e) => write!(f, "not an evidence record ({e})"),
            LineError::HashMismatch { stored, computed } => write!(
                f,
                "hash mismatch: the record was altered after it was written (stored {}…, content hashes to {}…)",
                &stored[..12.min(stored.len())],
                &computed[..12]
            ),
        }
    }
}

/// Checks one line (without its newline): JSON, the trailing hash member, the hash itself.
pub(crate) fn check_line(line: &[u8]) -> Result<Parsed, LineError> {
    let mut parsed = parse_members(line)?;
    let stored = stored_hash(line).ok_or_else(|| LineError::NotRecord("`hash` is not the last member".into()))?;
    let mut canonical = Vec::with_capacity(line.len() - SUFFIX_LEN + 1);
    canonical.extend_from_slice(&line[..line.len() - SUFFIX_LEN]);
    canonical.push(b'}');
    let computed = sha256_hex(&canonical);
    if computed != stored {
        return Err(LineError::HashMismatch { stored: stored.to_owned(), computed });
    }
    parsed.hash = computed;
    Ok(parsed)
}

/// Reads the members the chain needs straight from the bytes, skipping every other member without building it:
/// serde_json skips a value with a loop (no recursion limit) and without converting numbers, so whatever valid
/// JSON the writer put into a record (arguments nested thousands deep, `1e400`, any escape) reads back, and a
/// checker never depends on what a JSON library can represent. The whole line is still checked to be one JSON
/// object: a cut-off write is never mistaken for a record.
fn parse_members(line: &[u8]) -> Result<Parsed, LineError> {
    if line.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(LineError::NotJson("not an object".into()));
    }
    serde_json::from_slice::<Parsed>(line).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => LineError::NotRecord(e.to_string()),
        _ => LineError::NotJson(e.to_string()),
    })
}

/// The hex digits of the trailing `,"hash":"…"}` member, if the line ends with one.
fn stored_hash(line: &[u8]) -> Option<&str> {
    if line.len() < SUFFIX_LEN + 1 || !line.ends_with(b"\"}") {
        return None;
    }
    let start = line.len() - SUFFIX_LEN;
    if &line[start..start + HASH_KEY.len()] != HASH_KEY {
        return None;
    }
    let digits = &line[start + HASH_KEY.len()..line.len() - 2];
    if !digits.iter().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b)) {
        return None;
    }
    std::str::from_utf8(digits).ok()
}

/// The name of one evidence file: `evidence-YYYY-MM-DD.jsonl`, then `evidence-YYYY-MM-DD-N.jsonl` for the N-th
/// rotation by size that day. The derived order (day, then N) is the chain order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct FileName {
    /// `YYYY-MM-DD` (UTC).
    pub(crate) day: String,
    /// 0 for the day's first file.
    pub(crate) index: u32,
}

impl FileName {
    pub(crate) fn parse(name: &str) -> Option<FileName> {
        let rest = name.strip_prefix("evidence-")?.strip_suffix(".jsonl")?;
        let (day, index) = match rest.len() {
            10 => (rest, 0),
            n if n > 11 && rest.as_bytes()[10] == b'-' => {
                let digits = &rest[11..];
                if !digits.bytes().all(|b| b.is_ascii_digit()) || digits.starts_with('0') {
                    return None;
                }
                (&rest[..10], digits.parse().ok()?)
            }
            _ => return None,
        };
        valid_day(day).then(|| FileName { day: day.to_owned(), index })
    }

    pub(crate) fn from_path(path: &Path) -> Option<FileName> {
        path.file_name().and_then(|n| n.to_str()).and_then(FileName::parse)
    }
}

impl std::fmt::Display for FileName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.index {
            0 => write!(f, "evidence-{}.jsonl", self.day),
            n => write!(f, "evidence-{}-{n}.jsonl", self.day),
        }
    }
}

fn valid_day(day: &str) -> bool {
    let b = day.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter().enumerate().all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
}

/// The evidence files of `dir` in chain order (other files are not ours and are left alone).
pub(crate) fn list_files(dir: &Path) -> std::io::Result<Vec<(FileName, std::path::PathBuf)>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if let Some(name) = FileName::from_path(&entry.path()) {
            if entry.file_type()?.is_file() {
                files.push((name, entry.path()));
            }
        }
    }
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_lines_check_and_any_change_is_caught() {
        let canonical =
            br#"{"seq":1,"kind":"call","prev":"0000000000000000000000000000000000000000000000000000000000000000"}"#;
        let (line, hash) = seal(canonical.to_vec());
        assert!(line.ends_with(b"\"}\n"));
        let body = &line[..line.len() - 1];
        let parsed = check_line(body).unwrap();
        assert_eq!((parsed.seq, parsed.kind.as_str(), parsed.hash.as_str()), (1, "call", hash.as_str()));

        let altered = String::from_utf8(body.to_vec()).unwrap().replace("\"call\"", "\"cell\"");
        assert!(matches!(check_line(altered.as_bytes()), Err(LineError::HashMismatch { .. })));
        assert!(matches!(check_line(&body[..body.len() - 5]), Err(LineError::NotJson(_))));
        assert!(matches!(check_line(br#"{"seq":1,"kind":"x","prev":"p"}"#), Err(LineError::NotRecord(_))));
        assert!(matches!(check_line(br#"{"seq":1}"#), Err(LineError::NotRecord(_))));
        assert!(matches!(check_line(b"[1]"), Err(LineError::NotJson(_))));
    }

    #[test]
    fn file_names_round_trip_and_sort_in_chain_order() {
        for name in ["evidence-2026-11-25.jsonl", "evidence-2026-11-25-1.jsonl", "evidence-2026-11-25-12.jsonl"] {
            assert_eq!(FileName::parse(name).unwrap().to_string(), name);
        }
        for bad in ["evidence-2026-11-25-0.jsonl", "evidence-2026-11-2.jsonl", "x.jsonl", "evidence-2026-11-25.json"] {
            assert_eq!(FileName::parse(bad), None, "{bad}");
        }
        let mut names: Vec<FileName> = ["evidence-2026-11-26.jsonl", "evidence-2026-11-25-10.jsonl"]
            .iter()
            .chain(&["evidence-2026-11-25-2.jsonl", "evidence-2026-11-25.jsonl"])
            .map(|n| FileName::parse(n).unwrap())
            .collect();
        names.sort();
        let order: Vec<String> = names.iter().map(ToString::to_string).collect();
        assert_eq!(
            order,
            [
                "evidence-2026-11-25.jsonl",
                "evidence-2026-11-25-2.jsonl",
                "evidence-2026-11-25-10.jsonl",
                "evidence-2026-11-26.jsonl"
            ]
        );
    }

    #[test]
    fn hex_digest() {
        assert_eq!(sha256_hex(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
