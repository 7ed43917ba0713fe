//! Slow peers. Readers in fan-out: a subscriber that stops reading gets
//! its messages dropped at its send-buffer limit, every drop is counted
//! (per connection and in `Stats`), delivered + dropped adds up to what was
//! published for every subscriber, and the close policy closes the slow
//! one with 1008 without disturbing anyone else. Senders: a peer that
//! trickles a frame or a fragmented message past the message timeout is
//! closed with 1008; one that streams messages continuously is not.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::*;
use ringws::{Accept, Backend, CloseCode, Conn, Handler, Message, Reject, Request};
use ringws_codec::OpCode;

const TOPIC: &str = "feed";
/// Messages published, and their size: 20 MiB in all, far more than a
/// stalled reader's send-buffer limit (1 MiB) and socket buffers hold.
const COUNT: usize = 20_000;
const SIZE: usize = 1024;

#[derive(Debug)]
enum Role {
    Sub,
    Pub,
    Echo,
}

/// `/sub` subscribes to the feed and answers `drops?` with its
/// `dropped_sends`; what `/pub` sends is published to the subscribers;
/// `/echo` echoes.
struct Feed;

impl Handler for Feed {
    type State = Role;

    fn on_upgrade(&self, request: &Request) -> Result<Accept<Role>, Reject> {
        match request.path() {
            "/sub" => Ok(Accept::new(Role::Sub)),
            "/pub" => Ok(Accept::new(Role::Pub)),
            "/echo" => Ok(Accept::new(Role::Echo)),
            _ => Err(Reject::new(404, "no such path")),
        }
    }

    fn on_open(&self, conn: &mut Conn<'_>, role: &mut Role) {
        if let Role::Sub = role {
            assert!(conn.subscribe(TOPIC));
        }
    }

    fn on_message(&self, conn: &mut Conn<'_>, role: &mut Role, message: Message<'_>) {
        match role {
            Role::Pub => conn.publish_to_others(TOPIC, message),
            Role::Sub => {
                let n = conn.dropped_sends();
                conn.send_text(&format!("drops={n}"));
            }
            Role::Echo => {
                if let Message::Binary(b) = message {
                    conn.send_binary(b);
                }
            }
        }
    }
}

/// All `COUNT` numbered messages as one write.
fn published() -> Vec<u8> {
    let mut out = Vec::with_capacity(COUNT * (SIZE + 8));
    let mut payload = vec![0u8; SIZE];
    for i in 0..COUNT {
        payload[..8].copy_from_slice(&(i as u64).to_be_bytes());
        ringws_codec::write_frame(&mut out, true, OpCode::Binary, &payload, mask());
    }
    out
}

/// Waits (up to 60 s) until the server has received `n` messages.
fn received_all(h: &ringws::ServerHandle, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while h.stats().messages_in < n {
        assert!(
            Instant::now() < deadline,
            "the server received {} of {n} messages",
            h.stats().messages_in
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Reads numbered messages until the `drops=N` answer (or a close);
/// returns (messages, N or the close code).
fn read_feed(c: &mut Client) -> (usize, Result<u32, u16>) {
    let mut got = 0usize;
    let mut last: Option<u64> = None;
    loop {
        match c.recv_data() {
            Some(Ev::Binary(b)) => {
                assert_eq!(b.len(), SIZE);
                let seq = u64::from_be_bytes(b[..8].try_into().unwrap());
                assert!(
                    last.is_none_or(|l| seq > l),
                    "message {seq} after {last:?}: out of order or twice"
                );
                last = Some(seq);
                got += 1;
            }
            Some(Ev::Text(t)) => {
                let n = t.strip_prefix("drops=").expect("the drops answer");
                return (got, Ok(n.parse().unwrap()));
            }
            Some(Ev::Close(c)) => return (got, Err(c.map_or(1005, |(c, _)| c))),
            e => panic!("after {got} messages: {e:?}"),
        }
    }
}

/// Sends `drops?` on a clone of the client's socket (its reader keeps
/// reading on the original).
fn ask_drops(s: &TcpStream) {
    let mut out = Vec::new();
    ringws_codec::write_frame(&mut out, true, OpCode::Text, b"drops?", mask());
    (&*s).write_all(&out).unwrap();
}

fn counts_add_up(backend: Backend) {
    // Two workers: subscribers on both, publishes cross between them.
    let h = start(backend, Feed, |b| b.workers(2));
    let addr = h.local_addr();
    let readers: Vec<Client> = (0..4)
        .map(|_| Client::connect_path(addr, "/sub").unwrap())
        .collect();
    let stalled = Client::connect_path(addr, "/sub").unwrap();
    let mut publisher = Client::connect_path(addr, "/pub").unwrap();
    let sockets: Vec<TcpStream> = readers
        .iter()
        .chain([&stalled])
        .map(|c| c.s.try_clone().unwrap())
        .collect();
    let reading: Vec<_> = readers
        .into_iter()
        .map(|mut c| std::thread::spawn(move || read_feed(&mut c)))
        .collect();

    let data = published();
    publisher.s.write_all(&data).unwrap();
    received_all(&h, COUNT as u64);
    // Publishes reach the other worker through its inbox: wait until every
    // one has been queued or dropped for each of the 5 subscribers.
    let deadline = Instant::now() + Duration::from_secs(60);
    let spread = || {
        let s = h.stats();
        s.messages_out + s.sends_dropped
    };
    while spread() < 5 * COUNT as u64 {
        assert!(
            Instant::now() < deadline,
            "fan-out unfinished: {:?}",
            h.stats()
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    // Everything is published: each subscriber asks how many it lost; the
    // answer comes after everything queued for it.
    for s in &sockets {
        ask_drops(s);
    }
    let mut results: Vec<(usize, u32)> = reading
        .into_iter()
        .map(|t| {
            let (got, drops) = t.join().unwrap();
            (got, drops.expect("a reader was closed"))
        })
        .collect();
    let mut stalled = stalled;
    let (got, drops) = read_feed(&mut stalled);
    let stalled_drops = drops.expect("the stalled reader was closed");
    results.push((got, stalled_drops));

    let stats = h.stats();
    eprintln!("{backend:?}: (delivered, dropped) per subscriber {results:?}; {stats:?}");
    for (i, (got, drops)) in results.iter().enumerate() {
        assert_eq!(
            got + *drops as usize,
            COUNT,
            "subscriber {i}: {got} delivered + {drops} dropped"
        );
    }
    assert!(stalled_drops > 0, "the stalled reader dropped nothing");
    assert!(
        results[4].0 > 0,
        "the stalled reader got nothing before its limit"
    );
    let total: u64 = results.iter().map(|r| r.1 as u64).sum();
    assert_eq!(stats.sends_dropped, total, "Stats::sends_dropped");
    assert_eq!(stats.slow_closed, 0, "the default policy closes nobody");
    h.shutdown(Duration::from_secs(2));
}

both_backends!(
    delivered_and_dropped_add_up_for_every_subscriber,
    |backend| { counts_add_up(backend) }
);

fn close_policy(backend: Backend) {
    let h = start(backend, Feed, |b| {
        b.close_after_dropped_sends(Some(10))
            .close_timeout(Duration::from_secs(30))
    });
    let addr = h.local_addr();
    let mut stalled = Client::connect_path(addr, "/sub").unwrap();
    let mut echo = Client::connect_path(addr, "/echo").unwrap();
    let mut publisher = Client::connect_path(addr, "/pub").unwrap();

    publisher.s.write_all(&published()).unwrap();
    received_all(&h, COUNT as u64);

    let stats = h.stats();
    assert_eq!(stats.slow_closed, 1, "{stats:?}");
    // Nothing is counted once the close is queued.
    assert_eq!(stats.sends_dropped, 10, "{stats:?}");
    // The stalled reader gets what was queued before, then 1008.
    let (got, end) = read_feed(&mut stalled);
    eprintln!("{backend:?}: the stalled reader got {got}, then {end:?}");
    assert_eq!(end, Err(CloseCode::POLICY.0));
    assert!(got > 0 && got < COUNT);
    // The others carry on.
    echo.send_binary(b"still here");
    assert_eq!(echo.recv_data(), Some(Ev::Binary(b"still here".to_vec())));
    publisher.send_binary(&[7u8; SIZE]);
    received_all(&h, COUNT as u64 + 2);
    assert_eq!(h.stats().slow_closed, 1);
    h.shutdown(Duration::from_secs(2));
}

both_backends!(the_close_policy_closes_only_the_slow_reader, |backend| {
    close_policy(backend)
});

/// A server (echo on `/echo`) with a 400 ms message timeout.
fn timed(backend: Backend) -> ringws::ServerHandle {
    start(backend, Feed, |b| {
        b.message_timeout(Some(Duration::from_millis(400)))
    })
}

/// Writes `chunks` with `pause` between them, stopping early if the server
/// closed; then reads until the close and returns its code.
fn trickle(c: &mut Client, chunks: &[Vec<u8>], pause: Duration) -> Option<u16> {
    for ch in chunks {
        if c.s.write_all(ch).is_err() {
            break;
        }
        std::thread::sleep(pause);
    }
    loop {
        match c.recv_data() {
            Some(Ev::Close(code)) => return Some(code.map_or(1005, |(c, _)| c)),
            Some(_) => continue,
            None => return None,
        }
    }
}

fn message_timeout(backend: Backend) {
    let h = timed(backend);
    let addr = h.local_addr();

    // One frame announcing 64 KiB, sent a byte per 50 ms (about 3 s for
    // the 60 bytes written): bytes keep coming, so only the message
    // timeout can end it.
    let mut c = Client::connect_path(addr, "/echo").unwrap();
    let mut frame = Vec::new();
    ringws_codec::write_frame(&mut frame, true, OpCode::Binary, &[1u8; 65536], mask());
    let chunks: Vec<Vec<u8>> = frame[..60].iter().map(|&b| vec![b]).collect();
    assert_eq!(
        trickle(&mut c, &chunks, Duration::from_millis(50)),
        Some(1008)
    );
    assert_eq!(h.stats().message_timeouts, 1);

    // A fragmented message whose every frame is complete, one per 50 ms:
    // the message as a whole is timed.
    let mut c = Client::connect_path(addr, "/echo").unwrap();
    let chunks: Vec<Vec<u8>> = (0..60)
        .map(|i| {
            let mut f = Vec::new();
            let op = if i == 0 {
                OpCode::Binary
            } else {
                OpCode::Continuation
            };
            ringws_codec::write_frame(&mut f, false, op, b"part", mask());
            f
        })
        .collect();
    assert_eq!(
        trickle(&mut c, &chunks, Duration::from_millis(50)),
        Some(1008)
    );
    assert_eq!(h.stats().message_timeouts, 2);

    // Messages streamed for about 2 s, every write ending in the middle of
    // the next frame, so a frame is always in progress between reads: each
    // message is quick, none is closed.
    let mut c = Client::connect_path(addr, "/echo").unwrap();
    let frames: Vec<u8> = (0..40u8)
        .flat_map(|i| {
            let mut f = Vec::new();
            ringws_codec::write_frame(&mut f, true, OpCode::Binary, &[i; 100], mask());
            f
        })
        .collect();
    let per = frames.len() / 40;
    for i in 0..40 {
        // Up to the middle of frame i + 1.
        let from = if i == 0 { 0 } else { i * per + per / 2 };
        let to = ((i + 1) * per + per / 2).min(frames.len());
        c.s.write_all(&frames[from..to]).unwrap();
        std::thread::sleep(Duration::from_millis(50));
    }
    for i in 0..40u8 {
        assert_eq!(c.recv_data(), Some(Ev::Binary(vec![i; 100])), "echo {i}");
    }
    assert_eq!(
        h.stats().message_timeouts,
        2,
        "a streaming peer was timed out"
    );
    h.shutdown(Duration::from_secs(2));
}

both_backends!(a_message_that_takes_too_long_is_1008, |backend| {
    message_timeout(backend)
});

#[test]
fn ringws_binary_takes_the_slow_peer_flags() {
    let bin = env!("CARGO_BIN_EXE_ringws");
    for bad in [
        ["--slow-readers", "close:0"],
        ["--slow-readers", "sometimes"],
        ["--message-timeout", "soon"],
    ] {
        let out = std::process::Command::new(bin).args(bad).output().unwrap();
        assert!(!out.status.success(), "{bad:?} accepted");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(bad[0]),
            "{bad:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
