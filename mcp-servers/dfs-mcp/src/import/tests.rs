//! The importers against hand-written files in the sites' layouts (`tests/files/`).

use super::*;
use crate::model::GameStatus;

macro_rules! file {
    ($name:literal) => {
        include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/files/", $name))
    };
}

fn parse(text: &str) -> Slate {
    parse_salary_csv(text, &ImportOptions::default()).unwrap_or_else(|e| panic!("{e}"))
}

fn err(text: &str, options: &ImportOptions) -> String {
    parse_salary_csv(text, options).expect_err("must fail").to_string()
}

#[test]
fn dk_nfl_classic() {
    let s = parse(file!("dk-nfl-classic.csv"));
    assert_eq!((s.site, s.sport, s.contest), (Site::DraftKings, Sport::Nfl, ContestType::Classic));
    assert_eq!(s.players.len(), 13);
    assert_eq!(s.name, "DraftKings NFL classic 2025-01-26");
    // Games sorted by start: the 3 PM game first.
    let ids: Vec<&str> = s.games.iter().map(|g| g.id.as_str()).collect();
    assert_eq!(ids, ["PHI@WAS", "KC@BUF"]);
    assert_eq!(s.games[1].start, Some(1_737_934_200));
    let holt = s.player("30100001").unwrap();
    assert_eq!((holt.team.as_str(), holt.opponent.as_str(), holt.game.as_str()), ("KC", "BUF", "KC@BUF"));
    assert_eq!(holt.avg_points, 24.36);
    assert_eq!(holt.eligible, ["QB"]);
    let banks = s.player("30100003").unwrap();
    assert_eq!(banks.eligible, ["RB", "FLEX"]);
    assert_eq!(banks.opponent, "WAS");
    let bills = s.player("30100012").unwrap();
    assert_eq!(bills.name, "Bills", "DST names lose DraftKings' trailing space");
    assert_eq!(bills.positions, ["DST"]);
    assert_eq!(s.player("30100005").unwrap().avg_points, 0.0);
}

#[test]
fn dk_other_sports_by_positions() {
    let nba = parse(file!("dk-nba-classic.csv"));
    assert_eq!((nba.sport, nba.contest), (Sport::Nba, ContestType::Classic));
    let fisk = nba.player("40200002").unwrap();
    assert_eq!(fisk.positions, ["PG", "SG"]);
    assert_eq!(fisk.eligible, ["PG", "SG", "G", "UTIL"]);
    let mlb = parse(file!("dk-mlb-classic.csv"));
    assert_eq!(mlb.sport, Sport::Mlb);
    assert_eq!(mlb.player("50300005").unwrap().eligible, ["1B", "3B"]);
    // 07/04 is daylight time: 07:10PM EDT = 23:10 UTC.
    assert_eq!(mlb.games.iter().find(|g| g.id == "NYY@BOS").unwrap().start, Some(1_751_670_600));
    let nhl = parse(file!("dk-nhl-classic.csv"));
    assert_eq!(nhl.sport, Sport::Nhl);
    assert_eq!(nhl.player("60400006").unwrap().eligible, ["G"]);
}

#[test]
fn dk_showdown_merges_captain_rows() {
    let s = parse(file!("dk-nfl-showdown.csv"));
    assert_eq!((s.sport, s.contest), (Sport::Nfl, ContestType::Showdown));
    assert_eq!(s.players.len(), 5, "ten rows, five people");
    let ids: Vec<&str> = s.players.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, ["30200002", "30200006", "30200004", "30200008", "30200010"], "the FLEX rows' order");
    let holt = &s.players[0];
    assert_eq!(holt.captain, Some(crate::model::CaptainRow { id: "30200001".into(), salary: 17400 }));
    assert_eq!(holt.salary, 11600);
    assert_eq!(holt.eligible, ["CPT", "FLEX"]);
    assert_eq!(s.player("30200001").unwrap().id, "30200002", "a captain id finds the person");
    let nba = parse(file!("dk-nba-showdown.csv"));
    assert_eq!((nba.sport, nba.contest), (Sport::Nba, ContestType::Showdown));
    assert_eq!(nba.players[0].eligible, ["CPT", "UTIL"]);
    assert_eq!(nba.games.len(), 1);
}

#[test]
fn dk_entries_template_with_instructions_beside() {
    let s = parse(file!("dk-entries-template.csv"));
    assert_eq!((s.site, s.sport), (Site::DraftKings, Sport::Nfl));
    assert_eq!(s.players.len(), 5);
    assert_eq!(s.player("30100012").unwrap().name, "Bills");
}

#[test]
fn dk_bom_crlf_quotes_and_extra_columns() {
    let plain = parse(file!("dk-nfl-classic.csv"));
    let mut text = String::from("\u{feff}");
    for (i, line) in file!("dk-nfl-classic.csv").lines().enumerate() {
        // Quoted cells, an extra column in the middle of the header (found by name) and trailing commas.
        let mut cells: Vec<String> = line.split(',').map(|c| format!("\"{c}\"")).collect();
        cells.insert(3, if i == 0 { "Extra".into() } else { "x".into() });
        text.push_str(&cells.join(","));
        text.push_str(",,\r\n");
    }
    assert_eq!(parse(&text), plain);
}

#[test]
fn dk_bad_rows_are_named_by_line_and_nothing_is_imported() {
    let msg = err(file!("dk-nfl-broken.csv"), &ImportOptions::default());
    assert!(msg.contains(r#"line 3: Salary "abc" is not a number"#), "{msg}");
    assert!(msg.contains("line 4: Game Info \"PHI vs WAS\""), "{msg}");
    assert!(msg.contains(r#"line 5: TeamAbbrev "NYJ" is not a team of game PHI@WAS"#), "{msg}");
    assert!(msg.contains(r#"line 6: AvgPointsPerGame "many" is not a number"#), "{msg}");
    assert!(msg.contains("nothing was imported"), "{msg}");
    assert!(!msg.contains("line 2"), "{msg}");
}

#[test]
fn dk_overrides_and_mismatches() {
    let text = file!("dk-nfl-classic.csv");
    let as_fd = ImportOptions { site: Some(Site::FanDuel), ..Default::default() };
    assert!(err(text, &as_fd).contains("is a DraftKings salary export"));
    let as_nba = ImportOptions { sport: Some(Sport::Nba), ..Default::default() };
    assert!(err(text, &as_nba).contains(r#"line 2: Roster Position "QB" is not a slot of DraftKings NBA classic"#));
    let as_classic = ImportOptions { contest: Some(ContestType::Classic), ..Default::default() };
    let msg = err(file!("dk-nfl-showdown.csv"), &as_classic);
    assert!(msg.contains(r#"line 2: Roster Position "CPT" is not a slot of DraftKings NFL classic"#), "{msg}");
    let named = ImportOptions { name: Some("Sunday main".into()), ..Default::default() };
    assert_eq!(parse_salary_csv(text, &named).unwrap().name, "Sunday main");
    // A file of centers only fits three sports.
    let centers = "Position,Name + ID,Name,ID,Roster Position,Salary,Game Info,TeamAbbrev,AvgPointsPerGame\n\
                   C,A (1),A,1,C/UTIL,5000,X@Y 01/26/2025 06:30PM ET,X,1\n";
    assert!(err(centers, &ImportOptions::default()).contains("give `sport`"));
    let as_nhl = ImportOptions { sport: Some(Sport::Nhl), ..Default::default() };
    assert_eq!(parse_salary_csv(centers, &as_nhl).unwrap().sport, Sport::Nhl);
    assert!(err("a,b\n1,2\n", &ImportOptions::default()).contains("no header row"));
    let dup = format!("{text}QB,Again (30100001),Again,30100001,QB,5000,KC@BUF 01/26/2025 06:30PM ET,KC,1\n");
    assert!(err(&dup, &ImportOptions::default()).contains("line 15: ID 30100001 appears twice (also on line 2)"));
}

#[test]
fn dk_showdown_captain_without_flex_row() {
    let text: String =
        file!("dk-nfl-showdown.csv").lines().filter(|l| !l.contains("30200008")).map(|l| format!("{l}\n")).collect();
    let msg = err(&text, &ImportOptions::default());
    assert!(msg.contains("line 8: CPT row of Evan Solberg (KC) has no FLEX/UTIL row"), "{msg}");
}

#[test]
fn dk_after_lock() {
    let s = parse(file!("dk-nfl-late.csv"));
    // KC and BUF are both "In Progress" and no row names their game: each team stands alone, locked.
    let kc = s.games.iter().find(|g| g.id == "KC").unwrap();
    assert_eq!((kc.status, kc.start), (GameStatus::InProgress, None));
    assert_eq!(s.player("30100001").unwrap().opponent, "");
    // PHI's row says Final, but WAS's row names PHI@WAS: PHI joins it and the game is final.
    let phi = s.games.iter().find(|g| g.id == "PHI@WAS").unwrap();
    assert_eq!(phi.status, GameStatus::Final);
    assert_eq!(s.player("30100003").unwrap().game, "PHI@WAS");
    assert_eq!(s.player("30100003").unwrap().opponent, "WAS");
    assert_eq!(s.games.iter().find(|g| g.id == "DAL@NYG").unwrap().status, GameStatus::Scheduled);
}

#[test]
fn fd_classic_all_sports() {
    let nfl = parse(file!("fd-nfl-classic.csv"));
    assert_eq!((nfl.site, nfl.sport, nfl.contest), (Site::FanDuel, Sport::Nfl, ContestType::Classic));
    assert_eq!(nfl.players.len(), 11);
    let bills = nfl.player("112233-50009").unwrap();
    assert_eq!((bills.name.as_str(), bills.eligible.as_slice()), ("Buffalo Bills", &["DEF".to_owned()][..]));
    assert_eq!(nfl.player("112233-50004").unwrap().status, "O");
    assert!(nfl.player("112233-50004").unwrap().is_out());
    assert_eq!(nfl.player("112233-50003").unwrap().eligible, ["RB", "FLEX"]);
    assert!(nfl.games.iter().all(|g| g.start.is_none()), "FanDuel files carry no start times");
    let nba = parse(file!("fd-nba-classic.csv"));
    assert_eq!(nba.sport, Sport::Nba);
    assert_eq!(nba.player("98765-10002").unwrap().eligible, ["PG", "SG"]);
    let mlb = parse(file!("fd-mlb-classic.csv"));
    assert_eq!(mlb.sport, Sport::Mlb);
    assert_eq!(mlb.player("77001-20003").unwrap().eligible, ["C/1B", "UTIL"]);
    assert_eq!(mlb.player("77001-20006").unwrap().batting_order, Some(1));
    assert_eq!(mlb.player("77001-20001").unwrap().batting_order, None);
    let nhl = parse(file!("fd-nhl-classic.csv"));
    assert_eq!(nhl.sport, Sport::Nhl);
    assert_eq!(nhl.player("5544-30006").unwrap().status, "IR");
}

#[test]
fn fd_single_game_and_start_times() {
    let s = parse(file!("fd-nfl-single.csv"));
    assert_eq!((s.sport, s.contest), (Sport::Nfl, ContestType::Showdown));
    assert_eq!(s.player("445566-70005").unwrap().eligible, ["MVP", "UTIL"]);
    assert_eq!(s.name, "FanDuel NFL single game");
    let mut times = BTreeMap::new();
    times.insert("KC@BUF".to_owned(), 1_737_934_200);
    let opts = ImportOptions { game_times: times.clone(), ..Default::default() };
    let timed = parse_salary_csv(file!("fd-nfl-single.csv"), &opts).unwrap();
    assert_eq!(timed.games[0].start, Some(1_737_934_200));
    assert_eq!(timed.name, "FanDuel NFL single game 2025-01-26");
    times.insert("NE@NYJ".to_owned(), 1);
    let msg = err(file!("fd-nfl-single.csv"), &ImportOptions { game_times: times, ..Default::default() });
    assert!(msg.contains("game_times names NE@NYJ"), "{msg}");
}

#[test]
fn fd_bad_rows() {
    let msg = err(file!("fd-nba-broken.csv"), &ImportOptions::default());
    assert!(msg.contains(r#"line 3: Team "DEN" and Opponent "BOS" are not the two teams of game LAL@DEN"#), "{msg}");
    assert!(msg.contains(r#"line 4: FPPG "lots" is not a number"#), "{msg}");
    assert!(msg.contains("line 5: Id 98765-10001 appears twice (also on line 2)"), "{msg}");
    assert!(msg.contains(r#"line 6: Position "QB" fills no slot of FanDuel NBA classic"#), "{msg}");
}

#[test]
fn projections_by_name_and_team() {
    let mut slate = parse(file!("dk-nfl-classic.csv"));
    slate.id = "dk-nfl-classic-2025-01-26-1".into();
    let got = parse_projections_csv(file!("projections-dk-nfl.csv"), &slate).unwrap();
    let holt = got.values.iter().find(|v| v.player_id == "30100001").unwrap();
    assert_eq!((holt.projection, holt.stdev, holt.ownership), (Some(25.1), Some(7.2), Some(18.5)));
    assert_eq!((holt.ceiling, holt.floor), (Some(38.0), Some(12.0)));
    assert!(got.values.iter().any(|v| v.player_id == "30100006"), "`Jr.` does not stop a match");
    assert!(got.values.iter().any(|v| v.player_id == "30100012"), "the DST by its name");
    let pruitt = got.values.iter().find(|v| v.player_id == "30100005").unwrap();
    assert_eq!(pruitt.projection, None, "an empty cell is no value");
    assert_eq!(got.unmatched.len(), 1);
    assert_eq!(got.unmatched[0].line, 7);
    assert_eq!(got.unmatched[0].key, r#"name "Someone Else" team NYJ"#);
}

#[test]
fn projections_errors() {
    let slate = parse(file!("dk-nfl-classic.csv"));
    let e = |t: &str| parse_projections_csv(t, &slate).expect_err("must fail").to_string();
    assert!(e("id,projection\n30100001,abc\n").contains(r#"line 2: projection "abc" is not a number"#));
    assert!(e("id,stdev\n30100001,-1\n").contains(r#"line 2: stdev "-1" is negative"#));
    assert!(e("id,own\n30100001,140\n").contains("line 2: ownership \"140\" is not a percentage"));
    assert!(
        e("id,proj\n30100001,1\n30100001,2\n").contains("line 3: Darian Holt (30100001) is set twice (also on line 2)")
    );
    assert!(e("who,proj\nx,1\n").contains("no player column"));
    assert!(e("id,salary\n30100001,1\n").contains("no value column"));
    assert!(e("id,proj\n1,1\n2,2\n").contains("none of the 2 rows matches"));
    // Without a team column, a name that two teams share would be ambiguous; here names are unique.
    let by_name = parse_projections_csv("NAME,FPTS\nGrant Lusk,14\n", &slate).unwrap();
    assert_eq!(by_name.values[0].player_id, "30100010");
}

#[test]
fn projections_on_showdown_captain_ids() {
    let slate = parse(file!("dk-nfl-showdown.csv"));
    // Both rows of Holt: the captain row is skipped; Welby only by his captain id: applied to him.
    let got = parse_projections_csv("id,projection\n30200001,37.5\n30200002,25\n30200005,22\n", &slate).unwrap();
    let ids: Vec<(&str, Option<f64>)> = got.values.iter().map(|v| (v.player_id.as_str(), v.projection)).collect();
    assert_eq!(ids, [("30200002", Some(25.0)), ("30200006", Some(22.0))]);
    assert_eq!(got.unmatched.len(), 1);
    assert!(got.unmatched[0].reason.contains("captain row"), "{:?}", got.unmatched);
}
