//! Coalescing ("singleflight"): identical calls in flight at once make one downstream call.
//!
//! The first caller for a key is the *leader* and runs its future; callers arriving while it runs are
//! *followers* and wait for the leader's value, which every one of them receives (a failure too, when `V` is a
//! `Result`: a downstream that just failed is not asked again by each follower). Nothing is remembered after
//! the flight lands; keeping results is the cache's job.
//!
//! If the leader's future is dropped before it finishes (its client went away, a timeout around it fired) or
//! panics, its flight is abandoned: the followers wake, one of them becomes the new leader and runs *its own*
//! future, and the rest follow that one. So no follower waits on work nobody is doing, and no entry outlives
//! its flight.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::watch;

/// In-process singleflight keyed by `K`, sharing values of type `V`.
pub struct Coalescer<K, V> {
    /// The flights in the air. Shared with each leader's guard, which removes its entry however the leader
    /// ends.
    flights: Arc<Mutex<HashMap<K, Flight<V>>>>,
}

struct Flight<V> {
    /// Distinguishes this flight from a later one under the same key, so a stale guard removes only its own.
    id: u64,
    /// Followers subscribe here; `Some` once the leader lands, closed without a value if it is abandoned.
    result: watch::Receiver<Option<V>>,
    /// Callers that joined this flight as followers (for metrics, and for tests to know who is waiting).
    followers: usize,
}

/// What [`Coalescer::run`] returns: the value, and whether this caller ran the work itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shared<V> {
    pub value: V,
    /// `true` for the caller whose future produced the value; `false` for one answered by another's call
    /// (evidence and metrics record this as "coalesced").
    pub leader: bool,
}

impl<K, V> Default for Coalescer<K, V> {
    fn default() -> Self {
        Coalescer { flights: Arc::new(Mutex::new(HashMap::new())) }
    }
}

impl<K, V> Clone for Coalescer<K, V> {
    fn clone(&self) -> Self {
        Coalescer { flights: self.flights.clone() }
    }
}

impl<K, V> Coalescer<K, V>
where
    K: Hash + Eq + Clone,
    V: Clone,
{
    pub fn new() -> Self {
        Self::default()
    }

    /// Flights in the air now; 0 when nothing runs (tests check that nothing leaks).
    pub fn in_flight(&self) -> usize {
        lock(&self.flights).len()
    }

    /// How many callers joined the flight now running for `key` as followers; `None` if none runs.
    pub fn followers(&self, key: &K) -> Option<usize> {
        lock(&self.flights).get(key).map(|f| f.followers)
    }

    /// Runs `work()` unless a call for `key` is already running, in which case waits for that call's value.
    /// `work` is called at most once, and only if this caller becomes the leader.
    pub async fn run<F, Fut>(&self, key: K, work: F) -> Shared<V>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = V>,
    {
        let mut work = Some(work);
        loop {
            // The lock is taken and released in this block, never held across an await.
            let role = {
                let mut flights = lock(&self.flights);
                match flights.get_mut(&key) {
                    Some(flight) => {
                        flight.followers += 1;
                        Err(flight.result.clone())
                    }
                    None => {
                        let (tx, rx) = watch::channel(None);
                        let id = next_id();
                        flights.insert(key.clone(), Flight { id, result: rx, followers: 0 });
                        Ok((id, tx))
                    }
                }
            };
            let mut rx = match role {
                Ok((id, tx)) => {
                    let guard = LeaderGuard { flights: &self.flights, key: &key, id, tx };
                    // Invariant: `work` is taken only here, and this arm returns, so it is still `Some`.
                    let work = work.take().expect("a caller leads at most once");
                    let value = work().await;
                    guard.land(value.clone());
                    return Shared { value, leader: true };
                }
                Err(rx) => rx,
            };
            // `wait_for` fails only when the sender is gone without a value: the leader was abandoned, so go
            // round and take over (or follow whoever took over first).
            let landed = match rx.wait_for(Option::is_some).await {
                Ok(value) => value.clone(),
                Err(_) => None,
            };
            if let Some(value) = landed {
                return Shared { value, leader: false };
            }
        }
    }
}

/// Removes the leader's flight when the leader lands, is dropped or panics.
struct LeaderGuard<'a, K: Hash + Eq, V> {
    flights: &'a Mutex<HashMap<K, Flight<V>>>,
    key: &'a K,
    id: u64,
    tx: watch::Sender<Option<V>>,
}

impl<K: Hash + Eq, V> LeaderGuard<'_, K, V> {
    fn land(self, value: V) {
        // Unregister first: a caller arriving after this starts a new flight rather than reading a value that
        // was computed before it asked. Followers already subscribed still get it.
        self.unregister();
        self.tx.send_replace(Some(value));
    }

    fn unregister(&self) {
        let mut flights = lock(self.flights);
        if flights.get(self.key).is_some_and(|f| f.id == self.id) {
            flights.remove(self.key);
        }
    }
}

impl<K: Hash + Eq, V> Drop for LeaderGuard<'_, K, V> {
    fn drop(&mut self) {
        // After `land` this finds another flight or none; otherwise it abandons ours, and dropping `tx` without
        // a value wakes the followers to take over.
        self.unregister();
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section is a map insert or remove, which leaves the map consistent even if a panic
    // poisoned the lock elsewhere.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn next_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use tokio::sync::Semaphore;

    use super::*;

    type Calls = Coalescer<&'static str, Result<u32, String>>;

    /// Spawns `n` callers of `"k"`; the work counts its runs, waits for a permit of `gate`, then returns `value`.
    fn callers(
        c: &Calls,
        n: usize,
        runs: &Arc<AtomicUsize>,
        gate: &Arc<Semaphore>,
        value: Result<u32, String>,
    ) -> Vec<tokio::task::JoinHandle<Shared<Result<u32, String>>>> {
        (0..n)
            .map(|_| {
                let (c, runs, gate, value) = (c.clone(), runs.clone(), gate.clone(), value.clone());
                tokio::spawn(async move {
                    c.run("k", || async move {
                        runs.fetch_add(1, Ordering::SeqCst);
                        let _permit = gate.acquire().await.expect("gate open");
                        value
                    })
                    .await
                })
            })
            .collect()
    }

    /// Polls `cond` with a deadline instead of sleeping for a guessed time.
    async fn until(what: &str, cond: impl Fn() -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !cond() {
            assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    #[tokio::test]
    async fn concurrent_identical_calls_run_once_and_all_get_the_value() {
        let c = Coalescer::new();
        let (runs, gate) = (Arc::new(AtomicUsize::new(0)), Arc::new(Semaphore::new(0)));
        let tasks = callers(&c, 8, &runs, &gate, Ok(7));
        until("all 7 followers to join", || c.followers(&"k") == Some(7)).await;
        gate.add_permits(1);
        let mut leaders = 0;
        for t in tasks {
            let shared = t.await.unwrap();
            assert_eq!(shared.value, Ok(7));
            leaders += usize::from(shared.leader);
        }
        assert_eq!((runs.load(Ordering::SeqCst), leaders), (1, 1));
        assert_eq!(c.in_flight(), 0, "nothing is left behind");
    }

    #[tokio::test]
    async fn the_leaders_failure_reaches_every_follower() {
        let c = Coalescer::new();
        let (runs, gate) = (Arc::new(AtomicUsize::new(0)), Arc::new(Semaphore::new(0)));
        let tasks = callers(&c, 4, &runs, &gate, Err("server crashed".into()));
        until("all 3 followers to join", || c.followers(&"k") == Some(3)).await;
        gate.add_permits(1);
        for t in tasks {
            assert_eq!(t.await.unwrap().value, Err("server crashed".to_string()));
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1, "a follower does not retry a failure it was given");
    }

    #[tokio::test]
    async fn different_keys_do_not_share() {
        let c: Coalescer<u32, u32> = Coalescer::new();
        let (a, b) = tokio::join!(c.run(1, || async { 10 }), c.run(2, || async { 20 }));
        assert_eq!((a.value, a.leader, b.value, b.leader), (10, true, 20, true));
    }

    #[tokio::test]
    async fn nothing_is_remembered_after_landing() {
        let c: Coalescer<u32, u32> = Coalescer::new();
        assert_eq!(c.run(1, || async { 1 }).await.value, 1);
        assert_eq!(c.run(1, || async { 2 }).await.value, 2);
        assert_eq!(c.in_flight(), 0);
    }

    #[tokio::test]
    async fn a_cancelled_leader_is_replaced_by_a_follower() {
        let c: Coalescer<&'static str, u32> = Coalescer::new();
        let leader = {
            let c = c.clone();
            tokio::spawn(async move { c.run("k", std::future::pending::<u32>).await })
        };
        until("the leader to start", || c.in_flight() == 1).await;
        let runs = Arc::new(AtomicUsize::new(0));
        let followers: Vec<_> = (0..3)
            .map(|_| {
                let (c, runs) = (c.clone(), runs.clone());
                tokio::spawn(async move {
                    c.run("k", || async move {
                        runs.fetch_add(1, Ordering::SeqCst);
                        tokio::task::yield_now().await;
                        42
                    })
                    .await
                })
            })
            .collect();
        until("the followers to join", || c.followers(&"k") == Some(3)).await;
        assert_eq!(runs.load(Ordering::SeqCst), 0);
        leader.abort();
        let mut leaders = 0;
        for f in followers {
            let shared = tokio::time::timeout(Duration::from_secs(10), f).await.expect("no follower hangs").unwrap();
            assert_eq!(shared.value, 42);
            leaders += usize::from(shared.leader);
        }
        // One follower took over; the others either followed it or, arriving after it landed, ran their own.
        assert!(leaders >= 1 && runs.load(Ordering::SeqCst) == leaders, "{leaders} leaders");
        assert_eq!(c.in_flight(), 0);
    }

    #[tokio::test]
    async fn a_panicking_leader_does_not_strand_followers() {
        let c: Coalescer<&'static str, u32> = Coalescer::new();
        let gate = Arc::new(Semaphore::new(0));
        let leader = {
            let (c, gate) = (c.clone(), gate.clone());
            tokio::spawn(async move {
                c.run("k", || async move {
                    let _permit = gate.acquire().await.expect("gate open");
                    panic!("leader blew up")
                })
                .await
            })
        };
        until("the leader to start", || c.in_flight() == 1).await;
        let follower = {
            let c = c.clone();
            tokio::spawn(async move { c.run("k", || async { 5 }).await })
        };
        until("the follower to join", || c.followers(&"k") == Some(1)).await;
        gate.add_permits(1);
        let shared = tokio::time::timeout(Duration::from_secs(10), follower).await.unwrap().unwrap();
        assert_eq!((shared.value, shared.leader), (5, true), "the follower took over");
        assert!(leader.await.unwrap_err().is_panic());
        assert_eq!(c.in_flight(), 0);
    }

    #[tokio::test]
    async fn dropping_the_only_caller_leaves_nothing() {
        let c: Coalescer<u32, u32> = Coalescer::new();
        let fut = c.run(1, std::future::pending);
        assert!(tokio::time::timeout(Duration::from_millis(10), fut).await.is_err());
        assert_eq!(c.in_flight(), 0);
    }
}
