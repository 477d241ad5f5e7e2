//! An independent check of a lineup set against the slate, the rules and the request: written from the
//! definitions, sharing no code with the search, so tests can trust what it accepts.

use std::collections::{BTreeMap, BTreeSet};

use super::{LineupSet, OptimizeRequest, Stack};
use crate::model::{Player, Slate};
use crate::rules::RuleSet;

/// Ok when every lineup and the set as a whole satisfy the rules and the request; else the first problem.
pub fn validate(slate: &Slate, rules: &RuleSet, request: &OptimizeRequest, set: &LineupSet) -> Result<(), String> {
    let count = request.count.unwrap_or(1);
    if set.lineups.len() != count {
        return Err(format!("{} lineups, {count} asked", set.lineups.len()));
    }
    let size = rules.slots.len();
    let by_id: BTreeMap<&str, &Player> = slate.players.iter().map(|p| (p.id.as_str(), p)).collect();
    let cap = request.max_salary.unwrap_or(rules.salary_cap).min(rules.salary_cap);
    let mut used: BTreeMap<&str, usize> = BTreeMap::new();
    let mut all_picks: Vec<BTreeSet<(String, String)>> = Vec::new();
    for (n, l) in set.lineups.iter().enumerate() {
        let at = |msg: String| format!("lineup {}: {msg}", n + 1);
        if l.players.len() != size {
            return Err(at(format!("{} players for {size} slots", l.players.len())));
        }
        let mut persons = BTreeSet::new();
        let mut salary = 0u32;
        let mut points = 0.0f64;
        let mut picks = BTreeSet::new();
        let mut lineup_players: Vec<&Player> = Vec::new();
        for (s, lp) in l.players.iter().enumerate() {
            let rule = &rules.slots[s];
            if lp.slot != rule.name {
                return Err(at(format!("slot {} holds {}, the rules say {}", s + 1, lp.slot, rule.name)));
            }
            let p =
                by_id.get(lp.player_id.as_str()).ok_or_else(|| at(format!("{} is not on the slate", lp.player_id)))?;
            let eligible = if p.eligible.is_empty() { rules.eligible_for(&p.positions) } else { p.eligible.clone() };
            if !eligible.iter().any(|e| e == rule.name) {
                return Err(at(format!("{} ({:?}) may not fill {}", p.id, p.positions, rule.name)));
            }
            if !persons.insert(p.id.as_str()) {
                return Err(at(format!("{} appears twice", p.id)));
            }
            let boosted = rule.salary_mult != 1.0;
            let (want_id, want_salary) = match (&p.captain, boosted) {
                (Some(c), true) => (c.id.as_str(), c.salary),
                (None, true) => (p.id.as_str(), (p.salary as f64 * rule.salary_mult).round() as u32),
                _ => (p.id.as_str(), p.salary),
            };
            if lp.id != want_id || lp.salary != want_salary {
                return Err(at(format!(
                    "slot {}: id {} salary {}, expected {want_id} {want_salary}",
                    rule.name, lp.id, lp.salary
                )));
            }
            let proj = request.projections.get(&p.id).copied().unwrap_or_else(|| p.points()) * rule.points_mult;
            if (lp.projection - proj).abs() > 1e-3 {
                return Err(at(format!("{} counts {} points in {}, expected {proj}", p.id, lp.projection, rule.name)));
            }
            salary += want_salary;
            points += proj;
            let class = format!("{}x{}", rule.points_mult, rule.salary_mult);
            picks.insert((p.id.clone(), class));
            lineup_players.push(p);
        }
        if salary != l.salary || salary > cap || salary < request.min_salary.unwrap_or(0) {
            return Err(at(format!(
                "salary {salary} (reported {}), allowed {}..={cap}",
                l.salary,
                request.min_salary.unwrap_or(0)
            )));
        }
        if (points - l.projection).abs() > 1e-3 {
            return Err(at(format!("projection {} reported, players add up to {points}", l.projection)));
        }
        check_lineup(slate, rules, request, &lineup_players).map_err(at)?;
        // locks (a captain-row id in the boosted slot), until the player reaches his max exposure: then the lock
        // is freed, as pydfs frees it
        for id in &request.locks {
            let person = slate.players.iter().find(|p| p.id == *id || p.captain.as_ref().is_some_and(|c| c.id == *id));
            let capped = person.is_some_and(|p| {
                let max = request.exposure.players.get(&p.id).and_then(|l| l.max).or(request.exposure.max);
                max.is_some_and(|m| m / 100.0 <= used.get(p.id.as_str()).copied().unwrap_or(0) as f64 / count as f64)
            });
            if !capped && !l.players.iter().any(|lp| lp.id == *id || lp.player_id == *id) {
                return Err(at(format!("lock {id} missing")));
            }
        }
        for p in &lineup_players {
            *used.entry(p.id.as_str()).or_default() += 1;
        }
        all_picks.push(picks);
    }
    let min_unique = request.min_unique.unwrap_or(1) as usize;
    for (a, pa) in all_picks.iter().enumerate() {
        for (b, pb) in all_picks.iter().enumerate().skip(a + 1) {
            let shared = pa.intersection(pb).count();
            if size - shared < min_unique {
                return Err(format!(
                    "lineups {} and {} differ in {} players, min_unique {min_unique}",
                    a + 1,
                    b + 1,
                    size - shared
                ));
            }
        }
    }
    for p in &slate.players {
        let n = used.get(p.id.as_str()).copied().unwrap_or(0);
        let lim = request.exposure.players.get(&p.id);
        if let Some(max) = lim.and_then(|l| l.max).or(request.exposure.max) {
            // banned once used / count >= max: at most the first count reaching it
            let allowed = (0..=count).find(|&k| max / 100.0 <= k as f64 / count as f64).unwrap_or(count);
            if n > allowed {
                return Err(format!("{} is in {n} lineups, max exposure {max}% allows {allowed}", p.id));
            }
        }
        if let Some(min) = lim.and_then(|l| l.min) {
            let need = (min / 100.0 * count as f64).round_ties_even() as usize;
            if n < need {
                return Err(format!("{} is in {n} lineups, min exposure {min}% needs {need}", p.id));
            }
        }
    }
    let csv = crate::export::upload_csv(rules, &set.lineups).map_err(|e| e.to_string())?;
    if csv != set.csv {
        return Err("the csv is not the upload file of these lineups".into());
    }
    Ok(())
}

fn check_lineup(slate: &Slate, rules: &RuleSet, request: &OptimizeRequest, players: &[&Player]) -> Result<(), String> {
    let size = rules.slots.len();
    let mut per_team: BTreeMap<&str, usize> = BTreeMap::new();
    let mut hitters: BTreeMap<&str, usize> = BTreeMap::new();
    let mut teams = BTreeSet::new();
    let mut games = BTreeSet::new();
    for p in players {
        *per_team.entry(&p.team).or_default() += 1;
        if !rules.is_pitcher(&p.positions) {
            *hitters.entry(&p.team).or_default() += 1;
        }
        if rules.min_teams_positions.is_empty()
            || p.positions.iter().any(|x| rules.min_teams_positions.contains(&x.as_str()))
        {
            teams.insert(p.team.as_str());
        }
        games.insert(p.game.as_str());
        if request.excludes.iter().any(|e| *e == p.id || p.captain.as_ref().is_some_and(|c| c.id == *e)) {
            return Err(format!("{} is excluded", p.id));
        }
        if request.exclude_teams.iter().any(|t| t.eq_ignore_ascii_case(&p.team)) {
            return Err(format!("{} plays for excluded team {}", p.id, p.team));
        }
        if request.exclude_out.unwrap_or(true) && p.is_out() {
            return Err(format!("{} is out ({})", p.id, p.status));
        }
    }
    for (team, &n) in &per_team {
        let mut limit = rules.max_per_team.map(|x| x as usize).unwrap_or(size);
        if let Some(m) = request.max_per_team {
            limit = limit.min(m as usize);
        }
        if let Some((_, &m)) = request.team_limits.iter().find(|(t, _)| t.eq_ignore_ascii_case(team)) {
            limit = limit.min(m as usize);
        }
        if n > limit {
            return Err(format!("{n} players of {team}, at most {limit}"));
        }
    }
    if let Some(h) = rules.max_hitters_per_team {
        if let Some((t, &n)) = hitters.iter().find(|(_, &n)| n > h as usize) {
            return Err(format!("{n} hitters of {t}, at most {h}"));
        }
    }
    if teams.len() < rules.min_teams as usize {
        return Err(format!("{} teams, at least {}", teams.len(), rules.min_teams));
    }
    if games.len() < rules.min_games.min(slate.games.len() as u8) as usize {
        return Err(format!("{} games, at least {}", games.len(), rules.min_games));
    }
    for (n, s) in request.stacks.iter().enumerate() {
        if !stack_holds(slate, players, s) {
            return Err(format!("stack {} not satisfied", n + 1));
        }
    }
    Ok(())
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(|s| s.as_str()).collect()
}

fn has(p: &Player, set: &[&str]) -> bool {
    p.positions.iter().any(|x| set.iter().any(|s| s.eq_ignore_ascii_case(x)))
}

fn stack_holds(slate: &Slate, players: &[&Player], s: &Stack) -> bool {
    let team_ok = |teams: &[String], t: &str| teams.is_empty() || teams.iter().any(|x| x.eq_ignore_ascii_case(t));
    match s {
        Stack::Qb { receivers, positions, bring_back, bring_back_positions, teams } => {
            let recv = if positions.is_empty() { vec!["WR", "TE"] } else { strs(positions) };
            let back =
                if bring_back_positions.is_empty() { vec!["RB", "WR", "TE"] } else { strs(bring_back_positions) };
            players.iter().filter(|p| has(p, &["QB"]) && team_ok(teams, &p.team)).any(|qb| {
                let r = players.iter().filter(|p| p.team == qb.team && has(p, &recv) && !has(p, &["QB"])).count();
                let b = players.iter().filter(|p| p.team == qb.opponent && has(p, &back)).count();
                r >= *receivers as usize && b >= *bring_back as usize
            })
        }
        Stack::Team { count, positions, teams } => {
            let mut by: BTreeMap<&str, usize> = BTreeMap::new();
            for p in players {
                let counts = if positions.is_empty() {
                    !p.positions.iter().any(|x| ["SP", "RP", "P"].contains(&x.as_str()))
                } else {
                    has(p, &strs(positions))
                };
                if counts && team_ok(teams, &p.team) {
                    *by.entry(&p.team).or_default() += 1;
                }
            }
            by.values().any(|&n| n >= *count as usize)
        }
        Stack::Game { count, min_per_team, games } => slate.games.iter().any(|g| {
            if !games.is_empty() && !games.iter().any(|x| x.eq_ignore_ascii_case(&g.id)) {
                return false;
            }
            let away = players.iter().filter(|p| p.game == g.id && p.team == g.away).count();
            let home = players.iter().filter(|p| p.game == g.id && p.team == g.home).count();
            away >= *min_per_team as usize && home >= *min_per_team as usize && away + home >= *count as usize
        }),
        Stack::Line { count, lines } => {
            let mut by: BTreeMap<(&str, &str), usize> = BTreeMap::new();
            for p in players {
                if let Some(l) = &p.line {
                    if lines.is_empty() || lines.iter().any(|x| x.eq_ignore_ascii_case(l)) {
                        *by.entry((&p.team, l)).or_default() += 1;
                    }
                }
            }
            by.values().any(|&n| n >= *count as usize)
        }
    }
}
