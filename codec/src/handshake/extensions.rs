//! `Sec-WebSocket-Extensions` offers (RFC 6455 §9.1, parameters as RFC 7692
//! uses them).
//!
//! ```text
//! extension-list  = 1#extension
//! extension       = extension-token *( ";" extension-param )
//! extension-param = token [ "=" (token | quoted-string) ]
//!     ; a quoted-string value must, once unescaped, be a token
//! ```
//!
//! This module parses offers; `deflate.rs` negotiates permessage-deflate
//! from them (RFC 7692 §7.1).

use std::fmt;

use super::syntax::{is_tchar, is_token, token_string};

/// One extension offered by a client (or accepted by a server), e.g.
/// `permessage-deflate; client_max_window_bits` is
/// `ExtensionOffer { name: "permessage-deflate", params: [("client_max_window_bits", None)] }`.
///
/// `Display` writes it back in header syntax, ready for a 101's
/// `Sec-WebSocket-Extensions`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtensionOffer {
    /// The extension token, as sent (compare case-insensitively).
    pub name: String,
    /// Parameters in order; the value is `None` for a bare parameter and the
    /// unquoted value otherwise.
    pub params: Vec<(String, Option<String>)>,
}

/// A `Sec-WebSocket-Extensions` value that does not follow the RFC 6455 §9.1
/// grammar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtensionSyntaxError;

impl fmt::Display for ExtensionSyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("malformed Sec-WebSocket-Extensions value")
    }
}

impl std::error::Error for ExtensionSyntaxError {}

impl ExtensionOffer {
    /// Parses a whole `Sec-WebSocket-Extensions` value. Empty list elements
    /// (`a, , b`) are skipped, as RFC 9110 §5.6.1 asks of recipients.
    pub fn parse_list(value: &[u8]) -> Result<Vec<ExtensionOffer>, ExtensionSyntaxError> {
        let mut out = Vec::new();
        parse_into(value, &mut out)?;
        Ok(out)
    }

    /// Looks up a parameter by name (ASCII case-insensitive): `None` when
    /// absent, `Some(None)` for a bare parameter, `Some(Some(v))` with a value.
    pub fn param(&self, name: &str) -> Option<Option<&str>> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_deref())
    }
}

impl fmt::Display for ExtensionOffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        for (name, value) in &self.params {
            match value {
                // Values are tokens (the grammar requires it even when
                // quoted), so they never need quoting on the way out.
                Some(v) => write!(f, "; {name}={v}")?,
                None => write!(f, "; {name}")?,
            }
        }
        Ok(())
    }
}

/// Parses `value` and appends its offers to `out` (offers from repeated
/// headers accumulate). On error `out` may hold a prefix of the offers.
pub(crate) fn parse_into(
    value: &[u8],
    out: &mut Vec<ExtensionOffer>,
) -> Result<(), ExtensionSyntaxError> {
    let mut c = Cursor { s: value, i: 0 };
    loop {
        c.skip_ows();
        match c.peek() {
            None => return Ok(()),
            Some(b',') => {
                c.i += 1;
                continue;
            }
            Some(_) => {}
        }
        let name = token_string(c.token()?);
        let mut params = Vec::new();
        loop {
            c.skip_ows();
            match c.peek() {
                None => {
                    out.push(ExtensionOffer { name, params });
                    return Ok(());
                }
                Some(b',') => {
                    c.i += 1;
                    break;
                }
                Some(b';') => {
                    c.i += 1;
                    c.skip_ows();
                    let pname = token_string(c.token()?);
                    c.skip_ows();
                    let pvalue = if c.peek() == Some(b'=') {
                        c.i += 1;
                        c.skip_ows();
                        Some(if c.peek() == Some(b'"') {
                            c.quoted_token()?
                        } else {
                            token_string(c.token()?)
                        })
                    } else {
                        None
                    };
                    params.push((pname, pvalue));
                }
                Some(_) => return Err(ExtensionSyntaxError),
            }
        }
        out.push(ExtensionOffer { name, params });
    }
}

/// Position in a header value; invariant `i <= s.len()`.
struct Cursor<'a> {
    s: &'a [u8],
    i: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn skip_ows(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.i += 1;
        }
    }

    fn token(&mut self) -> Result<&'a [u8], ExtensionSyntaxError> {
        let start = self.i;
        while self.peek().is_some_and(is_tchar) {
            self.i += 1;
        }
        let t = &self.s[start..self.i];
        if t.is_empty() {
            Err(ExtensionSyntaxError)
        } else {
            Ok(t)
        }
    }

    /// A quoted-string whose unescaped content must be a token (RFC 6455 §9.1).
    fn quoted_token(&mut self) -> Result<String, ExtensionSyntaxError> {
        debug_assert_eq!(self.peek(), Some(b'"'));
        self.i += 1;
        let mut v = Vec::new();
        loop {
            match self.peek() {
                None => return Err(ExtensionSyntaxError),
                Some(b'"') => {
                    self.i += 1;
                    break;
                }
                Some(b'\\') => {
                    let escaped = self
                        .s
                        .get(self.i + 1)
                        .copied()
                        .ok_or(ExtensionSyntaxError)?;
                    v.push(escaped);
                    self.i += 2;
                }
                Some(b) => {
                    v.push(b);
                    self.i += 1;
                }
            }
        }
        if is_token(&v) {
            Ok(token_string(&v))
        } else {
            Err(ExtensionSyntaxError)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offer(name: &str, params: &[(&str, Option<&str>)]) -> ExtensionOffer {
        ExtensionOffer {
            name: name.into(),
            params: params
                .iter()
                .map(|(n, v)| (n.to_string(), v.map(str::to_string)))
                .collect(),
        }
    }

    #[test]
    fn parse_table() {
        let pmd = "permessage-deflate";
        let cases: Vec<(&str, Option<Vec<ExtensionOffer>>)> = vec![
            ("", Some(vec![])),
            (" , ,", Some(vec![])),
            (pmd, Some(vec![offer(pmd, &[])])),
            (
                "permessage-deflate; client_max_window_bits",
                Some(vec![offer(pmd, &[("client_max_window_bits", None)])]),
            ),
            (
                "permessage-deflate; client_max_window_bits, x-foo",
                Some(vec![
                    offer(pmd, &[("client_max_window_bits", None)]),
                    offer("x-foo", &[]),
                ]),
            ),
            (
                "permessage-deflate;server_max_window_bits=10;client_no_context_takeover",
                Some(vec![offer(
                    pmd,
                    &[
                        ("server_max_window_bits", Some("10")),
                        ("client_no_context_takeover", None),
                    ],
                )]),
            ),
            (
                "permessage-deflate; server_max_window_bits = \"10\" , x-foo ; a=\"b\\c\"",
                Some(vec![
                    offer(pmd, &[("server_max_window_bits", Some("10"))]),
                    offer("x-foo", &[("a", Some("bc"))]),
                ]),
            ),
            ("a,,b", Some(vec![offer("a", &[]), offer("b", &[])])),
            // Refusals.
            (";", None),
            ("a;", None),
            ("a; =1", None),
            ("a; b=", None),
            ("a; b=\"1 2\"", None), // unquoted value must be a token
            ("a; b=\"12", None),    // unterminated
            ("a; b=\"\"", None),    // empty is not a token
            ("a b", None),
            ("a; b c", None),
            ("a=1", None),
            ("é", None),
        ];
        for (input, want) in cases {
            let got = ExtensionOffer::parse_list(input.as_bytes()).ok();
            assert_eq!(got, want, "{input:?}");
        }
    }

    #[test]
    fn display_round_trips() {
        let src = "permessage-deflate; client_max_window_bits; server_max_window_bits=12";
        let offers = ExtensionOffer::parse_list(src.as_bytes()).unwrap();
        assert_eq!(offers[0].to_string(), src);
        assert_eq!(offers[0].param("SERVER_MAX_WINDOW_BITS"), Some(Some("12")));
        assert_eq!(offers[0].param("client_max_window_bits"), Some(None));
        assert_eq!(offers[0].param("nope"), None);
    }
}
