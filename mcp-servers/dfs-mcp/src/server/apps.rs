//! The optimize server's `lineup` and the simulation server's `run`: load the slate, call the engine, store what
//! it made with the request that made it.

use serde_json::{json, Value};

use super::tools::{args, ToolError};
use super::Ctx;
use crate::model::Slate;
use crate::optimize::{self, OptimizeRequest};
use crate::rules::{self, RuleSet};
use crate::simulate::{self, SimulationRequest};

fn rules_of(slate: &Slate) -> Result<&'static RuleSet, ToolError> {
    rules::lookup(slate.site, slate.sport, slate.contest)
        .ok_or_else(|| ToolError::Failed(format!("slate {} has no rule set in this build", slate.id)))
}

pub(super) fn lineup(ctx: &Ctx, v: Value) -> Result<Value, ToolError> {
    let request: OptimizeRequest = args(v.clone())?;
    let slate = ctx.store.slate(&request.slate_id)?;
    let set = optimize::optimize(&slate, rules_of(&slate)?, &request)
        .map_err(|e| ToolError::Failed(format!("no lineups for slate {}: {e}", slate.id)))?;
    let id = ctx.store.insert_lineup_set(&v, &set)?;
    let lineups: Vec<Value> = set
        .lineups
        .iter()
        .map(|l| {
            json!({
                "players": l.players.iter().map(|p| json!({"id": p.id, "name": p.name, "slot": p.slot,
                    "positions": p.positions, "team": p.team, "salary": p.salary, "projection": p.projection}))
                    .collect::<Vec<_>>(),
                "salary": l.salary,
                "projection": l.projection
            })
        })
        .collect();
    Ok(json!({"slate_id": set.slate_id, "lineup_set_id": id, "lineups": lineups, "csv": set.csv}))
}

pub(super) fn run(ctx: &Ctx, v: Value) -> Result<Value, ToolError> {
    let mut request: SimulationRequest = args(v.clone())?;
    let slate = ctx.store.slate(&request.slate_id)?;
    let mut lineup_set_id = None;
    if request.lineups.is_empty() {
        let stored = match &request.lineup_set_id {
            Some(id) => {
                let set = ctx.store.lineup_set(id)?;
                if set.set.slate_id != slate.id {
                    return Err(ToolError::Args(format!(
                        "lineup_set_id: {id} was built on slate {}, not {}",
                        set.set.slate_id, slate.id
                    )));
                }
                set
            }
            None => ctx.store.latest_lineup_set(&slate.id)?.ok_or_else(|| {
                ToolError::Failed(format!(
                    "nothing to simulate: slate {} has no lineup set yet; give `lineups` or `lineup_set_id`, or \
                     build lineups with the optimizer first",
                    slate.id
                ))
            })?,
        };
        request.lineups = stored.set.lineups.iter().map(|l| l.players.iter().map(|p| p.id.clone()).collect()).collect();
        lineup_set_id = Some(stored.id);
    } else if let Some(id) = &request.lineup_set_id {
        return Err(ToolError::Args(format!("give `lineups` or `lineup_set_id` ({id}), not both")));
    }
    let report = simulate::simulate(&slate, rules_of(&slate)?, &request)
        .map_err(|e| ToolError::Failed(format!("cannot simulate on slate {}: {e}", slate.id)))?;
    let mut out = serde_json::to_value(&report).map_err(|e| ToolError::Failed(e.to_string()))?;
    let id = ctx.store.insert_simulation(&slate.id, lineup_set_id.as_deref(), &v, &out)?;
    let m = out.as_object_mut().expect("a report is an object");
    m.insert("simulation_id".into(), json!(id));
    m.insert("lineup_set_id".into(), json!(lineup_set_id));
    Ok(out)
}
