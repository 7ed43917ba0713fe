//! A handler that panics loses the connection the panic came from, not the
//! worker: that connection is closed with 1011 and sees `on_close` once;
//! the worker's other connections carry on (tests unwind).

mod common;

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use ringws::{Accept, CloseCode, Conn, ConnId, Handler, Message, Reject, Request};
use ringws_codec::OpCode;

/// Echoes; panics where the message, path or state says so, and reports
/// every `on_close`.
#[derive(Clone)]
struct Panicky {
    closes: Arc<Mutex<mpsc::Sender<(ConnId, u16)>>>,
}

struct St {
    id: Option<ConnId>,
    panic_on_close: bool,
    panic_on_open: bool,
}

impl Handler for Panicky {
    type State = St;

    fn on_upgrade(&self, r: &Request) -> Result<Accept<St>, Reject> {
        if r.path() == "/panic-upgrade" {
            panic!("test: on_upgrade");
        }
        Ok(Accept::new(St {
            id: None,
            panic_on_close: r.path() == "/panic-close",
            panic_on_open: r.path() == "/panic-open",
        }))
    }

    fn on_open(&self, conn: &mut Conn<'_>, st: &mut St) {
        st.id = Some(conn.id());
        if st.panic_on_open {
            panic!("test: on_open");
        }
    }

    fn on_message(&self, conn: &mut Conn<'_>, st: &mut St, m: Message<'_>) {
        let bytes = match m {
            Message::Text(t) => t.as_bytes(),
            Message::Binary(b) => b,
        };
        if bytes == b"panic" {
            panic!("test: on_message");
        }
        if bytes == b"send-then-panic" {
            conn.send_text("ok");
            panic!("test: after a send");
        }
        match m {
            Message::Text(t) => conn.send_text(t),
            Message::Binary(b) => conn.send_binary(b),
        };
        if bytes.starts_with(b"echo-then-panic") {
            panic!("test: after an echo");
        }
        let _ = st;
    }

    fn on_close(&self, st: St, code: CloseCode, _reason: &str) {
        if let Some(id) = st.id {
            let _ = self.closes.lock().unwrap().send((id, code.0));
        }
        if st.panic_on_close {
            panic!("test: on_close");
        }
    }
}

fn panicky() -> (Panicky, mpsc::Receiver<(ConnId, u16)>) {
    let (tx, rx) = mpsc::channel();
    (
        Panicky {
            closes: Arc::new(Mutex::new(tx)),
        },
        rx,
    )
}

/// The close frame a client gets after its handler panicked, then EOF.
fn expect_1011(c: &mut Client) {
    assert_eq!(
        c.recv_data(),
        Some(Ev::Close(Some((1011, "internal error".into()))))
    );
    // Answer the close; the server has already half-closed.
    c.send_frame(true, OpCode::Close, &1011u16.to_be_bytes());
    assert!(c.wait_eof(), "server did not close the TCP connection");
}

both_backends!(
    a_panic_in_on_message_closes_only_that_connection,
    |backend| {
        let (h, closes) = panicky();
        let server = start(backend, h, |b| b);
        let addr = server.local_addr();
        let mut a = Client::connect(addr);
        let mut b = Client::connect(addr);
        a.send_text("hi");
        assert_eq!(a.recv_data(), Some(Ev::Text("hi".into())));
        b.send_text("before");
        assert_eq!(b.recv_data(), Some(Ev::Text("before".into())));

        a.send_text("panic");
        expect_1011(&mut a);
        let (a_id, code) = closes
            .recv_timeout(Duration::from_secs(10))
            .expect("on_close after the panic");
        assert_eq!(code, 1011);

        // The other connection on the same worker carries on, and new ones are
        // accepted.
        b.send_text("after");
        assert_eq!(b.recv_data(), Some(Ev::Text("after".into())));
        let mut c = Client::connect(addr);
        c.send_binary(&[7; 100]);
        assert_eq!(c.recv_data(), Some(Ev::Binary(vec![7; 100])));
        assert_eq!(server.stats().handler_panics, 1);

        // Close b normally: its on_close is the only other one; a's came once.
        b.send_frame(true, OpCode::Close, &1000u16.to_be_bytes());
        assert_eq!(b.recv_data(), Some(Ev::Close(Some((1000, String::new())))));
        let (b_id, code) = closes.recv_timeout(Duration::from_secs(10)).unwrap();
        assert_ne!(b_id, a_id);
        assert_eq!(code, 1000);
        drop(c);
        server.shutdown(Duration::from_millis(500));
        let rest: Vec<_> = closes.try_iter().collect();
        assert!(
            rest.iter().all(|&(id, _)| id != a_id),
            "on_close of the panicking connection came twice: {rest:?}"
        );
    }
);

both_backends!(echoes_queued_before_a_panic_still_go_out, |backend| {
    let (h, _closes) = panicky();
    let server = start(backend, h, |b| b);
    let addr = server.local_addr();
    // Small (copied), whole and large (sent from the receive buffer), and
    // fragmented (the assembled buffer taken over by the send).
    let small = b"echo-then-panic".to_vec();
    let mut large = b"echo-then-panic".to_vec();
    large.resize(8 << 10, b'x');
    for (name, payload, fragmented) in [
        ("small", small.clone(), false),
        ("lent", large.clone(), false),
        ("claimed", large.clone(), true),
    ] {
        let mut c = Client::connect(addr);
        if fragmented {
            let (first, rest) = payload.split_at(1000);
            c.send_frame(false, OpCode::Binary, first);
            c.send_frame(true, OpCode::Continuation, rest);
        } else {
            c.send_binary(&payload);
        }
        assert_eq!(c.recv_data(), Some(Ev::Binary(payload.clone())), "{name}");
        expect_1011(&mut c);
    }
    let mut c = Client::connect(addr);
    c.send_text("ok?");
    assert_eq!(c.recv_data(), Some(Ev::Text("ok?".into())));
    assert_eq!(server.stats().handler_panics, 3);
    server.shutdown(Duration::from_millis(500));
});

both_backends!(panics_in_upgrade_and_close_are_contained, |backend| {
    let (h, closes) = panicky();
    let server = start(backend, h, |b| b);
    let addr = server.local_addr();
    // on_upgrade: refused with 500, no connection.
    let resp = raw_http(
        addr,
        &[b"GET /panic-upgrade HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"],
    );
    assert!(resp.starts_with("HTTP/1.1 500"), "{resp}");
    // on_close panics: the close still completes, once.
    let mut c = Client::connect_path(addr, "/panic-close").expect("handshake");
    c.send_text("x");
    assert_eq!(c.recv_data(), Some(Ev::Text("x".into())));
    c.send_frame(true, OpCode::Close, &1000u16.to_be_bytes());
    assert_eq!(c.recv_data(), Some(Ev::Close(Some((1000, String::new())))));
    assert!(c.wait_eof());
    let (id, code) = closes.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(code, 1000);
    // A panic after a send in the same callback: the reply, then 1011.
    let mut d = Client::connect(addr);
    d.send_text("send-then-panic");
    assert_eq!(d.recv_data(), Some(Ev::Text("ok".into())));
    expect_1011(&mut d);
    let (d_id, code) = closes.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(code, 1011);
    assert_ne!(id, d_id);
    // on_open: the 101, then 1011.
    let mut o = Client::connect_path(addr, "/panic-open").expect("handshake");
    expect_1011(&mut o);
    let (o_id, code) = closes.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(code, 1011);
    // The worker still serves.
    let mut e = Client::connect(addr);
    e.send_text("still here");
    assert_eq!(e.recv_data(), Some(Ev::Text("still here".into())));
    assert_eq!(counter_reaches(&server, 4, |s| s.handler_panics), 4);
    server.shutdown(Duration::from_millis(500));
    assert!(
        closes
            .try_iter()
            .all(|(i, _)| i != id && i != d_id && i != o_id),
        "an on_close came twice"
    );
});
