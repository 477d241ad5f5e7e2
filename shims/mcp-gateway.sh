#!/usr/bin/env bash
# The Claude Desktop entry: builds the release binary if it is missing, then runs the gateway over stdio. The
# one binary holds the app fleet too (`dfs-gateway app <server>`), which the configurations start.
# stdout belongs to the MCP protocol, so everything this script prints goes to stderr.
# Config: $DFS_GATEWAY_CONFIG if set, else the bundled defaults plus APP_SERVERS / EXTERNAL_SERVERS.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${DFS_GATEWAY_BIN:-$root/target/release/dfs-gateway}"
if [ ! -x "$bin" ]; then
  # A desktop client's PATH is minimal (/usr/bin:/bin): rustup's cargo lives in ~/.cargo/bin.
  cargo="$(command -v cargo || true)"
  if [ -z "$cargo" ] && [ -x "${CARGO_HOME:-${HOME:-/nonexistent}/.cargo}/bin/cargo" ]; then
    cargo="${CARGO_HOME:-$HOME/.cargo}/bin/cargo"
  fi
  if [ -z "$cargo" ]; then
    echo "mcp-gateway.sh: $bin is not built and cargo is not on PATH ($PATH) or in ~/.cargo/bin; run \`cargo build --release\` in $root" >&2
    exit 69
  fi
  echo "mcp-gateway.sh: building dfs-gateway (first run)..." >&2
  (cd "$root" && "$cargo" build --release --bin dfs-gateway) 1>&2
fi
cd "$root"
exec "$bin" serve "$@"
