//! Lineups as the simulator scores them, and the rule check every lineup (the user's and the sampled field's)
//! must pass.
//!
//! A lineup is scored as a sum of entries of a per-run score vector. The vector holds each player once per
//! distinct slot multiplier (`1.0`, and `1.5` for a DraftKings CPT...), so a boosted slot costs nothing extra
//! when scoring: the entry index is `multiplier index × players + player`.

use std::collections::HashMap;

use crate::model::{Player, Slate};
use crate::rules::{RuleSet, SlotRule};

use super::SimulationError;

/// The most entries the per-run score vector may hold: entries are `u16`.
pub(crate) const MAX_ENTRIES: usize = 1 << 16;

/// Slot multipliers and the mapping from (player, slot) to a score-vector entry.
#[derive(Debug, Clone)]
pub(crate) struct SlotTable {
    /// Distinct points multipliers of the rule set's slots, in slot order of first appearance.
    pub mults: Vec<f64>,
    /// Per slot: its index in `mults`.
    pub slot_mult: Vec<usize>,
    pub players: usize,
}

impl SlotTable {
    pub fn new(rules: &RuleSet, players: usize) -> Result<SlotTable, SimulationError> {
        let mut mults: Vec<f64> = Vec::new();
        let mut slot_mult = Vec::with_capacity(rules.slots.len());
        for s in rules.slots {
            let k = match mults.iter().position(|&m| m == s.points_mult) {
                Some(k) => k,
                None => {
                    mults.push(s.points_mult);
                    mults.len() - 1
                }
            };
            slot_mult.push(k);
        }
        if mults.len() * players > MAX_ENTRIES {
            return Err(SimulationError::Invalid(format!(
                "the slate has {players} players; the simulator takes at most {} on this rule set",
                MAX_ENTRIES / mults.len()
            )));
        }
        Ok(SlotTable { mults, slot_mult, players })
    }

    pub fn size(&self) -> usize {
        self.slot_mult.len()
    }

    pub fn entry(&self, player: usize, slot: usize) -> u16 {
        (self.slot_mult[slot] * self.players + player) as u16
    }

    /// The lineup's entries sorted: two lineups with the same key score the same in every run.
    pub fn key(&self, players: &[usize]) -> Vec<u16> {
        let mut key: Vec<u16> = players.iter().enumerate().map(|(slot, &p)| self.entry(p, slot)).collect();
        key.sort_unstable();
        key
    }
}

/// One of the user's lineups, resolved.
#[derive(Debug, Clone)]
pub(crate) struct UserLineup {
    /// Score-vector entries, sorted (see [`SlotTable::key`]).
    pub key: Vec<u16>,
    /// Projected points, multipliers applied (0 for a player who is out).
    pub projection: f64,
    pub salary: u32,
}

/// May `player` fill `slot`? The player's `eligible` list decides; a DraftKings showdown player may fill the
/// boosted slot through his captain row whatever `eligible` lists; a player without an `eligible` list (data
/// built by hand) falls back to the slot's accepted positions.
pub(crate) fn fits(player: &Player, slot: &SlotRule) -> bool {
    if player.may_fill(slot.name) {
        return true;
    }
    if slot.points_mult != 1.0 && player.captain.is_some() {
        return true;
    }
    player.eligible.is_empty() && player.positions.iter().any(|p| slot.accepts.contains(&p.as_str()))
}

/// What `player` costs in `slot`: the captain row's own salary in a DraftKings CPT slot.
pub(crate) fn slot_salary(player: &Player, slot: &SlotRule) -> u32 {
    if slot.salary_mult == 1.0 {
        return player.salary;
    }
    match &player.captain {
        Some(c) => c.salary,
        None => (f64::from(player.salary) * slot.salary_mult).round() as u32,
    }
}

/// Checks a lineup (players by slate index, in slot order) against every rule of the rule set; returns its
/// salary, or what is wrong.
pub(crate) fn check(slate: &Slate, rules: &RuleSet, lineup: &[usize]) -> Result<u32, String> {
    if lineup.len() != rules.slots.len() {
        return Err(format!("has {} players; the rule set has {} slots", lineup.len(), rules.slots.len()));
    }
    let players: Vec<&Player> = lineup.iter().map(|&i| &slate.players[i]).collect();
    let mut salary = 0u32;
    for (i, (p, slot)) in players.iter().zip(rules.slots).enumerate() {
        if let Some(j) = lineup[..i].iter().position(|&q| q == lineup[i]) {
            return Err(format!("has {} ({}) in slot {} and slot {}", p.name, p.id, j + 1, i + 1));
        }
        if !fits(p, slot) {
            return Err(format!(
                "has {} ({}, {}) in slot {} ({}), which the player may not fill",
                p.name,
                p.id,
                p.positions.join("/"),
                i + 1,
                slot.name
            ));
        }
        salary += slot_salary(p, slot);
    }
    if salary > rules.salary_cap {
        return Err(format!("costs {salary}, over the salary cap of {}", rules.salary_cap));
    }
    let mut per_team: HashMap<&str, (u8, u8)> = HashMap::new();
    for p in &players {
        let e = per_team.entry(p.team.as_str()).or_default();
        e.0 += 1;
        if !rules.is_pitcher(&p.positions) {
            e.1 += 1;
        }
    }
    for (team, (all, hitters)) in &per_team {
        if let Some(max) = rules.max_per_team.filter(|&m| *all > m) {
            return Err(format!("has {all} players of {team}; at most {max} may come from one team"));
        }
        if let Some(max) = rules.max_hitters_per_team.filter(|&m| *hitters > m) {
            return Err(format!("has {hitters} hitters of {team}; at most {max} may come from one team"));
        }
    }
    let counted = players.iter().filter(|p| {
        rules.min_teams_positions.is_empty()
            || p.positions.iter().any(|x| rules.min_teams_positions.contains(&x.as_str()))
    });
    let mut teams: Vec<&str> = counted.map(|p| p.team.as_str()).collect();
    teams.sort_unstable();
    teams.dedup();
    if teams.len() < usize::from(rules.min_teams) {
        return Err(format!("has players from {} team(s); the site requires {}", teams.len(), rules.min_teams));
    }
    let mut games: Vec<&str> = players.iter().map(|p| p.game.as_str()).collect();
    games.sort_unstable();
    games.dedup();
    if games.len() < usize::from(rules.min_games) {
        return Err(format!("has players from {} game(s); the site requires {}", games.len(), rules.min_games));
    }
    Ok(salary)
}

/// Resolves the request's lineups (ids in slot order) and checks them.
pub(crate) fn resolve(
    slate: &Slate,
    rules: &RuleSet,
    slots: &SlotTable,
    lineups: &[Vec<String>],
    warnings: &mut Vec<String>,
) -> Result<Vec<UserLineup>, SimulationError> {
    // id -> (player index, is the captain row)
    let mut ids: HashMap<&str, (usize, bool)> = HashMap::new();
    for (i, p) in slate.players.iter().enumerate() {
        ids.insert(p.id.as_str(), (i, false));
        if let Some(c) = &p.captain {
            ids.insert(c.id.as_str(), (i, true));
        }
    }
    let mut out = Vec::with_capacity(lineups.len());
    for (n, ids_in_slots) in lineups.iter().enumerate() {
        let invalid =
            |what: String| SimulationError::Invalid(format!("lineups[{n}] ({}) {what}", ids_in_slots.join(",")));
        if ids_in_slots.len() != rules.slots.len() {
            return Err(invalid(format!(
                "has {} players; {} {} {} has {} slots ({})",
                ids_in_slots.len(),
                rules.site.as_str(),
                rules.sport.as_str(),
                rules.contest.as_str(),
                rules.slots.len(),
                rules.slots.iter().map(|s| s.name).collect::<Vec<_>>().join(",")
            )));
        }
        let mut players = Vec::with_capacity(ids_in_slots.len());
        for (slot, id) in ids_in_slots.iter().enumerate() {
            let Some(&(p, captain_row)) = ids.get(id.trim()) else {
                return Err(invalid(format!("names unknown player id {id:?} in slot {}", slot + 1)));
            };
            let rule = &rules.slots[slot];
            if captain_row && rule.points_mult == 1.0 {
                return Err(invalid(format!(
                    "has the captain row {id} of {} in slot {} ({}); a captain row fills only the boosted slot",
                    slate.players[p].name,
                    slot + 1,
                    rule.name
                )));
            }
            players.push(p);
        }
        let salary = check(slate, rules, &players).map_err(invalid)?;
        let mut projection = 0.0;
        for (slot, &p) in players.iter().enumerate() {
            let player = &slate.players[p];
            if player.is_out() {
                warnings.push(format!(
                    "lineups[{n}]: {} ({}) is marked {:?} and scores 0",
                    player.name, player.id, player.status
                ));
            } else {
                projection += player.points() * slots.mults[slots.slot_mult[slot]];
            }
        }
        out.push(UserLineup { key: slots.key(&players), projection, salary });
    }
    Ok(out)
}
