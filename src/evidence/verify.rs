//! `dfs-gateway evidence verify [DIR]`: walks every evidence file in chain order and reports the first record
//! that breaks the chain, or the torn end a crash left behind (tolerated: the writer repairs it on its next
//! start).

use std::fmt;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use super::chain::{self, check_line, list_files, LineError, TornRef, GENESIS_PREV};
use super::EvidenceError;

/// A place in the trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Location {
    /// The evidence file, as found in the directory given to [`verify`].
    pub(crate) file: PathBuf,
    /// 1-based line number.
    pub(crate) line: u64,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

/// The newest intact record: what an operator anchors elsewhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ChainHead {
    /// `seq` of the newest intact record: how many records the trail has had (with pruning, the last number).
    pub(crate) seq: u64,
    /// Its `hash`: the value to anchor outside the files (a later rewrite of the trail cannot keep it).
    pub(crate) hash: String,
    /// Where it is.
    pub(crate) at: Location,
}

/// The end of the newest file is a cut-off write (a crash): tolerated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    /// The first torn line.
    pub(crate) at: Location,
    /// Lines in the torn run (1 for a plain crash; 2 if a crash also cut off the repair of an earlier one).
    pub lines: u64,
    /// Bytes in the torn line(s): what the repair will vouch for.
    pub(crate) bytes: u64,
}

/// Why the chain is broken at a place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ProblemKind {
    /// The line is not a record, is not the torn end of the trail, and no repair vouches for it.
    Unparseable(String),
    /// The record's bytes do not match its hash.
    Altered(String),
    /// `seq` does not follow the previous record's.
    SeqGap { expected: u64, found: u64 },
    /// `prev` is not the previous record's hash.
    BrokenLink { expected: String, found: String },
    /// A file's first record is not its genesis.
    NotGenesis { kind: String },
    /// A genesis record that names another file (the file was renamed, or files were reordered).
    WrongFile { named: String },
    /// A genesis record in the middle of a file.
    MisplacedGenesis,
    /// A line without a newline that is not at the very end of the trail.
    TornInMiddle { bytes: u64 },
    /// A repair record that does not match the torn lines before it.
    BadRepair,
    /// An empty evidence file that is not the newest one.
    EmptyFile,
}

impl fmt::Display for ProblemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProblemKind::Unparseable(e) => write!(f, "{e}; the line is neither the torn end of the trail nor repaired"),
            ProblemKind::Altered(e) => f.write_str(e),
            ProblemKind::SeqGap { expected, found } if found > expected => write!(
                f,
                "seq {found} where {expected} was expected: {} record(s) removed before this line",
                found - expected
            ),
            ProblemKind::SeqGap { expected, found } => {
                write!(f, "seq {found} where {expected} was expected: records were duplicated or reordered")
            }
            ProblemKind::BrokenLink { expected, found } => write!(
                f,
                "prev {}… is not the hash of the record before ({}…): that record was replaced or altered",
                short(found),
                short(expected)
            ),
            ProblemKind::NotGenesis { kind } => {
                write!(f, "the file starts with a `{kind}` record, not its genesis: lines were removed from its start")
            }
            ProblemKind::WrongFile { named } => {
                write!(f, "the genesis record names {named}: this file was renamed or the files reordered")
            }
            ProblemKind::MisplacedGenesis => {
                f.write_str("a genesis record in the middle of a file: files were spliced")
            }
            ProblemKind::TornInMiddle { bytes } => {
                write!(f, "an unterminated record of {bytes} bytes that is not at the end of the trail")
            }
            ProblemKind::BadRepair => f.write_str("a repair record that does not match the torn lines before it"),
            ProblemKind::EmptyFile => f.write_str("an empty evidence file that is not the newest one"),
        }
    }
}

fn short(hash: &str) -> &str {
    &hash[..12.min(hash.len())]
}

/// The first place where the chain is broken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    /// The first line that does not fit the chain (line 0: the file as a whole).
    pub(crate) at: Location,
    /// What is wrong there, worded for an operator by `Display`.
    pub(crate) kind: ProblemKind,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.at, self.kind)
    }
}

/// What [`verify`] found. `Display` is the CLI's output.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VerifyReport {
    /// The directory checked, as given.
    pub(crate) dir: PathBuf,
    /// Evidence files checked (others in the directory are ignored).
    pub(crate) files: usize,
    /// Intact records up to the problem, if any (genesis, repair and dropped records included).
    pub records: u64,
    /// `seq` of the first record: 1 unless older files were pruned.
    pub(crate) first_seq: Option<u64>,
    /// The newest intact record (before the problem, if any).
    pub(crate) head: Option<ChainHead>,
    /// Records the writer reported as never written (`dropped` records), summed.
    pub(crate) dropped: u64,
    /// Torn lines that a repair record vouches for (each a crash the writer recovered from).
    pub(crate) repairs: Vec<Location>,
    /// The newest file ends in torn line(s) not repaired yet (the gateway died and has not started since).
    pub torn_tail: Option<TornTail>,
    /// Facts worth a look that are not breakage (pruned predecessors, an empty newest file).
    pub(crate) notes: Vec<String>,
    /// The first breakage; verification stops there, since everything after it is unanchored.
    pub(crate) problem: Option<Problem>,
    /// The chains of the other gateway instances that shared the directory (`lane-N`), each verified alone.
    pub(crate) lanes: Vec<VerifyReport>,
}

impl VerifyReport {
    /// The chain is intact (a torn tail is tolerated).
    pub fn is_ok(&self) -> bool {
        self.problem.is_none() && self.lanes.iter().all(VerifyReport::is_ok)
    }
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "evidence: {}: {} file(s), {} record(s)", self.dir.display(), self.files, self.records)?;
        if let (Some(first), Some(head)) = (self.first_seq, &self.head) {
            write!(f, " (seq {first}..{})", head.seq)?;
        }
        writeln!(f)?;
        if let Some(h) = &self.head {
            writeln!(f, "head: seq {} hash {} at {}", h.seq, h.hash, h.at)?;
        }
        if self.dropped > 0 {
            writeln!(f, "dropped: {} record(s) never reached the trail (queue full or write errors)", self.dropped)?;
        }
        for r in &self.repairs {
            writeln!(f, "repaired: {r}: a torn record (crash) vouched for by the repair record after it")?;
        }
        for n in &self.notes {
            writeln!(f, "note: {n}")?;
        }
        if let Some(t) = &self.torn_tail {
            writeln!(
                f,
                "torn tail: {}: {} torn line(s), {} bytes: a write cut off by a crash; tolerated (the writer \
                 repairs it at its next start)",
                t.at, t.lines, t.bytes
            )?;
        }
        match &self.problem {
            None => write!(f, "OK: the chain is intact")?,
            Some(p) => write!(f, "BROKEN: {p}")?,
        }
        for lane in &self.lanes {
            write!(f, "\n\nlane (another gateway instance's chain):\n{lane}")?;
        }
        Ok(())
    }
}

/// A line that is not a record, waiting for the repair record that vouches for it.
struct Pending {
    /// Where the line is, for the report.
    at: Location,
    /// What a repair record must name to vouch for it.
    torn: TornRef,
    /// Why it is not a record, reported if no repair vouches for it.
    error: LineError,
}

/// Checks every evidence file in `dir`. `Err` only when the directory or a file cannot be read; a broken chain
/// is a report with a [`Problem`].
///
/// Lanes (`lane-N` subdirectories, written by further gateway instances sharing the state directory) are
/// chains of their own: each is verified the same way and reported in [`VerifyReport::lanes`].
pub fn verify(dir: &Path) -> Result<VerifyReport, EvidenceError> {
    let mut report = verify_chain(dir)?;
    let mut lanes: Vec<(u32, PathBuf)> = std::fs::read_dir(dir)
        .map_err(EvidenceError::io(dir))?
        .filter_map(|e| {
            let e = e.ok()?;
            let n: u32 = e.file_name().to_str()?.strip_prefix("lane-")?.parse().ok()?;
            e.file_type().ok()?.is_dir().then(|| (n, e.path()))
        })
        .collect();
    lanes.sort();
    for (_, lane) in lanes {
        report.lanes.push(verify_chain(&lane)?);
    }
    Ok(report)
}

/// One chain: the evidence files directly in `dir`.
fn verify_chain(dir: &Path) -> Result<VerifyReport, EvidenceError> {
    let files = list_files(dir).map_err(EvidenceError::io(dir))?;
    let mut v = Verifier {
        report: VerifyReport { dir: dir.to_path_buf(), files: files.len(), ..VerifyReport::default() },
        head: None,
    };
    for (i, (name, path)) in files.iter().enumerate() {
        let newest = i + 1 == files.len();
        if let Err(problem) = v.file(&name.to_string(), path, newest) {
            v.report.problem = Some(problem);
            break;
        }
    }
    Ok(v.report)
}

struct Verifier {
    report: VerifyReport,
    /// `(seq, hash)` of the last intact record.
    head: Option<(u64, String)>,
}

impl Verifier {
    fn file(&mut self, name: &str, path: &Path, newest: bool) -> Result<(), Problem> {
        let at = |line| Location { file: path.to_path_buf(), line };
        let file = std::fs::File::open(path)
            .map_err(|e| Problem { at: at(0), kind: ProblemKind::Unparseable(format!("cannot open: {e}")) })?;
        let mut reader = BufReader::new(file);
        let (mut offset, mut line_no) = (0u64, 0u64);
        let mut opened = false;
        let mut pending: Vec<Pending> = Vec::new();
        let mut buf = Vec::new();
        loop {
            buf.clear();
            let n = reader
                .read_until(b'\n', &mut buf)
                .map_err(|e| Problem { at: at(line_no + 1), kind: ProblemKind::Unparseable(format!("read: {e}")) })?;
            if n == 0 {
                break;
            }
            line_no += 1;
            let terminated = buf.last() == Some(&b'\n');
            let bytes = if terminated { &buf[..n - 1] } else { &buf[..] };
            let checked = check_line(bytes);
            if !terminated {
                // A final line without newline: a crash cut the write (or only its newline).
                if !newest {
                    return Err(Problem { at: at(line_no), kind: ProblemKind::TornInMiddle { bytes: n as u64 } });
                }
                match checked {
                    Ok(p) if pending.is_empty() => {
                        self.record(p, at(line_no), name, &mut opened, &mut pending)?;
                        self.report.notes.push(format!("{}: the final record lacks its newline", at(line_no)));
                    }
                    _ => {
                        pending.push(Pending {
                            at: at(line_no),
                            torn: TornRef { offset, bytes: n as u64, sha256: String::new() },
                            error: LineError::NotJson(String::new()),
                        });
                    }
                }
                break;
            }
            match checked {
                Err(e @ LineError::HashMismatch { .. }) => {
                    return Err(Problem { at: at(line_no), kind: ProblemKind::Altered(e.to_string()) });
                }
                Err(error) => {
                    let torn = TornRef { offset, bytes: bytes.len() as u64, sha256: chain::sha256_hex(bytes) };
                    pending.push(Pending { at: at(line_no), torn, error });
                }
                Ok(p) => self.record(p, at(line_no), name, &mut opened, &mut pending)?,
            }
            offset += n as u64;
        }
        if let Some(first) = pending.first() {
            if !newest {
                return Err(Problem { at: first.at.clone(), kind: ProblemKind::Unparseable(first.error.to_string()) });
            }
            // The trail ends in torn lines: a crash (possibly during the repair of an earlier one).
            let bytes = pending.iter().map(|p| p.torn.bytes).sum();
            self.report.torn_tail = Some(TornTail { at: first.at.clone(), lines: pending.len() as u64, bytes });
        } else if line_no == 0 {
            if !newest {
                return Err(Problem { at: at(0), kind: ProblemKind::EmptyFile });
            }
            self.report.notes.push(format!("{} is empty (a rotation cut short; the writer reuses it)", path.display()));
        }
        Ok(())
    }

    /// Checks one intact record against the chain so far.
    fn record(
        &mut self,
        p: chain::Parsed,
        at: Location,
        name: &str,
        opened: &mut bool,
        pending: &mut Vec<Pending>,
    ) -> Result<(), Problem> {
        let fail = |kind| Err(Problem { at: at.clone(), kind });
        let repairs_torn = !pending.is_empty();
        if repairs_torn {
            let matches = p.kind == "repair"
                && p.torn.len() == pending.len()
                && p.torn.iter().zip(pending.iter()).all(|(a, b)| *a == b.torn);
            if !matches {
                let first = &pending[0];
                return Err(Problem { at: first.at.clone(), kind: ProblemKind::Unparseable(first.error.to_string()) });
            }
            self.report.repairs.extend(pending.drain(..).map(|p| p.at));
        } else if p.kind == "repair" {
            return fail(ProblemKind::BadRepair);
        }
        if !*opened {
            match p.kind.as_str() {
                "genesis" if p.file.as_deref() != Some(name) => {
                    return fail(ProblemKind::WrongFile { named: p.file.unwrap_or_else(|| "no file".into()) });
                }
                "genesis" => {}
                // A repair opens a file whose genesis a crash cut off.
                "repair" if repairs_torn => {}
                other => return fail(ProblemKind::NotGenesis { kind: other.to_owned() }),
            }
            *opened = true;
        } else if p.kind == "genesis" {
            return fail(ProblemKind::MisplacedGenesis);
        }
        match &self.head {
            None => {
                if p.prev != GENESIS_PREV {
                    self.report.notes.push(format!(
                        "{at}: the trail starts at seq {} linked to {}…, which is not here (older files pruned?)",
                        p.seq,
                        short(&p.prev)
                    ));
                }
                self.report.first_seq = Some(p.seq);
            }
            Some((seq, hash)) => {
                if p.seq != seq + 1 {
                    return fail(ProblemKind::SeqGap { expected: seq + 1, found: p.seq });
                }
                if &p.prev != hash {
                    return fail(ProblemKind::BrokenLink { expected: hash.clone(), found: p.prev });
                }
            }
        }
        if p.kind == "dropped" {
            self.report.dropped += p.count.unwrap_or(0);
        }
        self.report.records += 1;
        self.report.head = Some(ChainHead { seq: p.seq, hash: p.hash.clone(), at });
        self.head = Some((p.seq, p.hash));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::writer::test_support::*;

    fn rewrite(path: &Path, edit: impl FnOnce(&mut Vec<String>)) {
        let mut l = lines(path);
        edit(&mut l);
        std::fs::write(path, l.iter().map(|x| format!("{x}\n")).collect::<String>()).unwrap();
    }

    fn problem(dir: &Path) -> Problem {
        let report = verify(dir).unwrap();
        assert!(!report.is_ok(), "{report}");
        assert!(report.to_string().contains("BROKEN: "), "{report}");
        report.problem.unwrap()
    }

    #[test]
    fn an_intact_trail_verifies_and_an_empty_directory_too() {
        let dir = tempfile::tempdir().unwrap();
        let report = verify(dir.path()).unwrap();
        assert!(report.is_ok() && report.records == 0, "{report}");
        write_n(dir.path(), 30);
        let report = verify(dir.path()).unwrap();
        assert!(report.is_ok(), "{report}");
        assert_eq!(report.first_seq, Some(1));
        assert!(report.to_string().ends_with("OK: the chain is intact"), "{report}");
        assert!(verify(&dir.path().join("missing")).is_err());
    }

    #[test]
    fn altering_one_field_is_caught_at_that_line() {
        let dir = tempfile::tempdir().unwrap();
        write_n(dir.path(), 10);
        let path = files(dir.path())[0].clone();
        rewrite(&path, |l| l[4] = l[4].replace("\"outcome\":\"ok\"", "\"outcome\":\"no\""));
        let p = problem(dir.path());
        assert_eq!(p.at, Location { file: path, line: 5 });
        assert!(matches!(p.kind, ProblemKind::Altered(_)), "{p}");
    }

    #[test]
    fn an_altered_record_with_a_recomputed_hash_breaks_the_next_link() {
        let dir = tempfile::tempdir().unwrap();
        write_n(dir.path(), 10);
        let path = files(dir.path())[0].clone();
        rewrite(&path, |l| {
            let body = l[4].replace("\"outcome\":\"ok\"", "\"outcome\":\"no\"");
            let canonical = format!("{}}}", &body[..body.rfind(",\"hash\"").unwrap()]);
            let (sealed, _) = chain::seal(canonical.into_bytes());
            l[4] = String::from_utf8(sealed).unwrap().trim_end().to_owned();
        });
        let p = problem(dir.path());
        assert_eq!(p.at.line, 6);
        assert!(matches!(p.kind, ProblemKind::BrokenLink { .. }), "{p}");
    }

    #[test]
    fn deleting_a_line_is_caught() {
        let dir = tempfile::tempdir().unwrap();
        write_n(dir.path(), 10);
        let path = files(dir.path())[0].clone();
        rewrite(&path, |l| {
            l.remove(3);
        });
        let p = problem(dir.path());
        assert_eq!(p.at.line, 4);
        assert_eq!(p.kind, ProblemKind::SeqGap { expected: 4, found: 5 });
        assert!(p.to_string().contains("1 record(s) removed"), "{p}");

        rewrite(&path, |l| {
            l.remove(0);
        });
        assert!(matches!(problem(dir.path()).kind, ProblemKind::NotGenesis { .. }));
    }

    #[test]
    fn removing_or_renaming_a_middle_file_is_caught_and_pruning_the_oldest_is_a_note() {
        let dir = tempfile::tempdir().unwrap();
        write_n(dir.path(), 100);
        let f = files(dir.path());
        assert!(f.len() >= 4);
        // Swap two files' names.
        let tmp = dir.path().join("swap");
        std::fs::rename(&f[1], &tmp).unwrap();
        std::fs::rename(&f[2], &f[1]).unwrap();
        std::fs::rename(&tmp, &f[2]).unwrap();
        let p = problem(dir.path());
        assert_eq!(p.at.file, f[1]);
        assert!(matches!(p.kind, ProblemKind::WrongFile { .. }), "{p}");
        std::fs::remove_file(&f[1]).unwrap();
        std::fs::rename(&f[2], &f[1]).unwrap();
        let p = problem(dir.path());
        assert_eq!((p.at.file.as_path(), p.at.line), (f[3].as_path(), 1));
        assert!(matches!(p.kind, ProblemKind::SeqGap { .. }), "{p}");

        let dir = tempfile::tempdir().unwrap();
        write_n(dir.path(), 100);
        std::fs::remove_file(&files(dir.path())[0]).unwrap();
        let report = verify(dir.path()).unwrap();
        assert!(report.is_ok(), "{report}");
        assert!(report.notes[0].contains("pruned"), "{report}");
    }

    #[test]
    fn a_truncated_final_line_is_a_tolerated_torn_tail_but_not_elsewhere() {
        let dir = tempfile::tempdir().unwrap();
        write_n(dir.path(), 100);
        let f = files(dir.path());
        let last = f.last().unwrap();
        let full = std::fs::read(last).unwrap();
        std::fs::write(last, &full[..full.len() - 25]).unwrap();
        let report = verify(dir.path()).unwrap();
        assert!(report.is_ok(), "{report}");
        let tail = report.torn_tail.clone().unwrap();
        assert_eq!((tail.at.file.as_path(), tail.lines), (last.as_path(), 1));
        assert_eq!(tail.at.line, lines(last).len() as u64);
        assert!(report.to_string().contains("torn tail: "), "{report}");

        // The same cut in an older file is breakage: the writer never leaves one behind.
        let full = std::fs::read(&f[0]).unwrap();
        std::fs::write(&f[0], &full[..full.len() - 25]).unwrap();
        assert!(matches!(problem(dir.path()).kind, ProblemKind::TornInMiddle { .. }));
    }

    #[test]
    fn garbage_in_the_middle_is_not_excused_as_a_tear() {
        let dir = tempfile::tempdir().unwrap();
        write_n(dir.path(), 10);
        let path = files(dir.path())[0].clone();
        rewrite(&path, |l| l.insert(3, "{\"seq\":3,\"ti".into()));
        let p = problem(dir.path());
        assert_eq!(p.at.line, 4);
        assert!(matches!(p.kind, ProblemKind::Unparseable(_)), "{p}");
    }
}
