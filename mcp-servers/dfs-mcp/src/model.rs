//! The domain: sites, sports, contest types, slates, games, players and lineups.
//!
//! Everything here is plain data shared by the importers, the store, the optimizer, the simulator and the MCP
//! tools. Identifiers are the sites' own (a DraftKings player id, a FanDuel `30514-30447`), so a lineup can be
//! uploaded as it is.

use serde::{Deserialize, Serialize};

/// A DFS site. Rule sets, file layouts and upload formats differ per site.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Site {
    #[serde(alias = "dk")]
    DraftKings,
    #[serde(alias = "fd")]
    FanDuel,
}

/// A sport. Position names, stacks and roster shapes follow the sport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sport {
    Nfl,
    Nba,
    Mlb,
    Nhl,
}

/// The contest type: a classic slate of several games, or one game (DraftKings "showdown", FanDuel "single
/// game") where one slot scores (and on DraftKings costs) more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContestType {
    Classic,
    #[serde(alias = "single_game")]
    Showdown,
}

impl Site {
    pub const ALL: [Site; 2] = [Site::DraftKings, Site::FanDuel];
    pub fn as_str(self) -> &'static str {
        match self {
            Site::DraftKings => "draft_kings",
            Site::FanDuel => "fan_duel",
        }
    }
    /// Parses the names a person would type: `draftkings`, `DK`, `draft_kings`, `fanduel`, `FD`...
    pub fn parse(s: &str) -> Option<Site> {
        match normalise(s).as_str() {
            "draftkings" | "dk" => Some(Site::DraftKings),
            "fanduel" | "fd" => Some(Site::FanDuel),
            _ => None,
        }
    }
}

impl Sport {
    pub const ALL: [Sport; 4] = [Sport::Nfl, Sport::Nba, Sport::Mlb, Sport::Nhl];
    pub fn as_str(self) -> &'static str {
        match self {
            Sport::Nfl => "nfl",
            Sport::Nba => "nba",
            Sport::Mlb => "mlb",
            Sport::Nhl => "nhl",
        }
    }
    pub fn parse(s: &str) -> Option<Sport> {
        match normalise(s).as_str() {
            "nfl" => Some(Sport::Nfl),
            "nba" => Some(Sport::Nba),
            "mlb" => Some(Sport::Mlb),
            "nhl" => Some(Sport::Nhl),
            _ => None,
        }
    }
}

impl ContestType {
    pub fn as_str(self) -> &'static str {
        match self {
            ContestType::Classic => "classic",
            ContestType::Showdown => "showdown",
        }
    }
    pub fn parse(s: &str) -> Option<ContestType> {
        match normalise(s).as_str() {
            "classic" => Some(ContestType::Classic),
            "showdown" | "singlegame" | "captain" => Some(ContestType::Showdown),
            _ => None,
        }
    }
}

fn normalise(s: &str) -> String {
    s.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_lowercase()).collect()
}

/// The state of a game as the salary file or the clock tells it. Players of a game that is no longer
/// `Scheduled` are locked for late swap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum GameStatus {
    #[default]
    Scheduled,
    InProgress,
    Final,
}

/// One game of a slate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Game {
    /// `AWAY@HOME` as the sites write it (`KC@BUF`); unique within a slate.
    pub id: String,
    pub away: String,
    pub home: String,
    /// Start (lock) time, seconds since the Unix epoch (UTC). `None` when the file does not say.
    pub start: Option<i64>,
    pub status: GameStatus,
}

/// The captain / MVP row of a DraftKings showdown player: its own id and its own (already 1.5×) salary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaptainRow {
    pub id: String,
    pub salary: u32,
}

/// One person on a slate. On DraftKings showdown the file lists each person twice (a CPT row and a FLEX/UTIL
/// row); they are one `Player` here, with the CPT row in `captain`, so the optimizer can never pick the same
/// person twice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Player {
    /// The site's id of the player's ordinary row (what the upload file names for a non-captain slot).
    pub id: String,
    pub name: String,
    /// Positions as the site lists them (`["RB"]`, `["PG", "SG"]`, `["SP"]`, `["D"]` for a FanDuel defense).
    pub positions: Vec<String>,
    /// The slot names of the slate's rule set this player may fill, in rule-set slot order without repeats
    /// (`["RB", "FLEX"]`, `["PG", "SG", "G", "UTIL"]`). DraftKings: from the file's `Roster Position`; FanDuel:
    /// derived from `positions` and the rule set.
    pub eligible: Vec<String>,
    pub team: String,
    pub opponent: String,
    /// The id of the player's game in `Slate::games`.
    pub game: String,
    pub salary: u32,
    /// DraftKings showdown only: the captain row.
    pub captain: Option<CaptainRow>,
    /// The site file's average points per game (a season average, not a projection; 0 for rookies).
    pub avg_points: f64,
    /// An uploaded projection; `None` means the optimizer uses `avg_points`.
    pub projection: Option<f64>,
    /// Standard deviation of the player's fantasy points, when uploaded.
    pub stdev: Option<f64>,
    /// Projected ownership in percent (0-100), when uploaded.
    pub ownership: Option<f64>,
    pub ceiling: Option<f64>,
    pub floor: Option<f64>,
    /// Injury or availability status as the site writes it (`""`, `"Q"`, `"O"`, `"IR"`...).
    pub status: String,
    /// MLB: batting order (1-9) when the site or the projections give it.
    pub batting_order: Option<u8>,
    /// NHL: the player's line or pair (`"L1"`, `"D2"`, `"PP1"`...), from projections or the sample data.
    pub line: Option<String>,
}

impl Player {
    /// The points the optimizer maximises: the uploaded projection, else the site's average.
    pub fn points(&self) -> f64 {
        self.projection.unwrap_or(self.avg_points)
    }
    /// True when the site says the player will not play (`O`, `IR`, `OUT`, `NA`, `SUSP`, `D` for doubtful is
    /// kept).
    pub fn is_out(&self) -> bool {
        matches!(self.status.to_ascii_uppercase().as_str(), "O" | "OUT" | "IR" | "NA" | "SUSP" | "PUP" | "NFI")
    }
    pub fn may_fill(&self, slot: &str) -> bool {
        self.eligible.iter().any(|s| s == slot)
    }
}

/// A slate: one salary file of one site, sport and contest type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Slate {
    /// Assigned by the store at import (`dk-nfl-classic-2025-01-26-1`-like, unique).
    pub id: String,
    pub site: Site,
    pub sport: Sport,
    pub contest: ContestType,
    /// A human name: the file name, or what the importer was told.
    pub name: String,
    pub games: Vec<Game>,
    pub players: Vec<Player>,
    /// When it was imported, seconds since the Unix epoch.
    pub imported_at: i64,
}

impl Slate {
    pub fn player(&self, id: &str) -> Option<&Player> {
        self.players.iter().find(|p| p.id == id || p.captain.as_ref().is_some_and(|c| c.id == id))
    }
    /// The earliest start among the slate's games.
    pub fn first_lock(&self) -> Option<i64> {
        self.games.iter().filter_map(|g| g.start).min()
    }
}

/// One filled slot of a lineup.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LineupPlayer {
    /// The id to upload for this slot (the captain row's id in a DraftKings CPT slot).
    pub id: String,
    /// The person's ordinary id (`Player::id`), the same in every slot.
    pub player_id: String,
    pub name: String,
    pub slot: String,
    pub positions: Vec<String>,
    pub team: String,
    /// Salary paid in this slot (the captain row's salary for a DraftKings CPT).
    pub salary: u32,
    /// Points counted in this slot (the slot's multiplier applied).
    pub projection: f64,
}

/// A lineup in the rule set's slot order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lineup {
    pub players: Vec<LineupPlayer>,
    pub salary: u32,
    pub projection: f64,
}
