//! The embedded limiter: a sliding log per key in this process.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use super::{validate, Decision, RateLimitError, RateLimiter};
use crate::clock::{Clock, SystemClock};
use crate::kv::BackendHealth;

/// Every this many checks, logs whose calls have all left their window are dropped, so keys of clients that
/// went away do not pile up; amortised, no timer task.
const SWEEP_EVERY: u32 = 1024;

/// The embedded sliding-log limiter; cheap to clone (clones share the logs).
#[derive(Clone)]
pub struct MemoryLimiter {
    /// The logs, under one lock: a check is a hash probe and a few deque operations.
    logs: Arc<Mutex<Logs>>,
    /// Time source; a manual one in tests, to check exact window edges.
    clock: Arc<dyn Clock>,
}

struct Logs {
    /// Per key, the allowed calls still inside their window.
    by_key: HashMap<Box<str>, Log>,
    /// Checks since the last sweep.
    since_sweep: u32,
}

struct Log {
    /// Times of the allowed calls, oldest first; at most `limit` long, since refusals are not recorded.
    calls: VecDeque<Duration>,
    /// The window of the last check, which says when the whole log has gone stale.
    window: Duration,
}

impl Default for MemoryLimiter {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryLimiter {
    pub(crate) fn new() -> Self {
        Self::with_clock(Arc::new(SystemClock::default()))
    }

    pub fn with_clock(clock: Arc<dyn Clock>) -> Self {
        MemoryLimiter { logs: Arc::new(Mutex::new(Logs { by_key: HashMap::new(), since_sweep: 0 })), clock }
    }

    /// The check itself, synchronous (it never waits).
    pub(crate) fn check_now(&self, key: &str, limit: u32, window: Duration) -> Result<Decision, RateLimitError> {
        validate(limit, window)?;
        let now = self.clock.now();
        let mut logs = self.lock();
        logs.since_sweep += 1;
        if logs.since_sweep >= SWEEP_EVERY {
            logs.since_sweep = 0;
            logs.by_key.retain(|_, log| log.calls.back().is_some_and(|&last| last + log.window > now));
        }
        // Probed by `&str` so the common case (a known key) allocates nothing.
        if !logs.by_key.contains_key(key) {
            logs.by_key.insert(key.into(), Log { calls: VecDeque::new(), window });
        }
        let Some(log) = logs.by_key.get_mut(key) else { unreachable!("inserted above") };
        log.window = window;
        // A call made at `t` counts in `[t, t + window)`.
        while log.calls.front().is_some_and(|&t| t + window <= now) {
            log.calls.pop_front();
        }
        let used = log.calls.len();
        let limit_len = limit as usize;
        if used < limit_len {
            log.calls.push_back(now);
            return Ok(Decision::Allowed { remaining: (limit_len - used - 1) as u32 });
        }
        // With a lowered limit more calls may be logged than now fit: the call that must leave for one more to
        // fit is the (used - limit + 1)-th oldest.
        let edge = log.calls[used - limit_len];
        Ok(Decision::Limited { retry_after: edge + window - now, limit, window })
    }

    #[cfg(test)]
    /// Keys with a log; for tests and a memory gauge.
    pub(crate) fn keys(&self) -> usize {
        self.lock().by_key.len()
    }

    fn lock(&self) -> MutexGuard<'_, Logs> {
        // Mutations complete before anything can panic, so a poisoned lock still guards consistent logs.
        self.logs.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl RateLimiter for MemoryLimiter {
    async fn check(&self, key: &str, limit: u32, window: Duration) -> Result<Decision, RateLimitError> {
        self.check_now(key, limit, window)
    }

    fn health(&self) -> BackendHealth {
        BackendHealth::Ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    const W: Duration = Duration::from_secs(10);
    const NS: Duration = Duration::from_nanos(1);

    fn limiter() -> (MemoryLimiter, Arc<ManualClock>) {
        let clock = ManualClock::new();
        (MemoryLimiter::with_clock(clock.clone()), clock)
    }

    #[test]
    fn exact_counts_at_the_window_edge() {
        let (l, clock) = limiter();
        for remaining in (0..3).rev() {
            assert_eq!(l.check_now("k", 3, W).unwrap(), Decision::Allowed { remaining });
        }
        clock.advance(W - NS);
        assert_eq!(l.check_now("k", 3, W).unwrap(), Decision::Limited { retry_after: NS, limit: 3, window: W });
        clock.advance(NS);
        // All three calls leave the window at once, exactly `W` after they were made.
        assert_eq!(l.check_now("k", 3, W).unwrap(), Decision::Allowed { remaining: 2 });
    }

    #[test]
    fn the_window_slides_call_by_call() {
        let (l, clock) = limiter();
        assert!(l.check_now("k", 2, W).unwrap().is_allowed()); // t = 0
        clock.advance(Duration::from_secs(4));
        assert!(l.check_now("k", 2, W).unwrap().is_allowed()); // t = 4
        clock.advance(Duration::from_secs(1));
        let refused = l.check_now("k", 2, W).unwrap(); // t = 5: the call at 0 leaves at 10
        assert_eq!(refused, Decision::Limited { retry_after: Duration::from_secs(5), limit: 2, window: W });
        clock.advance(Duration::from_secs(5)); // t = 10
        assert_eq!(l.check_now("k", 2, W).unwrap(), Decision::Allowed { remaining: 0 });
        let refused = l.check_now("k", 2, W).unwrap(); // the call at 4 leaves at 14
        assert_eq!(refused, Decision::Limited { retry_after: Duration::from_secs(4), limit: 2, window: W });
    }

    #[test]
    fn refusals_do_not_extend_the_lockout() {
        let (l, clock) = limiter();
        assert!(l.check_now("k", 1, W).unwrap().is_allowed());
        for _ in 0..100 {
            clock.advance(Duration::from_millis(50));
            assert!(!l.check_now("k", 1, W).unwrap().is_allowed());
        }
        clock.advance(W - Duration::from_secs(5));
        assert!(l.check_now("k", 1, W).unwrap().is_allowed());
    }

    #[test]
    fn a_lowered_limit_waits_for_enough_calls_to_leave() {
        let (l, clock) = limiter();
        for _ in 0..4 {
            assert!(l.check_now("k", 4, W).unwrap().is_allowed());
            clock.advance(Duration::from_secs(1));
        }
        // Calls at 0, 1, 2, 3; now 4. With a limit of 2, one more fits when only one is left: the third
        // leaves at 12.
        let refused = l.check_now("k", 2, W).unwrap();
        assert_eq!(refused, Decision::Limited { retry_after: Duration::from_secs(8), limit: 2, window: W });
    }

    #[test]
    fn keys_are_independent_and_idle_ones_are_swept() {
        let (l, clock) = limiter();
        assert!(l.check_now("a", 1, W).unwrap().is_allowed());
        assert!(l.check_now("b", 1, W).unwrap().is_allowed());
        assert!(!l.check_now("a", 1, W).unwrap().is_allowed());
        clock.advance(W);
        for _ in 0..SWEEP_EVERY {
            l.check_now("busy", u32::MAX, W).unwrap();
        }
        assert_eq!(l.keys(), 1, "a and b went idle and were dropped");
    }

    #[test]
    fn zero_limits_are_refused_as_errors() {
        let (l, _) = limiter();
        assert!(matches!(l.check_now("k", 0, W), Err(RateLimitError::InvalidLimit { .. })));
        assert!(matches!(l.check_now("k", 1, Duration::ZERO), Err(RateLimitError::InvalidLimit { .. })));
    }
}
