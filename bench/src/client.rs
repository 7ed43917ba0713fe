//! One client WebSocket connection of the load generator: the protocol half.
//!
//! The protocol work is the codec's (`ClientHandshake`, `Receiver` in client
//! role, `write_frame` with a mask); the bytes move through the thread's
//! [`Driver`] (io_uring or epoll), which hands received bytes to
//! [`Client::on_bytes`]. Writes are corked: frames are appended to `out` and
//! one [`Client::flush`] hands them all to the driver.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use ringws_codec::{
    write_frame, ClientHandshake, ClientStatus, Event as WsEvent, OpCode, Receiver, ReceiverConfig,
    Role,
};

use crate::driver::{ConnectOptions, Driver, Event};

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
    /// The connection's token in its thread's driver.
    pub token: usize,
    handshake: Option<ClientHandshake>,
    receiver: Receiver,
    /// Frames queued and not yet handed to the driver.
    out: Vec<u8>,
    mask_state: u64,
    /// True once the server's 101 has been validated.
    pub open: bool,
    /// True once a close was received or the connection failed.
    pub closed: bool,
}

impl AsMut<Client> for Client {
    fn as_mut(&mut self) -> &mut Client {
        self
    }
}

impl Client {
    /// Starts connection `token` on `driver` (a nonblocking connect) and
    /// hands it the upgrade request.
    pub fn start(
        driver: &mut Driver,
        token: usize,
        addr: SocketAddr,
        host: &str,
        path: &str,
        seed: u64,
        opts: ConnectOptions,
    ) -> io::Result<Self> {
        let handshake = ClientHandshake::new(host, path);
        let mut out = Vec::with_capacity(256);
        handshake.write_request(&mut out);
        let config = ReceiverConfig {
            role: Role::Client,
            ..ReceiverConfig::default()
        };
        let mut client = Self {
            token,
            handshake: Some(handshake),
            receiver: Receiver::new(config),
            out,
            mask_state: seed | 1,
            open: false,
            closed: false,
        };
        driver.connect(token, addr, opts)?;
        client.flush(driver)?;
        Ok(client)
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

    /// Bytes queued and not yet handed to the driver.
    pub fn pending(&self) -> usize {
        self.out.len()
    }

    /// Hands what is queued to the driver (see [`Driver::flush`]).
    pub fn flush(&mut self, driver: &mut Driver) -> io::Result<bool> {
        driver.flush(self.token, &mut self.out)
    }

    /// Feeds bytes the driver received, handing each message to `on_msg`.
    /// Pings are answered (pongs are queued). Bytes after a close are ignored.
    pub fn on_bytes(
        &mut self,
        data: &mut [u8],
        mut on_msg: impl FnMut(Incoming<'_>),
    ) -> io::Result<()> {
        if self.closed {
            return Ok(());
        }
        let mut start = 0;
        if let Some(hs) = self.handshake.as_mut() {
            match hs
                .feed(data)
                .map_err(|e| io::Error::other(format!("handshake: {e}")))?
            {
                ClientStatus::Partial => return Ok(()),
                ClientStatus::Complete { consumed, .. } => {
                    self.handshake = None;
                    self.open = true;
                    start = consumed;
                }
            }
        }
        let mut pongs: Vec<Vec<u8>> = Vec::new();
        let mut feed = self.receiver.feed(&mut data[start..]);
        while let Some(ev) = feed.next_event() {
            match ev.map_err(|e| io::Error::other(format!("protocol: {e}")))? {
                WsEvent::Text(t) => on_msg(Incoming::Message(t.as_bytes())),
                WsEvent::Binary(b) => on_msg(Incoming::Message(b)),
                WsEvent::Ping(p) => pongs.push(p.to_vec()),
                WsEvent::Pong(p) => on_msg(Incoming::Pong(p)),
                // Never negotiated (the bench offers no extension), so the
                // receiver does not produce it; refuse rather than guess.
                WsEvent::Compressed { .. } => {
                    return Err(io::Error::other("compressed message without an extension"));
                }
                WsEvent::Close(c) => {
                    self.closed = true;
                    on_msg(Incoming::Close(c.map(|(code, _)| code.0)));
                    break;
                }
            }
        }
        drop(feed);
        for p in pongs {
            let mask = self.next_mask();
            write_frame(&mut self.out, true, OpCode::Pong, &p, Some(mask));
        }
        Ok(())
    }
}

/// One turn for connections that only need to open or close: waits up to
/// `timeout`, feeds received bytes to each client (messages are dropped),
/// marks failed or ended connections closed, and flushes what the clients
/// queued (requests, pongs, closes). `clients[token]` is connection `token`.
pub fn pump<C: AsMut<Client>>(
    driver: &mut Driver,
    timeout: Duration,
    clients: &mut [C],
    dirty: &mut Vec<usize>,
) -> io::Result<()> {
    driver.poll(Some(timeout), |ev| {
        let t = ev.token();
        let c = clients[t].as_mut();
        match ev {
            Event::Data(_, bytes) => {
                if c.on_bytes(bytes, |_| {}).is_err() {
                    c.closed = true;
                }
            }
            Event::Sent(_) => {}
            Event::Closed(..) => c.closed = true,
        }
        dirty.push(t);
    })?;
    for t in dirty.drain(..) {
        let c = clients[t].as_mut();
        if !c.closed && c.pending() > 0 && c.flush(driver).is_err() {
            c.closed = true;
        }
    }
    Ok(())
}
