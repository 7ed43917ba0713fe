//! Chapter 1: text and binary messages of every length encoding.

use crate::case::{repeat, Case, Event, Script};
use crate::frame::Frame;

const LENGTHS: [usize; 7] = [0, 125, 126, 127, 128, 65535, 65536];

/// Cases 1.1.1–1.1.8 (text) and 1.2.1–1.2.8 (binary).
pub fn cases() -> Vec<Case> {
    let mut v = Vec::new();
    for (sub, binary) in [(1u32, false), (2, true)] {
        let kind = if binary { "binary" } else { "text" };
        let byte: &'static [u8] = if binary { b"\xfe" } else { b"*" };
        let make = move |len: usize, chop: Option<usize>| {
            move || {
                let p = repeat(byte, len);
                let (frame, event) = if binary {
                    (Frame::binary(p.clone()), Event::binary(p))
                } else {
                    (Frame::text(p.clone()), Event::text(p))
                };
                let s = match chop {
                    Some(n) => Script::new().send_chopped([frame], n),
                    None => Script::new().send([frame]),
                };
                s.expect([event])
            }
        };
        for (i, &len) in LENGTHS.iter().enumerate() {
            v.push(Case::new(
                &[1, sub, i as u32 + 1],
                format!("Send {kind} message with payload length {len}."),
                format!("Receive echo'ed {kind} message (with payload as sent). Clean close with normal code."),
                make(len, None),
            ));
        }
        v.push(Case::new(
            &[1, sub, 8],
            format!("Send {kind} message with payload length 65536. Sent out data in chops of 997 octets."),
            format!("Receive echo'ed {kind} message (with payload as sent). Clean close with normal code."),
            make(65536, Some(997)),
        ));
    }
    v
}
