#!/usr/bin/env bash
# Brave Search as an MCP server over stdio (federated as ext.brave.*): the official
# @brave/brave-search-mcp-server, pinned. (@modelcontextprotocol/server-brave-search is the archived
# predecessor.)
#
# Needs BRAVE_API_KEY (https://brave.com/search/api/), or BRAVE_API_KEY_FILE naming a file that holds it.
# Arguments are passed to the server (see `brave-search-mcp-server --help`). stdout is the server's alone.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib/launch.sh
. "$here/lib/launch.sh"

if [ -z "${BRAVE_API_KEY:-}" ] && [ -n "${BRAVE_API_KEY_FILE:-}" ]; then
  [ -r "$BRAVE_API_KEY_FILE" ] || die_config "BRAVE_API_KEY_FILE=$BRAVE_API_KEY_FILE is not a readable file"
else
  require_env BRAVE_API_KEY "a Brave Search API key (https://brave.com/search/api/)"
fi
check_only "$@"
# The package can also serve HTTP; the gateway (or serve-http.sh) speaks stdio to it.
export BRAVE_MCP_TRANSPORT=stdio
launch_npm @brave/brave-search-mcp-server 2.1.4 brave-search-mcp-server "$@"
