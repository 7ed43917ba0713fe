//! Frame encoding: header bytes to send next to a borrowed payload, and
//! conveniences that write whole frames.
//!
//! A server sends unmasked frames, so the payload can go to the socket
//! untouched: [`encode_header`] (or [`HeaderBytes`]) produces only the 2–10
//! header bytes, and the caller submits `[header, payload]` as one vectored
//! write without copying the payload. Clients must mask, which changes the
//! bytes, so [`write_frame`] copies and masks in one pass.

use super::header::{FrameHeader, OpCode, MAX_HEADER_LEN};
use crate::close::CloseCode;
use crate::mask::apply_mask;
use bytes::{BufMut, Bytes, BytesMut};

/// Writes a frame header (RSV bits clear, shortest length encoding) into
/// `buf` and returns its length (2–14 bytes).
///
/// # Panics
///
/// If `payload_len` has its top bit set.
pub fn encode_header(
    buf: &mut [u8; MAX_HEADER_LEN],
    fin: bool,
    opcode: OpCode,
    payload_len: u64,
    mask: Option<[u8; 4]>,
) -> usize {
    FrameHeader::new(fin, opcode, mask, payload_len).encode(buf)
}

/// Encoded header bytes, kept by value (15 bytes) so they can sit next to
/// the payload in a vectored write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeaderBytes {
    buf: [u8; MAX_HEADER_LEN],
    /// Invariant: `2 <= len <= 14`; `buf[..len]` is the header.
    len: u8,
}

impl HeaderBytes {
    /// The header of a frame (RSV bits clear).
    pub fn new(fin: bool, opcode: OpCode, payload_len: u64, mask: Option<[u8; 4]>) -> Self {
        Self::from_header(&FrameHeader::new(fin, opcode, mask, payload_len))
    }

    /// The header of the first (or only) frame of a compressed message:
    /// RSV1 set (permessage-deflate, RFC 7692 §6). Later fragments of the
    /// message use [`HeaderBytes::new`] (RSV1 clear).
    pub fn compressed(fin: bool, opcode: OpCode, payload_len: u64, mask: Option<[u8; 4]>) -> Self {
        let mut h = FrameHeader::new(fin, opcode, mask, payload_len);
        h.rsv1 = true;
        Self::from_header(&h)
    }

    /// The header bytes for `header`, reserved bits included.
    pub fn from_header(header: &FrameHeader) -> Self {
        let mut buf = [0; MAX_HEADER_LEN];
        let len = header.encode(&mut buf) as u8;
        Self { buf, len }
    }

    /// The bytes to send before the payload.
    pub fn as_slice(&self) -> &[u8] {
        &self.buf[..usize::from(self.len)]
    }
}

impl AsRef<[u8]> for HeaderBytes {
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

/// Appends a whole frame to `out`. With a `mask` (client side) the payload
/// is masked while it is copied; `payload` itself is not modified.
pub fn write_frame(
    out: &mut Vec<u8>,
    fin: bool,
    opcode: OpCode,
    payload: &[u8],
    mask: Option<[u8; 4]>,
) {
    let header = HeaderBytes::new(fin, opcode, payload.len() as u64, mask);
    out.reserve(header.as_slice().len() + payload.len());
    out.extend_from_slice(header.as_slice());
    let start = out.len();
    out.extend_from_slice(payload);
    if let Some(key) = mask {
        apply_mask(&mut out[start..], key, 0);
    }
}

/// The longest close reason that fits in a control frame (125 − 2 bytes of code).
pub const MAX_CLOSE_REASON: usize = 123;

/// The payload of a close frame: the code (big-endian) then the reason,
/// cut to at most [`MAX_CLOSE_REASON`] bytes on a character boundary.
/// Returns the buffer and the payload length.
pub fn close_payload(code: CloseCode, reason: &str) -> ([u8; 125], usize) {
    let mut cut = reason.len().min(MAX_CLOSE_REASON);
    while !reason.is_char_boundary(cut) {
        cut -= 1;
    }
    let mut buf = [0; 125];
    buf[..2].copy_from_slice(&code.0.to_be_bytes());
    buf[2..2 + cut].copy_from_slice(&reason.as_bytes()[..cut]);
    (buf, 2 + cut)
}

/// Appends a close frame carrying `code` and `reason` (cut to 123 bytes on a
/// character boundary) to `out`, masked if `mask` is given.
///
/// The caller should only send codes for which
/// [`CloseCode::is_allowed_on_wire`] holds; to close without a code, use
/// [`write_frame`] with an empty payload.
pub fn write_close(out: &mut Vec<u8>, mask: Option<[u8; 4]>, code: CloseCode, reason: &str) {
    debug_assert!(
        code.is_allowed_on_wire(),
        "close code {code} may not be sent"
    );
    let (payload, len) = close_payload(code, reason);
    write_frame(out, true, OpCode::Close, &payload[..len], mask);
}

/// A whole unmasked (server) frame with FIN set, as shared `Bytes`: encode a
/// message once and send the same bytes to many connections.
pub fn server_frame(opcode: OpCode, payload: &[u8]) -> Bytes {
    let header = HeaderBytes::new(true, opcode, payload.len() as u64, None);
    let mut b = BytesMut::with_capacity(header.as_slice().len() + payload.len());
    b.put_slice(header.as_slice());
    b.put_slice(payload);
    b.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6455 §5.7 examples, byte for byte.
    #[test]
    fn rfc_examples() {
        let mut out = Vec::new();
        // A single-frame unmasked text message.
        write_frame(&mut out, true, OpCode::Text, b"Hello", None);
        assert_eq!(out, b"\x81\x05\x48\x65\x6c\x6c\x6f");
        // A single-frame masked text message.
        out.clear();
        write_frame(
            &mut out,
            true,
            OpCode::Text,
            b"Hello",
            Some([0x37, 0xfa, 0x21, 0x3d]),
        );
        assert_eq!(out, b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58");
        // A fragmented unmasked text message.
        out.clear();
        write_frame(&mut out, false, OpCode::Text, b"Hel", None);
        write_frame(&mut out, true, OpCode::Continuation, b"lo", None);
        assert_eq!(out, b"\x01\x03\x48\x65\x6c\x80\x02\x6c\x6f");
        // Unmasked ping and masked pong, "Hello" as body.
        out.clear();
        write_frame(&mut out, true, OpCode::Ping, b"Hello", None);
        assert_eq!(out, b"\x89\x05\x48\x65\x6c\x6c\x6f");
        out.clear();
        write_frame(
            &mut out,
            true,
            OpCode::Pong,
            b"Hello",
            Some([0x37, 0xfa, 0x21, 0x3d]),
        );
        assert_eq!(out, b"\x8a\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58");
        // 256 bytes binary message in a single unmasked frame.
        assert_eq!(
            HeaderBytes::new(true, OpCode::Binary, 256, None).as_slice(),
            b"\x82\x7E\x01\x00"
        );
        // 64 KiB binary message in a single unmasked frame.
        assert_eq!(
            HeaderBytes::new(true, OpCode::Binary, 65536, None).as_slice(),
            b"\x82\x7F\x00\x00\x00\x00\x00\x01\x00\x00"
        );
        // server_frame produces the same bytes as write_frame.
        assert_eq!(&server_frame(OpCode::Text, b"Hello")[..], b"\x81\x05Hello");
    }

    #[test]
    fn header_lengths() {
        let table: &[(u64, Option<[u8; 4]>, usize)] = &[
            (0, None, 2),
            (125, None, 2),
            (126, None, 4),
            (65535, None, 4),
            (65536, None, 10),
            (0, Some([1, 2, 3, 4]), 6),
            (126, Some([1, 2, 3, 4]), 8),
            (1 << 40, Some([1, 2, 3, 4]), 14),
        ];
        for &(len, mask, want) in table {
            let mut buf = [0; MAX_HEADER_LEN];
            assert_eq!(
                encode_header(&mut buf, true, OpCode::Binary, len, mask),
                want
            );
            assert_eq!(
                HeaderBytes::new(true, OpCode::Binary, len, mask).as_slice(),
                &buf[..want]
            );
        }
    }

    #[test]
    fn close_frames() {
        let mut out = Vec::new();
        write_close(&mut out, None, CloseCode::NORMAL, "bye");
        assert_eq!(out, b"\x88\x05\x03\xe8bye");
        // A long reason is cut to 123 bytes without splitting a character.
        let reason = "é".repeat(100); // 200 bytes
        let (_, len) = close_payload(CloseCode::GOING_AWAY, &reason);
        assert_eq!(len, 2 + 122);
        out.clear();
        write_close(&mut out, Some([1, 2, 3, 4]), CloseCode::GOING_AWAY, &reason);
        assert_eq!(out.len(), 2 + 4 + 124);
        assert_eq!(out[1], 0x80 | 124);
    }
}
