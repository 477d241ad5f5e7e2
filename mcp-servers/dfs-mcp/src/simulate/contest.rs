//! The contest: the payout table, and per run the places the user's lineups take among all entries and what
//! they win.
//!
//! Ranking is the hot part of a run. Only the user's lineups need a place, so instead of sorting the field a
//! run buckets the field's scores into a histogram over their range (one pass), counts the entries above each
//! user lineup's bucket from the top down, and settles the buckets that hold a user lineup exactly in a second
//! pass (only the field scores falling in those few buckets are compared). Both passes are linear in the
//! number of distinct field lineups, and the result is exact: strictly better and equal counts, not estimates.

use super::{Contest, Payout, SimulationError, MAX_FIELD_SIZE};

/// Share of the entry fees the default table pays out (the site keeps the rest).
const DEFAULT_PAYOUT_SHARE: f64 = 0.85;
/// Share of the entries the default table pays.
const DEFAULT_PAID_SHARE: f64 = 0.22;
/// Decay of the default table's prizes with the place: prize ∝ place^-α above the minimum cash.
const DEFAULT_DECAY: f64 = 1.2;

/// A realistic top-heavy GPP payout table for `field_size` entries of `entry_fee`: 15 % rake, about 22 % of
/// the entries paid, a minimum cash just under twice the fee, the rest decaying as place^-1.2 (first place
/// takes about 12 % of a 10,000-entry pool). Places 1-10 are paid one by one, then in tiers about 30 % wider
/// each, as the sites print them. The prizes sum exactly (in cents) to the pool.
pub fn default_payouts(field_size: u32, entry_fee: f64) -> Vec<Payout> {
    let pool_cents = (DEFAULT_PAYOUT_SHARE * entry_fee * f64::from(field_size) * 100.0).round() as i64;
    if field_size == 0 || pool_cents <= 0 {
        return Vec::new();
    }
    let paid = ((f64::from(field_size) * DEFAULT_PAID_SHARE).round() as u32).clamp(1, field_size);
    if paid == 1 {
        return vec![Payout { from: 1, to: 1, prize: pool_cents as f64 / 100.0 }];
    }
    let pool = pool_cents as f64 / 100.0;
    let min_cash = (2.0 * entry_fee).min(0.5 * pool / f64::from(paid));
    let floor = f64::from(paid).powf(-DEFAULT_DECAY);
    let shape = |p: u32| f64::from(p).powf(-DEFAULT_DECAY) - floor;
    let total_shape: f64 = (1..=paid).map(shape).sum();
    let scale = (pool - min_cash * f64::from(paid)) / total_shape;
    let mut tiers: Vec<(u32, u32)> = Vec::new();
    let mut from = 1;
    while from <= paid {
        let to = if from <= 10 { from } else { ((f64::from(from) * 1.3) as u32).max(from) }.min(paid);
        tiers.push((from, to));
        from = to + 1;
    }
    let mut cents: Vec<i64> = tiers
        .iter()
        .map(|&(a, b)| {
            let mean_shape = (a..=b).map(shape).sum::<f64>() / f64::from(b - a + 1);
            ((min_cash + scale * mean_shape) * 100.0).floor() as i64
        })
        .collect();
    let spent: i64 = tiers.iter().zip(&cents).map(|(&(a, b), c)| c * i64::from(b - a + 1)).sum();
    cents[0] += pool_cents - spent;
    tiers.iter().zip(cents).map(|(&(from, to), c)| Payout { from, to, prize: c as f64 / 100.0 }).collect()
}

/// The validated contest with prizes by place as a prefix sum.
#[derive(Debug, Clone)]
pub(crate) struct ContestTable {
    pub entry_fee: f64,
    pub field_size: u32,
    pub payouts: Vec<Payout>,
    pub prize_pool: f64,
    /// `cumulative[p]`: the prizes of places `1..=p`; its last index is the last paid place.
    cumulative: Vec<f64>,
    /// Places that count as the top 1 %.
    top1_places: u64,
}

impl ContestTable {
    pub fn new(contest: &Contest, user_lineups: usize) -> Result<ContestTable, SimulationError> {
        let invalid = |m: String| Err(SimulationError::Invalid(m));
        let fee = contest.entry_fee;
        if !fee.is_finite() || fee < 0.0 {
            return invalid(format!("contest.entry_fee: {fee} is not an amount"));
        }
        let n = contest.field_size;
        if (n as usize) < user_lineups {
            return invalid(format!(
                "contest.field_size: {n} is smaller than the {user_lineups} lineups entered (the field size counts \
                 every entry, the user's included)"
            ));
        }
        if n > MAX_FIELD_SIZE {
            return invalid(format!("contest.field_size: {n} is more than the {MAX_FIELD_SIZE} entries supported"));
        }
        let payouts = if contest.payouts.is_empty() {
            if fee == 0.0 {
                return invalid(
                    "contest.payouts: empty in a free contest (entry_fee 0); give the prizes by place".into(),
                );
            }
            default_payouts(n, fee)
        } else {
            contest.payouts.clone()
        };
        let mut order: Vec<usize> = (0..payouts.len()).collect();
        order.sort_by_key(|&i| payouts[i].from);
        for (k, &i) in order.iter().enumerate() {
            let p = &payouts[i];
            if p.from == 0 || p.to < p.from {
                return invalid(format!(
                    "contest.payouts[{i}]: places {}-{} are not a range of places from 1",
                    p.from, p.to
                ));
            }
            if p.to > n {
                return invalid(format!("contest.payouts[{i}]: place {} is beyond the field size {n}", p.to));
            }
            if !p.prize.is_finite() || p.prize < 0.0 {
                return invalid(format!("contest.payouts[{i}]: prize {} is not an amount", p.prize));
            }
            if let Some(&j) = k.checked_sub(1).map(|k| &order[k]) {
                if payouts[j].to >= p.from {
                    return invalid(format!(
                        "contest.payouts[{i}]: places {}-{} overlap contest.payouts[{j}] ({}-{})",
                        p.from, p.to, payouts[j].from, payouts[j].to
                    ));
                }
            }
        }
        let last_paid = payouts.iter().map(|p| p.to).max().unwrap_or(0) as usize;
        let mut prize = vec![0.0; last_paid + 1];
        for p in &payouts {
            prize[p.from as usize..=p.to as usize].fill(p.prize);
        }
        let mut cumulative = prize;
        for i in 1..cumulative.len() {
            cumulative[i] += cumulative[i - 1];
        }
        // In cents, as a site prints it (the prefix sum carries float noise).
        let prize_pool = (cumulative.last().copied().unwrap_or(0.0) * 100.0).round() / 100.0;
        if prize_pool <= 0.0 {
            return invalid("contest.payouts: the table pays nothing".into());
        }
        Ok(ContestTable {
            entry_fee: fee,
            field_size: n,
            payouts,
            prize_pool,
            cumulative,
            top1_places: u64::from(n).div_ceil(100),
        })
    }

    /// What one entry of a block of `equal` entries occupying places `better + 1 ..= better + equal` wins:
    /// the block shares the prizes of those places.
    pub fn prize(&self, better: u64, equal: u64) -> f64 {
        let last = (self.cumulative.len() - 1) as u64;
        let hi = (better + equal).min(last) as usize;
        let lo = better.min(last) as usize;
        (self.cumulative[hi] - self.cumulative[lo]) / equal as f64
    }

    /// Entries above a lineup beyond which it wins nothing and counts for nothing (see [`Ranker::rank`]).
    pub fn places_that_count(&self) -> u64 {
        ((self.cumulative.len() - 1) as u64).max(self.top1_places).max(1)
    }

    /// The block's share of first place.
    pub fn win_share(&self, better: u64, equal: u64) -> f64 {
        share_within(better, equal, 1)
    }

    /// The block's share of the top 1 % places.
    pub fn top1_share(&self, better: u64, equal: u64) -> f64 {
        share_within(better, equal, self.top1_places)
    }
}

fn share_within(better: u64, equal: u64, places: u64) -> f64 {
    ((better + equal).min(places) - better.min(places)) as f64 / equal as f64
}

/// Per run: how many entries score strictly more than each user lineup, and how many score the same (the
/// lineup itself included). Keeps its buffers between runs.
#[derive(Debug, Default)]
pub(crate) struct Ranker {
    counts: Vec<u32>,
    /// Per bucket: 0, or 1 + the index in `spans` of the user lineups falling in it.
    span_of: Vec<u16>,
    /// Ranges of `order` (user lineups by descending score) sharing a bucket, and the bucket.
    spans: Vec<(u32, u32, usize)>,
    order: Vec<u32>,
}

impl Ranker {
    /// `field`: the distinct field lineups' scores, each entered `copies[j]` times, all within `lo..=hi`.
    /// `users`: the user's lineups' scores. Writes `better[u]` and `equal[u]` exactly for every lineup with
    /// fewer than `enough` entries above it; for the others `better[u] >= enough` and `equal[u]` is 1 (beyond
    /// the last place that pays or counts, the exact place does not matter, and skipping those lineups keeps
    /// the second pass to the sparse top of the field).
    #[allow(clippy::too_many_arguments)]
    pub fn rank(
        &mut self,
        field: &[i32],
        copies: &[u32],
        lo: i32,
        hi: i32,
        users: &[i32],
        enough: u64,
        better: &mut [u64],
        equal: &mut [u64],
    ) {
        let m = users.len();
        self.order.clear();
        self.order.extend(0..m as u32);
        self.order.sort_unstable_by_key(|&u| std::cmp::Reverse(users[u as usize]));
        // Among the user's own lineups.
        let mut i = 0;
        while i < m {
            let s = users[self.order[i] as usize];
            let mut j = i;
            while j < m && users[self.order[j] as usize] == s {
                j += 1;
            }
            for &u in &self.order[i..j] {
                better[u as usize] = i as u64;
                equal[u as usize] = (j - i) as u64;
            }
            i = j;
        }
        if field.is_empty() {
            return;
        }

        // Buckets of width 2^shift over lo..=hi, about one per four distinct field lineups: the counts stay in
        // the L1 cache.
        let want = (field.len() / 4).next_power_of_two().clamp(64, 1 << 14) as u64;
        let range = (i64::from(hi) - i64::from(lo)) as u64 + 1;
        let mut shift = 0;
        while (range >> shift) >= want {
            shift += 1;
        }
        let buckets = ((range - 1) >> shift) as usize + 1;
        // Field scores are within lo..=hi, whose span fits in u32 (scores are capped far below 2^31).
        let bucket = |x: i32| (x.wrapping_sub(lo) as u32 >> shift) as usize;
        self.counts.clear();
        self.counts.resize(buckets, 0);
        for (&x, &c) in field.iter().zip(copies) {
            self.counts[bucket(x)] += c;
        }
        let total: u64 = self.counts.iter().map(|&c| u64::from(c)).sum();

        // Top down: the field entries in buckets above each user lineup's. A lineup whose place is settled by
        // that count (outside the field's range, or `enough` entries above) is done; the others get a span
        // of their bucket, settled exactly in the second pass.
        self.span_of.clear();
        self.span_of.resize(buckets, 0);
        self.spans.clear();
        let mut above = 0u64;
        let mut next_bucket = buckets; // buckets >= next_bucket are summed into `above`
        let mut k = 0;
        while k < m {
            let u = self.order[k] as usize;
            let s = users[u];
            if s > hi {
                k += 1;
                continue;
            }
            if s < lo {
                for &u in &self.order[k..] {
                    better[u as usize] += total;
                }
                break;
            }
            let b = bucket(s);
            while next_bucket > b + 1 {
                next_bucket -= 1;
                above += u64::from(self.counts[next_bucket]);
            }
            let mut end = k;
            while end < m && users[self.order[end] as usize] >= lo && bucket(users[self.order[end] as usize]) == b {
                better[self.order[end] as usize] += above;
                end += 1;
            }
            if better[u] >= enough {
                // The best of the bucket's lineups is already beyond the places that matter; so are the rest.
                for &u in &self.order[end..] {
                    better[u as usize] = better[u as usize].max(enough);
                }
                for &u in &self.order[k..m] {
                    equal[u as usize] = 1;
                }
                break;
            }
            // At most one span per user lineup, and there are fewer than u16::MAX of those (MAX_LINEUPS).
            self.spans.push((k as u32, end as u32, b));
            self.span_of[b] = self.spans.len() as u16;
            k = end;
        }
        if self.spans.is_empty() {
            return;
        }
        // Few field scores fall in an occupied bucket, so this branch predicts well (a test against the lowest
        // occupied bucket would not: about a fifth of the field lies above it).
        for (&x, &c) in field.iter().zip(copies) {
            let span = self.span_of[bucket(x)];
            if span == 0 {
                continue;
            }
            let (from, to, _) = self.spans[usize::from(span) - 1];
            for &u in &self.order[from as usize..to as usize] {
                let s = users[u as usize];
                if x > s {
                    better[u as usize] += u64::from(c);
                } else if x == s {
                    equal[u as usize] += u64::from(c);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};

    use super::*;

    fn table(field_size: u32, fee: f64, payouts: &[(u32, u32, f64)]) -> ContestTable {
        let contest = Contest {
            entry_fee: fee,
            field_size,
            payouts: payouts.iter().map(|&(from, to, prize)| Payout { from, to, prize }).collect(),
        };
        ContestTable::new(&contest, 1).unwrap()
    }

    /// Every entry of a contest ranked by brute force: the reference the histogram must match.
    fn naive(field: &[i32], copies: &[u32], users: &[i32]) -> (Vec<u64>, Vec<u64>) {
        users
            .iter()
            .map(|&s| {
                let f = |keep: &dyn Fn(i32) -> bool| -> u64 {
                    field.iter().zip(copies).filter(|(&x, _)| keep(x)).map(|(_, &c)| u64::from(c)).sum::<u64>()
                        + users.iter().filter(|&&y| keep(y)).count() as u64
                };
                (f(&|x| x > s), f(&|x| x == s))
            })
            .unzip()
    }

    #[test]
    fn histogram_ranks_match_brute_force_with_ties_and_scores_outside_the_field() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let mut ranker = Ranker::default();
        for case in 0..300 {
            let n = rng.gen_range(0..400usize);
            // Narrow ranges force ties between field lineups and with the user's; wide ones spread buckets.
            let spread = if case % 3 == 0 { 20 } else { 100_000 };
            let field: Vec<i32> = (0..n).map(|_| rng.gen_range(0..spread)).collect();
            let copies: Vec<u32> = (0..n).map(|_| rng.gen_range(1..4)).collect();
            let users: Vec<i32> = (0..rng.gen_range(1..30usize))
                .map(|k| match k % 5 {
                    0 if n > 0 => field[rng.gen_range(0..n)],
                    1 => -5 - rng.gen_range(0..10),
                    2 => spread + rng.gen_range(0..10),
                    _ => rng.gen_range(0..spread),
                })
                .collect();
            let (lo, hi) = (field.iter().copied().min().unwrap_or(0), field.iter().copied().max().unwrap_or(0));
            let (b, e) = naive(&field, &copies, &users);
            let mut better = vec![0; users.len()];
            let mut equal = vec![0; users.len()];
            ranker.rank(&field, &copies, lo, hi, &users, u64::MAX, &mut better, &mut equal);
            assert_eq!((&better, &equal), (&b, &e), "case {case}: field {field:?} copies {copies:?} users {users:?}");
            // With a cut-off: exact above it, known to be beyond it below.
            let enough = rng.gen_range(1..(n as u64 + 2));
            ranker.rank(&field, &copies, lo, hi, &users, enough, &mut better, &mut equal);
            for u in 0..users.len() {
                if b[u] < enough {
                    assert_eq!((better[u], equal[u]), (b[u], e[u]), "case {case} lineup {u}, enough {enough}");
                } else {
                    assert!(better[u] >= enough, "case {case} lineup {u}: {} < {enough}", better[u]);
                }
            }
        }
    }

    #[test]
    fn tied_entries_share_the_prizes_of_their_places() {
        let t = table(10, 10.0, &[(1, 1, 50.0), (2, 2, 20.0), (3, 4, 5.0)]);
        assert_eq!(t.prize(0, 1), 50.0);
        assert_eq!(t.prize(0, 2), 35.0); // places 1-2
        assert_eq!(t.prize(1, 3), 10.0); // places 2-4: (20 + 5 + 5) / 3
        assert_eq!(t.prize(3, 2), 2.5); // places 4-5: 5 / 2
        assert_eq!(t.prize(4, 6), 0.0);
        assert_eq!(t.win_share(0, 4), 0.25);
        assert_eq!(t.win_share(1, 1), 0.0);
        assert_eq!(t.top1_share(0, 2), 0.5, "top 1 % of 10 entries is place 1");
    }

    #[test]
    fn default_table_is_top_heavy_and_pays_the_pool_exactly() {
        for (n, fee) in [(10_000u32, 20.0), (100, 5.0), (2, 1.0), (237, 3.0), (150_000, 20.0)] {
            let payouts = default_payouts(n, fee);
            let cents: i64 =
                payouts.iter().map(|p| (p.prize * 100.0).round() as i64 * i64::from(p.to - p.from + 1)).sum();
            assert_eq!(cents, (0.85 * fee * f64::from(n) * 100.0).round() as i64, "field {n}: pays the pool");
            let paid = payouts.last().unwrap().to;
            let share = f64::from(paid) / f64::from(n);
            assert!(n < 10 || (0.2..=0.25).contains(&share), "field {n}: {share} paid");
            for w in payouts.windows(2) {
                assert!(w[0].prize >= w[1].prize && w[0].to + 1 == w[1].from, "field {n}: {w:?}");
            }
            if n >= 100 {
                assert!(payouts.last().unwrap().prize >= 1.5 * fee, "field {n}: min cash");
                assert!(payouts[0].prize > 8.0 * payouts.last().unwrap().prize, "field {n}: top-heavy");
            }
        }
        let p = default_payouts(10_000, 20.0);
        let share = p[0].prize / (0.85 * 20.0 * 10_000.0);
        assert!((0.08..0.2).contains(&share), "first place takes {share} of the pool");
    }
}
