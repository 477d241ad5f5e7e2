//! Seeded, realistic sample slates: no site ships its salary files for reuse, so tests, benchmarks and demos
//! generate their own. The same site, sport, contest type, seed and options give the same slate, byte for byte
//! once serialised.
//!
//! What makes them realistic (and worth optimizing on): real roster shapes per team (NFL depth charts, NBA
//! thirteen-man rosters with dual positions, MLB batting orders and idle starters, NHL lines and pairs),
//! salaries per position and site in steps of 100 (DraftKings captain rows at exactly 1.5×), projections that
//! follow salary with noise (so value plays exist), a spread per position, ownership that sums to about
//! 100 % per roster slot and concentrates on value, made-up teams and players, games `AWAY@HOME` with lock
//! times, and ids in each site's shape (DraftKings: 8 digits; FanDuel: `12345-67890`).

mod names;
mod rosters;

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

use crate::model::{CaptainRow, ContestType, Game, GameStatus, Player, Site, Slate, Sport};
use crate::rules::{self, RuleSet};
use rosters::{Kind, Spot};

/// Knobs beyond site, sport, contest type and seed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SlateOptions {
    /// Number of games of a classic slate (default: a main slate's, NFL 13-14, NBA 8-10, MLB 10-12, NHL 8;
    /// at most half the league). Showdown / single-game slates have one game whatever this says.
    pub games: Option<usize>,
}

/// A main slate of the site, sport and contest type, generated from `seed`.
pub fn slate(site: Site, sport: Sport, contest: ContestType, seed: u64) -> Slate {
    slate_with(site, sport, contest, seed, &SlateOptions::default())
}

/// A slate with explicit options.
pub fn slate_with(site: Site, sport: Sport, contest: ContestType, seed: u64, options: &SlateOptions) -> Slate {
    let rules = rules::lookup(site, sport, contest).expect("every site, sport and contest type has a rule set");
    let mut rng = ChaCha8Rng::seed_from_u64(mix(seed, site, sport, contest));
    // One league per sport whatever the seed, like real leagues: the seed picks who plays whom.
    let mut league_rng = ChaCha8Rng::seed_from_u64(0x1ea6_0e00 + sport as u64);
    let teams = names::league(&mut league_rng, league_size(sport));

    let games_wanted = match contest {
        ContestType::Showdown => 1,
        ContestType::Classic => options.games.unwrap_or_else(|| default_games(sport, &mut rng)),
    };
    let games_n = games_wanted.clamp(1, teams.len() / 2);
    let mut order: Vec<usize> = (0..teams.len()).collect();
    order.shuffle(&mut rng);
    let day = epoch_day(sport);
    let times = kickoffs(sport, contest);
    let games: Vec<Game> = (0..games_n)
        .map(|g| {
            let (away, home) = (&teams[order[2 * g]].abbrev, &teams[order[2 * g + 1]].abbrev);
            let (minutes_et, utc_offset_h) = times[g.min(times.len() - 1)];
            Game {
                id: format!("{away}@{home}"),
                away: away.clone(),
                home: home.clone(),
                start: Some(day * 86_400 + (minutes_et as i64) * 60 + utc_offset_h * 3_600),
                status: GameStatus::Scheduled,
            }
        })
        .collect();

    let with_kicker = !rules.eligible_for(&["K".to_owned()]).is_empty();
    let mut ids = Ids::new(site, &mut rng);
    let noise = Normal::new(0.0, 1.0).expect("unit normal");
    let mut players: Vec<Player> = Vec::new();
    let mut taken = std::collections::BTreeSet::new();
    // per player: his kind and his price's place in the kind's range (talent plus the pricer's own noise)
    let mut priced: Vec<(Kind, f64)> = Vec::new();
    for (g, game) in games.iter().enumerate() {
        for (team_ix, opponent_ix) in [(order[2 * g], order[2 * g + 1]), (order[2 * g + 1], order[2 * g])] {
            let team = &teams[team_ix];
            for spot in rosters::roster(&mut rng, sport, with_kicker) {
                let name = match spot.kind {
                    Kind::Dst => format!("{} {}", team.city, team.nickname),
                    // Unique within the slate: tools (pydfs among them) match players by name.
                    _ => loop {
                        let n = names::person(&mut rng);
                        if taken.insert(n.clone()) {
                            break n;
                        }
                    },
                };
                let player = make_player(&mut rng, &noise, rules, &spot, &mut ids, name);
                if let Some(mut p) = player {
                    p.team = team.abbrev.clone();
                    p.opponent = teams[opponent_ix].abbrev.clone();
                    p.game = game.id.clone();
                    players.push(p);
                    priced.push((spot.kind, spot_price(&mut rng, &noise, &spot)));
                }
            }
        }
    }
    set_salaries(rules, &mut players, &priced);
    assign_ownership(rules, &mut players);
    players.sort_by(|a, b| b.salary.cmp(&a.salary).then_with(|| a.name.cmp(&b.name)).then_with(|| a.id.cmp(&b.id)));

    let short = match site {
        Site::DraftKings => "dk",
        Site::FanDuel => "fd",
    };
    let first_lock = games.iter().filter_map(|g| g.start).min().unwrap_or(0);
    Slate {
        id: format!("{short}-{}-{}-gen-{seed}", sport.as_str(), contest.as_str()),
        site,
        sport,
        contest,
        name: format!(
            "generated {} {} {} (seed {seed}, {} game{})",
            short.to_uppercase(),
            sport.as_str().to_uppercase(),
            contest.as_str(),
            games.len(),
            if games.len() == 1 { "" } else { "s" }
        ),
        games,
        players,
        imported_at: first_lock - 6 * 3_600,
    }
}

fn mix(seed: u64, site: Site, sport: Sport, contest: ContestType) -> u64 {
    let tag = ((site as u64) << 8) | ((sport as u64) << 4) | contest as u64;
    seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ tag.wrapping_mul(0xbf58_476d_1ce4_e5b9)
}

fn league_size(sport: Sport) -> usize {
    match sport {
        Sport::Nfl | Sport::Nhl => 32,
        Sport::Nba | Sport::Mlb => 30,
    }
}

fn default_games(sport: Sport, rng: &mut ChaCha8Rng) -> usize {
    match sport {
        Sport::Nfl => rng.gen_range(13..=14),
        Sport::Nba => rng.gen_range(8..=10),
        Sport::Mlb => rng.gen_range(10..=12),
        Sport::Nhl => 8,
    }
}

/// A fixed in-season date per sport, as days since the Unix epoch: NFL Sunday 2025-10-12, NBA 2025-11-18,
/// MLB 2025-06-14, NHL 2025-12-02.
fn epoch_day(sport: Sport) -> i64 {
    match sport {
        Sport::Nfl => days_from_civil(2025, 10, 12),
        Sport::Nba => days_from_civil(2025, 11, 18),
        Sport::Mlb => days_from_civil(2025, 6, 14),
        Sport::Nhl => days_from_civil(2025, 12, 2),
    }
}

/// Howard Hinnant's days-from-civil: days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Start times in minutes after midnight Eastern, with the hours to add for UTC on that sport's date
/// (EDT in October and June, EST in November and December), earliest first.
fn kickoffs(sport: Sport, contest: ContestType) -> Vec<(u32, i64)> {
    let et = |h: u32, m: u32| h * 60 + m;
    let (list, offset): (Vec<u32>, i64) = match (sport, contest) {
        (Sport::Nfl, ContestType::Showdown) => (vec![et(20, 20)], 4),
        (Sport::Nfl, _) => {
            let mut v = vec![et(13, 0); 10];
            v.extend([et(16, 5), et(16, 5), et(16, 25), et(16, 25), et(16, 25), et(16, 25)]);
            (v, 4)
        }
        (Sport::Nba, ContestType::Showdown) => (vec![et(19, 30)], 5),
        (Sport::Nba, _) => {
            let v = [(19, 0), (19, 0), (19, 30), (19, 30), (20, 0), (20, 0), (20, 30), (21, 0), (22, 0), (22, 0)];
            (v.iter().map(|&(h, m)| et(h, m)).chain([et(22, 30); 6]).collect(), 5)
        }
        (Sport::Mlb, ContestType::Showdown) => (vec![et(19, 5)], 4),
        (Sport::Mlb, _) => {
            let v = [(13, 5), (13, 10), (16, 5), (18, 40), (19, 5), (19, 5), (19, 10), (19, 10), (20, 10), (21, 40)];
            (v.iter().map(|&(h, m)| et(h, m)).chain([et(22, 10); 6]).collect(), 4)
        }
        (Sport::Nhl, ContestType::Showdown) => (vec![et(19, 0)], 5),
        (Sport::Nhl, _) => {
            let v = [(19, 0), (19, 0), (19, 0), (19, 30), (19, 30), (20, 0), (21, 0), (22, 0)];
            (v.iter().map(|&(h, m)| et(h, m)).chain([et(22, 30); 8]).collect(), 5)
        }
    };
    list.into_iter().map(|m| (m, offset)).collect()
}

/// Player ids in the site's shape, unique within the slate.
struct Ids {
    site: Site,
    next: u64,
    next_captain: u64,
    fd_slate: u64,
}

impl Ids {
    fn new(site: Site, rng: &mut ChaCha8Rng) -> Ids {
        let next = rng.gen_range(30_000_000..38_000_000);
        Ids { site, next, next_captain: next + 1_000_000, fd_slate: rng.gen_range(90_000..100_000) }
    }
    fn player(&mut self, rng: &mut ChaCha8Rng) -> String {
        match self.site {
            Site::DraftKings => {
                self.next += rng.gen_range(1..=9);
                self.next.to_string()
            }
            Site::FanDuel => {
                // FanDuel: the slate's number, a dash, the player's number.
                self.next += rng.gen_range(1..=9);
                format!("{}-{}", self.fd_slate, 10_000 + self.next % 90_000)
            }
        }
    }
    fn captain(&mut self, rng: &mut ChaCha8Rng) -> String {
        self.next_captain += rng.gen_range(1..=9);
        self.next_captain.to_string()
    }
}

/// Rounded to `1 / per` (per = 100: hundredths), dividing last so the printed decimal is the short one.
fn round_to(x: f64, per: f64) -> f64 {
    (x * per).round() / per
}

fn round100(x: f64) -> u32 {
    ((x / 100.0).round() as u32) * 100
}

/// Where the site prices a spot within his kind's range, 0 to 1: his talent as the site sees it.
fn spot_price(rng: &mut ChaCha8Rng, noise: &Normal<f64>, spot: &Spot) -> f64 {
    (spot.talent + 0.07 * noise.sample(rng)).clamp(0.0, 1.0)
}

/// Salaries from the prices. A classic slate prices each kind on its classic range. A single-game slate
/// prices each kind on its own single-game range relative to the game's best of that kind (the sites price
/// the game's best quarterback at the top whoever he is), so the studs of a game never fit under the cap
/// together and the cap binds, as on the sites' single-game slates. DraftKings captain rows cost exactly 1.5×.
fn set_salaries(rules: &RuleSet, players: &mut [Player], priced: &[(Kind, f64)]) {
    let (site, sport) = (rules.site, rules.sport);
    for (p, &(kind, price)) in players.iter_mut().zip(priced) {
        let (lo, hi, place) = match rules.contest {
            ContestType::Classic => {
                let (lo, hi) = rosters::scale(site, kind).salary;
                (lo, hi, price)
            }
            ContestType::Showdown => {
                let (lo, hi) = rosters::single_game_scale(site, sport, kind);
                let best = priced.iter().filter(|(k, _)| *k == kind).map(|(_, x)| *x).fold(0.0, f64::max);
                (lo, hi, if best > 0.0 { price / best } else { 0.0 })
            }
        };
        p.salary = round100(lo as f64 + (hi - lo) as f64 * place);
        if let Some(c) = p.captain.as_mut() {
            // Exactly 1.5×, as the sites price them: a multiple of 50 when the base is an odd hundred.
            c.salary = p.salary * 3 / 2;
        }
    }
}

fn make_player(
    rng: &mut ChaCha8Rng,
    noise: &Normal<f64>,
    rules: &RuleSet,
    spot: &Spot,
    ids: &mut Ids,
    name: String,
) -> Option<Player> {
    let site = rules.site;
    let positions: Vec<String> = spot.positions.iter().map(|p| site_position(site, p).to_owned()).collect();
    let eligible = rules.eligible_for(&positions);
    if eligible.is_empty() {
        return None;
    }
    let scale = rosters::scale(site, spot.kind);

    let status = match rng.gen_range(0..100) {
        0..=1 => "O",
        2..=5 => "Q",
        _ => "",
    };
    let plays = spot.active && status != "O";
    let projection = if !plays {
        0.0
    } else if spot.talent < 0.03 {
        rng.gen_range(0.0..scale.points.0)
    } else {
        let mean = scale.points.0 + (scale.points.1 - scale.points.0) * spot.talent;
        mean * (0.12 * noise.sample(rng)).exp()
    };
    let projection = round_to(projection, 100.0);
    let stdev = if projection > 0.0 { round_to((projection * scale.cv).max(0.5), 100.0) } else { 0.0 };
    let avg_points = if rng.gen_bool(0.06) {
        0.0 // a rookie, or a player new to the site: the file's average is zero
    } else {
        round_to((projection.max(0.3) * (0.2 * noise.sample(rng)).exp()).max(0.0), 100.0)
    };
    let id = ids.player(rng);
    let captain = rules
        .slots
        .iter()
        .any(|s| s.salary_mult != 1.0 && site == Site::DraftKings)
        .then(|| CaptainRow { id: ids.captain(rng), salary: 0 });
    Some(Player {
        id,
        name,
        positions,
        eligible,
        team: String::new(),
        opponent: String::new(),
        game: String::new(),
        salary: 0, // set_salaries, once the slate's players are known
        captain,
        avg_points,
        projection: Some(projection),
        stdev: Some(stdev),
        ownership: None,
        ceiling: Some(round_to(projection + 1.28 * stdev, 100.0)),
        floor: Some(round_to((projection - 1.28 * stdev).max(0.0), 100.0)),
        status: status.to_owned(),
        batting_order: spot.batting_order,
        line: spot.line.clone(),
    })
}

/// The site's own name for a position: FanDuel calls a defense `D` and every pitcher `P`.
fn site_position(site: Site, pos: &'static str) -> &'static str {
    match (site, pos) {
        (Site::FanDuel, "DST") => "D",
        (Site::FanDuel, "SP" | "RP") => "P",
        _ => pos,
    }
}

/// Each roster slot hands out 100 % of ownership among the players who may fill it, weighted towards points
/// per dollar (the crowd chases value), so the slate sums to 100 × lineup size and value plays are chalk.
fn assign_ownership(rules: &RuleSet, players: &mut [Player]) {
    let mut owned = vec![0.0f64; players.len()];
    for slot in rules.slots {
        let weights: Vec<f64> = players
            .iter()
            .map(|p| {
                if !p.may_fill(slot.name) || p.points() <= 0.0 {
                    return 0.0;
                }
                let salary = match (&p.captain, slot.salary_mult != 1.0) {
                    (Some(c), true) => c.salary,
                    _ => p.salary,
                } as f64;
                let points = p.points() * slot.points_mult;
                let value = points / (salary / 1_000.0);
                points * value.powi(3)
            })
            .collect();
        let total: f64 = weights.iter().sum();
        if total > 0.0 {
            for (o, w) in owned.iter_mut().zip(&weights) {
                *o += 100.0 * w / total;
            }
        }
    }
    // Nobody is in every lineup: cap at 95 % and hand the excess to the others in proportion (small
    // single-game pools would otherwise lose most of a slot's share to the cap).
    for _ in 0..20 {
        let excess: f64 = owned.iter().map(|o| (o - 95.0).max(0.0)).sum();
        let room: f64 = owned.iter().filter(|&&o| o < 95.0).sum();
        if excess < 1e-9 || room <= 0.0 {
            break;
        }
        for o in owned.iter_mut() {
            *o = if *o >= 95.0 { 95.0 } else { *o * (1.0 + excess / room) };
        }
    }
    for (p, o) in players.iter_mut().zip(owned) {
        p.ownership = Some(round_to(o.min(95.0), 10.0));
    }
}

#[cfg(test)]
mod tests;
