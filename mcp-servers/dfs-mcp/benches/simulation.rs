//! `cargo bench -p dfs-mcp --bench simulation`: the simulator's target case, 150 lineups against a
//! 10,000-lineup field × 10,000 runs on a generated DraftKings NFL main slate, timed on two threads, with the
//! same request on one thread as the baseline (same report, so the ratio is the parallel speed-up).
//!
//! The user's lineups are sampled from ownership like the field (no optimizer needed); the engine's cost does
//! not depend on where they come from.

use std::time::Instant;

use dfs_mcp::generate;
use dfs_mcp::model::{ContestType, Site, Sport};
use dfs_mcp::rules;
use dfs_mcp::simulate::{field, simulate, Contest, FieldOptions, SimulationReport, SimulationRequest};

fn main() {
    let (site, sport, contest) = (Site::DraftKings, Sport::Nfl, ContestType::Classic);
    let slate = generate::slate(site, sport, contest, 1);
    let rules = rules::lookup(site, sport, contest).expect("rules");
    let lineups =
        field::sample_lineups(&slate, rules, &FieldOptions::default(), 150, 99).expect("user lineups").lineups;
    let request = SimulationRequest {
        slate_id: slate.id.clone(),
        lineups,
        contest: Contest { entry_fee: 20.0, field_size: 10_150, payouts: Vec::new() },
        runs: Some(10_000),
        seed: Some(1),
        ..SimulationRequest::default()
    };
    println!(
        "simulation: {} players, {} games; 150 lineups vs a 10,000-lineup field x 10,000 runs",
        slate.players.len(),
        slate.games.len()
    );

    let timed = |threads: usize| -> (f64, f64, SimulationReport) {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("pool");
        let (mut wall, mut cpu) = (f64::INFINITY, f64::INFINITY);
        let mut report = None;
        for _ in 0..3 {
            let (start, cpu_start) = (Instant::now(), cpu_seconds());
            let r = pool.install(|| simulate(&slate, rules, &request)).expect("simulation");
            wall = wall.min(start.elapsed().as_secs_f64());
            cpu = cpu.min(cpu_seconds() - cpu_start);
            report = Some(r);
        }
        (wall, cpu, report.expect("ran"))
    };
    println!("(best of 3; cpu = the process's user + system time, which other load on the machine does not inflate)");
    let (one, one_cpu, base) = timed(1);
    println!("baseline, 1 thread:  wall {one:.3} s, cpu {one_cpu:.3} s");
    let (two, two_cpu, report) = timed(2);
    println!("engine, 2 threads:   wall {two:.3} s, cpu {two_cpu:.3} s; wall speed-up {:.2}x", one / two);
    assert_eq!(base, report, "the report must not depend on the thread count");

    let start = Instant::now();
    let field_only = field::sample_lineups(&slate, rules, &FieldOptions::default(), 10_000, 1).expect("field");
    println!(
        "of which field sampling (10,000 lineups + calibration, 1 thread): {:.3} s",
        start.elapsed().as_secs_f64()
    );
    assert_eq!(field_only.lineups.len(), 10_000);
    let best =
        report.lineups.iter().max_by(|a, b| a.roi_pct.partial_cmp(&b.roi_pct).expect("numbers")).expect("lineups");
    println!(
        "portfolio ROI {:.1} % [{:.1}, {:.1}]; best lineup ROI {:.1} %, field {} distinct of {}",
        report.portfolio.roi_pct.unwrap_or(f64::NAN),
        report.portfolio.roi_ci95.map_or(f64::NAN, |c| c[0]),
        report.portfolio.roi_ci95.map_or(f64::NAN, |c| c[1]),
        best.roi_pct.unwrap_or(f64::NAN),
        report.field.distinct,
        report.field.lineups
    );
}

/// User + system CPU time of this process so far (Linux `/proc/self/stat`, in clock ticks of 1/100 s).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th of them.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(f64::NAN);
    (tick(11) + tick(12)) / 100.0
}
