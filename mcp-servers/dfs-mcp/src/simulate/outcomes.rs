//! Player outcomes: a marginal distribution per player around his projection, and a Gaussian copula per game
//! that correlates teammates and opponents.
//!
//! Per run and game, `m` independent standard normals are multiplied by the lower Cholesky factor `L` of the
//! game's correlation matrix `R` (so their covariance is `L Lᵀ = R`), then each is mapped to the player's
//! marginal: `max(0, μ + σ z)` for `normal`, `exp(m + s z)` for `log_normal`. The correlation of the points is
//! the configured one for uncensored normals and slightly weaker after censoring or the log-normal map.

use nalgebra::{Cholesky, DMatrix, SymmetricEigen};
use rand::Rng;
use rand_distr::{Distribution as _, StandardNormal};

use crate::model::{Player, Slate, Sport};

use super::{Coefficients, Distribution, SimulationError};

/// Smallest eigenvalue a repaired correlation matrix keeps: far enough from zero that its Cholesky factor is
/// numerically sound.
const MIN_EIGENVALUE: f64 = 1e-3;

/// A player's outcome when he is not simulated jointly.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Marginal {
    /// Always the same points (out, no projection, or no spread).
    Constant(f64),
    /// `max(0, mean + sd z)`.
    Normal { mean: f64, sd: f64 },
    /// `exp(mu + sigma z)`.
    LogNormal { mu: f64, sigma: f64 },
}

impl Marginal {
    pub fn new(mean: f64, sd: f64, distribution: Distribution) -> Marginal {
        if sd <= 0.0 {
            return Marginal::Constant(mean.max(0.0));
        }
        match distribution {
            Distribution::Normal => Marginal::Normal { mean, sd },
            Distribution::LogNormal if mean <= 0.0 => Marginal::Constant(0.0),
            Distribution::LogNormal => {
                let s2 = (1.0 + (sd / mean).powi(2)).ln();
                Marginal::LogNormal { mu: mean.ln() - s2 / 2.0, sigma: s2.sqrt() }
            }
        }
    }

    pub fn points(&self, z: f64) -> f64 {
        match *self {
            Marginal::Constant(x) => x,
            Marginal::Normal { mean, sd } => (mean + sd * z).max(0.0),
            Marginal::LogNormal { mu, sigma } => (mu + sigma * z).exp(),
        }
    }
}

/// The default stdev of a player without an uploaded one, as a fraction of his projection. Fantasy points
/// spread more for volatile positions (a WR's touchdowns, a hitter's 0-for-4) than for steady ones (an NBA
/// player's minutes, a QB's volume).
pub(crate) fn default_stdev_fraction(sport: Sport, positions: &[String]) -> f64 {
    let has = |names: &[&str]| positions.iter().any(|p| names.contains(&p.as_str()));
    match sport {
        Sport::Nfl if has(&["DST", "D", "DEF"]) => 0.85,
        Sport::Nfl if has(&["QB"]) => 0.40,
        Sport::Nfl if has(&["RB"]) => 0.55,
        Sport::Nfl if has(&["TE"]) => 0.70,
        Sport::Nfl if has(&["WR"]) => 0.65,
        Sport::Nfl => 0.50,
        Sport::Nba => 0.30,
        Sport::Mlb if has(&["SP", "P"]) => 0.50,
        Sport::Mlb if has(&["RP"]) => 0.80,
        Sport::Mlb => 0.85,
        Sport::Nhl if has(&["G"]) => 0.60,
        Sport::Nhl => 0.75,
    }
}

/// A player's part in his game, for the correlation rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// A team defense, a goalie or a pitcher: scores when the other side does not.
    Defense,
    Qb,
    /// NFL WR or TE.
    Catcher,
    Other,
}

fn role(sport: Sport, positions: &[String]) -> Role {
    let has = |names: &[&str]| positions.iter().any(|p| names.contains(&p.as_str()));
    match sport {
        Sport::Nfl if has(&["DST", "D", "DEF"]) => Role::Defense,
        Sport::Nfl if has(&["QB"]) => Role::Qb,
        Sport::Nfl if has(&["WR", "TE"]) => Role::Catcher,
        Sport::Mlb if has(&["SP", "RP", "P"]) => Role::Defense,
        Sport::Nhl if has(&["G"]) => Role::Defense,
        _ => Role::Other,
    }
}

/// The configured correlation of two players of one game.
fn pair(sport: Sport, c: &Coefficients, a: &Player, b: &Player) -> f64 {
    let (ra, rb) = (role(sport, &a.positions), role(sport, &b.positions));
    if a.team == b.team {
        if matches!((ra, rb), (Role::Qb, Role::Catcher) | (Role::Catcher, Role::Qb)) {
            return c.qb_receiver;
        }
        if ra == Role::Defense || rb == Role::Defense {
            return c.defense_teammates;
        }
        let same_line = matches!((&a.line, &b.line), (Some(x), Some(y)) if !x.is_empty() && x == y);
        if sport == Sport::Nhl && same_line {
            return c.linemates;
        }
        c.teammates
    } else if (ra == Role::Defense) != (rb == Role::Defense) {
        c.defense_vs_offense
    } else {
        c.opponents
    }
}

/// Per player: his projection over the best projection of his team at his (first) position, in 0..=1. The
/// coefficients hold between the players who carry a position (the starting QB and his top receiver); a backup
/// projected for a fifth of the starter's points shares about a fifth of the game, and is correlated a fifth as
/// strongly. Without it, three QBs of one team each at 0.4 with ten pass catchers (and a defense against every
/// opposing backup) ask for more than any correlation matrix can hold.
/// Defenses, goalies and pitchers form one group per team (a reliever is measured against the starter).
fn involvement(slate: &Slate) -> Vec<f64> {
    let key = |p: &'_ Player| -> (String, String) {
        let group = match role(slate.sport, &p.positions) {
            Role::Defense => "defense",
            _ => p.positions.first().map_or("", String::as_str),
        };
        (p.team.clone(), group.to_owned())
    };
    let mean = |p: &Player| if p.is_out() { 0.0 } else { p.points().max(0.0) };
    let mut best: std::collections::HashMap<(String, String), f64> = std::collections::HashMap::new();
    for p in &slate.players {
        let e = best.entry(key(p)).or_insert(0.0);
        *e = e.max(mean(p));
    }
    slate
        .players
        .iter()
        .map(|p| {
            let top = best[&key(p)];
            if top > 0.0 {
                (mean(p) / top).clamp(0.0, 1.0)
            } else {
                0.0
            }
        })
        .collect()
}

/// One game's jointly simulated players and the Cholesky factor of their correlation matrix.
#[derive(Debug, Clone)]
pub(crate) struct GameFactor {
    /// Slate indices of the players, in matrix order.
    pub players: Vec<usize>,
    /// Their marginals, in the same order.
    pub marginals: Vec<Marginal>,
    /// Lower triangle of `L`, row by row (row `i` holds `i + 1` entries).
    pub chol: Vec<f64>,
}

/// Every player's outcome model.
#[derive(Debug, Clone)]
pub(crate) struct OutcomeModel {
    /// Players whose points never vary: (slate index, points).
    pub constants: Vec<(usize, f64)>,
    pub games: Vec<GameFactor>,
}

impl OutcomeModel {
    pub fn new(
        slate: &Slate,
        coefficients: &Coefficients,
        distribution: Distribution,
        warnings: &mut Vec<String>,
    ) -> Result<OutcomeModel, SimulationError> {
        let mut constants = Vec::new();
        // game id -> players with a spread, in slate order; players without a game each form their own.
        let mut groups: Vec<(String, Vec<usize>, Vec<Marginal>)> = Vec::new();
        for (i, p) in slate.players.iter().enumerate() {
            let mean = if p.is_out() { 0.0 } else { p.points() };
            if !mean.is_finite() {
                return Err(SimulationError::Invalid(format!("player {} ({}): projection {mean}", p.id, p.name)));
            }
            let sd = match p.stdev {
                _ if p.is_out() => 0.0,
                Some(sd) if sd.is_finite() && sd >= 0.0 => sd,
                Some(sd) => {
                    return Err(SimulationError::Invalid(format!(
                        "player {} ({}): stdev {sd} is not a non-negative number",
                        p.id, p.name
                    )))
                }
                None => default_stdev_fraction(slate.sport, &p.positions) * mean.max(0.0),
            };
            match Marginal::new(mean, sd, distribution) {
                Marginal::Constant(x) => constants.push((i, x)),
                m => match groups.iter_mut().find(|g| !p.game.is_empty() && g.0 == p.game) {
                    Some(g) => {
                        g.1.push(i);
                        g.2.push(m);
                    }
                    None => groups.push((p.game.clone(), vec![i], vec![m])),
                },
            }
        }
        let involvement = involvement(slate);
        let mut games = Vec::with_capacity(groups.len());
        for (game, players, marginals) in groups {
            let n = players.len();
            let r = DMatrix::from_fn(n, n, |i, j| {
                let (a, b) = (players[i], players[j]);
                if i == j {
                    1.0
                } else {
                    pair(slate.sport, coefficients, &slate.players[a], &slate.players[b])
                        * involvement[a]
                        * involvement[b]
                }
            });
            let l = match Cholesky::new(r.clone()) {
                Some(ch) => ch.l(),
                None => {
                    let (repaired, min_eigen, change) = repair(&r);
                    warnings.push(format!(
                        "game {game}: the correlation matrix of its {n} players is not positive definite (smallest \
                         eigenvalue {min_eigen:.3}); eigenvalues were clipped, changing coefficients by up to \
                         {change:.3}"
                    ));
                    repaired
                }
            };
            let mut chol = Vec::with_capacity(n * (n + 1) / 2);
            for i in 0..n {
                chol.extend((0..=i).map(|j| l[(i, j)]));
            }
            games.push(GameFactor { players, marginals, chol });
        }
        Ok(OutcomeModel { constants, games })
    }

    /// Draws one run: calls `set(player, points)` for every jointly simulated player (constants are not
    /// repeated). `z` is scratch.
    pub fn draw<R: Rng>(&self, rng: &mut R, z: &mut Vec<f64>, mut set: impl FnMut(usize, f64)) {
        for g in &self.games {
            z.clear();
            z.extend((0..g.players.len()).map(|_| -> f64 { StandardNormal.sample(rng) }));
            let mut row = 0;
            for (i, (&p, m)) in g.players.iter().zip(&g.marginals).enumerate() {
                let l = &g.chol[row..row + i + 1];
                let y: f64 = l.iter().zip(&z[..=i]).map(|(a, b)| a * b).sum();
                set(p, m.points(y));
                row += i + 1;
            }
        }
    }
}

/// A positive definite correlation matrix near `r`, its Cholesky factor, `r`'s smallest eigenvalue and the
/// largest change of a coefficient: eigenvalues clipped at [`MIN_EIGENVALUE`], the unit diagonal restored, and
/// if rounding still defeats the factorisation, shrunk toward the identity.
fn repair(r: &DMatrix<f64>) -> (DMatrix<f64>, f64, f64) {
    let n = r.nrows();
    let eigen = SymmetricEigen::new(r.clone());
    let min_eigen = eigen.eigenvalues.min();
    let clipped = eigen.eigenvalues.map(|v| v.max(MIN_EIGENVALUE));
    let mut a = &eigen.eigenvectors * DMatrix::from_diagonal(&clipped) * eigen.eigenvectors.transpose();
    let d: Vec<f64> = (0..n).map(|i| a[(i, i)].sqrt()).collect();
    for i in 0..n {
        for j in 0..n {
            a[(i, j)] = if i == j { 1.0 } else { a[(i, j)] / (d[i] * d[j]) };
        }
    }
    let mut shrink = 0.0;
    loop {
        let candidate = a.map(|v| v * (1.0 - shrink)) + DMatrix::identity(n, n) * shrink;
        if let Some(ch) = Cholesky::new(candidate.clone()) {
            let change = (candidate - r).abs().max();
            return (ch.l(), min_eigen, change);
        }
        shrink = (shrink * 2.0f64).max(1e-6);
        assert!(shrink < 1.0, "the identity is positive definite");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate;
    use crate::rules::RULE_SETS;
    use crate::simulate::Correlation;

    #[test]
    fn default_correlations_need_no_repair_on_full_slates() {
        for rules in RULE_SETS {
            for seed in 1..=4 {
                let slate = generate::slate(rules.site, rules.sport, rules.contest, seed);
                let mut warnings = Vec::new();
                let c = Correlation::defaults(slate.sport);
                let model = OutcomeModel::new(&slate, &c, Distribution::Normal, &mut warnings).unwrap();
                let what = format!("{:?} {:?} {:?} seed {seed}", rules.site, rules.sport, rules.contest);
                assert!(warnings.is_empty(), "{what}: {warnings:?}");
                let largest = model.games.iter().map(|g| g.players.len()).max().unwrap();
                assert!(largest >= 20, "{what}: games are full ({largest} players)");
            }
        }
    }

    #[test]
    fn repair_makes_an_indefinite_matrix_factorable_and_stays_close() {
        // One defense at -0.6 against five players correlated 0.0 among themselves: 1 - 5 * 0.36 < 0.
        let n = 6;
        let r = DMatrix::from_fn(n, n, |i, j| match (i, j) {
            _ if i == j => 1.0,
            (0, _) | (_, 0) => -0.6,
            _ => 0.0,
        });
        assert!(Cholesky::new(r.clone()).is_none(), "the example must be indefinite");
        let (l, min_eigen, change) = repair(&r);
        assert!(min_eigen < 0.0);
        let back = &l * l.transpose();
        for i in 0..n {
            assert!((back[(i, i)] - 1.0).abs() < 1e-9, "unit diagonal");
        }
        assert!(back[(0, 1)] < -0.3 && back[(0, 1)] > -0.6, "still strongly negative: {}", back[(0, 1)]);
        assert!(change < 0.3, "the repair moves coefficients little: {change}");
    }
}
