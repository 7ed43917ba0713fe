//! Chapter 6: UTF-8 handling: valid and invalid sequences (Markus Kuhn's
//! UTF-8 decoder stress test, as Autobahn uses it), fragments of one octet,
//! and fail-fast detection inside fragmented messages (6.4.x).

use std::time::Duration;

use crate::case::{Case, Event, Script};
use crate::frame::Frame;

/// κόσμε: multi-byte code points.
const KOSME: &[u8] = b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5";
const HELLO: &str = "Hello-\u{b5}@\u{df}\u{f6}\u{e4}\u{fc}\u{e0}\u{e1}-UTF-8!!";
const CLOSE_INVALID: u16 = 1007;

/// Cases 6.1.1–6.23.x.
pub fn cases() -> Vec<Case> {
    let mut v = Vec::new();
    let echo = "The message is echo'ed back to us.";
    v.push(Case::new(
        &[6, 1, 1],
        "Send text message of length 0.",
        "A message is echo'ed back to us (with empty payload).",
        || {
            Script::new()
                .send([Frame::text("")])
                .expect([Event::text("")])
        },
    ));
    v.push(Case::new(
        &[6, 1, 2],
        "Send fragmented text message, 3 fragments each of length 0.",
        "A message is echo'ed back to us (with empty payload).",
        || {
            Script::new()
                .send([
                    Frame::text("").fin(false),
                    Frame::cont(false, ""),
                    Frame::cont(true, ""),
                ])
                .expect([Event::text("")])
        },
    ));
    v.push(Case::new(
        &[6, 1, 3],
        "Send fragmented text message, 3 fragments, first and last of length 0, middle non-empty.",
        "A message is echo'ed back to us (with payload = payload of middle fragment).",
        || {
            Script::new()
                .send([
                    Frame::text("").fin(false),
                    Frame::cont(false, "middle frame payload"),
                    Frame::cont(true, ""),
                ])
                .expect([Event::text("middle frame payload")])
        },
    ));
    v.push(Case::new(
        &[6, 2, 1],
        format!("Send a valid UTF-8 text message in one fragment. MESSAGE: {HELLO}"),
        echo,
        || {
            Script::new()
                .send([Frame::text(HELLO)])
                .expect([Event::text(HELLO)])
        },
    ));
    v.push(Case::new(&[6, 2, 2], "Send a valid UTF-8 text message in two fragments, fragmented on UTF-8 code point boundary.", echo, || {
        let (a, b) = HELLO.split_at(HELLO.find('\u{fc}').unwrap_or(0));
        Script::new()
            .send([Frame::text(a).fin(false), Frame::cont(true, b)])
            .expect([Event::text(HELLO)])
    }));
    for (n, payload) in [(3u32, HELLO.as_bytes()), (4, KOSME)] {
        v.push(Case::new(
            &[6, 2, n],
            format!("Send a valid UTF-8 text message in fragments of 1 octet, resulting in frames ending on positions which are not code point ends. MESSAGE: {}", String::from_utf8_lossy(payload)),
            echo,
            move || Script::new().send(one_octet_frames(payload)).expect([Event::text(payload)]),
        ));
    }
    let invalid: Vec<u8> = [KOSME, b"\xed\xa0\x80", b"edited"].concat();
    {
        let p = invalid.clone();
        v.push(Case::new(
            &[6, 3, 1],
            format!(
                "Send invalid UTF-8 text message unfragmented. MESSAGE: {}",
                hex(&p)
            ),
            "The connection is failed immediately, since the payload is not valid UTF-8.",
            move || {
                Script::new()
                    .send([Frame::text(p.clone())])
                    .expect([])
                    .server_fails(&[CLOSE_INVALID])
            },
        ));
        let p = invalid.clone();
        v.push(Case::new(
            &[6, 3, 2],
            format!(
                "Send invalid UTF-8 text message in fragments of 1 octet. MESSAGE: {}",
                hex(&p)
            ),
            "The connection is failed immediately, since the payload is not valid UTF-8.",
            move || {
                Script::new()
                    .send(one_octet_frames(&p))
                    .expect([])
                    .server_fails(&[CLOSE_INVALID])
            },
        ));
    }
    v.extend(fail_fast());
    for (i, (title, seqs)) in utf8_sequences().into_iter().enumerate() {
        for (j, (valid, payload)) in seqs.into_iter().enumerate() {
            let id = [6, 5 + i as u32, 1 + j as u32];
            let desc = format!("{title}: send a text message with payload which is {} UTF-8 in one fragment. Payload: 0x{}", if valid { "valid" } else { "not valid" }, hex(&payload));
            if valid {
                v.push(Case::new(
                    &id,
                    desc,
                    "The message is echo'ed back to us.",
                    move || {
                        Script::new()
                            .send([Frame::text(payload.clone())])
                            .expect([Event::text(payload.clone())])
                    },
                ));
            } else {
                v.push(Case::new(
                    &id,
                    desc,
                    "The connection is failed immediately, since the payload is not valid UTF-8.",
                    move || {
                        Script::new()
                            .send([Frame::text(payload.clone())])
                            .expect([])
                            .server_fails(&[CLOSE_INVALID])
                    },
                ));
            }
        }
    }
    v
}

/// 6.4.1–6.4.4: an invalid sequence arrives in the second of three parts,
/// each a second apart. OK: the server fails right after part 2 (only marker A
/// is recorded). NON-STRICT: it fails only once the message is complete.
fn fail_fast() -> Vec<Case> {
    let variants: [FailFast; 4] = [
        (1, KOSME, b"\xf4\x90\x80\x80", b"edited", true, "PART2 is 0x110000 encoded as in the UTF-8 integer encoding scheme, but the codepoint is invalid (out of range)."),
        (2, b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xf4", b"\x90", b"\x80\x65\x64\x69\x74\x65\x64", true, "PART1 ends inside a code point; PART2 (0x90) makes it invalid."),
        (3, KOSME, b"\xf4\x90\x80\x80", b"edited", false, "As 6.4.1, but the three parts are chops of one frame."),
        (4, b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xf4", b"\x90", b"\x80\x65\x64\x69\x74\x65\x64", false, "As 6.4.2, but the three parts are chops of one frame."),
    ];
    variants
        .into_iter()
        .map(|(n, p1, p2, p3, frames, note)| {
            Case::new(
                &[6, 4, n],
                format!(
                    "Send invalid UTF-8 text message in 3 {}: first part valid, wait 1s, then the part making the sequence invalid, wait 1s, then the rest. {note} PART1 = {}, PART2 = {}, PART3 = {}",
                    if frames { "fragments (frames)" } else { "chops of the same frame" },
                    hex(p1), hex(p2), hex(p3)
                ),
                "The first part is accepted, we expect to timeout on the first wait. The 2nd part should be rejected immediately (fail fast on UTF-8). If we timeout, we expect the connection is failed at least then, since the complete message payload is not valid UTF-8.",
                move || {
                    let second = Duration::from_secs(1);
                    let s = if frames {
                        Script::new()
                            .send([Frame::text(p1).fin(false)])
                            .pause(second)
                            .marker("A")
                            .send([Frame::cont(false, p2)])
                            .pause(second)
                            .marker("B")
                            .send([Frame::cont(true, p3)])
                    } else {
                        // One frame header for the whole payload, then its bytes in three writes.
                        let mut wire = Vec::new();
                        Frame::text([p1, p2, p3].concat()).encode(crate::frame::random_mask(), &mut wire);
                        let cut1 = wire.len() - p2.len() - p3.len();
                        let cut2 = wire.len() - p3.len();
                        Script::new()
                            .raw(wire[..cut1].to_vec())
                            .pause(second)
                            .marker("A")
                            .raw(wire[cut1..cut2].to_vec())
                            .pause(second)
                            .marker("B")
                            .raw(wire[cut2..].to_vec())
                    };
                    s.expect([Event::Timeout("A".into())])
                        .or_non_strict([Event::Timeout("A".into()), Event::Timeout("B".into())])
                        .server_fails(&[CLOSE_INVALID])
                },
            )
        })
        .collect()
}

fn one_octet_frames(payload: &[u8]) -> Vec<Frame> {
    let n = payload.len();
    payload
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let f = if i == 0 {
                Frame::text(vec![*b])
            } else {
                Frame::cont(true, vec![*b])
            };
            f.fin(i + 1 == n)
        })
        .collect()
}

/// Lowercase hex.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A UTF-8 test category: its title and `(valid, payload)` pairs.
pub type Category = (&'static str, Vec<(bool, Vec<u8>)>);

/// One 6.4.x variant: number, the three parts, parts are frames (else chops of one frame), note.
type FailFast = (
    u32,
    &'static [u8],
    &'static [u8],
    &'static [u8],
    bool,
    &'static str,
);

/// The categories 6.5–6.23, in Autobahn's order.
pub fn utf8_sequences() -> Vec<Category> {
    let t = |b: &[u8]| (true, b.to_vec());
    let f = |b: &[u8]| (false, b.to_vec());
    let mut out = Vec::new();
    out.push((
        "Some valid UTF-8 sequences",
        vec![
            t(b"hello\x24world"),
            t(b"hello\xc2\xa2world"),
            t(b"hello\xe2\x82\xacworld"),
            t(b"hello\xf0\xa4\xad\xa2world"),
            t(KOSME),
        ],
    ));
    out.push((
        "All prefixes of a valid UTF-8 string that contains multi-byte code points",
        (1..=KOSME.len())
            .map(|i| {
                (
                    std::str::from_utf8(&KOSME[..i]).is_ok(),
                    KOSME[..i].to_vec(),
                )
            })
            .collect(),
    ));
    out.push((
        "First possible sequence of a certain length",
        vec![
            t(b"\x00"),
            t(b"\xc2\x80"),
            t(b"\xe0\xa0\x80"),
            t(b"\xf0\x90\x80\x80"),
        ],
    ));
    out.push((
        "First possible sequence length 5/6 (invalid codepoints)",
        vec![f(b"\xf8\x88\x80\x80\x80"), f(b"\xfc\x84\x80\x80\x80\x80")],
    ));
    out.push((
        "Last possible sequence of a certain length",
        vec![
            t(b"\x7f"),
            t(b"\xdf\xbf"),
            t(b"\xef\xbf\xbf"),
            t(b"\xf4\x8f\xbf\xbf"),
        ],
    ));
    out.push((
        "Last possible sequence length 4/5/6 (invalid codepoints)",
        vec![
            f(b"\xf7\xbf\xbf\xbf"),
            f(b"\xfb\xbf\xbf\xbf\xbf"),
            f(b"\xfd\xbf\xbf\xbf\xbf\xbf"),
        ],
    ));
    out.push((
        "Other boundary conditions",
        vec![
            t(b"\xed\x9f\xbf"),
            t(b"\xee\x80\x80"),
            t(b"\xef\xbf\xbd"),
            t(b"\xf4\x8f\xbf\xbf"),
            f(b"\xf4\x90\x80\x80"),
        ],
    ));
    let mut cont = vec![
        f(b"\x80"),
        f(b"\xbf"),
        f(b"\x80\xbf"),
        f(b"\x80\xbf\x80"),
        f(b"\x80\xbf\x80\xbf"),
        f(b"\x80\xbf\x80\xbf\x80"),
        f(b"\x80\xbf\x80\xbf\x80\xbf"),
    ];
    cont.push((false, (0x80u8..0xbf).collect()));
    out.push(("Unexpected continuation bytes", cont));
    out.push((
        "Lonely start characters",
        [
            (0xc0u8, 0xdfu8),
            (0xe0, 0xef),
            (0xf0, 0xf7),
            (0xf8, 0xfb),
            (0xfc, 0xfd),
        ]
        .iter()
        .map(|&(a, b)| (false, (a..b).flat_map(|c| [c, 0x20]).collect()))
        .collect(),
    ));
    let missing: [&[u8]; 10] = [
        b"\xc0",
        b"\xe0\x80",
        b"\xf0\x80\x80",
        b"\xf8\x80\x80\x80",
        b"\xfc\x80\x80\x80\x80",
        b"\xdf",
        b"\xef\xbf",
        b"\xf7\xbf\xbf",
        b"\xfb\xbf\xbf\xbf",
        b"\xfd\xbf\xbf\xbf\xbf",
    ];
    out.push((
        "Sequences with last continuation byte missing",
        missing.iter().map(|m| f(m)).collect(),
    ));
    out.push((
        "Concatenation of incomplete sequences",
        vec![(false, missing.concat())],
    ));
    out.push((
        "Impossible bytes",
        vec![f(b"\xfe"), f(b"\xff"), f(b"\xfe\xfe\xff\xff")],
    ));
    out.push((
        "Examples of an overlong ASCII character",
        vec![
            f(b"\xc0\xaf"),
            f(b"\xe0\x80\xaf"),
            f(b"\xf0\x80\x80\xaf"),
            f(b"\xf8\x80\x80\x80\xaf"),
            f(b"\xfc\x80\x80\x80\x80\xaf"),
        ],
    ));
    out.push((
        "Maximum overlong sequences",
        vec![
            f(b"\xc1\xbf"),
            f(b"\xe0\x9f\xbf"),
            f(b"\xf0\x8f\xbf\xbf"),
            f(b"\xf8\x87\xbf\xbf\xbf"),
            f(b"\xfc\x83\xbf\xbf\xbf\xbf"),
        ],
    ));
    out.push((
        "Overlong representation of the NUL character",
        vec![
            f(b"\xc0\x80"),
            f(b"\xe0\x80\x80"),
            f(b"\xf0\x80\x80\x80"),
            f(b"\xf8\x80\x80\x80\x80"),
            f(b"\xfc\x80\x80\x80\x80\x80"),
        ],
    ));
    out.push((
        "Single UTF-16 surrogates",
        vec![
            f(b"\xed\xa0\x80"),
            f(b"\xed\xad\xbf"),
            f(b"\xed\xae\x80"),
            f(b"\xed\xaf\xbf"),
            f(b"\xed\xb0\x80"),
            f(b"\xed\xbe\x80"),
            f(b"\xed\xbf\xbf"),
        ],
    ));
    out.push((
        "Paired UTF-16 surrogates",
        vec![
            f(b"\xed\xa0\x80\xed\xb0\x80"),
            f(b"\xed\xa0\x80\xed\xbf\xbf"),
            f(b"\xed\xad\xbf\xed\xb0\x80"),
            f(b"\xed\xad\xbf\xed\xbf\xbf"),
            f(b"\xed\xae\x80\xed\xb0\x80"),
            f(b"\xed\xae\x80\xed\xbf\xbf"),
            f(b"\xed\xaf\xbf\xed\xb0\x80"),
            f(b"\xed\xaf\xbf\xed\xbf\xbf"),
        ],
    ));
    let mut nonchars = vec![t(b"\xef\xbf\xbe"), t(b"\xef\xbf\xbf")];
    for z1 in [0xf0u8, 0xf1, 0xf2, 0xf3, 0xf4] {
        for z2 in [0x8fu8, 0x9f, 0xaf, 0xbf] {
            if z1 == 0xf4 && z2 != 0x8f {
                continue; // above U+10FFFF
            }
            for z3 in [0xbeu8, 0xbf] {
                let zz = [z1, z2, 0xbf, z3];
                if zz[..2] != [0xf0, 0x8f] {
                    nonchars.push(t(&zz)); // 0xf0 0x8f.. would be overlong
                }
            }
        }
    }
    out.push(("Non-character code points (valid UTF-8)", nonchars));
    out.push((
        "Unicode specials (i.e. replacement char)",
        vec![
            t(b"\xef\xbf\xb9"),
            t(b"\xef\xbf\xba"),
            t(b"\xef\xbf\xbb"),
            t(b"\xef\xbf\xbc"),
            t(b"\xef\xbf\xbd"),
            t(b"\xef\xbf\xbe"),
            t(b"\xef\xbf\xbf"),
        ],
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The validity labels agree with Rust's own UTF-8 validator.
    #[test]
    fn labels_agree_with_std() {
        let mut n = 0;
        for (title, seqs) in utf8_sequences() {
            for (valid, p) in seqs {
                assert_eq!(
                    std::str::from_utf8(&p).is_ok(),
                    valid,
                    "{title}: {}",
                    hex(&p)
                );
                n += 1;
            }
        }
        assert_eq!(
            n,
            5 + 11 + 4 + 2 + 4 + 3 + 5 + 8 + 5 + 10 + 1 + 3 + 5 + 5 + 5 + 7 + 8 + 34 + 7
        );
    }

    #[test]
    fn fail_fast_parts_are_valid_alone_and_invalid_together() {
        for c in fail_fast() {
            assert!(c.description.contains("PART2"), "{}", c.id);
        }
        assert!(std::str::from_utf8(&[KOSME, b"\xf4\x90\x80\x80", b"edited"].concat()).is_err());
    }
}
