//! The incremental, in-place frame decoder.
//!
//! It is handed whatever bytes the network delivered, in a buffer the caller
//! owns, and walks through them with a cursor: each call yields a frame
//! header, or a range of the caller's buffer holding (part of) the current
//! frame's payload, already unmasked in place. It consumes every byte it is
//! given: an incomplete header (≤ 13 bytes) is kept inside the decoder, and a
//! payload cut short is reported as a shorter chunk, the rest following in
//! later buffers. So a header or payload may be split at any byte and the
//! caller never has to keep bytes back.

use super::header::{FrameHeader, OpCode, Role, MAX_HEADER_LEN};
use crate::error::ProtocolError;
use crate::mask::apply_mask;
use core::ops::Range;

/// What [`FrameDecoder::decode`] found next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decoded {
    /// A complete, checked frame header. Its payload follows as one or more
    /// [`Decoded::Payload`] chunks (exactly one, empty, for an empty payload).
    Header(FrameHeader),
    /// Part of the current frame's payload.
    Payload(PayloadChunk),
}

/// A piece of a frame's payload: `range` indexes the buffer passed to
/// [`FrameDecoder::decode`] (bytes already unmasked) or
/// [`FrameDecoder::decode_masked`] (bytes still masked with `mask`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PayloadChunk {
    /// Where the bytes are, in the buffer given to `decode`.
    pub range: Range<usize>,
    /// The frame's opcode.
    pub opcode: OpCode,
    /// The frame's FIN bit.
    pub fin: bool,
    /// This chunk starts at the first byte of the payload.
    pub first: bool,
    /// This chunk ends at the last byte of the payload. `first && last`
    /// means the whole payload is in this one buffer.
    pub last: bool,
    /// The masking key still to apply to these bytes, rotated so that its
    /// byte 0 goes with the chunk's first byte (`apply_mask(bytes, key, 0)`).
    /// Always `None` from [`FrameDecoder::decode`], which unmasked in place,
    /// and for unmasked frames.
    pub mask: Option<[u8; 4]>,
}

/// The per-frame checks that need configuration, not message state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecoderConfig {
    /// Which side we are; decides whether frames must be masked.
    pub role: Role,
    /// A frame with a longer payload is refused (1009) when its header arrives.
    pub max_frame_size: u64,
    /// RSV1 is allowed on data frames (an extension such as permessage-deflate
    /// was negotiated). Whether it is the *first* frame of a message is the
    /// receiver's business; control and continuation frames never may.
    pub allow_rsv1: bool,
}

/// Incremental frame decoder. 32 bytes, no heap.
///
/// Checks every per-frame rule of RFC 6455 (reserved bits and opcodes,
/// control-frame FIN and length, masking by role, 64-bit length top bit,
/// maximum frame size). Rules about sequences of frames (continuations,
/// message size, close payloads, UTF-8) belong to [`crate::Receiver`].
///
/// After an error the decoder's state is unspecified; the connection must be
/// closed, not decoded further.
#[derive(Clone, Debug)]
pub struct FrameDecoder {
    state: State,
    config: DecoderConfig,
}

#[derive(Clone, Debug)]
enum State {
    /// Between frames, or inside a header: the first `len` bytes of `buf`
    /// are a header prefix that arrived at the end of an earlier buffer.
    /// Invariant: `len < MAX_HEADER_LEN` and `buf[..len]` is not a whole header.
    Header { buf: [u8; MAX_HEADER_LEN], len: u8 },
    /// Inside a payload with `remaining` bytes to go. `phase` is how far
    /// into the masking key the next byte is (payload offset mod 4).
    Payload {
        remaining: u64,
        key: [u8; 4],
        phase: u8,
        opcode: OpCode,
        /// Bit 0: FIN; bit 1: masked; bit 2: no payload byte yielded yet.
        flags: u8,
    },
}

const FIN: u8 = 1;
const MASKED: u8 = 2;
const FIRST: u8 = 4;

impl FrameDecoder {
    /// A decoder at the start of a stream.
    pub const fn new(config: DecoderConfig) -> Self {
        Self {
            state: State::Header {
                buf: [0; MAX_HEADER_LEN],
                len: 0,
            },
            config,
        }
    }

    /// The configuration this decoder checks against.
    pub const fn config(&self) -> &DecoderConfig {
        &self.config
    }

    /// Between frames, with no partial header kept.
    pub const fn is_idle(&self) -> bool {
        matches!(self.state, State::Header { len: 0, .. })
    }

    /// Inside a frame's payload: the bytes of it still to come, its opcode
    /// and its FIN bit. `None` between frames or inside a header.
    pub const fn payload_remaining(&self) -> Option<(u64, OpCode, bool)> {
        match self.state {
            State::Payload {
                remaining,
                opcode,
                flags,
                ..
            } => Some((remaining, opcode, flags & FIN != 0)),
            State::Header { .. } => None,
        }
    }

    /// Decodes the next item from `buf[*pos..]`, advancing `*pos` past what
    /// it consumed. Returns `Ok(None)` once `*pos == buf.len()`: every byte
    /// has been used (a partial header is kept internally).
    ///
    /// Payload bytes are unmasked in place in `buf` before their chunk is
    /// returned. The same `buf` must be passed until `Ok(None)`; the next
    /// buffer continues the stream where this one ended.
    pub fn decode(
        &mut self,
        buf: &mut [u8],
        pos: &mut usize,
    ) -> Result<Option<Decoded>, ProtocolError> {
        let mut r = self.decode_masked(buf, pos)?;
        if let Some(Decoded::Payload(c)) = &mut r {
            if let Some(key) = c.mask.take() {
                apply_mask(&mut buf[c.range.clone()], key, 0);
            }
        }
        Ok(r)
    }

    /// Like [`FrameDecoder::decode`], but payload bytes are left masked: each
    /// chunk says which key (rotated to its first byte) still applies, for
    /// a caller that copies the bytes anyway and can unmask while copying
    /// ([`crate::apply_mask_copy`]).
    pub fn decode_masked(
        &mut self,
        buf: &[u8],
        pos: &mut usize,
    ) -> Result<Option<Decoded>, ProtocolError> {
        debug_assert!(*pos <= buf.len());
        match &mut self.state {
            State::Header { buf: stash, len } => {
                let have = usize::from(*len);
                let parsed = if have == 0 {
                    // Fast path: parse straight from the caller's buffer.
                    let rest = &buf[*pos..];
                    if rest.is_empty() {
                        return Ok(None);
                    }
                    match FrameHeader::parse(rest)? {
                        Some((h, n)) => {
                            *pos += n;
                            h
                        }
                        None => {
                            stash[..rest.len()].copy_from_slice(rest);
                            *len = rest.len() as u8;
                            *pos = buf.len();
                            return Ok(None);
                        }
                    }
                } else {
                    // Complete the stashed prefix with as many new bytes as
                    // could belong to the header.
                    let take = (MAX_HEADER_LEN - have).min(buf.len() - *pos);
                    if take == 0 {
                        return Ok(None);
                    }
                    stash[have..have + take].copy_from_slice(&buf[*pos..*pos + take]);
                    match FrameHeader::parse(&stash[..have + take])? {
                        Some((h, n)) => {
                            // Only `n - have` of the new bytes were header.
                            *pos += n - have;
                            *len = 0;
                            h
                        }
                        None => {
                            *len = (have + take) as u8;
                            *pos += take;
                            return Ok(None);
                        }
                    }
                };
                self.check(&parsed)?;
                self.state = State::Payload {
                    remaining: parsed.payload_len,
                    key: parsed.mask.unwrap_or([0; 4]),
                    phase: 0,
                    opcode: parsed.opcode,
                    flags: FIRST
                        | if parsed.fin { FIN } else { 0 }
                        | if parsed.mask.is_some() { MASKED } else { 0 },
                };
                Ok(Some(Decoded::Header(parsed)))
            }
            State::Payload { remaining, .. } => {
                let avail = buf.len() - *pos;
                if avail == 0 && *remaining > 0 {
                    return Ok(None);
                }
                // `n <= avail`, so it fits in `usize`.
                let n = (*remaining).min(avail as u64) as usize;
                let chunk = self.take_payload(*pos, n);
                *pos += n;
                Ok(Some(Decoded::Payload(chunk)))
            }
        }
    }

    /// Accounts for the next `n` payload bytes of the frame in progress
    /// having been received somewhere else than a buffer given to `decode`
    /// (say, by a `recv` straight into the caller's message buffer). The
    /// returned chunk describes them as [`FrameDecoder::decode_masked`]
    /// would, with `range` = `0..n` (relative to wherever they are): the
    /// key still to apply, `first`, `last`. `None`, changing nothing, when
    /// no payload is in progress or `n` exceeds what is left of it.
    pub fn advance_payload(&mut self, n: usize) -> Option<PayloadChunk> {
        match self.state {
            State::Payload { remaining, .. } if n as u64 <= remaining => {
                Some(self.take_payload(0, n))
            }
            _ => None,
        }
    }

    /// The next `n` (≤ remaining) payload bytes, found at `at..at + n`.
    fn take_payload(&mut self, at: usize, n: usize) -> PayloadChunk {
        let State::Payload {
            remaining,
            key,
            phase,
            opcode,
            flags,
        } = &mut self.state
        else {
            unreachable!("callers check that a payload is in progress");
        };
        let mask = (*flags & MASKED != 0).then(|| {
            let mut k = *key;
            k.rotate_left(usize::from(*phase));
            k
        });
        *phase = ((usize::from(*phase) + n) % 4) as u8;
        *remaining -= n as u64;
        let chunk = PayloadChunk {
            range: at..at + n,
            opcode: *opcode,
            fin: *flags & FIN != 0,
            first: *flags & FIRST != 0,
            last: *remaining == 0,
            mask,
        };
        *flags &= !FIRST;
        if chunk.last {
            self.state = State::Header {
                buf: [0; MAX_HEADER_LEN],
                len: 0,
            };
        }
        chunk
    }

    /// The per-frame rules of §5.1–§5.5 that depend on configuration.
    pub(crate) fn check(&self, h: &FrameHeader) -> Result<(), ProtocolError> {
        let cfg = &self.config;
        if h.rsv2 || h.rsv3 || (h.rsv1 && !cfg.allow_rsv1) {
            return Err(ProtocolError::ReservedBitsSet);
        }
        if h.rsv1 && (h.opcode.is_control() || h.opcode == OpCode::Continuation) {
            return Err(ProtocolError::Rsv1NotAllowedHere);
        }
        match (cfg.role, h.mask.is_some()) {
            (Role::Server, false) => return Err(ProtocolError::UnmaskedFrame),
            (Role::Client, true) => return Err(ProtocolError::MaskedFrame),
            _ => {}
        }
        if h.opcode.is_control() {
            if !h.fin {
                return Err(ProtocolError::FragmentedControlFrame);
            }
            if h.payload_len > 125 {
                return Err(ProtocolError::ControlFrameTooLong);
            }
        }
        if h.payload_len > cfg.max_frame_size {
            return Err(ProtocolError::FrameTooBig);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ProtocolError::*;

    fn server() -> FrameDecoder {
        FrameDecoder::new(DecoderConfig {
            role: Role::Server,
            max_frame_size: 1000,
            allow_rsv1: false,
        })
    }

    /// Decodes `input` fed in pieces of `step` bytes; returns headers and the
    /// concatenated payload of each frame, or the first error.
    fn run(
        mut dec: FrameDecoder,
        input: &[u8],
        step: usize,
    ) -> Result<Vec<(FrameHeader, Vec<u8>)>, ProtocolError> {
        let mut frames: Vec<(FrameHeader, Vec<u8>)> = Vec::new();
        for piece in input.chunks(step.max(1)) {
            let mut buf = piece.to_vec();
            let mut pos = 0;
            while let Some(item) = dec.decode(&mut buf, &mut pos)? {
                match item {
                    Decoded::Header(h) => frames.push((h, Vec::new())),
                    Decoded::Payload(c) => {
                        let f = frames.last_mut().unwrap();
                        assert_eq!(c.opcode, f.0.opcode);
                        assert_eq!(c.first, f.1.is_empty());
                        f.1.extend_from_slice(&buf[c.range.clone()]);
                        assert_eq!(c.last, f.1.len() as u64 == f.0.payload_len);
                    }
                }
            }
            assert_eq!(pos, buf.len(), "all input consumed");
        }
        Ok(frames)
    }

    #[test]
    fn rfc_masked_hello_every_split() {
        // RFC 6455 §5.7: a single-frame masked text message "Hello".
        let input = b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58";
        for step in 1..=input.len() {
            let frames = run(server(), input, step).unwrap();
            assert_eq!(frames.len(), 1);
            assert_eq!(frames[0].1, b"Hello", "step {step}");
            assert!(frames[0].0.fin);
        }
    }

    #[test]
    fn header_refusals() {
        // (role, allow_rsv1, bytes, expected error)
        let table: &[(Role, bool, &[u8], ProtocolError)] = &[
            (Role::Server, false, b"\xC1\x80\0\0\0\0", ReservedBitsSet),
            (Role::Server, false, b"\xA1\x80\0\0\0\0", ReservedBitsSet),
            (Role::Server, false, b"\x91\x80\0\0\0\0", ReservedBitsSet),
            (Role::Server, true, b"\xA1\x80\0\0\0\0", ReservedBitsSet),
            (Role::Server, true, b"\xC0\x80\0\0\0\0", Rsv1NotAllowedHere),
            (Role::Server, true, b"\xC9\x80\0\0\0\0", Rsv1NotAllowedHere),
            (Role::Server, false, b"\x83\x80\0\0\0\0", ReservedOpcode),
            (Role::Server, false, b"\x8F\x80\0\0\0\0", ReservedOpcode),
            (
                Role::Server,
                false,
                b"\x09\x80\0\0\0\0",
                FragmentedControlFrame,
            ),
            (
                Role::Server,
                false,
                b"\x89\xFE\x00\x7E\0\0\0\0",
                ControlFrameTooLong,
            ),
            (
                Role::Server,
                false,
                b"\x88\xFE\x00\x7E\0\0\0\0",
                ControlFrameTooLong,
            ),
            (Role::Server, false, b"\x81\x05Hello", UnmaskedFrame),
            (
                Role::Client,
                false,
                b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58",
                MaskedFrame,
            ),
            (
                Role::Server,
                false,
                b"\x82\xFF\x80\0\0\0\0\0\0\0\0\0\0\0",
                LengthTopBitSet,
            ),
            (
                Role::Server,
                false,
                b"\x82\xFE\x03\xE9\0\0\0\0",
                FrameTooBig,
            ),
        ];
        for (i, &(role, allow_rsv1, bytes, want)) in table.iter().enumerate() {
            for step in 1..=bytes.len() {
                let dec = FrameDecoder::new(DecoderConfig {
                    role,
                    max_frame_size: 1000,
                    allow_rsv1,
                });
                assert_eq!(
                    run(dec, bytes, step).unwrap_err(),
                    want,
                    "case {i} step {step}"
                );
            }
        }
    }

    #[test]
    fn accepted_edge_headers() {
        let client = || {
            FrameDecoder::new(DecoderConfig {
                role: Role::Client,
                max_frame_size: 1000,
                allow_rsv1: true,
            })
        };
        // RSV1 on a first data frame with an extension; 16-bit encoding of a
        // short length; exactly max_frame_size; 125-byte ping.
        let mut input = b"\xC1\x02hi\x82\x7E\x00\x03abc\x82\x7E\x03\xE8".to_vec();
        input.extend_from_slice(&[7; 1000]);
        input.extend_from_slice(b"\x89\x7D");
        input.extend_from_slice(&[1; 125]);
        for step in [1, 2, 3, 7, 100, input.len()] {
            let frames = run(client(), &input, step).unwrap();
            let lens: Vec<u64> = frames.iter().map(|f| f.0.payload_len).collect();
            assert_eq!(lens, [2, 3, 1000, 125]);
            assert!(frames[0].0.rsv1);
            assert_eq!(frames[1].1, b"abc");
        }
    }

    #[test]
    fn empty_payload_yields_one_empty_last_chunk() {
        let mut dec = server();
        let mut buf = *b"\x89\x80\x01\x02\x03\x04";
        let mut pos = 0;
        assert!(matches!(
            dec.decode(&mut buf, &mut pos),
            Ok(Some(Decoded::Header(_)))
        ));
        match dec.decode(&mut buf, &mut pos) {
            Ok(Some(Decoded::Payload(c))) => {
                assert!(c.range.is_empty() && c.first && c.last && c.fin);
                assert_eq!(c.opcode, OpCode::Ping);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(dec.decode(&mut buf, &mut pos), Ok(None));
        assert!(dec.is_idle());
    }
}
