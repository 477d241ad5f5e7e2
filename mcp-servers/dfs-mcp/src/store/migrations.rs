//! The schema, as numbered migrations recorded in `schema_migrations`. Every process applies what is missing
//! when it starts (or, on PostgreSQL, when it connects), under the store-wide lock, so several servers starting
//! at once on an empty database apply each migration exactly once.
//!
//! One text for both databases: `TEXT`, `BIGINT`, `DOUBLE PRECISION`, composite keys, foreign keys with
//! cascades. Lists (positions, eligible slots, lineup players) are JSON text; requests and reports are JSON.

use super::sql::{Tx, Val};
use super::{now, StoreError};

/// A schema change. Never edit one that shipped: add the next.
pub(crate) struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

pub(crate) const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "slates, games, players, projections, lineup sets, lineups, simulations",
    sql: "
CREATE TABLE slates (
    id TEXT PRIMARY KEY,
    seq BIGINT NOT NULL,
    site TEXT NOT NULL,
    sport TEXT NOT NULL,
    contest TEXT NOT NULL,
    name TEXT NOT NULL,
    imported_at BIGINT NOT NULL
);
CREATE INDEX slates_kind ON slates (site, sport, contest);
CREATE TABLE games (
    slate_id TEXT NOT NULL REFERENCES slates (id) ON DELETE CASCADE,
    id TEXT NOT NULL,
    ord BIGINT NOT NULL,
    away TEXT NOT NULL,
    home TEXT NOT NULL,
    start_at BIGINT,
    status TEXT NOT NULL,
    PRIMARY KEY (slate_id, id)
);
CREATE TABLE players (
    slate_id TEXT NOT NULL REFERENCES slates (id) ON DELETE CASCADE,
    id TEXT NOT NULL,
    ord BIGINT NOT NULL,
    name TEXT NOT NULL,
    positions TEXT NOT NULL,
    eligible TEXT NOT NULL,
    team TEXT NOT NULL,
    opponent TEXT NOT NULL,
    game_id TEXT NOT NULL,
    salary BIGINT NOT NULL,
    captain_id TEXT,
    captain_salary BIGINT,
    avg_points DOUBLE PRECISION NOT NULL,
    status TEXT NOT NULL,
    batting_order BIGINT,
    line TEXT,
    PRIMARY KEY (slate_id, id)
);
CREATE TABLE projections (
    slate_id TEXT NOT NULL,
    player_id TEXT NOT NULL,
    projection DOUBLE PRECISION,
    stdev DOUBLE PRECISION,
    ownership DOUBLE PRECISION,
    ceiling DOUBLE PRECISION,
    floor DOUBLE PRECISION,
    line TEXT,
    batting_order BIGINT,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (slate_id, player_id),
    FOREIGN KEY (slate_id, player_id) REFERENCES players (slate_id, id) ON DELETE CASCADE
);
CREATE TABLE lineup_sets (
    id TEXT PRIMARY KEY,
    seq BIGINT NOT NULL,
    slate_id TEXT NOT NULL REFERENCES slates (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    request TEXT NOT NULL,
    csv TEXT NOT NULL
);
CREATE INDEX lineup_sets_slate ON lineup_sets (slate_id, seq);
CREATE TABLE lineups (
    lineup_set_id TEXT NOT NULL REFERENCES lineup_sets (id) ON DELETE CASCADE,
    idx BIGINT NOT NULL,
    salary BIGINT NOT NULL,
    projection DOUBLE PRECISION NOT NULL,
    players TEXT NOT NULL,
    PRIMARY KEY (lineup_set_id, idx)
);
CREATE TABLE simulations (
    id TEXT PRIMARY KEY,
    seq BIGINT NOT NULL,
    slate_id TEXT NOT NULL REFERENCES slates (id) ON DELETE CASCADE,
    lineup_set_id TEXT REFERENCES lineup_sets (id) ON DELETE SET NULL,
    created_at BIGINT NOT NULL,
    request TEXT NOT NULL,
    report TEXT NOT NULL
);
CREATE INDEX simulations_slate ON simulations (slate_id, seq);
CREATE TABLE id_counters (
    name TEXT PRIMARY KEY,
    next BIGINT NOT NULL
);
CREATE TABLE store_meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
",
}];

/// The newest version this build knows.
pub(crate) fn latest() -> i64 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

/// Applies the missing migrations in one transaction; the versions it applied.
pub(crate) fn apply(tx: &mut dyn Tx) -> Result<Vec<i64>, StoreError> {
    tx.lock()?;
    tx.batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version BIGINT PRIMARY KEY,
            name TEXT NOT NULL,
            applied_at BIGINT NOT NULL
        )",
    )?;
    let applied: Vec<i64> =
        tx.query("SELECT version FROM schema_migrations", &[])?.iter().filter_map(|r| r[0].int()).collect();
    if let Some(&found) = applied.iter().max() {
        if found > latest() {
            return Err(StoreError::TooNew { found, known: latest() });
        }
    }
    let mut done = Vec::new();
    for m in MIGRATIONS.iter().filter(|m| !applied.contains(&m.version)) {
        tx.batch(m.sql)?;
        tx.exec(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
            &[Val::Int(m.version), m.name.into(), Val::Int(now())],
        )?;
        done.push(m.version);
    }
    Ok(done)
}
