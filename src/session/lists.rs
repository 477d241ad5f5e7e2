//! The merged lists (`tools/list`, `prompts/list`, `resources/list`, `resources/templates/list`) and
//! `server/discover`, answered from the current routing table; denied tools, prompts, resources and templates
//! are hidden from the client they are denied to.

use std::sync::atomic::Ordering;

use chrono::Utc;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::Session;
use crate::dispatch::ToServer;
use crate::policy::{Kind, Subject};
use crate::protocol::{self, code};
use crate::routing::Page;

impl Session {
    pub(super) fn on_list(&self, id: &RawValue, method: &str, params: Option<&RawValue>, modern: bool) {
        #[derive(Deserialize, Default)]
        struct ListParams {
            cursor: Option<String>,
        }
        let cursor = params.and_then(|p| serde_json::from_str::<ListParams>(p.get()).ok()).unwrap_or_default().cursor;
        if cursor.is_none() {
            // A fresh listing: servers whose lists have outlived their time to live fetch them again (the
            // answer now is what is known; a change follows as list_changed).
            for server in &self.shared.table.load().servers {
                server.handle.post(ToServer::ListsWanted);
            }
        }
        let answer = {
            let (shared, client, method, id) =
                (self.shared.clone(), self.client.clone(), method.to_owned(), id.to_owned());
            move || {
                let table = shared.table.load();
                let extra = if modern { shared.modern_list_members.as_str() } else { "" };
                let (cursor, size) = (cursor.as_deref(), shared.page_size);
                let policy = shared.policy.load();
                // Denied items are not shown to this client (identity and time may matter); without a deny rule
                // nothing is hidden and the pre-built pages serve.
                let hides = policy.hides;
                let (who, now) = (client.identity.get().map(|s| &**s), Utc::now());
                let visible =
                    |kind: Kind, canonical: &str| policy.set.is_visible(&Subject::of(kind, canonical, who, now));
                let uri_visible =
                    |e: &crate::routing::UriEntry| visible(Kind::Resource, &e.server.canonical_of(&e.original));
                let page = match method.as_str() {
                    "tools/list" => {
                        client.listed.store(true, Ordering::Release);
                        if hides {
                            let items = table.tools.items_where(|e| visible(Kind::Tool, &e.canonical));
                            crate::routing::page_of("tools", &items, cursor, size, extra)
                        } else {
                            table.tools.page(cursor, size, extra)
                        }
                    }
                    "prompts/list" if hides => {
                        let items = table.prompts.items_where(|e| visible(Kind::Prompt, &e.canonical));
                        crate::routing::page_of("prompts", &items, cursor, size, extra)
                    }
                    "resources/list" if hides => {
                        let items = table.resources.items_where(uri_visible);
                        crate::routing::page_of("resources", &items, cursor, size, extra)
                    }
                    "resources/templates/list" if hides => {
                        let items = table.templates.items_where(uri_visible);
                        crate::routing::page_of("resourceTemplates", &items, cursor, size, extra)
                    }
                    "prompts/list" => table.prompts.page(cursor, size, extra),
                    "resources/list" => table.resources.page(cursor, size, extra),
                    _ => table.templates.page(cursor, size, extra),
                };
                client.send(match page {
                    Ok(page) => protocol::response_frame_bytes(&id, &page),
                    Err(_) => protocol::error_frame(
                        &id,
                        code::INVALID_PARAMS,
                        "Invalid cursor: it was not issued by this gateway for this list",
                        None,
                    ),
                });
            }
        };
        if *self.shared.ready.borrow() {
            return answer();
        }
        let shared = self.shared.clone();
        tokio::spawn(async move {
            shared.wait_ready().await;
            answer();
        });
    }

    /// `server/discover` (2026-07-28): what the gateway offers, with the modern result members.
    pub(super) fn on_discover(&self, id: &RawValue) {
        let mut result = format!(
            r#"{{"supportedVersions":["{}"],"capabilities":{{"tools":{{"listChanged":true}},"prompts":{{"listChanged":true}},"resources":{{"subscribe":true,"listChanged":true}},"completions":{{}}}},"instructions":"dfs-gateway federates several MCP servers; names look like <namespace>__<server>__<name>."#,
            protocol::MODERN_VERSION
        );
        result.push_str("\",");
        result.push_str(&self.shared.modern_list_members);
        result.push('}');
        self.send(protocol::response_frame_bytes(id, result.as_bytes()));
    }
}
