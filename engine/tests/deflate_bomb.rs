//! A decompression bomb against a server with permessage-deflate: small
//! compressed frames that would inflate to far more than the message
//! limit are refused with 1009, and the server's heap grows by about the
//! limit while refusing, not by what the frames would have inflated to.
//!
//! The server runs in this process, so a counting global allocator sees
//! its heap. One test runs every case in turn, so nothing else allocates
//! meanwhile (the client's bytes are built before measuring).

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::Duration;

use common::{start, Echo};
use ringws::{Backend, Compression};
use ringws_codec::{apply_mask, ClientHandshake, ClientStatus, Deflater, HeaderBytes, OpCode};

struct Counting;

static NOW: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded to `System` with the caller's layout;
// the counters only observe sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's (valid, non-zero) layout.
        let p = unsafe { System.alloc(l) };
        if !p.is_null() {
            let now = NOW.fetch_add(l.size(), Relaxed) + l.size();
            PEAK.fetch_max(now, Relaxed);
        }
        p
    }
    // Counted as the change in size: the system allocator grows large
    // blocks in place (mremap), so old and new never both exist.
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        // SAFETY: forwarded with the caller's pointer, layout and size.
        let q = unsafe { System.realloc(p, l, new) };
        if !q.is_null() {
            if new >= l.size() {
                let now = NOW.fetch_add(new - l.size(), Relaxed) + new - l.size();
                PEAK.fetch_max(now, Relaxed);
            } else {
                NOW.fetch_sub(l.size() - new, Relaxed);
            }
        }
        q
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        NOW.fetch_sub(l.size(), Relaxed);
        // SAFETY: `p` came from `alloc` with this layout.
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static A: Counting = Counting;

const LIMIT: usize = 1 << 20;
const MASK: [u8; 4] = [1, 2, 3, 4];

/// One message of `frames` frames, each `per_frame` inflated zero bytes
/// compressed (context kept across the frames, as one message).
fn bomb(frames: usize, per_frame: usize) -> Vec<u8> {
    let zeros = vec![0u8; per_frame];
    let mut d = Deflater::new(15, false).threshold(0);
    let mut out = Vec::new();
    let mut total = 0;
    for i in 0..frames {
        let mut z = Vec::new();
        d.compress(&zeros, &mut z);
        if i + 1 < frames {
            z.extend_from_slice(&[0, 0, 0xff, 0xff]); // the sync flush, kept mid-message
        }
        total += z.len();
        let fin = i + 1 == frames;
        let h = if i == 0 {
            HeaderBytes::compressed(fin, OpCode::Binary, z.len() as u64, Some(MASK))
        } else {
            HeaderBytes::new(fin, OpCode::Continuation, z.len() as u64, Some(MASK))
        };
        out.extend_from_slice(h.as_slice());
        let at = out.len();
        out.extend_from_slice(&z);
        apply_mask(&mut out[at..], MASK, 0);
    }
    eprintln!(
        "bomb: {frames} frame(s), {total} compressed bytes inflating to {} MiB",
        (frames * per_frame) >> 20
    );
    out
}

fn connect(addr: std::net::SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut hs = ClientHandshake::new(&addr.to_string(), "/").extensions("permessage-deflate");
    let mut req = Vec::new();
    hs.write_request(&mut req);
    s.write_all(&req).unwrap();
    let mut buf = [0u8; 1024];
    loop {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0);
        if let ClientStatus::Complete { response, .. } = hs.feed(&buf[..n]).unwrap() {
            assert!(response.deflate().is_some(), "negotiated");
            return s;
        }
    }
}

/// Send `bytes`, expect a close with 1009; returns the heap's growth
/// meanwhile.
fn refused(s: &mut TcpStream, bytes: &[u8]) -> usize {
    std::thread::sleep(Duration::from_millis(50));
    let base = NOW.load(Relaxed);
    PEAK.store(base, Relaxed);
    // A write may fail once the server has closed; the answer is read anyway.
    let _ = s.write_all(bytes);
    let mut head = [0u8; 4];
    s.read_exact(&mut head).unwrap();
    let grew = PEAK.load(Relaxed).saturating_sub(base);
    assert_eq!(head[0], 0x88, "a close frame");
    assert_eq!(
        u16::from_be_bytes([head[2], head[3]]),
        1009,
        "message too big"
    );
    grew
}

#[test]
fn a_deflate_bomb_is_refused_with_1009_in_bounded_memory() {
    let backends: &[Backend] = if common::uring_available() {
        &[Backend::Uring, Backend::Epoll]
    } else {
        eprintln!("io_uring unavailable: epoll only");
        &[Backend::Epoll]
    };
    // One 16 KiB-ish frame worth 64 MiB, and 64 frames worth 16 MiB each.
    let one = bomb(1, 64 << 20);
    let many = bomb(64, 16 << 20);
    let mut results = Vec::new();
    for &backend in backends {
        for policy in [
            Compression::Shared,
            Compression::Dedicated {
                server_window_bits: 15,
                client_window_bits: 15,
            },
        ] {
            let h = start(backend, Echo::new(), |b| {
                b.compression(policy).max_message_size(LIMIT)
            });
            let mut s = connect(h.local_addr());
            let grew = refused(&mut s, &one);
            eprintln!("{backend:?} {policy:?}: one frame: heap +{grew} B");
            // The inflate buffer stops at the limit + 1; the rest is the
            // inflater's state and the connection's receive bookkeeping.
            results.push((
                grew,
                LIMIT + (256 << 10),
                format!("{backend:?} {policy:?} one"),
            ));
            let mut s = connect(h.local_addr());
            let grew = refused(&mut s, &many);
            eprintln!("{backend:?} {policy:?}: 64 frames: heap +{grew} B");
            // A fragmented compressed message is collected first (its
            // compressed size held to the limit), then inflated: at most
            // about twice the limit.
            results.push((
                grew,
                2 * LIMIT + (256 << 10),
                format!("{backend:?} {policy:?} many"),
            ));
            h.shutdown(Duration::from_millis(100));
        }
    }
    for (grew, bound, what) in results {
        assert!(grew < bound, "{what}: +{grew} B, bound {bound}");
    }
}
