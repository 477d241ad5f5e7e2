//! The simulator's outcome model and field, observed through the public API: a lineup of one random player
//! and five fixed ones shows that player's distribution; lineups of two show their correlation.

mod support;

use dfs_mcp::generate;
use dfs_mcp::model::{ContestType, Player, Site, Slate, Sport};
use dfs_mcp::rules::{self, RuleSet};
use dfs_mcp::simulate::{
    field, simulate, Correlation, Distribution, FieldOptions, LineupResult, SimulationReport, SimulationRequest,
};
use support::slates::{ids, player, request, slate, PlayerExt};

const RUNS: u32 = 40_000;

/// A DraftKings NFL showdown game KC@BUF; every player fixed (stdev 0) but those given in `random`.
fn showdown(random: &[(&str, f64, Option<f64>)]) -> (Slate, &'static RuleSet) {
    let g = "KC@BUF";
    // Salaries low enough that any six fit under the cap with any captain.
    let mut players = vec![
        player("q1", "QB", "KC", g, 7_000, 10.0),
        player("w1", "WR", "KC", g, 6_000, 10.0),
        player("w2", "WR", "KC", g, 5_000, 10.0),
        player("r1", "RB", "KC", g, 5_500, 10.0),
        player("d1", "DST", "KC", g, 3_000, 10.0),
        player("q2", "QB", "BUF", g, 6_500, 10.0),
        player("w3", "WR", "BUF", g, 5_500, 10.0),
        player("r2", "RB", "BUF", g, 5_000, 10.0),
        player("d2", "DST", "BUF", g, 2_800, 10.0),
    ];
    for p in &mut players {
        *p = p.clone().captain().stdev(0.0);
        if let Some(&(_, proj, sd)) = random.iter().find(|r| r.0 == p.id) {
            p.projection = Some(proj);
            p.stdev = sd;
        }
    }
    slate(Site::DraftKings, Sport::Nfl, ContestType::Showdown, players)
}

fn run(
    slate: &Slate,
    rules: &RuleSet,
    lineups: &[&[&str]],
    tweak: impl FnOnce(&mut SimulationRequest),
) -> SimulationReport {
    let lineups: Vec<Vec<String>> = lineups.iter().map(|l| ids(l)).collect();
    let n = lineups.len() as u32;
    let mut req = request(lineups, n, 10.0, &[(1, 1, 8.5 * f64::from(n))]);
    req.runs = Some(RUNS);
    tweak(&mut req);
    simulate(slate, rules, &req).expect("simulation")
}

fn close(what: &str, got: f64, want: f64, tol: f64) {
    assert!((got - want).abs() <= tol, "{what}: got {got}, want {want} ± {tol}");
}

/// Φ, the standard normal CDF (Abramowitz & Stegun 7.1.26, |error| < 1.5e-7).
fn phi_cdf(x: f64) -> f64 {
    let t = 1.0 / (1.0 + 0.3275911 * x.abs() / std::f64::consts::SQRT_2);
    let poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
    let erf = 1.0 - poly * (-(x * x) / 2.0).exp();
    if x >= 0.0 {
        0.5 * (1.0 + erf)
    } else {
        0.5 * (1.0 - erf)
    }
}

fn phi_pdf(x: f64) -> f64 {
    (-(x * x) / 2.0).exp() / (2.0 * std::f64::consts::PI).sqrt()
}

/// E[max(0, X)] for X ~ N(mean, sd²).
fn censored_mean(mean: f64, sd: f64) -> f64 {
    if sd == 0.0 {
        return mean.max(0.0);
    }
    mean * phi_cdf(mean / sd) + sd * phi_pdf(mean / sd)
}

/// The standard deviation of max(0, X) for X ~ N(mean, sd²).
fn censored_sd(mean: f64, sd: f64) -> f64 {
    let a = mean / sd;
    let second = (mean * mean + sd * sd) * phi_cdf(a) + mean * sd * phi_pdf(a);
    (second - censored_mean(mean, sd).powi(2)).sqrt()
}

// Five fixed players at 10 points, one of them captain (15): 55 points around the random one.
const FIXED: f64 = 55.0;
const LONE: &[&str] = &["Cq1", "w1", "w2", "r1", "q2", "w3"];

#[test]
fn a_lone_player_has_his_projection_and_stdev() {
    let (s, r) = showdown(&[("w3", 20.0, Some(6.0))]);
    let l = &run(&s, r, &[LONE], |_| {}).lineups[0];
    close("mean", l.mean, FIXED + censored_mean(20.0, 6.0), 0.1);
    close("stdev", l.stdev, 6.0, 0.08);
    close("median", l.percentiles.p50, FIXED + 20.0, 0.15);
    close("p90", l.percentiles.p90, FIXED + 20.0 + 1.2816 * 6.0, 0.2);
    close("p10", l.percentiles.p10, FIXED + 20.0 - 1.2816 * 6.0, 0.2);
}

#[test]
fn the_captain_slot_multiplies_points_and_spread() {
    let (s, r) = showdown(&[("w3", 20.0, Some(6.0))]);
    // w3 as captain, q1 back in a FLEX slot: fixed 5 × 10.
    let l = &run(&s, r, &[&["Cw3", "q1", "w1", "w2", "r1", "q2"]], |_| {}).lineups[0];
    close("mean", l.mean, 50.0 + 1.5 * censored_mean(20.0, 6.0), 0.15);
    close("stdev", l.stdev, 9.0, 0.12);
    close("projection", l.projection, 80.0, 1e-9);
}

#[test]
fn a_normal_outcome_is_censored_at_zero() {
    let (s, r) = showdown(&[("w3", 2.0, Some(5.0))]);
    let l = &run(&s, r, &[LONE], |_| {}).lineups[0];
    // P(2 + 5z < 0) = Φ(-0.4) ≈ 0.345: the 10th and 25th percentiles are the fixed players alone.
    assert_eq!(l.percentiles.p10, FIXED, "{l:?}");
    assert_eq!(l.percentiles.p25, FIXED, "{l:?}");
    close("median", l.percentiles.p50, FIXED + 2.0, 0.1);
    close("mean (censoring raises it)", l.mean, FIXED + censored_mean(2.0, 5.0), 0.06);
    assert!(l.mean > FIXED + 2.0 + 1.0, "censoring at zero adds about 1.15 points here: {}", l.mean);
}

#[test]
fn a_log_normal_outcome_keeps_mean_and_stdev_and_stays_positive() {
    let (s, r) = showdown(&[("w3", 10.0, Some(8.0))]);
    let l = &run(&s, r, &[LONE], |q| q.distribution = Some(Distribution::LogNormal)).lineups[0];
    close("mean", l.mean, FIXED + 10.0, 0.15);
    close("stdev", l.stdev, 8.0, 0.35);
    // log-normal with mean 10, sd 8: median exp(ln 10 - s²/2), s² = ln 1.64.
    let s2 = 1.64f64.ln();
    close("median", l.percentiles.p50, FIXED + (10f64.ln() - s2 / 2.0).exp(), 0.15);
    assert!(l.percentiles.p10 > FIXED + 2.5, "right-skewed but positive: {:?}", l.percentiles);
}

#[test]
fn without_an_uploaded_stdev_the_position_default_applies() {
    // An NFL WR: 65 % of his projection, 13 points, censored at zero.
    let (s, r) = showdown(&[("w3", 20.0, None)]);
    let l = &run(&s, r, &[LONE], |_| {}).lineups[0];
    close("stdev", l.stdev, censored_sd(20.0, 13.0), 0.15);
    close("mean", l.mean, FIXED + censored_mean(20.0, 13.0), 0.2);
}

/// The correlation of x and y (100 ± 10 points each, never censored) from the spreads of three lineups: x
/// with fixed players, y with fixed players, both.
fn observed_correlation(x: &'static str, y: &'static str, correlation: Option<Correlation>) -> (f64, Vec<String>) {
    let (s, r) = showdown(&[(x, 100.0, Some(10.0)), (y, 100.0, Some(10.0))]);
    let fixed: Vec<&str> =
        ["q1", "w1", "w2", "r1", "d1", "q2", "w3", "r2", "d2"].into_iter().filter(|p| *p != x && *p != y).collect();
    let captain = format!("C{}", fixed[0]);
    let with = |random: &[&'static str]| -> Vec<&str> {
        let mut l = vec![captain.as_str()];
        l.extend_from_slice(random);
        l.extend(fixed[1..].iter().take(5 - random.len()));
        l
    };
    let (a, b, ab) = (with(&[x]), with(&[y]), with(&[x, y]));
    let rep = run(&s, r, &[&a, &b, &ab], |q| q.correlation = correlation);
    (implied_correlation(&rep, 10.0), rep.warnings)
}

/// ρ from var(x + y) = var(x) + var(y) + 2ρσ², lineups 0, 1 and 2 holding x, y and both beside fixed players.
fn implied_correlation(rep: &SimulationReport, sd: f64) -> f64 {
    let v = |l: &LineupResult| l.stdev * l.stdev;
    (v(&rep.lineups[2]) - v(&rep.lineups[0]) - v(&rep.lineups[1])) / (2.0 * sd * sd)
}

#[test]
fn players_of_a_game_show_the_configured_correlations() {
    // NFL defaults: QB-receiver 0.40, defense vs opposing offense -0.25, opponents 0.10, teammates 0.10.
    for (x, y, want) in [("q1", "w1", 0.40), ("d2", "q1", -0.25), ("w1", "w3", 0.10), ("r1", "w1", 0.10)] {
        let (rho, warnings) = observed_correlation(x, y, None);
        close(&format!("{x}-{y}"), rho, want, 0.035);
        assert!(warnings.is_empty(), "{warnings:?}");
    }
    let strong = Correlation { qb_receiver: Some(0.8), ..Correlation::default() };
    close("q1-w1 as asked", observed_correlation("q1", "w1", Some(strong)).0, 0.8, 0.035);
    let none = Correlation { defense_vs_offense: Some(0.0), ..Correlation::default() };
    close("d2-q1 switched off", observed_correlation("d2", "q1", Some(none)).0, 0.0, 0.035);
}

#[test]
fn an_indefinite_correlation_matrix_is_repaired_and_reported() {
    // BUF's defense at -0.95 against three KC players independent of each other: 1 - 0.95·√3 < 0, no valid
    // matrix; the most a valid one allows is 1/√3 ≈ 0.58.
    let sd = Some(10.0);
    let (s, r) = showdown(&[("d2", 100.0, sd), ("q1", 100.0, sd), ("w1", 100.0, sd), ("r1", 100.0, sd)]);
    let c = Correlation {
        defense_vs_offense: Some(-0.95),
        qb_receiver: Some(0.0),
        teammates: Some(0.0),
        ..Correlation::default()
    };
    let a: &[&str] = &["Cq2", "d2", "w2", "d1", "w3", "r2"];
    let b: &[&str] = &["Cq2", "q1", "w2", "d1", "w3", "r2"];
    let ab: &[&str] = &["Cq2", "d2", "q1", "d1", "w3", "r2"];
    let rep = run(&s, r, &[a, b, ab], |q| q.correlation = Some(c));
    assert_eq!(rep.warnings.len(), 1, "{:?}", rep.warnings);
    assert!(rep.warnings[0].contains("KC@BUF") && rep.warnings[0].contains("not positive definite"));
    let rho = implied_correlation(&rep, 10.0);
    // Eigenvalue clipping lets the three KC players correlate a little, which leaves room for about -0.6.
    assert!((-0.8..=-0.4).contains(&rho), "repaired correlation stays strongly negative: {rho}");
}

#[test]
fn a_lineups_mean_is_the_sum_of_projections_plus_the_censoring() {
    let (site, sport, contest) = (Site::DraftKings, Sport::Nfl, ContestType::Classic);
    let slate = generate::slate(site, sport, contest, 3);
    let rules = rules::lookup(site, sport, contest).unwrap();
    let lineup = field::sample_lineups(&slate, rules, &FieldOptions::default(), 1, 5).unwrap().lineups.remove(0);
    let mut req = request(vec![lineup.clone()], 1, 10.0, &[(1, 1, 8.5)]);
    req.runs = Some(20_000);
    let rep = simulate(&slate, rules, &req).unwrap();
    let l = &rep.lineups[0];
    let players: Vec<&Player> = lineup.iter().map(|id| slate.player(id).unwrap()).collect();
    let projections: f64 = players.iter().map(|p| p.points()).sum();
    let censored: f64 = players.iter().map(|p| censored_mean(p.points(), p.stdev.unwrap())).sum();
    close("projection", l.projection, projections, 1e-9);
    // Correlated players: the lineup's spread is well above the independent one, so use its own SE.
    let se = l.stdev / 20_000f64.sqrt();
    close("mean", l.mean, censored, 4.0 * se);
    assert!(censored > projections && censored < projections * 1.05, "{censored} vs {projections}");
}

/// Players by slate index of every field lineup, checked against the rules without the simulator's own
/// checker: an independent reading of the rule set.
fn assert_valid(slate: &Slate, rules: &RuleSet, lineup: &[String], floor: u32) {
    assert_eq!(lineup.len(), rules.slots.len());
    let mut seen: Vec<&str> = Vec::new();
    let mut salary = 0;
    let mut teams: Vec<&str> = Vec::new();
    let mut games: Vec<&str> = Vec::new();
    for (id, slot) in lineup.iter().zip(rules.slots) {
        let p = slate.player(id).unwrap_or_else(|| panic!("unknown id {id}"));
        let captain_row = p.captain.as_ref().is_some_and(|c| &c.id == id);
        assert_eq!(captain_row, slot.points_mult != 1.0 && p.captain.is_some(), "{id} in {}", slot.name);
        assert!(p.eligible.iter().any(|e| e == slot.name), "{id} ({:?}) in {}", p.eligible, slot.name);
        assert!(!seen.contains(&p.id.as_str()), "{} twice in {lineup:?}", p.id);
        seen.push(&p.id);
        assert!(!p.is_out() && p.points() > 0.0);
        salary += if captain_row { p.captain.as_ref().unwrap().salary } else { p.salary };
        let counted = rules.min_teams_positions.is_empty()
            || p.positions.iter().any(|x| rules.min_teams_positions.contains(&x.as_str()));
        if counted {
            teams.push(&p.team);
        }
        games.push(&p.game);
        let of_team = lineup.iter().filter(|o| slate.player(o).unwrap().team == p.team);
        let n = of_team.clone().count();
        if let Some(max) = rules.max_per_team {
            assert!(n <= usize::from(max), "{n} of {} in {lineup:?}", p.team);
        }
        if let Some(max) = rules.max_hitters_per_team {
            let hitters = of_team.filter(|o| !rules.is_pitcher(&slate.player(o).unwrap().positions)).count();
            assert!(hitters <= usize::from(max), "{hitters} hitters of {} in {lineup:?}", p.team);
        }
    }
    assert!(salary <= rules.salary_cap && salary >= floor, "salary {salary} in {lineup:?}");
    teams.sort_unstable();
    teams.dedup();
    games.sort_unstable();
    games.dedup();
    assert!(teams.len() >= usize::from(rules.min_teams), "{lineup:?}");
    assert!(games.len() >= usize::from(rules.min_games), "{lineup:?}");
}

#[test]
fn field_lineups_are_valid_under_every_rule_set() {
    for rules in rules::RULE_SETS {
        let slate = generate::slate(rules.site, rules.sport, rules.contest, 11);
        let field = field::sample_lineups(&slate, rules, &FieldOptions::default(), 400, 3).unwrap();
        assert_eq!(field.lineups.len(), 400);
        let floor = (f64::from(rules.salary_cap) * 0.97).floor() as u32;
        let what = format!("{:?} {:?} {:?}", rules.site, rules.sport, rules.contest);
        if rules.contest == ContestType::Classic {
            // Classic slates have room under the cap: real fields spend 97 % of it and more.
            assert_eq!(field.min_salary, floor, "{what}: {:?}", field.warnings);
        } else if field.min_salary < floor {
            assert!(field.warnings.iter().any(|w| w.contains("dearest lineup")), "{what}: {:?}", field.warnings);
        }
        for l in &field.lineups {
            assert_valid(&slate, rules, l, field.min_salary);
        }
    }
}

#[test]
fn a_min_salary_asked_for_is_kept() {
    let (site, sport, contest) = (Site::DraftKings, Sport::Nba, ContestType::Classic);
    let slate = generate::slate(site, sport, contest, 5);
    let rules = rules::lookup(site, sport, contest).unwrap();
    let options = FieldOptions { min_salary_pct: Some(99.5), ..FieldOptions::default() };
    let field = field::sample_lineups(&slate, rules, &options, 300, 1).unwrap();
    assert_eq!(field.min_salary, 49_750);
    for l in &field.lineups {
        assert_valid(&slate, rules, l, 49_750);
    }
}

/// Tilts the slate's ownership toward cheaper players within each position (totals kept) until it implies an
/// average lineup salary of `target`, as real ownership projections do (the generator's do not: they favour
/// value and stars alike and imply more than the cap).
fn tilt_to_salary(slate: &mut Slate, target: f64) {
    let original: Vec<f64> = slate.players.iter().map(|p| p.ownership.unwrap_or(0.0)).collect();
    let apply = |slate: &mut Slate, lambda: f64| -> f64 {
        let weight = |p: &Player, o: f64| o * (-lambda * f64::from(p.salary) / 1000.0).exp();
        let mut totals: std::collections::HashMap<String, (f64, f64)> = Default::default();
        for (p, &o) in slate.players.iter().zip(&original) {
            let e = totals.entry(p.positions.join("/")).or_default();
            e.0 += o;
            e.1 += weight(p, o);
        }
        for (p, &o) in slate.players.iter_mut().zip(&original) {
            let (before, after) = totals[&p.positions.join("/")];
            p.ownership = Some(if after > 0.0 { weight(p, o) * before / after } else { 0.0 });
        }
        slate.players.iter().map(|p| p.ownership.unwrap() / 100.0 * f64::from(p.salary)).sum()
    };
    let (mut lo, mut hi) = (0.0, 3.0);
    for _ in 0..50 {
        let mid = (lo + hi) / 2.0;
        if apply(slate, mid) > target {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    apply(slate, hi);
}

/// Percent of `lineups` holding the player (in any slot).
fn exposure(p: &Player, lineups: &[Vec<String>]) -> f64 {
    let captain = p.captain.as_ref().map(|c| c.id.as_str());
    let n = lineups.iter().filter(|l| l.iter().any(|id| *id == p.id || Some(id.as_str()) == captain)).count();
    n as f64 / lineups.len() as f64 * 100.0
}

#[test]
fn field_exposure_tracks_ownership() {
    let (site, sport, contest) = (Site::DraftKings, Sport::Nfl, ContestType::Classic);
    let mut slate = generate::slate(site, sport, contest, 4);
    tilt_to_salary(&mut slate, 49_300.0);
    let rules = rules::lookup(site, sport, contest).unwrap();
    let lineups = field::sample_lineups(&slate, rules, &FieldOptions::default(), 5_000, 9).unwrap().lineups;
    let mut worst = (0.0, String::new());
    let mut total_error = 0.0;
    for p in &slate.players {
        let (field, own) = (exposure(p, &lineups), p.ownership.unwrap());
        total_error += (field - own).abs();
        if (field - own).abs() > worst.0 {
            worst = (
                (field - own).abs(),
                format!("{} {:?} ${}: {field:.1} % of the field, {own:.1} % owned", p.id, p.positions, p.salary),
            );
        }
    }
    let mean_error = total_error / slate.players.len() as f64;
    assert!(mean_error < 0.4, "mean |field − ownership| {mean_error:.2} points; worst {}", worst.1);
    assert!(worst.0 < 3.0, "worst: {}", worst.1);
    let top = slate.players.iter().map(|p| p.ownership.unwrap()).fold(0.0, f64::max);
    assert!(top > 10.0, "the test needs concentrated ownership, the top player has {top} %");
}

#[test]
#[ignore = "open defect since the generator's single-game/salary rework (804de24 merge): on DK NFL seed 4 the \
            ownership implies $62,674 lineups, and the tilt toward cheaper players puts a 0.9 %-owned $3,500 WR in \
            11.3 % of the field (the bound below is 10 %); the generator's ownership must imply a salary valid \
            lineups can spend, and this test then needs a slate built to overspend on purpose"]
fn ownership_no_field_can_hold_is_tilted_to_the_cap_and_reported() {
    // The generator's ownership implies lineups of about $62,000 on a $50,000 cap.
    let (site, sport, contest) = (Site::DraftKings, Sport::Nfl, ContestType::Classic);
    let slate = generate::slate(site, sport, contest, 4);
    let rules = rules::lookup(site, sport, contest).unwrap();
    let lineups = field::sample_lineups(&slate, rules, &FieldOptions::default(), 1, 1).unwrap().lineups;
    let mut req = request(lineups, 3_001, 5.0, &[]);
    req.runs = Some(10);
    let rep = simulate(&slate, rules, &req).unwrap();
    assert!(
        rep.warnings.iter().any(|w| w.contains("implies an average lineup salary") && w.contains("cheaper")),
        "{:?}",
        rep.warnings
    );
    let field = field::sample_lineups(&slate, rules, &FieldOptions::default(), 3_000, 2).unwrap().lineups;
    // Nobody is forced in: a barely owned player does not fill a tenth of the field.
    for p in slate.players.iter().filter(|p| p.ownership.unwrap() < 1.0) {
        assert!(
            exposure(p, &field) < 10.0,
            "{} ({} %, ${}) in {} % of the field",
            p.id,
            p.ownership.unwrap(),
            p.salary,
            exposure(p, &field)
        );
    }
    // Among players of one position and salary band, who the tilt treats alike, exposure follows ownership.
    // (Uniform weights, ownership ignored, would give about 0 here.)
    let mut groups: std::collections::HashMap<(String, u32), Vec<(f64, f64)>> = Default::default();
    for p in &slate.players {
        let key = (p.positions.join("/"), p.salary / 1_000);
        groups.entry(key).or_default().push((p.ownership.unwrap(), exposure(p, &field)));
    }
    let (mut cov, mut vx, mut vy) = (0.0, 0.0, 0.0);
    for members in groups.values() {
        let n = members.len() as f64;
        let (mx, my) = (members.iter().map(|m| m.0).sum::<f64>() / n, members.iter().map(|m| m.1).sum::<f64>() / n);
        for (x, y) in members {
            cov += (x - mx) * (y - my);
            vx += (x - mx).powi(2);
            vy += (y - my).powi(2);
        }
    }
    let r = cov / (vx * vy).sqrt();
    assert!(r > 0.6, "within position and salary band, exposure against ownership correlates {r:.2}");
    assert!(rep.field.mean_salary >= 48_500.0 && rep.field.mean_salary <= 50_000.0, "{:?}", rep.field);
}

#[test]
fn the_field_is_seeded() {
    let slate = generate::slate(Site::FanDuel, Sport::Nba, ContestType::Classic, 2);
    let rules = rules::lookup(Site::FanDuel, Sport::Nba, ContestType::Classic).unwrap();
    let o = FieldOptions::default();
    let a = field::sample_lineups(&slate, rules, &o, 200, 1).unwrap();
    assert_eq!(a, field::sample_lineups(&slate, rules, &o, 200, 1).unwrap());
    assert_ne!(a.lineups, field::sample_lineups(&slate, rules, &o, 200, 2).unwrap().lineups);
}
