//! Upload files: the lineups in the site's upload CSV layout.
//!
//! DraftKings: a header of the slot names in slot order followed by `,,Instructions`, then one row of ids per
//! lineup (the captain row's id in a CPT slot), at most 500 lineups. FanDuel: a header of slot names, then one
//! row of ids per lineup, at most 250. The importers of salary files live elsewhere; this is upload only.

use crate::model::{Lineup, Site};
use crate::rules::RuleSet;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ExportError {
    #[error("{site} takes at most {limit} lineups per upload file; {count} were given: split them over several files")]
    TooMany { site: &'static str, limit: usize, count: usize },
    #[error("lineup {index}: {found} players for {slots} slots of the {site} upload file")]
    Shape { index: usize, found: usize, slots: usize, site: &'static str },
}

/// The upload CSV of `lineups` (each in the rule set's slot order).
pub fn upload_csv(rules: &RuleSet, lineups: &[Lineup]) -> Result<String, ExportError> {
    if lineups.len() > rules.upload_limit {
        return Err(ExportError::TooMany {
            site: rules.site.as_str(),
            limit: rules.upload_limit,
            count: lineups.len(),
        });
    }
    let names: Vec<&str> = rules.slots.iter().map(|s| s.name).collect();
    let mut out = names.join(",");
    if rules.site == Site::DraftKings {
        out.push_str(",,Instructions");
    }
    out.push('\n');
    for (index, l) in lineups.iter().enumerate() {
        if l.players.len() != names.len() {
            return Err(ExportError::Shape {
                index: index + 1,
                found: l.players.len(),
                slots: names.len(),
                site: rules.site.as_str(),
            });
        }
        let ids: Vec<&str> = l.players.iter().map(|p| p.id.as_str()).collect();
        out.push_str(&ids.join(","));
        out.push('\n');
    }
    Ok(out)
}
