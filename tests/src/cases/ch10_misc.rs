//! Chapter 10: auto-fragmentation.

use crate::case::{repeat, Case, Event, Script};
use crate::frame::Frame;

/// Case 10.1.1.
pub fn cases() -> Vec<Case> {
    vec![Case::new(
        &[10, 1, 1],
        "Send text message with payload of length 65536 auto-fragmented with autoFragmentSize = 1300.",
        "Receive echo'ed text message (with payload as sent and transmitted frame counts as expected). Clean close with normal code.",
        || {
            let p = repeat(b"*", 65536);
            let n = p.len().div_ceil(1300);
            let frames: Vec<Frame> = p
                .chunks(1300)
                .enumerate()
                .map(|(k, c)| {
                    let f = if k == 0 { Frame::text(c.to_vec()) } else { Frame::cont(true, c.to_vec()) };
                    f.fin(k + 1 == n)
                })
                .collect();
            Script::new().send(frames).expect([Event::text(p)])
        },
    )]
}
