//! The `echo` scenario: N connections send messages of S bytes and check every
//! echo; closed loop (D messages in flight per connection, as fast as the
//! server answers) or open loop (a fixed total rate, latency measured from the
//! intended send time so that a stall cannot hide behind fewer sends).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ringws_codec::OpCode;

use crate::client::{pump, Client, Incoming};
use crate::driver::{Backend, ConnectOptions, Driver, Event};
use crate::payload;
use crate::run::{RunSync, Window};
use crate::stats::Recorder;

/// Parameters of one echo run, shared by all threads.
#[derive(Clone, Debug)]
pub struct EchoParams {
    /// Server address.
    pub addr: SocketAddr,
    /// Host header value.
    pub host: String,
    /// Request path.
    pub path: String,
    /// Message size in bytes.
    pub size: usize,
    /// Messages in flight per connection (closed loop).
    pub depth: usize,
    /// Send binary frames (else text).
    pub binary: bool,
    /// Open loop: total messages per second over all connections.
    pub rate: Option<f64>,
    /// Total threads (to split the rate).
    pub threads: usize,
    /// Client transport.
    pub backend: Backend,
}

struct Conn {
    client: Client,
    /// Send instants (or intended send instants, open loop) of the echoes awaited, oldest first.
    inflight: VecDeque<Instant>,
    next_send: u64,
    next_recv: u64,
    /// Open loop: when the next message is due.
    due: Instant,
}

impl AsMut<Client> for Conn {
    fn as_mut(&mut self) -> &mut Client {
        &mut self.client
    }
}

/// How long a thread waits for its connections' handshakes before giving up on them.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// After the window, how long to wait for the server to answer our close.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// Runs the echo load for `conns` connections on this thread.
pub fn echo_thread(p: &EchoParams, thread: usize, conns: usize, sync: &RunSync) -> Recorder {
    let mut rec = Recorder::default();
    match echo_inner(p, thread, conns, sync, &mut rec) {
        Ok(()) => {}
        Err(e) => {
            eprintln!("load thread {thread}: {e}");
            rec.errors += 1;
        }
    }
    rec
}

fn echo_inner(
    p: &EchoParams,
    thread: usize,
    n: usize,
    sync: &RunSync,
    rec: &mut Recorder,
) -> io::Result<()> {
    let mut driver = Driver::new(p.backend, n)?;
    let opcode = if p.binary {
        OpCode::Binary
    } else {
        OpCode::Text
    };
    let mut conns = Vec::with_capacity(n);
    let mut failed_connect = false;
    for i in 0..n {
        let seed =
            ((thread as u64) << 32) ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xDEAD_BEEF;
        let client = Client::start(
            &mut driver,
            i,
            p.addr,
            &p.host,
            &p.path,
            seed,
            ConnectOptions::default(),
        )?;
        conns.push(Conn {
            client,
            inflight: VecDeque::new(),
            next_send: 0,
            next_recv: 0,
            due: Instant::now(),
        });
    }
    // Handshakes.
    let deadline = Instant::now() + CONNECT_TIMEOUT;
    let mut scratch = Vec::new();
    let mut dirty: Vec<usize> = Vec::new();
    while conns.iter().any(|c| !c.client.open && !c.client.closed) {
        if Instant::now() > deadline {
            failed_connect = true;
            break;
        }
        pump(
            &mut driver,
            Duration::from_millis(100),
            &mut conns,
            &mut dirty,
        )?;
    }
    let broken = conns
        .iter()
        .filter(|c| !c.client.open || c.client.closed)
        .count();
    if failed_connect || broken > 0 {
        rec.errors += broken as u64;
        eprintln!("load thread {thread}: {broken} of {n} connections failed to open");
    }
    let window = sync.wait_start();
    let per_conn_interval = p
        .rate
        .map(|r| Duration::from_secs_f64(n.max(1) as f64 * p.threads as f64 / r));
    let mut schedule: BinaryHeap<Reverse<(Instant, usize)>> = BinaryHeap::new();
    let now = Instant::now();
    for (i, c) in conns
        .iter_mut()
        .enumerate()
        .filter(|(_, c)| c.client.open && !c.client.closed)
    {
        match per_conn_interval {
            None => {
                for _ in 0..p.depth {
                    send_next(c, opcode, p.size, now, &mut scratch, &window, rec);
                }
                let _ = c.client.flush(&mut driver);
            }
            Some(iv) => {
                // Spread the connections' first sends over one interval.
                c.due = now + iv.mul_f64(i as f64 / n.max(1) as f64);
                schedule.push(Reverse((c.due, i)));
            }
        }
    }
    loop {
        let now = Instant::now();
        if now >= window.measure_to {
            break;
        }
        let mut timeout = window.measure_to - now;
        if let Some(Reverse((due, _))) = schedule.peek() {
            timeout = timeout.min(due.saturating_duration_since(now));
        }
        driver.poll(Some(timeout), |ev| {
            let i = ev.token();
            let c = &mut conns[i];
            if c.client.closed {
                return;
            }
            match ev {
                Event::Sent(_) => {}
                Event::Closed(..) => {
                    rec.errors += 1;
                    c.client.closed = true;
                    return;
                }
                Event::Data(_, bytes) => {
                    let mut got: u32 = 0;
                    let mut bad: u32 = 0;
                    let mut closed = false;
                    let t = Instant::now();
                    let (inflight, next_recv) = (&mut c.inflight, &mut c.next_recv);
                    let res = c.client.on_bytes(bytes, |m| match m {
                        Incoming::Message(data) => {
                            payload::fill(*next_recv, p.size, &mut scratch);
                            if data != scratch.as_slice() {
                                bad += 1;
                            }
                            *next_recv += 1;
                            let sent = inflight.pop_front().unwrap_or(t);
                            if window.contains(t) {
                                rec.record(t.duration_since(sent).as_nanos() as u64);
                                rec.bytes_in += data.len() as u64;
                            }
                            got += 1;
                        }
                        Incoming::Pong(_) => {}
                        Incoming::Close(_) => closed = true,
                    });
                    if window.contains(t) {
                        rec.mismatches += u64::from(bad);
                    }
                    if res.is_err() || closed || c.client.closed {
                        rec.errors += 1;
                        c.client.closed = true;
                        return;
                    }
                    if per_conn_interval.is_none() && t < window.measure_to {
                        for _ in 0..got {
                            send_next(c, opcode, p.size, t, &mut scratch, &window, &mut *rec);
                        }
                    }
                }
            }
            if c.client.pending() > 0 {
                dirty.push(i);
            }
        })?;
        // Open loop: send what is due, stamped with the intended time.
        let now = Instant::now();
        while let Some(&Reverse((due, i))) = schedule.peek() {
            if due > now {
                break;
            }
            schedule.pop();
            let iv = per_conn_interval.expect("schedule only in open loop");
            let c = &mut conns[i];
            if c.client.closed {
                continue;
            }
            send_next(c, opcode, p.size, due, &mut scratch, &window, rec);
            c.due = due + iv;
            schedule.push(Reverse((c.due, i)));
            dirty.push(i);
        }
        for i in dirty.drain(..) {
            let c = &mut conns[i];
            if !c.client.closed && c.client.flush(&mut driver).is_err() {
                rec.errors += 1;
                c.client.closed = true;
            }
        }
    }
    close_all(&mut driver, &mut conns)
}

fn send_next(
    c: &mut Conn,
    opcode: OpCode,
    size: usize,
    at: Instant,
    scratch: &mut Vec<u8>,
    w: &Window,
    rec: &mut Recorder,
) {
    payload::fill(c.next_send, size, scratch);
    c.client.queue(opcode, scratch);
    c.next_send += 1;
    c.inflight.push_back(at);
    if w.contains(at) {
        rec.bytes_out += size as u64;
    }
}

/// Sends a close to every open connection and waits (bounded) for the servers' closes.
/// `clients[token]` is connection `token` of `driver`.
pub fn close_all<C: AsMut<Client>>(driver: &mut Driver, clients: &mut [C]) -> io::Result<()> {
    for c in clients.iter_mut().map(AsMut::as_mut).filter(|c| !c.closed) {
        c.queue_close();
        if c.flush(driver).is_err() {
            c.closed = true;
        }
    }
    let deadline = Instant::now() + CLOSE_GRACE;
    let mut dirty = Vec::new();
    while clients.iter_mut().any(|c| !c.as_mut().closed) && Instant::now() < deadline {
        pump(driver, Duration::from_millis(50), clients, &mut dirty)?;
    }
    Ok(())
}
