//! permessage-deflate (RFC 7692) data path: [`Inflater`] and [`Deflater`]
//! around flate2 streams, plus [`write_message`] for whole compressed
//! frames. Negotiation lives in `handshake/deflate.rs`.
//!
//! The backend (zlib-rs, zlib-ng or stock zlib) is flate2's, chosen by this
//! crate's features; see docs/decisions.md for the measurements behind the
//! default.

mod deflate;
mod inflate;

pub use deflate::{write_message, Deflater, DEFAULT_COMPRESS_LEVEL, DEFAULT_COMPRESS_THRESHOLD};
pub use inflate::{Inflater, INFLATE_CHUNK};
