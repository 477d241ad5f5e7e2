//! The `dfs-gateway` command line: `serve` (default), `check`, `tools`, `call`, `explain`, `evidence verify`.

mod evidence;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tokio::task::AbortHandle;
use tokio_util::sync::CancellationToken;

use crate::actors::gateway::{self, GatewayArgs, GatewayHandle};
use crate::config::Config;
use crate::policy::PolicySet;
use crate::session::Session;

/// Exit code for a configuration that does not validate (EX_USAGE).
pub(crate) const EXIT_CONFIG: u8 = 64;

#[derive(Debug, Parser)]
#[command(
    name = "dfs-gateway",
    version,
    about = "One MCP server in front of many: routing, supervision, caching, telemetry"
)]
pub(crate) struct Cli {
    /// Configuration file (TOML). Without it, the bundled configuration plus APP_SERVERS / EXTERNAL_SERVERS.
    #[arg(long, short, global = true, env = "DFS_GATEWAY_CONFIG")]
    pub(crate) config: Option<PathBuf>,
    #[command(subcommand)]
    pub(crate) command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Serve MCP over stdio to one client (the default).
    Serve,
    /// Validate the configuration; print every problem with file and line; exit 64 if there is one.
    Check,
    /// Start the servers and print every federated tool: wire name, canonical name, server, state. With
    /// --health, print instead the live server states (incl. circuit) of a running gateway.
    Tools {
        /// `/healthz` of a running gateway, e.g. http://127.0.0.1:8080/healthz.
        #[arg(long)]
        health: Option<String>,
    },
    /// Print which policy rule decides a call of TOOL (a canonical name such as app.optimize.lineup) and why.
    Explain {
        tool: String,
        /// The client identity to decide for (`clientInfo.name`).
        #[arg(long)]
        client: Option<String>,
    },
    /// Manage the result cache.
    Cache {
        #[command(subcommand)]
        action: CacheAction,
    },
    /// Call one tool through the full gateway and print its result (for debugging).
    Call {
        /// Wire name (app__server__tool) or canonical name (app.server.tool).
        tool: String,
        /// Arguments as a JSON object.
        #[arg(default_value = "{}")]
        arguments: String,
        /// How long to wait for the answer.
        #[arg(long, default_value = "30s", value_parser = crate::config::parse_duration)]
        timeout: Duration,
    },
    /// The audit trail in `<state_dir>/evidence`.
    #[command(subcommand)]
    Evidence(evidence::EvidenceCommand),
    /// Run one of the app fleet's MCP servers over stdio: `app data`, `app optimize`, `app simulation` or
    /// `app all` (the same as the `dfs-mcp` binary; `app --help` lists its options). The bundled configuration
    /// starts the fleet this way, so the one binary `cargo build` makes is all `serve` needs.
    #[command(disable_help_flag = true)]
    App {
        /// The server and its options, as `dfs-mcp` takes them.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0..)]
        args: Vec<std::ffi::OsString>,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum CacheAction {
    /// Drop every cache entry carrying TAG: `ns:<namespace>`, `server:<ns>.<server>`, `tool:<canonical tool>`,
    /// or a tag a policy rule gives (`cache = { tags = [...] }`). Goes to a running gateway (its health
    /// listener) and, with a Redis cache, to Redis directly (every gateway on it sees the change).
    Invalidate {
        #[arg(long)]
        tag: String,
        /// A running gateway's health listener, e.g. http://127.0.0.1:8080 (default: HEALTH_PORT on 127.0.0.1
        /// when the configuration's cache is embedded).
        #[arg(long)]
        gateway: Option<String>,
        /// Invalidate in this Redis (default: the configuration's Redis cache, if it has one).
        #[arg(long)]
        redis: Option<String>,
    },
}

pub fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.get(1).is_some_and(|a| a == crate::transport::reaper::EXEC_CHILD) {
        // Not the gateway: the launcher of one of its children (see `transport::reaper`).
        return ExitCode::from(crate::transport::reaper::exec_child(&args[2..]) as u8);
    }
    // This binary launches the children (so they die with it); library users start them directly.
    if let Ok(exe) = std::env::current_exe() {
        crate::transport::reaper::set_launcher(exe);
    }
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Serve);
    if let Command::Evidence(sub) = &command {
        return evidence::run(sub, cli.config.as_deref());
    }
    if let Command::App { args } = command {
        // Not a gateway: no configuration is read (a server started by the gateway must not fail on the
        // gateway's DFS_GATEWAY_CONFIG), and stdout carries the server's MCP frames.
        let argv = std::iter::once(std::ffi::OsString::from("dfs-gateway app")).chain(args);
        return dfs_mcp::cli::run(argv);
    }
    let config = match Config::load_with_process_env(cli.config.as_deref()) {
        Ok(c) => Arc::new(c),
        Err(errors) => {
            eprintln!("{errors}");
            eprintln!("dfs-gateway: the configuration has {} problem(s)", errors.0.len());
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let policy = match config.load_policy() {
        Ok(p) => p,
        Err(errors) => {
            eprintln!("{errors}");
            eprintln!("dfs-gateway: the policy has {} problem(s)", errors.0.len());
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    match &command {
        Command::Check => {
            let missing = missing_commands(&config);
            if !missing.0.is_empty() {
                eprintln!("{missing}");
                eprintln!("dfs-gateway: {} server command(s) cannot be run", missing.0.len());
                return ExitCode::from(EXIT_CONFIG);
            }
            // Fallbacks denied to every caller were refused with the policy; those denied to some are worth a look.
            for d in policy.denied_fallbacks() {
                eprintln!("{}: warning: {}", d.rule.origin, d.message());
            }
            println!("{}: ok ({} servers, {} policy rules)", config.source, config.servers.len(), policy.rules().len());
            return ExitCode::SUCCESS;
        }
        Command::Explain { tool, client } => {
            let canonical = to_canonical(tool, &config.gateway.naming.separator);
            let subject = crate::policy::Subject::new(&canonical, client.as_deref(), chrono::Utc::now());
            println!("{}", policy.explain(&subject));
            return ExitCode::SUCCESS;
        }
        _ => {}
    }
    // Before the first log line: every line, error and record is scrubbed of these values from now on.
    crate::scrub::install(crate::scrub::Scrubber::new(&secret_values(&config)));
    let level = match command {
        Command::Serve => config.gateway.log_level.clone(),
        _ => std::env::var("LOG_LEVEL").unwrap_or_else(|_| "warn".into()),
    };
    // Log files are the server's: one-off commands (tools, call) log to stderr only. Held until main returns.
    let _log_files = crate::telemetry::init_logging(&level, matches!(command, Command::Serve).then_some(&config.log));
    // One runtime thread by default: on the 2-core machines measured (cargo bench --bench gateway) that took
    // 10-30 µs off a call at 1 in flight for the same throughput at 32 in flight. The evidence trail and log
    // files write from threads of their own.
    let workers = config.runtime.workers;
    let mut builder = if workers <= 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(workers);
        b
    };
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("dfs-gateway: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match command {
            Command::Serve => serve(config, policy).await,
            Command::Tools { health: Some(url) } => live_states(&url).await,
            Command::Tools { health: None } => tools(config, policy).await,
            Command::Call { tool, arguments, timeout } => call(config, policy, &tool, &arguments, timeout).await,
            Command::Cache { action: CacheAction::Invalidate { tag, gateway, redis } } => {
                invalidate(&config, &tag, gateway, redis).await
            }
            Command::Check | Command::Explain { .. } | Command::Evidence(_) | Command::App { .. } => {
                unreachable!("handled above")
            }
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("dfs-gateway: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Every server command that cannot be found or run, as `serve` would look for it (beside the gateway, then on
/// PATH), each placed where its `command` is written.
fn missing_commands(config: &Config) -> crate::config::ConfigErrors {
    let lookup = |k: &str| std::env::var(k).ok();
    let exe_dir = crate::config::exe_dir();
    let errors = config
        .servers
        .iter()
        .filter(|s| s.http.is_none())
        .filter_map(|s| {
            let e = crate::config::resolve_command(s, exe_dir.as_deref(), &lookup).err()?;
            let (origin, line) = s.command_place.clone();
            Some(crate::config::ConfigError { origin, line, message: format!("server `{}`: {e}", s.name) })
        })
        .collect();
    crate::config::ConfigErrors(errors)
}

/// A wire name (`app__optimize__lineup`) as the canonical name it was built from; canonical names pass unchanged.
fn to_canonical(tool: &str, separator: &str) -> String {
    let parts: Vec<&str> = tool.splitn(3, separator).collect();
    if separator != "." && parts.len() == 3 && !tool.starts_with("app.") && !tool.starts_with("ext.") {
        parts.join(".")
    } else {
        tool.to_owned()
    }
}

/// The fronts a command runs: `serve` those configured, the in-process commands none.
#[derive(Clone, Copy)]
struct Fronts {
    stdio: bool,
    http: bool,
}

const NO_FRONTS: Fronts = Fronts { stdio: false, http: false };

/// Starts the gateway. `evidence`: write the audit trail (`serve` must; a one-off command does when the trail's
/// directory is free, and says so when another gateway holds it).
async fn start(
    config: Arc<Config>,
    policy: PolicySet,
    fronts: Fronts,
    shutdown: CancellationToken,
    evidence: Need,
) -> anyhow::Result<GatewayHandle> {
    // Before any child starts: what a crashed instance left running on this state directory is stopped, and
    // this instance's children are recorded (and launched to die with it).
    // A state directory that cannot hold the record does not stop the gateway (it serves without the safety net).
    match crate::transport::reaper::start(&config.gateway.state_dir) {
        Ok(0) => {}
        Ok(killed) => tracing::warn!(killed, "stopped downstream processes left running by a gateway that died"),
        Err(e) => tracing::error!(
            dir = %config.gateway.state_dir.display(),
            error = %e,
            "cannot keep the child process record; children a crash leaves behind will not be stopped at the next start"
        ),
    }
    let (services, queue) = build_services(&config).await?;
    let mut args = GatewayArgs::new(config, policy, services);
    args.stdio = fronts.stdio.then(crate::actors::stdio_front::StdioStreams::process);
    args.http = fronts.http;
    args.shutdown = shutdown;
    args.evidence = queue;
    args.evidence_optional = evidence == Need::IfFree;
    gateway::start(args).await.context("starting the gateway")
}

/// The secret values of `config` read from the process environment: what the one scrubber blanks out of the
/// trail, client errors and logs (see [`crate::scrub`]).
pub(crate) fn secret_values(config: &Config) -> Vec<String> {
    let secret_env = config
        .services
        .evidence
        .as_ref()
        .map_or_else(|| crate::evidence::EvidenceConfig::default().secret_env, |e| e.secret_env.clone());
    let server_env = config.servers.iter().flat_map(|s| s.env.values().cloned());
    collect_secret_values(&secret_env, server_env, |k| std::env::var(k).ok())
}

/// The secret values of a configuration: the `secret_env` variables' values and every server `env` entry's
/// value (after `${VAR}` expansion), read through `lookup`.
fn collect_secret_values(
    secret_env: &[String],
    server_env: impl Iterator<Item = String>,
    lookup: impl Fn(&str) -> Option<String>,
) -> Vec<String> {
    let mut values: Vec<String> = secret_env.iter().filter_map(|name| lookup(name)).collect();
    for raw in server_env {
        // The whole value, and each variable it pulls in on its own (a password inside a URL).
        let pulled = std::cell::RefCell::new(Vec::new());
        let expanded = crate::config::expand_env(&raw, |name| {
            let v = lookup(name);
            pulled.borrow_mut().extend(v.clone());
            v
        });
        values.push(expanded.map_or(raw, |(value, _)| value));
        values.extend(pulled.into_inner());
    }
    values.retain(|v| !v.is_empty());
    values
}

/// Whether a command needs the audit trail.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Need {
    Required,
    IfFree,
}

/// The cache, the rate limiter and the evidence queue of `[cache]`, `[rate_limit]`, `[evidence]` (the queue's
/// writer runs in the gateway's tree). A Redis that is down is not an error (the gateway starts degraded and
/// heals); a Redis URL that cannot work is.
async fn build_services(
    config: &Config,
) -> anyhow::Result<(Arc<crate::dispatch::Services>, Option<crate::evidence::queue::Queue>)> {
    let svc = &config.services;
    let cache = if svc.cache.enabled {
        Some(crate::cache::Cache::build(&svc.cache.settings).await.context("starting the cache")?)
    } else {
        None
    };
    let limiter = crate::ratelimit::Limiter::build(&svc.rate_limit).await.context("starting the rate limiter")?;
    let (queue, handle) = match &svc.evidence {
        None => (None, crate::evidence::EvidenceHandle::disabled()),
        Some(cfg) => {
            let cfg = crate::evidence::EvidenceConfig { secret_values: secret_values(config), ..cfg.clone() };
            let (queue, handle) = crate::evidence::queue::Queue::new(cfg).context("the evidence trail")?;
            (Some(queue), handle)
        }
    };
    let metrics = Arc::new(crate::telemetry::Metrics::new());
    let services = crate::dispatch::Services::new(metrics, handle, cache, limiter, &svc.cache);
    Ok((Arc::new(services), queue))
}

async fn serve(config: Arc<Config>, policy: PolicySet) -> anyhow::Result<ExitCode> {
    let shutdown = CancellationToken::new();
    // Before anything starts: a signal during start-up must still stop the children, not kill the gateway alone.
    use tokio::signal::unix::{signal, SignalKind};
    let mut sigterm = signal(SignalKind::terminate()).context("SIGTERM handler")?;
    let mut sigint = signal(SignalKind::interrupt()).context("SIGINT handler")?;
    let fronts = Fronts { stdio: config.stdio.enabled, http: config.http.enabled };
    if let Some(window) = config.runtime.spin {
        crate::spin::start(window);
    }
    let handle = start(config.clone(), policy, fronts, shutdown.clone(), Need::Required).await?;
    tracing::info!(config = %config.source, servers = config.servers.len(), "dfs-gateway serving");
    let reloader = crate::reload::spawn(config.clone(), handle.shared.clone(), handle.supervisor.clone())
        .map(|task| end_on_panic(task, "the configuration watcher", shutdown.clone()));
    let ops = start_ops(&config, &handle, shutdown.clone()).await;
    tokio::select! {
        _ = shutdown.cancelled() => {}
        _ = sigterm.recv() => tracing::info!("SIGTERM; shutting down"),
        _ = sigint.recv() => tracing::info!("SIGINT; shutting down"),
    }
    shutdown.cancel();
    if let Some(r) = reloader {
        r.abort();
    }
    handle.stop().await;
    if let Some(ops) = ops {
        ops.join().await;
    }
    Ok(ExitCode::SUCCESS)
}

/// Watches a task `serve` owns (the configuration watcher): if it panics, the gateway ends cleanly with the
/// reason logged, rather than go on without hot reload unnoticed.
fn end_on_panic(task: tokio::task::JoinHandle<()>, what: &'static str, shutdown: CancellationToken) -> AbortHandle {
    let abort = task.abort_handle();
    tokio::spawn(async move {
        if let Err(e) = task.await {
            if e.is_panic() {
                tracing::error!(task = what, error = %e, "a task of the gateway panicked; shutting down");
                shutdown.cancel();
            }
        }
    });
    abort
}

/// `/healthz` and `/metrics` as `config.ops` says (`ENABLE_HEALTH`, `HEALTH_PORT` 8080, `ENABLE_METRICS`,
/// `METRICS_PORT` 9090, bound to `OPS_BIND`, 127.0.0.1 by default). A port that cannot be bound is logged; the
/// gateway serves on without it.
async fn start_ops(
    config: &Config,
    handle: &GatewayHandle,
    shutdown: CancellationToken,
) -> Option<crate::ops::OpsServers> {
    let plan = crate::ops::OpsPlan { health: config.ops.health, metrics: config.ops.metrics };
    if plan.health.is_none() && plan.metrics.is_none() {
        return None;
    }
    let (shared, supervisor) = (handle.shared.clone(), handle.supervisor.clone());
    let source = crate::ops::health::AsyncHealth(move || {
        let (shared, supervisor) = (shared.clone(), supervisor.clone());
        async move { gateway::health(&shared, &supervisor).await }
    });
    let metrics = handle.shared.services.metrics.clone();
    let services = handle.shared.services.clone();
    let invalidate: crate::ops::Invalidate = Arc::new(move |tag: String| {
        let services = services.clone();
        Box::pin(async move { services.invalidate_tag_now(&tag).await.map_err(|e| e.to_string()) })
    });
    match crate::ops::start(plan, Arc::new(source), metrics, Some(invalidate), shutdown).await {
        Ok(ops) => {
            tracing::info!(health = ?ops.health_addr, metrics = ?ops.metrics_addr, "ops endpoints listening");
            Some(ops)
        }
        Err(e) => {
            tracing::warn!(error = %e, "ops endpoints are off");
            None
        }
    }
}

/// One HTTP/1.0 request to a local ops listener: (status, body). `url` is `http://host:port[/path]`.
async fn http_request(method: &str, url: &str, default_path: &str) -> anyhow::Result<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.strip_prefix("http://").context("the URL must start with http://")?;
    let (host, path) = rest.split_once('/').map_or((rest, default_path.to_owned()), |(h, p)| (h, format!("/{p}")));
    let mut stream = tokio::net::TcpStream::connect(host).await.with_context(|| format!("connecting to {host}"))?;
    let request = format!("{method} {path} HTTP/1.0\r\nHost: {host}\r\nContent-Length: 0\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await?;
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text.split_once("\r\n\r\n").context("not an HTTP response")?;
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).context("not an HTTP status line")?;
    Ok((status, body.to_owned()))
}

/// `cache invalidate`: in Redis (shared by every gateway on it) and/or in a running gateway.
async fn invalidate(
    config: &Config,
    tag: &str,
    gateway: Option<String>,
    redis: Option<String>,
) -> anyhow::Result<ExitCode> {
    let settings = &config.services.cache.settings;
    let redis = redis.or_else(|| settings.redis.as_ref().map(|r| r.url.clone()));
    let gateway = gateway.or_else(|| {
        redis.is_none().then(|| {
            let port = config.ops.health.map_or(crate::config::HEALTH_PORT, |a| a.port());
            format!("http://127.0.0.1:{port}")
        })
    });
    if let Some(url) = redis {
        let opts = crate::kv::RedisOptions { op_timeout: Duration::from_secs(5), ..crate::kv::RedisOptions::new(url) };
        let cache =
            crate::cache::RedisCache::connect(&opts, settings.key_prefix.clone(), settings.memory.max_entry_bytes)
                .await
                .context("connecting to Redis")?;
        let n = crate::cache::CacheBackend::invalidate_tag(&cache, tag).await.context("invalidating in Redis")?;
        println!("redis {}: {n} entries with tag `{tag}` dropped", cache.conn().endpoint());
    }
    if let Some(url) = gateway {
        let base = url.trim_end_matches('/').trim_end_matches("/healthz");
        let target = format!("{base}/cache/invalidate?tag={}", query_escape(tag));
        let (status, body) = http_request("POST", &target, "/").await.with_context(|| format!("asking {base}"))?;
        anyhow::ensure!(status == 200, "{base} answered {status}: {}", body.trim());
        let answer: serde_json::Value = serde_json::from_str(&body).context("the gateway's answer is not JSON")?;
        println!("gateway {base}: {} entries with tag `{tag}` dropped", answer["invalidated"]);
    }
    Ok(ExitCode::SUCCESS)
}

fn query_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b':' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The server table of a running gateway, from its `/healthz`.
async fn live_states(url: &str) -> anyhow::Result<ExitCode> {
    let (_, body) = http_request("GET", url, "/healthz").await?;
    let health: serde_json::Value = serde_json::from_str(&body).context("the health document is not JSON")?;
    let mut rows =
        vec![["SERVER".to_owned(), "STATE".to_owned(), "CIRCUIT".to_owned(), "RESTARTS / LAST ERROR".to_owned()]];
    for (ns, n) in health["namespaces"].as_object().into_iter().flatten() {
        for (name, s) in n["servers"].as_object().into_iter().flatten() {
            let err = s["last_error"].as_str().map(|e| format!(" ({e})")).unwrap_or_default();
            rows.push([
                format!("{ns}.{name}"),
                s["state"].as_str().unwrap_or("?").replace('_', " "),
                s["circuit"].as_str().unwrap_or("?").to_owned(),
                format!("{}{err}", s["restarts"]),
            ]);
        }
    }
    print_table(&rows);
    Ok(ExitCode::SUCCESS)
}

async fn tools(config: Arc<Config>, policy: PolicySet) -> anyhow::Result<ExitCode> {
    let handle = start(config, policy, NO_FRONTS, CancellationToken::new(), Need::IfFree).await?;
    handle.shared.wait_ready().await;
    let statuses = handle.statuses().await;
    let table = handle.shared.table.load_full();
    let state_of = |server: &str| {
        statuses.iter().find(|s| s.name == server).map_or("unknown".to_owned(), |s| s.display_state().to_owned())
    };
    let mut rows = vec![["WIRE NAME".to_owned(), "CANONICAL NAME".to_owned(), "SERVER".to_owned(), "STATE".to_owned()]];
    for t in table.tools.entries() {
        rows.push([t.wire.to_string(), t.canonical.to_string(), t.server.label.to_string(), state_of(&t.server.name)]);
    }
    for s in &statuses {
        if !table.tools.entries().iter().any(|t| t.server.name == s.name) {
            let err = s.last_error.as_deref().map(|e| format!(" ({e})")).unwrap_or_default();
            rows.push([
                "-".into(),
                "-".into(),
                format!("{}.{}", s.namespace, s.name),
                format!("{}{err}", s.display_state()),
            ]);
        }
    }
    print_table(&rows);
    handle.stop().await;
    Ok(ExitCode::SUCCESS)
}

fn print_table(rows: &[[String; 4]]) {
    let widths: Vec<usize> = (0..4).map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0)).collect();
    for r in rows {
        println!("{:w0$}  {:w1$}  {:w2$}  {}", r[0], r[1], r[2], r[3], w0 = widths[0], w1 = widths[1], w2 = widths[2]);
    }
}

async fn call(
    config: Arc<Config>,
    policy: PolicySet,
    tool: &str,
    arguments: &str,
    timeout: Duration,
) -> anyhow::Result<ExitCode> {
    let args: serde_json::Value = serde_json::from_str(arguments).context("the arguments are not JSON")?;
    anyhow::ensure!(args.is_object(), "the arguments must be a JSON object, e.g. '{{\"message\":\"hi\"}}'");
    let handle = start(config, policy, NO_FRONTS, CancellationToken::new(), Need::IfFree).await?;
    handle.shared.wait_ready().await;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let session = Session::new(handle.shared.clone(), tx);
    let request = serde_json::json!({
        "jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": { "name": tool, "arguments": args },
    });
    session.handle_line(request.to_string().as_bytes());
    let outcome = tokio::time::timeout(timeout, async {
        while let Some(frame) = rx.recv().await {
            let msg: serde_json::Value = serde_json::from_slice(&frame)?;
            if msg.get("id").is_some() {
                return Ok::<_, anyhow::Error>(msg);
            }
            eprintln!("{}", String::from_utf8_lossy(&frame).trim_end());
        }
        anyhow::bail!("the gateway closed the session without answering")
    })
    .await;
    drop(session);
    handle.stop().await;
    let msg = outcome.map_err(|_| anyhow::anyhow!("no answer within {}", humantime::format_duration(timeout)))??;
    if let Some(error) = msg.get("error") {
        eprintln!("error: {}", serde_json::to_string_pretty(error)?);
        return Ok(ExitCode::FAILURE);
    }
    let result = &msg["result"];
    println!("{}", serde_json::to_string_pretty(result)?);
    Ok(if result["isError"] == true { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_values_come_from_secret_env_and_expanded_server_env() {
        let lookup = |k: &str| match k {
            "BRAVE_API_KEY" => Some("brave-key-123".to_owned()),
            "DB_PASS" => Some("hunter2-pass".to_owned()),
            _ => None,
        };
        let values = collect_secret_values(
            &["BRAVE_API_KEY".to_owned(), "UNSET".to_owned()],
            ["postgres://u:${DB_PASS}@db/x".to_owned(), "literal-value".to_owned(), String::new()].into_iter(),
            lookup,
        );
        assert_eq!(values, ["brave-key-123", "postgres://u:hunter2-pass@db/x", "hunter2-pass", "literal-value"]);
    }
}
