//! What a server sends on its own: notifications (list changes, log messages, resource updates, cancellations)
//! and requests of its own (sampling, elicitation, roots), each passed to the client it is for.

use std::sync::Arc;

use bytes::Bytes;
use ractor::ActorRef;
use serde_json::value::RawValue;

use super::downstream::ListKind;
use super::{Phase, ServerMsg, ServerState};
use crate::dispatch::{ClientHandle, Requester, ReturnPath};
use crate::protocol::{self, Envelope};

impl ServerState {
    pub(super) fn on_notification(&mut self, myself: &ActorRef<ServerMsg>, frame: Bytes) {
        let Ok(env) = Envelope::parse(&frame) else { return };
        let Some(method) = env.method.as_deref() else { return };
        match method {
            "notifications/tools/list_changed"
            | "notifications/prompts/list_changed"
            | "notifications/resources/list_changed" => {
                self.invalidate_cache();
                for &kind in ListKind::from_notification(method) {
                    if matches!(self.phase, Phase::Ready) {
                        self.refresh(myself, kind);
                    } else if !self.stale.contains(&kind) {
                        self.stale.push(kind);
                    }
                }
            }
            "notifications/message" => {
                let frame = crate::transport::child::with_newline(&frame);
                for client in self.ctx.clients.initialized() {
                    client.send(frame.clone());
                }
            }
            "notifications/resources/updated" => {
                self.invalidate_cache();
                self.on_resource_updated(env.params)
            }
            "notifications/cancelled" => self.on_server_cancelled(env.params),
            _ => tracing::debug!(server = %self.label, method, "notification not forwarded"),
        }
    }

    /// Goes to the clients subscribed to that resource, under the URI they know it by.
    pub(super) fn on_resource_updated(&self, params: Option<&RawValue>) {
        let Some(params) = params else { return };
        let Ok(obj) = protocol::RawObject::parse(params) else { return };
        let Some(uri) = obj.get_str("uri") else { return };
        let table = self.ctx.table.load();
        let wire = table.wire_uri(&self.cfg.name, &uri);
        for client in self.ctx.clients.all() {
            client.notify_resource_updated(&self.cfg.name, &uri, &wire);
        }
    }

    /// The server gave up on a request it sent a client: tell that client, under the gateway's id.
    pub(super) fn on_server_cancelled(&self, params: Option<&RawValue>) {
        #[derive(serde::Deserialize)]
        struct Cancelled<'a> {
            #[serde(borrow, rename = "requestId")]
            request_id: &'a RawValue,
        }
        let Some(c) = params.and_then(|p| serde_json::from_str::<Cancelled<'_>>(p.get()).ok()) else { return };
        for client in self.ctx.clients.initialized() {
            if let Some(gid) = client.find_server_request(&self.label, protocol::raw_key(c.request_id)) {
                client.take_server_request(gid);
                let params = format!(r#"{{"requestId":{gid},"reason":"cancelled by the server"}}"#);
                client.send(protocol::notification_frame("notifications/cancelled", Some(params.as_bytes())));
            }
        }
    }

    /// A request of the server's own (sampling, elicitation, roots): to the client whose call caused it, under a
    /// gateway-unique id, remembering how to return the answer.
    pub(super) fn on_server_request(&mut self, frame: Bytes) {
        let Some(child) = &self.child else { return };
        let requester = child.requester().clone();
        self.forward_server_request(&requester, None, frame);
    }

    /// Forwards a server's request that came in on `requester`'s connection; `owner` is the client that
    /// connection belongs to (a per-client session), else the client is found by the calls in flight.
    pub(super) fn forward_server_request(&self, requester: &Requester, owner: Option<Arc<ClientHandle>>, frame: Bytes) {
        let Ok(env) = Envelope::parse(&frame) else { return };
        let (Some(id), Some(method)) = (env.id, env.method.as_deref()) else { return };
        if method == "ping" {
            requester.send_raw(protocol::response_frame_bytes(id, b"{}"));
            return;
        }
        let client =
            owner.or_else(|| requester.pending().sole(|c| c.client.clone())).or_else(|| self.ctx.clients.only());
        let Some(client) = client else {
            let msg = format!(
                "dfs-gateway cannot tell which client `{method}` is for (no single client has calls in flight here)"
            );
            requester.send_raw(protocol::error_frame(id, protocol::code::INTERNAL_ERROR, &msg, None));
            return;
        };
        if client.caps.get().is_some_and(|caps| !caps.allows(method)) {
            // Servers are initialized with what the gateway can forward; this client cannot answer this one.
            let msg = format!("the client of this call did not declare the capability `{method}` needs");
            requester.send_raw(protocol::error_frame(id, protocol::code::METHOD_NOT_FOUND, &msg, None));
            return;
        }
        if client.is_modern() {
            return self.ask_modern_client(requester, &client, id, method, env.params);
        }
        let gid = self.ctx.clients.next_request_id();
        if !client.park_server_request(gid, ReturnPath::Server { requester: requester.clone(), id: id.to_owned() }) {
            let msg = "the client has too many requests from servers outstanding";
            requester.send_raw(protocol::error_frame(id, protocol::code::INTERNAL_ERROR, msg, None));
            return;
        }
        client.send(protocol::request_frame(gid, method, env.params.map(|p| p.get().as_bytes())));
    }

    /// Subscribes at the server on behalf of a modern client's listen stream (a legacy client subscribes itself).
    pub(super) fn subscribe_resource(&self, uri: String) {
        let (Phase::Ready, Some(child)) = (&self.phase, &self.child) else { return };
        let (requester, timeout) = (child.requester().clone(), self.cfg.timeout);
        tokio::spawn(async move {
            let params = serde_json::json!({ "uri": uri }).to_string();
            if let Err(e) = requester.request("resources/subscribe", Some(params.as_bytes()), timeout).await {
                tracing::debug!(server = requester.server(), error = %e, "resources/subscribe failed");
            }
        });
    }
}
