use std::collections::{BTreeMap, BTreeSet};

use super::*;

fn all() -> Vec<(Site, Sport, ContestType)> {
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

#[test]
fn same_seed_same_bytes_other_seed_other_slate() {
    for (site, sport, contest) in all() {
        let a = serde_json::to_string(&slate(site, sport, contest, 7)).unwrap();
        let b = serde_json::to_string(&slate(site, sport, contest, 7)).unwrap();
        let c = serde_json::to_string(&slate(site, sport, contest, 8)).unwrap();
        assert_eq!(a, b, "{site:?} {sport:?} {contest:?}");
        assert_ne!(a, c, "{site:?} {sport:?} {contest:?}");
    }
}

#[test]
fn dk_nfl_main_slate_has_about_500_players_over_13_or_14_games() {
    for seed in 0..5 {
        let s = slate(Site::DraftKings, Sport::Nfl, ContestType::Classic, seed);
        assert!((13..=14).contains(&s.games.len()), "{} games", s.games.len());
        assert!((440..=560).contains(&s.players.len()), "{} players", s.players.len());
        // per team: 2-3 QB, 4-5 RB, 6-7 WR, 3-4 TE, 1 DST, no K on DraftKings classic
        let mut by_team: BTreeMap<&str, BTreeMap<&str, usize>> = BTreeMap::new();
        for p in &s.players {
            *by_team.entry(&p.team).or_default().entry(&p.positions[0]).or_default() += 1;
        }
        assert_eq!(by_team.len(), 2 * s.games.len());
        for counts in by_team.values() {
            assert!((2..=3).contains(&counts["QB"]) && (4..=5).contains(&counts["RB"]));
            assert!((6..=7).contains(&counts["WR"]) && (3..=4).contains(&counts["TE"]));
            assert_eq!(counts["DST"], 1);
            assert!(!counts.contains_key("K"));
        }
    }
}

#[test]
fn every_slate_is_well_formed() {
    for (site, sport, contest) in all() {
        for seed in [1, 2, 3] {
            let s = slate(site, sport, contest, seed);
            let rules = rules::lookup(site, sport, contest).unwrap();
            let what = format!("{site:?} {sport:?} {contest:?} seed {seed}");
            if contest == ContestType::Showdown {
                assert_eq!(s.games.len(), 1, "{what}");
            }
            let game_ids: BTreeSet<&str> = s.games.iter().map(|g| g.id.as_str()).collect();
            assert_eq!(game_ids.len(), s.games.len(), "{what}: game ids unique");
            for g in &s.games {
                assert_eq!(g.id, format!("{}@{}", g.away, g.home));
                assert!((2..=4).contains(&g.away.len()) && g.away.chars().all(|c| c.is_ascii_uppercase()));
                assert!(g.start.is_some());
            }
            let mut ids = BTreeSet::new();
            let mut ownership = 0.0;
            for p in &s.players {
                assert!(ids.insert(p.id.clone()), "{what}: duplicate id {}", p.id);
                match site {
                    Site::DraftKings => assert!(p.id.len() == 8 && p.id.chars().all(|c| c.is_ascii_digit())),
                    Site::FanDuel => {
                        let (a, b) = p.id.split_once('-').expect("FanDuel id NNNNN-NNNNN");
                        assert!(a.len() == 5 && b.len() == 5 && (a.to_owned() + b).chars().all(|c| c.is_ascii_digit()));
                    }
                }
                assert_eq!(p.salary % 100, 0, "{what}: salary {}", p.salary);
                assert!(p.salary >= 1_000 && p.salary <= rules.salary_cap / 3, "{what}: salary {}", p.salary);
                assert_eq!(p.eligible, rules.eligible_for(&p.positions), "{what}: {}", p.id);
                assert!(!p.eligible.is_empty());
                assert!(game_ids.contains(p.game.as_str()));
                let game = s.games.iter().find(|g| g.id == p.game).unwrap();
                assert!(
                    (p.team == game.away && p.opponent == game.home)
                        || (p.team == game.home && p.opponent == game.away)
                );
                let proj = p.projection.unwrap();
                assert!(proj >= 0.0 && (proj * 100.0 - (proj * 100.0).round()).abs() < 1e-6);
                ownership += p.ownership.unwrap();
                let dk_showdown = site == Site::DraftKings && contest == ContestType::Showdown;
                match &p.captain {
                    Some(c) => {
                        assert!(dk_showdown);
                        assert_eq!(c.salary * 2, p.salary * 3);
                        assert!(ids.insert(c.id.clone()), "{what}: captain id {} reused", c.id);
                    }
                    None => assert!(!dk_showdown),
                }
            }
            let size = rules.lineup_size() as f64;
            assert!((ownership - 100.0 * size).abs() < 0.05 * 100.0 * size, "{what}: ownership sums to {ownership}");
        }
    }
}

#[test]
fn draftkings_eligibility_reads_like_roster_position() {
    let nfl = slate(Site::DraftKings, Sport::Nfl, ContestType::Classic, 3);
    let rp: BTreeSet<String> = nfl.players.iter().map(|p| p.eligible.join("/")).collect();
    assert_eq!(rp, ["DST", "QB", "RB/FLEX", "TE/FLEX", "WR/FLEX"].iter().map(|s| s.to_string()).collect());
    let nba = slate(Site::DraftKings, Sport::Nba, ContestType::Classic, 3);
    let rp: BTreeSet<String> = nba.players.iter().map(|p| p.eligible.join("/")).collect();
    assert!(rp.contains("PG/SG/G/UTIL") && rp.contains("SF/PF/F/UTIL") && rp.contains("C/UTIL"), "{rp:?}");
    let sd = slate(Site::DraftKings, Sport::Nfl, ContestType::Showdown, 3);
    assert!(sd.players.iter().all(|p| p.eligible == ["CPT", "FLEX"]));
    assert!(sd.players.iter().any(|p| p.positions == ["K"]), "DraftKings showdown lists kickers");
    let mlb = slate(Site::DraftKings, Sport::Mlb, ContestType::Classic, 3);
    assert!(mlb.players.iter().any(|p| p.positions.len() == 2), "some hitters qualify at two positions");
    assert!(mlb.players.iter().filter(|p| p.batting_order.is_some()).count() >= 9 * 2 * mlb.games.len());
    let nhl = slate(Site::DraftKings, Sport::Nhl, ContestType::Classic, 3);
    let lines: BTreeSet<&str> = nhl.players.iter().filter_map(|p| p.line.as_deref()).collect();
    assert_eq!(lines, ["D1", "D2", "D3", "L1", "L2", "L3", "L4"].into_iter().collect());
}

#[test]
fn projections_follow_salary_and_value_plays_are_owned() {
    let s = slate(Site::DraftKings, Sport::Nba, ContestType::Classic, 11);
    let playing: Vec<_> = s.players.iter().filter(|p| p.points() > 0.0).collect();
    let (xs, ys): (Vec<f64>, Vec<f64>) = playing.iter().map(|p| (p.salary as f64, p.points())).unzip();
    assert!(correlation(&xs, &ys) > 0.7, "salary-projection correlation {}", correlation(&xs, &ys));
    let mut by_value = playing.clone();
    by_value.sort_by(|a, b| (b.points() / b.salary as f64).total_cmp(&(a.points() / a.salary as f64)));
    let top: f64 = by_value[..10].iter().map(|p| p.ownership.unwrap()).sum();
    let bottom: f64 = by_value[by_value.len() - 10..].iter().map(|p| p.ownership.unwrap()).sum();
    assert!(top > 5.0 * bottom, "value plays owned {top} against {bottom}");
}

fn correlation(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len() as f64;
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let cov: f64 = x.iter().zip(y).map(|(a, b)| (a - mx) * (b - my)).sum();
    let vx: f64 = x.iter().map(|a| (a - mx).powi(2)).sum();
    let vy: f64 = y.iter().map(|b| (b - my).powi(2)).sum();
    cov / (vx * vy).sqrt()
}

// ---------------------------------------------------------------- realism: what makes a slate worth optimizing

/// Projected ownership is a share of lineups: every lineup has one player per slot, so a slate's ownership
/// sums to the lineup size × 100 % (a captain counts once, as the sites report ownership per person).
#[test]
fn ownership_sums_to_the_lineup_size_times_100() {
    for (site, sport, contest) in all() {
        for seed in [1, 2026] {
            let s = slate(site, sport, contest, seed);
            let size = rules::lookup(site, sport, contest).unwrap().lineup_size() as f64;
            let total: f64 = s.players.iter().map(|p| p.ownership.unwrap()).sum();
            assert!((total - 100.0 * size).abs() <= 0.01 * 100.0 * size, "{site:?} {sport:?} {contest:?}: {total}");
            assert!(s.players.iter().all(|p| (0.0..=95.0).contains(&p.ownership.unwrap())));
            let out: f64 = s.players.iter().filter(|p| p.points() <= 0.0).map(|p| p.ownership.unwrap()).sum();
            assert_eq!(out, 0.0, "{site:?} {sport:?} {contest:?}: nobody picks a player projected at zero");
        }
    }
}

/// A single game lists both teams' whole rosters (as the sites do), not a handful of starters.
#[test]
fn single_game_slates_list_both_teams_full_rosters() {
    for site in Site::ALL {
        for sport in Sport::ALL {
            for seed in [1, 2, 2026] {
                let s = slate(site, sport, ContestType::Showdown, seed);
                let what = format!("{site:?} {sport:?} seed {seed}");
                let g = &s.games[0];
                for team in [&g.away, &g.home] {
                    let of: Vec<&Player> = s.players.iter().filter(|p| &p.team == team).collect();
                    let n = |pos: &str| of.iter().filter(|p| p.positions.iter().any(|x| x == pos)).count();
                    match sport {
                        Sport::Nfl => {
                            assert!(n("QB") >= 2 && n("RB") >= 4 && n("WR") >= 6 && n("TE") >= 3, "{what} {team}");
                            if site == Site::DraftKings {
                                assert!(n("K") == 1 && n("DST") == 1, "{what} {team}: kicker and defense");
                            }
                        }
                        Sport::Nba => assert_eq!(of.len(), 13, "{what} {team}"),
                        Sport::Mlb => {
                            let order: BTreeSet<u8> = of.iter().filter_map(|p| p.batting_order).collect();
                            assert_eq!(order, (1..=9).collect(), "{what} {team}: a whole batting order");
                            let pitchers = |pos: &[&str]| {
                                of.iter().filter(|p| p.positions.iter().any(|x| pos.contains(&x.as_str()))).count()
                            };
                            assert!(pitchers(&["SP", "RP", "P"]) >= 5, "{what} {team}: two starters and a bullpen");
                        }
                        Sport::Nhl => {
                            assert!(n("C") + n("W") >= 12 && n("D") == 6 && n("G") == 2, "{what} {team}");
                            let lines: BTreeSet<&str> = of.iter().filter_map(|p| p.line.as_deref()).collect();
                            assert_eq!(lines.len(), 7, "{what} {team}: four lines and three pairs");
                        }
                    }
                    assert!(of.iter().filter(|p| p.points() > 0.0).count() >= 9, "{what} {team}: players who play");
                }
            }
        }
    }
}

/// The cap binds: the optimal lineup spends (nearly) all of it, as on the sites' slates, where the best
/// players of a slate never fit together. Over eight seeds per site, sport and contest type: classic optima
/// leave at most 1 % of the cap, single-game optima (few players, coarse prices) 2 % on average and 6 % at
/// worst.
#[test]
fn the_optimal_lineup_spends_nearly_all_of_the_cap() {
    use crate::optimize::{optimize, OptimizeRequest};
    for (site, sport, contest) in all() {
        let rules = rules::lookup(site, sport, contest).unwrap();
        let used: Vec<f64> = (1..=8u64)
            .map(|seed| {
                let s = slate(site, sport, contest, seed);
                let set = optimize(&s, rules, &OptimizeRequest { slate_id: s.id.clone(), ..Default::default() })
                    .unwrap_or_else(|e| panic!("{site:?} {sport:?} {contest:?} seed {seed}: {e}"));
                set.lineups[0].salary as f64 / rules.salary_cap as f64
            })
            .collect();
        let mean = used.iter().sum::<f64>() / used.len() as f64;
        let least = used.iter().copied().fold(1.0, f64::min);
        let what = format!("{site:?} {sport:?} {contest:?}: share of the cap used {used:?}");
        match contest {
            ContestType::Classic => assert!(least >= 0.99, "{what}"),
            ContestType::Showdown => assert!(mean >= 0.98 && least >= 0.94, "{what}"),
        }
    }
}

/// Salaries and projections per position in the sites' ranges (classic slates): the dearest player of each
/// position costs about what the sites charge their stars, the cheapest the site's floor, and the stars
/// project like stars.
#[test]
fn salaries_and_projections_per_position_look_like_the_sites() {
    // (site, sport, position, (cheapest at most, dearest within), best projection within)
    type Row = (Site, Sport, &'static str, (u32, (u32, u32)), (f64, f64));
    let table: &[Row] = &[
        (Site::DraftKings, Sport::Nfl, "QB", (4_600, (7_400, 8_800)), (18.0, 30.0)),
        (Site::DraftKings, Sport::Nfl, "RB", (4_600, (8_000, 9_800)), (17.0, 30.0)),
        (Site::DraftKings, Sport::Nfl, "WR", (3_600, (8_000, 9_600)), (17.0, 28.0)),
        (Site::DraftKings, Sport::Nfl, "TE", (3_000, (6_000, 8_200)), (12.0, 22.0)),
        (Site::DraftKings, Sport::Nfl, "DST", (2_600, (3_600, 4_600)), (7.0, 14.0)),
        (Site::DraftKings, Sport::Nba, "PG", (3_600, (9_000, 11_800)), (40.0, 70.0)),
        (Site::DraftKings, Sport::Nba, "C", (3_600, (8_000, 11_800)), (35.0, 70.0)),
        (Site::DraftKings, Sport::Mlb, "SP", (6_000, (9_500, 11_800)), (17.0, 28.0)),
        (Site::DraftKings, Sport::Mlb, "OF", (2_600, (5_200, 6_500)), (9.0, 14.0)),
        (Site::DraftKings, Sport::Nhl, "C", (3_000, (7_500, 9_300)), (12.0, 21.0)),
        (Site::DraftKings, Sport::Nhl, "G", (7_500, (8_000, 8_800)), (11.0, 18.0)),
        (Site::FanDuel, Sport::Nfl, "QB", (6_500, (8_400, 9_500)), (18.0, 30.0)),
        (Site::FanDuel, Sport::Nba, "PG", (4_000, (9_500, 12_300)), (40.0, 70.0)),
        (Site::FanDuel, Sport::Mlb, "P", (6_500, (9_500, 11_800)), (35.0, 55.0)),
        (Site::FanDuel, Sport::Nhl, "W", (3_500, (8_000, 9_800)), (17.0, 27.0)),
    ];
    for &(site, sport, pos, (cheap, (dear_lo, dear_hi)), (best_lo, best_hi)) in table {
        for seed in [1, 2026] {
            let s = slate(site, sport, ContestType::Classic, seed);
            let of: Vec<&Player> = s.players.iter().filter(|p| p.positions.iter().any(|x| x == pos)).collect();
            let lo = of.iter().map(|p| p.salary).min().unwrap();
            let hi = of.iter().map(|p| p.salary).max().unwrap();
            let best = of.iter().map(|p| p.points()).fold(0.0, f64::max);
            let what = format!("{site:?} {sport:?} {pos} seed {seed}: salaries {lo}-{hi}, best projection {best}");
            assert!(lo <= cheap && (dear_lo..=dear_hi).contains(&hi), "{what}");
            assert!((best_lo..=best_hi).contains(&best), "{what}");
        }
    }
}
