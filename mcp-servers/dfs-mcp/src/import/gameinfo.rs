//! DraftKings' `Game Info` cell (`KC@BUF 01/26/2025 06:30PM ET`, `In Progress`, `Final`) and the times around it.
//!
//! The sites print US local wall-clock times with a zone abbreviation; `ET` is America/New_York, so a
//! 06:30PM game is 23:30 UTC in January and 22:30 UTC in July. jiff's bundled time zone database does the
//! DST arithmetic (also on a machine without /usr/share/zoneinfo).

use jiff::civil::{Date, DateTime, Time};
use jiff::tz::TimeZone;
use jiff::Timestamp;

use crate::model::{Game, GameStatus};

/// What a `Game Info` cell says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum GameInfo {
    /// `AWAY@HOME` and, when the cell has it, the start (seconds since the Unix epoch).
    Scheduled { away: String, home: String, start: Option<i64> },
    /// The game has started or ended; the cell no longer names the teams.
    Locked(GameStatus),
}

fn zone_of(abbrev: &str) -> Option<&'static str> {
    Some(match abbrev.to_ascii_uppercase().as_str() {
        "ET" | "EST" | "EDT" => "America/New_York",
        "CT" | "CST" | "CDT" => "America/Chicago",
        "MT" | "MST" | "MDT" => "America/Denver",
        "PT" | "PST" | "PDT" => "America/Los_Angeles",
        "UTC" | "GMT" | "Z" => "UTC",
        _ => return None,
    })
}

fn eastern() -> TimeZone {
    TimeZone::get("America/New_York").expect("the bundled tz database has America/New_York")
}

/// Parses a `Game Info` cell. The error says what was expected.
pub(crate) fn parse_game_info(cell: &str) -> Result<GameInfo, String> {
    let t = cell.trim();
    let lower = t.to_ascii_lowercase();
    match lower.as_str() {
        "in progress" | "inprogress" | "live" => return Ok(GameInfo::Locked(GameStatus::InProgress)),
        "final" | "completed" => return Ok(GameInfo::Locked(GameStatus::Final)),
        _ => {}
    }
    let mut parts = t.split_whitespace();
    let matchup = parts.next().unwrap_or("");
    let (away, home) = parse_matchup(matchup).ok_or_else(|| {
        format!("Game Info {cell:?} is not `AWAY@HOME MM/DD/YYYY HH:MMPM ET`, `In Progress` or `Final`")
    })?;
    let rest: Vec<&str> = parts.collect();
    if rest.is_empty() {
        return Ok(GameInfo::Scheduled { away, home, start: None });
    }
    let start = parse_when(&rest).map_err(|why| format!("Game Info {cell:?}: {why}"))?;
    Ok(GameInfo::Scheduled { away, home, start: Some(start) })
}

/// `KC@BUF` → (`KC`, `BUF`).
pub(crate) fn parse_matchup(s: &str) -> Option<(String, String)> {
    let (a, h) = s.trim().split_once('@')?;
    let ok = |x: &str| !x.is_empty() && x.chars().all(|c| c.is_ascii_alphanumeric());
    (ok(a) && ok(h) && a != h).then(|| (a.to_owned(), h.to_owned()))
}

/// `["01/26/2025", "06:30PM", "ET"]` (also `6:30 PM ET`) → seconds since the epoch.
fn parse_when(tokens: &[&str]) -> Result<i64, String> {
    let date = tokens.first().ok_or("no date")?;
    let (zone, time) = match tokens[1..].split_last() {
        Some((last, rest)) if zone_of(last).is_some() => (Some(last.to_ascii_uppercase()), rest),
        _ => (None, &tokens[1..]),
    };
    let time = time.concat().to_ascii_uppercase();
    let zone = zone.ok_or("no time zone (ET, CT, MT, PT)")?;
    let mut d = date.split('/');
    let (Some(m), Some(day), Some(y), None) = (d.next(), d.next(), d.next(), d.next()) else {
        return Err(format!("date {date:?} is not MM/DD/YYYY"));
    };
    let num = |s: &str| s.parse::<i16>().map_err(|_| format!("date {date:?} is not MM/DD/YYYY"));
    let (m, day, y) = (num(m)?, num(day)?, num(y)?);
    let date = Date::new(y, m as i8, day as i8).map_err(|_| format!("{y}-{m:02}-{day:02} is not a date"))?;
    let (clock, pm) = if let Some(c) = time.strip_suffix("PM") {
        (c, true)
    } else if let Some(c) = time.strip_suffix("AM") {
        (c, false)
    } else {
        return Err(format!("time {time:?} is not HH:MMAM or HH:MMPM"));
    };
    let (h, mi) = clock.split_once(':').ok_or_else(|| format!("time {time:?} is not HH:MM"))?;
    let h: i8 = h.parse().map_err(|_| format!("time {time:?} is not HH:MM"))?;
    let mi: i8 = mi.parse().map_err(|_| format!("time {time:?} is not HH:MM"))?;
    if !(1..=12).contains(&h) {
        return Err(format!("hour {h} is not 1-12"));
    }
    let hour = (h % 12) + if pm { 12 } else { 0 };
    let time = Time::new(hour, mi, 0, 0).map_err(|_| format!("time {time:?} is not a time of day"))?;
    let tz = TimeZone::get(zone_of(&zone).expect("checked")).map_err(|e| e.to_string())?;
    let ts = tz.to_ambiguous_zoned(DateTime::from_parts(date, time)).compatible().map_err(|e| e.to_string())?;
    Ok(ts.timestamp().as_second())
}

/// The `Game Info` cell DraftKings writes for a game: `KC@BUF 01/26/2025 06:30PM ET`.
pub fn format_game_info(game: &Game) -> String {
    match game.status {
        GameStatus::InProgress => "In Progress".to_owned(),
        GameStatus::Final => "Final".to_owned(),
        GameStatus::Scheduled => match game.start.and_then(|s| Timestamp::from_second(s).ok()) {
            Some(ts) => format!("{} {}", game.id, ts.to_zoned(eastern()).strftime("%m/%d/%Y %I:%M%p ET")),
            None => game.id.clone(),
        },
    }
}

/// The calendar date of a time in US Eastern time (`2025-01-26`).
pub fn eastern_date(seconds: i64) -> Option<String> {
    Timestamp::from_second(seconds).ok().map(|ts| ts.to_zoned(eastern()).date().to_string())
}

/// A time as RFC 3339 in US Eastern time (`2025-01-26T18:30:00-05:00`): what the sites' players read, exact.
pub fn eastern_rfc3339(seconds: i64) -> String {
    match Timestamp::from_second(seconds) {
        Ok(ts) => ts.to_zoned(eastern()).strftime("%Y-%m-%dT%H:%M:%S%:z").to_string(),
        Err(_) => seconds.to_string(),
    }
}

/// A start time as a person or a program writes it: seconds since the epoch, RFC 3339
/// (`2025-01-26T18:30:00-05:00`), or a civil time with a zone name (`2025-01-26T18:30[America/New_York]`).
pub fn parse_time(s: &str) -> Result<i64, String> {
    let t = s.trim();
    if let Ok(n) = t.parse::<i64>() {
        return Ok(n);
    }
    if let Ok(ts) = t.parse::<Timestamp>() {
        return Ok(ts.as_second());
    }
    if let Ok(z) = t.parse::<jiff::Zoned>() {
        return Ok(z.timestamp().as_second());
    }
    Err(format!("{s:?} is not a time: give seconds since the epoch or RFC 3339 like 2025-01-26T18:30:00-05:00"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start(cell: &str) -> i64 {
        match parse_game_info(cell).unwrap() {
            GameInfo::Scheduled { start: Some(s), .. } => s,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn eastern_time_follows_daylight_saving() {
        // 2025-01-26 18:30 EST = 23:30 UTC; 2025-07-04 18:30 EDT = 22:30 UTC.
        assert_eq!(start("KC@BUF 01/26/2025 06:30PM ET"), 1_737_934_200);
        assert_eq!(start("NYY@BOS 07/04/2025 06:30PM ET"), 1_751_668_200);
        // The night DST ends, 01:30 happens twice: the earlier (EDT) one is taken.
        assert_eq!(start("A@B 11/02/2025 01:30AM ET"), 1_762_061_400);
        assert_eq!(start("A@B 01/26/2025 6:30 PM ET"), 1_737_934_200);
        assert_eq!(start("A@B 01/26/2025 12:05AM ET"), 1_737_867_900);
        assert_eq!(start("A@B 01/26/2025 03:30PM PT"), 1_737_934_200);
    }

    #[test]
    fn locked_and_bad_cells() {
        assert_eq!(parse_game_info("In Progress").unwrap(), GameInfo::Locked(GameStatus::InProgress));
        assert_eq!(parse_game_info(" Final ").unwrap(), GameInfo::Locked(GameStatus::Final));
        assert!(parse_game_info("KC vs BUF").unwrap_err().contains("AWAY@HOME"));
        assert!(parse_game_info("KC@BUF 13/26/2025 06:30PM ET").unwrap_err().contains("not a date"));
        assert!(parse_game_info("KC@BUF 01/26/2025 18:30 ET").unwrap_err().contains("HH:MM"));
        assert!(parse_game_info("KC@BUF 01/26/2025 06:30PM").unwrap_err().contains("time zone"));
    }

    #[test]
    fn formats_what_it_parses() {
        for cell in ["KC@BUF 01/26/2025 06:30PM ET", "NYY@BOS 07/04/2025 12:05PM ET", "A@B 11/02/2025 01:30AM ET"] {
            let GameInfo::Scheduled { away, home, start } = parse_game_info(cell).unwrap() else { panic!() };
            let g = Game { id: format!("{away}@{home}"), away, home, start, status: GameStatus::Scheduled };
            assert_eq!(format_game_info(&g), cell);
        }
        assert_eq!(eastern_date(1_737_934_200).unwrap(), "2025-01-26");
        assert_eq!(parse_time("2025-01-26T18:30:00-05:00").unwrap(), 1_737_934_200);
        assert_eq!(parse_time("2025-01-26T18:30[America/New_York]").unwrap(), 1_737_934_200);
        assert_eq!(parse_time("1737934200").unwrap(), 1_737_934_200);
        assert_eq!(eastern_rfc3339(1_737_934_200), "2025-01-26T18:30:00-05:00");
        assert_eq!(eastern_rfc3339(1_751_668_200), "2025-07-04T18:30:00-04:00");
        assert!(parse_time("tomorrow").is_err());
    }
}
