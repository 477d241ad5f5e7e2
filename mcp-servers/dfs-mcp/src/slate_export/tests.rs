//! Writers against the importers: what is written reads back as the same slate, and the hand-written files in
//! the sites' layouts come back byte for byte where the writer has no choice to make.

use super::*;
use crate::import::{parse_projections_csv, parse_salary_csv, ImportOptions};
use crate::model::{Game, GameStatus};

macro_rules! file {
    ($name:literal) => {
        include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/files/", $name))
    };
}

fn parse(text: &str) -> Slate {
    parse_salary_csv(text, &ImportOptions::default()).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// FanDuel carries no start times: give the import the slate's own.
fn reparse(slate: &Slate) -> Slate {
    let text = write_salary_csv(slate);
    let game_times = slate.games.iter().filter_map(|g| g.start.map(|s| (g.id.clone(), s))).collect();
    let options = ImportOptions { name: Some(slate.name.clone()), game_times, ..Default::default() };
    parse_salary_csv(&text, &options).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

#[test]
fn hand_written_files_round_trip() {
    for text in [
        file!("dk-nfl-classic.csv"),
        file!("dk-nba-classic.csv"),
        file!("dk-mlb-classic.csv"),
        file!("dk-nhl-classic.csv"),
        file!("dk-nfl-showdown.csv"),
        file!("dk-nba-showdown.csv"),
        file!("dk-entries-template.csv"),
        file!("fd-nfl-classic.csv"),
        file!("fd-nba-classic.csv"),
        file!("fd-mlb-classic.csv"),
        file!("fd-nhl-classic.csv"),
        file!("fd-nfl-single.csv"),
    ] {
        let slate = parse(text);
        assert_eq!(reparse(&slate), slate, "{}", slate.name);
        let written = write_salary_csv(&slate);
        assert_eq!(write_salary_csv(&reparse(&slate)), written, "writing is a fixed point");
    }
}

#[test]
fn dk_classic_is_the_site_layout() {
    let original = file!("dk-nfl-classic.csv");
    let written = write_salary_csv(&parse(original));
    assert_eq!(written, original.replace('\n', "\r\n"), "header, name padding of DSTs, Game Info, numbers");
}

#[test]
fn dk_showdown_rows_by_salary_like_the_site() {
    let written = write_salary_csv(&parse(file!("dk-nfl-showdown.csv")));
    let rows: Vec<(&str, &str)> = written
        .lines()
        .skip(1)
        .map(|l| {
            let c: Vec<&str> = l.split(',').collect();
            (c[3], c[4])
        })
        .collect();
    assert_eq!(rows[0], ("30200001", "CPT"));
    assert_eq!(rows[3], ("30200002", "FLEX"));
    let salaries: Vec<u32> = written.lines().skip(1).map(|l| l.split(',').nth(5).unwrap().parse().unwrap()).collect();
    assert!(salaries.windows(2).all(|w| w[0] >= w[1]), "{salaries:?}");
}

#[test]
fn fd_layout_and_what_it_carries() {
    let slate = parse(file!("fd-mlb-classic.csv"));
    let written = write_salary_csv(&slate);
    let header = written.lines().next().unwrap();
    assert_eq!(header, [FD_HEADER, FD_MLB_EXTRA].concat().join(","));
    assert!(
        written.contains("\r\n77001-20003,C,Luis,Luis Ybarra,Ybarra,8.9,,2900,LAD@SF,LAD,SF,,,,,6,C/1B\r\n"),
        "{written}"
    );
    let nfl = write_salary_csv(&parse(file!("fd-nfl-classic.csv")));
    assert!(nfl.starts_with(&format!("{}\r\n", FD_HEADER.join(","))));
    assert!(nfl.contains(",D,Buffalo,Buffalo Bills,Bills,8,,4400,KC@BUF,BUF,KC,"), "{nfl}");
}

/// A slate built by hand with everything a file can carry, in awkward shapes: names with commas and quotes,
/// a start on the night daylight saving ends, a game without a start.
#[test]
fn awkward_values_round_trip() {
    let mut slate = parse(file!("dk-nba-classic.csv"));
    slate.players[0].name = "O'Neal, \"Big\" Jr.".into();
    slate.players[1].avg_points = 0.1 + 0.2;
    slate.games[0].start = Some(1_762_061_400);
    slate.games.push(Game {
        id: "CHI@MIL".into(),
        away: "CHI".into(),
        home: "MIL".into(),
        start: None,
        status: GameStatus::Scheduled,
    });
    let mut p = slate.players[2].clone();
    p.id = "40299999".into();
    p.team = "CHI".into();
    p.opponent = "MIL".into();
    p.game = "CHI@MIL".into();
    slate.players.push(p);
    let back = reparse(&slate);
    // Games come back ordered by start (unknown last).
    let mut want = slate.clone();
    want.games.sort_by_key(|g| (g.start.unwrap_or(i64::MAX), g.id.clone()));
    assert_eq!(back, want);
}

#[test]
fn projections_csv_round_trip() {
    let mut slate = parse(file!("dk-nhl-classic.csv"));
    for (i, p) in slate.players.iter_mut().enumerate() {
        p.projection = Some(10.0 + i as f64 / 3.0);
        p.stdev = Some(4.25);
        p.ownership = Some(12.5);
        p.ceiling = Some(30.0);
        p.floor = Some(1.5);
        p.line = Some(format!("L{}", i % 3 + 1));
    }
    let text = write_projections_csv(&slate);
    let got = parse_projections_csv(&text, &slate).unwrap();
    assert!(got.unmatched.is_empty());
    for (v, p) in got.values.iter().zip(&slate.players) {
        assert_eq!(v.player_id, p.id);
        assert_eq!(
            (v.projection, v.stdev, v.ownership, v.ceiling, v.floor),
            (p.projection, p.stdev, p.ownership, p.ceiling, p.floor)
        );
        assert_eq!(v.line, p.line);
    }
}

/// What a salary file carries of a player: the rest (projections, and per site what its layout lacks) is
/// cleared before comparing.
fn carried(slate: &Slate) -> Slate {
    let mut s = slate.clone();
    for p in &mut s.players {
        p.projection = None;
        p.stdev = None;
        p.ownership = None;
        p.ceiling = None;
        p.floor = None;
        p.line = None;
        if s.site == Site::DraftKings {
            p.status.clear();
            p.batting_order = None;
        } else if s.sport != crate::model::Sport::Mlb {
            p.batting_order = None;
        }
    }
    s.games.sort_by_key(|g| (g.start.unwrap_or(i64::MAX), g.id.clone()));
    s
}

#[test]
fn generated_slates_round_trip_for_every_site_sport_and_contest() {
    use crate::model::{ContestType, Sport};
    for site in Site::ALL {
        for sport in Sport::ALL {
            for contest in [ContestType::Classic, ContestType::Showdown] {
                for seed in [1, 2] {
                    let generated = crate::generate::slate(site, sport, contest, seed);
                    let want = carried(&generated);
                    let mut back = reparse(&generated);
                    back.id = want.id.clone();
                    back.imported_at = want.imported_at;
                    assert_eq!(back, want, "{site:?} {sport:?} {contest:?} seed {seed}");
                }
            }
        }
    }
}
