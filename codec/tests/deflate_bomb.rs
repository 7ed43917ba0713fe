//! A decompression bomb costs at most the message limit: the inflated size
//! is held to `max_message_size` while inflating, and this binary's
//! counting allocator shows the heap never grows past the limit plus one
//! output chunk plus the inflater's own state.
//!
//! DEFLATE's best ratio is 1032:1, so a 16 KiB frame inflates to at most
//! ~16.5 MiB; the 1 GiB bomb is 64 such frames in one message.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Mutex;

use ringws_codec::{
    apply_mask, Deflater, Event, FrameHeader, HeaderBytes, Inflater, Limits, OpCode, ProtocolError,
    Receiver, ReceiverConfig, INFLATE_CHUNK,
};

struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let live = LIVE.fetch_add(layout.size(), Relaxed) + layout.size();
        PEAK.fetch_max(live, Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    // Growing a buffer is counted as its growth: the system allocator
    // resizes large blocks in place (mremap), without a second copy alive.
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size >= layout.size() {
            let grow = new_size - layout.size();
            let live = LIVE.fetch_add(grow, Relaxed) + grow;
            PEAK.fetch_max(live, Relaxed);
        } else {
            LIVE.fetch_sub(layout.size() - new_size, Relaxed);
        }
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// The tests share the counters: run them one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// Runs `f` and returns how far the heap grew above where it started.
fn peak_growth(f: impl FnOnce()) -> usize {
    let base = LIVE.load(Relaxed);
    PEAK.store(base, Relaxed);
    f();
    PEAK.load(Relaxed) - base
}

const KEY: [u8; 4] = [9, 8, 7, 6];
const FRAME: usize = 16 << 10;
const LIMIT: usize = 1 << 20;

/// A compressed stream of `zeros` zero bytes, cut into 16 KiB masked
/// frames (RSV1 on the first) of one message; and its compressed length.
fn bomb(zeros_per_chunk: usize, chunks: usize) -> (Vec<u8>, usize) {
    // 16 MiB of zeros compress to ~16 KiB; the compressed chunk is
    // self-contained (a literal, then distance-1 matches), so repeating it
    // (with its flush marker) repeats the output.
    let mut one = Vec::new();
    Deflater::new(15, true).compress(&vec![0; zeros_per_chunk], &mut one);
    one.extend_from_slice(&[0, 0, 0xff, 0xff]);
    let compressed = one.repeat(chunks);
    let mut wire = Vec::new();
    let n = compressed.len().div_ceil(FRAME);
    for (i, p) in compressed.chunks(FRAME).enumerate() {
        let op = if i == 0 {
            OpCode::Binary
        } else {
            OpCode::Continuation
        };
        let mut h = FrameHeader::new(i + 1 == n, op, Some(KEY), p.len() as u64);
        h.rsv1 = i == 0;
        wire.extend_from_slice(HeaderBytes::from_header(&h).as_slice());
        let at = wire.len();
        wire.extend_from_slice(p);
        apply_mask(&mut wire[at..], KEY, 0);
    }
    (wire, compressed.len())
}

fn config(max_message_size: usize) -> ReceiverConfig {
    ReceiverConfig {
        allow_rsv1: true,
        limits: Limits {
            max_frame_size: 1 << 30,
            max_message_size: max_message_size as u64,
        },
        ..ReceiverConfig::server()
    }
}

/// Memory of the inflater itself (zlib state and a 32 KiB window), which
/// is allocated on first use and is not message memory.
const INFLATER_STATE: usize = 64 << 10;

#[test]
fn one_gib_bomb_streaming_costs_the_limit() {
    let _serial = SERIAL.lock().unwrap();
    let (wire, compressed) = bomb(16 << 20, 64);
    println!(
        "bomb: {compressed} compressed bytes in {} frames, would inflate to {} MiB",
        compressed.div_ceil(FRAME),
        64 * 16
    );
    assert!(compressed < 2 * LIMIT);
    let mut pieces: Vec<Vec<u8>> = wire.chunks(64 << 10).map(<[u8]>::to_vec).collect();
    let mut result = None;
    let mut fed = 0;
    let growth = peak_growth(|| {
        let mut rx = Receiver::new(config(LIMIT));
        let mut inflater = Inflater::new(15, false);
        for piece in &mut pieces {
            fed += piece.len();
            let mut feed = rx.feed_inflating(piece, &mut inflater);
            if let Some(ev) = feed.next_event() {
                result = Some(ev.map(|_| ()));
                break;
            }
        }
    });
    println!("streaming: refused after {fed} wire bytes, heap grew by {growth} B (limit {LIMIT})");
    assert_eq!(result, Some(Err(ProtocolError::MessageTooBig)));
    assert_eq!(ProtocolError::MessageTooBig.close_code().0, 1009);
    assert!(
        fed <= 2 * FRAME + (64 << 10),
        "refused within the first frames"
    );
    assert!(
        growth <= LIMIT + 1 + INFLATE_CHUNK + INFLATER_STATE,
        "heap grew by {growth} B"
    );
}

#[test]
fn one_16_kib_frame_shared_inflater_costs_the_limit() {
    let _serial = SERIAL.lock().unwrap();
    // A single frame of ≤ 16 KiB that would inflate to 16 MiB.
    let (mut wire, compressed) = bomb(16 << 20, 1);
    assert!(compressed <= FRAME + 64, "{compressed}");
    let mut out = Vec::new();
    let mut shared = Inflater::shared();
    let mut result = None;
    let growth = peak_growth(|| {
        let mut rx = Receiver::new(config(LIMIT));
        let mut feed = rx.feed(&mut wire);
        while let Some(ev) = feed.next_event() {
            let Ok(Event::Compressed { text, payload }) = ev else {
                panic!("{ev:?}");
            };
            result = Some(
                shared
                    .inflate_message(text, payload, LIMIT, &mut out)
                    .map(|_| ()),
            );
        }
    });
    println!(
        "shared: {compressed} B frame refused, output buffer {} B, heap grew by {growth} B",
        out.capacity()
    );
    assert_eq!(result, Some(Err(ProtocolError::MessageTooBig)));
    assert!(out.capacity() <= LIMIT + 1, "{}", out.capacity());
    assert!(
        growth <= LIMIT + 1 + INFLATE_CHUNK + INFLATER_STATE,
        "heap grew by {growth} B"
    );
}
