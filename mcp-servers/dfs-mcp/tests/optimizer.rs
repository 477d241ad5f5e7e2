//! The optimizer against independent checks: the validator on every site, sport and contest type; exhaustive
//! enumeration on small pools (lineup 1 and whole sequences); a MILP (microlp) on medium slates; one test per
//! kind of infeasibility; seeded randomness.

use std::collections::{BTreeMap, BTreeSet};

use dfs_mcp::generate::{self, SlateOptions};
use dfs_mcp::model::{ContestType, Player, Site, Slate, Sport};
use dfs_mcp::optimize::{
    optimize, validate, Exposure, ExposureLimit, OptimizeError, OptimizeRequest, Randomness, Stack,
};
use dfs_mcp::rules::{self, RuleSet};

fn combos() -> Vec<(Site, Sport, ContestType)> {
    let mut v = Vec::new();
    for site in Site::ALL {
        for sport in Sport::ALL {
            for contest in [ContestType::Classic, ContestType::Showdown] {
                v.push((site, sport, contest));
            }
        }
    }
    v
}

fn slate(site: Site, sport: Sport, contest: ContestType, seed: u64, games: usize) -> (Slate, &'static RuleSet) {
    let s = generate::slate_with(site, sport, contest, seed, &SlateOptions { games: Some(games) });
    (s, rules::lookup(site, sport, contest).unwrap())
}

fn req(slate: &Slate, count: usize) -> OptimizeRequest {
    OptimizeRequest { slate_id: slate.id.clone(), count: Some(count), ..Default::default() }
}

fn qb_stack(receivers: u8) -> Stack {
    Stack::Qb { receivers, positions: vec![], bring_back: 0, bring_back_positions: vec![], teams: vec![] }
}

#[test]
fn every_site_sport_and_contest_gives_valid_sets() {
    for (site, sport, contest) in combos() {
        for seed in [1, 2] {
            let (s, r) = slate(site, sport, contest, seed, 3);
            for min_unique in [1u8, 2] {
                let q = OptimizeRequest { min_unique: Some(min_unique), ..req(&s, 12) };
                let set = optimize(&s, r, &q).unwrap_or_else(|e| panic!("{site:?} {sport:?} {contest:?}: {e}"));
                validate(&s, r, &q, &set).unwrap_or_else(|e| panic!("{site:?} {sport:?} {contest:?} seed {seed}: {e}"));
                let totals: Vec<f64> = set.lineups.iter().map(|l| l.projection).collect();
                assert!(totals.windows(2).all(|w| w[0] >= w[1] - 1e-9), "totals descend: {totals:?}");
            }
        }
    }
}

// ---------------------------------------------------------------- exhaustive enumeration on small pools

/// Keeps `k` players per primary position (random but seeded), plus every player of the slate's first
/// game's teams up to a small total for single-game slates.
fn small(slate: &Slate, k: usize, seed: u64) -> Slate {
    let mut s = slate.clone();
    let mut by_pos: BTreeMap<String, Vec<Player>> = BTreeMap::new();
    for p in slate.players.iter().filter(|p| !p.is_out()) {
        by_pos.entry(p.positions[0].clone()).or_default().push(p.clone());
    }
    let mut kept = Vec::new();
    for (_, mut v) in by_pos {
        // a deterministic shuffle: keeps a mix of stars and value plays
        v.sort_by_key(|p| (p.id.bytes().fold(seed, |h, b| h.wrapping_mul(31).wrapping_add(b as u64)), p.id.clone()));
        kept.extend(v.into_iter().take(k));
    }
    s.players = kept;
    s
}

/// A valid lineup: total in 1/100,000, tie key, picks (slate index, class).
type Valid = (i64, Vec<(i64, u32, usize, usize)>, BTreeSet<(usize, usize)>);
/// Valid lineups by picks.
type Found = BTreeMap<BTreeSet<(usize, usize)>, (i64, Vec<(i64, u32, usize, usize)>)>;

/// Every valid lineup as (total in 1/100,000, tie key, picks), by brute force from the rules' definitions.
fn enumerate(slate: &Slate, rules: &RuleSet) -> Vec<Valid> {
    let size = rules.slots.len();
    let classes: Vec<(f64, f64)> = {
        let mut v: Vec<(f64, f64)> = Vec::new();
        for s in rules.slots {
            if !v.contains(&(s.points_mult, s.salary_mult)) {
                v.push((s.points_mult, s.salary_mult));
            }
        }
        v
    };
    let class_of: Vec<usize> = rules
        .slots
        .iter()
        .map(|s| classes.iter().position(|&c| c == (s.points_mult, s.salary_mult)).unwrap())
        .collect();
    let pts = |p: &Player| (p.points() * 10_000.0).round() as i64;
    let salary = |p: &Player, s: usize| {
        let m = rules.slots[s].salary_mult;
        if m == 1.0 {
            p.salary
        } else {
            p.captain.as_ref().map(|c| c.salary).unwrap_or((p.salary as f64 * m).round() as u32)
        }
    };
    let mut out: Found = BTreeMap::new();
    let mut chosen: Vec<usize> = Vec::new();
    #[allow(clippy::too_many_arguments)] // a recursive enumeration's context
    fn rec(
        s: usize,
        cost: u32,
        chosen: &mut Vec<usize>,
        ctx: &dyn Fn(&[usize]) -> Option<Valid>,
        slate: &Slate,
        rules: &RuleSet,
        salary: &dyn Fn(&Player, usize) -> u32,
        out: &mut Found,
    ) {
        if s == rules.slots.len() {
            if let Some((t, key, picks)) = ctx(chosen) {
                out.insert(picks, (t, key));
            }
            return;
        }
        // identical slots take players in rising order: the same set is not enumerated in every order
        let from = if s > 0 && rules.slots[s - 1].name == rules.slots[s].name { chosen[s - 1] + 1 } else { 0 };
        for (i, p) in slate.players.iter().enumerate().skip(from) {
            if chosen.contains(&i) || !p.eligible.iter().any(|e| e == rules.slots[s].name) {
                continue;
            }
            let c = cost + salary(p, s);
            if c > rules.salary_cap {
                continue;
            }
            chosen.push(i);
            rec(s + 1, c, chosen, ctx, slate, rules, salary, out);
            chosen.pop();
        }
    }
    let check = |chosen: &[usize]| {
        let ps: Vec<&Player> = chosen.iter().map(|&i| &slate.players[i]).collect();
        let mut team: BTreeMap<&str, usize> = BTreeMap::new();
        let mut hitters: BTreeMap<&str, usize> = BTreeMap::new();
        let mut teams = BTreeSet::new();
        let mut games = BTreeSet::new();
        for p in &ps {
            *team.entry(&p.team).or_default() += 1;
            if !rules.is_pitcher(&p.positions) {
                *hitters.entry(&p.team).or_default() += 1;
            }
            if rules.min_teams_positions.is_empty()
                || p.positions.iter().any(|x| rules.min_teams_positions.contains(&x.as_str()))
            {
                teams.insert(&p.team);
            }
            games.insert(&p.game);
        }
        if team.values().any(|&n| n > rules.max_per_team.map(|m| m as usize).unwrap_or(size))
            || hitters.values().any(|&n| n > rules.max_hitters_per_team.map(|m| m as usize).unwrap_or(size))
            || teams.len() < rules.min_teams as usize
            || games.len() < rules.min_games as usize
        {
            return None;
        }
        let total: i64 = chosen
            .iter()
            .enumerate()
            .map(|(s, &i)| pts(&slate.players[i]) * (rules.slots[s].points_mult * 10.0).round() as i64)
            .sum();
        let picks: BTreeSet<(usize, usize)> = chosen.iter().enumerate().map(|(s, &i)| (i, class_of[s])).collect();
        // the documented tie-break: picks by (points desc, salary asc, slate order, class), ascending
        let mut key: Vec<(i64, u32, usize, usize)> = chosen
            .iter()
            .enumerate()
            .map(|(s, &i)| (-pts(&slate.players[i]), slate.players[i].salary, i, class_of[s]))
            .collect();
        key.sort();
        Some((total, key, picks))
    };
    rec(0, 0, &mut chosen, &check, slate, rules, &salary, &mut out);
    let mut v: Vec<_> = out.into_iter().map(|(picks, (t, key))| (t, key, picks)).collect();
    v.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    v
}

/// The sequential definition over a full enumeration: each next lineup is the first (best) one that differs
/// from every earlier in at least `min_unique` picks and holds no player at his exposure cap.
fn sequential(all: &[Valid], size: usize, count: usize, min_unique: usize, max_exposure: Option<f64>) -> Vec<i64> {
    let mut taken: Vec<&BTreeSet<(usize, usize)>> = Vec::new();
    let mut used: BTreeMap<usize, usize> = BTreeMap::new();
    let mut out = Vec::new();
    for (t, _, picks) in all {
        if out.len() == count {
            break;
        }
        let capped =
            |i: usize| max_exposure.is_some_and(|m| m <= used.get(&i).copied().unwrap_or(0) as f64 / count as f64);
        if picks.iter().any(|&(i, _)| capped(i)) {
            continue;
        }
        if taken.iter().any(|e| size - e.intersection(picks).count() < min_unique) {
            continue;
        }
        for &(i, _) in picks {
            *used.entry(i).or_default() += 1;
        }
        taken.push(picks);
        out.push(*t);
    }
    out
}

fn totals_scaled(set: &dfs_mcp::optimize::LineupSet) -> Vec<i64> {
    set.lineups.iter().map(|l| (l.projection * 100_000.0).round() as i64).collect()
}

#[test]
fn lineups_equal_exhaustive_enumeration_on_small_pools() {
    let mut checked = 0;
    for (site, sport, contest) in combos() {
        for seed in 1..=2u64 {
            let (full, r) = slate(site, sport, contest, seed, 2);
            let k = match (contest, r.slots.len()) {
                (ContestType::Showdown, _) => 3,
                _ => 3,
            };
            let s = small(&full, k, seed);
            let all = enumerate(&s, r);
            if all.is_empty() {
                continue;
            }
            let size = r.slots.len();
            for (count, min_unique, max_exposure) in
                [(1usize, 1usize, None), (8, 1, None), (6, 2, None), (6, 1, Some(50.0))]
            {
                let want = sequential(&all, size, count, min_unique, max_exposure.map(|m| m / 100.0));
                let q = OptimizeRequest {
                    min_unique: Some(min_unique as u8),
                    exposure: Exposure { max: max_exposure, ..Default::default() },
                    ..req(&s, count)
                };
                let what = format!("{site:?} {sport:?} {contest:?} seed {seed} count {count} unique {min_unique} exposure {max_exposure:?}");
                match optimize(&s, r, &q) {
                    Ok(set) => {
                        validate(&s, r, &q, &set).unwrap_or_else(|e| panic!("{what}: {e}"));
                        assert_eq!(totals_scaled(&set), want, "{what}");
                    }
                    Err(e) => assert!(want.len() < count, "{what}: {e} but enumeration finds {} lineups", want.len()),
                }
                checked += 1;
            }
        }
    }
    assert!(checked > 60, "only {checked} cases had lineups");
}

// ---------------------------------------------------------------- a MILP on medium slates

/// The best lineup by a MILP (microlp): x[i][s] = player i in slot s, with the rules, earlier lineups
/// (at most size - min_unique shared picks) and a QB stack as linear constraints.
#[allow(clippy::needless_range_loop)] // x is indexed by player and slot together
fn milp_best(
    slate: &Slate,
    r: &RuleSet,
    earlier: &[BTreeSet<(String, usize)>],
    min_unique: usize,
    stack: bool,
) -> Option<f64> {
    use microlp::{ComparisonOp, OptimizationDirection, Problem, Variable};
    let mut lp = Problem::new(OptimizationDirection::Maximize);
    let size = r.slots.len();
    let players: Vec<&Player> = slate.players.iter().filter(|p| !p.is_out()).collect();
    let mut x: Vec<Vec<Option<Variable>>> = vec![vec![None; size]; players.len()];
    let mut cost: Vec<(Variable, f64)> = Vec::new();
    let class = |s: usize| if r.slots[s].salary_mult != 1.0 || r.slots[s].points_mult != 1.0 { 1 } else { 0 };
    for (i, p) in players.iter().enumerate() {
        for s in 0..size {
            if p.eligible.iter().any(|e| e == r.slots[s].name) {
                let v = lp.add_binary_var(p.points() * r.slots[s].points_mult);
                x[i][s] = Some(v);
                let sal = if r.slots[s].salary_mult != 1.0 {
                    p.captain.as_ref().map(|c| c.salary).unwrap_or(p.salary)
                } else {
                    p.salary
                };
                cost.push((v, sal as f64));
            }
        }
    }
    for s in 0..size {
        let terms: Vec<(Variable, f64)> = (0..players.len()).filter_map(|i| x[i][s].map(|v| (v, 1.0))).collect();
        lp.add_constraint(terms, ComparisonOp::Eq, 1.0);
    }
    for row in &x {
        let terms: Vec<(Variable, f64)> = row.iter().flatten().map(|&v| (v, 1.0)).collect();
        if terms.len() > 1 {
            lp.add_constraint(terms, ComparisonOp::Le, 1.0);
        }
    }
    lp.add_constraint(cost, ComparisonOp::Le, r.salary_cap as f64);
    let teams: BTreeSet<&str> = players.iter().map(|p| p.team.as_str()).collect();
    let games: BTreeSet<&str> = players.iter().map(|p| p.game.as_str()).collect();
    let on = |f: &dyn Fn(&Player) -> bool| -> Vec<(Variable, f64)> {
        players
            .iter()
            .enumerate()
            .filter(|(_, p)| f(p))
            .flat_map(|(i, _)| x[i].iter().flatten().map(|&v| (v, 1.0)))
            .collect()
    };
    let mut team_used = Vec::new();
    for t in &teams {
        let terms = on(&|p| p.team == *t);
        if let Some(m) = r.max_per_team {
            lp.add_constraint(terms.clone(), ComparisonOp::Le, m as f64);
        }
        let y = lp.add_binary_var(0.0);
        let mut c = terms.clone();
        c.push((y, -1.0));
        lp.add_constraint(c, ComparisonOp::Ge, 0.0); // y <= players of t
        team_used.push((y, 1.0));
    }
    lp.add_constraint(team_used, ComparisonOp::Ge, r.min_teams as f64);
    let mut game_used = Vec::new();
    for g in &games {
        let y = lp.add_binary_var(0.0);
        let mut c = on(&|p| p.game == *g);
        c.push((y, -1.0));
        lp.add_constraint(c, ComparisonOp::Ge, 0.0);
        game_used.push((y, 1.0));
    }
    lp.add_constraint(game_used, ComparisonOp::Ge, r.min_games.min(games.len() as u8) as f64);
    for e in earlier {
        let mut terms = Vec::new();
        for (i, p) in players.iter().enumerate() {
            for s in 0..size {
                if let Some(v) = x[i][s] {
                    if e.contains(&(p.id.clone(), class(s))) {
                        terms.push((v, 1.0));
                    }
                }
            }
        }
        lp.add_constraint(terms, ComparisonOp::Le, (size - min_unique) as f64);
    }
    if stack {
        let mut any = Vec::new();
        for t in &teams {
            let z = lp.add_binary_var(0.0);
            let mut qb = on(&|p| p.team == *t && p.positions.iter().any(|x| x == "QB"));
            qb.push((z, -1.0));
            lp.add_constraint(qb, ComparisonOp::Ge, 0.0);
            let mut rc = on(&|p| p.team == *t && p.positions.iter().any(|x| x == "WR" || x == "TE"));
            rc.push((z, -1.0));
            lp.add_constraint(rc, ComparisonOp::Ge, 0.0);
            any.push((z, 1.0));
        }
        lp.add_constraint(any, ComparisonOp::Ge, 1.0);
    }
    let solution = lp.solve().ok()?.into_solution().ok()?;
    Some(solution.objective())
}

#[test]
fn sequences_equal_a_milp_on_medium_slates() {
    let cases: [(Sport, ContestType, usize, usize, bool); 4] = [
        (Sport::Nfl, ContestType::Classic, 3, 1, false),
        (Sport::Nfl, ContestType::Classic, 3, 3, true),
        (Sport::Nba, ContestType::Classic, 2, 2, false),
        (Sport::Nfl, ContestType::Showdown, 3, 2, false),
    ];
    for (sport, contest, count, min_unique, stack) in cases {
        let (s, r) = slate(Site::DraftKings, sport, contest, 5, 2);
        let q = OptimizeRequest {
            min_unique: Some(min_unique as u8),
            stacks: if stack { vec![qb_stack(1)] } else { vec![] },
            ..req(&s, count)
        };
        let set = optimize(&s, r, &q).unwrap();
        validate(&s, r, &q, &set).unwrap();
        // the MILP follows the same sequence: each lineup's total must equal the MILP optimum given the earlier
        // lineups (ties may pick another lineup of the same total; the totals agree)
        let mut earlier: Vec<BTreeSet<(String, usize)>> = Vec::new();
        for l in &set.lineups {
            let best = milp_best(&s, r, &earlier, min_unique, stack).expect("the MILP solves");
            assert!(
                (best - l.projection).abs() < 1e-4,
                "{sport:?} {contest:?}: lineup {} MILP {best} ours {}",
                earlier.len() + 1,
                l.projection
            );
            let class = |slot: &str| usize::from(slot == "CPT" || slot == "MVP");
            earlier.push(l.players.iter().map(|p| (p.player_id.clone(), class(&p.slot))).collect());
        }
    }
}

// ---------------------------------------------------------------- infeasibility names the constraint

fn err(s: &Slate, r: &RuleSet, q: &OptimizeRequest) -> String {
    match optimize(s, r, q) {
        Ok(_) => panic!("expected an error"),
        Err(OptimizeError::Invalid(m)) => format!("invalid: {m}"),
        Err(OptimizeError::Infeasible(m)) => format!("infeasible: {m}"),
    }
}

fn nfl() -> (Slate, &'static RuleSet) {
    slate(Site::DraftKings, Sport::Nfl, ContestType::Classic, 3, 4)
}

#[test]
fn unknown_lock_is_named() {
    let (s, r) = nfl();
    let e = err(&s, r, &OptimizeRequest { locks: vec!["12345".into()], ..req(&s, 1) });
    assert_eq!(e, format!("invalid: lock 12345: not on slate {}", s.id));
}

#[test]
fn locks_over_the_cap_are_named_with_their_cost() {
    let (s, r) = nfl();
    let mut dear: Vec<&Player> = s.players.iter().filter(|p| !p.is_out() && p.positions[0] != "DST").collect();
    dear.sort_by_key(|p| std::cmp::Reverse(p.salary));
    let mut locks = Vec::new();
    let mut cost = 0;
    let mut per_pos: BTreeMap<&str, usize> = BTreeMap::new();
    for p in dear {
        let cap = match p.positions[0].as_str() {
            "QB" | "TE" => 1,
            "RB" => 2,
            _ => 3,
        };
        if per_pos.get(p.positions[0].as_str()).copied().unwrap_or(0) < cap && cost <= r.salary_cap {
            *per_pos.entry(&p.positions[0]).or_default() += 1;
            locks.push(p.id.clone());
            cost += p.salary;
        }
    }
    assert!(cost > r.salary_cap);
    let e = err(&s, r, &OptimizeRequest { locks, ..req(&s, 1) });
    let money = |x: u32| format!("{},{:03}", x / 1000, x % 1000);
    assert_eq!(e, format!("infeasible: locks cost {} > cap 50,000", money(cost)));
}

#[test]
fn impossible_stack_is_named() {
    let (s, r) = nfl();
    let team = s.games[0].away.clone();
    let receivers: Vec<String> = s
        .players
        .iter()
        .filter(|p| p.team == team && (p.positions[0] == "WR" || p.positions[0] == "TE"))
        .map(|p| p.id.clone())
        .collect();
    let q = OptimizeRequest {
        stacks: vec![Stack::Qb {
            receivers: 1,
            positions: vec![],
            bring_back: 0,
            bring_back_positions: vec![],
            teams: vec![team.clone()],
        }],
        excludes: receivers,
        ..req(&s, 1)
    };
    let e = err(&s, r, &q);
    assert!(e.starts_with("infeasible: stack 1 (qb: QB + 1 WR/TE): no team"), "{e}");
}

#[test]
fn empty_slot_is_named() {
    let (s, r) = nfl();
    let dst: Vec<String> = s.players.iter().filter(|p| p.positions[0] == "DST").map(|p| p.id.clone()).collect();
    let e = err(&s, r, &OptimizeRequest { excludes: dst, ..req(&s, 1) });
    assert!(e.starts_with("infeasible: slot DST: no player left"), "{e}");
}

#[test]
fn unreachable_min_salary_is_named() {
    let (full, r) = nfl();
    let s = small(&full, 3, 1);
    let most = enumerate(&s, r).len();
    assert!(most > 0);
    let e = err(&s, r, &OptimizeRequest { min_salary: Some(r.salary_cap), ..req(&s, 1) });
    assert!(e.starts_with("infeasible: min_salary 50,000: no lineup costs between"), "{e}");
}

#[test]
fn min_unique_that_runs_dry_is_named() {
    let (full, r) = nfl();
    let s = small(&full, 3, 1);
    let e = err(&s, r, &OptimizeRequest { min_unique: Some(5), ..req(&s, 50) });
    assert!(e.starts_with("infeasible: lineup ") && e.contains("min_unique 5"), "{e}");
}

#[test]
fn conflicting_min_exposures_are_named() {
    let (s, r) = nfl();
    let qbs: Vec<&Player> = s.players.iter().filter(|p| p.positions[0] == "QB" && !p.is_out()).take(2).collect();
    let mut players = BTreeMap::new();
    for p in &qbs {
        players.insert(p.id.clone(), ExposureLimit { min: Some(80.0), max: None });
    }
    let q = OptimizeRequest { exposure: Exposure { max: None, players }, ..req(&s, 10) };
    let e = err(&s, r, &q);
    assert!(e.starts_with("infeasible: exposure min 80% of") && e.contains("cannot both hold"), "{e}");
}

#[test]
fn too_many_lineups_for_the_upload_file_is_refused() {
    let (s, r) = slate(Site::FanDuel, Sport::Nfl, ContestType::Classic, 1, 3);
    let e = err(&s, r, &req(&s, 251));
    assert!(e.contains("at most 250 lineups"), "{e}");
}

// ---------------------------------------------------------------- features

#[test]
fn randomness_is_reproducible_and_seeded() {
    let (s, r) = nfl();
    let q = |seed| OptimizeRequest { randomness: Some(Randomness { seed, fraction: None }), ..req(&s, 10) };
    let a = optimize(&s, r, &q(7)).unwrap();
    let b = optimize(&s, r, &q(7)).unwrap();
    let c = optimize(&s, r, &q(8)).unwrap();
    validate(&s, r, &q(7), &a).unwrap();
    assert_eq!(a, b);
    assert_ne!(a.csv, c.csv);
}

#[test]
fn captain_lock_puts_the_player_in_the_captain_slot() {
    let (s, r) = slate(Site::DraftKings, Sport::Nfl, ContestType::Showdown, 4, 1);
    let p = s.players.iter().find(|p| p.positions[0] == "WR" && !p.is_out()).unwrap();
    let cpt = p.captain.as_ref().unwrap().id.clone();
    let q = OptimizeRequest { locks: vec![cpt.clone()], ..req(&s, 5) };
    let set = optimize(&s, r, &q).unwrap();
    validate(&s, r, &q, &set).unwrap();
    for l in &set.lineups {
        assert_eq!(l.players[0].id, cpt);
        assert_eq!(l.players[0].slot, "CPT");
        assert!(!l.players[1..].iter().any(|x| x.player_id == p.id));
    }
    assert!(set.csv.starts_with("CPT,FLEX,FLEX,FLEX,FLEX,FLEX,,Instructions\n"));
}

#[test]
fn stacks_of_every_kind_hold() {
    let (s, r) = nfl();
    for stack in [
        Stack::Qb { receivers: 2, positions: vec![], bring_back: 1, bring_back_positions: vec![], teams: vec![] },
        Stack::Game { count: 5, min_per_team: 2, games: vec![] },
        Stack::Team { count: 3, positions: vec![], teams: vec![] },
    ] {
        let q = OptimizeRequest { stacks: vec![stack], min_unique: Some(2), ..req(&s, 10) };
        let set = optimize(&s, r, &q).unwrap();
        validate(&s, r, &q, &set).unwrap();
    }
    let (h, hr) = slate(Site::DraftKings, Sport::Nhl, ContestType::Classic, 2, 3);
    let q = OptimizeRequest { stacks: vec![Stack::Line { count: 3, lines: vec![] }], ..req(&h, 5) };
    validate(&h, hr, &q, &optimize(&h, hr, &q).unwrap()).unwrap();
    let (m, mr) = slate(Site::DraftKings, Sport::Mlb, ContestType::Classic, 2, 3);
    let q = OptimizeRequest { stacks: vec![Stack::Team { count: 5, positions: vec![], teams: vec![] }], ..req(&m, 5) };
    validate(&m, mr, &q, &optimize(&m, mr, &q).unwrap()).unwrap();
}

#[test]
fn locks_excludes_team_limits_and_min_exposure_hold() {
    let (s, r) = nfl();
    let base = optimize(&s, r, &req(&s, 1)).unwrap();
    let top = &base.lineups[0].players;
    let lock = top.iter().find(|p| p.slot == "WR").unwrap().player_id.clone();
    let exclude = top.iter().find(|p| p.slot == "QB").unwrap().player_id.clone();
    let team = top[1].team.clone();
    let other = s.players.iter().find(|p| p.positions[0] == "RB" && !p.is_out() && p.id != top[1].player_id).unwrap();
    let mut players = BTreeMap::new();
    players.insert(other.id.clone(), ExposureLimit { min: Some(40.0), max: None });
    let q = OptimizeRequest {
        locks: vec![lock],
        excludes: vec![exclude],
        team_limits: [(team, 1u8)].into_iter().collect(),
        max_per_team: Some(3),
        min_salary: Some(49_000),
        exposure: Exposure { max: Some(70.0), players },
        min_unique: Some(2),
        ..req(&s, 10)
    };
    let set = optimize(&s, r, &q).unwrap();
    validate(&s, r, &q, &set).unwrap();
}

// ---------------------------------------------------------------- every feature on full main slates

/// A full main slate (the generator's default size: DK NFL about 500 players over 13-14 games).
fn main_slate(site: Site, sport: Sport, contest: ContestType) -> (Slate, &'static RuleSet) {
    (generate::slate(site, sport, contest, 2026), rules::lookup(site, sport, contest).unwrap())
}

/// Optimizes, checks the set with the independent validator, and returns it.
#[track_caller]
fn valid_set(s: &Slate, r: &RuleSet, q: &OptimizeRequest) -> dfs_mcp::optimize::LineupSet {
    let set = optimize(s, r, q).unwrap_or_else(|e| panic!("{}: {e}", s.id));
    validate(s, r, q, &set).unwrap_or_else(|e| panic!("{}: {e}", s.id));
    set
}

fn playing<'a>(s: &'a Slate, pos: &str) -> Vec<&'a Player> {
    let mut v: Vec<&Player> =
        s.players.iter().filter(|p| !p.is_out() && p.points() > 0.0 && p.positions.iter().any(|x| x == pos)).collect();
    v.sort_by(|a, b| b.points().total_cmp(&a.points()).then(a.id.cmp(&b.id)));
    v
}

// Ignored: on the 510-player slate this takes minutes (more than 60 s even without min_salary and min_unique,
// measured in the test profile on a loaded machine): lock + exclude + max_per_team 2 is a slow combination for the
// search, an open performance problem. Run it with `--ignored`.
#[test]
#[ignore = "minutes on a full slate: an open performance problem of the search"]
fn locks_excludes_team_limits_on_a_full_nfl_slate() {
    let (s, r) = main_slate(Site::DraftKings, Sport::Nfl, ContestType::Classic);
    assert!(s.players.len() > 400, "a main slate");
    let best = valid_set(&s, r, &req(&s, 1));
    let top = &best.lineups[0].players;
    let qb = top.iter().find(|p| p.slot == "QB").unwrap().player_id.clone();
    // lock a receiver the optimum leaves out, exclude the optimum's quarterback
    let wr = playing(&s, "WR").into_iter().find(|p| !top.iter().any(|t| t.player_id == p.id)).unwrap().id.clone();
    let q =
        OptimizeRequest { locks: vec![wr.clone()], excludes: vec![qb.clone()], max_per_team: Some(2), ..req(&s, 10) };
    let set = valid_set(&s, r, &q);
    for l in &set.lineups {
        assert!(l.players.iter().any(|p| p.player_id == wr) && !l.players.iter().any(|p| p.player_id == qb));
    }
    assert!(set.lineups[0].projection < best.lineups[0].projection, "the rules cost points");
}

#[test]
fn nfl_stacks_with_bring_backs_game_stacks_and_exposure_on_a_full_slate() {
    let (s, r) = main_slate(Site::DraftKings, Sport::Nfl, ContestType::Classic);
    let qb2 = Stack::Qb { receivers: 2, positions: vec![], bring_back: 1, bring_back_positions: vec![], teams: vec![] };
    let q = OptimizeRequest { stacks: vec![qb2], min_unique: Some(2), ..req(&s, 20) };
    valid_set(&s, r, &q);
    let q = OptimizeRequest { stacks: vec![Stack::Game { count: 5, min_per_team: 2, games: vec![] }], ..req(&s, 10) };
    valid_set(&s, r, &q);
    // a cap for everyone and a floor for one player the optimum would not pick
    let best = valid_set(&s, r, &req(&s, 1));
    let rb = playing(&s, "RB")
        .into_iter()
        .find(|p| !best.lineups[0].players.iter().any(|t| t.player_id == p.id))
        .unwrap()
        .id
        .clone();
    let players = [(rb.clone(), ExposureLimit { min: Some(30.0), max: None })].into_iter().collect();
    let q = OptimizeRequest { exposure: Exposure { max: Some(40.0), players }, ..req(&s, 20) };
    let set = valid_set(&s, r, &q);
    let with = set.lineups.iter().filter(|l| l.players.iter().any(|p| p.player_id == rb)).count();
    assert!(with >= 6, "30 % of 20 lineups: {with}");
}

#[test]
fn team_line_and_game_stacks_on_full_mlb_nhl_and_nba_slates() {
    let (m, mr) = main_slate(Site::DraftKings, Sport::Mlb, ContestType::Classic);
    let q = OptimizeRequest {
        stacks: vec![Stack::Team { count: 5, positions: vec![], teams: vec![] }],
        min_unique: Some(2),
        ..req(&m, 10)
    };
    valid_set(&m, mr, &q);
    let (h, hr) = main_slate(Site::DraftKings, Sport::Nhl, ContestType::Classic);
    let q = OptimizeRequest { stacks: vec![Stack::Line { count: 3, lines: vec![] }], ..req(&h, 10) };
    valid_set(&h, hr, &q);
    let (b, br) = main_slate(Site::DraftKings, Sport::Nba, ContestType::Classic);
    let q = OptimizeRequest {
        stacks: vec![Stack::Game { count: 4, min_per_team: 2, games: vec![] }],
        max_per_team: Some(3),
        ..req(&b, 10)
    };
    valid_set(&b, br, &q);
}

#[test]
fn captains_count_one_and_a_half_times_on_single_game_slates() {
    for site in Site::ALL {
        let (s, r) = main_slate(site, Sport::Nfl, ContestType::Showdown);
        let set = valid_set(&s, r, &req(&s, 10));
        for l in &set.lineups {
            let c = &l.players[0];
            let p = s.players.iter().find(|p| p.id == c.player_id).unwrap();
            assert!(c.slot == "CPT" || c.slot == "MVP", "{}", c.slot);
            assert!((c.projection - 1.5 * p.points()).abs() < 1e-3, "{site:?}: {} for {}", c.projection, p.points());
            if site == Site::DraftKings {
                assert_eq!(c.salary * 2, p.salary * 3, "DraftKings charges 1.5× for the captain");
            }
        }
    }
}

#[test]
fn randomness_is_seeded_on_a_full_slate() {
    let (s, r) = main_slate(Site::DraftKings, Sport::Nba, ContestType::Classic);
    let q = |seed| OptimizeRequest { randomness: Some(Randomness { seed, fraction: None }), ..req(&s, 10) };
    let a = valid_set(&s, r, &q(3));
    assert_eq!(a, valid_set(&s, r, &q(3)));
    assert_ne!(a.csv, valid_set(&s, r, &q(4)).csv);
    let plain = valid_set(&s, r, &req(&s, 10));
    assert_ne!(a.csv, plain.csv, "perturbed projections pick other lineups");
}

#[test]
fn infeasible_requests_on_a_full_slate_name_the_constraint() {
    let (s, r) = main_slate(Site::DraftKings, Sport::Nfl, ContestType::Classic);
    let dst: Vec<String> = s.players.iter().filter(|p| p.positions[0] == "DST").map(|p| p.id.clone()).collect();
    let e = err(&s, r, &OptimizeRequest { excludes: dst, ..req(&s, 1) });
    assert!(e.starts_with("infeasible: slot DST: no player left"), "{e}");
    let team = s.games[0].home.clone();
    let catchers: Vec<String> = s
        .players
        .iter()
        .filter(|p| p.team == team && (p.positions[0] == "WR" || p.positions[0] == "TE"))
        .map(|p| p.id.clone())
        .collect();
    let stack =
        Stack::Qb { receivers: 1, positions: vec![], bring_back: 0, bring_back_positions: vec![], teams: vec![team] };
    let e = err(&s, r, &OptimizeRequest { stacks: vec![stack], excludes: catchers, ..req(&s, 1) });
    assert!(e.starts_with("infeasible: stack 1 (qb: QB + 1 WR/TE)"), "{e}");
    let (sd, sr) = main_slate(Site::DraftKings, Sport::Nfl, ContestType::Showdown);
    let e = err(&sd, sr, &OptimizeRequest { max_per_team: Some(2), ..req(&sd, 1) });
    assert!(e.contains("max_per_team"), "two teams of at most 2 cannot fill six slots: {e}");
}
