//! Close codes (RFC 6455 §7.4) and which of them may appear on the wire.

use core::fmt;

/// A WebSocket close status code (RFC 6455 §7.4).
///
/// A newtype so that a code cannot be confused with a length or an opcode.
/// Any `u16` can be represented (a peer may send anything); use
/// [`CloseCode::is_allowed_on_wire`] to decide whether a received code is
/// acceptable, and only send codes for which it returns `true`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CloseCode(pub u16);

impl CloseCode {
    /// 1000: normal closure; the purpose of the connection was fulfilled.
    pub const NORMAL: Self = Self(1000);
    /// 1001: an endpoint is going away (server shutdown, page navigation).
    pub const GOING_AWAY: Self = Self(1001);
    /// 1002: the peer violated the protocol.
    pub const PROTOCOL_ERROR: Self = Self(1002);
    /// 1003: a data type the endpoint cannot accept (e.g. binary-only server got text).
    pub const UNSUPPORTED_DATA: Self = Self(1003);
    /// 1005: "no status code was present". Reported locally, never sent.
    pub const NO_STATUS: Self = Self(1005);
    /// 1006: "closed without a close frame". Reported locally, never sent.
    pub const ABNORMAL: Self = Self(1006);
    /// 1007: message data inconsistent with its type (e.g. invalid UTF-8 in text).
    pub const INVALID_PAYLOAD: Self = Self(1007);
    /// 1008: a message violated the endpoint's policy.
    pub const POLICY: Self = Self(1008);
    /// 1009: a message too big to process.
    pub const MESSAGE_TOO_BIG: Self = Self(1009);
    /// 1010: (client) the server did not negotiate a required extension.
    pub const MANDATORY_EXTENSION: Self = Self(1010);
    /// 1011: the server hit an unexpected condition.
    pub const INTERNAL_ERROR: Self = Self(1011);
    /// 1012: service restart (IANA registry).
    pub const SERVICE_RESTART: Self = Self(1012);
    /// 1013: try again later (IANA registry).
    pub const TRY_AGAIN_LATER: Self = Self(1013);
    /// 1014: bad gateway (IANA registry).
    pub const BAD_GATEWAY: Self = Self(1014);
    /// 1015: TLS handshake failure. Reported locally, never sent.
    pub const TLS_HANDSHAKE: Self = Self(1015);

    /// Whether this code may appear in a close frame on the wire.
    ///
    /// Allowed: 1000–1003, 1007–1014 (RFC 6455 §7.4.1 plus the IANA-registered
    /// 1012–1014), and 3000–4999 (registered libraries/frameworks and private
    /// use). Refused: 0–999 (unused), 1004 (reserved), 1005, 1006 and 1015 (local
    /// only), 1016–2999 (reserved for future RFCs, unassigned) and ≥ 5000.
    pub const fn is_allowed_on_wire(self) -> bool {
        matches!(self.0, 1000..=1003 | 1007..=1014 | 3000..=4999)
    }
}

impl From<u16> for CloseCode {
    fn from(code: u16) -> Self {
        Self(code)
    }
}

impl From<CloseCode> for u16 {
    fn from(code: CloseCode) -> Self {
        code.0
    }
}

impl fmt::Display for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_ranges() {
        // (code, allowed on the wire)
        let table: &[(u16, bool)] = &[
            (0, false),
            (999, false),
            (1000, true),
            (1001, true),
            (1002, true),
            (1003, true),
            (1004, false),
            (1005, false),
            (1006, false),
            (1007, true),
            (1008, true),
            (1009, true),
            (1010, true),
            (1011, true),
            (1012, true),
            (1013, true),
            (1014, true),
            (1015, false),
            (1016, false),
            (1100, false),
            (2000, false),
            (2999, false),
            (3000, true),
            (3999, true),
            (4000, true),
            (4999, true),
            (5000, false),
            (65535, false),
        ];
        for &(code, allowed) in table {
            assert_eq!(CloseCode(code).is_allowed_on_wire(), allowed, "code {code}");
        }
    }
}
