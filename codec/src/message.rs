//! The receive side of a connection: frames in, application events out.
//!
//! [`Receiver`] combines the [`FrameDecoder`], message assembly across
//! fragments and streaming UTF-8 validation. It is fed the buffers the
//! network delivered and lends out events borrowed from those buffers
//! whenever it can.
//!
//! # Where event bytes live (ownership and borrowing)
//!
//! * A message or control frame whose **whole frame is inside the buffer
//!   being fed** is delivered from that buffer, unmasked in place: no copy,
//!   no allocation. A single-frame text message is UTF-8-validated in place.
//! * A **fragmented** message, or a frame that **straddles buffers**, is
//!   copied into a per-connection assembly `Vec<u8>`, allocated when first
//!   needed, and unmasked during that copy (one pass over the bytes, not an
//!   in-place unmask and then a copy). Control frames that straddle buffers are appended behind a
//!   message in progress and removed after delivery. The assembly buffer is
//!   freed when a [`Feed`] ends with no message in progress, so an idle
//!   receiver holds no heap memory. It grows with the bytes that arrived,
//!   never with the length a header announces: by a quarter of what it
//!   holds when it must grow, capped at the end of the message's last frame
//!   ([`assembly_target`]), so its capacity stays within about 1.25 × the
//!   bytes held.
//!
//! * The rest of a **large frame** can skip the fed buffers altogether: a
//!   caller that can receive into memory of its choosing (an io_uring
//!   `recv`) borrows the assembly buffer with [`Receiver::take_direct`],
//!   appends the next payload bytes to it as received (still masked), and
//!   returns it with [`Receiver::feed_direct`], which unmasks them in place
//!   and checks them like fed bytes. The kernel's copy is then the only one.
//!   Only once [`DIRECT_MIN_HELD`] bytes are held, and at most a quarter of
//!   what is held per receive: the look-ahead is bounded by what arrived.
//!
//! * A **compressed** message (permessage-deflate, RSV1 on its first frame,
//!   [`ReceiverConfig::allow_rsv1`]) fed with [`Receiver::feed_inflating`]
//!   is inflated fragment by fragment into the assembly buffer (the fed
//!   bytes are unmasked in place and inflated from there), its inflated
//!   size held to the message limit and its text UTF-8-checked as it comes
//!   out; it is delivered as `Text`/`Binary` from the assembly buffer.
//!   Fed with [`Receiver::feed`] instead, it is lent (one frame in the fed
//!   buffer) or assembled compressed and delivered as
//!   [`Event::Compressed`], for [`Inflater::inflate_message`].
//!
//! Either way an [`Event`] borrows the [`Feed`] it came from: the lending
//! `next_event` cannot be called again until the event is dropped. Handle
//! (or copy) each event before asking for the next.

use crate::close::CloseCode;
use crate::compress::Inflater;
use crate::error::ProtocolError;
use crate::frame::decoder::{Decoded, DecoderConfig, FrameDecoder, PayloadChunk};
use crate::frame::header::{FrameHeader, OpCode, Role};
use crate::mask::{apply_mask, extend_with_mask};
use crate::utf8::Utf8Validator;
use core::ops::Range;

/// Size limits, checked from frame headers before any payload is buffered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Limits {
    /// Longest frame payload accepted (1009 beyond).
    pub max_frame_size: u64,
    /// Longest message accepted, summed over its fragments (1009 beyond).
    pub max_message_size: u64,
}

impl Default for Limits {
    /// 16 MiB for both.
    fn default() -> Self {
        Self {
            max_frame_size: 16 << 20,
            max_message_size: 16 << 20,
        }
    }
}

/// Configuration of a [`Receiver`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ReceiverConfig {
    /// Our side of the connection (decides which frames must be masked).
    pub role: Role,
    /// Frame and message size limits.
    pub limits: Limits,
    /// permessage-deflate (RSV1) was negotiated: RSV1 is then accepted on
    /// the first frame of a data message. Such a message is inflated as it
    /// arrives when fed with [`Receiver::feed_inflating`], or delivered
    /// whole as [`Event::Compressed`] when fed with [`Receiver::feed`]
    /// (see [`Inflater`] for the two ways).
    pub allow_rsv1: bool,
}

impl ReceiverConfig {
    /// Server role, default limits, no extension.
    pub fn server() -> Self {
        Self::default()
    }

    /// Client role, default limits, no extension.
    pub fn client() -> Self {
        Self {
            role: Role::Client,
            ..Self::default()
        }
    }
}

/// Something the peer sent, borrowed from the fed buffer or from the
/// receiver's assembly buffer (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// A complete text message, valid UTF-8.
    Text(&'a str),
    /// A complete binary message.
    Binary(&'a [u8]),
    /// A ping; answer with a pong carrying the same payload.
    Ping(&'a [u8]),
    /// A pong.
    Pong(&'a [u8]),
    /// A close frame: `None` if it had no payload (report 1005 locally),
    /// otherwise a code allowed on the wire and a UTF-8 reason. The
    /// receiver yields nothing more after this.
    Close(Option<(CloseCode, &'a str)>),
    /// A complete message sent with RSV1 set, only when
    /// [`ReceiverConfig::allow_rsv1`] is on and the message was fed with
    /// [`Receiver::feed`] (not `feed_inflating`): the payload is still
    /// compressed (and, for text, not yet UTF-8-checked); inflate it with
    /// [`Inflater::inflate_message`]. Its compressed size was held to
    /// the message limit.
    Compressed {
        /// The message was a text message.
        text: bool,
        /// The compressed payload.
        payload: &'a [u8],
    },
}

/// Memory follows the bytes: the assembly buffer grows with what arrived,
/// never with what a frame header announces. When it must grow it grows to
/// `held + arriving + slack`, the slack being a quarter of what it then holds (at
/// least [`ASSEMBLY_MIN_SLACK`]), and never past the end of the message's
/// final frame when that end is known. Capacity therefore stays within
/// about 1.25 × the bytes held (plus the small floor), and growth is still
/// geometric (each byte is copied a bounded number of times on average).
const ASSEMBLY_SLACK_DIV: usize = 4;

/// The least slack an assembly buffer grows by (keeps small messages in
/// fragments from regrowing at every piece).
const ASSEMBLY_MIN_SLACK: usize = 256;

/// Direct receives start only once this much of the message is held: the
/// kernel is lent at most a quarter of what is held, so the look-ahead a
/// peer can make the server reserve is bounded by what it already sent.
pub const DIRECT_MIN_HELD: usize = 1024;

/// The capacity an assembly buffer holding `held` bytes grows to so that
/// `arriving` more fit: `n + max(n / 4, 256)` with `n = held + arriving`,
/// capped at `n + rest` when `rest` (the bytes still to come in the
/// message's final frame) is known. The slack is what a direct receive is
/// lent next ([`Receiver::take_direct`]), so the buffer regrows (and is
/// copied) only once bytes have filled it.
pub const fn assembly_target(held: usize, arriving: usize, rest: Option<u64>) -> usize {
    let mut slack = held.saturating_add(arriving) / ASSEMBLY_SLACK_DIV;
    if slack < ASSEMBLY_MIN_SLACK {
        slack = ASSEMBLY_MIN_SLACK;
    }
    if let Some(rest) = rest {
        if (slack as u64) > rest {
            slack = rest as usize;
        }
    }
    held.saturating_add(arriving).saturating_add(slack)
}

/// Per-connection receive state: frame decoder, message assembly and UTF-8
/// validation. 64 bytes, no heap while idle.
///
/// Feed each received buffer with [`Receiver::feed`] and drain the returned
/// [`Feed`] until `next_event` returns `None`. After [`Event::Close`] or an
/// error the receiver is finished: later feeds yield nothing, and
/// [`Receiver::error`] keeps the error.
///
/// # Example
///
/// ```
/// use ringws_codec::{write_close, write_frame, Event, OpCode, Receiver, ReceiverConfig};
///
/// let mut rx = Receiver::new(ReceiverConfig::server());
/// // What a client might send: a masked "Hello" (RFC 6455 §5.7) and a ping,
/// // arriving in two buffers cut inside the ping's header.
/// let mut wire = b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58".to_vec();
/// write_frame(&mut wire, true, OpCode::Ping, b"are you there", Some([1, 2, 3, 4]));
/// let (a, b) = wire.split_at(12);
/// let mut to_send = Vec::new();
/// for piece in [a, b] {
///     let mut buf = piece.to_vec(); // in the engine: a ring buffer
///     let mut feed = rx.feed(&mut buf);
///     while let Some(ev) = feed.next_event() {
///         match ev {
///             Ok(Event::Text(s)) => assert_eq!(s, "Hello"), // borrowed from `buf`
///             Ok(Event::Ping(p)) => write_frame(&mut to_send, true, OpCode::Pong, p, None),
///             Ok(_) => {}
///             Err(e) => write_close(&mut to_send, None, e.close_code(), e.reason()),
///         }
///     }
/// }
/// assert_eq!(&to_send[2..], b"are you there");
/// assert!(rx.is_idle());
/// ```
#[derive(Debug)]
pub struct Receiver {
    decoder: FrameDecoder,
    max_message_size: u64,
    /// Assembly buffer: message bytes so far, then (while a straddling
    /// control frame is being collected) `ctrl_len` control payload bytes.
    /// Boxed so the idle receiver pays 8 bytes for it, not 24.
    #[allow(clippy::box_collection)]
    assembly: Option<Box<Vec<u8>>>,
    utf8: Utf8Validator,
    /// The data message in progress, if any.
    msg: Msg,
    /// Control payload bytes at the end of `assembly` (≤ 125).
    ctrl_len: u8,
    /// What the last delivered event left in `assembly` to clean up.
    pending: Pending,
    status: Status,
    /// The assembly buffer is out with the caller ([`Receiver::take_direct`])
    /// until [`Receiver::feed_direct`] brings it back; feeds process nothing.
    direct_out: bool,
    /// The message in progress had its assembly buffer lent out
    /// ([`Receiver::take_direct`]): the caller could have changed bytes that
    /// were already UTF-8-checked, so a text message is checked again whole
    /// before it becomes a `&str`.
    lent_this_message: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Msg {
    None,
    /// Being delivered from the fed buffer or assembled; `assembling` says
    /// whether its bytes so far are in `assembly`. `compressed`: RSV1 was
    /// set; `inflating`: it is inflated into `assembly` as it arrives
    /// (it started in a [`Receiver::feed_inflating`]), otherwise its
    /// compressed bytes are collected and delivered as `Compressed`.
    Text {
        assembling: bool,
        compressed: bool,
        inflating: bool,
    },
    Binary {
        assembling: bool,
        compressed: bool,
        inflating: bool,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pending {
    None,
    /// A control frame was delivered from the tail of `assembly`.
    Control,
    /// A message was delivered from `assembly`.
    Message,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Status {
    Open,
    Closed,
    Failed(ProtocolError),
}

/// Where the bytes of an event are, before borrowing them.
#[derive(Clone, Debug)]
enum Src {
    Buf(Range<usize>),
    Asm(Range<usize>),
}

#[derive(Clone, Debug)]
enum Raw {
    /// Not UTF-8-checked yet.
    Text(Src),
    /// Assembled text whose every byte was UTF-8-checked on arrival and has
    /// not left the receiver since: no second pass.
    CheckedText(Range<usize>),
    Binary(Src),
    Ping(Src),
    Pong(Src),
    Close(Option<(CloseCode, Src)>),
    Compressed(bool, Src),
}

impl Receiver {
    /// A receiver at the start of a connection's frame stream.
    pub const fn new(config: ReceiverConfig) -> Self {
        Self {
            decoder: FrameDecoder::new(DecoderConfig {
                role: config.role,
                max_frame_size: config.limits.max_frame_size,
                allow_rsv1: config.allow_rsv1,
            }),
            max_message_size: config.limits.max_message_size,
            assembly: None,
            utf8: Utf8Validator::new(),
            msg: Msg::None,
            ctrl_len: 0,
            pending: Pending::None,
            status: Status::Open,
            direct_out: false,
            lent_this_message: false,
        }
    }

    /// Starts processing `buf`, the next bytes received. Payload bytes are
    /// unmasked in place in `buf`. Drain the returned [`Feed`] until
    /// `next_event` returns `None`: bytes not yet processed when it is
    /// dropped are lost.
    #[must_use = "drain the Feed with `next_event` until it returns None"]
    pub fn feed<'r, 'b>(&'r mut self, buf: &'b mut [u8]) -> Feed<'r, 'b> {
        Feed {
            rx: self,
            buf,
            pos: 0,
            direct: 0,
            inflater: None,
        }
    }

    /// Like [`Receiver::feed`], for a connection that negotiated
    /// permessage-deflate and inflates with its own `inflater` as messages
    /// arrive: a compressed message that *starts* in this feed is inflated
    /// fragment by fragment, straight from `buf` into the message buffer,
    /// its text UTF-8-checked as it comes out (1007 at the first bad
    /// byte), its **inflated** size held to `max_message_size` while
    /// inflating (1009 once passed; at most the limit plus one byte is
    /// ever produced), and delivered as [`Event::Text`] / [`Event::Binary`]
    /// borrowed from the receiver. Its compressed frames are not buffered,
    /// so only `max_frame_size` applies to them.
    ///
    /// Caller's duties: pass the same `inflater` (the connection's, which
    /// keeps the LZ77 window between messages when context takeover was
    /// agreed) to every feed until a message being inflated is delivered;
    /// a message that started in a plain [`Receiver::feed`] stays a
    /// collected [`Event::Compressed`] message whichever way it goes on.
    /// Uncompressed messages are handled exactly as by `feed`.
    ///
    /// # Panics
    /// `next_event` panics if a message being inflated is continued by a
    /// feed that has no inflater (`feed` or `feed_direct`).
    #[must_use = "drain the Feed with `next_event` until it returns None"]
    pub fn feed_inflating<'r, 'b>(
        &'r mut self,
        buf: &'b mut [u8],
        inflater: &'r mut Inflater,
    ) -> Feed<'r, 'b> {
        Feed {
            rx: self,
            buf,
            pos: 0,
            direct: 0,
            inflater: Some(inflater),
        }
    }

    /// Between frames: no header or payload in progress (a fragmented
    /// message may be, between its frames). The next bytes start a header.
    pub fn at_frame_boundary(&self) -> bool {
        self.decoder.is_idle()
    }

    /// Part of a frame header has been fed and its rest is due.
    pub fn in_frame_header(&self) -> bool {
        !self.decoder.is_idle() && self.decoder.payload_remaining().is_none()
    }

    /// How many payload bytes of the data frame in progress are still to
    /// come, when they may be received straight into the message's buffer
    /// ([`Receiver::take_direct`]): zero between frames, in a header, in a
    /// control frame, once finished, while the buffer is already out, or
    /// while less than [`DIRECT_MIN_HELD`] bytes of the message are held
    /// (the look-ahead lent to the kernel is bounded by what is held).
    pub fn direct_remaining(&self) -> u64 {
        if self.status != Status::Open || self.direct_out || self.msg == Msg::None {
            return 0;
        }
        if self.assembled_len() < DIRECT_MIN_HELD {
            return 0;
        }
        if let Msg::Text {
            inflating: true, ..
        }
        | Msg::Binary {
            inflating: true, ..
        } = self.msg
        {
            // The message buffer holds inflated bytes, not wire bytes.
            return 0;
        }
        match self.decoder.payload_remaining() {
            Some((n, op, _)) if !op.is_control() => n,
            _ => 0,
        }
    }

    /// Lends out the message's assembly buffer so that the next payload
    /// bytes of the data frame in progress can be received straight into
    /// it, skipping a copy: returns the buffer (the message so far, with
    /// room reserved behind it) and how many bytes may be appended, at most
    /// `max` and never past the end of the frame. `None` when
    /// [`Receiver::direct_remaining`] is zero.
    ///
    /// Append the bytes as received (still masked) and give the buffer back
    /// with [`Receiver::feed_direct`]; until then feeds process nothing.
    /// Memory follows the bytes: the room is the buffer's spare capacity or
    /// a quarter of the bytes held, whichever is more (and at most `max`
    /// and the rest of the frame), so a peer that announces a large frame
    /// and sends little makes the server reserve little: the look-ahead is
    /// bounded by what already arrived, and the buffer grows by at most a
    /// quarter per receive.
    pub fn take_direct(&mut self, max: usize) -> Option<(Vec<u8>, usize)> {
        self.cleanup();
        let remaining = self.direct_remaining();
        if remaining == 0 || max == 0 {
            return None;
        }
        match &mut self.msg {
            Msg::Text { assembling, .. } | Msg::Binary { assembling, .. } => *assembling = true,
            Msg::None => return None,
        }
        let mut buf = self.assembly.take().map_or_else(Vec::new, |b| *b);
        let held = buf.len();
        let spare = buf.capacity() - held;
        let room = remaining
            .min(max as u64)
            .min(spare.max(held / ASSEMBLY_SLACK_DIV) as u64) as usize;
        self.lent_this_message = true;
        if spare < room {
            // Exactly: `reserve` would double.
            buf.reserve_exact(room);
        }
        self.direct_out = true;
        Some((buf, room))
    }

    /// Brings back the buffer lent by [`Receiver::take_direct`] with
    /// `appended` payload bytes (as received, still masked) added at its
    /// end, and processes them as if they had been fed: unmasked in place,
    /// UTF-8-checked for text, and the message delivered by the returned
    /// [`Feed`] if they complete it. `appended` may be zero (nothing came).
    ///
    /// # Panics
    /// If `appended` is more than `take_direct` allowed or than `buf` holds.
    #[must_use = "drain the Feed with `next_event` until it returns None"]
    pub fn feed_direct(&mut self, buf: Vec<u8>, appended: usize) -> Feed<'_, 'static> {
        assert!(self.direct_out, "feed_direct without take_direct");
        assert!(
            appended <= buf.len(),
            "more bytes appended than the buffer holds"
        );
        self.direct_out = false;
        self.assembly = Some(Box::new(buf));
        Feed {
            rx: self,
            buf: &mut [],
            pos: 0,
            direct: appended,
            inflater: None,
        }
    }

    /// No partial frame, no message in progress and no heap memory held.
    pub fn is_idle(&self) -> bool {
        self.decoder.is_idle() && self.msg == Msg::None && self.assembly.is_none()
    }

    /// A close frame was received (or an error occurred): nothing more will
    /// be yielded.
    pub fn is_finished(&self) -> bool {
        self.status != Status::Open
    }

    /// The error that finished this receiver, if any.
    pub fn error(&self) -> Option<ProtocolError> {
        match self.status {
            Status::Failed(e) => Some(e),
            _ => None,
        }
    }

    /// Bytes of heap memory held for message assembly (capacity).
    pub fn buffered_capacity(&self) -> usize {
        self.assembly.as_ref().map_or(0, |v| v.capacity())
    }

    /// Bytes the peer sent that are held for message assembly (the message
    /// so far, and a straddling control frame's payload so far). The
    /// capacity ([`Receiver::buffered_capacity`]) stays within
    /// `held × 1.25 + 256` (see [`assembly_target`]).
    pub fn buffered_len(&self) -> usize {
        self.assembled_len()
    }

    fn fail(&mut self, e: ProtocolError) -> ProtocolError {
        self.status = Status::Failed(e);
        self.assembly = None;
        e
    }

    /// Undo what the last delivered event left in the assembly buffer.
    fn cleanup(&mut self) {
        match core::mem::replace(&mut self.pending, Pending::None) {
            Pending::None => {}
            Pending::Control => {
                if let Some(v) = &mut self.assembly {
                    v.truncate(v.len() - usize::from(self.ctrl_len));
                }
                self.ctrl_len = 0;
            }
            Pending::Message => {
                // Freed rather than cleared: the next message's buffer
                // grows with its own bytes, not to the size of this one.
                self.assembly = None;
            }
        }
    }

    /// Appends payload bytes to the assembly buffer, unmasking them with
    /// `mask` (rotated to their first byte) in the same pass.
    ///
    /// Growth follows the bytes ([`assembly_target`]): a quarter of what is
    /// held beyond them, capped at the end of the frame in progress when it
    /// is the message's last (or a control frame), never doubling.
    /// `c` is the chunk the bytes come from: what is still to come of its
    /// frame caps the growth when nothing can follow that frame.
    fn append(&mut self, bytes: &[u8], c: &PayloadChunk) {
        if bytes.is_empty() {
            return;
        }
        let mask = c.mask;
        let rest = if c.fin || c.opcode.is_control() {
            Some(if c.last {
                0
            } else {
                self.decoder.payload_remaining().map_or(0, |r| r.0)
            })
        } else {
            // A fragment without FIN: more frames of the message may follow.
            None
        };
        let v = self.assembly.get_or_insert_with(Default::default);
        if v.capacity() - v.len() < bytes.len() {
            let target = assembly_target(v.len(), bytes.len(), rest);
            v.reserve_exact(target - v.len());
        }
        match mask {
            Some(key) => extend_with_mask(v, bytes, key, 0),
            None => v.extend_from_slice(bytes),
        }
    }

    fn assembled_len(&self) -> usize {
        self.assembly.as_ref().map_or(0, |v| v.len())
    }

    /// Runs the decoder until an event is complete, the buffer is used up
    /// (`None`) or the peer broke a rule.
    fn step(
        &mut self,
        buf: &mut [u8],
        pos: &mut usize,
        mut inflater: Option<&mut Inflater>,
    ) -> Option<Result<Raw, ProtocolError>> {
        self.cleanup();
        if self.status != Status::Open || self.direct_out {
            return None;
        }
        loop {
            if self.decoder.is_idle() {
                if let Some(r) = self.whole_frame(buf, pos, inflater.as_deref_mut()) {
                    match r {
                        Ok(None) => continue,
                        Ok(Some(raw)) => return Some(Ok(raw)),
                        Err(e) => return Some(Err(self.fail(e))),
                    }
                }
            }
            let r = match self.decoder.decode_masked(buf, pos) {
                Ok(None) => return None,
                Ok(Some(Decoded::Header(h))) => {
                    self.on_header(&h, inflater.is_some()).map(|()| None)
                }
                Ok(Some(Decoded::Payload(c))) => self.on_chunk(buf, c, inflater.as_deref_mut()),
                Err(e) => Err(e),
            };
            match r {
                Ok(None) => continue,
                Ok(Some(raw)) => return Some(Ok(raw)),
                Err(e) => return Some(Err(self.fail(e))),
            }
        }
    }

    /// Fast path for the common case of a whole frame at `*pos` while the
    /// decoder is between frames: the same checks and the same `on_chunk`
    /// as the decoder path, without its per-call state transitions. Returns
    /// `None` (nothing consumed) when the frame is not wholly in `buf` or its
    /// header is malformed, leaving those to the decoder, which reports the
    /// same errors.
    fn whole_frame(
        &mut self,
        buf: &mut [u8],
        pos: &mut usize,
        inflater: Option<&mut Inflater>,
    ) -> Option<Result<Option<Raw>, ProtocolError>> {
        let rest = &buf[*pos..];
        let Ok(Some((h, n))) = FrameHeader::parse(rest) else {
            return None;
        };
        if h.payload_len > (rest.len() - n) as u64 {
            return None;
        }
        if let Err(e) = self
            .decoder
            .check(&h)
            .and_then(|()| self.on_header(&h, inflater.is_some()))
        {
            return Some(Err(e));
        }
        let start = *pos + n;
        let range = start..start + h.payload_len as usize;
        *pos = range.end;
        let chunk = PayloadChunk {
            range,
            opcode: h.opcode,
            fin: h.fin,
            first: true,
            last: true,
            mask: h.mask,
        };
        Some(self.on_chunk(buf, chunk, inflater))
    }

    /// Message-level rules that the header alone decides (§5.4, §5.5.1,
    /// limits). `can_inflate`: this feed has an inflater, so a compressed
    /// message starting here is inflated as it arrives.
    fn on_header(&mut self, h: &FrameHeader, can_inflate: bool) -> Result<(), ProtocolError> {
        match h.opcode {
            OpCode::Text | OpCode::Binary => {
                if self.msg != Msg::None {
                    return Err(ProtocolError::ExpectedContinuation);
                }
                let (assembling, compressed) = (false, h.rsv1);
                let inflating = compressed && can_inflate;
                // Bytes to buffer are held to the limit from the header; an
                // inflated message's size is checked while inflating (its
                // compressed frames are not buffered, and incompressible
                // data inflates to slightly fewer bytes than it took).
                if h.payload_len > self.max_message_size && !inflating {
                    return Err(ProtocolError::MessageTooBig);
                }
                self.msg = if h.opcode == OpCode::Text {
                    Msg::Text {
                        assembling,
                        compressed,
                        inflating,
                    }
                } else {
                    Msg::Binary {
                        assembling,
                        compressed,
                        inflating,
                    }
                };
                self.utf8.reset();
                self.lent_this_message = false;
            }
            OpCode::Continuation => {
                if self.msg == Msg::None {
                    return Err(ProtocolError::UnexpectedContinuation);
                }
                // Everything received of this message is in `assembly` now
                // (a fragmented message is always assembled). An inflating
                // message's inflated size is checked while inflating.
                let inflating = matches!(
                    self.msg,
                    Msg::Text {
                        inflating: true,
                        ..
                    } | Msg::Binary {
                        inflating: true,
                        ..
                    }
                );
                if !inflating && self.assembled_len() as u64 + h.payload_len > self.max_message_size
                {
                    return Err(ProtocolError::MessageTooBig);
                }
            }
            OpCode::Close => {
                if h.payload_len == 1 {
                    return Err(ProtocolError::CloseLengthOne);
                }
            }
            OpCode::Ping | OpCode::Pong => {}
        }
        Ok(())
    }

    /// Handles a payload chunk still masked with `c.mask`: a frame that is a
    /// whole event is unmasked in place in `buf`; bytes bound for the
    /// assembly buffer are unmasked while they are copied there.
    fn on_chunk(
        &mut self,
        buf: &mut [u8],
        c: PayloadChunk,
        inflater: Option<&mut Inflater>,
    ) -> Result<Option<Raw>, ProtocolError> {
        let in_place = |buf: &mut [u8], c: &PayloadChunk| {
            if let Some(key) = c.mask {
                apply_mask(&mut buf[c.range.clone()], key, 0);
            }
        };
        let bytes = &buf[c.range.clone()];
        if c.opcode.is_control() {
            let src = if c.first && c.last {
                in_place(buf, &c);
                Src::Buf(c.range)
            } else {
                self.append(bytes, &c);
                self.ctrl_len += bytes.len() as u8;
                if !c.last {
                    return Ok(None);
                }
                self.pending = Pending::Control;
                let end = self.assembled_len();
                Src::Asm(end - usize::from(self.ctrl_len)..end)
            };
            return Ok(Some(match c.opcode {
                OpCode::Ping => Raw::Ping(src),
                OpCode::Pong => Raw::Pong(src),
                _ => self.on_close(buf, src)?,
            }));
        }

        let (text, assembling, compressed, inflating) = match &mut self.msg {
            Msg::Text {
                assembling,
                compressed,
                inflating,
            } => (true, assembling, *compressed, *inflating),
            Msg::Binary {
                assembling,
                compressed,
                inflating,
            } => (false, assembling, *compressed, *inflating),
            Msg::None => unreachable!("on_header refuses data chunks without a message"),
        };
        if inflating {
            *assembling = true;
            let Some(inflater) = inflater else {
                panic!("a message being inflated was continued by a feed without its inflater");
            };
            in_place(buf, &c);
            return self.inflate_chunk(&buf[c.range], c.last && c.fin, text, inflater);
        }
        let end_of_message = c.last && c.fin;
        if !*assembling && c.first && end_of_message {
            // The whole single-frame message is in this buffer: no copy.
            in_place(buf, &c);
            self.msg = Msg::None;
            let src = Src::Buf(c.range);
            return Ok(Some(if compressed {
                Raw::Compressed(text, src)
            } else if text {
                Raw::Text(src)
            } else {
                Raw::Binary(src)
            }));
        }
        // The message spills over buffers: it is assembled, its buffer
        // growing with the bytes that arrive (`append`), never reserved
        // for what the header announced.
        *assembling = true;
        let from = self.assembled_len();
        self.append(bytes, &c);
        self.assembled(from, end_of_message)
    }

    /// Inflates `bytes` (unmasked payload of a compressed message) into the
    /// assembly buffer, checking the inflated size and, for text, UTF-8;
    /// delivers the message at its end.
    #[cold]
    fn inflate_chunk(
        &mut self,
        bytes: &[u8],
        end_of_message: bool,
        text: bool,
        inflater: &mut Inflater,
    ) -> Result<Option<Raw>, ProtocolError> {
        let limit = usize::try_from(self.max_message_size).unwrap_or(usize::MAX);
        let out = self.assembly.get_or_insert_with(Default::default);
        let mut run = || {
            let utf8 = text.then_some(&mut self.utf8);
            inflater.push(bytes, out, limit, utf8)?;
            if end_of_message {
                inflater.finish(out, limit, text.then_some(&mut self.utf8))?;
                if text {
                    self.utf8.finish()?;
                }
            }
            Ok(())
        };
        if let Err(e) = run() {
            inflater.abort();
            return Err(e);
        }
        if !end_of_message {
            return Ok(None);
        }
        self.msg = Msg::None;
        self.pending = Pending::Message;
        let range = 0..self.assembled_len();
        // Every inflated byte went through the streaming validator on its
        // way into `assembly`, and this buffer was never lent out
        // (`direct_remaining` is 0 while inflating).
        Ok(Some(if text {
            Raw::CheckedText(range)
        } else {
            Raw::Binary(Src::Asm(range))
        }))
    }

    /// The `n` payload bytes at the end of the assembly buffer were received
    /// there directly ([`Receiver::feed_direct`]): unmask them in place and
    /// go on as for a chunk copied in.
    fn step_direct(&mut self, n: usize) -> Option<Result<Raw, ProtocolError>> {
        self.cleanup();
        if self.status != Status::Open || n == 0 {
            return None;
        }
        let Some(c) = self.decoder.advance_payload(n) else {
            panic!("feed_direct: {n} bytes appended past what take_direct allowed");
        };
        let v = self
            .assembly
            .as_deref_mut()
            .expect("brought back by feed_direct");
        let from = v.len() - n;
        if let Some(key) = c.mask {
            apply_mask(&mut v[from..], key, 0);
        }
        match self.assembled(from, c.last && c.fin) {
            Ok(None) => None,
            Ok(Some(raw)) => Some(Ok(raw)),
            Err(e) => Some(Err(self.fail(e))),
        }
    }

    /// Message bytes from `from` on were just added to the assembly buffer
    /// (unmasked): check them, and deliver the message if this was its end.
    fn assembled(
        &mut self,
        from: usize,
        end_of_message: bool,
    ) -> Result<Option<Raw>, ProtocolError> {
        let (text, compressed) = match self.msg {
            Msg::Text { compressed, .. } => (true, compressed),
            Msg::Binary { compressed, .. } => (false, compressed),
            Msg::None => unreachable!("only called with a message in progress"),
        };
        if text && !compressed {
            // Fail fast (Autobahn 6.4.x): check each chunk as it arrives.
            let asm = self.assembly.as_deref().map_or(&[][..], |v| v.as_slice());
            self.utf8.push(&asm[from..])?;
        }
        if !end_of_message {
            return Ok(None);
        }
        if text && !compressed {
            self.utf8.finish()?;
        }
        self.msg = Msg::None;
        self.pending = Pending::Message;
        let range = 0..self.assembled_len();
        Ok(Some(if compressed {
            Raw::Compressed(text, Src::Asm(range))
        } else if text && !self.lent_this_message {
            Raw::CheckedText(range)
        } else if text {
            Raw::Text(Src::Asm(range))
        } else {
            Raw::Binary(Src::Asm(range))
        }))
    }

    /// Checks a complete close payload's code (§7.4); the reason's UTF-8 is
    /// checked when the event is lent out. Finishes the receiver.
    fn on_close(&mut self, buf: &[u8], src: Src) -> Result<Raw, ProtocolError> {
        let range = match &src {
            Src::Buf(r) | Src::Asm(r) => r.clone(),
        };
        let payload = match &src {
            Src::Buf(_) => &buf[range.clone()],
            Src::Asm(_) => {
                &self.assembly.as_deref().map_or(&[][..], |v| v.as_slice())[range.clone()]
            }
        };
        self.status = Status::Closed;
        if payload.is_empty() {
            return Ok(Raw::Close(None));
        }
        // `on_header` refused length 1.
        let code = CloseCode(u16::from_be_bytes([payload[0], payload[1]]));
        if !code.is_allowed_on_wire() {
            return Err(ProtocolError::InvalidCloseCode);
        }
        let reason = range.start + 2..range.end;
        Ok(Raw::Close(Some((
            code,
            match src {
                Src::Buf(_) => Src::Buf(reason),
                Src::Asm(_) => Src::Asm(reason),
            },
        ))))
    }
}

/// One received buffer being processed; see [`Receiver::feed`].
///
/// Holds the receiver and the buffer mutably for its lifetime. On drop it
/// frees the receiver's assembly buffer if no message is in progress.
#[derive(Debug)]
pub struct Feed<'r, 'b> {
    rx: &'r mut Receiver,
    buf: &'b mut [u8],
    /// Invariant: `pos <= buf.len()`; bytes before it have been processed.
    pos: usize,
    /// Payload bytes received straight into the assembly buffer
    /// ([`Receiver::feed_direct`]), processed before `buf`.
    direct: usize,
    /// The connection's inflater ([`Receiver::feed_inflating`]).
    inflater: Option<&'r mut Inflater>,
}

impl Feed<'_, '_> {
    /// The next event, `None` when the buffer is used up (or the receiver is
    /// finished), or the protocol error that finishes the receiver (reported
    /// once; `None` follows).
    ///
    /// The event borrows this `Feed`: drop it before calling again.
    #[allow(clippy::should_implement_trait)] // lending: `Iterator` cannot express it
    pub fn next_event(&mut self) -> Option<Result<Event<'_>, ProtocolError>> {
        let direct = match core::mem::take(&mut self.direct) {
            0 => None,
            n => self.rx.step_direct(n),
        };
        let raw = match direct.or_else(|| {
            self.rx
                .step(self.buf, &mut self.pos, self.inflater.as_deref_mut())
        })? {
            Ok(raw) => raw,
            Err(e) => return Some(Err(e)),
        };
        // Borrow the two possible sources; `status` is a separate field, so
        // it stays assignable while they are lent out.
        let buf: &[u8] = self.buf;
        let asm: &[u8] = self.rx.assembly.as_deref().map_or(&[], |v| v.as_slice());
        let get = |src: Src| match src {
            Src::Buf(r) => &buf[r],
            Src::Asm(r) => &asm[r],
        };
        let ev = match raw {
            #[allow(unsafe_code)]
            Raw::CheckedText(r) => {
                // SAFETY: `assembled` gives `CheckedText` only for a text
                // message whose every byte the streaming validator accepted
                // (chunk by chunk, then `finish`: nothing incomplete at the
                // end) as it was appended to `assembly`, and whose assembly
                // buffer was never lent out (`lent_this_message`), so nothing
                // outside this receiver wrote to it since. Control payloads
                // sharing the buffer sit past `assembled_len` and were cut
                // off by `cleanup` before more message bytes came.
                Event::Text(unsafe { core::str::from_utf8_unchecked(&asm[r]) })
            }
            Raw::Text(src) => {
                // A message lent whole from the fed buffer: this is its only
                // UTF-8 pass. Assembled text is checked here a second time
                // only if its buffer was lent out (`take_direct`).
                match simdutf8::basic::from_utf8(get(src)) {
                    Ok(s) => Event::Text(s),
                    Err(_) => {
                        self.rx.status = Status::Failed(ProtocolError::InvalidUtf8);
                        return Some(Err(ProtocolError::InvalidUtf8));
                    }
                }
            }
            Raw::Binary(src) => Event::Binary(get(src)),
            Raw::Ping(src) => Event::Ping(get(src)),
            Raw::Pong(src) => Event::Pong(get(src)),
            Raw::Compressed(text, src) => Event::Compressed {
                text,
                payload: get(src),
            },
            Raw::Close(None) => Event::Close(None),
            Raw::Close(Some((code, src))) => match simdutf8::basic::from_utf8(get(src)) {
                Ok(reason) => Event::Close(Some((code, reason))),
                Err(_) => {
                    self.rx.status = Status::Failed(ProtocolError::InvalidCloseReason);
                    return Some(Err(ProtocolError::InvalidCloseReason));
                }
            },
        };
        Some(Ok(ev))
    }

    /// Take the buffer of the message just delivered, if it was assembled
    /// (it spanned fed buffers or fragments): the message's bytes, exactly,
    /// as an owned `Vec` that can be sent on or kept without a copy. `None`
    /// if the last event was not an assembled message (one lent from the
    /// fed buffer, a control frame) or its buffer was already taken. Call it
    /// after the event is dropped and before the next `next_event`.
    pub fn take_message(&mut self) -> Option<Vec<u8>> {
        if self.rx.pending != Pending::Message {
            return None;
        }
        self.rx.pending = Pending::None;
        self.rx.assembly.take().map(|b| *b)
    }

    /// Bytes of the buffer not processed yet (non-zero only if the feed is
    /// dropped early, or after a close or an error).
    pub fn unprocessed(&self) -> usize {
        self.buf.len() - self.pos
    }
}

impl Drop for Feed<'_, '_> {
    fn drop(&mut self) {
        self.rx.cleanup();
        // Idle connections hold no heap: free the assembly buffer between
        // messages. (A message or control frame straddling buffers keeps it.)
        if (self.rx.msg == Msg::None && self.rx.ctrl_len == 0) || self.rx.status != Status::Open {
            self.rx.assembly = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receiver_is_small() {
        let size = core::mem::size_of::<Receiver>();
        println!(
            "size_of::<Receiver>() = {size}, FrameDecoder = {}",
            core::mem::size_of::<FrameDecoder>()
        );
        assert!(size <= 64, "Receiver is {size} bytes");
    }
}
