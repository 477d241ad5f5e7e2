//! The embedded cache: bounded by entries and bytes, in this process, the default backend.
//!
//! Why not moka: moka bounds one weight (entries *or* bytes, not both), while this cache must hold both bounds.
//!
//! Eviction is CLOCK (second chance): entries sit in a slab, a lookup marks its entry as used, and eviction moves a
//! hand over the slab, sparing (and unmarking) used entries and dropping the first unused one. It approximates
//! least-recently-used without a recency list. That matters because every cacheable call stores an entry, so
//! once the cache is full every call also evicts one: with a linked LRU list an eviction touched three places in
//! memory last seen thousands of calls ago (the tail node, its neighbour, the map bucket behind a key pointer),
//! a tenth of the runtime thread's time under load (measured with `perf`). Here the map holds the keys inline and
//! the hand walks the slab in order, which the CPU's prefetcher follows.
//!
//! Tags are not indexed: tags are invalidated rarely (a writer succeeded, a server's list changed, an operator
//! asked), so a store only shares the caller's tag list (one per tool, built once) and an invalidation scans the
//! slab: at the default bound of 10,000 entries, a fraction of a millisecond under the lock.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;

use super::key::KeyHashing;
use super::{CacheBackend, CacheError, CacheKey};
use crate::clock::{Clock, SystemClock};
use crate::kv::BackendHealth;

/// What an entry costs beyond its value and tags (key, expiry, slot, map slot), so a flood of tiny entries still
/// meets `max_bytes` roughly where it would in real memory.
pub(crate) const ENTRY_OVERHEAD: usize = 96;

/// The bounds of the embedded cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryLimits {
    /// Most entries held; entries not used since the eviction hand last passed go first. 10 000 by default.
    pub(crate) max_entries: usize,
    /// Most bytes held (values + tags + [`ENTRY_OVERHEAD`] each). 64 MiB by default.
    pub(crate) max_bytes: usize,
    /// Largest value stored; bigger results are not cached, so one huge answer cannot flush everything else.
    /// 1 MiB by default.
    pub(crate) max_entry_bytes: usize,
}

impl Default for MemoryLimits {
    fn default() -> Self {
        MemoryLimits { max_entries: 10_000, max_bytes: 64 << 20, max_entry_bytes: 1 << 20 }
    }
}

/// The embedded cache; cheap to clone (clones share the store).
#[derive(Clone)]
pub struct MemoryCache {
    /// The entries and the eviction hand, under one lock.
    store: Arc<Mutex<Store>>,
    /// The configured bounds.
    limits: MemoryLimits,
    /// Time source for expiry; a manual one in tests.
    clock: Arc<dyn Clock>,
}

#[derive(Default)]
struct Store {
    /// Key → slot index.
    map: HashMap<CacheKey, u32, KeyHashing>,
    slots: Vec<Slot>,
    /// Empty slots (removed or invalidated entries), reused before the slab grows.
    free: Vec<u32>,
    /// The next slot the eviction hand looks at.
    hand: usize,
    /// Sum of the entries' charges, kept at or below `max_bytes`.
    bytes: usize,
}

struct Slot {
    key: CacheKey,
    /// `None`: free.
    entry: Option<Entry>,
    /// Used since the hand last passed: spared once.
    used: bool,
}

struct Entry {
    /// The downstream's result bytes, shared with every reader without copying.
    value: Bytes,
    /// Clock time at which the entry stops being served.
    expires_at: Duration,
    /// The entry's tags: the caller's list, shared by every entry of a tool.
    tags: Arc<[String]>,
    /// What it counts against `max_bytes`.
    charge: usize,
}

impl MemoryCache {
    pub fn new(limits: MemoryLimits) -> Self {
        Self::with_clock(limits, Arc::new(SystemClock::default()))
    }

    pub(crate) fn with_clock(limits: MemoryLimits, clock: Arc<dyn Clock>) -> Self {
        MemoryCache { store: Arc::new(Mutex::new(Store::default())), limits, clock }
    }

    #[cfg(test)]
    /// Entries held, expired ones not yet dropped included.
    pub(crate) fn len(&self) -> usize {
        self.lock().map.len()
    }

    #[cfg(test)]
    /// Bytes charged against `max_bytes`.
    pub(crate) fn bytes(&self) -> usize {
        self.lock().bytes
    }

    /// The lookup itself, synchronous: what the bench times as an embedded hit.
    pub(crate) fn get_now(&self, key: &CacheKey) -> Option<Bytes> {
        let now = self.clock.now();
        let mut store = self.lock();
        let &index = store.map.get(key)?;
        let slot = &mut store.slots[index as usize];
        match &slot.entry {
            Some(entry) if entry.expires_at > now => {
                slot.used = true;
                Some(entry.value.clone())
            }
            _ => {
                store.remove(key);
                None
            }
        }
    }

    /// Stores synchronously (the call path of the embedded cache needs no task).
    pub(crate) fn put_now(
        &self,
        key: &CacheKey,
        value: Bytes,
        ttl: Duration,
        tags: &[String],
    ) -> Result<(), CacheError> {
        self.put_shared(key, value, ttl, Arc::from(tags))
    }

    /// [`MemoryCache::put_now`] with a tag list the caller shares between entries (no copy per entry).
    pub(crate) fn put_shared(
        &self,
        key: &CacheKey,
        value: Bytes,
        ttl: Duration,
        tags: Arc<[String]>,
    ) -> Result<(), CacheError> {
        let tag_bytes: usize = tags.iter().map(String::len).sum();
        let charge = value.len() + tag_bytes + ENTRY_OVERHEAD;
        if value.len() > self.limits.max_entry_bytes || charge > self.limits.max_bytes {
            return Err(CacheError::TooLarge { size: value.len(), max: self.limits.max_entry_bytes });
        }
        let entry = Entry { value, expires_at: self.clock.now().saturating_add(ttl), tags, charge };
        let mut store = self.lock();
        store.insert(*key, entry);
        store.evict(self.limits.max_entries, self.limits.max_bytes);
        Ok(())
    }

    /// Drops every entry carrying `tag`, synchronously; how many live entries went (expired ones go too,
    /// uncounted).
    pub(crate) fn invalidate_tag_now(&self, tag: &str) -> u64 {
        let now = self.clock.now();
        let mut store = self.lock();
        let tagged: Vec<(CacheKey, bool)> = store
            .slots
            .iter()
            .filter_map(|s| s.entry.as_ref().map(|e| (s.key, e)))
            .filter(|(_, e)| e.tags.iter().any(|t| t == tag))
            .map(|(k, e)| (k, e.expires_at > now))
            .collect();
        let mut live = 0;
        for (key, alive) in tagged {
            store.remove(&key);
            live += u64::from(alive);
        }
        live
    }

    fn lock(&self) -> MutexGuard<'_, Store> {
        // A panic elsewhere while holding the lock leaves the store consistent (every mutation completes before
        // anything can panic), so the poison flag carries no information here.
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Store {
    /// Puts `entry` under `key` (replacing an entry already there, which counts as a use).
    fn insert(&mut self, key: CacheKey, entry: Entry) {
        self.bytes += entry.charge;
        if let Some(&index) = self.map.get(&key) {
            let slot = &mut self.slots[index as usize];
            slot.used = true;
            if let Some(old) = slot.entry.replace(entry) {
                self.bytes -= old.charge;
            }
            return;
        }
        let slot = Slot { key, entry: Some(entry), used: false };
        let index = match self.free.pop() {
            Some(index) => {
                self.slots[index as usize] = slot;
                index
            }
            None => {
                self.slots.push(slot);
                (self.slots.len() - 1) as u32
            }
        };
        self.map.insert(key, index);
    }

    /// Moves the hand until both bounds hold.
    fn evict(&mut self, max_entries: usize, max_bytes: usize) {
        while (self.map.len() > max_entries || self.bytes > max_bytes) && !self.map.is_empty() {
            if self.hand >= self.slots.len() {
                self.hand = 0;
            }
            let slot = &mut self.slots[self.hand];
            match &slot.entry {
                None => {}
                Some(_) if slot.used => slot.used = false,
                Some(_) => {
                    let key = slot.key;
                    self.remove(&key);
                }
            }
            self.hand += 1;
        }
    }

    /// Takes the entry under `key` out, freeing its slot.
    fn take(&mut self, key: &CacheKey) -> Option<Entry> {
        let index = self.map.remove(key)?;
        let entry = self.slots[index as usize].entry.take()?;
        self.free.push(index);
        self.bytes -= entry.charge;
        Some(entry)
    }

    fn remove(&mut self, key: &CacheKey) -> bool {
        self.take(key).is_some()
    }

    fn clear(&mut self) -> u64 {
        let n = self.map.len() as u64;
        *self = Store::default();
        n
    }
}

impl CacheBackend for MemoryCache {
    async fn get(&self, key: &CacheKey) -> Result<Option<Bytes>, CacheError> {
        Ok(self.get_now(key))
    }

    async fn put(&self, key: &CacheKey, value: Bytes, ttl: Duration, tags: &[String]) -> Result<(), CacheError> {
        self.put_now(key, value, ttl, tags)
    }

    async fn remove(&self, key: &CacheKey) -> Result<bool, CacheError> {
        Ok(self.lock().remove(key))
    }

    async fn invalidate_tag(&self, tag: &str) -> Result<u64, CacheError> {
        Ok(self.invalidate_tag_now(tag))
    }

    async fn invalidate_all(&self) -> Result<u64, CacheError> {
        Ok(self.lock().clear())
    }

    fn health(&self) -> BackendHealth {
        BackendHealth::Ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::cache_key;
    use crate::clock::ManualClock;

    fn k(n: u32) -> CacheKey {
        cache_key("tools/call", "t", None, &n.to_string())
    }

    fn cache(max_entries: usize, max_bytes: usize) -> (MemoryCache, Arc<ManualClock>) {
        let clock = ManualClock::new();
        let limits = MemoryLimits { max_entries, max_bytes, max_entry_bytes: 1 << 20 };
        (MemoryCache::with_clock(limits, clock.clone()), clock)
    }

    const HOUR: Duration = Duration::from_secs(3600);

    #[tokio::test]
    async fn evicts_an_entry_not_used_since_the_hand_passed() {
        let (c, _) = cache(3, usize::MAX);
        for n in 0..3 {
            c.put(&k(n), Bytes::from(vec![b'x'; 10]), HOUR, &[]).await.unwrap();
        }
        // Reading 0 makes 1 the least recently used.
        assert!(c.get_now(&k(0)).is_some());
        c.put(&k(3), Bytes::from_static(b"new"), HOUR, &[]).await.unwrap();
        assert_eq!(c.len(), 3);
        assert!(c.get_now(&k(1)).is_none(), "1 was least recently used");
        for n in [0, 2, 3] {
            assert!(c.get_now(&k(n)).is_some(), "{n} kept");
        }
    }

    #[tokio::test]
    async fn evicts_by_bytes_and_keeps_the_count_exact() {
        let entry = 100 + ENTRY_OVERHEAD;
        let (c, _) = cache(1000, 3 * entry);
        for n in 0..3 {
            c.put(&k(n), Bytes::from(vec![0u8; 100]), HOUR, &[]).await.unwrap();
        }
        assert_eq!(c.bytes(), 3 * entry);
        // A value twice the size pushes out the two oldest.
        c.put(&k(3), Bytes::from(vec![0u8; 100 + entry]), HOUR, &[]).await.unwrap();
        assert_eq!((c.len(), c.bytes()), (2, 3 * entry));
        assert!(c.get_now(&k(0)).is_none() && c.get_now(&k(1)).is_none());
        assert!(c.get_now(&k(2)).is_some() && c.get_now(&k(3)).is_some());
        // Overwriting replaces the charge rather than adding to it.
        c.put(&k(3), Bytes::from(vec![0u8; 100]), HOUR, &[]).await.unwrap();
        assert_eq!((c.len(), c.bytes()), (2, 2 * entry));
    }

    #[tokio::test]
    async fn refuses_values_over_the_entry_limit() {
        let clock = ManualClock::new();
        let limits = MemoryLimits { max_entries: 10, max_bytes: 1 << 20, max_entry_bytes: 8 };
        let c = MemoryCache::with_clock(limits, clock);
        c.put(&k(0), Bytes::from_static(b"12345678"), HOUR, &[]).await.unwrap();
        let err = c.put(&k(1), Bytes::from_static(b"123456789"), HOUR, &[]).await.unwrap_err();
        assert!(matches!(err, CacheError::TooLarge { size: 9, max: 8 }), "{err}");
        assert_eq!(c.len(), 1, "the cache is left as it was");
    }

    #[tokio::test]
    async fn a_flood_of_new_entries_stays_in_bounds_and_spares_what_is_read() {
        let (c, _) = cache(100, usize::MAX);
        c.put(&k(0), Bytes::from_static(b"hot"), HOUR, &[]).await.unwrap();
        for n in 1..5_000 {
            c.put(&k(n), Bytes::from_static(b"cold"), HOUR, &[]).await.unwrap();
            // Read between stores, as a popular entry is: the hand always finds it used.
            assert!(c.get_now(&k(0)).is_some(), "the entry read all along was evicted after {n} stores");
            assert!(c.len() <= 100);
        }
        assert_eq!(c.len(), 100);
        assert_eq!(c.bytes(), 99 * (4 + ENTRY_OVERHEAD) + 3 + ENTRY_OVERHEAD);
        assert!(c.get_now(&k(4_999)).is_some(), "the newest entry is kept");
        assert!(c.get_now(&k(1)).is_none(), "an old entry nobody read is gone");
        c.invalidate_all().await.unwrap();
        assert_eq!((c.len(), c.bytes()), (0, 0));
    }

    #[tokio::test]
    async fn freed_slots_are_reused_and_bounds_hold_across_invalidations() {
        let (c, _) = cache(50, usize::MAX);
        let tagged = |n: u32| if n % 2 == 0 { vec!["even".to_owned()] } else { vec!["odd".to_owned()] };
        for round in 0..20u32 {
            for n in 0..60 {
                let key = round * 1000 + n;
                c.put(&k(key), Bytes::from(vec![b'v'; 8]), HOUR, &tagged(n)).await.unwrap();
                assert!(c.len() <= 50);
            }
            let before = c.len();
            let gone = c.invalidate_tag("even").await.unwrap();
            assert_eq!(c.len() as u64, before as u64 - gone, "round {round}");
            assert_eq!(c.bytes(), c.len() * (8 + 3 + ENTRY_OVERHEAD), "round {round}: odd entries only");
        }
        // The slab never grew past the bound: freed slots were taken before new ones.
        assert!(c.lock().slots.len() <= 51, "{} slots", c.lock().slots.len());
    }

    #[tokio::test]
    async fn expires_exactly_at_the_ttl() {
        let (c, clock) = cache(10, usize::MAX);
        c.put(&k(0), Bytes::from_static(b"v"), Duration::from_secs(60), &["t".into()]).await.unwrap();
        clock.advance(Duration::from_secs(60) - Duration::from_nanos(1));
        assert!(c.get_now(&k(0)).is_some(), "one nanosecond before expiry");
        clock.advance(Duration::from_nanos(1));
        assert!(c.get_now(&k(0)).is_none(), "at expiry");
        assert_eq!((c.len(), c.bytes()), (0, 0), "an expired entry is dropped when found");
    }

    #[tokio::test]
    async fn tags_follow_evictions_and_overwrites() {
        let (c, _) = cache(2, usize::MAX);
        let tags = |t: &[&str]| t.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        c.put(&k(0), Bytes::from_static(b"a"), HOUR, &tags(&["x", "y", "x"])).await.unwrap();
        c.put(&k(1), Bytes::from_static(b"b"), HOUR, &tags(&["x"])).await.unwrap();
        // The overwrite replaces 0's tags: y no longer names anything.
        c.put(&k(0), Bytes::from_static(b"a2"), HOUR, &tags(&["z"])).await.unwrap();
        assert_eq!(c.invalidate_tag("y").await.unwrap(), 0);
        c.put(&k(2), Bytes::from_static(b"c"), HOUR, &[]).await.unwrap(); // evicts 1, the only x
        assert_eq!(c.invalidate_tag("x").await.unwrap(), 0, "the evicted entry is gone with its tag");
        assert_eq!(c.invalidate_tag("z").await.unwrap(), 1);
        assert_eq!(c.invalidate_tag("z").await.unwrap(), 0);
        assert_eq!(c.len(), 1);
    }
}
