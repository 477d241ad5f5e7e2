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
const TRIES_PER_FLOOR: usize = 500;
const DEFAULT_MIN_SALARY_PCT: f64 = 97.0;
const DEFAULT_OWNERSHIP_PCT: f64 = 0.5;

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

/// Samples `count` field lineups from the slate's ownership and returns them as upload ids in slot order (the
/// captain row's id in a DraftKings CPT slot). Seeded: the same arguments give the same lineups.
pub fn sample_lineups(
    slate: &Slate,
    rules: &RuleSet,
    options: &FieldOptions,
    count: u32,
    seed: u64,
) -> Result<Vec<Vec<String>>, SimulationError> {
    let field = sample(slate, rules, options, count, seed, &mut Vec::new())?;
    Ok((0..field.len())
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
        .collect())
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
    let mut sampler = Sampler::new(slate, rules, weights, floor)?;
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
                if let (Some(t), true) = (targets[p], *w > 0.0) {
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
    /// By fill position: the least and most the slots from there on can cost.
    min_rest: Vec<u32>,
    max_rest: Vec<u32>,
    floor: u32,
    teams: usize,
    // Scratch.
    picked: Vec<Candidate>,
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
        let mut min_rest = vec![0u32; order.len() + 1];
        let mut max_rest = vec![0u32; order.len() + 1];
        for i in (0..order.len()).rev() {
            let c = &candidates[order[i]];
            min_rest[i] = min_rest[i + 1] + c.iter().map(|c| c.salary).min().unwrap_or(0);
            max_rest[i] = max_rest[i + 1] + c.iter().map(|c| c.salary).max().unwrap_or(0);
        }
        Ok(Sampler {
            slate,
            rules,
            weights,
            order,
            candidates,
            min_rest,
            max_rest,
            floor,
            teams: team_ids.len(),
            picked: Vec::with_capacity(rules.slots.len()),
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

    fn try_draw(&mut self, rng: &mut ChaCha8Rng, out: &mut [usize]) -> Option<u32> {
        self.draws += 1;
        let stamp = self.draws;
        self.team_count.iter_mut().for_each(|c| *c = (0, 0));
        debug_assert_eq!(self.team_count.len(), self.teams);
        let cap = self.rules.salary_cap;
        let mut spent = 0u32;
        self.picked.clear();
        for (i, &slot) in self.order.iter().enumerate() {
            self.cumulative.clear();
            let mut total = 0.0;
            for c in &self.candidates[slot] {
                let (all, hitters) = self.team_count[c.team];
                let ok = self.chosen_at[c.player] != stamp
                    && self.rules.max_per_team.is_none_or(|m| all < m)
                    && (!c.hitter || self.rules.max_hitters_per_team.is_none_or(|m| hitters < m))
                    && spent + c.salary + self.min_rest[i + 1] <= cap
                    && spent + c.salary + self.max_rest[i + 1] >= self.floor;
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
