//! Why no lineup exists: the constraint that cannot hold, found by checking them one by one (static checks
//! first, then feasibility searches that add one rule at a time) rather than guessed.

use super::problem::{SlatePart, SlateRequirement};
use super::request::Compiled;
use super::sequence::{requirements, solve_one, Progress};
use super::OptimizeError;
use crate::model::Slate;
use crate::rules::RuleSet;

fn money(x: u64) -> String {
    let s = x.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

fn infeasible(msg: impl Into<String>) -> OptimizeError {
    OptimizeError::Infeasible(msg.into())
}

fn empty_progress(n: usize) -> Progress {
    Progress { lineups: Vec::new(), picks: Vec::new(), used: vec![0; n] }
}

/// Is there any lineup under these requirements (and the compiled rules), ignoring earlier lineups?
fn feasible(slate: &Slate, rules: &RuleSet, c: &Compiled, allowed: &[bool], reqs: &[SlateRequirement]) -> bool {
    let progress = empty_progress(slate.players.len());
    !solve_one(slate, rules, c, &c.points, allowed, reqs, &progress, 1, true).1.is_empty()
}

/// The cheapest salary a player can be had for in a slot he may fill.
fn cheapest(c: &Compiled, i: usize, class: Option<u8>) -> u32 {
    (0..c.shape.size)
        .filter(|&s| c.shape.eligible[i] & (1 << s) != 0)
        .filter(|&s| class.is_none_or(|cl| c.shape.slot_class[s] == cl))
        .map(|s| c.shape.salary[i][c.shape.slot_class[s] as usize])
        .min()
        .unwrap_or(u32::MAX)
}

/// Explains why lineup `progress.lineups.len() + 1` cannot be built.
pub(crate) fn explain(slate: &Slate, rules: &RuleSet, c: &Compiled, progress: &Progress) -> OptimizeError {
    if progress.lineups.is_empty() {
        first(slate, rules, c)
    } else {
        later(slate, rules, c, progress)
    }
}

fn first(slate: &Slate, rules: &RuleSet, c: &Compiled) -> OptimizeError {
    let shape = &c.shape;
    let cap = shape.cap as u64;
    for (s, rule) in rules.slots.iter().enumerate() {
        if !(0..slate.players.len()).any(|i| c.allowed[i] && shape.eligible[i] & (1 << s) != 0) {
            return infeasible(format!(
                "slot {}: no player left who may fill it (after excludes, excluded teams and out players)",
                rule.name
            ));
        }
    }
    // locks, statically
    let locks = &c.locks;
    if locks.len() > shape.size {
        return infeasible(format!("locks: {} players locked, a lineup holds {}", locks.len(), shape.size));
    }
    let lock_cost: u64 = locks.iter().map(|&(i, cl)| cheapest(c, i, cl) as u64).sum();
    if lock_cost > cap {
        return infeasible(format!("locks cost {} > cap {}", money(lock_cost), money(cap)));
    }
    for (t, team) in shape.teams.iter().enumerate() {
        let n = locks.iter().filter(|&&(i, _)| shape.team_of[i] as usize == t).count();
        if n > shape.team_limit[t] as usize {
            return infeasible(format!("locks: {n} players of {team} > at most {} per team", shape.team_limit[t]));
        }
    }
    if !locks_fit(c) {
        let names: Vec<String> = locks.iter().map(|&(i, _)| slate.players[i].id.clone()).collect();
        return infeasible(format!("locks {}: not enough slots they may fill", names.join(", ")));
    }
    let allowed = &c.allowed;
    let base: Vec<SlateRequirement> = Vec::new();
    if !feasible(slate, rules, &without_min_salary(c), allowed, &base) {
        let mut msg =
            format!("no lineup fills the slots within the cap of {} under {}'s rules", money(cap), rules.site.as_str());
        if shape.team_limit.iter().any(|&l| (l as usize) < rules.max_per_team.unwrap_or(shape.size as u8) as usize) {
            msg += " and the request's max_per_team / team_limits";
        }
        return infeasible(msg);
    }
    if !feasible(slate, rules, c, allowed, &base) {
        return infeasible(format!(
            "min_salary {}: no lineup costs between {} and {}",
            money(shape.min_salary as u64),
            money(shape.min_salary as u64),
            money(cap)
        ));
    }
    let no_bans = vec![false; slate.players.len()];
    let lock_reqs: Vec<SlateRequirement> =
        requirements(&Compiled { stacks: Vec::new(), ..c.clone() }, &no_bans, Vec::new());
    if !feasible(slate, rules, c, allowed, &lock_reqs) {
        let lock_min: u64 = lock_cost;
        return infeasible(format!(
            "locks (cost {} of cap {}): no lineup holds all of them under the other rules",
            money(lock_min),
            money(cap)
        ));
    }
    let mut reqs = lock_reqs;
    for stack in &c.stacks {
        if let Some(msg) = stack_static(slate, c, stack) {
            return infeasible(msg);
        }
        reqs.push(stack.clone());
        if !feasible(slate, rules, c, allowed, &reqs) {
            return infeasible(format!(
                "{}: no lineup satisfies it together with the locks, earlier stacks and the site's rules",
                stack.name
            ));
        }
    }
    infeasible("no lineup satisfies all the rules together")
}

/// The static lock checks: few enough, within the cap and team limits, placeable in distinct slots.
pub(crate) fn locks_possible(c: &Compiled) -> bool {
    let shape = &c.shape;
    let cost: u64 = c.locks.iter().map(|&(i, cl)| cheapest(c, i, cl) as u64).sum();
    c.locks.len() <= shape.size
        && cost <= shape.cap as u64
        && (0..shape.teams.len()).all(|t| {
            c.locks.iter().filter(|&&(i, _)| shape.team_of[i] as usize == t).count() <= shape.team_limit[t] as usize
        })
        && locks_fit(c)
}

fn without_min_salary(c: &Compiled) -> Compiled {
    let mut c = c.clone();
    c.shape.min_salary = 0;
    c
}

/// Can the locked players be placed in distinct slots they may fill? (augmenting paths; a handful of locks)
fn locks_fit(c: &Compiled) -> bool {
    let size = c.shape.size;
    let mut slot_of: Vec<Option<usize>> = vec![None; size];
    fn place(c: &Compiled, l: usize, seen: &mut [bool], slot_of: &mut [Option<usize>]) -> bool {
        let (i, class) = c.locks[l];
        for s in 0..c.shape.size {
            if c.shape.eligible[i] & (1 << s) == 0 || class.is_some_and(|cl| c.shape.slot_class[s] != cl) || seen[s] {
                continue;
            }
            seen[s] = true;
            if slot_of[s].is_none_or(|other| place(c, other, seen, slot_of)) {
                slot_of[s] = Some(l);
                return true;
            }
        }
        false
    }
    (0..c.locks.len()).all(|l| place(c, l, &mut vec![false; size], &mut slot_of))
}

/// A stack no option of which can hold on its own: no team with the players, or none within the cap.
fn stack_static(slate: &Slate, c: &Compiled, stack: &SlateRequirement) -> Option<String> {
    let allowed_members =
        |part: &SlatePart| -> Vec<usize> { part.members.iter().map(|&(i, _)| i).filter(|&i| c.allowed[i]).collect() };
    let mut cheapest_option: Option<(u64, String)> = None;
    let mut any_players = false;
    for (label, parts) in &stack.options {
        let mut cost = 0u64;
        let mut chosen: Vec<usize> = Vec::new();
        let mut ok = true;
        let mut needed = 0usize;
        for part in parts.iter().filter(|p| !p.total) {
            let mut m: Vec<usize> = allowed_members(part).into_iter().filter(|i| !chosen.contains(i)).collect();
            if m.len() < part.need as usize {
                ok = false;
                break;
            }
            m.sort_by_key(|&i| cheapest(c, i, None));
            for &i in m.iter().take(part.need as usize) {
                cost += cheapest(c, i, None) as u64;
                chosen.push(i);
            }
            needed += part.need as usize;
        }
        for part in parts.iter().filter(|p| p.total) {
            if allowed_members(part).len() < part.need as usize {
                ok = false;
            }
            needed = needed.max(part.need as usize);
        }
        let team_limit =
            chosen.iter().map(|&i| c.shape.team_of[i]).fold(std::collections::BTreeMap::new(), |mut m, t| {
                *m.entry(t).or_insert(0usize) += 1;
                m
            });
        if team_limit.iter().any(|(&t, &n)| n > c.shape.team_limit[t as usize] as usize) {
            ok = false;
        }
        if !ok {
            continue;
        }
        any_players = true;
        let _ = needed;
        if cheapest_option.as_ref().is_none_or(|(best, _)| cost < *best) {
            cheapest_option = Some((cost, label.clone()));
        }
    }
    if !any_players {
        return Some(format!(
            "{}: no team (or game, or line) on slate {} has the players it needs within the team limits after excludes",
            stack.name, slate.id
        ));
    }
    let (cost, label) = cheapest_option.expect("an option");
    if cost > c.shape.cap as u64 {
        return Some(format!(
            "{}: no option fits within the cap {} (cheapest: {label} at {})",
            stack.name,
            money(c.shape.cap as u64),
            money(cost)
        ));
    }
    None
}

fn later(slate: &Slate, rules: &RuleSet, c: &Compiled, progress: &Progress) -> OptimizeError {
    let k = progress.lineups.len() + 1;
    let n = c.count;
    let banned = progress.banned(c);
    let capped: Vec<String> = (0..slate.players.len())
        .filter(|&i| banned[i])
        .map(|i| format!("{} ({})", slate.players[i].name, slate.players[i].id))
        .collect();
    let no_bans = vec![false; slate.players.len()];
    let reqs_free = requirements(c, &no_bans, Vec::new());
    let with_earlier = !solve_one(slate, rules, c, &c.points, &c.allowed, &reqs_free, progress, 1, true).1.is_empty();
    if !capped.is_empty() && with_earlier {
        let shown: Vec<&str> = capped.iter().take(6).map(|s| s.as_str()).collect();
        return infeasible(format!(
            "lineup {k} of {n}: max exposure: with the players at their cap left out ({}{}), no lineup remains that \
             differs from each earlier one in at least {} players",
            shown.join(", "),
            if capped.len() > 6 { format!(" and {} more", capped.len() - 6) } else { String::new() },
            c.min_unique
        ));
    }
    if c.min_unique > 1 || progress.lineups.len() > 1 {
        return infeasible(format!(
            "lineup {k} of {n}: min_unique {}: only {} lineups differ pairwise in at least {} players under these rules",
            c.min_unique,
            k - 1,
            c.min_unique
        ));
    }
    infeasible(format!("lineup {k} of {n}: only {} distinct lineups satisfy the rules", k - 1))
}
