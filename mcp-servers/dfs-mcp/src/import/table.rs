//! A CSV file as rows of cells with their line numbers, and the header row found wherever it sits.
//!
//! Real exports are not always a plain table: DraftKings' entries template puts the player list to the right of
//! the entries, below a block of instructions. So the header is searched for (the first row holding every
//! required column name), columns are found by name in that row, and every later row is read at those columns.

use std::collections::HashMap;

use super::ImportError;

/// One CSV record and the line it starts on.
pub(crate) struct Record {
    pub line: u64,
    pub cells: Vec<String>,
}

/// Reads every record. Tolerates a UTF-8 BOM, CRLF, quoted fields (also across lines) and ragged rows.
pub(crate) fn records(text: &str) -> Result<Vec<Record>, ImportError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(text.as_bytes());
    let mut out = Vec::new();
    let mut record = csv::StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                let line = record.position().map_or(0, |p| p.line());
                out.push(Record { line, cells: record.iter().map(str::to_owned).collect() });
            }
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                let what = match e.kind() {
                    csv::ErrorKind::Utf8 { .. } => "the file is not UTF-8 text".to_owned(),
                    _ => e.to_string(),
                };
                return Err(ImportError::File(format!("line {line}: {what}")));
            }
        }
    }
    Ok(out)
}

/// Letters and digits only, lower-cased: `Roster Position` = `roster_position`, `Own %` = `own`.
pub(crate) fn norm(name: &str) -> String {
    name.chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase).collect()
}

/// The rows under a header, read by column name.
pub(crate) struct Table<'a> {
    pub header_line: u64,
    /// Normalised column name → index (the first column of that name).
    columns: HashMap<String, usize>,
    /// The rows below the header that have something in the header's columns.
    pub rows: Vec<&'a Record>,
}

impl<'a> Table<'a> {
    /// The column of that (normalised) name.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.get(&norm(name)).copied()
    }
    /// The first of several names that the header has.
    pub fn column_of(&self, names: &[&str]) -> Option<usize> {
        names.iter().find_map(|n| self.column(n))
    }
    pub fn has(&self, name: &str) -> bool {
        self.column(name).is_some()
    }
}

/// The cell of a row at a column, `""` when the row is short or the column absent.
pub(crate) fn cell(row: &Record, column: Option<usize>) -> &str {
    column.and_then(|c| row.cells.get(c)).map_or("", String::as_str)
}

/// A header found: which of the layouts it is and the table below it.
pub(crate) struct Found<'a> {
    pub layout: usize,
    pub table: Table<'a>,
}

/// The first row that holds every column of one of `layouts` (each a list of required names).
pub(crate) fn find_header<'a>(records: &'a [Record], layouts: &[&[&str]]) -> Option<Found<'a>> {
    for (i, rec) in records.iter().enumerate() {
        let names: Vec<String> = rec.cells.iter().map(|c| norm(c)).collect();
        for (layout, required) in layouts.iter().enumerate() {
            if required.iter().all(|r| names.contains(&norm(r))) {
                return Some(Found { layout, table: table_at(records, i) });
            }
        }
    }
    None
}

/// The table whose header is `records[i]` (for files whose first row is the header, `i` = 0).
pub(crate) fn table_at(records: &[Record], i: usize) -> Table<'_> {
    let header = &records[i];
    let mut columns = HashMap::new();
    for (c, name) in header.cells.iter().enumerate() {
        let n = norm(name);
        if !n.is_empty() {
            columns.entry(n).or_insert(c);
        }
    }
    // Only the header's own columns count: cells to the left (entries) or right of them are someone else's.
    let used: Vec<usize> = columns.values().copied().collect();
    let rows = records[i + 1..]
        .iter()
        .filter(|r| used.iter().any(|&c| r.cells.get(c).is_some_and(|v| !v.trim().is_empty())))
        .collect();
    Table { header_line: header.line, columns, rows }
}
