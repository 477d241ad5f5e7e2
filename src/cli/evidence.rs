//! `dfs-gateway evidence verify [DIR]`: checks the hash chain of the audit trail and says where it breaks.
//!
//! Exit codes (sysexits, like the configuration's 64):
//! - 0: the chain is intact. A torn final line (a write cut off by a crash, which the writer repairs at its
//!   next start) is tolerated and reported with its file and line.
//! - 65 (`EX_DATAERR`): the chain is broken; the first broken record is named (`file:line: what is wrong`).
//! - 66 (`EX_NOINPUT`): the directory or a file in it cannot be read.
//! - 64: no DIR was given and the configuration that names it does not load.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;

/// The chain is broken.
pub(super) const EXIT_BROKEN: u8 = 65;
/// The trail cannot be read.
pub(super) const EXIT_UNREADABLE: u8 = 66;

#[derive(Debug, Subcommand)]
pub(crate) enum EvidenceCommand {
    /// Check the hash chain of the audit trail; exit 0 when intact (a torn final line is tolerated), 65 when
    /// broken (the first broken record is named by file and line), 66 when the trail cannot be read.
    Verify {
        /// The evidence directory; default `[evidence] dir` of the configuration (`<state_dir>/evidence`).
        dir: Option<PathBuf>,
    },
}

/// Runs an `evidence` subcommand. The configuration is read only when it is needed to find the directory.
pub(super) fn run(command: &EvidenceCommand, config: Option<&Path>) -> ExitCode {
    let EvidenceCommand::Verify { dir } = command;
    let dir = match dir {
        Some(d) => d.clone(),
        None => match crate::config::Config::load_with_process_env(config) {
            Ok(c) => c.services.evidence.map_or_else(|| c.gateway.state_dir.join("evidence"), |e| e.dir),
            Err(errors) => {
                eprintln!("{errors}");
                eprintln!("dfs-gateway: the configuration that names the evidence directory has {} problem(s); give DIR instead", errors.0.len());
                return ExitCode::from(super::EXIT_CONFIG);
            }
        },
    };
    match crate::evidence::verify(&dir) {
        Ok(report) => {
            println!("{report}");
            if report.is_ok() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(EXIT_BROKEN)
            }
        }
        Err(e) => {
            eprintln!("dfs-gateway: {e}");
            ExitCode::from(EXIT_UNREADABLE)
        }
    }
}
