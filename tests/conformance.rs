//! The official MCP conformance suite (`@modelcontextprotocol/conformance`, server mode) against the project's
//! conformance server directly and through this gateway's HTTP front with the server mounted without a name
//! prefix (`.ci/conformance` does the work): every check that passes directly must pass through the gateway.

mod support;

#[test]
fn every_conformance_check_that_passes_directly_passes_through_the_gateway() {
    let suite = support::peer_cache().join("conformance/node_modules/@modelcontextprotocol/conformance/dist/index.js");
    if support::require(suite, "the MCP conformance suite").is_none() {
        return;
    }
    let out = std::process::Command::new("bash")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/.ci/conformance"))
        .env("DFS_GATEWAY_BIN", support::gateway_bin())
        .output()
        .expect("run .ci/conformance");
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!("{stdout}");
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("every check that passes directly passes through the gateway"), "{stdout}");
    // The direct run must have found something to check: a broken suite install passes nothing.
    let direct = stdout.lines().find(|l| l.starts_with("conformance direct:")).unwrap_or_default();
    let passed: u32 = direct.split_whitespace().nth(2).and_then(|n| n.parse().ok()).unwrap_or(0);
    assert!(passed >= 30, "too few checks passed directly: {direct}");
}
