//! Shared helpers for the recorder tests: the ALSA file microphone and raw PCM files.
//!
//! `tests/fixtures/audio/asound.conf` turns the raw file named by `ALSA_MIC_FILE` (S16_LE,
//! 48 kHz, mono) into ALSA's default capture device. ALSA reads its configuration once per process
//! and Rust 2024 makes `set_var` unsafe, so each cpal test re-runs itself in a child process with
//! the variables set ([`run_with_file_mic`]). The file microphone is not paced in real time:
//! tests count frames and make the file longer than what they record.

#![allow(dead_code)] // each test binary uses a different subset

use std::path::{Path, PathBuf};
use std::process::Command;

/// Set in the child process that talks to ALSA.
const CHILD_ENV: &str = "PROMPTBOOK_ALSA_CHILD";
/// The child's scratch folder.
const DIR_ENV: &str = "PROMPTBOOK_TEST_DIR";
/// The microphone's rate and format, as fixed by asound.conf.
pub const MIC_RATE: u32 = 48_000;

/// The committed ALSA configuration.
pub fn asound_conf() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/audio/asound.conf")
}

/// A fresh scratch folder for `name` under Cargo's per-target temp dir.
pub fn fresh_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("recorder-{name}"));
    std::fs::remove_dir_all(&dir).ok();
    std::fs::create_dir_all(&dir).expect("create test dir");
    dir
}

/// The environment that makes `mic` the default ALSA microphone.
pub fn alsa_env(mic: &Path) -> Vec<(String, String)> {
    vec![
        ("ALSA_CONFIG_PATH".into(), format!("/usr/share/alsa/alsa.conf:{}", asound_conf().display())),
        ("ALSA_MIC_FILE".into(), mic.display().to_string()),
        ("ALSA_SPK_FILE".into(), "/dev/null".into()),
    ]
}

/// True under CI (`CI` set, and not `false` or `0`): there every tool a test uses must be installed.
pub fn on_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// Skip `test_name` because `reason` (a missing tool); under CI this fails instead, so that CI cannot pass
/// by skipping.
pub fn skip(test_name: &str, reason: &str) {
    assert!(!on_ci(), "{test_name} cannot run under CI: {reason} (install the README's system packages)");
    println!("SKIPPED {test_name}: {reason}");
}

/// `Some(reason)` when the file microphone cannot work on this machine.
pub fn alsa_unavailable() -> Option<String> {
    if !Path::new("/usr/share/alsa/alsa.conf").exists() {
        return Some("ALSA's /usr/share/alsa/alsa.conf is missing (install libasound2)".into());
    }
    None
}

/// `Some(reason)` when `tool` is not installed.
pub fn tool_missing(tool: &str) -> Option<String> {
    match Command::new(tool).arg("--version").output() {
        Ok(_) => None,
        Err(e) => Some(format!("{tool} is not installed ({e})")),
    }
}

/// Runs test `test_name` with a file microphone.
///
/// In the parent: `make_mic(dir)` writes the raw microphone file (or returns `Err(reason)` to
/// skip), then this test re-runs alone in a child process with the ALSA variables set; the
/// parent asserts that the child passed and returns `None`. In the child it returns the scratch
/// folder, and the caller runs the body.
pub fn run_with_file_mic(
    test_name: &str,
    make_mic: impl FnOnce(&Path) -> Result<PathBuf, String>,
) -> Option<PathBuf> {
    if std::env::var_os(CHILD_ENV).is_some() {
        return Some(PathBuf::from(std::env::var_os(DIR_ENV).expect("the parent sets the test dir")));
    }
    if let Some(reason) = alsa_unavailable() {
        skip(test_name, &reason);
        return None;
    }
    let dir = fresh_dir(test_name);
    let mic = match make_mic(&dir) {
        Ok(mic) => mic,
        Err(reason) => {
            skip(test_name, &reason);
            return None;
        }
    };
    let output = Command::new(std::env::current_exe().expect("test binary path"))
        .args(["--exact", test_name, "--nocapture", "--test-threads=1"])
        .envs(alsa_env(&mic))
        .env(CHILD_ENV, "1")
        .env(DIR_ENV, &dir)
        .output()
        .expect("run the child test");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("--- child stdout ---\n{stdout}\n--- child stderr ---\n{stderr}");
    assert!(output.status.success(), "the child test failed");
    assert!(stdout.contains("1 passed"), "the child did not run {test_name}");
    None
}

/// Writes `samples` as raw S16_LE (×32767, rounded, clamped), the microphone's format.
pub fn write_raw_s16(path: &Path, samples: &[f32]) {
    let bytes: Vec<u8> =
        samples.iter().flat_map(|s| ((s.clamp(-1.0, 1.0) * 32767.0).round() as i16).to_le_bytes()).collect();
    std::fs::write(path, bytes).expect("write raw mic file");
}

/// Reads raw S16_LE as floats (÷32768, as ALSA's plug converts it).
pub fn read_raw_s16(path: &Path) -> Vec<f32> {
    let bytes = std::fs::read(path).expect("read raw mic file");
    bytes.chunks_exact(2).map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0).collect()
}

/// Speaks `text` with espeak-ng and converts it with sox to the microphone's raw format, with
/// `lead_secs` of silence before and `tail_secs` after (no dither, so the pauses are digital silence). Returns the raw file and the speech length.
pub fn espeak_mic(dir: &Path, text: &str, lead_secs: f64, tail_secs: f64) -> Result<(PathBuf, f64), String> {
    for tool in ["espeak-ng", "sox"] {
        if let Some(reason) = tool_missing(tool) {
            return Err(reason);
        }
    }
    let wav = dir.join("speech.wav");
    let status = Command::new("espeak-ng").args(["-v", "en", "-s", "150", "-w"]).arg(&wav).arg(text).status();
    if !matches!(status, Ok(s) if s.success()) {
        return Err(format!("espeak-ng failed: {status:?}"));
    }
    let spec = hound::WavReader::open(&wav).map_err(|e| e.to_string())?;
    let speech_secs = f64::from(spec.duration()) / f64::from(spec.spec().sample_rate);
    let raw = dir.join("mic.raw");
    let status = Command::new("sox")
        .arg(&wav)
        .args(["-D", "-t", "raw", "-e", "signed", "-b", "16", "-r", "48000", "-c", "1"])
        .arg(&raw)
        .args(["pad", &lead_secs.to_string(), &tail_secs.to_string()])
        .status();
    if !matches!(status, Ok(s) if s.success()) {
        return Err(format!("sox failed: {status:?}"));
    }
    Ok((raw, speech_secs))
}
