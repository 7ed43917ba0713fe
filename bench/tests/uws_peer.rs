//! The uWebSockets peer (`bench/peers/uws`): `build.sh` builds it from the
//! pinned prebuilt library, and it echoes under the load generator, text and
//! binary, small and 64 KiB, with every payload checked: the comparison's
//! reference server works, and its C declarations match the library (a wrong
//! struct layout would crash it or garble echoes). Bounded: about a second
//! of load per size.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use ringws_bench::driver::Backend;
use ringws_bench::echo::{echo_thread, EchoParams};
use ringws_bench::run::{parse_url, run_threads};

/// A started `peer-uws`; killed on drop.
struct Peer(Child);

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Builds peer-uws into a test directory; `None` (the test says why) where
/// the prebuilt library cannot run (build.sh exits 2: not Linux x86-64).
fn build() -> Option<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("uws-peer");
    let status = Command::new("bash")
        .arg(root.join("bench/peers/uws/build.sh"))
        .arg(&out)
        .status()
        .expect("bash runs");
    if status.code() == Some(2) {
        eprintln!("skipping: no prebuilt uWebSockets for this platform");
        return None;
    }
    assert!(
        status.success(),
        "bench/peers/uws/build.sh failed: {status}"
    );
    Some(out.join("peer-uws"))
}

fn start(program: &PathBuf) -> (Peer, u16) {
    // A port the kernel just handed out and released: free unless raced.
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("ephemeral port")
        .port();
    let child = Command::new(program)
        .args(["--port", &port.to_string(), "--threads", "1"])
        .stdout(Stdio::null())
        .spawn()
        .expect("peer-uws starts");
    let mut peer = Peer(child);
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = peer.0.try_wait() {
            panic!("peer-uws exited at start: {status}");
        }
        assert!(Instant::now() < deadline, "peer-uws did not listen");
        thread::sleep(Duration::from_millis(20));
    }
    (peer, port)
}

#[test]
fn uws_peer_builds_and_echoes_every_payload() {
    let Some(program) = build() else { return };
    let (_peer, port) = start(&program);
    let (addr, host, path) = parse_url(&format!("ws://127.0.0.1:{port}/")).unwrap();
    for (size, binary) in [
        (16, true),
        (16, false),
        (64 * 1024, true),
        (64 * 1024, false),
    ] {
        let p = EchoParams {
            addr,
            host: host.clone(),
            path: path.clone(),
            size,
            depth: 4,
            binary,
            rate: None,
            threads: 1,
            backend: Backend::Epoll,
        };
        let (rec, _) = run_threads(
            1,
            Duration::from_millis(200),
            Duration::from_secs(1),
            None,
            |i, sync| echo_thread(&p, i, 20, sync),
        );
        let what = format!("{size} B binary={binary}");
        assert_eq!(rec.errors, 0, "{what}: errors");
        assert_eq!(rec.mismatches, 0, "{what}: mismatched echoes");
        assert!(rec.completed > 0, "{what}: nothing echoed");
        assert_eq!(rec.bytes_in, rec.completed * size as u64, "{what}");
    }
}
