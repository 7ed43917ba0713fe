//! An echo of a message that arrived whole in a receive buffer is sent
//! from that buffer (`Builder::send_from_recv_buffers`): the bytes come back
//! unchanged while the ring keeps serving later reads, both backends, and
//! with the feature off every payload is copied as before.

mod common;

use std::io::Write;
use std::time::Duration;

use common::*;
use ringws::Backend;
use ringws_codec::OpCode;

fn echoes(backend: Backend, on: bool, ring: Option<(u16, u32)>) {
    let h = start(backend, Echo::new(), |b| {
        let b = b.send_from_recv_buffers(on);
        match ring {
            Some((count, size)) => b.recv_buffers(count, size),
            None => b,
        }
    });
    let mut c = Client::connect(h.local_addr());
    // One at a time (each arrives alone, mostly in one buffer), then in
    // bursts of eight (several per read, buffers reused while lent).
    let payload =
        |i: usize, size: usize| -> Vec<u8> { (0..size).map(|j| (i * 131 + j / 3) as u8).collect() };
    for i in 0..40 {
        let size = [4096, 20_000, 65_536][i % 3];
        let p = payload(i, size);
        c.send_binary(&p);
        assert!(c.recv_data() == Some(Ev::Binary(p)), "echo {i}");
    }
    for burst in 0..10 {
        let ps: Vec<Vec<u8>> = (0..8)
            .map(|k| payload(100 + burst * 8 + k, 30_000))
            .collect();
        let mut frames = Vec::new();
        for (k, p) in ps.iter().enumerate() {
            let op = if k % 2 == 0 {
                OpCode::Binary
            } else {
                OpCode::Text
            };
            let text: String;
            let bytes: &[u8] = if op == OpCode::Text {
                text = p.iter().map(|b| char::from(b'a' + b % 26)).collect();
                text.as_bytes()
            } else {
                p
            };
            ringws_codec::write_frame(&mut frames, true, op, bytes, mask());
        }
        c.s.write_all(&frames).unwrap();
        for (k, p) in ps.iter().enumerate() {
            let got = c.recv_data();
            let want = if k % 2 == 0 {
                Ev::Binary(p.clone())
            } else {
                Ev::Text(p.iter().map(|b| char::from(b'a' + b % 26)).collect())
            };
            assert!(got == Some(want), "burst {burst}, message {k}");
        }
    }
    // Pipelined while the client does not read (a small receive buffer):
    // the echoes wait in the send queue, lent, while the server keeps
    // reading the rest into the other receive buffers.
    let small: libc::c_int = 64 << 10;
    // SAFETY: a valid socket and a c_int option value of the right size.
    let r = unsafe {
        libc::setsockopt(
            std::os::fd::AsRawFd::as_raw_fd(&c.s),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&small as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(r, 0);
    let ps: Vec<Vec<u8>> = (0..160).map(|i| payload(500 + i, 40_000)).collect();
    let mut frames = Vec::new();
    for p in &ps {
        ringws_codec::write_frame(&mut frames, true, OpCode::Binary, p, mask());
    }
    let mut w = c.s.try_clone().unwrap();
    let writer = std::thread::spawn(move || w.write_all(&frames).unwrap());
    std::thread::sleep(Duration::from_millis(300));
    for (i, p) in ps.into_iter().enumerate() {
        assert!(c.recv_data() == Some(Ev::Binary(p)), "pipelined echo {i}");
    }
    writer.join().unwrap();
    // Small messages are copied onto the queue's tail, never lent.
    for i in 0..50u8 {
        c.send_binary(&[i; 100]);
        assert_eq!(c.recv_data(), Some(Ev::Binary(vec![i; 100])));
    }
    let lent = counter_reaches(&h, 1, |s| s.lent_sends);
    if on {
        assert!(lent > 0, "no echo was sent from a receive buffer");
    } else {
        assert_eq!(lent, 0, "lent with the feature off");
    }
    h.shutdown(Duration::from_secs(1));
}

both_backends!(
    echoes_sent_from_receive_buffers_arrive_unchanged,
    |backend| {
        echoes(backend, true, None);
        // A small ring: buffers come back to the kernel (and are refilled) as
        // fast as loans allow, so one recycled early would corrupt an echo.
        echoes(backend, true, Some((4, 64 << 10)));
    }
);

both_backends!(echoes_copied_when_lending_is_off, |backend| {
    echoes(backend, false, None);
});

/// With the default receive buffers, 64 KiB frames sent one at a time
/// arrive whole and are echoed from the ring, not assembled and copied.
/// On io_uring a receive never spans two ring buffers: the one that ends a
/// buffer is cut there, and a frame cut so is assembled (copied) instead of
/// lent. 16 × 128 KiB buffers cut every other 65,550-byte frame (at most
/// half lent); 1 MiB buffers cut one in 16. epoll reads each frame into a
/// 256 KiB pool buffer. A frame whose second TCP segment arrives after the
/// first was read is assembled too (timing), hence the margin.
fn default_buffers_lend_64k_echoes(backend: Backend) {
    let h = start(backend, Echo::new(), |b| b);
    let mut c = Client::connect(h.local_addr());
    const N: u64 = 64;
    for i in 0..N as usize {
        let p: Vec<u8> = (0..65_536).map(|j| (i * 7 + j / 5) as u8).collect();
        c.send_binary(&p);
        assert!(c.recv_data() == Some(Ev::Binary(p)), "echo {i}");
    }
    let lent = counter_reaches(&h, N, |s| s.lent_sends);
    assert!(
        lent * 4 >= N * 3,
        "{lent} of {N} 64 KiB echoes sent from their receive buffer: frames cut at buffer ends?"
    );
    h.shutdown(Duration::from_secs(1));
}

both_backends!(
    default_receive_buffers_hold_64k_frames_whole,
    default_buffers_lend_64k_echoes
);
