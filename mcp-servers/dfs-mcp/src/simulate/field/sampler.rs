//! Drawing one valid lineup from weights, slot by slot, within the cap and above the salary floor.

use std::collections::HashMap;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::model::Slate;
use crate::rules::RuleSet;

use super::super::lineups::{check, fits, slot_salary};
use super::super::SimulationError;
use super::TRIES_PER_FLOOR;

#[derive(Debug, Clone, Copy)]
struct Candidate {
    player: usize,
    salary: u32,
    team: usize,
    game: usize,
    hitter: bool,
    /// Counts toward the rule set's `min_teams`.
    counted: bool,
}

/// Draws valid lineups from weights.
pub(super) struct Sampler<'a> {
    slate: &'a Slate,
    rules: &'a RuleSet,
    pub(super) weights: Vec<f64>,
    /// Slots in fill order.
    order: Vec<usize>,
    /// Per slot: who may fill it.
    candidates: Vec<Vec<Candidate>>,
    /// Per slot: indices into its candidates, cheapest first.
    by_salary: Vec<Vec<usize>>,
    pub(super) floor: u32,
    teams: usize,
    // Scratch.
    picked: Vec<Candidate>,
    /// Per player: the bound evaluation (`marks`) whose cheapest / dearest fill picked him, and what replacing
    /// him there costs more (less).
    cheap_mark: Vec<(u64, Option<u32>)>,
    dear_mark: Vec<(u64, Option<u32>)>,
    marks: u64,
    chosen_at: Vec<u64>,
    draws: u64,
    team_count: Vec<(u8, u8)>,
    cumulative: Vec<f64>,
}

impl<'a> Sampler<'a> {
    pub(super) fn new(
        slate: &'a Slate,
        rules: &'a RuleSet,
        weights: Vec<f64>,
        floor: u32,
    ) -> Result<Sampler<'a>, SimulationError> {
        let mut team_ids: HashMap<&str, usize> = HashMap::new();
        let mut game_ids: HashMap<&str, usize> = HashMap::new();
        for p in &slate.players {
            let next = team_ids.len();
            team_ids.entry(p.team.as_str()).or_insert(next);
            let next = game_ids.len();
            game_ids.entry(p.game.as_str()).or_insert(next);
        }
        let candidates: Vec<Vec<Candidate>> = rules
            .slots
            .iter()
            .map(|slot| {
                slate
                    .players
                    .iter()
                    .enumerate()
                    .filter(|&(i, p)| weights[i] > 0.0 && fits(p, slot))
                    .map(|(i, p)| Candidate {
                        player: i,
                        salary: slot_salary(p, slot),
                        team: team_ids[p.team.as_str()],
                        game: game_ids[p.game.as_str()],
                        hitter: !rules.is_pitcher(&p.positions),
                        counted: rules.min_teams_positions.is_empty()
                            || p.positions.iter().any(|x| rules.min_teams_positions.contains(&x.as_str())),
                    })
                    .collect()
            })
            .collect();
        if let Some(s) = candidates.iter().position(Vec::is_empty) {
            return Err(SimulationError::Invalid(format!(
                "field: no player with a projection and ownership can fill slot {} ({})",
                s + 1,
                rules.slots[s].name
            )));
        }
        let mut order: Vec<usize> = (0..rules.slots.len()).collect();
        order.sort_by_key(|&s| candidates[s].len());
        let by_salary = candidates
            .iter()
            .map(|c| {
                let mut idx: Vec<usize> = (0..c.len()).collect();
                idx.sort_by_key(|&k| (c[k].salary, c[k].player));
                idx
            })
            .collect();
        Ok(Sampler {
            slate,
            rules,
            weights,
            order,
            candidates,
            by_salary,
            floor,
            teams: team_ids.len(),
            picked: Vec::with_capacity(rules.slots.len()),
            cheap_mark: vec![(0, None); slate.players.len()],
            dear_mark: vec![(0, None); slate.players.len()],
            marks: 0,
            chosen_at: vec![0; slate.players.len()],
            draws: 0,
            team_count: vec![(0, 0); team_ids.len()],
            cumulative: Vec::new(),
        })
    }

    /// Draws one valid lineup into `out` (players in slot order) and returns its salary; lowers the floor
    /// when the slate keeps failing to reach it.
    pub(super) fn draw(&mut self, rng: &mut ChaCha8Rng, out: &mut [usize]) -> Result<u32, SimulationError> {
        let mut failures = 0;
        loop {
            if let Some(salary) = self.try_draw(rng, out) {
                return Ok(salary);
            }
            failures += 1;
            if failures >= TRIES_PER_FLOOR {
                if self.floor == 0 {
                    return Err(SimulationError::Invalid(format!(
                        "field: {TRIES_PER_FLOOR} draws in a row found no lineup valid under the rules ({} {} {}); \
                         the slate has too few playable players with ownership",
                        self.rules.site.as_str(),
                        self.rules.sport.as_str(),
                        self.rules.contest.as_str()
                    )));
                }
                self.floor = self.floor.saturating_sub(self.rules.salary_cap / 100);
                failures = 0;
            }
        }
    }

    /// Fills `slots` greedily with the cheapest (`dear`: dearest) candidates not picked in this draw and
    /// returns the total, marking each pick with what his slot's next option costs more (less); `None` when a
    /// slot runs out of candidates.
    fn fill(&mut self, from: usize, stamp: u64, dear: bool) -> Option<u64> {
        let marks = self.marks;
        let mut sum = 0u64;
        for &slot in &self.order[from..] {
            let cands = &self.candidates[slot];
            let order = &self.by_salary[slot];
            let open = |k: &usize| {
                let p = cands[*k].player;
                let taken = if dear { self.dear_mark[p].0 } else { self.cheap_mark[p].0 };
                self.chosen_at[p] != stamp && taken != marks
            };
            let (first, second) = if dear {
                let mut it = order.iter().rev().filter(|k| open(k));
                (it.next().copied(), it.next().copied())
            } else {
                let mut it = order.iter().filter(|k| open(k));
                (it.next().copied(), it.next().copied())
            };
            let first = cands[first?];
            let delta = second.map(|k| cands[k].salary.abs_diff(first.salary));
            sum += u64::from(first.salary);
            if dear {
                self.dear_mark[first.player] = (marks, delta);
            } else {
                self.cheap_mark[first.player] = (marks, delta);
            }
        }
        Some(sum)
    }

    /// What the dearest lineup could cost, cap aside (an upper bound for nested eligibility, see `fill`).
    pub(super) fn dearest_lineup(&mut self) -> Option<u64> {
        self.draws += 1;
        self.marks += 1;
        self.fill(0, self.draws, true)
    }

    fn try_draw(&mut self, rng: &mut ChaCha8Rng, out: &mut [usize]) -> Option<u32> {
        self.draws += 1;
        let stamp = self.draws;
        self.team_count.iter_mut().for_each(|c| *c = (0, 0));
        debug_assert_eq!(self.team_count.len(), self.teams);
        let cap = self.rules.salary_cap;
        let mut spent = 0u32;
        self.picked.clear();
        for i in 0..self.order.len() {
            let slot = self.order[i];
            // What the slots after this one can cost: filled greedily (most restrictive slot first) with the
            // cheapest, and the dearest, players not picked yet. For nested eligibility (FLEX holds RB, WR
            // and TE) that is the exact least and most; a candidate who is himself one of those picks is
            // replaced by his slot's next option.
            self.marks += 1;
            let cheap_sum = self.fill(i + 1, stamp, false)?;
            let dear_sum = self.fill(i + 1, stamp, true)?;
            let marks = self.marks;
            self.cumulative.clear();
            let mut total = 0.0;
            for c in &self.candidates[slot] {
                let (all, hitters) = self.team_count[c.team];
                let replaced = |(m, extra): (u64, Option<u32>), sum: u64, up: bool| match (m == marks, extra) {
                    (false, _) => Some(sum),
                    (true, Some(e)) if up => Some(sum + u64::from(e)),
                    (true, Some(e)) => Some(sum.saturating_sub(u64::from(e))),
                    (true, None) => None,
                };
                let min_rest = replaced(self.cheap_mark[c.player], cheap_sum, true);
                let max_rest = replaced(self.dear_mark[c.player], dear_sum, false);
                let spend = u64::from(spent + c.salary);
                let ok = self.chosen_at[c.player] != stamp
                    && self.rules.max_per_team.is_none_or(|m| all < m)
                    && (!c.hitter || self.rules.max_hitters_per_team.is_none_or(|m| hitters < m))
                    && min_rest.is_some_and(|r| spend + r <= u64::from(cap))
                    && max_rest.is_some_and(|r| spend + r >= u64::from(self.floor));
                if ok {
                    total += self.weights[c.player];
                }
                self.cumulative.push(if ok { total } else { f64::NAN });
            }
            if total <= 0.0 {
                return None;
            }
            let r = rng.gen::<f64>() * total;
            let k = self.cumulative.iter().position(|&x| x > r).unwrap_or_else(|| {
                // Rounding at the top end: the last allowed candidate.
                self.cumulative.iter().rposition(|x| !x.is_nan()).expect("total > 0")
            });
            let c = self.candidates[slot][k];
            self.chosen_at[c.player] = stamp;
            self.team_count[c.team].0 += 1;
            self.team_count[c.team].1 += u8::from(c.hitter);
            spent += c.salary;
            out[slot] = c.player;
            self.picked.push(c);
        }
        // Team and game minimums; everything else held while drawing.
        let distinct = |key: &dyn Fn(&Candidate) -> Option<usize>| {
            let mut seen: Vec<usize> = self.picked.iter().filter_map(key).collect();
            seen.sort_unstable();
            seen.dedup();
            seen.len()
        };
        let ok = distinct(&|c| c.counted.then_some(c.team)) >= usize::from(self.rules.min_teams)
            && distinct(&|c| Some(c.game)) >= usize::from(self.rules.min_games);
        debug_assert_eq!(ok, check(self.slate, self.rules, out).is_ok(), "{out:?}");
        debug_assert!(!ok || spent >= self.floor && spent <= cap);
        ok.then_some(spent)
    }
}
