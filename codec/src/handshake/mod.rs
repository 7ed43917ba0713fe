//! Opening handshake (to be written).
