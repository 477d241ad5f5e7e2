//! One lineup problem in the search's terms: persons ranked by points, slots in search order with their
//! candidates (integer points and salary units), team and game rules, and "at least" requirements (stacks,
//! locks, min-exposure forcing) as options of counted member sets.
//!
//! Integers make ties and bounds exact: points are hundred-thousandths (a projection rounded to 1e-4 times the
//! slot multiplier in tenths), salaries are multiples of the slate's common divisor (100, or 50 where a
//! DraftKings captain row costs an odd 1.5×).

use crate::model::Slate;
use crate::rules::RuleSet;

/// Points scale: projections are rounded to 1/10,000 and multiplied by the slot multiplier in tenths.
pub(crate) const POINTS_SCALE: f64 = 100_000.0;

/// One person who may play, ranked: index 0 projects the most.
#[derive(Debug, Clone)]
pub(crate) struct Person {
    /// Index into `Slate::players`.
    pub slate_ix: usize,
    pub team: u16,
    pub game: u16,
    /// Counts against `max_hitters_per_team` (MLB: not a pitcher).
    pub hitter: bool,
    /// Counts toward `min_teams` (DraftKings NHL counts skaters only).
    pub counts_team: bool,
    /// Bit d: may fill search slot d.
    pub eligible: u32,
}

/// A candidate for a slot.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cand {
    pub person: u32,
    /// Salary in units of `Problem::unit`, as paid in this slot.
    pub cost: u32,
    /// Points in this slot (multiplier applied), in 1/`POINTS_SCALE`.
    pub pts: i64,
}

/// A slot in search order.
#[derive(Debug, Clone)]
pub(crate) struct Slot {
    /// Index into `RuleSet::slots`.
    pub rule_ix: usize,
    /// Identical slots (same name) form a group; the search fills a group's slots with rising person rank.
    pub first_in_group: bool,
    /// Slots with the same multipliers share a class: swapping two players between them changes nothing.
    pub class: u8,
    /// Candidates by points (descending), then rank.
    pub cands: Vec<Cand>,
    /// Earlier search slots of the same class but another group (for swap symmetry).
    pub swap_with: Vec<usize>,
}

/// "At least `need` picks from `members`" for one option of a requirement. Members are picks
/// (`person * n_classes + class`), so a captain lock names the captain pick only.
#[derive(Debug, Clone)]
pub(crate) struct Part {
    pub need: u8,
    /// Member picks.
    pub members: Vec<u32>,
    /// Parts marked `total` overlap the others (a game stack's whole-game count); the rest are disjoint.
    pub total: bool,
}

/// One way to satisfy a requirement (a team for a QB stack, a game for a game stack).
// `label` and `name` are read through `Debug` only, when a search is inspected.
#[derive(Debug, Clone)]
#[allow(dead_code)]
pub(crate) struct Option_ {
    pub label: String,
    pub parts: Vec<Part>,
}

/// A requirement: at least one of its options holds.
#[derive(Debug, Clone)]
#[allow(dead_code)]
pub(crate) struct Requirement {
    /// How errors name it: `stack qb`, `locks`, `min exposure`.
    pub name: String,
    pub options: Vec<Option_>,
}

/// A part before compilation: member picks, need, whether it is a `total` part.
pub(crate) type PartSpec = (Vec<u32>, u8, bool);

/// A requirement as the search sees it, flattened.
#[derive(Debug, Clone, Default)]
pub(crate) struct Requirements {
    pub list: Vec<Requirement>,
    /// Per pick: (requirement, option, part) counters it increments.
    pub member_of: Vec<Vec<(u16, u16, u8)>>,
}

impl Requirements {
    /// Adds a requirement whose options' parts are given as member pick lists.
    pub fn add(&mut self, name: String, options: Vec<(String, Vec<PartSpec>)>) {
        let r = self.list.len() as u16;
        let mut opts = Vec::new();
        for (o, (label, parts)) in options.into_iter().enumerate() {
            let mut ps = Vec::new();
            for (p, (members, need, total)) in parts.into_iter().enumerate() {
                for &m in &members {
                    let m = m as usize;
                    if self.member_of.len() <= m {
                        self.member_of.resize(m + 1, Vec::new());
                    }
                    self.member_of[m].push((r, o as u16, p as u8));
                }
                ps.push(Part { need, members, total });
            }
            opts.push(Option_ { label, parts: ps });
        }
        self.list.push(Requirement { name, options: opts });
    }
}

/// A compiled lineup problem.
#[derive(Debug, Clone)]
pub(crate) struct Problem {
    pub size: usize,
    pub n_classes: usize,
    pub persons: Vec<Person>,
    pub slots: Vec<Slot>,
    /// Highest total salary, in units.
    pub cap: u32,
    /// Lowest total salary, in units (rounded up).
    pub min_salary: u32,
    pub n_teams: usize,
    pub n_games: usize,
    pub team_limit: Vec<u8>,
    pub hitter_limit: Option<u8>,
    pub min_teams: u8,
    pub min_games: u8,
    pub reqs: Requirements,
    /// Uniqueness: at most this many picks shared with any earlier lineup.
    pub max_overlap: usize,
}

/// What changes from one solve to the next of the same request.
#[derive(Debug, Clone, Default)]
pub(crate) struct Inputs<'a> {
    /// Points per slate player (projection after overrides, perturbation).
    pub points: &'a [f64],
    /// Slate players that may play (filters, exposure bans applied).
    pub allowed: &'a [bool],
    /// Requirements in slate-player terms, compiled to picks here.
    pub requirements: &'a [SlateRequirement],
}

/// A requirement in slate terms: options of parts, each part a list of (slate player, class or any) members.
#[derive(Debug, Clone)]
pub(crate) struct SlateRequirement {
    pub name: String,
    pub options: Vec<(String, Vec<SlatePart>)>,
}

#[derive(Debug, Clone)]
pub(crate) struct SlatePart {
    /// (slate player index, Some(class) for one slot class only, None for any).
    pub members: Vec<(usize, Option<u8>)>,
    pub need: u8,
    pub total: bool,
}

/// The request-independent shape of a slate under a rule set: classes, eligibility, teams, limits.
#[derive(Debug, Clone)]
pub(crate) struct Shape {
    pub size: usize,
    /// Class per rule slot.
    pub slot_class: Vec<u8>,
    pub n_classes: usize,
    /// (points multiplier in tenths, salary per class) per class.
    pub class_mult: Vec<i64>,
    /// Per slate player: rule slots he may fill (bit per rule slot).
    pub eligible: Vec<u32>,
    /// Per slate player and class: salary in dollars in that class.
    pub salary: Vec<Vec<u32>>,
    pub team_of: Vec<u16>,
    pub game_of: Vec<u16>,
    pub teams: Vec<String>,
    pub games: Vec<String>,
    pub hitter: Vec<bool>,
    pub counts_team: Vec<bool>,
    pub team_limit: Vec<u8>,
    pub cap: u32,
    pub min_salary: u32,
    pub max_overlap: usize,
}

impl Shape {
    /// The team index of a team abbreviation.
    pub fn team(&self, abbrev: &str) -> Option<u16> {
        self.teams.iter().position(|t| t.eq_ignore_ascii_case(abbrev)).map(|t| t as u16)
    }
}

/// The slate's classes: slots with equal (points, salary) multipliers.
pub(crate) fn classes(rules: &RuleSet) -> (Vec<u8>, Vec<(f64, f64)>) {
    let mut kinds: Vec<(f64, f64)> = Vec::new();
    let mut of = Vec::new();
    for s in rules.slots {
        let k = (s.points_mult, s.salary_mult);
        let c = kinds.iter().position(|&x| x == k).unwrap_or_else(|| {
            kinds.push(k);
            kinds.len() - 1
        });
        of.push(c as u8);
    }
    (of, kinds)
}

/// The slots a player may fill, as a bit per rule slot: the file's own list (DraftKings `Roster Position`),
/// else the rule set's `accepts`.
pub(crate) fn eligible_bits(rules: &RuleSet, eligible: &[String], positions: &[String]) -> u32 {
    let names: Vec<String> = if eligible.is_empty() { rules.eligible_for(positions) } else { eligible.to_vec() };
    let mut bits = 0u32;
    for (i, s) in rules.slots.iter().enumerate() {
        if names.iter().any(|n| n == s.name) {
            bits |= 1 << i;
        }
    }
    bits
}

/// Salary of a player in a slot of multiplier `salary_mult`: the captain row's own salary where the file has
/// one, else the salary times the multiplier (rounded to a dollar).
pub(crate) fn slot_salary(p: &crate::model::Player, salary_mult: f64) -> u32 {
    if salary_mult == 1.0 {
        return p.salary;
    }
    match &p.captain {
        Some(c) => c.salary,
        None => (p.salary as f64 * salary_mult).round() as u32,
    }
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// Compiles one solve: persons allowed and ranked by points, candidates per slot in search order, bounds'
/// inputs, requirements as picks. `None` when a slot has no candidate at all.
pub(crate) fn compile(slate: &Slate, rules: &RuleSet, shape: &Shape, inputs: &Inputs) -> Problem {
    let n = slate.players.len();
    let scaled: Vec<i64> = inputs.points.iter().map(|&p| (p * 10_000.0).round() as i64).collect();
    // Rank: points desc, then salary asc, then slate order: a total order every tie-break below follows.
    let mut order: Vec<usize> = (0..n).filter(|&i| inputs.allowed[i] && shape.eligible[i] != 0).collect();
    order.sort_by(|&a, &b| {
        scaled[b].cmp(&scaled[a]).then(slate.players[a].salary.cmp(&slate.players[b].salary)).then(a.cmp(&b))
    });
    let mut rank_of = vec![u32::MAX; n];
    for (r, &i) in order.iter().enumerate() {
        rank_of[i] = r as u32;
    }

    // Search order: groups of same-name slots, fewest candidates first (broad FLEX/UTIL slots last, where
    // the remaining budget bounds them best).
    let mut groups: Vec<(String, Vec<usize>)> = Vec::new();
    for (i, s) in rules.slots.iter().enumerate() {
        match groups.iter_mut().find(|(name, _)| name == s.name) {
            Some((_, v)) => v.push(i),
            None => groups.push((s.name.to_owned(), vec![i])),
        }
    }
    let count = |rule_ix: usize| order.iter().filter(|&&i| shape.eligible[i] & (1 << rule_ix) != 0).count();
    groups.sort_by_key(|(_, v)| (count(v[0]), v[0]));
    let search: Vec<usize> = groups.iter().flat_map(|(_, v)| v.iter().copied()).collect();

    let mut unit = rules.salary_cap.max(1);
    unit = gcd(unit, shape.cap.max(1));
    for &i in &order {
        for c in 0..shape.n_classes {
            unit = gcd(unit, shape.salary[i][c]);
        }
    }
    let unit = unit.max(1);

    let persons: Vec<Person> = order
        .iter()
        .map(|&i| {
            let mut eligible = 0u32;
            for (d, &rule_ix) in search.iter().enumerate() {
                if shape.eligible[i] & (1 << rule_ix) != 0 {
                    eligible |= 1 << d;
                }
            }
            Person {
                slate_ix: i,
                team: shape.team_of[i],
                game: shape.game_of[i],
                hitter: shape.hitter[i],
                counts_team: shape.counts_team[i],
                eligible,
            }
        })
        .collect();

    let mut slots: Vec<Slot> = Vec::new();
    for (d, &rule_ix) in search.iter().enumerate() {
        let class = shape.slot_class[rule_ix];
        let mult = shape.class_mult[class as usize];
        let mut cands: Vec<Cand> = persons
            .iter()
            .enumerate()
            .filter(|(_, p)| p.eligible & (1 << d) != 0)
            .map(|(r, p)| Cand {
                person: r as u32,
                cost: shape.salary[p.slate_ix][class as usize] / unit,
                pts: scaled[p.slate_ix] * mult,
            })
            .collect();
        cands.sort_by(|a, b| b.pts.cmp(&a.pts).then(a.person.cmp(&b.person)));
        let first_in_group = d == 0 || rules.slots[search[d - 1]].name != rules.slots[rule_ix].name;
        let swap_with = (0..d)
            .filter(|&e| {
                shape.slot_class[search[e]] == class && rules.slots[search[e]].name != rules.slots[rule_ix].name
            })
            .collect();
        slots.push(Slot { rule_ix, first_in_group, class, cands, swap_with });
    }

    let mut reqs = Requirements::default();
    for r in inputs.requirements {
        let mut options = Vec::new();
        for (label, parts) in &r.options {
            let mut ps = Vec::new();
            for part in parts {
                let mut members = Vec::new();
                for &(i, class) in &part.members {
                    let rank = rank_of[i];
                    if rank == u32::MAX {
                        continue;
                    }
                    match class {
                        Some(c) => members.push(rank * shape.n_classes as u32 + c as u32),
                        None => members.extend((0..shape.n_classes as u32).map(|c| rank * shape.n_classes as u32 + c)),
                    }
                }
                ps.push((members, part.need, part.total));
            }
            options.push((label.clone(), ps));
        }
        reqs.add(r.name.clone(), options);
    }
    reqs.member_of.resize(persons.len() * shape.n_classes, Vec::new());

    Problem {
        size: rules.slots.len(),
        n_classes: shape.n_classes,
        persons,
        slots,
        cap: shape.cap / unit,
        min_salary: shape.min_salary.div_ceil(unit),
        n_teams: shape.teams.len(),
        n_games: shape.games.len(),
        team_limit: shape.team_limit.clone(),
        hitter_limit: rules.max_hitters_per_team,
        min_teams: rules.min_teams,
        min_games: rules.min_games,
        reqs,
        max_overlap: shape.max_overlap,
    }
}
