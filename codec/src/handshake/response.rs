//! Server side: writing the 101 that accepts, or the HTTP response that
//! refuses.

use std::fmt;
use std::io::Write as _;

use super::error::HandshakeError;
use super::extensions::ExtensionOffer;
use super::request::Request;
use super::syntax::{is_field_value, is_token};

/// Why [`write_accept_response`] refused to write a 101: the application asked
/// for something the client did not offer or that cannot be sent (API misuse,
/// not the client's fault).
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AcceptError {
    /// The subprotocol is not one of `Request::protocols()`.
    ProtocolNotOffered,
    /// The extensions value does not parse (RFC 6455 §9.1).
    BadExtensions,
    /// The extensions value names an extension the client did not offer.
    ExtensionNotOffered,
    /// An extra header has an invalid name or a value with CR, LF or NUL
    /// (which would let it inject headers).
    InvalidHeader,
}

impl fmt::Display for AcceptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::ProtocolNotOffered => "subprotocol not offered by the client",
            Self::BadExtensions => "malformed Sec-WebSocket-Extensions value",
            Self::ExtensionNotOffered => "extension not offered by the client",
            Self::InvalidHeader => "invalid extra header",
        })
    }
}

impl std::error::Error for AcceptError {}

/// Appends the `101 Switching Protocols` response accepting `request` to `out`.
///
/// `protocol` must be one of [`Request::protocols`] (RFC 6455 §4.2.2: the
/// server selects one the client offered, or none); `extensions` is the
/// `Sec-WebSocket-Extensions` value to send and may only name extensions the
/// client offered (build it with `ExtensionOffer`'s `Display`);
/// `extra_headers` (e.g. `Set-Cookie`) are written as given after validation.
/// On error nothing is written.
pub fn write_accept_response(
    out: &mut Vec<u8>,
    request: &Request,
    protocol: Option<&str>,
    extensions: Option<&str>,
    extra_headers: &[(&str, &str)],
) -> Result<(), AcceptError> {
    if let Some(p) = protocol {
        if !request.protocols().iter().any(|offered| offered == p) {
            return Err(AcceptError::ProtocolNotOffered);
        }
    }
    if let Some(e) = extensions {
        let accepted =
            ExtensionOffer::parse_list(e.as_bytes()).map_err(|_| AcceptError::BadExtensions)?;
        if accepted.is_empty() {
            return Err(AcceptError::BadExtensions);
        }
        let offered = |a: &ExtensionOffer| {
            request
                .extensions()
                .iter()
                .any(|o| o.name.eq_ignore_ascii_case(&a.name))
        };
        if !accepted.iter().all(offered) {
            return Err(AcceptError::ExtensionNotOffered);
        }
    }
    if !extra_headers
        .iter()
        .all(|(n, v)| is_token(n.as_bytes()) && is_field_value(v.as_bytes()))
    {
        return Err(AcceptError::InvalidHeader);
    }

    let accept = request.accept_key();
    out.reserve(160 + extra_headers.len() * 32);
    out.extend_from_slice(
        b"HTTP/1.1 101 Switching Protocols\r\n\
          Upgrade: websocket\r\n\
          Connection: Upgrade\r\n\
          Sec-WebSocket-Accept: ",
    );
    out.extend_from_slice(&accept);
    out.extend_from_slice(b"\r\n");
    if let Some(p) = protocol {
        push_header(out, "Sec-WebSocket-Protocol", p);
    }
    if let Some(e) = extensions {
        push_header(out, "Sec-WebSocket-Extensions", e);
    }
    for (n, v) in extra_headers {
        push_header(out, n, v);
    }
    out.extend_from_slice(b"\r\n");
    Ok(())
}

fn push_header(out: &mut Vec<u8>, name: &str, value: &str) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value.as_bytes());
    out.extend_from_slice(b"\r\n");
}

impl HandshakeError {
    /// Appends the complete HTTP/1.1 response refusing the handshake:
    /// status line, the headers this refusal needs (`Allow: GET`,
    /// `Sec-WebSocket-Version: 13`, `Upgrade: websocket`), `Content-Type`,
    /// `Content-Length`, `Connection: close`, and [`HandshakeError::reason`]
    /// as a one-line text body. Close the connection after sending it.
    pub fn write_response(&self, out: &mut Vec<u8>) {
        write_refusal(out, self.status(), self.extra_headers(), self.reason());
    }

    /// [`HandshakeError::write_response`] into a new buffer.
    pub fn response_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        self.write_response(&mut out);
        out
    }
}

/// Appends an HTTP/1.1 refusal chosen by the application (401, 403, 404, …
/// after looking at the [`Request`]): `Connection: close` and `reason` as a
/// text body. A `status` outside 100..=999 is written as 500.
pub fn reject_response(status: u16, reason: &str, out: &mut Vec<u8>) {
    let status = if (100..=999).contains(&status) {
        status
    } else {
        500
    };
    write_refusal(out, status, "", reason);
}

fn write_refusal(out: &mut Vec<u8>, status: u16, extra_headers: &str, reason: &str) {
    // Whoever sends `Upgrade` must list it in `Connection` (RFC 9110 §7.8).
    let connection = if extra_headers.contains("Upgrade:") {
        "Upgrade, close"
    } else {
        "close"
    };
    // Writing into a Vec cannot fail.
    let _ = write!(
        out,
        "HTTP/1.1 {status} {}\r\n{extra_headers}\
         Content-Type: text/plain; charset=utf-8\r\n\
         Content-Length: {}\r\n\
         Connection: {connection}\r\n\r\n{reason}\n",
        status_text(status),
        reason.len() + 1,
    );
}

/// Reason phrases for the statuses a handshake is likely to end with.
fn status_text(status: u16) -> &'static str {
    match status {
        101 => "Switching Protocols",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_response(bytes: &[u8]) -> (u16, Vec<(String, String)>, Vec<u8>) {
        let mut headers = [httparse::EMPTY_HEADER; 16];
        let mut res = httparse::Response::new(&mut headers);
        let n = match res.parse(bytes).unwrap() {
            httparse::Status::Complete(n) => n,
            httparse::Status::Partial => panic!("incomplete response"),
        };
        let hs = res
            .headers
            .iter()
            .map(|h| {
                (
                    h.name.to_string(),
                    String::from_utf8(h.value.to_vec()).unwrap(),
                )
            })
            .collect();
        (res.code.unwrap(), hs, bytes[n..].to_vec())
    }

    #[test]
    fn every_refusal_is_a_complete_response() {
        let errors = [
            HandshakeError::Malformed(httparse::Error::Token),
            HandshakeError::NotGet,
            HandshakeError::NotHttp11,
            HandshakeError::BadTarget,
            HandshakeError::MissingHost,
            HandshakeError::NotUpgrade,
            HandshakeError::MissingConnectionUpgrade,
            HandshakeError::MissingKey,
            HandshakeError::BadKey,
            HandshakeError::MissingVersion,
            HandshakeError::UnsupportedVersion,
            HandshakeError::HeadersTooLarge,
            HandshakeError::TooManyHeaders,
            HandshakeError::DuplicateHeader("Host"),
            HandshakeError::InvalidHeader("Sec-WebSocket-Extensions"),
            HandshakeError::AlreadyFinished,
        ];
        for e in errors {
            let bytes = e.response_bytes();
            let (status, headers, body) = parse_response(&bytes);
            assert_eq!(status, e.status(), "{e:?}");
            let get = |n: &str| {
                headers
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(n))
                    .map(|(_, v)| v.as_str())
            };
            let len: usize = get("Content-Length").unwrap().parse().unwrap();
            assert_eq!(len, body.len(), "{e:?}");
            assert_eq!(body, format!("{}\n", e.reason()).into_bytes());
            assert!(get("Connection").unwrap().contains("close"), "{e:?}");
            assert_eq!(get("Allow"), (e == HandshakeError::NotGet).then_some("GET"));
            let wants_version = matches!(
                e,
                HandshakeError::UnsupportedVersion | HandshakeError::MissingVersion
            );
            assert_eq!(
                get("Sec-WebSocket-Version"),
                wants_version.then_some("13"),
                "{e:?}"
            );
            if e.status() == 426 {
                assert_eq!(get("Upgrade"), Some("websocket"), "{e:?}");
                assert_eq!(get("Connection"), Some("Upgrade, close"), "{e:?}");
            }
        }
    }

    #[test]
    fn application_rejections() {
        for (status, text) in [
            (401, "Unauthorized"),
            (403, "Forbidden"),
            (404, "Not Found"),
        ] {
            let mut out = Vec::new();
            reject_response(status, "no such room", &mut out);
            let (code, _, body) = parse_response(&out);
            assert_eq!(code, status);
            assert!(out.starts_with(format!("HTTP/1.1 {status} {text}\r\n").as_bytes()));
            assert_eq!(body, b"no such room\n");
        }
        let mut out = Vec::new();
        reject_response(7, "bogus status", &mut out);
        assert_eq!(parse_response(&out).0, 500);
    }
}
