//! Errors of the frame layer: every way a peer can break RFC 6455, each mapped
//! to the close code and reason we answer with.

use crate::close::CloseCode;
use core::fmt;

/// The peer broke the protocol; the connection must be closed.
///
/// One variant per refusal, so tests and logs can tell them apart. Every
/// variant is the *peer's* fault and converts to the close code to send
/// ([`ProtocolError::close_code`]) and a short reason that fits in a close
/// frame ([`ProtocolError::reason`], ≤ 123 bytes).
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProtocolError {
    /// RSV2 or RSV3 set, or RSV1 set with no extension negotiated (§5.2).
    ReservedBitsSet,
    /// RSV1 set where even a negotiated extension does not allow it: on a
    /// control frame or a continuation frame (RFC 7692 §6).
    Rsv1NotAllowedHere,
    /// Opcode 0x3–0x7 or 0xB–0xF (§5.2).
    ReservedOpcode,
    /// A control frame with FIN clear (§5.5).
    FragmentedControlFrame,
    /// A control frame with more than 125 bytes of payload (§5.5).
    ControlFrameTooLong,
    /// A server received a frame without a mask (§5.1).
    UnmaskedFrame,
    /// A client received a masked frame (§5.1).
    MaskedFrame,
    /// A 64-bit payload length with the most significant bit set (§5.2).
    LengthTopBitSet,
    /// A continuation frame with no fragmented message in progress (§5.4).
    UnexpectedContinuation,
    /// A new text or binary frame while a fragmented message is in progress (§5.4).
    ExpectedContinuation,
    /// A close frame whose payload is one byte: too short for a code (§5.5.1).
    CloseLengthOne,
    /// A close code that may not appear on the wire (§7.4, IANA registry).
    InvalidCloseCode,
    /// A close reason that is not valid UTF-8 (§5.5.1).
    InvalidCloseReason,
    /// A text message that is not valid UTF-8 (§8.1).
    InvalidUtf8,
    /// A frame longer than the configured maximum frame size.
    FrameTooBig,
    /// A message (sum of its fragments) longer than the configured maximum;
    /// for a compressed message, also once its inflated size passes it.
    MessageTooBig,
    /// A compressed message (RSV1, permessage-deflate) that is not valid
    /// DEFLATE data (RFC 7692 §8: fail the connection).
    InvalidCompressedData,
}

impl ProtocolError {
    /// The close code to send to the peer for this error.
    pub const fn close_code(self) -> CloseCode {
        match self {
            Self::InvalidCloseReason | Self::InvalidUtf8 | Self::InvalidCompressedData => {
                CloseCode::INVALID_PAYLOAD
            }
            Self::FrameTooBig | Self::MessageTooBig => CloseCode::MESSAGE_TOO_BIG,
            Self::ReservedBitsSet
            | Self::Rsv1NotAllowedHere
            | Self::ReservedOpcode
            | Self::FragmentedControlFrame
            | Self::ControlFrameTooLong
            | Self::UnmaskedFrame
            | Self::MaskedFrame
            | Self::LengthTopBitSet
            | Self::UnexpectedContinuation
            | Self::ExpectedContinuation
            | Self::CloseLengthOne
            | Self::InvalidCloseCode => CloseCode::PROTOCOL_ERROR,
        }
    }

    /// A short reason for the close frame (ASCII, ≤ 123 bytes).
    pub const fn reason(self) -> &'static str {
        match self {
            Self::ReservedBitsSet => "reserved bits set",
            Self::Rsv1NotAllowedHere => "RSV1 on a control or continuation frame",
            Self::ReservedOpcode => "reserved opcode",
            Self::FragmentedControlFrame => "fragmented control frame",
            Self::ControlFrameTooLong => "control frame payload over 125 bytes",
            Self::UnmaskedFrame => "client frame not masked",
            Self::MaskedFrame => "server frame masked",
            Self::LengthTopBitSet => "64-bit length with top bit set",
            Self::UnexpectedContinuation => "continuation without a message",
            Self::ExpectedContinuation => "new data frame inside a fragmented message",
            Self::CloseLengthOne => "close payload of one byte",
            Self::InvalidCloseCode => "invalid close code",
            Self::InvalidCloseReason => "close reason not UTF-8",
            Self::InvalidUtf8 => "text not UTF-8",
            Self::FrameTooBig => "frame too big",
            Self::MessageTooBig => "message too big",
            Self::InvalidCompressedData => "invalid compressed data",
        }
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (close code {})", self.reason(), self.close_code())
    }
}

impl std::error::Error for ProtocolError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_reasons() {
        use ProtocolError::*;
        let table: &[(ProtocolError, u16)] = &[
            (ReservedBitsSet, 1002),
            (Rsv1NotAllowedHere, 1002),
            (ReservedOpcode, 1002),
            (FragmentedControlFrame, 1002),
            (ControlFrameTooLong, 1002),
            (UnmaskedFrame, 1002),
            (MaskedFrame, 1002),
            (LengthTopBitSet, 1002),
            (UnexpectedContinuation, 1002),
            (ExpectedContinuation, 1002),
            (CloseLengthOne, 1002),
            (InvalidCloseCode, 1002),
            (InvalidCloseReason, 1007),
            (InvalidUtf8, 1007),
            (FrameTooBig, 1009),
            (MessageTooBig, 1009),
            (InvalidCompressedData, 1007),
        ];
        for &(err, code) in table {
            assert_eq!(err.close_code(), CloseCode(code), "{err:?}");
            assert!(err.close_code().is_allowed_on_wire());
            let reason = err.reason();
            assert!(!reason.is_empty() && reason.len() <= 123 && reason.is_ascii());
        }
    }
}
