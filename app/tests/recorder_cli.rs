//! The `promptbook record` and `promptbook check-clip` commands, run as the binary with the ALSA
//! file microphone (`tests/fixtures/audio/asound.conf`).

mod recorder_support;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use recorder_support::{MIC_RATE, alsa_env, alsa_unavailable, fresh_dir, skip, write_raw_s16};

fn promptbook(args: &[&str], mic: Option<&Path>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_promptbook"));
    cmd.args(args).stdin(Stdio::null());
    if let Some(mic) = mic {
        cmd.envs(alsa_env(mic));
    }
    let out = cmd.output().expect("run promptbook");
    println!(
        "$ promptbook {}\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn sine_mic(dir: &Path, secs: f64) -> std::path::PathBuf {
    let n = (secs * f64::from(MIC_RATE)) as usize;
    let s: Vec<f32> = (0..n)
        .map(|i| (0.5 * (2.0 * std::f64::consts::PI * 997.0 * i as f64 / 48_000.0).sin()) as f32)
        .collect();
    let mic = dir.join("mic.raw");
    write_raw_s16(&mic, &s);
    mic
}

#[test]
fn record_writes_a_wav_that_check_clip_reads() {
    if let Some(reason) = alsa_unavailable() {
        skip("record_writes_a_wav_that_check_clip_reads", &reason);
        return;
    }
    let dir = fresh_dir("cli-record");
    let mic = sine_mic(&dir, 5.0);
    let out_wav = dir.join("REF.wav");
    let out_str = out_wav.to_str().unwrap();
    // I16: see `file_mic_config` in recorder_alsa.rs for why the file microphone needs it.
    let out = promptbook(&["record", "-o", out_str, "--seconds", "2", "--sample-format", "i16"], Some(&mic));
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("Overall:"), "record prints the clip check");
    let wav = promptbook_engine::audio::read_wav(&out_wav).unwrap();
    assert_eq!((wav.sample_rate(), wav.num_channels(), wav.frames()), (48_000, 1, 96_000));

    let out = promptbook(&["check-clip", out_str, "--json"], None);
    assert!(out.status.success());
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("check-clip --json prints JSON");
    let checks = json["checks"].as_array().unwrap();
    let get = |id: &str| checks.iter().find(|c| c["id"] == id).unwrap_or_else(|| panic!("{id} missing"));
    assert_eq!(get("duration")["value"], 2.0);
    assert_eq!(get("duration")["unit"], "s");
    assert!((get("peak")["value"].as_f64().unwrap() - (-6.02)).abs() < 0.05);
    assert!((get("loudness")["value"].as_f64().unwrap() - (-9.03)).abs() < 0.1);
    assert_eq!(get("source")["verdict"], "pass", "float WAV is lossless");
    for c in checks {
        assert!(c["advice"].as_str().is_some_and(|a| !a.is_empty()));
    }
    // The plain table has one line per check plus the overall verdict.
    let out = promptbook(&["check-clip", out_str], None);
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), checks.len() + 1);
}

#[test]
fn record_lists_devices_and_rejects_unknown_ones() {
    if let Some(reason) = alsa_unavailable() {
        skip("record_lists_devices_and_rejects_unknown_ones", &reason);
        return;
    }
    let dir = fresh_dir("cli-devices");
    let mic = sine_mic(&dir, 1.0);
    let out = promptbook(&["record", "--list-devices"], Some(&mic));
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("[default]"));
    let target = dir.join("x.wav");
    let out = promptbook(&["record", "-o", target.to_str().unwrap(), "--device", "no such mic"], Some(&mic));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no input device matches \"no such mic\""));
    assert!(!target.exists());
}

#[test]
fn check_clip_reports_a_corrupt_file_clearly() {
    let dir = fresh_dir("cli-corrupt");
    let bad = dir.join("broken.flac");
    std::fs::write(&bad, b"fLaC but not really a flac file at all").unwrap();
    let out = promptbook(&["check-clip", bad.to_str().unwrap(), "--json"], None);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("broken.flac"), "{err}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object on stdout");
    assert!(json["error"].as_str().is_some_and(|e| e.contains("broken.flac")), "{json}");
}
