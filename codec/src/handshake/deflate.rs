//! permessage-deflate negotiation (RFC 7692 §5, §7.1).
//!
//! Server side, [`negotiate`] reads the client's offers (every
//! `permessage-deflate` element of every `Sec-WebSocket-Extensions` header,
//! in the client's order of preference), skips each one it cannot honour
//! (a duplicate, unknown or malformed parameter, or a server window of 8,
//! which zlib-family deflaters cannot produce), and answers the first one
//! the [`Compression`] policy accepts. The answer says only what §7.1 allows:
//! never a larger window than offered, `client_max_window_bits` only when the
//! client offered it.
//!
//! Client side, [`DeflateOffer`] writes an offer and checks the server's
//! answer against it ([`ClientHandshake`](crate::ClientHandshake) does this
//! while validating the 101).

use std::fmt;

use super::extensions::ExtensionOffer;

/// The extension token.
pub const PERMESSAGE_DEFLATE: &str = "permessage-deflate";

/// Smallest LZ77 window (log2 bytes) the deflaters here can produce: zlib,
/// zlib-ng and zlib-rs silently turn 8 into 9, so an offer that limits the
/// server's window to 8 is declined.
pub const MIN_DEFLATE_WINDOW_BITS: u8 = 9;

/// A server's compression policy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Compression {
    /// Decline every offer (the default, as in uWebSockets).
    #[default]
    Off,
    /// No context takeover in either direction: each message is compressed
    /// and inflated on its own, so a worker can use one compressor and one
    /// decompressor for all its connections and a connection holds no
    /// compression memory. Answers `server_no_context_takeover;
    /// client_no_context_takeover`.
    Shared,
    /// Context takeover (when the client allows it) with per-connection
    /// streams: better ratios for similar messages, at the memory cost of
    /// one deflate and one inflate stream per connection.
    Dedicated {
        /// Largest window the server compresses with, 9–15 (values outside
        /// are clamped). Smaller windows need smaller streams.
        server_window_bits: u8,
        /// Largest window the server asks the client to compress with,
        /// 8–15 (clamped); sent only if the client offered
        /// `client_max_window_bits`. Sizes the server's inflate window.
        client_window_bits: u8,
    },
}

/// The parameters both ends agreed on (RFC 7692 §7.1), with absent window
/// parameters filled in as 15.
///
/// `Display` writes the `Sec-WebSocket-Extensions` value of the 101.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DeflateParams {
    /// The server resets its compressor after each message.
    pub server_no_context_takeover: bool,
    /// The client resets its compressor after each message.
    pub client_no_context_takeover: bool,
    /// Window the server compresses with (log2 bytes, 9–15).
    pub server_max_window_bits: u8,
    /// Window the client compresses with (log2 bytes, 8–15).
    pub client_max_window_bits: u8,
    /// Send `server_max_window_bits` in the answer.
    answer_server_bits: bool,
    /// Send `client_max_window_bits` in the answer (only when offered).
    answer_client_bits: bool,
}

/// One side's half of the agreement: how to run its compressor and its
/// decompressor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DeflateSide {
    /// Window to compress with (log2 bytes, 9–15).
    pub compress_window_bits: u8,
    /// Reset the compressor after each message (no context takeover).
    pub compress_reset: bool,
    /// Window to inflate with (log2 bytes, 9–15; a larger window than the
    /// peer uses is always fine, and 8 is inflated with 9).
    pub inflate_window_bits: u8,
    /// The peer resets its compressor after each message, so the inflater
    /// can be reset (or shared) too.
    pub inflate_reset: bool,
}

impl DeflateParams {
    /// The parameters as the server runs them.
    pub fn server(&self) -> DeflateSide {
        DeflateSide {
            compress_window_bits: self.server_max_window_bits.max(MIN_DEFLATE_WINDOW_BITS),
            compress_reset: self.server_no_context_takeover,
            inflate_window_bits: self.client_max_window_bits.max(MIN_DEFLATE_WINDOW_BITS),
            inflate_reset: self.client_no_context_takeover,
        }
    }

    /// The parameters as the client runs them.
    pub fn client(&self) -> DeflateSide {
        DeflateSide {
            compress_window_bits: self.client_max_window_bits.max(MIN_DEFLATE_WINDOW_BITS),
            compress_reset: self.client_no_context_takeover,
            inflate_window_bits: self.server_max_window_bits.max(MIN_DEFLATE_WINDOW_BITS),
            inflate_reset: self.server_no_context_takeover,
        }
    }
}

impl fmt::Display for DeflateParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(PERMESSAGE_DEFLATE)?;
        if self.server_no_context_takeover {
            f.write_str("; server_no_context_takeover")?;
        }
        if self.client_no_context_takeover {
            f.write_str("; client_no_context_takeover")?;
        }
        if self.answer_server_bits {
            write!(
                f,
                "; server_max_window_bits={}",
                self.server_max_window_bits
            )?;
        }
        if self.answer_client_bits {
            write!(
                f,
                "; client_max_window_bits={}",
                self.client_max_window_bits
            )?;
        }
        Ok(())
    }
}

/// The four parameters of one permessage-deflate element, checked for
/// syntax (§7.1: no duplicates, no unknown names, values as the grammar
/// says). `None` from [`Params::parse`] means: decline this element.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Params {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: Option<u8>,
    /// `Some(None)`: present without a value.
    client_max_window_bits: Option<Option<u8>>,
}

/// A window-bits value: a decimal integer 8–15 without leading zeros.
fn window_bits(v: &str) -> Option<u8> {
    match v.parse::<u8>() {
        Ok(n @ 8..=15) if !v.starts_with('0') && !v.starts_with('+') => Some(n),
        _ => None,
    }
}

impl Params {
    fn parse(e: &ExtensionOffer) -> Option<Params> {
        if !e.name.eq_ignore_ascii_case(PERMESSAGE_DEFLATE) {
            return None;
        }
        let mut p = Params::default();
        let mut seen = [false; 4];
        for (name, value) in &e.params {
            let value = value.as_deref();
            let i = match name.to_ascii_lowercase().as_str() {
                "server_no_context_takeover" if value.is_none() => {
                    p.server_no_context_takeover = true;
                    0
                }
                "client_no_context_takeover" if value.is_none() => {
                    p.client_no_context_takeover = true;
                    1
                }
                "server_max_window_bits" => {
                    p.server_max_window_bits = Some(window_bits(value?)?);
                    2
                }
                "client_max_window_bits" => {
                    p.client_max_window_bits = Some(match value {
                        None => None,
                        Some(v) => Some(window_bits(v)?),
                    });
                    3
                }
                _ => return None,
            };
            if std::mem::replace(&mut seen[i], true) {
                return None;
            }
        }
        Some(p)
    }
}

/// Picks the first offer in `offers` that `policy` can accept and returns
/// the agreed parameters (write them, with `Display`, as the 101's
/// `Sec-WebSocket-Extensions`). `None`: no compression for this connection
/// (policy off, nothing offered, or no offer acceptable).
///
/// Offers with duplicate, unknown or malformed parameters are declined, and
/// so is one that limits the server's window to 8 bits.
pub fn negotiate(offers: &[ExtensionOffer], policy: Compression) -> Option<DeflateParams> {
    if policy == Compression::Off {
        return None;
    }
    offers
        .iter()
        .filter_map(Params::parse)
        .find_map(|p| accept(&p, policy))
}

fn accept(p: &Params, policy: Compression) -> Option<DeflateParams> {
    let (wanted_server, wanted_client, shared) = match policy {
        Compression::Off => return None,
        Compression::Shared => (15, 15, true),
        Compression::Dedicated {
            server_window_bits,
            client_window_bits,
        } => (
            server_window_bits.clamp(MIN_DEFLATE_WINDOW_BITS, 15),
            client_window_bits.clamp(8, 15),
            false,
        ),
    };
    let server_bits = p.server_max_window_bits.unwrap_or(15).min(wanted_server);
    if server_bits < MIN_DEFLATE_WINDOW_BITS {
        // Answering another value than the offer's 8 is not allowed, and
        // the deflater cannot produce 8: decline.
        return None;
    }
    let (client_bits, answer_client_bits) = match p.client_max_window_bits {
        // Not offered: the client may use 15 and we must not say otherwise.
        None => (15, false),
        Some(offered) => {
            let offered = offered.unwrap_or(15);
            let c = offered.min(wanted_client);
            (c, c < 15 || offered < 15)
        }
    };
    Some(DeflateParams {
        server_no_context_takeover: shared || p.server_no_context_takeover,
        client_no_context_takeover: shared || p.client_no_context_takeover,
        server_max_window_bits: server_bits,
        client_max_window_bits: client_bits,
        answer_server_bits: p.server_max_window_bits.is_some() || server_bits < 15,
        answer_client_bits,
    })
}

/// A client's permessage-deflate offer.
///
/// The default offers `permessage-deflate; client_max_window_bits`, what
/// Chromium, Python `websockets` and Node `ws` send.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DeflateOffer {
    /// Ask the server to reset its compressor per message.
    pub server_no_context_takeover: bool,
    /// Tell the server this client resets its compressor per message.
    pub client_no_context_takeover: bool,
    /// Ask the server for a window of at most this many bits (9–15).
    pub server_max_window_bits: Option<u8>,
    /// Offer `client_max_window_bits` (the server may then limit the
    /// client's window); `Some(Some(n))` also caps it at `n` (9–15).
    pub client_max_window_bits: Option<Option<u8>>,
}

impl Default for DeflateOffer {
    fn default() -> Self {
        Self {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: None,
            client_max_window_bits: Some(None),
        }
    }
}

impl fmt::Display for DeflateOffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(PERMESSAGE_DEFLATE)?;
        if self.server_no_context_takeover {
            f.write_str("; server_no_context_takeover")?;
        }
        if self.client_no_context_takeover {
            f.write_str("; client_no_context_takeover")?;
        }
        if let Some(b) = self.server_max_window_bits {
            write!(f, "; server_max_window_bits={b}")?;
        }
        match self.client_max_window_bits {
            Some(Some(b)) => write!(f, "; client_max_window_bits={b}")?,
            Some(None) => f.write_str("; client_max_window_bits")?,
            None => {}
        }
        Ok(())
    }
}

/// Why a server's permessage-deflate answer is refused by the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeflateAnswerError;

impl fmt::Display for DeflateAnswerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("permessage-deflate answer does not match any offer")
    }
}

impl std::error::Error for DeflateAnswerError {}

/// Client side: checks the server's accepted permessage-deflate element
/// against the offers the client sent (RFC 7692 §7.1) and returns the
/// agreed parameters. Refused: unknown, duplicate or malformed parameters;
/// `client_max_window_bits` that no offer allowed (or above the offered
/// cap); `server_max_window_bits` above an offer's cap; a client window of
/// 8, which this client's deflater cannot produce.
pub fn accept_answer(
    offers: &[ExtensionOffer],
    answer: &ExtensionOffer,
) -> Result<DeflateParams, DeflateAnswerError> {
    let a = Params::parse(answer).ok_or(DeflateAnswerError)?;
    let fits = |o: &Params| {
        let server_ok = match (o.server_max_window_bits, a.server_max_window_bits) {
            (Some(cap), Some(got)) => got <= cap,
            // The server must accept a limit we asked for.
            (Some(_), None) => false,
            _ => true,
        };
        let client_ok = match (o.client_max_window_bits, a.client_max_window_bits) {
            (_, None) => true,
            (None, Some(_)) => false,
            // In an answer the parameter needs a value.
            (Some(_), Some(None)) => false,
            (Some(cap), Some(Some(got))) => got <= cap.unwrap_or(15),
        };
        // A server that accepts `server_no_context_takeover` must echo it.
        let takeover_ok = !o.server_no_context_takeover || a.server_no_context_takeover;
        server_ok && client_ok && takeover_ok
    };
    let offered: Vec<Params> = offers.iter().filter_map(Params::parse).collect();
    let Some(offer) = offered.iter().find(|o| fits(o)) else {
        return Err(DeflateAnswerError);
    };
    let client_bits = a
        .client_max_window_bits
        .flatten()
        .or(offer.client_max_window_bits.flatten())
        .unwrap_or(15);
    if client_bits < MIN_DEFLATE_WINDOW_BITS {
        return Err(DeflateAnswerError);
    }
    Ok(DeflateParams {
        server_no_context_takeover: a.server_no_context_takeover,
        client_no_context_takeover: a.client_no_context_takeover
            || offer.client_no_context_takeover,
        server_max_window_bits: a.server_max_window_bits.unwrap_or(15),
        client_max_window_bits: client_bits,
        answer_server_bits: a.server_max_window_bits.is_some(),
        answer_client_bits: a.client_max_window_bits.is_some(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEDICATED: Compression = Compression::Dedicated {
        server_window_bits: 15,
        client_window_bits: 15,
    };

    fn answer(header: &str, policy: Compression) -> Option<String> {
        let offers = ExtensionOffer::parse_list(header.as_bytes()).unwrap();
        negotiate(&offers, policy).map(|p| p.to_string())
    }

    /// (offer header, policy, expected answer)
    #[test]
    fn offers_table() {
        let d = |s, c| Compression::Dedicated {
            server_window_bits: s,
            client_window_bits: c,
        };
        let pmd = "permessage-deflate";
        // Autobahn's default offer (12.x, 13.1): it accepts no context
        // takeover and window limits for its own side.
        let ab = "permessage-deflate; client_no_context_takeover; client_max_window_bits";
        let table: Vec<(String, Compression, Option<&str>)> = vec![
            (pmd.into(), Compression::Off, None),
            (pmd.into(), DEDICATED, Some(pmd)),
            (
                pmd.into(),
                Compression::Shared,
                Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover"),
            ),
            // Chromium, Python websockets and Node ws all offer this.
            (
                "permessage-deflate; client_max_window_bits".into(),
                DEDICATED,
                Some(pmd),
            ),
            (
                "permessage-deflate; client_max_window_bits".into(),
                d(15, 10),
                Some("permessage-deflate; client_max_window_bits=10"),
            ),
            (
                "permessage-deflate; client_max_window_bits".into(),
                d(12, 15),
                Some("permessage-deflate; server_max_window_bits=12"),
            ),
            (
                "permessage-deflate; client_max_window_bits".into(),
                Compression::Shared,
                Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover"),
            ),
            // Not offered: never answered, whatever the policy wants.
            (pmd.into(), d(15, 9), Some(pmd)),
            (
                ab.into(),
                DEDICATED,
                Some("permessage-deflate; client_no_context_takeover"),
            ),
            (
                format!("{ab}; server_no_context_takeover"),
                DEDICATED,
                Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover"),
            ),
            (
                format!("{ab}; server_max_window_bits=9"),
                DEDICATED,
                Some("permessage-deflate; client_no_context_takeover; server_max_window_bits=9"),
            ),
            (
                format!("{ab}; server_max_window_bits=15"),
                DEDICATED,
                Some("permessage-deflate; client_no_context_takeover; server_max_window_bits=15"),
            ),
            // Never a larger window than offered; a smaller one is fine.
            (
                format!("{ab}; server_max_window_bits=12"),
                d(10, 15),
                Some("permessage-deflate; client_no_context_takeover; server_max_window_bits=10"),
            ),
            (
                format!("{ab}; server_no_context_takeover; server_max_window_bits=9"),
                DEDICATED,
                Some(
                    "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9",
                ),
            ),
            (
                "permessage-deflate; client_max_window_bits=9".into(),
                DEDICATED,
                Some("permessage-deflate; client_max_window_bits=9"),
            ),
            (
                "permessage-deflate; client_max_window_bits=12".into(),
                d(15, 10),
                Some("permessage-deflate; client_max_window_bits=10"),
            ),
            // Autobahn's three-offer fallback: the first acceptable one wins.
            (
                format!(
                    "{ab}; server_no_context_takeover; server_max_window_bits=9, \
                     {ab}; server_no_context_takeover, {ab}"
                ),
                DEDICATED,
                Some(
                    "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9",
                ),
            ),
            // A server window of 8 cannot be produced: that offer is declined
            // and the next one taken (or none).
            (
                "permessage-deflate; server_max_window_bits=8".into(),
                DEDICATED,
                None,
            ),
            (
                "permessage-deflate; server_max_window_bits=8".into(),
                Compression::Shared,
                None,
            ),
            (
                "permessage-deflate; server_max_window_bits=8, permessage-deflate".into(),
                DEDICATED,
                Some(pmd),
            ),
            // A client window of 8 is fine: inflating needs no less than 9.
            (
                "permessage-deflate; client_max_window_bits=8".into(),
                DEDICATED,
                Some("permessage-deflate; client_max_window_bits=8"),
            ),
            // Quoted values.
            (
                "permessage-deflate; server_max_window_bits=\"10\"".into(),
                DEDICATED,
                Some("permessage-deflate; server_max_window_bits=10"),
            ),
            // Declined: duplicates, unknown parameters, bad values.
            (
                "permessage-deflate; server_no_context_takeover; server_no_context_takeover".into(),
                DEDICATED,
                None,
            ),
            (
                "permessage-deflate; client_max_window_bits; client_max_window_bits=10".into(),
                DEDICATED,
                None,
            ),
            ("permessage-deflate; foo".into(), DEDICATED, None),
            (
                "permessage-deflate; server_max_window_bits".into(),
                DEDICATED,
                None,
            ),
            (
                "permessage-deflate; server_max_window_bits=16".into(),
                DEDICATED,
                None,
            ),
            (
                "permessage-deflate; server_max_window_bits=7".into(),
                DEDICATED,
                None,
            ),
            (
                "permessage-deflate; server_max_window_bits=010".into(),
                DEDICATED,
                None,
            ),
            (
                "permessage-deflate; client_max_window_bits=abc".into(),
                DEDICATED,
                None,
            ),
            (
                "permessage-deflate; server_no_context_takeover=1".into(),
                DEDICATED,
                None,
            ),
            // A declined offer falls back to the next, across other extensions.
            (
                "x-webkit-deflate-frame, permessage-deflate; foo, PerMessage-Deflate; client_max_window_bits"
                    .into(),
                d(15, 11),
                Some("permessage-deflate; client_max_window_bits=11"),
            ),
            ("x-webkit-deflate-frame".into(), DEDICATED, None),
            ("".into(), DEDICATED, None),
        ];
        for (offer, policy, want) in table {
            assert_eq!(
                answer(&offer, policy).as_deref(),
                want,
                "{offer:?} {policy:?}"
            );
        }
    }

    #[test]
    fn sides_follow_the_agreement() {
        let offers = ExtensionOffer::parse_list(
            b"permessage-deflate; client_no_context_takeover; client_max_window_bits=8; server_max_window_bits=10",
        )
        .unwrap();
        let p = negotiate(&offers, DEDICATED).unwrap();
        assert_eq!(
            p.server(),
            DeflateSide {
                compress_window_bits: 10,
                compress_reset: false,
                inflate_window_bits: 9,
                inflate_reset: true,
            }
        );
        assert_eq!(p.client().compress_window_bits, 9);
        assert!(p.client().compress_reset);
        assert!(!p.client().inflate_reset);
    }

    #[test]
    fn every_answer_is_accepted_by_the_client_check() {
        let offers = [
            DeflateOffer::default(),
            DeflateOffer {
                server_no_context_takeover: true,
                server_max_window_bits: Some(9),
                ..DeflateOffer::default()
            },
            DeflateOffer {
                client_max_window_bits: None,
                ..DeflateOffer::default()
            },
            DeflateOffer {
                client_max_window_bits: Some(Some(12)),
                server_max_window_bits: Some(15),
                client_no_context_takeover: true,
                ..DeflateOffer::default()
            },
        ];
        let policies = [
            Compression::Shared,
            DEDICATED,
            Compression::Dedicated {
                server_window_bits: 9,
                client_window_bits: 9,
            },
        ];
        for o in offers {
            for policy in policies {
                let offered = ExtensionOffer::parse_list(o.to_string().as_bytes()).unwrap();
                let agreed = negotiate(&offered, policy).unwrap();
                let answer = ExtensionOffer::parse_list(agreed.to_string().as_bytes()).unwrap();
                let client = accept_answer(&offered, &answer[0]).unwrap();
                assert_eq!(client.server(), agreed.server(), "{o} {policy:?}");
            }
        }
    }

    #[test]
    fn client_refuses_answers_outside_the_offer() {
        let table: &[(&str, &str, bool)] = &[
            ("permessage-deflate", "permessage-deflate", true),
            (
                "permessage-deflate",
                "permessage-deflate; server_no_context_takeover; server_max_window_bits=10",
                true,
            ),
            (
                "permessage-deflate",
                "permessage-deflate; client_max_window_bits=10",
                false,
            ),
            (
                "permessage-deflate; client_max_window_bits",
                "permessage-deflate; client_max_window_bits=10",
                true,
            ),
            (
                "permessage-deflate; client_max_window_bits",
                "permessage-deflate; client_max_window_bits",
                false,
            ),
            (
                "permessage-deflate; client_max_window_bits",
                "permessage-deflate; client_max_window_bits=8",
                false,
            ),
            (
                "permessage-deflate; client_max_window_bits=10",
                "permessage-deflate; client_max_window_bits=11",
                false,
            ),
            (
                "permessage-deflate; server_max_window_bits=10",
                "permessage-deflate; server_max_window_bits=11",
                false,
            ),
            (
                "permessage-deflate; server_max_window_bits=10",
                "permessage-deflate",
                false,
            ),
            (
                "permessage-deflate; server_no_context_takeover",
                "permessage-deflate",
                false,
            ),
            ("permessage-deflate", "permessage-deflate; x=1", false),
            (
                "permessage-deflate; server_no_context_takeover, permessage-deflate",
                "permessage-deflate",
                true,
            ),
        ];
        for &(offer, answer, ok) in table {
            let offers = ExtensionOffer::parse_list(offer.as_bytes()).unwrap();
            let answer = &ExtensionOffer::parse_list(answer.as_bytes()).unwrap()[0];
            assert_eq!(
                accept_answer(&offers, answer).is_ok(),
                ok,
                "{offer:?} -> {answer}"
            );
        }
    }
}
