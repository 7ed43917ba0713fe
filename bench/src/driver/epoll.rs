//! The epoll backend: mio readiness, then `read`/`write` on nonblocking sockets.
//!
//! Reads go into one thread-wide buffer and are handed out as
//! [`Event::Data`] until the socket would block (mio is edge-triggered, so a
//! readable socket must be drained). Writes go straight from the
//! connection's send buffer; what the socket does not take waits for the
//! next writable edge.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::time::Duration;

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

use super::{sys, ConnectOptions, Event};

struct Conn {
    stream: TcpStream,
    /// Bytes taken from the client; `out[pos..]` is not written yet.
    out: Vec<u8>,
    pos: usize,
    /// `Closed` was reported: no more events.
    done: bool,
}

impl Conn {
    /// Writes `out[pos..]` until done or the socket would block; true when done.
    fn write_pending(&mut self) -> io::Result<bool> {
        while self.pos < self.out.len() {
            match self.stream.write(&self.out[self.pos..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.pos += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }
}

/// A mio `Poll` and the connections registered with it, by token.
pub struct MioDriver {
    poll: Poll,
    events: Events,
    conns: Vec<Option<Conn>>,
    /// The thread's read buffer.
    buf: Vec<u8>,
}

impl MioDriver {
    /// A poller for about `connections` connections.
    pub fn new(connections: usize) -> io::Result<Self> {
        Ok(Self {
            poll: Poll::new()?,
            events: Events::with_capacity(1024),
            conns: Vec::with_capacity(connections),
            buf: vec![0; 256 * 1024],
        })
    }

    pub(super) fn connect(
        &mut self,
        token: usize,
        addr: SocketAddr,
        opts: ConnectOptions,
    ) -> io::Result<()> {
        let mut stream = TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        if opts.linger_zero {
            sys::set_linger_zero(stream.as_raw_fd())?;
        }
        self.close(token);
        self.poll.registry().register(
            &mut stream,
            Token(token),
            Interest::READABLE | Interest::WRITABLE,
        )?;
        if self.conns.len() <= token {
            self.conns.resize_with(token + 1, || None);
        }
        self.conns[token] = Some(Conn {
            stream,
            out: Vec::new(),
            pos: 0,
            done: false,
        });
        Ok(())
    }

    pub(super) fn flush(&mut self, token: usize, out: &mut Vec<u8>) -> io::Result<bool> {
        let Some(c) = self.conns.get_mut(token).and_then(Option::as_mut) else {
            return Err(io::ErrorKind::NotConnected.into());
        };
        loop {
            if !c.write_pending()? {
                return Ok(false);
            }
            c.out.clear();
            c.pos = 0;
            if out.is_empty() {
                return Ok(true);
            }
            std::mem::swap(out, &mut c.out);
        }
    }

    pub(super) fn close(&mut self, token: usize) {
        if let Some(mut c) = self.conns.get_mut(token).and_then(Option::take) {
            let _ = self.poll.registry().deregister(&mut c.stream);
        }
    }

    pub(super) fn poll(
        &mut self,
        timeout: Option<Duration>,
        mut f: impl FnMut(Event<'_>),
    ) -> io::Result<()> {
        match self.poll.poll(&mut self.events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(()),
            Err(e) => return Err(e),
        }
        for ev in self.events.iter() {
            let token = ev.token().0;
            let Some(c) = self.conns.get_mut(token).and_then(Option::as_mut) else {
                continue;
            };
            if c.done {
                continue;
            }
            if ev.is_writable() {
                match c.write_pending() {
                    Ok(true) => f(Event::Sent(token)),
                    Ok(false) => {}
                    Err(e) => {
                        c.done = true;
                        f(Event::Closed(token, Some(e)));
                        continue;
                    }
                }
            }
            if ev.is_readable() || ev.is_read_closed() || ev.is_error() {
                loop {
                    match c.stream.read(&mut self.buf) {
                        Ok(0) => {
                            c.done = true;
                            f(Event::Closed(token, None));
                            break;
                        }
                        Ok(n) => f(Event::Data(token, &mut self.buf[..n])),
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => {
                            c.done = true;
                            f(Event::Closed(token, Some(e)));
                            break;
                        }
                    }
                }
            }
        }
        Ok(())
    }
}
