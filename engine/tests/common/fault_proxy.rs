//! A fault-injecting TCP proxy for tests (this kernel has no `netem`): a
//! real client connects to the proxy, the proxy to the real server, on
//! loopback; bytes from the client to the server pass through a [`Fault`],
//! bytes back pass unchanged. Each connection is two threads; everything
//! stops when the proxy is dropped.

#![allow(dead_code)]

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What happens to the bytes from the client to the server.
#[derive(Clone, Copy, Debug)]
pub enum Fault {
    /// Passed on as they come.
    None,
    /// Each read passed on this much later.
    Latency(Duration),
    /// At most this many bytes per second.
    Throttle(u64),
    /// The first `after` bytes pass, then nothing for `stall`, then the rest.
    Stall { after: usize, stall: Duration },
    /// The first `after` bytes pass, then both directions are closed (a
    /// FIN to the server in the middle of whatever it was reading).
    Cut { after: usize },
    /// The first `after` bytes pass, then the server's side is reset (RST).
    Reset { after: usize },
    /// The first `after` bytes pass, then the proxy half-closes toward the
    /// server (FIN) and keeps passing the server's bytes to the client.
    HalfClose { after: usize },
}

pub struct FaultProxy {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    /// Connections accepted so far.
    pub accepted: Arc<AtomicU64>,
}

impl FaultProxy {
    pub fn start(upstream: SocketAddr, fault: Fault) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let accepted = Arc::new(AtomicU64::new(0));
        let (s, a) = (stop.clone(), accepted.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((client, _)) => {
                        a.fetch_add(1, Ordering::Relaxed);
                        let s = s.clone();
                        std::thread::spawn(move || pump_pair(client, upstream, fault, s));
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(2))
                    }
                    Err(_) => break,
                }
            }
        });
        FaultProxy {
            addr,
            stop,
            accepted,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn pump_pair(client: TcpStream, upstream: SocketAddr, fault: Fault, stop: Arc<AtomicBool>) {
    let Ok(server) = TcpStream::connect(upstream) else {
        return;
    };
    let _ = server.set_nodelay(true);
    let _ = client.set_nodelay(true);
    // Server → client: unchanged, until either side ends.
    let (mut from_s, mut to_c) = (server.try_clone().unwrap(), client.try_clone().unwrap());
    let st = stop.clone();
    // Set once the client → server side is done; a reset needs this side's
    // copy of the socket closed too before the kernel sends the RST.
    let done = Arc::new(AtomicBool::new(false));
    let d = done.clone();
    let back = std::thread::spawn(move || {
        let _ = from_s.set_read_timeout(Some(Duration::from_millis(50)));
        let mut buf = vec![0u8; 64 << 10];
        let let_go = || d.load(Ordering::Relaxed) && reset_pending(&fault);
        while !st.load(Ordering::Relaxed) && !let_go() {
            match from_s.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    if to_c.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(_) => break,
            }
        }
        let _ = to_c.shutdown(Shutdown::Write);
    });
    forward(client, server, fault, &stop);
    done.store(true, Ordering::Relaxed);
    let _ = back.join();
}

/// Whether the fault ends in a reset (the back pump must let go then).
fn reset_pending(fault: &Fault) -> bool {
    matches!(fault, Fault::Reset { .. })
}

/// Client → server through the fault.
fn forward(mut client: TcpStream, mut server: TcpStream, fault: Fault, stop: &AtomicBool) {
    let _ = client.set_read_timeout(Some(Duration::from_millis(100)));
    let mut buf = vec![0u8; 16 << 10];
    let mut passed = 0usize;
    let start = Instant::now();
    let mut stalled = false;
    while !stop.load(Ordering::Relaxed) {
        // How much may pass now.
        let max = match fault {
            Fault::Stall { after, .. }
            | Fault::Cut { after }
            | Fault::Reset { after }
            | Fault::HalfClose { after }
                if passed < after =>
            {
                (after - passed).min(buf.len())
            }
            Fault::Stall { stall, .. } if !stalled => {
                stalled = true;
                sleep_unless_stopped(stall, stop);
                continue;
            }
            Fault::Cut { .. } => {
                let _ = server.shutdown(Shutdown::Both);
                let _ = client.shutdown(Shutdown::Both);
                return;
            }
            Fault::Reset { .. } => {
                reset(&server);
                drop(server);
                let _ = client.shutdown(Shutdown::Both);
                return;
            }
            Fault::HalfClose { .. } => {
                let _ = server.shutdown(Shutdown::Write);
                // Keep the client's socket open; the other pump carries
                // the server's answer until it closes.
                sleep_unless_stopped(Duration::from_secs(30), stop);
                return;
            }
            Fault::Throttle(rate) => {
                // Bytes allowed by now, in slices of 1/20 s.
                let allowed = (start.elapsed().as_secs_f64() * rate as f64) as usize;
                if allowed <= passed {
                    std::thread::sleep(Duration::from_millis(50));
                    continue;
                }
                (allowed - passed)
                    .min(buf.len())
                    .min((rate as usize / 20).max(1))
            }
            _ => buf.len(),
        };
        match client.read(&mut buf[..max]) {
            Ok(0) => {
                let _ = server.shutdown(Shutdown::Write);
                return;
            }
            Ok(n) => {
                if let Fault::Latency(d) = fault {
                    std::thread::sleep(d);
                }
                if server.write_all(&buf[..n]).is_err() {
                    return;
                }
                passed += n;
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => {
                let _ = server.shutdown(Shutdown::Write);
                return;
            }
        }
    }
}

fn sleep_unless_stopped(d: Duration, stop: &AtomicBool) {
    let until = Instant::now() + d;
    while Instant::now() < until && !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Close with SO_LINGER 0: the peer gets an RST.
fn reset(s: &TcpStream) {
    use std::os::fd::AsRawFd;
    let l = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: a valid socket and a correctly sized linger struct.
    unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            &l as *const libc::linger as *const libc::c_void,
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
}
