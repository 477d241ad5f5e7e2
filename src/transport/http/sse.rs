//! An incremental `text/event-stream` parser for the answers and the listen stream of Streamable HTTP servers,
//! with a bound on the bytes it buffers: an event or a line over the frame limit is skipped, counted, and the
//! stream goes on.

use bytes::{Bytes, BytesMut};
use http::HeaderValue;

/// One event of an SSE stream.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum SseEvent {
    /// The event's data (its `data:` lines joined by newlines).
    Data(Bytes),
    /// An event whose data went over the limit, skipped; its size so far.
    Oversized(usize),
}

/// An incremental `text/event-stream` parser with a bound on buffered bytes.
pub(super) struct SseParser {
    max: usize,
    /// Bytes of an unfinished line.
    line: BytesMut,
    data: BytesMut,
    /// The current event is over the limit: its data is dropped until it ends.
    skipping: Option<usize>,
    last_id: Option<String>,
    /// A `\r` ended the last chunk: a `\n` starting the next belongs to it.
    after_cr: bool,
    /// The current line went over the limit and is being dropped: its end is not a blank line.
    dropping_line: bool,
}

impl SseParser {
    pub(super) fn new(max: usize) -> Self {
        SseParser {
            max,
            line: BytesMut::new(),
            data: BytesMut::new(),
            skipping: None,
            last_id: None,
            after_cr: false,
            dropping_line: false,
        }
    }

    pub(super) fn last_id(&self) -> Option<HeaderValue> {
        self.last_id.as_deref().and_then(|id| HeaderValue::from_str(id).ok())
    }

    pub(super) fn feed(&mut self, mut chunk: &[u8]) -> Vec<SseEvent> {
        let mut events = Vec::new();
        if self.after_cr && chunk.first() == Some(&b'\n') {
            chunk = &chunk[1..];
        }
        self.after_cr = false;
        while let Some(i) = memchr::memchr2(b'\n', b'\r', chunk) {
            let mut line = std::mem::take(&mut self.line);
            line.extend_from_slice(&chunk[..i]);
            let crlf = chunk[i] == b'\r';
            chunk = &chunk[i + 1..];
            if crlf {
                match chunk.first() {
                    Some(b'\n') => chunk = &chunk[1..],
                    None => self.after_cr = true,
                    Some(_) => {}
                }
            }
            if std::mem::take(&mut self.dropping_line) {
                continue;
            }
            self.on_line(&line, &mut events);
        }
        if self.dropping_line {
            *self.skipping.get_or_insert(0) += chunk.len();
        } else if self.line.len() + chunk.len() > self.max {
            // A line longer than any frame may be: keep counting, drop the bytes.
            let len = self.line.len() + chunk.len() + self.data.len();
            self.skipping = Some(self.skipping.unwrap_or(0).max(len));
            self.line.clear();
            self.data.clear();
            self.dropping_line = true;
        } else {
            self.line.extend_from_slice(chunk);
        }
        events
    }

    fn on_line(&mut self, line: &[u8], events: &mut Vec<SseEvent>) {
        if line.is_empty() {
            if let Some(len) = self.skipping.take() {
                events.push(SseEvent::Oversized(len));
            } else if !self.data.is_empty() {
                events.push(SseEvent::Data(std::mem::take(&mut self.data).freeze()));
            }
            self.data.clear();
            return;
        }
        let (field, value) = match memchr::memchr(b':', line) {
            Some(0) => return, // a comment (keep-alive)
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &b""[..]),
        };
        match field {
            b"data" => {
                if let Some(len) = &mut self.skipping {
                    *len += value.len();
                } else if self.data.len() + value.len() + 1 > self.max {
                    self.skipping = Some(self.data.len() + value.len());
                    self.data.clear();
                } else {
                    if !self.data.is_empty() {
                        self.data.extend_from_slice(b"\n");
                    }
                    self.data.extend_from_slice(value);
                }
            }
            b"id" => self.last_id = std::str::from_utf8(value).ok().map(str::to_owned),
            _ => {} // event:, retry: and unknown fields
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(s: &str) -> SseEvent {
        SseEvent::Data(Bytes::copy_from_slice(s.as_bytes()))
    }

    #[test]
    fn sse_events_split_across_chunks_and_line_endings() {
        let mut p = SseParser::new(1024);
        let mut got = Vec::new();
        for chunk in
            ["id: 7\r", "\ndata: {\"a\"", ":1}\r\n\r\n: keep-alive\n\nevent: message\ndata: x\ndata: y\n", "\n"]
        {
            got.extend(p.feed(chunk.as_bytes()));
        }
        assert_eq!(got, vec![data("{\"a\":1}"), data("x\ny")]);
        assert_eq!(p.last_id().unwrap(), "7");
    }

    #[test]
    fn an_oversized_event_is_skipped_and_the_stream_goes_on() {
        let mut p = SseParser::new(64);
        let big = format!("data: {}\n\n", "x".repeat(500));
        let mut got = p.feed(big.as_bytes());
        got.extend(p.feed(b"data: ok\n\n"));
        assert!(matches!(got[0], SseEvent::Oversized(n) if n >= 500), "{got:?}");
        assert_eq!(got[1], data("ok"));
        // A long line split over many chunks is bounded too.
        let mut p = SseParser::new(64);
        let mut got = Vec::new();
        for _ in 0..100 {
            got.extend(p.feed(b"xxxxxxxxxxxxxxxxxxxx"));
        }
        got.extend(p.feed(b"\n\ndata: ok\n\n"));
        assert!(p.line.len() <= 64);
        assert_eq!(got.last(), Some(&data("ok")));
    }
}
