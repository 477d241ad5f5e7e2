//! Contest simulation: Monte Carlo of correlated player outcomes, lineups entered into a contest against a field
//! sampled from ownership.
//!
//! The request types are the tool's input (`app.simulation.run`), the report its output.
//!
//! # Model
//!
//! - **Outcomes** (`outcomes`): each player scores around his projection with his stdev (uploaded, else a
//!   fraction of the projection by sport and position). `normal` draws are censored at zero (a negative draw
//!   scores 0, so a player's mean sits slightly above his projection when the stdev is large); `log_normal` draws
//!   have exactly the projection as mean and the stdev as standard deviation. Players of one game are
//!   correlated through a Gaussian copula: standard normals multiplied by the Cholesky factor of the game's
//!   correlation matrix, games independent. A pair's coefficient ([`Correlation`]) is scaled by each
//!   player's share of the top projection at his position on his team, so backups take little part. A
//!   matrix a user's coefficients make indefinite is repaired (eigenvalues clipped, unit diagonal restored)
//!   and the report says so. Points are kept in hundredths, so lineups with the same players tie exactly
//!   whatever their slot order.
//! - **Lineups** (`lineups`): the user's lineups are checked against the rule set (slots, eligibility, cap,
//!   team and game rules); a boosted slot (DraftKings CPT, FanDuel MVP/STAR/PRO) multiplies the player's points.
//! - **Field** ([`field`]): `field_size − user lineups` opposing lineups, sampled once per simulation from
//!   ownership with the weights calibrated so that the field's exposure tracks the given ownership, every
//!   lineup valid under the rule set and spending at least `min_salary_pct` of the cap (see [`field`] for
//!   the exceptions). Conditioning on one plausible field keeps the runs cheap (a field costs as much to
//!   sample as a thousand runs to score); the field's own variation is then not part of the reported noise.
//! - **Contest** (`contest`): per run, every lineup's points, the user's lineups ranked against the field and
//!   each other; tied entries share the prizes of the places they occupy.
//! - **Runs** (`engine`) are cut into fixed chunks, each with its own ChaCha8 stream of the seed, and spread
//!   over the rayon pool: the same request and seed give the same report on any number of threads.
//!
//! # Definitions in the report
//!
//! - `win_pct`: the expected share of first place in percent (a lineup tied with two others for first counts
//!   1/3 of a win).
//! - `top1_pct`: the expected share of the top ⌈1 % × field⌉ places, counted the same way.
//! - `cash_pct`: the probability of a prize greater than zero (a tie straddling the cash line that splits a
//!   prize counts).
//! - `roi_pct`: `mean(winnings − fee) / fee` in percent; `roi_ci95` the normal-approximation 95 % interval of
//!   that mean over the runs. Both are `null` in a free contest.

mod contest;
mod engine;
pub mod field;
mod lineups;
mod outcomes;

use serde::{Deserialize, Serialize};

use crate::model::{Slate, Sport};
use crate::rules::RuleSet;

/// Runs when the request does not say.
pub const DEFAULT_RUNS: u32 = 10_000;
/// The most runs one request may ask for.
pub const MAX_RUNS: u32 = 1_000_000;
/// The largest contest one request may simulate.
pub const MAX_FIELD_SIZE: u32 = 2_000_000;
/// The most lineups one request may simulate (the sites take 150 entries per contest, 500 per upload).
pub const MAX_LINEUPS: usize = 10_000;
/// The most (user lineups × runs) kept in memory for percentiles (4 bytes each).
pub const MAX_LINEUP_RUNS: u64 = 100_000_000;

/// What to simulate.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimulationRequest {
    pub slate_id: String,
    /// Lineups as lists of player ids in slot order (upload ids: a captain-row id in a DraftKings CPT slot; the
    /// player's ordinary id is accepted there too). Empty: the last lineup set optimized on this slate (the
    /// server fills it in).
    pub lineups: Vec<Vec<String>>,
    /// Or a stored lineup set by id.
    pub lineup_set_id: Option<String>,
    pub contest: Contest,
    /// Number of simulated slates (default 10,000, at most 1,000,000).
    pub runs: Option<u32>,
    /// Seed; the same seed and request give the same report. Default: a random seed, reported.
    pub seed: Option<u64>,
    /// Correlations; a coefficient left out takes the sport's default.
    pub correlation: Option<Correlation>,
    /// The shape of a player's outcome (default `normal`).
    pub distribution: Option<Distribution>,
    /// How the opposing field is sampled.
    pub field: Option<FieldOptions>,
}

/// The contest the lineups are entered into.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Contest {
    pub entry_fee: f64,
    /// Total entries including the user's lineups.
    pub field_size: u32,
    /// Prizes by finishing place; places not listed win nothing. Default: a top-heavy table for the field size
    /// ([`default_payouts`]: about 22 % of the entries paid, 15 % rake).
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

/// Correlation coefficients between the outcomes of players of one game. A coefficient left out takes the
/// sport's default ([`Correlation::defaults`]). Pairs not named here (players of different games) are
/// independent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Correlation {
    /// Between teammates (neither a defense, goalie or pitcher).
    pub teammates: Option<f64>,
    /// NFL: between a QB and each of his pass catchers (WR, TE).
    pub qb_receiver: Option<f64>,
    /// Between players of opposing teams (game environment), two defenses / goalies / pitchers included.
    pub opponents: Option<f64>,
    /// Between a defense / goalie / pitcher and the opposing offense (negative).
    pub defense_vs_offense: Option<f64>,
    /// Between a defense / goalie / pitcher and his own team's players.
    pub defense_teammates: Option<f64>,
    /// NHL: between skaters of the same line or pair (`Player::line`).
    pub linemates: Option<f64>,
}

/// Coefficients with every default filled in: what a simulation used.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Coefficients {
    pub teammates: f64,
    pub qb_receiver: f64,
    pub opponents: f64,
    pub defense_vs_offense: f64,
    pub defense_teammates: f64,
    pub linemates: f64,
}

impl Correlation {
    /// The defaults per sport. NFL: a QB and his pass catchers move together, a defense against the offense it
    /// faces. NBA: a little shared pace, no more (teammates also share usage). MLB: hitters of one team score
    /// runs together; a pitcher against the hitters he faces. NHL: a line scores together; a goalie against the
    /// skaters shooting at him.
    ///
    /// They are chosen to be consistent on full games (thirty-odd players with a projection): a defense
    /// strongly against every opposing player cannot also go with its own offense while the two offenses go
    /// together, and opponents cannot be more alike than teammates, or no correlation matrix has those
    /// entries (the simulator would have to repair it). Coefficients a sport does not use are 0.
    pub fn defaults(sport: Sport) -> Coefficients {
        match sport {
            Sport::Nfl => Coefficients {
                teammates: 0.10,
                qb_receiver: 0.40,
                opponents: 0.08,
                defense_vs_offense: -0.25,
                defense_teammates: 0.0,
                linemates: 0.0,
            },
            Sport::Nba => Coefficients {
                teammates: 0.05,
                qb_receiver: 0.0,
                opponents: 0.05,
                defense_vs_offense: 0.0,
                defense_teammates: 0.0,
                linemates: 0.0,
            },
            Sport::Mlb => Coefficients {
                teammates: 0.15,
                qb_receiver: 0.0,
                opponents: 0.02,
                defense_vs_offense: -0.25,
                defense_teammates: 0.02,
                linemates: 0.0,
            },
            Sport::Nhl => Coefficients {
                teammates: 0.08,
                qb_receiver: 0.0,
                opponents: 0.03,
                defense_vs_offense: -0.25,
                defense_teammates: 0.03,
                linemates: 0.30,
            },
        }
    }

    /// The coefficients for `sport`, the request's where given.
    pub fn resolve(&self, sport: Sport) -> Coefficients {
        let d = Correlation::defaults(sport);
        Coefficients {
            teammates: self.teammates.unwrap_or(d.teammates),
            qb_receiver: self.qb_receiver.unwrap_or(d.qb_receiver),
            opponents: self.opponents.unwrap_or(d.opponents),
            defense_vs_offense: self.defense_vs_offense.unwrap_or(d.defense_vs_offense),
            defense_teammates: self.defense_teammates.unwrap_or(d.defense_teammates),
            linemates: self.linemates.unwrap_or(d.linemates),
        }
    }
}

/// The shape of a player's outcome around his projection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Distribution {
    /// Normal with the player's stdev, censored at zero (a negative draw scores 0).
    #[default]
    Normal,
    /// Log-normal with the projection as mean and the stdev as standard deviation (right-skewed, never
    /// negative).
    #[serde(alias = "lognormal")]
    LogNormal,
}

/// How the opposing field is sampled.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FieldOptions {
    /// The least salary a field lineup spends, in percent of the cap (default 97: real fields leave little on
    /// the table). Lowered, with a warning, when the slate cannot reach it.
    pub min_salary_pct: Option<f64>,
    /// Ownership in percent assumed for a player without one when others have one (default 0.5). When no
    /// player has an ownership, the field is sampled from an estimate by projection and value (with a warning).
    pub default_ownership: Option<f64>,
}

/// Per lineup results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LineupResult {
    /// Index of the lineup in the request (0-based).
    pub index: usize,
    pub player_ids: Vec<String>,
    /// The sum of the players' projections, slot multipliers applied.
    pub projection: f64,
    pub salary: u32,
    pub mean: f64,
    pub stdev: f64,
    /// 10th, 25th, 50th, 75th, 90th and 99th percentiles of the lineup's points.
    pub percentiles: Percentiles,
    pub win_pct: f64,
    pub top1_pct: f64,
    pub cash_pct: f64,
    /// Mean return on the entry fee in percent, with a 95 % confidence interval; `null` in a free contest.
    pub roi_pct: Option<f64>,
    pub roi_ci95: Option<[f64; 2]>,
    pub mean_winnings: f64,
    /// How many lineups of the sampled field are this lineup (same players in the same kind of slot).
    pub field_duplicates: u32,
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

/// All of the user's lineups together.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PortfolioResult {
    pub entries: usize,
    /// Total fees of the user's entries.
    pub fees: f64,
    /// Mean total winnings per run.
    pub mean_winnings: f64,
    /// Return on the total fees in percent, with its 95 % confidence interval; `null` in a free contest.
    pub roi_pct: Option<f64>,
    pub roi_ci95: Option<[f64; 2]>,
    /// Percent of runs in which the winnings exceed the fees.
    pub profit_pct: f64,
}

/// What the sampled field looks like.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldSummary {
    /// Opposing lineups (`field_size − user lineups`).
    pub lineups: u32,
    /// Distinct lineups among them.
    pub distinct: u32,
    pub mean_salary: f64,
    /// The least salary a field lineup was allowed to spend.
    pub min_salary: u32,
    /// Where the ownership came from: `uploaded`, `uploaded_with_defaults` or `estimated`.
    pub ownership_source: String,
    /// The most owned players: the target ownership and what the sampled field holds, in percent.
    pub top_owned: Vec<FieldExposure>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldExposure {
    pub player_id: String,
    pub name: String,
    /// `null` when the ownership was estimated.
    pub target_pct: Option<f64>,
    pub field_pct: f64,
}

/// The report of one simulation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimulationReport {
    pub slate_id: String,
    pub runs: u32,
    pub seed: u64,
    pub field_size: u32,
    pub entry_fee: f64,
    pub distribution: Distribution,
    /// The correlation coefficients used.
    pub correlation: Coefficients,
    /// The payout table used (the default one when the request gave none).
    pub payouts: Vec<Payout>,
    pub prize_pool: f64,
    pub lineups: Vec<LineupResult>,
    pub portfolio: PortfolioResult,
    pub field: FieldSummary,
    /// What the simulator changed or assumed (a repaired correlation matrix, a lowered field salary floor,
    /// players who are out...).
    pub warnings: Vec<String>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SimulationError {
    /// The request cannot be simulated as it stands; the message names the field, lineup or player id.
    #[error("{0}")]
    Invalid(String),
}

pub use contest::default_payouts;

/// Runs the simulation of `request.lineups` (already filled in) on `slate`.
pub fn simulate(
    slate: &Slate,
    rules: &RuleSet,
    request: &SimulationRequest,
) -> Result<SimulationReport, SimulationError> {
    let runs = request.runs.unwrap_or(DEFAULT_RUNS);
    if runs == 0 || runs > MAX_RUNS {
        return Err(SimulationError::Invalid(format!("runs: {runs} is outside 1..={MAX_RUNS}")));
    }
    if request.lineups.is_empty() {
        return Err(SimulationError::Invalid(
            "lineups: no lineups to simulate (give `lineups` or a `lineup_set_id`)".into(),
        ));
    }
    if request.lineups.len() > MAX_LINEUPS {
        return Err(SimulationError::Invalid(format!(
            "lineups: {} lineups; one simulation takes at most {MAX_LINEUPS}",
            request.lineups.len()
        )));
    }
    let seed = request.seed.unwrap_or_else(rand::random);
    let contest = contest::ContestTable::new(&request.contest, request.lineups.len())?;
    if (request.lineups.len() as u64) * u64::from(runs) > MAX_LINEUP_RUNS {
        return Err(SimulationError::Invalid(format!(
            "{} lineups × {runs} runs is more than the {MAX_LINEUP_RUNS} lineup-runs one request may hold; \
             ask for fewer runs",
            request.lineups.len()
        )));
    }
    let coefficients = request.correlation.clone().unwrap_or_default().resolve(slate.sport);
    check_coefficients(&coefficients)?;
    let distribution = request.distribution.unwrap_or_default();
    let field_options = request.field.clone().unwrap_or_default();

    let mut warnings = Vec::new();
    let slots = lineups::SlotTable::new(rules, slate.players.len())?;
    let users = lineups::resolve(slate, rules, &slots, &request.lineups, &mut warnings)?;
    let model = outcomes::OutcomeModel::new(slate, &coefficients, distribution, &mut warnings)?;
    let opponents = contest.field_size - request.lineups.len() as u32;
    let field = field::sample(slate, rules, &field_options, opponents, seed, &mut warnings)?;
    let field_entries = field::FieldEntries::new(&field, &slots);

    let out = engine::run(&engine::Inputs {
        model: &model,
        slots: &slots,
        users: &users,
        field: &field_entries,
        contest: &contest,
        runs,
        seed,
    });

    let fee = contest.entry_fee;
    let lineups = users
        .iter()
        .zip(out.lineups)
        .enumerate()
        .map(|(index, (user, stats))| LineupResult {
            index,
            player_ids: request.lineups[index].clone(),
            projection: user.projection,
            salary: user.salary,
            mean: stats.mean,
            stdev: stats.stdev,
            percentiles: stats.percentiles,
            win_pct: stats.win_pct,
            top1_pct: stats.top1_pct,
            cash_pct: stats.cash_pct,
            roi_pct: roi(stats.mean_winnings, fee),
            roi_ci95: roi_ci(stats.mean_winnings, stats.winnings_se, fee),
            mean_winnings: stats.mean_winnings,
            field_duplicates: field_entries.copies_of(&user.key),
        })
        .collect();
    let fees = fee * users.len() as f64;
    let portfolio = PortfolioResult {
        entries: users.len(),
        fees,
        mean_winnings: out.portfolio.mean_winnings,
        roi_pct: roi(out.portfolio.mean_winnings, fees),
        roi_ci95: roi_ci(out.portfolio.mean_winnings, out.portfolio.winnings_se, fees),
        profit_pct: out.portfolio.profit_pct,
    };
    Ok(SimulationReport {
        slate_id: slate.id.clone(),
        runs,
        seed,
        field_size: contest.field_size,
        entry_fee: fee,
        distribution,
        correlation: coefficients,
        payouts: contest.payouts.clone(),
        prize_pool: contest.prize_pool,
        lineups,
        portfolio,
        field: field.summary(slate),
        warnings,
    })
}

fn roi(mean_winnings: f64, fee: f64) -> Option<f64> {
    (fee > 0.0).then(|| (mean_winnings - fee) / fee * 100.0)
}

fn roi_ci(mean_winnings: f64, se: f64, fee: f64) -> Option<[f64; 2]> {
    let roi = roi(mean_winnings, fee)?;
    let half = 1.96 * se / fee * 100.0;
    Some([roi - half, roi + half])
}

fn check_coefficients(c: &Coefficients) -> Result<(), SimulationError> {
    for (name, v) in [
        ("teammates", c.teammates),
        ("qb_receiver", c.qb_receiver),
        ("opponents", c.opponents),
        ("defense_vs_offense", c.defense_vs_offense),
        ("defense_teammates", c.defense_teammates),
        ("linemates", c.linemates),
    ] {
        if !v.is_finite() || !(-1.0..=1.0).contains(&v) {
            return Err(SimulationError::Invalid(format!("correlation.{name}: {v} is not a coefficient in -1..=1")));
        }
    }
    Ok(())
}
