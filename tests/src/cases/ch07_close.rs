//! Chapter 7: close handling (data after close, close payloads, valid and
//! invalid close codes, invalid UTF-8 in the reason).

use crate::case::{repeat, Case, Event, Script};
use crate::frame::{op, Frame};

const CLEAN: &str = "Clean close with normal code.";
/// Valid codes Autobahn sends in 7.7.x.
const VALID: [u16; 13] = [
    1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999,
];
/// Invalid codes Autobahn sends in 7.9.x.
const INVALID: [u16; 9] = [0, 999, 1004, 1005, 1006, 1016, 1100, 2000, 2999];

/// Cases 7.1.x, 7.3.x, 7.5.1, 7.7.x, 7.9.x, 7.13.x.
pub fn cases() -> Vec<Case> {
    let close = || Frame::close(Some(1000), b"");
    let mut v = vec![
        Case::new(&[7, 1, 1], "Send a message followed by a close frame.", "Echoed message followed by clean close with normal code.", || {
            Script::new()
                .send([Frame::text("Hello World!")])
                .send_close([Frame::close(Some(1000), b"")])
                .expect([Event::text("Hello World!")])
        }),
        Case::new(&[7, 1, 2], "Send two close frames.", "Clean close with normal code. Second close frame ignored.", move || {
            Script::new().send_close([close(), close()]).expect([])
        }),
        Case::new(&[7, 1, 3], "Send a ping after close message.", "Clean close with normal code, no pong.", move || {
            Script::new().send_close([close(), Frame::ping("Hello World!")]).expect([])
        }),
        Case::new(&[7, 1, 4], "Send text message after sending a close frame.", "Clean close with normal code. Text message ignored.", move || {
            Script::new().send_close([close(), Frame::text("Hello World!")]).expect([])
        }),
        Case::new(&[7, 1, 5], "Send message fragment1 followed by close then fragment.", "Clean close with normal code.", move || {
            Script::new()
                .send_close([Frame::text("fragment1").fin(false), close(), Frame::cont(true, "fragment2")])
                .expect([])
        }),
        Case::new(
            &[7, 1, 6],
            "Send 256K message followed by close then a ping.",
            "Case outcome depends on implementation defined close behavior. Message and close frame are sent back to back. If the close frame is processed before the text message write is complete (as can happen in asynchronous processing models) the close frame is processed first and the text message may not be received or may only be partially received.",
            move || {
                let big = repeat(b"BAsd7&jh23", 256 << 10);
                Script::new()
                    .send_close([Frame::text(big.clone()), Frame::text("Hello World!"), close(), Frame::ping("")])
                    .expect([Event::text(big), Event::text("Hello World!")])
                    .or_non_strict([])
                    .informational()
            },
        ),
        Case::new(&[7, 3, 1], "Send a close frame with payload length 0 (no close code, no close reason).", CLEAN, || {
            Script::new().send_close([Frame::close(None, b"")]).expect([])
        }),
        Case::new(&[7, 3, 2], "Send a close frame with payload length 1.", "Clean close with protocol error or drop TCP.", || {
            Script::new()
                .send_close([Frame::new(op::CLOSE, "a")])
                .expect([])
                .client_closes(&[1002], false)
        }),
        Case::new(&[7, 3, 3], "Send a close frame with payload length 2 (regular close with a code, with no close reason).", CLEAN, || {
            Script::new().send_close([Frame::close(Some(1000), b"")]).expect([])
        }),
        Case::new(&[7, 3, 4], "Send a close frame with close code and close reason.", CLEAN, || {
            Script::new().send_close([Frame::close(Some(1000), b"Hello World!")]).expect([])
        }),
        Case::new(&[7, 3, 5], "Send a close frame with close code and close reason of maximum length (123).", CLEAN, || {
            Script::new().send_close([Frame::close(Some(1000), &repeat(b"*", 123))]).expect([])
        }),
        Case::new(&[7, 3, 6], "Send a close frame with close code and close reason which is too long (124) - total frame payload 126 octets.", "Clean close with protocol error code or dropped TCP connection.", || {
            Script::new()
                .send_close([Frame::close(Some(1000), &repeat(b"*", 124))])
                .expect([])
                .client_closes(&[1002], false)
        }),
        Case::new(&[7, 5, 1], "Send a close frame with invalid UTF8 payload.", "Clean close with protocol error or invalid utf8 code or dropped TCP.", || {
            Script::new()
                .send_close([Frame::close(Some(1000), b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80\x65\x64\x69\x74\x65\x64")])
                .expect([])
                .client_closes(&[1002, 1007], false)
        }),
    ];
    for (i, code) in VALID.into_iter().enumerate() {
        v.push(Case::new(
            &[7, 7, 1 + i as u32],
            format!("Send close with valid close code {code}"),
            "Clean close with normal or echoed code",
            move || {
                Script::new()
                    .send_close([Frame::close(Some(code), b"")])
                    .expect([])
                    .client_closes(&[1000, code], true)
                    .wrong_code_fatal()
            },
        ));
    }
    for (i, code) in INVALID.into_iter().enumerate() {
        v.push(Case::new(
            &[7, 9, 1 + i as u32],
            format!("Send close with invalid close code {code}"),
            "Clean close with protocol error code or drop TCP",
            move || {
                Script::new()
                    .send_close([Frame::close(Some(code), b"")])
                    .expect([])
                    .client_closes(&[1002], false)
                    .wrong_code_fatal()
            },
        ));
    }
    for (i, code) in [5000u32, 65535].into_iter().enumerate() {
        v.push(Case::new(
            &[7, 13, 1 + i as u32],
            format!("Send close with close code {code}"),
            "Actual events are undefined by the spec.",
            move || {
                Script::new()
                    .send_close([Frame::close(Some(code as u16), b"")])
                    .expect([])
                    .client_closes(&[1000, code as u16, 1002], false)
                    .informational()
            },
        ));
    }
    v
}
