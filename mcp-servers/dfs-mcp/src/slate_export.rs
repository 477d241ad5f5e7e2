//! Salary files in the sites' exact layouts, and projections CSV: so a generated slate ships as the files a user
//! would download, and importing them gives the slate back (`parse(write(s)) == s` for what the format carries).
//! (Slates out; the lineups' upload files are the optimizer's `export`.)
//!
//! What the formats carry: DraftKings has no injury status, batting order or lines; FanDuel has no start times
//! (pass them to the import as `game_times`); neither carries projections, which go to the projections CSV.

use crate::import::format_game_info;
use crate::model::{ContestType, Player, Site, Slate};

/// The DraftKings salary export's header.
pub const DK_HEADER: &[&str] = &[
    "Position",
    "Name + ID",
    "Name",
    "ID",
    "Roster Position",
    "Salary",
    "Game Info",
    "TeamAbbrev",
    "AvgPointsPerGame",
];

/// The FanDuel player list's header (every sport); MLB adds [`FD_MLB_EXTRA`].
pub const FD_HEADER: &[&str] = &[
    "Id",
    "Position",
    "First Name",
    "Nickname",
    "Last Name",
    "FPPG",
    "Played",
    "Salary",
    "Game",
    "Team",
    "Opponent",
    "Injury Indicator",
    "Injury Details",
    "Tier",
];
pub const FD_MLB_EXTRA: &[&str] = &["Probable Pitcher", "Batting Order", "Roster Position"];

/// The projections CSV this crate writes (and reads back).
pub const PROJECTIONS_HEADER: &[&str] =
    &["id", "name", "team", "projection", "stdev", "ownership", "ceiling", "floor", "line", "batting_order"];

/// The site files end lines with CRLF, as the sites' downloads do.
fn writer() -> csv::Writer<Vec<u8>> {
    csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(Vec::new())
}

fn finish(w: csv::Writer<Vec<u8>>) -> String {
    let bytes = w.into_inner().expect("writing to memory cannot fail");
    String::from_utf8(bytes).expect("the cells are UTF-8")
}

/// A number as the files print it: the shortest text that reads back as the same `f64`.
fn num(v: f64) -> String {
    format!("{v}")
}

/// The salary file of the slate's site and contest type.
pub fn write_salary_csv(slate: &Slate) -> String {
    match slate.site {
        Site::DraftKings => write_dk(slate),
        Site::FanDuel => write_fd(slate),
    }
}

fn dk_row(w: &mut csv::Writer<Vec<u8>>, slate: &Slate, p: &Player, id: &str, roster: &str, salary: u32) {
    let info = slate.games.iter().find(|g| g.id == p.game).map(format_game_info).unwrap_or_default();
    // DraftKings pads team defenses' names with a trailing space; the importer trims it.
    let name = if p.positions.iter().any(|x| x == "DST") { format!("{} ", p.name) } else { p.name.clone() };
    let row = [
        p.positions.join("/"),
        format!("{name} ({id})"),
        name,
        id.to_owned(),
        roster.to_owned(),
        salary.to_string(),
        info,
        p.team.clone(),
        num(p.avg_points),
    ];
    w.write_record(&row).expect("writing to memory cannot fail");
}

/// DraftKings: classic one row per player; showdown a CPT row and a FLEX/UTIL row per player, merged by salary
/// (highest first) like the site's own file while each kind keeps the slate's order.
fn write_dk(slate: &Slate) -> String {
    let mut w = writer();
    w.write_record(DK_HEADER).expect("writing to memory cannot fail");
    let ordinary = |p: &Player| -> String {
        p.eligible.iter().filter(|s| s.as_str() != "CPT").cloned().collect::<Vec<_>>().join("/")
    };
    if slate.contest == ContestType::Classic {
        for p in &slate.players {
            dk_row(&mut w, slate, p, &p.id, &ordinary(p), p.salary);
        }
        return finish(w);
    }
    let captains: Vec<&Player> = slate.players.iter().filter(|p| p.captain.is_some()).collect();
    let (mut ci, mut fi) = (0, 0);
    while ci < captains.len() || fi < slate.players.len() {
        let cpt_salary = captains.get(ci).and_then(|p| p.captain.as_ref()).map(|c| c.salary);
        let flex_salary = slate.players.get(fi).map(|p| p.salary);
        let take_captain = match (cpt_salary, flex_salary) {
            (Some(c), Some(f)) => c >= f,
            (Some(_), None) => true,
            _ => false,
        };
        if take_captain {
            let p = captains[ci];
            let c = p.captain.as_ref().expect("filtered");
            dk_row(&mut w, slate, p, &c.id, "CPT", c.salary);
            ci += 1;
        } else {
            let p = &slate.players[fi];
            dk_row(&mut w, slate, p, &p.id, &ordinary(p), p.salary);
            fi += 1;
        }
    }
    finish(w)
}

/// FanDuel: one row per player. `Nickname` carries the whole name; first and last are split at the first space.
fn write_fd(slate: &Slate) -> String {
    let mlb = slate.sport == crate::model::Sport::Mlb;
    let mut w = writer();
    let mut header: Vec<&str> = FD_HEADER.to_vec();
    if mlb {
        header.extend_from_slice(FD_MLB_EXTRA);
    }
    w.write_record(&header).expect("writing to memory cannot fail");
    for p in &slate.players {
        let (first, last) = p.name.split_once(' ').unwrap_or((p.name.as_str(), ""));
        let mut row = vec![
            p.id.clone(),
            p.positions.join("/"),
            first.to_owned(),
            p.name.clone(),
            last.to_owned(),
            num(p.avg_points),
            String::new(),
            p.salary.to_string(),
            p.game.clone(),
            p.team.clone(),
            p.opponent.clone(),
            p.status.clone(),
            String::new(),
            String::new(),
        ];
        if mlb {
            let pitcher = p.positions.iter().any(|x| x == "P");
            row.push(if pitcher { "Yes".into() } else { String::new() });
            row.push(p.batting_order.map_or_else(|| "0".into(), |b| b.to_string()));
            row.push(p.eligible.iter().filter(|s| s.as_str() != "UTIL").cloned().collect::<Vec<_>>().join("/"));
        }
        w.write_record(&row).expect("writing to memory cannot fail");
    }
    finish(w)
}

/// The slate's projections (players with any value), keyed by id with the name and team for people.
pub fn write_projections_csv(slate: &Slate) -> String {
    let mut w = csv::WriterBuilder::new().from_writer(Vec::new());
    w.write_record(PROJECTIONS_HEADER).expect("writing to memory cannot fail");
    let opt = |v: Option<f64>| v.map(num).unwrap_or_default();
    for p in &slate.players {
        if p.projection.is_none() && p.stdev.is_none() && p.ownership.is_none() && p.line.is_none() {
            continue;
        }
        let row = [
            p.id.clone(),
            p.name.clone(),
            p.team.clone(),
            opt(p.projection),
            opt(p.stdev),
            opt(p.ownership),
            opt(p.ceiling),
            opt(p.floor),
            p.line.clone().unwrap_or_default(),
            p.batting_order.map(|b| b.to_string()).unwrap_or_default(),
        ];
        w.write_record(&row).expect("writing to memory cannot fail");
    }
    finish(w)
}

#[cfg(test)]
mod tests;
