"""A 2026-07-28 MCP server (official Python SDK) whose tool needs input from the client.

`ask` answers the first call with `resultType: "input_required"` (an elicitation and a sampling request) and
the retry, which carries `inputResponses`, with a text naming what it got. Used to test that the gateway turns
a modern server's input requests into ordinary requests to a legacy client and retries the call.
"""
import anyio
from mcp.server.mcpserver import MCPServer, Context
from mcp_types import InputRequiredResult, CallToolResult, TextContent

server = MCPServer("mrtr-fixture", version="0.0.1")


@server.tool()
async def ask(topic: str, ctx: Context) -> CallToolResult | InputRequiredResult:
    """Asks the user for a name and an LLM for a summary of `topic`."""
    answers = ctx.input_responses
    if not answers:
        return InputRequiredResult(
            input_requests={
                "user_name": {
                    "method": "elicitation/create",
                    "params": {
                        "mode": "form",
                        "message": "Your name?",
                        "requestedSchema": {
                            "type": "object",
                            "properties": {"name": {"type": "string"}},
                            "required": ["name"],
                        },
                    },
                },
                "summary": {
                    "method": "sampling/createMessage",
                    "params": {
                        "messages": [{"role": "user", "content": {"type": "text", "text": f"Summarize {topic}"}}],
                        "maxTokens": 50,
                    },
                },
            },
            request_state="round-1",
        )
    return CallToolResult(content=[TextContent(type="text", text=f"got {answers!r} state={ctx.request_state}")])


if __name__ == "__main__":
    anyio.run(server.run_stdio_async)
