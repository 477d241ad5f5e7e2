//! The report: the table a run prints, and the machine it ran on.

use super::*;

#[derive(Default)]
pub(crate) struct Report {
    pub(crate) out: String,
    pub(crate) failures: Vec<String>,
    pub(crate) bad_answers: u64,
}

impl Report {
    pub(crate) fn table(&mut self, title: &str, header: [&str; 4], rows: &[[String; 4]]) {
        let all: Vec<[String; 4]> = std::iter::once(header.map(str::to_owned)).chain(rows.iter().cloned()).collect();
        let w: Vec<usize> = (0..4).map(|i| all.iter().map(|r| r[i].chars().count()).max().unwrap_or(0)).collect();
        let total = w.iter().sum::<usize>() + 6;
        self.out.push_str(&format!("\n{title}\n{}\n", "-".repeat(total.max(title.len()))));
        for (i, r) in all.iter().enumerate() {
            let line = format!(
                "{:<w0$}  {:>w1$}  {:>w2$}  {:>w3$}",
                r[0],
                r[1],
                r[2],
                r[3],
                w0 = w[0],
                w1 = w[1],
                w2 = w[2],
                w3 = w[3]
            );
            self.out.push_str(line.trim_end());
            self.out.push('\n');
            if i == 0 {
                self.out.push_str(&format!("{}\n", "-".repeat(total)));
            }
        }
    }

    pub(crate) fn note(&mut self, text: &str) {
        self.out.push_str(&format!("  {text}\n"));
    }

    /// How busy the machine was since `mark`, and how much of that was not this benchmark's processes (other
    /// builds and the like, which make the figures noisier). Exact once every process of the phase has exited.
    pub(crate) fn cpu_note(&mut self, what: &str, mark: &CpuMark) {
        let now = CpuMark::now();
        let total = now.total.saturating_sub(mark.total).max(1) as f64;
        let pct = |j: u64| 100.0 * j as f64 / total;
        let busy = now.busy.saturating_sub(mark.busy);
        let other = busy.saturating_sub(now.own.saturating_sub(mark.own));
        self.note(&format!(
            "machine during {what} ({:.1} s): {:.0}% busy ({:.0}% from processes outside the benchmark), \
             steal {:.1}%",
            mark.at.elapsed().as_secs_f64(),
            pct(busy),
            pct(other),
            pct(now.steal.saturating_sub(mark.steal))
        ));
    }

    pub(crate) fn failed(&mut self, what: &str, e: &anyhow::Error) {
        let msg = format!("{what} FAILED: {e:#}");
        eprintln!("bench: {msg}");
        self.out.push_str(&format!("\n{msg}\n"));
        self.failures.push(msg);
    }
}

pub(crate) fn us(v: f64) -> String {
    format!("{v:.1}")
}

pub(crate) fn ms(v: f64) -> String {
    format!("{v:.2}")
}

pub(crate) fn mib(kib: u64) -> String {
    format!("{:.1}", kib as f64 / 1024.0)
}

pub(crate) fn delta(a: f64, b: f64) -> String {
    format!("{:+.1} µs", b - a)
}

pub(crate) fn ratio(a: f64, b: f64) -> String {
    if a > 0.0 {
        format!("{:.2}×", b / a)
    } else {
        "n/a".into()
    }
}

pub(crate) fn git_commit() -> String {
    let dir = env!("CARGO_MANIFEST_DIR");
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .current_dir(dir)
            .stderr(Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    match git(&["rev-parse", "--short=12", "HEAD"]) {
        Some(c) => {
            let dirty = git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
            format!("{c}{}", if dirty { " (with uncommitted changes)" } else { "" })
        }
        None => "unknown".into(),
    }
}

pub(crate) fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name") || l.starts_with("Model") || l.starts_with("cpu model"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into())
}

/// CPU accounting at one instant: the machine's busy, total and steal jiffies (/proc/stat) and those of this
/// process with its reaped children (every gateway and fixture it started, once they have exited).
pub(crate) struct CpuMark {
    pub(crate) at: Instant,
    pub(crate) busy: u64,
    pub(crate) total: u64,
    pub(crate) steal: u64,
    pub(crate) own: u64,
}

impl CpuMark {
    pub(crate) fn now() -> CpuMark {
        let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
        let cpu = stat.lines().next().unwrap_or_default();
        let v: Vec<u64> = cpu.split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
        let get = |i: usize| v.get(i).copied().unwrap_or(0);
        // user nice system idle iowait irq softirq steal
        let busy = get(0) + get(1) + get(2) + get(5) + get(6) + get(7);
        let own = std::fs::read_to_string("/proc/self/stat")
            .ok()
            .and_then(|st| {
                let rest = &st[st.rfind(')')? + 1..];
                Some(rest.split_whitespace().skip(11).take(4).filter_map(|x| x.parse::<u64>().ok()).sum())
            })
            .unwrap_or(0);
        CpuMark { at: Instant::now(), busy, total: busy + get(3) + get(4), steal: get(7), own }
    }
}

pub(crate) fn progress(what: &str) {
    eprintln!("bench: {what}");
}

pub(crate) fn row(
    a: impl Into<String>,
    b: impl Into<String>,
    c: impl Into<String>,
    d: impl Into<String>,
) -> [String; 4] {
    [a.into(), b.into(), c.into(), d.into()]
}
