//! The portable kernel: 8 bytes at a time through `u64`s.
//!
//! Safe code only: `u64::from_ne_bytes` of an array becomes one unaligned
//! load, so any start alignment works.

/// XOR `buf` with `key` repeated from phase 0.
///
/// A length that is not a multiple of 8 ends with one overlapping 8-byte
/// step over the last 8 bytes (loaded before the loop changed any of them),
/// instead of a byte loop: short payloads (pings, chat messages) are the
/// common case and a byte loop dominates their cost.
#[inline]
pub(super) fn apply(buf: &mut [u8], key: [u8; 4]) {
    let n = buf.len();
    if n >= 8 {
        let tail_at = n - 8;
        let tail = read8(buf, tail_at);
        let k64 = key64(key);
        let mut groups = buf.chunks_exact_mut(8);
        for g in &mut groups {
            let v = u64::from_ne_bytes([g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7]]) ^ k64;
            g.copy_from_slice(&v.to_ne_bytes());
        }
        if !groups.into_remainder().is_empty() {
            // The tail's bytes [n-8, n) start at key phase (n - 8) % 4.
            write8(buf, tail_at, tail ^ key64(rotated(key, tail_at)));
        }
    } else if n >= 4 {
        let tail_at = n - 4;
        let head = u32::from_ne_bytes([buf[0], buf[1], buf[2], buf[3]]);
        let tail = u32::from_ne_bytes([
            buf[tail_at],
            buf[tail_at + 1],
            buf[tail_at + 2],
            buf[tail_at + 3],
        ]);
        // Tail first, then head: where they overlap both write the same
        // (correct) bytes, computed from the original contents.
        let t = tail ^ u32::from_ne_bytes(rotated(key, tail_at));
        buf[tail_at..].copy_from_slice(&t.to_ne_bytes());
        buf[..4].copy_from_slice(&(head ^ u32::from_ne_bytes(key)).to_ne_bytes());
    } else {
        apply_bytes(buf, key, 0);
    }
}

/// Write `src` XORed with `key` (from phase 0) to `dst`, 8 bytes at a time;
/// a length that is not a multiple of 8 ends with one overlapping step over
/// the last 8 bytes, recomputed from `src`.
#[inline]
pub(super) fn apply_copy(dst: &mut [u8], src: &[u8], key: [u8; 4]) {
    assert_eq!(dst.len(), src.len());
    let n = src.len();
    if n < 8 {
        for (i, (d, s)) in dst.iter_mut().zip(src).enumerate() {
            *d = s ^ key[i & 3];
        }
        return;
    }
    let k64 = key64(key);
    for (d, s) in dst.chunks_exact_mut(8).zip(src.chunks_exact(8)) {
        let v = u64::from_ne_bytes([s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]]) ^ k64;
        d.copy_from_slice(&v.to_ne_bytes());
    }
    if n % 8 != 0 {
        let tail_at = n - 8;
        write8(
            dst,
            tail_at,
            read8(src, tail_at) ^ key64(rotated(key, tail_at)),
        );
    }
}

/// Byte loop starting at key phase `phase`.
#[inline]
pub(super) fn apply_bytes(buf: &mut [u8], key: [u8; 4], phase: usize) {
    for (i, b) in buf.iter_mut().enumerate() {
        *b ^= key[(phase + i) & 3];
    }
}

/// `key` rotated to start at payload offset `at`.
#[inline]
pub(super) fn rotated(mut key: [u8; 4], at: usize) -> [u8; 4] {
    key.rotate_left(at % 4);
    key
}

/// The key twice, as the `u64` whose memory bytes are `key key`.
#[inline]
fn key64(k: [u8; 4]) -> u64 {
    u64::from_ne_bytes([k[0], k[1], k[2], k[3], k[0], k[1], k[2], k[3]])
}

#[inline]
fn read8(buf: &[u8], at: usize) -> u64 {
    let b = &buf[at..at + 8];
    u64::from_ne_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
}

#[inline]
fn write8(buf: &mut [u8], at: usize, v: u64) {
    buf[at..at + 8].copy_from_slice(&v.to_ne_bytes());
}
