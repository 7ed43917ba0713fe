//! Server side: reading and validating the client's upgrade request
//! (RFC 6455 §4.2.1).

use std::mem::MaybeUninit;

use super::accept::{accept_key, decode_key};
use super::config::HandshakeConfig;
use super::deflate::{self, Compression, DeflateParams};
use super::error::HandshakeError;
use super::extensions::{self, ExtensionOffer};
use super::head::HeadReader;
use super::syntax::{is_token, list_contains, list_elements, token_string, trim_ows, Span};

/// Reads a client's opening handshake from a connection, incrementally.
///
/// Feed it every slice read from the socket until it returns
/// [`HandshakeStatus::Complete`] or an error. Caller's duties:
/// - on `Complete { consumed, .. }`, bytes `consumed..` of the *last* slice are
///   the client's first frames: hand them to the frame decoder, don't drop them;
/// - on `Err(e)`, send `e.write_response(..)` and close;
/// - enforce a handshake timeout (the codec never reads the clock).
///
/// When a request arrives in one slice (the usual case) it is parsed in place
/// with no copy; otherwise the pieces are buffered in a `Vec` allocated only
/// then, and a head that would exceed `max_header_bytes` is refused with 431
/// *before* the excess is copied, so [`ServerHandshake::buffered_len`] never
/// exceeds the limit.
#[derive(Debug)]
pub struct ServerHandshake {
    config: HandshakeConfig,
    head: HeadReader,
    finished: bool,
}

/// Progress of a [`ServerHandshake`].
// `Complete` is returned once per connection and moved straight out; boxing
// it would cost an allocation for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum HandshakeStatus {
    /// The request is not complete yet: read more and feed again.
    Partial,
    /// The request is complete and valid.
    Complete {
        /// The validated request.
        request: Request,
        /// How many bytes of the slice just fed belonged to the request; the
        /// remaining `bytes[consumed..]` are WebSocket frames.
        consumed: usize,
    },
}

impl Default for ServerHandshake {
    fn default() -> Self {
        Self::new(HandshakeConfig::default())
    }
}

impl ServerHandshake {
    /// A handshake reader with the given limits.
    pub fn new(config: HandshakeConfig) -> Self {
        Self {
            config,
            head: HeadReader::new(),
            finished: false,
        }
    }

    /// Feeds the next bytes read from the connection.
    ///
    /// After `Complete` or an error the handshake is spent; later calls
    /// return [`HandshakeError::AlreadyFinished`].
    pub fn feed(&mut self, bytes: &[u8]) -> Result<HandshakeStatus, HandshakeError> {
        if self.finished {
            return Err(HandshakeError::AlreadyFinished);
        }
        let result = self.feed_inner(bytes);
        if !matches!(result, Ok(HandshakeStatus::Partial)) {
            self.finished = true;
            self.head.clear();
        }
        result
    }

    /// Bytes of an incomplete request held so far (never more than
    /// `max_header_bytes`; 0 while requests arrive whole).
    pub fn buffered_len(&self) -> usize {
        self.head.len()
    }

    /// Whether the handshake has completed or failed.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    fn feed_inner(&mut self, bytes: &[u8]) -> Result<HandshakeStatus, HandshakeError> {
        let max = self.config.max_header_bytes;
        if self.head.is_empty() {
            // Fast path: the whole request in this slice, parsed in place.
            // A head within the limit lies within the first `max` bytes, so
            // parsing stops there however much the peer sent.
            let window = &bytes[..bytes.len().min(max)];
            if let Some((parsed, n)) = parse(window, &self.config)? {
                let request = parsed.into_request(bytes[..n].to_vec());
                return Ok(HandshakeStatus::Complete {
                    request,
                    consumed: n,
                });
            }
        }
        // Slow path: buffer up to the end of the head, then parse once.
        let consumed = match self.head.push(bytes, max) {
            Err(_) => return Err(HandshakeError::HeadersTooLarge),
            Ok(None) => return Ok(HandshakeStatus::Partial),
            Ok(Some(consumed)) => consumed,
        };
        let head = self.head.take();
        match parse(&head, &self.config)? {
            Some((parsed, n)) if n == head.len() => Ok(HandshakeStatus::Complete {
                request: parsed.into_request(head),
                consumed,
            }),
            // The scanner in `head.rs` stops exactly where httparse does; if
            // the two ever disagreed, refuse rather than lose frame bytes
            // (the fuzz target checks they agree).
            _ => Err(HandshakeError::Malformed(httparse::Error::NewLine)),
        }
    }
}

/// Parses and validates `buf`: `Ok(None)` if the head is incomplete,
/// `Ok(Some((parsed, head_len)))` if it is complete and valid.
fn parse(buf: &[u8], config: &HandshakeConfig) -> Result<Option<(Parsed, usize)>, HandshakeError> {
    // Header slots on the stack, left uninitialised: httparse writes the ones
    // it uses. A 128-slot array costs no memset this way.
    let mut slots: [MaybeUninit<httparse::Header<'_>>; HandshakeConfig::MAX_HEADERS_CAP] =
        [const { MaybeUninit::uninit() }; HandshakeConfig::MAX_HEADERS_CAP];
    let mut req = httparse::Request::new(&mut []);
    match req.parse_with_uninit_headers(buf, &mut slots[..config.header_slots()])? {
        // Whether an incomplete head is already too large is the caller's
        // call: it may have cut `buf` at the limit.
        httparse::Status::Partial => Ok(None),
        httparse::Status::Complete(n) => {
            if n > config.max_header_bytes {
                return Err(HandshakeError::HeadersTooLarge);
            }
            Ok(Some((validate(&req, buf)?, n)))
        }
    }
}

/// What validation extracts, as spans into the head it read.
struct Parsed {
    target: Span,
    path_len: usize,
    host: Span,
    origin: Option<Span>,
    key: Span,
    headers: Vec<(Span, Span)>,
    protocols: Vec<String>,
    extensions: Vec<ExtensionOffer>,
    accept: [u8; 28],
}

impl Parsed {
    fn into_request(self, head: Vec<u8>) -> Request {
        Request {
            head,
            target: self.target,
            path_len: self.path_len,
            host: self.host,
            origin: self.origin,
            key: self.key,
            headers: self.headers,
            protocols: self.protocols,
            extensions: self.extensions,
            accept: self.accept,
        }
    }
}

fn eq(name: &str, lower: &str) -> bool {
    name.len() == lower.len() && name.as_bytes().eq_ignore_ascii_case(lower.as_bytes())
}

/// Applies RFC 6455 §4.2.1 to a parsed request head.
///
/// Checks run in a fixed order so the verdict does not depend on header order:
/// method, HTTP version, target, `Upgrade`, `Connection`, `Host`,
/// `Sec-WebSocket-Version` (before the key: another version may use another
/// key format), `Sec-WebSocket-Key`, then the syntax of the optional headers.
fn validate<'b>(req: &httparse::Request<'_, 'b>, head: &[u8]) -> Result<Parsed, HandshakeError> {
    if req.method != Some("GET") {
        return Err(HandshakeError::NotGet);
    }
    if req.version != Some(1) {
        return Err(HandshakeError::NotHttp11);
    }
    let target = req.path.unwrap_or_default();
    if !target.starts_with('/') {
        return Err(HandshakeError::BadTarget);
    }
    let path_len = target.find('?').unwrap_or(target.len());

    let mut upgrade = false;
    let mut connection = false;
    let mut host: Option<&'b [u8]> = None;
    let mut origin: Option<&'b [u8]> = None;
    let mut key: Option<&'b [u8]> = None;
    let mut version: Option<&'b [u8]> = None;
    let mut duplicate: Option<&'static str> = None;
    // First problem with an optional header, reported after the required ones.
    let mut invalid: Option<HandshakeError> = None;
    let mut protocols = Vec::new();
    let mut extension_offers = Vec::new();
    let mut headers = Vec::with_capacity(req.headers.len());

    for h in req.headers.iter() {
        headers.push((Span::of(head, h.name.as_bytes()), Span::of(head, h.value)));
        let name = h.name;
        let value = trim_ows(h.value);
        // Headers that may appear only once: remember the first duplicate.
        let mut once = |slot: &mut Option<&'b [u8]>, canonical: &'static str| {
            if slot.is_some() {
                duplicate.get_or_insert(canonical);
            }
            *slot = Some(value);
        };
        if eq(name, "host") {
            once(&mut host, "Host");
        } else if eq(name, "upgrade") {
            upgrade |= list_contains(value, "websocket");
        } else if eq(name, "connection") {
            connection |= list_contains(value, "upgrade");
        } else if eq(name, "sec-websocket-key") {
            once(&mut key, "Sec-WebSocket-Key");
        } else if eq(name, "sec-websocket-version") {
            once(&mut version, "Sec-WebSocket-Version");
        } else if eq(name, "origin") {
            once(&mut origin, "Origin");
        } else if eq(name, "sec-websocket-protocol") {
            for p in list_elements(value) {
                if is_token(p) {
                    protocols.push(token_string(p));
                } else {
                    invalid.get_or_insert(HandshakeError::InvalidHeader("Sec-WebSocket-Protocol"));
                }
            }
        } else if eq(name, "sec-websocket-extensions") {
            if extensions::parse_into(value, &mut extension_offers).is_err() {
                invalid.get_or_insert(HandshakeError::InvalidHeader("Sec-WebSocket-Extensions"));
            }
        } else if eq(name, "content-length") {
            if value != b"0" {
                invalid.get_or_insert(HandshakeError::InvalidHeader("Content-Length"));
            }
        } else if eq(name, "transfer-encoding") {
            invalid.get_or_insert(HandshakeError::InvalidHeader("Transfer-Encoding"));
        }
    }

    if !upgrade {
        return Err(HandshakeError::NotUpgrade);
    }
    if !connection {
        return Err(HandshakeError::MissingConnectionUpgrade);
    }
    let host = match host {
        Some(h) if !h.is_empty() => h,
        _ => return Err(HandshakeError::MissingHost),
    };
    if duplicate == Some("Host") {
        return Err(HandshakeError::DuplicateHeader("Host"));
    }
    match version {
        None => return Err(HandshakeError::MissingVersion),
        Some(_) if duplicate == Some("Sec-WebSocket-Version") => {
            return Err(HandshakeError::DuplicateHeader("Sec-WebSocket-Version"))
        }
        Some(b"13") => {}
        Some(_) => return Err(HandshakeError::UnsupportedVersion),
    }
    let key = key.ok_or(HandshakeError::MissingKey)?;
    if let Some(d) = duplicate {
        return Err(HandshakeError::DuplicateHeader(d));
    }
    if decode_key(key).is_none() {
        return Err(HandshakeError::BadKey);
    }
    if let Some(e) = invalid {
        return Err(e);
    }
    // Host and Origin are handed out as &str.
    if std::str::from_utf8(host).is_err() {
        return Err(HandshakeError::InvalidHeader("Host"));
    }
    if origin.is_some_and(|o| std::str::from_utf8(o).is_err()) {
        return Err(HandshakeError::InvalidHeader("Origin"));
    }

    Ok(Parsed {
        target: Span::of(head, target.as_bytes()),
        path_len,
        host: Span::of(head, host),
        origin: origin.map(|o| Span::of(head, o)),
        key: Span::of(head, key),
        headers,
        protocols,
        extensions: extension_offers,
        accept: accept_key(key),
    })
}

/// A validated upgrade request, owned: what the application sees when deciding
/// whether to accept (path, `Origin`, cookies, offered subprotocols and
/// extensions).
///
/// It holds one copy of the request head plus offsets into it, so it outlives
/// the read buffer the request arrived in.
#[derive(Debug, Clone)]
pub struct Request {
    /// The head as received, request line to blank line.
    head: Vec<u8>,
    /// Path and query; UTF-8 (httparse checks), starts with `/`.
    target: Span,
    /// Length of the path within `target` (up to `?`).
    path_len: usize,
    /// UTF-8, non-empty, trimmed.
    host: Span,
    /// UTF-8, trimmed.
    origin: Option<Span>,
    /// 24 base64 characters decoding to 16 bytes.
    key: Span,
    /// Every header as (name, value), in order.
    headers: Vec<(Span, Span)>,
    protocols: Vec<String>,
    extensions: Vec<ExtensionOffer>,
    accept: [u8; 28],
}

impl Request {
    /// The method: always `GET`, anything else was refused with 405.
    pub fn method(&self) -> &str {
        "GET"
    }

    /// The request target, path and query (`/chat?room=1`).
    pub fn target(&self) -> &str {
        self.target.get_str(&self.head)
    }

    /// The path, without the query (`/chat`).
    pub fn path(&self) -> &str {
        &self.target()[..self.path_len]
    }

    /// The query, without the `?` (`room=1`), if there is one.
    pub fn query(&self) -> Option<&str> {
        self.target().get(self.path_len + 1..)
    }

    /// The `Host` header.
    pub fn host(&self) -> &str {
        self.host.get_str(&self.head)
    }

    /// The `Origin` header, if sent (browsers always send it: check it to
    /// refuse cross-site WebSocket hijacking).
    pub fn origin(&self) -> Option<&str> {
        self.origin.map(|o| o.get_str(&self.head))
    }

    /// Subprotocols offered in `Sec-WebSocket-Protocol`, in order, gathered
    /// from comma lists across repeated headers.
    pub fn protocols(&self) -> &[String] {
        &self.protocols
    }

    /// Extensions offered in `Sec-WebSocket-Extensions`, in order of
    /// preference, across repeated headers.
    pub fn extensions(&self) -> &[ExtensionOffer] {
        &self.extensions
    }

    /// Negotiates permessage-deflate (RFC 7692) under `policy`: the agreed
    /// parameters, whose `Display` is the `Sec-WebSocket-Extensions` value
    /// to pass to [`crate::write_accept_response`], or `None` (no
    /// compression). See [`crate::negotiate_deflate`].
    pub fn deflate(&self, policy: Compression) -> Option<DeflateParams> {
        deflate::negotiate(&self.extensions, policy)
    }

    /// The value of the first header called `name` (ASCII case-insensitive),
    /// leading and trailing whitespace removed as httparse does.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// Every header in order, as (name, value).
    pub fn headers(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.headers
            .iter()
            .map(|&(n, v)| (n.get_str(&self.head), v.get(&self.head)))
    }

    /// The client's `Sec-WebSocket-Key`.
    pub fn key(&self) -> &str {
        self.key.get_str(&self.head)
    }

    /// The `Sec-WebSocket-Accept` value for this request's key.
    pub fn accept_key(&self) -> [u8; 28] {
        self.accept
    }

    /// The raw request head, request line through blank line.
    pub fn head(&self) -> &[u8] {
        &self.head
    }
}
