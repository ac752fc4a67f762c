//! `promptbook separate IN -o DIR` end to end with the tiny random separator that
//! `promptbook models make-test-model` writes: both stems at the input's rate, length and channel count, and
//! dialogue + sfx equal to the input.

use std::path::{Path, PathBuf};
use std::process::Command;

use promptbook_e2e::{run, scratch_dir, stderr};

fn scratch(name: &str) -> PathBuf {
    scratch_dir("separate", name)
}

fn make_model(dir: &Path) -> PathBuf {
    let models = dir.join("models");
    let out = run(&["models", "make-test-model", models.to_str().expect("UTF-8 path"), "--seed", "5"], None);
    assert!(out.status.success(), "{}", stderr(&out));
    models
}

/// A 16-bit PCM WAV of interleaved `samples`.
fn write_pcm16(path: &Path, rate: u32, channels: u16, samples: &[i16]) {
    let data_len = (samples.len() * 2) as u32;
    let mut b = Vec::with_capacity(44 + samples.len() * 2);
    b.extend(b"RIFF");
    b.extend((36 + data_len).to_le_bytes());
    b.extend(b"WAVEfmt ");
    b.extend(16u32.to_le_bytes());
    b.extend(1u16.to_le_bytes());
    b.extend(channels.to_le_bytes());
    b.extend(rate.to_le_bytes());
    b.extend((rate * u32::from(channels) * 2).to_le_bytes());
    b.extend((channels * 2).to_le_bytes());
    b.extend(16u16.to_le_bytes());
    b.extend(b"data");
    b.extend(data_len.to_le_bytes());
    for s in samples {
        b.extend(s.to_le_bytes());
    }
    std::fs::write(path, b).expect("write the input WAV");
}

/// (rate, channels, planar f32 samples) of a 32-bit float WAV.
fn read_f32_wav(path: &Path) -> (u32, usize, Vec<Vec<f32>>) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(&bytes[0..4], b"RIFF");
    let (mut pos, mut fmt, mut data) = (12, None, None);
    while pos + 8 <= bytes.len() {
        let len = u32::from_le_bytes(bytes[pos + 4..pos + 8].try_into().expect("4 bytes")) as usize;
        let body = &bytes[pos + 8..pos + 8 + len];
        match &bytes[pos..pos + 4] {
            b"fmt " => {
                let tag = u16::from_le_bytes([body[0], body[1]]);
                let bits = u16::from_le_bytes([body[14], body[15]]);
                // hound writes float as WAVE_FORMAT_EXTENSIBLE (0xfffe) with the IEEE float sub-format.
                assert!(matches!(tag, 3 | 0xfffe) && bits == 32, "stems are 32-bit float ({tag:#x}, {bits})");
                if tag == 0xfffe {
                    assert_eq!(u16::from_le_bytes([body[24], body[25]]), 3, "IEEE float sub-format");
                }
                let channels = u16::from_le_bytes([body[2], body[3]]);
                fmt = Some((
                    u32::from_le_bytes(body[4..8].try_into().expect("4 bytes")),
                    usize::from(channels),
                ));
            }
            b"data" => data = Some(body.to_vec()),
            _ => {}
        }
        pos += 8 + len + (len & 1);
    }
    let (rate, channels) = fmt.expect("fmt chunk");
    let values: Vec<f32> = data
        .expect("data chunk")
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().expect("4")))
        .collect();
    let planar = (0..channels).map(|c| values.iter().skip(c).step_by(channels).copied().collect()).collect();
    (rate, channels, planar)
}

/// Speech-like bursts over a room tone, interleaved stereo at 48 kHz.
fn scene(rate: u32, seconds: u32) -> Vec<i16> {
    let n = (rate * seconds) as usize;
    let mut out = Vec::with_capacity(2 * n);
    for i in 0..n {
        let t = i as f32 / rate as f32;
        let syllable = (t * 3.0).fract() < 0.6;
        let voice = if syllable { 0.25 * (t * 2.0 * std::f32::consts::PI * 180.0).sin() } else { 0.0 };
        let room = 0.03 * (((i * 7919) % 1013) as f32 / 1013.0 - 0.5);
        out.push(((voice + room) * 32767.0) as i16);
        out.push(((0.8 * voice - room) * 32767.0) as i16);
    }
    out
}

fn separate(input: &Path, out: &Path, models: &Path) -> std::process::Output {
    run(
        &[
            "separate",
            input.to_str().expect("UTF-8 path"),
            "-o",
            out.to_str().expect("UTF-8 path"),
            "--models-dir",
            models.to_str().expect("UTF-8 path"),
        ],
        None,
    )
}

#[test]
fn twenty_seconds_of_stereo_split_into_stems_that_sum_to_the_input() {
    let dir = scratch("stereo");
    let models = make_model(&dir);
    let input = dir.join("scene.wav");
    let samples = scene(48_000, 20);
    write_pcm16(&input, 48_000, 2, &samples);
    let out_dir = dir.join("stems");
    let out = separate(&input, &out_dir, &models);
    assert!(out.status.success(), "{}", stderr(&out));

    let (rate, channels, dialogue) = read_f32_wav(&out_dir.join("dialogue.wav"));
    let (sfx_rate, sfx_channels, sfx) = read_f32_wav(&out_dir.join("sfx.wav"));
    assert_eq!((rate, channels, sfx_rate, sfx_channels), (48_000, 2, 48_000, 2));
    for stem in [&dialogue, &sfx] {
        assert!(stem.iter().all(|c| c.len() == 960_000), "stems keep the input's length");
    }
    let mut max_err = 0f32;
    for (i, pair) in samples.chunks_exact(2).enumerate() {
        for c in 0..2 {
            let x = f32::from(pair[c]) / 32768.0;
            max_err = max_err.max((dialogue[c][i] + sfx[c][i] - x).abs());
        }
    }
    assert!(max_err <= 1e-4, "dialogue + sfx differs from the input by {max_err}");
    let energy: f64 = dialogue.iter().flatten().map(|&v| f64::from(v) * f64::from(v)).sum();
    assert!(energy.is_finite() && energy > 1e-3, "the dialogue stem is silent or not finite ({energy})");

    // Writing the stems over the input is refused before anything runs.
    let out = separate(&out_dir.join("sfx.wav"), &out_dir, &models);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("is the input"), "{}", stderr(&out));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn mono_flac_keeps_one_channel_and_bad_input_writes_nothing() {
    let dir = scratch("mono");
    let models = make_model(&dir);
    let wav = dir.join("mono.wav");
    let tone: Vec<i16> = (0..44_100).map(|i| (8000.0 * (i as f32 * 0.05).sin()) as i16).collect();
    write_pcm16(&wav, 22_050, 1, &tone);
    let flac = dir.join("mono.flac");
    let status = Command::new("sox").arg(&wav).arg(&flac).status().expect("sox is needed by the tests");
    assert!(status.success(), "sox could not write FLAC");
    let out_dir = dir.join("stems");
    let out = separate(&flac, &out_dir, &models);
    assert!(out.status.success(), "{}", stderr(&out));
    let (rate, channels, dialogue) = read_f32_wav(&out_dir.join("dialogue.wav"));
    let (_, _, sfx) = read_f32_wav(&out_dir.join("sfx.wav"));
    assert_eq!((rate, channels, dialogue[0].len(), sfx[0].len()), (22_050, 1, 44_100, 44_100));
    for (i, &s) in tone.iter().enumerate() {
        assert!((dialogue[0][i] + sfx[0][i] - f32::from(s) / 32768.0).abs() <= 1e-4);
    }

    // Not audio: a clear message, exit 2, no output folder.
    let junk = dir.join("notes.wav");
    std::fs::write(&junk, b"these are my notes, not audio").unwrap();
    let out = separate(&junk, &dir.join("junk-stems"), &models);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("notes.wav"), "{}", stderr(&out));
    assert!(!dir.join("junk-stems").exists());
    // No model: the message says how to get it.
    let out = separate(&flac, &dir.join("none"), &dir.join("empty-models"));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("models download --optional"), "{}", stderr(&out));
    assert_eq!(std::fs::read(&junk).unwrap(), b"these are my notes, not audio");
    std::fs::remove_dir_all(&dir).ok();
}
