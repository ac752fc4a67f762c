//! `promptbook convert-voice` end to end with the tiny random test model (its SeedVC, CAM++, BigVGAN and
//! Whisper files in the real layout).

use std::path::{Path, PathBuf};

use promptbook_e2e::{run, scratch_dir, stderr, stdout, wav_facts};

fn scratch(name: &str) -> PathBuf {
    scratch_dir("vc", name)
}

fn make_model(dir: &Path) -> PathBuf {
    let models = dir.join("models");
    let out =
        run(&["models", "make-test-model", models.to_str().expect("UTF-8 temp path"), "--seed", "5"], None);
    assert!(out.status.success(), "{}", stderr(&out));
    models
}

/// A 16-bit WAV of a gliding tone with `channels` identical channels.
fn write_tone_wav(path: &Path, rate: u32, channels: u16, seconds: f64, hz: f64) {
    let n = (seconds * f64::from(rate)) as usize;
    let data: Vec<u8> = (0..n)
        .flat_map(|i| {
            let t = i as f64 / f64::from(rate);
            let s = (0.3 * (std::f64::consts::TAU * (hz + 30.0 * t) * t).sin() * 32767.0) as i16;
            std::iter::repeat_n(s, usize::from(channels)).flat_map(i16::to_le_bytes)
        })
        .collect();
    let block = 2 * channels;
    let mut bytes = Vec::with_capacity(44 + data.len());
    bytes.extend_from_slice(b"RIFF");
    bytes.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    bytes.extend_from_slice(b"WAVEfmt ");
    bytes.extend_from_slice(&16u32.to_le_bytes());
    bytes.extend_from_slice(&1u16.to_le_bytes()); // PCM
    bytes.extend_from_slice(&channels.to_le_bytes());
    bytes.extend_from_slice(&rate.to_le_bytes());
    bytes.extend_from_slice(&(rate * u32::from(block)).to_le_bytes());
    bytes.extend_from_slice(&block.to_le_bytes());
    bytes.extend_from_slice(&16u16.to_le_bytes());
    bytes.extend_from_slice(b"data");
    bytes.extend_from_slice(&(data.len() as u32).to_le_bytes());
    bytes.extend_from_slice(&data);
    std::fs::write(path, bytes).expect("write the WAV");
}

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 temp path")
}

#[test]
fn a_recording_is_converted_to_48k_with_its_record_and_the_source_length() {
    let dir = scratch("convert");
    let models = make_model(&dir);
    let (source, target) = (dir.join("guide.wav"), dir.join("voice.wav"));
    write_tone_wav(&source, 44_100, 2, 1.7, 160.0);
    write_tone_wav(&target, 16_000, 1, 1.2, 230.0);
    let out_wav = dir.join("converted.wav");
    let args = ["convert-voice", s(&source), "--target", s(&target), "-o", s(&out_wav), "--steps", "3"];
    let extra = ["--cfg", "0.7", "--seed", "11", "--models-dir", s(&models)];
    let out = run(&[&args[..], &extra[..]].concat(), None);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("48000 Hz, 2 channels, 3 steps, cfg 0.7, seed 11"), "{}", stdout(&out));

    let bytes = std::fs::read(&out_wav).expect("OUT.wav written");
    let (channels, rate, _, frames) = wav_facts(&bytes);
    assert_eq!((channels, rate), (2, 48_000));
    // The model works in 256-sample hops at 22.05 kHz: the result matches the source within one hop.
    let hop_48k = 256.0 * 48_000.0 / 22_050.0;
    let want = 1.7 * 48_000.0;
    assert!((frames as f64 - want).abs() <= hop_48k, "{frames} frames, the source is {want}");

    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("converted.json")).expect("OUT.json written"))
            .expect("the record is JSON");
    assert_eq!(record["stage"], "seedvc");
    assert_eq!(record["settings"]["steps"], 3);
    assert_eq!(record["settings"]["cfg_rate"], 0.7);
    assert_eq!(record["settings"]["seed"], 11);
    assert_eq!(record["model_sample_rate"], 22_050);
    assert_eq!(record["sample_rate"], 48_000);
    assert_eq!(record["source_sample_rate"], 44_100);
    assert_eq!(record["target_used_s"], 1.2);
    assert!(record["timings"]["convert_s"].as_f64().is_some_and(|t| t > 0.0), "{record}");
    assert_eq!(record["windows"], 1);

    // The same seed gives the same file.
    let again = dir.join("again.wav");
    let args = ["convert-voice", s(&source), "--target", s(&target), "-o", s(&again), "--steps", "3"];
    let out = run(&[&args[..], &extra[..]].concat(), None);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read(&again).expect("written"), bytes);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bad_input_is_refused_and_loses_nothing() {
    let dir = scratch("bad");
    let (source, target) = (dir.join("guide.wav"), dir.join("voice.wav"));
    write_tone_wav(&source, 22_050, 1, 0.5, 160.0);
    write_tone_wav(&target, 22_050, 1, 0.5, 230.0);
    let original = std::fs::read(&source).expect("written");
    let empty_models = dir.join("no-models");
    std::fs::create_dir_all(&empty_models).expect("create");
    let base = ["convert-voice", s(&source), "--target", s(&target), "--models-dir", s(&empty_models)];

    let out = run(&[&base[..], &["-o", s(&source)]].concat(), None);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("would overwrite the source"), "{}", stderr(&out));
    assert_eq!(std::fs::read(&source).expect("still there"), original);

    let out_wav = dir.join("out.wav");
    let out = run(&[&base[..], &["-o", s(&out_wav), "--cfg", "1.5"]].concat(), None);
    assert!(stderr(&out).contains("cfg rate 1.5 is out of range"), "{}", stderr(&out));
    let out = run(&[&base[..], &["-o", s(&out_wav), "--steps", "0"]].concat(), None);
    assert!(stderr(&out).contains("0 diffusion steps"), "{}", stderr(&out));

    let out = run(&[&base[..], &["-o", s(&out_wav)]].concat(), None);
    assert_eq!(out.status.code(), Some(2));
    for name in
        ["Plachta/Seed-VC/DiT_seed_v2", "funasr/campplus", "bigvgan_generator.pt", "openai/whisper-small"]
    {
        assert!(stderr(&out).contains(name), "{name} not named: {}", stderr(&out));
    }
    let missing = dir.join("missing.wav");
    let out = run(&["convert-voice", s(&missing), "--target", s(&target), "-o", s(&out_wav)], None);
    assert!(
        stderr(&out).contains("cannot read the source") && stderr(&out).contains("missing.wav"),
        "{}",
        stderr(&out)
    );
    assert!(!out_wav.exists(), "nothing is written on failure");
    std::fs::remove_dir_all(&dir).ok();
}
