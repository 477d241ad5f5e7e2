//! `dfs-mcp <server>`: one of the DFS application's MCP servers over stdio.

fn main() -> std::process::ExitCode {
    eprintln!("dfs-mcp: the servers are not built yet");
    std::process::ExitCode::from(69)
}
