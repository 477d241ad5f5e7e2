//! The tools' input and output JSON Schemas, written out so each says precisely what a model may send and will
//! get. The optimizer's and simulator's inputs mirror `OptimizeRequest` and `SimulationRequest`; a test checks
//! that every field of those types is in the schema and nothing else is, so the two cannot drift apart.

use serde_json::{json, Value};

fn site() -> Value {
    json!({"type": "string", "enum": ["draft_kings", "fan_duel"],
           "description": "The DFS site (also accepted: draftkings, dk, fanduel, fd)."})
}
fn sport() -> Value {
    json!({"type": "string", "enum": ["nfl", "nba", "mlb", "nhl"]})
}
fn contest() -> Value {
    json!({"type": "string", "enum": ["classic", "showdown"],
           "description": "classic, or showdown (DraftKings showdown and FanDuel single game: one game, a boosted captain/MVP slot)."})
}
fn ids(description: &str) -> Value {
    json!({"type": "array", "items": {"type": "string"}, "description": description})
}
fn nullable(kind: &str) -> Value {
    json!({"type": [kind, "null"]})
}

pub(crate) fn slate_input() -> Value {
    json!({
        "type": "object",
        "properties": {
            "slate_id": {"type": "string", "description": "Return this one slate in detail (games with lock times, rule set). Omit to list slates."},
            "site": site(),
            "sport": sport(),
            "contest": contest(),
            "limit": {"type": "integer", "minimum": 1, "maximum": 200, "default": 20, "description": "Listing: at most this many, newest first."},
            "offset": {"type": "integer", "minimum": 0, "default": 0, "description": "Listing: skip this many."}
        },
        "additionalProperties": false
    })
}

fn summary() -> Value {
    json!({
        "type": "object",
        "properties": {
            "slate_id": {"type": "string"},
            "name": {"type": "string"},
            "site": {"type": "string"},
            "sport": {"type": "string"},
            "contest": {"type": "string"},
            "games": {"type": "integer"},
            "players": {"type": "integer"},
            "first_lock": {"type": ["string", "null"], "description": "Earliest game start, RFC 3339 in US Eastern time."},
            "salary_min": {"type": "integer"},
            "salary_max": {"type": "integer"},
            "projected_players": {"type": "integer", "description": "Players with an uploaded projection."},
            "imported_at": {"type": "string"}
        },
        "required": ["slate_id", "name", "site", "sport", "contest", "games", "players", "first_lock", "salary_min", "salary_max", "projected_players", "imported_at"]
    })
}

fn rules() -> Value {
    json!({
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "checked": {"type": "string", "description": "Date the rules were last checked against the site."},
            "salary_cap": {"type": "integer"},
            "slots": {"type": "array", "items": {"type": "object", "properties": {
                "slot": {"type": "string"}, "accepts": {"type": "array", "items": {"type": "string"}},
                "points_multiplier": {"type": "number"}, "salary_multiplier": {"type": "number"}},
                "required": ["slot", "accepts", "points_multiplier", "salary_multiplier"]}},
            "max_per_team": nullable("integer"),
            "max_hitters_per_team": nullable("integer"),
            "min_teams": {"type": "integer"},
            "min_games": {"type": "integer"},
            "upload_limit": {"type": "integer"}
        },
        "required": ["name", "checked", "salary_cap", "slots", "max_per_team", "max_hitters_per_team", "min_teams", "min_games", "upload_limit"]
    })
}

fn detail() -> Value {
    json!({
        "type": "object",
        "properties": {
            "slate_id": {"type": "string"},
            "name": {"type": "string"},
            "site": {"type": "string"},
            "sport": {"type": "string"},
            "contest": {"type": "string"},
            "imported_at": {"type": "string"},
            "player_count": {"type": "integer"},
            "salary": {"type": "object", "properties": {"min": {"type": "integer"}, "max": {"type": "integer"}}, "required": ["min", "max"]},
            "projections": {"type": "object", "properties": {
                "uploaded": {"type": "integer"}, "with_stdev": {"type": "integer"}, "with_ownership": {"type": "integer"},
                "default": {"type": "string"}}, "required": ["uploaded", "with_stdev", "with_ownership", "default"]},
            "games": {"type": "array", "items": {"type": "object", "properties": {
                "id": {"type": "string"}, "away": {"type": "string"}, "home": {"type": "string"},
                "start": {"type": ["string", "null"], "description": "Lock time, RFC 3339 in US Eastern time."},
                "start_unix": nullable("integer"),
                "status": {"type": "string", "enum": ["scheduled", "in_progress", "final"]},
                "players": {"type": "integer"}},
                "required": ["id", "away", "home", "start", "start_unix", "status", "players"]}},
            "rules": rules()
        },
        "required": ["slate_id", "name", "site", "sport", "contest", "imported_at", "player_count", "salary", "projections", "games", "rules"]
    })
}

pub(crate) fn slate_output() -> Value {
    json!({
        "type": "object",
        "properties": {
            "slates": {"type": "array", "items": summary()},
            "total": {"type": "integer"},
            "offset": {"type": "integer"},
            "limit": {"type": "integer"},
            "slate": detail()
        }
    })
}

pub(crate) fn import_slate_input() -> Value {
    json!({
        "type": "object",
        "properties": {
            "csv": {"type": "string", "description": "The salary file's text: a DraftKings salary export (DKSalaries.csv, or the entries template with the player list beside it) or a FanDuel player list."},
            "path": {"type": "string", "description": "Instead of csv: a file under a directory the server allows (--import-dir / DFS_MCP_IMPORT_DIRS)."},
            "name": {"type": "string", "description": "A name for the slate (default: site, sport, contest type and date)."},
            "site": site(),
            "sport": sport(),
            "contest": contest(),
            "game_times": {"type": "object", "additionalProperties": {"type": ["string", "integer"]},
                "description": "Start times by game id (\"KC@BUF\": \"2025-01-26T18:30:00-05:00\" or seconds since the epoch), for FanDuel files, which carry none."}
        },
        "additionalProperties": false
    })
}

pub(crate) fn import_slate_output() -> Value {
    json!({
        "type": "object",
        "properties": {
            "slate_id": {"type": "string"},
            "name": {"type": "string"},
            "site": {"type": "string"},
            "sport": {"type": "string"},
            "contest": {"type": "string"},
            "games": {"type": "integer"},
            "players": {"type": "integer"},
            "salary_min": {"type": "integer"},
            "salary_max": {"type": "integer"},
            "first_lock": {"type": ["string", "null"]}
        },
        "required": ["slate_id", "name", "site", "sport", "contest", "games", "players", "salary_min", "salary_max", "first_lock"]
    })
}

pub(crate) fn player_pool_input() -> Value {
    json!({
        "type": "object",
        "properties": {
            "slate_id": {"type": "string"},
            "positions": ids("Keep players with one of these positions or roster slots (QB, FLEX, PG, UTIL, CPT...)."),
            "teams": ids("Keep players of these teams."),
            "games": ids("Keep players of these games (\"KC@BUF\")."),
            "min_salary": {"type": "integer", "minimum": 0},
            "max_salary": {"type": "integer", "minimum": 0},
            "min_projection": {"type": "number"},
            "exclude_out": {"type": "boolean", "default": false, "description": "Leave out players the site marks out (O, IR, ...)."},
            "search": {"type": "string", "description": "Case-insensitive part of the name."},
            "sort": {"type": "string", "enum": ["projection", "salary", "value", "name", "ownership", "avg_points"], "default": "projection",
                     "description": "value = projection per 1,000 of salary."},
            "order": {"type": "string", "enum": ["asc", "desc"], "description": "Default: desc, asc for name."},
            "limit": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100},
            "offset": {"type": "integer", "minimum": 0, "default": 0}
        },
        "required": ["slate_id"],
        "additionalProperties": false
    })
}

fn pool_player() -> Value {
    json!({
        "type": "object",
        "properties": {
            "id": {"type": "string", "description": "The site's id (upload id for ordinary slots)."},
            "name": {"type": "string"},
            "positions": {"type": "array", "items": {"type": "string"}},
            "eligible": {"type": "array", "items": {"type": "string"}, "description": "Roster slots the player may fill."},
            "team": {"type": "string"},
            "opponent": {"type": "string"},
            "game": {"type": "string"},
            "salary": {"type": "integer"},
            "projection": {"type": "number", "description": "Uploaded projection, else the site's average points."},
            "projection_source": {"type": "string", "enum": ["uploaded", "average"]},
            "avg_points": {"type": "number"},
            "value": {"type": "number", "description": "Projection per 1,000 of salary."},
            "status": {"type": "string", "description": "Injury/availability as the site writes it; empty when healthy."},
            "captain_id": {"type": "string", "description": "DraftKings showdown: the CPT row's id."},
            "captain_salary": {"type": "integer"},
            "stdev": {"type": "number"},
            "ownership": {"type": "number", "description": "Projected ownership, percent."},
            "ceiling": {"type": "number"},
            "floor": {"type": "number"},
            "batting_order": {"type": "integer"},
            "line": {"type": "string"}
        },
        "required": ["id", "name", "positions", "eligible", "team", "opponent", "game", "salary", "projection", "projection_source", "avg_points", "value", "status"]
    })
}

pub(crate) fn player_pool_output() -> Value {
    json!({
        "type": "object",
        "properties": {
            "slate_id": {"type": "string"},
            "total": {"type": "integer", "description": "Players matching the filters (before paging)."},
            "offset": {"type": "integer"},
            "limit": {"type": "integer"},
            "players": {"type": "array", "items": pool_player()}
        },
        "required": ["slate_id", "total", "offset", "limit", "players"]
    })
}

pub(crate) fn set_projections_input() -> Value {
    json!({
        "type": "object",
        "properties": {
            "slate_id": {"type": "string"},
            "csv": {"type": "string", "description": "A projections CSV: a key column (id, or name with team) and projection, stdev, ownership, ceiling, floor, line, batting_order (header names are flexible)."},
            "path": {"type": "string", "description": "Instead of csv: a file under an allowed import directory."},
            "values": {"type": "array", "description": "Per-player values instead of a file.", "items": {
                "type": "object",
                "properties": {
                    "id": {"type": "string"},
                    "projection": {"type": "number"},
                    "stdev": {"type": "number", "minimum": 0},
                    "ownership": {"type": "number", "minimum": 0, "maximum": 100},
                    "ceiling": {"type": "number"},
                    "floor": {"type": "number"},
                    "line": {"type": "string"},
                    "batting_order": {"type": "integer", "minimum": 1, "maximum": 9}
                },
                "required": ["id"],
                "additionalProperties": false}},
            "mode": {"type": "string", "enum": ["replace", "merge"],
                     "description": "replace: these become the slate's projections (others revert to the site's average); merge: only the given fields change. Default: replace for a file, merge for values."},
            "strict": {"type": "boolean", "default": false, "description": "Fail (and change nothing) when a file row matches no player, instead of reporting it."}
        },
        "required": ["slate_id"],
        "additionalProperties": false
    })
}

pub(crate) fn set_projections_output() -> Value {
    json!({
        "type": "object",
        "properties": {
            "slate_id": {"type": "string"},
            "mode": {"type": "string", "enum": ["replace", "merge"]},
            "matched": {"type": "integer"},
            "unmatched": {"type": "integer"},
            "unmatched_rows": {"type": "array", "items": {"type": "object", "properties": {
                "line": {"type": "integer"}, "key": {"type": "string"}, "reason": {"type": "string"}},
                "required": ["line", "key", "reason"]}},
            "with_projection": {"type": "integer", "description": "Players of the slate with an uploaded projection now."}
        },
        "required": ["slate_id", "mode", "matched", "unmatched", "unmatched_rows", "with_projection"]
    })
}

fn stack() -> Value {
    let teams = ids("Only these teams.");
    json!({"oneOf": [
        {"type": "object", "description": "NFL: a QB with pass catchers of his team, and optionally players of the opponent.",
         "properties": {"type": {"const": "qb"}, "receivers": {"type": "integer", "minimum": 0, "default": 1},
            "positions": ids("Receiver positions (default WR, TE)."), "bring_back": {"type": "integer", "minimum": 0, "default": 0},
            "bring_back_positions": ids("Positions of the bring-back players."), "teams": teams},
         "required": ["type"], "additionalProperties": false},
        {"type": "object", "description": "At least count players (of positions; default any non-pitcher) from one team.",
         "properties": {"type": {"const": "team"}, "count": {"type": "integer", "minimum": 1},
            "positions": ids("Positions counted."), "teams": teams},
         "required": ["type", "count"], "additionalProperties": false},
        {"type": "object", "description": "At least count players from one game, min_per_team from each side.",
         "properties": {"type": {"const": "game"}, "count": {"type": "integer", "minimum": 1},
            "min_per_team": {"type": "integer", "minimum": 0, "default": 1}, "games": ids("Only these games (\"KC@BUF\").")},
         "required": ["type", "count"], "additionalProperties": false},
        {"type": "object", "description": "NHL: count skaters of one line of one team.",
         "properties": {"type": {"const": "line"}, "count": {"type": "integer", "minimum": 1, "default": 3}, "lines": ids("Only these lines (\"L1\").")},
         "required": ["type"], "additionalProperties": false}
    ]})
}

pub(crate) fn lineup_input() -> Value {
    let limit = json!({"type": "object", "properties": {"min": {"type": "number", "minimum": 0, "maximum": 100},
        "max": {"type": "number", "minimum": 0, "maximum": 100}}, "additionalProperties": false});
    json!({
        "type": "object",
        "properties": {
            "slate_id": {"type": "string", "description": "The slate to build on (see app.data.slate)."},
            "count": {"type": "integer", "minimum": 1, "description": "How many lineups (default 1; at most the site's upload limit)."},
            "locks": ids("Player ids in every lineup (a DraftKings CPT-row id locks the player as captain)."),
            "excludes": ids("Player ids in no lineup."),
            "exclude_teams": ids("Teams left out."),
            "exclude_out": {"type": "boolean", "default": true, "description": "Leave out players the site marks out."},
            "max_per_team": {"type": "integer", "minimum": 1},
            "team_limits": {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0}, "description": "Per-team maximums ({\"KC\": 3})."},
            "min_salary": {"type": "integer", "minimum": 0},
            "max_salary": {"type": "integer", "minimum": 0},
            "stacks": {"type": "array", "items": stack()},
            "min_unique": {"type": "integer", "minimum": 1, "description": "Players in which any two lineups differ (default 1)."},
            "exposure": {"type": "object", "properties": {
                "max": {"type": "number", "minimum": 0, "maximum": 100, "description": "Cap for every player, percent of count."},
                "players": {"type": "object", "additionalProperties": limit}}, "additionalProperties": false},
            "randomness": {"type": "object", "properties": {"seed": {"type": "integer", "minimum": 0},
                "fraction": {"type": "number", "minimum": 0, "description": "Spread without a stdev, fraction of the projection (default 0.2)."}},
                "additionalProperties": false},
            "projections": {"type": "object", "additionalProperties": {"type": "number"}, "description": "Per-player projection overrides for this call ({\"id\": 18.5})."},
            "late_swap": {"type": "object", "properties": {
                "lineups": {"type": "array", "items": ids("One lineup's ids in slot order.")},
                "now": {"type": "integer", "description": "Judge locks at this time (seconds since the epoch); default now."}},
                "required": ["lineups"], "additionalProperties": false}
        },
        "required": ["slate_id"],
        "additionalProperties": false
    })
}

pub(crate) fn lineup_output() -> Value {
    json!({
        "type": "object",
        "properties": {
            "slate_id": {"type": "string"},
            "lineup_set_id": {"type": "string", "description": "Stored set; app.simulation.run takes it."},
            "lineups": {"type": "array", "items": {"type": "object", "properties": {
                "players": {"type": "array", "items": {"type": "object", "properties": {
                    "id": {"type": "string", "description": "The id to upload for this slot."},
                    "name": {"type": "string"}, "slot": {"type": "string"},
                    "positions": {"type": "array", "items": {"type": "string"}},
                    "team": {"type": "string"}, "salary": {"type": "integer"}, "projection": {"type": "number"}},
                    "required": ["id", "name", "slot", "positions", "team", "salary", "projection"]}},
                "salary": {"type": "integer"}, "projection": {"type": "number"}},
                "required": ["players", "salary", "projection"]}},
            "csv": {"type": "string", "description": "The site's upload file for these lineups."}
        },
        "required": ["slate_id", "lineup_set_id", "lineups", "csv"]
    })
}

pub(crate) fn run_input() -> Value {
    json!({
        "type": "object",
        "properties": {
            "slate_id": {"type": "string"},
            "lineups": {"type": "array", "items": ids("One lineup's upload ids in slot order."),
                        "description": "Lineups to simulate; empty: lineup_set_id, else the slate's latest lineup set."},
            "lineup_set_id": {"type": "string"},
            "contest": {"type": "object", "properties": {
                "entry_fee": {"type": "number", "minimum": 0, "default": 20},
                "field_size": {"type": "integer", "minimum": 1, "default": 10000},
                "payouts": {"type": "array", "items": {"type": "object", "properties": {
                    "from": {"type": "integer", "minimum": 1}, "to": {"type": "integer", "minimum": 1}, "prize": {"type": "number", "minimum": 0}},
                    "required": ["from", "to", "prize"], "additionalProperties": false},
                    "description": "Prizes by place; default a top-heavy table."}},
                "additionalProperties": false},
            "runs": {"type": "integer", "minimum": 1, "description": "Simulated slates (default 10,000)."},
            "seed": {"type": "integer", "minimum": 0},
            "correlation": {"type": "object", "description": "Coefficients between players of one game; one left out takes the sport's default.",
                "properties": {
                "teammates": {"type": "number"}, "qb_receiver": {"type": "number", "description": "NFL: QB and his pass catchers."},
                "opponents": {"type": "number"}, "defense_vs_offense": {"type": "number"},
                "defense_teammates": {"type": "number", "description": "A defense, goalie or pitcher and his own team's players."},
                "linemates": {"type": "number", "description": "NHL: skaters of one line or pair."}},
                "additionalProperties": false},
            "distribution": {"type": "string", "enum": ["normal", "log_normal"], "default": "normal",
                "description": "A player's outcome around his projection: normal censored at zero, or log-normal."},
            "field": {"type": "object", "description": "How the opposing field is sampled.", "properties": {
                "min_salary_pct": {"type": "number", "minimum": 0, "maximum": 100, "description": "Least salary a field lineup spends, percent of the cap (default 97)."},
                "default_ownership": {"type": "number", "minimum": 0, "maximum": 100, "description": "Ownership for players without one when others have one (default 0.5)."}},
                "additionalProperties": false}
        },
        "required": ["slate_id"],
        "additionalProperties": false
    })
}

pub(crate) fn run_output() -> Value {
    let pct = json!({"type": "number"});
    let roi =
        json!({"type": ["number", "null"], "description": "Mean return on the fees, percent; null in a free contest."});
    let ci = json!({"type": ["array", "null"], "items": {"type": "number"}, "minItems": 2, "maxItems": 2});
    json!({
        "type": "object",
        "properties": {
            "simulation_id": {"type": "string"},
            "lineup_set_id": {"type": ["string", "null"]},
            "slate_id": {"type": "string"},
            "runs": {"type": "integer"},
            "seed": {"type": "integer"},
            "field_size": {"type": "integer"},
            "entry_fee": {"type": "number"},
            "distribution": {"type": "string"},
            "correlation": {"type": "object", "additionalProperties": {"type": "number"}},
            "payouts": {"type": "array", "items": {"type": "object", "properties": {
                "from": {"type": "integer"}, "to": {"type": "integer"}, "prize": pct}}},
            "prize_pool": pct,
            "lineups": {"type": "array", "items": {"type": "object", "properties": {
                "index": {"type": "integer"}, "player_ids": {"type": "array", "items": {"type": "string"}},
                "projection": pct, "salary": {"type": "integer"}, "mean": pct, "stdev": pct,
                "percentiles": {"type": "object", "properties": {"p10": pct, "p25": pct, "p50": pct, "p75": pct, "p90": pct, "p99": pct},
                                "required": ["p10", "p25", "p50", "p75", "p90", "p99"]},
                "win_pct": pct, "top1_pct": pct, "cash_pct": pct, "roi_pct": roi, "roi_ci95": ci,
                "mean_winnings": pct,
                "field_duplicates": {"type": "integer", "description": "Copies of this lineup in the sampled field."}},
                "required": ["index", "player_ids", "projection", "mean", "stdev", "percentiles", "win_pct", "top1_pct", "cash_pct", "roi_pct", "roi_ci95", "mean_winnings"]}},
            "portfolio": {"type": "object", "properties": {
                "entries": {"type": "integer"}, "fees": pct, "mean_winnings": pct, "roi_pct": roi, "roi_ci95": ci,
                "profit_pct": pct}},
            "field": {"type": "object", "properties": {
                "lineups": {"type": "integer"}, "distinct": {"type": "integer"}, "mean_salary": pct,
                "min_salary": {"type": "integer"}, "ownership_source": {"type": "string"},
                "top_owned": {"type": "array", "items": {"type": "object"}}}},
            "warnings": {"type": "array", "items": {"type": "string"}}
        },
        "required": ["simulation_id", "lineup_set_id", "slate_id", "runs", "seed", "field_size", "entry_fee", "lineups"]
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::optimize::{Exposure, LateSwap, OptimizeRequest, Randomness};
    use crate::simulate::{Contest, Correlation, SimulationRequest};

    fn keys(v: &Value) -> BTreeSet<String> {
        v.as_object().expect("object").keys().cloned().collect()
    }
    fn props(schema: &Value) -> BTreeSet<String> {
        keys(&schema["properties"])
    }

    #[test]
    fn request_schemas_name_exactly_the_request_fields() {
        let opt = lineup_input();
        assert_eq!(props(&opt), keys(&serde_json::to_value(OptimizeRequest::default()).unwrap()));
        assert_eq!(props(&opt["properties"]["exposure"]), keys(&serde_json::to_value(Exposure::default()).unwrap()));
        let r = Randomness { seed: 1, fraction: Some(0.1) };
        assert_eq!(props(&opt["properties"]["randomness"]), keys(&serde_json::to_value(r).unwrap()));
        let l = LateSwap { lineups: vec![], now: Some(1) };
        assert_eq!(props(&opt["properties"]["late_swap"]), keys(&serde_json::to_value(l).unwrap()));
        let sim = run_input();
        assert_eq!(props(&sim), keys(&serde_json::to_value(SimulationRequest::default()).unwrap()));
        assert_eq!(props(&sim["properties"]["contest"]), keys(&serde_json::to_value(Contest::default()).unwrap()));
        assert_eq!(
            props(&sim["properties"]["correlation"]),
            keys(&serde_json::to_value(Correlation::default()).unwrap())
        );
    }

    #[test]
    fn stack_variants_match_the_request_type() {
        use crate::optimize::Stack;
        let samples = [
            json!({"type": "qb", "receivers": 2, "positions": ["WR"], "bring_back": 1, "bring_back_positions": ["WR"], "teams": ["KC"]}),
            json!({"type": "team", "count": 4, "positions": ["OF"], "teams": ["NYY"]}),
            json!({"type": "game", "count": 4, "min_per_team": 1, "games": ["KC@BUF"]}),
            json!({"type": "line", "count": 3, "lines": ["L1"]}),
        ];
        let variants = stack()["oneOf"].as_array().unwrap().clone();
        for (sample, variant) in samples.iter().zip(&variants) {
            let parsed: Stack = serde_json::from_value(sample.clone()).unwrap();
            assert_eq!(keys(&serde_json::to_value(parsed).unwrap()), props(variant), "{sample}");
        }
    }
}
