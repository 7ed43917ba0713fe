//! The rest of a large frame is received straight into its message buffer
//! (`Builder::direct_recv_min`): messages come out the same as through the
//! receive buffers, the codec's checks still apply to those bytes, and a
//! peer that stalls or vanishes mid-frame costs nothing more. Both backends
//! run the same cases; with the feature off no byte may come directly, with
//! it on most of the large frames' bytes must.

mod common;

use std::io::Write;
use std::time::Duration;

use common::*;
use ringws::{Backend, ServerHandle};
use ringws_codec::OpCode;

/// Write a masked frame in two parts with a pause between them, so the
/// server has parsed the header (and started the payload) before the rest
/// is in its socket: the moment it may switch to a direct receive.
fn send_split(c: &mut Client, fin: bool, op: OpCode, payload: &[u8]) {
    let mut frame = Vec::with_capacity(payload.len() + 14);
    ringws_codec::write_frame(&mut frame, fin, op, payload, mask());
    let cut = 4096.min(frame.len());
    c.s.write_all(&frame[..cut]).unwrap();
    std::thread::sleep(Duration::from_millis(30));
    c.s.write_all(&frame[cut..]).unwrap();
}

fn direct_bytes(h: &ServerHandle, at_least: u64) -> u64 {
    counter_reaches(h, at_least, |s| s.direct_bytes)
}

fn large_messages(backend: Backend, on: bool) {
    let min = on.then_some(64 << 10);
    let h = start(backend, Echo::new(), |b| b.direct_recv_min(min));
    let mut c = Client::connect(h.local_addr());

    // 16 MiB of 1–4-byte characters: direct receives cut characters, and
    // the streaming UTF-8 check must carry them across.
    let chars = ["a", "é", "€", "𝄞"];
    let text: String = (0..(16 << 20) / 3)
        .map(|i| chars[(i * 7 + i / 5) % 4])
        .collect::<String>();
    send_split(&mut c, true, OpCode::Text, text.as_bytes());
    assert!(c.recv_data() == Some(Ev::Text(text.clone())), "16 MiB text");

    // A fragmented message (three 1 MiB frames) with pings between them.
    let bin: Vec<u8> = (0..3usize << 20)
        .map(|i| (i * 31 + i / 4099) as u8)
        .collect();
    let parts: Vec<&[u8]> = bin.chunks(1 << 20).collect();
    send_split(&mut c, false, OpCode::Binary, parts[0]);
    c.send_frame(true, OpCode::Ping, b"p1");
    send_split(&mut c, false, OpCode::Continuation, parts[1]);
    c.send_frame(true, OpCode::Ping, b"p2");
    send_split(&mut c, true, OpCode::Continuation, parts[2]);
    assert_eq!(c.recv(), Some(Ev::Pong(b"p1".to_vec())));
    assert_eq!(c.recv(), Some(Ev::Pong(b"p2".to_vec())));
    assert!(c.recv() == Some(Ev::Binary(bin)), "fragmented 3 MiB");

    // Back-to-back frames after a large one still parse from the ring.
    let mid: Vec<u8> = (0..200_000usize).map(|i| (i % 253) as u8).collect();
    let mut burst = Vec::new();
    ringws_codec::write_frame(&mut burst, true, OpCode::Binary, &mid, mask());
    ringws_codec::write_frame(&mut burst, true, OpCode::Text, b"after", mask());
    c.s.write_all(&burst).unwrap();
    assert!(c.recv_data() == Some(Ev::Binary(mid)), "200 KB");
    assert_eq!(c.recv_data(), Some(Ev::Text("after".into())));

    // The large frames, less what the ring delivered before each header
    // was seen (the first write of each, at most): all but the "after".
    let large = (text.len() + (3 << 20) + 200_000) as u64;
    let direct = direct_bytes(&h, large * 9 / 10);
    if on {
        assert!(
            direct >= large * 9 / 10 && direct <= large,
            "{direct} of {large} bytes received directly"
        );
    } else {
        assert_eq!(direct, 0, "no direct receives expected");
    }
    h.shutdown(Duration::from_secs(1));
}

both_backends!(large_messages_echo_with_direct_receives, |backend| {
    large_messages(backend, true);
});

both_backends!(large_messages_echo_with_direct_receives_off, |backend| {
    large_messages(backend, false);
});

both_backends!(invalid_utf8_in_a_direct_receive_is_1007, |backend| {
    let h = start(backend, Echo::new(), |b| b.direct_recv_min(Some(64 << 10)));
    let mut c = Client::connect(h.local_addr());
    let mut text = vec![b'x'; 1 << 20];
    text[900 << 10] = 0xFF;
    send_split(&mut c, true, OpCode::Text, &text);
    match c.recv_data() {
        Some(Ev::Close(Some((code, _)))) => assert_eq!(code, 1007),
        other => panic!("expected close 1007, got {other:?}"),
    }
    assert!(c.wait_eof());
    assert!(
        direct_bytes(&h, 1) > 0,
        "the bad byte came by a direct receive"
    );
    h.shutdown(Duration::from_secs(1));
});

both_backends!(peer_gone_mid_frame_during_a_direct_receive, |backend| {
    let handler = Echo::new();
    let h = start(backend, handler.clone(), |b| {
        b.direct_recv_min(Some(64 << 10))
    });
    let mut c = Client::connect(h.local_addr());
    assert!(matches!(
        handler.next(Duration::from_secs(5)),
        Some(Report::Open(_))
    ));
    // Announce 8 MiB, send 100 KB of it, then vanish.
    let payload = vec![7u8; 8 << 20];
    let mut frame = Vec::new();
    ringws_codec::write_frame(&mut frame, true, OpCode::Binary, &payload, mask());
    c.s.write_all(&frame[..4096]).unwrap();
    std::thread::sleep(Duration::from_millis(30));
    c.s.write_all(&frame[4096..100_000]).unwrap();
    std::thread::sleep(Duration::from_millis(30));
    drop(c);
    match handler.next(Duration::from_secs(5)) {
        Some(Report::Close(_, code, _)) => assert_eq!(code, 1006),
        other => panic!("expected on_close 1006, got {other:?}"),
    }
    // The connection is released and the server still serves.
    assert_eq!(connections_after(&h, Duration::from_secs(5)), 0);
    let mut c = Client::connect(h.local_addr());
    c.send_text("still here");
    assert_eq!(c.recv_data(), Some(Ev::Text("still here".into())));
    h.shutdown(Duration::from_secs(1));
});

both_backends!(
    a_stalled_frame_times_out_during_a_direct_receive,
    |backend| {
        let handler = Echo::new();
        let h = start(backend, handler.clone(), |b| {
            b.direct_recv_min(Some(64 << 10))
                .idle_timeout(Some(Duration::from_millis(200)))
                .close_timeout(Duration::from_millis(200))
        });
        let mut c = Client::connect(h.local_addr());
        assert!(matches!(
            handler.next(Duration::from_secs(5)),
            Some(Report::Open(_))
        ));
        // Start a 4 MiB frame and stall inside it: the server pings, closes
        // with 1001 when nothing comes, and drops the connection when no close
        // comes back either, cancelling the receive in flight.
        let payload = vec![1u8; 4 << 20];
        let mut frame = Vec::new();
        ringws_codec::write_frame(&mut frame, true, OpCode::Binary, &payload, mask());
        c.s.write_all(&frame[..4096]).unwrap();
        std::thread::sleep(Duration::from_millis(30));
        c.s.write_all(&frame[4096..300_000]).unwrap();
        match handler.next(Duration::from_secs(5)) {
            Some(Report::Close(_, code, _)) => assert_eq!(code, 1006),
            other => panic!("expected on_close 1006, got {other:?}"),
        }
        match c.recv_data() {
            Some(Ev::Close(Some((code, _)))) => assert_eq!(code, 1001),
            other => panic!("expected close 1001, got {other:?}"),
        }
        assert!(c.wait_eof(), "server should hang up");
        assert_eq!(connections_after(&h, Duration::from_secs(5)), 0);
        assert!(
            direct_bytes(&h, 1) > 0,
            "the stalled frame was being received directly"
        );
        h.shutdown(Duration::from_secs(1));
    }
);
