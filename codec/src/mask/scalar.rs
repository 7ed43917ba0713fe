//! The portable kernel: 8 bytes at a time through `u64`s, then single bytes.

/// XOR `buf` with `key` repeated from phase 0.
///
/// Reads each 8-byte group as a native-endian `u64` (safe code: the compiler
/// turns `from_ne_bytes` of an array into one unaligned load), so any start
/// alignment works. After the groups, the processed length is a multiple of
/// 4, so the tail starts at key phase 0 again.
#[inline]
pub(super) fn apply(buf: &mut [u8], key: [u8; 4]) {
    // The same byte sequence twice; endianness does not matter because the
    // value goes back to memory in the same order it came from.
    let k64 = u64::from_ne_bytes([
        key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3],
    ]);
    let mut groups = buf.chunks_exact_mut(8);
    for g in &mut groups {
        let v = u64::from_ne_bytes([g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7]]) ^ k64;
        g.copy_from_slice(&v.to_ne_bytes());
    }
    apply_bytes(groups.into_remainder(), key, 0);
}

/// Byte loop starting at key phase `phase`; for tails and prefixes.
#[inline]
pub(super) fn apply_bytes(buf: &mut [u8], key: [u8; 4], phase: usize) {
    for (i, b) in buf.iter_mut().enumerate() {
        *b ^= key[(phase + i) & 3];
    }
}
