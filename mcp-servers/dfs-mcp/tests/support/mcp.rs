//! A real MCP client (rmcp) driving the real `dfs-mcp` binary (or the gateway) over stdio.

use std::collections::HashMap;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientCapabilities, ClientConfig, Implementation, ProtocolVersion, Tool,
};
use rmcp::service::RunningService;
use rmcp::transport::TokioChildProcess;
use rmcp::{ClientLifecycleMode, ClientServiceExt as _, RoleClient};
use serde_json::Value;

pub const TIMEOUT: Duration = Duration::from_secs(60);

pub fn dfs_mcp_bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_dfs-mcp"))
}

/// Which handshake the client uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Era {
    /// `initialize` offering 2025-11-25.
    Legacy,
    /// `server/discover` only (2026-07-28).
    Modern,
    /// Probe with `server/discover`, fall back to `initialize`.
    Auto,
}

pub struct Client {
    service: RunningService<RoleClient, ClientConfig>,
    tools: HashMap<String, Tool>,
}

/// What a tool call gave: the structured result, or the error text of an `isError` result.
#[derive(Debug)]
pub enum Outcome {
    Ok(Value),
    ToolError(String),
}

impl Outcome {
    #[track_caller]
    pub fn ok(self) -> Value {
        match self {
            Outcome::Ok(v) => v,
            Outcome::ToolError(e) => panic!("expected a result, got the tool error: {e}"),
        }
    }
    #[track_caller]
    pub fn err(self) -> String {
        match self {
            Outcome::ToolError(e) => e,
            Outcome::Ok(v) => panic!("expected a tool error, got {v}"),
        }
    }
}

impl Client {
    /// Starts `program args` with `envs` and connects.
    pub async fn start(program: &Path, args: &[&str], envs: &[(&str, &str)], era: Era) -> Client {
        let mut cmd = tokio::process::Command::new(program);
        cmd.args(args).env_remove("DATABASE_URL").env_remove("DFS_MCP_STATE_DIR").env("LOG_LEVEL", "info");
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let (transport, _) = TokioChildProcess::builder(cmd).stderr(Stdio::inherit()).spawn().expect("spawn server");
        let mut config = ClientConfig::new(ClientCapabilities::default(), Implementation::new("dfs-mcp-tests", "1"));
        let lifecycle = match era {
            Era::Legacy => {
                config = config.with_protocol_version(ProtocolVersion::V_2025_11_25);
                ClientLifecycleMode::Initialize
            }
            Era::Modern => ClientLifecycleMode::Discover { preferred_versions: vec![ProtocolVersion::V_2026_07_28] },
            Era::Auto => ClientLifecycleMode::Auto {
                preferred_versions: vec![ProtocolVersion::V_2026_07_28],
                legacy_version: Some(ProtocolVersion::V_2025_11_25),
            },
        };
        let service = tokio::time::timeout(TIMEOUT, config.serve_with_lifecycle(transport, lifecycle))
            .await
            .expect("connect timed out")
            .expect("MCP connect");
        let mut client = Client { service, tools: HashMap::new() };
        client.tools = client.list_tools().await.into_iter().map(|t| (t.name.to_string(), t)).collect();
        client
    }

    /// `dfs-mcp <role>` with the store in `state_dir` (or `DATABASE_URL` among `envs`).
    pub async fn dfs(role: &str, state_dir: &Path, envs: &[(&str, &str)]) -> Client {
        let mut all: Vec<(&str, &str)> = vec![("DFS_MCP_STATE_DIR", state_dir.to_str().expect("utf-8 path"))];
        all.extend_from_slice(envs);
        Client::start(dfs_mcp_bin(), &[role], &all, Era::Legacy).await
    }

    pub fn protocol_version(&self) -> String {
        self.service.peer_info().map(|i| i.protocol_version.to_string()).unwrap_or_default()
    }

    pub async fn list_tools(&self) -> Vec<Tool> {
        tokio::time::timeout(TIMEOUT, self.service.list_all_tools())
            .await
            .expect("tools/list timed out")
            .expect("tools/list")
    }

    pub fn tool(&self, name: &str) -> &Tool {
        self.tools.get(name).unwrap_or_else(|| panic!("no tool {name} in {:?}", self.tools.keys()))
    }

    /// `tools/call`; a JSON-RPC error is `Err` with its code and message.
    pub async fn call_raw(&self, name: &str, args: Value) -> Result<CallToolResult, String> {
        let Value::Object(map) = args else { panic!("arguments must be an object") };
        let params = CallToolRequestParams::new(name.to_owned()).with_arguments(map);
        tokio::time::timeout(TIMEOUT, self.service.call_tool(params))
            .await
            .unwrap_or_else(|_| panic!("tools/call {name} timed out"))
            .map_err(|e| e.to_string())
    }

    /// A tool call that must be answered (not a JSON-RPC error). A result must carry `structuredContent` that
    /// validates against the tool's `outputSchema`, and the same JSON as text.
    pub async fn call(&self, name: &str, args: Value) -> Outcome {
        let r = self.call_raw(name, args).await.unwrap_or_else(|e| panic!("tools/call {name}: {e}"));
        let text: Vec<String> = r.content.iter().filter_map(|c| c.as_text().map(|t| t.text.clone())).collect();
        if r.is_error == Some(true) {
            return Outcome::ToolError(text.join("\n"));
        }
        let structured = r.structured_content.clone().unwrap_or_else(|| panic!("{name}: no structuredContent"));
        assert_eq!(text.len(), 1, "{name}: one text block");
        let from_text: Value = serde_json::from_str(&text[0]).expect("the text block is JSON");
        assert_eq!(from_text, structured, "{name}: the text is the structured result");
        if let Some(tool) = self.tools.get(name) {
            let schema = Value::Object(tool.output_schema.as_ref().expect("outputSchema").as_ref().clone());
            let validator = jsonschema::validator_for(&schema).expect("outputSchema compiles");
            let errors: Vec<String> =
                validator.iter_errors(&structured).map(|e| format!("{e} at {}", e.instance_path)).collect();
            assert!(errors.is_empty(), "{name}: result does not fit its outputSchema: {errors:?}");
        }
        Outcome::Ok(structured)
    }

    /// Checks `args` against the tool's `inputSchema` (what a careful client would do before calling).
    pub fn input_fits(&self, name: &str, args: &Value) -> bool {
        let schema = Value::Object(self.tool(name).input_schema.as_ref().clone());
        jsonschema::validator_for(&schema).expect("inputSchema compiles").is_valid(args)
    }

    pub async fn close(self) {
        let mut service = self.service;
        let _ = service.close_with_timeout(Duration::from_secs(10)).await;
    }
}
