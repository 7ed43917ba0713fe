//! Frame header types and the wire format of a header (RFC 6455 §5.2).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-------+-+-------------+-------------------------------+
//! |F|R|R|R| opcode|M| Payload len |    Extended payload length    |
//! |I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
//! |N|V|V|V|       |S|             |   (if payload len==126/127)   |
//! | |1|2|3|       |K|             |                               |
//! +-+-+-+-+-------+-+-------------+ - - - - - - - - - - - - - - - +
//! |     Extended payload length continued, if payload len == 127  |
//! + - - - - - - - - - - - - - - - +-------------------------------+
//! |                               |Masking-key, if MASK set to 1  |
//! +-------------------------------+-------------------------------+
//! ```

use crate::error::ProtocolError;

/// The longest possible header: 2 bytes, 8 of extended length, 4 of mask.
pub const MAX_HEADER_LEN: usize = 14;

/// Which end of the connection we are. Decides which frames must be masked:
/// a server receives masked frames and sends unmasked ones; a client the
/// reverse (§5.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Role {
    /// We accepted the connection: incoming frames must be masked.
    #[default]
    Server,
    /// We opened the connection: incoming frames must not be masked.
    Client,
}

/// A frame opcode (§5.2). Reserved opcodes are not representable; the
/// decoder refuses them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum OpCode {
    /// 0x0: continues a fragmented message.
    Continuation = 0x0,
    /// 0x1: first frame of a text message.
    Text = 0x1,
    /// 0x2: first frame of a binary message.
    Binary = 0x2,
    /// 0x8: close.
    Close = 0x8,
    /// 0x9: ping.
    Ping = 0x9,
    /// 0xA: pong.
    Pong = 0xA,
}

impl OpCode {
    /// The opcode for the low 4 bits `v`, or `None` if reserved (3–7, 0xB–0xF).
    pub const fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            0x0 => Self::Continuation,
            0x1 => Self::Text,
            0x2 => Self::Binary,
            0x8 => Self::Close,
            0x9 => Self::Ping,
            0xA => Self::Pong,
            _ => return None,
        })
    }

    /// The 4-bit wire value.
    pub const fn as_u8(self) -> u8 {
        self as u8
    }

    /// Close, Ping and Pong: never fragmented, at most 125 bytes, and allowed
    /// between the fragments of a data message.
    pub const fn is_control(self) -> bool {
        (self as u8) & 0x8 != 0
    }
}

/// A decoded (or to-be-encoded) frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FrameHeader {
    /// Final fragment of a message.
    pub fin: bool,
    /// Reserved bit 1 (used by permessage-deflate).
    pub rsv1: bool,
    /// Reserved bit 2.
    pub rsv2: bool,
    /// Reserved bit 3.
    pub rsv3: bool,
    /// The opcode.
    pub opcode: OpCode,
    /// The masking key, if the frame is masked.
    pub mask: Option<[u8; 4]>,
    /// Length of the payload in bytes (at most 2^63 - 1 on the wire).
    pub payload_len: u64,
}

impl FrameHeader {
    /// A header with all reserved bits clear.
    pub const fn new(fin: bool, opcode: OpCode, mask: Option<[u8; 4]>, payload_len: u64) -> Self {
        Self {
            fin,
            rsv1: false,
            rsv2: false,
            rsv3: false,
            opcode,
            mask,
            payload_len,
        }
    }

    /// The number of header bytes this header needs on the wire (2–14),
    /// using the shortest length encoding.
    pub const fn encoded_len(&self) -> usize {
        let len = match self.payload_len {
            0..=125 => 2,
            126..=0xFFFF => 4,
            _ => 10,
        };
        if self.mask.is_some() {
            len + 4
        } else {
            len
        }
    }

    /// Writes the header with the shortest length encoding into `out` and
    /// returns how many bytes were written. The payload is not touched.
    ///
    /// # Panics
    ///
    /// If `payload_len` has its top bit set (not representable, §5.2).
    pub fn encode(&self, out: &mut [u8; MAX_HEADER_LEN]) -> usize {
        assert!(self.payload_len >> 63 == 0, "payload length over 2^63 - 1");
        out[0] = (self.fin as u8) << 7
            | (self.rsv1 as u8) << 6
            | (self.rsv2 as u8) << 5
            | (self.rsv3 as u8) << 4
            | self.opcode.as_u8();
        let mask_bit = (self.mask.is_some() as u8) << 7;
        let mut n = match self.payload_len {
            len @ 0..=125 => {
                out[1] = mask_bit | len as u8;
                2
            }
            len @ 126..=0xFFFF => {
                out[1] = mask_bit | 126;
                out[2..4].copy_from_slice(&(len as u16).to_be_bytes());
                4
            }
            len => {
                out[1] = mask_bit | 127;
                out[2..10].copy_from_slice(&len.to_be_bytes());
                10
            }
        };
        if let Some(key) = self.mask {
            out[n..n + 4].copy_from_slice(&key);
            n += 4;
        }
        n
    }

    /// Parses a header from the start of `b`.
    ///
    /// Returns `Ok(None)` if `b` holds only part of a header, otherwise the
    /// header and its length in bytes. Only refuses what cannot be
    /// represented (a reserved opcode, a 64-bit length with the top bit set);
    /// the rules that depend on role, configuration or message state are
    /// checked by the decoder and the receiver.
    pub fn parse(b: &[u8]) -> Result<Option<(Self, usize)>, ProtocolError> {
        let [b0, b1, ..] = *b else {
            return Ok(None);
        };
        let opcode = OpCode::from_u8(b0 & 0x0F).ok_or(ProtocolError::ReservedOpcode)?;
        let masked = b1 & 0x80 != 0;
        let (payload_len, mut n) = match b1 & 0x7F {
            126 => match b.get(2..4) {
                Some(l) => (u64::from(u16::from_be_bytes([l[0], l[1]])), 4),
                None => return Ok(None),
            },
            127 => match b.get(2..10) {
                Some(l) => {
                    let len = u64::from_be_bytes([l[0], l[1], l[2], l[3], l[4], l[5], l[6], l[7]]);
                    if len >> 63 != 0 {
                        return Err(ProtocolError::LengthTopBitSet);
                    }
                    (len, 10)
                }
                None => return Ok(None),
            },
            len => (u64::from(len), 2),
        };
        let mask = if masked {
            match b.get(n..n + 4) {
                Some(k) => {
                    n += 4;
                    Some([k[0], k[1], k[2], k[3]])
                }
                None => return Ok(None),
            }
        } else {
            None
        };
        let header = Self {
            fin: b0 & 0x80 != 0,
            rsv1: b0 & 0x40 != 0,
            rsv2: b0 & 0x20 != 0,
            rsv3: b0 & 0x10 != 0,
            opcode,
            mask,
            payload_len,
        };
        Ok(Some((header, n)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opcodes() {
        for v in 0u8..16 {
            match OpCode::from_u8(v) {
                Some(op) => {
                    assert_eq!(op.as_u8(), v);
                    assert_eq!(op.is_control(), v >= 8);
                }
                None => assert!(matches!(v, 3..=7 | 0xB..=0xF), "{v}"),
            }
        }
    }

    #[test]
    fn parse_table() {
        use ProtocolError::*;
        type Want = Result<Option<(u64, Option<[u8; 4]>, usize)>, ProtocolError>;
        let table: &[(&[u8], Want)] = &[
            (b"", Ok(None)),
            (b"\x81", Ok(None)),
            (b"\x81\x05", Ok(Some((5, None, 2)))),
            (b"\x81\x85\x01\x02\x03", Ok(None)),
            (
                b"\x81\x85\x01\x02\x03\x04",
                Ok(Some((5, Some([1, 2, 3, 4]), 6))),
            ),
            (b"\x82\x7E\x01", Ok(None)),
            (b"\x82\x7E\x01\x00", Ok(Some((256, None, 4)))),
            // A 16-bit encoding of a small length is allowed.
            (b"\x82\x7E\x00\x05", Ok(Some((5, None, 4)))),
            (b"\x82\x7F\x00\x00\x00\x00\x00\x01\x00", Ok(None)),
            (
                b"\x82\x7F\x00\x00\x00\x00\x00\x01\x00\x00",
                Ok(Some((65536, None, 10))),
            ),
            (
                b"\x82\xFF\x00\x00\x00\x00\x00\x00\x00\x01\xAA\xBB\xCC\xDD",
                Ok(Some((1, Some([0xAA, 0xBB, 0xCC, 0xDD]), 14))),
            ),
            (
                b"\x82\x7F\x80\x00\x00\x00\x00\x00\x00\x00",
                Err(LengthTopBitSet),
            ),
            (
                b"\x82\x7F\x7F\xFF\xFF\xFF\xFF\xFF\xFF\xFF",
                Ok(Some((u64::MAX >> 1, None, 10))),
            ),
            (b"\x83\x00", Err(ReservedOpcode)),
            (b"\x87\x00", Err(ReservedOpcode)),
            (b"\x8B\x00", Err(ReservedOpcode)),
            (b"\x8F\x00", Err(ReservedOpcode)),
        ];
        for (bytes, want) in table {
            let got = FrameHeader::parse(bytes).map(|o| o.map(|(h, n)| (h.payload_len, h.mask, n)));
            assert_eq!(&got, want, "{bytes:02x?}");
        }
    }

    #[test]
    fn encode_parse_round_trip() {
        for len in [0u64, 1, 125, 126, 127, 0xFFFF, 0x10000, u64::MAX >> 1] {
            for mask in [None, Some([9, 8, 7, 6])] {
                for (fin, rsv1) in [(true, false), (false, true)] {
                    let mut h = FrameHeader::new(fin, OpCode::Binary, mask, len);
                    h.rsv1 = rsv1;
                    let mut out = [0; MAX_HEADER_LEN];
                    let n = h.encode(&mut out);
                    assert_eq!(n, h.encoded_len());
                    assert_eq!(FrameHeader::parse(&out[..n]), Ok(Some((h, n))));
                    assert_eq!(FrameHeader::parse(&out[..n - 1]), Ok(None));
                }
            }
        }
    }
}
