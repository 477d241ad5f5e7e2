//! Statistics: latency summaries.

/// Latency summary, in microseconds.
#[derive(Clone, Copy, Default)]
pub(crate) struct Lat {
    pub(crate) n: usize,
    pub(crate) p50: f64,
    pub(crate) p99: f64,
    pub(crate) mean: f64,
    pub(crate) max: f64,
}

pub(crate) fn lat_stats(ns: &mut [u64]) -> Lat {
    if ns.is_empty() {
        return Lat::default();
    }
    ns.sort_unstable();
    let n = ns.len();
    // Nearest rank.
    let pct = |p: f64| ns[((p * n as f64).ceil() as usize).clamp(1, n) - 1] as f64 / 1e3;
    let mean = ns.iter().map(|&v| v as f64).sum::<f64>() / n as f64 / 1e3;
    Lat { n, p50: pct(0.50), p99: pct(0.99), mean, max: ns[n - 1] as f64 / 1e3 }
}

pub(crate) fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

pub(crate) fn min_max(v: &[f64]) -> (f64, f64) {
    v.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| (lo.min(x), hi.max(x)))
}
