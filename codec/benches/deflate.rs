//! permessage-deflate costs: compressing and inflating realistic JSON
//! (200 B – 4 KiB market-data messages, generated deterministically) and
//! incompressible bytes, with a per-message reset (Shared mode) and with
//! context takeover (Dedicated mode), plus the receive path inflating
//! compressed frames. Throughput is in uncompressed bytes; the compressed
//! sizes are printed once per case.

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use ringws_codec::{
    apply_mask, Deflater, Event, FrameHeader, HeaderBytes, Inflater, OpCode, Receiver,
    ReceiverConfig,
};
use std::hint::black_box;

#[allow(dead_code)]
mod payloads {
    include!("support/payloads.rs");
}

/// Messages per iteration: a sequence, so context takeover has history.
const MSGS: usize = 64;

fn corpus(kind: &str, size: usize) -> Vec<Vec<u8>> {
    (0..MSGS as u64)
        .map(|seq| match kind {
            "json" => payloads::json_message(size, seq).into_bytes(),
            _ => payloads::random_bytes(size, seq + 1),
        })
        .collect()
}

fn cases() -> Vec<(&'static str, usize)> {
    vec![
        ("json", 200),
        ("json", 1024),
        ("json", 4096),
        ("binary", 1024),
    ]
}

fn deflate(c: &mut Criterion) {
    let mut group = c.benchmark_group("deflate");
    for (kind, size) in cases() {
        let msgs = corpus(kind, size);
        let total: usize = msgs.iter().map(Vec::len).sum();
        group.throughput(Throughput::Bytes(total as u64));
        for (mode, reset) in [("shared", true), ("dedicated", false)] {
            let mut d = Deflater::new(15, reset);
            let mut out = Vec::with_capacity(total * 2);
            let compressed: usize = msgs
                .iter()
                .map(|m| {
                    out.clear();
                    d.compress(m, &mut out);
                    out.len()
                })
                .sum();
            println!(
                "deflate/{mode}/{kind}/{size}: {total} B -> {compressed} B ({:.3})",
                compressed as f64 / total as f64
            );
            group.bench_with_input(
                BenchmarkId::new(format!("{mode}/{kind}"), size),
                &msgs,
                |b, msgs| {
                    let mut d = Deflater::new(15, reset);
                    let mut out = Vec::with_capacity(total * 2);
                    b.iter(|| {
                        out.clear();
                        for m in msgs {
                            d.compress(m, &mut out);
                        }
                        black_box(out.len())
                    })
                },
            );
        }
    }
    group.finish();
}

fn inflate(c: &mut Criterion) {
    let mut group = c.benchmark_group("inflate");
    for (kind, size) in cases() {
        let msgs = corpus(kind, size);
        let total: usize = msgs.iter().map(Vec::len).sum();
        group.throughput(Throughput::Bytes(total as u64));
        // Shared: each message alone, into the worker's buffer.
        let mut d = Deflater::new(15, true);
        let alone: Vec<Vec<u8>> = msgs
            .iter()
            .map(|m| {
                let mut out = Vec::new();
                d.compress(m, &mut out);
                out
            })
            .collect();
        group.bench_with_input(
            BenchmarkId::new(format!("shared/{kind}"), size),
            &alone,
            |b, alone| {
                let mut i = Inflater::shared();
                let mut out = Vec::new();
                b.iter(|| {
                    let mut n = 0;
                    for m in alone {
                        match i.inflate_message(kind == "json", m, 1 << 20, &mut out) {
                            Ok(Event::Text(s)) => n += s.len(),
                            Ok(Event::Binary(b)) => n += b.len(),
                            other => panic!("{other:?}"),
                        }
                    }
                    black_box(n)
                })
            },
        );
        // Dedicated: the receive path, frames of a context-keeping stream
        // through `feed_inflating` (masked, as from a client).
        let mut d = Deflater::new(15, false);
        let mut wire = Vec::new();
        for (i, m) in msgs.iter().enumerate() {
            let mut p = Vec::new();
            d.compress(m, &mut p);
            let key = (i as u32).wrapping_mul(0x9E37_79B9).to_ne_bytes();
            let mut h = FrameHeader::new(true, OpCode::Binary, Some(key), p.len() as u64);
            h.rsv1 = true;
            wire.extend_from_slice(HeaderBytes::from_header(&h).as_slice());
            let at = wire.len();
            wire.extend_from_slice(&p);
            apply_mask(&mut wire[at..], key, 0);
        }
        let config = ReceiverConfig {
            allow_rsv1: true,
            ..ReceiverConfig::server()
        };
        group.bench_with_input(
            BenchmarkId::new(format!("dedicated_receive/{kind}"), size),
            &wire,
            |b, wire| {
                b.iter_batched_ref(
                    || wire.clone(),
                    |buf| {
                        // A fresh stream per batch: the wire starts one.
                        let mut i = Inflater::new(15, false);
                        let mut rx = Receiver::new(config);
                        let mut n = 0;
                        let mut feed = rx.feed_inflating(buf, &mut i);
                        while let Some(ev) = feed.next_event() {
                            match ev {
                                Ok(Event::Binary(b)) => n += b.len(),
                                other => panic!("{other:?}"),
                            }
                        }
                        n
                    },
                    BatchSize::LargeInput,
                )
            },
        );
    }
    group.finish();
}

criterion_group!(benches, deflate, inflate);
criterion_main!(benches);
