//! The merged lists (`tools/list`, `prompts/list`, `resources/list`, `resources/templates/list`) and
//! `server/discover`, answered from the current routing table; denied tools are hidden from the client they are
//! denied to.

use std::sync::atomic::Ordering;

use chrono::Utc;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::Session;
use crate::dispatch::ToServer;
use crate::policy::Subject;
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
                let page = match method.as_str() {
                    "tools/list" => {
                        client.listed.store(true, Ordering::Release);
                        let policy = shared.policy.load();
                        if policy.hides {
                            // Denied tools are not shown to this client (identity and time may matter).
                            let (who, now) = (client.identity.get().map(|s| &**s), Utc::now());
                            let visible = table
                                .tools
                                .items_where(|e| policy.set.is_visible(&Subject::new(&e.canonical, who, now)));
                            crate::routing::page_of("tools", &visible, cursor, size, extra)
                        } else {
                            table.tools.page(cursor, size, extra)
                        }
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
