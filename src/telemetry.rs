//! Telemetry: logging (`tracing` JSON lines on stderr; stdout belongs to the protocol) and the Prometheus
//! metrics registry.
//!
//! - [`labels`]: the label sets and their closed value sets ([`Outcome`], [`ErrorKind`], [`CircuitState`]).
//! - [`metrics`]: the registry ([`Metrics`]) and the recording handles the call path keeps
//!   ([`ToolMetrics`], [`ServerMetrics`], [`CallTimer`]).
//!
//! Serving `/metrics` and `/healthz` is [`crate::ops`]'s job.

pub mod labels;
pub mod metrics;

pub use labels::{CircuitState, ErrorKind, Outcome, ServerLabels, ToolLabels};
pub use metrics::{CallTimer, Format, InflightGuard, Metrics, MetricsError, ServerMetrics, ToolMetrics};

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. `level` is a filter directive such as `info` or `dfs_gateway=debug`.
pub fn init_logging(level: &str) {
    let filter = EnvFilter::try_new(level).unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_current_span(false)
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
