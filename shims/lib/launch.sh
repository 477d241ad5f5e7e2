# shellcheck shell=bash
# Shared by the launch shims; sourced, not executed.
#
# The contract every shim keeps: stdout carries the MCP server's own frames and nothing else (the gateway reads
# it as the protocol), so everything a shim says goes to stderr and npm's own chatter is turned off. A missing
# required setting ends the shim with exit code 78 (EX_CONFIG) and one clear line on stderr, before anything is
# downloaded or started. `SHIM --check` runs those checks only and exits 0 when they pass (compose and the
# gateway's operators use it; nothing is launched).

# Name shown in messages: the shim's file name.
shim_name="$(basename "${0:-shim}")"

# die_config MESSAGE: a setting is missing or wrong (EX_CONFIG).
die_config() {
  echo "$shim_name: $*" >&2
  exit 78
}

# require_env VAR WHAT: VAR must be set and non-empty.
require_env() {
  if [ -z "${!1:-}" ]; then
    die_config "$1 is not set: it must hold $2. Set it in the gateway's environment (and pass it in the server's env table of gateway.toml) or in compose/.env."
  fi
}

# check_only ARGS...: with --check as the first argument, stop here with success.
check_only() {
  if [ "${1:-}" = "--check" ]; then
    echo "$shim_name: configuration ok" >&2
    exit 0
  fi
}

# launch_npm PACKAGE VERSION BIN [ARGS...]: runs the pinned package's BIN with ARGS, replacing this shell, so the
# server is this very process: stdin EOF, signals and the gateway's process-group kill reach it directly (an
# `npx` wrapper would sit in between and can leave the server orphaned when it is signalled).
# Where the package comes from, in order:
#   1. $DFS_NPM_PREFIX/node_modules (the container image preinstalls the pins there), if the version is exact;
#   2. $DFS_NPM_CACHE (default ~/.cache/dfs-gateway/npm)/<package>@<version>, installed there from the npm
#      registry on first use (npm's output goes to stderr; the install is atomic, so concurrent first starts
#      are safe).
launch_npm() {
  local pkg="$1" version="$2" bin="$3"
  shift 3
  if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "$shim_name: node and npm are not installed; $pkg@$version needs Node.js 20 or newer" >&2
    exit 69 # EX_UNAVAILABLE
  fi
  local prefix="${DFS_NPM_PREFIX:-}"
  if [ -n "$prefix" ] && [ -x "$prefix/node_modules/.bin/$bin" ] &&
    [ "$(installed_version "$prefix" "$pkg")" = "$version" ]; then
    exec "$prefix/node_modules/.bin/$bin" "$@"
  fi
  local cache="${DFS_NPM_CACHE:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/dfs-gateway/npm}"
  local dir="$cache/${pkg//\//+}@$version"
  if [ ! -x "$dir/node_modules/.bin/$bin" ] || [ "$(installed_version "$dir" "$pkg")" != "$version" ]; then
    echo "$shim_name: installing $pkg@$version into $dir (first run)" >&2
    mkdir -p "$cache"
    local tmp
    tmp="$(mktemp -d "$cache/.install.XXXXXX")"
    if ! npm install --prefix "$tmp" --no-audit --no-fund --no-update-notifier --loglevel=error \
      "$pkg@$version" 1>&2; then
      rm -rf "$tmp"
      echo "$shim_name: cannot install $pkg@$version from the npm registry" >&2
      exit 69
    fi
    # Another shim may have finished the same install first: keep theirs.
    mv -T "$tmp" "$dir" 2>/dev/null || rm -rf "$tmp"
  fi
  exec "$dir/node_modules/.bin/$bin" "$@"
}

# installed_version PREFIX PACKAGE: the version of PACKAGE under PREFIX/node_modules, or nothing.
installed_version() {
  node -p 'require(process.argv[1]).version' "$1/node_modules/$2/package.json" 2>/dev/null || true
}
