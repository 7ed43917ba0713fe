//! [`Broker`] over one Redis connection speaking RESP3.
//!
//! RESP3 lets one connection both hold subscriptions and send `PUBLISH`:
//! messages arrive as push frames (`>3 message CHANNEL PAYLOAD`), replies to
//! commands as ordinary frames in command order. So the bridge needs one
//! socket, and its thread can sleep in one `ppoll` on that socket and the
//! wake-up eventfd.
//!
//! The socket is non-blocking after the handshake. The `redis` crate does
//! the URL parsing, command encoding and RESP3 parsing (its [`Parser`] keeps
//! a partial frame across `WouldBlock`); this file does the socket.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

use redis::{ConnectionAddr, IntoConnectionInfo, Parser, PushKind, Value};

use crate::broker::{Broker, Turn};
use crate::wake::{pollfd, wait};

/// Settings of a [`RedisBroker`].
#[derive(Clone, Debug)]
pub struct RedisOptions {
    /// Limit for one connection attempt, and for the handshake's replies.
    pub connect_timeout: Duration,
    /// A connection with writes or replies outstanding that makes no progress
    /// for this long is treated as lost. An idle connection is probed with
    /// `PING` after half of it, so a vanished server is noticed too.
    pub stall_timeout: Duration,
    /// Bytes of encoded commands buffered for the socket at most (beyond one
    /// command, which always fits an empty buffer). Past it,
    /// [`Broker::publish`] answers `Ok(false)`.
    pub max_buffered: usize,
    /// Largest message accepted from Redis. A larger frame drops the
    /// connection (it cannot be skipped without reading it into memory).
    pub max_message: usize,
    /// `CLIENT SETNAME` sent in the handshake (shows in `CLIENT LIST`).
    pub client_name: Option<String>,
}

impl Default for RedisOptions {
    fn default() -> Self {
        RedisOptions {
            connect_timeout: Duration::from_secs(1),
            stall_timeout: Duration::from_secs(10),
            max_buffered: 4 << 20,
            max_message: 16 << 20,
            client_name: None,
        }
    }
}

/// A reply the connection waits for, in order.
#[derive(Debug)]
enum Expect {
    /// This many `PUBLISH` replies (integers: the receivers' count).
    Publishes(u64),
    /// One `PONG`.
    Ping,
}

/// One live connection.
struct Conn {
    stream: TcpStream,
    parser: Parser,
    /// Encoded commands; `out[sent..]` is still to be written.
    out: Vec<u8>,
    sent: usize,
    /// Replies due, oldest first (publishes coalesced into runs).
    expect: VecDeque<Expect>,
    /// Bytes read since the last complete frame (bounds one frame's size).
    reading: usize,
    /// Last time bytes moved either way, or work was queued on an idle
    /// connection.
    progress: Instant,
}

impl Conn {
    fn unsent(&self) -> usize {
        self.out.len() - self.sent
    }

    fn publishes_due(&self) -> u64 {
        self.expect
            .iter()
            .map(|e| match e {
                Expect::Publishes(n) => *n,
                Expect::Ping => 0,
            })
            .sum()
    }

    fn busy(&self) -> bool {
        self.unsent() > 0 || !self.expect.is_empty()
    }

    /// Marks the start of work on an idle connection, so the stall clock
    /// does not count the idle time before it.
    fn start_work(&mut self) {
        if !self.busy() {
            self.progress = Instant::now();
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        while self.sent < self.out.len() {
            match (&self.stream).write(&self.out[self.sent..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.sent += n;
                    self.progress = Instant::now();
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if self.sent == self.out.len() {
            self.out.clear();
            self.sent = 0;
        } else if self.sent >= 64 << 10 {
            self.out.drain(..self.sent);
            self.sent = 0;
        }
        Ok(())
    }
}

/// Reads from the socket, counting bytes toward the one-frame limit.
struct Counted<'a> {
    stream: &'a TcpStream,
    count: &'a mut usize,
    limit: usize,
}

impl Read for Counted<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if *self.count > self.limit {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("a frame from Redis exceeds {} bytes", self.limit),
            ));
        }
        let n = self.stream.read(buf)?;
        *self.count += n;
        Ok(n)
    }
}

/// [`Broker`] for Redis 6 or newer (RESP3), over TCP.
///
/// Pub/sub channels are global in Redis, not per database, so a `/DB` in
/// the URL changes nothing here. A password (and user) in the URL is sent
/// with `HELLO 3 AUTH`. TLS (`rediss://`) and Unix sockets are not
/// supported yet.
pub struct RedisBroker {
    host: String,
    port: u16,
    username: Option<String>,
    password: Option<String>,
    options: RedisOptions,
    conn: Option<Conn>,
}

impl std::fmt::Debug for RedisBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBroker")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("connected", &self.conn.is_some())
            .finish_non_exhaustive()
    }
}

impl RedisBroker {
    /// A broker for `url` (`redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]`);
    /// does not connect yet. Fails on a URL that is not a TCP `redis://` one.
    pub fn new(url: &str, options: RedisOptions) -> io::Result<RedisBroker> {
        let info = url
            .into_connection_info()
            .map_err(|e| invalid(format!("bad Redis URL {url:?}: {e}")))?;
        let (host, port) = match info.addr {
            ConnectionAddr::Tcp(host, port) => (host, port),
            other => {
                return Err(invalid(format!(
                    "Redis address {other} is not supported (only redis://HOST:PORT over TCP)"
                )))
            }
        };
        Ok(RedisBroker {
            host,
            port,
            username: info.redis.username,
            password: info.redis.password,
            options,
            conn: None,
        })
    }

    /// Where this broker connects.
    pub fn addr(&self) -> (&str, u16) {
        (&self.host, self.port)
    }

    fn open(&self) -> io::Result<Conn> {
        let timeout = self.options.connect_timeout;
        let mut last = io::Error::new(io::ErrorKind::NotFound, "host resolved to no address");
        let mut stream = None;
        for addr in (self.host.as_str(), self.port).to_socket_addrs()? {
            match TcpStream::connect_timeout(&addr, timeout) {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e) => last = e,
            }
        }
        let stream = stream.ok_or(last)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;

        let mut hello = redis::cmd("HELLO");
        hello.arg(3);
        if let Some(password) = &self.password {
            hello
                .arg("AUTH")
                .arg(self.username.as_deref().unwrap_or("default"))
                .arg(password);
        }
        if let Some(name) = &self.options.client_name {
            hello.arg("SETNAME").arg(name);
        }
        (&stream).write_all(&hello.get_packed_command())?;
        let mut parser = Parser::new();
        match parser.parse_value(&stream) {
            Ok(Value::ServerError(e)) => {
                return Err(io::Error::other(format!(
                    "Redis refused HELLO 3 ({e:?}): the bridge needs Redis 6 or newer \
                     (RESP3), and the password in the URL if the server requires one"
                )))
            }
            Ok(_) => {}
            Err(e) => return Err(redis_io(e)),
        }
        stream.set_read_timeout(None)?;
        stream.set_write_timeout(None)?;
        stream.set_nonblocking(true)?;
        Ok(Conn {
            stream,
            parser,
            out: Vec::new(),
            sent: 0,
            expect: VecDeque::new(),
            reading: 0,
            progress: Instant::now(),
        })
    }

    fn conn(&mut self) -> io::Result<&mut Conn> {
        self.conn
            .as_mut()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "not connected to Redis"))
    }

    /// Parses buffered and readable frames until the socket would block or
    /// `budget` messages were handed out. Returns whether it stopped on the
    /// budget.
    fn read_frames(
        &mut self,
        budget: usize,
        turn: &mut Turn,
        on_message: &mut dyn FnMut(&str, &[u8]),
    ) -> io::Result<bool> {
        let limit = self.options.max_message.saturating_add(64 << 10);
        let conn = self.conn()?;
        loop {
            if turn.messages as usize >= budget {
                return Ok(true);
            }
            let frame = {
                let reader = Counted {
                    stream: &conn.stream,
                    count: &mut conn.reading,
                    limit,
                };
                conn.parser.parse_value(reader)
            };
            let value = match frame {
                Ok(value) => value,
                Err(e) if e.is_timeout() => return Ok(false),
                Err(e) => return Err(redis_io(e)),
            };
            conn.reading = 0;
            conn.progress = Instant::now();
            match value {
                Value::Push {
                    kind: PushKind::Message,
                    data,
                } => {
                    if let [Value::BulkString(channel), Value::BulkString(payload)] = &data[..] {
                        // Only str topics are subscribed, so a channel that is
                        // not UTF-8 is not ours.
                        if let Ok(topic) = std::str::from_utf8(channel) {
                            turn.messages += 1;
                            on_message(topic, payload);
                        }
                    }
                }
                // Subscription confirmations and other pushes need no answer.
                Value::Push { .. } => {}
                reply => {
                    let failed = matches!(reply, Value::ServerError(_));
                    match conn.expect.front_mut() {
                        Some(Expect::Publishes(n)) => {
                            if failed {
                                turn.rejected += 1;
                            } else {
                                turn.confirmed += 1;
                            }
                            *n -= 1;
                            if *n == 0 {
                                conn.expect.pop_front();
                            }
                        }
                        Some(Expect::Ping) => {
                            conn.expect.pop_front();
                        }
                        None => {
                            tracing::debug!(?reply, "unexpected reply from Redis");
                        }
                    }
                    if failed {
                        tracing::warn!(?reply, "Redis answered a command with an error");
                    }
                }
            }
        }
    }
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

fn redis_io(e: redis::RedisError) -> io::Error {
    let kind = if e.is_connection_dropped() {
        io::ErrorKind::ConnectionReset
    } else if e.is_timeout() {
        io::ErrorKind::TimedOut
    } else {
        io::ErrorKind::InvalidData
    };
    io::Error::new(kind, e.to_string())
}

/// Appends `PUBLISH topic message` in RESP (what `redis::cmd` would write,
/// without building a `Cmd` per message on the hot path).
fn write_publish(out: &mut Vec<u8>, topic: &str, message: &[u8]) {
    out.reserve(40 + topic.len() + message.len());
    let _ = write!(out, "*3\r\n$7\r\nPUBLISH\r\n${}\r\n", topic.len());
    out.extend_from_slice(topic.as_bytes());
    let _ = write!(out, "\r\n${}\r\n", message.len());
    out.extend_from_slice(message);
    out.extend_from_slice(b"\r\n");
}

impl Broker for RedisBroker {
    fn connect(&mut self) -> io::Result<()> {
        self.disconnect();
        self.conn = Some(self.open()?);
        Ok(())
    }

    fn disconnect(&mut self) -> u64 {
        match self.conn.take() {
            Some(conn) => {
                let _ = conn.stream.shutdown(std::net::Shutdown::Both);
                conn.publishes_due()
            }
            None => 0,
        }
    }

    fn subscribe(&mut self, topics: &[&str]) -> io::Result<()> {
        if topics.is_empty() {
            return Ok(());
        }
        let conn = self.conn()?;
        conn.start_work();
        redis::cmd("SUBSCRIBE")
            .arg(topics)
            .write_packed_command(&mut conn.out);
        Ok(())
    }

    fn unsubscribe(&mut self, topics: &[&str]) -> io::Result<()> {
        if topics.is_empty() {
            return Ok(());
        }
        let conn = self.conn()?;
        conn.start_work();
        redis::cmd("UNSUBSCRIBE")
            .arg(topics)
            .write_packed_command(&mut conn.out);
        Ok(())
    }

    fn publish(&mut self, topic: &str, message: &[u8]) -> io::Result<bool> {
        let max = self.options.max_buffered;
        let conn = self.conn()?;
        let unsent = conn.unsent();
        if unsent > 0 && unsent + message.len() + topic.len() > max {
            conn.flush()?;
            let unsent = conn.unsent();
            if unsent > 0 && unsent + message.len() + topic.len() > max {
                return Ok(false);
            }
        }
        conn.start_work();
        write_publish(&mut conn.out, topic, message);
        match conn.expect.back_mut() {
            Some(Expect::Publishes(n)) => *n += 1,
            _ => conn.expect.push_back(Expect::Publishes(1)),
        }
        // Keep the pipe moving under a long burst.
        if conn.unsent() >= 256 << 10 {
            conn.flush()?;
        }
        Ok(true)
    }

    fn poll(
        &mut self,
        timeout: Duration,
        wake: BorrowedFd<'_>,
        budget: usize,
        on_message: &mut dyn FnMut(&str, &[u8]),
    ) -> io::Result<Turn> {
        let mut turn = Turn::default();
        let stall = self.options.stall_timeout;
        {
            let conn = self.conn()?;
            conn.flush()?;
            // An idle connection gets a PING, so a server that vanished
            // without a FIN is noticed within the stall timeout.
            if !conn.busy() && conn.progress.elapsed() >= stall / 2 {
                conn.progress = Instant::now();
                conn.out.extend_from_slice(b"*1\r\n$4\r\nPING\r\n");
                conn.expect.push_back(Expect::Ping);
                conn.flush()?;
            }
        }
        if self.read_frames(budget, &mut turn, on_message)? {
            return Ok(turn);
        }
        if turn == Turn::default() && !timeout.is_zero() {
            let conn = self.conn()?;
            let mut events = libc::POLLIN;
            if conn.unsent() > 0 {
                events |= libc::POLLOUT;
            }
            // Wake up in time for the PING or the stall check.
            let deadline = if conn.busy() { stall } else { stall / 2 };
            let left = deadline.saturating_sub(conn.progress.elapsed());
            let mut fds = [
                pollfd(conn.stream.as_fd(), events),
                pollfd(wake, libc::POLLIN),
            ];
            wait(&mut fds, timeout.min(left.max(Duration::from_millis(1))))?;
            conn.flush()?;
            self.read_frames(budget, &mut turn, on_message)?;
        }
        let conn = self.conn()?;
        if conn.busy() && conn.progress.elapsed() > stall {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("Redis made no progress for {stall:?}"),
            ));
        }
        Ok(turn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_encoding_matches_the_redis_crate() {
        for (topic, message) in [("t", &b""[..]), ("room:1", &b"hello\r\nworld"[..])] {
            let mut ours = Vec::new();
            write_publish(&mut ours, topic, message);
            let theirs = redis::cmd("PUBLISH")
                .arg(topic)
                .arg(message)
                .get_packed_command();
            assert_eq!(ours, theirs);
        }
    }

    #[test]
    fn urls() {
        let b = RedisBroker::new("redis://127.0.0.1:6390/2", RedisOptions::default()).unwrap();
        assert_eq!(b.addr(), ("127.0.0.1", 6390));
        let b = RedisBroker::new("redis://:pw@localhost", RedisOptions::default()).unwrap();
        assert_eq!(b.addr(), ("localhost", 6379));
        assert_eq!(b.password.as_deref(), Some("pw"));
        for bad in ["", "http://x", "redis+unix:///tmp/r.sock"] {
            let err = RedisBroker::new(bad, RedisOptions::default()).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{bad:?}: {err}");
        }
    }
}
