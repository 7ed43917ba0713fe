//! Chapter 4: reserved opcodes (3–7 non-control, 11–15 control).

use crate::case::{Case, Event, Script};
use crate::frame::Frame;

const MSG: &str = "Hello, world!";

/// Cases 4.1.1–4.1.5 and 4.2.1–4.2.5.
pub fn cases() -> Vec<Case> {
    let mut v = Vec::new();
    for (sub, base, kind) in [(1u32, 3u8, "non-control"), (2, 11, "control")] {
        // n: 1 empty alone, 2 with payload alone, 3 empty between, 4 and 5 with payload between
        for n in 1..=5u32 {
            let opcode = base + n as u8 - 1;
            let payload: &'static str = if n != 1 && n != 3 {
                "reserved opcode payload"
            } else {
                ""
            };
            let with = if payload.is_empty() {
                ""
            } else {
                " with payload"
            };
            if n <= 2 {
                v.push(Case::new(
                    &[4, sub, n],
                    format!("Send frame with reserved {kind} Opcode = {opcode}{with}."),
                    "The connection is failed immediately.",
                    move || {
                        Script::new()
                            .send([Frame::new(opcode, payload)])
                            .expect([])
                            .server_fails(&[1002])
                    },
                ));
            } else {
                v.push(Case::new(
                    &[4, sub, n],
                    format!("Send small text message, then send frame with reserved {kind} Opcode = {opcode}{with}, then send Ping."),
                    "Echo for first message is received, but then connection is failed immediately, since reserved opcode frame is used. A Pong is not received.",
                    move || {
                        Script::new()
                            .send([Frame::text(MSG), Frame::new(opcode, payload), Frame::ping("")])
                            .expect([Event::text(MSG)])
                            .or_non_strict([])
                            .server_fails(&[1002])
                    },
                ));
            }
        }
    }
    v
}
