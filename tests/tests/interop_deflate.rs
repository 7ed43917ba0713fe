//! permessage-deflate interop: Python `websockets`, Node `ws` (perMessageDeflate
//! on) and headless Chromium negotiate the extension with ringws
//! (`--compression shared` and `dedicated`, both backends) and exchange
//! compressible text and binary messages from 200 B to 1 MiB
//! (`tests/interop/deflate_*.{py,mjs}`).
//!
//! The client reaches ringws through a relay in this test that reads both
//! directions of the stream: it checks on the wire that the 101 accepted
//! permessage-deflate and that data frames went compressed (RSV1) each way,
//! with fewer payload bytes than the messages had.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use common::{
    assert_client_ok, interop_dir, io_uring_allowed, ringws_binary, run_client, skip, which, Server,
};

/// What one direction of a relayed connection carried.
#[derive(Debug, Default, Clone)]
struct Seen {
    /// The HTTP head (request or response).
    head: String,
    /// Data frames (text, binary, continuation) with RSV1 set / clear.
    compressed: usize,
    plain: usize,
    /// Payload bytes of first data frames with RSV1 set.
    compressed_bytes: u64,
}

/// A streaming frame-header reader for one direction: the HTTP head, then
/// frame headers, skipping payloads.
struct Tap {
    seen: Seen,
    head: Vec<u8>,
    in_head: bool,
    /// A frame header cut by a read (at most 13 bytes).
    pending: Vec<u8>,
    /// Payload bytes of the current frame still to skip.
    skip: u64,
}

/// `(header length, rsv1, opcode, payload length)`, or `None` if `b` does
/// not hold a whole header yet.
fn header(b: &[u8]) -> Option<(usize, bool, u8, u64)> {
    if b.len() < 2 {
        return None;
    }
    let (rsv1, op) = (b[0] & 0x40 != 0, b[0] & 0x0f);
    let (len, n) = match b[1] & 0x7f {
        126 => (u16::from_be_bytes(b.get(2..4)?.try_into().ok()?) as u64, 4),
        127 => (u64::from_be_bytes(b.get(2..10)?.try_into().ok()?), 10),
        l => (l as u64, 2),
    };
    let n = n + if b[1] & 0x80 != 0 { 4 } else { 0 };
    (b.len() >= n).then_some((n, rsv1, op, len))
}

impl Tap {
    fn new() -> Self {
        Tap {
            seen: Seen::default(),
            head: Vec::new(),
            in_head: true,
            pending: Vec::new(),
            skip: 0,
        }
    }

    fn feed(&mut self, data: &[u8]) {
        if !self.in_head {
            return self.frames(data);
        }
        self.head.extend_from_slice(data);
        if let Some(end) = self.head.windows(4).position(|w| w == b"\r\n\r\n") {
            self.in_head = false;
            let rest = self.head.split_off(end + 4);
            self.seen.head = String::from_utf8_lossy(&self.head).into_owned();
            self.frames(&rest);
        }
    }

    fn frames(&mut self, mut data: &[u8]) {
        loop {
            if self.skip > 0 {
                let n = self.skip.min(data.len() as u64) as usize;
                self.skip -= n as u64;
                data = &data[n..];
            }
            if data.is_empty() {
                return;
            }
            let had = self.pending.len();
            let take = (14 - had).min(data.len());
            let mut h = std::mem::take(&mut self.pending);
            h.extend_from_slice(&data[..take]);
            let Some((n, rsv1, op, len)) = header(&h) else {
                self.pending = h;
                return;
            };
            data = &data[n - had..];
            if op <= 2 {
                if rsv1 {
                    self.seen.compressed += 1;
                    self.seen.compressed_bytes += len;
                } else {
                    self.seen.plain += 1;
                }
            }
            self.skip = len;
        }
    }
}

/// Relays connections from its own port to `upstream`, recording both
/// directions; at most `max` connections, then it stops by itself.
struct Relay {
    port: u16,
    seen: Arc<Mutex<Vec<(Seen, Seen)>>>,
    thread: Option<JoinHandle<()>>,
}

fn pump(mut from: TcpStream, mut to: TcpStream) -> Seen {
    let mut tap = Tap::new();
    let mut buf = vec![0u8; 64 << 10];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                tap.feed(&buf[..n]);
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(Shutdown::Write);
    tap.seen
}

impl Relay {
    fn start(upstream: u16, max: usize) -> Relay {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s2 = seen.clone();
        let thread = std::thread::spawn(move || {
            for c in l.incoming().take(max) {
                let Ok(client) = c else { break };
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                    break;
                };
                let (c2, s2c) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                let up = std::thread::spawn(move || pump(client, server));
                let down = std::thread::spawn(move || pump(s2c, c2));
                let seen = s2.clone();
                std::thread::spawn(move || {
                    let u = up.join().unwrap_or_default();
                    let d = down.join().unwrap_or_default();
                    seen.lock().unwrap().push((u, d));
                });
            }
        });
        Relay {
            port,
            seen,
            thread: Some(thread),
        }
    }

    fn url(&self) -> String {
        format!("ws://127.0.0.1:{}/", self.port)
    }

    /// What the connections carried (client→server, server→client), once
    /// `n` have ended.
    fn wait(&self, n: usize) -> Vec<(Seen, Seen)> {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let v = self.seen.lock().unwrap().clone();
            if v.len() >= n || std::time::Instant::now() > deadline {
                return v;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        // Unblock the accept loop if it is still waiting.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// ringws with `--compression policy` on each allowed backend.
fn servers(policy: &str) -> Vec<(String, Server)> {
    let mut backends = vec!["epoll"];
    if io_uring_allowed() {
        backends.push("uring");
    }
    backends
        .into_iter()
        .map(|b| {
            let s = common::spawn_binary(
                &ringws_binary(),
                &format!("--bind 127.0.0.1:{{port}} --backend {b} --compression {policy}"),
            );
            (format!("ringws {b} --compression {policy}"), s)
        })
        .collect()
}

/// Runs `client` (a command taking the URL last) against each server
/// through a relay and checks the wire.
fn run(who: &str, client: impl Fn(&str) -> Command, timeout: Duration) {
    for policy in ["shared", "dedicated"] {
        for (name, server) in servers(policy) {
            let relay = Relay::start(server.port, 1);
            let (ok, out, err) = run_client(&mut client(&relay.url()), timeout);
            assert_client_ok(who, &server, ok, &out, &err);
            let seen = relay.wait(1);
            let (up, down) = seen.first().cloned().unwrap_or_default();
            eprintln!(
                "{who} vs {name}: client sent {} compressed / {} plain data frames ({} B), \
                 server sent {} compressed / {} plain ({} B)",
                up.compressed,
                up.plain,
                up.compressed_bytes,
                down.compressed,
                down.plain,
                down.compressed_bytes
            );
            let ext = down
                .head
                .lines()
                .find(|l| {
                    l.to_ascii_lowercase()
                        .starts_with("sec-websocket-extensions:")
                })
                .unwrap_or("");
            assert!(
                ext.contains("permessage-deflate"),
                "{who} vs {name}: the 101 did not accept permessage-deflate:\n{}",
                down.head
            );
            if policy == "shared" {
                assert!(
                    ext.contains("server_no_context_takeover")
                        && ext.contains("client_no_context_takeover"),
                    "{who} vs {name}: {ext}"
                );
            }
            // Eight messages each way (text and binary, 200 B to 1 MiB, 2.3
            // MB in all), every one compressible to well under half.
            let sent: u64 = 2 * (200 + 4096 + 65536 + (1 << 20));
            assert!(down.compressed >= 8, "{who} vs {name}: server {down:?}");
            assert!(up.compressed >= 8, "{who} vs {name}: client {up:?}");
            assert!(
                down.compressed_bytes < sent / 2,
                "{who} vs {name}: server sent {} B for {sent} B of messages",
                down.compressed_bytes
            );
        }
    }
}

#[test]
fn python_websockets_with_deflate() {
    let Some(python) = which("python3") else {
        return skip("python3 is not installed");
    };
    let has_module = Command::new(&python)
        .args(["-c", "import websockets.asyncio.client"])
        .status()
        .is_ok_and(|s| s.success());
    if !has_module {
        return skip("the Python websockets package (>= 13) is not installed");
    }
    run(
        "python-websockets",
        |url| {
            let mut c = Command::new(&python);
            c.arg(interop_dir().join("deflate_python.py")).arg(url);
            c
        },
        Duration::from_secs(60),
    );
}

#[test]
fn node_ws_with_deflate() {
    let Some(node) = which("node") else {
        return skip("node is not installed");
    };
    if !interop_dir().join("node_modules/ws/package.json").is_file() {
        return skip("tests/interop/node_modules/ws is missing (npm ci)");
    }
    run(
        "node-ws",
        |url| {
            let mut c = Command::new(&node);
            c.arg(interop_dir().join("deflate_node.mjs")).arg(url);
            c
        },
        Duration::from_secs(60),
    );
}

#[test]
fn chromium_with_deflate() {
    let Some(node) = which("node") else {
        return skip("node is not installed");
    };
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if !std::path::Path::new(&chromium).is_file() {
        return skip("Debian's chromium is not installed (/usr/bin/chromium)");
    }
    if !interop_dir()
        .join("node_modules/playwright-core/package.json")
        .is_file()
    {
        return skip("tests/interop/node_modules/playwright-core is missing (npm ci)");
    }
    run(
        "chromium",
        |url| {
            let mut c = Command::new(&node);
            c.arg(interop_dir().join("deflate_browser.mjs"))
                .arg(url)
                .env("CHROMIUM", &chromium);
            c
        },
        Duration::from_secs(120),
    );
}
