//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod mcp;
pub mod pg;
pub mod slates;

use std::path::Path;

/// A hand-written test file of `tests/files/`.
pub fn file(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/files").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}
