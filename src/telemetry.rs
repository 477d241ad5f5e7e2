//! Telemetry: logging (`tracing` JSON lines on stderr, and optionally in rolling files; stdout belongs to the
//! protocol) and the Prometheus metrics registry.
//!
//! - [`labels`]: the label sets and their closed value sets ([`Outcome`], [`ErrorKind`], [`CircuitState`]).
//! - [`metrics`]: the registry ([`Metrics`]) and the recording handles the call path keeps
//!   ([`ToolMetrics`], [`ServerMetrics`], [`CallTimer`]).
//!
//! Serving `/metrics` and `/healthz` is [`crate::ops`]'s job.

pub(crate) mod labels;
pub(crate) mod metrics;

pub(crate) use labels::{ErrorKind, Outcome, ServerLabels, ToolLabels};
pub(crate) use metrics::{CallTimer, Format, Metrics, ServerMetrics, ToolMetrics};

use tracing_appender::rolling::{RollingFileAppender, Rotation};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

use crate::config::{LogConfig, LogRotation};

/// Log files are `dfs-gateway.<date>.log` (`dfs-gateway.log` without rotation).
const FILE_PREFIX: &str = "dfs-gateway";
const FILE_SUFFIX: &str = "log";

/// Keeps the log file writer's thread alive; dropping it (at the end of `main`) writes out the lines still
/// buffered, so the last lines before exit reach the file.
#[must_use = "the log file loses its last lines if the guard is dropped early"]
pub(crate) struct LogGuard {
    _file: Option<tracing_appender::non_blocking::WorkerGuard>,
}

/// Installs the global subscriber: JSON lines on stderr and, with `files`, the same lines in rolling files written
/// by a background thread (a slow disk never delays the gateway; the writer buffers up to 128,000 lines and
/// drops beyond that rather than block). `level` is a filter directive such as `info` or `dfs_gateway=debug`.
/// A log folder that cannot be used is reported on stderr, and logging goes on to stderr alone.
pub(crate) fn init_logging(level: &str, files: Option<&LogConfig>) -> LogGuard {
    let filter = EnvFilter::try_new(level).unwrap_or_else(|_| EnvFilter::new("info"));
    let stderr =
        tracing_subscriber::fmt::layer().json().with_current_span(false).with_writer(Scrubbed(std::io::stderr));
    let mut guard = None;
    let mut problem = None;
    let file = match files.and_then(|f| f.dir.as_ref().map(|dir| (f, dir))) {
        Some((cfg, dir)) => match appender(cfg, dir) {
            Ok(appender) => {
                let (writer, g) = tracing_appender::non_blocking(appender);
                guard = Some(g);
                Some(tracing_subscriber::fmt::layer().json().with_current_span(false).with_writer(Scrubbed(writer)))
            }
            Err(e) => {
                problem = Some(format!("cannot write log files to {}: {e}; logging to stderr only", dir.display()));
                None
            }
        },
        None => None,
    };
    let _ = tracing_subscriber::registry().with(filter).with(stderr).with(file).try_init();
    if let Some(p) = problem {
        tracing::error!("{p}");
    }
    LogGuard { _file: guard }
}

/// A log writer whose every line goes through the one scrubber ([`crate::scrub`]) first: whatever a field,
/// a message or a server's stderr line holds, at any level, a secret value never reaches a log.
struct Scrubbed<M>(M);

impl<'a, M: tracing_subscriber::fmt::MakeWriter<'a>> tracing_subscriber::fmt::MakeWriter<'a> for Scrubbed<M> {
    type Writer = ScrubbedWriter<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        ScrubbedWriter(self.0.make_writer())
    }
}

struct ScrubbedWriter<W>(W);

impl<W: std::io::Write> std::io::Write for ScrubbedWriter<W> {
    /// The formatter hands over one whole line per write, so a secret is never split between two.
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match std::str::from_utf8(buf).map(crate::scrub::scrub) {
            Ok(std::borrow::Cow::Owned(clean)) => self.0.write_all(clean.as_bytes())?,
            _ => self.0.write_all(buf)?,
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

fn appender(cfg: &LogConfig, dir: &std::path::Path) -> Result<RollingFileAppender, String> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let rotation = match cfg.rotation {
        LogRotation::Minutely => Rotation::MINUTELY,
        LogRotation::Hourly => Rotation::HOURLY,
        LogRotation::Daily => Rotation::DAILY,
        LogRotation::Weekly => Rotation::WEEKLY,
        LogRotation::Never => Rotation::NEVER,
    };
    let mut builder =
        RollingFileAppender::builder().rotation(rotation).filename_prefix(FILE_PREFIX).filename_suffix(FILE_SUFFIX);
    if cfg.keep > 0 {
        builder = builder.max_log_files(cfg.keep);
    }
    builder.build(dir).map_err(|e| e.to_string())
}
