//! The tool table: names, titles, descriptions a model can act on, annotations, schemas and handlers.

use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{apps, data, schemas, Ctx};
use crate::import::ImportError;
use crate::store::StoreError;

/// The server a tool belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Group {
    Data,
    Optimize,
    Simulation,
}

impl Group {
    pub fn name(self) -> &'static str {
        match self {
            Group::Data => "data",
            Group::Optimize => "optimize",
            Group::Simulation => "simulation",
        }
    }
}

/// Why a call failed; shown to the caller as the tool result's text (`isError: true`).
#[derive(Debug, thiserror::Error)]
pub(crate) enum ToolError {
    /// The arguments do not fit the input schema (the message names the field).
    #[error("invalid arguments: {0}")]
    Args(String),
    #[error("{0}")]
    Import(#[from] ImportError),
    #[error("{0}")]
    Store(#[from] StoreError),
    /// The tool ran and could not do what was asked (infeasible rules, nothing to simulate...).
    #[error("{0}")]
    Failed(String),
}

/// Reads the arguments into the tool's request type; a mismatch names the field (`count: invalid type...`).
pub(crate) fn args<T: DeserializeOwned>(v: Value) -> Result<T, ToolError> {
    serde_path_to_error::deserialize(v).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." || path.is_empty() {
            ToolError::Args(inner.to_string())
        } else {
            ToolError::Args(format!("{path}: {inner}"))
        }
    })
}

pub(crate) type Handler = fn(&Ctx, Value) -> Result<Value, ToolError>;

/// One tool.
pub(crate) struct ToolSpec {
    pub group: Group,
    pub name: &'static str,
    pub title: &'static str,
    pub description: &'static str,
    pub read_only: bool,
    /// Meaningful when not read-only: overwrites what was there (`destructiveHint`).
    pub destructive: bool,
    pub idempotent: bool,
    pub input: fn() -> Value,
    pub output: fn() -> Value,
    pub run: Handler,
}

fn object(v: Value) -> Arc<serde_json::Map<String, Value>> {
    match v {
        Value::Object(m) => Arc::new(m),
        _ => unreachable!("schemas are objects"),
    }
}

impl ToolSpec {
    pub fn definition(&self, name: String) -> rmcp::model::Tool {
        let mut annotations =
            rmcp::model::ToolAnnotations::with_title(self.title).read_only(self.read_only).open_world(false);
        if !self.read_only {
            annotations = annotations.destructive(self.destructive).idempotent(self.idempotent);
        }
        rmcp::model::Tool::new(name, self.description, object((self.input)()))
            .with_title(self.title)
            .with_raw_output_schema(object((self.output)()))
            .with_annotations(annotations)
    }
}

pub(crate) static TOOLS: &[ToolSpec] = &[
    ToolSpec {
        group: Group::Data,
        name: "slate",
        title: "DFS slates",
        description: "List the DFS slates in the store (filter by site, sport, contest type; newest first), or give \
            slate_id for one slate in detail: its games with lock times and status, player count, salary range, how \
            many players have uploaded projections, and the site's roster rules (slots, salary cap, team limits). \
            Slate ids feed player_pool, set_projections, the optimizer and the simulator.",
        read_only: true,
        destructive: false,
        idempotent: true,
        input: schemas::slate_input,
        output: schemas::slate_output,
        run: data::slate,
    },
    ToolSpec {
        group: Group::Data,
        name: "import_slate",
        title: "Import a salary file",
        description: "Import a DraftKings salary export (classic or showdown, also the entries template) or a \
            FanDuel player list (classic or single game) as a new slate. Give the CSV text (or a path under an \
            allowed directory). Site, sport and contest type are read from the file; override them if needed. A \
            file with any bad row imports nothing and the error names each bad line. Returns the new slate id.",
        read_only: false,
        destructive: false,
        idempotent: false,
        input: schemas::import_slate_input,
        output: schemas::import_slate_output,
        run: data::import_slate,
    },
    ToolSpec {
        group: Group::Data,
        name: "player_pool",
        title: "Players of a slate",
        description: "The players of a slate with salary, positions and roster slots, team, opponent, game, \
            projection (uploaded, else the site's average points), status, stdev and ownership when uploaded. \
            Filter by positions or slots, teams, games, salary range, minimum projection, name; exclude players \
            marked out; sort by projection, salary, value (points per 1,000), name or ownership; page with \
            limit/offset.",
        read_only: true,
        destructive: false,
        idempotent: true,
        input: schemas::player_pool_input,
        output: schemas::player_pool_output,
        run: data::player_pool,
    },
    ToolSpec {
        group: Group::Data,
        name: "set_projections",
        title: "Set projections",
        description: "Set your own projections for a slate's players: a projections CSV (a key column id, or name \
            with team; then projection, stdev, ownership, ceiling, floor, line, batting_order; header names are \
            flexible) or per-player values. mode replace (default for a file) makes them the slate's projections; \
            merge (default for values) changes only what is given. Rows naming no player of the slate are skipped \
            and reported (strict: true makes them an error); a value that cannot be read fails the whole call and \
            names the line. Without projections the site's average points are used.",
        read_only: false,
        destructive: true,
        idempotent: true,
        input: schemas::set_projections_input,
        output: schemas::set_projections_output,
        run: data::set_projections,
    },
    ToolSpec {
        group: Group::Optimize,
        name: "lineup",
        title: "Build optimal lineups",
        description: "Build count lineups that maximise projected points on a slate under the site's rules \
            (salary cap, roster slots, team and game limits) and yours: locks, excludes, team limits, stacks (QB \
            stacks with bring-backs, team, game and NHL line stacks), minimum unique players between lineups, \
            exposure caps, salary range, seeded projection randomness, late swap. Lineup 1 is the optimum. The set \
            is stored (its lineup_set_id feeds the simulator) and returned with the site's upload CSV.",
        read_only: false,
        destructive: false,
        idempotent: false,
        input: schemas::lineup_input,
        output: schemas::lineup_output,
        run: apps::lineup,
    },
    ToolSpec {
        group: Group::Simulation,
        name: "run",
        title: "Simulate a contest",
        description: "Simulate lineups in a contest: player outcomes sampled around their projections (stdev, \
            correlated within games) many times against a field drawn from ownership, with the contest's entry \
            fee, size and payouts. Reports per lineup mean, stdev, percentiles, win %, top-1 %, cash % and ROI \
            with a 95 % interval; seeded and reproducible. Lineups: given as ids, or a lineup_set_id, or by \
            default the slate's latest optimized set. The report is stored.",
        read_only: false,
        destructive: false,
        idempotent: false,
        input: schemas::run_input,
        output: schemas::run_output,
        run: apps::run,
    },
];
