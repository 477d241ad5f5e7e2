//! Lineups in sequence, each the exact optimum under the request plus what the earlier ones added.
//!
//! Without randomness or minimum exposure the constraints only tighten from one lineup to the next
//! (uniqueness adds, exposure caps ban), so a lineup that is infeasible once stays infeasible. Then one search
//! for the best `m` lineups compatible with the set so far, scanned best first and accepting every lineup
//! still compatible at its turn, is exactly the sequential definition; when the pool runs dry, a new search
//! under the grown set continues where it stopped. A capped player who was locked frees his lock (pydfs
//! does the same), which loosens the rules: the scan stops there and searches afresh.
//!
//! With randomness (other points per lineup) or minimum exposure (forcing that comes and goes) each lineup
//! is its own search.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

use super::problem::{self, Inputs, Problem, SlatePart, SlateRequirement};
use super::request::Compiled;
use super::search::{self, Earlier, Found, Search};
use super::{diagnose, OptimizeError, OptimizeRequest};
use crate::model::{Lineup, LineupPlayer, Slate};
use crate::rules::RuleSet;

/// Where the sequence stands.
pub(crate) struct Progress {
    /// Accepted lineups: slate player per rule slot.
    pub lineups: Vec<Vec<usize>>,
    /// Their picks (slate player, class), for uniqueness.
    pub picks: Vec<Vec<(usize, u8)>>,
    /// Lineups each slate player is in.
    pub used: Vec<usize>,
}

impl Progress {
    /// Slate players banned by max exposure now (pydfs's TotalExposureStrategy: reached when
    /// `max <= used / total`).
    pub fn banned(&self, c: &Compiled) -> Vec<bool> {
        let n = c.count as f64;
        self.used.iter().zip(&c.max_exposure).map(|(&u, m)| m.is_some_and(|m| m <= u as f64 / n || m == 0.0)).collect()
    }
}

/// The inputs of the next solve: requirements for locks (minus capped players) and stacks, extra ones
/// (min-exposure forcing), allowed players.
pub(crate) fn requirements(c: &Compiled, banned: &[bool], extra: Vec<SlateRequirement>) -> Vec<SlateRequirement> {
    let mut reqs = Vec::new();
    let locks: Vec<(usize, Option<u8>)> = c.locks.iter().copied().filter(|&(i, _)| !banned[i]).collect();
    if !locks.is_empty() {
        let parts = locks.iter().map(|&m| SlatePart { members: vec![m], need: 1, total: false }).collect();
        reqs.push(SlateRequirement { name: "locks".into(), options: vec![("locks".into(), parts)] });
    }
    reqs.extend(c.stacks.iter().cloned());
    reqs.extend(extra);
    reqs
}

#[allow(clippy::too_many_arguments)] // one solve's inputs; a struct would only rename them
pub(crate) fn solve_one(
    slate: &Slate,
    rules: &RuleSet,
    c: &Compiled,
    points: &[f64],
    allowed: &[bool],
    reqs: &[SlateRequirement],
    progress: &Progress,
    capacity: usize,
    first_only: bool,
) -> (Problem, Vec<Found>) {
    let inputs = Inputs { points, allowed, requirements: reqs };
    let p = problem::compile(slate, rules, &c.shape, &inputs);
    let earlier = earlier_of(&p, c, progress);
    let (found, _) = search::run(&Search { problem: &p, capacity, earlier: &earlier, first_only });
    (p, found)
}

/// The accepted lineups' picks in the problem's numbering (persons no longer playable drop out: they
/// cannot be shared).
fn earlier_of(p: &Problem, c: &Compiled, progress: &Progress) -> Earlier {
    let mut rank_of = vec![u32::MAX; c.points.len()];
    for (r, person) in p.persons.iter().enumerate() {
        rank_of[person.slate_ix] = r as u32;
    }
    let mut e = Earlier::new(p.persons.len() * p.n_classes);
    for picks in &progress.picks {
        let v: Vec<u32> = picks
            .iter()
            .filter(|&&(i, _)| rank_of[i] != u32::MAX)
            .map(|&(i, cl)| rank_of[i] * p.n_classes as u32 + cl as u32)
            .collect();
        e.push(&v);
    }
    e
}

/// A found lineup as slate players per rule slot.
pub(crate) fn to_slots(p: &Problem, f: &Found) -> Vec<usize> {
    let mut out = vec![usize::MAX; p.size];
    for (d, slot) in p.slots.iter().enumerate() {
        out[slot.rule_ix] = p.persons[f.persons[d] as usize].slate_ix;
    }
    out
}

fn picks_of(c: &Compiled, slots: &[usize]) -> Vec<(usize, u8)> {
    slots.iter().enumerate().map(|(s, &i)| (i, c.shape.slot_class[s])).collect()
}

fn compatible(c: &Compiled, progress: &Progress, picks: &[(usize, u8)], banned: &[bool]) -> bool {
    if picks.iter().any(|&(i, _)| banned[i]) {
        return false;
    }
    progress.picks.iter().all(|e| picks.iter().filter(|p| e.contains(p)).count() <= c.shape.max_overlap)
}

fn accept(progress: &mut Progress, c: &Compiled, slots: Vec<usize>) {
    for &i in &slots {
        progress.used[i] += 1;
    }
    progress.picks.push(picks_of(c, &slots));
    progress.lineups.push(slots);
}

/// Builds the whole sequence.
pub(crate) fn build(
    slate: &Slate,
    rules: &RuleSet,
    req: &OptimizeRequest,
    c: &Compiled,
) -> Result<Vec<Vec<usize>>, OptimizeError> {
    let mut progress = Progress { lineups: Vec::new(), picks: Vec::new(), used: vec![0; slate.players.len()] };
    let per_lineup = req.randomness.is_some() || c.min_exposure.iter().any(|m| m.is_some_and(|m| m > 0.0));
    if per_lineup {
        return build_each(slate, rules, req, c, progress);
    }
    while progress.lineups.len() < c.count {
        let banned = progress.banned(c);
        let allowed: Vec<bool> = c.allowed.iter().zip(&banned).map(|(&a, &b)| a && !b).collect();
        let reqs = requirements(c, &banned, Vec::new());
        let left = c.count - progress.lineups.len();
        // Uniqueness beyond "not the same" rejects most near neighbours: search deeper.
        let capacity = if c.min_unique > 1 { (left * 4).max(32) } else { left };
        let (p, found) = solve_one(slate, rules, c, &c.points, &allowed, &reqs, &progress, capacity, false);
        if found.is_empty() {
            return Err(diagnose::explain(slate, rules, c, &progress));
        }
        for f in &found {
            let banned = progress.banned(c);
            let slots = to_slots(&p, f);
            let picks = picks_of(c, &slots);
            if !compatible(c, &progress, &picks, &banned) {
                continue;
            }
            accept(&mut progress, c, slots);
            if progress.lineups.len() == c.count {
                break;
            }
            let now = progress.banned(c);
            if c.locks.iter().any(|&(i, _)| now[i] && !banned[i]) {
                break; // a lock was freed: the rules loosened, search again
            }
        }
    }
    Ok(progress.lineups)
}

/// One search per lineup: randomness, minimum exposure.
fn build_each(
    slate: &Slate,
    rules: &RuleSet,
    req: &OptimizeRequest,
    c: &Compiled,
    mut progress: Progress,
) -> Result<Vec<Vec<usize>>, OptimizeError> {
    let mut need: Vec<i64> =
        c.min_exposure.iter().map(|m| m.map(|m| round_half_even(m * c.count as f64)).unwrap_or(0)).collect();
    for k in 0..c.count {
        let banned = progress.banned(c);
        let allowed: Vec<bool> = c.allowed.iter().zip(&banned).map(|(&a, &b)| a && !b).collect();
        let extra = min_exposure_forcing(slate, rules, c, &need, c.count - k);
        let reqs = requirements(c, &banned, extra);
        let points = match &req.randomness {
            Some(r) => perturb(slate, c, r.seed, r.fraction.unwrap_or(0.2), k),
            None => c.points.clone(),
        };
        let (p, found) = solve_one(slate, rules, c, &points, &allowed, &reqs, &progress, 1, false);
        let Some(f) = found.first() else {
            return Err(diagnose::explain(slate, rules, c, &progress));
        };
        let slots = to_slots(&p, f);
        for &i in &slots {
            if need[i] > 0 {
                need[i] -= 1;
            }
        }
        accept(&mut progress, c, slots);
    }
    Ok(progress.lineups)
}

/// Python's `round`: halves go to the even neighbour (pydfs rounds min exposure counts with it).
pub(crate) fn round_half_even(x: f64) -> i64 {
    let r = x.round();
    if (x - x.trunc()).abs() == 0.5 && (r as i64) % 2 != 0 {
        (r - x.signum()) as i64
    } else {
        r as i64
    }
}

/// pydfs's MinExposureRule for the lineup with `remaining` lineups still to build: a player who needs as many
/// lineups as remain is forced; per group of slot positions, if the players' outstanding needs exceed what
/// the group's slots can absorb in the later lineups, at least some of them are forced now.
fn min_exposure_forcing(
    slate: &Slate,
    rules: &RuleSet,
    _c: &Compiled,
    need: &[i64],
    remaining: usize,
) -> Vec<SlateRequirement> {
    let mut out = Vec::new();
    let waiting: Vec<usize> = (0..need.len()).filter(|&i| need[i] > 0).collect();
    if waiting.is_empty() {
        return out;
    }
    for &i in &waiting {
        if need[i] as usize >= remaining {
            out.push(SlateRequirement {
                name: format!("exposure min of {}", slate.players[i].id),
                options: vec![(
                    slate.players[i].id.clone(),
                    vec![SlatePart { members: vec![(i, None)], need: 1, total: false }],
                )],
            });
        }
    }
    // positions dict as get_positions_for_optimizer builds it (without multi-position combinations)
    let mut keys: Vec<Vec<&str>> = Vec::new();
    for s in rules.slots {
        let mut k: Vec<&str> = s.accepts.to_vec();
        k.sort_unstable();
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    for key in &keys {
        let own = rules.slots.iter().filter(|s| sorted(s.accepts) == *key).count();
        let narrower = rules
            .slots
            .iter()
            .filter(|s| s.accepts.len() < key.len() && s.accepts.iter().any(|a| key.contains(a)))
            .count();
        let places = (own + narrower) as i64;
        let members: Vec<usize> = waiting
            .iter()
            .copied()
            .filter(|&i| slate.players[i].positions.iter().any(|p| key.contains(&p.as_str())))
            .collect();
        if members.is_empty() {
            continue;
        }
        let total: i64 = members.iter().map(|&i| need[i]).sum::<i64>() - places * (remaining as i64 - 1);
        if total > 0 {
            let force = total.min((total + remaining as i64 - 1) / remaining as i64);
            out.push(SlateRequirement {
                name: format!("exposure min of {} players", key.join("/")),
                options: vec![(
                    key.join("/"),
                    vec![SlatePart {
                        members: members.iter().map(|&i| (i, None)).collect(),
                        need: force as u8,
                        total: false,
                    }],
                )],
            });
        }
    }
    out
}

fn sorted<'a>(v: &[&'a str]) -> Vec<&'a str> {
    let mut v = v.to_vec();
    v.sort_unstable();
    v
}

/// The points of lineup `k` under randomness: each player's projection plus a normal draw of his spread
/// (his stdev, else `fraction` of his projection), never below zero; seeded by (seed, k).
pub(crate) fn perturb(slate: &Slate, c: &Compiled, seed: u64, fraction: f64, k: usize) -> Vec<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ (k as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let unit = Normal::new(0.0, 1.0).expect("unit normal");
    slate
        .players
        .iter()
        .zip(&c.points)
        .map(|(p, &base)| {
            let z: f64 = unit.sample(&mut rng);
            let spread = p.stdev.filter(|s| *s > 0.0).unwrap_or(fraction * base.abs());
            (base + z * spread).max(0.0)
        })
        .collect()
}

/// The lineups as the model's [`Lineup`]s: rule-set slot order, upload ids, slot salaries and points.
pub(crate) fn to_lineups(slate: &Slate, rules: &RuleSet, c: &Compiled, lineups: &[Vec<usize>]) -> Vec<Lineup> {
    lineups
        .iter()
        .map(|slots| {
            let players: Vec<LineupPlayer> = slots
                .iter()
                .enumerate()
                .map(|(s, &i)| {
                    let rule = &rules.slots[s];
                    let p = &slate.players[i];
                    let captain_row = rule.salary_mult != 1.0;
                    let id = match (&p.captain, captain_row) {
                        (Some(cr), true) => cr.id.clone(),
                        _ => p.id.clone(),
                    };
                    LineupPlayer {
                        id,
                        player_id: p.id.clone(),
                        name: p.name.clone(),
                        slot: rule.name.to_owned(),
                        positions: p.positions.clone(),
                        team: p.team.clone(),
                        salary: problem::slot_salary(p, rule.salary_mult),
                        projection: points_in_slot(c.points[i], rule.points_mult),
                    }
                })
                .collect();
            let salary = players.iter().map(|p| p.salary).sum();
            let projection = round4(players.iter().map(|p| p.projection).sum());
            Lineup { players, salary, projection }
        })
        .collect()
}

/// Points as the search counts them: the projection to 1/10,000 times the multiplier.
pub(crate) fn points_in_slot(points: f64, mult: f64) -> f64 {
    let scaled = (points * 10_000.0).round() as i64 * (mult * 10.0).round() as i64;
    scaled as f64 / problem::POINTS_SCALE
}

fn round4(x: f64) -> f64 {
    (x * 100_000.0).round() / 100_000.0
}
