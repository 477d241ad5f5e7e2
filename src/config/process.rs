//! Settings of the gateway process that only the environment sets: the ops listeners (`ENABLE_HEALTH`,
//! `HEALTH_PORT`, `ENABLE_METRICS`, `METRICS_PORT`, `OPS_BIND`) and the async runtime (`DFS_GATEWAY_WORKERS`,
//! `DFS_GATEWAY_SPIN_US`). They go through the same overlay and validation as the rest of the configuration, so
//! a bad value is an error naming the variable (exit 64), never a silent default.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

/// Default port of `/healthz`.
pub(crate) const HEALTH_PORT: u16 = 8080;
/// Default port of `/metrics`.
pub(crate) const METRICS_PORT: u16 = 9090;
/// Default spin window of the runtime thread (see [`crate::spin`]).
pub(crate) const SPIN: Duration = Duration::from_micros(100);

/// The environment variables of this file, as read (unparsed).
#[derive(Debug, Clone, Default)]
pub(crate) struct ProcessOverlay {
    pub(crate) enable_health: Option<String>,
    pub(crate) health_port: Option<String>,
    pub(crate) enable_metrics: Option<String>,
    pub(crate) metrics_port: Option<String>,
    pub(crate) ops_bind: Option<String>,
    pub(crate) workers: Option<String>,
    pub(crate) spin_us: Option<String>,
}

impl ProcessOverlay {
    pub(super) fn from_process(var: impl Fn(&str) -> Option<String>) -> ProcessOverlay {
        ProcessOverlay {
            enable_health: var("ENABLE_HEALTH"),
            health_port: var("HEALTH_PORT"),
            enable_metrics: var("ENABLE_METRICS"),
            metrics_port: var("METRICS_PORT"),
            ops_bind: var("OPS_BIND"),
            workers: var("DFS_GATEWAY_WORKERS"),
            spin_us: var("DFS_GATEWAY_SPIN_US"),
        }
    }
}

/// Where `serve` listens for operators; `None` turns an endpoint off. Equal addresses share one listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OpsConfig {
    /// `/healthz` (and `POST /cache/invalidate`): `OPS_BIND`:`HEALTH_PORT`, default 127.0.0.1:8080, off with
    /// `ENABLE_HEALTH=false`.
    pub(crate) health: Option<SocketAddr>,
    /// `/metrics`: `OPS_BIND`:`METRICS_PORT`, default 127.0.0.1:9090, off with `ENABLE_METRICS=false`.
    pub(crate) metrics: Option<SocketAddr>,
}

/// The async runtime `serve` and the other commands run on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RuntimeConfig {
    /// `DFS_GATEWAY_WORKERS`, default 1: every hop of a call (client reader, server writer and reader, client
    /// writer) on one thread, so none waits for a cross-thread wake-up; more help only when the gateway itself,
    /// not its servers, is the CPU bottleneck.
    pub(crate) workers: usize,
    /// `DFS_GATEWAY_SPIN_US` (default 100 µs; 0 turns it off: `None`): how long the runtime thread keeps
    /// polling after a message before it sleeps.
    pub(crate) spin: Option<Duration>,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig { workers: 1, spin: Some(SPIN) }
    }
}

/// Validates the variables; `env` records an error against a variable.
pub(super) fn compile(o: &ProcessOverlay, env: &mut dyn FnMut(&'static str, String)) -> (OpsConfig, RuntimeConfig) {
    let ip: IpAddr = match &o.ops_bind {
        None => Ipv4Addr::LOCALHOST.into(),
        Some(v) => v.trim().parse().unwrap_or_else(|_| {
            env("OPS_BIND", format!("`{v}` is not an IP address like 127.0.0.1 or 0.0.0.0"));
            Ipv4Addr::LOCALHOST.into()
        }),
    };
    let mut endpoint = |enable: (&'static str, &Option<String>), port: (&'static str, &Option<String>, u16)| {
        let on = match enable.1 {
            None => true,
            Some(v) => flag(v).unwrap_or_else(|| {
                env(enable.0, format!("`{v}` is not true or false"));
                true
            }),
        };
        let port = match port.1 {
            None => port.2,
            Some(v) => v.trim().parse::<u16>().unwrap_or_else(|_| {
                env(port.0, format!("`{v}` is not a port number (0-65535)"));
                port.2
            }),
        };
        on.then_some(SocketAddr::new(ip, port))
    };
    let health = endpoint(("ENABLE_HEALTH", &o.enable_health), ("HEALTH_PORT", &o.health_port, HEALTH_PORT));
    let metrics = endpoint(("ENABLE_METRICS", &o.enable_metrics), ("METRICS_PORT", &o.metrics_port, METRICS_PORT));
    let mut runtime = RuntimeConfig::default();
    if let Some(v) = &o.workers {
        match v.trim().parse::<usize>() {
            Ok(n) if n >= 1 => runtime.workers = n,
            _ => env("DFS_GATEWAY_WORKERS", format!("`{v}` is not a number of threads (1 or more)")),
        }
    }
    if let Some(v) = &o.spin_us {
        match v.trim().parse::<u64>() {
            Ok(us) => runtime.spin = (us > 0).then(|| Duration::from_micros(us)),
            Err(_) => {
                env("DFS_GATEWAY_SPIN_US", format!("`{v}` is not a number of microseconds (0 turns spinning off)"))
            }
        }
    }
    (OpsConfig { health, metrics }, runtime)
}

/// A boolean as environment variables spell it.
fn flag(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compile_all(o: &ProcessOverlay) -> Result<(OpsConfig, RuntimeConfig), Vec<String>> {
        let mut errors = Vec::new();
        let out = compile(o, &mut |var, m| errors.push(format!("env:{var}: {m}")));
        if errors.is_empty() {
            Ok(out)
        } else {
            Err(errors)
        }
    }

    #[test]
    fn defaults_are_loopback_8080_9090_one_thread_and_a_100us_spin() {
        let (ops, runtime) = compile_all(&ProcessOverlay::default()).unwrap();
        assert_eq!(ops.health, Some("127.0.0.1:8080".parse().unwrap()));
        assert_eq!(ops.metrics, Some("127.0.0.1:9090".parse().unwrap()));
        assert_eq!(runtime, RuntimeConfig { workers: 1, spin: Some(Duration::from_micros(100)) });
    }

    #[test]
    fn every_variable_is_read_and_a_bad_value_is_an_error_naming_it() {
        let o = ProcessOverlay {
            enable_health: Some("false".into()),
            metrics_port: Some("9999".into()),
            ops_bind: Some("0.0.0.0".into()),
            workers: Some("2".into()),
            spin_us: Some("0".into()),
            ..ProcessOverlay::default()
        };
        let (ops, runtime) = compile_all(&o).unwrap();
        assert_eq!(ops.health, None);
        assert_eq!(ops.metrics, Some("0.0.0.0:9999".parse().unwrap()));
        assert_eq!(runtime, RuntimeConfig { workers: 2, spin: None });

        let bad = ProcessOverlay {
            enable_health: Some("maybe".into()),
            health_port: Some("abc".into()),
            enable_metrics: Some("yes".into()),
            metrics_port: Some("70000".into()),
            ops_bind: Some("localhost:1".into()),
            workers: Some("0".into()),
            spin_us: Some("fast".into()),
        };
        let errors = compile_all(&bad).unwrap_err();
        for var in
            ["ENABLE_HEALTH", "HEALTH_PORT", "METRICS_PORT", "OPS_BIND", "DFS_GATEWAY_WORKERS", "DFS_GATEWAY_SPIN_US"]
        {
            assert!(errors.iter().any(|e| e.starts_with(&format!("env:{var}: "))), "{var} in {errors:?}");
        }
        assert_eq!(errors.len(), 6, "{errors:?}");
    }
}
