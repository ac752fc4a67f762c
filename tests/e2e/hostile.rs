//! The command line fed what a hostile or unlucky user would feed it (issue #21): outputs that are
//! inputs or devices, broken WAV headers, NaN samples and weights, closed pipes, absurd sample rates
//! and lengths, damaged model files, a hub that lies. Every test here failed before its fix: a file
//! destroyed, a panic (exit 101), unbounded memory or time, or a success that was a lie.

#[path = "../../engine/tests/store_support/mod.rs"]
mod store_support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use promptbook_e2e::{promptbook_bin, run, scratch_dir, stderr, stdout};
use serde_json::Value;
use store_support::{FakeFile, FakeHub, FakeRepo, safetensors_bytes};

const SCRIPT: &str = r#"<speak voice="A calm, low female voice" gender="female" shot="Close-up" language="en">The lamps were low. She opened the book.</speak>"#;

fn scratch(name: &str) -> PathBuf {
    scratch_dir("hostile", name)
}

fn arg(path: &Path) -> &str {
    path.to_str().expect("UTF-8 temp path")
}

fn code(out: &Output) -> i32 {
    out.status.code().expect("exit code (not killed by a signal)")
}

/// Exit 2 with a message containing `needle`, and no panic.
fn assert_refused(out: &Output, needle: &str) {
    let err = stderr(out);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(code(out), 2, "stdout: {}\nstderr: {err}", stdout(out));
    assert!(err.contains(needle), "expected {needle:?} in: {err}");
}

/// `promptbook ARGS`, killed after `limit`: a hang guard for inputs whose cost used to explode, not a
/// speed measurement.
fn run_within(args: &[&str], limit: Duration) -> Output {
    let mut child = Command::new(promptbook_bin())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn promptbook");
    let started = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if started.elapsed() > limit {
            child.kill().ok();
            let out = child.wait_with_output().expect("wait");
            panic!("promptbook {args:?} ran for more than {limit:?}; stderr: {}", stderr(&out));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().expect("wait for promptbook")
}

/// A canonical WAV: `format` 1 (PCM) or 3 (float), `bits` per sample, the given raw sample bytes.
fn wav_bytes(format: u16, channels: u16, rate: u32, bits: u16, data: &[u8]) -> Vec<u8> {
    let block = channels * bits / 8;
    let mut out = Vec::new();
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&format.to_le_bytes());
    out.extend_from_slice(&channels.to_le_bytes());
    out.extend_from_slice(&rate.to_le_bytes());
    out.extend_from_slice(&rate.wrapping_mul(u32::from(block)).to_le_bytes());
    out.extend_from_slice(&block.to_le_bytes());
    out.extend_from_slice(&bits.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(data);
    out
}

/// A voice-like mono 16-bit WAV: a gliding tone with a syllable envelope.
fn tone_wav(rate: u32, seconds: f64) -> Vec<u8> {
    let n = (seconds * f64::from(rate)) as usize;
    let mut phase = 0.0f64;
    let data: Vec<u8> = (0..n)
        .flat_map(|i| {
            let t = i as f64 / f64::from(rate);
            phase += 2.0 * std::f64::consts::PI * (140.0 + 40.0 * (1.3 * t).sin()) / f64::from(rate);
            let envelope = 0.5 + 0.5 * (2.0 * std::f64::consts::PI * 3.0 * t).sin();
            ((phase.sin() * envelope * 0.3 * 32767.0) as i16).to_le_bytes()
        })
        .collect();
    wav_bytes(1, 1, rate, 16, &data)
}

fn float_wav(rate: u32, samples: &[f32]) -> Vec<u8> {
    let data: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
    wav_bytes(3, 1, rate, 32, &data)
}

#[test]
fn render_never_writes_over_its_own_inputs() {
    let dir = scratch("inputs");
    let script = dir.join("s.xml");
    std::fs::write(&script, SCRIPT).unwrap();
    let reference = dir.join("ref.wav");
    std::fs::write(&reference, tone_wav(48_000, 1.0)).unwrap();
    let original_ref = std::fs::read(&reference).unwrap();
    // A script named like a record: `-o s2.wav` would write its record to s2.json.
    let json_script = dir.join("s2.json");
    std::fs::write(&json_script, SCRIPT).unwrap();
    let linked = dir.join("linked.json");
    std::fs::hard_link(&script, &linked).unwrap();
    let dotted = dir.join("sub");
    std::fs::create_dir_all(&dotted).unwrap();
    let cases: Vec<(&Path, Vec<String>)> = vec![
        (&script, vec![arg(&reference).into(), "--reference".into(), arg(&reference).into()]),
        (&script, vec![arg(&script).into()]),
        (&script, vec![arg(&dotted.join("..").join("s.xml")).into()]),
        (&json_script, vec![arg(&dir.join("s2.wav")).into()]),
        (&script, vec![arg(&dir.join("linked.wav")).into()]),
    ];
    for (input, rest) in cases {
        let mut args = vec!["render", arg(input), "-o"];
        args.extend(rest.iter().map(String::as_str));
        args.extend(["--models-dir", arg(&dir)]);
        let out = run(&args, None);
        assert_refused(&out, "would destroy it");
    }
    assert_eq!(std::fs::read_to_string(&script).unwrap(), SCRIPT);
    assert_eq!(std::fs::read_to_string(&json_script).unwrap(), SCRIPT);
    assert_eq!(std::fs::read(&reference).unwrap(), original_ref);
    assert!(!dir.join("s2.wav").exists() && !dir.join("linked.wav").exists());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn render_refuses_devices_fifos_and_folders_as_outputs_and_writes_nothing() {
    let dir = scratch("special");
    let script = dir.join("s.xml");
    std::fs::write(&script, SCRIPT).unwrap();
    let fifo = dir.join("pipe.wav");
    let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo (coreutils) must be installed");
    assert!(made.success());
    let out = run(&["render", arg(&script), "-o", arg(&fifo), "--models-dir", arg(&dir)], None);
    assert_refused(&out, "FIFO");
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt as _;
        assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo(), "the FIFO is still a FIFO");
    }
    let out = run(&["render", arg(&script), "-o", "/dev/null", "--models-dir", arg(&dir)], None);
    assert_refused(&out, "a device");
    // The record's place is a folder: before, the WAV was written and left without its record.
    std::fs::create_dir(dir.join("take.json")).unwrap();
    let out =
        run(&["render", arg(&script), "-o", arg(&dir.join("take.wav")), "--models-dir", arg(&dir)], None);
    assert_refused(&out, "a folder");
    assert!(!dir.join("take.wav").exists(), "no WAV without its record");
    // `-o take.json` would write the take and its record to one file.
    let out = run(&["render", arg(&script), "-o", arg(&dir.join("x.json")), "--models-dir", arg(&dir)], None);
    assert_refused(&out, "same file");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn check_clip_refuses_nan_inf_zero_hz_and_absurd_rates_without_crashing() {
    let dir = scratch("clips");
    let mut samples = vec![0.1f32; 48_000];
    samples[24_000] = f32::NAN;
    std::fs::write(dir.join("nan.wav"), float_wav(48_000, &samples)).unwrap();
    samples[24_000] = f32::INFINITY;
    std::fs::write(dir.join("inf.wav"), float_wav(48_000, &samples)).unwrap();
    for rate in [0, 100, 1_000_003, 100_000_007, u32::MAX] {
        std::fs::write(dir.join(format!("r{rate}.wav")), float_wav(rate, &[0.1; 4_800])).unwrap();
    }
    for (file, needle) in [("nan.wav", "NaN or infinite sample at 0.500 s"), ("inf.wav", "NaN or infinite")] {
        let out = run_within(&["check-clip", arg(&dir.join(file))], Duration::from_secs(60));
        assert_refused(&out, needle);
    }
    for rate in [0, 100, 1_000_003, 100_000_007] {
        let out =
            run_within(&["check-clip", arg(&dir.join(format!("r{rate}.wav")))], Duration::from_secs(60));
        assert_refused(&out, "outside 8 kHz–384 kHz");
    }
    let out = run_within(&["check-clip", arg(&dir.join("r4294967295.wav"))], Duration::from_secs(60));
    assert_refused(&out, "damaged WAV header");
    // --json still prints one object.
    let out = run(&["check-clip", arg(&dir.join("nan.wav")), "--json"], None);
    assert_eq!(code(&out), 2);
    let json: Value = serde_json::from_str(&stdout(&out)).expect("one JSON object");
    assert!(json["error"].as_str().unwrap().contains("NaN"), "{json}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn an_odd_sample_rate_is_read_at_a_bounded_cost() {
    let dir = scratch("odd-rate");
    let path = dir.join("odd.wav");
    // 48 017 Hz reduces to 48 017 : 16 000 against the pitch tracker's rate; the FFT resampler needed
    // 83 s and 6 GB for 12 s of it.
    std::fs::write(&path, tone_wav(48_017, 12.0)).unwrap();
    let out = run_within(&["check-clip", arg(&path), "--json"], Duration::from_secs(60));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let rate = report["checks"].as_array().unwrap().iter().find(|c| c["id"] == "sample_rate").unwrap();
    assert_eq!(rate["value"], 48_017.0);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn an_absurd_reference_is_refused_before_anything_is_read_or_loaded() {
    let dir = scratch("refs");
    let script = dir.join("s.xml");
    std::fs::write(&script, SCRIPT).unwrap();
    // A reference whose header claims two hours (the data is cut short, as a header can lie).
    let mut long = tone_wav(48_000, 1.0);
    let claimed: u32 = 2 * 3600 * 48_000 * 2;
    long[40..44].copy_from_slice(&claimed.to_le_bytes());
    std::fs::write(dir.join("long.wav"), &long).unwrap();
    std::fs::write(dir.join("fast.wav"), float_wav(1_000_003, &[0.1; 9_600])).unwrap();
    std::fs::write(dir.join("slow.wav"), float_wav(50, &[0.1; 600])).unwrap();
    for (file, needle) in [
        ("long.wav", "longer than 600 s"),
        ("fast.wav", "outside 8 kHz–384 kHz"),
        ("slow.wav", "outside 8 kHz–384 kHz"),
    ] {
        let reference = dir.join(file);
        let take = dir.join("take.wav");
        let args = [
            "render",
            arg(&script),
            "-o",
            arg(&take),
            "--reference",
            arg(&reference),
            "--models-dir",
            arg(&dir),
            "--no-stages",
        ];
        let out = run_within(&args, Duration::from_secs(60));
        assert_refused(&out, needle);
        assert!(!take.exists());
    }
    // The same files get the same verdict from check-clip: one reader.
    let out = run(&["check-clip", arg(&dir.join("slow.wav"))], None);
    assert_refused(&out, "outside 8 kHz–384 kHz");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_megabyte_line_lints_in_linear_time() {
    let dir = scratch("long-line");
    let path = dir.join("line.xml");
    let body = "Every word here is one more column on the same line, ".repeat(20_000);
    std::fs::write(&path, format!(r#"<speak voice="Narrator" gender="male">{body} <bad></speak>"#)).unwrap();
    assert!(std::fs::metadata(&path).unwrap().len() > 1_000_000);
    // Quadratic column counting took 70 s in release here; linear takes well under a second.
    let out = run_within(&["check", arg(&path), "--json"], Duration::from_secs(60));
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let column = report["errors"][0]["column"].as_u64().unwrap();
    assert!(column > 1_000_000, "the error is at the far end of the line: column {column}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn closed_pipes_end_every_command_quietly() {
    let dir = scratch("pipes");
    let models = dir.join("models");
    let out = run(&["models", "make-test-model", arg(&models)], None);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let clip = dir.join("clip.wav");
    std::fs::write(&clip, tone_wav(48_000, 2.0)).unwrap();
    let transformer = models.join("scenema-audio").join("scenema-audio-transformer.safetensors");
    let commands: Vec<Vec<&str>> = vec![
        vec!["models", "status", "--models-dir", arg(&models)],
        vec!["models", "verify", "--models-dir", arg(&models)],
        vec!["models", "path", "--models-dir", arg(&models)],
        vec!["models", "inspect", arg(&transformer)],
        vec!["check-clip", arg(&clip)],
        vec!["check-clip", arg(&clip), "--json"],
    ];
    for args in commands {
        // The reading end is closed before the command starts: its first write meets EPIPE.
        let (reader, writer) = std::io::pipe().expect("pipe");
        drop(reader);
        let out = Command::new(promptbook_bin())
            .args(&args)
            .env("HF_HUB_OFFLINE", "1")
            .stdin(Stdio::null())
            .stdout(writer)
            .stderr(Stdio::piped())
            .output()
            .expect("run promptbook");
        let err = stderr(&out);
        assert!(!err.contains("panicked") && code(&out) != 101, "{args:?}: {err}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn json_mode_always_prints_one_object() {
    let dir = scratch("json");
    for args in [
        vec!["check", "/nonexistent/script.xml", "--json"],
        vec!["check", "-", "--json", "--pace", "99"],
        vec!["check-clip", "/nonexistent/clip.wav", "--json"],
        vec!["check-clip", arg(&dir), "--json"],
    ] {
        let out = run(&args, Some(SCRIPT));
        assert_eq!(code(&out), 2, "{args:?}: {}", stderr(&out));
        let json: Value = serde_json::from_str(&stdout(&out)).unwrap_or_else(|e| panic!("{args:?}: {e}"));
        assert!(json["error"].is_string(), "{args:?}: {json}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn messages_say_what_is_wrong_once() {
    let dir = scratch("messages");
    // A folder is not "not a WAV".
    let out = run(&["check-clip", arg(&dir)], None);
    assert_refused(&out, "is a folder, not an audio file");
    // A missing file named once, not as an unknown model file.
    let missing = dir.join("missing.wav");
    let out = run(&["check-clip", arg(&missing)], None);
    assert_eq!(code(&out), 2);
    assert_eq!(stderr(&out).matches("missing.wav").count(), 1, "{}", stderr(&out));
    let out = run(&["models", "inspect", arg(&dir.join("gone.safetensors"))], None);
    assert_refused(&out, "does not exist");
    assert!(!stderr(&out).contains("Promptbook knows"), "{}", stderr(&out));
    // `record --seconds 0` is refused before any device is opened, without "between 0 and ..., not 0".
    let out = run(&["record", "-o", arg(&dir.join("r.wav")), "--seconds", "0"], None);
    assert_refused(&out, "more than 0 s");
    std::fs::remove_dir_all(&dir).ok();
}

/// Rewrites a safetensors header, keeping the data.
fn edit_header(path: &Path, edit: impl FnOnce(&mut serde_json::Map<String, Value>)) {
    let bytes = std::fs::read(path).expect("test input");
    let n = u64::from_le_bytes(bytes[..8].try_into().expect("test input")) as usize;
    let mut header: serde_json::Map<String, Value> =
        serde_json::from_slice(&bytes[8..8 + n]).expect("test input");
    edit(&mut header);
    let mut text = serde_json::to_string(&header).expect("test input");
    while !text.len().is_multiple_of(8) {
        text.push(' ');
    }
    let mut out = (text.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(&bytes[8 + n..]);
    std::fs::write(path, out).expect("test input");
}

/// Overwrites every float tensor of a safetensors file with NaN.
fn poison(path: &Path) {
    let mut bytes = std::fs::read(path).expect("test input");
    let n = u64::from_le_bytes(bytes[..8].try_into().expect("test input")) as usize;
    let header: serde_json::Map<String, Value> =
        serde_json::from_slice(&bytes[8..8 + n]).expect("test input");
    let mut poisoned = 0;
    for (name, info) in &header {
        if name == "__metadata__" {
            continue;
        }
        let offsets = info["data_offsets"].as_array().expect("test input");
        let (start, end) = (
            offsets[0].as_u64().expect("test input") as usize,
            offsets[1].as_u64().expect("test input") as usize,
        );
        let nan: &[u8] = match info["dtype"].as_str().expect("test input") {
            "F32" => &f32::NAN.to_le_bytes(),
            "BF16" | "F16" => &[0x00, 0x7e],
            _ => continue,
        };
        for chunk in bytes[8 + n + start..8 + n + end].chunks_mut(nan.len()) {
            chunk.copy_from_slice(nan);
        }
        poisoned += 1;
    }
    assert!(poisoned > 0, "{} holds no float tensor", path.display());
    std::fs::write(path, bytes).expect("test input");
}

fn render_with(models: &Path, script: &Path, take: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "render",
        arg(script),
        "-o",
        arg(take),
        "--models-dir",
        arg(models),
        "--seed",
        "7",
        "--no-stages",
    ];
    args.extend_from_slice(extra);
    run(&args, None)
}

#[test]
fn nan_weights_fail_at_the_stage_that_made_them_and_a_good_take_adds_up() {
    let dir = scratch("nan-weights");
    let script = dir.join("s.xml");
    std::fs::write(&script, SCRIPT).unwrap();
    let reference = dir.join("ref.wav");
    std::fs::write(&reference, tone_wav(44_100, 4.0)).unwrap();
    let pristine = dir.join("pristine");
    let out = run(&["models", "make-test-model", arg(&pristine), "--seed", "3"], None);
    assert_eq!(code(&out), 0, "{}", stderr(&out));

    // A healthy take first: each chunk's share of the take adds up to the take, and the temporary
    // file a killed render left behind is cleaned up.
    let take = dir.join("good.wav");
    let stale = dir.join(".good.wav.4194305.part");
    std::fs::write(&stale, b"half a take").unwrap();
    let out = render_with(&pristine, &script, &take, &["--reference", arg(&reference)]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let record: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("good.json")).unwrap()).unwrap();
    let total: f64 =
        record["chunks"].as_array().unwrap().iter().map(|c| c["take_duration_s"].as_f64().unwrap()).sum();
    let duration = record["duration_s"].as_f64().unwrap();
    assert!(
        duration > 0.5 && (total - duration).abs() < 1e-6,
        "chunks fill {total} s of a {duration} s take"
    );

    for (file, stage, with_reference) in [
        ("scenema-audio/scenema-audio-transformer.safetensors", "audio transformer", false),
        ("gemma-3-12b-it/model-00001-of-00005.safetensors", "Gemma 3 text encoder", false),
        ("scenema-audio/scenema-audio-vae-encoder.safetensors", "audio VAE encoder", true),
    ] {
        let models = dir.join(format!("m-{}", stage.replace(' ', "-")));
        let out = run(&["models", "make-test-model", arg(&models), "--seed", "3"], None);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        poison(&models.join(file));
        let take = dir.join("bad.wav");
        let extra: &[&str] = if with_reference { &["--reference", arg(&reference)] } else { &[] };
        let out = render_with(&models, &script, &take, extra);
        assert_refused(&out, stage);
        assert!(
            stderr(&out).contains(Path::new(file).file_name().unwrap().to_str().unwrap()),
            "{}",
            stderr(&out)
        );
        assert!(!take.exists() && !dir.join("bad.json").exists(), "{stage}: nothing written");
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// `promptbook models ARGS --models-dir DIR` offline.
fn models_offline(dir: &Path, args: &[&str]) -> Output {
    Command::new(promptbook_bin())
        .arg("models")
        .args(args)
        .args(["--models-dir", arg(dir)])
        .env("HF_HUB_OFFLINE", "1")
        .env_remove("HF_ENDPOINT")
        .stdin(Stdio::null())
        .output()
        .expect("run promptbook")
}

#[test]
fn verify_runs_the_loaders_layout_check_where_no_hash_is_known() {
    let dir = scratch("verify-layout");
    let pristine = dir.join("pristine");
    let out = run(&["models", "make-test-model", arg(&pristine)], None);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // The test model holds the bf16-named transformer: with the default variant it is complete, as render finds it.
    let status = models_offline(&pristine, &["status", "--json"]);
    assert_eq!(code(&status), 0, "{}", stdout(&status));
    let out = models_offline(&pristine, &["verify"]);
    assert_eq!(code(&out), 0, "{}\n{}", stdout(&out), stderr(&out));

    let transformer = "scenema-audio/scenema-audio-transformer.safetensors";
    type Damage = fn(&mut serde_json::Map<String, Value>);
    let damages: [(&str, &str, Damage); 4] = [
        ("wrong shape", transformer, |h| {
            let key = h.keys().find(|k| k.ends_with("audio_patchify_proj.weight")).unwrap().clone();
            let shape = h[&key]["shape"].as_array().unwrap().clone();
            h[&key]["shape"] = Value::Array(vec![shape[1].clone(), shape[0].clone()]);
        }),
        ("missing tensor", transformer, |h| {
            let key = h.keys().find(|k| k.ends_with("audio_patchify_proj.weight")).unwrap().clone();
            let info = h.remove(&key).unwrap();
            h.insert(format!("{key}_renamed"), info);
        }),
        ("bad config", "scenema-audio/scenema-audio-pipeline.safetensors", |h| {
            h["__metadata__"]["config"] = Value::String("{\"vocoder\": 3}".into());
        }),
        ("overlapping offsets", transformer, |h| {
            let key = h.keys().find(|k| k.ends_with("audio_patchify_proj.weight")).unwrap().clone();
            let offsets = h[&key]["data_offsets"].as_array().unwrap().clone();
            let (start, end) = (offsets[0].as_u64().unwrap(), offsets[1].as_u64().unwrap());
            let shift = if start >= 4 { -4i64 } else { 4 };
            h[&key]["data_offsets"] = serde_json::json!([start as i64 + shift, end as i64 + shift]);
        }),
    ];
    for (what, file, damage) in damages {
        let models = dir.join(what.replace(' ', "-"));
        let out = run(&["models", "make-test-model", arg(&models)], None);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        edit_header(&models.join(file), damage);
        let out = models_offline(&models, &["verify"]);
        let text = stdout(&out);
        assert_eq!(code(&out), 1, "{what}: verify must fail\n{text}\n{}", stderr(&out));
        assert!(text.contains("CORRUPT") && !text.contains("All 11 files verified"), "{what}: {text}");
        let name = Path::new(file).file_name().unwrap().to_str().unwrap();
        let line = text.lines().find(|l| l.contains(name) && l.contains("CORRUPT"));
        assert!(line.is_some(), "{what}: {name} is named corrupt: {text}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_gemma_index_cannot_point_outside_the_model_folder() {
    let dir = scratch("index");
    let models = dir.join("models");
    let out = run(&["models", "make-test-model", arg(&models)], None);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let outside = dir.join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    let gemma = models.join("gemma-3-12b-it");
    let shard = gemma.join("model-00001-of-00005.safetensors");
    std::fs::copy(&shard, outside.join("x.safetensors")).unwrap();
    let index_path = gemma.join("model.safetensors.index.json");
    let mut index: Value = serde_json::from_str(&std::fs::read_to_string(&index_path).unwrap()).unwrap();
    for value in index["weight_map"].as_object_mut().unwrap().values_mut() {
        if value == "model-00001-of-00005.safetensors" {
            *value = Value::String("../../outside/x.safetensors".into());
        }
    }
    std::fs::write(&index_path, index.to_string()).unwrap();
    let script = dir.join("s.xml");
    std::fs::write(&script, SCRIPT).unwrap();
    let out = render_with(&models, &script, &dir.join("take.wav"), &[]);
    assert_refused(&out, "outside the model folder");
    std::fs::remove_dir_all(&dir).ok();
}

fn fake_scenema(etag: Option<&str>, commit: &str) -> BTreeMap<String, FakeRepo> {
    let mut files = BTreeMap::new();
    for (i, name) in [
        "scenema-audio-transformer-int8.safetensors",
        "scenema-audio-pipeline.safetensors",
        "scenema-audio-vae-encoder.safetensors",
    ]
    .into_iter()
    .enumerate()
    {
        let mut file = FakeFile::lfs(safetensors_bytes(100 + i, "{}"));
        file.etag_override = etag.map(|e| format!("{e}{i}"));
        files.insert(name.to_string(), file);
    }
    let gemma = ["config.json", "tokenizer.json", "model.safetensors.index.json"]
        .into_iter()
        .map(|n| (n.to_string(), FakeFile::git(br#"{"weight_map": {}}"#.to_vec())))
        .chain((1..=5).map(|i| {
            (format!("model-{i:05}-of-00005.safetensors"), FakeFile::lfs(safetensors_bytes(10 * i, "{}")))
        }))
        .collect();
    BTreeMap::from([
        (
            "ScenemaAI/scenema-audio".to_string(),
            FakeRepo { commit: commit.to_string(), gate_token: None, files },
        ),
        (
            "google/gemma-3-12b-it".to_string(),
            FakeRepo { commit: "9e33a3a0".repeat(5), gate_token: None, files: gemma },
        ),
    ])
}

fn download(home: &Path, endpoint: &str, extra: &[&str]) -> Output {
    let mut cmd = Command::new(promptbook_bin());
    cmd.args(["models", "download", "--retries", "0"]).args(extra);
    for var in ["HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_TOKEN_PATH", "HF_HUB_OFFLINE", "HF_HUB_CACHE"] {
        cmd.env_remove(var);
    }
    cmd.env("HF_HOME", home).env("HF_ENDPOINT", endpoint).env_remove("PROMPTBOOK_MODELS_DIR");
    cmd.stdin(Stdio::null()).output().expect("run promptbook")
}

fn blobs(home: &Path) -> usize {
    let repo = home.join("hub").join("models--ScenemaAI--scenema-audio").join("blobs");
    std::fs::read_dir(repo).map_or(0, |d| d.count())
}

#[test]
fn a_hub_that_sends_no_hash_or_a_path_as_commit_is_not_trusted() {
    let dir = scratch("hub");
    // ETags that are not hashes: before, whatever arrived was installed as the model, exit 0.
    let hub = FakeHub::start(fake_scenema(Some("random-etag-"), &"5ce0e3a0".repeat(5)));
    let home = dir.join("home-etag");
    let out = download(&home, &hub.endpoint, &[]);
    assert_refused(&out, "cannot be verified");
    assert!(stderr(&out).contains("--no-verify"), "{}", stderr(&out));
    assert_eq!(blobs(&home), 0, "nothing was installed");
    let out = download(&home, &hub.endpoint, &["--no-verify"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // A commit of `..` would build cache paths and URLs outside the repository.
    let hub = FakeHub::start(fake_scenema(None, ".."));
    let home = dir.join("home-commit");
    let out = download(&home, &hub.endpoint, &[]);
    assert_refused(&out, "bad commit");
    assert_eq!(blobs(&home), 0);
    std::fs::remove_dir_all(&dir).ok();
}
