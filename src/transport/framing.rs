//! Newline-delimited JSON-RPC framing with a size bound.
//!
//! MCP's stdio transport puts one message per line. A reader must not let a peer that never sends a newline
//! grow a buffer without limit, and must not lose the stream because one message was too large: an oversized
//! frame is skipped up to its newline and reported (with its first bytes, so the caller can still find its id),
//! and reading goes on with the next frame.

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufWriter};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// How many leading bytes of an oversized frame are kept for the report.
const PREFIX: usize = 512;

/// One unit read from the stream.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Frame {
    /// A complete line without its line terminator (never empty).
    Line(Bytes),
    /// A line longer than the limit, skipped; `len` counts all its bytes.
    Oversized { prefix: Bytes, len: usize },
}

/// Reads frames from `inner`.
pub(crate) struct FrameReader<R> {
    inner: R,
    buf: BytesMut,
    /// Bytes of `buf` already searched for a newline.
    scanned: usize,
    max: usize,
    /// Set while skipping an oversized frame: its prefix and the length seen so far.
    skipping: Option<(Bytes, usize)>,
    /// Reads are protocol traffic that keeps the runtime spinning ([`crate::spin`]); a server's stderr is not.
    counts_activity: bool,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    pub(crate) fn new(inner: R, max_frame_bytes: usize) -> Self {
        FrameReader {
            inner,
            buf: BytesMut::with_capacity(64 * 1024),
            scanned: 0,
            max: max_frame_bytes,
            skipping: None,
            counts_activity: false,
        }
    }

    /// Every read counts as traffic for [`crate::spin`]: for the streams that carry protocol messages.
    pub(crate) fn counting_activity(mut self) -> Self {
        self.counts_activity = true;
        self
    }

    /// The next frame, or `None` at end of stream.
    pub(crate) async fn next(&mut self) -> std::io::Result<Option<Frame>> {
        loop {
            if let Some(frame) = self.take_frame() {
                return Ok(Some(frame));
            }
            if self.buf.capacity() - self.buf.len() < 8 * 1024 {
                self.buf.reserve(64 * 1024);
            }
            if self.inner.read_buf(&mut self.buf).await? == 0 {
                return Ok(self.finish());
            }
            if self.counts_activity {
                crate::spin::activity();
            }
        }
    }

    /// A frame from what is buffered, if one is complete.
    fn take_frame(&mut self) -> Option<Frame> {
        loop {
            match memchr::memchr(b'\n', &self.buf[self.scanned..]) {
                Some(i) => {
                    let end = self.scanned + i;
                    let line = self.buf.split_to(end + 1).freeze();
                    self.scanned = 0;
                    if let Some((prefix, len)) = self.skipping.take() {
                        return Some(Frame::Oversized { prefix, len: len + end });
                    }
                    let line = trim_line(line);
                    if line.len() > self.max {
                        let prefix = line.slice(..PREFIX.min(line.len()));
                        return Some(Frame::Oversized { prefix, len: line.len() });
                    }
                    if !line.is_empty() {
                        return Some(Frame::Line(line));
                    }
                }
                None => {
                    self.scanned = self.buf.len();
                    match &mut self.skipping {
                        Some((_, len)) => {
                            *len += self.buf.len();
                            self.buf.clear();
                            self.scanned = 0;
                        }
                        None if self.buf.len() > self.max => {
                            let prefix = Bytes::copy_from_slice(&self.buf[..PREFIX.min(self.buf.len())]);
                            self.skipping = Some((prefix, self.buf.len()));
                            self.buf.clear();
                            self.scanned = 0;
                        }
                        None => {}
                    }
                    return None;
                }
            }
        }
    }

    /// At end of stream: a last line without newline still counts.
    fn finish(&mut self) -> Option<Frame> {
        self.scanned = 0;
        if let Some((prefix, len)) = self.skipping.take() {
            return Some(Frame::Oversized { prefix, len: len + self.buf.len() });
        }
        let line = trim_line(self.buf.split().freeze());
        (!line.is_empty()).then_some(Frame::Line(line))
    }
}

/// Writes every frame from `rx` to `out` until the channel closes, `close` is cancelled or a write fails; frames
/// already queued go out in the same write, and the buffer is flushed whenever the queue is empty. `out` is shut
/// down at the end (for a child's stdin, that is the MCP way to ask it to exit).
pub(crate) async fn write_frames<W: AsyncWrite + Unpin>(
    out: W,
    mut rx: mpsc::UnboundedReceiver<Bytes>,
    close: CancellationToken,
) {
    let mut out = BufWriter::with_capacity(64 * 1024, out);
    'frames: loop {
        let frame = tokio::select! {
            biased;
            _ = close.cancelled() => break,
            frame = rx.recv() => match frame { Some(f) => f, None => break },
        };
        if out.write_all(&frame).await.is_err() {
            break;
        }
        while let Ok(frame) = rx.try_recv() {
            if out.write_all(&frame).await.is_err() {
                break 'frames;
            }
        }
        if out.flush().await.is_err() {
            break;
        }
    }
    let _ = out.shutdown().await;
}

/// Drops the trailing `\n` / `\r\n` and surrounding blanks.
fn trim_line(mut line: Bytes) -> Bytes {
    while line.last().is_some_and(u8::is_ascii_whitespace) {
        line.truncate(line.len() - 1);
    }
    let start = line.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(line.len());
    line.slice(start..)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn frames(input: &[u8], max: usize) -> Vec<Frame> {
        // A reader that hands out 7 bytes at a time, to exercise frames split across reads.
        let (mut w, r) = tokio::io::duplex(7);
        let input = input.to_vec();
        tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            w.write_all(&input).await.unwrap();
        });
        let mut reader = FrameReader::new(r, max);
        let mut out = Vec::new();
        while let Some(f) = reader.next().await.unwrap() {
            out.push(f);
        }
        out
    }

    #[tokio::test]
    async fn lines_are_split_and_trimmed() {
        let got = frames(b"{\"a\":1}\n\r\n  {\"b\":2}\r\n{\"c\":3}", 4096).await;
        assert_eq!(
            got,
            vec![
                Frame::Line(Bytes::from_static(b"{\"a\":1}")),
                Frame::Line(Bytes::from_static(b"{\"b\":2}")),
                Frame::Line(Bytes::from_static(b"{\"c\":3}")),
            ]
        );
    }

    #[tokio::test]
    async fn an_oversized_frame_is_skipped_and_the_stream_goes_on() {
        let mut input = b"{\"id\":1}\n".to_vec();
        input.extend_from_slice(b"{\"id\":2,\"x\":\"");
        input.extend(std::iter::repeat_n(b'x', 10_000));
        input.extend_from_slice(b"\"}\n{\"id\":3}\n");
        let got = frames(&input, 1000).await;
        assert_eq!(got.len(), 3, "{got:?}");
        assert_eq!(got[0], Frame::Line(Bytes::from_static(b"{\"id\":1}")));
        match &got[1] {
            Frame::Oversized { prefix, len } => {
                assert!(prefix.starts_with(b"{\"id\":2"));
                assert_eq!(*len, 10_015);
            }
            other => panic!("expected oversized, got {other:?}"),
        }
        assert_eq!(got[2], Frame::Line(Bytes::from_static(b"{\"id\":3}")));
    }
}

/// The frame reader's contract on arbitrary input, whatever the read sizes: every line that is not blank
/// comes out once, in order, exactly as sent without its surrounding blanks; a line over the limit comes out as
/// `Oversized` with its first bytes and a length that covers it; blank lines and line ends never make a frame;
/// nothing panics and nothing is lost or merged.
#[cfg(test)]
mod contract {
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use proptest::prelude::*;
    use tokio::io::ReadBuf;

    use super::*;

    const MAX: usize = 64;

    /// Hands out `data` in reads of the given sizes (cycled).
    struct Chunked {
        data: Vec<u8>,
        at: usize,
        sizes: Vec<usize>,
        turn: usize,
    }

    impl AsyncRead for Chunked {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<std::io::Result<()>> {
            let size = self.sizes[self.turn % self.sizes.len()];
            self.turn += 1;
            let n = size.min(self.data.len() - self.at).min(buf.remaining());
            let at = self.at;
            buf.put_slice(&self.data[at..at + n]);
            self.at += n;
            Poll::Ready(Ok(()))
        }
    }

    /// A line's content: any bytes but a newline, without blanks around it. Short ones fit the limit even with
    /// their blanks; long ones are over it even without.
    fn content() -> impl Strategy<Value = Vec<u8>> {
        let byte = any::<u8>().prop_filter("no newline", |b| *b != b'\n');
        prop_oneof![
            4 => prop::collection::vec(byte.clone(), 0..40),
            1 => prop::collection::vec(byte, 100..2000),
        ]
        .prop_map(|mut v| {
            while v.last().is_some_and(u8::is_ascii_whitespace) {
                v.pop();
            }
            let start = v.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(v.len());
            v.drain(..start);
            v
        })
    }

    fn blanks() -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(prop::sample::select(vec![b' ', b'\t', b'\r']), 0..3)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]

        #[test]
        fn every_line_comes_out_once_in_order_trimmed_or_reported_oversized(
            lines in prop::collection::vec((blanks(), content(), blanks(), any::<bool>()), 0..20),
            final_newline in any::<bool>(),
            sizes in prop::collection::vec(1usize..300, 1..8),
        ) {
            let mut data = Vec::new();
            for (i, (before, line, after, crlf)) in lines.iter().enumerate() {
                data.extend_from_slice(before);
                data.extend_from_slice(line);
                data.extend_from_slice(after);
                if i + 1 < lines.len() || final_newline {
                    data.extend_from_slice(if *crlf { b"\r\n" } else { b"\n" });
                }
            }
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let got = rt.block_on(async {
                let mut reader = FrameReader::new(Chunked { data, at: 0, sizes, turn: 0 }, MAX);
                let mut out = Vec::new();
                while let Some(f) = reader.next().await.unwrap() {
                    out.push(f);
                }
                out
            });
            let expected: Vec<_> = lines.iter().filter(|l| !l.1.is_empty()).collect();
            prop_assert_eq!(got.len(), expected.len(), "{:?}", got);
            for (frame, (before, line, after, crlf)) in got.iter().zip(expected) {
                match frame {
                    Frame::Line(bytes) => {
                        prop_assert!(line.len() <= MAX);
                        prop_assert_eq!(&bytes[..], &line[..]);
                    }
                    Frame::Oversized { prefix, len } => {
                        prop_assert!(line.len() > MAX, "a line within the limit was reported oversized");
                        // As read up to the newline: the `\r` of a CRLF included.
                        let ending: &[u8] = if *crlf { b"\r" } else { b"" };
                        let raw: Vec<u8> = [&before[..], &line[..], &after[..], ending].concat();
                        prop_assert!(
                            raw.starts_with(prefix) || line.starts_with(prefix),
                            "prefix {:?} of raw {:?}",
                            String::from_utf8_lossy(prefix),
                            String::from_utf8_lossy(&raw)
                        );
                        prop_assert!(prefix.len() == PREFIX.min(prefix.len()) && !prefix.is_empty());
                        prop_assert!(*len >= line.len() && *len <= raw.len() + 1, "len {} for {} bytes", len, line.len());
                    }
                }
            }
        }
    }
}
