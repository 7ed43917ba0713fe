//! permessage-deflate (RFC 7692) on connections: what a connection agreed
//! in its upgrade, and the worker's shared streams and buffers.
//!
//! A connection whose server side resets per message
//! (`server_no_context_takeover`: every `Shared` connection, and a
//! `Dedicated` one whose client asked for it) compresses with the
//! worker's compressor for its window; one whose client resets per message
//! inflates with the worker's inflater. Only a direction with context
//! takeover has a stream of its own, and that stream is allocated when the
//! first message goes that way (`Deflater` and `Inflater` allocate on first
//! use). A connection's slab entry holds nothing for it: the agreed
//! window is three bits of its flags, and its own streams (if any) sit in
//! the worker's table.
//!
//! Inflated messages land in the worker's inflate buffer, which the handler
//! borrows; it is dropped once it has grown past [`INFLATE_KEEP`], so one
//! large message does not pin its size for good.

use std::collections::HashMap;

use bytes::Bytes;
use ringws_codec::{
    Compression, DeflateParams, Deflater, FrameHeader, HeaderBytes, Inflater, OpCode,
    ProtocolError, DEFAULT_COMPRESS_THRESHOLD, MIN_DEFLATE_WINDOW_BITS,
};

use super::state::Flags;
use super::Message;
use crate::reactor::Token;

/// Where the compress window sits in [`Flags::DEFLATE_WINDOW`].
pub(crate) const WINDOW_SHIFT: u8 = 5;

/// Capacity of the worker's inflate and compress buffers kept between
/// messages; a buffer that grew past it is freed after use.
pub(crate) const INFLATE_KEEP: usize = 256 << 10;

/// Windows a compressor may use: 9..=15.
const WINDOWS: usize = 15 - MIN_DEFLATE_WINDOW_BITS as usize + 1;

/// What a connection agreed in its upgrade, as kept in its [`Flags`] (the
/// window it compresses with; 0 = not negotiated) and, for a direction with
/// context takeover, in the worker's table of [`Dedicated`] streams keyed by
/// its slot and generation. A connection therefore holds no bytes for
/// permessage-deflate in its slab entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ConnDeflate {
    bits: u8,
    slot: u32,
    gen: u32,
}

/// A connection's own streams, for the directions with context takeover.
#[derive(Debug)]
pub(crate) struct Dedicated {
    gen: u32,
    /// `None`: the server resets per message and uses the worker's
    /// compressor for its window.
    deflater: Option<Deflater>,
    /// `None`: the client resets per message; the worker's inflater serves.
    inflater: Option<Inflater>,
    /// Bytes charged to the worker's memory budget for these streams.
    charged: usize,
}

/// What zlib allocates for a compressor with a `bits` window (its window,
/// hash chains and pending buffer at memLevel 8: `2^(bits+2) + 2^17`) plus
/// the stream's own state, rounded up: the charge made to the memory budget
/// when a connection agrees to keep a compression context, whether or not
/// the stream has been allocated yet (the safe side).
pub(crate) fn deflater_bytes(bits: u8) -> usize {
    (1 << (bits as usize + 2)) + (1 << 17) + 8 * 1024
}

/// What zlib allocates for an inflater with a `bits` window, plus its state.
pub(crate) fn inflater_bytes(bits: u8) -> usize {
    (1 << bits as usize) + 8 * 1024
}

impl ConnDeflate {
    /// The agreement of the connection with these flags and token.
    pub(crate) fn of(flags: Flags, token: Token) -> Self {
        let b = (flags & Flags::DEFLATE_WINDOW).bits() >> WINDOW_SHIFT;
        ConnDeflate {
            bits: if b == 0 { 0 } else { b + 8 },
            slot: token.slot,
            gen: token.gen,
        }
    }

    /// Record what was agreed: the window in `flags`, streams of its own
    /// (allocated on first use) in the worker's table if a direction keeps
    /// its context. Returns the bytes to charge to the memory budget for
    /// those streams ([`Self::release`] gives them back).
    pub(crate) fn agree(
        flags: &mut Flags,
        token: Token,
        params: &DeflateParams,
        w: &mut WorkerDeflate,
    ) -> usize {
        let side = params.server();
        let bits = side.compress_window_bits.clamp(MIN_DEFLATE_WINDOW_BITS, 15);
        flags.remove(Flags::DEFLATE_WINDOW);
        flags.insert(Flags::from_bits_retain((bits - 8) << WINDOW_SHIFT));
        if side.compress_reset && side.inflate_reset {
            w.dedicated.remove(&token.slot);
            return 0;
        }
        let inflate_bits = side.inflate_window_bits;
        let charged = if side.compress_reset {
            0
        } else {
            deflater_bytes(bits)
        } + if side.inflate_reset {
            0
        } else {
            inflater_bytes(inflate_bits)
        };
        w.dedicated.insert(
            token.slot,
            Box::new(Dedicated {
                gen: token.gen,
                deflater: (!side.compress_reset).then(|| Deflater::new(bits, false)),
                inflater: (!side.inflate_reset).then(|| Inflater::new(inflate_bits, false)),
                charged,
            }),
        );
        charged
    }

    /// Whether permessage-deflate was negotiated.
    pub(crate) fn is_on(self) -> bool {
        self.bits != 0
    }

    /// Whether a data message of `len` bytes is sent compressed.
    pub(crate) fn compresses(self, len: usize) -> bool {
        self.is_on() && len >= DEFAULT_COMPRESS_THRESHOLD
    }

    fn own(self, w: &mut WorkerDeflate) -> Option<&mut Dedicated> {
        w.dedicated
            .get_mut(&self.slot)
            .filter(|d| d.gen == self.gen)
            .map(|d| &mut **d)
    }

    /// The window of the worker's compressor this connection can share
    /// (its server side resets per message), if any.
    fn shared_bits(self, w: &mut WorkerDeflate) -> Option<u8> {
        if !self.is_on() || self.own(w).is_some_and(|d| d.deflater.is_some()) {
            return None;
        }
        Some(self.bits)
    }

    /// Compress `payload` (appended to `out`, trailer stripped) with the
    /// connection's compressor or the worker's.
    pub(crate) fn compress(self, w: &mut WorkerDeflate, payload: &[u8], out: &mut Vec<u8>) {
        w.compressions += 1;
        if let Some(d) = self.own(w).and_then(|d| d.deflater.as_mut()) {
            return d.compress(payload, out);
        }
        w.deflater(self.bits).compress(payload, out)
    }

    /// Inflate a compressed message into `out` (the worker's inflate
    /// buffer), its inflated size held to `limit` while inflating.
    pub(crate) fn inflate<'o>(
        self,
        w: &mut WorkerDeflate,
        text: bool,
        payload: &[u8],
        limit: usize,
        out: &'o mut Vec<u8>,
    ) -> Result<Message<'o>, ProtocolError> {
        let ev = match w
            .dedicated
            .get_mut(&self.slot)
            .filter(|d| d.gen == self.gen)
            .and_then(|d| d.inflater.as_mut())
        {
            Some(i) => i.inflate_message(text, payload, limit, out),
            None => w.inflater.inflate_message(text, payload, limit, out),
        }?;
        w.inflated += 1;
        Ok(match ev {
            ringws_codec::Event::Text(t) => Message::Text(t),
            ringws_codec::Event::Binary(b) => Message::Binary(b),
            _ => unreachable!("inflate_message yields data messages"),
        })
    }

    /// The connection is released: its own streams go. Returns the bytes
    /// [`Self::agree`] charged for them.
    pub(crate) fn release(self, w: &mut WorkerDeflate) -> usize {
        match self.own(w).map(|d| d.charged) {
            Some(charged) => {
                w.dedicated.remove(&self.slot);
                charged
            }
            None => 0,
        }
    }
}

/// The worker's shared compression state (one per worker, never per
/// connection).
pub(crate) struct WorkerDeflate {
    /// What the upgrade answers.
    pub(crate) policy: Compression,
    /// Inflates every message whose sender resets per message (window 15
    /// reads any smaller window).
    inflater: Inflater,
    /// Compressors that reset per message, one per window (9..=15),
    /// created on first use.
    deflaters: [Option<Deflater>; WINDOWS],
    /// The buffer inflated messages are lent to handlers from.
    pub(crate) inflate_buf: Vec<u8>,
    /// Scratch for compressing one message.
    pub(crate) compress_buf: Vec<u8>,
    /// Compressions run, any stream (running total).
    pub(crate) compressions: u64,
    /// Streams of the connections with context takeover, by slot.
    dedicated: HashMap<u32, Box<Dedicated>>,
    /// Messages inflated (running total).
    pub(crate) inflated: u64,
    /// Compressions run for fan-out frames (running total; part of
    /// `compressions`).
    pub(crate) fanout_compressions: u64,
}

impl WorkerDeflate {
    pub(crate) fn new(policy: Compression) -> Self {
        Self {
            policy,
            inflater: Inflater::shared(),
            deflaters: Default::default(),
            dedicated: HashMap::new(),
            inflate_buf: Vec::new(),
            compress_buf: Vec::new(),
            compressions: 0,
            inflated: 0,
            fanout_compressions: 0,
        }
    }

    fn deflater(&mut self, bits: u8) -> &mut Deflater {
        let i = (bits.clamp(MIN_DEFLATE_WINDOW_BITS, 15) - MIN_DEFLATE_WINDOW_BITS) as usize;
        self.deflaters[i].get_or_insert_with(|| Deflater::new(bits, true))
    }

    /// Free a buffer that grew past [`INFLATE_KEEP`].
    pub(crate) fn trim(buf: &mut Vec<u8>) {
        if buf.capacity() > INFLATE_KEEP {
            *buf = Vec::new();
        }
    }
}

/// One fan-out frame's compressed forms, made once per window for the
/// connections that share the worker's compressors.
#[derive(Default)]
pub(crate) struct FanoutCache {
    frames: [Option<Bytes>; WINDOWS],
}

/// Kind and payload of a whole unmasked server data frame.
pub(crate) fn split_frame(frame: &[u8]) -> Option<(OpCode, &[u8])> {
    let (h, n) = FrameHeader::parse(frame).ok()??;
    let data = matches!(h.opcode, OpCode::Text | OpCode::Binary);
    (data && h.fin && !h.rsv1 && h.mask.is_none() && n + h.payload_len as usize == frame.len())
        .then(|| (h.opcode, &frame[n..]))
}

impl FanoutCache {
    /// The frame `frame` (whole, uncompressed, of kind `opcode` with
    /// `payload`) as connection `c` should get it: compressed with the
    /// worker's compressor for its window (made once per window), or `None`
    /// when `c` compresses with its own stream (the caller compresses per
    /// connection).
    pub(crate) fn shared_frame(
        &mut self,
        c: ConnDeflate,
        w: &mut WorkerDeflate,
        opcode: OpCode,
        payload: &[u8],
    ) -> Option<Bytes> {
        let bits = c.shared_bits(w)?;
        let i = (bits - MIN_DEFLATE_WINDOW_BITS) as usize;
        if let Some(f) = &self.frames[i] {
            return Some(f.clone());
        }
        let mut z = std::mem::take(&mut w.compress_buf);
        z.clear();
        w.compressions += 1;
        w.fanout_compressions += 1;
        w.deflater(bits).compress(payload, &mut z);
        let h = HeaderBytes::compressed(true, opcode, z.len() as u64, None);
        let mut f = Vec::with_capacity(h.as_slice().len() + z.len());
        f.extend_from_slice(h.as_slice());
        f.extend_from_slice(&z);
        WorkerDeflate::trim(&mut z);
        w.compress_buf = z;
        let f = Bytes::from(f);
        self.frames[i] = Some(f.clone());
        Some(f)
    }
}
