//! Tools for the memory tests: the real `ringws` binary as a subprocess,
//! its RSS from `/proc`, raw-socket peers that announce large frames and
//! send little, and a check that the server has read everything sent to it
//! (its sockets' receive queues in `/proc/net/tcp` are empty).
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The spawned binary, killed if the test fails before [`Spawned::stop`].
pub struct Spawned {
    pub child: Child,
    pub addr: SocketAddr,
    /// Lines the binary printed after its ready line.
    pub lines: mpsc::Receiver<String>,
}

impl Drop for Spawned {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Spawned {
    /// Start `ringws` with `args` on an ephemeral port, one worker, no
    /// idle timeout (the tests decide when peers go).
    pub fn start(backend: &str, args: &[&str], env: &[(&str, &str)]) -> Spawned {
        // RINGWS_BIN: another build (perf/memory-probes.sh passes the
        // release binary).
        let bin =
            std::env::var("RINGWS_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_ringws").into());
        let mut cmd = Command::new(bin);
        cmd.args([
            "--bind",
            "127.0.0.1:0",
            "--workers",
            "1",
            "--backend",
            backend,
        ])
        .args(["--idle-timeout", "0", "--log", "info"])
        .args(args)
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn ringws");
        let out = BufReader::new(child.stdout.take().unwrap());
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in out.lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(20);
        let addr = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = rx.recv_timeout(left).expect("no ready line from ringws");
            if let Some(i) = line.find("ws://") {
                let a = line[i + 5..].split('/').next().unwrap().to_string();
                break a.parse().unwrap();
            }
        };
        Spawned {
            child,
            addr,
            lines: rx,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's resident set, in bytes.
    pub fn rss(&self) -> u64 {
        rss_of(self.pid())
    }

    /// SIGTERM, wait for the exit, and return its last lines (the exit
    /// report).
    pub fn stop(mut self) -> Vec<String> {
        // SAFETY: kill takes plain integers.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let mut lines = Vec::new();
        while let Ok(l) = self.lines.recv_timeout(Duration::from_millis(500)) {
            lines.push(l);
        }
        lines
    }
}

/// `VmRSS` of `pid`, in bytes.
pub fn rss_of(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read status");
    let line = s
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .expect("VmRSS line");
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .expect("VmRSS value");
    kib * 1024
}

/// The value of `key=NUMBER` in the exit report lines, if present.
pub fn report_value(lines: &[String], key: &str) -> Option<u64> {
    let pat = format!("{key}=");
    lines.iter().rev().find_map(|l| {
        let i = l.find(&pat)?;
        let rest = &l[i + pat.len()..];
        rest.split(|c: char| !c.is_ascii_digit())
            .next()?
            .parse()
            .ok()
    })
}

const UPGRADE: &[u8] = b"GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
Sec-WebSocket-Version: 13\r\n\r\n";

/// Open `n` WebSocket connections with raw upgrade requests (all requests
/// written first, then all answers read). Each item: the socket and the
/// HTTP status it got (101 = upgraded).
pub fn upgrade_many(addr: SocketAddr, n: usize) -> Vec<(TcpStream, u16)> {
    let mut socks: Vec<TcpStream> = (0..n)
        .map(|_| {
            let s = TcpStream::connect(addr).expect("connect");
            s.set_nodelay(true).unwrap();
            s
        })
        .collect();
    for s in &mut socks {
        s.write_all(UPGRADE).expect("write upgrade");
    }
    socks
        .into_iter()
        .map(|mut s| {
            let status = read_status(&mut s);
            (s, status)
        })
        .collect()
}

/// Reads an HTTP response head and returns its status (0 if the socket
/// closed or timed out first).
pub fn read_status(s: &mut TcpStream) -> u16 {
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match s.read(&mut b) {
            Ok(1) => head.push(b[0]),
            _ => return 0,
        }
    }
    let text = String::from_utf8_lossy(&head);
    text.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// The header of a masked binary frame (FIN set) announcing `len` bytes;
/// the key is 0, so payload bytes go on the wire as they are.
pub fn big_header(len: u64) -> Vec<u8> {
    let mut h = vec![0x82, 0x80 | 127];
    h.extend_from_slice(&len.to_be_bytes());
    h.extend_from_slice(&[0, 0, 0, 0]);
    h
}

/// Total bytes waiting in the receive queues of the established TCP
/// sockets whose local port is `port` (the server's side), and how many
/// such sockets there are.
pub fn server_rx_queued(port: u16) -> (u64, usize) {
    let mut total = 0;
    let mut socks = 0;
    for file in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(s) = std::fs::read_to_string(file) else {
            continue;
        };
        for line in s.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 5 || f[3] != "01" {
                continue;
            }
            let local_port = f[1]
                .rsplit(':')
                .next()
                .and_then(|p| u16::from_str_radix(p, 16).ok());
            if local_port != Some(port) {
                continue;
            }
            let rx = f[4]
                .split(':')
                .nth(1)
                .and_then(|q| u64::from_str_radix(q, 16).ok())
                .unwrap_or(0);
            total += rx;
            socks += 1;
        }
    }
    (total, socks)
}

/// Waits until the server has read everything sent to it (its sockets'
/// receive queues are empty) or `within` passes; returns whether it has.
pub fn server_read_all(port: u16, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if server_rx_queued(port).0 == 0 {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Polls `f` every 50 ms until it returns `true` or `within` passes;
/// returns the last answer.
pub fn poll_until(within: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Raises this process's soft open-files limit to its hard limit.
pub fn raise_nofile() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit; setrlimit reads one.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        lim.rlim_cur = lim.rlim_max.min(1 << 20);
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
    }
}

pub const MIB: u64 = 1 << 20;

/// A count from the environment (perf/memory-probes.sh scales the tests up
/// to the full-size probes), or `default`.
pub fn env_or(key: &str, default: u64) -> u64 {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
