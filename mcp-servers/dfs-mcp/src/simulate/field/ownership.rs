//! Ownership targets: uploaded, defaulted or estimated, and fitted to what a valid field can spend.

use std::collections::HashMap;

use crate::model::Slate;
use crate::rules::RuleSet;

use super::super::SimulationError;
use super::{OwnershipSource, MAX_SHARE, MAX_TILT};

/// Target ownership per player (fraction of lineups) and the starting weights. Players who are out, have no
/// positive projection or an ownership of 0 never enter the field.
#[allow(clippy::type_complexity)]
pub(super) fn ownership(
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
pub(super) fn fit_to_salary(
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
