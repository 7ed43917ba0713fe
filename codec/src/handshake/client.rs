//! Client side: writing the upgrade request and checking the server's 101
//! (RFC 6455 §4.1). Used by the benchmarks, tests, fuzzers and load tools.

use std::fmt;

use super::accept::{accept_key, encode_key};
use super::config::HandshakeConfig;
use super::deflate::{self, DeflateOffer, DeflateParams, PERMESSAGE_DEFLATE};
use super::extensions::{self, ExtensionOffer};
use super::head::HeadReader;
use super::syntax::{is_field_value, is_token, list_contains, token_string, trim_ows, Span};

/// A client's opening handshake: builds the request, then reads the response.
///
/// ```
/// use ringws_codec::{ClientHandshake, ClientStatus};
/// let mut client = ClientHandshake::new("example.com", "/chat").protocol("chat");
/// let mut request = Vec::new();
/// client.write_request(&mut request);
/// // ... send `request`, then feed what comes back:
/// # let mut server = ringws_codec::ServerHandshake::default();
/// # let ringws_codec::HandshakeStatus::Complete { request: req, .. } = server.feed(&request).unwrap() else { panic!() };
/// # let mut reply = Vec::new();
/// # ringws_codec::write_accept_response(&mut reply, &req, Some("chat"), None, &[]).unwrap();
/// match client.feed(&reply).unwrap() {
///     ClientStatus::Complete { response, consumed } => assert_eq!(response.protocol(), Some("chat")),
///     ClientStatus::Partial => { /* read more */ }
/// }
/// ```
#[derive(Debug)]
pub struct ClientHandshake {
    host: String,
    path: String,
    /// `Sec-WebSocket-Key`: base64 of a random 16-byte nonce.
    key: [u8; 24],
    /// The `Sec-WebSocket-Accept` the server must answer with.
    accept: [u8; 28],
    protocols: Vec<String>,
    /// The `Sec-WebSocket-Extensions` value as given, and its parsed offers.
    extensions: Option<(String, Vec<ExtensionOffer>)>,
    origin: Option<String>,
    headers: Vec<(String, String)>,
    config: HandshakeConfig,
    head: HeadReader,
    finished: bool,
}

/// Progress of a [`ClientHandshake`].
// `Complete` is returned once per connection and moved straight out; boxing
// it would cost an allocation for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum ClientStatus {
    /// The response is not complete yet: read more and feed again.
    Partial,
    /// The server accepted.
    Complete {
        /// The validated 101 response.
        response: Response,
        /// How many bytes of the slice just fed belonged to the response; the
        /// rest are the server's first frames.
        consumed: usize,
    },
}

/// Why a client handshake failed.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientHandshakeError {
    /// Not parseable as an HTTP/1.x response head.
    Malformed(httparse::Error),
    /// The response head is larger than `max_header_bytes`.
    HeadersTooLarge,
    /// More header fields than `max_headers`.
    TooManyHeaders,
    /// The status is not 101 (the server refused; the code says why).
    UnexpectedStatus(u16),
    /// Not an HTTP/1.1 response.
    NotHttp11,
    /// No `Upgrade: websocket`.
    NotUpgrade,
    /// `Connection` lacks the `upgrade` token.
    MissingConnectionUpgrade,
    /// No `Sec-WebSocket-Accept`.
    MissingAccept,
    /// `Sec-WebSocket-Accept` does not match our key.
    BadAccept,
    /// The server chose a subprotocol we did not offer.
    ProtocolNotOffered,
    /// The server accepted an extension we did not offer.
    ExtensionNotOffered,
    /// The server's permessage-deflate parameters are not allowed by our
    /// offer (RFC 7692 §7.1), or it accepted the extension twice.
    BadDeflateAnswer,
    /// A header with a malformed value (names it).
    InvalidHeader(&'static str),
    /// `feed` was called after the handshake had completed or failed.
    AlreadyFinished,
}

impl fmt::Display for ClientHandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed(e) => write!(f, "malformed HTTP response: {e}"),
            Self::HeadersTooLarge => f.write_str("response headers too large"),
            Self::TooManyHeaders => f.write_str("too many response headers"),
            Self::UnexpectedStatus(s) => write!(f, "server answered {s}, not 101"),
            Self::NotHttp11 => f.write_str("response is not HTTP/1.1"),
            Self::NotUpgrade => f.write_str("response lacks Upgrade: websocket"),
            Self::MissingConnectionUpgrade => f.write_str("response lacks Connection: upgrade"),
            Self::MissingAccept => f.write_str("response lacks Sec-WebSocket-Accept"),
            Self::BadAccept => f.write_str("Sec-WebSocket-Accept does not match the key"),
            Self::ProtocolNotOffered => f.write_str("server chose a subprotocol we did not offer"),
            Self::ExtensionNotOffered => {
                f.write_str("server accepted an extension we did not offer")
            }
            Self::BadDeflateAnswer => {
                f.write_str("server's permessage-deflate parameters do not fit the offer")
            }
            Self::InvalidHeader(h) => write!(f, "invalid {h} header in response"),
            Self::AlreadyFinished => f.write_str("handshake already finished"),
        }
    }
}

impl std::error::Error for ClientHandshakeError {}

impl From<httparse::Error> for ClientHandshakeError {
    fn from(e: httparse::Error) -> Self {
        match e {
            httparse::Error::TooManyHeaders => Self::TooManyHeaders,
            e => Self::Malformed(e),
        }
    }
}

impl ClientHandshake {
    /// A handshake for `ws://{host}{path}` with a fresh random key
    /// (16 bytes from the OS via `getrandom`, as RFC 6455 §4.1 requires).
    ///
    /// # Panics
    /// If `host` is empty or not a valid header value, if `path` does not
    /// start with `/` or contains spaces or control characters, or if the OS
    /// random source fails (`getrandom(2)` does not once the kernel pool is
    /// initialised, which happens early in boot).
    pub fn new(host: &str, path: &str) -> Self {
        let mut nonce = [0u8; 16];
        getrandom::fill(&mut nonce).expect("OS random source failed");
        Self::with_nonce(host, path, nonce)
    }

    /// Like [`ClientHandshake::new`] with a caller-chosen nonce: reproducible
    /// requests for tests and benchmarks. Real clients must use `new`.
    ///
    /// # Panics
    /// As `new`, for `host` and `path`.
    pub fn with_nonce(host: &str, path: &str, nonce: [u8; 16]) -> Self {
        assert!(
            !host.is_empty() && is_field_value(host.as_bytes()),
            "invalid host {host:?}"
        );
        assert!(
            path.starts_with('/') && path.bytes().all(|b| (0x21..0x7f).contains(&b)),
            "invalid request path {path:?}"
        );
        let key = encode_key(&nonce);
        Self {
            host: host.into(),
            path: path.into(),
            key,
            accept: accept_key(&key),
            protocols: Vec::new(),
            extensions: None,
            origin: None,
            headers: Vec::new(),
            config: HandshakeConfig::default(),
            head: HeadReader::new(),
            finished: false,
        }
    }

    /// Offers a subprotocol (call again to offer more, in preference order).
    ///
    /// # Panics
    /// If `protocol` is not an HTTP token.
    pub fn protocol(mut self, protocol: &str) -> Self {
        assert!(
            is_token(protocol.as_bytes()),
            "invalid subprotocol {protocol:?}"
        );
        self.protocols.push(protocol.into());
        self
    }

    /// Sets the `Sec-WebSocket-Extensions` offer, e.g.
    /// `"permessage-deflate; client_max_window_bits"`.
    ///
    /// # Panics
    /// If `value` does not follow the RFC 6455 §9.1 grammar.
    pub fn extensions(mut self, value: &str) -> Self {
        let offers = ExtensionOffer::parse_list(value.as_bytes())
            .unwrap_or_else(|_| panic!("invalid Sec-WebSocket-Extensions {value:?}"));
        self.extensions = Some((value.into(), offers));
        self
    }

    /// Offers permessage-deflate (RFC 7692) as the only extension; the
    /// server's answer is checked against it and the agreed parameters are
    /// in [`Response::deflate`].
    pub fn deflate(self, offer: DeflateOffer) -> Self {
        self.extensions(&offer.to_string())
    }

    /// Sets the `Origin` header (browsers always send one).
    ///
    /// # Panics
    /// If `origin` is not a valid header value.
    pub fn origin(mut self, origin: &str) -> Self {
        assert!(
            is_field_value(origin.as_bytes()),
            "invalid origin {origin:?}"
        );
        self.origin = Some(origin.into());
        self
    }

    /// Adds a header (`Cookie`, `Authorization`, `User-Agent`, …).
    ///
    /// # Panics
    /// If `name` is not a token or `value` contains CR, LF or NUL.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        assert!(
            is_token(name.as_bytes()) && is_field_value(value.as_bytes()),
            "invalid header {name:?}: {value:?}"
        );
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the limits applied to the server's response.
    pub fn config(mut self, config: HandshakeConfig) -> Self {
        self.config = config;
        self
    }

    /// The `Sec-WebSocket-Key` this handshake sends.
    pub fn key(&self) -> &str {
        std::str::from_utf8(&self.key).unwrap_or_default()
    }

    /// Appends the upgrade request to `out`.
    pub fn write_request(&self, out: &mut Vec<u8>) {
        let mut push = |parts: &[&[u8]]| {
            for p in parts {
                out.extend_from_slice(p);
            }
        };
        push(&[
            b"GET ",
            self.path.as_bytes(),
            b" HTTP/1.1\r\nHost: ",
            self.host.as_bytes(),
        ]);
        push(&[b"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: "]);
        push(&[&self.key, b"\r\nSec-WebSocket-Version: 13\r\n"]);
        if let Some(origin) = &self.origin {
            push(&[b"Origin: ", origin.as_bytes(), b"\r\n"]);
        }
        if !self.protocols.is_empty() {
            push(&[
                b"Sec-WebSocket-Protocol: ",
                self.protocols.join(", ").as_bytes(),
                b"\r\n",
            ]);
        }
        if let Some((value, _)) = &self.extensions {
            push(&[b"Sec-WebSocket-Extensions: ", value.as_bytes(), b"\r\n"]);
        }
        for (n, v) in &self.headers {
            push(&[n.as_bytes(), b": ", v.as_bytes(), b"\r\n"]);
        }
        push(&[b"\r\n"]);
    }

    /// Feeds bytes read from the connection after sending the request.
    ///
    /// After `Complete` or an error, later calls return
    /// [`ClientHandshakeError::AlreadyFinished`].
    pub fn feed(&mut self, bytes: &[u8]) -> Result<ClientStatus, ClientHandshakeError> {
        if self.finished {
            return Err(ClientHandshakeError::AlreadyFinished);
        }
        let result = self.feed_inner(bytes);
        if !matches!(result, Ok(ClientStatus::Partial)) {
            self.finished = true;
            self.head.clear();
        }
        result
    }

    fn feed_inner(&mut self, bytes: &[u8]) -> Result<ClientStatus, ClientHandshakeError> {
        let max = self.config.max_header_bytes;
        if self.head.is_empty() {
            if let Some((parsed, n)) = self.parse(bytes)? {
                let response = parsed.into_response(bytes[..n].to_vec());
                return Ok(ClientStatus::Complete {
                    response,
                    consumed: n,
                });
            }
        }
        let consumed = match self.head.push(bytes, max) {
            Err(_) => return Err(ClientHandshakeError::HeadersTooLarge),
            Ok(None) => return Ok(ClientStatus::Partial),
            Ok(Some(consumed)) => consumed,
        };
        let head = self.head.take();
        match self.parse(&head)? {
            Some((parsed, n)) if n == head.len() => Ok(ClientStatus::Complete {
                response: parsed.into_response(head),
                consumed,
            }),
            _ => Err(ClientHandshakeError::Malformed(httparse::Error::NewLine)),
        }
    }

    fn parse(&self, buf: &[u8]) -> Result<Option<(ParsedResponse, usize)>, ClientHandshakeError> {
        let mut slots = [httparse::EMPTY_HEADER; HandshakeConfig::MAX_HEADERS_CAP];
        let mut res = httparse::Response::new(&mut slots[..self.config.header_slots()]);
        let n = match res.parse(buf)? {
            httparse::Status::Partial if buf.len() > self.config.max_header_bytes => {
                return Err(ClientHandshakeError::HeadersTooLarge)
            }
            httparse::Status::Partial => return Ok(None),
            httparse::Status::Complete(n) if n > self.config.max_header_bytes => {
                return Err(ClientHandshakeError::HeadersTooLarge)
            }
            httparse::Status::Complete(n) => n,
        };
        Ok(Some((self.validate(&res, buf)?, n)))
    }

    /// RFC 6455 §4.1, the client's checks of the server's response.
    fn validate(
        &self,
        res: &httparse::Response<'_, '_>,
        head: &[u8],
    ) -> Result<ParsedResponse, ClientHandshakeError> {
        let code = res.code.unwrap_or_default();
        if code != 101 {
            return Err(ClientHandshakeError::UnexpectedStatus(code));
        }
        if res.version != Some(1) {
            return Err(ClientHandshakeError::NotHttp11);
        }
        let (mut upgrade, mut connection, mut accept) = (false, false, None);
        let mut protocol: Option<&[u8]> = None;
        let mut offers = Vec::new();
        let mut headers = Vec::with_capacity(res.headers.len());
        for h in res.headers.iter() {
            headers.push((Span::of(head, h.name.as_bytes()), Span::of(head, h.value)));
            let name = h.name;
            let value = trim_ows(h.value);
            if name.eq_ignore_ascii_case("upgrade") {
                upgrade |= list_contains(value, "websocket");
            } else if name.eq_ignore_ascii_case("connection") {
                connection |= list_contains(value, "upgrade");
            } else if name.eq_ignore_ascii_case("sec-websocket-accept") {
                if accept.replace(value).is_some() {
                    return Err(ClientHandshakeError::InvalidHeader("Sec-WebSocket-Accept"));
                }
            } else if name.eq_ignore_ascii_case("sec-websocket-protocol") {
                if protocol.replace(value).is_some() || !is_token(value) {
                    return Err(ClientHandshakeError::InvalidHeader(
                        "Sec-WebSocket-Protocol",
                    ));
                }
            } else if name.eq_ignore_ascii_case("sec-websocket-extensions")
                && extensions::parse_into(value, &mut offers).is_err()
            {
                return Err(ClientHandshakeError::InvalidHeader(
                    "Sec-WebSocket-Extensions",
                ));
            }
        }
        if !upgrade {
            return Err(ClientHandshakeError::NotUpgrade);
        }
        if !connection {
            return Err(ClientHandshakeError::MissingConnectionUpgrade);
        }
        match accept {
            None => return Err(ClientHandshakeError::MissingAccept),
            Some(a) if a != self.accept => return Err(ClientHandshakeError::BadAccept),
            Some(_) => {}
        }
        let protocol = match protocol {
            Some(p) if !self.protocols.iter().any(|o| o.as_bytes() == p) => {
                return Err(ClientHandshakeError::ProtocolNotOffered)
            }
            p => p.map(token_string),
        };
        let offered = self.extensions.as_ref().map_or(&[][..], |(_, o)| &o[..]);
        if !offers
            .iter()
            .all(|a| offered.iter().any(|o| o.name.eq_ignore_ascii_case(&a.name)))
        {
            return Err(ClientHandshakeError::ExtensionNotOffered);
        }
        let mut agreed = None;
        for a in offers
            .iter()
            .filter(|a| a.name.eq_ignore_ascii_case(PERMESSAGE_DEFLATE))
        {
            let params = deflate::accept_answer(offered, a)
                .map_err(|_| ClientHandshakeError::BadDeflateAnswer)?;
            if agreed.replace(params).is_some() {
                return Err(ClientHandshakeError::BadDeflateAnswer);
            }
        }
        Ok(ParsedResponse {
            headers,
            protocol,
            extensions: offers,
            deflate: agreed,
        })
    }
}

struct ParsedResponse {
    headers: Vec<(Span, Span)>,
    protocol: Option<String>,
    extensions: Vec<ExtensionOffer>,
    deflate: Option<DeflateParams>,
}

impl ParsedResponse {
    fn into_response(self, head: Vec<u8>) -> Response {
        Response {
            head,
            headers: self.headers,
            protocol: self.protocol,
            extensions: self.extensions,
            deflate: self.deflate,
        }
    }
}

/// A server's validated `101 Switching Protocols`.
#[derive(Debug, Clone)]
pub struct Response {
    head: Vec<u8>,
    headers: Vec<(Span, Span)>,
    protocol: Option<String>,
    extensions: Vec<ExtensionOffer>,
    deflate: Option<DeflateParams>,
}

impl Response {
    /// The status: always 101 (anything else is an error).
    pub fn status(&self) -> u16 {
        101
    }

    /// The subprotocol the server chose, if any (one we offered).
    pub fn protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    /// The extensions the server accepted, with their parameters.
    pub fn extensions(&self) -> &[ExtensionOffer] {
        &self.extensions
    }

    /// The permessage-deflate parameters the server agreed to (checked
    /// against the offer), or `None` if it did not accept the extension.
    pub fn deflate(&self) -> Option<DeflateParams> {
        self.deflate
    }

    /// The value of the first header called `name` (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.get(&self.head).eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v.get(&self.head))
    }

    /// The raw response head.
    pub fn head(&self) -> &[u8] {
        &self.head
    }
}
