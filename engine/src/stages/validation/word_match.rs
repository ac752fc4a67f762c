//! The word-match ratio (postprocessing-spec §3.2, `whisper_aligner.validate_text` once the transcript is
//! known): how many of the expected words were heard, as sets.
//!
//! `norm(t)`: NFD, drop every code point of general category Mn, `str.lower()`, delete what is neither a
//! Python `\w` character nor whitespace (`re.sub(r"[^\w\s]", "", t)`), Python `split()`, as a set.
//! `ratio = |E ∩ T| / |E|`; an expected text with no words passes with 1.0.

use std::collections::BTreeSet;

use unicode_general_category::{GeneralCategory, get_general_category};
use unicode_normalization::UnicodeNormalization as _;

use crate::prompt::pystr::{is_py_space, py_split};

/// The reference's default `min_match_ratio`.
pub const DEFAULT_MIN_RATIO: f64 = 0.90;

/// Python's `\w` on `str`: alphanumeric (`str.isalnum()`: general category L* or N*) or `_`. Unlike the
/// `regex` crate's `\w`, combining marks (Mn, Mc) are not word characters.
pub fn is_py_word(c: char) -> bool {
    use GeneralCategory as G;
    c == '_'
        || matches!(
            get_general_category(c),
            G::UppercaseLetter
                | G::LowercaseLetter
                | G::TitlecaseLetter
                | G::ModifierLetter
                | G::OtherLetter
                | G::DecimalNumber
                | G::LetterNumber
                | G::OtherNumber
        )
}

/// `re.sub(r"[^\w\s]", "", text)`.
pub fn strip_non_word(text: &str) -> String {
    text.chars().filter(|&c| is_py_word(c) || is_py_space(c)).collect()
}

/// The words of `text` after the §3.2 normalisation, in order of first appearance, each once.
pub fn match_words(text: &str) -> Vec<String> {
    let unaccented: String =
        text.nfd().filter(|&c| get_general_category(c) != GeneralCategory::NonspacingMark).collect();
    let cleaned = strip_non_word(&unaccented.to_lowercase());
    let mut seen = BTreeSet::new();
    py_split(&cleaned).filter(|w| seen.insert(w.to_string())).map(str::to_string).collect()
}

/// The score of one transcript against the text it should say.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct WordMatch {
    /// `ratio >= min_ratio`.
    pub passed: bool,
    /// Share of the distinct expected words that were heard.
    pub ratio: f64,
    /// Expected words (normalised) not in the transcript, in the order the text has them.
    pub missing_words: Vec<String>,
}

/// `validate_text` with the transcription given: `(passed, ratio)` plus the words that were not heard.
pub fn word_match(expected: &str, transcript: &str, min_ratio: f64) -> WordMatch {
    let want = match_words(expected);
    if want.is_empty() {
        return WordMatch { passed: true, ratio: 1.0, missing_words: Vec::new() };
    }
    let heard: BTreeSet<String> = match_words(transcript).into_iter().collect();
    let missing_words: Vec<String> = want.iter().filter(|w| !heard.contains(*w)).cloned().collect();
    let ratio = (want.len() - missing_words.len()) as f64 / want.len() as f64;
    WordMatch { passed: ratio >= min_ratio, ratio, missing_words }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `[c for c in map(chr, range(0x110000)) if re.match(r"\w", c)]`, counted and sampled, on CPython
    /// 3.11 (Unicode 14): the general-category rule gives exactly that set there.
    #[test]
    fn python_word_characters() {
        for c in ['a', 'Z', '_', '7', 'é', 'ß', 'ǅ', 'ʰ', '中', 'ก', '٣', 'Ⅳ', '½', '²', '〇'] {
            assert!(is_py_word(c), "{c:?} is \\w in Python");
        }
        // Combining marks (Mn, Mc), punctuation, symbols, spaces, controls.
        for c in
            ['\u{301}', '\u{94d}', '\u{93e}', '-', '\'', '.', '€', '♪', ' ', '\u{a0}', '\u{1c}', '\u{200d}']
        {
            assert!(!is_py_word(c), "{c:?} is not \\w in Python");
        }
    }

    #[test]
    fn normalisation_follows_the_reference() {
        assert_eq!(match_words("Café déjà vu"), ["cafe", "deja", "vu"]);
        // Vowel signs (Mc) and the virama (Mn) go: golden `hindi_vowel_signs_removed`.
        assert_eq!(match_words("नमस्ते दुनिया"), ["नमसत", "दनय"]);
        assert_eq!(
            match_words("Hello, WORLD! hello... it's 'well-known'"),
            ["hello", "world", "its", "wellknown"]
        );
        // Final sigma, as `str.lower()`; `İ` lowers to `i` + U+0307, which is then deleted.
        assert_eq!(match_words("ΣΊΣΥΦΟΣ"), ["σισυφο\u{3c2}"]);
        assert_eq!(match_words("İstanbul ǅemal ﬁne Straße"), ["istanbul", "ǆemal", "ﬁne", "straße"]);
        assert_eq!(match_words("a\u{1c}b\u{3000}c"), ["a", "b", "c"]);
        assert!(match_words("... — !?").is_empty());
    }

    #[test]
    fn missing_words_keep_the_text_order() {
        let m = word_match("The cat sat on the mat", "the mat", 0.9);
        assert!(!m.passed);
        assert_eq!(m.missing_words, ["cat", "sat", "on"]);
        assert!((m.ratio - 0.4).abs() < 1e-12);
    }
}
