//! NEON kernel (aarch64): 16 bytes per XOR, 64 per loop turn.

use super::scalar::rotated;
use core::arch::aarch64::{
    uint8x16_t, vdupq_n_u32, veorq_u8, vld1q_u8, vreinterpretq_u8_u32, vst1q_u8,
};

/// The key repeated over 16 bytes, in memory order.
#[inline]
#[target_feature(enable = "neon")]
#[allow(unused_unsafe)] // these intrinsics are safe on newer toolchains
fn key_vector(key: [u8; 4]) -> uint8x16_t {
    // Lanes go back to memory in the order they came from, so the key's
    // bytes repeat in order.
    // SAFETY: register-only intrinsics; NEON is enabled on this function.
    unsafe { vreinterpretq_u8_u32(vdupq_n_u32(u32::from_ne_bytes(key))) }
}

/// XOR `buf` with `key` repeated from phase 0.
///
/// A length that is not a multiple of 16 ends with one overlapping 16-byte
/// step over the last 16 bytes, loaded before the loop changed any of them.
///
/// # Safety
///
/// The CPU must support NEON (all aarch64 Linux targets do).
#[target_feature(enable = "neon")]
pub(super) unsafe fn apply(buf: &mut [u8], key: [u8; 4]) {
    let len = buf.len();
    if len < 16 {
        return super::scalar::apply(buf, key);
    }
    let p = buf.as_mut_ptr();
    let kv = key_vector(key);
    let tail_at = len - 16;
    // SAFETY: `len >= 16`: the 16 bytes at `p + len - 16` are inside `buf`;
    // `vld1q_u8` needs only byte alignment.
    let tail = unsafe { vld1q_u8(p.add(tail_at)) };
    let mut i = 0;
    while i + 64 <= len {
        // SAFETY: `i + 64 <= len`, so the four 16-byte loads and stores at
        // `p + i .. p + i + 64` are inside `buf`; byte alignment suffices.
        unsafe {
            let a = p.add(i);
            let x0 = vld1q_u8(a);
            let x1 = vld1q_u8(a.add(16));
            let x2 = vld1q_u8(a.add(32));
            let x3 = vld1q_u8(a.add(48));
            vst1q_u8(a, veorq_u8(x0, kv));
            vst1q_u8(a.add(16), veorq_u8(x1, kv));
            vst1q_u8(a.add(32), veorq_u8(x2, kv));
            vst1q_u8(a.add(48), veorq_u8(x3, kv));
        }
        i += 64;
    }
    while i + 16 <= len {
        // SAFETY: `i + 16 <= len`: the 16 bytes at `p + i` are inside `buf`.
        unsafe {
            let a = p.add(i);
            vst1q_u8(a, veorq_u8(vld1q_u8(a), kv));
        }
        i += 16;
    }
    if i < len {
        // Bytes [len-16, len) from their original values at key phase
        // (len - 16) % 4; those the loop already did get the same value.
        let kt = key_vector(rotated(key, tail_at));
        // SAFETY: as for the load of `tail`.
        unsafe { vst1q_u8(p.add(tail_at), veorq_u8(tail, kt)) };
    }
}
