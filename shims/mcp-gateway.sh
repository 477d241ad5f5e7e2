#!/usr/bin/env bash
# The Claude Desktop entry: builds the release binary if it is missing, then runs the gateway over stdio.
# stdout belongs to the MCP protocol, so everything this script prints goes to stderr.
# Config: $DFS_GATEWAY_CONFIG if set, else the bundled defaults plus APP_SERVERS / EXTERNAL_SERVERS.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${DFS_GATEWAY_BIN:-$root/target/release/dfs-gateway}"
if [ ! -x "$bin" ]; then
  echo "mcp-gateway.sh: building dfs-gateway (first run)..." >&2
  (cd "$root" && cargo build --release --bin dfs-gateway) 1>&2
fi
cd "$root"
exec "$bin" serve "$@"
