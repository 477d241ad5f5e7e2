//! Evidence: the audit trail in `_federation/evidence/*.jsonl`. One JSON line per call and per policy decision,
//! appended by one writer (records arriving within `flush_interval` share one write), rotated by day and size,
//! redacted, and hash-chained so that an
//! altered, removed or reordered record is detectable with [`verify()`].
//!
//! # Layout
//!
//! - this file: the [`Record`] callers fill in, the [`EvidenceConfig`], the [`EvidenceError`].
//! - [`chain`]: the line format (the hash covers the line's own bytes) and the file names.
//! - [`redact`]: secret keys and secret values taken out of arguments and error texts.
//! - [`writer`]: the synchronous, single-owner file writer: resume after a crash, repair, rotation.
//! - [`verify`](mod@verify): walks every file and reports the first broken link or torn record.
//! - [`queue`]: the asynchronous side: the bounded queue that never blocks a call, and the drain the writer
//!   thread runs (the thread itself is owned by `actors::evidence`, which restarts it if it panics).
//!
//! # The chain
//!
//! Every file opens with a `genesis` record whose `prev` is the last hash of the file before it (all zeros for
//! the first file ever), every record's `prev` is the hash of the line before it, and `seq` counts up by one
//! across files. Writer-made records besides genesis: `dropped` (records that never reached the file, with their
//! count, so a gap is visible in the file itself) and `repair` (written on start-up after a crash cut a line off:
//! the torn line is terminated and the repair names its offset, length and SHA-256, then the chain continues from
//! the last complete record).
//!
//! A chain proves the order and integrity of what is there; someone able to rewrite a file can rewrite its whole
//! tail consistently. The writer logs the chain head (`seq`, `hash`) at rotation and shutdown so an operator can
//! anchor it elsewhere.
//!
//! Several gateway processes may share one directory (each desktop client launching its own gateway on one
//! configuration): the first holds the main chain, each further one takes a lane (`lane-N/`, a chain of its own,
//! continued by whichever instance takes it next), and [`verify()`] checks every chain.
//!
//! Retention prunes the oldest files by age and by total size (`max_age`, `max_total_bytes`): the oldest
//! remaining file's genesis then links to a hash that is not present, which [`verify()`] reports as a note, not
//! as breakage, and the chain is proved from that file on (its genesis anchors it to the hash it continues from).

pub(crate) mod chain;
mod encode;
pub(crate) mod queue;
pub(crate) mod redact;
pub(crate) mod verify;
pub(crate) mod writer;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use serde_json::value::RawValue;

pub(crate) use chain::sha256_hex;
pub(crate) use queue::EvidenceHandle;
#[cfg(test)]
pub(crate) use queue::EvidenceStats;
pub(crate) use redact::Redactor;
pub use verify::{verify, VerifyReport};
pub use writer::{Writer, WriterStats};

/// Errors of the evidence trail. Expected per-record failures are counted, not returned: only start-up, the
/// configuration and `verify` itself return these.
#[derive(Debug, thiserror::Error)]
pub enum EvidenceError {
    #[error("evidence: {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("evidence configuration: {0}")]
    Config(String),
    #[error(
        "evidence: {dir} and all its lanes are in use by other dfs-gateway processes (pid {holder} holds the main chain); give some instances their own state_dir"
    )]
    Locked { dir: PathBuf, holder: String },
    #[error("the evidence writer has stopped; records can no longer be written")]
    Closed,
    #[error("cannot start the evidence writer: {0}")]
    Spawn(String),
}

impl EvidenceError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> EvidenceError {
        let path = path.into();
        move |source| EvidenceError::Io { path, source }
    }
}

/// The evidence actor's configuration. `Default` is what the gateway runs with when nothing is configured.
#[derive(Clone)]
pub struct EvidenceConfig {
    /// Where the `evidence-*.jsonl` files go; created if missing. Default `_federation/evidence` (the gateway
    /// passes `<state_dir>/evidence`).
    pub dir: PathBuf,
    /// A file that would grow past this many bytes is closed and the next one (`-1`, `-2`, ...) begun, so no
    /// single file grows without bound on a busy day. Default 64 MiB.
    pub max_file_bytes: u64,
    /// Records waiting for the writer at most; past that, records are dropped and counted, because a call must
    /// never wait for the audit trail. Default 4096.
    pub queue_capacity: usize,
    /// Longest a record may wait in the writer before its line is written: records arriving within this window
    /// share one `write`. Zero writes each record as soon as the queue runs dry. Default 1 ms: at 100,000 calls
    /// a second that is one write per ~100 records instead of one each, and a crash loses at most this much.
    pub flush_interval: std::time::Duration,
    /// Arguments larger than this are not copied into the record (only their size is); bounds the memory a full
    /// queue can hold. Default 64 KiB.
    pub max_argument_bytes: usize,
    /// Argument and result bytes the queue may hold in all. Results are digested by the writer, off the call
    /// path; past this budget a result is digested by the caller instead (and arguments are omitted), so memory
    /// stays bounded however large the payloads. Default 32 MiB.
    pub max_queued_bytes: usize,
    /// Patterns of argument keys whose values are replaced by `[REDACTED]` at any depth. Matched on the
    /// spelling-insensitive form (lower case, letters and digits only: `X-Api-Key` and `apiKey` both read
    /// `apikey`) as substrings.
    /// Default [`redact::DEFAULT_KEYS`].
    pub redact_keys: Vec<String>,
    /// Names of environment variables whose values are secrets; read once at start-up (see [`crate::scrub`]).
    /// Default: the API keys of the bundled shims plus the database and Redis URLs (which may hold passwords).
    pub secret_env: Vec<String>,
    /// Files whose day (UTC, from the name) ended longer ago than this are deleted at start-up and at each
    /// rotation; `None` keeps them forever. The newest file is never deleted. Default 30 days.
    pub max_age: Option<std::time::Duration>,
    /// The oldest files are deleted (at start-up and at each rotation) while all the evidence files together
    /// hold more than this; `None`: no size bound. The newest file is never deleted. Default 1 GiB.
    pub max_total_bytes: Option<u64>,
    /// When records cannot be written (a full or failing disk, the writer stopped, the queue full), calls are
    /// refused with a clear error until writing recovers, instead of going on unrecorded (counted as dropped).
    /// Default false.
    pub fail_closed: bool,
    /// Secret values blanked out of every string in a record (arguments, error texts): the values of
    /// `secret_env` and of the servers' `env` entries, the same set client errors and logs are scrubbed of
    /// (filled by the gateway at start-up; tests may set them directly). Never printed.
    pub secret_values: Vec<String>,
}

impl Default for EvidenceConfig {
    fn default() -> Self {
        EvidenceConfig {
            dir: PathBuf::from("_federation/evidence"),
            max_file_bytes: 64 * 1024 * 1024,
            queue_capacity: 4096,
            flush_interval: std::time::Duration::from_millis(1),
            max_argument_bytes: 64 * 1024,
            max_queued_bytes: 32 * 1024 * 1024,
            redact_keys: redact::DEFAULT_KEYS.iter().map(|k| (*k).to_owned()).collect(),
            secret_env: ["BRAVE_API_KEY", "GITHUB_PERSONAL_ACCESS_TOKEN", "GITHUB_TOKEN", "DATABASE_URL", "REDIS_URL"]
                .iter()
                .map(|k| (*k).to_owned())
                .collect(),
            secret_values: Vec::new(),
            max_age: Some(std::time::Duration::from_secs(30 * 86_400)),
            max_total_bytes: Some(1024 * 1024 * 1024),
            fail_closed: false,
        }
    }
}

impl std::fmt::Debug for EvidenceConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EvidenceConfig")
            .field("dir", &self.dir)
            .field("max_file_bytes", &self.max_file_bytes)
            .field("queue_capacity", &self.queue_capacity)
            .field("flush_interval", &self.flush_interval)
            .field("max_argument_bytes", &self.max_argument_bytes)
            .field("max_queued_bytes", &self.max_queued_bytes)
            .field("redact_keys", &self.redact_keys)
            .field("secret_env", &self.secret_env)
            .field("max_age", &self.max_age)
            .field("max_total_bytes", &self.max_total_bytes)
            .field("fail_closed", &self.fail_closed)
            .field("secret_values", &format_args!("[{} hidden]", self.secret_values.len()))
            .finish()
    }
}

impl EvidenceConfig {
    /// The smallest `max_file_bytes` accepted: below it, rotation would churn through files.
    pub(crate) const MIN_FILE_BYTES: u64 = 4096;

    /// Checks the bounds; returns the configuration unchanged when they hold.
    pub(crate) fn validate(self) -> Result<Self, EvidenceError> {
        if self.max_file_bytes < Self::MIN_FILE_BYTES {
            return Err(EvidenceError::Config(format!(
                "max_file_bytes = {} is below the minimum of {} bytes",
                self.max_file_bytes,
                Self::MIN_FILE_BYTES
            )));
        }
        if self.max_queued_bytes < self.max_argument_bytes {
            return Err(EvidenceError::Config(format!(
                "max_queued_bytes = {} must be at least max_argument_bytes = {}",
                self.max_queued_bytes, self.max_argument_bytes
            )));
        }
        if self.queue_capacity == 0 {
            return Err(EvidenceError::Config("queue_capacity must be at least 1".into()));
        }
        if self.max_total_bytes.is_some_and(|m| m < 2 * self.max_file_bytes) {
            return Err(EvidenceError::Config(format!(
                "max_total_bytes = {} must be at least twice max_file_bytes = {} (the newest file is always kept)",
                self.max_total_bytes.unwrap_or_default(),
                self.max_file_bytes
            )));
        }
        if self.dir.as_os_str().is_empty() {
            return Err(EvidenceError::Config("dir must not be empty".into()));
        }
        Ok(self)
    }

    pub(crate) fn redactor(&self) -> Redactor {
        Redactor::new(&self.redact_keys, &self.secret_values)
    }
}

/// A text member of a [`Record`]. The gateway's fixed words are borrowed and the names it holds anyway are
/// shared, so filling in a record on the call path copies pointers rather than text; only what is made for the
/// record (an id, an error message) is owned. Reads as a `&str`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Text {
    Static(&'static str),
    Shared(Arc<str>),
    Owned(String),
}

impl std::ops::Deref for Text {
    type Target = str;

    fn deref(&self) -> &str {
        match self {
            Text::Static(s) => s,
            Text::Shared(s) => s,
            Text::Owned(s) => s,
        }
    }
}

impl From<&'static str> for Text {
    fn from(s: &'static str) -> Text {
        Text::Static(s)
    }
}

impl From<String> for Text {
    fn from(s: String) -> Text {
        Text::Owned(s)
    }
}

impl From<Arc<str>> for Text {
    fn from(s: Arc<str>) -> Text {
        Text::Shared(s)
    }
}

impl From<&Arc<str>> for Text {
    fn from(s: &Arc<str>) -> Text {
        Text::Shared(s.clone())
    }
}

impl std::fmt::Display for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self)
    }
}

/// What a record is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RecordKind {
    /// A tool call that was routed (answered from the cache or by a server, successfully or not).
    Call,
    /// A policy decision that ended a call before any server saw it (deny, rate limit), or a notable decision
    /// on the way (fallback).
    Decision,
}

/// One audit record, as the caller knows it. Every field but `kind` and `time` is optional: fill in what is
/// known. The writer adds `seq`, `prev` and `hash`, redacts `arguments` and `error`, and serializes the fields
/// under the names shown.
///
/// ```
/// use dfs_gateway::evidence::Record;
/// let rec = Record {
///     correlation_id: Some("c-42".into()),
///     server: Some("brave".into()),
///     outcome: Some("ok".into()),
///     duration_ms: Some(12.5),
///     ..Record::call("ext.brave.search")
/// };
/// assert_eq!(rec.tool.as_deref(), Some("ext.brave.search"));
/// ```
#[derive(Debug, Clone)]
pub struct Record {
    /// `kind`.
    pub kind: RecordKind,
    /// `time` (RFC 3339, UTC, microseconds): when the call ended or the decision was taken; set by the
    /// constructors to now.
    pub time: SystemTime,
    /// `correlation_id`: the same id as in the request's log lines, to join the two.
    pub correlation_id: Option<Text>,
    /// `client`: `clientInfo.name` (or the HTTP client identity) the policy saw.
    pub client: Option<Text>,
    /// `tool`: the canonical name (`ext.brave.search`), which is what policy was enforced on.
    pub tool: Option<Text>,
    /// `rule`: the policy rule that decided (its id or `file:line`), absent for the default action.
    pub rule: Option<Text>,
    /// `decision`: `allow`, `deny`, `fallback`, `rate_limited`, ...
    pub decision: Option<Text>,
    /// `cache_hit`: answered from the cache.
    pub cache_hit: Option<bool>,
    /// `coalesced_with`: the correlation id of an identical call in flight whose answer this call shared (no
    /// downstream call of its own).
    pub coalesced_with: Option<Text>,
    /// `server`: the downstream that answered (after a fallback, the fallback's server).
    pub server: Option<Text>,
    /// `attempts`: how many times the call was sent (1 + retries).
    pub attempts: Option<u32>,
    /// `duration_ms`: from receipt of the request to the answer, in milliseconds.
    pub duration_ms: Option<f64>,
    /// `outcome`: `ok`, `tool_error`, `error`, `timeout`, `denied`, `rate_limited`, ... (bounded vocabulary).
    pub outcome: Option<Text>,
    /// `error`: what went wrong, in words (secret values are scrubbed from it).
    pub error: Option<Text>,
    /// `arguments`: the call's raw arguments, exactly as the client sent them; the writer parses and redacts
    /// them off the call path.
    pub arguments: Option<Box<RawValue>>,
    /// `arguments_omitted_bytes`: set instead of `arguments` when they exceeded `max_argument_bytes` (the handle
    /// does this, so a full queue cannot hold huge argument copies).
    pub arguments_omitted_bytes: Option<usize>,
    /// The result bytes as sent to the client, for the writer to digest into `result_digest` (shared `Bytes`:
    /// attaching them copies nothing). Not written itself.
    pub result: Option<Bytes>,
    /// `result_digest`: SHA-256 (lower-case hex, [`sha256_hex`]) of the result bytes as sent to the client, so
    /// a result kept elsewhere can be matched to this record without the trail holding its content.
    pub result_digest: Option<String>,
}

impl Record {
    /// An empty record of `kind`, stamped now.
    pub(crate) fn new(kind: RecordKind) -> Record {
        Record {
            kind,
            time: SystemTime::now(),
            correlation_id: None,
            client: None,
            tool: None,
            rule: None,
            decision: None,
            cache_hit: None,
            coalesced_with: None,
            server: None,
            attempts: None,
            duration_ms: None,
            outcome: None,
            error: None,
            arguments: None,
            arguments_omitted_bytes: None,
            result: None,
            result_digest: None,
        }
    }

    /// A call record for the canonical tool name.
    pub fn call(tool: impl Into<Text>) -> Record {
        Record { tool: Some(tool.into()), ..Record::new(RecordKind::Call) }
    }

    /// A policy-decision record for the canonical tool name.
    pub(crate) fn decision(tool: impl Into<Text>, decision: impl Into<Text>) -> Record {
        Record { tool: Some(tool.into()), decision: Some(decision.into()), ..Record::new(RecordKind::Decision) }
    }

    #[cfg(test)]
    /// Copies `raw` arguments into the record (the session holds them borrowed from the frame).
    pub(crate) fn with_arguments(mut self, raw: &RawValue) -> Record {
        self.arguments = Some(raw.to_owned());
        self
    }

    #[cfg(test)]
    /// Attaches the result bytes (as sent to the client); the writer digests them into `result_digest`.
    pub(crate) fn with_result(mut self, result: Bytes) -> Record {
        self.result = Some(result);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_bad_bounds_are_refused() {
        let cfg = EvidenceConfig::default().validate().unwrap();
        assert_eq!(cfg.max_file_bytes, 64 * 1024 * 1024);
        assert!(EvidenceConfig { queue_capacity: 0, ..EvidenceConfig::default() }.validate().is_err());
        assert!(EvidenceConfig { max_file_bytes: 10, ..EvidenceConfig::default() }.validate().is_err());
    }

    #[test]
    fn secrets_are_never_printed() {
        let cfg = EvidenceConfig { secret_values: vec!["BSA-very-secret-value".into()], ..EvidenceConfig::default() };
        let debug = format!("{cfg:?}");
        assert!(!debug.contains("BSA-very"), "{debug}");
        assert!(debug.contains("[1 hidden]"));
        assert_eq!(cfg.redactor().scrub("key=BSA-very-secret-value"), "key=[REDACTED]");
    }
}
