//! The app fleet runs by default, and every shipped way of starting the gateway works the way a desktop client
//! starts it: with a minimal environment (`env -i`, then HOME and `PATH=/usr/bin:/bin`).
//!
//! - `serve` with the bundled configuration federates app.data.*, app.optimize.lineup, app.simulation.run from
//!   the gateway's own binary and answers `app.optimize.lineup` on a sample slate imported on first start.
//! - The seed's `APP_SERVERS=./mcp-servers/dfs-mcp/...` form gives the same servers.
//! - `examples/fixtures.toml` finds `dfs-fixture-server` beside the gateway, not on PATH.
//! - The Claude Desktop entry (`shims/claude_desktop_config.json` → `shims/mcp-gateway.sh` →
//!   `examples/gateway.toml`), run as shipped: the app tools are listed; the ext servers that need an API key are
//!   reported with the variable's name (log at warn, /healthz, and a call of one of their tools), not silently
//!   crash-looped.
//! - A server command that cannot be found: `check` names it at file:line:col and exits 64; `serve` warns once
//!   per failure streak with the reason, `/healthz` and a call of its tools name it.

mod support;

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};
use support::{free_port, gateway_bin, http, Gateway};
use tokio::process::Command;

/// What a desktop client passes: nothing of ours but HOME and a minimal PATH.
const MINIMAL_PATH: &str = "/usr/bin:/bin";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn home() -> String {
    std::env::var("HOME").unwrap_or_else(|_| "/root".into())
}

/// The gateway with a desktop client's environment, ops listeners off (tests run many gateways at once).
fn minimal(program: &Path, args: &[&str], cwd: &Path) -> Command {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .current_dir(cwd)
        .env_clear()
        .env("HOME", home())
        .env("PATH", MINIMAL_PATH)
        .env("ENABLE_HEALTH", "false")
        .env("ENABLE_METRICS", "false");
    cmd
}

const FLEET_TOOLS: [&str; 6] = [
    "app__data__import_slate",
    "app__data__player_pool",
    "app__data__set_projections",
    "app__data__slate",
    "app__optimize__lineup",
    "app__simulation__run",
];

/// `tools/list`, waiting as long as start-up may take (a shim may install its npm package first).
async fn tool_list(gw: &mut Gateway) -> Vec<Value> {
    let id = gw.next_id;
    gw.next_id += 1;
    gw.send(&json!({"jsonrpc": "2.0", "id": id, "method": "tools/list", "params": {}})).await;
    let resp = gw
        .recv_matching(Duration::from_secs(90), |m| m["id"] == json!(id))
        .await
        .unwrap_or_else(|| panic!("no tools/list answer; gateway log:\n{}", gw.stderr()));
    resp["result"]["tools"].as_array().unwrap_or_else(|| panic!("tools/list answered {resp}")).clone()
}

fn names(tools: &[Value]) -> Vec<String> {
    let mut n: Vec<String> = tools.iter().map(|t| t["name"].as_str().unwrap().to_owned()).collect();
    n.sort();
    n
}

fn assert_fleet(tools: &[Value], log: &str) {
    let names = names(tools);
    for t in FLEET_TOOLS {
        assert!(names.iter().any(|n| n == t), "{t} is not listed: {names:?}\ngateway log:\n{log}");
    }
}

/// The structured result of a successful call.
async fn structured(gw: &mut Gateway, tool: &str, args: Value) -> Value {
    let resp = gw.call(tool, args).await;
    let result = &resp["result"];
    assert!(result["isError"] != true && resp.get("error").is_none(), "{tool} failed: {resp}");
    result["structuredContent"].clone()
}

/// Lineups on the sample DraftKings NFL classic slate: valid for the cap, best first.
async fn optimize_sample(gw: &mut Gateway) {
    let slates = structured(gw, "app__data__slate", json!({"limit": 50})).await;
    assert_eq!(slates["total"], 16, "the sample slates are imported on first start: {slates}");
    let slate = slates["slates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["site"] == "draft_kings" && s["sport"] == "nfl" && s["contest"] == "classic")
        .expect("a DraftKings NFL classic sample")["slate_id"]
        .clone();
    let set = structured(gw, "app__optimize__lineup", json!({"slate_id": slate, "count": 3})).await;
    let lineups = set["lineups"].as_array().unwrap();
    assert_eq!(lineups.len(), 3, "{set}");
    let totals: Vec<f64> = lineups.iter().map(|l| l["projection"].as_f64().unwrap()).collect();
    assert!(totals.windows(2).all(|w| w[0] >= w[1]), "best first: {totals:?}");
    for l in lineups {
        assert_eq!(l["players"].as_array().unwrap().len(), 9, "DK NFL classic has 9 slots: {l}");
        assert!(l["salary"].as_i64().unwrap() <= 50_000, "{l}");
    }
    assert!(set["csv"].as_str().unwrap().starts_with("QB,"), "the upload CSV: {}", set["csv"]);
}

#[tokio::test]
async fn bundled_configuration_serves_the_fleet_in_a_minimal_environment() {
    let dir = tempfile::tempdir().unwrap();
    let mut gw = Gateway::spawn(minimal(gateway_bin(), &["serve"], dir.path()), dir.path().join("gw.log"));
    gw.initialize().await;
    let tools = tool_list(&mut gw).await;
    assert_eq!(names(&tools), FLEET_TOOLS, "gateway log:\n{}", gw.stderr());
    let lineup = tools.iter().find(|t| t["name"] == "app__optimize__lineup").unwrap();
    assert!(lineup["outputSchema"].is_object(), "{lineup}");
    optimize_sample(&mut gw).await;
    // The embedded store lives in the state directory, beside the gateway's own state.
    assert!(dir.path().join("_federation/dfs/dfs.sqlite3").exists());
    assert!(dir.path().join("_federation/catalog/optimize.json").exists());
    gw.close_stdin();
    assert!(gw.wait_exit(Duration::from_secs(15)).await.success(), "{}", gw.stderr());

    // The fleet's policy comes with the bundled configuration: longer timeouts, writes drop cached reads.
    let out = support::cli(&["explain", "app.optimize.lineup"], &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("dfs-optimizer-time"), "{text}");
    let out = support::cli(&["explain", "app.data.import_slate"], &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("dfs-import-invalidates-reads"), "{text}");
}

#[tokio::test]
async fn app_servers_naming_the_fleet_crate_gives_the_fleet() {
    // The seed's form, relative to the directory the gateway starts in: `check` resolves the three servers.
    let out = std::process::Command::new(gateway_bin())
        .arg("check")
        .current_dir(root())
        .env_clear()
        .env("PATH", MINIMAL_PATH)
        .env("APP_SERVERS", "./mcp-servers/dfs-mcp")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("ok (3 servers"), "{stdout}");

    // Its Node-era entry point inside the crate folder, from elsewhere: the same servers, serving.
    let dir = tempfile::tempdir().unwrap();
    let fleet = root().join("mcp-servers/dfs-mcp/dist/index.js");
    let mut cmd = minimal(gateway_bin(), &["serve"], dir.path());
    cmd.env("APP_SERVERS", fleet.to_str().unwrap());
    let mut gw = Gateway::spawn(cmd, dir.path().join("gw.log"));
    gw.initialize().await;
    let tools = tool_list(&mut gw).await;
    assert_eq!(names(&tools), FLEET_TOOLS, "gateway log:\n{}", gw.stderr());
    let log = gw.stderr();
    assert!(!log.contains("WARN") && !log.contains("\"level\":\"WARN\""), "{log}");
}

#[tokio::test]
async fn the_fixture_example_finds_its_server_beside_the_gateway() {
    // As shipped, in a folder of its own (its state directory, ../target/fixture-state, is then that folder's).
    let state = tempfile::tempdir().unwrap();
    copy_in("examples/fixtures.toml", state.path());
    let config = state.path().join("examples/fixtures.toml");

    let out = std::process::Command::new(gateway_bin())
        .args(["check", "--config", config.to_str().unwrap()])
        .env_clear()
        .env("PATH", MINIMAL_PATH)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let cmd = minimal(gateway_bin(), &["serve", "--config", config.to_str().unwrap()], state.path());
    let mut gw = Gateway::spawn(cmd, state.path().join("gw.log"));
    gw.initialize().await;
    let names = names(&tool_list(&mut gw).await);
    assert!(names.iter().any(|n| n == "app__alpha__echo"), "{names:?}\n{}", gw.stderr());
    assert!(names.iter().any(|n| n == "ext__beta__echo"), "{names:?}\n{}", gw.stderr());
    let text = gw.call_text("app__alpha__echo", json!({"message": "hi"})).await;
    assert!(text.contains("hi"), "{text}");
}

/// Copies `rel` (a file or a folder) from the repository into `to`, keeping its relative path.
fn copy_in(rel: &str, to: &Path) {
    let (from, dest) = (root().join(rel), to.join(rel));
    if from.is_dir() {
        for entry in std::fs::read_dir(&from).unwrap() {
            let name = entry.unwrap().file_name();
            copy_in(&format!("{rel}/{}", name.to_str().unwrap()), to);
        }
    } else {
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::copy(&from, &dest).unwrap();
    }
}

#[tokio::test]
async fn the_claude_desktop_entry_runs_as_shipped() {
    // A copy of the shipped files, with the gateway this test built where the shim looks for the release build
    // (building one here would take minutes).
    let repo = tempfile::tempdir().unwrap();
    for rel in ["shims", "examples", "policies", "mcp-servers/dfs-mcp/gateway"] {
        copy_in(rel, repo.path());
    }
    std::fs::create_dir_all(repo.path().join("target/release")).unwrap();
    std::os::unix::fs::symlink(gateway_bin(), repo.path().join("target/release/dfs-gateway")).unwrap();

    let text = std::fs::read_to_string(root().join("shims/claude_desktop_config.json")).unwrap();
    let text = text.replace("/path/to/dfs-gateway", repo.path().to_str().unwrap());
    let entry: Value = serde_json::from_str(&text).unwrap();
    let entry = &entry["mcpServers"]["dfs-gateway"];
    let health = free_port();
    let mut cmd = Command::new(entry["command"].as_str().unwrap());
    cmd.args(entry["args"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()))
        .current_dir("/")
        .env_clear()
        .env("HOME", home())
        .env("PATH", MINIMAL_PATH)
        // Not what a desktop client sets: the test reads /healthz on a port no other test uses.
        .env("HEALTH_PORT", health.to_string())
        .env("ENABLE_METRICS", "false");
    for (k, v) in entry["env"].as_object().unwrap() {
        cmd.env(k, v.as_str().unwrap());
    }
    let mut gw = Gateway::spawn(cmd, repo.path().join("gw.log"));
    gw.initialize().await;
    let tools = tool_list(&mut gw).await;
    assert_fleet(&tools, &gw.stderr());
    optimize_sample(&mut gw).await;
    assert!(repo.path().join("_federation/dfs/dfs.sqlite3").exists(), "the store beside the gateway's state");

    // The servers that need an API key are not listed, and say why: in the log (warn, once), in /healthz and to
    // a call of one of their tools.
    let log = gw.stderr();
    for (server, key) in [("ext.brave", "BRAVE_API_KEY"), ("ext.github", "GITHUB_PERSONAL_ACCESS_TOKEN")] {
        let warns: Vec<&str> =
            log.lines().filter(|l| l.contains("WARN") && l.contains(server) && l.contains(key)).collect();
        assert_eq!(warns.len(), 1, "one warning naming {server} and {key}:\n{log}");
    }
    let (_, body) = http("GET", health, "/healthz").expect("/healthz answers");
    let doc: Value = serde_json::from_str(&body).unwrap();
    let brave = &doc["namespaces"]["ext"]["servers"]["brave"];
    assert!(brave["last_error"].as_str().unwrap_or_default().contains("BRAVE_API_KEY"), "{doc}");
    let resp = gw.call("ext__brave__brave_web_search", json!({"query": "nfl"})).await;
    let message = resp["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("ext.brave") && message.contains("BRAVE_API_KEY"), "{resp}");
}

#[test]
fn check_names_commands_that_cannot_be_found_with_their_place() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("gw.toml");
    std::fs::write(
        &config,
        "[servers.ghost]\nnamespace = \"app\"\ncommand = \"dfs-no-such-server\"\n\n\
         [servers.fixture]\nnamespace = \"ext\"\ncommand = \"dfs-fixture-server\"\n",
    )
    .unwrap();
    let out = std::process::Command::new(gateway_bin())
        .args(["check", "--config", config.to_str().unwrap()])
        .env_clear()
        .env("PATH", MINIMAL_PATH)
        .env("APP_SERVERS", "elsewhere=dfs-also-missing")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{stderr}");
    let beside = gateway_bin().parent().unwrap().display().to_string();
    let expected = format!(
        "{}:3:11: server `ghost`: command `dfs-no-such-server` was not found beside the gateway ({beside}) or on \
         PATH ({MINIMAL_PATH})",
        config.display()
    );
    assert!(stderr.contains(&expected), "{stderr}\nwanted: {expected}");
    assert!(stderr.contains("env:APP_SERVERS: server `elsewhere`: command `dfs-also-missing`"), "{stderr}");
    // The fixture server, beside the gateway, is found.
    assert!(!stderr.contains("`fixture`"), "{stderr}");
    assert!(stderr.contains("2 server command(s) cannot be run"), "{stderr}");
}

#[tokio::test]
async fn a_server_that_cannot_start_says_so_once_and_to_its_callers() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("gw.toml");
    std::fs::write(
        &config,
        format!(
            "[gateway]\nstate_dir = \"state\"\n\n[servers.ghost]\nnamespace = \"app\"\ncommand = \"dfs-no-such-server\"\n\
             restart_backoff = \"20ms\"\nrestart_backoff_max = \"40ms\"\n\n{}",
            support::fixture_server("alpha", "app", "")
        ),
    )
    .unwrap();
    let health = free_port();
    let mut cmd = minimal(gateway_bin(), &["serve", "--config", config.to_str().unwrap()], dir.path());
    cmd.env("ENABLE_HEALTH", "true").env("HEALTH_PORT", health.to_string()).env("LOG_LEVEL", "info");
    let mut gw = Gateway::spawn(cmd, dir.path().join("gw.log"));
    gw.initialize().await;
    let names = names(&tool_list(&mut gw).await);
    assert!(names.iter().any(|n| n == "app__alpha__echo"), "the other server serves: {names:?}");

    // Many failed starts later, one warning with the OS-level reason.
    let restarts = || {
        let (_, body) = http("GET", health, "/healthz")?;
        let doc: Value = serde_json::from_str(&body).ok()?;
        Some((doc["namespaces"]["app"]["servers"]["ghost"]["restarts"].as_u64()?, doc))
    };
    assert!(
        support::eventually(Duration::from_secs(20), || restarts().is_some_and(|(n, _)| n >= 5)).await,
        "{:?}",
        restarts()
    );
    let (_, doc) = restarts().unwrap();
    let last_error = doc["namespaces"]["app"]["servers"]["ghost"]["last_error"].as_str().unwrap_or_default();
    assert!(last_error.contains("`dfs-no-such-server` was not found beside the gateway"), "{doc}");
    let log = gw.stderr();
    let warns: Vec<&str> = log.lines().filter(|l| l.contains("WARN") && l.contains("app.ghost")).collect();
    assert_eq!(warns.len(), 1, "one warning per failure streak:\n{log}");
    assert!(warns[0].contains("dfs-no-such-server"), "{}", warns[0]);
    assert!(!log.lines().any(|l| l.contains("INFO") && l.contains("restart backoff")), "{log}");

    // A call of one of its tools is told why, not "unknown tool".
    let resp = gw.call("app__ghost__anything", json!({})).await;
    let message = resp["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("app.ghost") && message.contains("was not found beside the gateway"), "{resp}");
    // A name of no server at all is still unknown.
    let resp = gw.call("app__nobody__anything", json!({})).await;
    assert!(resp["error"]["message"].as_str().unwrap_or_default().contains("Unknown tool"), "{resp}");
}

/// No Docker engine runs here (compose/check.sh validates docker-compose.yml with `docker-compose config`): what
/// the container would run is checked in the files themselves.
#[test]
fn compose_runs_the_fleet_on_its_postgres_service() {
    for file in ["compose/gateway.toml", "compose/gateway.external.toml"] {
        let doc: toml::Value = toml::from_str(&std::fs::read_to_string(root().join(file)).unwrap()).unwrap();
        for role in ["data", "optimize", "simulation"] {
            let s = &doc["servers"][role];
            assert_eq!(s["namespace"].as_str(), Some("app"), "{file} {role}");
            // The image has the gateway at /usr/local/bin; a bare name is found beside it.
            assert_eq!(s["command"].as_str(), Some("dfs-gateway"), "{file} {role}");
            assert_eq!(s["args"].as_array().unwrap(), &[toml::Value::from("app"), toml::Value::from(role)]);
            assert_eq!(s["env"]["DATABASE_URL"].as_str(), Some("${DATABASE_URL}"), "{file} {role}");
        }
        let policies: Vec<&str> =
            doc["policy"]["files"].as_array().unwrap().iter().map(|f| f.as_str().unwrap()).collect();
        assert!(policies.contains(&"/opt/dfs-gateway/policies/dfs-app.toml"), "{file}: {policies:?}");
    }
    let dockerfile = std::fs::read_to_string(root().join("compose/Dockerfile")).unwrap();
    assert!(dockerfile.contains("COPY mcp-servers ./mcp-servers"), "the builder needs the workspace member");
    assert!(dockerfile.contains("mcp-servers/dfs-mcp/gateway/dfs-app.toml /opt/dfs-gateway/policies/dfs-app.toml"));
    let compose = std::fs::read_to_string(root().join("compose/docker-compose.yml")).unwrap();
    assert!(compose.contains("DATABASE_URL: postgres://${POSTGRES_USER:-dfs}:${POSTGRES_PASSWORD:-}@postgres:5432/"));
}
