#!/usr/bin/env bash
# Filesystem access as an MCP server over stdio (federated as ext.filesystem.*):
# @modelcontextprotocol/server-filesystem, pinned.
#
# The server may touch only the directories it is given: the arguments, or else FILESYSTEM_ROOTS
# (colon-separated). Nothing given is a configuration error (exit 78) rather than a silent default, because
# which directories a model may read and write is the operator's decision. stdout is the server's alone.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib/launch.sh
. "$here/lib/launch.sh"

check=""
if [ "${1:-}" = "--check" ]; then
  check="--check"
  shift
fi
roots=("$@")
if [ ${#roots[@]} -eq 0 ] && [ -n "${FILESYSTEM_ROOTS:-}" ]; then
  IFS=':' read -r -a roots <<<"$FILESYSTEM_ROOTS"
fi
if [ ${#roots[@]} -eq 0 ]; then
  die_config "no directory to serve: pass directories as arguments or set FILESYSTEM_ROOTS (colon-separated)"
fi
for dir in "${roots[@]}"; do
  [ -d "$dir" ] || die_config "allowed directory $dir does not exist (or is not a directory)"
done
check_only $check
launch_npm @modelcontextprotocol/server-filesystem 2026.8.31 mcp-server-filesystem "${roots[@]}"
