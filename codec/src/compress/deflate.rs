//! Compressing permessage-deflate messages (RFC 7692 §7.2.1).

use flate2::{Compress, Compression as Level, FlushCompress};

use super::inflate::TRAILER;
use crate::frame::header::{FrameHeader, OpCode, MAX_HEADER_LEN};
use crate::handshake::{DeflateSide, MIN_DEFLATE_WINDOW_BITS};
use crate::mask::apply_mask;

/// Messages shorter than this are sent uncompressed by default (RSV1
/// clear): deflate's block overhead makes them no smaller, and the time is
/// better spent elsewhere.
pub const DEFAULT_COMPRESS_THRESHOLD: usize = 64;

/// Default compression level (zlib's scale, 0–9): zlib's default, 6.
pub const DEFAULT_COMPRESS_LEVEL: u32 = 6;

/// A permessage-deflate compressor for one direction of a connection, or
/// shared by a worker's connections when none of them keeps context
/// (`server_no_context_takeover` on a server: reset per message).
///
/// Creating one allocates nothing; the zlib stream is made on the first
/// message that is compressed (its size depends on the window and the
/// backend: docs/decisions.md, "permessage-deflate backend") and can be
/// dropped again with [`Deflater::release`] when no context is kept.
///
/// Each message is compressed with a sync flush and the trailing
/// `00 00 ff ff` removed (§7.2.1); with context takeover the stream's
/// window carries over to the next message, otherwise it is reset.
pub struct Deflater {
    stream: Option<Compress>,
    window_bits: u8,
    level: u32,
    reset_per_message: bool,
    threshold: usize,
}

impl std::fmt::Debug for Deflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deflater")
            .field("allocated", &self.stream.is_some())
            .field("window_bits", &self.window_bits)
            .field("level", &self.level)
            .field("reset_per_message", &self.reset_per_message)
            .field("threshold", &self.threshold)
            .finish()
    }
}

impl Deflater {
    /// A compressor with a window of `window_bits` (9–15, clamped: zlib
    /// cannot produce 8) that resets after every message if
    /// `reset_per_message`. Level [`DEFAULT_COMPRESS_LEVEL`], threshold
    /// [`DEFAULT_COMPRESS_THRESHOLD`].
    pub fn new(window_bits: u8, reset_per_message: bool) -> Self {
        Self {
            stream: None,
            window_bits: window_bits.clamp(MIN_DEFLATE_WINDOW_BITS, 15),
            level: DEFAULT_COMPRESS_LEVEL,
            reset_per_message,
            threshold: DEFAULT_COMPRESS_THRESHOLD,
        }
    }

    /// A compressor for one side of an agreement
    /// ([`crate::DeflateParams::server`] or `client`).
    pub fn for_side(side: &DeflateSide) -> Self {
        Self::new(side.compress_window_bits, side.compress_reset)
    }

    /// Sets the compression level (0–9, clamped). Only before first use.
    pub fn level(mut self, level: u32) -> Self {
        self.level = level.min(9);
        self.stream = None;
        self
    }

    /// Sets the size below which messages are sent uncompressed.
    pub fn threshold(mut self, bytes: usize) -> Self {
        self.threshold = bytes;
        self
    }

    /// The window this compressor uses (log2 bytes).
    pub fn window_bits(&self) -> u8 {
        self.window_bits
    }

    /// Whether it resets after every message.
    pub fn resets_per_message(&self) -> bool {
        self.reset_per_message
    }

    /// Whether a message of `len` bytes should be compressed (at or above
    /// the threshold).
    pub fn should_compress(&self, len: usize) -> bool {
        len >= self.threshold
    }

    /// Whether the zlib stream is allocated.
    pub fn is_allocated(&self) -> bool {
        self.stream.is_some()
    }

    /// Drops the zlib stream if it keeps no context (reset per message);
    /// returns whether none is held now.
    pub fn release(&mut self) -> bool {
        if self.reset_per_message {
            self.stream = None;
        }
        self.stream.is_none()
    }

    /// Appends the compressed form of the message `payload` to `out`: a
    /// sync-flushed DEFLATE block sequence without its final `00 00 ff ff`,
    /// ready to be a frame payload with RSV1 set. Always compresses (the
    /// threshold is [`Deflater::should_compress`]'s business).
    pub fn compress(&mut self, payload: &[u8], out: &mut Vec<u8>) {
        let (window_bits, level) = (self.window_bits, self.level);
        let c = self.stream.get_or_insert_with(|| {
            Compress::new_with_window_bits(Level::new(level), false, window_bits)
        });
        let start = out.len();
        // Enough for incompressible data (stored blocks cost 5 bytes per
        // 64 KiB) plus the flush, so one call usually does it.
        out.reserve(payload.len() + payload.len() / 1024 + 32);
        let mut consumed = 0;
        loop {
            let in0 = c.total_in();
            c.compress_vec(&payload[consumed..], out, FlushCompress::Sync)
                .expect("deflate with valid parameters cannot fail");
            consumed += (c.total_in() - in0) as usize;
            // Room left over: all input taken and the flush complete.
            if consumed == payload.len() && out.len() < out.capacity() {
                break;
            }
            out.reserve(out.capacity().max(64));
        }
        if out[start..].ends_with(&TRAILER) {
            out.truncate(out.len() - TRAILER.len());
        } else {
            // zlib emits no second flush marker when nothing came in since
            // the last one (an empty message with context takeover): send
            // an empty stored block, which the trailer the receiver
            // appends completes (§7.2.3.6).
            debug_assert_eq!(out.len(), start);
            out.push(0x00);
        }
        if self.reset_per_message {
            c.reset();
        }
    }
}

/// Appends one whole message as a single frame (FIN set), compressed with
/// RSV1 set when `deflater` is given and the message is at least its
/// threshold long, uncompressed otherwise; masked with `mask` (clients).
/// Returns whether it was compressed.
///
/// Control frames are never compressed (RFC 7692 §6.1): `opcode` must be
/// Text or Binary.
///
/// # Panics
/// If `opcode` is not Text or Binary.
pub fn write_message(
    out: &mut Vec<u8>,
    opcode: OpCode,
    payload: &[u8],
    mask: Option<[u8; 4]>,
    deflater: Option<&mut Deflater>,
) -> bool {
    assert!(
        matches!(opcode, OpCode::Text | OpCode::Binary),
        "only data messages are compressed"
    );
    let Some(d) = deflater.filter(|d| d.should_compress(payload.len())) else {
        crate::frame::encoder::write_frame(out, true, opcode, payload, mask);
        return false;
    };
    // Compress behind room for the longest header, then move the payload
    // down to where the real (shortest-form) header ends.
    let at = out.len();
    out.resize(at + MAX_HEADER_LEN, 0);
    d.compress(payload, out);
    let len = out.len() - at - MAX_HEADER_LEN;
    let mut header = FrameHeader::new(true, opcode, mask, len as u64);
    header.rsv1 = true;
    let mut hbuf = [0; MAX_HEADER_LEN];
    let n = header.encode(&mut hbuf);
    out.copy_within(at + MAX_HEADER_LEN.., at + n);
    out.truncate(at + n + len);
    out[at..at + n].copy_from_slice(&hbuf[..n]);
    if let Some(key) = mask {
        apply_mask(&mut out[at + n..], key, 0);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compress::Inflater;
    use crate::Event;

    #[test]
    fn rfc7692_hello() {
        // §7.2.3.1: "Hello" with no context is f2 48 cd c9 c9 07 00.
        let mut d = Deflater::new(15, true).threshold(0);
        let mut out = Vec::new();
        d.compress(b"Hello", &mut out);
        assert_eq!(out, [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]);
        // An empty message is a single 0x00 (§7.2.3.6).
        out.clear();
        d.compress(b"", &mut out);
        assert_eq!(out, [0x00]);
        // With context takeover the second "Hello" refers back (§7.2.3.2)
        // and is shorter.
        let mut d = Deflater::new(15, false);
        let (mut a, mut b) = (Vec::new(), Vec::new());
        d.compress(b"Hello", &mut a);
        d.compress(b"Hello", &mut b);
        assert!(b.len() < a.len(), "{a:x?} {b:x?}");
        let mut i = Inflater::new(15, false);
        let mut buf = Vec::new();
        assert_eq!(
            i.inflate_message(true, &a, 100, &mut buf),
            Ok(Event::Text("Hello"))
        );
        assert_eq!(
            i.inflate_message(true, &b, 100, &mut buf),
            Ok(Event::Text("Hello"))
        );
    }

    #[test]
    fn frames_and_threshold() {
        let mut d = Deflater::new(15, true);
        let mut out = Vec::new();
        // Short: plain frame, RSV1 clear.
        assert!(!write_message(
            &mut out,
            OpCode::Text,
            b"hi",
            None,
            Some(&mut d)
        ));
        assert_eq!(out, b"\x81\x02hi");
        // Long: RSV1 set, shortest length form, masked for a client.
        let text = "the quick brown fox ".repeat(20);
        for mask in [None, Some([1, 2, 3, 4])] {
            out.clear();
            assert!(write_message(
                &mut out,
                OpCode::Text,
                text.as_bytes(),
                mask,
                Some(&mut d)
            ));
            let (h, n) = FrameHeader::parse(&out).unwrap().unwrap();
            assert!(h.rsv1 && h.fin && h.opcode == OpCode::Text);
            assert_eq!(h.mask, mask);
            assert_eq!(n + h.payload_len as usize, out.len());
            assert!(h.payload_len < 126, "{}", h.payload_len);
            let mut payload = out[n..].to_vec();
            if let Some(key) = mask {
                apply_mask(&mut payload, key, 0);
            }
            let mut buf = Vec::new();
            assert_eq!(
                Inflater::shared().inflate_message(true, &payload, 1 << 20, &mut buf),
                Ok(Event::Text(&text))
            );
        }
        // No deflater: plain.
        out.clear();
        assert!(!write_message(
            &mut out,
            OpCode::Binary,
            text.as_bytes(),
            None,
            None
        ));
        assert_eq!(out[0], 0x82);
        assert!(d.release() && !d.is_allocated());
    }
}
