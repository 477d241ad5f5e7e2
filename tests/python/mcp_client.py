#!/usr/bin/env python3
"""Drive an MCP server over stdio or Streamable HTTP with the official Python SDK (`mcp` 2.3.0).

Usage (run with the test venv's python):

    python mcp_client.py --mode {legacy,auto,2026-07-28} [--timeout SECS]
        [--call TOOL [--args JSON]]... [--progress] [--log-level LEVEL]
        [--record-rpc-errors] [--env KEY=VALUE]... [--sampling-reply TEXT]
        -- <server command> <args...> | <http(s) URL>

Connects to the server command over stdio (or, when the target is one URL, over
Streamable HTTP with `Authorization: Bearer $MCP_BEARER_TOKEN` when that
variable is set), lists every tool (following
pagination), performs each requested call in order and prints ONE JSON object
on stdout:

    {"protocol": "2025-11-25", "server_name": "...", "server_version": "...",
     "mode": "legacy", "tools": ["..."],
     "calls": [{"tool": "...", "is_error": false, "text": "...",
                "structured": {...} | null}],
     "notifications": [{"method": "...", "params": {...}}]}

Modes map 1:1 onto `mcp.Client(mode=...)`:
  * legacy      - `initialize` handshake (offers protocolVersion 2025-11-25).
  * auto        - `server/discover` probe first, falls back to `initialize`
                  on any JSON-RPC error from the probe.
  * 2026-07-28  - adopts the modern version directly, no probe and no
                  handshake: every request carries the protocol version,
                  clientInfo and clientCapabilities in `params._meta`. The SDK
                  synthesizes a DiscoverResult, so `server_name` is null unless
                  `--discover` is given (then one `server/discover` is sent
                  first and its `_meta` serverInfo stamp is used).

`text` is the text of every `text` content block joined with "\n".
`--progress` attaches a progress callback to each call (so the request carries
`_meta.progressToken`); the updates land in the call's `progress` list.
`--record-rpc-errors` records a JSON-RPC error answer to a call as
`{"is_error": true, "rpc_error": {"code": .., "message": ..}}` instead of failing.

Any other failure (spawn, handshake, timeout, protocol error) prints a message
on stderr and exits 1. Everything runs under one overall deadline (`--timeout`,
default 30 s), and the SDK's stdio transport closes stdin then kills the server
process group on exit, so the script never hangs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
import warnings
from typing import Any

import anyio
from mcp import Client, StdioServerParameters, types
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPError

warnings.simplefilter("ignore")  # MCPDeprecationWarning etc. must not pollute stderr checks


def _parse_argv(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    if "--" not in argv:
        raise SystemExit("usage: mcp_client.py [options] -- <server command> [args...]")
    split = argv.index("--")
    opts, server_cmd = argv[:split], argv[split + 1 :]
    if not server_cmd:
        raise SystemExit("missing server command after --")

    parser = argparse.ArgumentParser(prog="mcp_client.py")
    parser.add_argument("--mode", default="legacy", help="legacy | auto | 2026-07-28")
    parser.add_argument("--timeout", type=float, default=30.0, help="overall deadline in seconds")
    parser.add_argument("--discover", action="store_true", help="with a pinned modern mode: send server/discover first")
    parser.add_argument("--progress", action="store_true", help="request progress updates for each call")
    parser.add_argument("--log-level", default=None, help="logging opt-in (modern) / logging/setLevel (legacy)")
    parser.add_argument("--record-rpc-errors", action="store_true")
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--cwd", default=None)
    parser.add_argument("--no-list", action="store_true", help="skip tools/list")
    parser.add_argument("--sampling-reply", default=None, help="declare sampling; answer every request with this text")
    # --call/--args are order-sensitive pairs; collect them by hand.
    calls: list[dict[str, Any]] = []
    rest: list[str] = []
    i = 0
    while i < len(opts):
        arg = opts[i]
        if arg in ("--call", "--args"):
            if i + 1 >= len(opts):
                raise SystemExit(f"{arg} needs a value")
            value = opts[i + 1]
            if arg == "--call":
                calls.append({"tool": value, "args": {}})
            else:
                if not calls:
                    raise SystemExit("--args must follow a --call")
                parsed = json.loads(value)
                if not isinstance(parsed, dict):
                    raise SystemExit("--args must be a JSON object")
                calls[-1]["args"] = parsed
            i += 2
            continue
        rest.append(arg)
        i += 1
    ns = parser.parse_args(rest)
    ns.calls = calls
    return ns, server_cmd


def _jsonable(value: Any) -> Any:
    if value is None:
        return None
    if hasattr(value, "model_dump"):
        return value.model_dump(by_alias=True, mode="json", exclude_none=True)
    return value


async def _run(ns: argparse.Namespace, server_cmd: list[str]) -> dict[str, Any]:
    env = dict(os.environ)
    for kv in ns.env:
        key, _, val = kv.partition("=")
        env[key] = val
    target: Any
    if len(server_cmd) == 1 and server_cmd[0].startswith(("http://", "https://")):
        token = os.environ.get("MCP_BEARER_TOKEN")
        headers = {"Authorization": f"Bearer {token}"} if token else None
        target = streamable_http_client(server_cmd[0], http_client=create_mcp_http_client(headers=headers))
    else:
        target = StdioServerParameters(command=server_cmd[0], args=server_cmd[1:], env=env, cwd=ns.cwd)

    notifications: list[dict[str, Any]] = []

    async def on_message(message: Any) -> None:
        if isinstance(message, Exception):
            notifications.append({"method": "<transport-exception>", "params": {"error": repr(message)}})
            return
        root = getattr(message, "root", message)
        notifications.append(
            {"method": getattr(root, "method", type(root).__name__), "params": _jsonable(getattr(root, "params", None))}
        )

    client_kwargs: dict[str, Any] = {
        "mode": ns.mode,
        "read_timeout_seconds": ns.timeout,
        "message_handler": on_message,
        "cache": None,  # every list/call reaches the server
    }
    if ns.log_level is not None:
        client_kwargs["log_level"] = ns.log_level  # only stamped on 2026-07-28 connections
    if ns.sampling_reply is not None:

        async def on_sampling(_context: Any, _params: Any) -> Any:
            return types.CreateMessageResult(
                role="assistant",
                content=types.TextContent(type="text", text=ns.sampling_reply),
                model="dfs-gateway-tests",
                stop_reason="endTurn",
            )

        client_kwargs["sampling_callback"] = on_sampling

    out: dict[str, Any] = {"mode": ns.mode}
    async with Client(target, **client_kwargs) as client:
        if ns.discover and ns.mode not in ("legacy", "auto"):
            await client.session.discover()
        if ns.log_level is not None and client.session.initialize_result is not None:
            # Handshake-era connection: logging is governed by logging/setLevel.
            await client.session.set_logging_level(ns.log_level)  # pyright: ignore[reportDeprecated]

        out["protocol"] = client.protocol_version
        info = client.server_info
        out["server_name"] = info.name if info is not None else None
        out["server_version"] = info.version if info is not None else None

        tools: list[str] = []
        if not ns.no_list:
            cursor: str | None = None
            for _ in range(100):
                page = await client.list_tools(cursor=cursor)
                tools.extend(t.name for t in page.tools)
                if out["server_name"] is None:
                    # Pinned 2026-07-28 mode never sees a discover/initialize result; modern
                    # servers stamp `_meta["io.modelcontextprotocol/serverInfo"]` on every result.
                    stamp = (page.meta or {}).get("io.modelcontextprotocol/serverInfo")
                    if isinstance(stamp, dict):
                        out["server_name"] = stamp.get("name")
                        out["server_version"] = stamp.get("version")
                cursor = page.next_cursor
                if not cursor:
                    break
        out["tools"] = tools

        calls_out: list[dict[str, Any]] = []
        for call in ns.calls:
            progress: list[dict[str, Any]] = []

            async def on_progress(p: float, total: float | None, message: str | None, _acc=progress) -> None:
                _acc.append({"progress": p, "total": total, "message": message})

            entry: dict[str, Any] = {"tool": call["tool"]}
            try:
                result = await client.call_tool(
                    call["tool"], call["args"], progress_callback=on_progress if ns.progress else None
                )
            except MCPError as e:
                if not ns.record_rpc_errors:
                    raise
                entry.update(
                    is_error=True,
                    text=e.error.message,
                    structured=None,
                    rpc_error={"code": e.error.code, "message": e.error.message},
                )
            else:
                texts = [c.text for c in result.content if getattr(c, "type", None) == "text"]
                entry.update(
                    is_error=bool(result.is_error),
                    text="\n".join(texts),
                    structured=result.structured_content,
                )
            if ns.progress:
                entry["progress"] = progress
            calls_out.append(entry)
        out["calls"] = calls_out
        out["notifications"] = notifications
    return out


async def _main(ns: argparse.Namespace, server_cmd: list[str]) -> dict[str, Any]:
    with anyio.fail_after(ns.timeout):
        return await _run(ns, server_cmd)


def main() -> int:
    ns, server_cmd = _parse_argv(sys.argv[1:])
    try:
        out = anyio.run(_main, ns, server_cmd)
    except BaseException as e:  # noqa: BLE001 - any failure is exit 1 with a message
        if isinstance(e, SystemExit):
            raise
        # Unwrap exception groups from anyio task groups for a readable message.
        while isinstance(e, BaseExceptionGroup) and len(e.exceptions) == 1:
            e = e.exceptions[0]
        if isinstance(e, TimeoutError):
            print(f"mcp_client: timed out after {ns.timeout}s", file=sys.stderr)
        else:
            print(f"mcp_client: {type(e).__name__}: {e}", file=sys.stderr)
            if os.environ.get("MCP_CLIENT_DEBUG"):
                traceback.print_exception(e)
        return 1
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
