//! Speech duration estimators (spec §2.2).
//!
//! The reference times text with Kokoro-82M and falls back to word counts only when Kokoro is
//! mocked. All golden plans use that fallback, so [`ReferenceEstimator`] reproduces it exactly.
//! [`DefaultEstimator`] is our better guess without a TTS model: syllables (or morae, or characters
//! for scripts without spaces) at a per-language rate, plus pauses for punctuation and time for
//! action directions. `docs/prompt-language.md` gives the rationale and numbers.

use serde::{Deserialize, Serialize};

use super::sentences::{SplitterMode, split_sentences};
use crate::prompt::pystr::{py_split, py_strip, py_word_count};

/// Words per second of the reference fallback (`FALLBACK_WORDS_PER_SEC`).
pub const FALLBACK_WORDS_PER_SEC: f64 = 2.2;

/// Estimates how long text takes to speak, in seconds, before the `pace` multiplier.
///
/// The planner asks twice, as the reference does: per sentence or clause while splitting, and for
/// the whole speech text when testing whether everything fits into one chunk.
pub trait DurationEstimator {
    /// Seconds for one sentence or comma clause.
    fn sentence_secs(&self, text: &str) -> f64;
    /// Seconds for the whole speech text spoken in one go.
    fn text_secs(&self, text: &str) -> f64;
    /// Extra seconds an `<action>` direction costs in the chunk it opens.
    fn action_secs(&self, _action: &str) -> f64 {
        0.0
    }
}

/// Which estimator a check or plan uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EstimatorKind {
    /// The reference fallback ([`ReferenceEstimator`]), with the reference sentence splitter.
    Reference,
    /// [`DefaultEstimator`], with the improved sentence splitter.
    #[default]
    Default,
}

impl EstimatorKind {
    /// The estimator for a script in `language` (an ISO 639-1 code such as `en`).
    pub fn estimator(self, language: &str) -> Box<dyn DurationEstimator> {
        match self {
            Self::Reference => Box::new(ReferenceEstimator),
            Self::Default => Box::new(DefaultEstimator::new(language)),
        }
    }

    /// The sentence splitter that goes with this estimator.
    pub fn splitter(self) -> SplitterMode {
        match self {
            Self::Reference => SplitterMode::Reference,
            Self::Default => SplitterMode::Improved,
        }
    }
}

/// The reference fallback: `words / 2.2 + 0.3` per sentence, `words / 2.2 + 0.5` for the whole text.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReferenceEstimator;

impl DurationEstimator for ReferenceEstimator {
    fn sentence_secs(&self, text: &str) -> f64 {
        py_word_count(text) as f64 / FALLBACK_WORDS_PER_SEC + 0.3
    }

    fn text_secs(&self, text: &str) -> f64 {
        py_word_count(text) as f64 / FALLBACK_WORDS_PER_SEC + 0.5
    }
}

/// Pause after `,`, `;`, `:`, a dash or an opening parenthesis, in seconds.
pub const CLAUSE_PAUSE_S: f64 = 0.25;
/// Pause after a sentence-ending run of `.`, `!`, `?`.
pub const SENTENCE_PAUSE_S: f64 = 0.35;
/// Pause for an ellipsis.
pub const ELLIPSIS_PAUSE_S: f64 = 0.5;
/// Onset and release around every sentence.
pub const SENTENCE_OVERHEAD_S: f64 = 0.15;
/// Time one `<action>` direction adds (a breath, a beat, a laugh).
pub const ACTION_S: f64 = 1.0;

/// Syllables (morae for Japanese) per second of articulation, per language.
///
/// 0.7 × the read-speech syllable rates of Pellegrino, Coupé & Marsico (2011), "A cross-language
/// perspective on speech information rate", Language 87(3), for the languages they measured
/// (rounded to 0.05); the factor turns their fast read speech into a narration tempo of about
/// 145–200 words per minute for English prose (long words slow it down) once the pauses below are
/// added. Other languages use the English rate.
const RATES: &[(&str, f64)] = &[
    ("en", 4.35),
    ("fr", 5.05),
    ("de", 4.2),
    ("it", 4.9),
    ("es", 5.45),
    ("ja", 5.5),
    ("zh", 3.65),
    ("vi", 3.65),
];
const DEFAULT_RATE: f64 = 4.35;

/// Our default estimator: syllables per language, punctuation pauses and action time.
#[derive(Debug, Clone, PartialEq)]
pub struct DefaultEstimator {
    language: String,
    syllables_per_s: f64,
}

impl DefaultEstimator {
    /// An estimator for text in `language` (ISO 639-1; unknown codes use the English rate).
    pub fn new(language: &str) -> Self {
        let language = language.trim().to_ascii_lowercase();
        let base = language.split(['-', '_']).next().unwrap_or("").to_owned();
        let syllables_per_s = RATES.iter().find(|(code, _)| *code == base).map_or(DEFAULT_RATE, |&(_, r)| r);
        Self { language: base, syllables_per_s }
    }

    /// Speech units (syllables, morae or equivalents) in `text`.
    pub fn units(&self, text: &str) -> f64 {
        py_split(text).map(|word| self.word_units(word)).sum()
    }

    fn word_units(&self, word: &str) -> f64 {
        let mut units = 0.0;
        let mut latin = String::new();
        let mut all_upper = true;
        let mut chars = word.chars().peekable();
        while let Some(c) = chars.next() {
            let lower = c.to_lowercase().next().unwrap_or(c);
            if is_vowel_script_letter(lower) {
                latin.push(lower);
                all_upper &= c.is_uppercase();
                continue;
            }
            if matches!(c, '\'' | '’') && !latin.is_empty() {
                // "don't", "l'homme": the apostrophe does not break the word.
                continue;
            }
            units += self.latin_units(&latin, all_upper);
            latin.clear();
            all_upper = true;
            units += self.char_units(c, chars.peek().copied());
        }
        units + self.latin_units(&latin, all_upper)
    }

    /// Units of one character outside a Latin, Greek or Cyrillic word (`next` follows it).
    fn char_units(&self, c: char, next: Option<char>) -> f64 {
        match c {
            '0'..='9' => 1.3,
            '%' | '$' | '€' | '£' | '&' | '@' | '+' | '=' => 1.5,
            '\u{3040}'..='\u{30FF}' => kana_morae(c),
            '\u{AC00}'..='\u{D7AF}' => 1.0,
            '\u{4E00}'..='\u{9FFF}' | '\u{3400}'..='\u{4DBF}' | '\u{F900}'..='\u{FAFF}' | '\u{20000}'.. => {
                if self.language == "ja" {
                    1.7
                } else {
                    1.0
                }
            }
            // Devanagari: a consonant is a syllable unless a virama kills its vowel.
            '\u{0915}'..='\u{0939}' | '\u{0958}'..='\u{095F}' => {
                if next == Some('\u{094D}') {
                    0.0
                } else {
                    1.0
                }
            }
            '\u{0904}'..='\u{0914}' => 1.0,
            // Vowel signs, virama and other marks add no syllable.
            '\u{0900}'..='\u{097F}' => 0.0,
            // Abjads write few vowels: about 0.6 syllables per letter.
            '\u{0600}'..='\u{06FF}' | '\u{0590}'..='\u{05FF}' if c.is_alphabetic() => 0.6,
            // Thai: about 2.8 characters per syllable.
            '\u{0E00}'..='\u{0E7F}' if c.is_alphabetic() => 0.36,
            c if c.is_alphabetic() => 0.4,
            _ => 0.0,
        }
    }

    /// Syllables of one run of Latin, Greek or Cyrillic letters (given in lower case;
    /// `all_upper` tells whether it was written in capitals).
    fn latin_units(&self, word: &str, all_upper: bool) -> f64 {
        if word.is_empty() {
            return 0.0;
        }
        let chars: Vec<char> = word.chars().collect();
        if !chars.iter().any(|&c| is_vowel(c)) {
            // No vowel: a spelled-out initialism ("TV", "BBC") or an interjection ("hmm", "shh").
            return if all_upper && chars.len() <= 5 { chars.len() as f64 } else { 1.0 };
        }
        let mut groups = 0usize;
        let mut in_group = false;
        for &c in &chars {
            let v = is_vowel(c);
            if v && !in_group {
                groups += 1;
            }
            in_group = v;
        }
        let n = chars.len();
        if groups > 1 && (self.language == "en" || self.language == "fr") {
            let ends = |s: &str| word.ends_with(s);
            let consonant_before = |k: usize| n > k && !is_vowel(chars[n - k - 1]);
            // Silent final "e" ("make", "France"), but not "-le" after a consonant ("table").
            let silent_e = ends("e") && !(ends("le") && consonant_before(2)) && consonant_before(1);
            // "-es"/"-ed" endings that add no syllable ("makes", "jumped"; not "wanted", "boxes").
            let silent_es = self.language == "en"
                && (ends("ed") && n > 3 && !matches!(chars[n - 3], 't' | 'd')
                    || ends("es") && n > 3 && !matches!(chars[n - 3], 's' | 'x' | 'z' | 'c' | 'g' | 'h'))
                && consonant_before(2);
            if silent_e || silent_es {
                groups -= 1;
            }
        }
        groups.max(1) as f64
    }

    /// Pause seconds for the punctuation in `text`.
    pub fn pause_secs(text: &str) -> f64 {
        let chars: Vec<char> = text.chars().collect();
        let mut secs = 0.0;
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            match c {
                ',' | ';' | ':' | '(' | '，' | '、' | '；' | '：' => secs += CLAUSE_PAUSE_S,
                '—' | '–' => secs += CLAUSE_PAUSE_S,
                '-' if chars.get(i + 1) == Some(&' ') && i > 0 && chars[i - 1] == ' ' => {
                    secs += CLAUSE_PAUSE_S
                }
                '.' | '!' | '?' | '…' | '。' | '！' | '？' => {
                    let start = i;
                    while i + 1 < chars.len()
                        && matches!(chars[i + 1], '.' | '!' | '?' | '…' | '。' | '！' | '？')
                    {
                        i += 1;
                    }
                    let run = &chars[start..=i];
                    let decimal = run == ['.']
                        && start > 0
                        && chars[start - 1].is_ascii_digit()
                        && chars.get(i + 1).is_some_and(char::is_ascii_digit);
                    if run.contains(&'…') || run.len() >= 3 && run.iter().all(|&c| c == '.') {
                        secs += ELLIPSIS_PAUSE_S;
                    } else if !decimal {
                        secs += SENTENCE_PAUSE_S;
                    }
                }
                _ => {}
            }
            i += 1;
        }
        secs
    }
}

impl DurationEstimator for DefaultEstimator {
    fn sentence_secs(&self, text: &str) -> f64 {
        if py_strip(text).is_empty() {
            return 0.0;
        }
        self.units(text) / self.syllables_per_s + Self::pause_secs(text) + SENTENCE_OVERHEAD_S
    }

    fn text_secs(&self, text: &str) -> f64 {
        split_sentences(text, SplitterMode::Improved).iter().map(|s| self.sentence_secs(s)).sum()
    }

    fn action_secs(&self, _action: &str) -> f64 {
        ACTION_S
    }
}

fn is_vowel(c: char) -> bool {
    matches!(c,
        'a' | 'e' | 'i' | 'o' | 'u' | 'y' | 'à'..='æ' | 'è'..='ï' | 'ò'..='ö' | 'ø'..='ü' | 'ý' | 'ÿ'
        | 'ā' | 'ă' | 'ą' | 'ē' | 'ĕ' | 'ė' | 'ę' | 'ě' | 'ī' | 'ı' | 'ō' | 'ő' | 'œ' | 'ū' | 'ů' | 'ű'
        | 'а' | 'е' | 'ё' | 'и' | 'о' | 'у' | 'ы' | 'э' | 'ю' | 'я' | 'і' | 'ї' | 'є'
        | 'α' | 'ε' | 'η' | 'ι' | 'ο' | 'υ' | 'ω' | 'ά' | 'έ' | 'ή' | 'ί' | 'ό' | 'ύ' | 'ώ')
}

/// Letters whose syllables the vowel-group rule counts: Latin, Greek and Cyrillic, plus the
/// apostrophe inside words ("don't").
fn is_vowel_script_letter(c: char) -> bool {
    c.is_alphabetic()
        && matches!(c, 'a'..='z' | '\u{C0}'..='\u{24F}' | '\u{370}'..='\u{3FF}' | '\u{400}'..='\u{4FF}')
}

/// Morae of one kana: small ya/yu/yo/vowels merge into the previous mora.
fn kana_morae(c: char) -> f64 {
    match c {
        'ゃ' | 'ゅ' | 'ょ' | 'ぁ' | 'ぃ' | 'ぅ' | 'ぇ' | 'ぉ' | 'ャ' | 'ュ' | 'ョ' | 'ァ' | 'ィ' | 'ゥ'
        | 'ェ' | 'ォ' => 0.0,
        '・' | '゛' | '゜' => 0.0,
        _ => 1.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_fallback_matches_goldens() {
        let e = ReferenceEstimator;
        assert_eq!(e.text_secs("Hello world") * 1.5, 2.1136363636363638);
        assert_eq!(e.sentence_secs("Hello world."), 2.0 / 2.2 + 0.3);
        assert_eq!(e.text_secs(""), 0.5);
        assert_eq!(e.action_secs("He sighs"), 0.0);
    }

    #[test]
    fn english_syllables() {
        let e = DefaultEstimator::new("en");
        let count = |w: &str| e.units(w);
        assert_eq!(count("hello"), 2.0);
        assert_eq!(count("make"), 1.0);
        assert_eq!(count("table"), 2.0);
        assert_eq!(count("jumped"), 1.0);
        assert_eq!(count("wanted"), 2.0);
        assert_eq!(count("boxes"), 2.0);
        assert_eq!(count("beautiful"), 3.0);
        assert_eq!(count("BBC"), 3.0);
        assert_eq!(count("hmm"), 1.0);
        assert_eq!(count("don't"), 1.0);
        assert_eq!(count("the"), 1.0);
        assert_eq!(count("Hello, world!"), 3.0);
    }

    #[test]
    fn other_scripts_count_units() {
        assert_eq!(DefaultEstimator::new("zh").units("你好世界"), 4.0);
        assert_eq!(DefaultEstimator::new("ja").units("きょうは"), 3.0);
        assert_eq!(DefaultEstimator::new("ko").units("안녕하세요"), 5.0);
        // "namaste": na-ma-s(virama)-te = 3 syllables.
        assert_eq!(DefaultEstimator::new("hi").units("नमस्ते"), 3.0);
        assert!(DefaultEstimator::new("ar").units("مرحبا بالعالم") > 3.0);
    }

    #[test]
    fn pauses_and_rates() {
        assert_eq!(DefaultEstimator::pause_secs("One, two. Three?! Four..."), 0.25 + 0.35 + 0.35 + 0.5);
        assert_eq!(DefaultEstimator::pause_secs("It costs 3.50 now"), 0.0);
        let e = DefaultEstimator::new("en");
        let s = e.sentence_secs("Hello world.");
        assert!((s - (3.0 / 4.35 + 0.35 + 0.15)).abs() < 1e-12);
        assert_eq!(e.sentence_secs("   "), 0.0);
        // About 150-160 words per minute for ordinary prose.
        let text = "Apparently the committee has decided that what this building really needs is another \
                    meeting room. Because the problem with this organization was never the decisions. It was \
                    that we did not have enough places to avoid making them.";
        let wpm = |text: &str| 60.0 * py_word_count(text) as f64 / e.text_secs(text);
        assert!((140.0..160.0).contains(&wpm(text)), "{}", wpm(text));
        let short_words = "The man in the grey coat has been following us since the bridge, and I need you \
                           to walk to the cafe on the corner and leave through the back.";
        assert!((190.0..230.0).contains(&wpm(short_words)), "{}", wpm(short_words));
        assert_eq!(DefaultEstimator::new("fr-CA").syllables_per_s, 5.05);
        assert_eq!(DefaultEstimator::new("xx").syllables_per_s, DEFAULT_RATE);
    }
}
