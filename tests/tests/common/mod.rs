//! Shared by the integration tests: start the server under test, stop it after.
//!
//! The server is chosen by environment variables, so CI can point the same
//! tests at ringws (each backend) while they run against a reference peer
//! by default:
//!
//! * `RINGWS_TEST_SERVER=/path/to/binary`: spawned as
//!   `binary --port P $RINGWS_TEST_SERVER_ARGS`; it must print a line
//!   containing `listening on` to stdout once it accepts connections (the
//!   `ringws` and `peer-*` binaries do). It is killed when the test ends.
//! * unset: `ringws-peers`' tokio-tungstenite echo server runs in-process on
//!   an ephemeral port (`RINGWS_TEST_PEER=fastwebsockets` picks the other one).
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A running server; stops (kills the child) on drop. In-process peers live
/// until the test process exits.
pub struct Server {
    /// `ws://127.0.0.1:PORT/`.
    pub url: String,
    /// Port.
    pub port: u16,
    /// Human name for messages and reports.
    pub name: String,
    child: Option<Child>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Which reference peer runs in-process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Peer {
    /// tokio-tungstenite.
    Tungstenite,
    /// fastwebsockets.
    FastWebSockets,
}

/// Starts a reference peer in-process on an ephemeral loopback port.
pub fn start_peer(peer: Peer) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let r = match peer {
            Peer::Tungstenite => ringws_peers::tungstenite::run(listener, 1),
            Peer::FastWebSockets => ringws_peers::fastws::run(listener, 1),
        };
        if let Err(e) = r {
            eprintln!("peer {peer:?} stopped: {e}");
        }
    });
    Server {
        url: format!("ws://127.0.0.1:{port}/"),
        port,
        name: match peer {
            Peer::Tungstenite => "tokio-tungstenite".into(),
            Peer::FastWebSockets => "fastwebsockets".into(),
        },
        child: None,
    }
}

/// Starts the server under test (see the module doc).
pub fn start_server() -> Server {
    match std::env::var("RINGWS_TEST_SERVER") {
        Ok(bin) if !bin.is_empty() => spawn_binary(&bin),
        _ => match std::env::var("RINGWS_TEST_PEER").as_deref() {
            Ok("fastwebsockets") => start_peer(Peer::FastWebSockets),
            _ => start_peer(Peer::Tungstenite),
        },
    }
}

fn free_port() -> u16 {
    // Racy by nature (another process may take it), acceptable on a test box.
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("pick a free port")
}

fn spawn_binary(bin: &str) -> Server {
    let port = free_port();
    let extra = std::env::var("RINGWS_TEST_SERVER_ARGS").unwrap_or_default();
    let mut child = Command::new(bin)
        .arg("--port")
        .arg(port.to_string())
        .args(extra.split_whitespace())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("start {bin}: {e}"));
    let stdout = child.stdout.take().expect("child stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut ready = Some(tx);
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.contains("listening on") {
                if let Some(tx) = ready.take() {
                    let _ = tx.send(line.clone());
                }
            }
            // Keep draining so the server never blocks on a full pipe.
        }
    });
    match rx.recv_timeout(Duration::from_secs(20)) {
        Ok(line) => eprintln!("server up: {line}"),
        Err(_) => {
            let _ = child.kill();
            panic!("{bin} did not print `listening on` within 20 s");
        }
    }
    Server {
        url: format!("ws://127.0.0.1:{port}/"),
        port,
        name: format!("{bin} {extra}").trim().to_string(),
        child: Some(child),
    }
}

/// Looks for a program on PATH.
pub fn which(prog: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(prog))
        .find(|p| p.is_file())
}

/// The `tests/interop` directory.
pub fn interop_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("interop")
}

/// Skips the test with a visible message (not a silent pass). In CI
/// (`CI` set), a missing tool is a failure instead: setup.sh installs them.
pub fn skip(why: &str) {
    if std::env::var_os("CI").is_some() && std::env::var_os("RINGWS_ALLOW_SKIP").is_none() {
        panic!("required tool missing in CI: {why} (run tests/interop/setup.sh)");
    }
    eprintln!("SKIPPED: {why} (run tests/interop/setup.sh to install it)");
}
