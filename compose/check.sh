#!/usr/bin/env bash
# Validates compose/docker-compose.yml without a Docker engine (none runs in CI; no image is built or pulled):
#   1. `docker-compose config` (Debian's compose v1) for every combination of the profiles gateway,
#      external-tools and monitoring, once with the built-in defaults and once with compose/.env.example;
#   2. on the resolved file: the services each combination starts, that their depends_on are started too, that
#      every published port binds 127.0.0.1 by default, that no secret has a value in the file itself, and that
#      every ${VAR} the file uses is documented in .env.example together with the gateway's own variables;
#   3. `bash -n` of the shims the containers run.
# Prints one line per check and exits non-zero on the first failure.
#
# Usage: compose/check.sh            (docker-compose on PATH; `apt-get install docker-compose`)
#        DOCKER_COMPOSE="docker compose" compose/check.sh   (compose v2 works too)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"
read -r -a compose <<<"${DOCKER_COMPOSE:-docker-compose}"
if ! command -v "${compose[0]}" >/dev/null 2>&1; then
  echo "check.sh: ${compose[0]} not found; install it with: apt-get install -y docker-compose" >&2
  exit 69
fi
command -v python3 >/dev/null 2>&1 || { echo "check.sh: python3 is required" >&2; exit 69; }

# Isolated from the caller's environment and from a real compose/.env (which may hold secrets and would be read
# implicitly): an empty env file stands for "nothing set".
empty_env="$(mktemp)"
resolved="$(mktemp)"
trap 'rm -f "$empty_env" "$resolved" "$resolved.err"' EXIT
unset_vars=()
while IFS= read -r var; do unset_vars+=(-u "$var"); done < <(grep -oE '\$\{[A-Z_][A-Z0-9_]*' docker-compose.yml | cut -c3- | sort -u)

combinations=(
  "gateway"
  "external-tools"
  "monitoring"
  "gateway external-tools"
  "gateway monitoring"
  "external-tools monitoring"
  "gateway external-tools monitoring"
)
failures=0
for combo in "${combinations[@]}"; do
  args=()
  for p in $combo; do args+=(--profile "$p"); done
  for env_file in "$empty_env" .env.example; do
    label="$combo (env: $([ "$env_file" = .env.example ] && echo .env.example || echo defaults))"
    if ! env "${unset_vars[@]}" "${compose[@]}" --env-file "$env_file" -f docker-compose.yml "${args[@]}" config \
      >"$resolved" 2>"$resolved.err"; then
      echo "FAIL config: $label" >&2
      cat "$resolved.err" >&2
      failures=$((failures + 1))
      continue
    fi
    if ! python3 - "$resolved" "$combo" <<'PY'; then
import sys, yaml

doc = yaml.safe_load(open(sys.argv[1]))
active_profiles = set(sys.argv[2].split())
services = doc["services"]
known = {"gateway", "external-tools", "monitoring"}
expected = {
    "gateway": {"dfs-gateway", "redis", "postgres"},
    "external-tools": {"brave-search-external", "github-external", "filesystem", "puppeteer"},
    "monitoring": {"prometheus", "grafana"},
}
problems = []
for name, svc in services.items():
    profiles = set(svc.get("profiles", []))
    if not profiles or not profiles <= known:
        problems.append(f"{name}: profiles {sorted(profiles)} must be a non-empty subset of {sorted(known)}")
active = {n for n, s in services.items() if set(s.get("profiles", [])) & active_profiles}
want = set().union(*(expected[p] for p in active_profiles))
if active != want:
    problems.append(f"active services {sorted(active)} != expected {sorted(want)}")
for name in sorted(active):
    svc = services[name]
    for dep in svc.get("depends_on", {}) or {}:
        if dep not in active:
            problems.append(f"{name} depends on {dep}, which these profiles do not start")
    for port in svc.get("ports", []):
        host_ip = port.get("host_ip") if isinstance(port, dict) else str(port).split(":")[0]
        if host_ip != "127.0.0.1":
            problems.append(f"{name}: port {port} is not bound to 127.0.0.1")
    if name not in {"postgres", "redis"} and "no-new-privileges:true" not in svc.get("security_opt", []):
        problems.append(f"{name}: no-new-privileges is not set")
    env = svc.get("environment", {}) or {}
    for key, value in env.items():
        secretish = any(w in key for w in ("KEY", "TOKEN", "PASSWORD", "SECRET"))
        if secretish and value not in (None, ""):
            problems.append(f"{name}: {key} has a value in the compose file itself")
if "dfs-gateway" in active:
    gw = services["dfs-gateway"]
    if "serve" not in gw.get("command", []):
        problems.append("dfs-gateway: command must run `serve`")
    if not gw.get("healthcheck"):
        problems.append("dfs-gateway: no healthcheck")
    # The app fleet's store is compose's postgres service.
    db = str((gw.get("environment") or {}).get("DATABASE_URL") or "")
    if "@postgres:5432/" not in db:
        problems.append(f"dfs-gateway: DATABASE_URL must name the postgres service, not {db!r}")
    if "postgres" not in (gw.get("depends_on") or {}):
        problems.append("dfs-gateway: must depend on postgres (the app fleet's store)")
for p in problems:
    print("  " + p, file=sys.stderr)
print(f"  services: {', '.join(sorted(active))}")
sys.exit(1 if problems else 0)
PY
      echo "FAIL structure: $label" >&2
      failures=$((failures + 1))
      continue
    fi
    echo "ok   $label"
  done
done

# Every variable the file uses, and every variable the gateway reads, is documented in .env.example.
gateway_vars=(DFS_GATEWAY_CONFIG LOG_LEVEL LOG_DIR LOG_ROTATION LOG_KEEP ENABLE_HEALTH HEALTH_PORT ENABLE_METRICS METRICS_PORT ENABLE_HTTP HTTP_LISTEN APP_SERVERS
  EXTERNAL_SERVERS REDIS_URL DATABASE_URL BRAVE_API_KEY GITHUB_PERSONAL_ACCESS_TOKEN)
missing=()
for var in "${gateway_vars[@]}" $(grep -oE '\$\{[A-Z_][A-Z0-9_]*' docker-compose.yml | cut -c3- | sort -u); do
  grep -qE "^${var}=" .env.example || missing+=("$var")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "FAIL .env.example does not document: ${missing[*]}" >&2
  failures=$((failures + 1))
else
  echo "ok   .env.example documents every variable"
fi

for shim in ../shims/serve-http.sh ../shims/brave-search.sh ../shims/github.sh ../shims/filesystem.sh \
  ../shims/puppeteer.sh ../shims/lib/launch.sh; do
  if ! bash -n "$shim"; then
    echo "FAIL bash -n $shim" >&2
    failures=$((failures + 1))
  fi
done
[ -f Dockerfile ] || { echo "FAIL compose/Dockerfile is missing" >&2; failures=$((failures + 1)); }

if [ "$failures" -gt 0 ]; then
  echo "check.sh: $failures check(s) failed" >&2
  exit 1
fi
echo "check.sh: all compose checks passed"
