//! Every compiler, validator, chunker and presets case of the reference golden file
//! (`tests/fixtures/scenema-reference-cases.json`, from the Scenema Audio pytest suites with Kokoro
//! mocked) must come out exactly as the reference produced it.

use std::collections::BTreeMap;

use promptbook_engine::plan::{
    self, ReferenceEstimator, SplitterMode, estimate_duration, plan_chunks, split_sentences,
    split_text_by_duration,
};
use promptbook_engine::presets::{self, FormFields};
use promptbook_engine::prompt::{
    compile_chunk_prompt, compile_prompt, extract_sentence_actions, extract_speech_text, validate_reference,
};
use serde_json::{Value, json};

fn cases() -> Vec<Value> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/scenema-reference-cases.json");
    let text = std::fs::read_to_string(path).expect("golden file is readable");
    serde_json::from_str(&text).expect("golden file is JSON")
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("expected a string, got {v}"))
}

fn opt_s(v: &Value) -> Option<&str> {
    v.as_str()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array().map(|a| a.iter().map(|x| s(x).to_owned()).collect()).unwrap_or_default()
}

/// Runs one case; returns `false` when the function is not one this test knows.
fn run(case: &Value) -> bool {
    let name = s(&case["name"]);
    let input = &case["input"];
    let expected = &case["expected"];
    match s(&case["function"]) {
        "compiler.compile_prompt" => {
            let got = compile_prompt(s(&input["xml"])).expect("compiles");
            assert_eq!(serde_json::to_value(&got).expect("serialises"), *expected, "{name}");
        }
        "compiler.extract_speech_text" => {
            assert_eq!(extract_speech_text(s(&input["xml"])).expect("parses"), s(expected), "{name}");
        }
        "compiler.compile_chunk_prompt" => {
            let got = compile_chunk_prompt(
                s(&input["speech_text"]),
                s(&input["voice"]),
                opt_s(&input["scene"]),
                &strings(&input["actions_before"]),
                &strings(&input["actions_after"]),
                opt_s(&input["gender"]).unwrap_or("male"),
                opt_s(&input["shot"]).unwrap_or("closeup"),
            );
            assert_eq!(got, s(expected), "{name}");
        }
        "compiler.extract_sentence_actions" => {
            let got: BTreeMap<usize, Vec<String>> =
                extract_sentence_actions(s(&input["xml"])).expect("parses");
            let got: Vec<Value> = got.into_iter().map(|(k, v)| json!([k, v])).collect();
            assert_eq!(Value::Array(got), expected["map"], "{name}");
        }
        "validator.validate_prompt" => {
            let got = validate_reference(s(&input["xml"]));
            assert_eq!(got.valid, expected["valid"].as_bool().expect("bool"), "{name}");
            let want = strings(&expected["errors"]);
            assert_eq!(got.errors.len(), want.len(), "{name}: {:?}", got.errors);
            for (g, w) in got.errors.iter().zip(&want) {
                match s(&expected["error_compare"]) {
                    "exact" => assert_eq!(g, w, "{name}"),
                    "prefix" => assert!(g.starts_with(w.as_str()), "{name}: {g:?} does not start with {w:?}"),
                    other => panic!("{name}: unknown comparison {other}"),
                }
            }
            assert_eq!(got.voice.as_deref(), opt_s(&expected["voice"]), "{name}");
            assert_eq!(got.scene.as_deref(), opt_s(&expected["scene"]), "{name}");
            assert_eq!(got.language.as_deref(), opt_s(&expected["language"]), "{name}");
        }
        "chunker._split_into_sentences" => {
            assert_eq!(
                split_sentences(s(&input["text"]), SplitterMode::Reference),
                strings(expected),
                "{name}"
            );
        }
        "chunker.estimate_duration[fallback]" => {
            let got = estimate_duration(
                &ReferenceEstimator,
                s(&input["text"]),
                input["num_actions"].as_u64().unwrap_or(0) as usize,
                input["multiplier"].as_f64().unwrap_or(plan::DEFAULT_PACE),
            );
            assert_eq!(got, expected.as_f64().expect("float"), "{name}");
        }
        "chunker.split_text_by_duration[fallback]" => {
            let got = split_text_by_duration(
                s(&input["text"]),
                plan::DEFAULT_PACE,
                plan::MAX_CHUNK_DURATION_S,
                &ReferenceEstimator,
                SplitterMode::Reference,
            );
            let got: Vec<Value> = got.into_iter().map(|(t, d)| json!([t, d])).collect();
            assert_eq!(Value::Array(got), expected["chunks"], "{name}");
        }
        "chunker.plan_chunks[fallback]" => {
            let seed = input["base_seed"].as_i64().expect("seed");
            let pace = input["pace"].as_f64().unwrap_or(plan::DEFAULT_PACE);
            let plan =
                plan_chunks(s(&input["xml"]), seed, pace, &ReferenceEstimator, SplitterMode::Reference)
                    .expect("plans");
            if let Some(range) = expected["seed_range_inclusive"].as_array() {
                assert_eq!(
                    plan.chunks.len() as u64,
                    expected["num_chunks"].as_u64().expect("count"),
                    "{name}"
                );
                let (lo, hi) = (range[0].as_i64().expect("lo"), range[1].as_i64().expect("hi"));
                assert!((lo..=hi).contains(&plan.base_seed), "{name}: {}", plan.base_seed);
                assert_eq!(plan.chunks[0].seed, plan.base_seed, "{name}");
            } else {
                let language = compile_prompt(s(&input["xml"])).expect("compiles").language;
                assert_eq!(chunk_specs(&plan, &language), expected["chunks"], "{name}");
            }
        }
        "chunker.plan_chunks" => {
            let err = plan_chunks(
                s(&input["xml"]),
                -1,
                plan::DEFAULT_PACE,
                &ReferenceEstimator,
                SplitterMode::Reference,
            )
            .expect_err("invalid");
            let prefix = s(&expected["message_prefix"]);
            assert!(err.to_string().starts_with(prefix), "{name}: {err}");
        }
        "generate._build_xml -> compiler.compile_prompt -> chunker.plan_chunks[fallback, seed=0, pace=1.5]" =>
        {
            let preset = presets::find(name).unwrap_or_else(|| panic!("no preset {name}"));
            let p = &input["preset"];
            assert_eq!(preset.voice, s(&p["voice_description"]), "{name}");
            assert_eq!(preset.gender.as_str(), s(&p["gender"]), "{name}");
            assert_eq!(preset.scene, s(&p["scene"]), "{name}");
            assert_eq!(preset.custom_scene, s(&p["custom_scene"]), "{name}");
            assert_eq!(preset.action_tags, s(&p["action_tags"]), "{name}");
            assert_eq!(preset.speech_text, s(&p["speech_text"]), "{name}");
            assert_eq!(preset.shot(), s(&expected["shot"]), "{name}");
            let xml = preset.xml();
            assert_eq!(xml, s(&expected["xml"]), "{name}");
            let compiled = compile_prompt(&xml).expect("compiles");
            assert_eq!(serde_json::to_value(&compiled).expect("serialises"), expected["compiled"], "{name}");
            let plan =
                plan_chunks(&xml, 0, 1.5, &ReferenceEstimator, SplitterMode::Reference).expect("plans");
            assert_eq!(chunk_specs(&plan, &compiled.language), expected["chunks_standalone_seeds"], "{name}");
        }
        "generate constants" => {
            assert_eq!(json!(presets::SCENE_PRESETS), expected["SCENE_PRESETS"], "{name}");
            assert_eq!(json!(presets::CLEAN_SPEECH_SCENES), expected["CLEAN_SPEECH_SCENES"], "{name}");
            let codes: serde_json::Map<String, Value> =
                presets::LANGUAGE_CODES.iter().map(|(n, c)| ((*n).to_owned(), json!(c))).collect();
            assert_eq!(Value::Object(codes), expected["LANGUAGE_CODES"], "{name}");
        }
        "generate._build_xml" => {
            let form = FormFields {
                voice_description: s(&input["voice_description"]),
                gender: s(&input["gender"]),
                speech_text: s(&input["speech_text"]),
                scene: s(&input["scene"]),
                custom_scene: s(&input["custom_scene"]),
                action_tags: s(&input["action_tags"]),
                language: s(&input["language"]),
            };
            assert_eq!(presets::build_xml(&form), s(expected), "{name}");
        }
        _ => return false,
    }
    true
}

/// A plan in the reference's `ChunkSpec` shape.
fn chunk_specs(plan: &plan::Plan, language: &str) -> Value {
    let specs: Vec<Value> = plan
        .chunks
        .iter()
        .map(|c| {
            json!({
                "compiled_prompt": c.prompt,
                "duration_s": c.duration_s,
                "seed": c.seed,
                "expected_text": c.text,
                "language": language,
            })
        })
        .collect();
    Value::Array(specs)
}

#[test]
fn golden_cases() {
    let suites = ["test_compiler.py", "test_validator.py", "test_chunker.py", "presets"];
    let mut ran: BTreeMap<&str, usize> = suites.iter().map(|s| (*s, 0)).collect();
    for case in cases() {
        let suite = s(&case["suite"]);
        let Some(key) = suites.iter().find(|k| suite.starts_with(**k)) else { continue };
        assert!(run(&case), "{suite} / {}: unknown function {}", s(&case["name"]), case["function"]);
        *ran.get_mut(key).expect("known suite") += 1;
    }
    for (suite, count) in &ran {
        println!("{suite}: {count} golden cases");
        assert!(*count > 0, "suite {suite} ran no cases");
    }
    let total: usize = ran.values().sum();
    println!("total: {total} golden cases");
}
