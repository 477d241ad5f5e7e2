//! The MCP servers: `data` (tools `slate`, `import_slate`, `player_pool`, `set_projections`), `optimize`
//! (`lineup`) and `simulation` (`run`), each a stdio MCP server on the official Rust SDK (rmcp), so that through
//! the gateway (`[servers.data] namespace = "app"`) the tools are `app.data.slate`, `app.optimize.lineup`...
//! `all` serves every tool in one process, named `data_slate`, `optimize_lineup`... for clients without the
//! gateway.
//!
//! Reads and writes are separate tools on purpose: the gateway caches tools annotated `readOnlyHint`, so a tool
//! that both imported and listed would be served stale from the cache.
//!
//! Each call runs on a blocking thread (the store and the optimizer block). Bad arguments are a tool error
//! (`isError`) that names the field, line or id; an unknown tool is a JSON-RPC error -32602.

mod apps;
mod data;
mod schemas;
mod tools;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler, ServiceExt};

use crate::store::{Store, StoreConfig};
use tools::{Group, ToolSpec, TOOLS};

/// Which server this process is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Data,
    Optimize,
    Simulation,
    /// Every tool, with the group in the name.
    All,
}

impl Role {
    fn serves(self, group: Group) -> bool {
        match self {
            Role::All => true,
            Role::Data => group == Group::Data,
            Role::Optimize => group == Group::Optimize,
            Role::Simulation => group == Group::Simulation,
        }
    }
    fn name(self) -> &'static str {
        match self {
            Role::Data => "data",
            Role::Optimize => "optimize",
            Role::Simulation => "simulation",
            Role::All => "all",
        }
    }
}

/// What every server needs to know.
#[derive(Debug, Clone)]
pub struct Settings {
    pub store: StoreConfig,
    /// Directories `path` arguments may read from (none: only `csv` text is accepted).
    pub import_dirs: Vec<PathBuf>,
    /// Import the shipped sample slates into an empty store.
    pub samples: bool,
}

/// State shared by the calls of one server process.
pub(crate) struct Ctx {
    pub store: Store,
    pub import_dirs: Vec<PathBuf>,
    samples: bool,
    /// Set once the samples are in (or were found in): later calls skip the check.
    seeded: AtomicBool,
}

impl Ctx {
    /// Seeds the sample slates once per store. Failing (PostgreSQL down at start) is logged, not fatal: the next
    /// call tries again.
    fn ensure_seeded(&self) {
        if !self.samples || self.seeded.load(Ordering::Acquire) {
            return;
        }
        match self.store.seed_once(crate::samples::SEED_KEY, &crate::samples::all) {
            Ok(Some(ids)) => {
                tracing::info!(slates = ids.len(), store = %self.store.describe(), "imported the sample slates");
                self.seeded.store(true, Ordering::Release);
            }
            Ok(None) => self.seeded.store(true, Ordering::Release),
            Err(e) => tracing::warn!("sample slates not imported yet: {e}"),
        }
    }
}

/// One server: its role and the shared state.
#[derive(Clone)]
pub struct DfsServer {
    role: Role,
    ctx: Arc<Ctx>,
}

impl DfsServer {
    /// Opens the store (SQLite: now, with migrations; PostgreSQL: on the first call) and seeds the samples.
    pub fn new(role: Role, settings: &Settings) -> Result<DfsServer, crate::store::StoreError> {
        let store = Store::open(&settings.store)?;
        let ctx = Ctx {
            store,
            import_dirs: settings.import_dirs.clone(),
            samples: settings.samples,
            seeded: AtomicBool::new(false),
        };
        ctx.ensure_seeded();
        Ok(DfsServer { role, ctx: Arc::new(ctx) })
    }

    fn tools(&self) -> impl Iterator<Item = &'static ToolSpec> + '_ {
        TOOLS.iter().filter(|t| self.role.serves(t.group))
    }

    /// The tool's name as this server shows it.
    fn wire_name(&self, t: &ToolSpec) -> String {
        match self.role {
            Role::All => format!("{}_{}", t.group.name(), t.name),
            _ => t.name.to_owned(),
        }
    }

    /// The tool definitions (`tools/list`).
    pub fn tool_list(&self) -> Vec<rmcp::model::Tool> {
        self.tools().map(|t| t.definition(self.wire_name(t))).collect()
    }
}

impl ServerHandler for DfsServer {
    fn get_info(&self) -> ServerConfig {
        let mut info = Implementation::new(format!("dfs-mcp-{}", self.role.name()), env!("CARGO_PKG_VERSION"));
        info.title = Some(format!("DFS {} server", self.role.name()));
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(info)
            .with_instructions(
                "Daily fantasy sports data, lineup optimizer and contest simulator. Start with the slate tool to \
                 list slates (sample slates ship with the server), player_pool to browse a slate's players, \
                 import_slate to add a DraftKings or FanDuel salary file, set_projections for your own \
                 projections; the lineup tool builds lineups and the run tool simulates them.",
            )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        Ok(ListToolsResult::with_all_items(self.tool_list()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let Some(spec) = self.tools().find(|t| self.wire_name(t) == request.name) else {
            let known: Vec<String> = self.tools().map(|t| self.wire_name(t)).collect();
            return Err(McpError::invalid_params(
                format!("unknown tool {:?}: this server has {}", request.name, known.join(", ")),
                None,
            ));
        };
        let args = serde_json::Value::Object(request.arguments.unwrap_or_default());
        let ctx = self.ctx.clone();
        let name = self.wire_name(spec);
        let outcome = tokio::task::spawn_blocking(move || {
            ctx.ensure_seeded();
            (spec.run)(&ctx, args)
        })
        .await
        .map_err(|e| McpError::internal_error(format!("tool {name} failed: {e}"), None))?;
        Ok(match outcome {
            Ok(value) => CallToolResult::structured(value),
            Err(e) => {
                tracing::info!(tool = %name, "tool error: {e}");
                CallToolResult::error(vec![ContentBlock::text(format!("{name}: {e}"))])
            }
        }
        .into())
    }
}

/// Serves `role` on stdin/stdout until the client closes stdin.
pub async fn serve_stdio(role: Role, settings: Settings) -> anyhow::Result<()> {
    let server = tokio::task::spawn_blocking(move || DfsServer::new(role, &settings)).await??;
    let running = server.serve(rmcp::transport::io::stdio_pipes()).await?;
    running.waiting().await?;
    Ok(())
}
