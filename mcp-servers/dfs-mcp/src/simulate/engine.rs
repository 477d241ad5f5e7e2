//! The runs: draw every player's points, score every lineup, rank the user's lineups, pay them, and gather the
//! statistics.
//!
//! Runs are cut into chunks of [`CHUNK_RUNS`]; chunk `c` draws from ChaCha8 stream `c + 1` of the seed and the
//! chunks' results are merged in chunk order, so the report does not depend on how rayon spreads the chunks
//! over threads. A run's points live in a score vector of `i32` hundredths indexed by `u16` entries (see
//! [`super::lineups`]), so scoring a lineup is a handful of gathers and exact integer adds.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use super::contest::{ContestTable, Ranker};
use super::field::FieldEntries;
use super::lineups::{SlotTable, UserLineup, MAX_ENTRIES};
use super::outcomes::OutcomeModel;
use super::Percentiles;

/// Runs per chunk: enough to amortise a chunk's setup, few enough to balance two threads on short requests.
pub(crate) const CHUNK_RUNS: u32 = 128;
/// A player's points are capped here (in hundredths) so that a lineup's sum cannot overflow `i32`.
const MAX_POINTS: f64 = 10_000_000.0;

pub(crate) struct Inputs<'a> {
    pub model: &'a OutcomeModel,
    pub slots: &'a SlotTable,
    pub users: &'a [UserLineup],
    pub field: &'a FieldEntries,
    pub contest: &'a ContestTable,
    pub runs: u32,
    pub seed: u64,
}

pub(crate) struct LineupStats {
    pub mean: f64,
    pub stdev: f64,
    pub percentiles: Percentiles,
    pub win_pct: f64,
    pub top1_pct: f64,
    pub cash_pct: f64,
    pub mean_winnings: f64,
    /// Standard error of `mean_winnings` over the runs.
    pub winnings_se: f64,
}

pub(crate) struct PortfolioStats {
    pub mean_winnings: f64,
    pub winnings_se: f64,
    pub profit_pct: f64,
}

pub(crate) struct Output {
    pub lineups: Vec<LineupStats>,
    pub portfolio: PortfolioStats,
}

/// One chunk's results.
struct Chunk {
    runs: usize,
    /// Points in hundredths, `runs` per user lineup.
    points: Vec<i32>,
    winnings: Vec<f64>,
    winnings_sq: Vec<f64>,
    wins: Vec<f64>,
    top1: Vec<f64>,
    cashes: Vec<u32>,
    portfolio: f64,
    portfolio_sq: f64,
    profitable: u32,
}

pub(crate) fn run(inputs: &Inputs) -> Output {
    let chunks = inputs.runs.div_ceil(CHUNK_RUNS);
    let results: Vec<Chunk> = (0..chunks)
        .into_par_iter()
        .map(|c| {
            let runs = (inputs.runs - c * CHUNK_RUNS).min(CHUNK_RUNS) as usize;
            run_chunk(inputs, u64::from(c), runs)
        })
        .collect();
    merge(inputs, results)
}

fn run_chunk(inputs: &Inputs, chunk: u64, runs: usize) -> Chunk {
    let m = inputs.users.len();
    let n = inputs.slots.players;
    let mults = &inputs.slots.mults;
    let stride = inputs.slots.size();
    let users: Vec<u16> = inputs.users.iter().flat_map(|u| u.key.iter().copied()).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(inputs.seed);
    rng.set_stream(chunk + 1);

    let mut scores: Box<[i32; MAX_ENTRIES]> = vec![0; MAX_ENTRIES].into_boxed_slice().try_into().expect("size");
    let set = |scores: &mut [i32; MAX_ENTRIES], p: usize, x: f64| {
        for (k, &mult) in mults.iter().enumerate() {
            // Points are never negative (censored or log-normal), so adding a half and truncating rounds.
            scores[k * n + p] = (x * mult * 100.0 + 0.5).min(MAX_POINTS) as i32;
        }
    };
    for &(p, x) in &inputs.model.constants {
        set(&mut scores, p, x);
    }

    let mut out = Chunk {
        runs,
        points: vec![0; m * runs],
        winnings: vec![0.0; m],
        winnings_sq: vec![0.0; m],
        wins: vec![0.0; m],
        top1: vec![0.0; m],
        cashes: vec![0; m],
        portfolio: 0.0,
        portfolio_sq: 0.0,
        profitable: 0,
    };
    let fees = inputs.contest.entry_fee * m as f64;
    let mut z = Vec::new();
    let mut field_scores = Vec::with_capacity(inputs.field.copies.len());
    let mut user_scores = Vec::with_capacity(m);
    let mut better = vec![0u64; m];
    let mut equal = vec![0u64; m];
    let mut ranker = Ranker::default();
    let enough = inputs.contest.places_that_count();
    for r in 0..runs {
        inputs.model.draw(&mut rng, &mut z, |p, x| set(&mut scores, p, x));
        let (lo, hi) = score_lineups(stride, &inputs.field.entries, &scores, &mut field_scores);
        score_lineups(stride, &users, &scores, &mut user_scores);
        ranker.rank(&field_scores, &inputs.field.copies, lo, hi, &user_scores, enough, &mut better, &mut equal);
        let mut total = 0.0;
        for u in 0..m {
            let prize = inputs.contest.prize(better[u], equal[u]);
            out.points[u * runs + r] = user_scores[u];
            out.winnings[u] += prize;
            out.winnings_sq[u] += prize * prize;
            out.wins[u] += inputs.contest.win_share(better[u], equal[u]);
            out.top1[u] += inputs.contest.top1_share(better[u], equal[u]);
            out.cashes[u] += u32::from(prize > 0.0);
            total += prize;
        }
        out.portfolio += total;
        out.portfolio_sq += total * total;
        out.profitable += u32::from(total > fees);
    }
    out
}

/// Scores lineups of `stride` entries; returns the lowest and highest score.
fn score_lineups(stride: usize, entries: &[u16], scores: &[i32; MAX_ENTRIES], out: &mut Vec<i32>) -> (i32, i32) {
    // Monomorphised per roster size so the inner sum is unrolled.
    match stride {
        5 => score_fixed::<5>(entries, scores, out),
        6 => score_fixed::<6>(entries, scores, out),
        8 => score_fixed::<8>(entries, scores, out),
        9 => score_fixed::<9>(entries, scores, out),
        10 => score_fixed::<10>(entries, scores, out),
        _ => {
            out.clear();
            out.extend(entries.chunks_exact(stride).map(|l| l.iter().map(|&e| scores[e as usize]).sum::<i32>()));
            let lo = out.iter().copied().min().unwrap_or(0);
            let hi = out.iter().copied().max().unwrap_or(0);
            (lo, hi)
        }
    }
}

fn score_fixed<const S: usize>(entries: &[u16], scores: &[i32; MAX_ENTRIES], out: &mut Vec<i32>) -> (i32, i32) {
    out.clear();
    let (mut lo, mut hi) = (i32::MAX, i32::MIN);
    for l in entries.chunks_exact(S) {
        let l: &[u16; S] = l.try_into().expect("chunks_exact");
        let mut s = 0i32;
        for &e in l {
            s += scores[e as usize];
        }
        lo = lo.min(s);
        hi = hi.max(s);
        out.push(s);
    }
    if out.is_empty() {
        (0, 0)
    } else {
        (lo, hi)
    }
}

fn merge(inputs: &Inputs, chunks: Vec<Chunk>) -> Output {
    let m = inputs.users.len();
    let runs = f64::from(inputs.runs);
    let mut lineups = Vec::with_capacity(m);
    let mut points: Vec<Vec<i32>> = (0..m).map(|_| Vec::with_capacity(inputs.runs as usize)).collect();
    for c in &chunks {
        for (u, p) in points.iter_mut().enumerate() {
            p.extend_from_slice(&c.points[u * c.runs..(u + 1) * c.runs]);
        }
    }
    let sum = |f: &dyn Fn(&Chunk) -> f64| chunks.iter().map(f).sum::<f64>();
    let sorted: Vec<Vec<i32>> = points
        .into_par_iter()
        .map(|mut p| {
            p.sort_unstable();
            p
        })
        .collect();
    for (u, p) in sorted.iter().enumerate() {
        let total: i64 = p.iter().map(|&x| i64::from(x)).sum();
        let mean = total as f64 / runs / 100.0;
        let var = p.iter().map(|&x| (f64::from(x) / 100.0 - mean).powi(2)).sum::<f64>() / (runs - 1.0).max(1.0);
        let q = |q: f64| quantile(p, q) / 100.0;
        let mean_winnings = sum(&|c| c.winnings[u]) / runs;
        lineups.push(LineupStats {
            mean,
            stdev: var.sqrt(),
            percentiles: Percentiles {
                p10: q(0.10),
                p25: q(0.25),
                p50: q(0.50),
                p75: q(0.75),
                p90: q(0.90),
                p99: q(0.99),
            },
            win_pct: sum(&|c| c.wins[u]) / runs * 100.0,
            top1_pct: sum(&|c| c.top1[u]) / runs * 100.0,
            cash_pct: sum(&|c| f64::from(c.cashes[u])) / runs * 100.0,
            mean_winnings,
            winnings_se: standard_error(sum(&|c| c.winnings_sq[u]), mean_winnings, runs),
        });
    }
    let mean_winnings = sum(&|c| c.portfolio) / runs;
    let portfolio = PortfolioStats {
        mean_winnings,
        winnings_se: standard_error(sum(&|c| c.portfolio_sq), mean_winnings, runs),
        profit_pct: sum(&|c| f64::from(c.profitable)) / runs * 100.0,
    };
    Output { lineups, portfolio }
}

/// The standard error of a mean over `n` runs from the sum of squares.
fn standard_error(sum_sq: f64, mean: f64, n: f64) -> f64 {
    if n < 2.0 {
        return 0.0;
    }
    let var = ((sum_sq - n * mean * mean) / (n - 1.0)).max(0.0);
    (var / n).sqrt()
}

/// The `q` quantile of sorted values, linearly interpolated between order statistics.
fn quantile(sorted: &[i32], q: f64) -> f64 {
    let h = (sorted.len() - 1) as f64 * q;
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    f64::from(sorted[lo]) + (h - lo as f64) * f64::from(sorted[hi] - sorted[lo])
}
