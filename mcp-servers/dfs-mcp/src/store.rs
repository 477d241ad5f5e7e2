//! Storage: slates, games, players, projections, lineup sets and simulations, in an embedded SQLite file by
//! default or in PostgreSQL when `DATABASE_URL` is set.
//!
//! Both backends run the same statements against the same schema ([`migrations`]); every operation is one
//! transaction, so an import that fails leaves nothing behind, and several server processes (data, optimize,
//! simulation) can share one database at once.
//!
//! Ids: slates are `dk-nfl-classic-2025-01-26-7` (site, sport, contest type, first game's date, a number
//! from a store-wide counter), lineup sets `ls-12`, simulations `sim-3`.

mod migrations;
mod postgres;
mod results;
mod slates;
mod sql;
mod sqlite;

use std::path::{Path, PathBuf};

use crate::model::{ContestType, Site, Sport};
use sql::{run, Backend, Tx, Val};

pub use results::{StoredLineupSet, StoredSimulation};
pub use slates::{ProjectionMode, SlateFilter, SlateSummary};

/// The file name of the embedded store inside the state directory.
pub const SQLITE_FILE: &str = "dfs.sqlite3";

/// Where the data lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    /// The directory of the embedded store (`--state-dir` / `DFS_MCP_STATE_DIR`).
    pub state_dir: PathBuf,
    /// A PostgreSQL connection string; when set, the state directory is not used.
    pub database_url: Option<String>,
}

/// What went wrong, said so that the tool's caller knows what to do.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached (or stayed locked); nothing of the call was committed.
    #[error("the database is unavailable ({backend}): {reason}; nothing was changed, retry when it is back")]
    Unavailable { backend: String, reason: String },
    /// A statement failed for another reason (a bug or a damaged database).
    #[error("database error ({backend}): {message}")]
    Database { backend: String, message: String },
    /// The store cannot be opened at all (bad path, bad URL).
    #[error("cannot open the store: {0}")]
    Open(String),
    /// Something named does not exist (a slate id, a player id, a lineup set id).
    #[error("{0}")]
    NotFound(String),
    #[error("the database's schema is version {found}, newer than this build of dfs-mcp knows ({known}): upgrade it")]
    TooNew { found: i64, known: i64 },
}

/// The store. Every method is one transaction and blocks: call it from a blocking task.
pub struct Store {
    backend: Box<dyn Backend>,
}

impl Store {
    /// Opens the store `config` names and brings its schema up to date (PostgreSQL: on its first call).
    pub fn open(config: &StoreConfig) -> Result<Store, StoreError> {
        match &config.database_url {
            Some(url) if !url.trim().is_empty() => Ok(Store { backend: Box::new(postgres::Postgres::new(url)?) }),
            _ => Self::open_sqlite(&config.state_dir.join(SQLITE_FILE)),
        }
    }

    /// An embedded store in this file.
    pub fn open_sqlite(path: &Path) -> Result<Store, StoreError> {
        let store = Store { backend: Box::new(sqlite::Sqlite::open(path)?) };
        store.migrate()?;
        Ok(store)
    }

    /// Applies missing migrations; the versions applied by this call (empty when the schema was current).
    pub fn migrate(&self) -> Result<Vec<i64>, StoreError> {
        run(self.backend.as_ref(), true, migrations::apply)
    }

    /// The schema versions recorded in the database, oldest first.
    pub fn schema_versions(&self) -> Result<Vec<i64>, StoreError> {
        run(self.backend.as_ref(), false, |tx| {
            Ok(tx
                .query("SELECT version FROM schema_migrations ORDER BY version", &[])?
                .iter()
                .filter_map(|r| r[0].int())
                .collect())
        })
    }

    /// `SQLite at …` / `PostgreSQL at host:port/db`.
    pub fn describe(&self) -> String {
        self.backend.describe()
    }

    fn read<T>(&self, f: impl FnMut(&mut dyn Tx) -> Result<T, StoreError>) -> Result<T, StoreError> {
        run(self.backend.as_ref(), false, f)
    }

    fn write<T>(&self, f: impl FnMut(&mut dyn Tx) -> Result<T, StoreError>) -> Result<T, StoreError> {
        run(self.backend.as_ref(), true, f)
    }
}

/// Seconds since the Unix epoch.
pub(crate) fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

/// The next number of a store-wide counter (atomic across processes: the row is locked until commit).
pub(crate) fn next_number(tx: &mut dyn Tx, counter: &str) -> Result<i64, StoreError> {
    tx.exec("INSERT INTO id_counters (name, next) VALUES (?, 0) ON CONFLICT (name) DO NOTHING", &[counter.into()])?;
    let rows = tx.query("UPDATE id_counters SET next = next + 1 WHERE name = ? RETURNING next", &[counter.into()])?;
    rows.first().and_then(|r| r[0].int()).ok_or_else(|| StoreError::Database {
        backend: String::from("store"),
        message: format!("counter {counter} returned no value"),
    })
}

/// The short site name used in slate ids and sample file names (`dk`, `fd`).
pub fn site_short(site: Site) -> &'static str {
    match site {
        Site::DraftKings => "dk",
        Site::FanDuel => "fd",
    }
}

pub(crate) fn parse_kind(site: &str, sport: &str, contest: &str) -> Option<(Site, Sport, ContestType)> {
    Some((Site::parse(site)?, Sport::parse(sport)?, ContestType::parse(contest)?))
}

fn json_list(v: &[String]) -> Val {
    Val::Text(serde_json::to_string(v).expect("a list of strings is JSON"))
}

fn from_json_list(v: &Val) -> Vec<String> {
    v.text().and_then(|t| serde_json::from_str(t).ok()).unwrap_or_default()
}
