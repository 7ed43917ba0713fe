//! Deterministic message payloads, so every echo can be checked byte for byte
//! without keeping a copy of what was sent.

/// Writes the payload of message `seq` of `size` bytes into `out` (cleared first).
///
/// The payload is ASCII (valid as text and as binary): the sequence number in
/// 16 hex digits, then a letter that depends on `seq`, repeated. Messages
/// shorter than 16 bytes carry the low digits of the sequence number.
pub fn fill(seq: u64, size: usize, out: &mut Vec<u8>) {
    out.clear();
    // Hex digits written directly: this runs for every message sent and every
    // echo checked, and a `format!` here was a fifth of the client's CPU.
    let mut head = [0u8; 16];
    for (i, digit) in head.iter_mut().enumerate() {
        *digit = b"0123456789abcdef"[((seq >> (60 - 4 * i)) & 0xf) as usize];
    }
    let head = &head[..];
    if size <= head.len() {
        out.extend_from_slice(&head[head.len() - size..]);
        return;
    }
    out.extend_from_slice(head);
    out.resize(size, b'a' + (seq % 26) as u8);
}

#[cfg(test)]
mod tests {
    use super::fill;

    #[test]
    fn the_head_is_the_sequence_number_in_hex() {
        let mut a = Vec::new();
        fill(0x1f, 16, &mut a);
        assert_eq!(a, b"000000000000001f");
        fill(0xdead_beef_0123_4567, 20, &mut a);
        assert_eq!(a, b"deadbeef01234567pppp");
        fill(0x1f, 2, &mut a);
        assert_eq!(a, b"1f");
    }

    #[test]
    fn payloads_have_the_asked_size_and_differ_by_seq() {
        let mut a = Vec::new();
        let mut b = Vec::new();
        for size in [0usize, 1, 15, 16, 17, 512, 1 << 20] {
            fill(7, size, &mut a);
            fill(8, size, &mut b);
            assert_eq!(a.len(), size);
            assert!(a.is_ascii());
            if size > 0 {
                assert_ne!(a, b, "size {size}");
            }
        }
    }
}
