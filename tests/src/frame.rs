//! Frames written byte-exactly by the client, and frames read from the server.
//!
//! Nothing here validates: the runner must be able to put reserved bits,
//! reserved opcodes, oversized control frames and bad close payloads on the
//! wire, and must record whatever the server sends back, broken or not.

/// Opcodes of RFC 6455 section 5.2 (3–7 and 11–15 are reserved).
pub mod op {
    /// Continuation frame.
    pub const CONT: u8 = 0x0;
    /// Text frame.
    pub const TEXT: u8 = 0x1;
    /// Binary frame.
    pub const BINARY: u8 = 0x2;
    /// Close frame.
    pub const CLOSE: u8 = 0x8;
    /// Ping frame.
    pub const PING: u8 = 0x9;
    /// Pong frame.
    pub const PONG: u8 = 0xA;
}

/// A frame as the client will send it; any field may be invalid on purpose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// FIN bit.
    pub fin: bool,
    /// RSV1..3 as a 3-bit number (RSV1 = 4, RSV2 = 2, RSV3 = 1).
    pub rsv: u8,
    /// Opcode, 4 bits; not checked.
    pub opcode: u8,
    /// Unmasked payload.
    pub payload: Vec<u8>,
}

impl Frame {
    /// A final frame with this opcode and payload, RSV bits clear.
    pub fn new(opcode: u8, payload: impl Into<Vec<u8>>) -> Self {
        Frame {
            fin: true,
            rsv: 0,
            opcode,
            payload: payload.into(),
        }
    }
    /// A final text frame.
    pub fn text(payload: impl Into<Vec<u8>>) -> Self {
        Self::new(op::TEXT, payload)
    }
    /// A final binary frame.
    pub fn binary(payload: impl Into<Vec<u8>>) -> Self {
        Self::new(op::BINARY, payload)
    }
    /// A ping.
    pub fn ping(payload: impl Into<Vec<u8>>) -> Self {
        Self::new(op::PING, payload)
    }
    /// A pong.
    pub fn pong(payload: impl Into<Vec<u8>>) -> Self {
        Self::new(op::PONG, payload)
    }
    /// A continuation frame.
    pub fn cont(fin: bool, payload: impl Into<Vec<u8>>) -> Self {
        Self::new(op::CONT, payload).fin(fin)
    }
    /// A close frame with an optional status code and a reason (the reason is
    /// only written when there is a code, as the RFC requires; use
    /// [`Frame::new`] with [`op::CLOSE`] for arbitrary payloads).
    pub fn close(code: Option<u16>, reason: &[u8]) -> Self {
        let mut payload = Vec::new();
        if let Some(code) = code {
            payload.extend_from_slice(&code.to_be_bytes());
            payload.extend_from_slice(reason);
        }
        Self::new(op::CLOSE, payload)
    }
    /// Sets FIN.
    pub fn fin(mut self, fin: bool) -> Self {
        self.fin = fin;
        self
    }
    /// Sets the RSV bits (3-bit number).
    pub fn rsv(mut self, rsv: u8) -> Self {
        self.rsv = rsv & 7;
        self
    }

    /// Appends the client-side wire form (masked with `mask`) to `out`,
    /// using the shortest length encoding, as a conforming client does.
    pub fn encode(&self, mask: [u8; 4], out: &mut Vec<u8>) {
        out.push(((self.fin as u8) << 7) | (self.rsv << 4) | (self.opcode & 0x0F));
        let len = self.payload.len();
        if len < 126 {
            out.push(0x80 | len as u8);
        } else if len <= 0xFFFF {
            out.push(0x80 | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        } else {
            out.push(0x80 | 127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
        out.extend_from_slice(&mask);
        let start = out.len();
        out.extend_from_slice(&self.payload);
        apply_mask(&mut out[start..], mask);
    }

    /// The wire form with a fresh random mask.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.payload.len() + 14);
        self.encode(random_mask(), &mut out);
        out
    }
}

/// A random masking key, as RFC 6455 section 5.3 asks of clients.
pub fn random_mask() -> [u8; 4] {
    fastrand::u32(..).to_ne_bytes()
}

/// XORs `data` with the repeating 4-byte `mask`, starting at mask offset 0.
pub fn apply_mask(data: &mut [u8], mask: [u8; 4]) {
    let word = u32::from_ne_bytes(mask);
    let mut chunks = data.chunks_exact_mut(4);
    for c in &mut chunks {
        let v = u32::from_ne_bytes([c[0], c[1], c[2], c[3]]) ^ word;
        c.copy_from_slice(&v.to_ne_bytes());
    }
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= mask[i];
    }
}

/// A frame as received from the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerFrame {
    /// FIN bit.
    pub fin: bool,
    /// RSV bits as a 3-bit number.
    pub rsv: u8,
    /// Opcode.
    pub opcode: u8,
    /// Whether the server (wrongly) masked it; the payload is unmasked here.
    pub masked: bool,
    /// Payload.
    pub payload: Vec<u8>,
}

/// Largest server frame the reader accepts before giving up on the peer.
pub const MAX_SERVER_FRAME: u64 = 64 << 20;

/// Parses one server frame from the front of `buf`: `Ok(None)` means more
/// bytes are needed, `Ok(Some((frame, used)))` consumed `used` bytes.
pub fn parse_server_frame(buf: &[u8]) -> Result<Option<(ServerFrame, usize)>, String> {
    if buf.len() < 2 {
        return Ok(None);
    }
    let (b0, b1) = (buf[0], buf[1]);
    let masked = b1 & 0x80 != 0;
    let (len, mut pos) = match b1 & 0x7F {
        126 if buf.len() >= 4 => (u16::from_be_bytes([buf[2], buf[3]]) as u64, 4),
        127 if buf.len() >= 10 => {
            let mut b = [0u8; 8];
            b.copy_from_slice(&buf[2..10]);
            (u64::from_be_bytes(b), 10)
        }
        126 | 127 => return Ok(None),
        n => (n as u64, 2),
    };
    if len > MAX_SERVER_FRAME {
        return Err(format!(
            "server frame of {len} bytes exceeds the runner's limit"
        ));
    }
    let mask = if masked {
        if buf.len() < pos + 4 {
            return Ok(None);
        }
        let m = [buf[pos], buf[pos + 1], buf[pos + 2], buf[pos + 3]];
        pos += 4;
        Some(m)
    } else {
        None
    };
    let end = pos + len as usize;
    if buf.len() < end {
        return Ok(None);
    }
    let mut payload = buf[pos..end].to_vec();
    if let Some(m) = mask {
        apply_mask(&mut payload, m);
    }
    Ok(Some((
        ServerFrame {
            fin: b0 & 0x80 != 0,
            rsv: (b0 >> 4) & 7,
            opcode: b0 & 0x0F,
            masked,
            payload,
        },
        end,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_lengths_and_bits() {
        // (frame, mask, expected wire bytes)
        let cases: Vec<(Frame, [u8; 4], Vec<u8>)> = vec![
            (Frame::text(""), [0; 4], vec![0x81, 0x80, 0, 0, 0, 0]),
            (
                Frame::text("Hi").rsv(4),
                [1, 2, 3, 4],
                vec![0xC1, 0x82, 1, 2, 3, 4, b'H' ^ 1, b'i' ^ 2],
            ),
            (
                Frame::cont(false, vec![0u8; 3]).rsv(7),
                [9, 9, 9, 9],
                vec![0x70, 0x83, 9, 9, 9, 9, 9, 9, 9],
            ),
            (Frame::new(5, ""), [0; 4], vec![0x85, 0x80, 0, 0, 0, 0]),
            (
                Frame::close(Some(1000), b""),
                [0; 4],
                vec![0x88, 0x82, 0, 0, 0, 0, 0x03, 0xE8],
            ),
        ];
        for (frame, mask, want) in cases {
            let mut out = Vec::new();
            frame.encode(mask, &mut out);
            assert_eq!(out, want, "{frame:?}");
        }
        for (len, hdr) in [(125usize, 6usize), (126, 8), (65535, 8), (65536, 14)] {
            let mut out = Vec::new();
            Frame::binary(vec![0xfe; len]).encode([0; 4], &mut out);
            assert_eq!(out.len(), len + hdr, "len {len}");
        }
    }

    #[test]
    fn parse_round_trip_and_partial() {
        // Server frames are unmasked: build them by hand.
        let mut wire = vec![0x82, 126, 0x01, 0x00];
        wire.extend(std::iter::repeat_n(7u8, 256));
        for cut in [0, 1, 3, 4, 100, 259] {
            assert_eq!(parse_server_frame(&wire[..cut]).unwrap(), None, "cut {cut}");
        }
        let (f, used) = parse_server_frame(&wire).unwrap().unwrap();
        assert_eq!(
            (f.fin, f.opcode, f.payload.len(), used),
            (true, 2, 256, 260)
        );
        // A masked server frame is reported as such and unmasked.
        let mut masked = Vec::new();
        Frame::ping("abc").encode([5, 6, 7, 8], &mut masked);
        let (f, _) = parse_server_frame(&masked).unwrap().unwrap();
        assert!(f.masked);
        assert_eq!(f.payload, b"abc");
    }
}
