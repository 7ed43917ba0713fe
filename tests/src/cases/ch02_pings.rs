//! Chapter 2: pings and pongs (payload sizes, unsolicited pongs, bursts).

use crate::case::{Case, Event, Script};
use crate::frame::Frame;

const BIN: &[u8] = b"\x00\xff\xfe\xfd\xfc\xfb\x00\xff";

/// Cases 2.1–2.11.
pub fn cases() -> Vec<Case> {
    let ping_pong = |n: u32, desc: &str, payload: &'static [u8]| {
        Case::new(
            &[2, n],
            desc,
            "Pong (with payload echo'ed) is sent in reply to Ping. Clean close with normal code.",
            move || {
                Script::new()
                    .send([Frame::ping(payload)])
                    .expect([Event::Pong(payload.to_vec())])
            },
        )
    };
    let ten = |chopped: bool| {
        move || {
            let frames: Vec<Frame> = (0..10)
                .map(|i| Frame::ping(format!("payload-{i}")))
                .collect();
            let events: Vec<Event> = (0..10)
                .map(|i| Event::Pong(format!("payload-{i}").into_bytes()))
                .collect();
            let s = if chopped {
                Script::new().send_chopped(frames, 1)
            } else {
                Script::new().send(frames)
            };
            s.expect(events)
        }
    };
    vec![
        ping_pong(1, "Send ping without payload.", b""),
        ping_pong(2, "Send ping with small text payload.", b"Hello, world!"),
        ping_pong(3, "Send ping with small binary (non UTF-8) payload.", BIN),
        ping_pong(4, "Send ping with binary payload of 125 octets.", &[0xfe; 125]),
        Case::new(
            &[2, 5],
            "Send ping with binary payload of 126 octets.",
            "Connection is failed immediately (1002/Protocol Error), since control frames are only allowed to have payload up to and including 125 octets.",
            || Script::new().send([Frame::ping(vec![0xfe; 126])]).expect([]).server_fails(&[1002]),
        ),
        Case::new(
            &[2, 6],
            "Send ping with binary payload of 125 octets, send in octet-wise chops.",
            "Pong (with payload echo'ed) is sent in reply to Ping. Implementations must be TCP clean. Clean close with normal code.",
            || {
                Script::new()
                    .send_chopped([Frame::ping(vec![0xfe; 125])], 1)
                    .expect([Event::Pong(vec![0xfe; 125])])
            },
        ),
        Case::new(
            &[2, 7],
            "Send unsolicited pong without payload. Verify nothing is received. Clean close with normal code.",
            "Nothing.",
            || Script::new().send([Frame::pong("")]).expect([]),
        ),
        Case::new(
            &[2, 8],
            "Send unsolicited pong with payload. Verify nothing is received. Clean close with normal code.",
            "Nothing.",
            || Script::new().send([Frame::pong("unsolicited pong payload")]).expect([]),
        ),
        Case::new(
            &[2, 9],
            "Send unsolicited pong with payload. Send ping with payload. Verify pong for ping is received.",
            "Nothing in reply to own Pong, but Pong with payload echo'ed in reply to Ping. Clean close with normal code.",
            || {
                Script::new()
                    .send([Frame::pong("unsolicited pong payload"), Frame::ping("ping payload")])
                    .expect([Event::Pong(b"ping payload".to_vec())])
            },
        ),
        Case::new(
            &[2, 10],
            "Send 10 Pings with payload.",
            "Pongs for our Pings with all the payloads. Note: This is not required by the Spec .. but we check for this behaviour anyway. Clean close with normal code.",
            ten(false),
        ),
        Case::new(
            &[2, 11],
            "Send 10 Pings with payload. Send out octets in octet-wise chops.",
            "Pongs for our Pings with all the payloads. Note: This is not required by the Spec .. but we check for this behaviour anyway. Clean close with normal code.",
            ten(true),
        ),
    ]
}
