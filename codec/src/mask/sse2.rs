//! SSE2 kernel (x86_64 baseline): 16 bytes per XOR, 64 per loop turn.

use super::scalar::rotated;
use core::arch::x86_64::{
    __m128i, _mm_loadu_si128, _mm_set1_epi32, _mm_storeu_si128, _mm_xor_si128,
};

/// XOR `buf` with `key` repeated from phase 0.
///
/// Unaligned loads and stores throughout. A length that is not a multiple
/// of 16 ends with one overlapping 16-byte step over the last 16 bytes,
/// loaded before the loop changed any of them, so there is no byte loop.
///
/// # Safety
///
/// The CPU must support SSE2 (every x86_64 CPU does).
#[target_feature(enable = "sse2")]
pub(super) unsafe fn apply(buf: &mut [u8], key: [u8; 4]) {
    let len = buf.len();
    if len < 16 {
        return super::scalar::apply(buf, key);
    }
    let p = buf.as_mut_ptr();
    // Lanes are written back in memory order, so the key's bytes land in
    // order whatever the lane endianness.
    let kv = _mm_set1_epi32(i32::from_ne_bytes(key));
    let tail_at = len - 16;
    // SAFETY: `len >= 16`, so the 16 bytes at `p + len - 16` are inside `buf`.
    let tail = unsafe { _mm_loadu_si128(p.add(tail_at) as *const __m128i) };
    let mut i = 0;
    while i + 64 <= len {
        // SAFETY: `i + 64 <= len`, so the four 16-byte loads and stores at
        // `p + i .. p + i + 64` are inside `buf`; `loadu`/`storeu` accept any
        // alignment.
        unsafe {
            let a = p.add(i) as *mut __m128i;
            let x0 = _mm_loadu_si128(a);
            let x1 = _mm_loadu_si128(a.add(1));
            let x2 = _mm_loadu_si128(a.add(2));
            let x3 = _mm_loadu_si128(a.add(3));
            _mm_storeu_si128(a, _mm_xor_si128(x0, kv));
            _mm_storeu_si128(a.add(1), _mm_xor_si128(x1, kv));
            _mm_storeu_si128(a.add(2), _mm_xor_si128(x2, kv));
            _mm_storeu_si128(a.add(3), _mm_xor_si128(x3, kv));
        }
        i += 64;
    }
    while i + 16 <= len {
        // SAFETY: `i + 16 <= len`: the 16 bytes at `p + i` are inside `buf`.
        unsafe {
            let a = p.add(i) as *mut __m128i;
            _mm_storeu_si128(a, _mm_xor_si128(_mm_loadu_si128(a), kv));
        }
        i += 16;
    }
    if i < len {
        // Bytes [len-16, len) from their original values, at key phase
        // (len - 16) % 4; the ones the loop already did get the same value.
        let kt = _mm_set1_epi32(i32::from_ne_bytes(rotated(key, tail_at)));
        // SAFETY: as for the load of `tail` above.
        unsafe { _mm_storeu_si128(p.add(tail_at) as *mut __m128i, _mm_xor_si128(tail, kt)) };
    }
}

/// Write `len` bytes of `src` XORed with `key` (from phase 0) to `dst` in one
/// pass. A length that is not a multiple of 16 ends with one overlapping
/// step over the last 16 bytes, recomputed from `src`.
///
/// # Safety
///
/// The CPU must support SSE2 (every x86_64 CPU does).
#[target_feature(enable = "sse2")]
pub(super) unsafe fn apply_copy(dst: &mut [u8], src: &[u8], key: [u8; 4]) {
    assert_eq!(dst.len(), src.len());
    let len = src.len();
    if len < 16 {
        return super::scalar::apply_copy(dst, src, key);
    }
    let (dst, src) = (dst.as_mut_ptr(), src.as_ptr());
    let kv = _mm_set1_epi32(i32::from_ne_bytes(key));
    let mut i = 0;
    while i + 64 <= len {
        // SAFETY: `i + 64 <= len`: the four vectors are inside both slices;
        // `loadu`/`storeu` accept any alignment.
        unsafe {
            let s = src.add(i) as *const __m128i;
            let d = dst.add(i) as *mut __m128i;
            let x0 = _mm_loadu_si128(s);
            let x1 = _mm_loadu_si128(s.add(1));
            let x2 = _mm_loadu_si128(s.add(2));
            let x3 = _mm_loadu_si128(s.add(3));
            _mm_storeu_si128(d, _mm_xor_si128(x0, kv));
            _mm_storeu_si128(d.add(1), _mm_xor_si128(x1, kv));
            _mm_storeu_si128(d.add(2), _mm_xor_si128(x2, kv));
            _mm_storeu_si128(d.add(3), _mm_xor_si128(x3, kv));
        }
        i += 64;
    }
    while i + 16 <= len {
        // SAFETY: `i + 16 <= len`: the vector is inside both slices.
        unsafe {
            let x = _mm_loadu_si128(src.add(i) as *const __m128i);
            _mm_storeu_si128(dst.add(i) as *mut __m128i, _mm_xor_si128(x, kv));
        }
        i += 16;
    }
    if i < len {
        let tail_at = len - 16;
        let kt = _mm_set1_epi32(i32::from_ne_bytes(rotated(key, tail_at)));
        // SAFETY: `len >= 16`: the last 16 bytes are inside both slices.
        unsafe {
            let x = _mm_loadu_si128(src.add(tail_at) as *const __m128i);
            _mm_storeu_si128(dst.add(tail_at) as *mut __m128i, _mm_xor_si128(x, kt));
        }
    }
}
