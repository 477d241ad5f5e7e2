//! Slates with their games and players, and the projections set on them.

use std::collections::{HashMap, HashSet};

use super::sql::{insert_rows, Tx, Val};
use super::{from_json_list, json_list, next_number, now, parse_kind, site_short, Store, StoreError};
use crate::import::ProjectionValues;
use crate::model::{CaptainRow, ContestType, Game, GameStatus, Player, Site, Slate, Sport};

/// Which slates to list.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SlateFilter {
    pub site: Option<Site>,
    pub sport: Option<Sport>,
    pub contest: Option<ContestType>,
    /// At most this many (newest first); 0 means no limit.
    pub limit: usize,
    pub offset: usize,
}

/// A slate without its players: what a listing shows.
#[derive(Debug, Clone, PartialEq)]
pub struct SlateSummary {
    pub id: String,
    pub name: String,
    pub site: Site,
    pub sport: Sport,
    pub contest: ContestType,
    pub imported_at: i64,
    pub games: u64,
    pub players: u64,
    pub first_lock: Option<i64>,
    pub salary_min: u32,
    pub salary_max: u32,
    /// Players with an uploaded projection.
    pub projected: u64,
}

/// How `set_projections` treats values already stored for the slate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProjectionMode {
    /// The given values become the slate's projections: players not given go back to the site's average.
    Replace,
    /// Given fields overwrite, fields not given (`None`) keep their stored value, other players are untouched.
    Merge,
}

const PLAYER_COLUMNS: &[&str] = &[
    "slate_id",
    "id",
    "ord",
    "name",
    "positions",
    "eligible",
    "team",
    "opponent",
    "game_id",
    "salary",
    "captain_id",
    "captain_salary",
    "avg_points",
    "status",
    "batting_order",
    "line",
];

fn status_str(s: GameStatus) -> &'static str {
    match s {
        GameStatus::Scheduled => "scheduled",
        GameStatus::InProgress => "in_progress",
        GameStatus::Final => "final",
    }
}

fn status_of(s: &str) -> GameStatus {
    match s {
        "in_progress" => GameStatus::InProgress,
        "final" => GameStatus::Final,
        _ => GameStatus::Scheduled,
    }
}

/// Stores a slate (its `id` and `imported_at` are assigned here) inside `tx`.
pub(crate) fn insert_slate_tx(tx: &mut dyn Tx, slate: &Slate) -> Result<Slate, StoreError> {
    let mut slate = slate.clone();
    let n = next_number(tx, "slate")?;
    let date = slate.first_lock().and_then(crate::import::eastern_date);
    slate.id = match date {
        Some(d) => format!("{}-{}-{}-{d}-{n}", site_short(slate.site), slate.sport.as_str(), slate.contest.as_str()),
        None => format!("{}-{}-{}-{n}", site_short(slate.site), slate.sport.as_str(), slate.contest.as_str()),
    };
    slate.imported_at = now();
    tx.exec(
        "INSERT INTO slates (id, seq, site, sport, contest, name, imported_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        &[
            (&slate.id).into(),
            Val::Int(n),
            slate.site.as_str().into(),
            slate.sport.as_str().into(),
            slate.contest.as_str().into(),
            (&slate.name).into(),
            Val::Int(slate.imported_at),
        ],
    )?;
    let games = slate
        .games
        .iter()
        .enumerate()
        .map(|(i, g)| {
            vec![
                (&slate.id).into(),
                (&g.id).into(),
                Val::Int(i as i64),
                (&g.away).into(),
                (&g.home).into(),
                g.start.into(),
                status_str(g.status).into(),
            ]
        })
        .collect();
    insert_rows(tx, "games", &["slate_id", "id", "ord", "away", "home", "start_at", "status"], games)?;
    let players = slate
        .players
        .iter()
        .enumerate()
        .map(|(i, p)| {
            vec![
                (&slate.id).into(),
                (&p.id).into(),
                Val::Int(i as i64),
                (&p.name).into(),
                json_list(&p.positions),
                json_list(&p.eligible),
                (&p.team).into(),
                (&p.opponent).into(),
                (&p.game).into(),
                p.salary.into(),
                p.captain.as_ref().map(|c| c.id.clone()).into(),
                p.captain.as_ref().map(|c| c.salary).into(),
                p.avg_points.into(),
                (&p.status).into(),
                p.batting_order.map(i64::from).into(),
                p.line.clone().into(),
            ]
        })
        .collect();
    insert_rows(tx, "players", PLAYER_COLUMNS, players)?;
    let values: Vec<ProjectionValues> = slate
        .players
        .iter()
        .filter(|p| p.projection.is_some() || p.stdev.is_some() || p.ownership.is_some())
        .map(|p| ProjectionValues {
            player_id: p.id.clone(),
            projection: p.projection,
            stdev: p.stdev,
            ownership: p.ownership,
            ceiling: p.ceiling,
            floor: p.floor,
            line: None,
            batting_order: None,
        })
        .collect();
    write_projections(tx, &slate.id, &values, ProjectionMode::Merge)?;
    Ok(slate)
}

pub(crate) fn write_projections(
    tx: &mut dyn Tx,
    slate_id: &str,
    values: &[ProjectionValues],
    mode: ProjectionMode,
) -> Result<(), StoreError> {
    if mode == ProjectionMode::Replace {
        tx.exec("DELETE FROM projections WHERE slate_id = ?", &[slate_id.into()])?;
    }
    let t = now();
    for v in values {
        tx.exec(
            "INSERT INTO projections
                (slate_id, player_id, projection, stdev, ownership, ceiling, floor, line, batting_order, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (slate_id, player_id) DO UPDATE SET
                projection = COALESCE(excluded.projection, projections.projection),
                stdev = COALESCE(excluded.stdev, projections.stdev),
                ownership = COALESCE(excluded.ownership, projections.ownership),
                ceiling = COALESCE(excluded.ceiling, projections.ceiling),
                floor = COALESCE(excluded.floor, projections.floor),
                line = COALESCE(excluded.line, projections.line),
                batting_order = COALESCE(excluded.batting_order, projections.batting_order),
                updated_at = excluded.updated_at",
            &[
                slate_id.into(),
                (&v.player_id).into(),
                v.projection.into(),
                v.stdev.into(),
                v.ownership.into(),
                v.ceiling.into(),
                v.floor.into(),
                v.line.clone().into(),
                v.batting_order.map(i64::from).into(),
                Val::Int(t),
            ],
        )?;
    }
    Ok(())
}

fn not_found(id: &str) -> StoreError {
    StoreError::NotFound(format!("no slate {id:?}: list the slates with app.data.slate for their ids"))
}

fn load_slate_tx(tx: &mut dyn Tx, id: &str) -> Result<Slate, StoreError> {
    let head = tx.query("SELECT site, sport, contest, name, imported_at FROM slates WHERE id = ?", &[id.into()])?;
    let Some(h) = head.first() else { return Err(not_found(id)) };
    let (site, sport, contest) = parse_kind(&h[0].string(), &h[1].string(), &h[2].string()).ok_or_else(|| {
        StoreError::Database { backend: "store".into(), message: format!("slate {id} has an unknown kind") }
    })?;
    let games = tx
        .query("SELECT id, away, home, start_at, status FROM games WHERE slate_id = ? ORDER BY ord", &[id.into()])?
        .into_iter()
        .map(|r| Game {
            id: r[0].string(),
            away: r[1].string(),
            home: r[2].string(),
            start: r[3].int(),
            status: status_of(&r[4].string()),
        })
        .collect();
    let mut proj: HashMap<String, Vec<Val>> = tx
        .query(
            "SELECT player_id, projection, stdev, ownership, ceiling, floor, line, batting_order
             FROM projections WHERE slate_id = ?",
            &[id.into()],
        )?
        .into_iter()
        .map(|r| (r[0].string(), r))
        .collect();
    let players = tx
        .query(
            "SELECT id, name, positions, eligible, team, opponent, game_id, salary, captain_id, captain_salary,
                    avg_points, status, batting_order, line
             FROM players WHERE slate_id = ? ORDER BY ord",
            &[id.into()],
        )?
        .into_iter()
        .map(|r| {
            let pr = proj.remove(&r[0].string());
            let get = |i: usize| pr.as_ref().and_then(|p| p[i].real());
            Player {
                id: r[0].string(),
                name: r[1].string(),
                positions: from_json_list(&r[2]),
                eligible: from_json_list(&r[3]),
                team: r[4].string(),
                opponent: r[5].string(),
                game: r[6].string(),
                salary: r[7].int().unwrap_or(0) as u32,
                captain: r[8].text().map(|c| CaptainRow { id: c.to_owned(), salary: r[9].int().unwrap_or(0) as u32 }),
                avg_points: r[10].real().unwrap_or(0.0),
                projection: get(1),
                stdev: get(2),
                ownership: get(3),
                ceiling: get(4),
                floor: get(5),
                status: r[11].string(),
                batting_order: pr.as_ref().and_then(|p| p[7].int()).or(r[12].int()).map(|b| b as u8),
                line: pr
                    .as_ref()
                    .and_then(|p| p[6].text().map(str::to_owned))
                    .or_else(|| r[13].text().map(str::to_owned)),
            }
        })
        .collect();
    Ok(Slate {
        id: id.to_owned(),
        site,
        sport,
        contest,
        name: h[3].string(),
        games,
        players,
        imported_at: h[4].int().unwrap_or(0),
    })
}

impl Store {
    /// Stores a slate read from a file; the stored slate (with its new id) comes back.
    pub fn insert_slate(&self, slate: &Slate) -> Result<Slate, StoreError> {
        self.write(|tx| insert_slate_tx(tx, slate))
    }

    /// A slate with its games, players and projections.
    pub fn slate(&self, id: &str) -> Result<Slate, StoreError> {
        self.read(|tx| load_slate_tx(tx, id))
    }

    /// Slates, newest first, and how many match the filter in all.
    pub fn list_slates(&self, filter: &SlateFilter) -> Result<(Vec<SlateSummary>, u64), StoreError> {
        let mut cond = Vec::new();
        let mut params: Vec<Val> = Vec::new();
        if let Some(s) = filter.site {
            cond.push("s.site = ?");
            params.push(s.as_str().into());
        }
        if let Some(s) = filter.sport {
            cond.push("s.sport = ?");
            params.push(s.as_str().into());
        }
        if let Some(c) = filter.contest {
            cond.push("s.contest = ?");
            params.push(c.as_str().into());
        }
        let wh = if cond.is_empty() { String::new() } else { format!("WHERE {}", cond.join(" AND ")) };
        let limit = if filter.limit == 0 { i64::MAX } else { filter.limit as i64 };
        self.read(|tx| {
            let total = tx.query(&format!("SELECT COUNT(*) FROM slates s {wh}"), &params)?;
            let total = total.first().and_then(|r| r[0].int()).unwrap_or(0) as u64;
            let sql = format!(
                "SELECT s.id, s.name, s.site, s.sport, s.contest, s.imported_at,
                    (SELECT COUNT(*) FROM games g WHERE g.slate_id = s.id),
                    (SELECT COUNT(*) FROM players p WHERE p.slate_id = s.id),
                    (SELECT MIN(g.start_at) FROM games g WHERE g.slate_id = s.id),
                    (SELECT MIN(p.salary) FROM players p WHERE p.slate_id = s.id),
                    (SELECT MAX(p.salary) FROM players p WHERE p.slate_id = s.id),
                    (SELECT COUNT(*) FROM projections pr WHERE pr.slate_id = s.id AND pr.projection IS NOT NULL)
                 FROM slates s {wh} ORDER BY s.seq DESC LIMIT ? OFFSET ?"
            );
            let mut p = params.clone();
            p.push(Val::Int(limit));
            p.push(Val::Int(filter.offset as i64));
            let rows = tx.query(&sql, &p)?;
            let list = rows
                .into_iter()
                .filter_map(|r| {
                    let (site, sport, contest) = parse_kind(&r[2].string(), &r[3].string(), &r[4].string())?;
                    Some(SlateSummary {
                        id: r[0].string(),
                        name: r[1].string(),
                        site,
                        sport,
                        contest,
                        imported_at: r[5].int().unwrap_or(0),
                        games: r[6].int().unwrap_or(0) as u64,
                        players: r[7].int().unwrap_or(0) as u64,
                        first_lock: r[8].int(),
                        salary_min: r[9].int().unwrap_or(0) as u32,
                        salary_max: r[10].int().unwrap_or(0) as u32,
                        projected: r[11].int().unwrap_or(0) as u64,
                    })
                })
                .collect();
            Ok((list, total))
        })
    }

    /// Sets projections of players of a slate in one transaction. Every `player_id` must be a player of the
    /// slate (an unknown one is an error naming it, and nothing is written).
    pub fn set_projections(
        &self,
        slate_id: &str,
        values: &[ProjectionValues],
        mode: ProjectionMode,
    ) -> Result<(), StoreError> {
        self.write(|tx| {
            let exists = tx.query("SELECT 1 FROM slates WHERE id = ?", &[slate_id.into()])?;
            if exists.is_empty() {
                return Err(not_found(slate_id));
            }
            let ids: HashSet<String> = tx
                .query("SELECT id FROM players WHERE slate_id = ?", &[slate_id.into()])?
                .into_iter()
                .map(|r| r[0].string())
                .collect();
            let unknown: Vec<&str> =
                values.iter().map(|v| v.player_id.as_str()).filter(|id| !ids.contains(*id)).take(10).collect();
            if !unknown.is_empty() {
                return Err(StoreError::NotFound(format!(
                    "slate {slate_id} has no player {} (see app.data.player_pool for the ids); nothing was changed",
                    unknown.iter().map(|u| format!("{u:?}")).collect::<Vec<_>>().join(", ")
                )));
            }
            write_projections(tx, slate_id, values, mode)
        })
    }
}
