#!/usr/bin/env python3
"""Start-up and idle memory of `dfs-gateway serve` with the bundled configuration (the app fleet by default).

    python3 benches/fleet_startup.py BINARY [BINARY...]   # e.g. target/release/dfs-gateway (and an older build)

For each binary, RUNS times (env RUNS, default 5), alternating binaries: spawn `BINARY serve` in a fresh
directory (first start: empty store, the sample slates are imported), send initialize + tools/list as a stdio
client does, and time spawn -> the tools/list answer. Then the same on the directory again (second start: store
present). After the answer it waits IDLE seconds (env IDLE, default 3) without a call and reads VmRSS of the
gateway and of its child processes (the servers) from /proc. Prints the median of each figure per binary.
Ops listeners are off (ENABLE_HEALTH/ENABLE_METRICS=false); nothing else of the environment is passed but HOME
and PATH=/usr/bin:/bin (as a desktop client starts it).
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def children(pid):
    out = []
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            for c in f.read().split():
                out.append(int(c))
                out.extend(children(int(c)))
    except OSError:
        pass
    return out


def one_run(binary, workdir, idle):
    env = {"HOME": os.environ.get("HOME", "/root"), "PATH": "/usr/bin:/bin",
           "ENABLE_HEALTH": "false", "ENABLE_METRICS": "false", "LOG_LEVEL": "warn"}
    start = time.perf_counter()
    p = subprocess.Popen([binary, "serve"], cwd=workdir, env=env, stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)

    def send(msg):
        p.stdin.write((json.dumps(msg) + "\n").encode())
        p.stdin.flush()

    def answer(id_):
        while True:
            line = p.stdout.readline()
            if not line:
                raise RuntimeError("the gateway closed stdout")
            msg = json.loads(line)
            if msg.get("id") == id_:
                return msg

    send({"jsonrpc": "2.0", "id": 1, "method": "initialize",
          "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}}})
    answer(1)
    send({"jsonrpc": "2.0", "method": "notifications/initialized"})
    send({"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}})
    tools = answer(2)["result"]["tools"]
    listed = time.perf_counter() - start
    time.sleep(idle)
    gateway = rss_kib(p.pid)
    servers = sum(rss_kib(c) for c in children(p.pid))
    p.stdin.close()
    p.wait(timeout=30)
    return listed, len(tools), gateway, servers


def main():
    binaries = [os.path.abspath(b) for b in sys.argv[1:]]
    if not binaries:
        sys.exit(__doc__)
    runs = int(os.environ.get("RUNS", "5"))
    idle = float(os.environ.get("IDLE", "3"))
    results = {b: {"first": [], "second": []} for b in binaries}
    for _ in range(runs):
        for b in binaries:
            with tempfile.TemporaryDirectory() as d:
                results[b]["first"].append(one_run(b, d, idle))
                results[b]["second"].append(one_run(b, d, idle))
    print(f"{runs} runs each, idle {idle:g} s before reading RSS; medians")
    print(f"{'binary':<45} {'start':<7} {'tools':>5} {'spawn->tools/list':>18} {'gateway RSS':>12} {'servers RSS':>12}")
    for b in binaries:
        for kind in ("first", "second"):
            rows = results[b][kind]
            t = statistics.median(r[0] for r in rows) * 1000
            n = rows[0][1]
            g = statistics.median(r[2] for r in rows) / 1024
            s = statistics.median(r[3] for r in rows) / 1024
            print(f"{b:<45} {kind:<7} {n:>5} {t:>15.1f} ms {g:>8.1f} MiB {s:>8.1f} MiB")


if __name__ == "__main__":
    main()
