//! A small blocking WebSocket client on std `TcpStream` (the codec's
//! `ClientHandshake`, `write_frame` with a mask and a client `Receiver`),
//! plus a test handler and a macro that runs a test on both backends.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ringws::{
    Accept, Backend, Builder, CloseCode, Conn, ConnId, Handler, Message, Reject, Request,
    ServerHandle,
};
use ringws_codec::{ClientHandshake, ClientStatus, Event, OpCode, Receiver, ReceiverConfig};

/// Run `$body` (a fn taking a `Backend`) as `uring` and `epoll` tests.
#[macro_export]
macro_rules! both_backends {
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;
            #[test]
            fn uring() {
                if !$crate::common::uring_available() {
                    eprintln!("skipping: io_uring unavailable on this kernel");
                    return;
                }
                ($body)(ringws::Backend::Uring);
            }
            #[test]
            fn epoll() {
                ($body)(ringws::Backend::Epoll);
            }
        }
    };
}

pub fn uring_available() -> bool {
    static ONCE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ONCE.get_or_init(|| {
        match ringws::Server::builder()
            .bind("127.0.0.1:0")
            .workers(1)
            .backend(Backend::Uring)
            .start(Echo::new())
        {
            Ok(h) => {
                h.shutdown(Duration::from_millis(10));
                true
            }
            Err(_) => false,
        }
    })
}

/// What the test handler reports.
#[derive(Debug, Clone, PartialEq)]
pub enum Report {
    Open(ConnId),
    Close(ConnId, u16, String),
    Drain(ConnId),
    /// Result of a "flood:<count>:<size>" request: statuses and the largest
    /// buffered amount seen.
    Flood {
        sent: usize,
        queued: usize,
        dropped: usize,
        max_buffered: usize,
    },
}

/// Echo handler: accepts `/` (and anything but `/forbidden`, which gets
/// 403), echoes messages; "close:<code>" asks the server to close.
#[derive(Clone)]
pub struct Echo {
    pub reports: Arc<Mutex<mpsc::Sender<Report>>>,
    pub rx: Arc<Mutex<mpsc::Receiver<Report>>>,
    /// Largest buffered amount seen after an echo.
    pub max_buffered: Arc<AtomicUsize>,
}

impl Echo {
    pub fn new() -> Self {
        let (tx, rx) = mpsc::channel();
        Self {
            reports: Arc::new(Mutex::new(tx)),
            rx: Arc::new(Mutex::new(rx)),
            max_buffered: Arc::new(AtomicUsize::new(0)),
        }
    }

    fn report(&self, r: Report) {
        let _ = self.reports.lock().unwrap().send(r);
    }

    /// Next report within `timeout`.
    pub fn next(&self, timeout: Duration) -> Option<Report> {
        self.rx.lock().unwrap().recv_timeout(timeout).ok()
    }
}

pub struct EchoState {
    /// Known from `on_open` on (`on_upgrade` runs before the id exists).
    id: Option<ConnId>,
}

impl Handler for Echo {
    type State = EchoState;

    fn on_upgrade(&self, request: &Request) -> Result<Accept<EchoState>, Reject> {
        if request.path() == "/forbidden" {
            return Err(Reject::new(403, "forbidden"));
        }
        let accept = Accept::new(EchoState { id: None });
        if request.protocols().iter().any(|p| p == "chat") {
            return Ok(accept.protocol("chat"));
        }
        if request.path() == "/bad-protocol" {
            // Choosing a subprotocol the client did not offer: refused (500).
            return Ok(accept.protocol("never-offered"));
        }
        Ok(accept)
    }

    fn on_open(&self, conn: &mut Conn<'_>, state: &mut EchoState) {
        state.id = Some(conn.id());
        self.report(Report::Open(conn.id()));
    }

    fn on_message(&self, conn: &mut Conn<'_>, _state: &mut EchoState, message: Message<'_>) {
        match message {
            Message::Text(t) if t.starts_with("close:") => {
                let code: u16 = t[6..].parse().unwrap();
                conn.close(CloseCode(code), "bye");
            }
            Message::Text(t) if t.starts_with("sub:") => {
                conn.subscribe(&t[4..]);
                conn.send_text("subscribed");
            }
            Message::Text(t) if t.starts_with("unsub:") => {
                conn.unsubscribe(&t[6..]);
                conn.send_text("unsubscribed");
            }
            Message::Text(t) if t.starts_with("pub:") => {
                let (topic, msg) = t[4..].split_once(':').unwrap();
                conn.publish(topic, Message::Text(msg));
            }
            Message::Text(t) if t.starts_with("flood:") => {
                let mut it = t[6..].split(':').map(|v| v.parse::<usize>().unwrap());
                let (count, size) = (it.next().unwrap(), it.next().unwrap());
                let payload = vec![0xabu8; size];
                let (mut sent, mut queued, mut dropped, mut max_buffered) = (0, 0, 0, 0);
                for _ in 0..count {
                    match conn.send_binary(&payload) {
                        ringws::SendStatus::Sent => sent += 1,
                        ringws::SendStatus::Queued => queued += 1,
                        ringws::SendStatus::Dropped => dropped += 1,
                    }
                    max_buffered = max_buffered.max(conn.buffered_amount());
                }
                self.report(Report::Flood {
                    sent,
                    queued,
                    dropped,
                    max_buffered,
                });
            }
            Message::Text(t) => {
                conn.send_text(t);
            }
            Message::Binary(b) => {
                conn.send_binary(b);
            }
        }
        self.max_buffered
            .fetch_max(conn.buffered_amount(), Ordering::Relaxed);
    }

    fn on_close(&self, state: EchoState, code: CloseCode, reason: &str) {
        if let Some(id) = state.id {
            self.report(Report::Close(id, code.0, reason.to_string()));
        }
    }

    fn on_drain(&self, conn: &mut Conn<'_>, _state: &mut EchoState) {
        self.report(Report::Drain(conn.id()));
    }
}

/// Start a server on a free port with `backend`, configured by `cfg`.
pub fn start<H: Handler>(
    backend: Backend,
    handler: H,
    cfg: impl FnOnce(Builder) -> Builder,
) -> ServerHandle {
    let b = ringws::Server::builder()
        .bind("127.0.0.1:0")
        .workers(1)
        .backend(backend)
        .pin_workers(false);
    cfg(b).start(handler).expect("server start")
}

/// An owned event, for assertions.
#[derive(Debug, Clone, PartialEq)]
pub enum Ev {
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<(u16, String)>),
}

pub struct Client {
    pub s: TcpStream,
    rx: Receiver,
    events: VecDeque<Ev>,
    pub eof: bool,
}

pub fn mask() -> Option<[u8; 4]> {
    Some([0x12, 0x34, 0x56, 0x78])
}

impl Client {
    /// Connect and complete the handshake for `path`.
    pub fn connect(addr: SocketAddr) -> Client {
        Self::connect_path(addr, "/").expect("handshake")
    }

    pub fn connect_path(addr: SocketAddr, path: &str) -> Result<Client, String> {
        Self::connect_with(addr, path, &[])
    }

    /// Connect to `path` with extra request headers (e.g. `Authorization`).
    pub fn connect_with(
        addr: SocketAddr,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Result<Client, String> {
        let mut s = TcpStream::connect(addr).map_err(|e| e.to_string())?;
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        s.set_nodelay(true).unwrap();
        let mut hs = ClientHandshake::new(&addr.to_string(), path);
        for (name, value) in headers {
            hs = hs.header(name, value);
        }
        let mut req = Vec::new();
        hs.write_request(&mut req);
        s.write_all(&req).map_err(|e| e.to_string())?;
        let mut c = Client {
            s,
            rx: Receiver::new(ReceiverConfig::client()),
            events: VecDeque::new(),
            eof: false,
        };
        let mut buf = vec![0u8; 4096];
        loop {
            let n = c.s.read(&mut buf).map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("eof during handshake".into());
            }
            match hs.feed(&buf[..n]).map_err(|e| format!("{e:?}"))? {
                ClientStatus::Partial => continue,
                ClientStatus::Complete { consumed, .. } => {
                    let mut rest = buf[consumed..n].to_vec();
                    c.ingest(&mut rest);
                    return Ok(c);
                }
            }
        }
    }

    fn ingest(&mut self, data: &mut [u8]) {
        let mut feed = self.rx.feed(data);
        while let Some(ev) = feed.next_event() {
            let ev = match ev.expect("server sent an invalid frame") {
                Event::Text(t) => Ev::Text(t.to_string()),
                Event::Binary(b) => Ev::Binary(b.to_vec()),
                Event::Ping(p) => Ev::Ping(p.to_vec()),
                Event::Pong(p) => Ev::Pong(p.to_vec()),
                Event::Close(c) => Ev::Close(c.map(|(c, r)| (c.0, r.to_string()))),
                Event::Compressed { .. } => panic!("compressed"),
            };
            self.events.push_back(ev);
        }
    }

    /// Send one masked frame.
    pub fn send_frame(&mut self, fin: bool, op: OpCode, payload: &[u8]) {
        let mut out = Vec::with_capacity(payload.len() + 14);
        ringws_codec::write_frame(&mut out, fin, op, payload, mask());
        self.s.write_all(&out).unwrap();
    }

    pub fn send_text(&mut self, t: &str) {
        self.send_frame(true, OpCode::Text, t.as_bytes());
    }

    pub fn send_binary(&mut self, b: &[u8]) {
        self.send_frame(true, OpCode::Binary, b);
    }

    /// Next event; `None` on EOF (or reset) with nothing pending.
    pub fn recv(&mut self) -> Option<Ev> {
        let mut buf = vec![0u8; 256 << 10];
        loop {
            if let Some(e) = self.events.pop_front() {
                return Some(e);
            }
            if self.eof {
                return None;
            }
            match self.s.read(&mut buf) {
                Ok(0) => self.eof = true,
                Ok(n) => self.ingest(&mut buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => self.eof = true,
                Err(e) => panic!("read: {e}"),
            }
        }
    }

    /// Next event that is not a ping or pong.
    pub fn recv_data(&mut self) -> Option<Ev> {
        loop {
            match self.recv()? {
                Ev::Ping(_) | Ev::Pong(_) => continue,
                e => return Some(e),
            }
        }
    }

    /// Read until EOF; true if the server closed the TCP connection.
    pub fn wait_eof(&mut self) -> bool {
        while self.recv().is_some() {}
        self.eof
    }
}

/// The server's connection count once it reaches zero, or when `within`
/// has passed (polled; `stats()` is published once per loop turn).
/// Wait (up to 2 s) for a counter the workers publish once per turn to
/// reach `at_least`; returns its last value.
pub fn counter_reaches(
    h: &ServerHandle,
    at_least: u64,
    read: impl Fn(&ringws::Stats) -> u64,
) -> u64 {
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    loop {
        let n = read(&h.stats());
        if n >= at_least || std::time::Instant::now() > deadline {
            return n;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

pub fn connections_after(h: &ServerHandle, within: Duration) -> u64 {
    let deadline = std::time::Instant::now() + within;
    while h.stats().connections > 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    h.stats().connections
}

/// Send raw bytes and read the whole HTTP response (until EOF).
pub fn raw_http(addr: SocketAddr, chunks: &[&[u8]]) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    for c in chunks {
        s.write_all(c).unwrap();
        std::thread::sleep(Duration::from_millis(2));
    }
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// This process's open-files limit (`rlim_cur` soft, `rlim_max` hard).
pub fn nofile_limit() -> libc::rlimit {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit into the variable we pass.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
    lim
}

/// Sets this process's soft open-files limit, the hard one unchanged. Only
/// getrlimit/setrlimit (async-signal-safe), so a `pre_exec` closure may call
/// it.
pub fn set_soft_nofile(soft: libc::rlim_t) -> io::Result<()> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit; setrlimit reads one initialised rlimit.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return Err(io::Error::last_os_error());
        }
        lim.rlim_cur = soft;
        if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Raises this process's soft open-files limit to the hard one (at most
/// 65,536): a test's clients need a descriptor each.
pub fn raise_nofile() {
    let hard = nofile_limit().rlim_max;
    set_soft_nofile(hard.min(65536)).expect("raise the open-files limit");
}
