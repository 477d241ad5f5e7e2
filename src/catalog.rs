//! The last known tool list of each server, kept in `<state_dir>/catalog/<server>.json`, so that a lazy server's
//! tools can be listed without starting it. A catalog is trusted only for the command it was written for
//! (its `key` is [`ServerConfig::launch_key`](crate::config::ServerConfig::launch_key)).

use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// Everything a server lists, each item exactly as the server sent it.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub(crate) struct ServerLists {
    #[serde(default)]
    pub(crate) tools: Vec<Box<RawValue>>,
    #[serde(default)]
    pub(crate) prompts: Vec<Box<RawValue>>,
    #[serde(default)]
    pub(crate) resources: Vec<Box<RawValue>>,
    #[serde(default)]
    pub(crate) resource_templates: Vec<Box<RawValue>>,
}

impl ServerLists {
    /// Same items, byte for byte (RawValue has no `PartialEq` on content that ignores nothing, so compare text).
    pub(crate) fn same_as(&self, other: &ServerLists) -> bool {
        fn same(a: &[Box<RawValue>], b: &[Box<RawValue>]) -> bool {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.get() == y.get())
        }
        same(&self.tools, &other.tools)
            && same(&self.prompts, &other.prompts)
            && same(&self.resources, &other.resources)
            && same(&self.resource_templates, &other.resource_templates)
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Catalog {
    /// Launch key of the command the lists came from.
    pub(crate) key: String,
    /// The server's `initialize` result fields, as it sent them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) server_info: Option<Box<RawValue>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) capabilities: Option<Box<RawValue>>,
    /// The protocol era the server spoke, so a restart need not probe again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) era: Option<crate::era::Era>,
    /// Tools, prompts, resources and templates exactly as the server listed them.
    #[serde(default)]
    pub(crate) lists: ServerLists,
}

pub(crate) fn path(state_dir: &Path, server: &str) -> PathBuf {
    state_dir.join("catalog").join(format!("{server}.json"))
}

/// The catalog of `server`, if there is one written for `key`. A missing, unreadable or stale file is `None`
/// (the server is then started once to discover its tools).
pub(crate) fn load(state_dir: &Path, server: &str, key: &str) -> Option<Catalog> {
    let p = path(state_dir, server);
    let text = std::fs::read(&p).ok()?;
    match serde_json::from_slice::<Catalog>(&text) {
        Ok(c) if c.key == key => Some(c),
        Ok(_) => {
            tracing::info!(server, path = %p.display(), "catalog was written for another command; ignoring it");
            None
        }
        Err(e) => {
            tracing::warn!(server, path = %p.display(), error = %e, "catalog is unreadable; ignoring it");
            None
        }
    }
}

/// Writes the catalog atomically (temporary file, then rename), so a crash never leaves half a file.
pub(crate) fn store(state_dir: &Path, server: &str, catalog: &Catalog) -> io::Result<()> {
    let p = path(state_dir, server);
    let dir = p.parent().expect("catalog path has a parent");
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".{server}.json.{}", std::process::id()));
    let body = serde_json::to_vec_pretty(catalog).map_err(io::Error::other)?;
    std::fs::write(&tmp, body)?;
    std::fs::rename(&tmp, &p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_key_check() {
        let dir = tempfile::tempdir().unwrap();
        let tool: Box<RawValue> =
            RawValue::from_string(r#"{"name":"echo","inputSchema":{"type":"object"}}"#.into()).unwrap();
        let lists = ServerLists { tools: vec![tool], ..ServerLists::default() };
        let cat = Catalog { key: "k1".into(), server_info: None, capabilities: None, era: None, lists };
        store(dir.path(), "s", &cat).unwrap();
        let back = load(dir.path(), "s", "k1").unwrap();
        assert_eq!(back.lists.tools[0].get(), r#"{"name":"echo","inputSchema":{"type":"object"}}"#);
        assert!(load(dir.path(), "s", "k2").is_none());
        assert!(load(dir.path(), "other", "k1").is_none());
        std::fs::write(path(dir.path(), "s"), b"{torn").unwrap();
        assert!(load(dir.path(), "s", "k1").is_none());
    }
}
