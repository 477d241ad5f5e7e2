// A server for the conformance suite's server scenarios (@modelcontextprotocol/conformance, `server` mode),
// written for this project with the official TypeScript SDK (low-level `Server` + Streamable HTTP transport,
// sessions). The suite's own test server (examples/servers/typescript/everything-server.ts in its repository) is
// not shipped in the npm package, so this one implements what each scenario's description asks for.
//
// Usage: node server.mjs PORT   (binds 127.0.0.1; module resolution from NODE_PATH, the conformance install)
import http from "node:http";
import { randomUUID } from "node:crypto";
import { createRequire } from "node:module";

const require = createRequire(process.env.NODE_PATH.split(":")[0] + "/");
const { Server } = require("@modelcontextprotocol/sdk/server/index.js");
const { StreamableHTTPServerTransport } = require("@modelcontextprotocol/sdk/server/streamableHttp.js");
const T = require("@modelcontextprotocol/sdk/types.js");

const PNG =
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==";
const WAV = "UklGRiQAAABXQVZFZm10IBAAAAABAAEAQB8AAEAfAAABAAgAZGF0YQAAAAA=";
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const text = (t) => ({ content: [{ type: "text", text: t }] });
const noArgs = { type: "object", properties: {} };

const described = (list) => list.map((t) => ({ description: `Conformance ${t.name}`, ...t }));
const tools = described([
  { name: "test_simple_text", inputSchema: noArgs },
  { name: "test_image_content", inputSchema: noArgs },
  { name: "test_audio_content", inputSchema: noArgs },
  { name: "test_embedded_resource", inputSchema: noArgs },
  { name: "test_multiple_content_types", inputSchema: noArgs },
  { name: "test_tool_with_logging", inputSchema: noArgs },
  { name: "test_tool_with_progress", inputSchema: noArgs },
  { name: "test_error_handling", inputSchema: noArgs },
  {
    name: "test_sampling",
    inputSchema: { type: "object", properties: { prompt: { type: "string" } }, required: ["prompt"] },
  },
  {
    name: "test_elicitation",
    inputSchema: { type: "object", properties: { message: { type: "string" } }, required: ["message"] },
  },
  { name: "test_elicitation_sep1034_defaults", inputSchema: noArgs },
  { name: "test_elicitation_sep1330_enums", inputSchema: noArgs },
  {
    name: "json_schema_2020_12_tool",
    description: "Tool with JSON Schema 2020-12 features",
    inputSchema: {
      $schema: "https://json-schema.org/draft/2020-12/schema",
      type: "object",
      $defs: { address: { type: "object", properties: { street: { type: "string" }, city: { type: "string" } } } },
      properties: { name: { type: "string" }, address: { $ref: "#/$defs/address" } },
      additionalProperties: false,
    },
  },
]);

function newServer() {
  const server = new Server(
    { name: "dfs-conformance-server", version: "1.0.0" },
    {
      capabilities: {
        tools: {},
        resources: { subscribe: true },
        prompts: {},
        logging: {},
        completions: {},
      },
    },
  );
  server.setRequestHandler(T.ListToolsRequestSchema, async () => ({ tools }));
  server.setRequestHandler(T.CallToolRequestSchema, async (req, extra) => {
    const args = req.params.arguments ?? {};
    switch (req.params.name) {
      case "test_simple_text":
        return text("This is a simple text response for testing.");
      case "test_image_content":
        return { content: [{ type: "image", data: PNG, mimeType: "image/png" }] };
      case "test_audio_content":
        return { content: [{ type: "audio", data: WAV, mimeType: "audio/wav" }] };
      case "test_embedded_resource":
        return {
          content: [
            {
              type: "resource",
              resource: { uri: "test://embedded-resource", mimeType: "text/plain", text: "This is an embedded resource content." },
            },
          ],
        };
      case "test_multiple_content_types":
        return {
          content: [
            { type: "text", text: "Multiple content types test:" },
            { type: "image", data: PNG, mimeType: "image/png" },
            {
              type: "resource",
              resource: { uri: "test://mixed-content-resource", mimeType: "application/json", text: '{"test":"data","value":123}' },
            },
          ],
        };
      case "test_tool_with_logging":
        for (const [i, data] of ["Tool execution started", "Tool processing data", "Tool execution completed"].entries()) {
          if (i > 0) await sleep(50);
          await extra.sendNotification({ method: "notifications/message", params: { level: "info", data } });
        }
        return text("Tool with logging executed successfully");
      case "test_tool_with_progress": {
        const token = req.params._meta?.progressToken;
        for (const [i, progress] of [0, 50, 100].entries()) {
          if (i > 0) await sleep(50);
          if (token !== undefined)
            await extra.sendNotification({ method: "notifications/progress", params: { progressToken: token, progress, total: 100 } });
        }
        return text("Tool with progress executed successfully");
      }
      case "test_error_handling":
        return { isError: true, content: [{ type: "text", text: "This tool intentionally returns an error for testing" }] };
      case "test_sampling": {
        const res = await extra.sendRequest(
          {
            method: "sampling/createMessage",
            params: { messages: [{ role: "user", content: { type: "text", text: args.prompt } }], maxTokens: 100 },
          },
          T.CreateMessageResultSchema,
        );
        return text(`LLM response: ${res.content?.text ?? JSON.stringify(res.content)}`);
      }
      case "test_elicitation": {
        const res = await elicit(extra, {
          message: args.message,
          requestedSchema: {
            type: "object",
            properties: {
              username: { type: "string", description: "User's response" },
              email: { type: "string", description: "User's email address" },
            },
            required: ["username", "email"],
          },
        });
        return text(`User response: action=${res.action}, content=${JSON.stringify(res.content ?? {})}`);
      }
      case "test_elicitation_sep1034_defaults": {
        const res = await elicit(extra, {
          message: "Please review the defaults",
          requestedSchema: {
            type: "object",
            properties: {
              name: { type: "string", default: "John Doe" },
              age: { type: "integer", default: 30 },
              score: { type: "number", default: 95.5 },
              status: { type: "string", enum: ["active", "inactive", "pending"], default: "active" },
              verified: { type: "boolean", default: true },
            },
          },
        });
        return text(`Elicitation completed: action=${res.action}, content=${JSON.stringify(res.content ?? {})}`);
      }
      case "test_elicitation_sep1330_enums": {
        const res = await elicit(extra, {
          message: "Pick options",
          requestedSchema: {
            type: "object",
            properties: {
              untitledSingle: { type: "string", enum: ["option1", "option2", "option3"] },
              titledSingle: {
                type: "string",
                oneOf: [
                  { const: "value1", title: "First Option" },
                  { const: "value2", title: "Second Option" },
                  { const: "value3", title: "Third Option" },
                ],
              },
              legacyEnum: { type: "string", enum: ["opt1", "opt2", "opt3"], enumNames: ["Option One", "Option Two", "Option Three"] },
              untitledMulti: { type: "array", items: { type: "string", enum: ["option1", "option2", "option3"] } },
              titledMulti: {
                type: "array",
                items: {
                  anyOf: [
                    { const: "value1", title: "First Choice" },
                    { const: "value2", title: "Second Choice" },
                    { const: "value3", title: "Third Choice" },
                  ],
                },
              },
            },
          },
        });
        return text(`Elicitation completed: action=${res.action}, content=${JSON.stringify(res.content ?? {})}`);
      }
      case "json_schema_2020_12_tool":
        return text(`received ${JSON.stringify(args)}`);
      default:
        throw new T.McpError(T.ErrorCode.InvalidParams, `Unknown tool: ${req.params.name}`);
    }
  });

  const resources = {
    "test://static-text": { mimeType: "text/plain", text: "This is the content of the static text resource." },
    "test://static-binary": { mimeType: "image/png", blob: PNG },
    "test://watched-resource": { mimeType: "text/plain", text: "Watched resource content." },
  };
  server.setRequestHandler(T.ListResourcesRequestSchema, async () => ({
    resources: Object.entries(resources).map(([uri, r]) => ({ uri, name: uri.slice(7), mimeType: r.mimeType })),
  }));
  server.setRequestHandler(T.ListResourceTemplatesRequestSchema, async () => ({
    resourceTemplates: [{ uriTemplate: "test://template/{id}/data", name: "template", mimeType: "application/json" }],
  }));
  server.setRequestHandler(T.ReadResourceRequestSchema, async (req) => {
    const uri = req.params.uri;
    const m = /^test:\/\/template\/([^/]+)\/data$/.exec(uri);
    if (m)
      return {
        contents: [
          { uri, mimeType: "application/json", text: JSON.stringify({ id: m[1], templateTest: true, data: `Data for ID: ${m[1]}` }) },
        ],
      };
    const r = resources[uri];
    if (!r) throw new T.McpError(-32002, `Resource not found: ${uri}`);
    return { contents: [{ uri, ...r }] };
  });
  server.setRequestHandler(T.SubscribeRequestSchema, async () => ({}));
  server.setRequestHandler(T.UnsubscribeRequestSchema, async () => ({}));

  const prompts = described([
    { name: "test_simple_prompt" },
    {
      name: "test_prompt_with_arguments",
      arguments: [
        { name: "arg1", required: true },
        { name: "arg2", required: true },
      ],
    },
    { name: "test_prompt_with_embedded_resource", arguments: [{ name: "resourceUri", required: true }] },
    { name: "test_prompt_with_image" },
  ]);
  server.setRequestHandler(T.ListPromptsRequestSchema, async () => ({ prompts }));
  server.setRequestHandler(T.GetPromptRequestSchema, async (req) => {
    const a = req.params.arguments ?? {};
    const user = (content) => ({ role: "user", content });
    switch (req.params.name) {
      case "test_simple_prompt":
        return { messages: [user({ type: "text", text: "This is a simple prompt for testing." })] };
      case "test_prompt_with_arguments":
        return { messages: [user({ type: "text", text: `Prompt with arguments: arg1='${a.arg1}', arg2='${a.arg2}'` })] };
      case "test_prompt_with_embedded_resource":
        return {
          messages: [
            user({ type: "resource", resource: { uri: a.resourceUri, mimeType: "text/plain", text: "Embedded resource content for testing." } }),
            user({ type: "text", text: "Please process the embedded resource above." }),
          ],
        };
      case "test_prompt_with_image":
        return {
          messages: [user({ type: "image", data: PNG, mimeType: "image/png" }), user({ type: "text", text: "Please analyze the image above." })],
        };
      default:
        throw new T.McpError(T.ErrorCode.InvalidParams, `Unknown prompt: ${req.params.name}`);
    }
  });
  server.setRequestHandler(T.CompleteRequestSchema, async () => ({ completion: { values: [], total: 0, hasMore: false } }));
  server.setRequestHandler(T.SetLevelRequestSchema, async () => ({}));
  return server;
}

async function elicit(extra, params) {
  return extra.sendRequest({ method: "elicitation/create", params }, T.ElicitResultSchema);
}

const LOCAL = /^(localhost|127\.0\.0\.1|\[::1\])(:\d+)?$/;
const sessions = new Map();

const httpServer = http.createServer(async (req, res) => {
  // DNS rebinding protection: only local Host and Origin values.
  const origin = req.headers.origin;
  if (!LOCAL.test(req.headers.host ?? "") || (origin && !/^https?:\/\/(localhost|127\.0\.0\.1|\[::1\])(:\d+)?$/.test(origin))) {
    res.writeHead(403, { "content-type": "application/json" });
    res.end(JSON.stringify({ jsonrpc: "2.0", error: { code: -32000, message: "Forbidden host or origin" }, id: null }));
    return;
  }
  const chunks = [];
  for await (const c of req) chunks.push(c);
  const raw = Buffer.concat(chunks).toString("utf8");
  let body;
  try {
    body = raw ? JSON.parse(raw) : undefined;
  } catch {
    res.writeHead(400, { "content-type": "application/json" });
    res.end(JSON.stringify({ jsonrpc: "2.0", error: { code: -32700, message: "Parse error" }, id: null }));
    return;
  }
  const sid = req.headers["mcp-session-id"];
  let transport = sid ? sessions.get(sid) : undefined;
  if (sid && !transport) {
    res.writeHead(404, { "content-type": "application/json" });
    res.end(JSON.stringify({ jsonrpc: "2.0", error: { code: -32001, message: "Session not found" }, id: null }));
    return;
  }
  if (!transport) {
    if (req.method !== "POST" || !T.isInitializeRequest(body)) {
      res.writeHead(400, { "content-type": "application/json" });
      res.end(JSON.stringify({ jsonrpc: "2.0", error: { code: -32000, message: "Bad Request: no session" }, id: body?.id ?? null }));
      return;
    }
    transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (id) => sessions.set(id, transport),
    });
    transport.onclose = () => transport.sessionId && sessions.delete(transport.sessionId);
    await newServer().connect(transport);
  }
  await transport.handleRequest(req, res, body);
});
httpServer.listen(Number(process.argv[2]), "127.0.0.1", () => console.error(`conformance server on ${process.argv[2]}`));
