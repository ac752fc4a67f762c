//! `promptbook models ...` as a user runs it, against a fake hub on 127.0.0.1 that serves tiny stand-ins
//! for every file of the built-in manifest (`HF_ENDPOINT`), with the Gemma repository gated.

#[path = "../../engine/tests/store_support/mod.rs"]
mod store_support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use promptbook_e2e::{promptbook_bin, stderr, stdout};
use serde_json::Value;
use store_support::{FakeFile, FakeHub, FakeRepo, safetensors_bytes, temp_dir};

const TOKEN: &str = "hf_e2e_token";
const SCENEMA: &str = "ScenemaAI/scenema-audio";
const GEMMA: &str = "google/gemma-3-12b-it";

fn fake_repos() -> BTreeMap<String, FakeRepo> {
    let st =
        |rows: usize, tag: &str| FakeFile::lfs(safetensors_bytes(rows, &format!(r#"{{"tag": "{tag}"}}"#)));
    let mut scenema = BTreeMap::new();
    for (name, rows) in [
        ("scenema-audio-transformer-int8.safetensors", 20_000),
        ("scenema-audio-transformer.safetensors", 30_000),
        ("scenema-audio-pipeline.safetensors", 10_000),
        ("scenema-audio-vae-encoder.safetensors", 700),
        ("scenema-audio-pipeline-audio.safetensors", 900),
    ] {
        scenema.insert(name.to_string(), st(rows, name));
    }
    let mut gemma = BTreeMap::from([
        ("config.json".to_string(), FakeFile::git(br#"{"model_type": "gemma3"}"#.to_vec())),
        ("tokenizer.json".to_string(), FakeFile::lfs(br#"{"version": "1.0", "model": {}}"#.to_vec())),
        ("model.safetensors.index.json".to_string(), FakeFile::git(br#"{"weight_map": {}}"#.to_vec())),
    ]);
    for i in 1..=5 {
        gemma
            .insert(format!("model-{i:05}-of-00005.safetensors"), st(1_000 * i, &format!("gemma shard {i}")));
    }
    BTreeMap::from([
        (SCENEMA.to_string(), FakeRepo { commit: "5ce0e3a0".repeat(5), gate_token: None, files: scenema }),
        (
            GEMMA.to_string(),
            FakeRepo { commit: "9e33a3a0".repeat(5), gate_token: Some(TOKEN.into()), files: gemma },
        ),
    ])
}

/// `promptbook ARGS` with a clean Hugging Face environment plus `env`.
fn models(hf_home: &Path, endpoint: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(promptbook_bin());
    cmd.arg("models").args(args);
    for var in [
        "HF_TOKEN",
        "HUGGING_FACE_HUB_TOKEN",
        "HF_TOKEN_PATH",
        "HF_HUB_OFFLINE",
        "HF_HUB_CACHE",
        "HUGGINGFACE_HUB_CACHE",
        "PROMPTBOOK_MODELS_DIR",
        "DISPLAY",
        "WAYLAND_DISPLAY",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("HF_HOME", hf_home).env("HF_ENDPOINT", endpoint);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.stdin(Stdio::null()).output().expect("run promptbook")
}

fn code(out: &Output) -> i32 {
    out.status.code().expect("exit code")
}

fn status_json(hf_home: &Path, endpoint: &str) -> Value {
    let out = models(hf_home, endpoint, &["status", "--json"], &[]);
    serde_json::from_str(&stdout(&out)).expect("status JSON")
}

#[test]
fn download_status_verify_path_and_inspect_against_a_local_hub() {
    let hub = FakeHub::start(fake_repos());
    let home = temp_dir("e2e-models");
    let ep = hub.endpoint.clone();

    let out = models(&home, &ep, &["status"], &[]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("0 of 11 files present"), "{text}");
    assert!(text.contains("accept the licence at https://huggingface.co/google/gemma-3-12b-it"), "{text}");

    // Without a token: refused before any transfer, with the fix spelled out.
    let out = models(&home, &ep, &["download"], &[]);
    assert_eq!(code(&out), 2);
    let err = stderr(&out);
    assert!(err.contains("google/gemma-3-12b-it is gated"), "{err}");
    assert!(err.contains("set HF_TOKEN or run `huggingface-cli login`"), "{err}");
    assert!(hub.log().iter().all(|s| s.method == "HEAD"), "{:?}", hub.log());

    // The token saved by `huggingface-cli login` ($HF_HOME/token) is used.
    std::fs::write(home.join("token"), format!("{TOKEN}\n")).unwrap();
    let out = models(&home, &ep, &["download"], &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stdout(&out).contains("All 11 files present and checked"), "{}", stdout(&out));
    assert!(hub.log().iter().any(|s| s.authorization.as_deref() == Some("Bearer hf_e2e_token")));

    let status = status_json(&home, &ep);
    assert_eq!(status["complete"], true);
    let files = status["files"].as_array().unwrap();
    assert_eq!(files.len(), 11);
    assert!(files.iter().all(|f| f["state"] == "present" && f["hash"].as_str().is_some()), "{files:?}");

    let out = models(&home, &ep, &["verify"], &[]);
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    assert!(stdout(&out).contains("All 11 files verified"));

    let out = models(&home, &ep, &["path", "scenema-audio-vae-encoder.safetensors"], &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let path = PathBuf::from(stdout(&out).trim());
    assert!(
        path.starts_with(home.join("hub/models--ScenemaAI--scenema-audio/snapshots")),
        "{}",
        path.display()
    );

    let out = models(&home, &ep, &["inspect", "scenema-audio-vae-encoder.safetensors"], &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("1 tensors; parameters: F32 2.8 k"), "{text}");
    assert!(text.contains("\"tag\": \"scenema-audio-vae-encoder.safetensors\""), "{text}");
    assert!(text.lines().any(|l| l.starts_with("block.weight") && l.ends_with("F32   [700, 4]")), "{text}");
    assert!(text.contains("layout check: no transformer or text-connector keys in this file"), "{text}");

    // A flipped byte: verify names it, --delete-corrupt removes it, download fetches it again.
    let blob = std::fs::canonicalize(&path).unwrap();
    let mut bytes = std::fs::read(&blob).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&blob, bytes).unwrap();
    let out = models(&home, &ep, &["verify"], &[]);
    assert_eq!(code(&out), 1);
    assert!(
        stdout(&out).contains("ScenemaAI/scenema-audio/scenema-audio-vae-encoder.safetensors: CORRUPT"),
        "{}",
        stdout(&out)
    );
    let out = models(&home, &ep, &["verify", "--delete-corrupt"], &[]);
    assert_eq!(code(&out), 1);
    assert!(stdout(&out).contains("deleted ScenemaAI/scenema-audio/scenema-audio-vae-encoder.safetensors"));
    hub.clear_log();
    let out = models(&home, &ep, &["download"], &[("HF_TOKEN", TOKEN)]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stdout(&out).contains("scenema-audio-vae-encoder.safetensors: downloaded"), "{}", stdout(&out));
    assert_eq!(code(&models(&home, &ep, &["verify"], &[])), 0);

    // Offline: everything is there, and the hub is not asked.
    hub.clear_log();
    let out = models(&home, &ep, &["download"], &[("HF_HUB_OFFLINE", "1")]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = models(&home, &ep, &["download", "--variant", "bf16"], &[("HF_HUB_OFFLINE", "1")]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("HF_HUB_OFFLINE is set and 1 file(s) are not in the cache"),
        "{}",
        stderr(&out)
    );
    assert!(hub.log().is_empty(), "{:?}", hub.log());
    std::fs::remove_dir_all(&home).ok();
}

#[test]
fn models_dir_is_read_only_and_inspect_names_a_truncated_file() {
    let home = temp_dir("e2e-models-dir-home");
    let dir = temp_dir("e2e-models-dir");
    std::fs::create_dir_all(dir.join("scenema-audio")).unwrap();
    let encoder = safetensors_bytes(700, r#"{"audio_vae": {}}"#);
    std::fs::write(dir.join("scenema-audio/scenema-audio-vae-encoder.safetensors"), &encoder).unwrap();
    std::fs::write(dir.join("config.json"), br#"{"model_type": "gemma3"}"#).unwrap();
    // Nothing listens here: a models dir never needs the hub for status and path.
    let ep = "http://127.0.0.1:9";
    let dir_arg = dir.to_str().unwrap();

    let out = models(&home, ep, &["status", "--models-dir", dir_arg, "--json"], &[]);
    assert_eq!(code(&out), 1);
    let status: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let present: Vec<&str> = status["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["state"] == "present")
        .map(|f| f["file"].as_str().unwrap())
        .collect();
    assert_eq!(present, ["scenema-audio-vae-encoder.safetensors", "config.json"]);

    let out = models(&home, ep, &["--models-dir", dir_arg, "path", "google/gemma-3-12b-it/config.json"], &[]);
    assert_eq!(stdout(&out).trim(), dir.join("config.json").to_str().unwrap());
    // Gemma and Whisper both have a config.json: the bare name asks for the repository.
    let out = models(&home, ep, &["--models-dir", dir_arg, "path", "config.json"], &[]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("openai/whisper-small/config.json"), "{}", stderr(&out));
    let out = models(&home, ep, &["path"], &[("PROMPTBOOK_MODELS_DIR", dir_arg)]);
    assert_eq!(stdout(&out).trim(), dir_arg);

    let out = models(&home, ep, &["download", "--models-dir", dir_arg], &[]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("promptbook never downloads into it"), "{}", stderr(&out));

    let truncated = dir.join("cut.safetensors");
    std::fs::write(&truncated, &encoder[..encoder.len() - 100]).unwrap();
    let out = models(&home, ep, &["inspect", truncated.to_str().unwrap()], &[]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("truncated"), "{}", stderr(&out));
    std::fs::remove_dir_all(&dir).ok();
    std::fs::remove_dir_all(&home).ok();
}

#[test]
fn inspect_checks_the_layout_of_a_transformer() {
    let home = temp_dir("e2e-models-inspect-home");
    let dir = temp_dir("e2e-models-inspect");
    let dir_arg = dir.to_str().unwrap();
    let ep = "http://127.0.0.1:9";
    let out = models(&home, ep, &["make-test-model", dir_arg], &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let transformer = dir.join("scenema-audio/scenema-audio-transformer.safetensors");
    let out = models(&home, ep, &["inspect", transformer.to_str().unwrap()], &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("layout check: transformer (audio path)"), "{text}");
    assert!(text.contains("`velocity_model` stored as `velocity_model`"), "{text}");
    assert!(text.contains(", 0 missing or mis-shaped"), "{text}");
    let out = models(&home, ep, &["inspect", transformer.to_str().unwrap(), "--json"], &[]);
    let json: Value = serde_json::from_str(&stdout(&out)).expect("inspect JSON");
    let layout: Vec<&str> = json["layout"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert_eq!(layout.first(), Some(&"layout check: transformer (audio path)"), "{layout:?}");
    std::fs::remove_dir_all(&dir).ok();
    std::fs::remove_dir_all(&home).ok();
}

#[test]
fn the_log_file_never_holds_the_token() {
    let hub = FakeHub::start(fake_repos());
    let home = temp_dir("e2e-models-log-home");
    let data = temp_dir("e2e-models-log-data");
    let data_arg = data.to_str().unwrap();
    // Everything logged, the token in the environment, and a download that sends it.
    let env = [("HF_TOKEN", TOKEN), ("RUST_LOG", "trace"), ("XDG_DATA_HOME", data_arg)];
    let out = models(&home, &hub.endpoint, &["download"], &env);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(hub.log().iter().any(|s| s.authorization.as_deref() == Some("Bearer hf_e2e_token")));
    let log = std::fs::read_to_string(data.join("promptbook/promptbook.log")).expect("the log file");
    assert!(log.contains("ureq"), "the HTTP client's records reach the file: {log}");
    assert!(!log.contains(TOKEN), "the token is in the log: {log}");
    assert!(!stderr(&out).contains(TOKEN));
    assert!(!stdout(&out).contains(" TRACE ") && !stdout(&out).contains(" DEBUG "), "{}", stdout(&out));
    std::fs::remove_dir_all(&data).ok();
    std::fs::remove_dir_all(&home).ok();
}
