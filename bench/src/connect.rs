//! The `connect` scenario: a handshake storm. Each thread keeps `concurrency`
//! handshakes in flight; each connection upgrades, then either closes with a
//! WebSocket close handshake (`--close ws`) or drops the TCP connection at once
//! (`--close tcp`), and is replaced by a new one.

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::client::{Client, Incoming};
use crate::driver::{Backend, ConnectOptions, Driver, Event};
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
    /// Client transport.
    pub backend: Backend,
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

fn open(p: &ConnectParams, driver: &mut Driver, token: usize, seed: u64) -> io::Result<Slot> {
    // Linger 0: closing sends RST, so the client leaves no TIME_WAIT behind and
    // a long storm does not run out of ephemeral ports.
    let opts = ConnectOptions { linger_zero: true };
    Ok(Slot {
        client: Client::start(driver, token, p.addr, &p.host, &p.path, seed, opts)?,
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
    let mut driver = Driver::new(p.backend, p.concurrency)?;
    let window = sync.wait_start();
    let mut seed = (thread as u64 + 1) << 40;
    let mut slots: Vec<Option<Slot>> = Vec::with_capacity(p.concurrency);
    for i in 0..p.concurrency {
        seed += 1;
        slots.push(Some(open(p, &mut driver, i, seed)?));
    }
    let mut finished: Vec<usize> = Vec::new();
    let mut dirty: Vec<usize> = Vec::new();
    while Instant::now() < window.measure_to {
        driver.poll(Some(Duration::from_millis(20)), |ev| {
            let i = ev.token();
            let Some(slot) = slots[i].as_mut() else {
                return;
            };
            let mut failed = false;
            let mut server_closed = false;
            match ev {
                Event::Data(_, bytes) => {
                    let res = slot.client.on_bytes(bytes, |m| {
                        if let Incoming::Close(_) = m {
                            server_closed = true;
                        }
                    });
                    failed |= res.is_err();
                }
                Event::Sent(_) => {}
                // EOF ends the connection; an error is a failure.
                Event::Closed(_, None) => slot.client.closed = true,
                Event::Closed(_, Some(_)) => failed = true,
            }
            if slot.client.open && !slot.upgraded {
                slot.upgraded = true;
                let t = Instant::now();
                if window.contains(t) {
                    rec.record(t.duration_since(slot.started).as_nanos() as u64);
                }
                match p.close {
                    CloseMode::Tcp => finished.push(i),
                    CloseMode::Ws => slot.client.queue_close(),
                }
            }
            if server_closed || (slot.client.closed && slot.upgraded) {
                finished.push(i);
            } else if failed || slot.client.closed {
                if window.contains(Instant::now()) {
                    rec.errors += 1;
                }
                finished.push(i);
            } else if slot.client.pending() > 0 {
                dirty.push(i);
            }
        })?;
        for i in dirty.drain(..) {
            let Some(slot) = slots[i].as_mut() else {
                continue;
            };
            if !finished.contains(&i) && slot.client.flush(&mut driver).is_err() {
                if window.contains(Instant::now()) {
                    rec.errors += 1;
                }
                finished.push(i);
            }
        }
        finished.sort_unstable();
        finished.dedup();
        for i in finished.drain(..) {
            if slots[i].take().is_some() {
                driver.close(i);
            }
            if Instant::now() < window.measure_to {
                seed += 1;
                slots[i] = Some(open(p, &mut driver, i, seed)?);
            }
        }
    }
    Ok(())
}
