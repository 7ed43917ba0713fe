//! Receive path throughput: a buffer of masked client frames through the
//! `Receiver` (header parsing, checks, in-place unmasking, UTF-8
//! validation), reported in frames per second. The buffer is refilled
//! outside the timed part, since decoding unmasks it in place.

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use ringws_codec::{write_frame, Event, OpCode, Receiver, ReceiverConfig};
use std::hint::black_box;

const FRAMES: usize = 1000;

fn stream(payload: &[u8], op: OpCode) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..FRAMES {
        let key = (i as u32).wrapping_mul(0x9E37_79B9).to_ne_bytes();
        write_frame(&mut out, true, op, payload, Some(key));
    }
    out
}

fn decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode");
    group.throughput(Throughput::Elements(FRAMES as u64));
    let cases = [
        ("text", 16usize, stream(b"0123456789abcdef", OpCode::Text)),
        (
            "text",
            1024,
            stream("é".repeat(512).as_bytes(), OpCode::Text),
        ),
        ("binary", 16, stream(&[7; 16], OpCode::Binary)),
    ];
    for (kind, size, bytes) in &cases {
        group.bench_with_input(BenchmarkId::new(*kind, size), bytes, |b, bytes| {
            let mut rx = Receiver::new(ReceiverConfig::server());
            b.iter_batched_ref(
                || bytes.clone(),
                |buf| {
                    let mut n = 0usize;
                    let mut feed = rx.feed(buf);
                    while let Some(ev) = feed.next_event() {
                        match ev {
                            Ok(Event::Text(s)) => n += black_box(s).len(),
                            Ok(Event::Binary(b)) => n += black_box(b).len(),
                            other => panic!("{other:?}"),
                        }
                    }
                    n
                },
                BatchSize::LargeInput,
            )
        });
    }
    // 16 KiB text messages fed in 4 KiB pieces, as from the engine's
    // receive ring: each message is assembled (unmask-copied, UTF-8-checked
    // piece by piece) and lent out as one `&str`.
    let (size, pieces) = (16 * 1024, 4096);
    let assembled = stream("aé€".repeat(size / 6).as_bytes(), OpCode::Text);
    group.bench_with_input(
        BenchmarkId::new("text_assembled", size),
        &assembled,
        |b, bytes| {
            let mut rx = Receiver::new(ReceiverConfig::server());
            b.iter_batched_ref(
                || bytes.clone(),
                |buf| {
                    let mut n = 0usize;
                    for piece in buf.chunks_mut(pieces) {
                        let mut feed = rx.feed(piece);
                        while let Some(ev) = feed.next_event() {
                            match ev {
                                Ok(Event::Text(s)) => n += black_box(s).len(),
                                other => panic!("{other:?}"),
                            }
                        }
                    }
                    n
                },
                BatchSize::LargeInput,
            )
        },
    );
    group.finish();
}

criterion_group!(benches, decode);
criterion_main!(benches);
