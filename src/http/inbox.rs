//! The frames on their way to one waiting request: a queue with one sender (the routing of its session's
//! outbound frames) and one receiver (the request's answer or stream).
//!
//! Most requests get exactly one frame, their response. A general channel costs two allocations per request
//! (its shared state and a first block of slots, over a kilobyte); this is one small allocation, and none more
//! while a single frame is queued at a time.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;

#[derive(Default)]
struct State {
    frames: VecDeque<Bytes>,
    waker: Option<Waker>,
    /// The sender is gone: once the queue is empty, the receiver sees the end.
    ended: bool,
    /// The receiver is gone: frames sent from now on are dropped at once.
    deaf: bool,
}

struct Shared(Mutex<State>);

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

pub(crate) struct Sender(Arc<Shared>);

pub(crate) struct Receiver(Arc<Shared>);

pub(crate) fn inbox() -> (Sender, Receiver) {
    let shared = Arc::new(Shared(Mutex::new(State::default())));
    (Sender(shared.clone()), Receiver(shared))
}

impl Sender {
    pub(crate) fn send(&self, frame: Bytes) {
        let waker = {
            let mut s = self.0.lock();
            if s.deaf {
                return;
            }
            s.frames.push_back(frame);
            s.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        let waker = {
            let mut s = self.0.lock();
            s.ended = true;
            s.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl Receiver {
    /// The next frame; `Ready(None)` once the sender is gone and every frame was taken.
    pub(crate) fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        let mut s = self.0.lock();
        if let Some(frame) = s.frames.pop_front() {
            return Poll::Ready(Some(frame));
        }
        if s.ended {
            return Poll::Ready(None);
        }
        match &mut s.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            slot => *slot = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    pub(crate) async fn recv(&mut self) -> Option<Bytes> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    #[cfg(test)]
    /// A frame if one is queued (tests).
    pub(crate) fn try_recv(&mut self) -> Option<Bytes> {
        self.0.lock().frames.pop_front()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let mut s = self.0.lock();
        s.deaf = true;
        s.frames.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_arrive_in_order_and_the_end_after_them() {
        let (tx, mut rx) = inbox();
        let waiting = tokio::spawn(async move {
            let mut got = Vec::new();
            while let Some(f) = rx.recv().await {
                got.push(f);
            }
            got
        });
        tokio::task::yield_now().await;
        tx.send(Bytes::from_static(b"1"));
        tx.send(Bytes::from_static(b"2"));
        drop(tx);
        assert_eq!(waiting.await.unwrap(), vec![Bytes::from_static(b"1"), Bytes::from_static(b"2")]);
    }

    #[test]
    fn nothing_is_kept_for_a_receiver_that_is_gone() {
        let (tx, rx) = inbox();
        tx.send(Bytes::from_static(b"kept until the receiver goes"));
        drop(rx);
        tx.send(Bytes::from_static(b"dropped"));
        assert!(tx.0.lock().frames.is_empty());
    }
}
