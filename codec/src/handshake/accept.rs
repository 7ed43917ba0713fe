//! `Sec-WebSocket-Accept` (RFC 6455 §4.2.2 step 5.4).
//!
//! SHA-1 comes from the `sha1` crate: on x86_64, version 0.10 detects SHA-NI
//! at run time and uses it (~4× the portable code), so no feature is needed.
//! Its `asm` feature only pays on aarch64, which is why `codec/Cargo.toml`
//! enables it for that target alone. Base64 is `base64-simd`.

use sha1::{Digest, Sha1};

/// The GUID every server appends to the client's key (RFC 6455 §1.3).
pub const WEBSOCKET_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// `base64(SHA-1(key ‖ GUID))`: the value of `Sec-WebSocket-Accept` for the
/// client key `key` (the base64 text as sent, surrounding whitespace removed).
///
/// ```
/// assert_eq!(
///     &ringws_codec::accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
///     b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
/// );
/// ```
pub fn accept_key(key: &[u8]) -> [u8; 28] {
    let mut sha = Sha1::new();
    sha.update(key);
    sha.update(WEBSOCKET_GUID.as_bytes());
    let digest = sha.finalize();
    let mut out = [0u8; 28];
    // 20 bytes encode to exactly 28 characters with padding.
    let _ = base64_simd::STANDARD.encode(&digest, base64_simd::Out::from_slice(&mut out));
    out
}

/// Decodes a `Sec-WebSocket-Key`: it must be base64 of exactly 16 bytes
/// (RFC 6455 §4.1 step 7), i.e. 24 characters ending in `==`.
pub(crate) fn decode_key(key: &[u8]) -> Option<[u8; 16]> {
    if key.len() != 24 || base64_simd::STANDARD.decoded_length(key).ok()? != 16 {
        return None;
    }
    let mut nonce = [0u8; 16];
    base64_simd::STANDARD
        .decode(key, base64_simd::Out::from_slice(&mut nonce))
        .ok()?;
    Some(nonce)
}

/// Encodes a 16-byte nonce as a `Sec-WebSocket-Key`.
pub(crate) fn encode_key(nonce: &[u8; 16]) -> [u8; 24] {
    let mut out = [0u8; 24];
    let _ = base64_simd::STANDARD.encode(nonce, base64_simd::Out::from_slice(&mut out));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6455_example() {
        assert_eq!(
            &accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn key_decoding_table() {
        let cases: &[(&[u8], bool)] = &[
            (b"dGhlIHNhbXBsZSBub25jZQ==", true),
            (b"AAAAAAAAAAAAAAAAAAAAAA==", true),
            (b"dGhlIHNhbXBsZSBub25jZQ=", false),   // short
            (b"dGhlIHNhbXBsZSBub25jZQ===", false), // long
            (b"dGhlIHNhbXBsZSBub25jZQAA", false),  // 18 bytes
            (b"dGhlIHNhbXBsZSBub25jZ!==", false),  // bad alphabet
            (b"dGhlIHNhbXBsZSBub25jZ-==", false),  // URL-safe alphabet
            (b"", false),
        ];
        for &(key, ok) in cases {
            assert_eq!(
                decode_key(key).is_some(),
                ok,
                "{:?}",
                String::from_utf8_lossy(key)
            );
        }
        let nonce = *b"the sample nonce";
        assert_eq!(&encode_key(&nonce), b"dGhlIHNhbXBsZSBub25jZQ==");
        assert_eq!(decode_key(&encode_key(&nonce)), Some(nonce));
    }
}
