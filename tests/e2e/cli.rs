//! The command line as a user drives it: `promptbook check`, `promptbook presets`, and the studio without a display.

use promptbook_e2e::{run, stderr, stdout};
use serde_json::Value;

const GOOD: &str = r#"<speak voice="Deep male voice, gravitas" scene="A dimly lit room" gender="male"><action>He takes a slow breath</action>Many years later, as he faced the firing squad.<action>He pauses</action>Colonel Aureliano Buendia was to remember.</speak>"#;

#[test]
fn check_json_has_exactly_the_documented_shape() {
    let out = run(&["check", "-", "--json", "--seed", "7", "--estimator", "reference"], Some(GOOD));
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    let report: Value = serde_json::from_str(stdout(&out).trim()).expect("one JSON object");
    let keys: Vec<&str> = report.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys.len(), 5, "{keys:?}");
    for key in ["valid", "errors", "warnings", "compiled", "plan"] {
        assert!(report.get(key).is_some(), "missing {key}");
    }
    assert_eq!(report["valid"], true);
    assert_eq!(
        report["compiled"]["prompt"],
        "Close-up in A dimly lit room. He takes a slow breath. \"Many years later, as he faced the firing squad.\" He pauses. \"Colonel Aureliano Buendia was to remember.\" Deep male voice, gravitas."
    );
    let compiled = report["compiled"].as_object().unwrap();
    let mut fields: Vec<&str> = compiled.keys().map(String::as_str).collect();
    fields.sort_unstable();
    assert_eq!(fields, ["gender", "language", "prompt", "scene", "shot", "speech_text", "voice"]);
    let plan = report["plan"].as_array().unwrap();
    assert!(!plan.is_empty());
    for (i, chunk) in plan.iter().enumerate() {
        assert_eq!(chunk["seed"], 7 + 1000 * i as i64);
        assert!(chunk["duration_s"].as_f64().unwrap() > 0.0);
        assert!(chunk["text"].is_string() && chunk["prompt"].is_string());
    }
}

#[test]
fn check_reports_errors_with_file_line_and_column_and_exit_status_1() {
    let dir = std::env::temp_dir().join(format!("pb-e2e-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("broken.xml");
    std::fs::write(&path, "<speak voice=\"V\" gender=\"female\">\nHello <action>unclosed\n</speak>").unwrap();
    let out = run(&["check", path.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(1), "stdout: {}\nstderr: {}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    let first = text.lines().next().expect("a problem line");
    let prefix = format!("{}:", path.display());
    assert!(first.starts_with(&prefix), "{first}");
    let rest: Vec<&str> = first[prefix.len()..].splitn(3, ':').collect();
    assert!(rest[0].parse::<usize>().is_ok() && rest[1].parse::<usize>().is_ok(), "{first}");
    assert!(rest[2].trim_start().starts_with("error:"), "{first}");

    let json = run(&["check", path.to_str().unwrap(), "--json"], None);
    assert_eq!(json.status.code(), Some(1));
    let report: Value = serde_json::from_str(stdout(&json).trim()).unwrap();
    assert_eq!(report["valid"], false);
    assert!(report["compiled"].is_null());
    assert_eq!(report["plan"].as_array().unwrap().len(), 0);
    let error = &report["errors"][0];
    assert!(error["line"].as_u64().unwrap() >= 1 && error["column"].as_u64().unwrap() >= 1);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn check_human_output_shows_prompt_and_plan_table() {
    let out = run(&["check", "-", "--seed", "100"], Some(GOOD));
    assert!(out.status.success());
    let text = stdout(&out);
    assert!(text.contains("Compiled prompt:"), "{text}");
    assert!(text.contains("Chunk plan"), "{text}");
    assert!(text.contains("100"), "{text}");
}

#[test]
fn check_names_a_missing_file_and_fails() {
    let out = run(&["check", "/nonexistent/script.xml"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("/nonexistent/script.xml"), "{}", stderr(&out));
}

#[test]
fn random_seed_base_is_reported_through_the_plan() {
    let out = run(&["check", "-", "--json", "--seed", "-1"], Some(GOOD));
    assert!(out.status.success());
    let report: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    let seed = report["plan"][0]["seed"].as_i64().unwrap();
    assert!(seed >= 0, "a random base seed is non-negative: {seed}");
}

#[test]
fn presets_list_and_show_round_trip_through_check() {
    let list = run(&["presets", "--json"], None);
    assert!(list.status.success(), "{}", stderr(&list));
    let presets: Value = serde_json::from_str(&stdout(&list)).unwrap();
    let presets = presets.as_array().unwrap();
    assert_eq!(presets.len(), 12);
    let name = presets[0]["name"].as_str().unwrap();
    let show = run(&["presets", "show", name], None);
    assert!(show.status.success());
    let xml = stdout(&show);
    assert!(xml.trim_start().starts_with("<speak"), "{xml}");
    let check = run(&["check", "-", "--json"], Some(&xml));
    let report: Value = serde_json::from_str(stdout(&check).trim()).unwrap();
    assert_eq!(report["valid"], true, "preset {name} does not validate: {report}");

    let missing = run(&["presets", "show", "no such preset"], None);
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing).contains("known presets"));
}

#[test]
fn studio_without_a_display_explains_instead_of_panicking() {
    let out = run(&[], None);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("no display found"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn a_closed_pipe_ends_output_quietly() {
    use std::io::Read;
    use std::process::{Command, Stdio};
    // A plan table far larger than a pipe buffer, so the writer really meets the closed pipe.
    let body = "Every word of this long line is planned into its own row of the chunk table. ".repeat(3000);
    let dir = std::env::temp_dir().join(format!("pb-e2e-pipe-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("long.xml");
    std::fs::write(&path, format!("<speak voice=\"Narrator\" gender=\"male\">{body}</speak>")).unwrap();
    let mut child = Command::new(promptbook_e2e::promptbook_bin())
        .args(["check", path.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read one byte and hang up, as `| head -c1` would.
    let mut stdout = child.stdout.take().unwrap();
    let mut byte = [0u8; 1];
    stdout.read_exact(&mut byte).unwrap();
    drop(stdout);
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(out.status.code(), Some(0), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn only_minus_one_is_a_negative_seed_and_other_negatives_exit_2() {
    for command in [&["check", "-"][..], &["render", "missing.xml", "-o", "take.wav"][..]] {
        for seed in ["-5", "-1000", "-2"] {
            let out = run(&[command, &["--seed", seed]].concat(), Some(GOOD));
            assert_eq!(out.status.code(), Some(2), "{command:?} --seed {seed}: {}", stdout(&out));
            let err = stderr(&out);
            assert!(err.contains(seed) && err.contains("-1"), "{err}");
        }
    }
    let out = run(&["check", "-", "--json", "--seed", "0"], Some(GOOD));
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn pace_outside_0_5_to_3_0_exits_2_with_the_range_it_checks() {
    for command in [&["check", "-"][..], &["render", "missing.xml", "-o", "take.wav"][..]] {
        for pace in ["0.3", "3.5", "10", "0.1", "nan"] {
            let out = run(&[command, &["--pace", pace]].concat(), Some(GOOD));
            assert_eq!(out.status.code(), Some(2), "{command:?} --pace {pace}: {}", stdout(&out));
            assert!(stderr(&out).contains("0.5 to 3.0"), "{}", stderr(&out));
        }
    }
    for pace in ["0.5", "3.0", "3"] {
        let out = run(&["check", "-", "--json", "--pace", pace], Some(GOOD));
        assert!(out.status.success(), "--pace {pace}: {}", stderr(&out));
    }
}

#[test]
fn engines_json_lists_scenema_with_its_capabilities_and_the_stages_with_their_install_state() {
    let dir = promptbook_e2e::scratch_dir("cli", "engines");
    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let report = |models: &std::path::Path| -> serde_json::Value {
        let out = run(&["engines", "--json", "--models-dir", models.to_str().expect("UTF-8")], None);
        assert!(out.status.success(), "{}", stderr(&out));
        serde_json::from_str(&stdout(&out)).expect("one JSON object")
    };
    let none = report(&empty);
    let scenema = &none["engines"][0];
    assert_eq!(scenema["id"], "scenema");
    assert_eq!(scenema["sample_rate"], 48_000);
    assert_eq!(scenema["reference"], "optional_audio");
    assert_eq!(scenema["duration"]["kind"], "none");
    assert_eq!(scenema["voice_design"], true);
    assert_eq!(scenema["stages"], serde_json::json!(["validation", "separation", "seedvc"]));
    assert_eq!(scenema["installed"], false);
    assert!(scenema["files"].as_array().unwrap().iter().all(|f| f["licence"].is_string()), "{scenema:#}");
    let stages: Vec<(&str, bool)> = none["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["id"].as_str().unwrap(), s["installed"].as_bool().unwrap()))
        .collect();
    assert_eq!(stages, [("validation", false), ("separation", false), ("seedvc", false)]);

    let models = dir.join("models");
    let out = run(&["models", "make-test-model", models.to_str().expect("UTF-8"), "--seed", "1"], None);
    assert!(out.status.success(), "{}", stderr(&out));
    let all = report(&models);
    assert_eq!(all["engines"][0]["installed"], true, "{all:#}");
    assert!(all["stages"].as_array().unwrap().iter().all(|s| s["installed"] == true), "{all:#}");
}
