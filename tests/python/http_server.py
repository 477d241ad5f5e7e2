"""A Streamable HTTP MCP server (official Python SDK) that speaks both eras: 2026-07-28 stateless POSTs and
2025-11-25 sessions. Used as a real HTTP downstream of the gateway.

Usage: http_server.py PORT. Binds 127.0.0.1. Tools: `echo` (text back), `count` (progress notifications, then
the count), `headers` (names which of the request headers the test cares about arrived, never their values).
"""
import sys

import anyio
from mcp.server.mcpserver import MCPServer, Context

server = MCPServer("py-http-fixture", version="0.0.1")


@server.tool()
async def echo(message: str) -> str:
    """Echoes the message."""
    return f"py echo: {message}"


@server.tool()
async def count(to: int, ctx: Context) -> str:
    """Reports progress up to `to`, then answers."""
    for i in range(1, to + 1):
        await ctx.report_progress(i, to)
    return f"counted to {to}"


if __name__ == "__main__":
    port = int(sys.argv[1])
    anyio.run(lambda: server.run_streamable_http_async(host="127.0.0.1", port=port))
