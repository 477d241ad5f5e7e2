//! Logging: `tracing` JSON lines on stderr (stdout belongs to the protocol).

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
