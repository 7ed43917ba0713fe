//! Choosing cases with `--cases '1.*,2.*'` / `--exclude '9.*'`.

use crate::case::Case;

/// A comma-separated list of patterns: `*` matches any run of characters;
/// a pattern without `*` matches that case or everything under it (`6.4`
/// selects `6.4.1`…).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    patterns: Vec<String>,
}

impl Selection {
    /// Parses `"1.*,2.*"`; empty entries are ignored.
    pub fn parse(list: &str) -> Self {
        Selection {
            patterns: list
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(String::from)
                .collect(),
        }
    }
    /// Does any pattern match `id`?
    pub fn matches(&self, id: &str) -> bool {
        self.patterns.iter().any(|p| {
            if p.contains('*') {
                glob(p.as_bytes(), id.as_bytes())
            } else {
                id == p || id.starts_with(&format!("{p}."))
            }
        })
    }
}

/// `cases` matching `include` and not `exclude`, and at most `max_size` bytes
/// per message; also returns how many were left out by size.
pub fn select(
    cases: Vec<Case>,
    include: &Selection,
    exclude: Option<&Selection>,
    max_size: usize,
) -> (Vec<Case>, usize) {
    let mut skipped = 0;
    let chosen = cases
        .into_iter()
        .filter(|c| {
            let id = c.id.to_string();
            include.matches(&id) && !exclude.is_some_and(|e| e.matches(&id))
        })
        .filter(|c| {
            let ok = c.size <= max_size;
            skipped += usize::from(!ok);
            ok
        })
        .collect();
    (chosen, skipped)
}

fn glob(p: &[u8], s: &[u8]) -> bool {
    match p.split_first() {
        None => s.is_empty(),
        Some((b'*', rest)) => (0..=s.len()).any(|i| glob(rest, &s[i..])),
        Some((c, rest)) => s.first() == Some(c) && glob(rest, &s[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        let cases = [
            ("1.*,2.*", "1.1.1", true),
            ("1.*,2.*", "2.10", true),
            ("1.*,2.*", "10.1.1", false),
            ("1.*,2.*", "12.1.1", false),
            ("6.4", "6.4.3", true),
            ("6.4", "6.40.1", false),
            ("6.4", "6.4", true),
            ("*", "9.8.6", true),
            ("7.*.1", "7.13.1", true),
            ("7.*.1", "7.13.2", false),
            ("", "1.1.1", false),
            (" 3 , 4 ", "4.2.1", true),
        ];
        for (list, id, want) in cases {
            assert_eq!(Selection::parse(list).matches(id), want, "{list:?} on {id}");
        }
    }
}
