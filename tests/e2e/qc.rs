//! `promptbook qc` end to end: with `--transcript` it reproduces the reference's `validate_text` on every
//! golden input (postprocessing-spec §8.4) without any model; without it, it transcribes with the test
//! model's tiny Whisper; bad input is a clear error with status 2.

use std::path::PathBuf;

use promptbook_e2e::{fixture, run, stderr, stdout};
use serde_json::Value;

fn take() -> PathBuf {
    fixture("audio/sine440_44k1_mono_64k.mp3")
}

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pb-e2e-qc-{tag}-{}", std::process::id()));
    std::fs::remove_dir_all(&dir).ok();
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn code(out: &std::process::Output) -> i32 {
    out.status.code().expect("exit code")
}

/// §8.4 `validate_text`: (expected_text, transcribed, min_word_ratio, passed, ratio).
const GOLDEN: &[(&str, &str, f64, bool, f64)] = &[
    ("Hello world.", "hello, world", 0.9, true, 1.0),
    ("the cat and the dog", "the cat", 0.6, false, 0.5),
    ("Café déjà vu", "cafe deja vu", 0.9, true, 1.0),
    ("नमस्ते दुनिया", "नमसत दनय", 0.9, true, 1.0),
    ("...", "anything", 0.9, true, 1.0),
    (
        "one two three four five six seven eight nine ten",
        "one two three four five six seven eight",
        0.9,
        false,
        0.8,
    ),
    ("a b c d e f g h i j", "a b c d e f g h i", 0.9, true, 0.9),
];

#[test]
fn qc_with_a_transcript_reproduces_the_reference_on_the_golden_inputs() {
    let take = take();
    for &(expected, transcribed, min_ratio, passed, ratio) in GOLDEN {
        let min = min_ratio.to_string();
        let args = ["qc", take.to_str().expect("UTF-8"), "--text", expected, "--transcript", transcribed];
        let out = run(&[&args[..], &["--min-ratio", &min, "--json"]].concat(), None);
        assert_eq!(code(&out), if passed { 0 } else { 1 }, "{expected:?}: {}", stderr(&out));
        let report: Value = serde_json::from_str(&stdout(&out)).expect("one JSON object");
        assert_eq!(report["passed"], passed, "{expected:?}");
        assert_eq!(report["ratio"].as_f64(), Some(ratio), "{expected:?}");
        assert_eq!(report["transcript"], transcribed);
        assert!(report["missing_words"].is_array());
        let keys: Vec<&str> = report.as_object().expect("object").keys().map(String::as_str).collect();
        assert_eq!(keys.len(), 4, "{keys:?}");
    }
    // The human report names the missing words.
    let out = run(
        &["qc", take.to_str().expect("UTF-8"), "--text", "the cat and the dog", "--transcript", "the cat"],
        None,
    );
    assert_eq!(code(&out), 1);
    let text = stdout(&out);
    assert!(text.starts_with("FAIL  ratio 0.50") && text.contains("missing  and dog"), "{text}");
}

#[test]
fn qc_reads_the_expected_words_from_a_script() {
    let dir = temp_dir("script");
    let script = dir.join("line.xml");
    std::fs::write(
        &script,
        r#"<speak voice="V" gender="male" language="de"><action>He sighs</action>Guten Morgen, Welt.</speak>"#,
    )
    .expect("write script");
    let take = take();
    let args = ["qc", take.to_str().expect("UTF-8"), "--script", script.to_str().expect("UTF-8"), "--json"];
    let out = run(&[&args[..], &["--transcript", "guten morgen"]].concat(), None);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let report: Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    assert_eq!(report["missing_words"], serde_json::json!(["welt"]));
    let out = run(&[&args[..], &["--transcript", "Guten Morgen, Welt!"]].concat(), None);
    assert_eq!(code(&out), 0, "{}", stderr(&out));

    std::fs::write(&script, "<speak voice=\"V\">no gender</speak>").expect("write script");
    let out = run(&[&args[..], &["--transcript", "x"]].concat(), None);
    assert_eq!(code(&out), 2);
    let report: Value = serde_json::from_str(&stdout(&out)).expect("an {\"error\"} object");
    assert!(report["error"].as_str().is_some_and(|e| e.contains("is not a valid script")), "{report}");
    assert!(
        stderr(&out).contains("is not a valid script") && stderr(&out).contains("gender"),
        "{}",
        stderr(&out)
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn qc_refuses_bad_input_with_status_2() {
    let take = take();
    let take = take.to_str().expect("UTF-8");
    let missing = run(&["qc", "/nonexistent/take.wav", "--text", "a", "--transcript", "a"], None);
    assert_eq!(code(&missing), 2);
    assert!(stderr(&missing).contains("/nonexistent/take.wav"), "{}", stderr(&missing));
    let neither = run(&["qc", take, "--transcript", "a"], None);
    assert_eq!(code(&neither), 2, "{}", stderr(&neither));
    let both = run(&["qc", take, "--text", "a", "--script", "s.xml"], None);
    assert_eq!(code(&both), 2, "{}", stderr(&both));
    let ratio = run(&["qc", take, "--text", "a", "--transcript", "a", "--min-ratio", "1.5"], None);
    assert_eq!(code(&ratio), 2);
    assert!(stderr(&ratio).contains("--min-ratio"), "{}", stderr(&ratio));
    // No model anywhere: the message says how to get one.
    let dir = temp_dir("nomodel");
    let out = run(&["qc", take, "--text", "a", "--models-dir", dir.to_str().expect("UTF-8")], None);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("promptbook models download --optional"), "{}", stderr(&out));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn qc_transcribes_with_the_test_model() {
    let dir = temp_dir("model");
    let models = dir.join("models");
    let out = run(&["models", "make-test-model", models.to_str().expect("UTF-8"), "--seed", "2"], None);
    assert!(out.status.success(), "{}", stderr(&out));
    let take = take();
    let args = [
        "qc",
        take.to_str().expect("UTF-8"),
        "--text",
        "A sine wave says nothing.",
        "--models-dir",
        models.to_str().expect("UTF-8"),
        "--language",
        "en",
        "--json",
    ];
    let first = run(&args, None);
    // Random weights hear random tokens: the words are not there, and the status says so.
    assert_eq!(code(&first), 1, "{}", stderr(&first));
    let report: Value = serde_json::from_str(&stdout(&first)).expect("JSON");
    assert_eq!(report["passed"], false);
    assert_eq!(report["ratio"].as_f64(), Some(0.0));
    assert_eq!(report["missing_words"], serde_json::json!(["a", "sine", "wave", "says", "nothing"]));
    assert!(report["transcript"].is_string());
    let second = run(&args, None);
    assert_eq!(stdout(&first), stdout(&second), "transcription is deterministic");

    let mut unknown = args.to_vec();
    unknown[7] = "xx";
    let out = run(&unknown, None);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("does not know the language \"xx\""), "{}", stderr(&out));
    std::fs::remove_dir_all(&dir).ok();
}
