//! The PostgreSQL store, used when `DATABASE_URL` is set (compose's `postgres` service, or any server).
//!
//! The synchronous `postgres` crate rather than `tokio-postgres`: SQLite (rusqlite) is synchronous, so both
//! backends sit behind one synchronous interface that the servers call from blocking tasks, and the store's
//! logic and tests are written once. (`postgres` is `tokio-postgres` driven by its own small runtime.)
//!
//! The database may go away and come back while the servers run. A call that finds it gone fails with
//! [`StoreError::Unavailable`] (the message says so and that nothing was committed); the connection is
//! dropped and the next call connects again. A connection that died while idle is noticed when its `BEGIN`
//! fails, before anything was done, so that call reconnects once and goes on.

use std::error::Error as _;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::Duration;

use bytes::BytesMut;
use postgres::config::Host;
use postgres::types::{IsNull, ToSql, Type};
use postgres::{Client, NoTls};

use super::sql::{numbered, Backend, Row, Tx, Val};
use super::{migrations, StoreError};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// A key of this store for `pg_advisory_xact_lock` (any constant other applications are unlikely to use).
const LOCK_KEY: i64 = 0x0df5_3a7e;

pub(crate) struct Postgres {
    config: postgres::Config,
    label: String,
    /// `None` until the first call, and again after the connection was lost.
    client: Mutex<Option<Client>>,
}

impl Postgres {
    /// Parses the URL; connecting waits for the first call, so the server starts while the database is down.
    pub fn new(url: &str) -> Result<Postgres, StoreError> {
        let mut config = postgres::Config::from_str(url)
            .map_err(|e| StoreError::Open(format!("DATABASE_URL is not a PostgreSQL connection string: {e}")))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("dfs-mcp");
        }
        let host = match config.get_hosts().first() {
            Some(Host::Tcp(h)) => h.clone(),
            Some(Host::Unix(p)) => p.display().to_string(),
            None => "localhost".into(),
        };
        let port = config.get_ports().first().copied().unwrap_or(5432);
        let db = config.get_dbname().or(config.get_user()).unwrap_or("postgres");
        let label = format!("PostgreSQL at {host}:{port}/{db}");
        Ok(Postgres { config, label, client: Mutex::new(None) })
    }

    fn connect(&self) -> Result<Client, StoreError> {
        let mut client = self.config.connect(NoTls).map_err(|e| self.error(e))?;
        // Every new connection checks the schema: the database may be new (or restored) since the last one.
        let mut tx = client.transaction().map_err(|e| self.error(e))?;
        migrations::apply(&mut PgTx { tx: &mut tx, backend: self })?;
        tx.commit().map_err(|e| self.error(e))?;
        Ok(client)
    }

    /// Lost connections and a server shutting down or starting up are "unavailable"; the rest is an error of
    /// the statement.
    fn error(&self, e: postgres::Error) -> StoreError {
        let io = e.source().is_some_and(|s| s.is::<std::io::Error>());
        let code = e.code().map(|c| c.code().to_owned());
        let gone = e.is_closed()
            || io
            || code.as_deref().is_some_and(|c| c.starts_with("08") || c.starts_with("57P"))
            || (code.is_none() && e.as_db_error().is_none() && e.to_string().contains("connect"));
        if gone {
            let reason = match e.as_db_error() {
                Some(db) => db.message().to_owned(),
                None => e.source().map_or_else(|| e.to_string(), |s| s.to_string()),
            };
            StoreError::Unavailable { backend: self.label.clone(), reason }
        } else {
            let message = match e.as_db_error() {
                Some(db) => format!("{} ({})", db.message(), db.code().code()),
                None => e.to_string(),
            };
            StoreError::Database { backend: self.label.clone(), message }
        }
    }
}

impl Backend for Postgres {
    fn describe(&self) -> String {
        self.label.clone()
    }

    fn transaction(
        &self,
        _write: bool,
        f: &mut dyn FnMut(&mut dyn Tx) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut slot = self.client.lock().unwrap_or_else(|p| p.into_inner());
        for attempt in 0..2 {
            if slot.is_none() {
                *slot = Some(self.connect()?);
            }
            let outcome = {
                let client = slot.as_mut().expect("connected above");
                match client.transaction() {
                    Ok(mut tx) => Ok(f(&mut PgTx { tx: &mut tx, backend: self })
                        .and_then(|()| tx.commit().map_err(|e| self.error(e)))),
                    Err(e) => Err(self.error(e)),
                }
            };
            match outcome {
                Ok(result) => {
                    let lost = matches!(result, Err(StoreError::Unavailable { .. }));
                    if lost || slot.as_ref().is_some_and(Client::is_closed) {
                        *slot = None;
                    }
                    return result;
                }
                Err(begin) => {
                    *slot = None;
                    // Nothing was done yet: a connection that died while idle gets one fresh try.
                    if attempt == 1 || !matches!(begin, StoreError::Unavailable { .. }) {
                        return Err(begin);
                    }
                }
            }
        }
        unreachable!("the second attempt returns")
    }
}

impl Drop for Postgres {
    /// Closing a `postgres::Client` runs its own small runtime, which panics on a thread that drives async
    /// tasks (the server drops its store at the end of `serve`). A plain thread has no runtime.
    fn drop(&mut self) {
        let client = self.client.get_mut().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(client) = client {
            let _ = std::thread::spawn(move || drop(client)).join();
        }
    }
}

struct PgTx<'a, 'b> {
    tx: &'a mut postgres::Transaction<'b>,
    backend: &'a Postgres,
}

impl ToSql for Val {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match (self, ty) {
            (Val::Null, _) => Ok(IsNull::Yes),
            (Val::Int(i), &Type::INT8) => i.to_sql(ty, out),
            (Val::Int(i), &Type::INT4) => i32::try_from(*i)?.to_sql(ty, out),
            (Val::Int(i), &Type::FLOAT8) => (*i as f64).to_sql(ty, out),
            (Val::Real(f), &Type::FLOAT8) => f.to_sql(ty, out),
            (Val::Text(s), _) => s.to_sql(ty, out),
            (v, ty) => Err(format!("cannot store {v:?} in a column of type {ty}").into()),
        }
    }
    fn accepts(ty: &Type) -> bool {
        matches!(*ty, Type::INT8 | Type::INT4 | Type::FLOAT8 | Type::TEXT | Type::VARCHAR | Type::NAME)
    }
    postgres::types::to_sql_checked!();
}

impl PgTx<'_, '_> {
    fn params(params: &[Val]) -> Vec<&(dyn ToSql + Sync)> {
        params.iter().map(|p| p as &(dyn ToSql + Sync)).collect()
    }
}

impl Tx for PgTx<'_, '_> {
    fn exec(&mut self, sql: &str, params: &[Val]) -> Result<u64, StoreError> {
        self.tx.execute(numbered(sql).as_str(), &Self::params(params)).map_err(|e| self.backend.error(e))
    }

    fn query(&mut self, sql: &str, params: &[Val]) -> Result<Vec<Row>, StoreError> {
        let rows = self.tx.query(numbered(sql).as_str(), &Self::params(params)).map_err(|e| self.backend.error(e))?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let mut vals = Vec::with_capacity(row.len());
            for (i, col) in row.columns().iter().enumerate() {
                let bad = |e: postgres::Error| self.backend.error(e);
                let v = match *col.type_() {
                    Type::INT8 => row.try_get::<_, Option<i64>>(i).map_err(bad)?.map(Val::Int),
                    Type::INT4 => row.try_get::<_, Option<i32>>(i).map_err(bad)?.map(|v| Val::Int(v.into())),
                    Type::FLOAT8 => row.try_get::<_, Option<f64>>(i).map_err(bad)?.map(Val::Real),
                    _ => row.try_get::<_, Option<String>>(i).map_err(bad)?.map(Val::Text),
                };
                vals.push(v.unwrap_or(Val::Null));
            }
            out.push(vals);
        }
        Ok(out)
    }

    fn batch(&mut self, sql: &str) -> Result<(), StoreError> {
        self.tx.batch_execute(sql).map_err(|e| self.backend.error(e))
    }

    fn lock(&mut self) -> Result<(), StoreError> {
        self.tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_KEY]).map(|_| ()).map_err(|e| self.backend.error(e))
    }
}
