//! The seam between the reactor's bytes and the codec's: bytes in from the
//! wire become the plaintext the codec parses, plaintext queued for sending
//! becomes the bytes written to the wire.
//!
//! Two transports: [`Transport::Plain`], where wire bytes are plaintext
//! bytes and every method is an identity the compiler folds away, and
//! [`Transport::Tls`] (rustls's unbuffered API, `tls.rs`): records are
//! decrypted in the receive buffer and the plaintext handed to the codec;
//! `seal` encrypts what the send queue gained since the last flush into
//! records, in its place in the queue.
//! Because wire bytes are then not payload bytes, the zero-copy policy asks
//! [`Transport::wire_is_plaintext`] before lending receive-buffer bytes to a
//! send or receiving a large frame straight into its message buffer: both
//! turn off for such a transport without a special case.

use super::send::SendQueue;
use super::tls::TlsConn;

/// How a connection's bytes are carried (8 bytes in a connection: plain
/// TCP holds nothing, TLS its boxed session).
#[derive(Default)]
pub(crate) enum Transport {
    /// TCP as is: wire bytes are plaintext bytes.
    #[default]
    Plain,
    /// TLS: wire bytes are records.
    Tls(Box<TlsConn>),
}

impl Transport {
    /// Heap the transport holds for this connection: for TLS, its session
    /// state and the bytes of a record not complete yet (counted in the
    /// memory budget with the connection's footprint).
    pub(crate) fn held_bytes(&self) -> usize {
        match self {
            Transport::Plain => 0,
            Transport::Tls(t) => t.held_bytes(),
        }
    }

    /// Turn the plaintext queued since the last call into wire bytes, before
    /// the queue is handed to a send (called on every flush, also while a
    /// send is in flight: what it seals waits for the next send). `false`:
    /// plaintext is queued that cannot be sealed (the session failed); the
    /// connection must be dropped without sending it.
    #[inline(always)]
    pub(crate) fn seal(&mut self, queue: &mut SendQueue) -> bool {
        match self {
            Transport::Plain => {
                let _ = queue;
                true
            }
            Transport::Tls(tls) => tls.seal(queue),
        }
    }

    /// The connection winds down (its last bytes are queued, FIN follows):
    /// TLS says close_notify after them.
    pub(crate) fn closing(&mut self) {
        if let Transport::Tls(tls) = self {
            tls.want_close();
        }
    }

    /// Whether wire bytes are plaintext bytes: payload bytes of the receive
    /// buffer may be sent as they are (lent sends), and the kernel may
    /// receive a large frame's payload straight into its message buffer
    /// (direct receive). The zero-copy policy's one question to the
    /// transport.
    #[inline(always)]
    pub(crate) fn wire_is_plaintext(&self) -> bool {
        match self {
            Transport::Plain => true,
            Transport::Tls(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plain_transport_costs_a_pointer_and_seals_nothing() {
        assert_eq!(
            std::mem::size_of::<Transport>(),
            8,
            "a pointer's worth per connection"
        );
        let mut t = Transport::default();
        let mut q = SendQueue::default();
        q.push_copy(&[b"\x81\x02hi"]);
        assert!(t.seal(&mut q));
        assert_eq!(q.len(), 4, "left as it is");
        assert!(t.wire_is_plaintext());
    }
}
