//! The frame layer: header types, the incremental in-place decoder and the
//! encoder.

pub(crate) mod decoder;
pub(crate) mod encoder;
pub(crate) mod header;
