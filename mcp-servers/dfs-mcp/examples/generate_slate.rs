//! Prints a generated slate as JSON: `cargo run -p dfs-mcp --example generate_slate -- dk nfl classic 1 [games]`.

use dfs_mcp::generate::{slate_with, SlateOptions};
use dfs_mcp::model::{ContestType, Site, Sport};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: &str| args.get(i).cloned().unwrap_or_else(|| default.to_owned());
    let site = Site::parse(&arg(0, "dk")).expect("site: dk or fd");
    let sport = Sport::parse(&arg(1, "nfl")).expect("sport: nfl, nba, mlb or nhl");
    let contest = ContestType::parse(&arg(2, "classic")).expect("contest: classic or showdown");
    let seed: u64 = arg(3, "1").parse().expect("seed: a number");
    let games = args.get(4).map(|g| g.parse().expect("games: a number"));
    let slate = slate_with(site, sport, contest, seed, &SlateOptions { games });
    println!("{}", serde_json::to_string_pretty(&slate).expect("a slate serialises"));
}
