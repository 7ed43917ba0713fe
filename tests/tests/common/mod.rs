//! Shared by the integration tests: start the servers under test, stop them after.
//!
//! By default the servers under test are ringws on each backend (`epoll`,
//! and `uring` unless the kernel disables io_uring), started from the
//! `ringws` binary (`$RINGWS_BIN`, else built by cargo in this target dir).
//! Environment variables point the same tests elsewhere:
//!
//! * `RINGWS_TEST_SERVER=/path/to/binary`: only this server, spawned with
//!   `$RINGWS_TEST_SERVER_ARGS`, where `{port}` is replaced by a free port
//!   (default arguments: `--port {port}`, as the `peer-*` binaries take; for
//!   ringws: `--bind 127.0.0.1:{port} --backend epoll`). Relative paths are
//!   taken from the workspace root.
//! * `RINGWS_TEST_SERVER=peer:tungstenite` or `peer:fastwebsockets`: a
//!   reference peer, in-process on an ephemeral port.
//!
//! A spawned server is ready once its port accepts connections, and is
//! killed when the test ends.
#![allow(dead_code)]

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running server; stops (kills the child) on drop. In-process peers live
/// until the test process exits.
pub struct Server {
    /// `ws://127.0.0.1:PORT/`.
    pub url: String,
    /// Port.
    pub port: u16,
    /// Human name for messages and reports.
    pub name: String,
    /// The subprotocol this server is known to select when a client offers
    /// `chat.v1` (ringws is started with `--subprotocol chat.v1`); `None`
    /// when unknown (peers, other binaries): the interop clients then accept
    /// any valid choice.
    pub subprotocol: Option<&'static str>,
    child: Option<Child>,
}

impl Server {
    /// Sets `EXPECT_SUBPROTOCOL` for an interop client when the choice is known.
    pub fn expect_subprotocol<'c>(&self, cmd: &'c mut Command) -> &'c mut Command {
        match self.subprotocol {
            Some(p) => cmd.env("EXPECT_SUBPROTOCOL", p),
            None => cmd.env_remove("EXPECT_SUBPROTOCOL"),
        }
    }
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
        subprotocol: None,
        child: None,
    }
}

/// What to start: see the module doc.
#[derive(Debug, Clone)]
pub enum Spec {
    /// ringws with this backend.
    Ringws(&'static str),
    /// A binary with an argument template.
    Binary(String, String),
    /// An in-process peer.
    Peer(Peer),
}

impl Spec {
    /// Starts it.
    pub fn start(&self) -> Server {
        match self {
            Spec::Ringws(backend) => start_ringws(backend),
            Spec::Binary(bin, args) => spawn_binary(bin, args),
            Spec::Peer(p) => start_peer(*p),
        }
    }
}

/// The servers under test (see the module doc), started one at a time by
/// the caller so each is stopped before the next starts.
pub fn servers_under_test() -> Vec<Spec> {
    match std::env::var("RINGWS_TEST_SERVER") {
        Ok(s) if s == "peer:tungstenite" => vec![Spec::Peer(Peer::Tungstenite)],
        Ok(s) if s == "peer:fastwebsockets" => vec![Spec::Peer(Peer::FastWebSockets)],
        Ok(bin) if !bin.is_empty() => {
            let args =
                std::env::var("RINGWS_TEST_SERVER_ARGS").unwrap_or_else(|_| "--port {port}".into());
            vec![Spec::Binary(resolve(&bin), args)]
        }
        _ => {
            let mut v = vec![Spec::Ringws("epoll")];
            if io_uring_allowed() {
                v.push(Spec::Ringws("uring"));
            } else {
                eprintln!("SKIPPED backend uring: kernel.io_uring_disabled forbids io_uring here");
            }
            v
        }
    }
}

/// `kernel.io_uring_disabled` (Linux 6.6+): 0 allows io_uring for everyone.
pub fn io_uring_allowed() -> bool {
    std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled")
        .map(|v| v.trim() == "0")
        .unwrap_or(true)
}

fn free_port() -> u16 {
    // Racy by nature (another process may take it), acceptable on a test box.
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("pick a free port")
}

/// A relative path is taken from the workspace root (tests run in `tests/`).
fn resolve(bin: &str) -> String {
    let p = std::path::Path::new(bin);
    if p.is_absolute() || !bin.contains('/') {
        return bin.to_string();
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    root.join(p).to_string_lossy().into_owned()
}

/// The `ringws` binary: `$RINGWS_BIN`, else built (or found up to date) by
/// cargo in the target directory these tests were built in.
pub fn ringws_binary() -> String {
    if let Ok(bin) = std::env::var("RINGWS_BIN") {
        return resolve(&bin);
    }
    // The test executable lives in <target>/<profile>/deps/.
    let exe = std::env::current_exe().expect("current_exe");
    let profile_dir = exe
        .parent()
        .and_then(|d| d.parent())
        .expect("target layout");
    let target = profile_dir.parent().expect("target dir");
    let profile = profile_dir
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("debug");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "-q", "-p", "ringws", "--bin", "ringws"])
        .env("CARGO_TARGET_DIR", target)
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    if profile == "release" {
        cmd.arg("--release");
    }
    let status = cmd.status().expect("run cargo build --bin ringws");
    assert!(status.success(), "cargo build --bin ringws failed");
    profile_dir.join("ringws").to_string_lossy().into_owned()
}

/// Starts ringws with this backend (`auto`, `uring`, `epoll`) on a free port.
pub fn start_ringws(backend: &str) -> Server {
    let bin = ringws_binary();
    let mut server = spawn_binary(
        &bin,
        &format!("--bind 127.0.0.1:{{port}} --backend {backend} --subprotocol chat.v1"),
    );
    server.subprotocol = Some("chat.v1");
    server
}

/// A test CA and a server certificate it signed (for 127.0.0.1 and
/// localhost), written to a temporary directory removed on drop.
pub struct TestCa {
    pub dir: std::path::PathBuf,
    /// The CA certificate (PEM), for the clients to trust.
    pub ca: std::path::PathBuf,
    pub cert: std::path::PathBuf,
    pub key: std::path::PathBuf,
}

impl TestCa {
    pub fn new(tag: &str) -> TestCa {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
        let dir = std::env::temp_dir().join(format!("ringws-ca-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "ringws interop test CA");
        let ca_key = KeyPair::generate().unwrap();
        let ca = params.self_signed(&ca_key).unwrap();
        let params =
            CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
        let t = TestCa {
            ca: dir.join("ca.pem"),
            cert: dir.join("server.pem"),
            key: dir.join("server.key"),
            dir,
        };
        std::fs::write(&t.ca, ca.pem()).unwrap();
        std::fs::write(&t.cert, cert.pem()).unwrap();
        std::fs::write(&t.key, key.serialize_pem()).unwrap();
        t
    }
}

impl Drop for TestCa {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Starts ringws serving wss:// with `ca`'s certificate on a free port
/// (`url` is `wss://127.0.0.1:PORT/`).
pub fn start_ringws_tls(backend: &str, ca: &TestCa) -> Server {
    let bin = ringws_binary();
    let mut server = spawn_binary(
        &bin,
        &format!(
            "--bind 127.0.0.1:{{port}} --backend {backend} --subprotocol chat.v1 --tls-cert {} --tls-key {}",
            ca.cert.display(),
            ca.key.display()
        ),
    );
    server.url = format!("wss://127.0.0.1:{}/", server.port);
    server.name = format!("ringws wss {backend}");
    server.subprotocol = Some("chat.v1");
    server
}

/// The ringws backends to test (`epoll`, and `uring` where allowed).
pub fn ringws_backends() -> Vec<&'static str> {
    let mut v = vec!["epoll"];
    if io_uring_allowed() {
        v.push("uring");
    }
    v
}

/// Spawns `bin` with `args` (`{port}` replaced by a free port) and waits
/// until it listens.
pub fn spawn_binary(bin: &str, args: &str) -> Server {
    let port = free_port();
    let args: Vec<String> = args
        .split_whitespace()
        .map(|a| a.replace("{port}", &port.to_string()))
        .collect();
    let mut child = Command::new(bin)
        .args(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("start {bin}: {e}"));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{bin} {args:?} exited before listening: {status}");
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{bin} {args:?} did not listen on port {port} within 20 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Server {
        url: format!("ws://127.0.0.1:{port}/"),
        port,
        name: format!(
            "{} {}",
            bin.rsplit('/').next().unwrap_or(bin),
            args.join(" ")
        ),
        subprotocol: None,
        child: Some(child),
    }
}

/// Runs a client program with a deadline; returns (success, stdout, stderr).
/// A client still running at the deadline is killed and reported as failed.
pub fn run_client(cmd: &mut Command, timeout: Duration) -> (bool, String, String) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start {cmd:?}: {e}"));
    let deadline = Instant::now() + timeout;
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut out, &mut s);
        s
    });
    let err_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut err, &mut s);
        s
    });
    let ok = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status.success(),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                break false;
            }
        }
    };
    (
        ok,
        out_t.join().unwrap_or_default(),
        err_t.join().unwrap_or_default(),
    )
}

/// Checks a client's JSON summary: prints every check, asserts `ok`.
pub fn assert_client_ok(who: &str, server: &Server, ok: bool, stdout: &str, stderr: &str) {
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'));
    let report: Option<serde_json::Value> = line.and_then(|l| serde_json::from_str(l).ok());
    let Some(report) = report else {
        panic!("{who} against {}: no JSON summary (exit ok={ok})\nstdout:\n{stdout}\nstderr:\n{stderr}", server.name);
    };
    if let Some(results) = report["results"].as_object() {
        for (name, r) in results {
            eprintln!(
                "{who} vs {}: {name}: ok={} {}",
                server.name,
                r["ok"],
                r["detail"].as_str().unwrap_or("")
            );
        }
    }
    assert!(
        ok && report["ok"] == serde_json::Value::Bool(true),
        "{who} against {} failed: {}\nstderr:\n{stderr}",
        server.name,
        report["failures"]
    );
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
