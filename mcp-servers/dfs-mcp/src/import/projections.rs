//! The user's projections CSV: a player key and values, matched against a slate.
//!
//! Header names are flexible (case, spaces and punctuation do not matter, common aliases are known):
//! key `id` (also `player_id`, `dk_id`, `fd_id`) or `name` (`player`) with an optional `team`; values
//! `projection` (`proj`, `fpts`, `points`, `median`), `stdev` (`std`, `sd`), `ownership` (`own`, `own%`, a
//! trailing `%` in cells is fine; percent 0-100), `ceiling`, `floor`, `line` (NHL), `batting_order`.
//!
//! What a user expects, and so what happens:
//! - A projections file usually covers more players than one slate (a whole day, or games not on this slate):
//!   rows naming no player of the slate are skipped and reported (line, key, why), the rest is applied.
//!   (The tool's `strict` turns any such row into an error.)
//! - Nothing matching at all is an error: it is the wrong slate or the wrong key column.
//! - A value that cannot be read (`"abc"` as a projection, a negative stdev, ownership 140) is an error naming
//!   the line, and nothing of the file is applied. So is one player set twice, or a name matching two players.
//! - On a DraftKings showdown slate a captain row's id names the same person; when the file also has his
//!   ordinary row, the captain row is skipped (the optimizer applies the 1.5×, a file's 1.5× value would count
//!   twice).

use std::collections::HashMap;

use super::table::{self, cell};
use super::{parse_number, ImportError, Problems};
use crate::model::Slate;

/// Values for one player (`None`: not given).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProjectionValues {
    /// `Player::id` (the ordinary row's id, also when the file named a captain row).
    pub player_id: String,
    pub projection: Option<f64>,
    pub stdev: Option<f64>,
    pub ownership: Option<f64>,
    pub ceiling: Option<f64>,
    pub floor: Option<f64>,
    pub line: Option<String>,
    pub batting_order: Option<u8>,
}

/// A row that was not applied, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Unmatched {
    pub line: u64,
    /// What the row named (`id 123`, `name "Joe Smith" team KC`).
    pub key: String,
    pub reason: String,
}

/// A projections file read against a slate.
#[derive(Debug, Clone, PartialEq)]
pub struct ProjectionImport {
    /// One entry per matched player, in file order.
    pub values: Vec<ProjectionValues>,
    pub unmatched: Vec<Unmatched>,
}

const ID: &[&str] = &["id", "player_id", "playerid", "dk_id", "fd_id", "site_id", "dfs_id"];
const NAME: &[&str] = &["name", "player", "player_name", "full_name", "nickname"];
const TEAM: &[&str] = &["team", "teamabbrev", "tm", "team_abbreviation"];
const PROJECTION: &[&str] =
    &["projection", "proj", "projected", "projected_points", "fpts", "fantasy_points", "points", "pts", "median"];
const STDEV: &[&str] = &["stdev", "std", "stddev", "std_dev", "sd", "standard_deviation"];
const OWNERSHIP: &[&str] = &["ownership", "own", "proj_own", "projected_ownership", "pown"];
const CEILING: &[&str] = &["ceiling", "ceil"];
const FLOOR: &[&str] = &["floor"];
const LINE: &[&str] = &["line", "nhl_line", "line_number"];
const ORDER: &[&str] = &["batting_order", "order", "bat_order", "bo"];

/// A person's name for matching: lower case, accents and punctuation gone, `Jr.`/`III` dropped.
pub(crate) fn name_key(name: &str) -> String {
    let folded: String = name
        .chars()
        .map(|c| match c {
            'á' | 'à' | 'â' | 'ä' | 'ã' | 'å' | 'Á' | 'À' | 'Â' | 'Ä' | 'Ã' | 'Å' => 'a',
            'é' | 'è' | 'ê' | 'ë' | 'É' | 'È' | 'Ê' | 'Ë' => 'e',
            'í' | 'ì' | 'î' | 'ï' | 'Í' | 'Ì' | 'Î' | 'Ï' => 'i',
            'ó' | 'ò' | 'ô' | 'ö' | 'õ' | 'Ó' | 'Ò' | 'Ô' | 'Ö' | 'Õ' => 'o',
            'ú' | 'ù' | 'û' | 'ü' | 'Ú' | 'Ù' | 'Û' | 'Ü' => 'u',
            'ñ' | 'Ñ' => 'n',
            'ç' | 'Ç' => 'c',
            '-' => ' ',
            c => c,
        })
        .filter(|c| c.is_ascii_alphanumeric() || c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase();
    let mut words: Vec<&str> = folded.split_whitespace().collect();
    while words.len() > 1 && matches!(*words.last().unwrap(), "jr" | "sr" | "ii" | "iii" | "iv" | "v") {
        words.pop();
    }
    words.join(" ")
}

/// Reads `text` against `slate`. See the module docs for what is skipped and what is an error.
pub fn parse_projections_csv(text: &str, slate: &Slate) -> Result<ProjectionImport, ImportError> {
    let records = table::records(text)?;
    let Some(first) = records.iter().position(|r| r.cells.iter().any(|c| !c.trim().is_empty())) else {
        return Err(ImportError::File("the projections file is empty".into()));
    };
    let t = table::table_at(&records, first);
    let col = |names: &[&str]| t.column_of(names);
    let (c_id, c_name, c_team) = (col(ID), col(NAME), col(TEAM));
    if c_id.is_none() && c_name.is_none() {
        return Err(ImportError::File(format!(
            "line {}: no player column: the header needs `id` or `name` (with `team` when names repeat)",
            t.header_line
        )));
    }
    let values = [col(PROJECTION), col(STDEV), col(OWNERSHIP), col(CEILING), col(FLOOR), col(LINE), col(ORDER)];
    if values.iter().all(Option::is_none) {
        return Err(ImportError::File(format!(
            "line {}: no value column: expected `projection` (or proj, fpts, points), `stdev`, `ownership`, \
             `ceiling`, `floor`, `line` or `batting_order`",
            t.header_line
        )));
    }
    let [c_proj, c_stdev, c_own, c_ceil, c_floor, c_line, c_order] = values;

    let mut by_id: HashMap<&str, (usize, bool)> = HashMap::new();
    let mut by_name: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, p) in slate.players.iter().enumerate() {
        by_id.insert(&p.id, (i, false));
        if let Some(c) = &p.captain {
            by_id.insert(&c.id, (i, true));
        }
        by_name.entry(name_key(&p.name)).or_default().push(i);
    }

    let mut problems = Problems::default();
    let mut unmatched = Vec::new();
    // (row line, player index, named by a captain id, values)
    let mut matched: Vec<(u64, usize, bool, ProjectionValues)> = Vec::new();
    for rec in &t.rows {
        let line = rec.line;
        let id = cell(rec, c_id).trim();
        let name = cell(rec, c_name).trim();
        let team = cell(rec, c_team).trim().to_ascii_uppercase();
        let key = if !id.is_empty() {
            format!("id {id}")
        } else if team.is_empty() {
            format!("name {name:?}")
        } else {
            format!("name {name:?} team {team}")
        };
        let target = if !id.is_empty() {
            by_id.get(id).copied().ok_or("no player of the slate has this id")
        } else if name.is_empty() {
            Err("the row has neither an id nor a name")
        } else {
            let found: Vec<usize> = by_name
                .get(&name_key(name))
                .map(|v| v.iter().copied().filter(|&i| team.is_empty() || slate.players[i].team == team).collect())
                .unwrap_or_default();
            match found.as_slice() {
                [one] => Ok((*one, false)),
                [] if team.is_empty() => Err("no player of the slate has this name"),
                [] => Err("no player of the slate has this name on this team"),
                _ => {
                    problems.add(line, format!("{key} matches {} players: add a `team` or `id` column", found.len()));
                    continue;
                }
            }
        };
        let vals = read_values(rec, [c_proj, c_stdev, c_own, c_ceil, c_floor, c_line, c_order], line, &mut problems);
        match target {
            Ok((i, via_captain)) => {
                let mut v = vals;
                v.player_id = slate.players[i].id.clone();
                matched.push((line, i, via_captain, v));
            }
            Err(reason) => unmatched.push(Unmatched { line, key, reason: reason.to_owned() }),
        }
    }

    let mut first_line: HashMap<usize, (u64, bool)> = HashMap::new();
    let has_own_row: std::collections::HashSet<usize> = matched.iter().filter(|m| !m.2).map(|m| m.1).collect();
    let mut out = Vec::new();
    for (line, i, via_captain, v) in matched {
        let p = &slate.players[i];
        if via_captain && has_own_row.contains(&i) {
            unmatched.push(Unmatched {
                line,
                key: format!("id {}", p.captain.as_ref().map_or("", |c| c.id.as_str())),
                reason: format!(
                    "captain row of {} ({}): the player's own row is used; the optimizer applies the captain multiplier",
                    p.name, p.id
                ),
            });
            continue;
        }
        if let Some((first, _)) = first_line.insert(i, (line, via_captain)) {
            problems.add(line, format!("{} ({}) is set twice (also on line {first})", p.name, p.id));
            continue;
        }
        out.push(v);
    }
    problems.into_result(())?;
    if out.is_empty() && !unmatched.is_empty() {
        let examples: Vec<String> = unmatched.iter().take(3).map(|u| format!("line {}: {}", u.line, u.key)).collect();
        return Err(ImportError::File(format!(
            "none of the {} rows matches a player of slate {} ({}...): is it the right slate, and are the ids the \
             site's ids?",
            unmatched.len(),
            slate.id,
            examples.join("; ")
        )));
    }
    unmatched.sort_by_key(|u| u.line);
    Ok(ProjectionImport { values: out, unmatched })
}

fn read_values(rec: &table::Record, cols: [Option<usize>; 7], line: u64, problems: &mut Problems) -> ProjectionValues {
    let [c_proj, c_stdev, c_own, c_ceil, c_floor, c_line, c_order] = cols;
    let mut num = |c: Option<usize>, what: &str, check: &dyn Fn(f64) -> Option<&'static str>| -> Option<f64> {
        let raw = cell(rec, c);
        let text = raw.trim().trim_end_matches('%');
        match parse_number(text) {
            Ok(Some(v)) => match check(v) {
                None => Some(v),
                Some(why) => {
                    problems.add(line, format!("{what} {:?} {why}", raw.trim()));
                    None
                }
            },
            Ok(None) => None,
            Err(()) => {
                problems.add(line, format!("{what} {:?} is not a number", raw.trim()));
                None
            }
        }
    };
    let any = |_: f64| None;
    let projection = num(c_proj, "projection", &any);
    let stdev = num(c_stdev, "stdev", &|v| (v < 0.0).then_some("is negative"));
    let ownership = num(c_own, "ownership", &|v| (!(0.0..=100.0).contains(&v)).then_some("is not a percentage 0-100"));
    let ceiling = num(c_ceil, "ceiling", &any);
    let floor = num(c_floor, "floor", &any);
    let line_cell = cell(rec, c_line).trim();
    let order_cell = cell(rec, c_order).trim();
    let batting_order = match order_cell {
        "" => None,
        s => match s.parse::<u8>() {
            Ok(n @ 1..=9) => Some(n),
            _ => {
                problems.add(line, format!("batting_order {s:?} is not 1-9"));
                None
            }
        },
    };
    ProjectionValues {
        player_id: String::new(),
        projection,
        stdev,
        ownership,
        ceiling,
        floor,
        line: (!line_cell.is_empty()).then(|| line_cell.to_owned()),
        batting_order,
    }
}
