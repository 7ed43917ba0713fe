//! The client's opening handshake (RFC 6455 section 4.1), kept minimal: the
//! runner tests servers' framing, so it only needs a correct upgrade request
//! and a check of the `Sec-WebSocket-Accept` answer.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use sha1::{Digest, Sha1};

/// Where to connect: a parsed `ws://host:port/path` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Host name or address (without brackets for IPv6).
    pub host: String,
    /// TCP port (80 when the URL has none).
    pub port: u16,
    /// Request target, starting with `/`.
    pub path: String,
}

impl Target {
    /// Parses a `ws://` URL; `wss://` is refused (the runner has no TLS).
    pub fn parse(url: &str) -> Result<Self, String> {
        let rest = url
            .strip_prefix("ws://")
            .ok_or_else(|| format!("{url:?}: only ws:// URLs are supported"))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].to_string()),
            None => (rest, "/".to_string()),
        };
        let (host, port) = if let Some(h) = authority.strip_prefix('[') {
            let end = h.find(']').ok_or("unterminated IPv6 address")?;
            let port = h[end + 1..].strip_prefix(':').unwrap_or("80");
            (h[..end].to_string(), port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), p),
                None => (authority.to_string(), "80"),
            }
        };
        if host.is_empty() {
            return Err(format!("{url:?}: no host"));
        }
        let port = port
            .parse()
            .map_err(|e| format!("{url:?}: bad port: {e}"))?;
        Ok(Target { host, port, path })
    }

    /// `host:port` as the Host header wants it.
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// The server's answer to the upgrade request.
#[derive(Debug, Clone, Default)]
pub struct HandshakeResponse {
    /// HTTP status code.
    pub status: u16,
    /// Header fields in order, names as sent.
    pub headers: Vec<(String, String)>,
    /// Bytes received after the header block (frames the server sent at once).
    pub leftover: Vec<u8>,
}

impl HandshakeResponse {
    /// First header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The `Sec-WebSocket-Accept` value for a key (RFC 6455 section 4.2.2).
pub fn accept_key(key: &str) -> String {
    let mut h = Sha1::new();
    h.update(key.as_bytes());
    h.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    base64(&h.finalize())
}

/// Standard base64 with padding; the runner needs it for 16- and 20-byte values only.
pub fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Largest response header block accepted.
const MAX_RESPONSE: usize = 16 * 1024;

/// Connects, sends the upgrade request (with `extra` header lines) and checks
/// a 101 answer with the right accept key. Returns the stream (blocking, no
/// timeouts set) and the response.
pub fn connect(
    target: &Target,
    timeout: Duration,
    extra: &[(&str, &str)],
) -> Result<(TcpStream, HandshakeResponse), String> {
    let addr = (target.host.as_str(), target.port)
        .to_socket_addrs()
        .map_err(|e| format!("resolve {}: {e}", target.host))?
        .next()
        .ok_or_else(|| format!("{} resolves to nothing", target.host))?;
    let mut stream =
        TcpStream::connect_timeout(&addr, timeout).map_err(|e| format!("connect {addr}: {e}"))?;
    // Chopped writes must leave as separate segments, as Autobahn's do.
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let mut key = [0u8; 16];
    fastrand::fill(&mut key);
    let key = base64(&key);
    let mut req = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n",
        target.path,
        target.authority()
    );
    for (n, v) in extra {
        req.push_str(&format!("{n}: {v}\r\n"));
    }
    req.push_str("\r\n");
    let deadline = Instant::now() + timeout;
    stream
        .set_write_timeout(Some(timeout))
        .and_then(|_| stream.write_all(req.as_bytes()))
        .map_err(|e| format!("send request: {e}"))?;
    let mut buf = Vec::with_capacity(1024);
    let end = loop {
        if let Some(i) = find(&buf, b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > MAX_RESPONSE {
            return Err("response headers too large".into());
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err("timed out waiting for the handshake response".into());
        }
        stream
            .set_read_timeout(Some(left))
            .map_err(|e| e.to_string())?;
        let mut chunk = [0u8; 4096];
        match stream.read(&mut chunk) {
            Ok(0) => return Err("connection closed during the handshake".into()),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) => return Err(format!("read response: {e}")),
        }
    };
    let mut resp = parse_response(&buf[..end])?;
    resp.leftover = buf[end..].to_vec();
    if resp.status != 101 {
        return Err(format!("server answered HTTP {}", resp.status));
    }
    let want = accept_key(&key);
    match resp.header("sec-websocket-accept") {
        Some(got) if got.trim() == want => {}
        other => {
            return Err(format!(
                "bad Sec-WebSocket-Accept {other:?}, expected {want}"
            ))
        }
    }
    stream.set_read_timeout(None).map_err(|e| e.to_string())?;
    stream.set_write_timeout(None).map_err(|e| e.to_string())?;
    Ok((stream, resp))
}

/// Parses `HTTP/1.1 NNN reason` and header lines.
pub fn parse_response(head: &[u8]) -> Result<HandshakeResponse, String> {
    let text = std::str::from_utf8(head).map_err(|_| "response is not UTF-8")?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let (version, code) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if !version.starts_with("HTTP/1.") {
        return Err(format!("not an HTTP/1 response: {status_line:?}"));
    }
    let status = code
        .parse()
        .map_err(|_| format!("bad status line {status_line:?}"))?;
    let headers = lines
        .filter(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    Ok(HandshakeResponse {
        status,
        headers,
        leftover: Vec::new(),
    })
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_key_rfc_example() {
        // RFC 6455 section 1.3.
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
        assert_eq!(base64(b"the sample nonce"), "dGhlIHNhbXBsZSBub25jZQ==");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
    }

    #[test]
    fn parse_urls() {
        let t = |h: &str, p: u16, path: &str| Target {
            host: h.into(),
            port: p,
            path: path.into(),
        };
        let cases = [
            ("ws://127.0.0.1:9001", Some(t("127.0.0.1", 9001, "/"))),
            (
                "ws://localhost/echo?x=1",
                Some(t("localhost", 80, "/echo?x=1")),
            ),
            ("ws://[::1]:9001/a", Some(t("::1", 9001, "/a"))),
            ("wss://x:1", None),
            ("ws://:80", None),
            ("ws://h:notaport", None),
        ];
        for (url, want) in cases {
            assert_eq!(Target::parse(url).ok(), want, "{url}");
        }
    }

    #[test]
    fn parse_response_head() {
        let r = parse_response(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Extensions: x\r\n\r\n").unwrap();
        assert_eq!(r.status, 101);
        assert_eq!(r.header("sec-websocket-extensions"), Some("x"));
        assert!(parse_response(b"SSH-2.0\r\n\r\n").is_err());
    }
}
