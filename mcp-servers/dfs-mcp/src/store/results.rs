//! What the optimizer and the simulator produced (with the request that produced it), and the one-time
//! seeding of sample slates.

use serde_json::Value;

use super::slates::{insert_slate_tx, write_projections, ProjectionMode};
use super::sql::{insert_rows, Tx, Val};
use super::{next_number, now, Store, StoreError};
use crate::import::ProjectionValues;
use crate::model::{Lineup, LineupPlayer, Slate};
use crate::optimize::LineupSet;

/// A stored optimizer result.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredLineupSet {
    pub id: String,
    pub created_at: i64,
    /// The tool's arguments as given.
    pub request: Value,
    pub set: LineupSet,
}

/// A stored simulation.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredSimulation {
    pub id: String,
    pub slate_id: String,
    pub lineup_set_id: Option<String>,
    pub created_at: i64,
    pub request: Value,
    /// The simulator's report as JSON: the store keeps it whole whatever fields the report type grows.
    pub report: Value,
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Database { backend: "store".into(), message: format!("{what} does not read back: {e}") }
}

fn slate_exists(tx: &mut dyn Tx, slate_id: &str) -> Result<(), StoreError> {
    if tx.query("SELECT 1 FROM slates WHERE id = ?", &[slate_id.into()])?.is_empty() {
        return Err(StoreError::NotFound(format!(
            "no slate {slate_id:?}: list the slates with app.data.slate for their ids"
        )));
    }
    Ok(())
}

fn load_set(tx: &mut dyn Tx, head: &[Val]) -> Result<StoredLineupSet, StoreError> {
    let id = head[0].string();
    let request = serde_json::from_str(&head[3].string()).map_err(|e| corrupt("a lineup set's request", e))?;
    let rows = tx.query(
        "SELECT salary, projection, players FROM lineups WHERE lineup_set_id = ? ORDER BY idx",
        &[(&id).into()],
    )?;
    let mut lineups = Vec::with_capacity(rows.len());
    for r in rows {
        let players: Vec<LineupPlayer> =
            serde_json::from_str(&r[2].string()).map_err(|e| corrupt("a lineup's players", e))?;
        lineups.push(Lineup {
            players,
            salary: r[0].int().unwrap_or(0) as u32,
            projection: r[1].real().unwrap_or(0.0),
        });
    }
    Ok(StoredLineupSet {
        id,
        created_at: head[2].int().unwrap_or(0),
        request,
        set: LineupSet { slate_id: head[1].string(), lineups, csv: head[4].string() },
    })
}

impl Store {
    /// Stores an optimizer result; its new id (`ls-12`).
    pub fn insert_lineup_set(&self, request: &Value, set: &LineupSet) -> Result<String, StoreError> {
        self.write(|tx| {
            slate_exists(tx, &set.slate_id)?;
            let n = next_number(tx, "lineup_set")?;
            let id = format!("ls-{n}");
            tx.exec(
                "INSERT INTO lineup_sets (id, seq, slate_id, created_at, request, csv) VALUES (?, ?, ?, ?, ?, ?)",
                &[
                    (&id).into(),
                    Val::Int(n),
                    (&set.slate_id).into(),
                    Val::Int(now()),
                    request.to_string().into(),
                    (&set.csv).into(),
                ],
            )?;
            let rows = set
                .lineups
                .iter()
                .enumerate()
                .map(|(i, l)| {
                    vec![
                        (&id).into(),
                        Val::Int(i as i64),
                        l.salary.into(),
                        l.projection.into(),
                        serde_json::to_string(&l.players).expect("lineup players are JSON").into(),
                    ]
                })
                .collect();
            insert_rows(tx, "lineups", &["lineup_set_id", "idx", "salary", "projection", "players"], rows)?;
            Ok(id)
        })
    }

    /// A lineup set by id.
    pub fn lineup_set(&self, id: &str) -> Result<StoredLineupSet, StoreError> {
        self.read(|tx| {
            let head =
                tx.query("SELECT id, slate_id, created_at, request, csv FROM lineup_sets WHERE id = ?", &[id.into()])?;
            match head.first() {
                Some(h) => load_set(tx, h),
                None => Err(StoreError::NotFound(format!("no lineup set {id:?}: app.optimize.lineup returns the ids"))),
            }
        })
    }

    /// The newest lineup set of a slate, if any.
    pub fn latest_lineup_set(&self, slate_id: &str) -> Result<Option<StoredLineupSet>, StoreError> {
        self.read(|tx| {
            slate_exists(tx, slate_id)?;
            let head = tx.query(
                "SELECT id, slate_id, created_at, request, csv FROM lineup_sets WHERE slate_id = ? ORDER BY seq DESC LIMIT 1",
                &[slate_id.into()],
            )?;
            head.first().map(|h| load_set(tx, h)).transpose()
        })
    }

    /// Stores a simulation report (JSON) of a slate; its new id (`sim-3`).
    pub fn insert_simulation(
        &self,
        slate_id: &str,
        lineup_set_id: Option<&str>,
        request: &Value,
        report: &Value,
    ) -> Result<String, StoreError> {
        self.write(|tx| {
            slate_exists(tx, slate_id)?;
            let n = next_number(tx, "simulation")?;
            let id = format!("sim-{n}");
            tx.exec(
                "INSERT INTO simulations (id, seq, slate_id, lineup_set_id, created_at, request, report)
                 VALUES (?, ?, ?, ?, ?, ?, ?)",
                &[
                    (&id).into(),
                    Val::Int(n),
                    slate_id.into(),
                    lineup_set_id.into(),
                    Val::Int(now()),
                    request.to_string().into(),
                    report.to_string().into(),
                ],
            )?;
            Ok(id)
        })
    }

    /// A simulation by id.
    pub fn simulation(&self, id: &str) -> Result<StoredSimulation, StoreError> {
        self.read(|tx| {
            let rows = tx.query(
                "SELECT id, slate_id, lineup_set_id, created_at, request, report FROM simulations WHERE id = ?",
                &[id.into()],
            )?;
            let Some(r) = rows.first() else {
                return Err(StoreError::NotFound(format!("no simulation {id:?}")));
            };
            Ok(StoredSimulation {
                id: r[0].string(),
                slate_id: r[1].string(),
                lineup_set_id: r[2].text().map(str::to_owned),
                created_at: r[3].int().unwrap_or(0),
                request: serde_json::from_str(&r[4].string()).map_err(|e| corrupt("a simulation's request", e))?,
                report: serde_json::from_str(&r[5].string()).map_err(|e| corrupt("a simulation report", e))?,
            })
        })
    }

    /// Runs `make` and stores its slates (each with its projections) unless `key` was seeded before, all in one
    /// transaction under the store-wide lock: servers starting together on an empty store seed it once. The
    /// ids stored, or `None` when it was seeded already.
    pub fn seed_once(
        &self,
        key: &str,
        make: &dyn Fn() -> Vec<(Slate, Vec<ProjectionValues>)>,
    ) -> Result<Option<Vec<String>>, StoreError> {
        self.write(|tx| {
            tx.lock()?;
            let meta_key = format!("seeded:{key}");
            if !tx.query("SELECT value FROM store_meta WHERE key = ?", &[(&meta_key).into()])?.is_empty() {
                return Ok(None);
            }
            let mut ids = Vec::new();
            for (slate, values) in make() {
                let stored = insert_slate_tx(tx, &slate)?;
                write_projections(tx, &stored.id, &values, ProjectionMode::Replace)?;
                ids.push(stored.id);
            }
            tx.exec("INSERT INTO store_meta (key, value) VALUES (?, ?)", &[meta_key.into(), now().to_string().into()])?;
            Ok(Some(ids))
        })
    }
}
