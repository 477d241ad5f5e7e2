//! The lineup optimizer: `count` lineups that maximise projected points under a rule set and the user's rules.
//!
//! Lineup 1 is the exact optimum; lineup k is the exact optimum under everything asked plus the constraints the
//! earlier lineups added (uniqueness against each of them, exposure counts so far). That is the sequential
//! definition pydfs-lineup-optimizer uses, so sets can be compared by their projected-total sequences.
//!
//! Definitions (pydfs-lineup-optimizer 3.6.1's, checked in its source):
//! - uniqueness counts picks: a person in a slot class (slots of equal multipliers). On classic slates that is
//!   the person; on single-game slates a captain and a flex of the same person are different picks, as pydfs's
//!   CPT and FLEX rows are, so the same six with another captain is another lineup.
//! - max exposure: a player is banned from later lineups once `max <= used / count` (pydfs's
//!   TotalExposureStrategy: at most ceil(max × count) lineups); 0 % bans him outright; a locked player who
//!   reaches it is unlocked. Exposure counts persons, whatever the slot.
//! - min exposure: pydfs's MinExposureRule (need = round-half-even(min × count); forced when the need reaches
//!   the lineups left, plus its per-position-group forcing).
//! - randomness: lineup k is the exact optimum of projections perturbed by a normal draw of each player's
//!   stdev (or `fraction` × projection), seeded by (seed, k); reported projections stay unperturbed.
//! - ties: see `search` (equal totals order by their best-ranked players); points are exact integers.
//!
//! The request types below are the tool's input (`app.optimize.lineup`): the MCP server deserialises the
//! arguments into [`OptimizeRequest`] directly.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::{Lineup, Slate};
use crate::rules::RuleSet;

mod diagnose;
mod problem;
mod request;
mod search;
mod sequence;
mod validate;

pub use validate::validate;

/// What the user asks for. Every field but `slate_id` has a default.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OptimizeRequest {
    /// The slate to build on (see `app.data.slate`).
    pub slate_id: String,
    /// How many lineups (default 1; at most the site's upload limit).
    pub count: Option<usize>,
    /// Player ids that must be in every lineup. A DraftKings captain-row id locks the player as captain.
    pub locks: Vec<String>,
    /// Player ids that must be in no lineup.
    pub excludes: Vec<String>,
    /// Teams whose players are left out.
    pub exclude_teams: Vec<String>,
    /// Leave out players the site marks as out (default true).
    pub exclude_out: Option<bool>,
    /// At most this many players of one team (tighter than the site's own limit only).
    pub max_per_team: Option<u8>,
    /// Per-team limits (`{"KC": 3}`), on top of `max_per_team`.
    pub team_limits: BTreeMap<String, u8>,
    /// The lowest total salary a lineup may use (default: none).
    pub min_salary: Option<u32>,
    /// The highest total salary (default and ceiling: the site's cap).
    pub max_salary: Option<u32>,
    /// Stacks every lineup must contain.
    pub stacks: Vec<Stack>,
    /// Minimum number of players in which any two lineups of the set differ (default 1: no duplicates).
    pub min_unique: Option<u8>,
    /// Exposure limits across the set, in percent of `count` (0-100).
    pub exposure: Exposure,
    /// Projection randomness for diverse sets: each lineup is solved on projections perturbed around the
    /// player's own, seeded and reproducible.
    pub randomness: Option<Randomness>,
    /// Per-player projection overrides for this request only (`{"12345": 18.5}`).
    pub projections: BTreeMap<String, f64>,
    /// Late swap: players of games that started before this time (seconds since the Unix epoch, or the games'
    /// status) keep the slots of `late_swap.lineups`; only the others are re-optimised.
    pub late_swap: Option<LateSwap>,
}

/// A stack: players who score together, required in every lineup.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Stack {
    /// NFL: a QB with `receivers` pass catchers (`positions`, default WR/TE; RB too if listed) of his own team,
    /// and `bring_back` players of the opposing team (default 0). `teams` limits which QBs' teams may stack.
    Qb {
        #[serde(default = "one")]
        receivers: u8,
        #[serde(default)]
        positions: Vec<String>,
        #[serde(default)]
        bring_back: u8,
        #[serde(default)]
        bring_back_positions: Vec<String>,
        #[serde(default)]
        teams: Vec<String>,
    },
    /// At least `count` players (of `positions`, default any non-pitcher) from one team (MLB team stacks,
    /// NBA/NHL team stacks). `teams` limits which teams may be the stack.
    Team {
        count: u8,
        #[serde(default)]
        positions: Vec<String>,
        #[serde(default)]
        teams: Vec<String>,
    },
    /// At least `count` players from one game (NBA/NFL game stacks), with at least `min_per_team` from each of
    /// its two teams (default 1). `games` (`KC@BUF`) limits which games may be the stack.
    Game {
        count: u8,
        #[serde(default = "one")]
        min_per_team: u8,
        #[serde(default)]
        games: Vec<String>,
    },
    /// NHL: at least `count` skaters (default 3: C + W + W) from one line of one team (`Player::line`).
    Line {
        #[serde(default = "three")]
        count: u8,
        #[serde(default)]
        lines: Vec<String>,
    },
}

fn one() -> u8 {
    1
}
fn three() -> u8 {
    3
}

/// Exposure limits in percent of the set's size.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Exposure {
    /// A cap for every player (e.g. 60).
    pub max: Option<f64>,
    /// Per-player limits by id.
    pub players: BTreeMap<String, ExposureLimit>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExposureLimit {
    pub min: Option<f64>,
    pub max: Option<f64>,
}

/// Projection randomness.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Randomness {
    /// Seed of the generator; the same seed and request give the same set.
    #[serde(default)]
    pub seed: u64,
    /// Spread used for players without an uploaded stdev, as a fraction of the projection (default 0.2).
    #[serde(default)]
    pub fraction: Option<f64>,
}

/// Late swap: re-optimise the unlocked slots of existing lineups.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LateSwap {
    /// The lineups as uploaded (slot order of the rule set, ids as in the upload file).
    pub lineups: Vec<Vec<String>>,
    /// The time to judge locks by (seconds since the Unix epoch); default: now, and games whose status is not
    /// `scheduled` are locked whatever the time.
    #[serde(default)]
    pub now: Option<i64>,
}

/// The result: lineups in order (lineup 1 the optimum) and the site's upload file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LineupSet {
    pub slate_id: String,
    pub lineups: Vec<Lineup>,
    /// The site's upload-ready CSV for these lineups.
    pub csv: String,
}

/// Why a request cannot be answered. Every message names what the user can change.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum OptimizeError {
    /// The request names something the slate does not have (an unknown player id in a lock, a team...).
    #[error("{0}")]
    Invalid(String),
    /// No lineup satisfies the rules; the message names the constraint that cannot hold.
    #[error("infeasible: {0}")]
    Infeasible(String),
}

/// Builds the lineups. `rules` is the slate's rule set.
pub fn optimize(slate: &Slate, rules: &RuleSet, request: &OptimizeRequest) -> Result<LineupSet, OptimizeError> {
    if (slate.site, slate.sport, slate.contest) != (rules.site, rules.sport, rules.contest) {
        return Err(OptimizeError::Invalid(format!(
            "slate {} is {} {} {}, the rule set is for {} {} {}",
            slate.id,
            slate.site.as_str(),
            slate.sport.as_str(),
            slate.contest.as_str(),
            rules.site.as_str(),
            rules.sport.as_str(),
            rules.contest.as_str()
        )));
    }
    let compiled = request::compile(slate, rules, request)?;
    exposure_check(slate, rules, &compiled)?;
    let picked = sequence::build(slate, rules, request, &compiled)?;
    let lineups = sequence::to_lineups(slate, rules, &compiled, &picked);
    let csv = crate::export::upload_csv(rules, &lineups).map_err(|e| OptimizeError::Invalid(e.to_string()))?;
    Ok(LineupSet { slate_id: slate.id.clone(), lineups, csv })
}

/// Minimum exposures that cannot hold: a player no lineup can hold, or two who must share lineups
/// (their counts add up to more than the set) but cannot be in one together.
fn exposure_check(slate: &Slate, rules: &RuleSet, c: &request::Compiled) -> Result<(), OptimizeError> {
    let n = c.count;
    let need: Vec<(usize, i64)> = (0..slate.players.len())
        .filter_map(|i| c.min_exposure[i].map(|m| (i, sequence::round_half_even(m * n as f64))))
        .filter(|&(_, k)| k > 0)
        .collect();
    let progress = sequence::Progress { lineups: Vec::new(), picks: Vec::new(), used: vec![0; slate.players.len()] };
    let lock = |who: &[usize]| -> bool {
        let mut cc = c.clone();
        cc.locks.extend(who.iter().map(|&i| (i, None)));
        if !diagnose::locks_possible(&cc) {
            return false;
        }
        let reqs = sequence::requirements(&cc, &vec![false; slate.players.len()], Vec::new());
        !sequence::solve_one(slate, rules, &cc, &c.points, &c.allowed, &reqs, &progress, 1, true).1.is_empty()
    };
    let name = |i: usize| format!("{} ({})", slate.players[i].name, slate.players[i].id);
    let pct = |i: usize| c.min_exposure[i].unwrap_or(0.0) * 100.0;
    for &(a, _) in &need {
        if !lock(&[a]) {
            return Err(OptimizeError::Infeasible(format!(
                "exposure min {}% of {}: no lineup with him satisfies the rules",
                pct(a),
                name(a)
            )));
        }
    }
    for (x, &(a, ka)) in need.iter().enumerate() {
        for &(b, kb) in &need[x + 1..] {
            if ka + kb > n as i64 && !lock(&[a, b]) {
                return Err(OptimizeError::Infeasible(format!(
                    "exposure min {}% of {} and min {}% of {} cannot both hold: they would share lineups, and no \
                     lineup holds both",
                    pct(a),
                    name(a),
                    pct(b),
                    name(b)
                )));
            }
        }
    }
    Ok(())
}
