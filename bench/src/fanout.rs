//! The `fanout` scenario: M subscribers on one topic, one publisher sending at
//! a fixed rate; latency from publish to each delivery. It drives a server that
//! broadcasts every message it receives to every connection (ringws
//! `--mode broadcast`, where the publisher is also one of the subscribers),
//! or one that publishes it to the other subscribers of the URL's topic
//! (ringws `--mode pubsub`). With more than one node (`--also URL`) the
//! subscribers are spread over the nodes round-robin and the publisher is
//! on the first: deliveries on the other nodes crossed the broker.
//!
//! Every payload starts with the intended publish time (16 hex digits of
//! nanoseconds since the window's start): all threads share one clock, so the
//! delivery latency is computed without any per-message bookkeeping.

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ringws_codec::OpCode;

use crate::client::{pump, Client, Incoming};
use crate::driver::{Backend, ConnectOptions, Driver, Event};
use crate::echo::close_all;
use crate::run::RunSync;
use crate::stats::Recorder;

/// Parameters of a fan-out run.
#[derive(Clone, Debug)]
pub struct FanoutParams {
    /// Server address.
    pub addr: SocketAddr,
    /// Host header value.
    pub host: String,
    /// Request path.
    pub path: String,
    /// Message size (≥ 16 bytes: the timestamp).
    pub size: usize,
    /// Publishes per second.
    pub rate: f64,
    /// Client transport.
    pub backend: Backend,
    /// Further nodes' (address, Host header, path): subscribers are spread
    /// over the first node and these.
    pub others: Vec<(SocketAddr, String, String)>,
}

/// Runs `subscribers` connections on this thread; thread 0's first connection also publishes.
pub fn fanout_thread(
    p: &FanoutParams,
    thread: usize,
    subscribers: usize,
    sync: &RunSync,
) -> Recorder {
    let mut rec = Recorder::default();
    if let Err(e) = fanout_inner(p, thread, subscribers, sync, &mut rec) {
        eprintln!("fanout thread {thread}: {e}");
        rec.errors += 1;
    }
    rec
}

fn fanout_inner(
    p: &FanoutParams,
    thread: usize,
    n: usize,
    sync: &RunSync,
    rec: &mut Recorder,
) -> io::Result<()> {
    let mut driver = Driver::new(p.backend, n)?;
    let mut clients = Vec::with_capacity(n);
    let nodes = 1 + p.others.len();
    for i in 0..n {
        // Thread 0's first connection (the publisher) is on the first node.
        let node = (thread * 7919 + i) % nodes;
        let (addr, host, path) = match node {
            0 => (p.addr, p.host.as_str(), p.path.as_str()),
            k => {
                let (a, h, pa) = &p.others[k - 1];
                (*a, h.as_str(), pa.as_str())
            }
        };
        clients.push(Client::start(
            &mut driver,
            i,
            addr,
            host,
            path,
            ((thread as u64) << 32) + i as u64 + 7,
            ConnectOptions::default(),
        )?);
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut dirty = Vec::new();
    while clients.iter().any(|c| !c.open && !c.closed) && Instant::now() < deadline {
        pump(
            &mut driver,
            Duration::from_millis(50),
            &mut clients,
            &mut dirty,
        )?;
    }
    rec.errors += clients.iter().filter(|c| !c.open || c.closed).count() as u64;
    let window = sync.wait_start();
    let publisher = thread == 0 && n > 0;
    let interval = Duration::from_secs_f64(1.0 / p.rate);
    let mut next_pub = window.start;
    let mut payload = vec![b'x'; p.size.max(16)];
    while Instant::now() < window.measure_to {
        let now = Instant::now();
        let timeout = if publisher {
            next_pub.saturating_duration_since(now)
        } else {
            window.measure_to - now
        };
        driver.poll(Some(timeout.min(Duration::from_millis(100))), |ev| {
            let i = ev.token();
            let c = &mut clients[i];
            if c.closed {
                return;
            }
            let bytes = match ev {
                Event::Data(_, bytes) => bytes,
                Event::Sent(_) => {
                    if c.pending() > 0 {
                        dirty.push(i);
                    }
                    return;
                }
                Event::Closed(..) => {
                    rec.errors += 1;
                    c.closed = true;
                    return;
                }
            };
            let t = Instant::now();
            let mut bad = 0u64;
            let res = c.on_bytes(bytes, |m| {
                if let Incoming::Message(data) = m {
                    let sent = data
                        .get(..16)
                        .and_then(|h| std::str::from_utf8(h).ok())
                        .and_then(|h| u64::from_str_radix(h, 16).ok());
                    match sent {
                        Some(ns) => {
                            let at = window.start + Duration::from_nanos(ns);
                            if window.contains(at) {
                                rec.record(t.saturating_duration_since(at).as_nanos() as u64);
                                rec.bytes_in += data.len() as u64;
                            }
                        }
                        None => bad += 1,
                    }
                }
            });
            rec.mismatches += bad;
            if res.is_err() || c.closed {
                rec.errors += 1;
                c.closed = true;
            } else if c.pending() > 0 {
                // Pongs.
                dirty.push(i);
            }
        })?;
        for i in dirty.drain(..) {
            let c = &mut clients[i];
            if !c.closed && c.flush(&mut driver).is_err() {
                rec.errors += 1;
                c.closed = true;
            }
        }
        if publisher && !clients[0].closed {
            let now = Instant::now();
            while next_pub <= now && next_pub < window.measure_to {
                let ns = next_pub.duration_since(window.start).as_nanos() as u64;
                payload[..16].copy_from_slice(format!("{ns:016x}").as_bytes());
                clients[0].queue(OpCode::Text, &payload);
                if window.contains(next_pub) {
                    rec.bytes_out += payload.len() as u64;
                }
                next_pub += interval;
            }
            if clients[0].flush(&mut driver).is_err() {
                rec.errors += 1;
                clients[0].closed = true;
            }
        }
    }
    close_all(&mut driver, &mut clients)
}
