//! Talking to a downstream as its client: the start-up handshake and fetching its lists. These run as spawned
//! tasks that report back to the `ServerActor` as messages, so the actor never waits on the server.

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::value::RawValue;
use tokio::sync::watch;

use bytes::Bytes;

use crate::catalog::ServerLists;
use crate::dispatch::{Requester, Responder};
use crate::era::{self, Era};
use crate::protocol::{self, Envelope, RawObject};
use crate::transport::DownstreamError;

/// What a server said it can do (from its `initialize` result).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Caps {
    pub(crate) tools: bool,
    pub(crate) prompts: bool,
    pub(crate) resources: bool,
    pub(crate) logging: bool,
}

impl Caps {
    fn parse(raw: Option<&RawValue>) -> Caps {
        #[derive(Deserialize, Default)]
        struct C<'a> {
            #[serde(borrow, default)]
            tools: Option<&'a RawValue>,
            #[serde(borrow, default)]
            prompts: Option<&'a RawValue>,
            #[serde(borrow, default)]
            resources: Option<&'a RawValue>,
            #[serde(borrow, default)]
            logging: Option<&'a RawValue>,
        }
        let c: C<'_> = raw.and_then(|r| serde_json::from_str(r.get()).ok()).unwrap_or_default();
        Caps {
            tools: c.tools.is_some(),
            prompts: c.prompts.is_some(),
            resources: c.resources.is_some(),
            logging: c.logging.is_some(),
        }
    }
}

/// One of a server's lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ListKind {
    Tools,
    Prompts,
    Resources,
    Templates,
}

impl ListKind {
    pub(crate) const ALL: [ListKind; 4] =
        [ListKind::Tools, ListKind::Prompts, ListKind::Resources, ListKind::Templates];

    fn method(self) -> (&'static str, &'static str) {
        match self {
            ListKind::Tools => ("tools/list", "tools"),
            ListKind::Prompts => ("prompts/list", "prompts"),
            ListKind::Resources => ("resources/list", "resources"),
            ListKind::Templates => ("resources/templates/list", "resourceTemplates"),
        }
    }

    /// The lists a `list_changed` notification method is about.
    pub(crate) fn from_notification(method: &str) -> &'static [ListKind] {
        match method {
            "notifications/tools/list_changed" => &[ListKind::Tools],
            "notifications/prompts/list_changed" => &[ListKind::Prompts],
            "notifications/resources/list_changed" => &[ListKind::Resources, ListKind::Templates],
            _ => &[],
        }
    }

    pub(crate) fn slot(self, lists: &mut ServerLists) -> &mut Vec<Box<RawValue>> {
        match self {
            ListKind::Tools => &mut lists.tools,
            ListKind::Prompts => &mut lists.prompts,
            ListKind::Resources => &mut lists.resources,
            ListKind::Templates => &mut lists.resource_templates,
        }
    }

    pub(crate) fn offered_by(self, caps: Caps) -> bool {
        match self {
            ListKind::Tools => caps.tools,
            ListKind::Prompts => caps.prompts,
            ListKind::Resources | ListKind::Templates => caps.resources,
        }
    }
}

/// What the start-up handshake told us.
#[derive(Debug)]
pub(crate) struct Handshake {
    pub(crate) era: Era,
    /// For a modern server: the `_meta` members every request to it carries.
    pub(crate) envelope: Option<Arc<[u8]>>,
    pub(crate) protocol_version: String,
    pub(crate) server_info: Option<Box<RawValue>>,
    pub(crate) capabilities: Option<Box<RawValue>>,
    pub(crate) caps: Caps,
    pub(crate) lists: ServerLists,
    /// The shortest `ttlMs` the server gave its lists (2026-07-28), if any.
    pub(crate) list_ttl_ms: Option<u64>,
}

/// The downstream as the gateway's client sees it: requests to a modern server carry the envelope.
pub(super) struct Link<'a> {
    pub(crate) req: &'a Requester,
    pub(crate) envelope: Option<&'a [u8]>,
}

impl Link<'_> {
    async fn request(&self, method: &str, params: Option<&[u8]>, timeout: Duration) -> Result<Bytes, DownstreamError> {
        match self.envelope {
            Some(env) => self.req.request(method, Some(&era::with_envelope(params, env)), timeout).await,
            None => self.req.request(method, params, timeout).await,
        }
    }
}

/// Waits for the client's capabilities (servers are told what the client can do), finds the server's era unless
/// known (`server/discover` first; any error or silence means legacy), then runs that era's handshake and fetches
/// every list the server offers.
pub(super) async fn handshake(
    req: &Requester,
    timeout: Duration,
    mut client_caps: watch::Receiver<Option<Arc<str>>>,
    log_level: Option<Arc<str>>,
    known_era: Option<Era>,
) -> Result<Handshake, DownstreamError> {
    let caps = client_caps.wait_for(Option::is_some).await.map(|c| c.clone()).ok().flatten();
    let caps = caps.as_deref().unwrap_or("{}");
    let envelope: Arc<[u8]> = era::envelope_members(caps, log_level.as_deref()).into();
    let discovered = match known_era {
        Some(Era::Legacy) => None,
        // Legacy servers answer an unknown method with an error at once, or not at all: wait half the start-up
        // time (a slow starter still gets its answer in; a silent one costs this once, as the era is then kept).
        _ => probe(req, &envelope, timeout / 2).await,
    };
    match discovered {
        Some(frame) => modern_handshake(req, envelope, &frame, timeout).await,
        None if known_era == Some(Era::Modern) => Err(DownstreamError::BadResponse {
            server: req.server().to_owned(),
            detail: "it spoke 2026-07-28 before but did not answer server/discover now".into(),
        }),
        None => legacy_handshake(req, caps, log_level, timeout).await,
    }
}

/// The discover response frame of a modern server; `None` for a legacy one.
async fn probe(req: &Requester, envelope: &[u8], timeout: Duration) -> Option<Bytes> {
    let frame = req.request("server/discover", Some(&era::with_envelope(None, envelope)), timeout).await.ok()?;
    let env = Envelope::parse(&frame).ok()?;
    env.result.is_some().then(|| frame.clone())
}

async fn modern_handshake(
    req: &Requester,
    envelope: Arc<[u8]>,
    discover: &[u8],
    timeout: Duration,
) -> Result<Handshake, DownstreamError> {
    #[derive(Deserialize)]
    struct Discover {
        #[serde(default)]
        capabilities: Option<Box<RawValue>>,
        #[serde(default, rename = "serverInfo")]
        server_info: Option<Box<RawValue>>,
        #[serde(default, rename = "_meta")]
        meta: Option<std::collections::HashMap<String, Box<RawValue>>>,
    }
    let d: Discover = result_of(req, "server/discover", discover)?;
    let server_info = d.meta.and_then(|mut m| m.remove(protocol::meta::SERVER_INFO)).or(d.server_info);
    let server_caps = Caps::parse(d.capabilities.as_deref());
    let link = Link { req, envelope: Some(&envelope) };
    let (lists, list_ttl_ms) = fetch_lists(&link, server_caps, timeout).await?;
    if server_caps.tools || server_caps.prompts || server_caps.resources {
        // Modern servers announce list changes only on a listen stream; it stays open for the process's life
        // (a server without listen support refuses it, which is fine).
        let filter = serde_json::json!({ "notifications": {
            "toolsListChanged": server_caps.tools, "promptsListChanged": server_caps.prompts,
            "resourcesListChanged": server_caps.resources,
        }})
        .to_string();
        let (tx, _rx) = tokio::sync::oneshot::channel();
        let params = era::with_envelope(Some(filter.as_bytes()), &envelope);
        req.send(
            "subscriptions/listen",
            Some(&params),
            Responder::Internal(tx),
            Duration::from_secs(u32::MAX as u64),
            false,
        );
    }
    Ok(Handshake {
        era: Era::Modern,
        envelope: Some(envelope),
        protocol_version: protocol::MODERN_VERSION.to_owned(),
        server_info,
        capabilities: d.capabilities,
        caps: server_caps,
        lists,
        list_ttl_ms,
    })
}

async fn legacy_handshake(
    req: &Requester,
    caps: &str,
    log_level: Option<Arc<str>>,
    timeout: Duration,
) -> Result<Handshake, DownstreamError> {
    #[derive(Deserialize)]
    struct InitResult {
        #[serde(rename = "protocolVersion")]
        protocol_version: String,
        #[serde(default)]
        capabilities: Option<Box<RawValue>>,
        #[serde(default, rename = "serverInfo")]
        server_info: Option<Box<RawValue>>,
    }
    let frame = req.request("initialize", Some(&initialize_params(caps)), timeout).await?;
    let init: InitResult = result_of(req, "initialize", &frame)?;
    req.notify("notifications/initialized", None);
    let server_caps = Caps::parse(init.capabilities.as_deref());
    if let (true, Some(level)) = (server_caps.logging, log_level) {
        set_level(req, &level, timeout).await;
    }
    let (lists, list_ttl_ms) = fetch_lists(&Link { req, envelope: None }, server_caps, timeout).await?;
    Ok(Handshake {
        era: Era::Legacy,
        envelope: None,
        protocol_version: init.protocol_version,
        server_info: init.server_info,
        capabilities: init.capabilities,
        caps: server_caps,
        lists,
        list_ttl_ms,
    })
}

/// Opens one more legacy session on a connection (a client's own, in per-client mode): `initialize` with the
/// client's capabilities, `initialized`, and the log level. The lists come from the server's own connection.
pub(super) async fn open_session(
    req: &Requester,
    timeout: Duration,
    mut client_caps: watch::Receiver<Option<Arc<str>>>,
    log_level: Option<Arc<str>>,
) -> Result<(), DownstreamError> {
    let caps = client_caps.wait_for(Option::is_some).await.map(|c| c.clone()).ok().flatten();
    let caps = caps.as_deref().unwrap_or("{}");
    let frame = req.request("initialize", Some(&initialize_params(caps)), timeout).await?;
    #[derive(Deserialize)]
    struct InitResult {
        #[serde(default)]
        capabilities: Option<Box<RawValue>>,
    }
    let init: InitResult = result_of(req, "initialize", &frame)?;
    req.notify("notifications/initialized", None);
    if let (true, Some(level)) = (Caps::parse(init.capabilities.as_deref()).logging, log_level) {
        set_level(req, &level, timeout).await;
    }
    Ok(())
}

/// `initialize` params announcing the gateway with the client's capabilities.
fn initialize_params(caps: &str) -> Vec<u8> {
    let mut params = Vec::with_capacity(160 + caps.len());
    params.extend_from_slice(b"{\"protocolVersion\":\"");
    params.extend_from_slice(protocol::LATEST_LEGACY_VERSION.as_bytes());
    params.extend_from_slice(b"\",\"capabilities\":");
    params.extend_from_slice(caps.as_bytes());
    params.extend_from_slice(b",\"clientInfo\":{\"name\":\"dfs-gateway\",\"version\":\"");
    params.extend_from_slice(env!("CARGO_PKG_VERSION").as_bytes());
    params.extend_from_slice(b"\"}}");
    params
}

async fn fetch_lists(
    link: &Link<'_>,
    caps: Caps,
    timeout: Duration,
) -> Result<(ServerLists, Option<u64>), DownstreamError> {
    let mut lists = ServerLists::default();
    let mut ttl: Option<u64> = None;
    for kind in ListKind::ALL {
        if kind.offered_by(caps) {
            let (items, ms) = list_all(link, kind, timeout).await?;
            *kind.slot(&mut lists) = items;
            ttl = match (ttl, ms) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
    }
    Ok((lists, ttl))
}

/// `logging/setLevel`; a server that refuses it is logged, not failed.
pub(super) async fn set_level(req: &Requester, level: &str, timeout: Duration) {
    let params = serde_json::json!({ "level": level }).to_string();
    if let Err(e) = req.request("logging/setLevel", Some(params.as_bytes()), timeout).await {
        tracing::debug!(server = req.server(), error = %e, "logging/setLevel failed");
    }
}

/// Every page of one list.
/// Every item of one list (following `nextCursor`), and the shortest `ttlMs` a page carried (2026-07-28: how long
/// the server says the list may be reused).
pub(super) async fn list_all(
    link: &Link<'_>,
    kind: ListKind,
    timeout: Duration,
) -> Result<(Vec<Box<RawValue>>, Option<u64>), DownstreamError> {
    let req = link.req;
    let (method, key) = kind.method();
    let bad = |detail: String| DownstreamError::BadResponse { server: req.server().to_owned(), detail };
    let mut items = Vec::new();
    let mut ttl_ms: Option<u64> = None;
    let mut cursor: Option<String> = None;
    // Bounded, against a server whose cursors never end.
    for _ in 0..1000 {
        let params = cursor.as_ref().map(|c| serde_json::json!({ "cursor": c }).to_string());
        let frame = link.request(method, params.as_deref().map(str::as_bytes), timeout).await?;
        let page: Box<RawValue> = result_of(req, method, &frame)?;
        let page = RawObject::parse(&page).map_err(|e| bad(format!("{method} result: {e}")))?;
        if let Some(list) = page.get(key) {
            let list: Vec<Box<RawValue>> =
                serde_json::from_str(list.get()).map_err(|e| bad(format!("{method}: {e}")))?;
            items.extend(list);
        }
        if let Some(ms) = page.get("ttlMs").and_then(|t| t.get().trim().parse::<u64>().ok()) {
            ttl_ms = Some(ttl_ms.map_or(ms, |t| t.min(ms)));
        }
        match page.get_str("nextCursor") {
            Some(c) if !c.is_empty() => cursor = Some(c.into_owned()),
            _ => return Ok((items, ttl_ms)),
        }
    }
    Ok((items, ttl_ms))
}

/// The `result` of a response frame, typed; an error response or a bad shape is a `BadResponse`.
pub(super) fn result_of<T: for<'de> Deserialize<'de>>(
    req: &Requester,
    method: &str,
    frame: &[u8],
) -> Result<T, DownstreamError> {
    let bad = |detail: String| DownstreamError::BadResponse { server: req.server().to_owned(), detail };
    let env = Envelope::parse(frame).map_err(|e| bad(format!("{method}: {e}")))?;
    match (env.result, env.error) {
        (Some(result), _) => serde_json::from_str(result.get()).map_err(|e| bad(format!("{method} result: {e}"))),
        (None, Some(error)) => Err(bad(format!("{method} was refused: {}", error.get()))),
        _ => Err(bad(format!("{method}: neither result nor error"))),
    }
}
