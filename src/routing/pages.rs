//! Pagination of merged lists with the gateway's own opaque cursors.
//!
//! A cursor is `<list>:<offset>` in hex-obscured form; it stays valid across table rebuilds (the offset then
//! points into the new list, which is what a client paging through a changing list can expect). Anything the
//! gateway did not issue is an invalid cursor (-32602).

use bytes::Bytes;

use super::{NamedList, UriList};

/// A list that can be paged.
pub(crate) trait Page {
    fn key(&self) -> &'static str;
    fn items(&self) -> &[Bytes];

    /// The result object of one page: `{"<key>":[...],"nextCursor":"...",<extra>}`; `extra` holds further members
    /// (the modern era's `resultType` and cache hints), or is empty.
    fn page(&self, cursor: Option<&str>, page_size: usize, extra: &str) -> Result<Vec<u8>, PageError> {
        page_of(self.key(), self.items(), cursor, page_size, extra)
    }
}

/// One page of `items` under `key` (see [`Page::page`]); for lists filtered per client.
pub(crate) fn page_of(
    key: &'static str,
    items: &[Bytes],
    cursor: Option<&str>,
    page_size: usize,
    extra: &str,
) -> Result<Vec<u8>, PageError> {
    {
        let start = match cursor {
            None => 0,
            Some(c) => decode(key, c).ok_or(PageError)?,
        };
        let start = start.min(items.len());
        let end = if page_size == 0 { items.len() } else { (start + page_size).min(items.len()) };
        let mut out = Vec::with_capacity(32 + items[start..end].iter().map(|i| i.len() + 1).sum::<usize>());
        out.extend_from_slice(b"{\"");
        out.extend_from_slice(key.as_bytes());
        out.extend_from_slice(b"\":[");
        for (i, item) in items[start..end].iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(item);
        }
        out.push(b']');
        if end < items.len() {
            out.extend_from_slice(b",\"nextCursor\":\"");
            out.extend_from_slice(encode(key, end).as_bytes());
            out.push(b'"');
        }
        if !extra.is_empty() {
            out.push(b',');
            out.extend_from_slice(extra.as_bytes());
        }
        out.push(b'}');
        Ok(out)
    }
}

/// The cursor was not issued by this gateway for this list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid cursor")]
pub(crate) struct PageError;

impl Page for NamedList {
    fn key(&self) -> &'static str {
        self.key
    }
    fn items(&self) -> &[Bytes] {
        &self.items
    }
}

impl Page for UriList {
    fn key(&self) -> &'static str {
        self.key
    }
    fn items(&self) -> &[Bytes] {
        &self.items
    }
}

const MAGIC: u64 = 0x5eed_d1f5_ca7e_0001;

fn tag(key: &str) -> u64 {
    key.bytes().fold(MAGIC, |h, b| h.rotate_left(5) ^ u64::from(b))
}

fn encode(key: &str, offset: usize) -> String {
    format!("gw1.{:016x}", (offset as u64) ^ tag(key))
}

fn decode(key: &str, cursor: &str) -> Option<usize> {
    let hex = cursor.strip_prefix("gw1.")?;
    if hex.len() != 16 {
        return None;
    }
    let offset = u64::from_str_radix(hex, 16).ok()? ^ tag(key);
    // A forged or foreign cursor decodes to a huge offset.
    (offset < 1 << 32).then_some(offset as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct L(Vec<Bytes>);
    impl Page for L {
        fn key(&self) -> &'static str {
            "tools"
        }
        fn items(&self) -> &[Bytes] {
            &self.0
        }
    }

    #[test]
    fn pages_follow_cursors_to_the_end_and_reject_foreign_ones() {
        let list = L((0..5).map(|i| Bytes::from(format!("{{\"n\":{i}}}"))).collect());
        let mut cursor: Option<String> = None;
        let mut seen = Vec::new();
        loop {
            let page: serde_json::Value =
                serde_json::from_slice(&list.page(cursor.as_deref(), 2, "").unwrap()).unwrap();
            seen.extend(page["tools"].as_array().unwrap().iter().map(|t| t["n"].as_u64().unwrap()));
            match page.get("nextCursor") {
                Some(c) => cursor = Some(c.as_str().unwrap().to_owned()),
                None => break,
            }
        }
        assert_eq!(seen, [0, 1, 2, 3, 4]);
        assert_eq!(list.page(Some("nope"), 2, ""), Err(PageError));
        assert_eq!(list.page(Some(&encode("prompts", 2)), 2, ""), Err(PageError), "a cursor of another list");
        let all: serde_json::Value =
            serde_json::from_slice(&list.page(None, 0, r#""resultType":"complete""#).unwrap()).unwrap();
        assert_eq!(all["resultType"], "complete");
        assert_eq!(all["tools"].as_array().unwrap().len(), 5);
        assert!(all.get("nextCursor").is_none());
    }
}
