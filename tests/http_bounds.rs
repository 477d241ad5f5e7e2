//! The HTTP front stays bounded under abuse: silent and slow connections are closed within their timeouts, a
//! flood of idle connections never keeps new clients out for longer than that, nor takes the file descriptors a
//! crashed downstream needs to be started again; one client identity cannot hold all the sessions. Every test
//! runs the real `dfs-gateway` binary (on 127.0.0.1, port chosen by the OS) in front of the real fixture server.

mod support;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

struct HttpGateway {
    _child: Child,
    addr: String,
    log: PathBuf,
}

impl HttpGateway {
    /// `dfs-gateway serve` with only the HTTP front, `http` keys for `[front.http]`, the fixture server `fx`; run
    /// under `prlimit` when `nofile` is given (a low file descriptor limit).
    async fn start(ws: &Workspace, http: &str, nofile: Option<u32>) -> Self {
        let body = format!(
            "[front.stdio]\nenabled = false\n\n[front.http]\nenabled = true\nlisten = \"127.0.0.1:0\"\n{http}\n\n{}",
            fixture_server("fx", "app", "restart_backoff = \"50ms\"\nretries = 0")
        );
        let cfg = ws.config(&body);
        let log = cfg.with_extension("stderr.log");
        let program = match nofile {
            Some(n) => {
                let mut c = Command::new("prlimit");
                c.arg(format!("--nofile={n}:{n}")).arg(gateway_bin());
                c
            }
            None => Command::new(gateway_bin()),
        };
        let mut cmd = serve_quietly(program, &cfg, &log);
        cmd.env("LOG_LEVEL", "info");
        let child = cmd.spawn().expect("spawn dfs-gateway");
        let mut addr = None;
        let found = eventually(DEADLINE, || {
            addr = listening_addr(&log);
            addr.is_some()
        })
        .await;
        assert!(found, "the HTTP front did not start; log:\n{}", std::fs::read_to_string(&log).unwrap_or_default());
        HttpGateway { _child: child, addr: addr.unwrap(), log }
    }

    fn url(&self) -> String {
        format!("http://{}/mcp", self.addr)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

fn listening_addr(log: &Path) -> Option<String> {
    let text = std::fs::read_to_string(log).ok()?;
    text.lines().filter_map(|l| serde_json::from_str::<Value>(l).ok()).find_map(|v| {
        (v["fields"]["message"] == "mcp http front listening")
            .then(|| v["fields"]["addr"].as_str().map(str::to_owned))?
    })
}

/// One legacy exchange over a fresh connection (no pooling: each call must get through the listen queue).
async fn post(url: &str, body: &Value, headers: &[(&str, &str)]) -> (u16, Option<String>, Value) {
    let http = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
    let mut req = http
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(body.to_string());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = tokio::time::timeout(DEADLINE, req.send()).await.expect("answered in time").expect("HTTP");
    let status = resp.status().as_u16();
    let sid = resp.headers().get("mcp-session-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let text = tokio::time::timeout(DEADLINE, resp.text()).await.expect("body in time").expect("body");
    let value = text
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .find_map(|d| serde_json::from_str(d.trim()).ok())
        .or_else(|| serde_json::from_str(&text).ok())
        .unwrap_or(Value::Null);
    (status, sid, value)
}

async fn initialize(url: &str, headers: &[(&str, &str)]) -> (u16, Option<String>, Value) {
    let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "bounds", "version": "1"}}});
    post(url, &init, headers).await
}

async fn call(url: &str, sid: &str, id: u64, tool: &str, args: Value) -> Value {
    let body = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": tool, "arguments": args}});
    post(url, &body, &[("mcp-session-id", sid)]).await.2
}

/// Whether the peer closes `stream` within `within` (a read returns end of stream or an error).
async fn closed_by_peer(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 4096];
    let until = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(until, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue, // a response: keep reading until the close
        }
    }
}

#[tokio::test]
async fn silent_slow_and_idle_connections_are_closed_and_a_call_in_flight_is_not() {
    let ws = Workspace::new();
    let gw = HttpGateway::start(&ws, "header_read_timeout = \"300ms\"\nkeep_alive_timeout = \"600ms\"", None).await;

    // Silent: connected, never a byte.
    let mut silent = TcpStream::connect(&gw.addr).await.unwrap();
    assert!(closed_by_peer(&mut silent, DEADLINE).await, "a silent connection is closed");

    // Slow: a request head dribbled a byte at a time, never finished.
    let mut slow = TcpStream::connect(&gw.addr).await.unwrap();
    let dribbling = async {
        for b in b"POST /mcp HTTP/1.1\r\nHost: x\r\nX-Slow: ".iter().cycle() {
            if slow.write_all(&[*b]).await.is_err() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    };
    let cut = tokio::time::timeout(DEADLINE, dribbling).await;
    assert_eq!(cut.ok(), Some(true), "a head that never completes is cut (the write fails once it is closed)");

    // Idle after an answer (keep-alive): closed.
    let mut idle = TcpStream::connect(&gw.addr).await.unwrap();
    idle.write_all(b"GET /.well-known/oauth-protected-resource HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").await.unwrap();
    assert!(closed_by_peer(&mut idle, DEADLINE).await, "an idle keep-alive connection is closed");

    // A call in flight for longer than both timeouts is answered: in flight is never idle.
    let (status, sid, _) = initialize(&gw.url(), &[]).await;
    assert_eq!(status, 200);
    let sid = sid.expect("session");
    let slept = call(&gw.url(), &sid, 1, "app__fx__sleep", json!({"ms": 1500})).await;
    assert_eq!(slept["result"]["content"][0]["text"], "slept 1500ms", "{slept}");
}

#[tokio::test]
async fn an_idle_connection_flood_neither_keeps_clients_out_nor_stops_a_crashed_server_from_restarting() {
    let ws = Workspace::new();
    // 256 descriptors: without a cap and timeouts, the flood alone exhausts them.
    let http = "header_read_timeout = \"300ms\"\nkeep_alive_timeout = \"500ms\"";
    let gw = HttpGateway::start(&ws, http, Some(256)).await;
    let log = gw.log();
    assert!(log.contains("max_connections is over what the file descriptor limit allows"), "{log}");

    // Keep 400 silent connections open all along: as the gateway closes some, open others.
    let stop = Arc::new(AtomicBool::new(false));
    let flood = {
        let (addr, stop) = (gw.addr.clone(), stop.clone());
        tokio::spawn(async move {
            let mut open: Vec<TcpStream> = Vec::new();
            let mut opened = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let mut probe = [0u8; 1];
                let mut alive = Vec::with_capacity(open.len());
                for s in open.drain(..) {
                    // A closed one reads end of stream; an open one would block.
                    match s.try_read(&mut probe) {
                        Ok(0) => {}
                        Err(e) if e.kind() != std::io::ErrorKind::WouldBlock => {}
                        _ => alive.push(s),
                    }
                }
                open = alive;
                while open.len() < 400 {
                    match tokio::time::timeout(Duration::from_millis(200), TcpStream::connect(&addr)).await {
                        Ok(Ok(s)) => {
                            open.push(s);
                            opened += 1;
                        }
                        _ => break, // the listen queue is full for now
                    }
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            opened
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;

    // A new client gets through while the flood goes on.
    let (status, sid, init) = initialize(&gw.url(), &[]).await;
    assert_eq!(status, 200, "{init}");
    let sid = sid.expect("session");
    let pid = |v: &Value| v["result"]["content"][0]["text"].as_str().map(str::to_owned);
    let before = pid(&call(&gw.url(), &sid, 1, "app__fx__pid", json!({})).await).expect("pid");

    // The server crashes under the flood, and comes back: the gateway had descriptors for its pipes.
    let crashed = call(&gw.url(), &sid, 2, "app__fx__crash", json!({"message": "under flood"})).await;
    assert!(crashed["error"]["message"].as_str().unwrap_or_default().contains("exited"), "{crashed}");
    let mut after = None;
    for id in 3..200 {
        let answer = call(&gw.url(), &sid, id, "app__fx__pid", json!({})).await;
        if let Some(p) = pid(&answer) {
            after = Some(p);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let opened = flood.await.unwrap();
    let after = after.unwrap_or_else(|| panic!("the server never came back; log:\n{}", gw.log()));
    assert_ne!(before, after, "a new process answers");
    assert!(opened > 400, "the flood went on while the server restarted ({opened} connections opened)");
    let echo = call(&gw.url(), &sid, 500, "app__fx__echo", json!({"message": "alive"})).await;
    assert_eq!(echo["result"]["content"][0]["text"], "alive", "{echo}");
    assert!(!gw.log().contains("Too many open files"), "{}", gw.log());
}

#[tokio::test]
async fn one_client_identity_cannot_hold_all_sessions() {
    let ws = Workspace::new();
    let hash = |t: &str| {
        use sha2::Digest;
        sha2::Sha256::digest(t.as_bytes()).iter().map(|b| format!("{b:02x}")).collect::<String>()
    };
    let http = format!(
        "max_sessions = 10\nmax_sessions_per_client = 2\n\
         [[front.http.tokens]]\nclient = \"greedy\"\nsha256 = \"{}\"\n\
         [[front.http.tokens]]\nclient = \"other\"\nsha256 = \"{}\"\n",
        hash("token-a-0123456789"),
        hash("token-b-0123456789")
    );
    let gw = HttpGateway::start(&ws, &http, None).await;
    let a = [("authorization", "Bearer token-a-0123456789")];
    let b = [("authorization", "Bearer token-b-0123456789")];
    let mut held = Vec::new();
    for _ in 0..2 {
        let (status, sid, _) = initialize(&gw.url(), &a).await;
        assert_eq!(status, 200);
        held.push(sid.expect("session"));
    }
    let (status, _, refused) = initialize(&gw.url(), &a).await;
    assert_eq!(status, 503, "{refused}");
    assert!(refused["error"]["message"].as_str().unwrap_or_default().contains("max_sessions_per_client"), "{refused}");
    let (status, _, _) = initialize(&gw.url(), &b).await;
    assert_eq!(status, 200, "another client still gets a session");
    // Ending one of its sessions lets the first client open another.
    let http = reqwest::Client::new();
    let deleted = http
        .delete(gw.url())
        .header("mcp-session-id", &held[0])
        .header("authorization", "Bearer token-a-0123456789")
        .send()
        .await
        .unwrap();
    assert!(deleted.status().is_success(), "{deleted:?}");
    let (status, _, _) = initialize(&gw.url(), &a).await;
    assert_eq!(status, 200);
}
