//! Finding the end of an HTTP head that arrives in pieces, within a byte limit.
//!
//! `httparse` restarts from the first byte on every call, so calling it after
//! each small read costs O(n²) on a head that trickles in (8 KiB one byte at a
//! time would be 33 M byte visits). Instead [`HeadReader`] carries a four-state
//! scanner across reads and hands the buffer to `httparse` once, when the blank
//! line that ends the head has arrived. Work and memory per connection are both
//! bounded by the configured limit.

/// Where the end-of-head scanner stands after the bytes seen so far.
///
/// The head ends at the first empty line after the request (status) line. An
/// empty line is `\n` followed by `\n` or `\r\n`; `httparse` accepts bare `\n`
/// line endings, so the scanner does too. Blank lines *before* the first line
/// are skipped by `httparse` (RFC 9112 §2.2 robustness), hence `Start`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scan {
    /// Only CR/LF seen so far: a blank line here does not end anything.
    Start,
    /// Inside a line.
    Line,
    /// Just after a `\n`.
    Lf,
    /// Just after `\n\r`.
    LfCr,
}

/// The head does not fit in the configured limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TooLarge;

/// Buffer for a head split across reads.
///
/// Invariants: `buf.len() <= max` for the `max` passed to every `push`;
/// `buf.capacity() <= max` too (growth is capped); `buf` holds no byte past
/// the end of the head; `scan` describes `buf`'s contents.
#[derive(Debug)]
pub(crate) struct HeadReader {
    buf: Vec<u8>,
    scan: Scan,
}

impl HeadReader {
    pub(crate) const fn new() -> Self {
        Self {
            buf: Vec::new(),
            scan: Scan::Start,
        }
    }

    /// True while nothing is buffered: the caller may then try to parse the
    /// next slice in place, without copying it.
    pub(crate) fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Bytes currently buffered.
    pub(crate) fn len(&self) -> usize {
        self.buf.len()
    }

    /// Capacity of the buffer (tests check it stays within the limit).
    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// Appends the part of `bytes` that belongs to the head.
    ///
    /// Returns `Some(consumed)` when the head is complete: `bytes[..consumed]`
    /// was its last part, and the whole head is now in the buffer (take it with
    /// [`HeadReader::take`]). `None` means everything was buffered and more is
    /// needed. The limit is checked before copying: on `Err` nothing was added.
    pub(crate) fn push(&mut self, bytes: &[u8], max: usize) -> Result<Option<usize>, TooLarge> {
        let room = max.saturating_sub(self.buf.len());
        // Scan no further than the limit allows: past it, the answer is 431
        // whatever follows.
        let window = &bytes[..bytes.len().min(room)];
        let mut scan = self.scan;
        let end = find_end(&mut scan, window);
        let take = match end {
            Some(end) => end,
            None if bytes.len() > room => return Err(TooLarge),
            None => bytes.len(),
        };
        self.reserve_within(take, max);
        self.buf.extend_from_slice(&bytes[..take]);
        self.scan = scan;
        Ok(end)
    }

    /// Hands over the buffered head and resets the reader.
    pub(crate) fn take(&mut self) -> Vec<u8> {
        self.scan = Scan::Start;
        std::mem::take(&mut self.buf)
    }

    /// Drops the buffer (after a verdict), releasing its memory.
    pub(crate) fn clear(&mut self) {
        *self = Self::new();
    }

    /// Grows the buffer geometrically but never past `max`, so a peer that
    /// sends `max` bytes makes us allocate at most `max`, not 2 × `max`.
    fn reserve_within(&mut self, add: usize, max: usize) {
        let need = self.buf.len() + add;
        if need > self.buf.capacity() {
            let target = (self.buf.capacity() * 2).max(512).min(max).max(need);
            self.buf.reserve_exact(target - self.buf.len());
        }
    }
}

/// Advances `scan` over `bytes`; returns the index just past the blank line
/// that ends the head, if `bytes` contains it.
fn find_end(scan: &mut Scan, bytes: &[u8]) -> Option<usize> {
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        *scan = match (*scan, b) {
            (Scan::Start, b'\r' | b'\n') => Scan::Start,
            (Scan::Start, _) => Scan::Line,
            (Scan::Line, b'\n') => Scan::Lf,
            (Scan::Line, _) => {
                // Most bytes are inside lines: jump to the next LF.
                match bytes[i..].iter().position(|&c| c == b'\n') {
                    Some(p) => {
                        i += p + 1;
                        *scan = Scan::Lf;
                        continue;
                    }
                    None => return None,
                }
            }
            (Scan::Lf | Scan::LfCr, b'\n') => {
                *scan = Scan::Start;
                return Some(i + 1);
            }
            (Scan::Lf, b'\r') => Scan::LfCr,
            (Scan::Lf | Scan::LfCr, _) => Scan::Line,
        };
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn end_of_head_table() {
        // (input, expected end)
        let cases: &[(&[u8], Option<usize>)] = &[
            (b"GET / HTTP/1.1\r\n\r\n", Some(18)),
            (b"GET / HTTP/1.1\n\n", Some(16)),
            (b"GET / HTTP/1.1\n\r\nxx", Some(17)),
            (b"GET / HTTP/1.1\r\nA: b\r\n\r\nframe", Some(24)),
            (b"\r\n\r\nGET / HTTP/1.1\r\n\r\n", Some(22)),
            (b"\n\n\n\n", None),
            (b"GET / HTTP/1.1\r\nA: b\r\n", None),
            (b"GET / HTTP/1.1\n\r\r\n", None),
            (b"", None),
        ];
        for &(input, want) in cases {
            let mut scan = Scan::Start;
            assert_eq!(
                find_end(&mut scan, input),
                want,
                "{:?}",
                String::from_utf8_lossy(input)
            );
            // Byte by byte gives the same answer.
            let mut scan = Scan::Start;
            let mut got = None;
            for (i, b) in input.iter().enumerate() {
                if find_end(&mut scan, std::slice::from_ref(b)).is_some() {
                    got = Some(i + 1);
                    break;
                }
            }
            assert_eq!(got, want, "bytewise {:?}", String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn limit_checked_before_copy_and_capacity_capped() {
        let max = 1000;
        let mut r = HeadReader::new();
        let chunk = [b'a'; 300];
        assert_eq!(r.push(&chunk, max), Ok(None));
        assert_eq!(r.push(&chunk, max), Ok(None));
        assert_eq!(r.push(&chunk, max), Ok(None));
        assert_eq!(r.push(&chunk, max), Err(TooLarge));
        assert_eq!(r.len(), 900, "the refused chunk was not copied");
        assert!(r.capacity() <= max, "capacity {} > limit", r.capacity());
    }

    #[test]
    fn head_exactly_at_limit_is_accepted() {
        let head = b"GET / HTTP/1.1\r\n\r\n";
        let mut r = HeadReader::new();
        assert_eq!(r.push(&head[..5], head.len()), Ok(None));
        assert_eq!(r.push(&head[5..], head.len()), Ok(Some(head.len() - 5)));
        let mut r = HeadReader::new();
        assert_eq!(r.push(&head[..5], head.len() - 1), Ok(None));
        assert_eq!(r.push(&head[5..], head.len() - 1), Err(TooLarge));
    }
}
