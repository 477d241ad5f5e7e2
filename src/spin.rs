//! Brief spinning of the runtime thread while calls are flowing, instead of sleeping between messages.
//!
//! A call through the gateway crosses it twice, and each crossing used to start with the runtime thread asleep
//! in `epoll_wait`. Waking a sleeping thread is cheap on bare metal but costs 20-30 µs on the virtual machines
//! measured (an idle vCPU halts and must be woken by the host), and those wake-ups were most of the latency the
//! gateway added to a call at 1 in flight. So after any message is read, a task keeps the runtime polling
//! (`yield_now`, which makes the scheduler check for I/O without blocking) for up to `window`; each round also
//! yields the CPU to other runnable threads (`sched_yield`), so the spin only uses a core nobody else wants.
//! With no message for `window`, it stops and the thread sleeps as before: an idle gateway never spins.
//!
//! The window is `DFS_GATEWAY_SPIN_US` microseconds (default 100; 0 turns spinning off), read and validated with
//! the configuration (`config::RuntimeConfig`).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// Messages read so far (by any reader); the spinner watches it change.
static EVENTS: AtomicU64 = AtomicU64::new(0);
/// The spinner is running (no need to wake it).
static SPINNING: AtomicBool = AtomicBool::new(false);
/// Started: readers only count activity when someone spins on it.
static ENABLED: AtomicBool = AtomicBool::new(false);
static WAKE: Notify = Notify::const_new();

/// Something was read: keep (or start) spinning.
#[inline]
pub(crate) fn activity() {
    if !ENABLED.load(Ordering::Relaxed) {
        return;
    }
    EVENTS.fetch_add(1, Ordering::Relaxed);
    if !SPINNING.load(Ordering::Relaxed) {
        WAKE.notify_one();
    }
}

/// Runs the spinner on the current runtime (one per process; a second call is a no-op).
pub(crate) fn start(window: Duration) {
    if ENABLED.swap(true, Ordering::SeqCst) {
        return;
    }
    tokio::spawn(run(window));
}

async fn run(window: Duration) {
    loop {
        WAKE.notified().await;
        SPINNING.store(true, Ordering::Relaxed);
        let mut seen = EVENTS.load(Ordering::Relaxed);
        let mut last = Instant::now();
        loop {
            tokio::task::yield_now().await;
            let now = EVENTS.load(Ordering::Relaxed);
            if now != seen {
                seen = now;
                last = Instant::now();
                continue;
            }
            if last.elapsed() >= window {
                break;
            }
            std::thread::yield_now();
        }
        SPINNING.store(false, Ordering::Relaxed);
    }
}
