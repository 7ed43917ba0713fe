//! Deterministic message payloads, so every echo can be checked byte for byte
//! without keeping a copy of what was sent.

/// Writes the payload of message `seq` of `size` bytes into `out` (cleared first).
///
/// The payload is ASCII (valid as text and as binary): the sequence number in
/// 16 hex digits, then a letter that depends on `seq`, repeated. Messages
/// shorter than 16 bytes carry the low digits of the sequence number.
pub fn fill(seq: u64, size: usize, out: &mut Vec<u8>) {
    out.clear();
    let hex = format!("{seq:016x}");
    let head = hex.as_bytes();
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
