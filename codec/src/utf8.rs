//! Streaming UTF-8 validation for text messages that arrive in pieces.
//!
//! A text message may be split into fragments, and each fragment into chunks
//! (whatever the network delivered), at any byte, even inside a character.
//! Autobahn 6.4.x wants the connection failed as soon as an invalid byte
//! arrives, not when the message ends, so each chunk is checked on arrival
//! with simdutf8's `compat` API: its error says whether the input is *invalid*
//! (`error_len() == Some(_)`: fail now) or merely *ends inside a character*
//! (`None`: keep those ≤ 3 bytes and finish the character with the next chunk).

use crate::error::ProtocolError;

/// Incremental UTF-8 validator with a carry of at most 3 bytes.
///
/// Four bytes of state and no heap: `push` each chunk in order, then
/// `finish` at the end of the message. After an error the validator is in an
/// unspecified state; call [`Utf8Validator::reset`] before reusing it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Utf8Validator {
    /// The first `carry_len` bytes are the start of a character that the
    /// previous chunk ended inside of. Invariant: `carry_len <= 3`, and
    /// `carry[..carry_len]` is a valid but incomplete UTF-8 prefix.
    carry: [u8; 3],
    carry_len: u8,
}

impl Utf8Validator {
    /// A validator at the start of a message.
    pub const fn new() -> Self {
        Self {
            carry: [0; 3],
            carry_len: 0,
        }
    }

    /// Whether the input so far ends on a character boundary.
    pub const fn is_complete(&self) -> bool {
        self.carry_len == 0
    }

    /// Forget any carried bytes (start of a new message, or after an error).
    pub fn reset(&mut self) {
        self.carry_len = 0;
    }

    /// Validate the next chunk. Fails as soon as the bytes seen so far cannot
    /// be the start of valid UTF-8; an incomplete trailing character is kept
    /// for the next call.
    pub fn push(&mut self, mut chunk: &[u8]) -> Result<(), ProtocolError> {
        if self.carry_len > 0 {
            // Finish the carried character: at most 4 bytes together decide it.
            let have = usize::from(self.carry_len);
            let take = chunk.len().min(4 - have);
            let mut tmp = [0u8; 4];
            tmp[..have].copy_from_slice(&self.carry[..have]);
            tmp[have..have + take].copy_from_slice(&chunk[..take]);
            match simdutf8::compat::from_utf8(&tmp[..have + take]) {
                // Carried character completed; `take` bytes are validated.
                Ok(_) => {
                    self.carry_len = 0;
                    chunk = &chunk[take..];
                }
                Err(e) if e.error_len().is_some() => return Err(ProtocolError::InvalidUtf8),
                Err(e) => {
                    let valid = e.valid_up_to();
                    if valid < have {
                        // Still inside the same character: the chunk was
                        // too short to finish it, so all of it is carried.
                        debug_assert_eq!(take, chunk.len());
                        self.carry[have..have + take].copy_from_slice(&chunk[..take]);
                        self.carry_len = (have + take) as u8;
                        return Ok(());
                    }
                    // The carried character completed; restart validation
                    // at the first byte of the next (incomplete) one.
                    self.carry_len = 0;
                    chunk = &chunk[valid - have..];
                }
            }
        }
        match simdutf8::compat::from_utf8(chunk) {
            Ok(_) => Ok(()),
            Err(e) if e.error_len().is_some() => Err(ProtocolError::InvalidUtf8),
            Err(e) => {
                let tail = &chunk[e.valid_up_to()..];
                // simdutf8 only reports "incomplete" for a valid prefix of a
                // character, which is at most 3 bytes long.
                debug_assert!(tail.len() <= 3);
                self.carry[..tail.len()].copy_from_slice(tail);
                self.carry_len = tail.len() as u8;
                Ok(())
            }
        }
    }

    /// End of the message: fails if it ended inside a character. Resets the
    /// validator for the next message either way.
    pub fn finish(&mut self) -> Result<(), ProtocolError> {
        let complete = self.carry_len == 0;
        self.carry_len = 0;
        if complete {
            Ok(())
        } else {
            Err(ProtocolError::InvalidUtf8)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `chunks` and reports the index of the chunk that failed, or
    /// `chunks.len()` if only `finish` failed, or `None` if all was valid.
    fn first_failure(chunks: &[&[u8]]) -> Option<usize> {
        let mut v = Utf8Validator::new();
        for (i, c) in chunks.iter().enumerate() {
            if v.push(c).is_err() {
                return Some(i);
            }
        }
        v.finish().err().map(|_| chunks.len())
    }

    #[test]
    fn table() {
        let euro = "€".as_bytes(); // E2 82 AC
        let face = "😀".as_bytes(); // F0 9F 98 80
        let table: &[(&[&[u8]], Option<usize>)] = &[
            (&[], None),
            (&[b""], None),
            (&[b"hello", b" ", b"world"], None),
            (&[&euro[..1], &euro[1..]], None),
            (&[&euro[..1], &euro[1..2], &euro[2..]], None),
            (&[&face[..1], &face[1..2], &face[2..3], &face[3..]], None),
            (&[&face[..3], &face[3..], b"abc"], None),
            (&[b"a\xE2", b"\x82\xACb\xF0\x9F", b"\x98\x80"], None),
            // Incomplete at the end: only `finish` fails.
            (&[b"ok", &euro[..2]], Some(2)),
            (&[&face[..3]], Some(1)),
            // Invalid bytes fail in the chunk where they appear (fail fast).
            (&[b"ok", b"\xFF", b"more"], Some(1)),
            (
                &[
                    b"\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5\xED\xA0\x80",
                    b"edited",
                ],
                Some(0),
            ),
            // Surrogate split across chunks: fails on the second chunk.
            (&[b"\xED", b"\xA0\x80"], Some(1)),
            // 0xC0 can only start an over-long encoding: refused at once.
            (&[b"\xC0", b"\x80"], Some(0)),
            // Over-long 3-byte encoding, refused at its second byte.
            (&[b"\xE0", b"\x80\x80"], Some(1)),
            // Code point above U+10FFFF, detected at the second byte.
            (&[b"\xF4", b"\x90", b"\x80\x80"], Some(1)),
            // Continuation byte with no lead.
            (&[b"abc\x80"], Some(0)),
            // A lead byte followed by ASCII in the next chunk.
            (&[&euro[..1], b"a"], Some(1)),
            (&[&euro[..2], b"ab"], Some(1)),
            // A completed character followed by an invalid byte in the same chunk.
            (&[&euro[..1], b"\x82\xAC\xFF"], Some(1)),
            // A completed character followed by a new incomplete one, in a short chunk.
            (&[&euro[..2], b"\xAC\xE2", b"\x82\xAC"], None),
        ];
        for (i, (chunks, want)) in table.iter().enumerate() {
            assert_eq!(first_failure(chunks), *want, "case {i}: {chunks:?}");
        }
    }
}
