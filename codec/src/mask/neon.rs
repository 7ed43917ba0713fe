//! NEON kernel (aarch64): 16 bytes per XOR, 64 per loop turn.

use core::arch::aarch64::{vdupq_n_u32, veorq_u8, vld1q_u8, vreinterpretq_u8_u32, vst1q_u8};

/// XOR `buf` with `key` repeated from phase 0.
///
/// # Safety
///
/// The CPU must support NEON (all aarch64 Linux targets do).
#[target_feature(enable = "neon")]
pub(super) unsafe fn apply(buf: &mut [u8], key: [u8; 4]) {
    // Lanes go back to memory in the order they came from, so the key's
    // bytes repeat in order.
    let kv = vreinterpretq_u8_u32(vdupq_n_u32(u32::from_ne_bytes(key)));
    let len = buf.len();
    let p = buf.as_mut_ptr();
    let mut i = 0;
    while i + 64 <= len {
        // SAFETY: `i + 64 <= len`, so the four 16-byte loads and stores at
        // `p + i .. p + i + 64` are inside `buf`; `vld1q_u8`/`vst1q_u8` need
        // only byte alignment.
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
    // `i` is a multiple of 4: the tail starts at key phase 0.
    super::scalar::apply(&mut buf[i..], key);
}
