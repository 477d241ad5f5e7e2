//! A request for one server: the name or URI resolved in the routing table, policy decided on the canonical name,
//! the call's record started and its admission planned, and the call handed to the server with the names
//! rewritten to the server's own and every other byte of the params kept.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::Utc;
use serde_json::value::RawValue;

use super::{Session, Shared};
use crate::dispatch::record::CallLog;
use crate::dispatch::{mrtr, CachePlan, LimitPlan, Plan};
use crate::dispatch::{Call, ClientHandle, ClientReply, Fallback};
use crate::era;
use crate::policy::{Action, Kind, Subject};
use crate::protocol::{self, code, RawObject};
use crate::routing::{NamedEntry, ServerRoute};
use crate::transport::DownstreamError;

impl Session {
    pub(super) fn on_routed(&self, id: &RawValue, method: &str, params: Option<&RawValue>, modern: bool) {
        // Read before routing: the router publishes the table before it flags readiness, so a table read after
        // seeing "ready" is complete, while one read before may not be.
        let was_ready = *self.shared.ready.borrow();
        match route(&self.shared, &self.client, id, method, params, modern) {
            Ok(()) => {}
            // Before start-up has settled, an unknown name may belong to a server still starting: wait for it.
            Err(Unrouted::Unknown(..)) if !was_ready => {
                let (shared, client) = (self.shared.clone(), self.client.clone());
                let (id, method, params) = (id.to_owned(), method.to_owned(), params.map(|p| p.to_owned()));
                tokio::spawn(async move {
                    shared.wait_ready().await;
                    if let Err(e) = route(&shared, &client, &id, &method, params.as_deref(), modern) {
                        e.count(&shared);
                        client.send(e.to_frame(&id));
                    }
                });
            }
            Err(e) => {
                e.count(&self.shared);
                self.send(e.to_frame(id))
            }
        }
    }
}

/// Why a request was not handed to a server.
enum Unrouted {
    Invalid(String),
    /// (what, name): nothing of that kind by that name.
    Unknown(&'static str, String),
    Unavailable(DownstreamError),
    /// A `requestState` the gateway did not issue to this session, or that was used already.
    InvalidState,
    /// (what kind, canonical name, the decision explained).
    Denied(Kind, String, String),
}

impl Unrouted {
    /// A call to a tool nobody lists is counted under `tool="unknown"` (denials are counted where decided).
    fn count(&self, shared: &Shared) {
        if let Unrouted::Unknown("tool", _) = self {
            let metrics = shared.services.tool_metrics(None);
            metrics.record_request(crate::telemetry::Outcome::Unavailable, Duration::ZERO);
        }
    }

    fn to_frame(&self, id: &RawValue) -> Bytes {
        match self {
            Unrouted::Invalid(msg) => protocol::error_frame(id, code::INVALID_PARAMS, msg, None),
            Unrouted::Unknown("tool", name) => protocol::error_frame(
                id,
                code::INVALID_PARAMS,
                &format!("Unknown tool: {name}. Call tools/list for the tools this gateway federates (names look like app__server__tool)."),
                None,
            ),
            Unrouted::Unknown(what, name) => {
                protocol::error_frame(id, code::INVALID_PARAMS, &format!("Unknown {what}: {name}"), None)
            }
            Unrouted::Unavailable(e) => e.to_frame(id),
            Unrouted::Denied(kind, name, why) => {
                let what = match kind {
                    Kind::Tool => "Tool",
                    Kind::Prompt => "Prompt",
                    Kind::Resource => "Resource",
                };
                let mut data = serde_json::json!({ "gateway": true });
                data[kind.as_str()] = name.as_str().into();
                protocol::error_frame(
                    id,
                    code::DENIED,
                    &format!("{what} {name} is denied: {why}. Ask the gateway's operator if you need it."),
                    Some(data),
                )
            }
            Unrouted::InvalidState => protocol::error_frame(
                id,
                code::INVALID_PARAMS,
                "Invalid or expired requestState",
                Some(serde_json::json!({ "reason": "invalid_request_state" })),
            ),
        }
    }
}

/// A name nobody lists that is prefixed like the tools of a server that cannot run (it failed to start, so
/// its tools were never listed): the error that says why, rather than "unknown tool".
fn down_server(table: &crate::routing::RoutingTable, name: &str) -> Option<DownstreamError> {
    let prefixed = |r: &ServerRoute| {
        let ns = r.namespace.as_str();
        ["__", ".", "_", "-", "--"].iter().any(|sep| {
            name.strip_prefix(ns)
                .and_then(|rest| rest.strip_prefix(sep))
                .and_then(|rest| rest.strip_prefix(r.name.as_str()))
                .is_some_and(|rest| rest.len() > sep.len() && rest.starts_with(sep))
        })
    };
    let route = table.servers.iter().filter(|r| prefixed(r)).max_by_key(|r| r.name.len())?;
    let why = route.handle.down()?;
    Some(DownstreamError::Unavailable {
        server: route.label.to_string(),
        reason: format!("it cannot run, so its tools are not listed: {why}"),
    })
}

/// Resolves the server a request is for and hands it over, with the names or URIs rewritten to the server's own
/// and every other byte of the params kept.
fn route(
    shared: &Shared,
    client: &Arc<ClientHandle>,
    id: &RawValue,
    method: &str,
    params: Option<&RawValue>,
    modern: bool,
) -> Result<(), Unrouted> {
    let invalid = |m: &str| Unrouted::Invalid(format!("{method}: {m}"));
    let params = params.ok_or_else(|| invalid("params are missing"))?;
    let obj = RawObject::parse(params).map_err(|_| invalid("params must be an object"))?;
    let complete_for_modern = modern.then(|| era::is_cacheable(method));
    if let Some(state) = obj.get_str("requestState").filter(|s| s.starts_with(mrtr::STATE_PREFIX)) {
        let mut reply = ClientReply::new(client.clone(), id.to_owned());
        reply.complete_for_modern = complete_for_modern;
        return resume(shared, reply, &obj, &state);
    }
    let table = shared.table.load();
    let mut rewritten = Vec::with_capacity(params.get().len() + 32);
    let mut timeout = None;
    let mut retries = 0;
    let mut fallback = None;
    // A tool call's record and what admission checks (rate limit, cache).
    let mut admission: Option<(Box<CallLog>, Plan)> = None;
    let (server, method): (&Arc<ServerRoute>, &'static str) = match method {
        "tools/call" | "prompts/get" => {
            let (list, what, method) = if method == "tools/call" {
                (&table.tools, "tool", "tools/call")
            } else {
                (&table.prompts, "prompt", "prompts/get")
            };
            let name = obj.get_str("name").ok_or_else(|| invalid("params.name must be a string"))?;
            let entry = list.lookup(&name).ok_or_else(|| match down_server(&table, &name) {
                Some(err) => Unrouted::Unavailable(err),
                None => Unrouted::Unknown(what, name.clone().into_owned()),
            })?;
            if method == "tools/call" {
                // Policy decides on the canonical name the spelling resolved to, so no spelling gets around it.
                let policy = shared.policy.load();
                let subject = Subject::new(&entry.canonical, client.identity.get().map(|s| &**s), Utc::now());
                let decision = policy.set.decide(&subject);
                if decision.action == Action::Deny {
                    record_denial(shared, client, Kind::Tool, &entry.canonical, &decision);
                    return Err(Unrouted::Denied(Kind::Tool, entry.canonical.to_string(), decision.to_string()));
                }
                admission = Some(admit_plan(shared, client, entry, &obj, &decision));
                timeout = decision.timeout();
                // Repeat only what is safe to repeat: policy first, then the tool's own annotations.
                if decision.retry().unwrap_or(entry.safe) {
                    retries = entry.server.retries;
                }
                fallback = decision.fallback().map(|target| Fallback {
                    target: target.into(),
                    on_error: decision.fallback_on_error(),
                    from: entry.canonical.clone(),
                    // The target is decided when the call falls back, by the policy this call was decided by.
                    policy: shared.policy.load().set.clone(),
                });
            } else {
                check_item(shared, client, Kind::Prompt, &entry.canonical)?;
            }
            obj.write_with_str("name", &entry.name, &mut rewritten);
            (&entry.server, method)
        }
        "tasks/get" | "tasks/result" | "tasks/cancel" | "tasks/list" => {
            // Experimental tasks (2025-11-25): routed to the server that created the task; a list goes to the one
            // server holding this client's tasks.
            let label = if method == "tasks/list" {
                let servers = client.task_servers();
                let mut it = servers.into_iter();
                match (it.next(), it.next()) {
                    (Some(only), None) => only,
                    (None, _) => return Err(Unrouted::Unknown("task", "(none created through this session)".into())),
                    _ => {
                        return Err(Unrouted::Invalid(
                            "tasks/list: tasks of several servers cannot be merged; use tasks/get".into(),
                        ))
                    }
                }
            } else {
                let task = obj.get_str("taskId").ok_or_else(|| invalid("params.taskId must be a string"))?;
                client.task_server(&task).ok_or_else(|| Unrouted::Unknown("task", task.clone().into_owned()))?
            };
            let server = table
                .servers
                .iter()
                .find(|s| *s.label == *label)
                .ok_or_else(|| Unrouted::Unknown("task server", label.clone()))?;
            rewritten.extend_from_slice(params.get().as_bytes());
            let method = match method {
                "tasks/get" => "tasks/get",
                "tasks/result" => "tasks/result",
                "tasks/cancel" => "tasks/cancel",
                _ => "tasks/list",
            };
            (server, method)
        }
        "resources/read" | "resources/subscribe" | "resources/unsubscribe" => {
            let uri = obj.get_str("uri").ok_or_else(|| invalid("params.uri must be a string"))?;
            let (server, original) =
                table.resolve_uri(&uri).ok_or_else(|| Unrouted::Unknown("resource", uri.clone().into_owned()))?;
            check_resource(shared, client, server, &original)?;
            obj.write_with_str("uri", &original, &mut rewritten);
            let method = match method {
                "resources/read" => "resources/read",
                "resources/subscribe" => {
                    client.subscribe(&server.name, &original, true);
                    "resources/subscribe"
                }
                _ => {
                    client.subscribe(&server.name, &original, false);
                    "resources/unsubscribe"
                }
            };
            (server, method)
        }
        _ => {
            // completion/complete: routed by the prompt or resource template its `ref` names.
            let reference = obj.get("ref").ok_or_else(|| invalid("params.ref is missing"))?;
            let r = RawObject::parse(reference).map_err(|_| invalid("params.ref must be an object"))?;
            let mut new_ref = Vec::with_capacity(reference.get().len() + 16);
            let server = match r.get_str("type").as_deref() {
                Some("ref/prompt") => {
                    let name = r.get_str("name").ok_or_else(|| invalid("ref.name must be a string"))?;
                    let e = table
                        .prompts
                        .lookup(&name)
                        .ok_or_else(|| Unrouted::Unknown("prompt", name.clone().into_owned()))?;
                    check_item(shared, client, Kind::Prompt, &e.canonical)?;
                    r.write_with_str("name", &e.name, &mut new_ref);
                    &e.server
                }
                Some("ref/resource") => {
                    let uri = r.get_str("uri").ok_or_else(|| invalid("ref.uri must be a string"))?;
                    let (server, original): (&Arc<ServerRoute>, String) = match table.templates.lookup(&uri) {
                        Some(e) => (&e.server, e.original.to_string()),
                        None => table
                            .resolve_uri(&uri)
                            .ok_or_else(|| Unrouted::Unknown("resource", uri.clone().into_owned()))?,
                    };
                    check_resource(shared, client, server, &original)?;
                    r.write_with_str("uri", &original, &mut new_ref);
                    server
                }
                _ => return Err(invalid("ref.type must be ref/prompt or ref/resource")),
            };
            obj.write_with_raw("ref", &new_ref, &mut rewritten);
            (server, "completion/complete")
        }
    };
    let mut reply = ClientReply::new(client.clone(), id.to_owned());
    reply.progress_token = protocol::progress_token(&obj);
    let mut params = Bytes::from(rewritten);
    if reply.progress_token.is_some() {
        // Tokens are unique per client only; the server sees a gateway-unique one, mapped back on the way out.
        let token = format!("\"dfs-{}\"", shared.clients.next_request_id());
        params =
            protocol::merge_meta(Some(&params), format!("\"progressToken\":{token}").as_bytes(), Some("progressToken"))
                .into();
        reply.downstream_token = Some(token.into());
    }
    reply.complete_for_modern = complete_for_modern;
    // A task-creating call: its result names the task, and tasks/* for it must reach this server.
    reply.record_task = method == "tools/call" && obj.get("task").is_some();
    reply.retries_left = retries;
    reply.fallback = fallback;
    if let Some((log, plan)) = admission {
        reply.log = Some(log);
        let call = Call::new(method, params, reply, timeout);
        shared.services.admit(call, &server.handle, plan);
        return Ok(());
    }
    let call = Call::new(method, params, reply, timeout);
    // A call the server cannot take is answered there with the reason.
    server.call(call);
    Ok(())
}

/// Starts the record of an allowed tool call and plans its admission: the rule's rate limit, and the cache when
/// the rule caches or the tool is read-only (privately per client unless the rule says `scope = "public"`).
fn admit_plan(
    shared: &Shared,
    client: &ClientHandle,
    entry: &NamedEntry,
    params: &RawObject<'_>,
    decision: &crate::policy::Decision<'_>,
) -> (Box<CallLog>, Plan) {
    let services = &shared.services;
    let identity = client.identity.get();
    let arguments = params.get("arguments");
    let info = services.tool_info(&entry.canonical);
    let mut log = Box::new(services.start_call(&info, &entry.canonical, &entry.server.label));
    log.client = identity.cloned();
    log.rule = decision.rule_name().map(str::to_owned);
    log.decision = if decision.action == Action::Fallback { "fallback" } else { "allow" };
    log.invalidates = decision.invalidates().to_vec();
    if services.evidence.is_enabled() {
        log.arguments = arguments.map(|a| a.to_owned());
    }
    let mut plan = Plan::default();
    if let (Some(rl), Some(rule)) = (decision.rate_limit(), decision.rule_name()) {
        let who = identity.map_or_else(|| format!("session-{}", client.session), |s| s.to_string());
        plan.limit = Some(LimitPlan {
            key: crate::ratelimit::limit_key(rule, rl.scope, &entry.canonical, &who),
            limit: rl.count,
            window: rl.per,
            what: match rl.scope {
                crate::policy::RateScope::Namespace => format!("namespace {}", entry.server.namespace),
                crate::policy::RateScope::Client => format!("{} (per client)", entry.canonical),
                crate::policy::RateScope::Tool => entry.canonical.to_string(),
            },
        });
    }
    // A task-creating call answers with a task, not a result worth keeping.
    let rule_cache = decision.cache();
    if services.cache.is_some() && (rule_cache.is_some() || entry.read_only) && params.get("task").is_none() {
        let public = rule_cache.is_some_and(|c| c.scope == crate::policy::CacheScope::Public);
        // Private entries belong to the client's auth context: its session, or for stateless HTTP requests the
        // token identity they share (`owner`).
        let mut owner = itoa::Buffer::new();
        let owner = owner.format(client.owner);
        let private = ["client:", services.instance.as_str(), ":", owner];
        let scope: &[&str] = if public { &["public"] } else { &private };
        let tags = match rule_cache.filter(|c| !c.tags.is_empty()) {
            Some(c) => info.tags.iter().chain(&c.tags).cloned().collect(),
            None => info.tags.clone(),
        };
        plan.cache = Some(CachePlan {
            key: crate::cache::cache_key_scoped("tools/call", &entry.canonical, arguments, scope),
            ttl: rule_cache.map_or(services.result_ttl, |c| c.ttl),
            tags,
            public,
        });
    }
    (log, plan)
}

/// Policy for a prompt, resource or template `canonical` (`<namespace>.<server>.<name or URI>`) and this client:
/// a denial is recorded and refused like a denied tool call.
fn check_item(shared: &Shared, client: &ClientHandle, kind: Kind, canonical: &str) -> Result<(), Unrouted> {
    let policy = shared.policy.load();
    if !policy.hides {
        return Ok(()); // no rule can deny anything
    }
    let subject = Subject::of(kind, canonical, client.identity.get().map(|s| &**s), Utc::now());
    let decision = policy.set.decide(&subject);
    if decision.is_allowed() {
        return Ok(());
    }
    record_denial(shared, client, kind, canonical, &decision);
    Err(Unrouted::Denied(kind, canonical.to_owned(), decision.to_string()))
}

/// [`check_item`] for the resource (or URI under a template) `original` of `server`.
fn check_resource(
    shared: &Shared,
    client: &ClientHandle,
    server: &ServerRoute,
    original: &str,
) -> Result<(), Unrouted> {
    if !shared.policy.load().hides {
        return Ok(());
    }
    check_item(shared, client, Kind::Resource, &server.canonical_of(original))
}

/// Whether `client` may see the resource `original` of `server` now (subscriptions of `subscriptions/listen`).
pub(super) fn resource_allowed(shared: &Shared, client: &ClientHandle, server: &ServerRoute, original: &str) -> bool {
    check_resource(shared, client, server, original).is_ok()
}

/// A denied call: counted (tools), and written to the audit trail as a decision.
fn record_denial(
    shared: &Shared,
    client: &ClientHandle,
    kind: Kind,
    canonical: &str,
    decision: &crate::policy::Decision<'_>,
) {
    let services = &shared.services;
    if kind == Kind::Tool {
        // Prompts and resources have no per-item series: their names (URIs) are not bounded.
        let metrics = services.tool_metrics(Some(&Arc::from(canonical)));
        metrics.record_denied(decision.rule_name().unwrap_or("default_action"));
        metrics.record_request(crate::telemetry::Outcome::Denied, Duration::ZERO);
    }
    if services.evidence.is_enabled() {
        services.evidence.record(crate::evidence::Record {
            correlation_id: Some(services.correlation().to_string().into()),
            client: client.identity.get().map(Into::into),
            rule: decision.rule_name().map(|r| r.to_owned().into()),
            outcome: Some("denied".into()),
            error: Some(match kind {
                Kind::Tool => decision.to_string().into(),
                _ => format!("{}: {decision}", kind.as_str()).into(),
            }),
            ..crate::evidence::Record::decision(canonical.to_owned(), "deny")
        });
    }
}

/// A modern client's retry of a call the gateway parked: its answers go to the server's questions and the new
/// request id takes over the waiting call (see [`crate::dispatch::mrtr`]).
fn resume(shared: &Shared, reply: ClientReply, obj: &RawObject<'_>, state: &str) -> Result<(), Unrouted> {
    let invalid_state = || Unrouted::InvalidState;
    let parked = shared.clients.parking.take(state).ok_or_else(invalid_state)?;
    if parked.owner != reply.client.owner {
        return Err(invalid_state());
    }
    let responses = obj.get("inputResponses").and_then(|r| RawObject::parse(r).ok()).unwrap_or_default();
    let requester = parked.requester.clone();
    // Bind first: the server may answer the call as soon as it has its answers.
    if !requester.pending().rebind(parked.call_id, reply, parked.timeout) {
        return Err(Unrouted::Unavailable(DownstreamError::Unavailable {
            server: requester.server().to_owned(),
            reason: "the call this requestState belongs to has ended (timed out, or the server restarted); call again"
                .into(),
        }));
    }
    let mut unanswered = Vec::new();
    for input in parked.inputs {
        match responses.get(&input.key) {
            Some(answer) => requester.send_raw(protocol::response_frame(&input.downstream_id, answer)),
            None => unanswered.push(input),
        }
    }
    if !unanswered.is_empty() {
        // Ask again, at once, for what is still missing.
        if let Some(again) = requester.pending().park(parked.call_id, mrtr::HOLD) {
            let call = mrtr::ParkedCall { inputs: unanswered, ..parked };
            let state = shared.clients.parking.park_with(call, mrtr::input_required);
            again.client.send(protocol::response_frame_bytes(&again.id, &state));
        }
    }
    Ok(())
}
