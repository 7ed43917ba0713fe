//! The `connect` scenario: a handshake storm. Each thread keeps `concurrency`
//! handshakes in flight; each connection upgrades, then either closes with a
//! WebSocket close handshake (`--close ws`) or drops the TCP connection at once
//! (`--close tcp`), and is replaced by a new one.

use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll, Token};

use crate::client::{Client, Incoming};
use crate::run::RunSync;
use crate::stats::Recorder;

/// How a connection ends once upgraded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
pub enum CloseMode {
    /// Close frame, wait for the server's close, then drop.
    Ws,
    /// Drop the TCP connection right after the 101 (RST, no TIME_WAIT).
    Tcp,
}

/// Parameters of a connect storm.
#[derive(Clone, Debug)]
pub struct ConnectParams {
    /// Server address.
    pub addr: SocketAddr,
    /// Host header value.
    pub host: String,
    /// Request path.
    pub path: String,
    /// Handshakes in flight per thread.
    pub concurrency: usize,
    /// How upgraded connections end.
    pub close: CloseMode,
}

struct Slot {
    client: Client,
    started: Instant,
    upgraded: bool,
}

/// Runs the storm on this thread; `completed` counts upgrades in the window.
pub fn connect_thread(p: &ConnectParams, thread: usize, sync: &RunSync) -> Recorder {
    let mut rec = Recorder::default();
    if let Err(e) = connect_inner(p, thread, sync, &mut rec) {
        eprintln!("connect thread {thread}: {e}");
        rec.errors += 1;
    }
    rec
}

fn open(p: &ConnectParams, poll: &Poll, token: usize, seed: u64) -> io::Result<Slot> {
    let mut client = Client::connect(p.addr, &p.host, &p.path, seed)?;
    // Linger 0: closing sends RST, so the client leaves no TIME_WAIT behind and
    // a long storm does not run out of ephemeral ports.
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: the fd is a live socket owned by `client`; the option value is a
    // properly sized `linger` struct on the stack.
    unsafe {
        libc::setsockopt(
            client.stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
    poll.registry().register(
        &mut client.stream,
        Token(token),
        Interest::READABLE | Interest::WRITABLE,
    )?;
    Ok(Slot {
        client,
        started: Instant::now(),
        upgraded: false,
    })
}

fn connect_inner(
    p: &ConnectParams,
    thread: usize,
    sync: &RunSync,
    rec: &mut Recorder,
) -> io::Result<()> {
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(1024);
    let mut buf = vec![0u8; 16 * 1024];
    let window = sync.wait_start();
    let mut seed = (thread as u64 + 1) << 40;
    let mut slots: Vec<Option<Slot>> = Vec::with_capacity(p.concurrency);
    for i in 0..p.concurrency {
        seed += 1;
        slots.push(Some(open(p, &poll, i, seed)?));
    }
    while Instant::now() < window.measure_to {
        poll.poll(&mut events, Some(Duration::from_millis(20)))?;
        let mut finished: Vec<usize> = Vec::new();
        for ev in events.iter() {
            let i = ev.token().0;
            let Some(slot) = slots[i].as_mut() else {
                continue;
            };
            let mut failed = slot.client.flush().is_err();
            let mut server_closed = false;
            if ev.is_readable() || ev.is_read_closed() {
                let res = slot.client.read_ready(&mut buf, |m| {
                    if let Incoming::Close(_) = m {
                        server_closed = true;
                    }
                });
                failed |= res.is_err();
            }
            if slot.client.open && !slot.upgraded {
                slot.upgraded = true;
                let t = Instant::now();
                if window.contains(t) {
                    rec.record(t.duration_since(slot.started).as_nanos() as u64);
                }
                match p.close {
                    CloseMode::Tcp => finished.push(i),
                    CloseMode::Ws => {
                        slot.client.queue_close();
                        failed |= slot.client.flush().is_err();
                    }
                }
            }
            if server_closed || (slot.client.closed && slot.upgraded) {
                finished.push(i);
            } else if failed || slot.client.closed {
                if window.contains(Instant::now()) {
                    rec.errors += 1;
                }
                finished.push(i);
            }
        }
        finished.sort_unstable();
        finished.dedup();
        for i in finished {
            if let Some(mut old) = slots[i].take() {
                let _ = poll.registry().deregister(&mut old.client.stream);
            }
            if Instant::now() < window.measure_to {
                seed += 1;
                slots[i] = Some(open(p, &poll, i, seed)?);
            }
        }
    }
    Ok(())
}
