//! The embedded store: one SQLite file in the state directory, shared by every server process.
//!
//! WAL mode lets readers go on while one process writes; write transactions start `IMMEDIATE` so a second
//! writer waits on the busy timeout for the first instead of failing with `SQLITE_BUSY` halfway through.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, TransactionBehavior};

use super::sql::{Backend, Row, Tx, Val};
use super::StoreError;

/// How long a writer waits for another process's transaction before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(15);

pub(crate) struct Sqlite {
    path: PathBuf,
    /// One connection per process: the servers handle one call at a time per store operation anyway, and
    /// SQLite allows one writer at a time.
    conn: Mutex<Connection>,
}

impl Sqlite {
    pub fn open(path: &Path) -> Result<Sqlite, StoreError> {
        let describe = || format!("SQLite at {}", path.display());
        let open_err = |e: rusqlite::Error| StoreError::Open(format!("{}: {e}", describe()));
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Open(format!("cannot create {}: {e}", dir.display())))?;
        }
        let conn = Connection::open(path).map_err(open_err)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(open_err)?;
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0)).map_err(open_err)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Open(format!("{}: cannot use WAL mode (got {mode})", describe())));
        }
        conn.execute_batch("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;").map_err(open_err)?;
        Ok(Sqlite { path: path.to_owned(), conn: Mutex::new(conn) })
    }
}

impl Backend for Sqlite {
    fn describe(&self) -> String {
        format!("SQLite at {}", self.path.display())
    }

    fn transaction(
        &self,
        write: bool,
        f: &mut dyn FnMut(&mut dyn Tx) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let behavior = if write { TransactionBehavior::Immediate } else { TransactionBehavior::Deferred };
        let tx = conn.transaction_with_behavior(behavior).map_err(|e| self.error(e))?;
        let mut t = SqliteTx { tx: &tx, backend: self };
        f(&mut t)?;
        tx.commit().map_err(|e| self.error(e))
    }
}

impl Sqlite {
    fn error(&self, e: rusqlite::Error) -> StoreError {
        let busy = matches!(
            e.sqlite_error_code(),
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
        );
        if busy {
            StoreError::Unavailable {
                backend: self.describe(),
                reason: format!("another process kept the database locked for more than {BUSY_TIMEOUT:?}"),
            }
        } else {
            StoreError::Database { backend: self.describe(), message: e.to_string() }
        }
    }
}

struct SqliteTx<'a> {
    tx: &'a rusqlite::Transaction<'a>,
    backend: &'a Sqlite,
}

impl rusqlite::ToSql for Val {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Val::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Val::Int(i) => ToSqlOutput::Borrowed(ValueRef::Integer(*i)),
            Val::Real(f) => ToSqlOutput::Borrowed(ValueRef::Real(*f)),
            Val::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
        })
    }
}

impl Tx for SqliteTx<'_> {
    fn exec(&mut self, sql: &str, params: &[Val]) -> Result<u64, StoreError> {
        let mut stmt = self.tx.prepare_cached(sql).map_err(|e| self.backend.error(e))?;
        let n = stmt.execute(rusqlite::params_from_iter(params.iter())).map_err(|e| self.backend.error(e))?;
        Ok(n as u64)
    }

    fn query(&mut self, sql: &str, params: &[Val]) -> Result<Vec<Row>, StoreError> {
        let err = |e| self.backend.error(e);
        let mut stmt = self.tx.prepare_cached(sql).map_err(err)?;
        let width = stmt.column_count();
        let mut rows = stmt.query(rusqlite::params_from_iter(params.iter())).map_err(err)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(err)? {
            let mut vals = Vec::with_capacity(width);
            for i in 0..width {
                vals.push(match row.get_ref(i).map_err(err)? {
                    ValueRef::Null => Val::Null,
                    ValueRef::Integer(i) => Val::Int(i),
                    ValueRef::Real(f) => Val::Real(f),
                    ValueRef::Text(t) | ValueRef::Blob(t) => Val::Text(String::from_utf8_lossy(t).into_owned()),
                });
            }
            out.push(vals);
        }
        Ok(out)
    }

    fn batch(&mut self, sql: &str) -> Result<(), StoreError> {
        self.tx.execute_batch(sql).map_err(|e| self.backend.error(e))
    }

    fn lock(&mut self) -> Result<(), StoreError> {
        Ok(())
    }
}
