//! Every configuration the project ships must validate, so the examples in the README keep working.

use std::path::Path;

use dfs_gateway::config::{Config, Overlay};

#[test]
fn every_shipped_config_validates() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut checked = 0;
    for entry in std::fs::read_dir(root.join("examples")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            match Config::load(Some(&path), &Overlay::default()) {
                Ok(cfg) => {
                    if let Err(e) = cfg.load_policy() {
                        panic!("the policy of {} does not validate:\n{e}", path.display());
                    }
                }
                Err(e) => panic!("{} does not validate:\n{e}", path.display()),
            }
            checked += 1;
        }
    }
    assert!(checked >= 2, "examples/ should hold the full and the fixture configuration");
    Config::load(None, &Overlay::default()).expect("the bundled configuration validates");
}

#[test]
fn the_claude_desktop_entry_launches_the_shim() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("shims/claude_desktop_config.json")).unwrap();
    let cfg: serde_json::Value = serde_json::from_str(&text).unwrap();
    let command = cfg["mcpServers"]["dfs-gateway"]["command"].as_str().unwrap();
    assert!(command.ends_with("shims/mcp-gateway.sh"), "{command}");
    let shim = std::fs::read_to_string(root.join("shims/mcp-gateway.sh")).unwrap();
    assert!(shim.contains("exec \"$bin\" serve"), "the shim execs the gateway");
}
