//! The request checked against the slate and compiled into slate terms: who may play, each player's points,
//! the slate's shape (classes, eligibility, teams, limits), and the requirements (locks, stacks).

use std::collections::BTreeMap;

use super::problem::{classes, eligible_bits, slot_salary, Shape, SlatePart, SlateRequirement};
use super::{OptimizeError, OptimizeRequest, Stack};
use crate::model::{ContestType, Slate};
use crate::rules::RuleSet;

/// A request in slate terms.
#[derive(Debug, Clone)]
pub(crate) struct Compiled {
    pub shape: Shape,
    pub count: usize,
    pub min_unique: usize,
    /// Points per slate player (overrides applied).
    pub points: Vec<f64>,
    /// May play at all (excludes, excluded teams, out players).
    pub allowed: Vec<bool>,
    /// Locked persons (slate index, Some(class) for a captain-row lock).
    pub locks: Vec<(usize, Option<u8>)>,
    /// Stacks as requirements, in request order.
    pub stacks: Vec<SlateRequirement>,
    /// Max exposure per slate player as a fraction (None: unlimited).
    pub max_exposure: Vec<Option<f64>>,
    /// Min exposure per slate player as a fraction.
    pub min_exposure: Vec<Option<f64>>,
}

fn invalid(msg: impl Into<String>) -> OptimizeError {
    OptimizeError::Invalid(msg.into())
}

/// Looks an id up: (slate index, true if it is a captain row's id).
fn find(slate: &Slate, id: &str) -> Option<(usize, bool)> {
    slate.players.iter().enumerate().find_map(|(i, p)| {
        if p.id == id {
            Some((i, false))
        } else if p.captain.as_ref().is_some_and(|c| c.id == id) {
            Some((i, true))
        } else {
            None
        }
    })
}

pub(crate) fn compile(slate: &Slate, rules: &RuleSet, req: &OptimizeRequest) -> Result<Compiled, OptimizeError> {
    if req.late_swap.is_some() {
        return Err(invalid("late_swap is not supported by this optimizer yet; re-optimize with locks instead"));
    }
    let size = rules.lineup_size();
    let count = req.count.unwrap_or(1);
    if count == 0 {
        return Err(invalid("count: ask for at least one lineup"));
    }
    if count > rules.upload_limit {
        return Err(invalid(format!(
            "count {count}: {} takes at most {} lineups per upload file",
            rules.site.as_str(),
            rules.upload_limit
        )));
    }
    let min_unique = req.min_unique.unwrap_or(1) as usize;
    if min_unique == 0 || min_unique > size {
        return Err(invalid(format!("min_unique {min_unique}: must be between 1 and the lineup size {size}")));
    }
    let (slot_class, kinds) = classes(rules);
    let class_mult: Vec<i64> = kinds.iter().map(|&(pm, _)| (pm * 10.0).round() as i64).collect();
    let captain_class = kinds.iter().position(|&(_, sm)| sm != 1.0).map(|c| c as u8);

    let mut teams: Vec<String> = Vec::new();
    let mut games: Vec<String> = slate.games.iter().map(|g| g.id.clone()).collect();
    for g in &slate.games {
        for t in [&g.away, &g.home] {
            if !teams.contains(t) {
                teams.push(t.clone());
            }
        }
    }
    let mut team_of = Vec::new();
    let mut game_of = Vec::new();
    for p in &slate.players {
        let t = teams.iter().position(|t| *t == p.team).unwrap_or_else(|| {
            teams.push(p.team.clone());
            teams.len() - 1
        });
        let g = games.iter().position(|g| *g == p.game).unwrap_or_else(|| {
            games.push(p.game.clone());
            games.len() - 1
        });
        team_of.push(t as u16);
        game_of.push(g as u16);
    }
    let team_ix = |name: &str, what: &str| -> Result<usize, OptimizeError> {
        teams
            .iter()
            .position(|t| t.eq_ignore_ascii_case(name))
            .ok_or_else(|| invalid(format!("{what}: team {name} is not on slate {} ({})", slate.id, teams.join(", "))))
    };

    let mut team_limit = vec![rules.max_per_team.unwrap_or(size as u8).min(size as u8); teams.len()];
    if let Some(m) = req.max_per_team {
        if m == 0 {
            return Err(invalid("max_per_team 0: a lineup needs players; use exclude_teams to leave teams out"));
        }
        team_limit.iter_mut().for_each(|l| *l = (*l).min(m));
    }
    for (t, &m) in &req.team_limits {
        let i = team_ix(t, "team_limits")?;
        team_limit[i] = team_limit[i].min(m);
    }

    let cap = match req.max_salary {
        Some(m) if m > rules.salary_cap => {
            return Err(invalid(format!("max_salary {m}: above the cap {}", rules.salary_cap)));
        }
        Some(m) => m,
        None => rules.salary_cap,
    };
    let min_salary = req.min_salary.unwrap_or(0);
    if min_salary > cap {
        return Err(invalid(format!("min_salary {min_salary}: above the highest salary allowed ({cap})")));
    }

    let mut points: Vec<f64> = slate.players.iter().map(|p| p.points()).collect();
    for (id, &v) in &req.projections {
        let (i, _) =
            find(slate, id).ok_or_else(|| invalid(format!("projections: {id} is not on slate {}", slate.id)))?;
        if !v.is_finite() {
            return Err(invalid(format!("projections: {id} has a projection that is not a number")));
        }
        points[i] = v;
    }
    if let Some(i) = points.iter().position(|p| !p.is_finite()) {
        return Err(invalid(format!("player {}: projection is not a number", slate.players[i].id)));
    }

    let mut allowed = vec![true; slate.players.len()];
    for t in &req.exclude_teams {
        let ti = team_ix(t, "exclude_teams")?;
        for (i, a) in allowed.iter_mut().enumerate() {
            if team_of[i] as usize == ti {
                *a = false;
            }
        }
    }
    let exclude_out = req.exclude_out.unwrap_or(true);
    if exclude_out {
        for (i, p) in slate.players.iter().enumerate() {
            if p.is_out() {
                allowed[i] = false;
            }
        }
    }
    for id in &req.excludes {
        let (i, _) = find(slate, id).ok_or_else(|| invalid(format!("exclude {id}: not on slate {}", slate.id)))?;
        allowed[i] = false;
    }
    let mut locks: Vec<(usize, Option<u8>)> = Vec::new();
    for id in &req.locks {
        let (i, captain) = find(slate, id).ok_or_else(|| invalid(format!("lock {id}: not on slate {}", slate.id)))?;
        let p = &slate.players[i];
        let who = format!("lock {id} ({})", p.name);
        if req.excludes.iter().any(|e| find(slate, e).is_some_and(|(j, _)| j == i)) {
            return Err(invalid(format!("{who}: also excluded")));
        }
        if req.exclude_teams.iter().any(|t| t.eq_ignore_ascii_case(&p.team)) {
            return Err(invalid(format!("{who}: his team {} is excluded", p.team)));
        }
        if exclude_out && p.is_out() {
            return Err(invalid(format!(
                "{who}: the site lists him as out (status {}); set exclude_out to false to use him",
                p.status
            )));
        }
        let class = if captain { captain_class } else { None };
        if locks.iter().any(|&(j, _)| j == i) {
            return Err(invalid(format!("{who}: locked twice (a person fills one slot)")));
        }
        locks.push((i, class));
    }

    let mut max_exposure: Vec<Option<f64>> = vec![None; slate.players.len()];
    let mut min_exposure: Vec<Option<f64>> = vec![None; slate.players.len()];
    let pct = |v: f64, what: &str| -> Result<f64, OptimizeError> {
        if !(0.0..=100.0).contains(&v) {
            return Err(invalid(format!("{what} {v}: exposure is a percentage between 0 and 100")));
        }
        Ok(v / 100.0)
    };
    if let Some(m) = req.exposure.max {
        let f = pct(m, "exposure.max")?;
        max_exposure.iter_mut().for_each(|x| *x = Some(f));
    }
    for (id, lim) in &req.exposure.players {
        let (i, _) =
            find(slate, id).ok_or_else(|| invalid(format!("exposure.players: {id} is not on slate {}", slate.id)))?;
        if let Some(m) = lim.max {
            max_exposure[i] = Some(pct(m, &format!("exposure max of {id}"))?);
        }
        if let Some(m) = lim.min {
            min_exposure[i] = Some(pct(m, &format!("exposure min of {id}"))?);
            if !allowed[i] && m > 0.0 {
                return Err(invalid(format!(
                    "exposure min {m}% of {id} ({}): the player is excluded",
                    slate.players[i].name
                )));
            }
        }
        if let (Some(lo), Some(hi)) = (lim.min, lim.max) {
            if lo > hi {
                return Err(invalid(format!("exposure of {id}: min {lo}% above max {hi}%")));
            }
        }
    }

    let eligible: Vec<u32> = slate.players.iter().map(|p| eligible_bits(rules, &p.eligible, &p.positions)).collect();
    let salary: Vec<Vec<u32>> =
        slate.players.iter().map(|p| kinds.iter().map(|&(_, sm)| slot_salary(p, sm)).collect()).collect();
    let hitter: Vec<bool> = slate.players.iter().map(|p| !rules.is_pitcher(&p.positions)).collect();
    let counts_team: Vec<bool> = slate
        .players
        .iter()
        .map(|p| {
            rules.min_teams_positions.is_empty()
                || p.positions.iter().any(|x| rules.min_teams_positions.contains(&x.as_str()))
        })
        .collect();

    let shape = Shape {
        size,
        slot_class,
        n_classes: kinds.len(),
        class_mult,
        eligible,
        salary,
        team_of,
        game_of,
        teams,
        games,
        hitter,
        counts_team,
        team_limit,
        cap,
        min_salary,
        max_overlap: size - min_unique,
    };
    let stacks = req
        .stacks
        .iter()
        .enumerate()
        .map(|(n, s)| stack_requirement(slate, rules, &shape, n, s))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Compiled { shape, count, min_unique, points, allowed, locks, stacks, max_exposure, min_exposure })
}

/// The name errors use for a stack: `stack 1 (qb: QB + 1 WR/TE)`.
pub(crate) fn stack_name(n: usize, s: &Stack) -> String {
    let pos = |v: &[String], d: &str| if v.is_empty() { d.to_owned() } else { v.join("/") };
    let what = match s {
        Stack::Qb { receivers, positions, bring_back, bring_back_positions, .. } => {
            let mut w = format!("qb: QB + {receivers} {}", pos(positions, "WR/TE"));
            if *bring_back > 0 {
                w += &format!(" + {bring_back} {} of the opponent", pos(bring_back_positions, "RB/WR/TE"));
            }
            w
        }
        Stack::Team { count, positions, .. } => format!("team: {count} {} of one team", pos(positions, "players")),
        Stack::Game { count, min_per_team, .. } => {
            format!("game: {count} players of one game, {min_per_team} of each team")
        }
        Stack::Line { count, .. } => format!("line: {count} skaters of one line"),
    };
    format!("stack {} ({what})", n + 1)
}

fn has_pos(p: &crate::model::Player, set: &[String]) -> bool {
    p.positions.iter().any(|x| set.iter().any(|s| s.eq_ignore_ascii_case(x)))
}

fn stack_requirement(
    slate: &Slate,
    rules: &RuleSet,
    shape: &Shape,
    n: usize,
    s: &Stack,
) -> Result<SlateRequirement, OptimizeError> {
    let name = stack_name(n, s);
    let check_teams = |teams: &[String]| -> Result<(), OptimizeError> {
        for t in teams {
            if shape.team(t).is_none() {
                return Err(invalid(format!("{name}: team {t} is not on slate {}", slate.id)));
            }
        }
        Ok(())
    };
    let team_ok = |teams: &[String], t: &str| teams.is_empty() || teams.iter().any(|x| x.eq_ignore_ascii_case(t));
    let members = |f: &dyn Fn(&crate::model::Player) -> bool| -> Vec<(usize, Option<u8>)> {
        slate.players.iter().enumerate().filter(|(_, p)| f(p)).map(|(i, _)| (i, None)).collect()
    };
    let part = |members: Vec<(usize, Option<u8>)>, need: u8, total: bool| SlatePart { members, need, total };
    let mut options = Vec::new();
    match s {
        Stack::Qb { receivers, positions, bring_back, bring_back_positions, teams } => {
            check_teams(teams)?;
            let recv: Vec<String> =
                if positions.is_empty() { vec!["WR".into(), "TE".into()] } else { positions.clone() };
            let back: Vec<String> = if bring_back_positions.is_empty() {
                vec!["RB".into(), "WR".into(), "TE".into()]
            } else {
                bring_back_positions.clone()
            };
            let qb = vec!["QB".to_owned()];
            for t in &shape.teams {
                if !team_ok(teams, t) || !slate.players.iter().any(|p| &p.team == t && has_pos(p, &qb)) {
                    continue;
                }
                let Some(opp) = slate.games.iter().find_map(|g| {
                    if &g.away == t {
                        Some(g.home.clone())
                    } else if &g.home == t {
                        Some(g.away.clone())
                    } else {
                        None
                    }
                }) else {
                    continue;
                };
                let mut parts = vec![part(members(&|p| &p.team == t && has_pos(p, &qb)), 1, false)];
                if *receivers > 0 {
                    parts.push(part(
                        members(&|p| &p.team == t && has_pos(p, &recv) && !has_pos(p, &qb)),
                        *receivers,
                        false,
                    ));
                }
                if *bring_back > 0 {
                    parts.push(part(members(&|p| p.team == opp && has_pos(p, &back)), *bring_back, false));
                }
                options.push((t.clone(), parts));
            }
        }
        Stack::Team { count, positions, teams } => {
            check_teams(teams)?;
            for t in &shape.teams {
                if !team_ok(teams, t) {
                    continue;
                }
                let m = members(&|p| {
                    &p.team == t
                        && if positions.is_empty() { !rules.is_pitcher(&p.positions) } else { has_pos(p, positions) }
                });
                options.push((t.clone(), vec![part(m, *count, false)]));
            }
        }
        Stack::Game { count, min_per_team, games } => {
            for g in games {
                if !slate.games.iter().any(|x| x.id.eq_ignore_ascii_case(g)) {
                    return Err(invalid(format!("{name}: game {g} is not on slate {}", slate.id)));
                }
            }
            if slate.games.len() == 1 && rules.contest == ContestType::Showdown && *count as usize > shape.size {
                return Err(invalid(format!("{name}: more players than a lineup holds")));
            }
            for g in &slate.games {
                if !games.is_empty() && !games.iter().any(|x| x.eq_ignore_ascii_case(&g.id)) {
                    continue;
                }
                let parts = vec![
                    part(members(&|p| p.team == g.away && p.game == g.id), *min_per_team, false),
                    part(members(&|p| p.team == g.home && p.game == g.id), *min_per_team, false),
                    part(members(&|p| p.game == g.id), *count, true),
                ];
                options.push((g.id.clone(), parts));
            }
        }
        Stack::Line { count, lines } => {
            let mut labels: BTreeMap<(String, String), ()> = BTreeMap::new();
            for p in &slate.players {
                if let Some(l) = &p.line {
                    if lines.is_empty() || lines.iter().any(|x| x.eq_ignore_ascii_case(l)) {
                        labels.insert((p.team.clone(), l.clone()), ());
                    }
                }
            }
            if labels.is_empty() {
                return Err(invalid(format!(
                    "{name}: no player on slate {} has a line{}",
                    slate.id,
                    if lines.is_empty() { String::new() } else { format!(" among {}", lines.join(", ")) }
                )));
            }
            for (t, l) in labels.keys() {
                let m = members(&|p| &p.team == t && p.line.as_ref() == Some(l));
                options.push((format!("{t} {l}"), vec![part(m, *count, false)]));
            }
        }
    }
    let need: usize = match s {
        Stack::Qb { receivers, bring_back, .. } => 1 + *receivers as usize + *bring_back as usize,
        Stack::Team { count, .. } | Stack::Line { count, .. } | Stack::Game { count, .. } => *count as usize,
    };
    if need > shape.size {
        return Err(invalid(format!("{name}: needs {need} players, a lineup holds {}", shape.size)));
    }
    Ok(SlateRequirement { name, options })
}
