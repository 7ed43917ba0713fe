//! Plays one case against a server: a writer (the calling thread, following
//! the script) and a reader thread (parsing server frames, answering pings
//! and closes), sharing one state under a mutex.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use crate::case::{Chop, Event, Script, Step};
use crate::frame::{op, parse_server_frame, Frame};
use crate::handshake::{connect, Target};
use crate::verdict::Observed;

/// Everything recorded while a case ran.
#[derive(Debug, Clone, Default)]
pub struct Trace {
    /// What the verdict rules look at.
    pub observed: Observed,
    /// Milliseconds after the script started at which each event arrived.
    pub event_ms: Vec<f64>,
    /// Reason from the server's close frame (lossy UTF-8).
    pub close_reason: String,
    /// Who ended the connection first: "client", "server" or "nobody".
    pub closed_by: &'static str,
    /// The server closed (or reset) the TCP connection.
    pub server_closed_tcp: bool,
    /// Handshake time in ms (None if it failed).
    pub handshake_ms: Option<f64>,
    /// Milliseconds from the script's start until the events first matched an
    /// expected sequence (the echo time chapter 9 reports).
    pub matched_ms: Option<f64>,
    /// Milliseconds the whole case took.
    pub duration_ms: f64,
    /// Anything unusual: handshake or write errors, server protocol violations.
    pub notes: Vec<String>,
}

#[derive(Default)]
struct State {
    events: Vec<Event>,
    event_at: Vec<Instant>,
    /// We have sent a close frame.
    close_sent: bool,
    /// Close code/reason from the server's close frame.
    close_received: Option<(Option<u16>, Vec<u8>)>,
    /// First to close: Some(true) us, Some(false) the server.
    closed_by_me: Option<bool>,
    /// The server's side of the TCP connection ended.
    eof: bool,
    /// The client is dropping the connection at the deadline: the reader's
    /// EOF that follows is ours, not the server's.
    dropping: bool,
    notes: Vec<String>,
}

impl State {
    fn server_gone(&self) -> bool {
        self.close_received.is_some() || self.eof
    }
}

struct Conn {
    state: Mutex<State>,
    changed: Condvar,
    writer: Mutex<TcpStream>,
}

impl Conn {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
    fn note(&self, n: String) {
        self.lock().notes.push(n);
        self.changed.notify_all();
    }
    fn write(&self, bytes: &[u8]) -> std::io::Result<()> {
        let mut w = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        w.write_all(bytes)
    }
    /// Waits until `done` holds or the deadline passes; returns whether it held.
    fn wait_until(&self, deadline: Instant, mut done: impl FnMut(&State) -> bool) -> bool {
        let mut st = self.lock();
        loop {
            if done(&st) {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            st = self
                .changed
                .wait_timeout(st, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }
    /// Sends our close frame unless one went out already.
    fn send_close(&self, code: u16) {
        {
            let mut st = self.lock();
            if st.close_sent {
                return;
            }
            st.close_sent = true;
            st.closed_by_me.get_or_insert(true);
        }
        if let Err(e) = self.write(&Frame::close(Some(code), b"").to_bytes()) {
            self.note(format!("writing close failed: {e}"));
        }
    }
}

/// Runs `script` against `target`; `timeout` bounds each wait (connect,
/// handshake, waiting for echoes, waiting for the close).
pub fn run_script(target: &Target, script: &Script, timeout: Duration) -> Trace {
    let started = Instant::now();
    let mut trace = Trace {
        closed_by: "nobody",
        ..Trace::default()
    };
    let offer = script.expect.extension_offer.as_deref();
    let headers: Vec<(&str, &str)> = offer
        .map(|o| vec![("Sec-WebSocket-Extensions", o)])
        .unwrap_or_default();
    let (stream, resp) = match connect(target, timeout, &headers) {
        Ok(ok) => ok,
        Err(e) => {
            trace.notes.push(format!("handshake failed: {e}"));
            trace.observed.dropped_by_me = true;
            trace.duration_ms = ms(started.elapsed());
            return trace;
        }
    };
    trace.handshake_ms = Some(ms(started.elapsed()));
    if let Some(offer) = offer {
        // The extension's name is the offer up to the first parameter.
        let name = offer.split(';').next().unwrap_or("").trim();
        let accepted = resp.header("sec-websocket-extensions").is_some_and(|v| {
            v.split(',')
                .any(|e| e.split(';').next().unwrap_or("").trim() == name)
        });
        if !accepted {
            trace.observed.extension_declined = true;
            let _ = stream.shutdown(Shutdown::Both);
            trace.duration_ms = ms(started.elapsed());
            return trace;
        }
    }
    // A server that stops reading must not hang the runner.
    let _ = stream.set_write_timeout(Some(timeout));
    let reader_stream = match stream.try_clone() {
        Ok(s) => s,
        Err(e) => {
            trace.notes.push(format!("clone socket: {e}"));
            return trace;
        }
    };
    let conn = Arc::new(Conn {
        state: Mutex::new(State::default()),
        changed: Condvar::new(),
        writer: Mutex::new(stream),
    });
    let script_start = Instant::now();
    let reader = {
        let conn = Arc::clone(&conn);
        let leftover = resp.leftover;
        let deflate = offer.is_some();
        thread::spawn(move || read_loop(&conn, reader_stream, leftover, deflate))
    };

    play(&conn, script, timeout);

    // Finish as Autobahn does: when we are to close, do it once the events
    // match an expectation; then wait for the server to end the connection.
    let deadline = Instant::now() + timeout;
    let expect = &script.expect;
    if expect.close.closed_by_me {
        let matched = conn.wait_until(deadline, |st| {
            st.server_gone() || expect.outcomes.iter().any(|(_, ev)| *ev == st.events)
        });
        let gone = conn.lock().server_gone();
        if matched && !gone {
            conn.send_close(expect.close.codes.first().copied().unwrap_or(1000));
        }
    }
    let finished = conn.wait_until(deadline, |st| st.eof);
    if !finished {
        trace.observed.dropped_by_me = true;
        conn.lock().dropping = true;
    }
    if let Ok(w) = conn.writer.lock() {
        let _ = w.shutdown(Shutdown::Both);
    }
    let _ = reader.join();

    let st = conn.lock();
    trace.observed.events = st.events.clone();
    trace.event_ms = st
        .event_at
        .iter()
        .map(|t| ms(t.saturating_duration_since(script_start)))
        .collect();
    trace.observed.closed_by_me = st.closed_by_me == Some(true);
    trace.observed.server_sent_close = st.close_received.is_some();
    trace.observed.close_code = st.close_received.as_ref().and_then(|(c, _)| *c);
    trace.observed.clean = st.close_sent && st.close_received.is_some();
    trace.close_reason = st
        .close_received
        .as_ref()
        .map(|(_, r)| String::from_utf8_lossy(r).into_owned())
        .unwrap_or_default();
    trace.closed_by = match st.closed_by_me {
        Some(true) => "client",
        Some(false) => "server",
        None => "nobody",
    };
    trace.server_closed_tcp = st.eof && !trace.observed.dropped_by_me;
    trace.notes.extend(st.notes.iter().cloned());
    // The first prefix of events equal to an expectation gives the echo time.
    trace.matched_ms = (0..=st.events.len()).find_map(|n| {
        expect
            .outcomes
            .iter()
            .any(|(_, ev)| !ev.is_empty() && ev[..] == st.events[..n])
            .then(|| trace.event_ms.get(n.wrapping_sub(1)).copied())
            .flatten()
    });
    trace.duration_ms = ms(started.elapsed());
    trace
}

/// Executes the steps until they end or the server goes away.
fn play(conn: &Conn, script: &Script, timeout: Duration) {
    for step in &script.steps {
        if conn.lock().server_gone() {
            return;
        }
        match step {
            Step::Send {
                bytes,
                chop,
                closes,
            } => {
                if *closes {
                    let mut st = conn.lock();
                    st.close_sent = true;
                    st.closed_by_me.get_or_insert(true);
                }
                let result = match chop {
                    Chop::Whole => conn.write(bytes),
                    Chop::Every { size, delay } => {
                        let mut r = Ok(());
                        for (i, piece) in bytes.chunks((*size).max(1)).enumerate() {
                            if i > 0 && !delay.is_zero() {
                                thread::sleep(*delay);
                            }
                            r = conn.write(piece);
                            if r.is_err() {
                                break;
                            }
                        }
                        r
                    }
                };
                if let Err(e) = result {
                    conn.note(format!("write failed: {e}"));
                    return;
                }
            }
            Step::Pause(d) => thread::sleep(*d),
            Step::Marker(name) => {
                let mut st = conn.lock();
                if !st.server_gone() {
                    st.events.push(Event::Timeout(name.clone()));
                    st.event_at.push(Instant::now());
                }
            }
            Step::RoundTrips { frame, count } => {
                for _ in 0..*count {
                    let before = conn.lock().events.len();
                    if let Err(e) = conn.write(&frame.to_bytes()) {
                        conn.note(format!("write failed: {e}"));
                        return;
                    }
                    let deadline = Instant::now() + timeout;
                    if !conn.wait_until(deadline, |st| st.events.len() > before || st.server_gone())
                    {
                        conn.note("round trip timed out".into());
                        return;
                    }
                }
            }
        }
    }
}

/// Reads and handles server frames until EOF or the socket is shut down.
fn read_loop(conn: &Conn, mut stream: TcpStream, mut buf: Vec<u8>, deflate: bool) {
    let mut partial: Option<(bool, Vec<u8>)> = None;
    // permessage-deflate accepted: one inflater for the connection (window
    // 15 reads any window; kept across messages, which is right whether or
    // not the server takes its context over).
    let mut inflater = deflate.then(|| flate2::Decompress::new_with_window_bits(false, 15));
    // The message in progress started with RSV1, and its kind.
    let mut compressed = false;
    let mut binary_of: Option<bool> = None;
    let mut chunk = vec![0u8; 256 * 1024];
    loop {
        loop {
            match parse_server_frame(&buf) {
                Ok(Some((frame, used))) => {
                    buf.drain(..used);
                    if frame.masked {
                        conn.note("server sent a masked frame".into());
                    }
                    let data_start = matches!(frame.opcode, op::TEXT | op::BINARY);
                    if data_start {
                        compressed = inflater.is_some() && frame.rsv == 4;
                    }
                    let allowed = if data_start && compressed { 4 } else { 0 };
                    if frame.rsv != allowed {
                        conn.note(format!("server frame with RSV bits {:#x}", frame.rsv));
                    }
                    let is_data = data_start || frame.opcode == op::CONT;
                    let mut payload = frame.payload;
                    if is_data && compressed && frame.fin {
                        // The whole message is collected by handle_frame;
                        // inflate it once its last frame is in.
                        let mut whole = match partial.take() {
                            Some((_, mut data)) => {
                                data.extend_from_slice(&payload);
                                data
                            }
                            None => payload,
                        };
                        whole.extend_from_slice(&[0, 0, 0xff, 0xff]);
                        match inflate(inflater.as_mut().expect("deflate"), &whole) {
                            Ok(p) => payload = p,
                            Err(e) => {
                                conn.note(format!("server sent bad compressed data: {e}"));
                                payload = Vec::new();
                            }
                        }
                        let binary = if data_start {
                            frame.opcode == op::BINARY
                        } else {
                            binary_of.unwrap_or(false)
                        };
                        handle_frame(
                            conn,
                            true,
                            if binary { op::BINARY } else { op::TEXT },
                            payload,
                            &mut None,
                        );
                        compressed = false;
                        binary_of = None;
                        continue;
                    }
                    if data_start {
                        binary_of = Some(frame.opcode == op::BINARY);
                    }
                    handle_frame(conn, frame.fin, frame.opcode, payload, &mut partial);
                }
                Ok(None) => break,
                Err(e) => {
                    conn.note(e);
                    return finish(conn);
                }
            }
        }
        match stream.read(&mut chunk) {
            Ok(0) => return finish(conn),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                // Reset by the server counts as the server ending the connection.
                if e.kind() == std::io::ErrorKind::ConnectionReset {
                    conn.note("connection reset by the server".into());
                }
                return finish(conn);
            }
        }
    }
}

/// Inflate one whole compressed message (trailer appended).
fn inflate(d: &mut flate2::Decompress, input: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(input.len() * 4 + 64);
    let mut consumed = 0;
    loop {
        let before = d.total_in();
        if out.len() == out.capacity() {
            out.reserve(out.capacity());
        }
        let status = d
            .decompress_vec(&input[consumed..], &mut out, flate2::FlushDecompress::Sync)
            .map_err(|e| e.to_string())?;
        consumed += (d.total_in() - before) as usize;
        if status == flate2::Status::StreamEnd {
            // A final block: the next message starts a new stream.
            d.reset(false);
            return Ok(out);
        }
        if consumed == input.len() && out.len() < out.capacity() {
            return Ok(out);
        }
    }
}

fn finish(conn: &Conn) {
    let mut st = conn.lock();
    if !st.dropping {
        st.eof = true;
        st.closed_by_me.get_or_insert(false);
    }
    drop(st);
    conn.changed.notify_all();
}

fn handle_frame(
    conn: &Conn,
    fin: bool,
    opcode: u8,
    payload: Vec<u8>,
    partial: &mut Option<(bool, Vec<u8>)>,
) {
    let event = match opcode {
        op::TEXT | op::BINARY => {
            if partial.is_some() {
                conn.note("server started a message inside another".into());
            }
            let binary = opcode == op::BINARY;
            if fin {
                Some(Event::Message { binary, payload })
            } else {
                *partial = Some((binary, payload));
                None
            }
        }
        op::CONT => match partial.as_mut() {
            Some((_, data)) => {
                data.extend_from_slice(&payload);
                if fin {
                    partial
                        .take()
                        .map(|(binary, payload)| Event::Message { binary, payload })
                } else {
                    None
                }
            }
            None => {
                conn.note("server sent a continuation with nothing to continue".into());
                None
            }
        },
        op::PING => {
            let pong = Frame::pong(payload.clone()).to_bytes();
            if !conn.lock().close_sent {
                let _ = conn.write(&pong);
            }
            Some(Event::Ping(payload))
        }
        op::PONG => Some(Event::Pong(payload)),
        op::CLOSE => {
            let code = (payload.len() >= 2).then(|| u16::from_be_bytes([payload[0], payload[1]]));
            let reason = payload.get(2..).unwrap_or_default().to_vec();
            let reply = {
                let mut st = conn.lock();
                st.close_received = Some((code, reason));
                st.closed_by_me.get_or_insert(false);
                let reply = !st.close_sent;
                st.close_sent = true;
                reply
            };
            if reply {
                // Echo the code as Autobahn does (1000 when there was none).
                let _ = conn.write(&Frame::close(Some(code.unwrap_or(1000)), b"").to_bytes());
            }
            conn.changed.notify_all();
            None
        }
        other => {
            conn.note(format!("server sent reserved opcode {other:#x}"));
            None
        }
    };
    if let Some(e) = event {
        let mut st = conn.lock();
        st.events.push(e);
        st.event_at.push(Instant::now());
        drop(st);
        conn.changed.notify_all();
    }
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}
