#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    dfs_gateway::cli::main()
}
