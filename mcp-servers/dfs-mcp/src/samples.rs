//! The sample slates a fresh store starts with: one per site × sport × contest type (16), shipped as the files a
//! user would download (`samples/*.csv`, real site layouts) plus a projections CSV each, and imported through the
//! same importers as any upload.
//!
//! The files are generated, not hand-edited: `dfs-mcp samples --out DIR` writes them from the seeded generator
//! ([`crate::generate`]) and the salary-file writer ([`crate::slate_export`]); a test checks that regenerating gives
//! the embedded bytes. FanDuel files carry no start times, so each FanDuel sample has a `*.games.csv`
//! (`game,start`) that the import passes on as `game_times`.

use std::path::{Path, PathBuf};

use crate::import::{
    parse_projections_csv, parse_salary_csv, parse_time, ImportError, ImportOptions, ProjectionValues,
};
use crate::model::{ContestType, Site, Slate, Sport};
use crate::slate_export::{write_projections_csv, write_salary_csv};

/// The generator's seed for every sample.
pub const SEED: u64 = 2026;

/// The key the store records once the samples are in (bump it to ship new samples to existing stores).
pub const SEED_KEY: &str = "samples-2026";

/// One shipped sample.
pub struct Sample {
    pub site: Site,
    pub sport: Sport,
    pub contest: ContestType,
    /// `dk-nfl-classic`: the files are `<stem>.csv`, `<stem>.projections.csv` (and `<stem>.games.csv`).
    pub stem: &'static str,
    pub salary_csv: &'static str,
    pub projections_csv: &'static str,
    pub games_csv: Option<&'static str>,
}

macro_rules! sample {
    ($site:ident, $sport:ident, $contest:ident, $stem:literal, dk) => {
        Sample {
            site: Site::$site,
            sport: Sport::$sport,
            contest: ContestType::$contest,
            stem: $stem,
            salary_csv: include_str!(concat!("../samples/", $stem, ".csv")),
            projections_csv: include_str!(concat!("../samples/", $stem, ".projections.csv")),
            games_csv: None,
        }
    };
    ($site:ident, $sport:ident, $contest:ident, $stem:literal, fd) => {
        Sample {
            site: Site::$site,
            sport: Sport::$sport,
            contest: ContestType::$contest,
            stem: $stem,
            salary_csv: include_str!(concat!("../samples/", $stem, ".csv")),
            projections_csv: include_str!(concat!("../samples/", $stem, ".projections.csv")),
            games_csv: Some(include_str!(concat!("../samples/", $stem, ".games.csv"))),
        }
    };
}

/// Every shipped sample, in a fixed order.
pub static SAMPLES: &[Sample] = &[
    sample!(DraftKings, Nfl, Classic, "dk-nfl-classic", dk),
    sample!(DraftKings, Nfl, Showdown, "dk-nfl-showdown", dk),
    sample!(DraftKings, Nba, Classic, "dk-nba-classic", dk),
    sample!(DraftKings, Nba, Showdown, "dk-nba-showdown", dk),
    sample!(DraftKings, Mlb, Classic, "dk-mlb-classic", dk),
    sample!(DraftKings, Mlb, Showdown, "dk-mlb-showdown", dk),
    sample!(DraftKings, Nhl, Classic, "dk-nhl-classic", dk),
    sample!(DraftKings, Nhl, Showdown, "dk-nhl-showdown", dk),
    sample!(FanDuel, Nfl, Classic, "fd-nfl-classic", fd),
    sample!(FanDuel, Nfl, Showdown, "fd-nfl-single-game", fd),
    sample!(FanDuel, Nba, Classic, "fd-nba-classic", fd),
    sample!(FanDuel, Nba, Showdown, "fd-nba-single-game", fd),
    sample!(FanDuel, Mlb, Classic, "fd-mlb-classic", fd),
    sample!(FanDuel, Mlb, Showdown, "fd-mlb-single-game", fd),
    sample!(FanDuel, Nhl, Classic, "fd-nhl-classic", fd),
    sample!(FanDuel, Nhl, Showdown, "fd-nhl-single-game", fd),
];

/// `dk-nfl-classic`, `fd-nba-single-game`.
pub fn stem(site: Site, sport: Sport, contest: ContestType) -> String {
    let site = crate::store::site_short(site);
    let contest = match (site, contest) {
        (_, ContestType::Classic) => "classic",
        ("dk", ContestType::Showdown) => "showdown",
        (_, ContestType::Showdown) => "single-game",
    };
    format!("{site}-{}-{contest}", sport.as_str())
}

/// The sample's name in the store.
fn display_name(site: Site, sport: Sport, contest: ContestType) -> String {
    format!("Sample: {} (generated, seed {SEED})", crate::import::rules_label(site, sport, contest))
}

/// The files of every sample, generated afresh: (file name, contents), in a fixed order.
pub fn generate_files() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for site in Site::ALL {
        for sport in Sport::ALL {
            for contest in [ContestType::Classic, ContestType::Showdown] {
                let slate = crate::generate::slate(site, sport, contest, SEED);
                let stem = stem(site, sport, contest);
                out.push((format!("{stem}.csv"), write_salary_csv(&slate)));
                out.push((format!("{stem}.projections.csv"), write_projections_csv(&slate)));
                if site == Site::FanDuel {
                    out.push((format!("{stem}.games.csv"), games_csv(&slate)));
                }
            }
        }
    }
    out
}

fn games_csv(slate: &Slate) -> String {
    let mut text = String::from("game,start\n");
    for g in &slate.games {
        let start = g.start.map(crate::import::eastern_rfc3339).unwrap_or_default();
        text.push_str(&format!("{},{start}\n", g.id));
    }
    text
}

/// Writes the sample files into `dir` (created if needed); the paths written.
pub fn write_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    for (name, text) in generate_files() {
        let path = dir.join(name);
        std::fs::write(&path, text)?;
        written.push(path);
    }
    Ok(written)
}

impl Sample {
    /// The sample as the importers read it, with its projections.
    pub fn load(&self) -> Result<(Slate, Vec<ProjectionValues>), ImportError> {
        let mut options = ImportOptions {
            site: Some(self.site),
            sport: Some(self.sport),
            contest: Some(self.contest),
            name: Some(display_name(self.site, self.sport, self.contest)),
            ..Default::default()
        };
        for line in self.games_csv.unwrap_or_default().lines().skip(1) {
            if let Some((game, start)) = line.split_once(',') {
                if !start.is_empty() {
                    let t =
                        parse_time(start).map_err(|e| ImportError::File(format!("{}.games.csv: {e}", self.stem)))?;
                    options.game_times.insert(game.to_owned(), t);
                }
            }
        }
        let slate = parse_salary_csv(self.salary_csv, &options)?;
        let projections = parse_projections_csv(self.projections_csv, &slate)?;
        Ok((slate, projections.values))
    }
}

/// Every sample, read. One that does not read is a build defect (the tests below keep them readable); it is
/// logged and left out rather than keeping the server from starting.
pub fn all() -> Vec<(Slate, Vec<ProjectionValues>)> {
    SAMPLES
        .iter()
        .filter_map(|s| match s.load() {
            Ok(loaded) => Some(loaded),
            Err(e) => {
                tracing::error!("sample {} does not import, left out: {e}", s.stem);
                None
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regenerating_gives_the_shipped_bytes() {
        let files = generate_files();
        assert_eq!(files.len(), 16 * 2 + 8);
        for s in SAMPLES {
            let find = |name: String| files.iter().find(|f| f.0 == name).map(|f| f.1.as_str()).expect("generated");
            assert!(find(format!("{}.csv", s.stem)) == s.salary_csv, "{}.csv differs: run `dfs-mcp samples`", s.stem);
            assert!(find(format!("{}.projections.csv", s.stem)) == s.projections_csv, "{} projections", s.stem);
            if let Some(g) = s.games_csv {
                assert!(find(format!("{}.games.csv", s.stem)) == g, "{} games", s.stem);
            }
        }
    }

    #[test]
    fn every_sample_imports_as_generated() {
        assert_eq!(SAMPLES.len(), 16);
        assert_eq!(all().len(), 16);
        for s in SAMPLES {
            let (slate, values) = s.load().unwrap();
            assert_eq!((slate.site, slate.sport, slate.contest), (s.site, s.sport, s.contest), "{}", s.stem);
            assert_eq!(stem(s.site, s.sport, s.contest), s.stem);
            let generated = crate::generate::slate(s.site, s.sport, s.contest, SEED);
            assert_eq!(slate.players.len(), generated.players.len(), "{}", s.stem);
            assert!(slate.games.iter().all(|g| g.start.is_some()), "{}: every game has a start", s.stem);
            let with_stdev = values.iter().filter(|v| v.stdev.is_some() && v.ownership.is_some()).count();
            assert!(with_stdev * 2 > slate.players.len(), "{}: projections carry stdev and ownership", s.stem);
            for v in &values {
                let g = generated.players.iter().find(|p| p.id == v.player_id).unwrap();
                assert_eq!((v.projection, v.stdev, v.ownership), (g.projection, g.stdev, g.ownership));
            }
        }
    }
}
