//! Chapters 12 and 13: permessage-deflate (RFC 7692). Not written yet: they
//! arrive with the server's compression support. The plan, so the structure
//! is ready: the handshake sends Autobahn's offers (`client_max_window_bits`,
//! `*_no_context_takeover` combinations for 13.x), a server that declines
//! earns UNIMPLEMENTED, and the payloads of 12.x are Autobahn's (text and
//! binary corpora in sizes 16 B to 128 KiB, 1000 messages each), sent
//! compressed with RSV1 set and compared after inflating the echoes. The
//! handshake hook exists: `Script::offer_extension` sends the offer and turns
//! a declined offer into UNIMPLEMENTED (tested in `tests/conformance.rs`).

use crate::case::Case;

/// No cases yet (see the module doc).
pub fn cases() -> Vec<Case> {
    Vec::new()
}
