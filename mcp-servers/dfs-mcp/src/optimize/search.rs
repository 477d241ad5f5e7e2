//! The exact search: depth-first branch and bound over slots in a fixed order, keeping the best `capacity`
//! distinct lineups.
//!
//! The bound after filling slot d with a budget b left is "the best points the remaining slots can add within
//! b", from a knapsack DP over salary units: per group of identical slots the best j distinct candidates within
//! each budget, combined with the groups after it (persons may repeat across groups in the bound, never in a
//! lineup). Candidates are tried in descending points, so a slot's loop stops as soon as even its current
//! candidate plus the bound at the full budget cannot reach the threshold. Identical slots take persons in
//! rising rank, and two slots of the same multiplier class never hold a pair of persons that could swap into
//! a better-ranked order: each distinct lineup is met about once.
//!
//! Ties: lineups order by points, then by their picks (person rank, class) sorted ascending, compared
//! lexicographically: of two equal totals the one holding the best-ranked player comes first. The pool keeps
//! every lineup that ties the threshold until a better one displaces it, so the result does not depend on the
//! search order.

use std::cmp::Ordering;
use std::collections::BTreeSet;

use super::problem::Problem;

pub(crate) const NEG: i64 = i64::MIN / 4;
pub(crate) const MAX_SLOTS: usize = 12;

/// A found lineup: total points, its key (sorted picks) and the person in each search slot.
#[derive(Debug, Clone)]
pub(crate) struct Found {
    pub points: i64,
    pub key: [u32; MAX_SLOTS],
    pub persons: [u32; MAX_SLOTS],
}

impl PartialEq for Found {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Found {}
impl PartialOrd for Found {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Found {
    /// Best first.
    fn cmp(&self, other: &Self) -> Ordering {
        other.points.cmp(&self.points).then_with(|| self.key.cmp(&other.key))
    }
}

/// Earlier lineups the next ones must differ from, in picks.
#[derive(Debug, Clone, Default)]
pub(crate) struct Earlier {
    /// Per pick: indices of earlier lineups holding it.
    pub holding: Vec<Vec<u32>>,
    pub count: usize,
}

impl Earlier {
    pub fn new(picks: usize) -> Earlier {
        Earlier { holding: vec![Vec::new(); picks], count: 0 }
    }
    pub fn push(&mut self, picks: &[u32]) {
        for &p in picks {
            self.holding[p as usize].push(self.count as u32);
        }
        self.count += 1;
    }
}

/// Bounds: `after[d][b]` = best points slots d+1.. add within b units (NEG: cannot be filled).
fn bounds(p: &Problem) -> (Vec<Vec<i64>>, Vec<u32>) {
    let cap = p.cap as usize;
    let s = p.slots.len();
    let mut after: Vec<Vec<i64>> = vec![Vec::new(); s];
    let mut next: Vec<i64> = vec![0; cap + 1]; // what the groups after the current one add
    let mut d = s;
    while d > 0 {
        // the group ending at d-1
        let end = d;
        let mut start = d - 1;
        while !p.slots[start].first_in_group {
            start -= 1;
        }
        let k = end - start;
        // f[j][b]: best j distinct candidates of the group within b
        let mut f = vec![vec![NEG; cap + 1]; k + 1];
        f[0].iter_mut().for_each(|x| *x = 0);
        for c in &p.slots[start].cands {
            let w = c.cost as usize;
            if w > cap {
                continue;
            }
            for j in (1..=k).rev() {
                let (lo, hi) = f.split_at_mut(j);
                let (prev, cur) = (&lo[j - 1], &mut hi[0]);
                for b in (w..=cap).rev() {
                    let v = prev[b - w];
                    if v > NEG && v + c.pts > cur[b] {
                        cur[b] = v + c.pts;
                    }
                }
            }
        }
        // h[j][b] = best of j group slots plus everything after, within b
        let mut h = vec![vec![NEG; cap + 1]; k];
        h[0].clone_from(&next);
        for j in 1..k {
            h[j] = combine(&f[j], &next);
        }
        for (i, slot_d) in (start..end).enumerate() {
            after[slot_d].clone_from(&h[k - 1 - i]);
        }
        next = combine(&f[k], &next);
        d = start;
    }
    // the most salary slots d+1.. can use, for the minimum salary
    let mut max_after = vec![0u32; s];
    let mut acc = 0u32;
    for d in (0..s).rev() {
        max_after[d] = acc;
        acc += p.slots[d].cands.iter().map(|c| c.cost).max().unwrap_or(0);
    }
    (after, max_after)
}

/// Max-plus convolution within a budget: out[b] = max over c <= b of a[c] + b_[b - c].
fn combine(a: &[i64], rest: &[i64]) -> Vec<i64> {
    let cap = a.len() - 1;
    let mut out = vec![NEG; cap + 1];
    // a is non-decreasing in its budget; only budgets where it steps up matter
    let mut steps: Vec<usize> = Vec::new();
    let mut last = NEG;
    for (c, &v) in a.iter().enumerate() {
        if v > last {
            steps.push(c);
            last = v;
        }
    }
    for (b, o) in out.iter_mut().enumerate() {
        let mut best = NEG;
        for &c in &steps {
            if c > b {
                break;
            }
            let r = rest[b - c];
            if r > NEG {
                best = best.max(a[c] + r);
            }
        }
        *o = best;
    }
    out
}

/// What a search is asked for.
pub(crate) struct Search<'a> {
    pub problem: &'a Problem,
    pub capacity: usize,
    pub earlier: &'a Earlier,
    /// Stop at the first lineup found (feasibility).
    pub first_only: bool,
}

struct State<'a> {
    p: &'a Problem,
    after: Vec<Vec<i64>>,
    max_after: Vec<u32>,
    capacity: usize,
    first_only: bool,
    earlier: &'a Earlier,
    pool: BTreeSet<Found>,
    done: bool,
    // incremental state
    chosen: [u32; MAX_SLOTS],
    chosen_ix: [usize; MAX_SLOTS],
    used: Vec<bool>,
    team_count: Vec<u8>,
    hitters: Vec<u8>,
    teams_counted: Vec<u8>,
    distinct_teams: u8,
    game_count: Vec<u8>,
    distinct_games: u8,
    overlap: Vec<u8>,
    have: Vec<Vec<Vec<u8>>>,
    /// Per requirement, option, part: how many search slots after d accept one of its members.
    avail: Vec<Vec<Vec<Vec<u8>>>>,
    /// Per requirement: the most picks any option still needs when nothing is held (a deficit check is
    /// skipped while more slots than this remain).
    req_span: Vec<usize>,
    pub nodes: u64,
}

/// Runs the search; the best lineups, best first.
pub(crate) fn run(s: &Search) -> (Vec<Found>, u64) {
    let p = s.problem;
    if p.slots.iter().any(|sl| sl.cands.is_empty()) || p.size > MAX_SLOTS {
        return (Vec::new(), 0);
    }
    let (after, max_after) = bounds(p);
    let have = p.reqs.list.iter().map(|r| r.options.iter().map(|o| vec![0u8; o.parts.len()]).collect()).collect();
    let req_span = p
        .reqs
        .list
        .iter()
        .map(|r| {
            r.options
                .iter()
                .map(|o| o.parts.iter().filter(|x| !x.total).map(|x| x.need as usize).sum::<usize>())
                .max()
                .unwrap_or(0)
                .max(r.options.iter().flat_map(|o| o.parts.iter().map(|x| x.need as usize)).max().unwrap_or(0))
        })
        .collect();
    let avail = p
        .reqs
        .list
        .iter()
        .map(|r| {
            r.options
                .iter()
                .map(|o| {
                    o.parts
                        .iter()
                        .map(|part| {
                            let accepts: Vec<bool> = p
                                .slots
                                .iter()
                                .enumerate()
                                .map(|(d, slot)| {
                                    part.members.iter().any(|&m| {
                                        let (person, class) = (m / p.n_classes as u32, m % p.n_classes as u32);
                                        class == slot.class as u32
                                            && p.persons[person as usize].eligible & (1 << d) != 0
                                    })
                                })
                                .collect();
                            (0..p.slots.len()).map(|d| accepts[d + 1..].iter().filter(|&&a| a).count() as u8).collect()
                        })
                        .collect()
                })
                .collect()
        })
        .collect();
    let mut st = State {
        avail,
        p,
        after,
        max_after,
        capacity: s.capacity.max(1),
        first_only: s.first_only,
        earlier: s.earlier,
        pool: BTreeSet::new(),
        done: false,
        chosen: [0; MAX_SLOTS],
        chosen_ix: [0; MAX_SLOTS],
        used: vec![false; p.persons.len()],
        team_count: vec![0; p.n_teams],
        hitters: vec![0; p.n_teams],
        teams_counted: vec![0; p.n_teams],
        distinct_teams: 0,
        game_count: vec![0; p.n_games],
        distinct_games: 0,
        overlap: vec![0; s.earlier.count],
        have,
        req_span,
        nodes: 0,
    };
    st.dfs(0, p.cap, 0, 0);
    let nodes = st.nodes;
    (st.pool.into_iter().collect(), nodes)
}

impl State<'_> {
    fn threshold(&self) -> i64 {
        if self.pool.len() < self.capacity {
            NEG
        } else {
            self.pool.last().map(|f| f.points).unwrap_or(NEG)
        }
    }

    fn dfs(&mut self, d: usize, budget: u32, spent: u32, cur: i64) {
        let p = self.p;
        let slot = &p.slots[d];
        let start = if slot.first_in_group { 0 } else { self.chosen_ix[d - 1] + 1 };
        let remaining_after = p.size - d - 1;
        let best_rest = self.after[d][budget as usize];
        if best_rest <= NEG {
            return;
        }
        for ci in start..slot.cands.len() {
            if self.done {
                return;
            }
            let c = slot.cands[ci];
            let thr = self.threshold();
            if cur + c.pts + best_rest < thr {
                break;
            }
            if c.cost > budget {
                continue;
            }
            let b2 = budget - c.cost;
            let rest = self.after[d][b2 as usize];
            if rest <= NEG || cur + c.pts + rest < thr {
                continue;
            }
            let person = c.person as usize;
            if self.used[person] {
                continue;
            }
            if spent + c.cost + self.max_after[d] < p.min_salary {
                continue;
            }
            let pr = &p.persons[person];
            // swap symmetry across groups of one class
            let mut swap = false;
            for &e in &slot.swap_with {
                let q = self.chosen[e];
                if c.person < q && pr.eligible & (1 << e) != 0 && p.persons[q as usize].eligible & (1 << d) != 0 {
                    swap = true;
                    break;
                }
            }
            if swap {
                continue;
            }
            let team = pr.team as usize;
            if self.team_count[team] >= p.team_limit[team] {
                continue;
            }
            if pr.hitter && p.hitter_limit.is_some_and(|l| self.hitters[team] >= l) {
                continue;
            }
            self.nodes += 1;
            let pick = c.person * p.n_classes as u32 + slot.class as u32;
            if !self.push(d, ci, c.person, pick) {
                self.pop(c.person, pick, d);
                continue;
            }
            if self.lookahead(d, remaining_after) {
                if remaining_after == 0 {
                    self.leaf(cur + c.pts, spent + c.cost);
                } else {
                    self.dfs(d + 1, b2, spent + c.cost, cur + c.pts);
                }
            }
            self.pop(c.person, pick, d);
        }
    }

    /// Adds a pick; false when an earlier lineup now shares too many picks (the caller still pops).
    fn push(&mut self, d: usize, ci: usize, person: u32, pick: u32) -> bool {
        let p = self.p;
        let pr = &p.persons[person as usize];
        self.chosen[d] = person;
        self.chosen_ix[d] = ci;
        self.used[person as usize] = true;
        let team = pr.team as usize;
        self.team_count[team] += 1;
        if pr.hitter {
            self.hitters[team] += 1;
        }
        if pr.counts_team {
            if self.teams_counted[team] == 0 {
                self.distinct_teams += 1;
            }
            self.teams_counted[team] += 1;
        }
        let game = pr.game as usize;
        if self.game_count[game] == 0 {
            self.distinct_games += 1;
        }
        self.game_count[game] += 1;
        for &(r, o, x) in &p.reqs.member_of[pick as usize] {
            self.have[r as usize][o as usize][x as usize] += 1;
        }
        let mut ok = true;
        for &j in &self.earlier.holding[pick as usize] {
            let o = &mut self.overlap[j as usize];
            *o += 1;
            if *o as usize > p.max_overlap {
                ok = false;
            }
        }
        ok
    }

    fn pop(&mut self, person: u32, pick: u32, _d: usize) {
        let p = self.p;
        let pr = &p.persons[person as usize];
        self.used[person as usize] = false;
        let team = pr.team as usize;
        self.team_count[team] -= 1;
        if pr.hitter {
            self.hitters[team] -= 1;
        }
        if pr.counts_team {
            self.teams_counted[team] -= 1;
            if self.teams_counted[team] == 0 {
                self.distinct_teams -= 1;
            }
        }
        let game = pr.game as usize;
        self.game_count[game] -= 1;
        if self.game_count[game] == 0 {
            self.distinct_games -= 1;
        }
        for &(r, o, x) in &p.reqs.member_of[pick as usize] {
            self.have[r as usize][o as usize][x as usize] -= 1;
        }
        for &j in &self.earlier.holding[pick as usize] {
            self.overlap[j as usize] -= 1;
        }
    }

    /// Can the remaining slots still meet the team, game and requirement rules?
    fn lookahead(&self, d: usize, remaining: usize) -> bool {
        let p = self.p;
        if (self.distinct_teams as usize) + remaining < p.min_teams as usize {
            return false;
        }
        if (self.distinct_games as usize) + remaining < p.min_games as usize {
            return false;
        }
        for (r, req) in p.reqs.list.iter().enumerate() {
            // A single option (locks, forcing) is checked slot by slot; a choice of options only near the end.
            if req.options.len() > 1 && remaining >= self.req_span[r] {
                continue;
            }
            let ok = req.options.iter().enumerate().any(|(o, opt)| {
                deficit(opt, &self.have[r][o]) <= remaining
                    && opt.parts.iter().enumerate().all(|(x, part)| {
                        (part.need as usize).saturating_sub(self.have[r][o][x] as usize)
                            <= self.avail[r][o][x][d] as usize
                    })
            });
            if !ok {
                return false;
            }
        }
        true
    }

    fn leaf(&mut self, points: i64, cost: u32) {
        let p = self.p;
        if cost < p.min_salary {
            return;
        }
        let mut key = [u32::MAX; MAX_SLOTS];
        let mut persons = [u32::MAX; MAX_SLOTS];
        for d in 0..p.size {
            persons[d] = self.chosen[d];
            key[d] = self.chosen[d] * p.n_classes as u32 + p.slots[d].class as u32;
        }
        key[..p.size].sort_unstable();
        let f = Found { points, key, persons };
        if self.pool.len() >= self.capacity {
            let worst = self.pool.last().expect("a full pool");
            if f >= *worst {
                return;
            }
        }
        if self.pool.insert(f) && self.pool.len() > self.capacity {
            self.pool.pop_last();
        }
        if self.first_only {
            self.done = true;
        }
    }
}

/// Picks an option still lacks.
pub(crate) fn deficit(opt: &super::problem::Option_, have: &[u8]) -> usize {
    let mut parts = 0usize;
    let mut total = 0usize;
    for (x, part) in opt.parts.iter().enumerate() {
        let lack = (part.need as usize).saturating_sub(have[x] as usize);
        if part.total {
            total = total.max(lack);
        } else {
            parts += lack;
        }
    }
    parts.max(total)
}
