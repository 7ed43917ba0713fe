//! The seam between the reactor's bytes and the codec's: bytes in from the
//! wire become the plaintext the codec parses, plaintext queued for sending
//! becomes the bytes written to the wire.
//!
//! Today there is one transport, [`Transport::Plain`], where wire bytes are
//! plaintext bytes and every method is an identity the compiler folds away
//! (the enum has no data: zero bytes in a connection, no dispatch). TLS is
//! meant to be the second variant, shaped for rustls's unbuffered API:
//! `inbound` decrypts the records in the receive buffer in place and returns
//! the plaintext within it (so the codec still parses in place), and `seal`
//! encrypts what the send queue gained since the last flush into records.
//! Because wire bytes are then not payload bytes, the zero-copy policy asks
//! [`Transport::wire_is_plaintext`] before lending receive-buffer bytes to a
//! send or receiving a large frame straight into its message buffer: both
//! turn off for such a transport without a special case.

use super::send::SendQueue;

/// How a connection's bytes are carried.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Transport {
    /// TCP as is: wire bytes are plaintext bytes.
    #[default]
    Plain,
}

impl Transport {
    /// Bytes received from the wire → the plaintext for the codec, within
    /// the same buffer (decrypted in place).
    #[inline(always)]
    pub(crate) fn inbound<'a>(&mut self, wire: &'a mut [u8]) -> &'a mut [u8] {
        match self {
            Transport::Plain => wire,
        }
    }

    /// Turn the plaintext queued since the last call into wire bytes, before
    /// the queue is handed to a send (called on every flush, also while a
    /// send is in flight: what it seals waits for the next send).
    #[inline(always)]
    pub(crate) fn seal(&mut self, queue: &mut SendQueue) {
        match self {
            Transport::Plain => {
                let _ = queue;
            }
        }
    }

    /// Whether wire bytes are plaintext bytes: payload bytes of the receive
    /// buffer may be sent as they are (lent sends), and the kernel may
    /// receive a large frame's payload straight into its message buffer
    /// (direct receive). The zero-copy policy's one question to the
    /// transport.
    #[inline(always)]
    pub(crate) fn wire_is_plaintext(self) -> bool {
        match self {
            Transport::Plain => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plain_transport_costs_nothing_and_passes_bytes_through() {
        assert_eq!(
            std::mem::size_of::<Transport>(),
            0,
            "no bytes per connection"
        );
        let mut t = Transport::default();
        let mut wire = *b"\x81\x02hi";
        let ptr = wire.as_ptr();
        let plain = t.inbound(&mut wire);
        assert_eq!(
            (plain.as_ptr(), plain.len()),
            (ptr, 4),
            "in place, all of it"
        );
        assert!(t.wire_is_plaintext());
    }
}
