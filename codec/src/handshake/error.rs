//! Why a server refuses a handshake, and the HTTP status each refusal gets.

use std::fmt;

/// A refused (or unfinishable) opening handshake, server side.
///
/// Every variant except [`HandshakeError::AlreadyFinished`] is the peer's fault
/// and maps to an HTTP status ([`HandshakeError::status`]);
/// [`HandshakeError::write_response`] writes the complete response to send
/// before closing the connection.
///
/// | status | variants |
/// |---|---|
/// | 400 | `Malformed`, `NotHttp11`, `BadTarget`, `MissingHost`, `MissingConnectionUpgrade`, `MissingKey`, `BadKey`, `MissingVersion`, `DuplicateHeader`, `InvalidHeader` |
/// | 405 | `NotGet` (with `Allow: GET`) |
/// | 426 | `UnsupportedVersion` (with `Sec-WebSocket-Version: 13`), `NotUpgrade` (with `Upgrade: websocket`) |
/// | 431 | `HeadersTooLarge`, `TooManyHeaders` |
/// | 500 | `AlreadyFinished` (API misuse, not the peer's fault) |
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandshakeError {
    /// Not parseable as an HTTP/1.x request head.
    Malformed(httparse::Error),
    /// Method other than `GET`.
    NotGet,
    /// `HTTP/1.0`: the handshake needs HTTP/1.1 (RFC 6455 §4.1).
    NotHttp11,
    /// The request target is not a path (`/…`), e.g. `*` or an absolute URI.
    BadTarget,
    /// No (or an empty) `Host` header.
    MissingHost,
    /// No `Upgrade: websocket`: a plain HTTP request to a WebSocket endpoint.
    NotUpgrade,
    /// `Connection` does not contain the `upgrade` token.
    MissingConnectionUpgrade,
    /// No `Sec-WebSocket-Key`.
    MissingKey,
    /// `Sec-WebSocket-Key` is not base64 of 16 bytes.
    BadKey,
    /// No `Sec-WebSocket-Version`.
    MissingVersion,
    /// `Sec-WebSocket-Version` other than 13.
    UnsupportedVersion,
    /// The head is larger than `HandshakeConfig::max_header_bytes`.
    HeadersTooLarge,
    /// More header fields than `HandshakeConfig::max_headers`.
    TooManyHeaders,
    /// A header that must appear at most once appeared twice (names it).
    DuplicateHeader(&'static str),
    /// A header whose value is not acceptable (names it): bad
    /// `Sec-WebSocket-Protocol`/`Sec-WebSocket-Extensions` syntax, non-UTF-8
    /// `Host`/`Origin`, or a request body (`Content-Length` ≠ 0,
    /// `Transfer-Encoding`), whose bytes would otherwise be taken for frames.
    InvalidHeader(&'static str),
    /// `feed` was called after the handshake had already completed or failed.
    AlreadyFinished,
}

impl HandshakeError {
    /// The HTTP status of the refusal.
    pub fn status(&self) -> u16 {
        match self {
            Self::NotGet => 405,
            Self::UnsupportedVersion | Self::NotUpgrade => 426,
            Self::HeadersTooLarge | Self::TooManyHeaders => 431,
            Self::AlreadyFinished => 500,
            Self::Malformed(_)
            | Self::NotHttp11
            | Self::BadTarget
            | Self::MissingHost
            | Self::MissingConnectionUpgrade
            | Self::MissingKey
            | Self::BadKey
            | Self::MissingVersion
            | Self::DuplicateHeader(_)
            | Self::InvalidHeader(_) => 400,
        }
    }

    /// A short, human-readable reason; it is the body of the response.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "malformed HTTP request",
            Self::NotGet => "WebSocket handshake must use GET",
            Self::NotHttp11 => "WebSocket handshake needs HTTP/1.1",
            Self::BadTarget => "request target must be a path",
            Self::MissingHost => "missing Host header",
            Self::NotUpgrade => "this is a WebSocket endpoint: send a GET with Upgrade: websocket",
            Self::MissingConnectionUpgrade => "Connection header must contain \"upgrade\"",
            Self::MissingKey => "missing Sec-WebSocket-Key header",
            Self::BadKey => "Sec-WebSocket-Key must be base64 of 16 bytes",
            Self::MissingVersion => "missing Sec-WebSocket-Version header",
            Self::UnsupportedVersion => "unsupported Sec-WebSocket-Version (this server speaks 13)",
            Self::HeadersTooLarge => "request headers too large",
            Self::TooManyHeaders => "too many request headers",
            Self::DuplicateHeader(h) => match *h {
                "Host" => "duplicate Host header",
                "Sec-WebSocket-Key" => "duplicate Sec-WebSocket-Key header",
                "Sec-WebSocket-Version" => "duplicate Sec-WebSocket-Version header",
                "Origin" => "duplicate Origin header",
                _ => "duplicate header",
            },
            Self::InvalidHeader(h) => match *h {
                "Host" => "invalid Host header",
                "Origin" => "invalid Origin header",
                "Sec-WebSocket-Protocol" => "invalid Sec-WebSocket-Protocol header",
                "Sec-WebSocket-Extensions" => "invalid Sec-WebSocket-Extensions header",
                "Content-Length" | "Transfer-Encoding" => {
                    "a WebSocket handshake request has no body"
                }
                _ => "invalid header",
            },
            Self::AlreadyFinished => "handshake already finished",
        }
    }

    /// The extra headers this refusal's response carries (before the common
    /// `Content-Type`, `Content-Length` and `Connection: close`).
    pub(crate) fn extra_headers(&self) -> &'static str {
        match self {
            Self::NotGet => "Allow: GET\r\n",
            // RFC 6455 §4.4: tell the client which versions we speak. Also on
            // a missing version: it costs nothing and helps the client.
            Self::MissingVersion => "Sec-WebSocket-Version: 13\r\n",
            // RFC 9110 §15.5.22: a 426 must say what to upgrade to, and
            // §7.8: whoever sends Upgrade lists it in Connection too (the
            // response writer then adds `close` to that Connection header).
            Self::UnsupportedVersion => "Sec-WebSocket-Version: 13\r\nUpgrade: websocket\r\n",
            Self::NotUpgrade => "Upgrade: websocket\r\n",
            _ => "",
        }
    }
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed(e) => write!(f, "{} ({}): {e}", self.reason(), self.status()),
            _ => write!(f, "{} ({})", self.reason(), self.status()),
        }
    }
}

impl std::error::Error for HandshakeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Malformed(e) => Some(e),
            _ => None,
        }
    }
}

impl From<httparse::Error> for HandshakeError {
    fn from(e: httparse::Error) -> Self {
        match e {
            httparse::Error::TooManyHeaders => Self::TooManyHeaders,
            e => Self::Malformed(e),
        }
    }
}
