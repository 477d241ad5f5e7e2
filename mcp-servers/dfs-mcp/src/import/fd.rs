//! The FanDuel player list: `Id,Position,First Name,Nickname,Last Name,FPPG,Played,Salary,Game,Team,Opponent,
//! Injury Indicator,Injury Details,…` (MLB adds `Probable Pitcher,Batting Order,Roster Position`).
//!
//! - The name is `Nickname` (FanDuel's display name, the whole name), else `First Name` + `Last Name`.
//! - Eligibility comes from the positions and the rule set (a defense, position `D`, fills `DEF`).
//! - The file has no start times: they come from [`ImportOptions::game_times`] or stay unknown.
//! - A file of one game is a single-game slate (a classic FanDuel lineup needs three teams), unless told.

use std::collections::{BTreeMap, HashMap};

use super::table::{cell, Table};
use super::{detect_sport, finish, parse_number, parse_salary, rule_set, rules_label, ImportError, ImportOptions};
use super::{gameinfo::parse_matchup, Problems};
use crate::model::{ContestType, Game, GameStatus, Player, Site, Slate, Sport};

pub(crate) const REQUIRED: &[&str] = &["Id", "Position", "Nickname", "FPPG", "Salary", "Game", "Team", "Opponent"];

struct Row {
    line: u64,
    id: String,
    positions: Vec<String>,
    name: String,
    fppg: f64,
    salary: u32,
    away: String,
    home: String,
    team: String,
    opponent: String,
    status: String,
    batting_order: Option<u8>,
}

fn read_rows(table: &Table<'_>, problems: &mut Problems) -> Vec<Row> {
    let col = |n: &str| table.column(n);
    let (c_id, c_pos, c_first, c_nick, c_last) =
        (col("Id"), col("Position"), col("First Name"), col("Nickname"), col("Last Name"));
    let (c_fppg, c_salary, c_game, c_team, c_opp) =
        (col("FPPG"), col("Salary"), col("Game"), col("Team"), col("Opponent"));
    let (c_injury, c_order) = (col("Injury Indicator"), col("Batting Order"));
    let mut rows = Vec::new();
    for rec in &table.rows {
        let line = rec.line;
        let mut bad = false;
        let mut fail = |m: String| {
            bad = true;
            problems.add(line, m)
        };
        let id = cell(rec, c_id).trim().to_owned();
        if id.is_empty() {
            fail("Id is empty".into());
        }
        let positions: Vec<String> = cell(rec, c_pos)
            .split('/')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| p.to_ascii_uppercase())
            .collect();
        if positions.is_empty() {
            fail("Position is empty".into());
        }
        let mut name = cell(rec, c_nick).trim().to_owned();
        if name.is_empty() {
            name = format!("{} {}", cell(rec, c_first).trim(), cell(rec, c_last).trim()).trim().to_owned();
        }
        if name.is_empty() {
            fail("Nickname, First Name and Last Name are empty".into());
        }
        let fppg_cell = cell(rec, c_fppg);
        let fppg = parse_number(fppg_cell).unwrap_or_else(|()| {
            fail(format!("FPPG {:?} is not a number", fppg_cell.trim()));
            None
        });
        let salary_cell = cell(rec, c_salary);
        let salary = parse_salary(salary_cell).unwrap_or_else(|| {
            fail(format!("Salary {:?} is not a number", salary_cell.trim()));
            0
        });
        let game_cell = cell(rec, c_game).trim();
        let (away, home) = parse_matchup(game_cell).unwrap_or_else(|| {
            fail(format!("Game {game_cell:?} is not AWAY@HOME"));
            Default::default()
        });
        let team = cell(rec, c_team).trim().to_ascii_uppercase();
        let opponent = cell(rec, c_opp).trim().to_ascii_uppercase();
        if !away.is_empty() {
            let fits = (team == away && opponent == home) || (team == home && opponent == away);
            if !fits {
                fail(format!("Team {team:?} and Opponent {opponent:?} are not the two teams of game {away}@{home}"));
            }
        }
        let order_cell = cell(rec, c_order).trim();
        let batting_order = match order_cell {
            "" | "0" => None,
            s => match s.parse::<u8>() {
                Ok(n @ 1..=9) => Some(n),
                _ => {
                    fail(format!("Batting Order {s:?} is not 1-9"));
                    None
                }
            },
        };
        let status = cell(rec, c_injury).trim().to_owned();
        if !bad {
            rows.push(Row {
                line,
                id,
                positions,
                name,
                fppg: fppg.unwrap_or(0.0),
                salary,
                away,
                home,
                team,
                opponent,
                status,
                batting_order,
            });
        }
    }
    rows
}

/// Reads the table below a FanDuel header.
pub(crate) fn parse(table: &Table<'_>, options: &ImportOptions) -> Result<Slate, ImportError> {
    let mut problems = Problems::default();
    let rows = read_rows(table, &mut problems);
    if rows.is_empty() && problems.is_empty() {
        return Err(ImportError::File(format!("no player rows below the header on line {}", table.header_line)));
    }
    let sport = match options.sport {
        Some(s) => s,
        // Only MLB lists have these columns; with them a C-only sample is not mistaken for another sport.
        None if table.has("Batting Order") || table.has("Probable Pitcher") => Sport::Mlb,
        None => match detect_sport(Site::FanDuel, rows.iter().map(|r| r.positions.as_slice())) {
            Ok(sport) => sport,
            // Rows that could not be read are the likelier cause, and the more useful message.
            Err(e) => return Err(problems.into_result(()).err().unwrap_or(e)),
        },
    };
    let mut games: BTreeMap<String, Game> = BTreeMap::new();
    for r in &rows {
        let id = format!("{}@{}", r.away, r.home);
        games.entry(id.clone()).or_insert_with(|| Game {
            id,
            away: r.away.clone(),
            home: r.home.clone(),
            start: None,
            status: GameStatus::Scheduled,
        });
    }
    let contest =
        options.contest.unwrap_or(if games.len() == 1 { ContestType::Showdown } else { ContestType::Classic });
    let rules = rule_set(Site::FanDuel, sport, contest)?;
    let mut seen: HashMap<&str, u64> = HashMap::new();
    let mut players = Vec::with_capacity(rows.len());
    for r in &rows {
        if let Some(first) = seen.insert(&r.id, r.line) {
            problems.add(r.line, format!("Id {} appears twice (also on line {first})", r.id));
        }
        let eligible = rules.eligible_for(&r.positions);
        if eligible.is_empty() {
            problems.add(
                r.line,
                format!(
                    "Position {:?} fills no slot of {}",
                    r.positions.join("/"),
                    rules_label(Site::FanDuel, sport, contest)
                ),
            );
        }
        players.push(Player {
            id: r.id.clone(),
            name: r.name.clone(),
            positions: r.positions.clone(),
            eligible,
            team: r.team.clone(),
            opponent: r.opponent.clone(),
            game: format!("{}@{}", r.away, r.home),
            salary: r.salary,
            captain: None,
            avg_points: r.fppg,
            projection: None,
            stdev: None,
            ownership: None,
            ceiling: None,
            floor: None,
            status: r.status.clone(),
            batting_order: r.batting_order,
            line: None,
        });
    }
    problems.into_result(())?;
    Ok(finish(Site::FanDuel, sport, contest, games.into_values().collect(), players, options))
}
