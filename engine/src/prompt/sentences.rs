//! Sentence and clause splitting.
//!
//! [`SplitterMode::Reference`] is the reference's `_split_into_sentences` (`S: chunker.py`, the same
//! loop is inlined in `compiler.extract_sentence_actions`): every `.`, `!` or `?` ends a sentence,
//! so `"Dr. Smith paid 3.50 dollars."` gives `["Dr.", "Smith paid 3.", "50 dollars."]`.
//! [`SplitterMode::Improved`] keeps decimals, common abbreviations, initialisms, ellipses followed by
//! a lower-case word, runs like `?!` and closing quotes together. `docs/prompt-language.md` lists
//! every difference.

use std::ops::Range;

use serde::{Deserialize, Serialize};

use super::pystr::{is_py_space, py_strip_range};

/// Which sentence splitter the planner uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SplitterMode {
    /// Byte-exact with the reference (every `.`, `!`, `?` ends a sentence).
    #[default]
    Reference,
    /// Keeps decimals, abbreviations and ellipses inside sentences.
    Improved,
}

/// Splits `text` into trimmed sentences.
pub fn split_sentences(text: &str, mode: SplitterMode) -> Vec<String> {
    sentence_ranges(text, mode).into_iter().map(|r| text[r].to_owned()).collect()
}

/// Byte ranges of the trimmed sentences of `text`.
pub fn sentence_ranges(text: &str, mode: SplitterMode) -> Vec<Range<usize>> {
    match mode {
        SplitterMode::Reference => reference_ranges(text),
        SplitterMode::Improved => improved_ranges(text),
    }
}

fn push_trimmed(text: &str, range: Range<usize>, out: &mut Vec<Range<usize>>) {
    let inner = py_strip_range(&text[range.clone()]);
    if !inner.is_empty() {
        out.push(range.start + inner.start..range.start + inner.end);
    }
}

fn reference_ranges(text: &str) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, c) in text.char_indices() {
        if matches!(c, '.' | '!' | '?') {
            push_trimmed(text, start..i + 1, &mut out);
            start = i + 1;
        }
    }
    push_trimmed(text, start..text.len(), &mut out);
    out
}

/// Sentence-ending marks for the improved splitter.
fn is_terminal(c: char) -> bool {
    matches!(c, '.' | '!' | '?' | '…' | '。' | '！' | '？' | '‼' | '⁇' | '⁈' | '⁉')
}

/// Marks that end a sentence even without a following space (CJK full-width punctuation).
fn is_wide_terminal(c: char) -> bool {
    matches!(c, '。' | '！' | '？')
}

/// Closing quotes and brackets that belong to the sentence they follow.
fn is_closer(c: char) -> bool {
    matches!(c, '"' | '\'' | ')' | ']' | '}' | '»' | '”' | '’' | '」' | '』' | '）')
}

/// Words that take a full stop without ending a sentence (compared in lower case, without the
/// final stop). Dotted initialisms (`e.g`, `U.S`, `a.m`) are recognised separately.
const ABBREVIATIONS: &[&str] = &[
    "mr", "mrs", "ms", "mx", "dr", "prof", "sr", "jr", "st", "mt", "ft", "vs", "cf", "approx", "dept", "est",
    "fig", "vol", "capt", "col", "gen", "lt", "sgt", "cmdr", "rev", "hon", "gov", "sen", "rep", "pres",
    "supt", "insp", "no",
];

fn is_abbreviation(word: &str) -> bool {
    let word = word.trim_start_matches(|c: char| !c.is_alphanumeric());
    if word.is_empty() {
        return false;
    }
    let lower = word.to_lowercase();
    if ABBREVIATIONS.contains(&lower.as_str()) {
        return true;
    }
    // Dotted initialisms: single letters separated by stops ("e.g", "i.e", "U.S", "a.m").
    word.contains('.')
        && word.split('.').all(|part| part.chars().count() == 1 && part.chars().all(char::is_alphabetic))
}

fn improved_ranges(text: &str) -> Vec<Range<usize>> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let byte_at = |i: usize| chars.get(i).map_or(text.len(), |&(b, _)| b);
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i].1;
        if !is_terminal(c) {
            i += 1;
            continue;
        }
        let prev = i.checked_sub(1).map(|p| chars[p].1);
        let next = chars.get(i + 1).map(|&(_, n)| n);
        // A stop between digits is a decimal point or a version number ("3.50", "1.2.3").
        if c == '.' && prev.is_some_and(|p| p.is_ascii_digit()) && next.is_some_and(|n| n.is_ascii_digit()) {
            i += 1;
            continue;
        }
        let mut j = i;
        while j < chars.len() && is_terminal(chars[j].1) {
            j += 1;
        }
        let marks_end = j;
        while j < chars.len() && is_closer(chars[j].1) {
            j += 1;
        }
        let run: Vec<char> = chars[i..marks_end].iter().map(|&(_, c)| c).collect();
        let after = chars.get(j).map(|&(_, n)| n);
        let next_word = chars[j..].iter().map(|&(_, c)| c).find(|&c| !is_py_space(c));
        let next_is_lower = next_word.is_some_and(char::is_lowercase);

        let mut boundary = run.iter().any(|&c| is_wide_terminal(c)) || after.is_none_or(is_py_space);
        if boundary && run == ['.'] && marks_end == j {
            let word_start = chars[..i]
                .iter()
                .rposition(|&(_, c)| is_py_space(c))
                .map_or(0, |p| chars[p].0 + chars[p].1.len_utf8());
            if is_abbreviation(&text[word_start..chars[i].0]) {
                boundary = false;
            }
        }
        let ellipsis = run.len() >= 3 && run.iter().all(|&c| c == '.') || run.iter().all(|&c| c == '…');
        if boundary && next_is_lower && (ellipsis || j > marks_end) {
            // "Wait... what?" and `He asked "why?" and left.` continue the sentence.
            boundary = false;
        }
        if boundary {
            push_trimmed(text, start..byte_at(j), &mut out);
            start = byte_at(j);
        }
        i = j;
    }
    push_trimmed(text, start..text.len(), &mut out);
    out
}

/// Byte ranges of the trimmed, non-empty comma-separated clauses of a sentence.
///
/// Reference: `[c.strip() for c in s.split(",") if c.strip()]`. Improved also splits at `，` and
/// `、` and never between digits ("3,500").
pub fn clause_ranges(sentence: &str, mode: SplitterMode) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut prev: Option<char> = None;
    let mut chars = sentence.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let next = chars.peek().map(|&(_, n)| n);
        let split = match mode {
            SplitterMode::Reference => c == ',',
            SplitterMode::Improved => {
                matches!(c, '，' | '、')
                    || (c == ','
                        && !(prev.is_some_and(|p| p.is_ascii_digit())
                            && next.is_some_and(|n| n.is_ascii_digit())))
            }
        };
        if split {
            push_trimmed(sentence, start..i, &mut out);
            start = i + c.len_utf8();
        }
        prev = Some(c);
    }
    push_trimmed(sentence, start..sentence.len(), &mut out);
    out
}

/// Whether [`clause_ranges`] could split this sentence (the reference tests `"," in s`).
pub fn has_clause_separator(sentence: &str, mode: SplitterMode) -> bool {
    match mode {
        SplitterMode::Reference => sentence.contains(','),
        SplitterMode::Improved => clause_ranges(sentence, mode).len() > 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn improved(text: &str) -> Vec<String> {
        split_sentences(text, SplitterMode::Improved)
    }

    #[test]
    fn reference_splitter_quirks() {
        let r = |t| split_sentences(t, SplitterMode::Reference);
        assert_eq!(r("Wait... what?!"), ["Wait.", ".", ".", "what?", "!"]);
        assert_eq!(r("Dr. Smith paid 3.50 dollars."), ["Dr.", "Smith paid 3.", "50 dollars."]);
        assert_eq!(r("One.\nTwo\nlines."), ["One.", "Two\nlines."]);
        assert_eq!(r("  "), Vec::<String>::new());
        assert_eq!(r("First. Second without period"), ["First.", "Second without period"]);
    }

    #[test]
    fn improved_keeps_decimals_abbreviations_and_ellipses() {
        assert_eq!(
            improved("Dr. Smith paid 3.50 dollars. Then he left."),
            ["Dr. Smith paid 3.50 dollars.", "Then he left."]
        );
        assert_eq!(improved("Wait... what?! No way."), ["Wait... what?!", "No way."]);
        assert_eq!(improved("Wait... What?"), ["Wait...", "What?"]);
        assert_eq!(
            improved("Bring fruit, e.g. apples. Mr. Brown agrees."),
            ["Bring fruit, e.g. apples.", "Mr. Brown agrees."]
        );
        assert_eq!(improved("She lives in the U.S. now."), ["She lives in the U.S. now."]);
        assert_eq!(improved("He said \"Go!\" Then silence."), ["He said \"Go!\"", "Then silence."]);
        assert_eq!(improved("He asked \"why?\" and left."), ["He asked \"why?\" and left."]);
        assert_eq!(improved("Visit example.com today. Ok"), ["Visit example.com today.", "Ok"]);
        assert_eq!(improved("你好。我很好！谢谢"), ["你好。", "我很好！", "谢谢"]);
        assert_eq!(improved("Version 1.2.3 shipped."), ["Version 1.2.3 shipped."]);
    }

    #[test]
    fn clauses() {
        let c = |t: &str, m| clause_ranges(t, m).into_iter().map(|r| t[r].to_owned()).collect::<Vec<_>>();
        assert_eq!(c("a, b,, c ,", SplitterMode::Reference), ["a", "b", "c"]);
        assert_eq!(
            c("It cost 3,500 dollars, sadly.", SplitterMode::Reference),
            ["It cost 3", "500 dollars", "sadly."]
        );
        assert_eq!(
            c("It cost 3,500 dollars, sadly.", SplitterMode::Improved),
            ["It cost 3,500 dollars", "sadly."]
        );
        assert!(has_clause_separator("Hello,", SplitterMode::Reference));
        assert!(!has_clause_separator("Hello,", SplitterMode::Improved));
    }
}
