//! The file writer: the one owner of the evidence files. Synchronous on purpose: it runs on its own thread (see
//! `actors::evidence`), so its blocking file I/O never occupies an async worker, and tests drive it directly with
//! chosen clocks.
//!
//! Each record is encoded, hashed and written with a single `write` of the whole line; with batching on (the
//! evidence thread's mode) the sealed lines of one batch are written with one `write` by [`Writer::flush`]. Either
//! way a line is never split across writes, so a crash leaves at most the one write in progress torn, and what was
//! gathered but not written is lost like records still queued. `fsync` happens at rotation, on [`Writer::sync`]
//! (flush requests, shutdown) and after a repair.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::Serialize;

use super::chain::{self, check_line, list_files, FileName, TornRef, GENESIS_PREV};
use super::encode;
use super::{EvidenceConfig, EvidenceError, Record, RecordKind, Redactor};

/// Room for `seq`, `time`, `prev` and `hash` around a record's body, used to decide rotation before the line is
/// built (building it needs the head, which rotation changes).
const LINE_OVERHEAD: u64 = 200;

/// Torn lines a single repair vouches for at most. More than a couple means the file end is not a crash's doing
/// but damage, which `verify` should report rather than the writer paper over.
const MAX_TORN: usize = 16;

/// The last record of the chain: what the next record links to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Head {
    /// The next record's `seq` is this plus one.
    pub(crate) seq: u64,
    /// The next record's `prev`.
    pub(crate) hash: String,
}

impl Head {
    fn genesis() -> Head {
        Head { seq: 0, hash: GENESIS_PREV.to_owned() }
    }
}

/// Counters and the chain head, for flush replies, logs and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriterStats {
    /// Lines written since start, writer-made ones (genesis, dropped, repair) included.
    pub(crate) written: u64,
    /// Writes that failed (each lost its record; the next write resumes through the crash-repair path).
    pub(crate) write_errors: u64,
    /// Repair records written (torn lines found at start-up or after a failed write).
    pub(crate) repairs: u64,
    /// Files deleted by retention.
    pub(crate) pruned: u64,
    /// `seq` of the chain head.
    pub(crate) seq: u64,
    /// `hash` of the chain head.
    pub(crate) head: String,
    /// The file being appended to, if one is open.
    pub(crate) file: Option<PathBuf>,
}

/// The file being appended to.
struct Current {
    /// Its name, to compare days and number the next rotation.
    name: FileName,
    /// Its path, for errors and stats.
    path: PathBuf,
    /// Opened for append: every write lands at the end whatever else happened to the file.
    file: File,
    /// Bytes in the file, for the size limit.
    size: u64,
    /// An empty file (created by a rotation cut short, or just now) gets its genesis before the first record.
    needs_genesis: bool,
    /// Sealed lines not written yet (batching on), and how many records they hold.
    pending: Vec<u8>,
    pending_records: u64,
}

/// Appends records to the evidence files of one directory. See the module docs of [`crate::evidence`] for the
/// format and the chain.
pub struct Writer {
    /// The evidence directory; every file in it named `evidence-*.jsonl` is ours.
    dir: PathBuf,
    /// Rotate before a file would grow past this.
    max_file_bytes: u64,
    /// Applied to arguments and error texts before they are written.
    redactor: Redactor,
    /// Retention: files older than this (by their day) are deleted at start-up and rotation.
    max_age: Option<std::time::Duration>,
    /// Retention: the oldest files are deleted while all of them hold more than this.
    max_total_bytes: Option<u64>,
    /// The file being appended to; `None` until the first write, after a failed write, or after `close`.
    current: Option<Current>,
    /// The last record written or found: what the next record links to.
    head: Head,
    /// The newest file that exists, open or not: new files must sort after it to keep the chain order.
    newest: Option<FileName>,
    /// A write failed, so the file may end in a partial line: the next write goes through [`Writer::resume`]
    /// first, exactly like a start after a crash.
    needs_resume: bool,
    stats: WriterStats,
    /// Lines are gathered and written by [`Writer::flush`] (the evidence thread flushes whenever its queue is
    /// empty, so a burst costs one write instead of one per record); off, every line is written at once.
    batching: bool,
    /// Records lost because a batched write failed, not yet taken by [`Writer::take_lost`].
    lost: u64,
    /// Buffers kept between records: the body being encoded and the line being sealed.
    body: Vec<u8>,
    line: Vec<u8>,
    /// The record times' text, formatted once per second.
    time_text: encode::TimeText,
    /// The current UTC day (days since the epoch) and its `YYYY-MM-DD`, for file names.
    today: Option<(u64, String)>,
    /// An exclusive `flock` on `<dir>/.lock`, held for the writer's life: two writers interleaving lines would
    /// break the chain. The kernel releases it when the process dies, kill -9 included, so no stale lock.
    _lock: File,
}

/// Gathered lines are written once they reach this many bytes, even while records keep coming.
const BATCH_BYTES: usize = 256 * 1024;

/// The lock file's name; not an evidence file name, so `verify` and rotation ignore it.
pub(crate) const LOCK_FILE: &str = ".lock";

impl Writer {
    /// Opens the directory (creating it), finds the chain head in the newest file and repairs a torn end.
    pub fn open(config: &EvidenceConfig, now: SystemTime) -> Result<Writer, EvidenceError> {
        std::fs::create_dir_all(&config.dir).map_err(EvidenceError::io(&config.dir))?;
        let (dir, lock) = take_lane(&config.dir)?;
        let mut writer = Writer {
            dir,
            max_file_bytes: config.max_file_bytes,
            redactor: config.redactor(),
            max_age: config.max_age,
            max_total_bytes: config.max_total_bytes,
            current: None,
            head: Head::genesis(),
            newest: None,
            needs_resume: false,
            stats: WriterStats::default(),
            batching: false,
            lost: 0,
            body: Vec::with_capacity(1024),
            line: Vec::with_capacity(1024),
            time_text: encode::TimeText::default(),
            today: None,
            _lock: lock,
        };
        writer.resume(now)?;
        writer.prune(now);
        Ok(writer)
    }

    /// Retention: deletes the oldest files while they are older than `max_age` (their whole day) or all files
    /// together exceed `max_total_bytes`. Never the newest file (the chain goes on there), never out of order
    /// (the oldest first), so what remains is one unbroken chain that `verify` proves from its first genesis.
    /// Failures are logged: a file that cannot be deleted is retried at the next rotation.
    pub(crate) fn prune(&mut self, now: SystemTime) {
        if self.max_age.is_none() && self.max_total_bytes.is_none() {
            return;
        }
        let Ok(files) = list_files(&self.dir) else { return };
        let sizes: Vec<u64> = files.iter().map(|(_, p)| std::fs::metadata(p).map_or(0, |m| m.len())).collect();
        let mut total: u64 = sizes.iter().sum();
        let cutoff = self.max_age.map(|age| day_of(now.checked_sub(age).unwrap_or(SystemTime::UNIX_EPOCH)));
        for ((name, path), size) in files.iter().zip(&sizes).take(files.len().saturating_sub(1)) {
            let too_old = cutoff.as_ref().is_some_and(|c| name.day.as_str() < c.as_str());
            let too_big = self.max_total_bytes.is_some_and(|max| total > max);
            if !too_old && !too_big {
                break;
            }
            match std::fs::remove_file(path) {
                Ok(()) => {
                    total -= size;
                    self.stats.pruned += 1;
                    tracing::info!(file = %path.display(), bytes = size, too_old, too_big, "evidence file pruned (retention)");
                }
                Err(e) => {
                    tracing::warn!(file = %path.display(), error = %e, "evidence file could not be pruned");
                    break;
                }
            }
        }
    }

    pub(crate) fn stats(&self) -> WriterStats {
        WriterStats {
            seq: self.head.seq,
            head: self.head.hash.clone(),
            file: self.current.as_ref().map(|c| c.path.clone()),
            ..self.stats.clone()
        }
    }

    /// Appends one caller record (redacted here, off the call path).
    pub fn append(&mut self, rec: &Record, now: SystemTime) -> Result<(), EvidenceError> {
        let mut body = std::mem::take(&mut self.body);
        body.clear();
        self.encode(rec, &mut body);
        let result = self.append_body(&body, rec.time, now);
        self.body = body;
        result
    }

    /// Appends a `dropped` record: `count` records since the last such record never reached the file
    /// (`total` since start), so the gap shows in the trail itself.
    pub(crate) fn append_dropped(&mut self, count: u64, total: u64, now: SystemTime) -> Result<(), EvidenceError> {
        #[derive(Serialize)]
        struct Dropped {
            kind: &'static str,
            count: u64,
            total: u64,
        }
        let body = to_json(&Dropped { kind: "dropped", count, total });
        self.append_body(&body, now, now)
    }

    /// Gathers lines until [`Writer::flush`] (`true`) instead of writing each at once.
    pub(crate) fn set_batching(&mut self, on: bool) {
        self.batching = on;
    }

    /// Writes the gathered lines (one `write`). On failure they are lost (counted for [`Writer::take_lost`]) and
    /// the next write repairs the file first, as after a crash.
    pub(crate) fn flush(&mut self) -> Result<(), EvidenceError> {
        let Some(c) = &mut self.current else { return Ok(()) };
        if c.pending.is_empty() {
            return Ok(());
        }
        let records = std::mem::take(&mut c.pending_records);
        let result = c.file.write_all(&c.pending);
        c.pending.clear();
        if let Err(e) = result {
            let path = c.path.clone();
            self.current = None;
            self.needs_resume = true;
            self.stats.write_errors += 1;
            self.stats.written -= records;
            self.lost += records;
            return Err(EvidenceError::Io { path, source: e });
        }
        Ok(())
    }

    /// Records lost in failed batched writes since the last call.
    pub(crate) fn take_lost(&mut self) -> u64 {
        std::mem::take(&mut self.lost)
    }

    /// Writes what is gathered and flushes the open file to disk (`fsync`).
    pub(crate) fn sync(&mut self) -> Result<(), EvidenceError> {
        self.flush()?;
        if let Some(c) = &self.current {
            c.file.sync_all().map_err(EvidenceError::io(&c.path))?;
        }
        Ok(())
    }

    /// Closes the open file after an `fsync` and logs the chain head, so it can be anchored outside the files.
    pub fn close(&mut self) -> Result<(), EvidenceError> {
        let result = self.sync();
        if let Some(c) = self.current.take() {
            tracing::info!(file = %c.path.display(), seq = self.head.seq, hash = %self.head.hash, "evidence chain head");
        }
        result
    }

    /// Finds the chain head and repairs a torn end of the newest file: the partial line is terminated and a
    /// `repair` record naming it continues the chain from the last complete record. Never appends after a
    /// partial line.
    pub(crate) fn resume(&mut self, now: SystemTime) -> Result<(), EvidenceError> {
        self.current = None;
        // Recreated if someone removed it under a running gateway: the trail goes on rather than stop.
        std::fs::create_dir_all(&self.dir).map_err(EvidenceError::io(&self.dir))?;
        let files = list_files(&self.dir).map_err(EvidenceError::io(&self.dir))?;
        let Some((newest, path)) = files.last() else {
            // Keep the head we know (genesis at start-up): a trail whose files were removed continues the chain,
            // and `verify` will say that its start links to records that are not there.
            self.newest = None;
            return Ok(());
        };
        self.newest = Some(newest.clone());
        let tail = scan_tail(path)?;
        let mut head = tail.head.clone();
        // The newest file holds no complete record (its genesis was cut off): the chain ends in an older file.
        for (_, older) in files.iter().rev().skip(1) {
            if head.is_some() {
                break;
            }
            head = scan_tail(older)?.head;
        }
        self.head = head.unwrap_or_else(|| {
            tracing::error!(dir = %self.dir.display(), "no intact evidence record found; the chain restarts here");
            Head::genesis()
        });

        let mut file = OpenOptions::new().append(true).open(path).map_err(EvidenceError::io(path))?;
        let mut size = tail.len;
        let mut torn = tail.torn;
        match tail.fragment {
            // Only the newline was lost: the record is whole, complete the line and link to it.
            Some(Fragment { head: Some(h), .. }) => self.head = h,
            Some(Fragment { torn: t, .. }) => torn.push(t),
            None => {}
        }
        if !tail.ends_with_newline && tail.len > 0 {
            file.write_all(b"\n").map_err(EvidenceError::io(path))?;
            size += 1;
        }
        let needs_genesis = size == 0;
        self.current = Some(Current {
            name: newest.clone(),
            path: path.clone(),
            file,
            size,
            needs_genesis,
            pending: Vec::new(),
            pending_records: 0,
        });
        if !torn.is_empty() {
            tracing::warn!(file = %path.display(), lines = torn.len(), "evidence file ends in a torn record (a write cut off by a crash); repairing");
            #[derive(Serialize)]
            struct Repair<'a> {
                kind: &'static str,
                torn: &'a [TornRef],
            }
            let body = to_json(&Repair { kind: "repair", torn: &torn });
            let sealed = self.seal(&body, now);
            self.write_line(sealed)?;
            if let Some(c) = &mut self.current {
                c.needs_genesis = false;
            }
            self.stats.repairs += 1;
        }
        if torn.is_empty() && tail.ends_with_newline {
            return Ok(());
        }
        self.sync()
    }

    fn append_body(&mut self, body: &[u8], time: SystemTime, now: SystemTime) -> Result<(), EvidenceError> {
        if self.needs_resume {
            self.resume(now)?;
            self.needs_resume = false;
        }
        let written = self.ensure_file(body.len() as u64 + LINE_OVERHEAD, now).and_then(|()| {
            let sealed = self.seal(body, time);
            self.write_line(sealed)
        });
        if written.is_err() {
            // Whatever failed (a rotation into a vanished directory, a full disk), start over from the files.
            self.needs_resume = true;
        }
        written
    }

    /// Builds the sealed line for `body` (a JSON object starting with `kind`) in `self.line`, as the next link
    /// of the chain; returns its `seq` and hash.
    fn seal(&mut self, body: &[u8], time: SystemTime) -> (u64, [u8; 64]) {
        let seq = self.head.seq + 1;
        let out = &mut self.line;
        out.clear();
        out.extend_from_slice(b"{\"seq\":");
        out.extend_from_slice(itoa::Buffer::new().format(seq).as_bytes());
        out.extend_from_slice(b",\"time\":\"");
        self.time_text.push(out, time);
        out.extend_from_slice(b"\",");
        out.extend_from_slice(&body[1..body.len() - 1]);
        out.extend_from_slice(b",\"prev\":\"");
        out.extend_from_slice(self.head.hash.as_bytes());
        out.extend_from_slice(b"\"}");
        (seq, chain::seal_in_place(out))
    }

    /// The line sealed last becomes the chain head, written now or gathered for the next flush.
    fn write_line(&mut self, (seq, hash): (u64, [u8; 64])) -> Result<(), EvidenceError> {
        let Some(c) = &mut self.current else {
            return Err(EvidenceError::Closed);
        };
        let line = &self.line;
        let new_head = |head: &mut Head| {
            head.seq = seq;
            head.hash.clear();
            head.hash.push_str(std::str::from_utf8(&hash).expect("hex is ASCII"));
        };
        if self.batching {
            c.pending.extend_from_slice(line);
            c.pending_records += 1;
            c.size += line.len() as u64;
            new_head(&mut self.head);
            self.stats.written += 1;
            if c.pending.len() >= BATCH_BYTES {
                return self.flush();
            }
            return Ok(());
        }
        if let Err(e) = c.file.write_all(line) {
            // The line may be half there: never append after it; the next write repairs first.
            let path = c.path.clone();
            self.current = None;
            self.needs_resume = true;
            self.stats.write_errors += 1;
            return Err(EvidenceError::Io { path, source: e });
        }
        c.size += line.len() as u64;
        new_head(&mut self.head);
        self.stats.written += 1;
        Ok(())
    }

    /// Makes sure a file of the right day with room for `estimate` bytes is open and has its genesis.
    fn ensure_file(&mut self, estimate: u64, now: SystemTime) -> Result<(), EvidenceError> {
        // Formatted once per day, not per record.
        let day_number = now.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default().as_secs() / 86_400;
        if self.today.as_ref().is_none_or(|(n, _)| *n != day_number) {
            self.today = Some((day_number, day_of(now)));
        }
        let today = self.today.as_ref().map_or("", |(_, d)| d.as_str());
        // The day never goes backwards, whatever the clock does: file order is chain order.
        let day = match &self.newest {
            Some(newest) if newest.day.as_str() > today => newest.day.as_str(),
            _ => today,
        };
        let keep = match &self.current {
            Some(c) => c.name.day == day && (c.needs_genesis || c.size + estimate <= self.max_file_bytes),
            None => false,
        };
        if !keep {
            self.rotate(day.to_owned())?;
            self.prune(now);
        }
        if self.current.as_ref().is_some_and(|c| c.needs_genesis) {
            self.write_genesis(now)?;
        }
        Ok(())
    }

    /// Closes the current file and creates the next one (empty; its genesis follows).
    fn rotate(&mut self, day: String) -> Result<(), EvidenceError> {
        if self.current.is_some() {
            // The old file's fsync failing must not stop the trail: what it holds was written already.
            if let Err(e) = self.close() {
                tracing::warn!(error = %e, "evidence: fsync at rotation failed");
            }
        }
        let mut name = match &self.newest {
            Some(n) if n.day == day => FileName { day, index: n.index + 1 },
            _ => FileName { day, index: 0 },
        };
        loop {
            let path = self.dir.join(name.to_string());
            match OpenOptions::new().append(true).create_new(true).open(&path) {
                Ok(file) => {
                    self.newest = Some(name.clone());
                    self.current = Some(Current {
                        name,
                        path,
                        file,
                        size: 0,
                        needs_genesis: true,
                        pending: Vec::new(),
                        pending_records: 0,
                    });
                    return Ok(());
                }
                // Someone made it meanwhile (a copy restored by hand?): never write into a file we did not scan.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => name.index += 1,
                Err(e) => return Err(EvidenceError::Io { path, source: e }),
            }
        }
    }

    fn write_genesis(&mut self, now: SystemTime) -> Result<(), EvidenceError> {
        #[derive(Serialize)]
        struct Genesis {
            kind: &'static str,
            file: String,
        }
        let Some(c) = &self.current else { return Err(EvidenceError::Closed) };
        let body = to_json(&Genesis { kind: "genesis", file: c.name.to_string() });
        let sealed = self.seal(&body, now);
        self.write_line(sealed)?;
        if let Some(c) = &mut self.current {
            c.needs_genesis = false;
        }
        Ok(())
    }

    /// The record's body as a JSON object, `kind` first, redacted, into `out`.
    fn encode(&self, rec: &Record, out: &mut Vec<u8>) {
        out.extend_from_slice(match rec.kind {
            RecordKind::Call => b"{\"kind\":\"call\"",
            RecordKind::Decision => b"{\"kind\":\"decision\"",
        });
        let text = |out: &mut Vec<u8>, name: &str, value: &Option<super::Text>| {
            if let Some(v) = value {
                encode::member_str(out, name, v);
            }
        };
        text(out, "correlation_id", &rec.correlation_id);
        if let Some(client) = &rec.client {
            encode::member_str(out, "client", &self.redactor.scrub(client));
        }
        text(out, "tool", &rec.tool);
        text(out, "rule", &rec.rule);
        text(out, "decision", &rec.decision);
        if let Some(hit) = rec.cache_hit {
            encode::member_bool(out, "cache_hit", hit);
        }
        text(out, "coalesced_with", &rec.coalesced_with);
        text(out, "server", &rec.server);
        if let Some(n) = rec.attempts {
            encode::member_u64(out, "attempts", n.into());
        }
        if let Some(ms) = rec.duration_ms.filter(|d| d.is_finite() && *d >= 0.0) {
            encode::member_ms(out, "duration_ms", ms);
        }
        text(out, "outcome", &rec.outcome);
        if let Some(error) = &rec.error {
            encode::member_str(out, "error", &self.redactor.scrub(error));
        }
        // Raw arguments are written as they are when nothing in them can need redacting and they hold no line
        // break (a record must stay one line); otherwise they are redacted and written compactly, every value
        // not redacted kept byte for byte (never through a JSON tree or an f64: `1e400` and any depth survive).
        if let Some(raw) = rec.arguments.as_deref() {
            let text = raw.get();
            if !text.contains(['\n', '\r']) && !self.redactor.might_touch(text) {
                encode::member_raw(out, "arguments", text);
            } else {
                let mark = out.len();
                out.extend_from_slice(b",\"arguments\":");
                if self.redactor.redact_json(text, out).is_err() {
                    // Not reachable through a `RawValue`, which is valid JSON by construction.
                    out.truncate(mark);
                    let note = format!("[unparseable arguments: {} bytes]", text.len());
                    encode::member_str(out, "arguments", &note);
                }
            }
        }
        if let Some(n) = rec.arguments_omitted_bytes {
            encode::member_u64(out, "arguments_omitted_bytes", n as u64);
        }
        match (&rec.result_digest, &rec.result) {
            (Some(d), _) => encode::member_str(out, "result_digest", d),
            (None, Some(bytes)) => encode::member_ascii(out, "result_digest", &chain::sha256_hex_bytes(bytes)),
            (None, None) => {}
        }
        out.push(b'}');
    }
}

/// Lanes beside the main chain at most: more gateways than this on one state directory are refused.
pub(crate) const MAX_LANES: u32 = 64;

/// The name of lane `n`'s subdirectory (`lane-1`, `lane-2`, ...).
pub(crate) fn lane_name(n: u32) -> String {
    format!("lane-{n}")
}

/// The directory this writer owns: `dir` itself, or, while other gateway processes hold it (several clients
/// each launching the gateway on one configuration), the first free `dir/lane-N`. Each lane is a chain of its
/// own with its own files, continued by whichever instance takes the lane next; `verify` checks them all.
fn take_lane(dir: &Path) -> Result<(PathBuf, File), EvidenceError> {
    let first = match lock_dir(dir) {
        Ok(lock) => return Ok((dir.to_path_buf(), lock)),
        Err(e @ EvidenceError::Locked { .. }) => e,
        Err(e) => return Err(e),
    };
    for n in 1..=MAX_LANES {
        let lane = dir.join(lane_name(n));
        std::fs::create_dir_all(&lane).map_err(EvidenceError::io(&lane))?;
        match lock_dir(&lane) {
            Ok(lock) => {
                tracing::info!(lane = %lane.display(), "evidence: the main chain is in use by another gateway; this one writes its own lane");
                return Ok((lane, lock));
            }
            Err(EvidenceError::Locked { .. }) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(first)
}

/// Takes the directory's writer lock and notes our pid in it (for the message another process gets).
fn lock_dir(dir: &Path) -> Result<File, EvidenceError> {
    let path = dir.join(LOCK_FILE);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(EvidenceError::io(&path))?;
    // Through fs4's trait on purpose: `File::try_lock` of std is newer than the crate's rust-version.
    if let Err(e) = fs4::FileExt::try_lock(&file) {
        if let fs4::TryLockError::Error(e) = e {
            return Err(EvidenceError::Io { path, source: e });
        }
        let mut holder = String::new();
        let _ = file.read_to_string(&mut holder);
        let holder = holder.trim().to_owned();
        return Err(EvidenceError::Locked {
            dir: dir.to_path_buf(),
            holder: if holder.is_empty() { "unknown".into() } else { holder },
        });
    }
    let _ = file.set_len(0).and_then(|()| file.write_all(std::process::id().to_string().as_bytes()));
    Ok(file)
}

fn to_json<T: Serialize>(value: &T) -> Vec<u8> {
    // Plain structs of strings and numbers: serialization cannot fail.
    serde_json::to_vec(value).expect("evidence bodies serialize")
}

/// `YYYY-MM-DD` (UTC) of `t`.
pub(crate) fn day_of(t: SystemTime) -> String {
    // humantime panics on times before the epoch (a clock set wrong, or a retention cut-off reaching before 1970).
    humantime::format_rfc3339_seconds(t.max(SystemTime::UNIX_EPOCH)).to_string()[..10].to_owned()
}

/// A final line without its newline.
struct Fragment {
    /// Where and what it is, for a repair record.
    torn: TornRef,
    /// It is an intact record that only lost its newline.
    head: Option<Head>,
}

/// What the end of one file says about the chain.
struct TailScan {
    /// File size: where appending continues.
    len: u64,
    /// A file that does not end in a newline must get one before anything is appended.
    ends_with_newline: bool,
    /// The unterminated final line, if any.
    fragment: Option<Fragment>,
    /// Terminated lines after the last intact record that are not records (torn lines whose repair was itself
    /// cut off), in file order.
    torn: Vec<TornRef>,
    /// The last intact record.
    head: Option<Head>,
}

/// Reads a file backwards, in growing windows, until the last intact record is found: a 64 MiB file costs a
/// read of its last lines, not of the whole file.
fn scan_tail(path: &Path) -> Result<TailScan, EvidenceError> {
    let io = EvidenceError::io;
    let mut file = File::open(path).map_err(io(path))?;
    let len = file.metadata().map_err(io(path))?.len();
    let mut window: u64 = 64 * 1024;
    loop {
        let start = len.saturating_sub(window);
        file.seek(SeekFrom::Start(start)).map_err(io(path))?;
        let mut buf = Vec::with_capacity((len - start) as usize);
        Read::by_ref(&mut file).take(len - start).read_to_end(&mut buf).map_err(io(path))?;
        let ends_with_newline = buf.last() == Some(&b'\n');
        let mut scan = TailScan { len, ends_with_newline, fragment: None, torn: Vec::new(), head: None };
        let mut end = buf.len();
        if !ends_with_newline && !buf.is_empty() {
            let from = memchr::memrchr(b'\n', &buf).map_or(0, |i| i + 1);
            if from == 0 && start > 0 {
                // The fragment is longer than the window: look further back.
                window = window.saturating_mul(4);
                continue;
            }
            let bytes = &buf[from..];
            let head = check_line(bytes).ok().map(|p| Head { seq: p.seq, hash: p.hash });
            scan.head.clone_from(&head);
            scan.fragment = Some(Fragment { torn: torn_ref(start + from as u64, bytes), head });
            if scan.head.is_some() {
                return Ok(scan);
            }
            end = from;
        }
        // Walk complete lines backwards; the first line of a window that does not start the file may be cut.
        while end > 0 {
            let line_end = end - 1;
            let from = memchr::memrchr(b'\n', &buf[..line_end]).map_or(0, |i| i + 1);
            if from == 0 && start > 0 {
                break;
            }
            let bytes = &buf[from..line_end];
            match check_line(bytes) {
                Ok(p) => {
                    scan.head = Some(Head { seq: p.seq, hash: p.hash });
                    break;
                }
                Err(_) => scan.torn.insert(0, torn_ref(start + from as u64, bytes)),
            }
            end = from;
        }
        if scan.head.is_some() || start == 0 || scan.torn.len() > MAX_TORN {
            scan.torn.truncate(MAX_TORN);
            return Ok(scan);
        }
        window = window.saturating_mul(4);
    }
}

fn torn_ref(offset: u64, bytes: &[u8]) -> TornRef {
    TornRef { offset, bytes: bytes.len() as u64, sha256: chain::sha256_hex(bytes) }
}

#[cfg(test)]
pub(crate) mod test_support {
    use std::time::{Duration, SystemTime};

    use super::*;

    /// 2026-11-25T10:00:00Z plus `secs`.
    pub(crate) fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_600_800 + secs)
    }

    pub(crate) fn config(dir: &Path) -> EvidenceConfig {
        EvidenceConfig { dir: dir.to_path_buf(), max_file_bytes: 4096, ..EvidenceConfig::default() }
    }

    pub(crate) fn record(i: u64) -> Record {
        let args = serde_json::value::RawValue::from_string(format!(r#"{{"q":"query {i}","api_key":"k{i}"}}"#));
        Record {
            correlation_id: Some(format!("c-{i}").into()),
            server: Some("brave".into()),
            outcome: Some("ok".into()),
            duration_ms: Some(1.5),
            attempts: Some(1),
            cache_hit: Some(false),
            arguments: args.ok(),
            ..Record::call("ext.brave.search")
        }
    }

    /// Writes `n` records starting at `at(0)`, one second apart, and closes the writer.
    pub(crate) fn write_n(dir: &Path, n: u64) -> WriterStats {
        let mut w = Writer::open(&config(dir), at(0)).unwrap();
        for i in 0..n {
            w.append(&record(i), at(i)).unwrap();
        }
        w.close().unwrap();
        w.stats()
    }

    pub(crate) fn files(dir: &Path) -> Vec<PathBuf> {
        list_files(dir).unwrap().into_iter().map(|(_, p)| p).collect()
    }

    pub(crate) fn lines(path: &Path) -> Vec<String> {
        std::fs::read_to_string(path).unwrap().lines().map(str::to_owned).collect()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::test_support::*;
    use super::*;
    use crate::evidence::verify;

    #[test]
    fn every_member_is_written_and_reads_back_as_given() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = Writer::open(&config(dir.path()), at(0)).unwrap();
        let rec = Record {
            correlation_id: Some("c-1".into()),
            client: Some("Claude \"Desktop\"".into()),
            rule: Some("policies/a.toml:3".into()),
            decision: Some("fallback".into()),
            cache_hit: Some(true),
            coalesced_with: Some("c-0".into()),
            server: Some("brave".into()),
            attempts: Some(2),
            duration_ms: Some(12.345678),
            outcome: Some("tool_error".into()),
            error: Some("line one\nline two\t✓".into()),
            arguments: serde_json::value::RawValue::from_string(r#"{"q":"ü","n":[1,2]}"#.into()).ok(),
            result: Some(bytes::Bytes::from_static(b"{\"content\":[]}")),
            time: at(1),
            ..Record::call("ext.brave.search")
        };
        w.append(&rec, at(1)).unwrap();
        w.append(&Record { arguments_omitted_bytes: Some(70_000), ..Record::decision("app.x.y", "deny") }, at(2))
            .unwrap();
        w.close().unwrap();
        let lines = lines(&files(dir.path())[0]);
        let v: serde_json::Value = serde_json::from_str(&lines[1]).unwrap();
        let expected = serde_json::json!({
            "seq": 2, "time": "2026-11-25T10:00:01.000000Z", "kind": "call", "correlation_id": "c-1",
            "client": "Claude \"Desktop\"", "tool": "ext.brave.search", "rule": "policies/a.toml:3",
            "decision": "fallback", "cache_hit": true, "coalesced_with": "c-0", "server": "brave", "attempts": 2,
            "duration_ms": 12.346, "outcome": "tool_error", "error": "line one\nline two\t✓",
            "arguments": {"q": "ü", "n": [1, 2]}, "result_digest": chain::sha256_hex(b"{\"content\":[]}"),
            "prev": v["prev"], "hash": v["hash"],
        });
        assert_eq!(v, expected);
        let v: serde_json::Value = serde_json::from_str(&lines[2]).unwrap();
        assert_eq!((v["kind"].as_str(), v["decision"].as_str()), (Some("decision"), Some("deny")));
        assert_eq!(v["arguments_omitted_bytes"], 70_000);
        assert!(verify(dir.path()).unwrap().is_ok());
    }

    #[test]
    fn records_chain_across_size_rotations_and_are_redacted() {
        let dir = tempfile::tempdir().unwrap();
        let stats = write_n(dir.path(), 100);
        let files = files(dir.path());
        assert!(files.len() > 3, "4 KiB files must rotate: {files:?}");
        assert!(files[1].ends_with("evidence-2026-11-25-1.jsonl"), "{files:?}");
        for f in &files {
            assert!(std::fs::metadata(f).unwrap().len() <= 4096);
            assert!(lines(f)[0].contains("\"kind\":\"genesis\""));
        }
        let all: Vec<String> = files.iter().flat_map(|f| lines(f)).collect();
        assert_eq!(all.len() as u64, 100 + files.len() as u64);
        assert!(!all.iter().any(|l| l.contains("\"k7\"")), "api_key values are redacted");
        assert!(all.iter().any(|l| l.contains(r#""arguments":{"q":"query 7","api_key":"[REDACTED]"}"#)));

        let report = verify(dir.path()).unwrap();
        assert!(report.is_ok(), "{report}");
        assert_eq!(report.records, 100 + files.len() as u64);
        assert_eq!(report.head.as_ref().map(|h| (h.seq, h.hash.clone())), Some((stats.seq, stats.head)));
    }

    #[test]
    fn batched_lines_reach_the_file_at_flush_in_order_and_verify() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = Writer::open(&config(dir.path()), at(1_000)).unwrap();
        w.set_batching(true);
        for i in 0..5 {
            w.append(&record(i), at(1_000 + i)).unwrap();
        }
        let on_disk = |d: &Path| files(d).iter().map(|f| lines(f).len()).sum::<usize>();
        assert_eq!(on_disk(dir.path()), 0, "nothing is written before the flush");
        w.flush().unwrap();
        assert_eq!(on_disk(dir.path()), 6, "genesis and five records");
        assert_eq!((w.stats().written, w.take_lost()), (6, 0));
        w.close().unwrap();
        assert!(crate::evidence::verify(dir.path()).unwrap().is_ok());
    }

    #[test]
    fn a_new_day_starts_a_new_file_linked_to_the_last() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = Writer::open(&config(dir.path()), at(0)).unwrap();
        w.append(&record(1), at(0)).unwrap();
        w.append(&record(2), at(86_400)).unwrap();
        // A clock that steps back does not reorder files.
        w.append(&record(3), at(0)).unwrap();
        w.close().unwrap();
        let names: Vec<String> =
            files(dir.path()).iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
        assert_eq!(names, ["evidence-2026-11-25.jsonl", "evidence-2026-11-26.jsonl"]);
        let report = verify(dir.path()).unwrap();
        assert!(report.is_ok(), "{report}");
        assert_eq!(report.records, 5);
    }

    #[test]
    fn retention_prunes_the_oldest_files_by_size_and_age_and_the_rest_verifies() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = EvidenceConfig { max_total_bytes: Some(3 * 4096), max_age: None, ..config(dir.path()) };
        let mut w = Writer::open(&cfg, at(0)).unwrap();
        for i in 0..200 {
            w.append(&record(i), at(i)).unwrap();
            let total: u64 = files(dir.path()).iter().map(|f| std::fs::metadata(f).unwrap().len()).sum();
            // Checked at each rotation: at most the bound plus the file being filled.
            assert!(total <= 4 * 4096, "{total} bytes after record {i}");
        }
        w.close().unwrap();
        assert!(w.stats().pruned > 10, "{:?}", w.stats());
        let names: Vec<String> =
            files(dir.path()).iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
        assert!(!names.contains(&"evidence-2026-11-25.jsonl".to_owned()), "the oldest go first: {names:?}");
        let report = verify(dir.path()).unwrap();
        assert!(report.is_ok(), "{report}");
        assert!(report.first_seq.unwrap() > 1 && report.notes[0].contains("pruned"), "{report}");
        assert_eq!(report.head.map(|h| h.seq), Some(w.stats().seq));
        drop(w);

        // By age: a file whose day ended more than `max_age` ago goes at the next rotation or start; the newest
        // never does.
        let dir = tempfile::tempdir().unwrap();
        let day = 86_400;
        let cfg = EvidenceConfig { max_age: Some(Duration::from_secs(2 * day)), ..config(dir.path()) };
        let mut w = Writer::open(&cfg, at(0)).unwrap();
        for d in 0..4 {
            w.append(&record(d), at(d * day)).unwrap();
        }
        w.close().unwrap();
        drop(w);
        // The rotation into the fourth day pruned the first.
        let names: Vec<String> =
            files(dir.path()).iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
        assert_eq!(names, ["evidence-2026-11-26.jsonl", "evidence-2026-11-27.jsonl", "evidence-2026-11-28.jsonl"]);
        assert!(verify(dir.path()).unwrap().is_ok());
        let w = Writer::open(&cfg, at(300 * day)).unwrap();
        assert_eq!(files(dir.path()).len(), 1, "the newest file is kept whatever its age");
        drop(w);
        assert!(verify(dir.path()).unwrap().is_ok());
    }

    #[test]
    fn a_clock_before_1970_or_a_cutoff_before_it_does_not_panic() {
        assert_eq!(day_of(SystemTime::UNIX_EPOCH - Duration::from_secs(5)), "1970-01-01");
        let dir = tempfile::tempdir().unwrap();
        let mut w = Writer::open(&config(dir.path()), SystemTime::UNIX_EPOCH).unwrap();
        w.append(&record(0), SystemTime::UNIX_EPOCH + Duration::from_secs(86_400)).unwrap();
        w.close().unwrap();
        assert!(verify(dir.path()).unwrap().is_ok());
    }

    #[test]
    fn reopening_continues_the_chain_in_the_same_file() {
        let dir = tempfile::tempdir().unwrap();
        let first = write_n(dir.path(), 3);
        let mut w = Writer::open(&config(dir.path()), at(10)).unwrap();
        assert_eq!((w.stats().seq, w.stats().head), (first.seq, first.head));
        w.append(&record(9), at(10)).unwrap();
        w.close().unwrap();
        assert_eq!(files(dir.path()).len(), 1);
        assert!(verify(dir.path()).unwrap().is_ok());
    }

    #[test]
    fn resume_after_a_torn_tail_repairs_and_keeps_the_chain_verifiable() {
        let dir = tempfile::tempdir().unwrap();
        write_n(dir.path(), 5);
        let path = files(dir.path()).pop().unwrap();
        let full = std::fs::read(&path).unwrap();
        // kill -9 in the middle of the last write.
        std::fs::write(&path, &full[..full.len() - 40]).unwrap();
        let torn_report = verify(dir.path()).unwrap();
        assert!(torn_report.is_ok(), "{torn_report}");
        assert!(torn_report.torn_tail.is_some());

        let mut w = Writer::open(&config(dir.path()), at(20)).unwrap();
        assert_eq!(w.stats().repairs, 1);
        // Genesis + 4 intact records, then the repair linking to the 4th.
        assert_eq!(w.stats().seq, 6);
        w.append(&record(6), at(20)).unwrap();
        w.close().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.ends_with('\n'));
        let lines = lines(&path);
        assert!(lines[lines.len() - 2].contains("\"kind\":\"repair\""), "{text}");
        let report = verify(dir.path()).unwrap();
        assert!(report.is_ok(), "{report}");
        assert_eq!(report.repairs.len(), 1);
        assert!(report.torn_tail.is_none());
    }

    #[test]
    fn a_record_that_only_lost_its_newline_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        write_n(dir.path(), 2);
        let path = files(dir.path()).pop().unwrap();
        let full = std::fs::read(&path).unwrap();
        std::fs::write(&path, &full[..full.len() - 1]).unwrap();
        let mut w = Writer::open(&config(dir.path()), at(5)).unwrap();
        assert_eq!((w.stats().repairs, w.stats().seq), (0, 3));
        w.append(&record(3), at(5)).unwrap();
        w.close().unwrap();
        let report = verify(dir.path()).unwrap();
        assert!(report.is_ok() && report.records == 4, "{report}");
    }

    #[test]
    fn a_torn_genesis_links_the_repair_to_the_previous_file() {
        let dir = tempfile::tempdir().unwrap();
        write_n(dir.path(), 1);
        // A rotation cut off while writing the new file's genesis.
        std::fs::write(dir.path().join("evidence-2026-11-25-1.jsonl"), br#"{"seq":3,"time":"2026-11"#).unwrap();
        assert!(verify(dir.path()).unwrap().is_ok());
        let mut w = Writer::open(&config(dir.path()), at(5)).unwrap();
        w.append(&record(2), at(5)).unwrap();
        w.close().unwrap();
        let report = verify(dir.path()).unwrap();
        assert!(report.is_ok(), "{report}");
        assert_eq!(report.repairs.len(), 1);
        drop(w);

        // An empty newest file (cut before its genesis) simply receives it.
        std::fs::write(dir.path().join("evidence-2026-11-25-2.jsonl"), b"").unwrap();
        let mut w = Writer::open(&config(dir.path()), at(6)).unwrap();
        w.append(&record(3), at(6)).unwrap();
        w.close().unwrap();
        let report = verify(dir.path()).unwrap();
        assert!(report.is_ok(), "{report}");
        assert_eq!(lines(&dir.path().join("evidence-2026-11-25-2.jsonl")).len(), 2);
    }

    #[test]
    fn a_repair_cut_off_by_a_second_crash_is_repaired_whole() {
        let dir = tempfile::tempdir().unwrap();
        write_n(dir.path(), 3);
        let path = files(dir.path()).pop().unwrap();
        let full = std::fs::read(&path).unwrap();
        // Torn record, its newline written by the repair, then the repair record itself torn.
        let mut damaged = full[..full.len() - 30].to_vec();
        damaged.extend_from_slice(b"\n{\"seq\":4,\"time\":\"2026-11-25T");
        std::fs::write(&path, &damaged).unwrap();
        let mut w = Writer::open(&config(dir.path()), at(9)).unwrap();
        w.append(&record(4), at(9)).unwrap();
        w.close().unwrap();
        let report = verify(dir.path()).unwrap();
        assert!(report.is_ok(), "{report}");
        assert_eq!(report.repairs.len(), 2, "one repair record vouches for both torn lines");
        assert_eq!(w.stats().repairs, 1);
    }

    #[test]
    fn a_removed_directory_is_recreated_and_the_gap_shows() {
        let dir = tempfile::tempdir().unwrap();
        let evidence = dir.path().join("evidence");
        let mut w = Writer::open(&config(&evidence), at(0)).unwrap();
        w.append(&record(1), at(0)).unwrap();
        std::fs::remove_dir_all(&evidence).unwrap();
        // The write goes to the unlinked file; the failure is noticed when a new file is needed.
        let _ = w.append(&record(2), at(86_400));
        w.append(&record(3), at(86_400)).unwrap();
        w.close().unwrap();
        let report = verify(&evidence).unwrap();
        assert!(report.is_ok(), "{report}");
        assert!(report.notes.iter().any(|n| n.contains("pruned")), "{report}");
    }

    #[test]
    fn concurrent_writers_each_get_a_lane_of_their_own_and_every_chain_verifies() {
        let dir = tempfile::tempdir().unwrap();
        let mut writers: Vec<Writer> = (0..3).map(|_| Writer::open(&config(dir.path()), at(0)).unwrap()).collect();
        let dirs: Vec<PathBuf> = writers.iter().map(|w| w.dir.clone()).collect();
        assert_eq!(dirs, [dir.path().to_path_buf(), dir.path().join("lane-1"), dir.path().join("lane-2")]);
        for i in 0..30 {
            writers[(i % 3) as usize].append(&record(i), at(i)).unwrap();
        }
        for w in &mut writers {
            w.close().unwrap();
        }
        let report = verify(dir.path()).unwrap();
        assert!(report.is_ok(), "{report}");
        assert_eq!(report.lanes.len(), 2, "{report}");
        // The lane is continued by whichever writer takes it next; a lane freed is taken before a new one.
        let lane_1 = writers.remove(1).stats();
        let again = Writer::open(&config(dir.path()), at(40)).unwrap();
        assert_eq!(again.dir, dir.path().join("lane-1"));
        assert_eq!((again.stats().seq, again.stats().head), (lane_1.seq, lane_1.head));

        // Damage in a lane is reported like damage in the main chain.
        drop(again);
        drop(writers);
        let lane = files(&dir.path().join("lane-2"))[0].clone();
        let text = std::fs::read_to_string(&lane).unwrap().replace("query 5", "query 6");
        std::fs::write(&lane, text).unwrap();
        let report = verify(dir.path()).unwrap();
        assert!(!report.is_ok() && report.to_string().contains("BROKEN"), "{report}");
    }

    #[test]
    fn secret_values_are_scrubbed_from_errors_and_arguments() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = EvidenceConfig { secret_values: vec!["ghp_abcdefghijkl".into()], ..config(dir.path()) };
        let mut w = Writer::open(&cfg, at(0)).unwrap();
        let args = serde_json::value::RawValue::from_string(
            r#"{"repo":"x",
            "note":"token ghp_abcdefghijkl"}"#
                .to_owned(),
        )
        .unwrap();
        let rec = Record { error: Some("401 with ghp_abcdefghijkl".into()), arguments: Some(args), ..record(0) };
        w.append(&rec, at(0)).unwrap();
        w.close().unwrap();
        let text = std::fs::read_to_string(&files(dir.path())[0]).unwrap();
        assert!(!text.contains("ghp_abcdefghijkl"), "{text}");
        assert!(text.contains(r#""error":"401 with [REDACTED]""#), "{text}");
        assert_eq!(text.lines().count(), 2, "multi-line raw arguments still make one line");
    }
}

/// The writer and `verify` agree on every record the writer can produce, whatever JSON a client sends as
/// arguments, and a restart never takes a complete record for a torn one.
#[cfg(test)]
mod hostile_arguments {
    use proptest::prelude::*;
    use serde_json::value::RawValue;

    use super::test_support::*;
    use super::*;
    use crate::evidence::verify;

    /// A value nobody may find in the trail: it only ever sits under secret keys.
    const MARKER: &str = "s3cr3t-under-a-secret-key";

    /// Valid JSON whitespace, line breaks included (the writer must still make one line of it).
    fn ws() -> impl Strategy<Value = String> {
        prop::collection::vec(prop::sample::select(vec![' ', '\t', '\n', '\r']), 0..3)
            .prop_map(|v| v.into_iter().collect())
    }

    /// Numbers in every spelling JSON allows, far beyond an f64 (`1e400`, 40 digits) as well.
    fn number() -> impl Strategy<Value = String> {
        "-?(0|[1-9][0-9]{0,40})(\\.[0-9]{1,20})?([eE][+-]?[0-9]{1,4})?"
    }

    /// One string token: any text, with any character escaped in any way JSON allows (lone surrogates too).
    fn string() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            any::<char>().prop_map(|c| {
                let quoted = serde_json::to_string(&c.to_string()).unwrap();
                quoted[1..quoted.len() - 1].to_owned()
            }),
            any::<char>().prop_map(|c| {
                let mut units = [0u16; 2];
                c.encode_utf16(&mut units).iter().map(|u| format!("\\u{u:04x}")).collect()
            }),
            prop::sample::select(vec!["\\\"", "\\\\", "\\/", "\\b", "\\f", "\\n", "\\r", "\\t", "\\ud800", "\\uDFFF"])
                .prop_map(str::to_owned),
            "[a-z ]{0,12}",
        ];
        prop::collection::vec(piece, 0..6).prop_map(|p| format!("\"{}\"", p.concat()))
    }

    fn leaf() -> impl Strategy<Value = String> {
        prop_oneof![number(), string(), Just("true".into()), Just("false".into()), Just("null".into())]
    }

    /// A key: often an ordinary one, sometimes a secret one in some spelling (whose value is then [`MARKER`]).
    fn key() -> impl Strategy<Value = (String, bool)> {
        prop_oneof![
            4 => string().prop_map(|k| (k, false)),
            1 => prop::sample::select(vec!["apiKey", "x-api-key", "PASSWORD", "client_secret", "session-id"])
                .prop_map(|k| (format!("\"{k}\""), true)),
        ]
    }

    fn value() -> impl Strategy<Value = String> {
        leaf().prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec((ws(), inner.clone(), ws()), 0..6).prop_map(|items| format!(
                    "[{}]",
                    items.iter().map(|(a, v, b)| format!("{a}{v}{b}")).collect::<Vec<_>>().join(",")
                )),
                prop::collection::vec((key(), ws(), inner), 0..6).prop_map(|members| {
                    let members: Vec<String> = members
                        .iter()
                        .map(|((k, secret), w, v)| {
                            let v = if *secret { format!("\"{MARKER}\"") } else { v.clone() };
                            format!("{w}{k}{w}:{w}{v}{w}")
                        })
                        .collect();
                    format!("{{{}}}", members.join(","))
                }),
            ]
        })
    }

    /// A value, then wrapped in arrays or objects far deeper than any JSON library's recursion limit.
    fn arguments() -> impl Strategy<Value = String> {
        (value(), prop::collection::vec(any::<bool>(), 0..400)).prop_map(|(mut v, wraps)| {
            for object in wraps {
                v = if object { format!("{{\"k\":{v}}}") } else { format!("[{v}]") };
            }
            v
        })
    }

    /// `text` without the whitespace between tokens.
    fn squeeze(text: &str) -> String {
        let (mut out, mut in_string, mut escaped) = (String::new(), false, false);
        for c in text.chars() {
            if in_string {
                in_string = escaped || c != '"';
                escaped = !escaped && c == '\\';
            } else if c == '"' {
                in_string = true;
            } else if c.is_ascii_whitespace() {
                continue;
            }
            out.push(c);
        }
        out
    }

    /// Records `args` as the last record of a trail, checks it verifies, restarts the writer, and returns the
    /// line's `arguments` member.
    fn record_verify_restart(args: &str) -> Result<String, TestCaseError> {
        let dir = tempfile::tempdir().unwrap();
        let raw = RawValue::from_string(args.to_owned()).map_err(|e| TestCaseError::fail(format!("{e}")))?;
        let cfg = EvidenceConfig { max_file_bytes: 64 * 1024 * 1024, ..config(dir.path()) };
        let mut w = Writer::open(&cfg, at(0)).unwrap();
        w.append(&Record { arguments: Some(raw), ..Record::call("app.x.y") }, at(1)).unwrap();
        w.close().unwrap();
        let report = verify(dir.path()).unwrap();
        prop_assert!(report.is_ok() && report.torn_tail.is_none() && report.records == 2, "{report}");
        let text = std::fs::read_to_string(&files(dir.path())[0]).unwrap();
        prop_assert_eq!(text.lines().count(), 2);
        prop_assert!(!text.contains(MARKER));
        drop(w);

        // The complete last record with odd JSON survives a restart: no repair, the chain goes on from it.
        let mut w = Writer::open(&cfg, at(2)).unwrap();
        prop_assert_eq!((w.stats().repairs, w.stats().seq), (0, 2));
        w.append(&record(1), at(2)).unwrap();
        w.close().unwrap();
        let after = std::fs::read_to_string(&files(dir.path())[0]).unwrap();
        prop_assert!(after.starts_with(&text), "the record must be kept byte for byte");
        let report = verify(dir.path()).unwrap();
        prop_assert!(report.is_ok() && report.records == 3, "{report}");

        let line = text.lines().nth(1).unwrap();
        let start = line.find(",\"arguments\":").unwrap() + ",\"arguments\":".len();
        let end = line.rfind(",\"prev\":").unwrap();
        Ok(line[start..end].to_owned())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        #[test]
        fn any_arguments_are_recorded_verifiably_and_as_sent(args in arguments()) {
            let written = record_verify_restart(&args)?;
            if args.contains(MARKER) {
                prop_assert_eq!(squeeze(&written), squeeze(&args).replace(&format!("\"{MARKER}\""), "\"[REDACTED]\""));
            } else {
                prop_assert_eq!(squeeze(&written), squeeze(&args));
            }
        }
    }

    /// Any text a record's members can hold: control characters, quotes, backslashes, any Unicode.
    fn text() -> impl Strategy<Value = String> {
        prop_oneof![any::<String>(), "[\\u{0}-\\u{1f}\"\\\\ a-z]{0,12}", Just(String::new())]
    }

    fn record_strategy() -> impl Strategy<Value = Record> {
        (
            (any::<bool>(), prop::option::of(text()), prop::option::of(text()), prop::option::of(text())),
            (
                prop::option::of(text()),
                prop::option::of(text()),
                prop::option::of(any::<bool>()),
                prop::option::of(any::<u32>()),
            ),
            (prop::option::of(any::<f64>()), prop::option::of(text()), prop::option::of(arguments())),
            (prop::option::of(any::<usize>()), prop::option::of(prop::collection::vec(any::<u8>(), 0..64))),
            0u64..4_000_000_000,
        )
            .prop_map(
                |(
                    (call, id, client, rule),
                    (error, server, hit, attempts),
                    (ms, outcome, args),
                    (omitted, result),
                    t,
                )| {
                    let base = if call { Record::call("ext.x.y") } else { Record::decision("app.x.y", "deny") };
                    Record {
                        time: SystemTime::UNIX_EPOCH + std::time::Duration::from_micros(t * 1_000_003),
                        correlation_id: id.map(Into::into),
                        client: client.map(Into::into),
                        rule: rule.map(Into::into),
                        error: error.map(Into::into),
                        server: server.map(Into::into),
                        cache_hit: hit,
                        attempts,
                        duration_ms: ms,
                        outcome: outcome.map(Into::into),
                        arguments: args.and_then(|a| RawValue::from_string(a).ok()),
                        arguments_omitted_bytes: omitted,
                        result: result.map(bytes::Bytes::from),
                        ..base
                    }
                },
            )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Whole records, every member arbitrary, written across rotations: the trail verifies, holds one line per
        /// record, and each text member reads back exactly as given.
        #[test]
        fn any_records_verify_and_their_text_reads_back(records in prop::collection::vec(record_strategy(), 1..12)) {
            let dir = tempfile::tempdir().unwrap();
            // Retention off: the record times span decades, and pruning is tested on its own.
            let cfg = EvidenceConfig { max_age: None, ..config(dir.path()) };
            let mut w = Writer::open(&cfg, at(0)).unwrap();
            for rec in &records {
                w.append(rec, rec.time).unwrap();
            }
            w.close().unwrap();
            let report = verify(dir.path()).unwrap();
            prop_assert!(report.is_ok() && report.torn_tail.is_none(), "{}", report);
            let lines: Vec<String> = files(dir.path()).iter().flat_map(|f| lines(f)).collect();
            let written: Vec<&String> =
                lines.iter().filter(|l| !l.contains("\"kind\":\"genesis\"")).collect();
            prop_assert_eq!(written.len(), records.len());
            prop_assert_eq!(report.records, lines.len() as u64);
            for (line, rec) in written.iter().zip(&records) {
                // Read back through the members verify reads plus the text ones (arguments skipped unparsed).
                #[derive(serde::Deserialize)]
                struct Back {
                    correlation_id: Option<String>,
                    client: Option<String>,
                    rule: Option<String>,
                    error: Option<String>,
                    server: Option<String>,
                    outcome: Option<String>,
                    duration_ms: Option<serde::de::IgnoredAny>,
                    result_digest: Option<String>,
                }
                let back: Back = serde_json::from_str(line).map_err(|e| TestCaseError::fail(format!("{e}: {line}")))?;
                let same = |a: &Option<String>, b: &Option<super::super::Text>| a.as_deref() == b.as_deref();
                prop_assert!(same(&back.correlation_id, &rec.correlation_id) && same(&back.client, &rec.client));
                prop_assert!(same(&back.rule, &rec.rule) && same(&back.error, &rec.error));
                prop_assert!(same(&back.server, &rec.server) && same(&back.outcome, &rec.outcome));
                let finite = rec.duration_ms.is_some_and(|d| d.is_finite() && d >= 0.0);
                prop_assert_eq!(back.duration_ms.is_some(), finite);
                prop_assert_eq!(back.result_digest, rec.result.as_ref().map(|r| chain::sha256_hex(r)));
            }
        }
    }

    #[test]
    fn numbers_beyond_f64_and_nesting_beyond_serde_limits_verify_and_survive_restart() {
        let deep = format!("{}1{}", "[".repeat(3000), "]".repeat(3000));
        for args in [
            r#"{"n":1e400}"#.to_owned(),
            r#"{"n":-1E+400,"password":"p"}"#.to_owned(),
            "{\"n\":\n123456789012345678901234567890.5e-999}".to_owned(),
            format!("{{\"d\":{deep}}}"),
            format!("{{\"d\":{deep},\"apiKey\":\"{MARKER}\"}}"),
        ] {
            let written = record_verify_restart(&args).unwrap();
            assert!(squeeze(&written).starts_with(&squeeze(&args)[..5]), "{written:.80}");
        }
    }
}
