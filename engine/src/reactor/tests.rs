//! Raw TCP echo through each backend: the reactor surface without WebSocket.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use super::*;

struct EchoConn {
    fd: RawFd,
    /// Bytes being sent; not touched while a send is in flight.
    out: Vec<u8>,
    /// Bytes received while `out` is in flight.
    next: Vec<u8>,
    inflight: bool,
    hdr: Box<(libc::msghdr, libc::iovec)>,
    open: bool,
}

fn start_send(r: &mut Reactor, slot: u32, c: &mut EchoConn) {
    if c.inflight {
        return;
    }
    if c.out.is_empty() {
        std::mem::swap(&mut c.out, &mut c.next);
    }
    if c.out.is_empty() {
        return;
    }
    c.inflight = true;
    c.hdr.1 = libc::iovec {
        iov_base: c.out.as_mut_ptr() as *mut _,
        iov_len: c.out.len(),
    };
    // SAFETY: all-zero is a valid msghdr.
    c.hdr.0 = unsafe { std::mem::zeroed() };
    c.hdr.0.msg_iov = &mut c.hdr.1;
    c.hdr.0.msg_iovlen = 1;
    // SAFETY: `out` is not touched while `inflight`, and `hdr` is boxed.
    unsafe { r.send(Token { slot, gen: 0 }, c.fd, &c.hdr.0) }.unwrap();
}

/// Echo `total` bytes from each of `clients` clients through `backend`.
fn echo(backend: Backend, clients: usize, total: usize, incremental: bool) {
    echo_with_pauses(backend, clients, total, incremental, None)
}

/// The echo; with `pause`, each client waits that long after each 10 KB it
/// writes, so the worker sees whole ticks without input (and trims).
fn echo_with_pauses(
    backend: Backend,
    clients: usize,
    total: usize,
    incremental: bool,
    pause: Option<Duration>,
) {
    // A small ring (8 × 4 KiB) so ENOBUFS and re-arming really happen, and,
    // consumed incrementally, buffers shared by several clients' reads.
    let cfg = ReactorConfig {
        sq_entries: 64,
        buf_count: 8,
        buf_size: 4096,
        tick: Duration::from_millis(20),
        incremental,
    };
    let mut r = match Reactor::new(backend, &cfg) {
        Ok(r) => r,
        Err(e) if backend == Backend::Uring => {
            eprintln!("skipping io_uring echo: {e}");
            return;
        }
        Err(e) => panic!("{e}"),
    };
    if backend == Backend::Uring && incremental {
        // The flag exists since Linux 6.12: there it must be on.
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        let mut v = release
            .split(|c: char| !c.is_ascii_digit())
            .map(|n| n.parse::<u32>().unwrap_or(0));
        let (major, minor) = (v.next().unwrap_or(0), v.next().unwrap_or(0));
        if (major, minor) >= (6, 12) {
            assert!(
                r.incremental_recv(),
                "IOU_PBUF_RING_INC not in use on {release}"
            );
        }
    } else {
        assert!(!r.incremental_recv());
    }
    let l = sys::reuseport_listener(
        "127.0.0.1:0".parse().unwrap(),
        128,
        backend == Backend::Epoll,
    )
    .unwrap();
    let addr = sys::local_addr(l).unwrap();
    r.arm_accept(l).unwrap();
    let handles: Vec<_> = (0..clients)
        .map(|i| {
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(addr).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                let data: Vec<u8> = (0..total).map(|j| (j * 7 + i) as u8).collect();
                let mut w = s.try_clone().unwrap();
                let d2 = data.clone();
                let wr = std::thread::spawn(move || {
                    for chunk in d2.chunks(10_000) {
                        w.write_all(chunk).unwrap();
                        if let Some(p) = pause {
                            std::thread::sleep(p);
                        }
                    }
                });
                let mut got = vec![0u8; total];
                s.read_exact(&mut got).unwrap();
                wr.join().unwrap();
                assert!(got == data, "echo mismatch");
            })
        })
        .collect();
    let mut conns: Vec<EchoConn> = Vec::new();
    let mut events = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    let (mut ticks, mut rearms, mut closed) = (0, 0, 0);
    while closed < clients {
        assert!(Instant::now() < deadline, "echo timed out");
        r.turn(&mut events, true).unwrap();
        for ev in events.drain(..) {
            match ev {
                Completion::Accepted(_, Ok(fd)) => {
                    let slot = conns.len() as u32;
                    // SAFETY: all-zero msghdr/iovec are valid placeholders.
                    let hdr = Box::new(unsafe { std::mem::zeroed() });
                    conns.push(EchoConn {
                        fd,
                        out: Vec::new(),
                        next: Vec::new(),
                        inflight: false,
                        hdr,
                        open: true,
                    });
                    r.arm_recv(Token { slot, gen: 0 }, fd).unwrap();
                }
                Completion::Accepted(_, Err(e)) => panic!("accept errno {e}"),
                Completion::Data { token, buf } => {
                    let c = &mut conns[token.slot as usize];
                    // SAFETY: the slice is dropped before the recycle below.
                    c.next.extend_from_slice(unsafe { buf.bytes() });
                    r.recycle(buf);
                    start_send(&mut r, token.slot, c);
                }
                Completion::RecvEnded { token, end } => {
                    let c = &mut conns[token.slot as usize];
                    if end == RecvEnd::Rearm {
                        rearms += 1;
                        r.arm_recv(token, c.fd).unwrap();
                    } else if c.open {
                        assert_eq!(end, RecvEnd::Eof);
                        c.open = false;
                        closed += 1;
                    }
                }
                Completion::Sent { token, result } => {
                    let c = &mut conns[token.slot as usize];
                    let n = result.expect("send failed");
                    c.out.drain(..n);
                    c.inflight = false;
                    start_send(&mut r, token.slot, c);
                }
                Completion::Tick => ticks += 1,
                Completion::Wake => {}
                Completion::Direct { .. } => unreachable!("no direct receives here"),
            }
        }
    }
    for h in handles {
        h.join().unwrap();
    }
    for c in &conns {
        sys::close(c.fd);
    }
    sys::close(l);
    eprintln!(
        "{backend}: {clients} clients × {total} B echoed; ticks {ticks}, re-arms {rearms}, trims {}",
        r.trims()
    );
    if pause.is_some() && backend == Backend::Uring {
        assert!(
            r.trims() > 0,
            "an idle worker never returned its buffer pages"
        );
    }
}

#[test]
fn uring_raw_echo() {
    echo(Backend::Uring, 8, 300_000, false);
}

#[test]
fn uring_raw_echo_incremental_buffers() {
    echo(Backend::Uring, 8, 300_000, true);
}

#[test]
fn uring_raw_echo_with_idle_trims() {
    // Pauses of 3 ticks between writes: the buffers' pages are returned to
    // the kernel while idle, and the echo is still byte for byte.
    echo_with_pauses(
        Backend::Uring,
        4,
        60_000,
        true,
        Some(Duration::from_millis(60)),
    );
}

#[test]
fn epoll_raw_echo() {
    echo(Backend::Epoll, 8, 300_000, false);
}

#[test]
fn auto_probe_picks_a_backend() {
    let (b, why) = choose_backend(Backend::Auto);
    assert_ne!(b, Backend::Auto);
    eprintln!("auto → {b}: {why}");
}
