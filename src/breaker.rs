//! A consecutive-failures circuit breaker, one per downstream server.
//!
//! ```text
//!   closed ──(N failures in a row)──▶ open ──(cool-down over; next call is the probe)──▶ half-open
//!     ▲                                 ▲                                                   │
//!     └──────────(probe answered)───────┼───────────────────────────────────────────────────┤
//!                                       └──────────────(probe failed)───────────────────────┘
//! ```
//!
//! Lock-free: the reader task records answers, the server actor records failures and asks before each call.
//! An answer of any kind (a result, an `isError` result, a JSON-RPC error) counts as success: the server is
//! alive. Failures are timeouts, crashes and failed starts.

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::clock::{Clock, SystemClock};

const CLOSED: u8 = 0;
const OPEN: u8 = 1;
const HALF_OPEN: u8 = 2;

/// What the breaker says about one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Permit {
    Allowed,
    /// The cool-down is over: this call decides whether the circuit closes again.
    Probe,
    /// Fail fast; the circuit may let a probe through after `retry_in`.
    Rejected {
        retry_in: Duration,
    },
}

#[derive(Debug, Clone, Copy, Default, Hash, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum CircuitState {
    /// Calls flow.
    #[default]
    Closed,
    /// Calls fail fast until the cool-down ends.
    Open,
    /// One probe call is let through to test the server.
    HalfOpen,
}

impl CircuitState {
    /// The `gateway_circuit_state` gauge value: 0 closed, 1 half-open, 2 open (dashboards and alerts rely on
    /// these numbers).
    pub(crate) fn gauge_value(self) -> i64 {
        match self {
            CircuitState::Closed => 0,
            CircuitState::HalfOpen => 1,
            CircuitState::Open => 2,
        }
    }
}

impl CircuitState {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            CircuitState::Closed => "closed",
            CircuitState::Open => "open",
            CircuitState::HalfOpen => "half-open",
        }
    }
}

pub(crate) struct Breaker {
    /// Consecutive failures that open the circuit.
    threshold: u32,
    /// How long an open circuit fails fast before letting a probe through.
    cooldown: Duration,
    state: AtomicU8,
    failures: AtomicU32,
    /// When the circuit last opened, in ms of `clock`.
    opened_at: AtomicU64,
    /// Read only when a call fails or the circuit is open: a closed circuit costs one atomic load per call.
    clock: Arc<dyn Clock>,
}

impl Breaker {
    pub(crate) fn new(threshold: u32, cooldown: Duration) -> Self {
        Self::with_clock(threshold, cooldown, Arc::new(SystemClock::default()))
    }

    /// A breaker reading time from `clock` (tests step a [`crate::clock::ManualClock`]).
    pub(crate) fn with_clock(threshold: u32, cooldown: Duration, clock: Arc<dyn Clock>) -> Self {
        Breaker {
            threshold: threshold.max(1),
            cooldown,
            state: AtomicU8::new(CLOSED),
            failures: AtomicU32::new(0),
            opened_at: AtomicU64::new(0),
            clock,
        }
    }

    fn now_ms(&self) -> u64 {
        self.clock.now().as_millis() as u64
    }

    pub(crate) fn state(&self) -> CircuitState {
        match self.state.load(Ordering::Acquire) {
            OPEN => CircuitState::Open,
            HALF_OPEN => CircuitState::HalfOpen,
            _ => CircuitState::Closed,
        }
    }

    /// Whether a call may go to the server now.
    pub(crate) fn allow(&self) -> Permit {
        match self.state.load(Ordering::Acquire) {
            CLOSED => Permit::Allowed,
            OPEN => {
                let open_for =
                    Duration::from_millis(self.now_ms().saturating_sub(self.opened_at.load(Ordering::Acquire)));
                if open_for < self.cooldown {
                    return Permit::Rejected { retry_in: self.cooldown - open_for };
                }
                // Exactly one caller wins the probe.
                match self.state.compare_exchange(OPEN, HALF_OPEN, Ordering::AcqRel, Ordering::Acquire) {
                    Ok(_) => Permit::Probe,
                    Err(_) => Permit::Rejected { retry_in: self.cooldown },
                }
            }
            _ => Permit::Rejected { retry_in: self.cooldown },
        }
    }

    /// The server answered.
    pub(crate) fn success(&self) {
        self.failures.store(0, Ordering::Release);
        if self.state.load(Ordering::Acquire) != CLOSED {
            self.state.store(CLOSED, Ordering::Release);
        }
    }

    /// A call failed (timeout, crash, failed start).
    pub(crate) fn failure(&self) {
        let failures = self.failures.fetch_add(1, Ordering::AcqRel) + 1;
        let state = self.state.load(Ordering::Acquire);
        if state == HALF_OPEN || (state == CLOSED && failures >= self.threshold) {
            self.opened_at.store(self.now_ms(), Ordering::Release);
            self.state.store(OPEN, Ordering::Release);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::clock::ManualClock;

    fn breaker(threshold: u32, cooldown: Duration) -> (Breaker, Arc<ManualClock>) {
        let clock = ManualClock::new();
        (Breaker::with_clock(threshold, cooldown, clock.clone()), clock)
    }

    #[test]
    fn closed_open_half_open_closed() {
        let (b, clock) = breaker(3, Duration::from_millis(50));
        for _ in 0..2 {
            b.failure();
        }
        assert_eq!((b.state(), b.allow()), (CircuitState::Closed, Permit::Allowed));
        b.success();
        for _ in 0..3 {
            b.failure();
        }
        assert_eq!(b.state(), CircuitState::Open);
        assert!(matches!(b.allow(), Permit::Rejected { .. }));
        clock.advance(Duration::from_millis(60));
        assert_eq!(b.allow(), Permit::Probe);
        assert_eq!(b.state(), CircuitState::HalfOpen);
        assert!(matches!(b.allow(), Permit::Rejected { .. }), "one probe at a time");
        b.success();
        assert_eq!((b.state(), b.allow()), (CircuitState::Closed, Permit::Allowed));
    }

    #[test]
    fn a_failed_probe_opens_the_circuit_again() {
        let (b, clock) = breaker(1, Duration::from_millis(20));
        b.failure();
        clock.advance(Duration::from_millis(30));
        assert_eq!(b.allow(), Permit::Probe);
        b.failure();
        assert_eq!(b.state(), CircuitState::Open);
        assert!(matches!(b.allow(), Permit::Rejected { .. }));
    }

    #[test]
    fn an_open_circuit_says_exactly_how_long_it_stays_open() {
        let (b, clock) = breaker(1, Duration::from_secs(30));
        b.failure();
        clock.advance(Duration::from_secs(10));
        assert_eq!(b.allow(), Permit::Rejected { retry_in: Duration::from_secs(20) });
        clock.advance(Duration::from_millis(19_999));
        assert_eq!(b.allow(), Permit::Rejected { retry_in: Duration::from_millis(1) });
        clock.advance(Duration::from_millis(1));
        assert_eq!(b.allow(), Permit::Probe);
    }
}
