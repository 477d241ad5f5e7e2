//! A real `redis-server` per test, on a free loopback port, that the test can stop, restart on the same port,
//! and stall (SIGSTOP) to play a Redis that is down, restarted or slow.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// How long a started server may take to answer PING.
const READY_DEADLINE: Duration = Duration::from_secs(10);

pub struct RedisServer {
    /// The loopback port, kept across restarts so clients reconnect to the same address.
    port: u16,
    /// Working directory; nothing is persisted (`--save ""`, no AOF), but Redis wants one.
    dir: tempfile::TempDir,
    /// The running server; `None` while stopped.
    child: Option<Child>,
    /// The binary, found once.
    binary: PathBuf,
}

/// `REDIS_SERVER`, or `redis-server` on `PATH` or in `/usr/bin`.
fn find_binary() -> Option<PathBuf> {
    if let Some(explicit) = std::env::var_os("REDIS_SERVER") {
        return Some(PathBuf::from(explicit));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin"), PathBuf::from("/usr/local/bin")])
        .map(|dir| dir.join("redis-server"))
        .find(|p| p.is_file())
}

impl RedisServer {
    /// A fresh server, or `None` (with a SKIPPED line) when `redis-server` is not installed. Under `CI=true` a
    /// missing server fails the test instead: CI installs it, so its absence is a broken setup, not a skip.
    pub fn start() -> Option<RedisServer> {
        let Some(binary) = find_binary() else {
            let msg = "redis-server is not installed (apt-get install redis-server, or set REDIS_SERVER)";
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("{msg}; CI=true: a missing redis-server is a failure");
            }
            eprintln!("SKIPPED: {msg}");
            return None;
        };
        // Another process can take the port between our probe and Redis's bind; try a few.
        for _ in 0..5 {
            let port = free_port();
            let mut server =
                RedisServer { port, dir: tempfile::tempdir().expect("temp dir"), child: None, binary: binary.clone() };
            if server.spawn().is_ok() {
                return Some(server);
            }
        }
        panic!("could not start redis-server on a free port");
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the server (SIGKILL: a crash, no goodbye to clients) and waits for it to be gone.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// A new server on the same port, empty (nothing was persisted), answering PING.
    pub fn restart(&mut self) {
        self.stop();
        let deadline = Instant::now() + READY_DEADLINE;
        // The old socket may linger for a moment; retry until the port is ours again.
        while let Err(e) = self.spawn() {
            assert!(Instant::now() < deadline, "redis-server did not restart on port {}: {e}", self.port);
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the process without closing its sockets: connections stay open and nothing answers, like a Redis
    /// stuck in a long command or behind a partition.
    pub fn pause(&self) {
        self.signal(Signal::SIGSTOP);
    }

    pub fn resume(&self) {
        self.signal(Signal::SIGCONT);
    }

    fn signal(&self, signal: Signal) {
        let child = self.child.as_ref().expect("server is running");
        kill(Pid::from_raw(child.id() as i32), signal).expect("signal redis-server");
    }

    fn spawn(&mut self) -> Result<(), String> {
        let port = self.port.to_string();
        let mut child = Command::new(&self.binary)
            .args(["--port", &port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("spawn {}: {e}", self.binary.display()))?;
        let deadline = Instant::now() + READY_DEADLINE;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!("redis-server exited at start with {status}"));
            }
            if ping(self.port) {
                self.child = Some(child);
                return Ok(());
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err("redis-server did not answer PING".into());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        // SIGKILL ends a stopped (paused) process too.
        self.stop();
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local addr").port()
}

fn ping(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    if stream.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 7];
    stream.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
}

impl RedisServer {
    /// How many keys match `pattern` (`KEYS`, fine for a test's small database); `None` while Redis is down.
    pub fn count_keys(&self, pattern: &str) -> Option<usize> {
        let mut stream =
            TcpStream::connect_timeout(&([127, 0, 0, 1], self.port).into(), Duration::from_millis(200)).ok()?;
        stream.set_read_timeout(Some(Duration::from_millis(500))).ok()?;
        let cmd = format!("*2\r\n$4\r\nKEYS\r\n${}\r\n{pattern}\r\n", pattern.len());
        stream.write_all(cmd.as_bytes()).ok()?;
        let mut first = Vec::new();
        let mut byte = [0u8; 1];
        while first.last() != Some(&b'\n') {
            stream.read_exact(&mut byte).ok()?;
            first.push(byte[0]);
        }
        std::str::from_utf8(&first).ok()?.trim().strip_prefix('*')?.parse().ok()
    }

    /// Waits (bounded) until at least `n` cache values are stored: the gateway stores into Redis after it has
    /// answered, so a test that expects a hit from another call waits for the write first.
    pub fn wait_for_cached(&self, n: usize) {
        let deadline = Instant::now() + READY_DEADLINE;
        while self.count_keys("dfs-gateway:cache:v:*").unwrap_or(0) < n {
            assert!(Instant::now() < deadline, "no cache entry reached Redis within {READY_DEADLINE:?}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}
