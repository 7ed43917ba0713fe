//! The cases, one file per Autobahn chapter, numbered as Autobahn numbers them.

use crate::case::Case;

mod ch01_framing;
mod ch02_pings;
mod ch03_reserved_bits;
mod ch04_opcodes;
mod ch05_fragmentation;
mod ch06_utf8;
mod ch07_close;
mod ch09_limits;
mod ch10_misc;
mod ch12_compression;

pub use ch06_utf8::hex;

/// Chapter numbers and titles, as in Autobahn's reports.
pub const CHAPTERS: &[(u32, &str)] = &[
    (1, "Framing"),
    (2, "Pings/Pongs"),
    (3, "Reserved Bits"),
    (4, "Opcodes"),
    (5, "Fragmentation"),
    (6, "UTF-8 Handling"),
    (7, "Close Handling"),
    (9, "Limits/Performance"),
    (10, "Misc (auto-fragmentation)"),
    (12, "WebSocket Compression (different payloads)"),
    (13, "WebSocket Compression (different parameters)"),
];

/// Every case, sorted by number.
pub fn all() -> Vec<Case> {
    let mut v = Vec::new();
    v.extend(ch01_framing::cases());
    v.extend(ch02_pings::cases());
    v.extend(ch03_reserved_bits::cases());
    v.extend(ch04_opcodes::cases());
    v.extend(ch05_fragmentation::cases());
    v.extend(ch06_utf8::cases());
    v.extend(ch07_close::cases());
    v.extend(ch09_limits::cases());
    v.extend(ch10_misc::cases());
    v.extend(ch12_compression::cases());
    v.sort_by(|a, b| a.id.cmp(&b.id));
    v
}

/// Title of a chapter.
pub fn chapter_title(ch: u32) -> &'static str {
    CHAPTERS
        .iter()
        .find(|(n, _)| *n == ch)
        .map(|(_, t)| *t)
        .unwrap_or("Other")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn numbering_is_unique_and_counts_match_autobahn() {
        let cases = all();
        let ids: HashSet<String> = cases.iter().map(|c| c.id.to_string()).collect();
        assert_eq!(ids.len(), cases.len(), "duplicate case numbers");
        let count = |prefix: &str| {
            cases
                .iter()
                .filter(|c| {
                    let id = c.id.to_string();
                    id == prefix || id.starts_with(&format!("{prefix}."))
                })
                .count()
        };
        // Autobahn's chapter sizes (without compression).
        for (prefix, n) in [
            ("1", 16),
            ("2", 11),
            ("3", 7),
            ("4", 10),
            ("5", 20),
            ("6.1", 3),
            ("6.2", 4),
            ("6.3", 2),
            ("6.4", 4),
            ("6.5", 5),
            ("6.6", 11),
            ("6.12", 8),
            ("6.13", 5),
            ("6.14", 10),
            ("6.20", 7),
            ("6.21", 8),
            ("6.22", 34),
            ("6.23", 7),
            ("7.1", 6),
            ("7.3", 6),
            ("7.7", 13),
            ("7.9", 9),
            ("7.13", 2),
            ("9", 54),
            ("10", 1),
        ] {
            assert_eq!(count(prefix), n, "chapter {prefix}");
        }
        // Every script builds and expects something.
        for c in cases.iter().filter(|c| c.size <= 1 << 16) {
            let s = c.script();
            assert!(
                !s.expect.outcomes.is_empty() || s.expect.informational,
                "{}",
                c.id
            );
        }
    }
}
