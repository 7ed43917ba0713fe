//! Limits applied while reading a handshake.

/// Limits for reading a handshake head (request on the server, response on the
/// client).
///
/// Both limits are checked before anything is buffered: a peer cannot make the
/// codec hold more than `max_header_bytes` of its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HandshakeConfig {
    /// Largest accepted head, request line and blank line included, in bytes.
    /// A larger head is refused with 431. Default 8192 (8 KiB), what most
    /// servers and proxies allow per header block.
    pub max_header_bytes: usize,
    /// Largest number of header fields. More is refused with 431. Default 64;
    /// values above [`HandshakeConfig::MAX_HEADERS_CAP`] are treated as the cap,
    /// because the parser's header slots live in a fixed-size stack array.
    pub max_headers: usize,
}

impl HandshakeConfig {
    /// Upper bound on [`HandshakeConfig::max_headers`]: the size of the stack
    /// array `httparse` fills (128 × 32 bytes = 4 KiB of stack).
    pub const MAX_HEADERS_CAP: usize = 128;

    /// The effective header-count limit (`max_headers` capped).
    pub(crate) fn header_slots(&self) -> usize {
        self.max_headers.min(Self::MAX_HEADERS_CAP)
    }
}

impl Default for HandshakeConfig {
    fn default() -> Self {
        Self {
            max_header_bytes: 8192,
            max_headers: 64,
        }
    }
}
