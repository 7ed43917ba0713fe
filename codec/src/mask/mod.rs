//! Unmasking kernels (to be written).
