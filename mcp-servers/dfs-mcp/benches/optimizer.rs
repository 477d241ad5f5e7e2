//! `cargo bench -p dfs-mcp --bench optimizer`: this optimizer against pydfs-lineup-optimizer 3.6.1 on generated
//! DraftKings slates, same projections, same rules; wall times, ratios and both projected-total sequences.
//!
//! pydfs runs from `~/.cache/dfs-gateway-bench/pydfs` (create it with
//! `python3 -m venv ~/.cache/dfs-gateway-bench/pydfs && ~/.cache/dfs-gateway-bench/pydfs/bin/pip install
//! pydfs-lineup-optimizer==3.6.1`); `BENCH_PYDFS=0` skips it (it takes minutes per case). `BENCH_CASES=a,b`
//! runs only the named cases. The cases are data: add a runner (the gateway, later) beside the two here.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use dfs_mcp::generate::{self, SlateOptions};
use dfs_mcp::model::{ContestType, Site, Slate, Sport};
use dfs_mcp::optimize::{optimize, validate, Exposure, OptimizeRequest, Stack};
use dfs_mcp::rules;

/// One benchmark case.
struct Case {
    name: &'static str,
    sport: Sport,
    contest: ContestType,
    seed: u64,
    count: usize,
    min_unique: Option<u8>,
    qb_stack: bool,
    max_exposure: Option<f64>,
}

const CASES: &[Case] = &[
    Case {
        name: "nfl-1",
        sport: Sport::Nfl,
        contest: ContestType::Classic,
        seed: 1,
        count: 1,
        min_unique: None,
        qb_stack: false,
        max_exposure: None,
    },
    Case {
        name: "nfl-150",
        sport: Sport::Nfl,
        contest: ContestType::Classic,
        seed: 1,
        count: 150,
        min_unique: None,
        qb_stack: false,
        max_exposure: None,
    },
    Case {
        name: "nba-150",
        sport: Sport::Nba,
        contest: ContestType::Classic,
        seed: 1,
        count: 150,
        min_unique: None,
        qb_stack: false,
        max_exposure: None,
    },
    Case {
        name: "nfl-showdown-150",
        sport: Sport::Nfl,
        contest: ContestType::Showdown,
        seed: 1,
        count: 150,
        min_unique: None,
        qb_stack: false,
        max_exposure: None,
    },
    Case {
        name: "nfl-150-unique3-qbstack",
        sport: Sport::Nfl,
        contest: ContestType::Classic,
        seed: 1,
        count: 150,
        min_unique: Some(3),
        qb_stack: true,
        max_exposure: None,
    },
    Case {
        name: "nfl-150-unique3-qbstack-exp60",
        sport: Sport::Nfl,
        contest: ContestType::Classic,
        seed: 1,
        count: 150,
        min_unique: Some(3),
        qb_stack: true,
        max_exposure: Some(60.0),
    },
];

/// Ties in pydfs's float sums and ours: totals equal within this count as the same.
const TIE: f64 = 1e-6;

fn request(slate: &Slate, c: &Case) -> OptimizeRequest {
    OptimizeRequest {
        slate_id: slate.id.clone(),
        count: Some(c.count),
        min_unique: c.min_unique,
        stacks: if c.qb_stack {
            vec![Stack::Qb {
                receivers: 1,
                positions: vec![],
                bring_back: 0,
                bring_back_positions: vec![],
                teams: vec![],
            }]
        } else {
            vec![]
        },
        exposure: Exposure { max: c.max_exposure, ..Default::default() },
        ..Default::default()
    }
}

/// The DraftKings salary CSV of a generated slate, projection as AvgPointsPerGame so both sides maximise
/// the same numbers; players the site marks out are left out (both sides would skip them).
fn dk_csv(slate: &Slate) -> String {
    let mut out =
        String::from("Position,Name + ID,Name,ID,Roster Position,Salary,Game Info,TeamAbbrev,AvgPointsPerGame\n");
    for p in slate.players.iter().filter(|p| !p.is_out()) {
        let game = slate.games.iter().find(|g| g.id == p.game).expect("the player's game");
        let info = format!("{} {}", game.id, et(game.start.unwrap_or(0)));
        let pos = p.positions.join("/");
        let pts = p.points();
        let mut row = |id: &str, roster: &str, salary: u32| {
            let _ = writeln!(out, "{pos},{} ({id}),{},{id},{roster},{salary},{info},{},{pts}", p.name, p.name, p.team);
        };
        match &p.captain {
            Some(c) => {
                row(&c.id, "CPT", c.salary);
                row(&p.id, &p.eligible[1], p.salary);
            }
            None => row(&p.id, &p.eligible.join("/"), p.salary),
        }
    }
    out
}

/// `MM/DD/YYYY HH:MMAM ET` of a UTC time on the generated slates' dates (ET = UTC-4 or -5 does not matter
/// to either optimizer; UTC-4 is written).
fn et(utc: i64) -> String {
    let t = utc - 4 * 3600;
    let (days, secs) = (t.div_euclid(86_400), t.rem_euclid(86_400));
    let (y, m, d) = civil(days);
    let (h, min) = (secs / 3600, (secs % 3600) / 60);
    let (h12, ampm) = match h {
        0 => (12, "AM"),
        1..=11 => (h, "AM"),
        12 => (12, "PM"),
        _ => (h - 12, "PM"),
    };
    format!("{m:02}/{d:02}/{y} {h12:02}:{min:02}{ampm} ET")
}

fn civil(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

const PYDFS_SCRIPT: &str = r#"
import json, sys, time
t0 = time.time()
from pydfs_lineup_optimizer import get_optimizer, Site, Sport, PositionsStack
args = json.loads(sys.argv[1])
site = Site.DRAFTKINGS_CAPTAIN_MODE if args["showdown"] else Site.DRAFTKINGS
sport = {"nfl": Sport.FOOTBALL, "nba": Sport.BASKETBALL}[args["sport"]]
opt = get_optimizer(site, sport)
opt.load_players_from_csv(args["csv"])
if args["min_unique"]:
    opt.set_max_repeating_players(len(opt.settings.positions) - args["min_unique"])
if args["qb_stack"]:
    opt.add_stack(PositionsStack(["QB", ("WR", "TE")]))
t1 = time.time()
totals = []
kw = {}
if args["max_exposure"] is not None:
    kw["max_exposure"] = args["max_exposure"] / 100.0
for lineup in opt.optimize(n=args["count"], **kw):
    totals.append(lineup.fantasy_points_projection)
t2 = time.time()
print(json.dumps({"totals": totals, "solve_s": t2 - t1, "total_s": t2 - t0}))
"#;

fn pydfs_python() -> Option<PathBuf> {
    let home = std::env::var("HOME").ok()?;
    let p = Path::new(&home).join(".cache/dfs-gateway-bench/pydfs/bin/python");
    p.exists().then_some(p)
}

struct PydfsRun {
    totals: Vec<f64>,
    solve_s: f64,
}

fn run_pydfs(python: &Path, dir: &Path, slate: &Slate, c: &Case) -> Result<PydfsRun, String> {
    let csv = dir.join(format!("{}.csv", c.name));
    std::fs::write(&csv, dk_csv(slate)).map_err(|e| format!("writing {}: {e}", csv.display()))?;
    let script = dir.join("run_pydfs.py");
    std::fs::write(&script, PYDFS_SCRIPT).map_err(|e| e.to_string())?;
    let args = serde_json::json!({
        "csv": csv, "showdown": c.contest == ContestType::Showdown, "sport": c.sport.as_str(),
        "count": c.count, "min_unique": c.min_unique, "qb_stack": c.qb_stack, "max_exposure": c.max_exposure,
    });
    let out = Command::new(python).arg(&script).arg(args.to_string()).output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!("pydfs failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|e| format!("pydfs output: {e}"))?;
    let totals = v["totals"].as_array().ok_or("no totals")?.iter().filter_map(|x| x.as_f64()).collect();
    Ok(PydfsRun { totals, solve_s: v["solve_s"].as_f64().unwrap_or(f64::NAN) })
}

fn show(v: &[f64]) -> String {
    let f = |s: &[f64]| s.iter().map(|x| format!("{x:.2}")).collect::<Vec<_>>().join(" ");
    if v.len() <= 8 {
        f(v)
    } else {
        format!("{} … {}", f(&v[..4]), f(&v[v.len() - 4..]))
    }
}

fn main() {
    let use_pydfs = std::env::var("BENCH_PYDFS").map(|v| v != "0").unwrap_or(true);
    let only: Option<Vec<String>> =
        std::env::var("BENCH_CASES").ok().map(|s| s.split(',').map(str::to_owned).collect());
    let python = if use_pydfs { pydfs_python() } else { None };
    if use_pydfs && python.is_none() {
        eprintln!(
            "pydfs venv not found at ~/.cache/dfs-gateway-bench/pydfs: comparing nothing (BENCH_PYDFS=0 to silence)"
        );
    }
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("optimizer-bench");
    std::fs::create_dir_all(&dir).expect("bench dir");
    println!("{:<32} {:>10} {:>12} {:>10}  sequences", "case", "ours", "pydfs", "ratio");
    for c in CASES {
        if only.as_ref().is_some_and(|o| !o.iter().any(|n| n == c.name)) {
            continue;
        }
        let slate = generate::slate_with(Site::DraftKings, c.sport, c.contest, c.seed, &SlateOptions::default());
        let rules = rules::lookup(Site::DraftKings, c.sport, c.contest).expect("rules");
        let req = request(&slate, c);
        // best of three: the machine is shared
        let mut best = f64::INFINITY;
        let mut set = None;
        for _ in 0..3 {
            let t = Instant::now();
            let s = optimize(&slate, rules, &req).expect("the case is feasible");
            best = best.min(t.elapsed().as_secs_f64());
            set = Some(s);
        }
        let set = set.expect("a run");
        validate(&slate, rules, &req, &set).expect("our lineups are valid");
        let ours: Vec<f64> = set.lineups.iter().map(|l| l.projection).collect();
        let (pydfs_s, ratio, cmp) = match python.as_deref().map(|py| run_pydfs(py, &dir, &slate, c)) {
            Some(Ok(run)) => {
                let same = run.totals.len() == ours.len()
                    && run.totals.iter().zip(&ours).all(|(a, b)| (a - b).abs() <= TIE * a.abs().max(1.0));
                let first_diff = run.totals.iter().zip(&ours).position(|(a, b)| (a - b).abs() > TIE * a.abs().max(1.0));
                let verdict = if same {
                    "agree".to_owned()
                } else {
                    format!(
                        "DIFFER at lineup {}",
                        first_diff.map(|i| i + 1).unwrap_or(run.totals.len().min(ours.len()) + 1)
                    )
                };
                (
                    format!("{:.2} s", run.solve_s),
                    format!("{:.0}×", run.solve_s / best),
                    format!("{verdict}\n    ours : {}\n    pydfs: {}", show(&ours), show(&run.totals)),
                )
            }
            Some(Err(e)) => ("failed".into(), "-".into(), format!("{e}\n    ours : {}", show(&ours))),
            None => ("skipped".into(), "-".into(), format!("ours: {}", show(&ours))),
        };
        println!(
            "{:<32} {:>10} {:>12} {:>10}  {} players, {cmp}",
            c.name,
            format!("{:.1} ms", best * 1e3),
            pydfs_s,
            ratio,
            slate.players.len()
        );
    }
}
