//! Tokenisation against the reference (`LTXVGemmaTokenizer` over transformers' Gemma tokenizer), on the test
//! tokenizer in `tests/fixtures/tokenizer/` (written by `tools/parity/components/gemma.py tokenizer`).

use std::path::{Path, PathBuf};

use promptbook_engine::text::{GemmaTokenizer, REFERENCE_MAX_LENGTH, TextError};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/tokenizer")
}

#[derive(serde::Deserialize)]
struct Expected {
    transformers: String,
    cases: Vec<Case>,
}

#[derive(serde::Deserialize)]
struct Case {
    prompt: String,
    max_length: usize,
    input_ids: Vec<u32>,
    attention_mask: Vec<u32>,
}

#[test]
fn ids_and_masks_match_the_reference() {
    let text = std::fs::read_to_string(fixtures().join("expected.json")).unwrap();
    let expected: Expected = serde_json::from_str(&text).unwrap();
    let mut lengths: Vec<usize> = expected.cases.iter().map(|c| c.max_length).collect();
    lengths.dedup();
    assert!(lengths.contains(&REFERENCE_MAX_LENGTH) && expected.cases.len() > 30);
    let mut truncated = 0;
    for length in lengths {
        let tok = GemmaTokenizer::from_file(&fixtures().join("tokenizer.json"), length).unwrap();
        for case in expected.cases.iter().filter(|c| c.max_length == length) {
            let got = tok.encode(&case.prompt).unwrap();
            assert_eq!(got.input_ids, case.input_ids, "ids, max_length {length}, prompt {:?}", case.prompt);
            assert_eq!(
                got.attention_mask, case.attention_mask,
                "mask, max_length {length}, prompt {:?}",
                case.prompt
            );
            assert_eq!(got.input_ids.len(), length);
            assert_eq!(got.input_ids[got.pad_len()], tok.bos_id(), "<bos> opens the valid tokens");
            truncated += usize::from(got.pad_len() == 0);
        }
    }
    assert!(truncated > 5, "the cases should exercise truncation");
    println!("{} cases identical to transformers {}", expected.cases.len(), expected.transformers);
}

#[test]
fn gemma_special_tokens() {
    let tok = GemmaTokenizer::from_file(&fixtures().join("tokenizer.json"), 8).unwrap();
    assert_eq!((tok.pad_id(), tok.bos_id()), (0, 2));
    let got = tok.encode("  hi  ").unwrap();
    assert_eq!(got.input_ids[..got.pad_len()], vec![0; got.pad_len()]);
    assert!(!got.input_ids.contains(&1), "no <eos>");
    let empty = tok.encode("").unwrap();
    assert_eq!(empty.input_ids, vec![0, 0, 0, 0, 0, 0, 0, 2]);
    assert_eq!(empty.attention_mask, vec![0, 0, 0, 0, 0, 0, 0, 1]);
}

#[test]
fn tokenizer_errors_are_actionable() {
    let missing = GemmaTokenizer::from_file(Path::new("/nonexistent/tokenizer.json"), 8).unwrap_err();
    assert!(missing.to_string().contains("/nonexistent/tokenizer.json"), "{missing}");
    let no_bos = r#"{"version": "1.0", "truncation": null, "padding": null, "added_tokens": [],
        "normalizer": null, "pre_tokenizer": null, "post_processor": null, "decoder": null,
        "model": {"type": "WordLevel", "vocab": {"<pad>": 0, "a": 1}, "unk_token": "<pad>"}}"#;
    let err = GemmaTokenizer::from_bytes(no_bos.as_bytes(), 8).unwrap_err();
    assert!(matches!(err, TextError::MissingToken(ref t) if t == "<bos>"), "{err}");
    let bytes = std::fs::read(fixtures().join("tokenizer.json")).unwrap();
    assert!(matches!(GemmaTokenizer::from_bytes(&bytes, 0), Err(TextError::InvalidLength)));
}
