//! Full protocol transparency, legacy era: `@modelcontextprotocol/server-everything` (npm) behind the real gateway,
//! driven by a raw JSON-RPC client and by the rmcp client answering sampling, elicitation and roots.

#[path = "support/rmcp_client.rs"]
mod rmcp_client;
mod support;

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{json, Value};
use support::*;

fn everything_server(name: &str, namespace: &str, everything: &std::path::Path) -> String {
    format!(
        "[servers.{name}]\nnamespace = \"{namespace}\"\ncommand = \"node\"\nargs = [\"{}\", \"stdio\"]\n",
        everything.display()
    )
}

#[tokio::test]
async fn prompts_resources_completion_subscriptions_logging_and_pagination_through_the_gateway() {
    let Some(everything) = npm_server("server-everything") else { return };
    let ws = Workspace::new();
    let body = format!("{}\n{}", everything_server("everything", "app", &everything), fixture_server("fx", "ext", ""));
    let mut gw = Gateway::start(&ws.config_with("page_size = 5", &body)).await;
    let init = gw.initialize().await;
    assert_eq!(init["capabilities"]["resources"]["subscribe"], true);

    // Pagination: merged lists come in pages of 5 with the gateway's cursors; everything arrives exactly once.
    let (tools, pages) = gw.list_all("tools/list", "tools").await;
    let names: Vec<&str> = tools.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert!(pages >= 3, "{pages} pages for {} tools", names.len());
    assert!(names.contains(&"app__everything__echo") && names.contains(&"ext__fx__echo"), "{names:?}");
    let unique: std::collections::HashSet<_> = names.iter().collect();
    assert_eq!(unique.len(), names.len(), "no tool twice across pages");
    let bad = gw.request("tools/list", json!({"cursor": "not-a-cursor"})).await;
    assert_eq!(bad["error"]["code"], -32602, "{bad}");

    // Prompts under wire names, routed back with the server's own name.
    let (prompts, _) = gw.list_all("prompts/list", "prompts").await;
    let prompt_names: Vec<&str> = prompts.iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert!(prompt_names.contains(&"app__everything__args-prompt"), "{prompt_names:?}");
    let got = gw
        .request("prompts/get", json!({"name": "app__everything__args-prompt", "arguments": {"city": "Boston"}}))
        .await;
    assert!(got["result"]["messages"].to_string().contains("Boston"), "{got}");
    let unknown = gw.request("prompts/get", json!({"name": "app__everything__nope"})).await;
    assert_eq!(unknown["error"]["code"], -32602);

    // Completion is routed by the prompt its ref names.
    let done = gw
        .request(
            "completion/complete",
            json!({"ref": {"type": "ref/prompt", "name": "app__everything__completable-prompt"},
                   "argument": {"name": "department", "value": "E"}}),
        )
        .await;
    assert_eq!(done["result"]["completion"]["values"], json!(["Engineering"]), "{done}");

    // Resources keep their URIs (unique across servers); reads of listed and templated URIs reach the server.
    let (resources, _) = gw.list_all("resources/list", "resources").await;
    let doc = "demo://resource/static/document/architecture.md";
    assert!(resources.iter().any(|r| r["uri"] == doc), "{resources:?}");
    let read = gw.request("resources/read", json!({"uri": doc})).await;
    assert_eq!(read["result"]["contents"][0]["uri"], doc, "{read}");
    let (templates, _) = gw.list_all("resources/templates/list", "resourceTemplates").await;
    assert!(templates.iter().any(|t| t["uriTemplate"] == "demo://resource/dynamic/text/{resourceId}"), "{templates:?}");
    let dynamic = "demo://resource/dynamic/text/7";
    let read = gw.request("resources/read", json!({"uri": dynamic})).await;
    assert_eq!(read["result"]["contents"][0]["uri"], dynamic, "{read}");
    let explicit = gw.request("resources/read", json!({"uri": format!("app.everything+{doc}")})).await;
    assert_eq!(explicit["result"]["contents"][0]["uri"], doc, "a server-prefixed URI also works: {explicit}");

    // A subscription gets resources/updated for that URI.
    let sub = gw.request("resources/subscribe", json!({"uri": dynamic})).await;
    assert!(sub.get("result").is_some(), "{sub}");
    gw.call_text("app__everything__toggle-subscriber-updates", json!({})).await;
    let updated = gw
        .recv_matching(Duration::from_secs(15), |m| m["method"] == "notifications/resources/updated")
        .await
        .expect("resources/updated for the subscribed URI");
    assert_eq!(updated["params"]["uri"], dynamic);
    gw.call_text("app__everything__toggle-subscriber-updates", json!({})).await;

    // logging/setLevel fans out; the server's messages reach the client.
    let set = gw.request("logging/setLevel", json!({"level": "debug"})).await;
    assert_eq!(set["result"], json!({}));
    gw.call_text("app__everything__toggle-simulated-logging", json!({})).await;
    let msg = gw.notification("notifications/message", Duration::from_secs(15)).await.expect("a log message");
    assert!(msg["params"]["level"].is_string(), "{msg}");
    gw.call_text("app__everything__toggle-simulated-logging", json!({})).await;
}

async fn wait_for_tool(client: &rmcp_client::RunningClient, name: &str) -> Vec<String> {
    // server-everything registers capability-dependent tools after `initialized` and announces them with
    // list_changed; the gateway passes that on, so the client's view converges.
    let until = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let names = client.list_tool_names().await.unwrap();
        if names.iter().any(|n| n == name) || std::time::Instant::now() > until {
            return names;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn sampling_elicitation_roots_and_progress_for_two_servers_through_one_gateway() {
    let Some(everything) = npm_server("server-everything") else { return };
    let ws = Workspace::new();
    let body =
        format!("{}\n{}", everything_server("e1", "app", &everything), everything_server("e2", "ext", &everything));
    let cfg: PathBuf = ws.config(&body);
    let options = rmcp_client::ClientOptions {
        roots: Some(vec![("file:///srv/slates".into(), Some("slates".into()))]),
        elicitation: Some("accept".into()),
        elicitation_content: Some(json!({"name": "octocat"})),
        sampling_reply: Some("sampled by the test client".into()),
        quiet_stderr: true,
        ..Default::default()
    };
    let client = rmcp_client::connect_gateway(gateway_bin(), &cfg, options).await.expect("connect");

    // The servers saw the client's capabilities: they offer the tools that need them.
    let names = wait_for_tool(&client, "ext__e2__trigger-elicitation-request").await;
    for t in ["app__e1__trigger-sampling-request", "ext__e2__trigger-sampling-request", "app__e1__get-roots-list"] {
        assert!(names.iter().any(|n| n == t), "{t} missing: {names:?}");
    }

    // Sampling from both servers at once: each server's request reaches the client and the answer goes back to
    // the server that asked (their own ids collide: both number requests from 0).
    let (a, b) = tokio::join!(
        client.call("app__e1__trigger-sampling-request", json!({"prompt": "one", "maxTokens": 10})),
        client.call("ext__e2__trigger-sampling-request", json!({"prompt": "two", "maxTokens": 10})),
    );
    for out in [a.unwrap(), b.unwrap()] {
        assert!(!out.is_error, "{}", out.text);
        assert!(out.text.contains("sampled by the test client"), "{}", out.text);
    }
    let sampled: Vec<Value> = client
        .server_requests()
        .into_iter()
        .filter(|r| r.method == "sampling/createMessage")
        .map(|r| r.params)
        .collect();
    assert_eq!(sampled.len(), 2);
    let prompts = format!("{sampled:?}");
    assert!(prompts.contains("one") && prompts.contains("two"), "{prompts}");

    // Elicitation round trip.
    let out = client.call("ext__e2__trigger-elicitation-request", json!({})).await.unwrap();
    assert!(!out.is_error, "{}", out.text);
    assert!(out.text.contains("octocat"), "{}", out.text);

    // Roots: the server asks the client through the gateway.
    let out = client.call("app__e1__get-roots-list", json!({})).await.unwrap();
    assert!(out.text.contains("file:///srv/slates"), "{}", out.text);

    // Progress from two servers at once keeps each client token apart.
    let args = json!({"duration": 1, "steps": 3});
    let (p1, p2) = tokio::join!(
        client.call_with_progress("app__e1__trigger-long-running-operation", args.clone()),
        client.call_with_progress("ext__e2__trigger-long-running-operation", args),
    );
    let ((o1, t1), (o2, t2)) = (p1.unwrap(), p2.unwrap());
    assert!(!o1.is_error && !o2.is_error);
    assert_ne!(t1, t2);
    assert_eq!(client.progress_for(&t1).len(), 3, "{:?}", client.notifications());
    assert_eq!(client.progress_for(&t2).len(), 3, "{:?}", client.notifications());

    // Logging after logging/setLevel.
    client.set_log_level("debug").await.unwrap();
    client.call("app__e1__toggle-simulated-logging", json!({})).await.unwrap();
    client
        .wait_for(Duration::from_secs(15), |n| matches!(n, rmcp_client::Notification::Log { .. }))
        .await
        .expect("a log message from e1");
    client.close().await.unwrap();
}

#[tokio::test]
async fn experimental_tasks_pass_through_to_the_server_that_created_them() {
    let Some(everything) = npm_server("server-everything") else { return };
    let ws = Workspace::new();
    let mut gw = Gateway::start(&ws.config(&everything_server("everything", "app", &everything))).await;
    gw.initialize().await;
    let created = gw
        .request(
            "tools/call",
            json!({"name": "app__everything__simulate-research-query", "arguments": {"topic": "lineups"}, "task": {"ttl": 60000}}),
        )
        .await;
    let task_id =
        created["result"]["task"]["taskId"].as_str().unwrap_or_else(|| panic!("a task: {created}")).to_owned();
    let got = gw.request("tasks/get", json!({"taskId": task_id})).await;
    assert_eq!(got["result"]["taskId"], task_id.as_str(), "{got}");
    let listed = gw.request("tasks/list", json!({})).await;
    assert!(listed["result"]["tasks"].to_string().contains(&task_id), "{listed}");
    let unknown = gw.request("tasks/get", json!({"taskId": "no-such-task"})).await;
    assert_eq!(unknown["error"]["code"], -32602, "{unknown}");
    let cancelled = gw.request("tasks/cancel", json!({"taskId": task_id})).await;
    assert!(cancelled.get("result").is_some() || cancelled["error"]["code"] == -32602, "{cancelled}");
}
