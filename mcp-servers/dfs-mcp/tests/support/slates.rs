//! Hand-built slates for the simulator's tests: small enough to compute expectations by hand.

use dfs_mcp::model::{CaptainRow, ContestType, Game, GameStatus, Player, Site, Slate, Sport};
use dfs_mcp::rules::{self, RuleSet};
use dfs_mcp::simulate::{Contest, Payout, SimulationRequest};

/// A player of `team` in game `AWAY@HOME`, eligible for the slots the rule set gives his positions.
pub fn player(id: &str, positions: &str, team: &str, game: &str, salary: u32, projection: f64) -> Player {
    let (away, home) = game.split_once('@').expect("AWAY@HOME");
    let opponent = if team == away { home } else { away };
    Player {
        id: id.to_owned(),
        name: format!("Player {id}"),
        positions: positions.split('/').map(str::to_owned).collect(),
        eligible: Vec::new(),
        team: team.to_owned(),
        opponent: opponent.to_owned(),
        game: game.to_owned(),
        salary,
        captain: None,
        avg_points: 0.0,
        projection: Some(projection),
        stdev: None,
        ownership: None,
        ceiling: None,
        floor: None,
        status: String::new(),
        batting_order: None,
        line: None,
    }
}

pub trait PlayerExt {
    fn stdev(self, sd: f64) -> Player;
    fn own(self, pct: f64) -> Player;
    /// A DraftKings showdown captain row `C<id>` at 1.5× salary.
    fn captain(self) -> Player;
    fn status(self, s: &str) -> Player;
    fn line(self, l: &str) -> Player;
}

impl PlayerExt for Player {
    fn stdev(mut self, sd: f64) -> Player {
        self.stdev = Some(sd);
        self
    }
    fn own(mut self, pct: f64) -> Player {
        self.ownership = Some(pct);
        self
    }
    fn captain(mut self) -> Player {
        self.captain = Some(CaptainRow { id: format!("C{}", self.id), salary: self.salary * 3 / 2 });
        self
    }
    fn status(mut self, s: &str) -> Player {
        self.status = s.to_owned();
        self
    }
    fn line(mut self, l: &str) -> Player {
        self.line = Some(l.to_owned());
        self
    }
}

/// A slate of these players; eligibility filled in from the rule set, games from the players.
pub fn slate(site: Site, sport: Sport, contest: ContestType, mut players: Vec<Player>) -> (Slate, &'static RuleSet) {
    let rules = rules::lookup(site, sport, contest).expect("rule set");
    let mut games: Vec<Game> = Vec::new();
    for p in &mut players {
        p.eligible = rules.eligible_for(&p.positions);
        if !games.iter().any(|g| g.id == p.game) {
            let (away, home) = p.game.split_once('@').expect("AWAY@HOME");
            games.push(Game {
                id: p.game.clone(),
                away: away.to_owned(),
                home: home.to_owned(),
                start: None,
                status: GameStatus::Scheduled,
            });
        }
    }
    let slate =
        Slate { id: "test-slate".into(), site, sport, contest, name: "test".into(), games, players, imported_at: 0 };
    (slate, rules)
}

pub fn ids(ids: &[&str]) -> Vec<String> {
    ids.iter().map(|s| (*s).to_owned()).collect()
}

pub fn request(lineups: Vec<Vec<String>>, field_size: u32, fee: f64, payouts: &[(u32, u32, f64)]) -> SimulationRequest {
    SimulationRequest {
        slate_id: "test-slate".into(),
        lineups,
        contest: Contest {
            entry_fee: fee,
            field_size,
            payouts: payouts.iter().map(|&(from, to, prize)| Payout { from, to, prize }).collect(),
        },
        runs: Some(2_000),
        seed: Some(42),
        ..SimulationRequest::default()
    }
}
