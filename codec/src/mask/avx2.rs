//! AVX2 kernel: 32 bytes per XOR, 128 per loop turn, aligned stores.

use core::arch::x86_64::{
    __m256i, _mm256_load_si256, _mm256_set1_epi32, _mm256_store_si256, _mm256_xor_si256,
};

/// XOR `buf` with `key` repeated from phase 0.
///
/// Masks a byte prefix up to the first 32-byte boundary with the word loop,
/// so the vector loop uses aligned loads and stores (unaligned ones that
/// cross cache lines cost throughput on large payloads), then hands the tail
/// (< 32 bytes) back to the word loop.
///
/// # Safety
///
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn apply(buf: &mut [u8], mut key: [u8; 4]) {
    let head = buf.as_ptr().align_offset(32).min(buf.len());
    let (prefix, body) = buf.split_at_mut(head);
    super::scalar::apply(prefix, key);
    // The body starts `head` bytes into the payload: rotate the key to match.
    key.rotate_left(head % 4);

    let kv = _mm256_set1_epi32(i32::from_ne_bytes(key));
    let len = body.len();
    let p = body.as_mut_ptr();
    debug_assert!(len == 0 || p as usize % 32 == 0);
    let mut i = 0;
    while i + 128 <= len {
        // SAFETY: `i + 128 <= len`, so the four 32-byte vectors at
        // `p + i .. p + i + 128` are inside `body`; `p` is 32-byte aligned
        // (`align_offset` above) and `i` is a multiple of 32, as the aligned
        // load and store require.
        unsafe {
            let a = p.add(i) as *mut __m256i;
            let y0 = _mm256_load_si256(a);
            let y1 = _mm256_load_si256(a.add(1));
            let y2 = _mm256_load_si256(a.add(2));
            let y3 = _mm256_load_si256(a.add(3));
            _mm256_store_si256(a, _mm256_xor_si256(y0, kv));
            _mm256_store_si256(a.add(1), _mm256_xor_si256(y1, kv));
            _mm256_store_si256(a.add(2), _mm256_xor_si256(y2, kv));
            _mm256_store_si256(a.add(3), _mm256_xor_si256(y3, kv));
        }
        i += 128;
    }
    while i + 32 <= len {
        // SAFETY: `i + 32 <= len` keeps the vector inside `body`; alignment
        // as above.
        unsafe {
            let a = p.add(i) as *mut __m256i;
            _mm256_store_si256(a, _mm256_xor_si256(_mm256_load_si256(a), kv));
        }
        i += 32;
    }
    // `i` is a multiple of 4: the tail starts at key phase 0.
    super::scalar::apply(&mut body[i..], key);
}
