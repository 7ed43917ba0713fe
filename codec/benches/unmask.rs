//! Unmasking throughput: each kernel this CPU has (AVX2/SSE2/NEON/scalar
//! word loop), the dispatching `apply_mask`, and the 4-byte-word loop
//! tungstenite uses, at 16 B, 125 B, 1 KiB, 64 KiB and 1 MiB. Group
//! `unmask_copy`: bytes copied into another buffer and unmasked (what message
//! assembly does), as a copy then an in-place unmask, against the one-pass
//! `apply_mask_copy` and each copying kernel.
//!
//! `cargo bench -p ringws-codec --bench unmask` (add `-- --quick` for a
//! smoke run).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ringws_codec::internal::{copy_kernels, kernels, unmask_word32, CopyFn, UnmaskFn};
use ringws_codec::{apply_mask, apply_mask_copy};
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

    fn copy_then_unmask(dst: &mut [u8], src: &[u8], key: [u8; 4], offset: usize) {
        dst.copy_from_slice(src);
        apply_mask(dst, key, offset);
    }
    let mut fns: Vec<(&str, CopyFn)> = vec![
        ("copy_then_apply_mask", copy_then_unmask),
        ("apply_mask_copy", apply_mask_copy),
    ];
    fns.extend(copy_kernels());
    let mut group = c.benchmark_group("unmask_copy");
    for size in [1024usize, 64 << 10, 1 << 20] {
        // Source one byte past alignment (after a header), destination
        // aligned (a fresh allocation).
        let src = vec![0xA5u8; size + 1];
        let mut dst = vec![0u8; size];
        group.throughput(Throughput::Bytes(size as u64));
        for (name, f) in &fns {
            group.bench_with_input(BenchmarkId::new(*name, size), &size, |b, _| {
                b.iter(|| f(black_box(&mut dst), black_box(&src[1..]), black_box(key), 0))
            });
        }
    }
    group.finish();
}

criterion_group!(benches, unmask);
criterion_main!(benches);
