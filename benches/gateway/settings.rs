//! Settings: the knobs of a run, from the environment.

use super::*;

pub(crate) struct Settings {
    pub(crate) quick: bool,
    pub(crate) secs: f64,
    pub(crate) lat_calls: usize,
    pub(crate) warmup: usize,
    pub(crate) inflight: usize,
    pub(crate) slow_inflight: usize,
    pub(crate) slow_ms: u64,
    pub(crate) ready_runs: usize,
    pub(crate) list_calls: usize,
    pub(crate) extra_tools: usize,
    pub(crate) lazy_servers: usize,
    pub(crate) max_calls: usize,
    pub(crate) rounds: usize,
    pub(crate) iso_rounds: usize,
    /// `BENCH_ONLY=echo,idle,ready,list,iso`: run just these phases.
    pub(crate) only: Option<Vec<String>>,
}

pub(crate) fn env_or<T: FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v.trim().parse().unwrap_or_else(|_| {
            eprintln!("bench: ignoring {name}={v:?} (not a valid value)");
            default
        }),
        _ => default,
    }
}

pub(crate) fn pick<T>(quick: bool, full: T, short: T) -> T {
    if quick {
        short
    } else {
        full
    }
}

impl Settings {
    pub(crate) fn from_env() -> Self {
        let quick = std::env::var("BENCH_QUICK").is_ok_and(|v| !matches!(v.as_str(), "" | "0" | "false" | "no"));
        Settings {
            quick,
            secs: env_or("BENCH_SECS", pick(quick, 3.0, 1.0)),
            lat_calls: env_or("BENCH_LAT_CALLS", pick(quick, 5000, 1000)),
            warmup: env_or("BENCH_WARMUP", pick(quick, 1000, 300)),
            inflight: env_or("BENCH_INFLIGHT", 32usize).max(1),
            slow_inflight: env_or("BENCH_SLOW_INFLIGHT", 16usize).max(1),
            slow_ms: env_or("BENCH_SLOW_MS", 1000),
            ready_runs: env_or("BENCH_READY_RUNS", pick(quick, 10, 4)).max(1),
            list_calls: env_or("BENCH_LIST_CALLS", pick(quick, 50, 15)).max(1),
            extra_tools: env_or("BENCH_EXTRA_TOOLS", 1000),
            lazy_servers: env_or("BENCH_LAZY_SERVERS", 10),
            max_calls: env_or("BENCH_MAX_CALLS", 2_000_000usize).max(1),
            rounds: env_or("BENCH_ROUNDS", pick(quick, 4, 2)).max(1),
            iso_rounds: env_or("BENCH_ISO_ROUNDS", pick(quick, 3, 1)).max(1),
            only: std::env::var("BENCH_ONLY")
                .ok()
                .filter(|v| !v.trim().is_empty())
                .map(|v| v.split(',').map(|p| p.trim().to_owned()).collect()),
        }
    }

    pub(crate) fn runs(&self, phase: &str) -> bool {
        self.only.as_ref().is_none_or(|o| o.iter().any(|p| p == phase))
    }

    pub(crate) fn window(&self) -> Duration {
        Duration::from_secs_f64(self.secs.max(0.05))
    }
}
