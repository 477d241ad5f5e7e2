//! The opposing field: lineups sampled from ownership, valid under the rule set, spending most of the cap.
//!
//! A lineup is filled slot by slot, the slots with the fewest candidates first (a QB before the FLEX), each
//! pick drawn in proportion to the player's weight among the candidates that keep the lineup completable:
//! team limits, and a salary that can still end between the floor and the cap given the cheapest and dearest
//! candidates of the slots left. Team and game minimums are checked at the end, and a lineup that fails is
//! drawn again. Drawing slot by slot distorts exposure (the last slots lean expensive), so the weights are
//! calibrated first: a pilot field is sampled and each weight scaled by `(target / achieved)^0.7`, a few
//! rounds, until the field's exposure tracks the given ownership. Duplicated lineups come out as often as the
//! ownership makes them, as in real fields.

use std::collections::HashMap;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::model::Slate;
use crate::rules::RuleSet;

use super::lineups::{check, fits, slot_salary, SlotTable};
use super::{FieldExposure, FieldOptions, FieldSummary, SimulationError};

/// ChaCha stream of the seed that samples the field (runs use streams from [`super::engine`]).
pub(crate) const FIELD_STREAM: u64 = 0;
const CALIBRATION_STREAM: u64 = u64::MAX;
const CALIBRATION_ROUNDS: usize = 4;
const CALIBRATION_LINEUPS: usize = 2_000;
/// Consecutive failed draws after which the salary floor is lowered by one percent of the cap.
const TRIES_PER_FLOOR: usize = 2_000;
const DEFAULT_MIN_SALARY_PCT: f64 = 97.0;
const DEFAULT_OWNERSHIP_PCT: f64 = 0.5;
/// The most an ownership tilt may favour a player $1,000 cheaper (or dearer): e^1.5 ≈ 4.5 times.
const MAX_TILT: f64 = 1.5;
/// Nobody is in more of the field than this when ownership is tilted.
const MAX_SHARE: f64 = 0.95;

/// Where the field's ownership came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OwnershipSource {
    Uploaded,
    UploadedWithDefaults,
    Estimated,
}

impl OwnershipSource {
    fn as_str(self) -> &'static str {
        match self {
            OwnershipSource::Uploaded => "uploaded",
            OwnershipSource::UploadedWithDefaults => "uploaded_with_defaults",
            OwnershipSource::Estimated => "estimated",
        }
    }
}

/// A sampled field.
#[derive(Debug, Clone)]
pub(crate) struct Field {
    /// Players by slate index, `stride` per lineup, in slot order.
    pub players: Vec<u32>,
    pub stride: usize,
    pub min_salary: u32,
    pub salary_total: u64,
    pub source: OwnershipSource,
    /// Per slate player: the ownership aimed at, as a fraction of lineups (`None` when estimated).
    pub targets: Vec<Option<f64>>,
}

impl Field {
    pub fn len(&self) -> usize {
        self.players.len().checked_div(self.stride).unwrap_or(0)
    }

    pub fn lineup(&self, i: usize) -> Vec<usize> {
        self.players[i * self.stride..(i + 1) * self.stride].iter().map(|&p| p as usize).collect()
    }

    pub fn summary(&self, slate: &Slate) -> FieldSummary {
        let n = self.len();
        let mut counts = vec![0u32; slate.players.len()];
        for &p in &self.players {
            counts[p as usize] += 1;
        }
        let mut distinct: Vec<Vec<u32>> = self
            .players
            .chunks(self.stride.max(1))
            .map(|l| {
                let mut l = l.to_vec();
                l.sort_unstable();
                l
            })
            .collect();
        distinct.sort_unstable();
        distinct.dedup();
        let pct = |c: u32| if n == 0 { 0.0 } else { f64::from(c) / n as f64 * 100.0 };
        let mut order: Vec<usize> = (0..slate.players.len()).collect();
        order.sort_by(|&a, &b| {
            let key = |i: usize| self.targets[i].unwrap_or(f64::from(counts[i]) / n.max(1) as f64);
            key(b).total_cmp(&key(a)).then(a.cmp(&b))
        });
        let top_owned = order
            .into_iter()
            .take(12)
            .map(|i| FieldExposure {
                player_id: slate.players[i].id.clone(),
                name: slate.players[i].name.clone(),
                target_pct: self.targets[i].map(|t| t * 100.0),
                field_pct: pct(counts[i]),
            })
            .collect();
        FieldSummary {
            lineups: n as u32,
            distinct: distinct.len() as u32,
            mean_salary: if n == 0 { 0.0 } else { self.salary_total as f64 / n as f64 },
            min_salary: self.min_salary,
            ownership_source: self.source.as_str().to_owned(),
            top_owned,
        }
    }
}

/// A field sampled on its own, for a look at it or to enter it elsewhere.
#[derive(Debug, Clone, PartialEq)]
pub struct SampledField {
    /// Lineups as upload ids in slot order (the captain row's id in a DraftKings CPT slot).
    pub lineups: Vec<Vec<String>>,
    /// The least salary a lineup was allowed to spend.
    pub min_salary: u32,
    pub warnings: Vec<String>,
}

/// Samples `count` field lineups from the slate's ownership, as [`super::simulate`] does. Seeded: the same
/// arguments give the same lineups.
pub fn sample_lineups(
    slate: &Slate,
    rules: &RuleSet,
    options: &FieldOptions,
    count: u32,
    seed: u64,
) -> Result<SampledField, SimulationError> {
    let mut warnings = Vec::new();
    let field = sample(slate, rules, options, count, seed, &mut warnings)?;
    let lineups = (0..field.len())
        .map(|i| {
            field
                .lineup(i)
                .into_iter()
                .zip(rules.slots)
                .map(|(p, slot)| {
                    let player = &slate.players[p];
                    match &player.captain {
                        Some(c) if slot.points_mult != 1.0 => c.id.clone(),
                        _ => player.id.clone(),
                    }
                })
                .collect()
        })
        .collect();
    Ok(SampledField { lineups, min_salary: field.min_salary, warnings })
}

/// Samples `count` field lineups (see the module's docs).
pub(crate) fn sample(
    slate: &Slate,
    rules: &RuleSet,
    options: &FieldOptions,
    count: u32,
    seed: u64,
    warnings: &mut Vec<String>,
) -> Result<Field, SimulationError> {
    let pct = options.min_salary_pct.unwrap_or(DEFAULT_MIN_SALARY_PCT);
    if !(0.0..=100.0).contains(&pct) {
        return Err(SimulationError::Invalid(format!("field.min_salary_pct: {pct} is not a percentage")));
    }
    let default_own = options.default_ownership.unwrap_or(DEFAULT_OWNERSHIP_PCT);
    if !(0.0..=100.0).contains(&default_own) {
        return Err(SimulationError::Invalid(format!("field.default_ownership: {default_own} is not a percentage")));
    }
    let floor = (f64::from(rules.salary_cap) * pct / 100.0).floor() as u32;
    let stride = rules.slots.len();
    let empty =
        |source, targets| Field { players: Vec::new(), stride, min_salary: floor, salary_total: 0, source, targets };
    let (source, targets, weights) = ownership(slate, rules, default_own)?;
    if count == 0 {
        return Ok(empty(source, targets));
    }
    let mut sampler = Sampler::new(slate, rules, weights.clone(), floor)?;
    // A floor near the dearest lineup the slate allows leaves one lineup, not a field: keep a tenth of the cap
    // of room below it unless the user set the floor.
    let room = rules.salary_cap / 10;
    let dearest = sampler.dearest_lineup();
    let floor = match dearest {
        Some(d) if options.min_salary_pct.is_none() && u64::from(floor) + u64::from(room) > d => {
            let lowered = (d.saturating_sub(u64::from(room))) as u32;
            warnings.push(format!(
                "field: the dearest lineup of this slate costs {d}; field lineups spend at least {lowered} (a tenth \
                 of the cap below it) rather than {floor} ({pct} % of the cap)"
            ));
            lowered
        }
        _ => floor,
    };
    sampler.floor = floor;
    let aim = match fit_to_salary(slate, rules, &targets, floor) {
        Some((aim, implied, fitted)) => {
            warnings.push(format!(
                "field: the ownership implies an average lineup salary of {implied:.0}, outside what valid lineups \
                 spend ({floor}-{}); the field aims at ownership tilted toward {} players within each position \
                 (implied {fitted:.0}), so the {} players fall short of their ownership",
                rules.salary_cap,
                if implied > fitted { "cheaper" } else { "dearer" },
                if implied > fitted { "dearest" } else { "cheapest" },
            ));
            aim
        }
        None => targets.clone(),
    };
    if source != OwnershipSource::Estimated {
        sampler.weights = aim.iter().map(|t| t.unwrap_or(0.0)).collect();
    }
    if source != OwnershipSource::Estimated {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(CALIBRATION_STREAM);
        let mut pick = vec![0usize; stride];
        for _ in 0..CALIBRATION_ROUNDS {
            let mut counts = vec![0u32; slate.players.len()];
            for _ in 0..CALIBRATION_LINEUPS {
                sampler.draw(&mut rng, &mut pick)?;
                for &p in &pick {
                    counts[p] += 1;
                }
            }
            let eps = 0.5 / CALIBRATION_LINEUPS as f64;
            for (p, w) in sampler.weights.iter_mut().enumerate() {
                if let (Some(t), true) = (aim[p], *w > 0.0) {
                    let achieved = f64::from(counts[p]) / CALIBRATION_LINEUPS as f64;
                    *w *= ((t + eps) / (achieved + eps)).powf(0.7).clamp(0.2, 5.0);
                }
            }
        }
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(FIELD_STREAM);
    let mut players = Vec::with_capacity(count as usize * stride);
    let mut pick = vec![0usize; stride];
    let mut salary_total = 0u64;
    for _ in 0..count {
        salary_total += u64::from(sampler.draw(&mut rng, &mut pick)?);
        players.extend(pick.iter().map(|&p| p as u32));
    }
    if sampler.floor < floor {
        warnings.push(format!(
            "field: no valid lineup of this slate reliably spends {floor} ({pct} % of the cap); field lineups spend \
             at least {} instead",
            sampler.floor
        ));
    }
    if source == OwnershipSource::Estimated {
        warnings.push(
            "field: no player has an ownership; the field is sampled from an estimate by projection and value".into(),
        );
    }
    Ok(Field { players, stride, min_salary: sampler.floor, salary_total, source, targets })
}

/// Target ownership per player (fraction of lineups) and the starting weights. Players who are out, have no
/// positive projection or an ownership of 0 never enter the field.
#[allow(clippy::type_complexity)]
fn ownership(
    slate: &Slate,
    rules: &RuleSet,
    default_pct: f64,
) -> Result<(OwnershipSource, Vec<Option<f64>>, Vec<f64>), SimulationError> {
    let playable = |i: usize| {
        let p = &slate.players[i];
        !p.is_out() && p.points() > 0.0
    };
    let mut any = false;
    let mut all = true;
    for (i, p) in slate.players.iter().enumerate() {
        match p.ownership {
            Some(o) if !o.is_finite() || !(0.0..=100.0).contains(&o) => {
                return Err(SimulationError::Invalid(format!(
                    "player {} ({}): ownership {o} is not a percentage",
                    p.id, p.name
                )));
            }
            Some(_) => any = true,
            None if playable(i) => all = false,
            None => {}
        }
    }
    let n = slate.players.len();
    if !any {
        // Crowds chase projection and value (points per $1,000); weight by both, sharply.
        let weights = (0..n)
            .map(|i| {
                let p = &slate.players[i];
                if !playable(i) || p.salary == 0 {
                    return 0.0;
                }
                let value = p.points() / f64::from(p.salary) * 1000.0;
                p.points() * value * value
            })
            .collect();
        return Ok((OwnershipSource::Estimated, vec![None; n], weights));
    }
    let targets: Vec<Option<f64>> =
        (0..n).map(|i| playable(i).then(|| slate.players[i].ownership.unwrap_or(default_pct) / 100.0)).collect();
    // Targets are the sites' per-lineup exposure: a lineup of k slots holds k players, so they sum to about k.
    let sum: f64 = targets.iter().flatten().sum();
    let slots = rules.slots.len() as f64;
    let scale = if sum > slots { slots / sum } else { 1.0 };
    let targets: Vec<Option<f64>> = targets.into_iter().map(|t| t.map(|t| (t * scale).min(1.0))).collect();
    let weights = targets.iter().map(|t| t.unwrap_or(0.0)).collect();
    let source = if all { OwnershipSource::Uploaded } else { OwnershipSource::UploadedWithDefaults };
    Ok((source, targets, weights))
}

/// When the targets imply an average lineup salary (Σ ownership × salary, boosted slots' salary counted) outside
/// `floor..=cap`, no valid field can hold them: returns targets tilted by `exp(-λ · salary)` within each group of
/// players who may fill the same slots (each group keeps its total, nobody above 95 %) so that they imply a
/// salary a quarter of the way into the range, with the implied salaries before and after. Exponential tilting
/// is the smallest change (in relative entropy) that meets the salary constraint on average; `λ` stays within
/// ±[`MAX_TILT`] per $1,000, so ownership too far off is moved only that far.
fn fit_to_salary(
    slate: &Slate,
    rules: &RuleSet,
    targets: &[Option<f64>],
    floor: u32,
) -> Option<(Vec<Option<f64>>, f64, f64)> {
    let cap = f64::from(rules.salary_cap);
    let floor = f64::from(floor);
    let boost = rules.slots.iter().map(|s| s.salary_mult).sum::<f64>() / rules.slots.len() as f64;
    let salary = |p: usize| f64::from(slate.players[p].salary) * boost;
    let mut groups: HashMap<String, usize> = HashMap::new();
    let group: Vec<usize> = slate
        .players
        .iter()
        .map(|p| {
            let next = groups.len();
            *groups.entry(p.eligible.join("/")).or_insert(next)
        })
        .collect();
    let tilted = |lambda: f64| -> (Vec<Option<f64>>, f64) {
        let mut total = vec![0.0; groups.len()];
        for (p, t) in targets.iter().enumerate() {
            total[group[p]] += t.unwrap_or(0.0);
        }
        let mut out: Vec<Option<f64>> =
            targets.iter().enumerate().map(|(p, t)| t.map(|t| t * (-lambda * salary(p) / 1000.0).exp())).collect();
        // Scale each group back to its total; whoever would pass 95 % stays there and the rest share the excess.
        for _ in 0..20 {
            let mut fixed = vec![0.0; groups.len()];
            let mut free = vec![0.0; groups.len()];
            for (p, t) in out.iter().enumerate() {
                match t {
                    Some(t) if *t >= MAX_SHARE => fixed[group[p]] += MAX_SHARE,
                    Some(t) => free[group[p]] += t,
                    None => {}
                }
            }
            let mut changed = false;
            for (p, t) in out.iter_mut().enumerate() {
                let g = group[p];
                if let Some(t) = t {
                    let room = (total[g] - fixed[g]).max(0.0);
                    let scaled =
                        if *t >= MAX_SHARE || free[g] <= 0.0 { MAX_SHARE.min(*t) } else { *t * room / free[g] };
                    changed |= (scaled - *t).abs() > 1e-12;
                    *t = scaled.min(MAX_SHARE);
                }
            }
            if !changed {
                break;
            }
        }
        let implied = out.iter().enumerate().map(|(p, t)| t.unwrap_or(0.0) * salary(p)).sum();
        (out, implied)
    };
    let (_, implied) = tilted(0.0);
    if (floor..=cap).contains(&implied) {
        return None;
    }
    let goal = if implied > cap { cap - (cap - floor) / 4.0 } else { floor + (cap - floor) / 4.0 };
    // The implied salary falls as λ grows.
    let (mut lo, mut hi) = (-MAX_TILT, MAX_TILT);
    for _ in 0..50 {
        let mid = (lo + hi) / 2.0;
        if tilted(mid).1 > goal {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let (aim, fitted) = tilted((lo + hi) / 2.0);
    Some((aim, implied, fitted))
}

#[derive(Debug, Clone, Copy)]
struct Candidate {
    player: usize,
    salary: u32,
    team: usize,
    game: usize,
    hitter: bool,
    /// Counts toward the rule set's `min_teams`.
    counted: bool,
}

/// Draws valid lineups from weights.
struct Sampler<'a> {
    slate: &'a Slate,
    rules: &'a RuleSet,
    weights: Vec<f64>,
    /// Slots in fill order.
    order: Vec<usize>,
    /// Per slot: who may fill it.
    candidates: Vec<Vec<Candidate>>,
    /// Per slot: indices into its candidates, cheapest first.
    by_salary: Vec<Vec<usize>>,
    floor: u32,
    teams: usize,
    // Scratch.
    picked: Vec<Candidate>,
    /// Per player: the bound evaluation (`marks`) whose cheapest / dearest fill picked him, and what replacing
    /// him there costs more (less).
    cheap_mark: Vec<(u64, Option<u32>)>,
    dear_mark: Vec<(u64, Option<u32>)>,
    marks: u64,
    chosen_at: Vec<u64>,
    draws: u64,
    team_count: Vec<(u8, u8)>,
    cumulative: Vec<f64>,
}

impl<'a> Sampler<'a> {
    fn new(
        slate: &'a Slate,
        rules: &'a RuleSet,
        weights: Vec<f64>,
        floor: u32,
    ) -> Result<Sampler<'a>, SimulationError> {
        let mut team_ids: HashMap<&str, usize> = HashMap::new();
        let mut game_ids: HashMap<&str, usize> = HashMap::new();
        for p in &slate.players {
            let next = team_ids.len();
            team_ids.entry(p.team.as_str()).or_insert(next);
            let next = game_ids.len();
            game_ids.entry(p.game.as_str()).or_insert(next);
        }
        let candidates: Vec<Vec<Candidate>> = rules
            .slots
            .iter()
            .map(|slot| {
                slate
                    .players
                    .iter()
                    .enumerate()
                    .filter(|&(i, p)| weights[i] > 0.0 && fits(p, slot))
                    .map(|(i, p)| Candidate {
                        player: i,
                        salary: slot_salary(p, slot),
                        team: team_ids[p.team.as_str()],
                        game: game_ids[p.game.as_str()],
                        hitter: !rules.is_pitcher(&p.positions),
                        counted: rules.min_teams_positions.is_empty()
                            || p.positions.iter().any(|x| rules.min_teams_positions.contains(&x.as_str())),
                    })
                    .collect()
            })
            .collect();
        if let Some(s) = candidates.iter().position(Vec::is_empty) {
            return Err(SimulationError::Invalid(format!(
                "field: no player with a projection and ownership can fill slot {} ({})",
                s + 1,
                rules.slots[s].name
            )));
        }
        let mut order: Vec<usize> = (0..rules.slots.len()).collect();
        order.sort_by_key(|&s| candidates[s].len());
        let by_salary = candidates
            .iter()
            .map(|c| {
                let mut idx: Vec<usize> = (0..c.len()).collect();
                idx.sort_by_key(|&k| (c[k].salary, c[k].player));
                idx
            })
            .collect();
        Ok(Sampler {
            slate,
            rules,
            weights,
            order,
            candidates,
            by_salary,
            floor,
            teams: team_ids.len(),
            picked: Vec::with_capacity(rules.slots.len()),
            cheap_mark: vec![(0, None); slate.players.len()],
            dear_mark: vec![(0, None); slate.players.len()],
            marks: 0,
            chosen_at: vec![0; slate.players.len()],
            draws: 0,
            team_count: vec![(0, 0); team_ids.len()],
            cumulative: Vec::new(),
        })
    }

    /// Draws one valid lineup into `out` (players in slot order) and returns its salary; lowers the floor
    /// when the slate keeps failing to reach it.
    fn draw(&mut self, rng: &mut ChaCha8Rng, out: &mut [usize]) -> Result<u32, SimulationError> {
        let mut failures = 0;
        loop {
            if let Some(salary) = self.try_draw(rng, out) {
                return Ok(salary);
            }
            failures += 1;
            if failures >= TRIES_PER_FLOOR {
                if self.floor == 0 {
                    return Err(SimulationError::Invalid(format!(
                        "field: {TRIES_PER_FLOOR} draws in a row found no lineup valid under the rules ({} {} {}); \
                         the slate has too few playable players with ownership",
                        self.rules.site.as_str(),
                        self.rules.sport.as_str(),
                        self.rules.contest.as_str()
                    )));
                }
                self.floor = self.floor.saturating_sub(self.rules.salary_cap / 100);
                failures = 0;
            }
        }
    }

    /// Fills `slots` greedily with the cheapest (`dear`: dearest) candidates not picked in this draw and
    /// returns the total, marking each pick with what his slot's next option costs more (less); `None` when a
    /// slot runs out of candidates.
    fn fill(&mut self, from: usize, stamp: u64, dear: bool) -> Option<u64> {
        let marks = self.marks;
        let mut sum = 0u64;
        for &slot in &self.order[from..] {
            let cands = &self.candidates[slot];
            let order = &self.by_salary[slot];
            let open = |k: &usize| {
                let p = cands[*k].player;
                let taken = if dear { self.dear_mark[p].0 } else { self.cheap_mark[p].0 };
                self.chosen_at[p] != stamp && taken != marks
            };
            let (first, second) = if dear {
                let mut it = order.iter().rev().filter(|k| open(k));
                (it.next().copied(), it.next().copied())
            } else {
                let mut it = order.iter().filter(|k| open(k));
                (it.next().copied(), it.next().copied())
            };
            let first = cands[first?];
            let delta = second.map(|k| cands[k].salary.abs_diff(first.salary));
            sum += u64::from(first.salary);
            if dear {
                self.dear_mark[first.player] = (marks, delta);
            } else {
                self.cheap_mark[first.player] = (marks, delta);
            }
        }
        Some(sum)
    }

    /// What the dearest lineup could cost, cap aside (an upper bound for nested eligibility, see `fill`).
    fn dearest_lineup(&mut self) -> Option<u64> {
        self.draws += 1;
        self.marks += 1;
        self.fill(0, self.draws, true)
    }

    fn try_draw(&mut self, rng: &mut ChaCha8Rng, out: &mut [usize]) -> Option<u32> {
        self.draws += 1;
        let stamp = self.draws;
        self.team_count.iter_mut().for_each(|c| *c = (0, 0));
        debug_assert_eq!(self.team_count.len(), self.teams);
        let cap = self.rules.salary_cap;
        let mut spent = 0u32;
        self.picked.clear();
        for i in 0..self.order.len() {
            let slot = self.order[i];
            // What the slots after this one can cost: filled greedily (most restrictive slot first) with the
            // cheapest, and the dearest, players not picked yet. For nested eligibility (FLEX holds RB, WR
            // and TE) that is the exact least and most; a candidate who is himself one of those picks is
            // replaced by his slot's next option.
            self.marks += 1;
            let cheap_sum = self.fill(i + 1, stamp, false)?;
            let dear_sum = self.fill(i + 1, stamp, true)?;
            let marks = self.marks;
            self.cumulative.clear();
            let mut total = 0.0;
            for c in &self.candidates[slot] {
                let (all, hitters) = self.team_count[c.team];
                let replaced = |(m, extra): (u64, Option<u32>), sum: u64, up: bool| match (m == marks, extra) {
                    (false, _) => Some(sum),
                    (true, Some(e)) if up => Some(sum + u64::from(e)),
                    (true, Some(e)) => Some(sum.saturating_sub(u64::from(e))),
                    (true, None) => None,
                };
                let min_rest = replaced(self.cheap_mark[c.player], cheap_sum, true);
                let max_rest = replaced(self.dear_mark[c.player], dear_sum, false);
                let spend = u64::from(spent + c.salary);
                let ok = self.chosen_at[c.player] != stamp
                    && self.rules.max_per_team.is_none_or(|m| all < m)
                    && (!c.hitter || self.rules.max_hitters_per_team.is_none_or(|m| hitters < m))
                    && min_rest.is_some_and(|r| spend + r <= u64::from(cap))
                    && max_rest.is_some_and(|r| spend + r >= u64::from(self.floor));
                if ok {
                    total += self.weights[c.player];
                }
                self.cumulative.push(if ok { total } else { f64::NAN });
            }
            if total <= 0.0 {
                return None;
            }
            let r = rng.gen::<f64>() * total;
            let k = self.cumulative.iter().position(|&x| x > r).unwrap_or_else(|| {
                // Rounding at the top end: the last allowed candidate.
                self.cumulative.iter().rposition(|x| !x.is_nan()).expect("total > 0")
            });
            let c = self.candidates[slot][k];
            self.chosen_at[c.player] = stamp;
            self.team_count[c.team].0 += 1;
            self.team_count[c.team].1 += u8::from(c.hitter);
            spent += c.salary;
            out[slot] = c.player;
            self.picked.push(c);
        }
        // Team and game minimums; everything else held while drawing.
        let distinct = |key: &dyn Fn(&Candidate) -> Option<usize>| {
            let mut seen: Vec<usize> = self.picked.iter().filter_map(key).collect();
            seen.sort_unstable();
            seen.dedup();
            seen.len()
        };
        let ok = distinct(&|c| c.counted.then_some(c.team)) >= usize::from(self.rules.min_teams)
            && distinct(&|c| Some(c.game)) >= usize::from(self.rules.min_games);
        debug_assert_eq!(ok, check(self.slate, self.rules, out).is_ok(), "{out:?}");
        debug_assert!(!ok || spent >= self.floor && spent <= cap);
        ok.then_some(spent)
    }
}

/// The field as the engine scores it: distinct lineups (sorted score-vector entries) with their copies.
#[derive(Debug, Clone)]
pub(crate) struct FieldEntries {
    /// `stride` entries per distinct lineup.
    pub entries: Vec<u16>,
    pub copies: Vec<u32>,
    index: HashMap<Vec<u16>, usize>,
}

impl FieldEntries {
    pub fn new(field: &Field, slots: &SlotTable) -> FieldEntries {
        let mut index: HashMap<Vec<u16>, usize> = HashMap::new();
        let mut entries = Vec::new();
        let mut copies = Vec::new();
        for i in 0..field.len() {
            let key = slots.key(&field.lineup(i));
            match index.get(&key) {
                Some(&j) => copies[j] += 1,
                None => {
                    index.insert(key.clone(), copies.len());
                    entries.extend_from_slice(&key);
                    copies.push(1);
                }
            }
        }
        FieldEntries { entries, copies, index }
    }

    pub fn copies_of(&self, key: &[u16]) -> u32 {
        self.index.get(key).map_or(0, |&j| self.copies[j])
    }
}
