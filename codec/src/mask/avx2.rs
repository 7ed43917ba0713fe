//! AVX2 kernel: 32 bytes per XOR, 128 per loop turn, aligned in the middle.

use super::scalar::rotated;
use core::arch::x86_64::{
    __m256i, _mm256_load_si256, _mm256_loadu_si256, _mm256_set1_epi32, _mm256_store_si256,
    _mm256_storeu_si256, _mm256_xor_si256,
};

/// XOR `buf` with `key` repeated from phase 0.
///
/// No byte loops: the first and last 32 bytes are loaded (unaligned) before
/// anything is written; the middle runs from the first 32-byte boundary with
/// aligned loads and stores (unaligned ones that cross cache lines cost
/// throughput on large payloads); then the saved head and tail are stored
/// XORed with the key at their phases. Where they overlap the middle they
/// write the same bytes it did, computed from the same original values.
///
/// # Safety
///
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn apply(buf: &mut [u8], key: [u8; 4]) {
    let len = buf.len();
    if len < 32 {
        // SAFETY: SSE2 is part of the x86_64 baseline.
        return unsafe { super::sse2::apply(buf, key) };
    }
    let p = buf.as_mut_ptr();
    let tail_at = len - 32;
    // SAFETY: `len >= 32`: the 32 bytes at `p` and at `p + len - 32` are
    // inside `buf`; `loadu` accepts any alignment.
    let (head, tail) = unsafe {
        (
            _mm256_loadu_si256(p as *const __m256i),
            _mm256_loadu_si256(p.add(tail_at) as *const __m256i),
        )
    };
    // Start of the aligned middle, 0..=31 bytes in.
    let start = p.align_offset(32).min(len);
    // Lanes go back to memory in the order they came from, so the key's
    // bytes repeat in order; the middle starts at key phase `start % 4`.
    let km = _mm256_set1_epi32(i32::from_ne_bytes(rotated(key, start)));
    let mut i = start;
    while i + 128 <= len {
        // SAFETY: `i + 128 <= len` keeps the four vectors at `p + i ..
        // p + i + 128` inside `buf`; `p + start` is 32-byte aligned and `i -
        // start` a multiple of 32, as the aligned load and store require.
        unsafe {
            let a = p.add(i) as *mut __m256i;
            let y0 = _mm256_load_si256(a);
            let y1 = _mm256_load_si256(a.add(1));
            let y2 = _mm256_load_si256(a.add(2));
            let y3 = _mm256_load_si256(a.add(3));
            _mm256_store_si256(a, _mm256_xor_si256(y0, km));
            _mm256_store_si256(a.add(1), _mm256_xor_si256(y1, km));
            _mm256_store_si256(a.add(2), _mm256_xor_si256(y2, km));
            _mm256_store_si256(a.add(3), _mm256_xor_si256(y3, km));
        }
        i += 128;
    }
    while i + 32 <= len {
        // SAFETY: `i + 32 <= len` keeps the vector inside `buf`; alignment
        // as above.
        unsafe {
            let a = p.add(i) as *mut __m256i;
            _mm256_store_si256(a, _mm256_xor_si256(_mm256_load_si256(a), km));
        }
        i += 32;
    }
    let kh = _mm256_set1_epi32(i32::from_ne_bytes(key));
    let kt = _mm256_set1_epi32(i32::from_ne_bytes(rotated(key, tail_at)));
    // The middle covered [start, i); head covers [0, 32) ⊇ [0, start) and
    // tail covers [len - 32, len) ⊇ [i, len) (as `len - i < 32` or, when the
    // middle was empty, `i = start <= 31` and `len < start + 32`, so the
    // two overlap and cover everything).
    // SAFETY: same bounds as the loads of `head` and `tail`.
    unsafe {
        _mm256_storeu_si256(p as *mut __m256i, _mm256_xor_si256(head, kh));
        _mm256_storeu_si256(p.add(tail_at) as *mut __m256i, _mm256_xor_si256(tail, kt));
    }
}

/// Write `len` bytes of `src` XORed with `key` (from phase 0) to `dst`: the
/// copy and the unmasking in one pass over the bytes.
///
/// Stores are 32-byte aligned in the middle (loads from `src` unaligned);
/// the first and last 32 bytes are done unaligned, overlapping the middle
/// with the same values (`src` is never written, so recomputing is safe).
///
/// # Safety
///
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn apply_copy(dst: &mut [u8], src: &[u8], key: [u8; 4]) {
    assert_eq!(dst.len(), src.len());
    let len = src.len();
    if len < 32 {
        // SAFETY: SSE2 is part of the x86_64 baseline.
        return unsafe { super::sse2::apply_copy(dst, src, key) };
    }
    let (dst, src) = (dst.as_mut_ptr(), src.as_ptr());
    let tail_at = len - 32;
    let kh = _mm256_set1_epi32(i32::from_ne_bytes(key));
    let kt = _mm256_set1_epi32(i32::from_ne_bytes(rotated(key, tail_at)));
    // SAFETY: `len >= 32`: the first 32 bytes are inside both slices
    // (equal lengths, asserted); `loadu`/`storeu` accept any alignment.
    unsafe {
        let h = _mm256_loadu_si256(src as *const __m256i);
        _mm256_storeu_si256(dst as *mut __m256i, _mm256_xor_si256(h, kh));
    }
    let start = dst.align_offset(32).min(len);
    let km = _mm256_set1_epi32(i32::from_ne_bytes(rotated(key, start)));
    let mut i = start;
    while i + 128 <= len {
        // SAFETY: `i + 128 <= len` keeps the four vectors inside both
        // ranges; `dst + start` is 32-byte aligned and `i - start` a
        // multiple of 32, as the aligned stores require.
        unsafe {
            let s = src.add(i) as *const __m256i;
            let d = dst.add(i) as *mut __m256i;
            let y0 = _mm256_loadu_si256(s);
            let y1 = _mm256_loadu_si256(s.add(1));
            let y2 = _mm256_loadu_si256(s.add(2));
            let y3 = _mm256_loadu_si256(s.add(3));
            _mm256_store_si256(d, _mm256_xor_si256(y0, km));
            _mm256_store_si256(d.add(1), _mm256_xor_si256(y1, km));
            _mm256_store_si256(d.add(2), _mm256_xor_si256(y2, km));
            _mm256_store_si256(d.add(3), _mm256_xor_si256(y3, km));
        }
        i += 128;
    }
    while i + 32 <= len {
        // SAFETY: `i + 32 <= len` keeps the vector inside both slices;
        // alignment as above.
        unsafe {
            let y = _mm256_loadu_si256(src.add(i) as *const __m256i);
            _mm256_store_si256(dst.add(i) as *mut __m256i, _mm256_xor_si256(y, km));
        }
        i += 32;
    }
    // SAFETY: as for the head: the last 32 bytes are inside both slices.
    unsafe {
        let t = _mm256_loadu_si256(src.add(tail_at) as *const __m256i);
        _mm256_storeu_si256(dst.add(tail_at) as *mut __m256i, _mm256_xor_si256(t, kt));
    }
}
