//! Roster rules per site, sport and contest type, kept as data with the date they were checked: sites change
//! their rules, and a rule set is what the importers, the optimizer and the exporters read.

use crate::model::{ContestType, Site, Sport};

/// One roster slot.
#[derive(Debug, Clone, PartialEq)]
pub struct SlotRule {
    /// The slot's name as the site's upload header writes it (`QB`, `FLEX`, `UTIL`, `CPT`, `MVP`, `C/1B`).
    pub name: &'static str,
    /// Positions that may fill it (the site's position names). DraftKings files list each player's slots in
    /// `Roster Position`, which wins over this list at import.
    pub accepts: &'static [&'static str],
    /// Points multiplier of the slot (1.5 for a DraftKings CPT or a FanDuel NFL MVP).
    pub points_mult: f64,
    /// Salary multiplier of the slot (1.0 where the site does not charge more, or where the file carries its
    /// own row with its own salary, as DraftKings showdown's CPT rows do).
    pub salary_mult: f64,
}

/// The rules of one site, sport and contest type.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleSet {
    pub site: Site,
    pub sport: Sport,
    pub contest: ContestType,
    /// The date (YYYY-MM-DD) the rules were last checked against the site.
    pub checked: &'static str,
    /// Slots in upload order.
    pub slots: &'static [SlotRule],
    pub salary_cap: u32,
    /// At most this many players of one team (all positions), if the site limits it.
    pub max_per_team: Option<u8>,
    /// MLB: at most this many hitters (non-pitchers) of one team.
    pub max_hitters_per_team: Option<u8>,
    /// At least this many different teams in a lineup (counted over `min_teams_positions` when given).
    pub min_teams: u8,
    /// When not empty, only players with one of these positions count toward `min_teams` (DraftKings NHL
    /// counts skaters).
    pub min_teams_positions: &'static [&'static str],
    /// At least this many different games in a lineup.
    pub min_games: u8,
    /// The most lineups one upload file may hold.
    pub upload_limit: usize,
    /// Positions that are pitchers (MLB), for `max_hitters_per_team` and stacks.
    pub pitcher_positions: &'static [&'static str],
}

impl RuleSet {
    pub fn lineup_size(&self) -> usize {
        self.slots.len()
    }
    /// The slot names without repeats, in slot order.
    pub fn slot_names(&self) -> Vec<&'static str> {
        let mut names: Vec<&'static str> = Vec::new();
        for s in self.slots {
            if !names.contains(&s.name) {
                names.push(s.name);
            }
        }
        names
    }
    /// The slots (names, without repeats, in slot order) a player with these positions may fill by
    /// `accepts` (FanDuel files, generated data).
    pub fn eligible_for(&self, positions: &[String]) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for s in self.slots {
            if positions.iter().any(|p| s.accepts.contains(&p.as_str())) && !out.iter().any(|o| o == s.name) {
                out.push(s.name.to_owned());
            }
        }
        out
    }
    pub fn is_pitcher(&self, positions: &[String]) -> bool {
        positions.iter().any(|p| self.pitcher_positions.contains(&p.as_str()))
    }
}

const fn slot(name: &'static str, accepts: &'static [&'static str]) -> SlotRule {
    SlotRule { name, accepts, points_mult: 1.0, salary_mult: 1.0 }
}

const fn boosted(name: &'static str, accepts: &'static [&'static str], points_mult: f64, salary_mult: f64) -> SlotRule {
    SlotRule { name, accepts, points_mult, salary_mult }
}

const NFL_POS: &[&str] = &["QB", "RB", "WR", "TE", "DST", "K"];
const NBA_POS: &[&str] = &["PG", "SG", "SF", "PF", "C"];
const MLB_POS: &[&str] = &["SP", "RP", "P", "C", "1B", "2B", "3B", "SS", "OF"];
const NHL_POS: &[&str] = &["C", "W", "LW", "RW", "D", "G"];
const FD_NFL_POS: &[&str] = &["QB", "RB", "WR", "TE", "D", "K"];

const DK_NFL_CLASSIC: &[SlotRule] = &[
    slot("QB", &["QB"]),
    slot("RB", &["RB"]),
    slot("RB", &["RB"]),
    slot("WR", &["WR"]),
    slot("WR", &["WR"]),
    slot("WR", &["WR"]),
    slot("TE", &["TE"]),
    slot("FLEX", &["RB", "WR", "TE"]),
    slot("DST", &["DST"]),
];
const DK_NBA_CLASSIC: &[SlotRule] = &[
    slot("PG", &["PG"]),
    slot("SG", &["SG"]),
    slot("SF", &["SF"]),
    slot("PF", &["PF"]),
    slot("C", &["C"]),
    slot("G", &["PG", "SG"]),
    slot("F", &["SF", "PF"]),
    slot("UTIL", NBA_POS),
];
const DK_MLB_CLASSIC: &[SlotRule] = &[
    slot("P", &["SP", "RP", "P"]),
    slot("P", &["SP", "RP", "P"]),
    slot("C", &["C"]),
    slot("1B", &["1B"]),
    slot("2B", &["2B"]),
    slot("3B", &["3B"]),
    slot("SS", &["SS"]),
    slot("OF", &["OF"]),
    slot("OF", &["OF"]),
    slot("OF", &["OF"]),
];
const DK_NHL_CLASSIC: &[SlotRule] = &[
    slot("C", &["C"]),
    slot("C", &["C"]),
    slot("W", &["W", "LW", "RW"]),
    slot("W", &["W", "LW", "RW"]),
    slot("W", &["W", "LW", "RW"]),
    slot("D", &["D"]),
    slot("D", &["D"]),
    slot("G", &["G"]),
    slot("UTIL", &["C", "W", "LW", "RW", "D"]),
];
const DK_NFL_SHOWDOWN: &[SlotRule] = &[
    boosted("CPT", NFL_POS, 1.5, 1.5),
    slot("FLEX", NFL_POS),
    slot("FLEX", NFL_POS),
    slot("FLEX", NFL_POS),
    slot("FLEX", NFL_POS),
    slot("FLEX", NFL_POS),
];
const DK_NBA_SHOWDOWN: &[SlotRule] = &[
    boosted("CPT", NBA_POS, 1.5, 1.5),
    slot("UTIL", NBA_POS),
    slot("UTIL", NBA_POS),
    slot("UTIL", NBA_POS),
    slot("UTIL", NBA_POS),
    slot("UTIL", NBA_POS),
];
const DK_MLB_SHOWDOWN: &[SlotRule] = &[
    boosted("CPT", MLB_POS, 1.5, 1.5),
    slot("UTIL", MLB_POS),
    slot("UTIL", MLB_POS),
    slot("UTIL", MLB_POS),
    slot("UTIL", MLB_POS),
    slot("UTIL", MLB_POS),
];
const DK_NHL_SHOWDOWN: &[SlotRule] = &[
    boosted("CPT", NHL_POS, 1.5, 1.5),
    slot("UTIL", NHL_POS),
    slot("UTIL", NHL_POS),
    slot("UTIL", NHL_POS),
    slot("UTIL", NHL_POS),
    slot("UTIL", NHL_POS),
];
const FD_NFL_CLASSIC: &[SlotRule] = &[
    slot("QB", &["QB"]),
    slot("RB", &["RB"]),
    slot("RB", &["RB"]),
    slot("WR", &["WR"]),
    slot("WR", &["WR"]),
    slot("WR", &["WR"]),
    slot("TE", &["TE"]),
    slot("FLEX", &["RB", "WR", "TE"]),
    slot("DEF", &["D"]),
];
const FD_NBA_CLASSIC: &[SlotRule] = &[
    slot("PG", &["PG"]),
    slot("PG", &["PG"]),
    slot("SG", &["SG"]),
    slot("SG", &["SG"]),
    slot("SF", &["SF"]),
    slot("SF", &["SF"]),
    slot("PF", &["PF"]),
    slot("PF", &["PF"]),
    slot("C", &["C"]),
];
const FD_MLB_CLASSIC: &[SlotRule] = &[
    slot("P", &["P"]),
    slot("C/1B", &["C", "1B"]),
    slot("2B", &["2B"]),
    slot("3B", &["3B"]),
    slot("SS", &["SS"]),
    slot("OF", &["OF"]),
    slot("OF", &["OF"]),
    slot("OF", &["OF"]),
    slot("UTIL", &["C", "1B", "2B", "3B", "SS", "OF"]),
];
const FD_NHL_CLASSIC: &[SlotRule] = &[
    slot("C", &["C"]),
    slot("C", &["C"]),
    slot("W", &["W"]),
    slot("W", &["W"]),
    slot("D", &["D"]),
    slot("D", &["D"]),
    slot("UTIL", &["C", "W", "D"]),
    slot("UTIL", &["C", "W", "D"]),
    slot("G", &["G"]),
];
const FD_NFL_SINGLE: &[SlotRule] = &[
    boosted("MVP", FD_NFL_POS, 1.5, 1.0),
    slot("UTIL", FD_NFL_POS),
    slot("UTIL", FD_NFL_POS),
    slot("UTIL", FD_NFL_POS),
    slot("UTIL", FD_NFL_POS),
];
const FD_NBA_SINGLE: &[SlotRule] = &[
    boosted("MVP", NBA_POS, 2.0, 1.0),
    boosted("STAR", NBA_POS, 1.5, 1.0),
    boosted("PRO", NBA_POS, 1.2, 1.0),
    slot("UTIL", NBA_POS),
    slot("UTIL", NBA_POS),
];
const FD_MLB_SINGLE: &[SlotRule] = &[
    boosted("MVP", &["P", "C", "1B", "2B", "3B", "SS", "OF"], 2.0, 1.0),
    boosted("STAR", &["P", "C", "1B", "2B", "3B", "SS", "OF"], 1.5, 1.0),
    slot("UTIL", &["P", "C", "1B", "2B", "3B", "SS", "OF"]),
    slot("UTIL", &["P", "C", "1B", "2B", "3B", "SS", "OF"]),
    slot("UTIL", &["P", "C", "1B", "2B", "3B", "SS", "OF"]),
];
const FD_NHL_SINGLE: &[SlotRule] = &[
    boosted("CAPTAIN", &["C", "W", "D", "G"], 1.5, 1.0),
    slot("UTIL", &["C", "W", "D", "G"]),
    slot("UTIL", &["C", "W", "D", "G"]),
    slot("UTIL", &["C", "W", "D", "G"]),
    slot("UTIL", &["C", "W", "D", "G"]),
];

const NO_PITCHERS: &[&str] = &[];
const CHECKED: &str = "2026-11-30";

macro_rules! rules {
    ($site:ident, $sport:ident, $contest:ident, $slots:expr, cap $cap:expr, team $team:expr, hitters $hitters:expr,
     teams $teams:expr, over $over:expr, games $games:expr, upload $upload:expr, pitchers $pitchers:expr) => {
        RuleSet {
            site: Site::$site,
            sport: Sport::$sport,
            contest: ContestType::$contest,
            checked: CHECKED,
            slots: $slots,
            salary_cap: $cap,
            max_per_team: $team,
            max_hitters_per_team: $hitters,
            min_teams: $teams,
            min_teams_positions: $over,
            min_games: $games,
            upload_limit: $upload,
            pitcher_positions: $pitchers,
        }
    };
}

/// Every rule set this build knows.
pub static RULE_SETS: &[RuleSet] = &[
    rules!(DraftKings, Nfl, Classic, DK_NFL_CLASSIC, cap 50_000, team None, hitters None, teams 2, over &[], games 2,
        upload 500, pitchers NO_PITCHERS),
    rules!(DraftKings, Nba, Classic, DK_NBA_CLASSIC, cap 50_000, team None, hitters None, teams 2, over &[], games 2,
        upload 500, pitchers NO_PITCHERS),
    rules!(DraftKings, Mlb, Classic, DK_MLB_CLASSIC, cap 50_000, team None, hitters Some(5), teams 2, over &[],
        games 2, upload 500, pitchers &["SP", "RP", "P"]),
    rules!(DraftKings, Nhl, Classic, DK_NHL_CLASSIC, cap 50_000, team None, hitters None, teams 3,
        over &["C", "W", "LW", "RW", "D"], games 2, upload 500, pitchers NO_PITCHERS),
    rules!(DraftKings, Nfl, Showdown, DK_NFL_SHOWDOWN, cap 50_000, team Some(5), hitters None, teams 2, over &[],
        games 1, upload 500, pitchers NO_PITCHERS),
    rules!(DraftKings, Nba, Showdown, DK_NBA_SHOWDOWN, cap 50_000, team Some(5), hitters None, teams 2, over &[],
        games 1, upload 500, pitchers NO_PITCHERS),
    rules!(DraftKings, Mlb, Showdown, DK_MLB_SHOWDOWN, cap 50_000, team Some(5), hitters None, teams 2, over &[],
        games 1, upload 500, pitchers &["SP", "RP", "P"]),
    rules!(DraftKings, Nhl, Showdown, DK_NHL_SHOWDOWN, cap 50_000, team Some(5), hitters None, teams 2, over &[],
        games 1, upload 500, pitchers NO_PITCHERS),
    rules!(FanDuel, Nfl, Classic, FD_NFL_CLASSIC, cap 60_000, team Some(4), hitters None, teams 3, over &[], games 1,
        upload 250, pitchers NO_PITCHERS),
    rules!(FanDuel, Nba, Classic, FD_NBA_CLASSIC, cap 60_000, team Some(4), hitters None, teams 3, over &[], games 1,
        upload 250, pitchers NO_PITCHERS),
    rules!(FanDuel, Mlb, Classic, FD_MLB_CLASSIC, cap 35_000, team None, hitters Some(4), teams 3, over &[],
        games 1, upload 250, pitchers &["P"]),
    rules!(FanDuel, Nhl, Classic, FD_NHL_CLASSIC, cap 55_000, team Some(4), hitters None, teams 3, over &[], games 1,
        upload 250, pitchers NO_PITCHERS),
    rules!(FanDuel, Nfl, Showdown, FD_NFL_SINGLE, cap 60_000, team Some(4), hitters None, teams 2, over &[], games 1,
        upload 250, pitchers NO_PITCHERS),
    rules!(FanDuel, Nba, Showdown, FD_NBA_SINGLE, cap 60_000, team Some(4), hitters None, teams 2, over &[], games 1,
        upload 250, pitchers NO_PITCHERS),
    rules!(FanDuel, Mlb, Showdown, FD_MLB_SINGLE, cap 35_000, team Some(4), hitters None, teams 2, over &[], games 1,
        upload 250, pitchers &["P"]),
    rules!(FanDuel, Nhl, Showdown, FD_NHL_SINGLE, cap 55_000, team Some(4), hitters None, teams 2, over &[], games 1,
        upload 250, pitchers NO_PITCHERS),
];

/// The rule set of a site, sport and contest type.
pub fn lookup(site: Site, sport: Sport, contest: ContestType) -> Option<&'static RuleSet> {
    RULE_SETS.iter().find(|r| r.site == site && r.sport == sport && r.contest == contest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_combination_has_rules() {
        for site in Site::ALL {
            for sport in Sport::ALL {
                for contest in [ContestType::Classic, ContestType::Showdown] {
                    let r = lookup(site, sport, contest).expect("rule set");
                    assert!(r.salary_cap > 0 && !r.slots.is_empty());
                }
            }
        }
    }

    #[test]
    fn fanduel_eligibility_comes_from_accepts() {
        let r = lookup(Site::FanDuel, Sport::Mlb, ContestType::Classic).unwrap();
        assert_eq!(r.eligible_for(&["1B".into()]), vec!["C/1B", "UTIL"]);
        assert!(r.eligible_for(&["P".into()]) == vec!["P"]);
        let nfl = lookup(Site::DraftKings, Sport::Nfl, ContestType::Classic).unwrap();
        assert_eq!(nfl.slot_names(), vec!["QB", "RB", "WR", "TE", "FLEX", "DST"]);
    }
}
