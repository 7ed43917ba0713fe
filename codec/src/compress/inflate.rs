//! Inflating permessage-deflate messages (RFC 7692 §7.2.2) under a size
//! limit.

use flate2::{Decompress, FlushDecompress, Status};

use crate::error::ProtocolError;
use crate::handshake::{DeflateSide, MIN_DEFLATE_WINDOW_BITS};
use crate::message::Event;
use crate::utf8::Utf8Validator;

/// What RFC 7692 §7.2.2 appends to every compressed message before inflating
/// it (the sender stripped it after its sync flush).
pub(crate) const TRAILER: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// Output is produced in steps of at most this many bytes beyond what the
/// message holds, so a message over the limit is caught within one step.
pub const INFLATE_CHUNK: usize = 16 * 1024;

/// A permessage-deflate decompressor for one direction of a connection, or
/// shared by a worker's connections when the peers reset their context
/// after every message (`client_no_context_takeover` on a server).
///
/// Creating one allocates nothing; the zlib stream (≈ 7 KiB of state plus a
/// window of 2^`window_bits` bytes, allocated by the backend on first
/// output) is made on first use and can be dropped again with
/// [`Inflater::release`] between messages when no context is kept.
///
/// # Two ways to use it
///
/// * **Streaming, per connection** (context takeover): hand it to
///   [`crate::Receiver::feed_inflating`] on every feed. Each compressed
///   fragment is inflated as it arrives, straight from the fed buffer into
///   the receiver's message buffer, text is UTF-8-checked as it comes out,
///   and the message is delivered as [`Event::Text`] / [`Event::Binary`].
/// * **Whole message, shared** (no context takeover): feed with
///   [`crate::Receiver::feed`]; a compressed message arrives as
///   [`Event::Compressed`] (borrowed from the fed buffer when it came in
///   one frame, else assembled, its compressed size counted against the
///   message limit), and [`Inflater::inflate_message`] inflates it into a
///   buffer the caller owns (one per worker) and lends it out.
///
/// Either way the **inflated** size is held to the limit while inflating:
/// output grows in steps of at most [`INFLATE_CHUNK`] bytes and never past
/// `limit + 1`, so a small frame that would inflate to gigabytes costs at
/// most the limit before it is refused with 1009.
pub struct Inflater {
    stream: Option<Decompress>,
    window_bits: u8,
    /// Reset after every message (the peer keeps no context).
    reset_per_message: bool,
    /// The stream has seen input of the message in progress, or ended with
    /// a BFINAL block: reset before the next message may use it.
    dirty: bool,
    /// The current stream ended (a block with BFINAL set): the rest of the
    /// message is ignored, and the next one starts a new stream.
    ended: bool,
}

impl std::fmt::Debug for Inflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inflater")
            .field("allocated", &self.stream.is_some())
            .field("window_bits", &self.window_bits)
            .field("reset_per_message", &self.reset_per_message)
            .finish()
    }
}

impl Inflater {
    /// An inflater for a peer compressing with windows up to
    /// `window_bits` (8–15; 8 is inflated with 9, and a larger window than
    /// the peer's is always fine). `reset_per_message`: the peer keeps no
    /// context between messages (its `*_no_context_takeover` was agreed).
    pub fn new(window_bits: u8, reset_per_message: bool) -> Self {
        Self {
            stream: None,
            window_bits: window_bits.clamp(MIN_DEFLATE_WINDOW_BITS, 15),
            reset_per_message,
            dirty: false,
            ended: false,
        }
    }

    /// An inflater for one side of an agreement
    /// ([`crate::DeflateParams::server`] or `client`).
    pub fn for_side(side: &DeflateSide) -> Self {
        Self::new(side.inflate_window_bits, side.inflate_reset)
    }

    /// A worker's shared inflater: window 15 (inflates any peer's data) and
    /// reset per message.
    pub fn shared() -> Self {
        Self::new(15, true)
    }

    /// Whether the zlib stream is allocated.
    pub fn is_allocated(&self) -> bool {
        self.stream.is_some()
    }

    /// Drops the zlib stream if it holds no context worth keeping (reset per
    /// message, no message in progress); the next use makes a new one.
    /// Returns whether it was dropped.
    pub fn release(&mut self) -> bool {
        if (self.reset_per_message || self.ended) && !self.dirty {
            self.stream = None;
            self.ended = false;
        }
        self.stream.is_none()
    }

    /// Inflates a whole compressed message (the payload of an
    /// [`Event::Compressed`]) into `out`, which is cleared first, and lends
    /// it out as [`Event::Text`] (UTF-8-checked while inflating: invalid
    /// text fails as soon as it comes out) or [`Event::Binary`].
    ///
    /// Errors: [`ProtocolError::MessageTooBig`] once the inflated size
    /// passes `limit` (at most `limit + 1` bytes are produced and `out`
    /// never grows past `limit + 1`), [`ProtocolError::InvalidUtf8`],
    /// [`ProtocolError::InvalidCompressedData`]. After an error the
    /// inflater is reset, so a shared one stays usable for other
    /// connections.
    pub fn inflate_message<'o>(
        &mut self,
        text: bool,
        payload: &[u8],
        limit: usize,
        out: &'o mut Vec<u8>,
    ) -> Result<Event<'o>, ProtocolError> {
        out.clear();
        let mut utf8 = Utf8Validator::new();
        let v = text.then_some(&mut utf8);
        let r = self
            .push(payload, out, limit, v)
            .and_then(|()| self.finish(out, limit, text.then_some(&mut utf8)))
            .and_then(|()| if text { utf8.finish() } else { Ok(()) });
        if let Err(e) = r {
            self.abort();
            return Err(e);
        }
        if !text {
            return Ok(Event::Binary(out));
        }
        #[allow(unsafe_code)]
        // SAFETY: every byte of `out` was produced by `push`/`finish` above
        // and passed to the streaming validator as it came out (the slices
        // they append, in order, with nothing else written to `out` after
        // the `clear`), and `utf8.finish()` confirmed that the last
        // character is complete: `out` is valid UTF-8.
        let s = unsafe { core::str::from_utf8_unchecked(out) };
        Ok(Event::Text(s))
    }

    /// Inflates `input` (part of a compressed message, in order), appending
    /// the output to `out` and checking it with `utf8` if given. Fails once
    /// `out.len()` would pass `limit`.
    pub(crate) fn push(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        limit: usize,
        mut utf8: Option<&mut Utf8Validator>,
    ) -> Result<(), ProtocolError> {
        if input.is_empty() {
            return Ok(());
        }
        if self.ended {
            // Bytes after a block with BFINAL set are not part of the
            // stream; zlib-based peers and inflaters ignore them too (they
            // were counted against the compressed size already).
            return Ok(());
        }
        self.dirty = true;
        let window_bits = self.window_bits;
        let d = self
            .stream
            .get_or_insert_with(|| Decompress::new_with_window_bits(false, window_bits));
        let mut consumed = 0;
        loop {
            if out.len() > limit {
                return Err(ProtocolError::MessageTooBig);
            }
            if out.len() == out.capacity() {
                grow(out, limit, input.len() - consumed);
            }
            let (in0, out0) = (d.total_in(), out.len());
            let status = d
                .decompress_vec(&input[consumed..], out, FlushDecompress::None)
                .map_err(|_| ProtocolError::InvalidCompressedData)?;
            consumed += (d.total_in() - in0) as usize;
            if let Some(v) = utf8.as_deref_mut() {
                v.push(&out[out0..])?;
            }
            if out.len() > limit {
                return Err(ProtocolError::MessageTooBig);
            }
            if status == Status::StreamEnd {
                self.ended = true;
                return Ok(());
            }
            let progressed = d.total_in() != in0 || out.len() != out0;
            // Output room left over means the inflater had nothing more to
            // give for this input.
            if (consumed == input.len() && out.len() < out.capacity()) || !progressed {
                return Ok(());
            }
        }
    }

    /// Ends the message: inflates the trailer (unless the stream already
    /// ended with BFINAL) and resets the stream if no context is kept.
    pub(crate) fn finish(
        &mut self,
        out: &mut Vec<u8>,
        limit: usize,
        utf8: Option<&mut Utf8Validator>,
    ) -> Result<(), ProtocolError> {
        if !self.ended {
            self.push(&TRAILER, out, limit, utf8)?;
        }
        self.dirty = false;
        if self.reset_per_message || self.ended {
            // A stream that ended with BFINAL cannot continue: the next
            // message starts a new one (its context is lost, so a peer that
            // ends messages with BFINAL must not refer back across them).
            if let Some(d) = &mut self.stream {
                d.reset(false);
            }
            self.ended = false;
        }
        Ok(())
    }

    /// Forgets a message that failed half-way.
    pub(crate) fn abort(&mut self) {
        if let Some(d) = &mut self.stream {
            d.reset(false);
        }
        self.dirty = false;
        self.ended = false;
    }
}

/// Makes room in `out` for more output: doubling (amortised O(n) copying),
/// at least [`INFLATE_CHUNK`]-ish for small messages, never past `limit + 1`
/// in total, so the allocation stays within the limit plus one byte.
fn grow(out: &mut Vec<u8>, limit: usize, input_left: usize) {
    let cap = limit.saturating_add(1);
    let len = out.len();
    let want = len
        .max(input_left.saturating_mul(2))
        .max(1024)
        .min(INFLATE_CHUNK.max(len));
    let target = len.saturating_add(want).min(cap);
    out.reserve_exact(target - len);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7692 §7.2.3.1–§7.2.3.5 examples (payloads as sent, trailer
    /// stripped).
    #[test]
    fn rfc7692_examples() {
        let hello = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
        let mut i = Inflater::new(15, false);
        let mut out = Vec::new();
        assert_eq!(
            i.inflate_message(true, &hello, 100, &mut out),
            Ok(Event::Text("Hello"))
        );
        // §7.2.3.2: the same message again with context takeover refers back.
        let again = [0xf2, 0x00, 0x11, 0x00, 0x00];
        assert_eq!(
            i.inflate_message(true, &again, 100, &mut out),
            Ok(Event::Text("Hello"))
        );
        // §7.2.3.3: a stored (uncompressed) block.
        let stored = [
            0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00,
        ];
        assert_eq!(
            Inflater::shared().inflate_message(true, &stored, 100, &mut out),
            Ok(Event::Text("Hello"))
        );
        // §7.2.3.5: a block with BFINAL set; the trailer is not inflated.
        let bfinal = [0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00];
        let mut i = Inflater::new(15, false);
        assert_eq!(
            i.inflate_message(true, &bfinal, 100, &mut out),
            Ok(Event::Text("Hello"))
        );
        // ... and the next message starts a new stream.
        assert_eq!(
            i.inflate_message(false, &hello, 100, &mut out),
            Ok(Event::Binary(b"Hello"))
        );
        // Bytes after the final block are not inflated.
        let mut more = bfinal.to_vec();
        more.extend_from_slice(&hello);
        assert_eq!(
            Inflater::shared().inflate_message(true, &more, 100, &mut out),
            Ok(Event::Text("Hello"))
        );
        // Empty message (§7.2.3.6: a single 0x00).
        assert_eq!(
            Inflater::shared().inflate_message(false, &[0x00], 100, &mut out),
            Ok(Event::Binary(b""))
        );
    }

    #[test]
    fn limits_and_garbage() {
        let hello = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
        let mut out = Vec::new();
        let mut shared = Inflater::shared();
        assert_eq!(
            shared.inflate_message(true, &hello, 4, &mut out),
            Err(ProtocolError::MessageTooBig)
        );
        assert!(out.len() <= 5 && out.capacity() <= 5, "{}", out.capacity());
        // Exactly at the limit is fine; the shared inflater recovered.
        assert_eq!(
            shared.inflate_message(true, &hello, 5, &mut out),
            Ok(Event::Text("Hello"))
        );
        assert_eq!(
            shared.inflate_message(true, &[0xff, 0xff, 0xff], 100, &mut out),
            Err(ProtocolError::InvalidCompressedData)
        );
        // Inflated text that is not UTF-8: 1007.
        let stored_ff = [0x00, 0x01, 0x00, 0xfe, 0xff, 0xff, 0x00];
        assert_eq!(
            shared.inflate_message(true, &stored_ff, 100, &mut out),
            Err(ProtocolError::InvalidUtf8)
        );
        assert_eq!(
            shared.inflate_message(false, &stored_ff, 100, &mut out),
            Ok(Event::Binary(&[0xff]))
        );
        assert!(shared.release());
        assert!(!shared.is_allocated());
    }
}
