//! Unmasking kernels: XOR a payload with the 4-byte masking key (RFC 6455 §5.3).
//!
//! The only module of the crate allowed to use `unsafe`: the SIMD kernels take
//! raw pointers into the payload. Which kernel runs is decided once, on first
//! use, from the CPU's features (AVX2, else SSE2 on x86_64; NEON on aarch64;
//! the portable word-at-a-time loop elsewhere, under Miri, or with the
//! `force-scalar` feature) and cached in a `OnceLock`.
//!
//! # Key rotation
//!
//! Payload byte `i` of a frame is XORed with `key[i % 4]`. When a payload
//! arrives in pieces, a piece that starts `offset` bytes into the payload
//! starts at key byte `offset % 4`; [`apply_mask`] rotates the key once so
//! every kernel works from phase 0. The kernels only ever advance by
//! multiples of 4 bytes before handing a tail to another kernel, so the phase
//! stays 0 for the tail too.
#![allow(unsafe_code)]

mod scalar;

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod sse2;

#[cfg(target_arch = "aarch64")]
mod neon;

use std::sync::OnceLock;

/// A kernel: XOR `buf` with the key repeated from phase 0.
type Kernel = fn(&mut [u8], [u8; 4]);

/// A copying kernel: `dst = src ^ key` (repeated from phase 0), one pass;
/// the slices have equal lengths.
type CopyKernel = fn(&mut [u8], &[u8], [u8; 4]);

/// The kernels picked for this CPU.
#[derive(Clone, Copy)]
struct Chosen {
    name: &'static str,
    apply: Kernel,
    copy: CopyKernel,
}

/// Below this length the dispatch (an atomic load and an indirect call) costs
/// more than it saves; the word loop handles it inline.
const SMALL: usize = 32;

/// XOR `buf` with the masking `key`, where `buf` starts `offset` bytes into
/// the frame's payload (so byte `i` of `buf` uses `key[(offset + i) % 4]`).
///
/// Masking and unmasking are the same operation. Any length and any start
/// alignment are accepted.
#[inline]
pub fn apply_mask(buf: &mut [u8], key: [u8; 4], offset: usize) {
    let key = rotate(key, offset);
    if buf.len() < SMALL {
        scalar::apply(buf, key);
    } else {
        (kernel())(buf, key);
    }
}

/// Write `src` XORed with the masking `key` into `dst` (equal lengths), where
/// `src` starts `offset` bytes into the frame's payload: a copy and the
/// unmasking in one pass, for payload bytes that are copied anyway (a message
/// assembled from several receive buffers). Panics if the lengths differ.
#[inline]
pub fn apply_mask_copy(dst: &mut [u8], src: &[u8], key: [u8; 4], offset: usize) {
    let key = rotate(key, offset);
    if src.len() < SMALL {
        scalar::apply_copy(dst, src, key);
    } else {
        (chosen().copy)(dst, src, key);
    }
}

/// Append `src` XORed with the masking `key` (from payload offset `offset`)
/// to `v`, in one pass: [`apply_mask_copy`] into `v`'s spare capacity, so
/// the new bytes are written once, not zeroed or copied first.
pub fn extend_with_mask(v: &mut Vec<u8>, src: &[u8], key: [u8; 4], offset: usize) {
    let n = src.len();
    v.reserve(n);
    let spare = &mut v.spare_capacity_mut()[..n];
    // SAFETY: `MaybeUninit<u8>` has the layout of `u8`; the kernels only
    // write `dst` (never read it), so its uninitialised contents are never
    // observed, and every one of the `n` bytes is written before `set_len`.
    let dst = unsafe { std::slice::from_raw_parts_mut(spare.as_mut_ptr().cast::<u8>(), n) };
    apply_mask_copy(dst, src, key, offset);
    // SAFETY: `reserve(n)` made room and the `n` bytes after `len` were just
    // initialised.
    unsafe { v.set_len(v.len() + n) };
}

/// The name of the kernel [`apply_mask`] uses on this machine: `"avx2"`,
/// `"sse2"`, `"neon"` or `"scalar"`. For start-up logs and benches.
pub fn kernel_name() -> &'static str {
    chosen().name
}

/// `key` rotated so that index 0 is the key byte for payload offset `offset`.
#[inline]
fn rotate(mut key: [u8; 4], offset: usize) -> [u8; 4] {
    key.rotate_left(offset % 4);
    key
}

#[inline]
fn kernel() -> Kernel {
    chosen().apply
}

fn chosen() -> Chosen {
    static KERNEL: OnceLock<Chosen> = OnceLock::new();
    *KERNEL.get_or_init(detect)
}

const SCALAR: Chosen = Chosen {
    name: "scalar",
    apply: scalar::apply,
    copy: scalar::apply_copy,
};

/// Picks the best kernel for this CPU. Runs once.
fn detect() -> Chosen {
    if cfg!(any(feature = "force-scalar", miri)) {
        return SCALAR;
    }
    // `available` lists the preferred kernel first and always ends with scalar.
    available()[0]
}

/// The SIMD kernels this CPU supports, best first, then the scalar one.
fn available() -> Vec<Chosen> {
    let mut v: Vec<Chosen> = Vec::with_capacity(3);
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            v.push(Chosen {
                name: "avx2",
                apply: avx2_entry,
                copy: avx2_copy_entry,
            });
        }
        // SSE2 is part of the x86_64 baseline.
        v.push(Chosen {
            name: "sse2",
            apply: sse2_entry,
            copy: sse2_copy_entry,
        });
    }
    #[cfg(target_arch = "aarch64")]
    {
        if std::arch::is_aarch64_feature_detected!("neon") {
            v.push(Chosen {
                name: "neon",
                apply: neon_entry,
                copy: neon_copy_entry,
            });
        }
    }
    v.push(SCALAR);
    v
}

#[cfg(target_arch = "x86_64")]
fn avx2_entry(buf: &mut [u8], key: [u8; 4]) {
    // SAFETY: this function is only handed out by `available`, after
    // `is_x86_feature_detected!("avx2")` returned true on this CPU.
    unsafe { avx2::apply(buf, key) }
}

#[cfg(target_arch = "x86_64")]
fn sse2_entry(buf: &mut [u8], key: [u8; 4]) {
    // SAFETY: SSE2 is part of the x86_64 baseline; every x86_64 CPU has it.
    unsafe { sse2::apply(buf, key) }
}

#[cfg(target_arch = "aarch64")]
fn neon_entry(buf: &mut [u8], key: [u8; 4]) {
    // SAFETY: only handed out by `available`, after
    // `is_aarch64_feature_detected!("neon")` returned true.
    unsafe { neon::apply(buf, key) }
}

#[cfg(target_arch = "x86_64")]
fn avx2_copy_entry(dst: &mut [u8], src: &[u8], key: [u8; 4]) {
    // SAFETY: handed out by `available` only after AVX2 was detected.
    unsafe { avx2::apply_copy(dst, src, key) }
}

#[cfg(target_arch = "x86_64")]
fn sse2_copy_entry(dst: &mut [u8], src: &[u8], key: [u8; 4]) {
    // SAFETY: SSE2 is part of the x86_64 baseline.
    unsafe { sse2::apply_copy(dst, src, key) }
}

/// NEON has no fused kernel yet: copy, then unmask in place (two passes
/// over bytes that are in L1/L2 by then). Not measured on aarch64 here.
#[cfg(target_arch = "aarch64")]
fn neon_copy_entry(dst: &mut [u8], src: &[u8], key: [u8; 4]) {
    dst.copy_from_slice(src);
    neon_entry(dst, key);
}

/// Reference and per-kernel entry points for tests and benches. Not API.
pub mod internal {
    /// An unmasking function with the same contract as [`super::apply_mask`].
    pub type UnmaskFn = fn(&mut [u8], [u8; 4], usize);

    /// The obvious byte-at-a-time loop: the reference all kernels must match.
    pub fn unmask_bytewise(buf: &mut [u8], key: [u8; 4], offset: usize) {
        for (i, b) in buf.iter_mut().enumerate() {
            *b ^= key[(offset + i) % 4];
        }
    }

    /// The portable word-at-a-time (u64) kernel, whatever the CPU has.
    pub fn unmask_scalar(buf: &mut [u8], key: [u8; 4], offset: usize) {
        super::scalar::apply(buf, super::rotate(key, offset));
    }

    /// The 4-byte-word loop tungstenite uses (`apply_mask_fast32`): bytes up
    /// to a `u32` boundary, then `u32` words with the rotated key, then the
    /// tail. Kept for comparison in the benches.
    pub fn unmask_word32(buf: &mut [u8], key: [u8; 4], offset: usize) {
        let key = super::rotate(key, offset);
        let mask_u32 = u32::from_ne_bytes(key);
        // SAFETY: every bit pattern is a valid `u32` and a valid `u8`, so
        // viewing the aligned middle of a byte slice as `u32`s is sound.
        let (prefix, words, suffix) = unsafe { buf.align_to_mut::<u32>() };
        super::scalar::apply_bytes(prefix, key, 0);
        let head = prefix.len() & 3;
        let mask_u32 = if head > 0 {
            if cfg!(target_endian = "big") {
                mask_u32.rotate_left(8 * head as u32)
            } else {
                mask_u32.rotate_right(8 * head as u32)
            }
        } else {
            mask_u32
        };
        for w in words.iter_mut() {
            *w ^= mask_u32;
        }
        super::scalar::apply_bytes(suffix, mask_u32.to_ne_bytes(), 0);
    }

    /// A copying kernel with the [`super::apply_mask_copy`] contract.
    pub type CopyFn = fn(&mut [u8], &[u8], [u8; 4], usize);

    /// Every copying kernel this CPU can run, by name, best first, ending
    /// with `"scalar"`, each taking any offset, length and alignment.
    pub fn copy_kernels() -> Vec<(&'static str, CopyFn)> {
        let mut v: Vec<(&'static str, CopyFn)> = Vec::new();
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2") {
                v.push(("avx2", |d, s, k, o| {
                    super::avx2_copy_entry(d, s, super::rotate(k, o))
                }));
            }
            v.push(("sse2", |d, s, k, o| {
                super::sse2_copy_entry(d, s, super::rotate(k, o))
            }));
        }
        #[cfg(target_arch = "aarch64")]
        {
            if std::arch::is_aarch64_feature_detected!("neon") {
                v.push(("neon", |d, s, k, o| {
                    super::neon_copy_entry(d, s, super::rotate(k, o))
                }));
            }
        }
        v.push(("scalar", |d, s, k, o| {
            super::scalar::apply_copy(d, s, super::rotate(k, o))
        }));
        v
    }

    /// Every kernel this CPU can run, by name, best first, ending with
    /// `"scalar"`; each with the [`super::apply_mask`] contract (any offset,
    /// any length, any alignment, no small-size shortcut).
    pub fn kernels() -> Vec<(&'static str, UnmaskFn)> {
        let mut v: Vec<(&'static str, UnmaskFn)> = Vec::new();
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2") {
                v.push(("avx2", |b, k, o| super::avx2_entry(b, super::rotate(k, o))));
            }
            v.push(("sse2", |b, k, o| super::sse2_entry(b, super::rotate(k, o))));
        }
        #[cfg(target_arch = "aarch64")]
        {
            if std::arch::is_aarch64_feature_detected!("neon") {
                v.push(("neon", |b, k, o| super::neon_entry(b, super::rotate(k, o))));
            }
        }
        v.push(("scalar", unmask_scalar));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::internal::*;
    use super::*;

    /// Every kernel, the dispatching entry point and the tungstenite loop
    /// against the byte loop, for every length up to 4 KiB + 64 bytes, every
    /// start alignment within a 64-byte window and every key offset. The
    /// proptest in `tests/` covers random keys and contents; this one is
    /// exhaustive on the geometry.
    #[test]
    fn all_kernels_match_bytewise() {
        let key = [0x37, 0xfa, 0x21, 0x3d];
        let mut fns = kernels();
        fns.push(("dispatch", apply_mask));
        fns.push(("word32", unmask_word32));
        let src: Vec<u8> = (0..4096 + 64 + 64).map(|i| (i * 7 + 3) as u8).collect();
        let mut want = src.clone();
        let mut got = src.clone();
        for len in (0..=300).chain((301..=4096 + 64).step_by(61)).chain([4096]) {
            for align in [0, 1, 2, 3, 5, 8, 13, 16, 31, 32, 33, 63] {
                for offset in 0..4 {
                    let r = align..align + len;
                    want[r.clone()].copy_from_slice(&src[r.clone()]);
                    unmask_bytewise(&mut want[r.clone()], key, offset);
                    for (name, f) in &fns {
                        got.copy_from_slice(&src);
                        f(&mut got[r.clone()], key, offset);
                        assert_eq!(
                            &got[r.clone()],
                            &want[r.clone()],
                            "{name} len={len} align={align} off={offset}"
                        );
                        // Nothing outside the range was touched.
                        assert_eq!(&got[..align], &src[..align]);
                        assert_eq!(&got[align + len..], &src[align + len..]);
                    }
                }
            }
        }
    }

    /// The copying kernels, the dispatching entry point and the `Vec`
    /// extension against the byte loop, over the same geometry, with the
    /// source and destination misaligned differently; the source is never
    /// changed and nothing around the destination range is written.
    #[test]
    fn copy_kernels_match_bytewise() {
        let key = [0x37, 0xfa, 0x21, 0x3d];
        let mut fns = copy_kernels();
        fns.push(("dispatch", apply_mask_copy));
        let src: Vec<u8> = (0..4096 + 64 + 64).map(|i| (i * 7 + 3) as u8).collect();
        let canvas = vec![0xa5u8; src.len() + 64];
        let mut got = canvas.clone();
        for len in (0..=300).chain((301..=4096 + 64).step_by(61)).chain([4096]) {
            for (sa, da) in [(0, 0), (1, 0), (0, 1), (3, 17), (13, 32), (31, 5), (32, 63)] {
                for offset in 0..4 {
                    let mut want = src[sa..sa + len].to_vec();
                    unmask_bytewise(&mut want, key, offset);
                    for (name, f) in &fns {
                        got.copy_from_slice(&canvas);
                        f(&mut got[da..da + len], &src[sa..sa + len], key, offset);
                        let at = format!("{name} len={len} src@{sa} dst@{da} off={offset}");
                        assert_eq!(&got[da..da + len], &want[..], "{at}");
                        assert_eq!(&got[..da], &canvas[..da], "{at}");
                        assert_eq!(&got[da + len..], &canvas[da + len..], "{at}");
                    }
                    let mut v = vec![9u8; da];
                    extend_with_mask(&mut v, &src[sa..sa + len], key, offset);
                    assert_eq!(&v[..da], &vec![9u8; da][..]);
                    assert_eq!(&v[da..], &want[..], "extend len={len} off={offset}");
                }
            }
        }
    }

    #[test]
    fn offsets_wrap_modulo_four() {
        let key = [1, 2, 3, 4];
        let mut a = [0u8; 9];
        let mut b = [0u8; 9];
        apply_mask(&mut a, key, 1);
        apply_mask(&mut b, key, 4 * 1000 + 1);
        assert_eq!(a, b);
        assert_eq!(a, [2, 3, 4, 1, 2, 3, 4, 1, 2]);
    }

    #[test]
    fn picks_the_best_kernel() {
        let name = kernel_name();
        if cfg!(feature = "force-scalar") {
            assert_eq!(name, "scalar");
        } else {
            assert_eq!(name, kernels()[0].0);
        }
    }
}
