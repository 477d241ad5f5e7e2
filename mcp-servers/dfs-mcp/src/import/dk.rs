//! The DraftKings salary export: `Position,Name + ID,Name,ID,Roster Position,Salary,Game Info,TeamAbbrev,
//! AvgPointsPerGame`.
//!
//! - Eligibility is the `Roster Position` cell (`RB/FLEX`, `PG/SG/G/UTIL`), checked against the rule set's slots.
//! - Showdown files list every person twice: a `CPT` row (own id, 1.5× salary) and a `FLEX`/`UTIL` row. They
//!   become one [`Player`] whose `captain` holds the CPT row, matched by name, team and game (and by the 1.5×
//!   salary when a team has two players of one name).
//! - `Game Info` gives the game, its start (US Eastern, DST-aware) and so each player's opponent. After lock
//!   the cell reads `In Progress` or `Final` and no longer names the teams: such a player joins his team's game
//!   when another row names it; otherwise his team stands alone in a game whose id is the team (`KC`) with no
//!   opponent, marked with the status, so late swap still sees it locked.

use std::collections::{BTreeMap, HashMap};

use super::gameinfo::{parse_game_info, GameInfo};
use super::table::{cell, Table};
use super::{detect_sport, finish, in_slot_order, parse_number, parse_salary, rule_set, ImportError, ImportOptions};
use super::{rules_label, Problems};
use crate::model::{CaptainRow, ContestType, Game, GameStatus, Player, Site};

/// The columns that identify the layout (AvgPointsPerGame and Name + ID are read when present).
pub(crate) const REQUIRED: &[&str] =
    &["Position", "Name", "ID", "Roster Position", "Salary", "Game Info", "TeamAbbrev"];

/// One row as read, before rows are merged into players.
struct Row {
    line: u64,
    positions: Vec<String>,
    name: String,
    id: String,
    roster: Vec<String>,
    salary: u32,
    info: GameInfo,
    team: String,
    avg: f64,
}

fn split_slash(s: &str) -> Vec<String> {
    s.split('/').map(str::trim).filter(|p| !p.is_empty()).map(|p| p.to_ascii_uppercase()).collect()
}

fn read_rows(table: &Table<'_>, problems: &mut Problems) -> Vec<Row> {
    let col = |n: &str| table.column(n);
    let (c_pos, c_name, c_id, c_roster) = (col("Position"), col("Name"), col("ID"), col("Roster Position"));
    let (c_salary, c_info, c_team, c_avg, c_name_id) =
        (col("Salary"), col("Game Info"), col("TeamAbbrev"), col("AvgPointsPerGame"), col("Name + ID"));
    let mut rows = Vec::new();
    for rec in &table.rows {
        let line = rec.line;
        let before = problems_len(problems);
        // `Name + ID` is `Eagles  (12345)`: a fallback when a spreadsheet dropped the Name or ID column's cell.
        let name_id = cell(rec, c_name_id).trim();
        let split = name_id.rsplit_once(" (").and_then(|(n, rest)| rest.strip_suffix(')').map(|i| (n.trim(), i)));
        let mut name = cell(rec, c_name).trim().to_owned();
        let mut id = cell(rec, c_id).trim().to_owned();
        if name.is_empty() {
            name = split.map(|(n, _)| n.to_owned()).unwrap_or_default();
        }
        if id.is_empty() {
            id = split.map(|(_, i)| i.to_owned()).unwrap_or_default();
        }
        if id.is_empty() {
            problems.add(line, "ID is empty");
        }
        if name.is_empty() {
            problems.add(line, "Name is empty");
        }
        let positions = split_slash(cell(rec, c_pos));
        if positions.is_empty() {
            problems.add(line, "Position is empty");
        }
        let roster = split_slash(cell(rec, c_roster));
        if roster.is_empty() {
            problems.add(line, "Roster Position is empty");
        }
        let salary_cell = cell(rec, c_salary);
        let salary = parse_salary(salary_cell).unwrap_or_else(|| {
            problems.add(line, format!("Salary {:?} is not a number", salary_cell.trim()));
            0
        });
        let avg_cell = cell(rec, c_avg);
        let avg = parse_number(avg_cell).unwrap_or_else(|()| {
            problems.add(line, format!("AvgPointsPerGame {:?} is not a number", avg_cell.trim()));
            None
        });
        let team = cell(rec, c_team).trim().to_ascii_uppercase();
        if team.is_empty() {
            problems.add(line, "TeamAbbrev is empty");
        }
        let info = match parse_game_info(cell(rec, c_info)) {
            Ok(info) => info,
            Err(why) => {
                problems.add(line, why);
                GameInfo::Locked(GameStatus::Scheduled)
            }
        };
        if let GameInfo::Scheduled { away, home, .. } = &info {
            if !team.is_empty() && &team != away && &team != home {
                problems.add(line, format!("TeamAbbrev {team:?} is not a team of game {away}@{home}"));
            }
        }
        if problems_len(problems) == before {
            rows.push(Row { line, positions, name, id, roster, salary, info, team, avg: avg.unwrap_or(0.0) });
        }
    }
    rows
}

fn problems_len(p: &Problems) -> usize {
    p.rows.len() + p.more
}

/// Reads the table below a DraftKings header.
pub(crate) fn parse(table: &Table<'_>, options: &ImportOptions) -> Result<crate::model::Slate, ImportError> {
    let mut problems = Problems::default();
    let rows = read_rows(table, &mut problems);
    if rows.is_empty() && problems.is_empty() {
        return Err(ImportError::File(format!("no player rows below the header on line {}", table.header_line)));
    }
    let sport = match options.sport {
        Some(s) => s,
        None => match detect_sport(Site::DraftKings, rows.iter().map(|r| r.positions.as_slice())) {
            Ok(sport) => sport,
            // Rows that could not be read are the likelier cause, and the more useful message.
            Err(e) => return Err(problems.into_result(()).err().unwrap_or(e)),
        },
    };
    let has_cpt = rows.iter().any(|r| r.roster.iter().any(|s| s == "CPT"));
    let contest = options.contest.unwrap_or(if has_cpt { ContestType::Showdown } else { ContestType::Classic });
    let rules = rule_set(Site::DraftKings, sport, contest)?;
    let slot_names = rules.slot_names();
    for r in &rows {
        for s in &r.roster {
            if !slot_names.contains(&s.as_str()) {
                problems.add(
                    r.line,
                    format!(
                        "Roster Position {s:?} is not a slot of {} (slots: {})",
                        rules_label(Site::DraftKings, sport, contest),
                        slot_names.join(", ")
                    ),
                );
            }
        }
    }
    let mut seen: HashMap<&str, u64> = HashMap::new();
    for r in &rows {
        if let Some(first) = seen.insert(&r.id, r.line) {
            problems.add(r.line, format!("ID {} appears twice (also on line {first})", r.id));
        }
    }
    let games = games(&rows, &mut problems);
    problems.into_result(())?;
    let mut problems = Problems::default();

    let team_game: HashMap<&str, &Game> =
        games.values().flat_map(|g| [(g.away.as_str(), g), (g.home.as_str(), g)]).collect();
    let player_of = |r: &Row, eligible: Vec<String>, captain: Option<CaptainRow>| {
        let game = team_game.get(r.team.as_str()).copied();
        let opponent = game.map(|g| if g.away == r.team { g.home.clone() } else { g.away.clone() }).unwrap_or_default();
        Player {
            id: r.id.clone(),
            name: r.name.clone(),
            positions: r.positions.clone(),
            eligible: in_slot_order(rules, &eligible),
            team: r.team.clone(),
            opponent,
            game: game.map(|g| g.id.clone()).unwrap_or_else(|| r.team.clone()),
            salary: r.salary,
            captain,
            avg_points: r.avg,
            projection: None,
            stdev: None,
            ownership: None,
            ceiling: None,
            floor: None,
            status: String::new(),
            batting_order: None,
            line: None,
        }
    };

    let is_cpt = |r: &Row| r.roster.len() == 1 && r.roster[0] == "CPT";
    let ordinary: Vec<&Row> = rows.iter().filter(|r| !is_cpt(r)).collect();
    let mut captains: Vec<Option<&Row>> = vec![None; ordinary.len()];
    for c in rows.iter().filter(|r| is_cpt(r)) {
        let same_person = |o: &&Row| o.name == c.name && o.team == c.team && o.positions == c.positions;
        let candidates: Vec<usize> = (0..ordinary.len()).filter(|&i| same_person(&ordinary[i])).collect();
        let by_salary: Vec<usize> = candidates
            .iter()
            .copied()
            .filter(|&i| u64::from(ordinary[i].salary) * 3 == u64::from(c.salary) * 2)
            .collect();
        let pick = match (candidates.as_slice(), by_salary.as_slice()) {
            ([one], _) | (_, [one]) => Some(*one),
            ([], _) => {
                problems
                    .add(c.line, format!("CPT row of {} ({}) has no FLEX/UTIL row of the same player", c.name, c.team));
                None
            }
            _ => {
                let lines: Vec<String> = candidates.iter().map(|&i| ordinary[i].line.to_string()).collect();
                problems.add(
                    c.line,
                    format!("CPT row of {} ({}) matches the rows on lines {}", c.name, c.team, lines.join(", ")),
                );
                None
            }
        };
        if let Some(i) = pick {
            match captains[i] {
                Some(prev) => problems.add(
                    c.line,
                    format!("a second CPT row for {} ({}); the first is on line {}", c.name, c.team, prev.line),
                ),
                None => captains[i] = Some(c),
            }
        }
    }
    problems.into_result(())?;
    let players: Vec<Player> = ordinary
        .iter()
        .zip(captains)
        .map(|(r, c)| {
            let mut eligible = r.roster.clone();
            let captain = c.map(|c| {
                eligible.extend(c.roster.iter().cloned());
                CaptainRow { id: c.id.clone(), salary: c.salary }
            });
            player_of(r, eligible, captain)
        })
        .collect();
    Ok(finish(Site::DraftKings, sport, contest, games.into_values().collect(), players, options))
}

/// The games the rows name, each start checked to agree across rows; teams seen only after lock get a game of
/// their own (see the module docs).
fn games(rows: &[Row], problems: &mut Problems) -> BTreeMap<String, Game> {
    let mut games: BTreeMap<String, (Game, u64)> = BTreeMap::new();
    for r in rows {
        if let GameInfo::Scheduled { away, home, start } = &r.info {
            let id = format!("{away}@{home}");
            let entry = games.entry(id.clone()).or_insert_with(|| {
                let g =
                    Game { id, away: away.clone(), home: home.clone(), start: *start, status: GameStatus::Scheduled };
                (g, r.line)
            });
            if entry.0.start != *start {
                problems.add(r.line, format!("game {} has another start time on line {}", entry.0.id, entry.1));
            }
        }
    }
    let mut games: BTreeMap<String, Game> = games.into_iter().map(|(k, (g, _))| (k, g)).collect();
    for r in rows {
        if let GameInfo::Locked(status) = r.info {
            if let Some(g) = games.values_mut().find(|g| g.away == r.team || g.home == r.team) {
                g.status = status;
                continue;
            }
            games.entry(r.team.clone()).or_insert_with(|| Game {
                id: r.team.clone(),
                away: r.team.clone(),
                home: String::new(),
                start: None,
                status,
            });
        }
    }
    games
}
