//! Salary-file and projections import: the sites' CSV exports into a [`Slate`], the user's projections CSV into
//! per-player values.
//!
//! - DraftKings salary export (`Position,Name + ID,Name,ID,Roster Position,Salary,Game Info,TeamAbbrev,
//!   AvgPointsPerGame`), classic and showdown, also when it sits to the side of an entries template
//!   ([`dk`]).
//! - FanDuel player list (`Id,Position,First Name,Nickname,Last Name,FPPG,Played,Salary,Game,Team,Opponent,…`),
//!   classic and single game ([`fd`]).
//! - The user's projections ([`projections`]).
//!
//! The site, sport and contest type are read from the file (its columns, positions and roster positions) unless
//! the caller says otherwise. A file with any bad row yields an error naming every bad row (up to
//! [`MAX_ROW_ERRORS`]) and no slate: imports are all or nothing.

mod dk;
mod fd;
mod gameinfo;
pub(crate) mod projections;
mod table;

use std::collections::BTreeMap;
use std::fmt;

use crate::model::{ContestType, Game, Player, Site, Slate, Sport};
use crate::rules::{self, RuleSet};

pub use gameinfo::{eastern_date, eastern_rfc3339, format_game_info, parse_time};
pub use projections::{parse_projections_csv, ProjectionImport, ProjectionValues, Unmatched};

/// Row errors reported at most; the rest are counted.
pub const MAX_ROW_ERRORS: usize = 20;

/// One bad row (or cell) of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// 1-based line of the file where the row starts.
    pub line: u64,
    pub message: String,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// Why a file was not imported. Nothing of it was kept.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ImportError {
    /// The file as a whole is not what was expected (no header, unknown site, an override that does not fit).
    #[error("{0}")]
    File(String),
    /// Rows that cannot be read; `more` counts those beyond the ones listed.
    #[error("{}", rows_message(.rows, *.more))]
    Rows { rows: Vec<RowError>, more: usize },
}

fn rows_message(rows: &[RowError], more: usize) -> String {
    let mut out = rows.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ");
    if more > 0 {
        out.push_str(&format!("; and {more} more bad rows"));
    }
    out.push_str(" (nothing was imported)");
    out
}

/// Collects row errors while a file is read, so one pass reports them all.
#[derive(Default)]
pub(crate) struct Problems {
    rows: Vec<RowError>,
    more: usize,
}

impl Problems {
    pub(crate) fn add(&mut self, line: u64, message: impl Into<String>) {
        if self.rows.len() < MAX_ROW_ERRORS {
            self.rows.push(RowError { line, message: message.into() });
        } else {
            self.more += 1;
        }
    }
    pub(crate) fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
    pub(crate) fn into_result<T>(self, value: T) -> Result<T, ImportError> {
        if self.rows.is_empty() {
            Ok(value)
        } else {
            Err(ImportError::Rows { rows: self.rows, more: self.more })
        }
    }
}

/// What the caller knows better than the file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImportOptions {
    pub site: Option<Site>,
    pub sport: Option<Sport>,
    pub contest: Option<ContestType>,
    /// The slate's name; default `"<Site> <SPORT> <contest> <first game date>"`.
    pub name: Option<String>,
    /// Start times (seconds since the Unix epoch) by game id (`KC@BUF`), for files that carry none (FanDuel).
    /// A time the file gives wins; a game id the file does not have is an error.
    pub game_times: BTreeMap<String, i64>,
}

/// Reads a salary file of either site. The slate's `id` is empty and `imported_at` 0: the store assigns both.
pub fn parse_salary_csv(text: &str, options: &ImportOptions) -> Result<Slate, ImportError> {
    let records = table::records(text)?;
    let found = table::find_header(&records, &[dk::REQUIRED, fd::REQUIRED]).ok_or_else(|| {
        ImportError::File(format!(
            "no header row found: expected the DraftKings salary export's columns ({}) or the FanDuel player \
             list's ({})",
            dk::REQUIRED.join(", "),
            fd::REQUIRED.join(", ")
        ))
    })?;
    let site = if found.layout == 0 { Site::DraftKings } else { Site::FanDuel };
    if let Some(want) = options.site {
        if want != site {
            return Err(ImportError::File(format!(
                "the file is a {} {} (header on line {}), not a {} file",
                site_label(site),
                if site == Site::DraftKings { "salary export" } else { "player list" },
                found.table.header_line,
                site_label(want)
            )));
        }
    }
    let slate = match site {
        Site::DraftKings => dk::parse(&found.table, options)?,
        Site::FanDuel => fd::parse(&found.table, options)?,
    };
    check_game_times(&slate, options)?;
    Ok(slate)
}

fn check_game_times(slate: &Slate, options: &ImportOptions) -> Result<(), ImportError> {
    let unknown: Vec<&str> =
        options.game_times.keys().filter(|g| !slate.games.iter().any(|x| &x.id == *g)).map(String::as_str).collect();
    if unknown.is_empty() {
        return Ok(());
    }
    let have: Vec<&str> = slate.games.iter().map(|g| g.id.as_str()).collect();
    Err(ImportError::File(format!(
        "game_times names {}, which the file does not have (its games: {})",
        unknown.join(", "),
        have.join(", ")
    )))
}

/// `DraftKings` / `FanDuel`, for messages and default names.
pub fn site_label(site: Site) -> &'static str {
    match site {
        Site::DraftKings => "DraftKings",
        Site::FanDuel => "FanDuel",
    }
}

/// `classic` / `showdown` / `single game`, as each site calls its contest types.
pub fn contest_label(site: Site, contest: ContestType) -> &'static str {
    match (site, contest) {
        (_, ContestType::Classic) => "classic",
        (Site::DraftKings, ContestType::Showdown) => "showdown",
        (Site::FanDuel, ContestType::Showdown) => "single game",
    }
}

/// `DraftKings NFL showdown`.
pub fn rules_label(site: Site, sport: Sport, contest: ContestType) -> String {
    format!("{} {} {}", site_label(site), sport.as_str().to_ascii_uppercase(), contest_label(site, contest))
}

/// Positions each site uses per sport, for telling the sport from a file.
fn vocabulary(site: Site, sport: Sport) -> &'static [&'static str] {
    match (site, sport) {
        (Site::DraftKings, Sport::Nfl) => &["QB", "RB", "WR", "TE", "DST", "K"],
        (Site::DraftKings, Sport::Nba) => &["PG", "SG", "SF", "PF", "C", "G", "F"],
        (Site::DraftKings, Sport::Mlb) => &["SP", "RP", "P", "C", "1B", "2B", "3B", "SS", "OF"],
        (Site::DraftKings, Sport::Nhl) => &["C", "W", "LW", "RW", "D", "G"],
        (Site::FanDuel, Sport::Nfl) => &["QB", "RB", "WR", "TE", "D", "K"],
        (Site::FanDuel, Sport::Nba) => &["PG", "SG", "SF", "PF", "C"],
        (Site::FanDuel, Sport::Mlb) => &["P", "C", "1B", "2B", "3B", "SS", "OF"],
        (Site::FanDuel, Sport::Nhl) => &["C", "W", "D", "G"],
    }
}

/// The sport whose position names cover the most rows (each row a player's positions). Rows it does not
/// cover are reported by the caller as positions that fill no slot, which names them by line.
pub(crate) fn detect_sport<'a>(site: Site, rows: impl Iterator<Item = &'a [String]>) -> Result<Sport, ImportError> {
    let rows: Vec<&[String]> = rows.collect();
    let covered =
        |s: Sport| rows.iter().filter(|r| r.iter().all(|p| vocabulary(site, s).contains(&p.as_str()))).count();
    let counts: Vec<(Sport, usize)> = Sport::ALL.into_iter().map(|s| (s, covered(s))).collect();
    let best = counts.iter().map(|c| c.1).max().unwrap_or(0);
    let fits: Vec<Sport> = counts.iter().filter(|c| c.1 == best).map(|c| c.0).collect();
    let mut seen: Vec<&str> = rows.iter().flat_map(|r| r.iter().map(String::as_str)).collect();
    seen.sort_unstable();
    seen.dedup();
    match fits.as_slice() {
        [one] if best > 0 => Ok(*one),
        _ if best == 0 => Err(ImportError::File(format!(
            "cannot tell the sport: the positions {} are not {} positions of any sport; give `sport`",
            seen.join(", "),
            site_label(site)
        ))),
        many => Err(ImportError::File(format!(
            "cannot tell the sport from the positions {} (could be {}); give `sport`",
            seen.join(", "),
            many.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" or ")
        ))),
    }
}

/// The rule set of what was detected or asked for.
pub(crate) fn rule_set(site: Site, sport: Sport, contest: ContestType) -> Result<&'static RuleSet, ImportError> {
    rules::lookup(site, sport, contest).ok_or_else(|| {
        ImportError::File(format!("no rule set for {}: this build cannot import it", rules_label(site, sport, contest)))
    })
}

/// Sorts the eligible slots in rule-set slot order, keeping the names the rule set has.
pub(crate) fn in_slot_order(rules: &RuleSet, slots: &[String]) -> Vec<String> {
    rules.slot_names().into_iter().filter(|s| slots.iter().any(|x| x == s)).map(str::to_owned).collect()
}

/// Assembles the slate: games sorted by start then id (a stable order whatever the file's row order), name
/// defaulted.
pub(crate) fn finish(
    site: Site,
    sport: Sport,
    contest: ContestType,
    mut games: Vec<Game>,
    players: Vec<Player>,
    options: &ImportOptions,
) -> Slate {
    for g in &mut games {
        if g.start.is_none() {
            g.start = options.game_times.get(&g.id).copied();
        }
    }
    games.sort_by(|a, b| (a.start.unwrap_or(i64::MAX), &a.id).cmp(&(b.start.unwrap_or(i64::MAX), &b.id)));
    let mut slate =
        Slate { id: String::new(), site, sport, contest, name: String::new(), games, players, imported_at: 0 };
    slate.name = match &options.name {
        Some(n) if !n.trim().is_empty() => n.trim().to_owned(),
        _ => default_name(&slate),
    };
    slate
}

/// `DraftKings NFL classic 2025-01-26` (the first game's date in US Eastern time, as the sites date slates).
pub fn default_name(slate: &Slate) -> String {
    let label = rules_label(slate.site, slate.sport, slate.contest);
    match slate.first_lock().and_then(gameinfo::eastern_date) {
        Some(date) => format!("{label} {date}"),
        None => label,
    }
}

/// Parses a non-negative whole number the way the sites write salaries (`5000`, also `$5,000`).
pub(crate) fn parse_salary(cell: &str) -> Option<u32> {
    let cleaned: String = cell.trim().chars().filter(|c| *c != '$' && *c != ',').collect();
    if cleaned.is_empty() {
        return None;
    }
    cleaned.parse::<u32>().ok().or_else(|| {
        // `5000.0` from a spreadsheet round trip is still a whole number.
        cleaned.parse::<f64>().ok().filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f <= u32::MAX as f64).map(|f| f as u32)
    })
}

/// Parses a finite number; empty is `Ok(None)`.
pub(crate) fn parse_number(cell: &str) -> Result<Option<f64>, ()> {
    let t = cell.trim();
    if t.is_empty() {
        return Ok(None);
    }
    match t.parse::<f64>() {
        Ok(f) if f.is_finite() => Ok(Some(f)),
        _ => Err(()),
    }
}

#[cfg(test)]
mod tests;
