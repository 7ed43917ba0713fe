//! Frame layer (to be written).
