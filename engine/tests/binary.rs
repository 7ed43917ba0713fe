//! The `ringws` binary end to end: flags, broadcast mode, SIGTERM → 1001.

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

/// The spawned binary; killed if a test fails before `stop` (a panicking
/// test must not leave a server running).
struct Spawned(std::process::Child);

impl Drop for Spawned {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn run(backend: &str, mode: &str) -> (Spawned, SocketAddr) {
    run_with(backend, mode, None)
}

/// `soft_nofile`: start the binary with this soft open-files limit (the hard
/// limit unchanged).
fn run_with(backend: &str, mode: &str, soft_nofile: Option<u64>) -> (Spawned, SocketAddr) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ringws"));
    if let Some(soft) = soft_nofile {
        use std::os::unix::process::CommandExt;
        // SAFETY: the closure runs in the forked child before exec and only
        // calls getrlimit/setrlimit, which are async-signal-safe.
        unsafe {
            cmd.pre_exec(move || set_soft_nofile(soft));
        }
    }
    let mut child = cmd
        .args([
            "--bind",
            "127.0.0.1:0",
            "--workers",
            "2",
            "--backend",
            backend,
            "--mode",
            mode,
        ])
        .args([
            "--log",
            "info",
            "--idle-timeout",
            "0",
            "--max-message-size",
            "1000",
        ])
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn ringws");
    let out = BufReader::new(child.stdout.take().unwrap());
    let child = Spawned(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in out.lines().map_while(Result::ok) {
            if let Some(i) = line.find("ws://") {
                let addr = line[i + 5..].split('/').next().unwrap().to_string();
                let _ = tx.send(addr);
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("no ready line");
    (child, addr.parse().unwrap())
}

fn stop(mut child: Spawned, clients: &mut [Client]) {
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(child.0.id() as i32, libc::SIGTERM) };
    for c in clients.iter_mut() {
        match c.recv_data() {
            Some(Ev::Close(Some((1001, _)))) => {}
            other => panic!("expected 1001, got {other:?}"),
        }
        c.send_frame(true, ringws_codec::OpCode::Close, &[0x03, 0xe9]);
    }
    let status = child.0.wait().unwrap();
    assert!(status.success(), "{status:?}");
}

#[test]
fn echo_mode_and_sigterm() {
    for backend in ["epoll", "uring"] {
        if backend == "uring" && !uring_available() {
            eprintln!("skipping uring: unavailable");
            continue;
        }
        let (child, addr) = run(backend, "echo");
        let mut c = Client::connect(addr);
        c.send_text("hello");
        assert_eq!(c.recv_data(), Some(Ev::Text("hello".into())));
        // --max-message-size 1000 is in force.
        c.send_binary(&[0u8; 1001]);
        match c.recv_data() {
            Some(Ev::Close(Some((1009, _)))) => {}
            other => panic!("expected 1009, got {other:?}"),
        }
        // A plain GET gets a 426, not a hang.
        let resp = raw_http(addr, &[b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"]);
        assert!(resp.starts_with("HTTP/1.1 426"), "{resp}");
        let mut c = Client::connect(addr);
        stop(child, std::slice::from_mut(&mut c));
    }
}

#[test]
fn broadcast_mode() {
    let (child, addr) = run("auto", "broadcast");
    let mut clients: Vec<Client> = (0..6).map(|_| Client::connect(addr)).collect();
    // Both workers must know every connection before the publish.
    std::thread::sleep(Duration::from_millis(100));
    clients[0].send_text("to everyone");
    for c in &mut clients {
        assert_eq!(c.recv_data(), Some(Ev::Text("to everyone".into())));
    }
    stop(child, &mut clients);
}

#[test]
fn a_low_soft_open_files_limit_does_not_cap_connections() {
    // Started with a soft limit of 64 open files, the binary raises it to the
    // hard limit: 300 clients connect and echo. Without the raise, accepts
    // past ~60 descriptors fail with EMFILE and these clients hang.
    const CLIENTS: usize = 300;
    let hard = nofile_limit().rlim_max;
    if hard < 2 * CLIENTS as u64 {
        eprintln!("skipping: hard open-files limit {hard} too low");
        return;
    }
    // This test's own process needs a descriptor per client too.
    raise_nofile();
    let (child, addr) = run_with("auto", "echo", Some(64));
    let mut clients: Vec<Client> = (0..CLIENTS).map(|_| Client::connect(addr)).collect();
    for (i, c) in clients.iter_mut().enumerate() {
        c.send_text(&format!("client {i}"));
    }
    for (i, c) in clients.iter_mut().enumerate() {
        assert_eq!(c.recv_data(), Some(Ev::Text(format!("client {i}"))));
    }
    stop(child, &mut clients);
}
