//! HTTP field syntax shared by the request, response and extension parsers
//! (RFC 9110 §5.6: tokens, OWS, comma-separated lists).

/// A byte range inside a head buffer. The owned [`crate::Request`] keeps one
/// copy of the head and spans into it rather than a `String` per field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Span {
    start: usize,
    end: usize,
}

impl Span {
    /// The span of `part`, which must be a sub-slice of `base` (httparse hands
    /// out sub-slices of the buffer it parsed). Only addresses are compared;
    /// nothing is dereferenced.
    pub(crate) fn of(base: &[u8], part: &[u8]) -> Span {
        let start = (part.as_ptr() as usize).wrapping_sub(base.as_ptr() as usize);
        debug_assert!(start <= base.len() && start + part.len() <= base.len());
        Span {
            start,
            end: start + part.len(),
        }
    }

    /// The bytes this span covers in `base` (empty if it does not fit, which
    /// cannot happen for spans built by [`Span::of`] on the same buffer).
    pub(crate) fn get(self, base: &[u8]) -> &[u8] {
        base.get(self.start..self.end).unwrap_or_default()
    }

    /// Like [`Span::get`] for spans whose bytes were checked to be UTF-8.
    pub(crate) fn get_str(self, base: &[u8]) -> &str {
        std::str::from_utf8(self.get(base)).unwrap_or_default()
    }
}

/// `tchar` from RFC 9110 §5.6.2.
pub(crate) fn is_tchar(b: u8) -> bool {
    matches!(b,
        b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.'
        | b'^' | b'_' | b'`' | b'|' | b'~' | b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z')
}

/// A non-empty run of `tchar`s.
pub(crate) fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_tchar(b))
}

/// Strips optional whitespace (SP / HTAB) from both ends.
pub(crate) fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// The elements of a `#list` (RFC 9110 §5.6.1): split on commas, trimmed,
/// empty elements skipped as the RFC requires recipients to. Not quote-aware:
/// only for lists of tokens (`Connection`, `Upgrade`, `Sec-WebSocket-Protocol`).
pub(crate) fn list_elements(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(trim_ows)
        .filter(|e| !e.is_empty())
}

/// Whether a token list contains `token`, compared ASCII case-insensitively
/// (`Connection: keep-alive, Upgrade` contains `upgrade`).
pub(crate) fn list_contains(value: &[u8], token: &str) -> bool {
    list_elements(value).any(|e| e.eq_ignore_ascii_case(token.as_bytes()))
}

/// A token as an owned string (tokens are ASCII, so this cannot fail).
pub(crate) fn token_string(token: &[u8]) -> String {
    token.iter().map(|&b| char::from(b)).collect()
}

/// Whether `value` may be written as a field value as is: no CR, LF or NUL
/// (which would end the field or be rejected), nothing but HTAB among the
/// other control characters.
pub(crate) fn is_field_value(value: &[u8]) -> bool {
    value
        .iter()
        .all(|&b| b == b'\t' || (b >= 0x20 && b != 0x7f))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_contains_table() {
        let cases: &[(&[u8], &str, bool)] = &[
            (b"Upgrade", "upgrade", true),
            (b"upgrade", "upgrade", true),
            (b"UPGRADE", "upgrade", true),
            (b"keep-alive, Upgrade", "upgrade", true),
            (b"keep-alive,Upgrade", "upgrade", true),
            (b" ,, Upgrade ,", "upgrade", true),
            (b"\tUpgrade\t", "upgrade", true),
            (b"keep-alive", "upgrade", false),
            (b"upgrade2", "upgrade", false),
            (b"up grade", "upgrade", false),
            (b"", "upgrade", false),
            (b"websocket, h2c", "websocket", true),
        ];
        for &(v, t, want) in cases {
            assert_eq!(
                list_contains(v, t),
                want,
                "{:?} ∋ {t}",
                String::from_utf8_lossy(v)
            );
        }
    }

    #[test]
    fn token_and_trim() {
        assert!(is_token(b"chat.v2"));
        assert!(!is_token(b""));
        assert!(!is_token(b"a b"));
        assert!(!is_token(b"a;b"));
        assert!(!is_token("é".as_bytes()));
        assert_eq!(trim_ows(b" \t x y \t"), b"x y");
        assert_eq!(trim_ows(b"   "), b"");
        assert!(is_field_value(b"a\tb c"));
        assert!(!is_field_value(b"a\r\nb"));
        assert!(!is_field_value(b"a\0"));
    }

    #[test]
    fn span_round_trip() {
        let base = b"hello world";
        let s = Span::of(base, &base[6..]);
        assert_eq!(s.get(base), b"world");
        assert_eq!(s.get_str(base), "world");
        assert_eq!(Span::default().get(base), b"");
    }
}
