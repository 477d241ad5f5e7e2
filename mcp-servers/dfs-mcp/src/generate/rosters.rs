//! Team rosters per sport (depth charts, lines, batting orders) and the salary and points scales per site.
//!
//! A roster spot carries a "talent" in [0, 1] drawn from its depth: a starter's range is high, a deep backup's
//! near zero. Salary and projection both follow talent, each with its own noise, so value plays exist.

use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::model::{Site, Sport};

/// What prices and scores a spot: one row of a [`Scale`] table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Qb,
    Rb,
    Wr,
    Te,
    Dst,
    K,
    Hoops,
    Sp,
    Rp,
    Hitter,
    Forward,
    Defense,
    Goalie,
}

/// One player-to-be of a team.
#[derive(Debug, Clone)]
pub(crate) struct Spot {
    pub kind: Kind,
    /// DraftKings-style position names (`["PG", "SG"]`); the site's own names are set later.
    pub positions: Vec<&'static str>,
    pub talent: f64,
    /// Plays only if true: a starting pitcher who does not start today, a backup goalie, projects zero.
    pub active: bool,
    pub batting_order: Option<u8>,
    pub line: Option<String>,
}

fn spot(rng: &mut ChaCha8Rng, kind: Kind, positions: &[&'static str], lo: f64, hi: f64) -> Spot {
    Spot {
        kind,
        positions: positions.to_vec(),
        talent: rng.gen_range(lo..=hi),
        active: true,
        batting_order: None,
        line: None,
    }
}

/// A team's roster. `with_kicker`: the site's rules have a slot a kicker can fill.
pub(crate) fn roster(rng: &mut ChaCha8Rng, sport: Sport, with_kicker: bool) -> Vec<Spot> {
    match sport {
        Sport::Nfl => nfl(rng, with_kicker),
        Sport::Nba => nba(rng),
        Sport::Mlb => mlb(rng),
        Sport::Nhl => nhl(rng),
    }
}

fn depth(rng: &mut ChaCha8Rng, out: &mut Vec<Spot>, kind: Kind, pos: &'static str, ranges: &[(f64, f64)], n: usize) {
    for &(lo, hi) in ranges.iter().take(n) {
        out.push(spot(rng, kind, &[pos], lo, hi));
    }
}

fn nfl(rng: &mut ChaCha8Rng, with_kicker: bool) -> Vec<Spot> {
    let mut out = Vec::new();
    let qbs = rng.gen_range(2..=3);
    depth(rng, &mut out, Kind::Qb, "QB", &[(0.3, 1.0), (0.0, 0.06), (0.0, 0.02)], qbs);
    let rbs = rng.gen_range(4..=5);
    depth(rng, &mut out, Kind::Rb, "RB", &[(0.35, 1.0), (0.08, 0.45), (0.0, 0.2), (0.0, 0.05), (0.0, 0.02)], rbs);
    let wrs = rng.gen_range(6..=7);
    let wr = [(0.45, 1.0), (0.25, 0.8), (0.1, 0.45), (0.0, 0.2), (0.0, 0.08), (0.0, 0.03), (0.0, 0.02)];
    depth(rng, &mut out, Kind::Wr, "WR", &wr, wrs);
    let tes = rng.gen_range(3..=4);
    depth(rng, &mut out, Kind::Te, "TE", &[(0.15, 1.0), (0.0, 0.15), (0.0, 0.04), (0.0, 0.02)], tes);
    out.push(spot(rng, Kind::Dst, &["DST"], 0.0, 1.0));
    if with_kicker {
        out.push(spot(rng, Kind::K, &["K"], 0.0, 1.0));
    }
    out
}

fn nba(rng: &mut ChaCha8Rng) -> Vec<Spot> {
    const SHAPES: &[&[&str]] = &[
        &["PG"],
        &["PG", "SG"],
        &["SG"],
        &["SG", "SF"],
        &["SF"],
        &["SF", "PF"],
        &["PF"],
        &["PF", "C"],
        &["C"],
        &["PG"],
        &["SG"],
        &["SF"],
        &["C"],
    ];
    let talent = [
        (0.55, 1.0),
        (0.35, 0.85),
        (0.25, 0.6),
        (0.15, 0.45),
        (0.1, 0.35),
        (0.05, 0.25),
        (0.03, 0.18),
        (0.0, 0.12),
        (0.0, 0.08),
        (0.0, 0.04),
        (0.0, 0.03),
        (0.0, 0.02),
        (0.0, 0.01),
    ];
    let mut shapes: Vec<&[&str]> = SHAPES.to_vec();
    shapes.shuffle(rng);
    shapes.iter().zip(talent).map(|(pos, (lo, hi))| spot(rng, Kind::Hoops, pos, lo, hi)).collect()
}

fn mlb(rng: &mut ChaCha8Rng) -> Vec<Spot> {
    let mut out = vec![spot(rng, Kind::Sp, &["SP"], 0.2, 1.0)];
    let mut idle = spot(rng, Kind::Sp, &["SP"], 0.0, 0.6);
    idle.active = false;
    out.push(idle);
    for _ in 0..rng.gen_range(3..=5) {
        out.push(spot(rng, Kind::Rp, &["RP"], 0.0, 0.12));
    }
    let dh: &'static str = ["1B", "OF", "3B", "C"][rng.gen_range(0..4)];
    let mut fielders: Vec<&'static str> = vec!["C", "1B", "2B", "3B", "SS", "OF", "OF", "OF", dh];
    fielders.shuffle(rng);
    let order = [(0.3, 1.0), (0.35, 1.0), (0.4, 1.0), (0.35, 1.0), (0.25, 0.9), (0.15, 0.7), (0.1, 0.6), (0.05, 0.5)];
    for (i, pos) in fielders.into_iter().enumerate() {
        let (lo, hi) = order.get(i).copied().unwrap_or((0.0, 0.4));
        let positions = mlb_positions(rng, pos);
        let mut s = spot(rng, Kind::Hitter, &positions, lo, hi);
        s.batting_order = Some(i as u8 + 1);
        out.push(s);
    }
    for pos in ["C", "SS", "OF", "1B"] {
        let positions = mlb_positions(rng, pos);
        let mut s = spot(rng, Kind::Hitter, &positions, 0.0, 0.05);
        s.active = rng.gen_bool(0.5);
        out.push(s);
    }
    out
}

/// About one hitter in five also qualifies at a second position (`1B/OF`, `2B/SS`), in the sites' order.
fn mlb_positions(rng: &mut ChaCha8Rng, primary: &'static str) -> Vec<&'static str> {
    if !rng.gen_bool(0.2) {
        return vec![primary];
    }
    let second: &'static str = match primary {
        "C" => "1B",
        "1B" => ["3B", "OF"][rng.gen_range(0..2)],
        "2B" => ["SS", "OF"][rng.gen_range(0..2)],
        "3B" => ["1B", "SS"][rng.gen_range(0..2)],
        "SS" => "2B",
        _ => ["1B", "2B"][rng.gen_range(0..2)],
    };
    const ORDER: [&str; 6] = ["C", "1B", "2B", "3B", "SS", "OF"];
    let mut both = vec![primary, second];
    both.sort_by_key(|p| ORDER.iter().position(|o| o == p));
    both
}

fn nhl(rng: &mut ChaCha8Rng) -> Vec<Spot> {
    let mut out = Vec::new();
    let lines = [(0.5, 1.0), (0.25, 0.7), (0.05, 0.35), (0.0, 0.15)];
    for (i, (lo, hi)) in lines.into_iter().enumerate() {
        for pos in ["C", "W", "W"] {
            let positions: &[&'static str] = if rng.gen_bool(0.08) { &["C", "W"] } else { &[pos] };
            let mut s = spot(rng, Kind::Forward, positions, lo, hi);
            s.line = Some(format!("L{}", i + 1));
            out.push(s);
        }
    }
    for (i, (lo, hi)) in [(0.4, 1.0), (0.15, 0.55), (0.0, 0.25)].into_iter().enumerate() {
        for _ in 0..2 {
            let mut s = spot(rng, Kind::Defense, &["D"], lo, hi);
            s.line = Some(format!("D{}", i + 1));
            out.push(s);
        }
    }
    out.push(spot(rng, Kind::Goalie, &["G"], 0.3, 1.0));
    let mut backup = spot(rng, Kind::Goalie, &["G"], 0.0, 0.3);
    backup.active = false;
    out.push(backup);
    out
}

/// Salary range (dollars) and projection range (points) of a kind on a site's classic slates, and the
/// coefficient of variation of its points.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Scale {
    pub salary: (u32, u32),
    pub points: (f64, f64),
    pub cv: f64,
}

const fn sc(lo: u32, hi: u32, plo: f64, phi: f64, cv: f64) -> Scale {
    Scale { salary: (lo, hi), points: (plo, phi), cv }
}

/// The classic scale of a kind on a site.
pub(crate) fn scale(site: Site, kind: Kind) -> Scale {
    use Kind::*;
    match (site, kind) {
        (Site::DraftKings, Qb) => sc(4_000, 8_400, 6.0, 24.0, 0.38),
        (Site::DraftKings, Rb) => sc(4_000, 9_400, 1.0, 23.0, 0.5),
        (Site::DraftKings, Wr) => sc(3_000, 9_200, 1.0, 22.0, 0.55),
        (Site::DraftKings, Te) => sc(2_500, 7_800, 1.0, 17.0, 0.6),
        (Site::DraftKings, Dst) => sc(2_000, 4_200, 3.0, 10.0, 0.7),
        (Site::DraftKings, K) => sc(2_000, 4_000, 4.0, 10.0, 0.5),
        (Site::DraftKings, Hoops) => sc(3_000, 11_500, 3.0, 58.0, 0.28),
        (Site::DraftKings, Sp) => sc(5_000, 11_500, 4.0, 22.0, 0.45),
        (Site::DraftKings, Rp) => sc(4_000, 5_500, 0.5, 4.0, 1.0),
        (Site::DraftKings, Hitter) => sc(2_000, 6_200, 2.0, 11.0, 0.75),
        // DraftKings NHL scores lower than FanDuel's: a first-line star projects 15-20, a lineup 90-110.
        (Site::DraftKings, Forward) => sc(2_500, 9_000, 2.0, 15.5, 0.65),
        (Site::DraftKings, Defense) => sc(2_500, 8_000, 2.0, 12.0, 0.65),
        (Site::DraftKings, Goalie) => sc(7_000, 8_600, 6.0, 14.0, 0.55),
        (Site::FanDuel, Qb) => sc(6_000, 9_200, 6.0, 24.0, 0.38),
        (Site::FanDuel, Rb) => sc(4_500, 9_800, 1.5, 22.0, 0.5),
        (Site::FanDuel, Wr) => sc(4_500, 9_400, 1.5, 20.0, 0.55),
        (Site::FanDuel, Te) => sc(4_000, 8_000, 1.0, 15.0, 0.6),
        (Site::FanDuel, Dst) => sc(3_000, 5_200, 3.0, 10.0, 0.7),
        (Site::FanDuel, K) => sc(4_000, 5_500, 4.0, 10.0, 0.5),
        (Site::FanDuel, Hoops) => sc(3_500, 12_000, 3.0, 58.0, 0.28),
        (Site::FanDuel, Sp) => sc(5_500, 11_500, 8.0, 45.0, 0.5),
        (Site::FanDuel, Rp) => sc(5_500, 6_500, 1.0, 6.0, 1.0),
        (Site::FanDuel, Hitter) => sc(2_000, 4_500, 3.0, 14.0, 0.8),
        (Site::FanDuel, Forward) => sc(3_000, 9_500, 3.0, 22.0, 0.65),
        (Site::FanDuel, Defense) => sc(3_000, 8_000, 3.0, 18.0, 0.65),
        (Site::FanDuel, Goalie) => sc(7_000, 9_000, 6.0, 16.0, 0.55),
    }
}

/// Single-game slates price the same players on a wider range (fewer, dearer slots): (lowest, highest) of an
/// ordinary (non-captain) row of a kind. Each kind has its own top: the best player of the game at his
/// position costs about what the sites charge for him (a kicker or a defense far below a quarterback, a
/// reliever far below a starter), so the priciest players are the game's best and the cap binds, as on the
/// sites' single-game slates.
pub(crate) fn single_game_scale(site: Site, sport: Sport, kind: Kind) -> (u32, u32) {
    use Kind::*;
    let (lo, hi) = match (site, sport) {
        (Site::DraftKings, Sport::Nba) => (1_000, 13_000),
        (Site::DraftKings, _) => (1_000, 12_000),
        (Site::FanDuel, Sport::Nfl) => (5_000, 17_000),
        (Site::FanDuel, Sport::Nba) => (3_000, 16_000),
        (Site::FanDuel, Sport::Mlb) => (2_000, 11_500),
        (Site::FanDuel, Sport::Nhl) => (5_000, 16_000),
    };
    // the kind's top as a share of the range above its floor
    let top = match kind {
        Qb | Hoops | Sp | Forward => 1.0,
        Rb | Wr => 0.95,
        Hitter => 0.92,
        Goalie => 0.85,
        Te | Defense => 0.8,
        K | Dst => 0.4,
        Rp => 0.3,
    };
    (lo, lo + ((hi - lo) as f64 * top) as u32)
}
