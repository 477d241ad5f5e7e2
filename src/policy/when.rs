//! The `when` condition of a rule: who is calling (client identity) and when (days and a time window in a time
//! zone).
//!
//! All parts are optional and all present parts must hold. The clock is not read here: the caller passes `now`,
//! so tests drive it with fixed instants and a decision never depends on the machine's local time zone.

use std::fmt;

use chrono::{DateTime, NaiveTime, Utc, Weekday};
use jiff::tz::TimeZone;
use wildmatch::WildMatch;

/// A compiled `when = { ... }`.
#[derive(Debug, Clone)]
pub(crate) struct When {
    /// Client identity patterns (`clientInfo.name` on stdio, the token identity on HTTP); empty = any client,
    /// including an unknown one. The text is kept for `explain`.
    pub(crate) clients: Vec<(String, WildMatch)>,
    /// Bit `n` set = weekday `n` (Monday = 0) is in; `None` = every day. A bitmask keeps the check a shift.
    pub(crate) days: Option<u8>,
    /// `[from, to)` in local time of `tz`; `from > to` wraps midnight.
    pub(crate) window: Option<(NaiveTime, NaiveTime)>,
    /// Zone of `days` and `window`; UTC unless `tz` is given, so a rule means the same on every machine. From the
    /// IANA database bundled into the binary, never the system's (jiff's bundle, kept as compact TZif data:
    /// chrono-tz's tables of pointers were a megabyte of memory relocated in every process at start-up).
    pub(crate) tz: TimeZone,
}

impl Default for When {
    fn default() -> Self {
        When { clients: Vec::new(), days: None, window: None, tz: TimeZone::UTC }
    }
}

/// Why a `when` condition does not hold, for `explain`. Building one allocates nothing, so `decide` can share
/// the code path with `explain` and the two can never disagree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WhenMiss<'s> {
    /// The rule names clients and the caller has no identity.
    NoClient,
    /// The caller's identity matches none of the patterns.
    Client(&'s str),
    /// The (local) day is not one of `days`; for a window past midnight, the day the window started.
    Day(Weekday),
    /// The local time is outside the window.
    Time(NaiveTime),
}

impl When {
    /// `true` when nothing is restricted (`when` absent or empty).
    pub(crate) fn is_empty(&self) -> bool {
        self.clients.is_empty() && self.days.is_none() && self.window.is_none()
    }

    /// `None` when the condition holds, else the first part that fails.
    pub(crate) fn miss<'s>(&self, client: Option<&'s str>, now: DateTime<Utc>) -> Option<WhenMiss<'s>> {
        if !self.clients.is_empty() {
            let Some(client) = client else { return Some(WhenMiss::NoClient) };
            if !self.clients.iter().any(|(_, p)| p.matches(client)) {
                return Some(WhenMiss::Client(client));
            }
        }
        if self.days.is_none() && self.window.is_none() {
            return None;
        }
        // Whole minutes suffice (the file says HH:MM) and keep leap seconds out of the comparison.
        let local = jiff::Timestamp::from_second(now.timestamp()).map(|t| self.tz.to_datetime(t)).unwrap_or_default();
        let time = NaiveTime::from_hms_opt(local.hour() as u32, local.minute() as u32, 0).unwrap_or(NaiveTime::MIN);
        let offset = local.weekday().to_monday_zero_offset();
        let mut day = Weekday::try_from(offset as u8).unwrap_or(Weekday::Mon);
        if let Some((from, to)) = self.window {
            let inside = if from < to { from <= time && time < to } else { time >= from || time < to };
            if !inside {
                return Some(WhenMiss::Time(time));
            }
            // "fri 22:00-06:00" means Friday night: the early hours of Saturday belong to Friday's window.
            if from > to && time < to {
                day = day.pred();
            }
        }
        if let Some(days) = self.days {
            if days & (1 << day.num_days_from_monday()) == 0 {
                return Some(WhenMiss::Day(day));
            }
        }
        None
    }

    /// The condition in short, e.g. `clients claude-* days mon,tue 09:00-17:30 America/New_York`.
    pub(crate) fn describe(&self) -> String {
        let mut parts = Vec::new();
        if !self.clients.is_empty() {
            let list: Vec<&str> = self.clients.iter().map(|(s, _)| s.as_str()).collect();
            parts.push(format!("clients {}", list.join(", ")));
        }
        if let Some(days) = self.days {
            let list: Vec<&str> = (0..7).filter(|d| days & (1 << d) != 0).map(|d| DAYS[d as usize]).collect();
            parts.push(format!("days {}", list.join(",")));
        }
        if let Some((from, to)) = self.window {
            parts.push(format!("{}-{}", from.format("%H:%M"), to.format("%H:%M")));
        }
        if self.days.is_some() || self.window.is_some() {
            parts.push(self.tz.iana_name().unwrap_or("UTC").to_owned());
        }
        parts.join(" ")
    }
}

impl fmt::Display for WhenMiss<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WhenMiss::NoClient => f.write_str("the caller has no client identity"),
            WhenMiss::Client(c) => write!(f, "client `{c}` matches none of the rule's clients"),
            WhenMiss::Day(d) => write!(f, "{} is not one of the rule's days", DAYS[d.num_days_from_monday() as usize]),
            WhenMiss::Time(t) => write!(f, "{} is outside the rule's time window", t.format("%H:%M")),
        }
    }
}

/// Day names as written in rule files, Monday first (the bit order of [`When::days`]).
const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// Bit of one day name: `mon`..`sun` or the full English name, any case.
pub(crate) fn parse_day(s: &str) -> Result<u8, String> {
    let lower = s.to_ascii_lowercase();
    const FULL: [&str; 7] = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];
    DAYS.iter()
        .zip(FULL)
        .position(|(short, full)| lower == *short || lower == full)
        .map(|i| 1 << i)
        .ok_or_else(|| format!("`{s}` is not a day; write mon, tue, wed, thu, fri, sat or sun"))
}

/// `HH:MM`, 24-hour clock, two digits each.
pub(crate) fn parse_hhmm(s: &str) -> Result<NaiveTime, String> {
    let bad = || format!("`{s}` is not a time of day; write HH:MM on a 24-hour clock, e.g. \"09:00\" or \"17:30\"");
    let (h, m) = s.split_once(':').ok_or_else(bad)?;
    if h.len() != 2 || m.len() != 2 || !h.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let (h, m) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    NaiveTime::from_hms_opt(h, m, 0).ok_or_else(bad)
}

/// An IANA time zone name such as `America/New_York` or `UTC`.
pub(crate) fn parse_tz(s: &str) -> Result<TimeZone, String> {
    TimeZone::get(s).map_err(|_| format!("`{s}` is not a known time zone; use an IANA name such as \"Europe/Berlin\""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
    }

    fn window(from: &str, to: &str, tz: &str) -> When {
        When {
            window: Some((parse_hhmm(from).unwrap(), parse_hhmm(to).unwrap())),
            tz: parse_tz(tz).unwrap(),
            ..When::default()
        }
    }

    #[test]
    fn empty_condition_always_holds() {
        assert!(When::default().is_empty());
        assert_eq!(When::default().miss(None, at(2025, 1, 6, 3, 0)), None);
    }

    #[test]
    fn clients_are_case_sensitive_wildcards_and_need_an_identity() {
        let w = When {
            clients: vec![("claude-*".into(), WildMatch::new("claude-*")), ("cli?".into(), WildMatch::new("cli?"))],
            ..When::default()
        };
        let now = at(2025, 1, 6, 12, 0);
        assert_eq!(w.miss(Some("claude-desktop"), now), None);
        assert_eq!(w.miss(Some("clix"), now), None);
        assert_eq!(w.miss(Some("Claude-desktop"), now), Some(WhenMiss::Client("Claude-desktop")));
        assert_eq!(w.miss(Some("cursor"), now), Some(WhenMiss::Client("cursor")));
        assert_eq!(w.miss(None, now), Some(WhenMiss::NoClient));
    }

    #[test]
    fn plain_window_is_half_open() {
        let w = window("09:00", "17:30", "UTC");
        assert_eq!(w.miss(None, at(2025, 1, 6, 9, 0)), None);
        assert_eq!(w.miss(None, at(2025, 1, 6, 17, 29)), None);
        assert!(matches!(w.miss(None, at(2025, 1, 6, 17, 30)), Some(WhenMiss::Time(_))));
        assert!(matches!(w.miss(None, at(2025, 1, 6, 8, 59)), Some(WhenMiss::Time(_))));
    }

    #[test]
    fn window_wraps_midnight() {
        let w = window("22:00", "06:00", "UTC");
        assert_eq!(w.miss(None, at(2025, 1, 6, 23, 0)), None);
        assert_eq!(w.miss(None, at(2025, 1, 7, 0, 0)), None);
        assert_eq!(w.miss(None, at(2025, 1, 7, 5, 59)), None);
        assert!(matches!(w.miss(None, at(2025, 1, 7, 6, 0)), Some(WhenMiss::Time(_))));
        assert!(matches!(w.miss(None, at(2025, 1, 7, 12, 0)), Some(WhenMiss::Time(_))));
    }

    #[test]
    fn early_hours_of_a_wrapped_window_belong_to_the_day_it_started() {
        // Friday night only: 2025-01-10 is a Friday.
        let w = When { days: Some(parse_day("fri").unwrap()), ..window("22:00", "06:00", "UTC") };
        assert_eq!(w.miss(None, at(2025, 1, 10, 23, 0)), None);
        assert_eq!(w.miss(None, at(2025, 1, 11, 2, 0)), None, "Saturday 02:00 is still Friday night");
        assert_eq!(w.miss(None, at(2025, 1, 10, 2, 0)), Some(WhenMiss::Day(Weekday::Thu)), "Thursday night");
        assert_eq!(w.miss(None, at(2025, 1, 11, 23, 0)), Some(WhenMiss::Day(Weekday::Sat)));
    }

    #[test]
    fn days_and_window_are_read_in_the_rule_time_zone() {
        // 09:00-17:30 New York on weekdays. 2025-01-06 is a Monday; New York is UTC-5 in January.
        let w = When { days: Some(0b0001_1111), ..window("09:00", "17:30", "America/New_York") };
        assert_eq!(w.miss(None, at(2025, 1, 6, 14, 0)), None, "09:00 in New York");
        assert!(matches!(w.miss(None, at(2025, 1, 6, 13, 59)), Some(WhenMiss::Time(_))), "08:59 in New York");
        assert!(matches!(w.miss(None, at(2025, 1, 6, 22, 30)), Some(WhenMiss::Time(_))), "17:30 in New York");
        // Saturday 03:00 UTC is Friday 22:00 in New York: the day is Friday, the time is outside.
        assert!(matches!(w.miss(None, at(2025, 1, 11, 3, 0)), Some(WhenMiss::Time(_))));
        // Saturday 15:00 UTC = Saturday 10:00 New York: inside the window, wrong day.
        assert_eq!(w.miss(None, at(2025, 1, 11, 15, 0)), Some(WhenMiss::Day(Weekday::Sat)));
        // Summer time: UTC-4, so 13:00 UTC is 09:00 local (2025-07-07 is a Monday).
        assert_eq!(w.miss(None, at(2025, 7, 7, 13, 0)), None);
    }

    #[test]
    fn parses_days_times_and_zones() {
        assert_eq!(parse_day("mon"), Ok(1));
        assert_eq!(parse_day("Sunday"), Ok(1 << 6));
        assert!(parse_day("mo").is_err());
        assert_eq!(parse_hhmm("00:00"), Ok(NaiveTime::MIN));
        assert_eq!(parse_hhmm("23:59"), Ok(NaiveTime::from_hms_opt(23, 59, 0).unwrap()));
        for bad in ["24:00", "9:00", "09:60", "0900", "09:00:00", "ab:cd", "+9:00"] {
            assert!(parse_hhmm(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_tz("Europe/Berlin").unwrap().iana_name(), Some("Europe/Berlin"));
        assert!(parse_tz("Mars/Olympus").is_err());
    }

    #[test]
    fn describes_itself() {
        let w = When {
            clients: vec![("a*".into(), WildMatch::new("a*"))],
            days: Some(0b11),
            ..window("22:00", "06:00", "Europe/Berlin")
        };
        assert_eq!(w.describe(), "clients a* days mon,tue 22:00-06:00 Europe/Berlin");
    }
}
