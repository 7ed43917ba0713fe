//! UTF-8 validation throughput: ASCII and mixed (CJK + emoji) text at 1 KiB
//! and 64 KiB; simdutf8 (`basic`, `compat`), the streaming validator (in
//! 1500-byte chunks, as it runs on fragments) and `std::str::from_utf8`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ringws_codec::Utf8Validator;
use std::hint::black_box;

fn text(mixed: bool, size: usize) -> Vec<u8> {
    let unit = if mixed {
        "WebSocket 通信は速い 😀 テキスト 한국어 🎉 mixed 文字列, "
    } else {
        "The quick brown fox jumps over the lazy dog; 0123456789. "
    };
    let mut s = String::new();
    while s.len() < size {
        s.push_str(unit);
    }
    // Cut on a character boundary at or below `size`.
    let mut cut = size;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    s.truncate(cut);
    s.into_bytes()
}

fn utf8(c: &mut Criterion) {
    let mut group = c.benchmark_group("utf8");
    for (kind, mixed) in [("ascii", false), ("mixed", true)] {
        for size in [1024usize, 64 << 10] {
            let data = text(mixed, size);
            group.throughput(Throughput::Bytes(data.len() as u64));
            let id = |name: &str| BenchmarkId::new(format!("{name}/{kind}"), size);
            group.bench_function(id("simdutf8_basic"), |b| {
                b.iter(|| simdutf8::basic::from_utf8(black_box(&data)).is_ok())
            });
            group.bench_function(id("simdutf8_compat"), |b| {
                b.iter(|| simdutf8::compat::from_utf8(black_box(&data)).is_ok())
            });
            group.bench_function(id("streaming_1500"), |b| {
                b.iter(|| {
                    let mut v = Utf8Validator::new();
                    for chunk in black_box(&data).chunks(1500) {
                        v.push(chunk).unwrap();
                    }
                    v.finish().is_ok()
                })
            });
            group.bench_function(id("std"), |b| {
                b.iter(|| std::str::from_utf8(black_box(&data)).is_ok())
            });
        }
    }
    group.finish();
}

criterion_group!(benches, utf8);
criterion_main!(benches);
