use super::*;

fn load_str(text: &str, overlay: &Overlay) -> Result<Config, ConfigErrors> {
    raw::compile(Source::File("gw.toml".into()), text, Path::new("/base"), overlay)
}

#[test]
fn bundled_config_loads_with_defaults() {
    let cfg = Config::load(None, &Overlay::default()).unwrap();
    assert_eq!(cfg.gateway.naming, Naming::default());
    assert!(cfg.stdio.enabled);
    assert_eq!(cfg.gateway.max_frame_bytes, 16 * 1024 * 1024);
    // The app fleet, from the gateway's own binary, with its policy compiled in.
    let fleet: Vec<(&str, &[String])> = cfg.servers.iter().map(|s| (s.name.as_str(), &s.args[..])).collect();
    let args = |role: &str| vec!["app".to_owned(), role.to_owned()];
    assert_eq!(
        fleet,
        [("data", &args("data")[..]), ("optimize", &args("optimize")[..]), ("simulation", &args("simulation")[..])]
    );
    assert!(cfg.servers.iter().all(|s| s.command == Path::new("dfs-gateway") && !s.lazy));
    let policy = cfg.load_policy().unwrap();
    let names: Vec<&str> = policy.rules().iter().map(|r| r.name.as_str()).collect();
    assert!(names.contains(&"dfs-optimizer-time") && names.contains(&"dfs-import-invalidates-reads"), "{names:?}");
}

#[test]
fn app_servers_replace_bundled_servers_of_their_name_but_not_a_files() {
    let overlay = Overlay { app_servers: Some("optimize=/bin/true".into()), ..Overlay::default() };
    let cfg = Config::load(None, &overlay).unwrap();
    assert_eq!(cfg.servers.len(), 3);
    let opt = cfg.server("optimize").unwrap();
    assert_eq!((opt.command.as_path(), opt.origin.as_str()), (Path::new("/bin/true"), "env:APP_SERVERS"));
    let errs = load_str("[servers.optimize]\nnamespace = \"app\"\ncommand = \"sh\"\n", &overlay).unwrap_err();
    assert!(errs.to_string().contains("server `optimize` is already defined at gw.toml:1"), "{errs}");
}

#[test]
fn namespace_decides_laziness_and_paths_resolve_against_the_file() {
    let cfg = load_str(
        r#"
[servers.optimize]
namespace = "app"
command = "node"
args = ["./dist/index.js"]
timeout = "750ms"

[servers.brave]
namespace = "ext"
command = "sh"
idle_timeout = "2m"
"#,
        &Overlay::default(),
    )
    .unwrap();
    let opt = cfg.server("optimize").unwrap();
    assert!(!opt.lazy);
    assert_eq!(opt.timeout, Duration::from_millis(750));
    assert_eq!(opt.cwd, Path::new("/base"));
    assert_eq!(opt.origin, "gw.toml:2");
    let brave = cfg.server("brave").unwrap();
    assert!(brave.lazy);
    assert_eq!(brave.idle_timeout, Duration::from_secs(120));
    assert_eq!(cfg.gateway.state_dir, Path::new("/base/_federation"));
}

#[test]
fn every_error_is_reported_with_its_line() {
    let errs = load_str(
        r#"[gateway]
max_name_len = 8

[servers.a]
namespace = "app"

[servers.b]
namespace = "cloud"
command = "x"
timeout = "soon"
"#,
        &Overlay::default(),
    )
    .unwrap_err();
    let text = errs.to_string();
    assert!(text.contains("gw.toml:2:16: max_name_len must be between 16 and 128"), "{text}");
    assert!(text.contains("gw.toml:4:1: server `a`: neither `command` nor `url` is set"), "{text}");
    assert!(text.contains("gw.toml:7:1: server `b`: namespace must be \"app\" or \"ext\""), "{text}");
    assert!(text.contains("server `b`: timeout: `soon` is not a duration"), "{text}");
}

#[test]
fn syntax_and_unknown_fields_are_errors_with_a_place() {
    let errs = load_str("[gateway]\nnmae = \"x\"\n", &Overlay::default()).unwrap_err();
    assert_eq!(errs.0.len(), 1);
    assert_eq!(errs.0[0].line, Some((2, 1)), "{errs}");
    assert!(errs.0[0].message.contains("unknown field `nmae`"), "{errs}");
    let errs = load_str("[servers.a\n", &Overlay::default()).unwrap_err();
    assert_eq!(errs.0[0].line.unwrap().0, 1, "{errs}");
}

#[test]
fn environment_overlay_adds_servers_and_passes_database_url_to_app_servers() {
    let overlay = Overlay {
        log_level: Some("debug".into()),
        app_servers: Some("/srv/slate.py".into()),
        external_servers: Some("search=/usr/bin/env python3 -m search".into()),
        database_url: Some("postgres://db".into()),
        ..Overlay::default()
    };
    let cfg = load_str("", &overlay).unwrap();
    assert_eq!(cfg.gateway.log_level, "debug");
    let slate = cfg.server("slate").unwrap();
    assert_eq!((slate.namespace, slate.lazy), (Namespace::App, false));
    assert_eq!(slate.command, Path::new("python3"));
    assert_eq!(slate.env.get("DATABASE_URL").unwrap(), "${DATABASE_URL}");
    let search = cfg.server("search").unwrap();
    assert_eq!((search.namespace, search.lazy), (Namespace::Ext, true));
    assert_eq!(search.args, ["python3", "-m", "search"]);
    assert!(!search.env.contains_key("DATABASE_URL"));

    let clash = Overlay { app_servers: Some("/x/a.js".into()), ..Overlay::default() };
    let errs = load_str("[servers.a]\nnamespace = \"ext\"\ncommand = \"sh\"\n", &clash).unwrap_err();
    assert!(errs.to_string().contains("env:APP_SERVERS: server `a` is already defined at gw.toml:1"), "{errs}");
}

#[test]
fn launch_key_changes_with_command_or_args() {
    let cfg = load_str(
        "[servers.a]\nnamespace = \"ext\"\ncommand = \"sh\"\n[servers.b]\nnamespace = \"ext\"\ncommand = \"sh\"\nargs = [\"-c\"]\n",
        &Overlay::default(),
    )
    .unwrap();
    assert_ne!(cfg.server("a").unwrap().launch_key(), cfg.server("b").unwrap().launch_key());
}

#[test]
fn a_server_moved_in_the_file_is_the_same_and_a_changed_setting_is_not() {
    let a = load_str("[servers.x]\nnamespace = \"app\"\ncommand = \"sh\"\ntimeout = \"1s\"\n", &Overlay::default())
        .unwrap();
    let moved =
        load_str("\n\n[servers.x]\nnamespace = \"app\"\ncommand = \"sh\"\ntimeout = \"1s\"\n", &Overlay::default())
            .unwrap();
    let changed =
        load_str("[servers.x]\nnamespace = \"app\"\ncommand = \"sh\"\ntimeout = \"2s\"\n", &Overlay::default())
            .unwrap();
    let (a, moved, changed) = (a.server("x").unwrap(), moved.server("x").unwrap(), changed.server("x").unwrap());
    assert_ne!(a.origin, moved.origin);
    assert!(a.same_definition(moved));
    assert!(!a.same_definition(changed));
}

#[test]
fn log_files_come_from_the_log_section_and_the_environment_overrides_it() {
    let text = "[log]\ndir = \"logs\"\nrotation = \"hourly\"\nkeep = 3\n";
    let cfg = load_str(text, &Overlay::default()).unwrap();
    assert_eq!(cfg.log, LogConfig { dir: Some("/base/logs".into()), rotation: LogRotation::Hourly, keep: 3 });
    assert_eq!(load_str("", &Overlay::default()).unwrap().log.dir, None, "no [log]: stderr only");
    let env = Overlay {
        log_dir: Some("/var/log/gw".into()),
        log_rotation: Some("never".into()),
        log_keep: Some("0".into()),
        ..Overlay::default()
    };
    let cfg = load_str(text, &env).unwrap();
    assert_eq!(cfg.log, LogConfig { dir: Some("/var/log/gw".into()), rotation: LogRotation::Never, keep: 0 });
    let bad = Overlay { log_keep: Some("many".into()), ..Overlay::default() };
    let errs = load_str(text, &bad).unwrap_err();
    assert!(errs.to_string().contains("env:LOG_KEEP"), "{errs}");
}

#[test]
fn http_servers_are_validated_with_their_place() {
    let cfg = load_str(
        r#"
[servers.remote]
namespace = "ext"
url = "http://127.0.0.1:3001/mcp"
headers = { "X-Api-Key" = "${KEY}" }
bearer_env = "REMOTE_TOKEN"
session = "per_client"
prefix = false
"#,
        &Overlay::default(),
    )
    .unwrap();
    let remote = cfg.server("remote").unwrap();
    let http = remote.http.as_ref().unwrap();
    assert_eq!(http.session, SessionMode::PerClient);
    assert_eq!(http.bearer_env.as_deref(), Some("REMOTE_TOKEN"));
    assert!(!remote.prefix);

    let errs = load_str(
        r#"
[servers.both]
namespace = "ext"
command = "sh"
url = "http://127.0.0.1:1/mcp"

[servers.neither]
namespace = "ext"

[servers.badurl]
namespace = "ext"
url = "ftp://x/mcp"

[servers.tls]
namespace = "ext"
url = "https://example.invalid/mcp"

[servers.mixed]
namespace = "ext"
url = "http://127.0.0.1:1/mcp"
args = ["x"]
session = "sometimes"
headers = { "Mcp-Session-Id" = "x", "bad header" = "y" }

[servers.stdio]
namespace = "ext"
command = "sh"
bearer_env = "T"
"#,
        &Overlay::default(),
    )
    .unwrap_err()
    .to_string();
    for expected in [
        "gw.toml:2:1: server `both`: set either `command`",
        "gw.toml:7:1: server `neither`: neither `command` nor `url` is set",
        "gw.toml:10:1: server `badurl`: url `ftp://x/mcp`: the scheme must be http://",
        "server `tls`: url `https://example.invalid/mcp`: https is not supported yet",
        "server `mixed`: `args`, `env`, `cwd` and `inherit_env` apply to command servers only",
        "server `mixed`: session must be \"shared\" or \"per_client\"",
        "server `mixed`: header `Mcp-Session-Id` is set by the gateway itself",
        "server `mixed`: header name `bad header` is not a valid HTTP header name",
        "server `stdio`: `bearer_env` applies to HTTP servers only",
    ] {
        assert!(errs.contains(expected), "missing {expected:?} in:\n{errs}");
    }
}

#[test]
fn the_http_front_is_off_by_default_and_binds_loopback() {
    let cfg = load_str("", &Overlay::default()).unwrap();
    assert!(!cfg.http.enabled);
    assert_eq!(cfg.http.listen, "127.0.0.1:8000".parse().unwrap());
    assert!(cfg.http.tokens.is_empty());
}

#[test]
fn http_front_settings_are_validated_with_their_lines() {
    let cfg = load_str(
        r#"
[front.http]
enabled = true
listen = "127.0.0.1:9100"
allowed_origins = ["https://app.example.com"]
max_body_bytes = 65536
session_idle_timeout = "5m"

[[front.http.tokens]]
client = "alice"
sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
"#,
        &Overlay::default(),
    )
    .unwrap();
    assert!(cfg.http.enabled);
    assert_eq!(cfg.http.listen.port(), 9100);
    assert_eq!(cfg.http.max_body_bytes, 65536);
    assert_eq!(cfg.http.session_idle_timeout, Duration::from_secs(300));
    assert_eq!(cfg.http.tokens[0].client, "alice");
    assert_eq!(cfg.http.tokens[0].sha256, super::token_hash("test"));

    let errs = load_str(
        r#"[front.http]
enabled = true
listen = "localhost"
max_body_bytes = 10
allowed_origins = ["app.example.com"]

[[front.http.tokens]]
client = "bob"
sha256 = "abc"

[[front.http.tokens]]
client = "carol"
env = "DFS_GATEWAY_TEST_SURELY_UNSET_VARIABLE"

[[front.http.tokens]]
sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
"#,
        &Overlay::default(),
    )
    .unwrap_err();
    let text = errs.to_string();
    for (line, what) in [
        (3, "listen"),
        (4, "max_body_bytes"),
        (5, "allowed_origins"),
        (7, "64 hex"),
        (11, "not set"),
        (15, "needs `client`"),
    ] {
        assert!(
            errs.0.iter().any(|e| e.line.map(|l| l.0) == Some(line) && e.message.contains(what)),
            "no error about {what} at line {line} in:\n{text}"
        );
    }
}

#[test]
fn the_environment_turns_the_http_front_on_and_moves_it() {
    let overlay = Overlay {
        http: HttpOverlay { enabled: Some("true".into()), listen: Some("0.0.0.0:8000".into()) },
        ..Overlay::default()
    };
    let cfg = load_str("", &overlay).unwrap();
    assert!(cfg.http.enabled);
    assert_eq!(cfg.http.listen, "0.0.0.0:8000".parse().unwrap());
    let bad = Overlay { http: HttpOverlay { enabled: Some("maybe".into()), listen: None }, ..Overlay::default() };
    let errs = load_str("", &bad).unwrap_err();
    assert_eq!(errs.0[0].origin, "env:ENABLE_HTTP", "{errs}");
}

#[test]
fn evidence_retention_fail_closed_and_secrets_sections_compile_and_bad_values_are_named() {
    let cfg = load_str(
        "[evidence]\nmax_age = \"7days\"\nmax_total_bytes = 1000000000\nfail_closed = true\n\n[secrets]\nstderr_to_remote_clients = true\n",
        &Overlay::default(),
    )
    .unwrap();
    let ev = cfg.services.evidence.as_ref().unwrap();
    assert_eq!(
        (ev.max_age, ev.max_total_bytes, ev.fail_closed),
        (Some(Duration::from_secs(7 * 86_400)), Some(1_000_000_000), true)
    );
    assert!(cfg.secrets.stderr_to_remote_clients);

    let defaults = load_str("", &Overlay::default()).unwrap();
    let ev = defaults.services.evidence.as_ref().unwrap();
    assert_eq!(
        (ev.max_age, ev.max_total_bytes, ev.fail_closed),
        (Some(Duration::from_secs(30 * 86_400)), Some(1 << 30), false)
    );
    assert!(!defaults.secrets.stderr_to_remote_clients);

    let unbounded = load_str("[evidence]\nmax_age = \"never\"\nmax_total_bytes = 0\n", &Overlay::default()).unwrap();
    let ev = unbounded.services.evidence.as_ref().unwrap();
    assert_eq!((ev.max_age, ev.max_total_bytes), (None, None));

    let err = load_str("[evidence]\nmax_age = \"soon\"\nmax_total_bytes = 5000\n", &Overlay::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("max_age") && err.contains("max_total_bytes must be 0"), "{err}");
}
