//! dfs-mcp: the DFS application's MCP servers behind dfs-gateway.
//!
//! One binary, a subcommand per server, so that the canonical names through the gateway are
//! `app.data.slate`, `app.data.player_pool`, `app.optimize.lineup` and `app.simulation.run`.
//!
//! # Layout
//!
//! - [`cli`]: the `dfs-mcp` command line (also run by `dfs-gateway app`).
//! - [`export`]: upload CSV files of lineups.
//! - [`generate`]: seeded, realistic sample slates for tests, benchmarks and demos.
//! - [`model`]: sites, sports, contest types, slates, games, players, lineups.
//! - [`rules`]: roster rules per site, sport and contest type, as dated data.
//! - [`import`]: the sites' salary files and the user's projections CSV into the model.
//! - [`slate_export`]: salary files in the sites' exact layouts (and projections CSV), the importers' inverse.
//! - [`store`]: slates, projections, lineup sets and simulations in SQLite (default) or PostgreSQL.
//! - [`samples`]: the shipped sample slates (generated, in the sites' file layouts).
//! - [`server`]: the MCP servers and their tools.
//! - [`optimize`]: the exact lineup optimizer.
//! - [`simulate`]: contest simulation.
#![forbid(unsafe_code)]

pub mod cli;
pub mod export;
pub mod generate;
pub mod import;
pub mod model;
pub mod optimize;
pub mod rules;
pub mod samples;
pub mod server;
pub mod simulate;
pub mod slate_export;
pub mod store;
