//! cargo-fuzz entry point. The checks are in `../checks/handshake.rs`, which
//! `codec/tests/fuzz_replay.rs` also runs on every committed input.
#![no_main]

#[path = "../checks/handshake.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::check(data));
