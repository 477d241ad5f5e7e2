//! Deny rules cover everything a server offers, not only its tools: prompts, resources, resource templates and
//! the completion refs naming them, and (with `server = ...`) a whole server in one rule. What is denied is
//! hidden from every list and refused by every spelling and every method, on the stdio front and on the HTTP
//! front in both eras, against the real `@modelcontextprotocol/server-everything` (prompts, resources,
//! templates, completion) and the project's fixture server.

mod support;

use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use support::*;
use tokio::process::{Child, Command};

fn everything_server(name: &str, namespace: &str, everything: &Path) -> String {
    format!(
        "[servers.{name}]\nnamespace = \"{namespace}\"\ncommand = \"node\"\nargs = [\"{}\", \"stdio\"]\n",
        everything.display()
    )
}

const DOC: &str = "demo://resource/static/document/architecture.md";
const TEMPLATE: &str = "demo://resource/dynamic/text/{resourceId}";
const DYNAMIC: &str = "demo://resource/dynamic/text/7";

/// Every audit record of the workspace's evidence trail.
fn evidence(ws: &Workspace) -> Vec<Value> {
    let dir = ws.path().join("state/evidence");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
        let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
        out.extend(text.lines().filter_map(|l| serde_json::from_str::<Value>(l).ok()));
    }
    out
}

fn names(items: &[Value], field: &str) -> Vec<String> {
    items.iter().map(|i| i[field].as_str().unwrap_or_default().to_owned()).collect()
}

#[tokio::test]
async fn prompt_and_resource_rules_hide_and_refuse_by_every_spelling_and_method_over_stdio() {
    let Some(everything) = npm_server("server-everything") else { return };
    let ws = Workspace::new();
    let rules = String::from(
        "[[rule]]\nname = \"no-args-prompt\"\nprompt = \"everything.args-prompt\"\naction = \"deny\"\n\n\
         [[rule]]\nname = \"no-completable\"\nprompt = \"everything.completable-prompt\"\naction = \"deny\"\n\n\
         [[rule]]\nname = \"no-static-docs\"\nresource = \"everything.demo://resource/static/*\"\naction = \"deny\"\n\n\
         [[rule]]\nname = \"no-dynamic-text\"\nresource = \"everything.demo://resource/dynamic/text/*\"\naction = \"deny\"\n"
    );
    let servers =
        format!("{}\n{}", everything_server("everything", "app", &everything), fixture_server("fx", "ext", ""));
    let mut gw = Gateway::start(&ws.config_with_rules(&rules, "", &servers)).await;
    gw.initialize().await;

    // Hidden from lists; what no rule names stays.
    let (prompts, _) = gw.list_all("prompts/list", "prompts").await;
    let prompts = names(&prompts, "name");
    assert!(!prompts.iter().any(|p| p.contains("args-prompt") || p.contains("completable-prompt")), "{prompts:?}");
    assert!(prompts.contains(&"app__everything__simple-prompt".to_owned()), "{prompts:?}");
    let (resources, _) = gw.list_all("resources/list", "resources").await;
    let uris = names(&resources, "uri");
    assert!(!uris.iter().any(|u| u.contains("resource/static/")), "{uris:?}");
    let (templates, _) = gw.list_all("resources/templates/list", "resourceTemplates").await;
    let templates = names(&templates, "uriTemplate");
    assert!(!templates.contains(&TEMPLATE.to_owned()), "{templates:?}");
    assert!(!templates.is_empty(), "other templates stay listed: {templates:?}");

    // Refused by every spelling and every method that reaches them, with the rule's name.
    let refused = |resp: &Value, rule: &str| {
        assert_eq!(resp["error"]["code"], -32004, "{resp}");
        assert!(resp["error"]["message"].as_str().unwrap_or_default().contains(rule), "{resp}");
    };
    for name in ["app__everything__args-prompt", "app.everything.args-prompt"] {
        let resp = gw.request("prompts/get", json!({"name": name, "arguments": {"city": "Boston"}})).await;
        refused(&resp, "no-args-prompt");
    }
    let complete = |r: Value| json!({"ref": r, "argument": {"name": "department", "value": "E"}});
    for name in ["app__everything__completable-prompt", "app.everything.completable-prompt"] {
        let resp = gw.request("completion/complete", complete(json!({"type": "ref/prompt", "name": name}))).await;
        refused(&resp, "no-completable");
    }
    for uri in [DOC.to_owned(), format!("app.everything+{DOC}")] {
        for method in ["resources/read", "resources/subscribe", "resources/unsubscribe"] {
            refused(&gw.request(method, json!({"uri": uri})).await, "no-static-docs");
        }
    }
    refused(&gw.request("resources/read", json!({"uri": DYNAMIC})).await, "no-dynamic-text");
    let by_template = complete(json!({"type": "ref/resource", "uri": TEMPLATE}));
    refused(&gw.request("completion/complete", by_template).await, "no-dynamic-text");

    // What no rule denies still works, from the same server.
    let simple = gw.request("prompts/get", json!({"name": "app__everything__simple-prompt"})).await;
    assert!(simple.get("result").is_some(), "{simple}");
    let read = gw.request("resources/read", json!({"uri": "demo://resource/dynamic/blob/3"})).await;
    assert!(read.get("result").is_some(), "a URI under the allowed blob template: {read}");

    // The audit trail says what was denied and by which rule.
    let denials: Vec<Value> = evidence(&ws).into_iter().filter(|r| r["decision"] == "deny").collect();
    for (item, rule) in [
        ("app.everything.args-prompt", "no-args-prompt"),
        (&format!("app.everything.{DOC}")[..], "no-static-docs"),
        (&format!("app.everything.{DYNAMIC}")[..], "no-dynamic-text"),
    ] {
        assert!(denials.iter().any(|r| r["tool"] == item && r["rule"] == rule), "{item} by {rule}: {denials:?}");
    }
}

/// One rule denies a whole server to one client: its tools, prompts, resources and templates vanish and every
/// method is refused, while another client (and the other server) keeps everything.
#[tokio::test]
async fn a_server_rule_denies_everything_a_server_offers_over_stdio() {
    let Some(everything) = npm_server("server-everything") else { return };
    let ws = Workspace::new();
    let rules = "[[rule]]\nname = \"no-everything-for-bots\"\nserver = \"everything\"\naction = \"deny\"\nwhen = { clients = [\"bot-*\"] }\n";
    let servers =
        format!("{}\n{}", everything_server("everything", "app", &everything), fixture_server("fx", "ext", ""));
    let cfg = ws.config_with_rules(rules, "", &servers);

    for (client, denied) in [("bot-7", true), ("person", false)] {
        let mut gw = Gateway::start(&cfg).await;
        let init = json!({"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": client, "version": "1"}});
        gw.request("initialize", init).await;
        gw.notify("notifications/initialized", json!({})).await;
        let lists = [
            ("tools/list", "tools", "name"),
            ("prompts/list", "prompts", "name"),
            ("resources/list", "resources", "uri"),
            ("resources/templates/list", "resourceTemplates", "uriTemplate"),
        ];
        for (method, key, field) in lists {
            let (items, _) = gw.list_all(method, key).await;
            let shown = names(&items, field);
            let of_everything = shown.iter().filter(|n| n.contains("everything") || n.starts_with("demo://")).count();
            assert_eq!(of_everything == 0, denied, "{client}: {method}: {shown:?}");
            if method == "tools/list" {
                assert!(shown.contains(&"ext__fx__echo".to_owned()), "the other server stays: {shown:?}");
            }
        }
        let calls = [
            ("tools/call", json!({"name": "app__everything__echo", "arguments": {"message": "hi"}})),
            ("tools/call", json!({"name": "app.everything.echo", "arguments": {"message": "hi"}})),
            ("prompts/get", json!({"name": "app__everything__simple-prompt"})),
            ("resources/read", json!({"uri": DOC})),
            ("resources/read", json!({"uri": format!("app.everything+{DOC}")})),
            ("resources/read", json!({"uri": DYNAMIC})),
            ("resources/subscribe", json!({"uri": DYNAMIC})),
            (
                "completion/complete",
                json!({"ref": {"type": "ref/prompt", "name": "app__everything__completable-prompt"},
                       "argument": {"name": "department", "value": "E"}}),
            ),
        ];
        for (method, params) in calls {
            let resp = gw.request(method, params.clone()).await;
            if denied {
                assert_eq!(resp["error"]["code"], -32004, "{client}: {method} {params}: {resp}");
            } else {
                assert!(resp.get("result").is_some(), "{client}: {method} {params}: {resp}");
            }
        }
        assert_eq!(gw.call_text("ext__fx__echo", json!({"message": "still here"})).await, "still here");
        // One gateway per state directory: this one ends before the next client's starts.
        gw.close_stdin();
        gw.wait_exit(DEADLINE).await;
    }
}

/// A gateway serving only the HTTP front on 127.0.0.1 (port chosen by the OS).
struct HttpGateway {
    _child: Child,
    url: String,
}

impl HttpGateway {
    async fn start(ws: &Workspace, rules: &str, servers: &str) -> Self {
        let sections = "[front.stdio]\nenabled = false\n\n[front.http]\nenabled = true\nlisten = \"127.0.0.1:0\"\n";
        let cfg = ws.config_with_rules(rules, sections, servers);
        let log: PathBuf = cfg.with_extension("stderr.log");
        let mut cmd = serve_quietly(Command::new(gateway_bin()), &cfg, &log);
        cmd.env("LOG_LEVEL", "info");
        let child = cmd.spawn().expect("spawn dfs-gateway");
        let mut addr = None;
        let found = eventually(DEADLINE, || {
            addr = std::fs::read_to_string(&log).ok().and_then(|text| {
                text.lines().filter_map(|l| serde_json::from_str::<Value>(l).ok()).find_map(|v| {
                    (v["fields"]["message"] == "mcp http front listening")
                        .then(|| v["fields"]["addr"].as_str().map(str::to_owned))?
                })
            });
            addr.is_some()
        })
        .await;
        assert!(found, "the HTTP front did not start; log:\n{}", std::fs::read_to_string(&log).unwrap_or_default());
        HttpGateway { _child: child, url: format!("http://{}/mcp", addr.unwrap()) }
    }
}

/// Posts one JSON-RPC message; returns the HTTP status, the session id header and the message answering it.
async fn post(
    http: &reqwest::Client,
    url: &str,
    body: &Value,
    headers: &[(&str, String)],
) -> (u16, Option<String>, Value) {
    let mut req = http
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(body.to_string());
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    let resp = tokio::time::timeout(DEADLINE, req.send()).await.expect("answered in time").expect("HTTP");
    let status = resp.status().as_u16();
    let sid = resp.headers().get("mcp-session-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let sse = resp.headers().get("content-type").is_some_and(|c| c.as_bytes().starts_with(b"text/event-stream"));
    let text = tokio::time::timeout(DEADLINE, resp.text()).await.expect("body in time").expect("body");
    let message = if text.is_empty() {
        Value::Null
    } else if sse {
        text.lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .filter_map(|d| serde_json::from_str::<Value>(d.trim()).ok())
            .find(|m| m.get("id") == body.get("id"))
            .unwrap_or(Value::Null)
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
    };
    (status, sid, message)
}

/// What the HTTP front shows and answers a client, in one era: the four lists and the methods on denied items.
struct Probe<'a> {
    http: reqwest::Client,
    url: &'a str,
    /// Legacy: the session id; modern: none (every request stands alone).
    session: Option<String>,
    client: &'a str,
    next: u64,
}

impl Probe<'_> {
    async fn rpc(&mut self, method: &str, mut params: Value) -> Value {
        self.next += 1;
        let mut headers = Vec::new();
        match &self.session {
            Some(sid) => {
                headers.push(("mcp-session-id", sid.clone()));
                headers.push(("mcp-protocol-version", "2025-11-25".to_owned()));
            }
            None => {
                params["_meta"] = json!({
                    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                    "io.modelcontextprotocol/clientCapabilities": {},
                    "io.modelcontextprotocol/clientInfo": {"name": self.client, "version": "1"},
                });
                headers.push(("mcp-protocol-version", "2026-07-28".to_owned()));
                headers.push(("mcp-method", method.to_owned()));
                if let Some(name) = params.get("name").or_else(|| params.get("uri")).and_then(Value::as_str) {
                    headers.push(("mcp-name", name.to_owned()));
                }
            }
        }
        let body = json!({"jsonrpc": "2.0", "id": self.next, "method": method, "params": params});
        post(&self.http, self.url, &body, &headers).await.2
    }
}

async fn check_http_era(url: &str, modern: bool, client: &str, denied: bool) {
    let http = reqwest::Client::new();
    let session = if modern {
        None
    } else {
        let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": client, "version": "1"}}});
        let (status, sid, _) = post(&http, url, &init, &[]).await;
        assert_eq!(status, 200);
        let sid = sid.expect("a session id");
        let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        post(&http, url, &note, &[("mcp-session-id", sid.clone())]).await;
        Some(sid)
    };
    let era = if modern { "2026-07-28" } else { "2025-11-25" };
    let mut probe = Probe { http, url, session, client, next: 0 };
    for (method, key, field) in [
        ("tools/list", "tools", "name"),
        ("prompts/list", "prompts", "name"),
        ("resources/list", "resources", "uri"),
        ("resources/templates/list", "resourceTemplates", "uriTemplate"),
    ] {
        let answer = probe.rpc(method, json!({})).await;
        let items = answer["result"][key].as_array().unwrap_or_else(|| panic!("{era} {method}: {answer}")).clone();
        let shown = names(&items, field);
        let of_everything = shown.iter().filter(|n| n.contains("everything") || n.starts_with("demo://")).count();
        assert_eq!(of_everything == 0, denied, "{era} {client} {method}: {shown:?}");
    }
    for (method, params) in [
        ("tools/call", json!({"name": "app__everything__echo", "arguments": {"message": "hi"}})),
        ("tools/call", json!({"name": "app.everything.echo", "arguments": {"message": "hi"}})),
        ("prompts/get", json!({"name": "app__everything__simple-prompt"})),
        ("resources/read", json!({"uri": DOC})),
        ("resources/read", json!({"uri": format!("app.everything+{DOC}")})),
        ("resources/read", json!({"uri": DYNAMIC})),
        (
            "completion/complete",
            json!({"ref": {"type": "ref/resource", "uri": TEMPLATE}, "argument": {"name": "resourceId", "value": "1"}}),
        ),
    ] {
        let answer = probe.rpc(method, params.clone()).await;
        if denied {
            assert_eq!(answer["error"]["code"], -32004, "{era} {client} {method} {params}: {answer}");
        } else {
            assert!(answer.get("result").is_some(), "{era} {client} {method} {params}: {answer}");
        }
    }
    let echo = probe.rpc("tools/call", json!({"name": "ext__fx__echo", "arguments": {"message": "fx"}})).await;
    assert_eq!(echo["result"]["content"][0]["text"], "fx", "{era}: the other server stays: {echo}");
}

#[tokio::test]
async fn a_server_rule_denies_everything_a_server_offers_over_http_in_both_eras() {
    let Some(everything) = npm_server("server-everything") else { return };
    let ws = Workspace::new();
    let rules = "[[rule]]\nname = \"no-everything-for-bots\"\nserver = \"everything\"\naction = \"deny\"\nwhen = { clients = [\"bot-*\"] }\n";
    let servers =
        format!("{}\n{}", everything_server("everything", "app", &everything), fixture_server("fx", "ext", ""));
    let gw = HttpGateway::start(&ws, rules, &servers).await;
    for modern in [false, true] {
        check_http_era(&gw.url, modern, "bot-1", true).await;
        check_http_era(&gw.url, modern, "person", false).await;
    }
}
