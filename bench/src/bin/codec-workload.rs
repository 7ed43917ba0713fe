//! A fixed, deterministic codec workload for instruction counting
//! (`perf/callgrind.sh`): decode 100,000 masked 16-byte text frames (unmask +
//! UTF-8 validation) fed in 4 KiB reads, and write the echo frame header for
//! each, as the server's hot path does. No clock, no randomness, no I/O, so
//! the instruction count only changes when the code does.

use ringws_codec::{encode_header, write_frame, Event, OpCode, Receiver, ReceiverConfig, Role};

/// Frames decoded per run.
const FRAMES: usize = 100_000;
/// Payload size of each frame.
const PAYLOAD: usize = 16;
/// Size of each simulated read.
const READ: usize = 4096;

fn main() {
    let frames: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(FRAMES);
    // The client side: masked frames with varying keys, as a browser would send.
    let mut wire = Vec::with_capacity(frames * (PAYLOAD + 6));
    let payload = *b"0123456789abcdef";
    for i in 0..frames {
        let key = (i as u32).wrapping_mul(0x9E37_79B9).to_le_bytes();
        write_frame(
            &mut wire,
            true,
            OpCode::Text,
            &payload[..PAYLOAD],
            Some(key),
        );
    }
    let (echoed, echoed_bytes) = decode_and_echo(&mut wire);
    assert_eq!(echoed, frames);
    println!("decoded and echoed {echoed} frames ({echoed_bytes} payload bytes)");
}

/// The measured part (`perf/callgrind.sh` counts only inside this function):
/// the server's receive path and echo header for every frame of `wire`.
#[inline(never)]
fn decode_and_echo(wire: &mut [u8]) -> (usize, usize) {
    let mut receiver = Receiver::new(ReceiverConfig {
        role: Role::Server,
        ..ReceiverConfig::default()
    });
    let mut out = Vec::with_capacity(64 * 1024);
    let mut echoed = 0usize;
    let mut echoed_bytes = 0usize;
    for chunk in wire.chunks_mut(READ) {
        let mut feed = receiver.feed(chunk);
        while let Some(ev) = feed.next_event() {
            match ev.expect("valid frames") {
                Event::Text(t) => {
                    let mut header = [0u8; 14];
                    let n = encode_header(&mut header, true, OpCode::Text, t.len() as u64, None);
                    out.extend_from_slice(&header[..n]);
                    echoed += 1;
                    echoed_bytes += t.len();
                }
                other => panic!("unexpected event {other:?}"),
            }
        }
        // The engine would send `out` here; the workload only reuses it.
        out.clear();
    }
    (echoed, echoed_bytes)
}
