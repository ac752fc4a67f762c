//! The pure parts of the reference's hallucination trimming (`validate_and_patch.py`, postprocessing-spec
//! §3.4): word normalisation, fuzzy word equality and the Needleman–Wunsch labelling of transcribed words.
//! Production never calls it (the request field is never parsed, §1.1); it is here, with its goldens, for the
//! word overlay and a later opt-in trim.

use crate::prompt::pystr::py_split;

use super::word_match::strip_non_word;

const MATCH_SCORE: i64 = 2;
const MISMATCH_SCORE: i64 = -1;
const GAP_SCORE: i64 = -1;

/// `_normalize_words`: `lower()`, drop non-word characters, `split()`, as a list (no accent stripping).
pub fn normalize_words(text: &str) -> Vec<String> {
    py_split(&strip_non_word(&text.to_lowercase())).map(str::to_string).collect()
}

/// Levenshtein distance with unit costs, on code points.
fn levenshtein(a: &[char], b: &[char]) -> usize {
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut row = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitute = prev[j] + usize::from(ca != cb);
            row[j + 1] = substitute.min(prev[j + 1] + 1).min(row[j] + 1);
        }
        std::mem::swap(&mut prev, &mut row);
    }
    prev[b.len()]
}

/// `_fuzzy_match`: equal, or both at least 4 code points and at most half of the longer one edited.
pub fn fuzzy_match(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    if a.len() < 4 || b.len() < 4 {
        return false;
    }
    let longest = a.len().max(b.len()) as f64;
    1.0 - levenshtein(&a, &b) as f64 / longest >= 0.5
}

/// What one transcribed word is, aligned against the expected words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Alignment {
    /// Equal or fuzzy-equal to the expected word it is aligned with.
    Match,
    /// Aligned with a different expected word.
    Substitution,
    /// Not in the expected text (a hallucination or repetition).
    Insertion,
}

fn score(a: &str, b: &str) -> i64 {
    if fuzzy_match(a, b) { MATCH_SCORE } else { MISMATCH_SCORE }
}

/// `_needleman_wunsch(transcribed, expected)`: one label per transcribed word. Ties in the traceback prefer
/// the diagonal, then a transcribed word left unaligned (insertion), then a skipped expected word.
pub fn needleman_wunsch(transcribed: &[String], expected: &[String]) -> Vec<Alignment> {
    let (m, n) = (transcribed.len(), expected.len());
    let mut dp = vec![vec![0i64; n + 1]; m + 1];
    for (i, row) in dp.iter_mut().enumerate() {
        row[0] = -(i as i64);
    }
    for (j, cell) in dp[0].iter_mut().enumerate() {
        *cell = -(j as i64);
    }
    for i in 1..=m {
        for j in 1..=n {
            let diagonal = dp[i - 1][j - 1] + score(&transcribed[i - 1], &expected[j - 1]);
            dp[i][j] = diagonal.max(dp[i - 1][j] + GAP_SCORE).max(dp[i][j - 1] + GAP_SCORE);
        }
    }
    let (mut i, mut j) = (m, n);
    let mut labels = Vec::with_capacity(m);
    while i > 0 || j > 0 {
        if i > 0 && j > 0 {
            let s = score(&transcribed[i - 1], &expected[j - 1]);
            if dp[i][j] == dp[i - 1][j - 1] + s {
                labels.push(if s == MATCH_SCORE { Alignment::Match } else { Alignment::Substitution });
                i -= 1;
                j -= 1;
                continue;
            }
        }
        if i > 0 && dp[i][j] == dp[i - 1][j] + GAP_SCORE {
            labels.push(Alignment::Insertion);
            i -= 1;
        } else {
            j -= 1;
        }
    }
    labels.reverse();
    labels
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levenshtein_counts_code_points() {
        let c = |s: &str| s.chars().collect::<Vec<_>>();
        assert_eq!(levenshtein(&c("kitten"), &c("sitting")), 3);
        assert_eq!(levenshtein(&c("déjà"), &c("deja")), 2);
        assert_eq!(levenshtein(&c(""), &c("abc")), 3);
    }

    #[test]
    fn normalize_keeps_accents_and_duplicates() {
        assert_eq!(normalize_words("Café, café! THE end."), ["café", "café", "the", "end"]);
    }

    #[test]
    fn an_empty_side_labels_every_transcribed_word() {
        let words = |s: &str| normalize_words(s);
        assert_eq!(needleman_wunsch(&words("a b"), &[]), [Alignment::Insertion, Alignment::Insertion]);
        assert!(needleman_wunsch(&[], &words("a b")).is_empty());
    }
}
