//! The store's contract, run against both backends: the embedded SQLite file and a real PostgreSQL started by
//! the test (skipped when PostgreSQL is not installed, a failure with `CI=true`).

mod support;

use std::sync::{Arc, Barrier};

use dfs_mcp::import::{parse_salary_csv, ImportOptions, ProjectionValues};
use dfs_mcp::model::{ContestType, Lineup, LineupPlayer, Site, Slate, Sport};
use dfs_mcp::optimize::LineupSet;
use dfs_mcp::store::{ProjectionMode, SlateFilter, Store, StoreConfig, StoreError};
use support::pg::PgCluster;

/// A database for one test: a fresh SQLite file or a fresh PostgreSQL database.
struct Db {
    config: StoreConfig,
    _dir: Option<tempfile::TempDir>,
}

impl Db {
    fn open(&self) -> Store {
        Store::open(&self.config).unwrap_or_else(|e| panic!("open {:?}: {e}", self.config))
    }
}

fn sqlite_db() -> Db {
    let dir = tempfile::tempdir().unwrap();
    Db { config: StoreConfig { state_dir: dir.path().join("state"), database_url: None }, _dir: Some(dir) }
}

fn postgres_db() -> Option<Db> {
    let cluster = PgCluster::shared()?;
    Some(Db {
        config: StoreConfig { state_dir: "/nonexistent".into(), database_url: Some(cluster.new_database()) },
        _dir: None,
    })
}

macro_rules! both {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[test]
            fn sqlite() {
                super::$name(&super::sqlite_db());
            }
            #[test]
            fn postgres() {
                if let Some(db) = super::postgres_db() {
                    super::$name(&db);
                }
            }
        }
    )*};
}

both!(
    migrations_are_versioned_and_idempotent,
    slates_read_back_as_imported,
    listing_filters_and_pages,
    projections_replace_and_merge,
    a_failed_import_leaves_nothing,
    lineup_sets_and_simulations,
    seeding_happens_once_across_processes,
    concurrent_writers_from_several_processes,
);

fn slate(file: &str) -> Slate {
    parse_salary_csv(&support::file(file), &ImportOptions::default()).unwrap()
}

fn migrations_are_versioned_and_idempotent(db: &Db) {
    let store = db.open();
    assert_eq!(store.schema_versions().unwrap(), [1]);
    assert_eq!(store.migrate().unwrap(), Vec::<i64>::new(), "applying again changes nothing");
    let again = db.open();
    assert_eq!(again.schema_versions().unwrap(), [1]);
    assert!(again.list_slates(&SlateFilter::default()).unwrap().0.is_empty());
}

fn slates_read_back_as_imported(db: &Db) {
    let store = db.open();
    for (file, prefix) in [
        ("dk-nfl-classic.csv", "dk-nfl-classic-2025-01-26-"),
        ("dk-nfl-showdown.csv", "dk-nfl-showdown-2025-01-26-"),
        ("dk-mlb-classic.csv", "dk-mlb-classic-2025-07-04-"),
        ("dk-nfl-late.csv", "dk-nfl-classic-2025-01-26-"),
        ("fd-mlb-classic.csv", "fd-mlb-classic-"),
        ("fd-nfl-single.csv", "fd-nfl-showdown-"),
    ] {
        let parsed = slate(file);
        let stored = store.insert_slate(&parsed).unwrap();
        assert!(stored.id.starts_with(prefix), "{} for {file}", stored.id);
        assert!(stored.imported_at > 1_700_000_000);
        let loaded = store.slate(&stored.id).unwrap();
        assert_eq!(loaded, stored, "{file}");
        assert_eq!(loaded.players, parsed.players);
    }
    let err = store.slate("dk-nope").unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)) && err.to_string().contains("\"dk-nope\""), "{err}");
}

fn listing_filters_and_pages(db: &Db) {
    let store = db.open();
    let nfl = store.insert_slate(&slate("dk-nfl-classic.csv")).unwrap();
    let nba = store.insert_slate(&slate("dk-nba-classic.csv")).unwrap();
    let fd = store.insert_slate(&slate("fd-nfl-classic.csv")).unwrap();
    let (all, total) = store.list_slates(&SlateFilter::default()).unwrap();
    assert_eq!(total, 3);
    let ids: Vec<&str> = all.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, [fd.id.as_str(), nba.id.as_str(), nfl.id.as_str()], "newest first");
    let n = &all[2];
    assert_eq!((n.site, n.sport, n.contest), (Site::DraftKings, Sport::Nfl, ContestType::Classic));
    assert_eq!((n.games, n.players, n.salary_min, n.salary_max), (2, 13, 2900, 8900));
    assert_eq!(n.first_lock, Some(1_737_921_600), "the 3 PM ET game");
    assert_eq!(n.projected, 0);
    let only_fd = SlateFilter { site: Some(Site::FanDuel), ..Default::default() };
    assert_eq!(store.list_slates(&only_fd).unwrap().0.iter().map(|s| &s.id).collect::<Vec<_>>(), [&fd.id]);
    let only_nba = SlateFilter { sport: Some(Sport::Nba), contest: Some(ContestType::Classic), ..Default::default() };
    assert_eq!(store.list_slates(&only_nba).unwrap().0[0].id, nba.id);
    let showdown = SlateFilter { contest: Some(ContestType::Showdown), ..Default::default() };
    assert_eq!(store.list_slates(&showdown).unwrap(), (vec![], 0));
    let page = SlateFilter { limit: 1, offset: 1, ..Default::default() };
    let (one, total) = store.list_slates(&page).unwrap();
    assert_eq!((one.len(), one[0].id.as_str(), total), (1, nba.id.as_str(), 3));
}

fn values(id: &str, projection: Option<f64>, ownership: Option<f64>) -> ProjectionValues {
    ProjectionValues { player_id: id.into(), projection, ownership, ..Default::default() }
}

fn projections_replace_and_merge(db: &Db) {
    let store = db.open();
    let s = store.insert_slate(&slate("dk-nfl-classic.csv")).unwrap();
    let get = |id: &str| store.slate(&s.id).unwrap().player(id).unwrap().clone();
    let mut a = values("30100001", Some(25.5), None);
    a.stdev = Some(7.25);
    a.line = Some("L1".into());
    store.set_projections(&s.id, &[a], ProjectionMode::Replace).unwrap();
    let holt = get("30100001");
    assert_eq!((holt.projection, holt.stdev, holt.ownership, holt.points()), (Some(25.5), Some(7.25), None, 25.5));
    assert_eq!(holt.line.as_deref(), Some("L1"));
    store.set_projections(&s.id, &[values("30100001", None, Some(12.5))], ProjectionMode::Merge).unwrap();
    let holt = get("30100001");
    assert_eq!((holt.projection, holt.ownership), (Some(25.5), Some(12.5)), "merge keeps what it is not given");
    store.set_projections(&s.id, &[values("30100003", Some(18.0), None)], ProjectionMode::Merge).unwrap();
    assert_eq!(get("30100001").projection, Some(25.5), "merge leaves other players alone");
    assert_eq!(store.list_slates(&SlateFilter::default()).unwrap().0[0].projected, 2);
    store.set_projections(&s.id, &[values("30100003", Some(19.0), None)], ProjectionMode::Replace).unwrap();
    let holt = get("30100001");
    assert_eq!((holt.projection, holt.points()), (None, 24.36), "replace: back to the site's average");
    assert_eq!(get("30100003").projection, Some(19.0));
    let err = store
        .set_projections(
            &s.id,
            &[values("30100005", Some(1.0), None), values("999", Some(1.0), None)],
            ProjectionMode::Merge,
        )
        .unwrap_err();
    assert!(
        err.to_string().contains("has no player \"999\"") && err.to_string().contains("nothing was changed"),
        "{err}"
    );
    assert_eq!(get("30100005").projection, None, "no part of a failed call is kept");
    assert!(matches!(store.set_projections("nope", &[], ProjectionMode::Merge), Err(StoreError::NotFound(_))));
}

fn a_failed_import_leaves_nothing(db: &Db) {
    let store = db.open();
    let mut bad = slate("dk-nfl-classic.csv");
    let dup = bad.players[0].clone();
    bad.players.push(dup);
    let err = store.insert_slate(&bad).unwrap_err();
    assert!(matches!(err, StoreError::Database { .. }), "{err}");
    assert_eq!(store.list_slates(&SlateFilter::default()).unwrap().1, 0);
    let good = store.insert_slate(&slate("dk-nfl-classic.csv")).unwrap();
    assert_eq!(store.slate(&good.id).unwrap().players.len(), 13);
}

fn lineup_of(s: &Slate, ids: &[&str]) -> Lineup {
    let players: Vec<LineupPlayer> = ids
        .iter()
        .map(|id| {
            let p = s.player(id).unwrap();
            LineupPlayer {
                id: p.id.clone(),
                player_id: p.id.clone(),
                name: p.name.clone(),
                slot: p.eligible[0].clone(),
                positions: p.positions.clone(),
                team: p.team.clone(),
                salary: p.salary,
                projection: p.points(),
            }
        })
        .collect();
    Lineup {
        salary: players.iter().map(|p| p.salary).sum(),
        projection: players.iter().map(|p| p.projection).sum(),
        players,
    }
}

fn lineup_sets_and_simulations(db: &Db) {
    let store = db.open();
    let s = store.insert_slate(&slate("dk-nfl-classic.csv")).unwrap();
    assert_eq!(store.latest_lineup_set(&s.id).unwrap(), None);
    let set = |ids: &[&str]| LineupSet {
        slate_id: s.id.clone(),
        lineups: vec![lineup_of(&s, ids)],
        csv: format!("QB\r\n{}\r\n", ids[0]),
    };
    let first = store
        .insert_lineup_set(&serde_json::json!({"slate_id": s.id, "count": 1}), &set(&["30100001", "30100003"]))
        .unwrap();
    let second_set = set(&["30100002", "30100004"]);
    let request = serde_json::json!({"slate_id": s.id, "count": 1, "locks": ["30100002"]});
    let second = store.insert_lineup_set(&request, &second_set).unwrap();
    assert_ne!(first, second);
    let latest = store.latest_lineup_set(&s.id).unwrap().unwrap();
    assert_eq!((latest.id.as_str(), &latest.set, &latest.request), (second.as_str(), &second_set, &request));
    assert_eq!(store.lineup_set(&first).unwrap().set.lineups[0].players[0].id, "30100001");
    assert!(matches!(store.lineup_set("ls-999"), Err(StoreError::NotFound(_))));
    let bad = LineupSet { slate_id: "nope".into(), lineups: vec![], csv: String::new() };
    assert!(matches!(store.insert_lineup_set(&request, &bad), Err(StoreError::NotFound(_))));

    // The report is the simulator's, stored whole as JSON.
    let report = serde_json::json!({
        "slate_id": s.id, "runs": 1000, "seed": 7, "field_size": 100, "entry_fee": 20.0,
        "lineups": [{"index": 0, "player_ids": ["30100002", "30100004"], "mean": 35.9, "roi_pct": null,
                     "percentiles": {"p10": 24.0, "p50": 35.0, "p90": 48.25}}]
    });
    let sim = store.insert_simulation(&s.id, Some(&second), &serde_json::json!({"slate_id": s.id}), &report).unwrap();
    let back = store.simulation(&sim).unwrap();
    assert_eq!(
        (back.report, back.lineup_set_id.as_deref(), back.slate_id),
        (report.clone(), Some(second.as_str()), s.id.clone())
    );
    assert!(matches!(store.simulation("sim-999"), Err(StoreError::NotFound(_))));
    let orphan = store.insert_simulation("nope", None, &serde_json::json!({}), &report);
    assert!(matches!(orphan, Err(StoreError::NotFound(_))));
}

fn seeding_happens_once_across_processes(db: &Db) {
    // Each thread opens its own store (its own connection), as separate server processes do.
    let n = 4;
    let barrier = Arc::new(Barrier::new(n));
    let results: Vec<Option<Vec<String>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..n)
            .map(|_| {
                let barrier = barrier.clone();
                scope.spawn(move || {
                    let store = db.open();
                    barrier.wait();
                    store
                        .seed_once("samples-v1", &|| {
                            vec![
                                (slate("dk-nfl-classic.csv"), vec![values("30100001", Some(30.0), Some(20.0))]),
                                (slate("fd-nba-classic.csv"), vec![]),
                            ]
                        })
                        .unwrap()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let seeded: Vec<&Vec<String>> = results.iter().flatten().collect();
    assert_eq!(seeded.len(), 1, "exactly one process seeds: {results:?}");
    let store = db.open();
    assert_eq!(store.list_slates(&SlateFilter::default()).unwrap().1, 2);
    let nfl = store.slate(&seeded[0][0]).unwrap();
    assert_eq!(nfl.player("30100001").unwrap().ownership, Some(20.0), "the sample's projections come with it");
    assert_eq!(store.seed_once("samples-v1", &|| panic!("must not run again")).unwrap(), None);
}

fn concurrent_writers_from_several_processes(db: &Db) {
    let (writers, each) = (4, 5);
    let barrier = Arc::new(Barrier::new(writers));
    let ids: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..writers)
            .map(|w| {
                let barrier = barrier.clone();
                scope.spawn(move || {
                    let store = db.open();
                    let file = if w % 2 == 0 { "dk-nfl-classic.csv" } else { "fd-nhl-classic.csv" };
                    let s = slate(file);
                    barrier.wait();
                    let mut ids = Vec::new();
                    for i in 0..each {
                        let stored = store.insert_slate(&s).unwrap();
                        let v = values(&stored.players[0].id, Some(i as f64), None);
                        store.set_projections(&stored.id, &[v], ProjectionMode::Replace).unwrap();
                        ids.push(stored.id);
                    }
                    ids
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), writers * each, "every import got its own id");
    let store = db.open();
    let (all, total) = store.list_slates(&SlateFilter::default()).unwrap();
    assert_eq!(total as usize, writers * each);
    assert!(all.iter().all(|s| s.projected == 1 && (s.players == 13 || s.players == 6)));
}

#[test]
fn sqlite_uses_wal_in_the_state_dir() {
    let db = sqlite_db();
    let store = db.open();
    store.insert_slate(&slate("dk-nfl-classic.csv")).unwrap();
    let path = db.config.state_dir.join(dfs_mcp::store::SQLITE_FILE);
    assert!(store.describe().contains(&path.display().to_string()));
    let conn = rusqlite::Connection::open(&path).unwrap();
    let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
    assert_eq!(mode, "wal");
}

#[test]
fn postgres_going_away_and_coming_back() {
    let Some(cluster) = PgCluster::start() else { return };
    let config = StoreConfig { state_dir: "/nonexistent".into(), database_url: Some(cluster.new_database()) };
    let store = Store::open(&config).unwrap();
    let s = store.insert_slate(&slate("dk-nfl-classic.csv")).unwrap();
    cluster.stop();
    let err = store.slate(&s.id).unwrap_err();
    assert!(matches!(err, StoreError::Unavailable { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.starts_with("the database is unavailable (PostgreSQL at 127.0.0.1:"), "{msg}");
    assert!(msg.contains("retry when it is back"), "{msg}");
    assert!(!msg.contains("password"), "{msg}");
    let err = store.insert_slate(&slate("dk-nba-classic.csv")).unwrap_err();
    assert!(matches!(err, StoreError::Unavailable { .. }), "{err:?}");
    cluster.restart();
    assert_eq!(store.slate(&s.id).unwrap().players.len(), 13, "the next call after it is back works");
    // A connection that died while idle: the call after the restart reconnects on its own.
    cluster.stop();
    cluster.restart();
    assert_eq!(store.list_slates(&SlateFilter::default()).unwrap().1, 1);
}

#[test]
fn postgres_down_at_start_is_an_error_of_the_call_not_of_open() {
    let Some(cluster) = PgCluster::start() else { return };
    let url = cluster.new_database();
    cluster.stop();
    let store = Store::open(&StoreConfig { state_dir: "/nonexistent".into(), database_url: Some(url) }).unwrap();
    assert!(matches!(store.list_slates(&SlateFilter::default()), Err(StoreError::Unavailable { .. })));
    cluster.restart();
    assert_eq!(store.schema_versions().unwrap(), [1], "migrated on the first connection");
}
