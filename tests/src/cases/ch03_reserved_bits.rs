//! Chapter 3: frames with reserved bits set (no extension negotiated).

use crate::case::{Case, Event, Script};
use crate::frame::{op, Frame};

const MSG: &str = "Hello, world!";
const FAIL: &str = "The connection is failed immediately, since RSV must be 0.";

/// Cases 3.1–3.7.
pub fn cases() -> Vec<Case> {
    let after_echo = "Echo for first message is received, but then connection is failed immediately, since RSV must be 0, when no extension defining RSV meaning has been negotiated. The Pong is not received.";
    vec![
        Case::new(&[3, 1], "Send small text message with RSV = 1.", FAIL, || {
            Script::new().send([Frame::text(MSG).rsv(1)]).expect([]).server_fails(&[1002])
        }),
        Case::new(
            &[3, 2],
            "Send small text message, then send again with RSV = 2, then send Ping.",
            after_echo,
            || {
                Script::new()
                    .send([Frame::text(MSG), Frame::text(MSG).rsv(2), Frame::ping("")])
                    .expect([Event::text(MSG)])
                    .or_non_strict([])
                    .server_fails(&[1002])
            },
        ),
        Case::new(
            &[3, 3],
            "Send small text message, then send again with RSV = 3, then send Ping. Octets are sent in frame-wise chops. Octets are sent in octet-wise chops.",
            after_echo,
            || {
                Script::new()
                    .send_each([Frame::text(MSG), Frame::text(MSG).rsv(3), Frame::ping("")])
                    .expect([Event::text(MSG)])
                    .or_non_strict([])
                    .server_fails(&[1002])
            },
        ),
        Case::new(
            &[3, 4],
            "Send small text message, then send again with RSV = 4, then send Ping. Octets are sent in octet-wise chops.",
            after_echo,
            || {
                Script::new()
                    .send_chopped([Frame::text(MSG), Frame::text(MSG).rsv(4), Frame::ping("")], 1)
                    .expect([Event::text(MSG)])
                    .or_non_strict([])
                    .server_fails(&[1002])
            },
        ),
        Case::new(&[3, 5], "Send small binary message with RSV = 5.", FAIL, || {
            Script::new()
                .send([Frame::binary(&b"\x00\xff\xfe\xfd\xfc\xfb\x00\xff"[..]).rsv(5)])
                .expect([])
                .server_fails(&[1002])
        }),
        Case::new(&[3, 6], "Send Ping with RSV = 6.", FAIL, || {
            Script::new().send([Frame::ping(MSG).rsv(6)]).expect([]).server_fails(&[1002])
        }),
        Case::new(&[3, 7], "Send Close with RSV = 7.", FAIL, || {
            // Sent as a raw frame: a broken close is not the start of our closing handshake.
            Script::new()
                .send([Frame::new(op::CLOSE, 1000u16.to_be_bytes().to_vec()).rsv(7)])
                .expect([])
                .server_fails(&[1002])
        }),
    ]
}
