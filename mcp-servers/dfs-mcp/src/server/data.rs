//! The data server's tools: `slate`, `import_slate`, `player_pool`, `set_projections`.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use serde_json::{json, Value};

use super::tools::{args, ToolError};
use super::Ctx;
use crate::import::{self, eastern_rfc3339, ImportOptions, ProjectionValues};
use crate::model::{ContestType, GameStatus, Player, Site, Slate, Sport};
use crate::store::{ProjectionMode, SlateFilter, SlateSummary};

/// Files larger than this are refused (a salary file is well under a megabyte).
const MAX_FILE_BYTES: u64 = 32 << 20;

fn site_arg(field: &str, v: Option<&str>) -> Result<Option<Site>, ToolError> {
    v.map(|s| {
        Site::parse(s).ok_or_else(|| ToolError::Args(format!("{field}: {s:?} is not a site (draft_kings, fan_duel)")))
    })
    .transpose()
}
fn sport_arg(field: &str, v: Option<&str>) -> Result<Option<Sport>, ToolError> {
    v.map(|s| {
        Sport::parse(s).ok_or_else(|| ToolError::Args(format!("{field}: {s:?} is not a sport (nfl, nba, mlb, nhl)")))
    })
    .transpose()
}
fn contest_arg(field: &str, v: Option<&str>) -> Result<Option<ContestType>, ToolError> {
    v.map(|s| {
        ContestType::parse(s)
            .ok_or_else(|| ToolError::Args(format!("{field}: {s:?} is not a contest type (classic, showdown)")))
    })
    .transpose()
}

fn time(t: Option<i64>) -> Value {
    t.map_or(Value::Null, |s| Value::String(eastern_rfc3339(s)))
}

fn status_name(s: GameStatus) -> &'static str {
    match s {
        GameStatus::Scheduled => "scheduled",
        GameStatus::InProgress => "in_progress",
        GameStatus::Final => "final",
    }
}

fn summary_json(s: &SlateSummary) -> Value {
    json!({
        "slate_id": s.id, "name": s.name, "site": s.site.as_str(), "sport": s.sport.as_str(),
        "contest": s.contest.as_str(), "games": s.games, "players": s.players, "first_lock": time(s.first_lock),
        "salary_min": s.salary_min, "salary_max": s.salary_max, "projected_players": s.projected,
        "imported_at": eastern_rfc3339(s.imported_at)
    })
}

fn detail_json(s: &Slate) -> Value {
    let salaries = s.players.iter().map(|p| p.salary);
    let games: Vec<Value> = s
        .games
        .iter()
        .map(|g| {
            json!({"id": g.id, "away": g.away, "home": g.home, "start": time(g.start), "start_unix": g.start,
                   "status": status_name(g.status), "players": s.players.iter().filter(|p| p.game == g.id).count()})
        })
        .collect();
    let rules = match crate::rules::lookup(s.site, s.sport, s.contest) {
        Some(r) => json!({
            "name": import::rules_label(s.site, s.sport, s.contest),
            "checked": r.checked,
            "salary_cap": r.salary_cap,
            "slots": r.slots.iter().map(|x| json!({"slot": x.name, "accepts": x.accepts,
                "points_multiplier": x.points_mult, "salary_multiplier": x.salary_mult})).collect::<Vec<_>>(),
            "max_per_team": r.max_per_team,
            "max_hitters_per_team": r.max_hitters_per_team,
            "min_teams": r.min_teams,
            "min_games": r.min_games,
            "upload_limit": r.upload_limit
        }),
        None => Value::Null,
    };
    json!({
        "slate_id": s.id, "name": s.name, "site": s.site.as_str(), "sport": s.sport.as_str(),
        "contest": s.contest.as_str(), "imported_at": eastern_rfc3339(s.imported_at),
        "player_count": s.players.len(),
        "salary": {"min": salaries.clone().min().unwrap_or(0), "max": salaries.max().unwrap_or(0)},
        "projections": {
            "uploaded": s.players.iter().filter(|p| p.projection.is_some()).count(),
            "with_stdev": s.players.iter().filter(|p| p.stdev.is_some()).count(),
            "with_ownership": s.players.iter().filter(|p| p.ownership.is_some()).count(),
            "default": "players without an uploaded projection use the site's average points per game"
        },
        "games": games,
        "rules": rules
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SlateArgs {
    slate_id: Option<String>,
    site: Option<String>,
    sport: Option<String>,
    contest: Option<String>,
    limit: Option<usize>,
    offset: Option<usize>,
}

pub(super) fn slate(ctx: &Ctx, v: Value) -> Result<Value, ToolError> {
    let a: SlateArgs = args(v)?;
    if let Some(id) = &a.slate_id {
        return Ok(json!({"slate": detail_json(&ctx.store.slate(id)?)}));
    }
    let limit = a.limit.unwrap_or(20);
    if !(1..=200).contains(&limit) {
        return Err(ToolError::Args(format!("limit: {limit} is not 1-200")));
    }
    let filter = SlateFilter {
        site: site_arg("site", a.site.as_deref())?,
        sport: sport_arg("sport", a.sport.as_deref())?,
        contest: contest_arg("contest", a.contest.as_deref())?,
        limit,
        offset: a.offset.unwrap_or(0),
    };
    let (list, total) = ctx.store.list_slates(&filter)?;
    Ok(json!({
        "slates": list.iter().map(summary_json).collect::<Vec<_>>(),
        "total": total, "offset": filter.offset, "limit": limit
    }))
}

/// The text of a file argument: `csv` as given, or `path` read from under an allowed directory.
fn file_text(ctx: &Ctx, csv: Option<String>, path: Option<String>) -> Result<String, ToolError> {
    match (csv, path) {
        (Some(text), None) => Ok(text),
        (None, Some(path)) => read_allowed(ctx, Path::new(&path)),
        (Some(_), Some(_)) => Err(ToolError::Args("give either `csv` or `path`, not both".into())),
        (None, None) => Err(ToolError::Args("give the file's text as `csv` (or a `path`)".into())),
    }
}

fn read_allowed(ctx: &Ctx, path: &Path) -> Result<String, ToolError> {
    if ctx.import_dirs.is_empty() {
        return Err(ToolError::Args(
            "path: this server reads no files (start it with --import-dir DIR or DFS_MCP_IMPORT_DIRS); give the \
             file's text as `csv`"
                .into(),
        ));
    }
    let shown = path.display();
    let real = path.canonicalize().map_err(|e| ToolError::Args(format!("path: {shown}: {e}")))?;
    // Canonical on both sides: `..` and symlinks cannot lead outside an allowed directory.
    let allowed = ctx.import_dirs.iter().filter_map(|d| d.canonicalize().ok()).any(|d| real.starts_with(d));
    if !allowed {
        let dirs: Vec<String> = ctx.import_dirs.iter().map(|d| d.display().to_string()).collect();
        return Err(ToolError::Args(format!("path: {shown} is not under an allowed directory ({})", dirs.join(", "))));
    }
    let meta = std::fs::metadata(&real).map_err(|e| ToolError::Args(format!("path: {shown}: {e}")))?;
    if !meta.is_file() || meta.len() > MAX_FILE_BYTES {
        return Err(ToolError::Args(format!("path: {shown} is not a file of at most {MAX_FILE_BYTES} bytes")));
    }
    let bytes = std::fs::read(&real).map_err(|e| ToolError::Args(format!("path: {shown}: {e}")))?;
    String::from_utf8(bytes).map_err(|_| ToolError::Args(format!("path: {shown} is not UTF-8 text")))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportArgs {
    csv: Option<String>,
    path: Option<String>,
    name: Option<String>,
    site: Option<String>,
    sport: Option<String>,
    contest: Option<String>,
    #[serde(default)]
    game_times: BTreeMap<String, Value>,
}

pub(super) fn import_slate(ctx: &Ctx, v: Value) -> Result<Value, ToolError> {
    let a: ImportArgs = args(v)?;
    let mut game_times = BTreeMap::new();
    for (game, t) in &a.game_times {
        let seconds = match t {
            Value::Number(n) => n.as_i64().ok_or_else(|| format!("{n} is not a whole number of seconds")),
            Value::String(s) => import::parse_time(s),
            other => Err(format!("{other} is not a time")),
        }
        .map_err(|e| ToolError::Args(format!("game_times.{game}: {e}")))?;
        game_times.insert(game.clone(), seconds);
    }
    let options = ImportOptions {
        site: site_arg("site", a.site.as_deref())?,
        sport: sport_arg("sport", a.sport.as_deref())?,
        contest: contest_arg("contest", a.contest.as_deref())?,
        name: a.name,
        game_times,
    };
    let text = file_text(ctx, a.csv, a.path)?;
    let parsed = import::parse_salary_csv(&text, &options)?;
    let s = ctx.store.insert_slate(&parsed)?;
    Ok(json!({
        "slate_id": s.id, "name": s.name, "site": s.site.as_str(), "sport": s.sport.as_str(),
        "contest": s.contest.as_str(), "games": s.games.len(), "players": s.players.len(),
        "salary_min": s.players.iter().map(|p| p.salary).min().unwrap_or(0),
        "salary_max": s.players.iter().map(|p| p.salary).max().unwrap_or(0),
        "first_lock": time(s.first_lock())
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PoolArgs {
    slate_id: String,
    #[serde(default)]
    positions: Vec<String>,
    #[serde(default)]
    teams: Vec<String>,
    #[serde(default)]
    games: Vec<String>,
    min_salary: Option<u32>,
    max_salary: Option<u32>,
    min_projection: Option<f64>,
    #[serde(default)]
    exclude_out: bool,
    search: Option<String>,
    sort: Option<String>,
    order: Option<String>,
    limit: Option<usize>,
    offset: Option<usize>,
}

fn value_of(p: &Player) -> f64 {
    if p.salary == 0 {
        0.0
    } else {
        p.points() * 1000.0 / f64::from(p.salary)
    }
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

fn pool_json(p: &Player) -> Value {
    let mut o = json!({
        "id": p.id, "name": p.name, "positions": p.positions, "eligible": p.eligible, "team": p.team,
        "opponent": p.opponent, "game": p.game, "salary": p.salary, "projection": p.points(),
        "projection_source": if p.projection.is_some() { "uploaded" } else { "average" },
        "avg_points": p.avg_points, "value": round2(value_of(p)), "status": p.status
    });
    let m = o.as_object_mut().expect("object");
    if let Some(c) = &p.captain {
        m.insert("captain_id".into(), json!(c.id));
        m.insert("captain_salary".into(), json!(c.salary));
    }
    for (k, v) in [("stdev", p.stdev), ("ownership", p.ownership), ("ceiling", p.ceiling), ("floor", p.floor)] {
        if let Some(v) = v {
            m.insert(k.into(), json!(v));
        }
    }
    if let Some(b) = p.batting_order {
        m.insert("batting_order".into(), json!(b));
    }
    if let Some(l) = &p.line {
        m.insert("line".into(), json!(l));
    }
    o
}

pub(super) fn player_pool(ctx: &Ctx, v: Value) -> Result<Value, ToolError> {
    let a: PoolArgs = args(v)?;
    let limit = a.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ToolError::Args(format!("limit: {limit} is not 1-1000")));
    }
    let sort = a.sort.as_deref().unwrap_or("projection");
    let key: fn(&Player) -> Option<f64> = match sort {
        "projection" => |p| Some(p.points()),
        "salary" => |p| Some(f64::from(p.salary)),
        "value" => |p| Some(value_of(p)),
        "ownership" => |p| p.ownership,
        "avg_points" => |p| Some(p.avg_points),
        "name" => |_| None,
        other => {
            return Err(ToolError::Args(format!(
                "sort: {other:?} is not one of projection, salary, value, name, ownership, avg_points"
            )))
        }
    };
    let desc = match a.order.as_deref() {
        None => sort != "name",
        Some("desc") => true,
        Some("asc") => false,
        Some(other) => return Err(ToolError::Args(format!("order: {other:?} is not asc or desc"))),
    };
    let slate = ctx.store.slate(&a.slate_id)?;
    let upper = |v: &[String]| v.iter().map(|s| s.trim().to_ascii_uppercase()).collect::<Vec<_>>();
    let (positions, teams, games) = (upper(&a.positions), upper(&a.teams), upper(&a.games));
    let search = a.search.as_deref().map(str::to_lowercase);
    let mut players: Vec<&Player> = slate
        .players
        .iter()
        .filter(|p| positions.is_empty() || p.positions.iter().chain(&p.eligible).any(|x| positions.contains(x)))
        .filter(|p| teams.is_empty() || teams.contains(&p.team))
        .filter(|p| games.is_empty() || games.contains(&p.game.to_ascii_uppercase()))
        .filter(|p| a.min_salary.is_none_or(|m| p.salary >= m))
        .filter(|p| a.max_salary.is_none_or(|m| p.salary <= m))
        .filter(|p| a.min_projection.is_none_or(|m| p.points() >= m))
        .filter(|p| !a.exclude_out || !p.is_out())
        .filter(|p| search.as_ref().is_none_or(|s| p.name.to_lowercase().contains(s)))
        .collect();
    players.sort_by(|x, y| {
        let primary = if sort == "name" {
            x.name.cmp(&y.name)
        } else {
            // Players without the value (no ownership uploaded) sort last either way.
            match (key(x), key(y)) {
                (Some(a), Some(b)) => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
                (Some(_), None) => return Ordering::Less,
                (None, Some(_)) => return Ordering::Greater,
                (None, None) => Ordering::Equal,
            }
        };
        let primary = if desc { primary.reverse() } else { primary };
        primary.then_with(|| y.salary.cmp(&x.salary)).then_with(|| x.name.cmp(&y.name)).then_with(|| x.id.cmp(&y.id))
    });
    let total = players.len();
    let offset = a.offset.unwrap_or(0);
    let page: Vec<Value> = players.into_iter().skip(offset).take(limit).map(pool_json).collect();
    Ok(json!({"slate_id": slate.id, "total": total, "offset": offset, "limit": limit, "players": page}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ValueArgs {
    id: String,
    projection: Option<f64>,
    stdev: Option<f64>,
    ownership: Option<f64>,
    ceiling: Option<f64>,
    floor: Option<f64>,
    line: Option<String>,
    batting_order: Option<u8>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProjectionArgs {
    slate_id: String,
    csv: Option<String>,
    path: Option<String>,
    values: Option<Vec<ValueArgs>>,
    mode: Option<String>,
    #[serde(default)]
    strict: bool,
}

fn check_values(slate: &Slate, values: Vec<ValueArgs>) -> Result<Vec<ProjectionValues>, ToolError> {
    let mut out = Vec::with_capacity(values.len());
    let mut unknown = Vec::new();
    for (i, v) in values.into_iter().enumerate() {
        let bad = |field: &str, why: &str| ToolError::Args(format!("values[{i}].{field}: {why}"));
        if v.stdev.is_some_and(|s| s < 0.0 || !s.is_finite()) {
            return Err(bad("stdev", "must be a number of at least 0"));
        }
        if v.ownership.is_some_and(|o| !(0.0..=100.0).contains(&o)) {
            return Err(bad("ownership", "must be a percentage 0-100"));
        }
        if v.batting_order.is_some_and(|b| !(1..=9).contains(&b)) {
            return Err(bad("batting_order", "must be 1-9"));
        }
        // A DraftKings captain-row id names the same person.
        let Some(p) = slate.player(&v.id) else {
            unknown.push(format!("{:?}", v.id));
            continue;
        };
        out.push(ProjectionValues {
            player_id: p.id.clone(),
            projection: v.projection,
            stdev: v.stdev,
            ownership: v.ownership,
            ceiling: v.ceiling,
            floor: v.floor,
            line: v.line,
            batting_order: v.batting_order,
        });
    }
    if !unknown.is_empty() {
        return Err(ToolError::Failed(format!(
            "slate {} has no player {} (see player_pool for the ids); nothing was changed",
            slate.id,
            unknown.join(", ")
        )));
    }
    Ok(out)
}

pub(super) fn set_projections(ctx: &Ctx, v: Value) -> Result<Value, ToolError> {
    let a: ProjectionArgs = args(v)?;
    let from_file = a.values.is_none();
    let mode = match a.mode.as_deref() {
        None if from_file => ProjectionMode::Replace,
        None => ProjectionMode::Merge,
        Some("replace") => ProjectionMode::Replace,
        Some("merge") => ProjectionMode::Merge,
        Some(other) => return Err(ToolError::Args(format!("mode: {other:?} is not replace or merge"))),
    };
    let slate = ctx.store.slate(&a.slate_id)?;
    let (values, unmatched) = match a.values {
        Some(values) => {
            if a.csv.is_some() || a.path.is_some() {
                return Err(ToolError::Args("give `values` or a file (`csv`/`path`), not both".into()));
            }
            (check_values(&slate, values)?, Vec::new())
        }
        None => {
            let text = file_text(ctx, a.csv, a.path)?;
            let read = import::parse_projections_csv(&text, &slate)?;
            if a.strict && !read.unmatched.is_empty() {
                let rows: Vec<String> = read
                    .unmatched
                    .iter()
                    .take(10)
                    .map(|u| format!("line {}: {} ({})", u.line, u.key, u.reason))
                    .collect();
                return Err(ToolError::Failed(format!(
                    "{} rows match no player of slate {} and strict is set: {}; nothing was changed",
                    read.unmatched.len(),
                    slate.id,
                    rows.join("; ")
                )));
            }
            (read.values, read.unmatched)
        }
    };
    ctx.store.set_projections(&slate.id, &values, mode)?;
    let after = ctx.store.slate(&slate.id)?;
    Ok(json!({
        "slate_id": slate.id,
        "mode": if mode == ProjectionMode::Replace { "replace" } else { "merge" },
        "matched": values.len(),
        "unmatched": unmatched.len(),
        "unmatched_rows": unmatched.iter().map(|u| json!({"line": u.line, "key": u.key, "reason": u.reason})).collect::<Vec<_>>(),
        "with_projection": after.players.iter().filter(|p| p.projection.is_some()).count()
    }))
}
