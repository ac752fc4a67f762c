//! Every word-matching golden case of the reference: `validate_text` (postprocessing-spec §8.4, the
//! reference's `whisper_aligner` scoring with the transcription given) and the `_fuzzy_match` /
//! `_needleman_wunsch` cases of `tests/fixtures/scenema-reference-cases.json` (`test_validate_and_patch.py`).

use promptbook_engine::stages::validation::{Alignment, fuzzy_match, needleman_wunsch, word_match};
use serde_json::Value;

/// §8.4: (name, expected_text, transcribed, min_word_ratio, passed, ratio).
const VALIDATE_TEXT: &[(&str, &str, &str, f64, bool, f64)] = &[
    ("all_words", "Hello world.", "hello, world", 0.9, true, 1.0),
    ("set_semantics_duplicates", "the cat and the dog", "the cat", 0.6, false, 0.5),
    ("accents_stripped", "Café déjà vu", "cafe deja vu", 0.9, true, 1.0),
    ("hindi_vowel_signs_removed", "नमस्ते दुनिया", "नमसत दनय", 0.9, true, 1.0),
    ("empty_expected_passes", "...", "anything", 0.9, true, 1.0),
    (
        "below_threshold",
        "one two three four five six seven eight nine ten",
        "one two three four five six seven eight",
        0.9,
        false,
        0.8,
    ),
    ("exact_threshold_passes", "a b c d e f g h i j", "a b c d e f g h i", 0.9, true, 0.9),
];

#[test]
fn validate_text_goldens() {
    for &(name, expected, transcribed, min_ratio, passed, ratio) in VALIDATE_TEXT {
        let got = word_match(expected, transcribed, min_ratio);
        assert_eq!(got.passed, passed, "{name}");
        // Python computes the same quotient of two small integers: equal to the last bit.
        assert_eq!(got.ratio, ratio, "{name}");
    }
}

fn cases(function: &str) -> Vec<Value> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/scenema-reference-cases.json");
    let all: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(path).expect("golden file")).expect("JSON");
    all.into_iter().filter(|c| c["function"] == function).collect()
}

fn words(v: &Value) -> Vec<String> {
    v.as_array().expect("list").iter().map(|w| w.as_str().expect("word").to_string()).collect()
}

#[test]
fn fuzzy_match_goldens() {
    let cases = cases("validate_and_patch._fuzzy_match");
    assert_eq!(cases.len(), 7);
    for case in cases {
        let (a, b) = (case["input"]["a"].as_str().expect("a"), case["input"]["b"].as_str().expect("b"));
        assert_eq!(fuzzy_match(a, b), case["expected"].as_bool().expect("bool"), "{}", case["name"]);
    }
}

#[test]
fn needleman_wunsch_goldens() {
    let cases = cases("validate_and_patch._needleman_wunsch");
    assert_eq!(cases.len(), 9);
    for case in cases {
        let got = needleman_wunsch(&words(&case["input"]["transcribed"]), &words(&case["input"]["expected"]));
        let got: Vec<Value> = got.into_iter().map(|a| serde_json::to_value(a).expect("label")).collect();
        assert_eq!(Value::Array(got), case["expected"], "{}", case["name"]);
    }
    // The labels serialise as the reference's strings.
    assert_eq!(serde_json::to_value(Alignment::Substitution).expect("label"), "substitution");
}
