//! The bodies `/mcp` answers with: one buffer (JSON, text, or nothing), or a Server-Sent Events stream of
//! JSON-RPC frames with a keep-alive comment while it is idle.
//!
//! An enum rather than a boxed body: the common answer (one JSON buffer) costs no allocation beyond its bytes.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use http_body::{Frame, SizeHint};
use tokio::time::{Instant, Sleep};

/// How often an idle SSE stream carries a comment, so that proxies and clients keep it open.
pub(crate) const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// A source of frames for an SSE stream: `Ready(None)` ends it.
pub(crate) trait Frames: Send + 'static {
    fn poll_frame(&mut self, cx: &mut Context<'_>) -> Poll<Option<Bytes>>;
}

pub(crate) enum Body {
    Full(Option<Bytes>),
    Events(Box<Events>),
}

impl Body {
    pub(crate) fn full(bytes: impl Into<Bytes>) -> Body {
        let bytes = bytes.into();
        Body::Full((!bytes.is_empty()).then_some(bytes))
    }

    pub(crate) fn events(frames: impl Frames) -> Body {
        Body::Events(Box::new(Events { frames: Box::new(frames), idle: Box::pin(tokio::time::sleep(KEEP_ALIVE)) }))
    }
}

/// An SSE stream: each frame is one `message` event.
pub(crate) struct Events {
    frames: Box<dyn Frames>,
    /// Fires when nothing was sent for [`KEEP_ALIVE`]; reset by every event.
    idle: Pin<Box<Sleep>>,
}

impl Events {
    fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        match self.frames.poll_frame(cx) {
            Poll::Ready(Some(frame)) => {
                self.idle.as_mut().reset(Instant::now() + KEEP_ALIVE);
                Poll::Ready(Some(event(&frame)))
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => {
                if self.idle.as_mut().poll(cx).is_ready() {
                    self.idle.as_mut().reset(Instant::now() + KEEP_ALIVE);
                    return Poll::Ready(Some(Bytes::from_static(b":\n\n")));
                }
                Poll::Pending
            }
        }
    }
}

/// One frame as an SSE `message` event. Frames are single-line JSON; should one hold a line break anyway, each
/// line becomes its own `data:` field, which a client joins back with `\n`.
pub(crate) fn event(frame: &[u8]) -> Bytes {
    let text = frame.strip_suffix(b"\n").unwrap_or(frame);
    let mut out = BytesMut::with_capacity(text.len() + 24);
    out.put_slice(b"event:message\n");
    for line in text.split(|&b| b == b'\n') {
        out.put_slice(b"data:");
        out.put_slice(line.strip_suffix(b"\r").unwrap_or(line));
        out.put_u8(b'\n');
    }
    out.put_u8(b'\n');
    out.freeze()
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            Body::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Body::Events(events) => events.poll_event(cx).map(|e| e.map(|b| Ok(Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, Body::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Body::Full(bytes) => SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64)),
            Body::Events(_) => SizeHint::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_become_message_events() {
        assert_eq!(&event(b"{\"a\":1}\n")[..], b"event:message\ndata:{\"a\":1}\n\n");
        assert_eq!(&event(b"{\"a\":\n1}")[..], b"event:message\ndata:{\"a\":\ndata:1}\n\n");
    }

    struct Two(Vec<Bytes>);
    impl Frames for Two {
        fn poll_frame(&mut self, _: &mut Context<'_>) -> Poll<Option<Bytes>> {
            Poll::Ready(self.0.pop())
        }
    }

    #[tokio::test]
    async fn a_stream_ends_when_its_frames_do() {
        use http_body_util::BodyExt;
        let body = Body::events(Two(vec![Bytes::from_static(b"2"), Bytes::from_static(b"1")]));
        let all = body.collect().await.unwrap().to_bytes();
        assert_eq!(&all[..], b"event:message\ndata:1\n\nevent:message\ndata:2\n\n");
        let empty = Body::full("");
        assert!(http_body::Body::is_end_stream(&empty));
    }
}
