//! Contest simulation: Monte Carlo of correlated player outcomes, lineups entered into a contest against a field
//! sampled from ownership.
//!
//! The request types are the tool's input (`app.simulation.run`).

use serde::{Deserialize, Serialize};

use crate::model::Slate;
use crate::rules::RuleSet;

/// What to simulate.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimulationRequest {
    pub slate_id: String,
    /// Lineups as lists of player ids in slot order (upload ids: a captain-row id in a DraftKings CPT slot).
    /// Empty: the last lineup set optimized on this slate (the server fills it in).
    pub lineups: Vec<Vec<String>>,
    /// Or a stored lineup set by id.
    pub lineup_set_id: Option<String>,
    pub contest: Contest,
    /// Number of simulated slates (default 10,000).
    pub runs: Option<u32>,
    /// Seed; the same seed and request give the same report.
    pub seed: Option<u64>,
    /// Correlations (defaults by sport).
    pub correlation: Option<Correlation>,
}

/// The contest the lineups are entered into.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Contest {
    pub entry_fee: f64,
    /// Total entries including the user's lineups.
    pub field_size: u32,
    /// Prizes by finishing place; places not listed win nothing. Default: a top-heavy table for the field size.
    pub payouts: Vec<Payout>,
}

impl Default for Contest {
    fn default() -> Self {
        Contest { entry_fee: 20.0, field_size: 10_000, payouts: Vec::new() }
    }
}

/// Places `from..=to` (1-based) each win `prize`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Payout {
    pub from: u32,
    pub to: u32,
    pub prize: f64,
}

/// Correlation coefficients between players' outcomes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Correlation {
    /// Between a QB and each of his pass catchers (NFL), or between teammates generally.
    pub teammates: f64,
    pub qb_receiver: f64,
    /// Between a player and the opposing team's players (game environment).
    pub opponents: f64,
    /// Between a defense / goalie / pitcher and the opposing offense (negative).
    pub defense_vs_offense: f64,
}

impl Default for Correlation {
    fn default() -> Self {
        Correlation { teammates: 0.12, qb_receiver: 0.35, opponents: 0.08, defense_vs_offense: -0.25 }
    }
}

/// Per lineup results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LineupResult {
    /// Index of the lineup in the request (0-based).
    pub index: usize,
    pub player_ids: Vec<String>,
    pub projection: f64,
    pub mean: f64,
    pub stdev: f64,
    /// 10th, 25th, 50th, 75th, 90th and 99th percentiles of the lineup's points.
    pub percentiles: Percentiles,
    pub win_pct: f64,
    pub top1_pct: f64,
    pub cash_pct: f64,
    /// Mean return on the entry fee in percent, with a 95 % confidence interval.
    pub roi_pct: f64,
    pub roi_ci95: [f64; 2],
    pub mean_winnings: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    pub p10: f64,
    pub p25: f64,
    pub p50: f64,
    pub p75: f64,
    pub p90: f64,
    pub p99: f64,
}

/// The report of one simulation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimulationReport {
    pub slate_id: String,
    pub runs: u32,
    pub seed: u64,
    pub field_size: u32,
    pub entry_fee: f64,
    pub lineups: Vec<LineupResult>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SimulationError {
    #[error("{0}")]
    Invalid(String),
}

/// Runs the simulation of `request.lineups` (already filled in) on `slate`.
pub fn simulate(
    slate: &Slate,
    rules: &RuleSet,
    request: &SimulationRequest,
) -> Result<SimulationReport, SimulationError> {
    let _ = (slate, rules, request);
    Err(SimulationError::Invalid("the simulator is not built yet".into()))
}
