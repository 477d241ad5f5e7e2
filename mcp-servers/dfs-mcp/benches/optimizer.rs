//! `cargo bench -p dfs-mcp --bench optimizer`: this optimizer directly, the same optimizer through the gateway,
//! and pydfs-lineup-optimizer 3.6.1, on the same generated DraftKings slates with the same projections and rules:
//! wall times, ratios and the projected-total sequences.
//!
//! - direct: `optimize()` in process, best of three.
//! - gateway: the release `dfs-gateway` binary (build it first: `cargo build --release --bin dfs-gateway`; the
//!   bench says so and skips the column when it is missing) started over stdio with a temporary configuration
//!   whose servers are this build's `dfs-mcp data` and `dfs-mcp optimize`; the slate goes in through
//!   `tools/call app.data.import_slate` (the same CSV pydfs reads), then `tools/call app.optimize.lineup` is
//!   timed from request to response (best of three).
//! - pydfs: from `~/.cache/dfs-gateway-bench/pydfs` (create it with `python3 -m venv
//!   ~/.cache/dfs-gateway-bench/pydfs && ~/.cache/dfs-gateway-bench/pydfs/bin/pip install
//!   pydfs-lineup-optimizer==3.6.1`), its solve loop timed in Python. Where the totals differ, pydfs (CBC) is
//!   also asked for lineup k given *our* first k-1 lineups (uniqueness against them, players at their exposure
//!   cap removed): an independent check that our lineup k is the optimum under the constraints so far.
//!
//! `BENCH_QUICK=1`: no pydfs, one run each (a minute). `BENCH_PYDFS=0`: no pydfs. `BENCH_CASES=a,b`: only
//! the named cases.

use std::collections::BTreeMap;
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

def build():
    site = Site.DRAFTKINGS_CAPTAIN_MODE if args["showdown"] else Site.DRAFTKINGS
    sport = {"nfl": Sport.FOOTBALL, "nba": Sport.BASKETBALL}[args["sport"]]
    opt = get_optimizer(site, sport)
    opt.load_players_from_csv(args["csv"])
    if args["min_unique"]:
        opt.set_max_repeating_players(len(opt.settings.positions) - args["min_unique"])
    if args["qb_stack"]:
        opt.add_stack(PositionsStack(["QB", ("WR", "TE")]))
    return opt

if args.get("replay") is None:
    opt = build()
    t1 = time.time()
    totals, lineups = [], []
    kw = {}
    if args["max_exposure"] is not None:
        kw["max_exposure"] = args["max_exposure"] / 100.0
    for lineup in opt.optimize(n=args["count"], **kw):
        totals.append(lineup.fantasy_points_projection)
        lineups.append(sorted(p.id for p in lineup.players))
    t2 = time.time()
    print(json.dumps({"totals": totals, "lineups": lineups, "solve_s": t2 - t1, "total_s": t2 - t0}))
else:
    # lineup k given someone else's first k-1: uniqueness against each, players at their cap removed
    # (TotalExposureStrategy: max <= used / count)
    out = []
    for history in args["replay"]:
        opt = build()
        used = {}
        for l in history:
            for i in l:
                used[i] = used.get(i, 0) + 1
        if args["max_exposure"] is not None:
            for i, u in used.items():
                if args["max_exposure"] / 100.0 <= u / args["count"]:
                    opt.player_pool.remove_player(opt.player_pool.get_player_by_id(i))
        earlier = [[opt.player_pool.get_player_by_id(i) for i in l] for l in history]
        lineup = next(opt.optimize(n=1, exclude_lineups=earlier))
        out.append(lineup.fantasy_points_projection)
    print(json.dumps({"totals": out}))
"#;

fn pydfs_python() -> Option<PathBuf> {
    let home = std::env::var("HOME").ok()?;
    let p = Path::new(&home).join(".cache/dfs-gateway-bench/pydfs/bin/python");
    p.exists().then_some(p)
}

/// A set as a runner saw it: projected totals, and each lineup's upload ids (sorted) where known.
struct Run {
    totals: Vec<f64>,
    lineups: Vec<Vec<String>>,
    seconds: f64,
}

fn pydfs_args(dir: &Path, slate: &Slate, c: &Case) -> Result<serde_json::Value, String> {
    let csv = dir.join(format!("{}.csv", c.name));
    std::fs::write(&csv, dk_csv(slate)).map_err(|e| format!("writing {}: {e}", csv.display()))?;
    Ok(serde_json::json!({
        "csv": csv, "showdown": c.contest == ContestType::Showdown, "sport": c.sport.as_str(),
        "count": c.count, "min_unique": c.min_unique, "qb_stack": c.qb_stack, "max_exposure": c.max_exposure,
    }))
}

fn python(python: &Path, dir: &Path, args: &serde_json::Value) -> Result<serde_json::Value, String> {
    let script = dir.join("run_pydfs.py");
    std::fs::write(&script, PYDFS_SCRIPT).map_err(|e| e.to_string())?;
    let out = Command::new(python).arg(&script).arg(args.to_string()).output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!("pydfs failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("pydfs output: {e}"))
}

fn run_pydfs(py: &Path, dir: &Path, slate: &Slate, c: &Case) -> Result<Run, String> {
    let v = python(py, dir, &pydfs_args(dir, slate, c)?)?;
    let totals = v["totals"].as_array().ok_or("no totals")?.iter().filter_map(|x| x.as_f64()).collect();
    let lineups = serde_json::from_value(v["lineups"].clone()).map_err(|e| format!("pydfs lineups: {e}"))?;
    Ok(Run { totals, lineups, seconds: v["solve_s"].as_f64().unwrap_or(f64::NAN) })
}

/// pydfs's optimum for lineup k (1-based) given our first k-1 lineups, for each k asked.
fn pydfs_replay(py: &Path, dir: &Path, slate: &Slate, c: &Case, ours: &Run, ks: &[usize]) -> Result<Vec<f64>, String> {
    let mut args = pydfs_args(dir, slate, c)?;
    let histories: Vec<&[Vec<String>]> = ks.iter().map(|&k| &ours.lineups[..k - 1]).collect();
    args["replay"] = serde_json::json!(histories);
    let v = python(py, dir, &args)?;
    Ok(v["totals"].as_array().ok_or("no totals")?.iter().filter_map(|x| x.as_f64()).collect())
}

fn ids_of(set: &dfs_mcp::optimize::LineupSet) -> Vec<Vec<String>> {
    set.lineups
        .iter()
        .map(|l| {
            let mut v: Vec<String> = l.players.iter().map(|p| p.id.clone()).collect();
            v.sort();
            v
        })
        .collect()
}

fn run_direct(slate: &Slate, req: &OptimizeRequest, repeats: usize) -> Run {
    let rules = rules::lookup(Site::DraftKings, slate.sport, slate.contest).expect("rules");
    let mut best = f64::INFINITY;
    let mut set = None;
    for _ in 0..repeats {
        let t = Instant::now();
        let s = optimize(slate, rules, req).expect("the case is feasible");
        best = best.min(t.elapsed().as_secs_f64());
        set = Some(s);
    }
    let set = set.expect("a run");
    validate(slate, rules, req, &set).expect("our lineups are valid");
    Run { totals: set.lineups.iter().map(|l| l.projection).collect(), lineups: ids_of(&set), seconds: best }
}

// ---------------------------------------------------------------- through the gateway

mod gateway {
    use std::path::{Path, PathBuf};
    use std::process::Stdio;
    use std::time::{Duration, Instant};

    use rmcp::model::{CallToolRequestParams, ClientCapabilities, ClientConfig, Implementation, ProtocolVersion};
    use rmcp::service::RunningService;
    use rmcp::transport::TokioChildProcess;
    use rmcp::{ClientLifecycleMode, ClientServiceExt as _, RoleClient};
    use serde_json::{json, Value};

    /// The release gateway beside this bench's `dfs-mcp` (both in `target/release`).
    pub fn binary() -> PathBuf {
        Path::new(env!("CARGO_BIN_EXE_dfs-mcp")).with_file_name("dfs-gateway")
    }

    pub struct Gateway {
        rt: tokio::runtime::Runtime,
        service: Option<RunningService<RoleClient, ClientConfig>>,
        _dir: tempfile::TempDir,
    }

    impl Gateway {
        /// Starts the gateway with the data and optimize servers, an empty store and no sample slates.
        pub fn start() -> Result<Gateway, String> {
            let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
            let bin = env!("CARGO_BIN_EXE_dfs-mcp");
            let policy = Path::new(env!("CARGO_MANIFEST_DIR")).join("gateway/dfs-app.toml");
            let servers: String = ["data", "optimize"]
                .iter()
                .map(|s| {
                    format!(
                        "[servers.{s}]\nnamespace = \"app\"\ncommand = \"{bin}\"\nargs = [\"{s}\"]\n\
                         env = {{ DFS_MCP_NO_SAMPLES = \"1\", LOG_LEVEL = \"warn\" }}\n\n"
                    )
                })
                .collect();
            let text = format!(
                "[gateway]\nstate_dir = \"state\"\n\n[policy]\nfiles = [\"{}\"]\ndefault_action = \"allow\"\n\n{servers}",
                policy.display()
            );
            let cfg = dir.path().join("gateway.toml");
            std::fs::write(&cfg, text).map_err(|e| e.to_string())?;
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            let service = rt.block_on(async {
                let mut cmd = tokio::process::Command::new(binary());
                cmd.args(["serve", "--config", cfg.to_str().expect("utf-8 path")])
                    .env("ENABLE_HEALTH", "false")
                    .env("ENABLE_METRICS", "false")
                    .env("APP_SERVERS", "")
                    .env("EXTERNAL_SERVERS", "")
                    .env("LOG_LEVEL", "warn")
                    .env_remove("DATABASE_URL");
                let (transport, _) =
                    TokioChildProcess::builder(cmd).stderr(Stdio::null()).spawn().map_err(|e| e.to_string())?;
                let config =
                    ClientConfig::new(ClientCapabilities::default(), Implementation::new("optimizer-bench", "1"))
                        .with_protocol_version(ProtocolVersion::V_2025_11_25);
                let service = tokio::time::timeout(
                    Duration::from_secs(60),
                    config.serve_with_lifecycle(transport, ClientLifecycleMode::Initialize),
                )
                .await
                .map_err(|_| "connecting to the gateway timed out".to_owned())?
                .map_err(|e| e.to_string())?;
                // the servers start in the background: wait until the optimizer's tool is listed
                let deadline = Instant::now() + Duration::from_secs(60);
                loop {
                    let tools = service.list_all_tools().await.map_err(|e| e.to_string())?;
                    if tools.iter().any(|t| t.name == "app__optimize__lineup")
                        && tools.iter().any(|t| t.name == "app__data__import_slate")
                    {
                        break;
                    }
                    if Instant::now() > deadline {
                        return Err("the gateway did not list app.optimize.lineup within 60 s".to_owned());
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Ok::<_, String>(service)
            })?;
            Ok(Gateway { rt, service: Some(service), _dir: dir })
        }

        /// `tools/call`: the structured result, and the wall time from request to response.
        pub fn call(&self, name: &str, args: Value) -> Result<(Value, f64), String> {
            let Value::Object(map) = args else { return Err("arguments must be an object".into()) };
            let service = self.service.as_ref().expect("connected");
            let params = CallToolRequestParams::new(name.to_owned()).with_arguments(map);
            let start = Instant::now();
            let r = self.rt.block_on(service.call_tool(params)).map_err(|e| format!("{name}: {e}"))?;
            let seconds = start.elapsed().as_secs_f64();
            if r.is_error == Some(true) {
                let text: Vec<String> = r.content.iter().filter_map(|c| c.as_text().map(|t| t.text.clone())).collect();
                return Err(format!("{name}: {}", text.join(" ")));
            }
            Ok((r.structured_content.unwrap_or(json!(null)), seconds))
        }
    }

    impl Drop for Gateway {
        fn drop(&mut self) {
            if let Some(mut s) = self.service.take() {
                let _ = self.rt.block_on(s.close_with_timeout(Duration::from_secs(10)));
            }
        }
    }
}

/// Imports the case's CSV through the gateway and times `app.optimize.lineup` (best of `repeats`).
fn run_gateway(gw: &gateway::Gateway, slate: &Slate, req: &OptimizeRequest, repeats: usize) -> Result<Run, String> {
    let (imported, _) = gw.call("app__data__import_slate", serde_json::json!({ "csv": dk_csv(slate) }))?;
    let slate_id = imported["slate_id"].as_str().ok_or("import_slate returned no slate_id")?.to_owned();
    let mut args = serde_json::to_value(OptimizeRequest { slate_id, ..req.clone() }).map_err(|e| e.to_string())?;
    // the request as a client would send it: only the fields it sets
    if let serde_json::Value::Object(m) = &mut args {
        m.retain(|_, v| !v.is_null() && v != &serde_json::json!([]) && v != &serde_json::json!({}));
        if let Some(serde_json::Value::Object(e)) = m.get_mut("exposure") {
            e.retain(|_, v| !v.is_null() && v != &serde_json::json!({}));
        }
        if m.get("exposure") == Some(&serde_json::json!({})) {
            m.remove("exposure");
        }
    }
    let mut best = f64::INFINITY;
    let mut result = serde_json::Value::Null;
    for _ in 0..repeats {
        let (r, s) = gw.call("app__optimize__lineup", args.clone())?;
        best = best.min(s);
        result = r;
    }
    let lineups = result["lineups"].as_array().ok_or("no lineups in the result")?;
    let totals = lineups.iter().filter_map(|l| l["projection"].as_f64()).collect();
    let ids = lineups
        .iter()
        .map(|l| {
            let mut v: Vec<String> = l["players"]
                .as_array()
                .map(|ps| ps.iter().filter_map(|p| p["id"].as_str().map(str::to_owned)).collect())
                .unwrap_or_default();
            v.sort();
            v
        })
        .collect();
    Ok(Run { totals, lineups: ids, seconds: best })
}

fn show(v: &[f64]) -> String {
    let f = |s: &[f64]| s.iter().map(|x| format!("{x:.2}")).collect::<Vec<_>>().join(" ");
    if v.len() <= 8 {
        f(v)
    } else {
        format!("{} … {}", f(&v[..4]), f(&v[v.len() - 4..]))
    }
}

fn same(a: f64, b: f64) -> bool {
    (a - b).abs() <= TIE * a.abs().max(1.0)
}

/// How two sequences compare: agree, or where they first differ and which is ahead from there.
fn compare(ours: &Run, theirs: &Run) -> (String, Option<usize>) {
    let n = ours.totals.len().min(theirs.totals.len());
    let first_total = (0..n).find(|&i| !same(ours.totals[i], theirs.totals[i]));
    let first_set =
        (0..n.min(ours.lineups.len()).min(theirs.lineups.len())).find(|&i| ours.lineups[i] != theirs.lineups[i]);
    let sum = |r: &Run| r.totals.iter().sum::<f64>();
    match first_total {
        None if ours.totals.len() == theirs.totals.len() => {
            let ties = first_set.map(|i| format!(" (same totals; lineups differ from {} by ties)", i + 1));
            (format!("agree{}", ties.unwrap_or_default()), None)
        }
        None => (format!("{} lineups against {}", ours.totals.len(), theirs.totals.len()), None),
        Some(k) => {
            let ahead = (0..n).filter(|&i| ours.totals[i] > theirs.totals[i] + TIE).count();
            let behind = (0..n).filter(|&i| ours.totals[i] + TIE < theirs.totals[i]).count();
            let tie_note = match first_set {
                Some(s) if s < k => {
                    format!(", lineups first differ at {} with equal totals (a tie broken differently)", s + 1)
                }
                _ => String::new(),
            };
            (
                format!(
                    "DIFFER from lineup {}{tie_note}; ours higher at {ahead}, lower at {behind} of {n}; sums {:.2} vs {:.2}",
                    k + 1,
                    sum(ours),
                    sum(theirs)
                ),
                Some(k + 1),
            )
        }
    }
}

fn main() {
    let quick = std::env::var("BENCH_QUICK").is_ok_and(|v| v != "0");
    let use_pydfs = !quick && std::env::var("BENCH_PYDFS").map(|v| v != "0").unwrap_or(true);
    let repeats = if quick { 1 } else { 3 };
    let only: Option<Vec<String>> =
        std::env::var("BENCH_CASES").ok().map(|s| s.split(',').map(str::to_owned).collect());
    let py = if use_pydfs { pydfs_python() } else { None };
    if use_pydfs && py.is_none() {
        eprintln!(
            "pydfs venv not found at ~/.cache/dfs-gateway-bench/pydfs: comparing nothing (BENCH_PYDFS=0 to silence)"
        );
    }
    let gw = if gateway::binary().exists() {
        match gateway::Gateway::start() {
            Ok(g) => Some(g),
            Err(e) => {
                eprintln!("the gateway did not start ({e}): no gateway column");
                None
            }
        }
    } else {
        eprintln!(
            "{} is missing: build it with `cargo build --release --bin dfs-gateway` for the gateway column",
            gateway::binary().display()
        );
        None
    };
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("optimizer-bench");
    std::fs::create_dir_all(&dir).expect("bench dir");
    println!(
        "best of {repeats} for ours (direct and through the gateway); pydfs once (its solve loop). ratio = pydfs / ours"
    );
    println!(
        "{:<30} {:>7} {:>10} {:>10} {:>10} {:>9} {:>9}",
        "case", "players", "direct", "gateway", "pydfs", "÷direct", "÷gateway"
    );
    let mut notes: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for c in CASES {
        if only.as_ref().is_some_and(|o| !o.iter().any(|n| n == c.name)) {
            continue;
        }
        let slate = generate::slate_with(Site::DraftKings, c.sport, c.contest, c.seed, &SlateOptions::default());
        let req = request(&slate, c);
        let direct = run_direct(&slate, &req, repeats);
        let note = notes.entry(c.name).or_default();
        note.push(format!("direct : {}", show(&direct.totals)));
        let via = gw.as_ref().map(|g| run_gateway(g, &slate, &req, repeats));
        match &via {
            Some(Ok(r)) => {
                let (verdict, _) = compare(&direct, r);
                note.push(format!("gateway: {} ({verdict} with direct)", show(&r.totals)));
            }
            Some(Err(e)) => note.push(format!("gateway failed: {e}")),
            None => {}
        }
        let theirs = py.as_deref().map(|p| run_pydfs(p, &dir, &slate, c));
        match &theirs {
            Some(Ok(r)) => {
                let (verdict, first) = compare(&direct, r);
                note.push(format!("pydfs  : {}", show(&r.totals)));
                note.push(format!("ours vs pydfs: {verdict}"));
                if let Some(k) = first {
                    // where they differ, ask pydfs (CBC) for lineup k given our first k-1
                    let mut ks: Vec<usize> = (0..direct.totals.len().min(r.totals.len()))
                        .filter(|&i| !same(direct.totals[i], r.totals[i]))
                        .map(|i| i + 1)
                        .collect();
                    ks.retain(|&x| x == k || x % 25 == 0 || x == direct.totals.len());
                    ks.truncate(6);
                    match pydfs_replay(py.as_deref().expect("pydfs"), &dir, &slate, c, &direct, &ks) {
                        Ok(best) => {
                            let agree = ks.iter().zip(&best).filter(|(&k, &b)| same(b, direct.totals[k - 1])).count();
                            let shown: Vec<String> = ks
                                .iter()
                                .zip(&best)
                                .map(|(&k, b)| format!("#{k}: CBC {b:.2}, ours {:.2}", direct.totals[k - 1]))
                                .collect();
                            note.push(format!(
                                "pydfs given our earlier lineups finds our total at {agree} of {} checked: {}",
                                ks.len(),
                                shown.join("; ")
                            ));
                        }
                        Err(e) => note.push(format!("replay failed: {e}")),
                    }
                }
            }
            Some(Err(e)) => note.push(format!("pydfs failed: {e}")),
            None => {}
        }
        let ms = |s: f64| format!("{:.1} ms", s * 1e3);
        let (gw_s, pd_s) = (
            via.as_ref().and_then(|r| r.as_ref().ok()).map(|r| r.seconds),
            theirs.as_ref().and_then(|r| r.as_ref().ok()).map(|r| r.seconds),
        );
        let ratio = |ours: Option<f64>| match (ours, pd_s) {
            (Some(o), Some(p)) => format!("{:.0}×", p / o),
            _ => "-".into(),
        };
        println!(
            "{:<30} {:>7} {:>10} {:>10} {:>10} {:>9} {:>9}",
            c.name,
            slate.players.len(),
            ms(direct.seconds),
            gw_s.map(ms).unwrap_or_else(|| "-".into()),
            pd_s.map(|s| format!("{s:.2} s")).unwrap_or_else(|| "-".into()),
            ratio(Some(direct.seconds)),
            ratio(gw_s)
        );
    }
    println!("\nprojected-total sequences (first four … last four):");
    for c in CASES {
        if let Some(lines) = notes.get(c.name) {
            println!("{}:", c.name);
            for l in lines {
                println!("    {l}");
            }
        }
    }
}
