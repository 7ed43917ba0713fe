//! Messages, control frames and protocol errors over real sockets, on both
//! backends.

mod common;

use std::io::Write;
use std::time::Duration;

use common::*;
use ringws_codec::OpCode;

both_backends!(echo_sizes, |backend| {
    let h = start(backend, Echo::new(), |b| b);
    let mut c = Client::connect(h.local_addr());
    for size in [0usize, 125, 126, 64 << 10, 1 << 20, 16 << 20] {
        let bin: Vec<u8> = (0..size).map(|i| (i * 31 + 7) as u8).collect();
        c.send_binary(&bin);
        assert!(c.recv_data() == Some(Ev::Binary(bin)), "binary {size}");
        let text: String = (0..size).map(|i| (b'a' + (i % 26) as u8) as char).collect();
        c.send_text(&text);
        assert!(c.recv_data() == Some(Ev::Text(text)), "text {size}");
    }
    h.shutdown(Duration::from_secs(1));
});

both_backends!(fragmented_with_pings_interleaved, |backend| {
    let h = start(backend, Echo::new(), |b| b);
    let mut c = Client::connect(h.local_addr());
    c.send_frame(false, OpCode::Text, "héllo ".as_bytes());
    c.send_frame(true, OpCode::Ping, b"p1");
    c.send_frame(false, OpCode::Continuation, b"wor");
    c.send_frame(true, OpCode::Ping, b"p2");
    c.send_frame(true, OpCode::Continuation, b"ld");
    assert_eq!(c.recv(), Some(Ev::Pong(b"p1".to_vec())));
    assert_eq!(c.recv(), Some(Ev::Pong(b"p2".to_vec())));
    assert_eq!(c.recv(), Some(Ev::Text("héllo world".into())));
    // A multi-byte character split across fragments is fine.
    let e = "é".as_bytes();
    c.send_frame(false, OpCode::Text, &e[..1]);
    c.send_frame(true, OpCode::Continuation, &e[1..]);
    assert_eq!(c.recv_data(), Some(Ev::Text("é".into())));
    h.shutdown(Duration::from_secs(1));
});

fn expect_close(c: &mut Client, code: u16) {
    match c.recv_data() {
        Some(Ev::Close(Some((got, _)))) => assert_eq!(got, code),
        other => panic!("expected close {code}, got {other:?}"),
    }
    assert!(c.wait_eof(), "server should hang up after the close");
}

both_backends!(invalid_utf8_is_1007, |backend| {
    let h = start(backend, Echo::new(), |b| b);
    let mut c = Client::connect(h.local_addr());
    c.send_frame(true, OpCode::Text, &[b'a', 0xff, b'b']);
    expect_close(&mut c, 1007);
    // Mid-fragment: the first fragment is already invalid, the message is
    // never finished.
    let mut c = Client::connect(h.local_addr());
    c.send_frame(false, OpCode::Text, &[b'o', b'k', 0xc0, 0xaf]);
    expect_close(&mut c, 1007);
    // Valid first fragment, invalid continuation (fails before FIN).
    let mut c = Client::connect(h.local_addr());
    c.send_frame(false, OpCode::Text, "fine ".as_bytes());
    c.send_frame(false, OpCode::Continuation, &[0xed, 0xa0, 0x80]);
    expect_close(&mut c, 1007);
    h.shutdown(Duration::from_secs(1));
});

both_backends!(oversized_is_1009_before_buffering, |backend| {
    let h = start(backend, Echo::new(), |b| {
        b.max_message_size(1000).max_frame_size(1000)
    });
    let mut c = Client::connect(h.local_addr());
    // Only the header of a 1 GiB frame: refused from the header alone.
    let mut hdr = [0u8; 14];
    let n = ringws_codec::encode_header(&mut hdr, true, OpCode::Binary, 1 << 30, mask());
    c.s.write_all(&hdr[..n]).unwrap();
    expect_close(&mut c, 1009);
    // A message over the limit in fragments under it.
    let mut c = Client::connect(h.local_addr());
    c.send_frame(false, OpCode::Binary, &[0u8; 600]);
    c.send_frame(true, OpCode::Continuation, &[0u8; 600]);
    expect_close(&mut c, 1009);
    h.shutdown(Duration::from_secs(1));
});

both_backends!(unmasked_is_1002, |backend| {
    let h = start(backend, Echo::new(), |b| b);
    let mut c = Client::connect(h.local_addr());
    let mut out = Vec::new();
    ringws_codec::write_frame(&mut out, true, OpCode::Text, b"naked", None);
    c.s.write_all(&out).unwrap();
    expect_close(&mut c, 1002);
    h.shutdown(Duration::from_secs(1));
});

both_backends!(close_handshake_client_initiated, |backend| {
    let handler = Echo::new();
    let h = start(backend, handler.clone(), |b| b);
    let mut c = Client::connect(h.local_addr());
    let (p, n) = ringws_codec::close_payload(ringws::CloseCode(4000), "done here");
    c.send_frame(true, OpCode::Close, &p[..n]);
    match c.recv_data() {
        Some(Ev::Close(Some((4000, _)))) => {}
        other => panic!("expected the echoed close, got {other:?}"),
    }
    assert!(c.wait_eof());
    let mut closed = None;
    while let Some(r) = handler.next(Duration::from_secs(2)) {
        if let Report::Close(_, code, reason) = r {
            closed = Some((code, reason));
            break;
        }
    }
    assert_eq!(closed, Some((4000, "done here".to_string())));
    h.shutdown(Duration::from_secs(1));
});

both_backends!(close_handshake_server_initiated, |backend| {
    let handler = Echo::new();
    let h = start(backend, handler.clone(), |b| b);
    let mut c = Client::connect(h.local_addr());
    c.send_text("close:4001");
    match c.recv_data() {
        Some(Ev::Close(Some((4001, r)))) => assert_eq!(r, "bye"),
        other => panic!("expected close 4001, got {other:?}"),
    }
    // Answer it; the server then closes TCP.
    let (p, n) = ringws_codec::close_payload(ringws::CloseCode(4001), "");
    c.send_frame(true, OpCode::Close, &p[..n]);
    assert!(c.wait_eof());
    h.shutdown(Duration::from_secs(1));
});

both_backends!(tiny_receive_ring_loses_nothing, |backend| {
    // 8 buffers of 4 KiB for 16 busy connections: io_uring runs out of
    // provided buffers (ENOBUFS) constantly and must re-arm, never drop.
    let h = start(backend, Echo::new(), |b| b.recv_buffers(8, 4096));
    let addr = h.local_addr();
    let threads: Vec<_> = (0..16)
        .map(|t| {
            std::thread::spawn(move || {
                let mut c = Client::connect(addr);
                for i in 0..8 {
                    let msg: Vec<u8> = (0..100_000).map(|j| (j * 13 + i * 7 + t) as u8).collect();
                    c.send_binary(&msg);
                    assert!(
                        c.recv_data() == Some(Ev::Binary(msg)),
                        "thread {t} message {i}"
                    );
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    h.shutdown(Duration::from_secs(1));
});

both_backends!(close_then_half_close_still_gets_the_echo, |backend| {
    let h = start(backend, Echo::new(), |b| b);
    let mut c = Client::connect(h.local_addr());
    c.send_text("before");
    let (p, n) = ringws_codec::close_payload(ringws::CloseCode(1000), "half");
    c.send_frame(true, OpCode::Close, &p[..n]);
    // Our side is done writing: the server sees EOF right after the close.
    c.s.shutdown(std::net::Shutdown::Write).unwrap();
    assert_eq!(c.recv_data(), Some(Ev::Text("before".into())));
    match c.recv_data() {
        Some(Ev::Close(Some((1000, _)))) => {}
        other => panic!("expected the close echo, got {other:?}"),
    }
    assert!(c.wait_eof());
    h.shutdown(Duration::from_secs(1));
});
