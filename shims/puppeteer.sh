#!/usr/bin/env bash
# A headless browser as an MCP server over stdio (federated as ext.puppeteer.*):
# @modelcontextprotocol/server-puppeteer, pinned.
#
# No API key. Puppeteer needs a Chrome: by default it downloads one into ~/.cache/puppeteer when the package is
# first installed; set PUPPETEER_EXECUTABLE_PATH (and PUPPETEER_SKIP_DOWNLOAD=true) to use an installed one.
# Without a display the browser runs headless. stdout is the server's alone.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib/launch.sh
. "$here/lib/launch.sh"

if [ -n "${PUPPETEER_EXECUTABLE_PATH:-}" ] && [ ! -x "$PUPPETEER_EXECUTABLE_PATH" ]; then
  die_config "PUPPETEER_EXECUTABLE_PATH=$PUPPETEER_EXECUTABLE_PATH is not an executable file"
fi
check_only "$@"
# The server launches a visible browser unless told otherwise; with no display that would fail on first use.
if [ -z "${DISPLAY:-}${WAYLAND_DISPLAY:-}${PUPPETEER_LAUNCH_OPTIONS:-}${DOCKER_CONTAINER:-}" ]; then
  export PUPPETEER_LAUNCH_OPTIONS='{"headless":true}'
fi
launch_npm @modelcontextprotocol/server-puppeteer 2025.5.12 mcp-server-puppeteer "$@"
