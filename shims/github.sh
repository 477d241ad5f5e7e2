#!/usr/bin/env bash
# GitHub as an MCP server over stdio (federated as ext.github.*): @modelcontextprotocol/server-github, pinned
# (the last release on npm; GitHub's newer github-mcp-server ships as a Go binary / container, not on npm).
#
# Needs GITHUB_PERSONAL_ACCESS_TOKEN (a fine-grained token with the repository permissions the tools should
# have); GITHUB_TOKEN is accepted instead. stdout is the server's alone.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib/launch.sh
. "$here/lib/launch.sh"

if [ -z "${GITHUB_PERSONAL_ACCESS_TOKEN:-}" ] && [ -n "${GITHUB_TOKEN:-}" ]; then
  export GITHUB_PERSONAL_ACCESS_TOKEN="$GITHUB_TOKEN"
fi
require_env GITHUB_PERSONAL_ACCESS_TOKEN "a GitHub personal access token (https://github.com/settings/tokens)"
check_only "$@"
launch_npm @modelcontextprotocol/server-github 2025.4.8 mcp-server-github "$@"
