//! Chapter 9: limits and performance: large messages, many fragments, small
//! chops, and round-trip series. Cases run alone and record their timings;
//! `--max-size` leaves out those whose message exceeds it.

use crate::case::{repeat, Case, Event, Script};
use crate::frame::Frame;

const KB: usize = 1 << 10;
const MB: usize = 1 << 20;

fn message(binary: bool, len: usize) -> (Vec<u8>, Event) {
    let p = if binary {
        repeat(b"\xfe", len)
    } else {
        repeat(b"*", len)
    };
    let e = if binary {
        Event::binary(p.clone())
    } else {
        Event::text(p.clone())
    };
    (p, e)
}

fn first_frame(binary: bool, p: Vec<u8>) -> Frame {
    if binary {
        Frame::binary(p)
    } else {
        Frame::text(p)
    }
}

fn size_name(n: usize) -> String {
    if n >= MB {
        format!("{}M", n / MB)
    } else if n >= KB {
        format!("{}k", n / KB)
    } else {
        n.to_string()
    }
}

/// Cases 9.1.x–9.8.x.
pub fn cases() -> Vec<Case> {
    let mut v = Vec::new();
    for (kind_no, binary) in [(0u32, false), (1, true)] {
        let kind = if binary { "binary" } else { "text" };
        // 9.1 / 9.2: one large message in one frame.
        for (i, len) in [64 * KB, 256 * KB, MB, 4 * MB, 8 * MB, 16 * MB]
            .into_iter()
            .enumerate()
        {
            v.push(
                Case::new(
                    &[9, 1 + kind_no, 1 + i as u32],
                    format!(
                        "Send {kind} message message with payload of length {} ({len} bytes).",
                        size_name(len)
                    ),
                    format!("Receive echo'ed {kind} message (with payload as sent)."),
                    move || {
                        let (p, e) = message(binary, len);
                        Script::new().send([first_frame(binary, p)]).expect([e])
                    },
                )
                .large(len),
            );
        }
        // 9.3 / 9.4: a 4 MiB message in fragments of various sizes.
        for (i, frag) in [64, 256, KB, 4 * KB, 16 * KB, 64 * KB, 256 * KB, MB, 4 * MB]
            .into_iter()
            .enumerate()
        {
            let len = 4 * MB;
            v.push(
                Case::new(
                    &[9, 3 + kind_no, 1 + i as u32],
                    format!("Send fragmented {kind} message message with message payload of length 4 * 2**20 (4M). Sent out in fragments of {}.", size_name(frag)),
                    format!("Receive echo'ed {kind} message (with payload as sent)."),
                    move || {
                        let (p, e) = message(binary, len);
                        let n = p.len().div_ceil(frag);
                        let frames: Vec<Frame> = p
                            .chunks(frag)
                            .enumerate()
                            .map(|(k, c)| {
                                let f = if k == 0 { first_frame(binary, c.to_vec()) } else { Frame::cont(true, c.to_vec()) };
                                f.fin(k + 1 == n)
                            })
                            .collect();
                        Script::new().send(frames).expect([e])
                    },
                )
                .large(len),
            );
        }
        // 9.5 / 9.6: a 1 MiB message written in small chops.
        for (i, chop) in [64, 128, 256, 512, 1024, 2048].into_iter().enumerate() {
            let len = MB;
            v.push(
                Case::new(
                    &[9, 5 + kind_no, 1 + i as u32],
                    format!("Send {kind} message message with payload of length 1 * 2**20 (1M). Sent out data in chops of {chop} octets."),
                    format!("Receive echo'ed {kind} message (with payload as sent)."),
                    move || {
                        let (p, e) = message(binary, len);
                        Script::new().send_chopped([first_frame(binary, p)], chop).expect([e])
                    },
                )
                .large(len),
            );
        }
        // 9.7 / 9.8: 1000 round trips of small messages.
        for (i, len) in [0, 16, 64, 256, 1024, 4096].into_iter().enumerate() {
            v.push(
                Case::new(
                    &[9, 7 + kind_no, 1 + i as u32],
                    format!("Send 1000 {kind} messages of payload size {len} to measure implementation/network RTT (round trip time) / latency."),
                    format!("Receive echo'ed {kind} messages (with payloads as sent). Timeout case after 60 secs."),
                    move || {
                        let (p, e) = message(binary, len);
                        Script::new().round_trips(first_frame(binary, p), 1000).expect(vec![e; 1000])
                    },
                )
                .large(len * 1000),
            );
        }
    }
    v
}
