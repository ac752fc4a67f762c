//! Differential test against the Python reference on random and mutated scripts.
//!
//! `fixtures/prompt_differential.json` holds the reference's answers (validator, compiler,
//! sentence-action map and fallback plans at two paces; sentence splitting and
//! `split_text_by_duration` on random text). `fixtures/gen_prompt_differential.py` made it; set
//! `PROMPT_DIFFERENTIAL=/path/to/bigger.json` to run a larger generated file instead.

use promptbook_engine::plan::{
    ReferenceEstimator, SplitterMode, plan_chunks, split_sentences, split_text_by_duration,
};
use promptbook_engine::prompt::{compile_prompt, extract_sentence_actions, validate_reference};
use serde_json::{Value, json};

fn fixture() -> Value {
    let path = std::env::var("PROMPT_DIFFERENTIAL").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/prompt_differential.json").into()
    });
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).expect("fixture is JSON")
}

#[test]
fn scripts_match_the_reference() {
    let data = fixture();
    let scripts = data["scripts"].as_array().expect("scripts");
    let (mut parsed, mut valid, mut plans) = (0, 0, 0);
    for case in scripts {
        let xml = case["xml"].as_str().expect("xml");
        let want = &case["validate"];
        let got = validate_reference(xml);
        let errors: Vec<String> = got
            .errors
            .iter()
            .map(|e| if e.starts_with("Invalid XML: ") { "Invalid XML: ".to_owned() } else { e.clone() })
            .collect();
        let got_json = json!({
            "valid": got.valid, "errors": errors, "voice": got.voice, "scene": got.scene, "language": got.language,
        });
        assert_eq!(&got_json, want, "validate {xml:?}");

        let compiled = compile_prompt(xml);
        assert_eq!(compiled.is_ok(), case.get("compiled").is_some(), "parse {xml:?}: {compiled:?}");
        if let Ok(compiled) = compiled {
            parsed += 1;
            assert_eq!(
                serde_json::to_value(&compiled).expect("serialises"),
                case["compiled"],
                "compile {xml:?}"
            );
            let actions: Vec<Value> = extract_sentence_actions(xml)
                .expect("parses")
                .into_iter()
                .map(|(k, v)| json!([k, v]))
                .collect();
            assert_eq!(Value::Array(actions), case["sentence_actions"], "actions {xml:?}");
        }
        if let Some(want_plans) = case.get("plans").and_then(Value::as_object) {
            valid += 1;
            for (pace, want_plan) in want_plans {
                let pace: f64 = pace.parse().expect("pace");
                let plan =
                    plan_chunks(xml, 123, pace, &ReferenceEstimator, SplitterMode::Reference).expect("plans");
                let got: Vec<Value> =
                    plan.chunks.iter().map(|c| json!([c.text, c.prompt, c.duration_s, c.seed])).collect();
                assert_eq!(&Value::Array(got), want_plan, "plan at pace {pace} {xml:?}");
                plans += 1;
            }
        }
    }
    println!("{} scripts: {parsed} parsed, {valid} valid, {plans} plans compared", scripts.len());
    assert!(parsed > 0 && valid > 0 && plans > 0);
}

#[test]
fn text_splitting_matches_the_reference() {
    let data = fixture();
    let texts = data["texts"].as_array().expect("texts");
    for case in texts {
        let text = case["text"].as_str().expect("text");
        assert_eq!(json!(split_sentences(text, SplitterMode::Reference)), case["sentences"], "{text:?}");
        for (multiplier, want) in case["split"].as_object().expect("split") {
            let m: f64 = multiplier.parse().expect("multiplier");
            let got = split_text_by_duration(text, m, 15.0, &ReferenceEstimator, SplitterMode::Reference);
            let got: Vec<Value> = got.into_iter().map(|(t, d)| json!([t, d])).collect();
            assert_eq!(&Value::Array(got), want, "split at {m} {text:?}");
        }
    }
    println!("{} texts compared", texts.len());
    assert!(!texts.is_empty());
}
