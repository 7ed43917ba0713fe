//! TLS between the wire and the codec: rustls's unbuffered server
//! connection, driven by the bytes the reactor hands over.
//!
//! Inbound, records are deframed and decrypted by rustls **in the receive
//! buffer itself** (`process_tls_records` works on the caller's slice);
//! only a record cut at the end of a receive is copied, into `pending`,
//! which exists only until that record completes. rustls 0.23 then copies
//! each decrypted record into a `Vec` of its own (`ReadTraffic`; its
//! in-place iterator is still to come upstream), from which the plaintext
//! is gathered into the worker's scratch buffer for the codec to parse and
//! unmask in place: one copy of the plaintext per received byte, in a
//! buffer shared by the worker's connections.
//!
//! Outbound, the send queue holds plaintext frames as for plain TCP; at the
//! flush, [`TlsConn::seal`] encrypts what was queued since the last flush
//! straight into one new segment (`WriteTraffic::encrypt` writes records
//! into the caller's buffer, no rustls-side buffer), packing small frames
//! into full records (16 KiB), and puts it where the plaintext was. What
//! rustls itself has to send (handshake flights, session tickets, alerts)
//! goes in before any plaintext not yet sealed, so records leave in the
//! order rustls numbered them. Segments handed to a send are never touched
//! again until it completes (rustls#2114: records overwritten while the
//! kernel still read them).
//!
//! Idle, a connection holds the rustls state (keys, record layer) and
//! nothing else: no receive, plaintext or send buffer.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use bytes::Bytes;
use rustls::server::UnbufferedServerConnection;
use rustls::unbuffered::{ConnectionState, EncodeError, EncryptError, UnbufferedStatus};
use rustls::ServerConfig;

use super::send::SendQueue;

/// Largest plaintext of one TLS record.
const RECORD: usize = 16 << 10;
/// Largest record on the wire we wait for (TLS 1.2 allows 2^14 + 2048 of
/// ciphertext); a header announcing more is refused by rustls first.
const TLS_HEADER: usize = 5;
/// The most a connection keeps of records not complete yet (a handshake
/// message spread over several records is kept whole until rustls has
/// joined it; rustls bounds those at 64 KiB).
const PENDING_MAX: usize = (64 << 10) + 2 * (RECORD + 2048 + TLS_HEADER);

/// The server configuration new TLS connections are made from, replaced
/// as a whole on a reload (open connections keep the one they began with).
#[derive(Debug)]
pub(crate) struct TlsCurrent {
    config: RwLock<Arc<ServerConfig>>,
    /// Bumped on every replacement, so a worker re-reads the lock only then.
    generation: AtomicU64,
}

impl TlsCurrent {
    pub(crate) fn new(config: Arc<ServerConfig>) -> Self {
        Self {
            config: RwLock::new(config),
            generation: AtomicU64::new(0),
        }
    }

    /// The configuration for new handshakes from now on.
    pub(crate) fn replace(&self, config: Arc<ServerConfig>) {
        *self.config.write().unwrap_or_else(|p| p.into_inner()) = config;
        self.generation.fetch_add(1, Ordering::Release);
    }

    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub(crate) fn get(&self) -> Arc<ServerConfig> {
        self.config
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// A worker's view of [`TlsCurrent`]: the configuration it makes
/// connections from, refreshed when the generation moves.
pub(crate) struct TlsAcceptor {
    shared: Arc<TlsCurrent>,
    generation: u64,
    config: Arc<ServerConfig>,
}

impl TlsAcceptor {
    pub(crate) fn new(shared: Arc<TlsCurrent>) -> Self {
        let generation = shared.generation();
        let config = shared.get();
        Self {
            shared,
            generation,
            config,
        }
    }

    /// A server connection for a freshly accepted socket.
    pub(crate) fn accept(&mut self) -> Result<TlsConn, rustls::Error> {
        let g = self.shared.generation();
        if g != self.generation {
            self.config = self.shared.get();
            self.generation = g;
        }
        Ok(TlsConn {
            conn: UnbufferedServerConnection::new(self.config.clone())?,
            pending: Vec::new(),
            close_wanted: false,
            close_sent: false,
            failed: false,
            peer_closed: false,
        })
    }
}

/// One connection's TLS state (boxed in [`super::transport::Transport`]).
pub(crate) struct TlsConn {
    conn: UnbufferedServerConnection,
    /// Received bytes of records not complete yet; empty (no heap) while
    /// the connection is between records.
    pending: Vec<u8>,
    /// Send close_notify at the next seal (the connection is winding down).
    close_wanted: bool,
    close_sent: bool,
    /// rustls reported an error: nothing more is encrypted or decrypted.
    failed: bool,
    /// The peer sent close_notify: nothing more comes from it.
    peer_closed: bool,
}

impl TlsConn {
    /// The session's own size plus the partial record it holds.
    pub(crate) fn held_bytes(&self) -> usize {
        std::mem::size_of::<TlsConn>() + self.pending.capacity()
    }
}

/// What one call of [`TlsConn::read`] found besides plaintext.
#[derive(Debug, Default)]
pub(crate) struct Inbound {
    /// The peer sent close_notify (its end of the stream, cleanly).
    pub(crate) peer_closed: bool,
    /// The TLS session failed (bad record, handshake refused…); what rustls
    /// wants to send about it (an alert) is in the wire bytes.
    pub(crate) error: Option<rustls::Error>,
}

impl TlsConn {
    /// Bytes received from the wire: deframe and decrypt them (in place),
    /// gather the plaintext into `plain`, and append to `wire` what rustls
    /// must send in reply (handshake flights, alerts). A record cut at the
    /// end of `data` is kept for the next call.
    pub(crate) fn read(
        &mut self,
        data: &mut [u8],
        plain: &mut Vec<u8>,
        wire: &mut Vec<u8>,
    ) -> Inbound {
        let mut res = Inbound::default();
        if self.failed || self.peer_closed {
            return res;
        }
        let mut data = data;
        loop {
            if self.pending.is_empty() {
                // The common case: records decrypted where they arrived.
                let used = self.process(data, plain, wire, &mut res);
                if res.error.is_none() && !self.peer_closed && used < data.len() {
                    self.pending.extend_from_slice(&data[used..]);
                }
                break;
            }
            // Complete the kept record(s) with as few bytes as needed, then
            // go on in place.
            let need = incomplete_tail(&self.pending);
            let take = if need == 0 {
                data.len()
            } else {
                need.min(data.len())
            };
            self.pending.extend_from_slice(&data[..take]);
            data = &mut data[take..];
            let mut p = std::mem::take(&mut self.pending);
            let used = self.process(&mut p, plain, wire, &mut res);
            if res.error.is_some() || self.peer_closed {
                break;
            }
            p.drain(..used);
            if p.len() > PENDING_MAX {
                res.error = Some(rustls::Error::General("TLS records too large".into()));
                self.failed = true;
                break;
            }
            if !p.is_empty() {
                self.pending = p;
            }
            if data.is_empty() {
                break;
            }
        }
        if res.error.is_some() || self.peer_closed {
            self.pending = Vec::new();
        }
        res
    }

    /// Run rustls over `buf` until it needs more bytes; returns how many
    /// bytes of `buf` it is done with.
    fn process(
        &mut self,
        buf: &mut [u8],
        plain: &mut Vec<u8>,
        wire: &mut Vec<u8>,
        res: &mut Inbound,
    ) -> usize {
        let mut off = 0;
        // Each turn consumes a record or emits something; bounded anyway.
        for _ in 0..(buf.len() / TLS_HEADER + 64) {
            let UnbufferedStatus { discard, state } =
                self.conn.process_tls_records(&mut buf[off..]);
            let mut extra = 0;
            let go_on = match state {
                Ok(ConnectionState::ReadTraffic(mut r)) => {
                    while let Some(rec) = r.next_record() {
                        match rec {
                            Ok(rec) => {
                                extra += rec.discard;
                                plain.extend_from_slice(rec.payload);
                            }
                            Err(e) => {
                                res.error = Some(e);
                                break;
                            }
                        }
                    }
                    res.error.is_none()
                }
                Ok(ConnectionState::EncodeTlsData(mut e)) => {
                    encode(&mut e, wire);
                    true
                }
                Ok(ConnectionState::TransmitTlsData(t)) => {
                    // Queued in `wire`, sent with this turn's flush.
                    t.done();
                    true
                }
                Ok(ConnectionState::PeerClosed) => {
                    self.peer_closed = true;
                    res.peer_closed = true;
                    false
                }
                Ok(ConnectionState::BlockedHandshake)
                | Ok(ConnectionState::WriteTraffic(_))
                | Ok(ConnectionState::Closed) => false,
                Ok(ConnectionState::ReadEarlyData(_)) => {
                    // 0-RTT is not enabled; rustls never gets here.
                    res.error = Some(rustls::Error::General("early data".into()));
                    false
                }
                Ok(_) => false,
                Err(e) => {
                    res.error = Some(e);
                    false
                }
            };
            off += discard + extra;
            if res.error.is_some() {
                self.failed = true;
                self.flush_alerts(wire);
                return buf.len();
            }
            if !go_on {
                break;
            }
        }
        off
    }

    /// After an error: what rustls queued about it (an alert).
    fn flush_alerts(&mut self, wire: &mut Vec<u8>) {
        for _ in 0..8 {
            match self.conn.process_tls_records(&mut []).state {
                Ok(ConnectionState::EncodeTlsData(mut e)) => encode(&mut e, wire),
                Ok(ConnectionState::TransmitTlsData(t)) => t.done(),
                _ => return,
            }
        }
    }

    /// The connection is winding down: say close_notify after the last
    /// plaintext (at the next seal).
    pub(crate) fn want_close(&mut self) {
        self.close_wanted = true;
    }

    /// Encrypt the plaintext queued since the last seal into records, in
    /// its place in the queue; then close_notify if wanted. Returns `false`
    /// if plaintext is queued that cannot be encrypted (the session failed
    /// or is not established): the connection must be dropped, never the
    /// plaintext sent.
    pub(crate) fn seal(&mut self, queue: &mut SendQueue) -> bool {
        let plaintext = queue.has_unsealed();
        let close = self.close_wanted && !self.close_sent;
        if !plaintext && !close {
            return true;
        }
        if self.failed {
            // Only rustls's alert goes out after a failure.
            queue.take_unsealed(|_| {});
            return true;
        }
        if self.conn.is_handshaking() {
            return !plaintext;
        }
        for _ in 0..16 {
            let UnbufferedStatus { state, .. } = self.conn.process_tls_records(&mut []);
            match state {
                Ok(ConnectionState::EncodeTlsData(mut e)) => {
                    let mut wire = Vec::new();
                    encode(&mut e, &mut wire);
                    queue.push_wire(Bytes::from(wire));
                }
                Ok(ConnectionState::TransmitTlsData(t)) => t.done(),
                Ok(ConnectionState::WriteTraffic(mut wt)) => {
                    let mut out = Vec::with_capacity(queue.unsealed_len() + 256);
                    let mut ok = true;
                    if plaintext {
                        let mut packer = Packer {
                            acc: Vec::new(),
                            out: &mut out,
                            ok: true,
                        };
                        queue.take_unsealed(|chunk| packer.put(&mut wt, chunk));
                        packer.finish(&mut wt);
                        ok = packer.ok;
                    }
                    if ok && close {
                        ok = encrypt_with(&mut out, estimate(0), |o| wt.queue_close_notify(o));
                        self.close_sent = true;
                    }
                    queue.push_wire(Bytes::from(out));
                    if !ok {
                        self.failed = true;
                    }
                    return ok;
                }
                _ => break,
            }
        }
        !queue.has_unsealed()
    }
}

/// Gathers plaintext chunks into full records: a chunk of a record or more
/// is encrypted where it lies; smaller ones are packed together first.
struct Packer<'a> {
    acc: Vec<u8>,
    out: &'a mut Vec<u8>,
    ok: bool,
}

impl Packer<'_> {
    fn put<D>(&mut self, wt: &mut rustls::unbuffered::WriteTraffic<'_, D>, mut chunk: &[u8]) {
        while !chunk.is_empty() && self.ok {
            if self.acc.is_empty() && chunk.len() >= RECORD {
                let n = chunk.len() - chunk.len() % RECORD;
                let (now, rest) = chunk.split_at(n);
                self.ok = encrypt_with(self.out, estimate(n), |o| wt.encrypt(now, o));
                chunk = rest;
                continue;
            }
            if self.acc.capacity() == 0 {
                self.acc.reserve(RECORD.min(chunk.len().max(1024)));
            }
            let n = (RECORD - self.acc.len()).min(chunk.len());
            self.acc.extend_from_slice(&chunk[..n]);
            chunk = &chunk[n..];
            if self.acc.len() == RECORD {
                self.flush(wt);
            }
        }
    }

    fn flush<D>(&mut self, wt: &mut rustls::unbuffered::WriteTraffic<'_, D>) {
        if !self.acc.is_empty() && self.ok {
            let acc = &self.acc;
            self.ok = encrypt_with(self.out, estimate(acc.len()), |o| wt.encrypt(acc, o));
        }
        self.acc.clear();
    }

    fn finish<D>(&mut self, wt: &mut rustls::unbuffered::WriteTraffic<'_, D>) {
        self.flush(wt);
    }
}

/// Run an encryption into the end of `out`, growing it to what rustls
/// says it needs (rustls#1880: the size is checked up front, including
/// what rustls has queued itself, and nothing is written when too small).
fn encrypt_with(
    out: &mut Vec<u8>,
    estimate: usize,
    mut f: impl FnMut(&mut [u8]) -> Result<usize, EncryptError>,
) -> bool {
    let start = out.len();
    let mut room = estimate;
    for _ in 0..2 {
        out.resize(start + room, 0);
        match f(&mut out[start..]) {
            Ok(n) => {
                out.truncate(start + n);
                return true;
            }
            Err(EncryptError::InsufficientSize(e)) => room = e.required_size,
            Err(e) => {
                tracing::debug!(error = %e, "TLS encryption failed");
                out.truncate(start);
                return false;
            }
        }
    }
    out.truncate(start);
    false
}

/// Room for `n` bytes of plaintext once encrypted: the records' headers,
/// tags and nonces, and a little for what rustls may put first (a key
/// update). Short of it, rustls says exactly how much it needs.
fn estimate(n: usize) -> usize {
    n + (n / RECORD + 1) * 48 + 128
}

/// Append a record rustls wants sent to `wire`.
fn encode<D>(e: &mut rustls::unbuffered::EncodeTlsData<'_, D>, wire: &mut Vec<u8>) {
    let start = wire.len();
    let mut room = 4096;
    for _ in 0..2 {
        wire.resize(start + room, 0);
        match e.encode(&mut wire[start..]) {
            Ok(n) => {
                wire.truncate(start + n);
                return;
            }
            Err(EncodeError::InsufficientSize(s)) => room = s.required_size,
            Err(EncodeError::AlreadyEncoded) => break,
        }
    }
    wire.truncate(start);
}

/// How many more bytes complete the last record in `buf` (records from
/// its start); 0 if `buf` ends on a record boundary.
fn incomplete_tail(buf: &[u8]) -> usize {
    let mut at = 0;
    loop {
        let rest = &buf[at..];
        if rest.is_empty() {
            return 0;
        }
        if rest.len() < TLS_HEADER {
            return TLS_HEADER - rest.len();
        }
        let len = TLS_HEADER + u16::from_be_bytes([rest[3], rest[4]]) as usize;
        if rest.len() < len {
            return len - rest.len();
        }
        at += len;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_record_is_completed_with_just_the_bytes_it_lacks() {
        assert_eq!(incomplete_tail(b""), 0);
        assert_eq!(incomplete_tail(b"\x17\x03"), 3);
        assert_eq!(incomplete_tail(b"\x17\x03\x03\x00\x04ab"), 2);
        assert_eq!(incomplete_tail(b"\x17\x03\x03\x00\x02ab"), 0);
        assert_eq!(incomplete_tail(b"\x17\x03\x03\x00\x02ab\x17"), 4);
    }
}
