#!/usr/bin/env bash
# Serves one stdio shim over Streamable HTTP, for the external-tools containers of compose/docker-compose.yml:
#   serve-http.sh SHIM [ARGS...]      e.g. serve-http.sh github.sh
# The shim's checks run first (a missing API key ends the container with exit 78 and its message), then the
# pinned supergateway bridge runs the shim as its child and listens on MCP_HTTP_PORT (default 8000) at /mcp,
# with /healthz for the container healthcheck. One downstream process serves all sessions (--stateful), so a
# browser or a cache is not started per request.
# Unlike the stdio shims, this one's stdout is a log, not a protocol channel.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib/launch.sh
. "$here/lib/launch.sh"

[ $# -ge 1 ] || { echo "usage: serve-http.sh SHIM [ARGS...]" >&2; exit 64; }
shim="$1"
shift
case "$shim" in
  */*) ;;
  *) shim="$here/$shim" ;;
esac
[ -x "$shim" ] || { echo "serve-http.sh: $shim is not an executable shim" >&2; exit 64; }
shim_name="$(basename "$shim")"
"$shim" --check "$@"
command_line="$(printf '%q ' "$shim" "$@")"
launch_npm supergateway 4.0.0 supergateway \
  --stdio "$command_line" \
  --outputTransport streamableHttp \
  --stateful \
  --port "${MCP_HTTP_PORT:-8000}" \
  --streamableHttpPath /mcp \
  --healthEndpoint /healthz \
  --logLevel "${SUPERGATEWAY_LOG_LEVEL:-info}"
