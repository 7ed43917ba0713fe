//! Unmasking throughput: each kernel this CPU has (AVX2/SSE2/NEON/scalar
//! word loop), the dispatching `apply_mask`, and the 4-byte-word loop
//! tungstenite uses, at 16 B, 125 B, 1 KiB, 64 KiB and 1 MiB.
//!
//! `cargo bench -p ringws-codec --bench unmask` (add `-- --quick` for a
//! smoke run).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ringws_codec::apply_mask;
use ringws_codec::internal::{kernels, unmask_word32, UnmaskFn};
use std::hint::black_box;

fn unmask(c: &mut Criterion) {
    let key = [0x37, 0xfa, 0x21, 0x3d];
    let mut fns: Vec<(&str, UnmaskFn)> = vec![
        ("apply_mask", apply_mask),
        ("tungstenite_word32", unmask_word32),
    ];
    fns.extend(kernels());
    eprintln!(
        "apply_mask uses the {} kernel",
        ringws_codec::mask_kernel_name()
    );
    let mut group = c.benchmark_group("unmask");
    for size in [16usize, 125, 1024, 64 << 10, 1 << 20] {
        // One byte past an aligned start: payloads follow a 2–14 byte
        // header in the receive buffer, so they are rarely aligned.
        let mut buf = vec![0xA5u8; size + 1];
        group.throughput(Throughput::Bytes(size as u64));
        for (name, f) in &fns {
            group.bench_with_input(BenchmarkId::new(*name, size), &size, |b, _| {
                b.iter(|| f(black_box(&mut buf[1..]), black_box(key), 0))
            });
        }
    }
    group.finish();
}

criterion_group!(benches, unmask);
criterion_main!(benches);
