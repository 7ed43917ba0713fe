//! The envelope every message carries through the broker.
//!
//! ```text
//! byte 0      version (1)
//! byte 1      kind: 0 = text, 1 = binary
//! bytes 2..10 publishing node's id, little-endian u64
//! bytes 10..  payload
//! ```
//!
//! Ten bytes of overhead per message. The version byte comes first so a later
//! layout can be told apart from this one; a node drops (and counts) envelopes
//! of a version it does not know rather than guessing at them.

/// Envelope layout version written by this crate.
pub const VERSION: u8 = 1;

/// Bytes before the payload.
pub const HEADER_LEN: usize = 10;

/// What the payload is, so it leaves as the frame type it came in as.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A text message: the payload is valid UTF-8 (checked on receipt).
    Text,
    /// A binary message.
    Binary,
}

impl Kind {
    fn byte(self) -> u8 {
        match self {
            Kind::Text => 0,
            Kind::Binary => 1,
        }
    }
}

/// Why an envelope from the broker was not delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Malformed {
    /// Shorter than the header.
    Short,
    /// A version byte this crate does not know.
    Version(u8),
    /// A kind byte other than text or binary.
    Kind(u8),
    /// Marked text but not valid UTF-8.
    Utf8,
}

/// An envelope read from the broker, borrowing its payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Envelope<'a> {
    /// The node that published it.
    pub node: u64,
    /// Text or binary.
    pub kind: Kind,
    /// The message itself.
    pub payload: &'a [u8],
}

/// Writes the envelope for `payload` into `out` (appending).
pub fn encode_into(out: &mut Vec<u8>, node: u64, kind: Kind, payload: &[u8]) {
    out.reserve(HEADER_LEN + payload.len());
    out.push(VERSION);
    out.push(kind.byte());
    out.extend_from_slice(&node.to_le_bytes());
    out.extend_from_slice(payload);
}

/// The envelope for `payload` in a new buffer of exactly its size.
pub fn encode(node: u64, kind: Kind, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    encode_into(&mut out, node, kind, payload);
    out
}

/// Reads an envelope; text payloads are checked to be UTF-8, so what is
/// delivered as text can be sent as a text frame as it is.
pub fn decode(bytes: &[u8]) -> Result<Envelope<'_>, Malformed> {
    if bytes.len() < HEADER_LEN {
        return Err(Malformed::Short);
    }
    if bytes[0] != VERSION {
        return Err(Malformed::Version(bytes[0]));
    }
    let kind = match bytes[1] {
        0 => Kind::Text,
        1 => Kind::Binary,
        other => return Err(Malformed::Kind(other)),
    };
    let mut id = [0u8; 8];
    id.copy_from_slice(&bytes[2..HEADER_LEN]);
    let payload = &bytes[HEADER_LEN..];
    if kind == Kind::Text && simdutf8::basic::from_utf8(payload).is_err() {
        return Err(Malformed::Utf8);
    }
    Ok(Envelope {
        node: u64::from_le_bytes(id),
        kind,
        payload,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for (kind, payload) in [
            (Kind::Text, &b""[..]),
            (Kind::Text, "héllo".as_bytes()),
            (Kind::Binary, &[0u8, 255, 1, 2][..]),
        ] {
            let bytes = encode(0x0102_0304_0506_0708, kind, payload);
            assert_eq!(bytes.len(), HEADER_LEN + payload.len());
            assert_eq!(
                decode(&bytes),
                Ok(Envelope {
                    node: 0x0102_0304_0506_0708,
                    kind,
                    payload
                })
            );
        }
    }

    #[test]
    fn layout_is_fixed() {
        assert_eq!(
            encode(1, Kind::Binary, b"x"),
            [1, 1, 1, 0, 0, 0, 0, 0, 0, 0, b'x']
        );
    }

    #[test]
    fn rejects_malformed() {
        let table: &[(&[u8], Malformed)] = &[
            (b"", Malformed::Short),
            (&[1, 0, 0, 0, 0, 0, 0, 0, 0], Malformed::Short),
            (&[2, 0, 0, 0, 0, 0, 0, 0, 0, 0], Malformed::Version(2)),
            (&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0], Malformed::Version(0)),
            (&[1, 7, 0, 0, 0, 0, 0, 0, 0, 0], Malformed::Kind(7)),
            (&[1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff], Malformed::Utf8),
            (b"hello world, not an envelope", Malformed::Version(b'h')),
        ];
        for (bytes, want) in table {
            assert_eq!(decode(bytes), Err(*want), "{bytes:?}");
        }
        // Invalid UTF-8 is fine as binary.
        assert!(decode(&[1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0xff]).is_ok());
    }
}
