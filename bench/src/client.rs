//! One client WebSocket connection of the load generator, on a nonblocking mio socket.
//!
//! The protocol work is the codec's (`ClientHandshake`, `Receiver` in client
//! role, `write_frame` with a mask); this file only moves bytes and keeps the
//! outgoing buffer. Writes are corked: frames are appended to `out` and one
//! `flush` sends them all.

use std::io::{self, Read, Write};
use std::net::SocketAddr;

use mio::net::TcpStream;
use ringws_codec::{
    write_frame, ClientHandshake, ClientStatus, Event, OpCode, Receiver, ReceiverConfig, Role,
};

/// What the server sent, as the scenarios need it.
pub enum Incoming<'a> {
    /// A text or binary message.
    Message(&'a [u8]),
    /// A pong (answer to our ping).
    Pong(&'a [u8]),
    /// The server closed (code, if any).
    Close(Option<u16>),
}

/// A client connection: handshake first, then frames.
pub struct Client {
    /// The socket (registered with the thread's `Poll` by the caller).
    pub stream: TcpStream,
    handshake: Option<ClientHandshake>,
    receiver: Receiver,
    out: Vec<u8>,
    /// Bytes of `out` already written.
    out_pos: usize,
    mask_state: u64,
    /// True once the server's 101 has been validated.
    pub open: bool,
    /// True once a close was received or the socket failed.
    pub closed: bool,
}

impl Client {
    /// Starts a nonblocking connect and queues the upgrade request.
    pub fn connect(addr: SocketAddr, host: &str, path: &str, seed: u64) -> io::Result<Self> {
        let stream = TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        let handshake = ClientHandshake::new(host, path);
        let mut out = Vec::with_capacity(256);
        handshake.write_request(&mut out);
        let config = ReceiverConfig {
            role: Role::Client,
            ..ReceiverConfig::default()
        };
        Ok(Self {
            stream,
            handshake: Some(handshake),
            receiver: Receiver::new(config),
            out,
            out_pos: 0,
            mask_state: seed | 1,
            open: false,
            closed: false,
        })
    }

    /// A fresh masking key (xorshift: the bench needs speed, not secrecy).
    fn next_mask(&mut self) -> [u8; 4] {
        let mut x = self.mask_state;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.mask_state = x;
        (x as u32).to_ne_bytes()
    }

    /// Queues one whole message (masked, as a client must).
    pub fn queue(&mut self, opcode: OpCode, payload: &[u8]) {
        let mask = self.next_mask();
        write_frame(&mut self.out, true, opcode, payload, Some(mask));
    }

    /// Queues a close frame with code 1000.
    pub fn queue_close(&mut self) {
        let mask = self.next_mask();
        write_frame(
            &mut self.out,
            true,
            OpCode::Close,
            &1000u16.to_be_bytes(),
            Some(mask),
        );
    }

    /// Bytes queued and not yet written.
    pub fn pending(&self) -> usize {
        self.out.len() - self.out_pos
    }

    /// Writes what is queued until done or the socket would block.
    /// Returns true when everything queued has been written.
    pub fn flush(&mut self) -> io::Result<bool> {
        while self.out_pos < self.out.len() {
            match self.stream.write(&self.out[self.out_pos..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.out_pos += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.out.clear();
        self.out_pos = 0;
        Ok(true)
    }

    /// Reads until the socket would block, handing each message to `on_msg`.
    /// Pings are answered with pongs. `buf` is the thread's read buffer.
    pub fn read_ready(
        &mut self,
        buf: &mut [u8],
        mut on_msg: impl FnMut(Incoming<'_>),
    ) -> io::Result<()> {
        loop {
            let n = match self.stream.read(buf) {
                Ok(0) => {
                    self.closed = true;
                    return Ok(());
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            let mut start = 0;
            if let Some(hs) = self.handshake.as_mut() {
                match hs
                    .feed(&buf[..n])
                    .map_err(|e| io::Error::other(format!("handshake: {e}")))?
                {
                    ClientStatus::Partial => continue,
                    ClientStatus::Complete { consumed, .. } => {
                        self.handshake = None;
                        self.open = true;
                        start = consumed;
                    }
                }
            }
            let mut pongs: Vec<Vec<u8>> = Vec::new();
            let mut feed = self.receiver.feed(&mut buf[start..n]);
            while let Some(ev) = feed.next_event() {
                match ev.map_err(|e| io::Error::other(format!("protocol: {e}")))? {
                    Event::Text(t) => on_msg(Incoming::Message(t.as_bytes())),
                    Event::Binary(b) => on_msg(Incoming::Message(b)),
                    Event::Ping(p) => pongs.push(p.to_vec()),
                    Event::Pong(p) => on_msg(Incoming::Pong(p)),
                    // Never negotiated (the bench offers no extension), so the
                    // receiver does not produce it; refuse rather than guess.
                    Event::Compressed { .. } => {
                        return Err(io::Error::other("compressed message without an extension"));
                    }
                    Event::Close(c) => {
                        self.closed = true;
                        on_msg(Incoming::Close(c.map(|(code, _)| code.0)));
                    }
                }
            }
            drop(feed);
            for p in pongs {
                let mask = self.next_mask();
                write_frame(&mut self.out, true, OpCode::Pong, &p, Some(mask));
            }
            if self.closed {
                return Ok(());
            }
        }
    }
}
