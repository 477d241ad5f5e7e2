//! `dfs-mcp <server>`: one of the DFS application's MCP servers over stdio (`data`, `optimize`, `simulation`,
//! or `all`), or `dfs-mcp samples --out DIR` to regenerate the shipped sample files. See [`dfs_mcp::cli`].

fn main() -> std::process::ExitCode {
    dfs_mcp::cli::run(std::env::args_os())
}
