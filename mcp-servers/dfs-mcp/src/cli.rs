//! The `dfs-mcp` command line: `dfs-mcp <server>` serves one of the DFS application's MCP servers over stdio
//! (`data`, `optimize`, `simulation`, or `all`); `dfs-mcp samples --out DIR` regenerates the shipped sample files.
//!
//! stdout carries MCP frames only; logs go to stderr (`LOG_LEVEL` or `RUST_LOG`, default `info`).

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::server::{self, Role, Settings};
use crate::store::StoreConfig;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "dfs-mcp",
    version,
    about = "The DFS application's MCP servers: slate data, lineup optimizer, contest simulation"
)]
struct Cli {
    /// Directory of the embedded SQLite store. The default is relative to the working directory, which the
    /// gateway sets to its configuration file's directory (the repository root for the bundled configuration).
    #[arg(long, global = true, env = "DFS_MCP_STATE_DIR", default_value = "_federation/dfs")]
    state_dir: PathBuf,
    /// PostgreSQL connection string; when set (and not empty) the store is PostgreSQL instead of SQLite.
    #[arg(long, global = true, env = "DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// A directory whose files the import tools may read by `path` (repeatable; the variable is `:`-separated).
    #[arg(long = "import-dir", global = true, env = "DFS_MCP_IMPORT_DIRS", value_delimiter = ':')]
    import_dirs: Vec<PathBuf>,
    /// Do not import the sample slates into an empty store (the variable takes true/false, 1/0, yes/no).
    #[arg(long, global = true, env = "DFS_MCP_NO_SAMPLES", value_parser = clap::builder::BoolishValueParser::new())]
    no_samples: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Slates and players: tools slate, import_slate, player_pool, set_projections.
    Data,
    /// The lineup optimizer: tool lineup.
    Optimize,
    /// Contest simulation: tool run.
    Simulation,
    /// Every tool in one server (data_slate, optimize_lineup, simulation_run...), for use without the gateway.
    All,
    /// Write the sample salary files, projections and game times, generated from the fixed seed.
    Samples {
        #[arg(long)]
        out: PathBuf,
    },
}

/// Runs the command line `args` (the program name first), as the `dfs-mcp` binary does. `dfs-gateway app ...`
/// calls it too, so the gateway's bundled configuration can start the fleet from the one binary it builds.
pub fn run<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
    };
    let filter = std::env::var("LOG_LEVEL").or_else(|_| std::env::var("RUST_LOG")).unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_env_filter(tracing_subscriber::EnvFilter::try_new(&filter).unwrap_or_else(|_| "info".into()))
        .try_init()
        .ok();
    let role = match cli.command {
        Command::Data => Role::Data,
        Command::Optimize => Role::Optimize,
        Command::Simulation => Role::Simulation,
        Command::All => Role::All,
        Command::Samples { out } => {
            return match crate::samples::write_files(&out) {
                Ok(files) => {
                    eprintln!("wrote {} files to {}", files.len(), out.display());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("dfs-mcp samples: cannot write to {}: {e}", out.display());
                    ExitCode::from(73)
                }
            };
        }
    };
    let settings = Settings {
        store: StoreConfig {
            state_dir: cli.state_dir,
            database_url: cli.database_url.filter(|u| !u.trim().is_empty()),
        },
        import_dirs: cli.import_dirs,
        samples: !cli.no_samples,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("dfs-mcp: cannot start the runtime: {e}");
            return ExitCode::from(71);
        }
    };
    match runtime.block_on(server::serve_stdio(role, settings)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("dfs-mcp {}: {e:#}", role_name(role));
            ExitCode::from(69)
        }
    }
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Data => "data",
        Role::Optimize => "optimize",
        Role::Simulation => "simulation",
        Role::All => "all",
    }
}
