//! The transport on both backends against a plain TCP echo thread: bytes
//! come back whole and in order (large buffers force partial sends), failed
//! connects and EOF are reported, and a token can be reused at once.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::time::{Duration, Instant};

use super::*;

/// A TCP server echoing raw bytes, one thread per connection.
fn raw_echo_server() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { return };
            std::thread::spawn(move || {
                let mut r = s.try_clone().unwrap();
                let _ = std::io::copy(&mut r, &mut s);
            });
        }
    });
    addr
}

/// Epoll always; uring when this kernel has it (else skipped, with a message).
fn backends() -> Vec<Backend> {
    let mut v = vec![Backend::Epoll];
    match resolve(ClientBackend::Uring) {
        Ok(b) => v.push(b),
        Err(e) => eprintln!("skipping the uring half: {e}"),
    }
    v
}

fn pattern(conn: usize, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(31).wrapping_add(conn as u32 * 7) as u8)
        .collect()
}

#[test]
fn echoed_bytes_come_back_whole_and_in_order() {
    let addr = raw_echo_server();
    for backend in backends() {
        let n = 4;
        let half = 1 << 20;
        let mut d = Driver::new(backend, n).unwrap();
        assert_eq!(d.backend(), backend);
        let expected: Vec<Vec<u8>> = (0..n).map(|i| pattern(i, 2 * half)).collect();
        let mut outs: Vec<Vec<u8>> = expected.iter().map(|e| e[..half].to_vec()).collect();
        for (i, out) in outs.iter_mut().enumerate() {
            d.connect(i, addr, ConnectOptions::default()).unwrap();
            d.flush(i, out).unwrap();
            // Queued while the first half may still be in flight.
            out.extend_from_slice(&expected[i][half..]);
            d.flush(i, out).unwrap();
        }
        let mut got: Vec<Vec<u8>> = vec![Vec::new(); n];
        let deadline = Instant::now() + Duration::from_secs(20);
        while got.iter().map(Vec::len).sum::<usize>() < n * 2 * half {
            assert!(Instant::now() < deadline, "{backend:?}: timed out");
            let mut sent = Vec::new();
            d.poll(Some(Duration::from_millis(100)), |ev| match ev {
                Event::Data(t, b) => got[t].extend_from_slice(b),
                Event::Sent(t) => sent.push(t),
                Event::Closed(t, e) => panic!("{backend:?}: connection {t} closed: {e:?}"),
            })
            .unwrap();
            for t in sent {
                d.flush(t, &mut outs[t]).unwrap();
            }
        }
        for i in 0..n {
            assert!(got[i] == expected[i], "{backend:?}: connection {i} differs");
            d.close(i);
        }
    }
}

#[test]
fn refused_connect_is_reported_as_closed_with_an_error() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    for backend in backends() {
        let mut d = Driver::new(backend, 1).unwrap();
        d.connect(3, addr, ConnectOptions::default()).unwrap();
        let mut seen = None;
        let deadline = Instant::now() + Duration::from_secs(5);
        while seen.is_none() && Instant::now() < deadline {
            d.poll(Some(Duration::from_millis(50)), |ev| {
                if let Event::Closed(t, e) = ev {
                    seen = Some((t, e.and_then(|e| e.raw_os_error())));
                }
            })
            .unwrap();
        }
        assert_eq!(seen, Some((3, Some(libc::ECONNREFUSED))), "{backend:?}");
    }
}

#[test]
fn peer_shutdown_is_eof() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { return };
            let _ = s.write_all(b"bye");
        }
    });
    for backend in backends() {
        let mut d = Driver::new(backend, 1).unwrap();
        d.connect(0, addr, ConnectOptions::default()).unwrap();
        let mut data = Vec::new();
        let mut end = None;
        let deadline = Instant::now() + Duration::from_secs(5);
        while end.is_none() && Instant::now() < deadline {
            d.poll(Some(Duration::from_millis(50)), |ev| match ev {
                Event::Data(_, b) => data.extend_from_slice(b),
                Event::Sent(_) => {}
                Event::Closed(_, e) => end = Some(e.map(|e| e.to_string())),
            })
            .unwrap();
        }
        assert_eq!(data, b"bye", "{backend:?}");
        assert_eq!(end, Some(None), "{backend:?}: expected EOF");
    }
}

#[test]
fn a_token_can_be_reused_while_its_old_connection_winds_down() {
    let addr = raw_echo_server();
    for backend in backends() {
        let mut d = Driver::new(backend, 1).unwrap();
        for round in 0..20u8 {
            d.connect(0, addr, ConnectOptions { linger_zero: true })
                .unwrap();
            let mut out = vec![round; 100];
            d.flush(0, &mut out).unwrap();
            let mut got = Vec::new();
            let deadline = Instant::now() + Duration::from_secs(5);
            while got.len() < 100 {
                assert!(
                    Instant::now() < deadline,
                    "{backend:?}: round {round} timed out"
                );
                d.poll(Some(Duration::from_millis(50)), |ev| match ev {
                    Event::Data(0, b) => got.extend_from_slice(b),
                    Event::Sent(0) => {}
                    other => panic!("{backend:?}: round {round}: {other:?}"),
                })
                .unwrap();
            }
            assert_eq!(got, vec![round; 100], "{backend:?}");
            // Closed with the multishot recv still armed: the new connection
            // must not see the old one's completions.
            d.close(0);
        }
        // Closing a connection that is still connecting, then reusing the token.
        d.connect(1, addr, ConnectOptions::default()).unwrap();
        d.close(1);
        d.connect(1, addr, ConnectOptions::default()).unwrap();
        let mut out = b"again".to_vec();
        d.flush(1, &mut out).unwrap();
        let mut got = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(5);
        while got.len() < 5 && Instant::now() < deadline {
            d.poll(Some(Duration::from_millis(50)), |ev| {
                if let Event::Data(1, b) = ev {
                    got.extend_from_slice(b)
                }
            })
            .unwrap();
        }
        assert_eq!(got, b"again", "{backend:?}");
    }
}

#[test]
fn a_raw_peer_sees_what_was_flushed() {
    // The other direction: bytes flushed arrive at a plain std socket.
    for backend in backends() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let peer = std::thread::spawn(move || {
            let (mut s, _) = l.accept()?;
            s.set_read_timeout(Some(Duration::from_secs(5)))?;
            let mut buf = [0u8; 11];
            s.read_exact(&mut buf).map(|()| buf)
        });
        let mut d = Driver::new(backend, 1).unwrap();
        d.connect(0, addr, ConnectOptions::default()).unwrap();
        let mut out = b"hello, peer".to_vec();
        d.flush(0, &mut out).unwrap();
        // The uring driver submits only when polled.
        let deadline = Instant::now() + Duration::from_secs(5);
        while !peer.is_finished() && Instant::now() < deadline {
            d.poll(Some(Duration::from_millis(20)), |_| {}).unwrap();
        }
        assert_eq!(
            &peer.join().unwrap().unwrap(),
            b"hello, peer",
            "{backend:?}"
        );
    }
}
