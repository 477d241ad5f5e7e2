//! A real PostgreSQL for tests: `initdb` into a temporary directory, started on a free 127.0.0.1 port with its
//! unix socket inside that directory, stopped at the end.
//!
//! Debian's `postgresql-15` (or any `/usr/lib/postgresql/*/bin`, or `PG_BIN_DIR`) provides the binaries.
//! PostgreSQL refuses to run as root: when the tests run as root, every PostgreSQL command runs as `nobody`
//! through `setpriv` (util-linux), and the directory is given to `nobody`.
//!
//! Clusters shared by the tests of one binary cannot rely on `Drop` (statics are not dropped): each cluster
//! has a watchdog, a shell blocked reading a pipe whose write end only this process holds. When the process
//! ends, however it ends, the read returns and the watchdog stops the server.

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};

pub struct PgCluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    pub port: u16,
    as_nobody: bool,
    watchdog: Mutex<Option<(Child, ChildStdin)>>,
    next_db: std::sync::atomic::AtomicUsize,
}

fn bin_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("PG_BIN_DIR") {
        return Some(PathBuf::from(d));
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|b| b.join("initdb").exists() && b.join("pg_ctl").exists())
        .collect();
    found.sort();
    found.pop()
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0").local_addr().expect("local addr").port()
}

impl PgCluster {
    /// The cluster the tests of this binary share (databases apart), or `None` when PostgreSQL is not
    /// installed and `CI` is not `true` (with `CI=true` that is a failure).
    pub fn shared() -> Option<&'static PgCluster> {
        static SHARED: OnceLock<Option<PgCluster>> = OnceLock::new();
        SHARED.get_or_init(PgCluster::start).as_ref()
    }

    /// A cluster of its own (for tests that stop and restart it).
    pub fn start() -> Option<PgCluster> {
        let Some(bin) = bin_dir() else {
            let msg = "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb; set PG_BIN_DIR or \
                       `apt-get install postgresql-15`)";
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("{msg} (CI=true: a missing dependency is a failure)");
            }
            eprintln!("SKIPPED: {msg}");
            return None;
        };
        let dir = tempfile::Builder::new().prefix("dfs-mcp-pg").tempdir().expect("tempdir");
        let as_nobody = is_root();
        std::fs::create_dir(dir.path().join("sock")).expect("socket dir");
        if as_nobody {
            let ok = Command::new("chown").args(["-R", "65534:65534"]).arg(dir.path()).status().expect("chown");
            assert!(ok.success(), "chown of the cluster directory to nobody failed");
        }
        let cluster = PgCluster {
            dir,
            bin,
            port: free_port(),
            as_nobody,
            watchdog: Mutex::new(None),
            next_db: Default::default(),
        };
        cluster.run("initdb", &["-D", "data", "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"]);
        cluster.start_server();
        cluster.arm_watchdog();
        Some(cluster)
    }

    fn command(&self, tool: &str) -> Command {
        let exe = self.bin.join(tool);
        let mut cmd = if self.as_nobody {
            let mut c = Command::new("setpriv");
            c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"]).arg(exe);
            c
        } else {
            Command::new(exe)
        };
        cmd.current_dir(self.dir.path()).env("LC_ALL", "C").env_remove("PGDATA");
        cmd
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let out = self.command(tool).args(args).stdin(Stdio::null()).output().expect("run a PostgreSQL tool");
        assert!(
            out.status.success(),
            "{tool} {args:?} failed: {}\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn server_options(&self) -> String {
        format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off",
            self.port,
            self.dir.path().join("sock").display()
        )
    }

    fn start_server(&self) {
        let opts = self.server_options();
        self.run("pg_ctl", &["-D", "data", "-l", "server.log", "-w", "-t", "60", "-o", &opts, "start"]);
    }

    /// Stops the server at once (connections are cut), as a crash or an operator would.
    pub fn stop(&self) {
        self.run("pg_ctl", &["-D", "data", "-m", "fast", "-w", "stop"]);
    }

    /// Starts it again on the same port.
    pub fn restart(&self) {
        self.start_server();
    }

    fn arm_watchdog(&self) {
        let stop = format!(
            "{}{} -D data -m immediate stop >/dev/null 2>&1",
            if self.as_nobody { "setpriv --reuid=65534 --regid=65534 --clear-groups -- " } else { "" },
            self.bin.join("pg_ctl").display()
        );
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(format!("read _ ; {stop}"))
            .current_dir(self.dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn the watchdog");
        let stdin = child.stdin.take().expect("piped");
        *self.watchdog.lock().unwrap() = Some((child, stdin));
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A connection string for a database of this cluster.
    pub fn url(&self, db: &str) -> String {
        format!("host=127.0.0.1 port={} user=postgres dbname={db} connect_timeout=5", self.port)
    }

    /// A new empty database; its connection string.
    pub fn new_database(&self) -> String {
        let n = self.next_db.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("t{}_{n}", std::process::id());
        let mut client =
            postgres::Client::connect(&self.url("postgres"), postgres::NoTls).expect("connect to test cluster");
        client.batch_execute(&format!("CREATE DATABASE {name}")).expect("create database");
        self.url(&name)
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        if let Some((mut child, mut stdin)) = self.watchdog.lock().unwrap().take() {
            let _ = stdin.write_all(b"stop\n");
            drop(stdin);
            let _ = child.wait();
        }
    }
}
