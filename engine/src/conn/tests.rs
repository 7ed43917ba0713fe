//! The state machine driven by hand: bytes in, bytes and flags out, time
//! as an argument. No sockets, no ring.

use std::sync::{Arc, Mutex};

use ringws_codec::{
    ClientHandshake, ClientStatus, CloseCode, Event, HandshakeConfig, OpCode, Receiver,
    ReceiverConfig, Request,
};

use super::state::Phase;
use super::topics::Topics;
use super::*;
use crate::reactor::Token;

#[derive(Default)]
struct Log(Mutex<Vec<String>>);

impl Handler for Arc<Log> {
    type State = ();
    fn on_upgrade(&self, r: &Request) -> Result<Accept<()>, Reject> {
        if r.path() == "/no" {
            return Err(Reject::new(404, "nope"));
        }
        Ok(Accept::new(()))
    }
    fn on_open(&self, _: &mut Conn<'_>, _: &mut ()) {
        self.0.lock().unwrap().push("open".into());
    }
    fn on_message(&self, conn: &mut Conn<'_>, _: &mut (), m: Message<'_>) {
        self.0.lock().unwrap().push(format!("{m:?}"));
        match m {
            Message::Text("close") => conn.close(CloseCode(4002), "asked"),
            Message::Text(t) => {
                conn.send_text(t);
            }
            Message::Binary(_) => {}
        }
    }
    fn on_close(&self, _: (), code: CloseCode, reason: &str) {
        self.0
            .lock()
            .unwrap()
            .push(format!("close {} {reason}", code.0));
    }
}

fn ctx() -> ConnCtx {
    ConnCtx {
        worker: 0,
        dirty: Vec::new(),
        limits: Limits {
            send_buffer_limit: 1 << 20,
            handshake_timeout_ms: 1000,
            idle_timeout_ms: 500,
            close_timeout_ms: 200,
            close_after_drops: None,
            message_timeout_ms: u64::MAX,
        },
        rx: RxConfig {
            max_message_size: 1000,
            max_frame_size: 1000,
            deflate: false,
        },
        now_ms: 0,
        timers: Timers::default(),
        stats: LocalStats::default(),
        scratch: Vec::new(),
        tls_plain: Vec::new(),
        out_pool: Vec::new(),
        topics: Topics::default(),
        outbox: Vec::new(),
        lend: Default::default(),
        loans: crate::conn::Loans::new(0, false),
        budget: crate::conn::Budget::new(usize::MAX),
        link: Arc::new(()),
        deflate: crate::conn::WorkerDeflate::new(ringws_codec::Compression::Off),
        drops: Default::default(),
    }
}

/// Everything the connection queued, as the client would read it, and
/// "sent" (as if the kernel took it all).
fn take_output(c: &mut Connection<()>, ctx: &mut ConnCtx) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(o) = &mut c.core.out {
        if !o.queue.prepare(&mut o.op) {
            break;
        }
        for i in 0..o.op.hdr.msg_iovlen {
            let iov = o.op.iov[i];
            // SAFETY: prepare() pointed the iovecs at locked, live segments.
            out.extend_from_slice(unsafe {
                std::slice::from_raw_parts(iov.iov_base as *const u8, iov.iov_len)
            });
        }
        let n = out.len();
        c.handle_sent(Ok(n), ctx);
    }
    out
}

fn client_events(rx: &mut Receiver, bytes: &mut [u8]) -> Vec<String> {
    let mut v = Vec::new();
    let mut feed = rx.feed(bytes);
    while let Some(e) = feed.next_event() {
        v.push(match e.unwrap() {
            Event::Close(c) => format!("Close({:?})", c.map(|(c, r)| (c.0, r.to_string()))),
            e => format!("{e:?}"),
        });
    }
    v
}

fn frame(op: OpCode, fin: bool, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    ringws_codec::write_frame(&mut v, fin, op, payload, Some([1, 2, 3, 4]));
    v
}

/// A connection past its handshake, plus the client's receiver.
fn open(h: &Arc<Log>, ctx: &mut ConnCtx) -> (Connection<()>, Receiver) {
    let mut c = Connection::new(
        -1,
        Token { slot: 0, gen: 0 },
        HandshakeConfig::default(),
        Transport::Plain,
        ctx,
    );
    let mut hs = ClientHandshake::new("x", "/");
    let mut req = Vec::new();
    hs.write_request(&mut req);
    // In three pieces: the state machine buffers nothing itself.
    for piece in req.chunks(req.len() / 3 + 1) {
        c.handle_data(&mut piece.to_vec(), h, ctx);
    }
    let out = take_output(&mut c, ctx);
    match hs.feed(&out).unwrap() {
        ClientStatus::Complete { consumed, .. } => assert_eq!(consumed, out.len()),
        ClientStatus::Partial => panic!("incomplete 101"),
    }
    assert!(c.is_open());
    (c, Receiver::new(ReceiverConfig::client()))
}

#[test]
fn echo_ping_and_peer_close() {
    let h = Arc::new(Log::default());
    let mut ctx = ctx();
    let (mut c, mut rx) = open(&h, &mut ctx);
    let mut input = frame(OpCode::Text, true, b"hi");
    input.extend(frame(OpCode::Ping, true, b"p"));
    c.handle_data(&mut input, &h, &mut ctx);
    let mut out = take_output(&mut c, &mut ctx);
    assert_eq!(
        client_events(&mut rx, &mut out),
        ["Text(\"hi\")", "Pong([112])"]
    );

    let (p, n) = ringws_codec::close_payload(CloseCode(4000), "bye");
    c.handle_data(&mut frame(OpCode::Close, true, &p[..n]), &h, &mut ctx);
    let mut out = take_output(&mut c, &mut ctx);
    assert_eq!(
        client_events(&mut rx, &mut out),
        ["Close(Some((4000, \"\")))"]
    );
    assert!((c.core.teardown == Teardown::Flushing));
    assert_eq!(
        *h.0.lock().unwrap(),
        ["open", "Text(\"hi\")", "close 4000 bye"]
    );
}

#[test]
fn protocol_errors_send_their_close_code() {
    let cases: [(&str, Vec<u8>, u16); 3] = [
        ("bad utf-8", frame(OpCode::Text, true, &[0xff]), 1007),
        ("too big", frame(OpCode::Binary, true, &[0; 1001]), 1009),
        (
            "unmasked",
            {
                let mut v = Vec::new();
                ringws_codec::write_frame(&mut v, true, OpCode::Text, b"x", None);
                v
            },
            1002,
        ),
    ];
    for (name, mut input, code) in cases {
        let h = Arc::new(Log::default());
        let mut ctx = ctx();
        let (mut c, mut rx) = open(&h, &mut ctx);
        c.handle_data(&mut input, &h, &mut ctx);
        let mut out = take_output(&mut c, &mut ctx);
        let ev = client_events(&mut rx, &mut out);
        assert!(
            ev[0].starts_with(&format!("Close(Some(({code},")),
            "{name}: {ev:?}"
        );
        assert!((c.core.teardown == Teardown::Flushing), "{name}");
        let last = h.0.lock().unwrap().last().unwrap().clone();
        assert!(
            last.starts_with(&format!("close {code} ")),
            "{name}: {last}"
        );
    }
}

#[test]
fn timeouts_by_phase() {
    let h = Arc::new(Log::default());
    // Handshake never finishes → dead at the deadline, no on_close.
    let mut ctx = ctx();
    let mut c: Connection<()> = Connection::new(
        -1,
        Token::default(),
        HandshakeConfig::default(),
        Transport::Plain,
        &mut ctx,
    );
    c.handle_data(&mut b"GET / HTTP/1.1\r\n".to_vec(), &h, &mut ctx);
    assert_eq!(c.core.deadline_ms, 1000);
    ctx.now_ms = 1000;
    c.handle_timeout(&h, &mut ctx);
    assert!(c.core.is_dead());
    assert!(h.0.lock().unwrap().is_empty());

    // Open and idle: a spurious early call is a no-op, then ping, then 1001.
    let mut ctx = self::ctx();
    let (mut c, mut rx) = open(&h, &mut ctx);
    ctx.now_ms = 100;
    c.handle_timeout(&h, &mut ctx);
    assert_eq!(c.core.buffered_amount(), 0);
    assert_eq!(c.core.deadline_ms, 500);
    ctx.now_ms = 500;
    c.handle_timeout(&h, &mut ctx);
    let mut out = take_output(&mut c, &mut ctx);
    assert_eq!(client_events(&mut rx, &mut out), ["Ping([])"]);
    ctx.now_ms = 1000;
    c.handle_timeout(&h, &mut ctx);
    let mut out = take_output(&mut c, &mut ctx);
    assert_eq!(
        client_events(&mut rx, &mut out),
        ["Close(Some((1001, \"idle timeout\")))"]
    );
    // No close comes back within the close timeout → 1006, dead.
    ctx.now_ms = 1200;
    c.handle_timeout(&h, &mut ctx);
    assert!(c.core.is_dead());
    assert_eq!(h.0.lock().unwrap().last().unwrap(), "close 1006 ");
}

#[test]
fn application_refusal_is_an_http_response() {
    let h = Arc::new(Log::default());
    let mut ctx = ctx();
    let mut c: Connection<()> = Connection::new(
        -1,
        Token::default(),
        HandshakeConfig::default(),
        Transport::Plain,
        &mut ctx,
    );
    let mut req = Vec::new();
    ClientHandshake::new("x", "/no").write_request(&mut req);
    c.handle_data(&mut req, &h, &mut ctx);
    let out = take_output(&mut c, &mut ctx);
    assert!(
        out.starts_with(b"HTTP/1.1 404"),
        "{}",
        String::from_utf8_lossy(&out)
    );
    assert!(!c.is_open());
    assert!((c.core.teardown == Teardown::Flushing));
}

#[test]
fn no_messages_after_the_handler_closes() {
    let h = Arc::new(Log::default());
    let mut ctx = ctx();
    let (mut c, mut rx) = open(&h, &mut ctx);
    let mut input = frame(OpCode::Text, true, b"close");
    input.extend(frame(OpCode::Text, true, b"late"));
    c.handle_data(&mut input, &h, &mut ctx);
    let mut out = take_output(&mut c, &mut ctx);
    assert_eq!(
        client_events(&mut rx, &mut out),
        ["Close(Some((4002, \"asked\")))"]
    );
    assert_eq!(*h.0.lock().unwrap(), ["open", "Text(\"close\")"]);
    // The peer's answering close completes the handshake: on_close, FIN.
    let (p, n) = ringws_codec::close_payload(CloseCode(4002), "");
    c.handle_data(&mut frame(OpCode::Close, true, &p[..n]), &h, &mut ctx);
    assert!(
        take_output(&mut c, &mut ctx).is_empty(),
        "no second close frame"
    );
    assert_eq!(h.0.lock().unwrap().last().unwrap(), "close 4002 ");
    assert!((c.core.teardown == Teardown::Flushing));
}

#[test]
fn idle_connection_holds_no_receiver() {
    let h = Arc::new(Log::default());
    let mut ctx = ctx();
    let (mut c, mut rx) = open(&h, &mut ctx);
    let holding = |c: &Connection<()>| match &c.phase {
        Phase::Open { rx, .. } => rx.is_holding(),
        _ => panic!("not open"),
    };
    assert!(!holding(&c));
    // A frame cut in the middle of its header, then of its payload.
    let f = frame(OpCode::Text, true, b"split across three reads");
    for (i, piece) in [&f[..1], &f[1..10], &f[10..]].into_iter().enumerate() {
        c.handle_data(&mut piece.to_vec(), &h, &mut ctx);
        assert_eq!(holding(&c), i < 2, "after piece {i}");
    }
    let mut out = take_output(&mut c, &mut ctx);
    assert_eq!(
        client_events(&mut rx, &mut out),
        ["Text(\"split across three reads\")"]
    );
    // Fragments: held between them, released after the last.
    c.handle_data(&mut frame(OpCode::Binary, false, b"a"), &h, &mut ctx);
    assert!(holding(&c));
    c.handle_data(&mut frame(OpCode::Continuation, true, b"b"), &h, &mut ctx);
    assert!(!holding(&c));
}

#[test]
fn close_codes_not_allowed_on_the_wire_become_1000() {
    let h = Arc::new(Log::default());
    for (code, sent) in [
        (1005u16, 1000u16),
        (1006, 1000),
        (999, 1000),
        (4000, 4000),
        (1001, 1001),
    ] {
        let mut ctx = ctx();
        let (mut c, mut rx) = open(&h, &mut ctx);
        c.core.start_close(&mut ctx, CloseCode(code), "r");
        let mut out = take_output(&mut c, &mut ctx);
        let ev = client_events(&mut rx, &mut out);
        assert_eq!(ev, [format!("Close(Some(({sent}, \"r\")))")], "code {code}");
    }
}

#[test]
fn at_the_send_limit_input_is_held_in_order_not_dropped() {
    // Regression (bench: pipelined 1 MiB echoes went missing): over the
    // limit the handler's echo was dropped while input kept being processed.
    let h = Arc::new(Log::default());
    let mut ctx = ctx();
    ctx.limits.send_buffer_limit = 20;
    let (mut c, mut rx) = open(&h, &mut ctx);
    let msgs: Vec<String> = (0..6).map(|i| format!("message {i:02}")).collect();
    let mut input = Vec::new();
    for m in &msgs {
        input.extend(frame(OpCode::Text, true, m.as_bytes()));
    }
    // A ping, then half of a last frame: held bytes need not end on a frame.
    input.extend(frame(OpCode::Ping, true, b"p"));
    let last = frame(OpCode::Text, true, b"last one");
    let (first_half, second_half) = last.split_at(5);
    input.extend(first_half);
    c.handle_data(&mut input, &h, &mut ctx);
    // Two echoes (12 + 12 bytes) reach the limit: the rest is held.
    assert!(c.wants_pause(&ctx));
    assert!(!c.core.held.is_empty());
    // More input while paused goes behind what is held.
    c.handle_data(&mut second_half.to_vec(), &h, &mut ctx);
    let mut events = Vec::new();
    let mut rounds = 0;
    loop {
        let mut out = take_output(&mut c, &mut ctx);
        events.extend(client_events(&mut rx, &mut out));
        if c.core.held.is_empty() {
            break;
        }
        assert!(!c.rx_blocked(&ctx), "drained, yet blocked");
        c.process_held(&h, &mut ctx);
        rounds += 1;
    }
    assert!(rounds >= 3, "{rounds}");
    let mut want: Vec<String> = msgs.iter().map(|m| format!("Text({m:?})")).collect();
    want.push("Pong([112])".into());
    want.push("Text(\"last one\")".into());
    assert_eq!(events, want);
    assert!(!c.wants_pause(&ctx));
    assert_eq!(
        c.core.held.capacity(),
        0,
        "held bytes keep no heap once done"
    );
}

#[test]
fn at_the_send_limit_input_is_parsed_and_held_as_events() {
    // Over the limit the handler is not called, but input keeps being
    // parsed: a message in progress keeps assembling and a completed one
    // waits as an event, its assembled buffer held without a copy and taken
    // over by the echo once the queue drains.
    let h = Arc::new(Log::default());
    let mut ctx = ctx();
    ctx.limits.send_buffer_limit = 20;
    ctx.rx.max_message_size = 1 << 20;
    ctx.rx.max_frame_size = 1 << 20;
    let (mut c, mut rx) = open(&h, &mut ctx);
    let big: String = (0..6000)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    let mut input = Vec::new();
    input.extend(frame(OpCode::Text, true, b"first message 1"));
    input.extend(frame(OpCode::Text, true, b"second message 2"));
    let last = frame(OpCode::Text, true, big.as_bytes());
    let (a, rest) = last.split_at(3000);
    let (b, c_part) = rest.split_at(2000);
    input.extend(a);
    c.handle_data(&mut input, &h, &mut ctx);
    assert!(c.rx_blocked(&ctx), "two echoes pass the limit");
    assert!(
        c.core.held.is_empty(),
        "a message in progress is not an event"
    );
    c.handle_data(&mut b.to_vec(), &h, &mut ctx);
    assert!(c.core.held.is_empty(), "mid-message bytes go to assembly");
    c.handle_data(&mut c_part.to_vec(), &h, &mut ctx);
    assert!(!c.core.held.is_empty(), "the completed message waits");
    assert_eq!(ctx.lend.taken, 0);
    let mut out = take_output(&mut c, &mut ctx);
    let mut events = client_events(&mut rx, &mut out);
    assert_eq!(events.len(), 2, "nothing delivered over the limit");
    c.process_held(&h, &mut ctx);
    assert!(c.core.held.is_empty());
    assert_eq!(ctx.lend.taken, 1, "the held buffer is sent, not copied");
    let mut out = take_output(&mut c, &mut ctx);
    events.extend(client_events(&mut rx, &mut out));
    assert_eq!(events.len(), 3, "{events:?}");
    assert_eq!(events[2], format!("Text({big:?})"));
    assert_eq!(c.core.held.capacity(), 0);
}

#[test]
fn a_close_or_an_error_behind_held_events_comes_after_them() {
    // The application sees every message that arrived before the peer's
    // close (or the frame that broke the protocol), held or not.
    for (tail, want_close) in [
        (frame(OpCode::Close, true, &[0x03, 0xe8]), "close 1000 "),
        (
            vec![0x81, 0x05, b'h', b'e', b'l', b'l', b'o'],
            "close 1002 ",
        ),
    ] {
        let h = Arc::new(Log::default());
        let mut ctx = ctx();
        ctx.limits.send_buffer_limit = 20;
        let (mut c, _rx) = open(&h, &mut ctx);
        let mut input = Vec::new();
        for i in 0..4 {
            input.extend(frame(
                OpCode::Text,
                true,
                format!("message {i:02}").as_bytes(),
            ));
        }
        input.extend(&tail);
        c.handle_data(&mut input, &h, &mut ctx);
        let log = h.0.lock().unwrap().clone();
        let msgs: Vec<&String> = log.iter().filter(|l| l.starts_with("Text")).collect();
        assert_eq!(msgs.len(), 4, "{log:?}");
        assert!(log.last().unwrap().starts_with(want_close), "{log:?}");
        assert!(c.core.held.is_empty());
    }
}

#[test]
fn an_echoed_assembled_message_is_sent_from_its_own_buffer() {
    // A message spanning two reads is assembled by the codec; the echo
    // handler sends exactly those bytes back: the queue takes the codec's
    // buffer (no copy) and the output is byte for byte the message.
    let h = Arc::new(Log::default());
    let mut ctx = ctx();
    ctx.rx.max_message_size = 1 << 20;
    ctx.rx.max_frame_size = 1 << 20;
    let (mut c, mut rx) = open(&h, &mut ctx);
    let payload: String = (0..9000)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    let f = frame(OpCode::Text, true, payload.as_bytes());
    let (a, b) = f.split_at(4000);
    c.handle_data(&mut a.to_vec(), &h, &mut ctx);
    c.handle_data(&mut b.to_vec(), &h, &mut ctx);
    assert_eq!(ctx.lend.taken, 1, "taken, not copied");
    assert!(ctx.lend.claimed.is_none() && ctx.lend.lent.is_none());
    let mut out = take_output(&mut c, &mut ctx);
    let ev = client_events(&mut rx, &mut out);
    assert_eq!(ev, [format!("Text({payload:?})")]);
    // A large message that arrived whole is lent from the read buffer,
    // which goes back to the ring: that echo is a copy.
    let mut whole = frame(OpCode::Text, true, &[b'w'; 5000]);
    c.handle_data(&mut whole, &h, &mut ctx);
    assert_eq!(ctx.lend.taken, 1, "copied");
    let mut out = take_output(&mut c, &mut ctx);
    assert_eq!(client_events(&mut rx, &mut out).len(), 1);
}

// ---- the state machine under random cuts, partial sends and failures ----

mod random {
    use proptest::prelude::*;

    use super::*;

    /// What the client sends: text (whole or in 2-3 fragments), a ping, a
    /// binary message (the test handler answers nothing to it).
    #[derive(Clone, Debug)]
    enum Msg {
        Text(String, usize),
        Ping(Vec<u8>),
        Binary(Vec<u8>),
    }

    fn msg() -> impl Strategy<Value = Msg> {
        prop_oneof![
            ("[a-y]{0,900}", 1usize..4).prop_map(|(t, n)| Msg::Text(t, n)),
            proptest::collection::vec(any::<u8>(), 0..125).prop_map(Msg::Ping),
            proptest::collection::vec(any::<u8>(), 0..900).prop_map(Msg::Binary),
        ]
    }

    /// The client's bytes for `msgs` and the events it expects back.
    fn script(msgs: &[Msg]) -> (Vec<u8>, Vec<String>) {
        let mut wire = Vec::new();
        let mut want = Vec::new();
        for m in msgs {
            match m {
                Msg::Text(t, pieces) => {
                    let b = t.as_bytes();
                    let step = b.len().div_ceil(*pieces).max(1);
                    let chunks: Vec<&[u8]> = if b.is_empty() {
                        vec![b]
                    } else {
                        b.chunks(step).collect()
                    };
                    for (i, c) in chunks.iter().enumerate() {
                        let op = if i == 0 {
                            OpCode::Text
                        } else {
                            OpCode::Continuation
                        };
                        wire.extend(frame(op, i + 1 == chunks.len(), c));
                    }
                    want.push(format!("{:?}", Event::Text(t)));
                }
                Msg::Ping(p) => {
                    wire.extend(frame(OpCode::Ping, true, p));
                    want.push(format!("{:?}", Event::Pong(p)));
                }
                Msg::Binary(b) => wire.extend(frame(OpCode::Binary, true, b)),
            }
        }
        (wire, want)
    }

    /// One send of at most `k` bytes of what is queued, as a kernel that
    /// takes only part of it would do; returns the bytes taken.
    fn send_some(c: &mut Connection<()>, ctx: &mut ConnCtx, k: usize) -> Vec<u8> {
        let mut out = Vec::new();
        let Some(o) = &mut c.core.out else {
            return out;
        };
        if !o.queue.prepare(&mut o.op) {
            return out;
        }
        for i in 0..o.op.hdr.msg_iovlen {
            let iov = o.op.iov[i];
            // SAFETY: prepare() pointed the iovecs at locked, live segments.
            out.extend_from_slice(unsafe {
                std::slice::from_raw_parts(iov.iov_base as *const u8, iov.iov_len)
            });
        }
        out.truncate(k.max(1));
        let n = out.len();
        c.handle_sent(Ok(n), ctx);
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Any cut of the client's bytes, any sizes the kernel takes per
        /// send: the client gets exactly the echoes and pongs it is owed,
        /// in order, and nothing else.
        #[test]
        fn cuts_and_partial_sends_change_nothing(
            msgs in proptest::collection::vec(msg(), 1..12),
            cuts in proptest::collection::vec(1usize..700, 1..40),
            sends in proptest::collection::vec(1usize..600, 1..40),
        ) {
            let h = Arc::new(Log::default());
            let mut ctx = ctx();
            let (mut c, mut rx) = open(&h, &mut ctx);
            let (wire, want) = script(&msgs);
            let mut out = Vec::new();
            let (mut at, mut i) = (0, 0);
            while at < wire.len() {
                let n = cuts[i % cuts.len()].min(wire.len() - at);
                c.handle_data(&mut wire[at..at + n].to_vec(), &h, &mut ctx);
                at += n;
                // The kernel takes a little after each receive.
                out.extend(send_some(&mut c, &mut ctx, sends[i % sends.len()]));
                i += 1;
            }
            // Then everything.
            loop {
                let got = send_some(&mut c, &mut ctx, sends[i % sends.len()]);
                if got.is_empty() {
                    break;
                }
                out.extend(got);
                i += 1;
            }
            prop_assert_eq!(client_events(&mut rx, &mut out), want);
            prop_assert!(c.is_open());
        }

        /// Garbage after the upgrade, cut anywhere, with a send that fails
        /// at a random point: never a panic; what the server sent before
        /// the failure decodes, and ends with a close frame if anything
        /// ended the connection; once killed the connection takes input and
        /// timeouts without a panic.
        #[test]
        fn garbage_and_failed_sends_end_cleanly(
            junk in proptest::collection::vec(any::<u8>(), 0..3000),
            cuts in proptest::collection::vec(1usize..500, 1..20),
            fail_after in 0usize..8,
        ) {
            let h = Arc::new(Log::default());
            let mut ctx = ctx();
            let (mut c, _) = open(&h, &mut ctx);
            let mut rx = Receiver::new(ReceiverConfig::client());
            let mut out = Vec::new();
            let (mut at, mut i, mut sends) = (0, 0, 0);
            while at < junk.len() {
                let n = cuts[i % cuts.len()].min(junk.len() - at);
                c.handle_data(&mut junk[at..at + n].to_vec(), &h, &mut ctx);
                at += n;
                i += 1;
                if sends == fail_after && c.core.out.is_some() {
                    let o = c.core.out.as_mut().unwrap();
                    if o.queue.prepare(&mut o.op) {
                        c.handle_sent(Err(libc::EPIPE), &mut ctx);
                    }
                } else {
                    out.extend(send_some(&mut c, &mut ctx, 400));
                }
                sends += 1;
            }
            out.extend(take_output(&mut c, &mut ctx));
            // Everything sent decodes; a close, if any, is the last frame.
            let mut feed = rx.feed(&mut out);
            let mut closed = false;
            while let Some(ev) = feed.next_event() {
                let ev = ev.map_err(|e| TestCaseError::fail(format!("server sent {e:?}")))?;
                prop_assert!(!closed, "a frame after the close");
                if let Event::Close(_) = ev {
                    closed = true;
                }
            }
            ctx.now_ms += 60_000;
            c.handle_timeout(&h, &mut ctx);
            c.handle_data(&mut b"\x81\x80more".to_vec(), &h, &mut ctx);
            c.handle_eof(&h, &mut ctx);
            let log = h.0.lock().unwrap();
            let closes = log.iter().filter(|l| l.starts_with("close ")).count();
            prop_assert!(closes <= 1, "on_close more than once: {:?}", *log);
        }
    }
}
