//! The little SQL both backends share: values, a transaction to run statements in, and the backend interface.
//!
//! Statements are written once, with `?` placeholders and types both databases read the same way (`TEXT`,
//! `BIGINT`, `DOUBLE PRECISION`); the PostgreSQL backend numbers the placeholders. So the store's logic, the
//! schema and the test suite are the same whichever database is behind it.

use super::StoreError;

/// A value going into or coming out of a statement.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Val {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
}

impl Val {
    pub fn int(&self) -> Option<i64> {
        match self {
            Val::Int(i) => Some(*i),
            Val::Real(f) if f.fract() == 0.0 => Some(*f as i64),
            _ => None,
        }
    }
    pub fn real(&self) -> Option<f64> {
        match self {
            Val::Real(f) => Some(*f),
            Val::Int(i) => Some(*i as f64),
            _ => None,
        }
    }
    pub fn text(&self) -> Option<&str> {
        match self {
            Val::Text(s) => Some(s),
            _ => None,
        }
    }
    /// The text of a NOT NULL text column; a missing value is a schema bug, reported as such.
    pub fn string(&self) -> String {
        self.text().unwrap_or_default().to_owned()
    }
}

impl From<&str> for Val {
    fn from(s: &str) -> Self {
        Val::Text(s.to_owned())
    }
}
impl From<String> for Val {
    fn from(s: String) -> Self {
        Val::Text(s)
    }
}
impl From<&String> for Val {
    fn from(s: &String) -> Self {
        Val::Text(s.clone())
    }
}
impl From<i64> for Val {
    fn from(i: i64) -> Self {
        Val::Int(i)
    }
}
impl From<u32> for Val {
    fn from(i: u32) -> Self {
        Val::Int(i64::from(i))
    }
}
impl From<f64> for Val {
    fn from(f: f64) -> Self {
        Val::Real(f)
    }
}
impl<T: Into<Val>> From<Option<T>> for Val {
    fn from(v: Option<T>) -> Self {
        v.map_or(Val::Null, Into::into)
    }
}

pub(crate) type Row = Vec<Val>;

/// Statements inside one transaction. Dropped without [`Backend::transaction`] returning `Ok`, it rolls back.
pub(crate) trait Tx {
    /// Runs a statement; the number of rows it changed.
    fn exec(&mut self, sql: &str, params: &[Val]) -> Result<u64, StoreError>;
    fn query(&mut self, sql: &str, params: &[Val]) -> Result<Vec<Row>, StoreError>;
    /// Several statements without parameters (migrations).
    fn batch(&mut self, sql: &str) -> Result<(), StoreError>;
    /// Serialises this transaction against every other process's `lock`ing transaction (migrations, seeding).
    /// SQLite write transactions are exclusive already; PostgreSQL takes an advisory lock.
    fn lock(&mut self) -> Result<(), StoreError>;
}

/// A database.
pub(crate) trait Backend: Send + Sync {
    /// `SQLite at /path/dfs.sqlite3`, `PostgreSQL at 127.0.0.1:5432/dfs`: for messages (never a password).
    fn describe(&self) -> String;
    /// Runs `f` in a transaction, committed when it returns `Ok`. `write` transactions take the write lock at
    /// once (SQLite), so two writers queue instead of failing when the second tries to upgrade.
    fn transaction(
        &self,
        write: bool,
        f: &mut dyn FnMut(&mut dyn Tx) -> Result<(), StoreError>,
    ) -> Result<(), StoreError>;
}

/// Runs `f` in a transaction and hands back what it returned.
pub(crate) fn run<T>(
    backend: &dyn Backend,
    write: bool,
    mut f: impl FnMut(&mut dyn Tx) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let mut out = None;
    backend.transaction(write, &mut |tx| {
        out = Some(f(tx)?);
        Ok(())
    })?;
    Ok(out.expect("the transaction ran f"))
}

/// `INSERT INTO table (cols) VALUES (?, ...), (?, ...)` for `rows` rows.
pub(crate) fn insert_sql(table: &str, columns: &[&str], rows: usize) -> String {
    let one = format!("({})", vec!["?"; columns.len()].join(", "));
    format!("INSERT INTO {table} ({}) VALUES {}", columns.join(", "), vec![one; rows].join(", "))
}

/// Inserts rows in chunks (one statement per chunk: a round trip each on PostgreSQL).
pub(crate) fn insert_rows(
    tx: &mut dyn Tx,
    table: &str,
    columns: &[&str],
    rows: Vec<Vec<Val>>,
) -> Result<(), StoreError> {
    const CHUNK: usize = 100;
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<Vec<Val>> = rows.by_ref().take(CHUNK).collect();
        let sql = insert_sql(table, columns, chunk.len());
        let params: Vec<Val> = chunk.into_iter().flatten().collect();
        tx.exec(&sql, &params)?;
    }
    Ok(())
}

/// `?` → `$1`, `$2`... outside quoted text, for PostgreSQL.
pub(crate) fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut n = 0;
    let mut quoted = false;
    for c in sql.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                out.push(c);
            }
            '?' if !quoted => {
                n += 1;
                out.push('$');
                out.push_str(&n.to_string());
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_outside_quotes() {
        assert_eq!(numbered("SELECT ? , '?' , ?"), "SELECT $1 , '?' , $2");
        assert_eq!(insert_sql("t", &["a", "b"], 2), "INSERT INTO t (a, b) VALUES (?, ?), (?, ?)");
    }
}
