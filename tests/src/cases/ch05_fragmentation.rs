//! Chapter 5: fragmentation (control frames between fragments, continuations
//! without a start, interleaved messages).

use std::time::Duration;

use crate::case::{Case, Event, Script};
use crate::frame::{op, Frame};

/// How the frames of a case are written.
#[derive(Clone, Copy)]
enum Mode {
    /// In one write.
    One,
    /// One write per frame.
    FrameWise,
    /// One byte per write.
    OctetWise,
}

impl Mode {
    fn send(self, s: Script, frames: Vec<Frame>) -> Script {
        match self {
            Mode::One => s.send(frames),
            Mode::FrameWise => s.send_each(frames),
            Mode::OctetWise => s.send_chopped(frames, 1),
        }
    }
    fn text(self) -> &'static str {
        match self {
            Mode::One => "",
            Mode::FrameWise => " Octets are sent in frame-wise chops.",
            Mode::OctetWise => " Octets are sent in octet-wise chops.",
        }
    }
}

const FAIL: &str = "The connection is failed immediately, since there is no message to continue.";

/// Cases 5.1–5.20.
pub fn cases() -> Vec<Case> {
    let mut v = vec![
        Case::new(
            &[5, 1],
            "Send Ping fragmented into 2 fragments.",
            "Connection is failed immediately, since control message MUST NOT be fragmented.",
            || {
                Script::new()
                    .send([
                        Frame::ping("fragment1").fin(false),
                        Frame::cont(true, "fragment2"),
                    ])
                    .expect([])
                    .server_fails(&[1002])
            },
        ),
        Case::new(
            &[5, 2],
            "Send Pong fragmented into 2 fragments.",
            "Connection is failed immediately, since control message MUST NOT be fragmented.",
            || {
                Script::new()
                    .send([
                        Frame::pong("fragment1").fin(false),
                        Frame::cont(true, "fragment2"),
                    ])
                    .expect([])
                    .server_fails(&[1002])
            },
        ),
    ];
    for (n, mode) in [
        (3u32, Mode::One),
        (4, Mode::FrameWise),
        (5, Mode::OctetWise),
    ] {
        v.push(Case::new(
            &[5, n],
            format!(
                "Send text Message fragmented into 2 fragments.{}",
                mode.text()
            ),
            "Message is processed and echo'ed back to us.",
            move || {
                mode.send(
                    Script::new(),
                    vec![
                        Frame::text("fragment1").fin(false),
                        Frame::cont(true, "fragment2"),
                    ],
                )
                .expect([Event::text("fragment1fragment2")])
            },
        ));
    }
    for (n, mode) in [
        (6u32, Mode::One),
        (7, Mode::FrameWise),
        (8, Mode::OctetWise),
    ] {
        v.push(Case::new(
            &[5, n],
            format!("Send text Message fragmented into 2 fragments, one ping with payload in-between.{}", mode.text()),
            "A pong is received, then the message is echo'ed back to us.",
            move || {
                mode.send(
                    Script::new(),
                    vec![Frame::text("fragment1").fin(false), Frame::ping("ping payload"), Frame::cont(true, "fragment2")],
                )
                .expect([Event::Pong(b"ping payload".to_vec()), Event::text("fragment1fragment2")])
            },
        ));
    }
    for (first, fin) in [(9u32, true), (12, false)] {
        for (k, mode) in [Mode::One, Mode::FrameWise, Mode::OctetWise]
            .into_iter()
            .enumerate()
        {
            v.push(Case::new(
                &[5, first + k as u32],
                format!(
                    "Send continuation frame with FIN = {fin}, where there is nothing to continue, then an unfragmented text message.{}",
                    mode.text()
                ),
                FAIL,
                move || {
                    mode.send(
                        Script::new(),
                        vec![Frame::cont(fin, "non-continuation payload"), Frame::text("Hello, world!")],
                    )
                    .expect([])
                    .server_fails(&[1002])
                },
            ));
        }
    }
    v.push(Case::new(
        &[5, 15],
        "Send text Message fragmented into 2 fragments, then Continuation Frame with FIN = false where there is nothing to continue, then unfragmented Text Message, all sent in one chop.",
        "The connection is failed immediately, since there is no message to continue.",
        || {
            Script::new()
                .send([
                    Frame::text("fragment1").fin(false),
                    Frame::cont(true, "fragment2"),
                    Frame::cont(false, "fragment3"),
                    Frame::text("fragment4"),
                ])
                .expect([Event::text("fragment1fragment2")])
                .or_non_strict([])
                .server_fails(&[1002])
        },
    ));
    for (n, fin) in [(16u32, false), (17, true)] {
        v.push(Case::new(
            &[5, n],
            format!("Repeated 2x: Continuation Frame with FIN = {fin} (where there is nothing to continue), then text Message fragmented into 2 fragments."),
            FAIL,
            move || {
                let round = || [Frame::cont(fin, "fragment1"), Frame::text("fragment2").fin(false), Frame::cont(true, "fragment3")];
                Script::new().send(round().into_iter().chain(round())).expect([]).server_fails(&[1002])
            },
        ));
    }
    v.push(Case::new(
        &[5, 18],
        "Send text Message fragmented into 2 fragments, with both frame opcodes set to text, sent in one chop.",
        "The connection is failed immediately, since all data frames after the initial data frame must have opcode 0.",
        || {
            Script::new()
                .send([Frame::text("fragment1").fin(false), Frame::new(op::TEXT, "fragment2")])
                .expect([])
                .server_fails(&[1002])
        },
    ));
    for (n, sync) in [(19u32, false), (20, true)] {
        v.push(Case::new(
            &[5, n],
            format!(
                "A fragmented text message is sent in multiple frames. After sending the first 2 frames of the text message, a Ping is sent. Then we wait 1s, then we send 2 more text fragments, another Ping and then the last fragment.{}",
                if sync { " Frames are sent frame-wise (SYNC = True)." } else { "" }
            ),
            "The Pongs to our Pings are received right after the Pings were sent, the message is echo'ed as one once the last fragment arrived.",
            move || {
                let first = vec![Frame::text("fragment1").fin(false), Frame::cont(false, "fragment2"), Frame::ping("pongme 1!")];
                let second = vec![
                    Frame::cont(false, "fragment3"),
                    Frame::cont(false, "fragment4"),
                    Frame::ping("pongme 2!"),
                    Frame::cont(true, "fragment5"),
                ];
                let send = |s: Script, f: Vec<Frame>| if sync { s.send_each(f) } else { s.send(f) };
                let s = send(Script::new(), first).pause(Duration::from_secs(1));
                send(s, second).expect([
                    Event::Pong(b"pongme 1!".to_vec()),
                    Event::Pong(b"pongme 2!".to_vec()),
                    Event::text("fragment1fragment2fragment3fragment4fragment5"),
                ])
            },
        ));
    }
    v
}
