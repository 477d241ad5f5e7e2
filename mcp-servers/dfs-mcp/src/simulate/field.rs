//! The opposing field: lineups sampled from ownership, valid under the rule set, spending most of the cap.
//!
//! A lineup is filled slot by slot, the slots with the fewest candidates first (a QB before the FLEX), each
//! pick drawn in proportion to the player's weight among the candidates that keep the lineup completable:
//! team limits, and a salary that can still end between the floor and the cap, judged by filling the slots
//! left with the cheapest and with the dearest players not yet picked (`sampler`). Team and game minimums
//! are checked at the end, and a lineup that fails is drawn again (rarely: on a DraftKings NFL main slate every
//! draw succeeds).
//!
//! Drawing slot by slot distorts exposure, so the weights are calibrated first: a pilot field is sampled and
//! each weight scaled by `(target / achieved)^0.7`, four rounds, until the field's exposure tracks the
//! ownership. Ownership that no valid field can hold (it implies an average lineup salary above the cap, or
//! below the floor) is first tilted toward cheaper (dearer) players (`ownership`), with a warning. The floor
//! is `min_salary_pct` of the cap (default 97 %), but by default at least a tenth of the cap below the
//! dearest lineup the slate allows, so that a slate of soft salaries still has a field rather than one
//! lineup. Duplicated lineups come out as often as the ownership makes them, as in real fields.

mod ownership;
mod sampler;

use std::collections::HashMap;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::model::Slate;
use crate::rules::RuleSet;

use super::lineups::SlotTable;
use super::{FieldExposure, FieldOptions, FieldSummary, SimulationError};
use ownership::{fit_to_salary, ownership};
use sampler::Sampler;

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
