//! The deployment files: compose/check.sh validates docker-compose.yml for every profile combination with Debian's
//! compose v1 (no Docker engine runs here, so no image is built), and the launch shims fail clearly without keys.

mod support;

use std::path::Path;
use std::process::Command;

#[test]
fn compose_file_validates_for_every_profile_combination() {
    if support::require(Path::new("/usr/bin/docker-compose").to_path_buf(), "docker-compose (Debian package)").is_none()
    {
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("bash").arg(root.join("compose/check.sh")).output().expect("run compose/check.sh");
    assert!(
        out.status.success(),
        "compose/check.sh failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn shims_refuse_to_start_without_their_api_keys_and_keep_stdout_clean() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for (shim, key) in [("brave-search.sh", "BRAVE_API_KEY"), ("github.sh", "GITHUB_PERSONAL_ACCESS_TOKEN")] {
        let out = Command::new("bash")
            .arg(root.join("shims").join(shim))
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", std::env::temp_dir())
            .output()
            .expect("run shim");
        assert_eq!(out.status.code(), Some(78), "{shim}");
        assert!(out.stdout.is_empty(), "{shim} wrote to stdout");
        assert!(String::from_utf8_lossy(&out.stderr).contains(key), "{shim}: {}", String::from_utf8_lossy(&out.stderr));
    }
}
