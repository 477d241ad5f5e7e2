//! The simulator's contest accounting, reproducibility and input checks, through `simulate()`.

mod support;

use dfs_mcp::generate;
use dfs_mcp::model::{ContestType, Player, Site, Slate, Sport};
use dfs_mcp::rules::{self, RuleSet};
use dfs_mcp::simulate::{
    default_payouts, field, simulate, Correlation, FieldOptions, Payout, SimulationError, SimulationReport,
    SimulationRequest,
};
use support::slates::{ids, player, request, slate, PlayerExt};

/// A DraftKings NFL showdown game whose players always score their projection (stdev 0).
fn fixed_showdown() -> (Slate, &'static RuleSet) {
    let g = "KC@BUF";
    let players = vec![
        player("a1", "QB", "KC", g, 5_000, 20.0),
        player("a2", "WR", "KC", g, 5_000, 10.0),
        player("a3", "WR", "KC", g, 5_000, 8.0),
        player("a4", "RB", "KC", g, 5_000, 6.0),
        player("a5", "TE", "KC", g, 5_000, 4.0),
        player("b1", "QB", "BUF", g, 5_000, 18.0),
        player("b2", "WR", "BUF", g, 5_000, 9.0),
        player("b3", "RB", "BUF", g, 5_000, 7.0),
        player("b4", "WR", "BUF", g, 5_000, 5.0),
        player("b5", "DST", "BUF", g, 5_000, 3.0),
    ];
    slate(
        Site::DraftKings,
        Sport::Nfl,
        ContestType::Showdown,
        players.into_iter().map(|p| p.captain().stdev(0.0)).collect(),
    )
}

const A: &[&str] = &["Ca1", "a2", "a3", "b1", "b2", "b3"]; // 30 + 10 + 8 + 18 + 9 + 7 = 82
const B: &[&str] = &["Cb1", "a1", "a2", "b2", "a4", "b4"]; // 27 + 20 + 10 + 9 + 6 + 5 = 77
const C: &[&str] = &["Ca2", "a1", "b1", "b2", "b3", "a3"]; // 15 + 20 + 18 + 9 + 7 + 8 = 77
const D: &[&str] = &["Ca3", "a1", "b1", "a4", "b3", "b4"]; // 12 + 20 + 18 + 6 + 7 + 5 = 68
const E: &[&str] = &["Cb5", "a4", "a5", "b3", "b4", "a3"]; // 4.5 + 6 + 4 + 7 + 5 + 8 = 34.5

fn lineups(ls: &[&[&str]]) -> Vec<Vec<String>> {
    ls.iter().map(|l| ids(l)).collect()
}

#[test]
fn ranks_ties_and_prize_splits_are_exact() {
    let (s, r) = fixed_showdown();
    let req = request(lineups(&[A, B, C, D, E]), 5, 25.0, &[(1, 1, 50.0), (2, 2, 30.0), (3, 3, 20.0), (4, 4, 10.0)]);
    let rep = simulate(&s, r, &req).unwrap();
    let got: Vec<(f64, f64, f64, f64, f64)> =
        rep.lineups.iter().map(|l| (l.mean, l.mean_winnings, l.win_pct, l.cash_pct, l.roi_pct.unwrap())).collect();
    // B and C tie for places 2-3 and share 30 + 20.
    assert_eq!(
        got,
        vec![
            (82.0, 50.0, 100.0, 100.0, 100.0),
            (77.0, 25.0, 0.0, 100.0, 0.0),
            (77.0, 25.0, 0.0, 100.0, 0.0),
            (68.0, 10.0, 0.0, 100.0, -60.0),
            (34.5, 0.0, 0.0, 0.0, -100.0),
        ]
    );
    for l in &rep.lineups {
        assert_eq!(l.stdev, 0.0);
        assert_eq!((l.percentiles.p10, l.percentiles.p99), (l.mean, l.mean));
        assert_eq!(l.roi_ci95, Some([l.roi_pct.unwrap(); 2]), "no spread, no interval");
        assert_eq!(l.projection, l.mean);
    }
    // Top 1 % of 5 entries is first place.
    assert_eq!(rep.lineups.iter().map(|l| l.top1_pct).collect::<Vec<_>>(), vec![100.0, 0.0, 0.0, 0.0, 0.0]);
    assert_eq!(rep.portfolio.mean_winnings, 110.0);
    assert_eq!(rep.portfolio.roi_pct, Some(-12.0));
    assert_eq!(rep.portfolio.profit_pct, 0.0);
    assert_eq!(rep.prize_pool, 110.0);
}

#[test]
fn duplicated_lineups_tie_whatever_their_slot_order() {
    let (s, r) = fixed_showdown();
    let a_again: &[&str] = &["Ca1", "b3", "b2", "b1", "a3", "a2"];
    let req = request(lineups(&[A, a_again, B]), 3, 25.0, &[(1, 1, 50.0), (2, 2, 30.0)]);
    let rep = simulate(&s, r, &req).unwrap();
    let got: Vec<(f64, f64)> = rep.lineups.iter().map(|l| (l.mean_winnings, l.win_pct)).collect();
    assert_eq!(got, vec![(40.0, 50.0), (40.0, 50.0), (0.0, 0.0)]);
}

/// DraftKings NBA classic where exactly eight players have ownership: every field lineup is those eight.
fn one_lineup_field() -> (Slate, &'static RuleSet) {
    let (g1, g2) = ("T1@T2", "T3@T4");
    let p = |id: &str, pos: &str, team: &str, game: &str| player(id, pos, team, game, 6_200, 30.0).own(100.0);
    let players = vec![
        p("p1", "PG", "T1", g1),
        p("p2", "PG/SG", "T2", g1),
        p("p3", "SG", "T3", g2),
        p("p4", "SF", "T4", g2),
        p("p5", "SF/PF", "T1", g1),
        p("p6", "PF", "T2", g1),
        p("p7", "C", "T3", g2),
        p("p8", "C", "T4", g2),
        // Nobody owns him, and he outscores p8 by 20.
        player("x", "C", "T4", g2, 6_000, 50.0).own(0.0),
    ];
    slate(Site::DraftKings, Sport::Nba, ContestType::Classic, players)
}

const FIELD_LINEUP: &[&str] = &["p1", "p3", "p4", "p6", "p7", "p2", "p5", "p8"];

#[test]
fn a_lineup_identical_to_the_whole_field_returns_minus_the_rake() {
    let (s, r) = one_lineup_field();
    let mut req = request(lineups(&[FIELD_LINEUP]), 100, 10.0, &[]);
    req.runs = Some(3_000);
    let rep = simulate(&s, r, &req).unwrap();
    let l = &rep.lineups[0];
    assert_eq!(l.field_duplicates, 99);
    assert_eq!(rep.field.distinct, 1);
    assert!(l.stdev > 5.0, "outcomes vary (default stdev): {}", l.stdev);
    // All 100 entries tie in every run and share the pool: 85 % of the fees.
    assert!((l.roi_pct.unwrap() + 15.0).abs() < 1e-9, "{l:?}");
    assert!((l.mean_winnings - 8.5).abs() < 1e-9);
    assert_eq!(l.cash_pct, 100.0);
    assert!((l.win_pct - 1.0).abs() < 1e-9 && (l.top1_pct - 1.0).abs() < 1e-9, "a hundredth of first place");
    let [lo, hi] = l.roi_ci95.unwrap();
    assert!((lo + 15.0).abs() < 1e-6 && (hi + 15.0).abs() < 1e-6, "no spread in the winnings: {lo} {hi}");
}

#[test]
fn a_lineup_that_beats_the_field_wins_first_and_its_copy_shares_the_rest() {
    let (s, r) = one_lineup_field();
    let mut fixed = s.clone();
    for p in &mut fixed.players {
        p.stdev = Some(0.0);
    }
    let better: &[&str] = &["p1", "p3", "p4", "p6", "p7", "p2", "p5", "x"];
    let (fee, n) = (10.0, 101);
    let mut req = request(lineups(&[better, FIELD_LINEUP]), n, fee, &[]);
    req.runs = Some(50);
    let rep = simulate(&fixed, r, &req).unwrap();
    let table = default_payouts(n, fee);
    let prize = |place: u32| table.iter().find(|p| p.from <= place && place <= p.to).map_or(0.0, |p| p.prize);
    let (first, rest) = (&rep.lineups[0], &rep.lineups[1]);
    assert_eq!((first.mean, rest.mean), (260.0, 240.0));
    assert!((first.mean_winnings - prize(1)).abs() < 1e-9, "{} vs {}", first.mean_winnings, prize(1));
    assert_eq!((first.win_pct, first.top1_pct, first.field_duplicates), (100.0, 100.0, 0));
    // The copy ties with the 99 field lineups for places 2-101.
    let shared = (2..=101).map(prize).sum::<f64>() / 100.0;
    assert!((rest.mean_winnings - shared).abs() < 1e-9, "{} vs {shared}", rest.mean_winnings);
    assert_eq!((rest.win_pct, rest.field_duplicates), (0.0, 99));
    // The top 1 % of 101 entries is places 1-2: the block of 100 holds one of its places, place 2.
    assert!((rest.top1_pct - 1.0).abs() < 1e-9, "{}", rest.top1_pct);
    let table_total: f64 = table.iter().map(|p| p.prize * f64::from(p.to - p.from + 1)).sum();
    assert!((first.mean_winnings + 100.0 * rest.mean_winnings - table_total).abs() < 1e-6);
}

fn generated(site: Site, sport: Sport, contest: ContestType, seed: u64) -> (Slate, &'static RuleSet) {
    (generate::slate(site, sport, contest, seed), rules::lookup(site, sport, contest).unwrap())
}

#[test]
fn a_full_contest_of_the_users_lineups_pays_the_whole_table_every_run() {
    let (s, r) = generated(Site::DraftKings, Sport::Nfl, ContestType::Classic, 6);
    let mine = field::sample_lineups(&s, r, &FieldOptions::default(), 40, 3).unwrap().lineups;
    let mut req = request(mine, 40, 20.0, &[]);
    req.runs = Some(500);
    let rep = simulate(&s, r, &req).unwrap();
    let paid: f64 = rep.lineups.iter().map(|l| l.mean_winnings).sum();
    assert!((paid - 0.85 * 20.0 * 40.0).abs() < 1e-6, "paid {paid}");
    assert!((rep.prize_pool - 680.0).abs() < 1e-9);
    assert!((rep.portfolio.roi_pct.unwrap() + 15.0).abs() < 1e-6);
    assert_eq!(rep.field.lineups, 0);
    let wins: f64 = rep.lineups.iter().map(|l| l.win_pct).sum();
    assert!((wins - 100.0).abs() < 1e-6, "someone wins every run: {wins}");
}

fn contest_on_generated(seed: u64, runs: u32) -> (Slate, &'static RuleSet, SimulationRequest) {
    let (s, r) = generated(Site::DraftKings, Sport::Nfl, ContestType::Classic, 8);
    let mine = field::sample_lineups(&s, r, &FieldOptions::default(), 20, 77).unwrap().lineups;
    let mut req = request(mine, 320, 5.0, &[]);
    req.runs = Some(runs);
    req.seed = Some(seed);
    (s, r, req)
}

#[test]
fn the_same_seed_gives_the_same_report_and_another_seed_another() {
    let (s, r, req) = contest_on_generated(1, 600);
    let a = simulate(&s, r, &req).unwrap();
    assert_eq!(a, simulate(&s, r, &req).unwrap());
    let other = SimulationRequest { seed: Some(2), ..req.clone() };
    let b = simulate(&s, r, &other).unwrap();
    assert_ne!(a.lineups[0].mean, b.lineups[0].mean);
    assert_ne!(a.portfolio, b.portfolio);
    // Same slate, same lineups: the projections do not depend on the seed.
    assert_eq!(a.lineups[0].projection, b.lineups[0].projection);
}

#[test]
fn the_thread_count_does_not_change_the_report() {
    let (s, r, req) = contest_on_generated(5, 1_000);
    let on = |threads: usize| -> SimulationReport {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| simulate(&s, r, &req)).unwrap()
    };
    let one = on(1);
    assert_eq!(one, on(2));
    assert_eq!(one, on(3));
}

#[test]
fn roi_is_null_in_a_free_contest_with_prizes() {
    let (s, r) = fixed_showdown();
    let rep = simulate(&s, r, &request(lineups(&[A, B]), 2, 0.0, &[(1, 1, 100.0)])).unwrap();
    assert_eq!(rep.lineups[0].roi_pct, None);
    assert_eq!(rep.lineups[0].roi_ci95, None);
    assert_eq!(rep.lineups[0].mean_winnings, 100.0);
    assert_eq!(rep.portfolio.roi_pct, None);
}

#[test]
fn boosted_slots_multiply_points_fanduel_single_game_nba() {
    let g = "LAL@BOS";
    let players: Vec<Player> =
        [("m", "PG", "LAL"), ("s", "SG", "LAL"), ("p", "SF", "BOS"), ("u", "PF", "BOS"), ("v", "C", "BOS")]
            .iter()
            .enumerate()
            .map(|(i, (id, pos, team))| player(id, pos, team, g, 10_000, 10.0 * (i + 1) as f64).stdev(0.0))
            .collect();
    let (s, r) = slate(Site::FanDuel, Sport::Nba, ContestType::Showdown, players);
    let rep = simulate(&s, r, &request(lineups(&[&["m", "s", "p", "u", "v"]]), 1, 5.0, &[(1, 1, 4.0)])).unwrap();
    // MVP 2×, STAR 1.5×, PRO 1.2×, UTIL 1×.
    let want = 2.0 * 10.0 + 1.5 * 20.0 + 1.2 * 30.0 + 40.0 + 50.0;
    assert!((rep.lineups[0].mean - want).abs() < 1e-9, "{} vs {want}", rep.lineups[0].mean);
    assert!((rep.lineups[0].projection - want).abs() < 1e-9);
}

#[test]
fn a_captain_named_by_his_ordinary_id_counts_the_same() {
    let (s, r) = fixed_showdown();
    let by_flex_id: &[&str] = &["a1", "a2", "a3", "b1", "b2", "b3"];
    let rep = simulate(&s, r, &request(lineups(&[A, by_flex_id]), 2, 5.0, &[(1, 1, 8.5)])).unwrap();
    assert_eq!(rep.lineups[0].mean, rep.lineups[1].mean);
    assert_eq!(rep.lineups[0].salary, rep.lineups[1].salary);
    assert_eq!(rep.lineups[0].salary, 7_500 + 5 * 5_000);
}

fn invalid(result: Result<SimulationReport, SimulationError>) -> String {
    match result {
        Err(SimulationError::Invalid(m)) => m,
        Ok(_) => panic!("accepted a bad request"),
    }
}

#[test]
fn bad_lineups_are_refused_naming_the_lineup_and_the_player() {
    let (s, r) = fixed_showdown();
    let run = |ls: &[&[&str]]| invalid(simulate(&s, r, &request(lineups(ls), 10, 5.0, &[])));
    let m = run(&[A, &["Ca1", "a2", "a3", "b1", "b2", "zz9"]]);
    assert!(m.contains("lineups[1]") && m.contains("\"zz9\"") && m.contains("slot 6"), "{m}");
    let m = run(&[&["Ca1", "a2", "a3", "b1", "b2"]]);
    assert!(m.contains("lineups[0]") && m.contains("has 5 players") && m.contains("6 slots"), "{m}");
    let m = run(&[&["Ca1", "a1", "a3", "b1", "b2", "b3"]]);
    assert!(m.contains("Player a1") && m.contains("slot 1 and slot 2"), "captain and flex of one person: {m}");
    let m = run(&[&["a2", "Ca1", "a3", "b1", "b2", "b3"]]);
    assert!(m.contains("captain row Ca1") && m.contains("slot 2 (FLEX)"), "{m}");
    let m = run(&[&["Ca1", "a2", "a3", "a4", "a5", "a5"]]);
    assert!(m.contains("slot 5 and slot 6"), "{m}");

    // Classic: a WR in the QB slot, and a lineup over the cap.
    let (c, rc) = generated(Site::DraftKings, Sport::Nfl, ContestType::Classic, 2);
    let ok = field::sample_lineups(&c, rc, &FieldOptions::default(), 1, 1).unwrap().lineups.remove(0);
    let mut wr_at_qb = ok.clone();
    wr_at_qb.swap(0, 3);
    let m = invalid(simulate(&c, rc, &request(vec![wr_at_qb], 10, 5.0, &[])));
    assert!(m.contains("slot 1 (QB)") && m.contains("may not fill"), "{m}");
    let mut rich = c.clone();
    for p in &mut rich.players {
        p.salary *= 2;
    }
    let m = invalid(simulate(&rich, rc, &request(vec![ok], 10, 5.0, &[])));
    assert!(m.contains("over the salary cap of 50000"), "{m}");
}

#[test]
fn a_lineup_breaking_a_team_rule_is_refused() {
    let (s, r) = fixed_showdown();
    // Six KC players: DraftKings showdown allows five of one team.
    let mut all_kc = s.clone();
    all_kc.players.push(player("a6", "WR", "KC", "KC@BUF", 5_000, 1.0).captain().stdev(0.0));
    all_kc.players.last_mut().unwrap().eligible = r.eligible_for(&["WR".into()]);
    let m = invalid(simulate(&all_kc, r, &request(lineups(&[&["Ca1", "a2", "a3", "a4", "a5", "a6"]]), 10, 5.0, &[])));
    assert!(m.contains("6 players of KC") && m.contains("at most 5"), "{m}");
}

#[test]
fn bad_contests_and_options_are_refused_naming_the_field() {
    let (s, r) = fixed_showdown();
    let base = request(lineups(&[A, B]), 10, 5.0, &[]);
    let check = |tweak: &dyn Fn(&mut SimulationRequest), want: &[&str]| {
        let mut req = base.clone();
        tweak(&mut req);
        let m = invalid(simulate(&s, r, &req));
        assert!(want.iter().all(|w| m.contains(w)), "{m} lacks {want:?}");
    };
    check(&|q| q.contest.entry_fee = 0.0, &["contest.payouts", "free contest"]);
    check(&|q| q.contest.entry_fee = -1.0, &["contest.entry_fee"]);
    check(&|q| q.contest.entry_fee = f64::NAN, &["contest.entry_fee"]);
    check(&|q| q.contest.field_size = 1, &["contest.field_size", "2 lineups"]);
    check(&|q| q.runs = Some(0), &["runs"]);
    check(&|q| q.lineups.clear(), &["lineups", "no lineups"]);
    let payouts = |ps: &[(u32, u32, f64)]| ps.iter().map(|&(from, to, prize)| Payout { from, to, prize }).collect();
    check(&|q| q.contest.payouts = payouts(&[(1, 3, 10.0), (3, 5, 5.0)]), &["contest.payouts[1]", "overlap"]);
    check(&|q| q.contest.payouts = payouts(&[(1, 11, 1.0)]), &["contest.payouts[0]", "beyond the field size 10"]);
    check(&|q| q.contest.payouts = payouts(&[(0, 1, 1.0)]), &["contest.payouts[0]"]);
    check(&|q| q.contest.payouts = payouts(&[(2, 1, 1.0)]), &["contest.payouts[0]"]);
    check(&|q| q.contest.payouts = payouts(&[(1, 1, -5.0)]), &["contest.payouts[0]", "prize"]);
    check(
        &|q| q.correlation = Some(Correlation { teammates: Some(1.5), ..Correlation::default() }),
        &["correlation.teammates"],
    );
    check(
        &|q| q.field = Some(FieldOptions { min_salary_pct: Some(150.0), ..FieldOptions::default() }),
        &["field.min_salary_pct"],
    );
    let mut negative = s.clone();
    negative.players[0].stdev = Some(-2.0);
    let m = invalid(simulate(&negative, r, &base));
    assert!(m.contains("player a1") && m.contains("stdev -2"), "{m}");
}

#[test]
fn requests_parse_from_the_tools_json() {
    let json = serde_json::json!({
        "slate_id": "dk-nfl-1",
        "lineups": [["1", "2"]],
        "contest": {"entry_fee": 20, "field_size": 5000, "payouts": [{"from": 1, "to": 1, "prize": 1000}]},
        "runs": 5000,
        "seed": 9,
        "correlation": {"qb_receiver": 0.5},
        "distribution": "log_normal",
        "field": {"min_salary_pct": 98}
    });
    let req: SimulationRequest = serde_json::from_value(json).unwrap();
    assert_eq!(req.correlation.unwrap().resolve(Sport::Nfl).qb_receiver, 0.5);
    assert!(serde_json::from_value::<SimulationRequest>(serde_json::json!({"slate_id": "x", "runz": 3})).is_err());
}
