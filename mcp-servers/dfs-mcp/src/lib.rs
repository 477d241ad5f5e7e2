//! dfs-mcp: the DFS application's MCP servers behind dfs-gateway.
//!
//! One binary, a subcommand per server, so that the canonical names through the gateway are
//! `app.data.slate`, `app.data.player_pool`, `app.optimize.lineup` and `app.simulation.run`.
//!
//! # Layout
//!
//! - [`generate`]: seeded, realistic sample slates for tests, benchmarks and demos.
//! - [`model`]: sites, sports, contest types, slates, games, players, lineups.
//! - [`rules`]: roster rules per site, sport and contest type, as dated data.
//! - [`optimize`]: the exact lineup optimizer.
//! - [`simulate`]: contest simulation.
#![forbid(unsafe_code)]

pub mod generate;
pub mod model;
pub mod optimize;
pub mod rules;
pub mod simulate;
