//! Python `str` semantics the reference relies on (`strip()`, `split()`, `text[-1]`).
//!
//! Python's `str.isspace()` is Rust's `char::is_whitespace` plus the four information separators
//! U+001C..U+001F. XML cannot carry those, but the planner also takes plain text.

/// Python `str.isspace()` for one character.
pub fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Python `s.strip()`.
pub fn py_strip(s: &str) -> &str {
    s.trim_matches(is_py_space)
}

/// Python `s.split()`: runs of whitespace separate words, empty words are dropped.
pub fn py_split(s: &str) -> impl Iterator<Item = &str> {
    s.split(is_py_space).filter(|w| !w.is_empty())
}

/// `len(s.split())`.
pub fn py_word_count(s: &str) -> usize {
    py_split(s).count()
}

/// Python `min(a, b)` for floats: `b` only when it is strictly smaller.
pub fn py_min(a: f64, b: f64) -> f64 {
    if b < a { b } else { a }
}

/// The byte range of `s.strip()` inside `s`.
pub fn py_strip_range(s: &str) -> std::ops::Range<usize> {
    let start = s.len() - s.trim_start_matches(is_py_space).len();
    let end = s.trim_end_matches(is_py_space).len().max(start);
    start..end
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `[hex(c) for c in range(0x110000) if chr(c).isspace()]` on CPython 3.11.
    const PYTHON_SPACES: &[u32] = &[
        0x9, 0xa, 0xb, 0xc, 0xd, 0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x85, 0xa0, 0x1680, 0x2000, 0x2001, 0x2002,
        0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200a, 0x2028, 0x2029, 0x202f, 0x205f,
        0x3000,
    ];

    #[test]
    fn isspace_matches_python() {
        let ours: Vec<u32> =
            (0..=0x10FFFFu32).filter_map(char::from_u32).filter(|&c| is_py_space(c)).map(u32::from).collect();
        assert_eq!(ours, PYTHON_SPACES);
    }

    #[test]
    fn strip_and_split() {
        assert_eq!(py_strip("\u{1c} a b \u{3000}"), "a b");
        assert_eq!(py_split(" a\u{85}b  c ").collect::<Vec<_>>(), ["a", "b", "c"]);
        assert_eq!(py_word_count(""), 0);
        assert_eq!(py_strip_range("  ab "), 2..4);
        assert_eq!(py_strip_range("   "), 3..3);
        assert_eq!(py_min(15.0, 3.0), 3.0);
        assert_eq!(py_min(3.0, 15.0), 3.0);
    }
}
