//! Importing WAV, FLAC, OGG Vorbis and MP3 files: each is decoded, resampled to 48 kHz and written as
//! WAV, and the content (length, level, frequency) survives. FLAC and OGG are made with sox at test
//! time; sox on Debian cannot encode MP3, so that one is a committed 8 KB fixture
//! (`tests/fixtures/audio/make_sine_mp3.py`). Corrupt files give a clear error and write nothing.

use std::path::{Path, PathBuf};
use std::process::Command;

use promptbook_engine::audio::{self, AudioBuffer, AudioError, ENGINE_SAMPLE_RATE, WavSampleFormat};
use promptbook_engine::clip_check::{self, CheckId, Verdict};

const AMP: f32 = 0.5;
const HZ: f64 = 440.0;

fn fresh_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("audio_import-{name}"));
    std::fs::remove_dir_all(&dir).ok();
    std::fs::create_dir_all(&dir).expect("create test dir");
    dir
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/audio").join(name)
}

/// `Err(reason)` when sox is missing or cannot write `format`.
fn sox_can_write(format: &str) -> Result<(), String> {
    let out = Command::new("sox").arg("-h").output().map_err(|e| format!("sox is not installed ({e})"))?;
    let help = String::from_utf8_lossy(&out.stdout);
    let formats = help.lines().find(|l| l.starts_with("AUDIO FILE FORMATS:")).unwrap_or_default();
    if formats.split_whitespace().any(|f| f == format) {
        Ok(())
    } else {
        Err(format!("this sox cannot write {format}"))
    }
}

/// Skip a test whose tool is missing; under CI (`CI` set, not `false`/`0`) fail instead, so that CI cannot
/// pass by skipping.
fn skip(what: &str, reason: &str) {
    let on_ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
    assert!(!on_ci, "{what} cannot run under CI: {reason} (install the README's system packages)");
    println!("SKIPPED {what}: {reason}");
}

fn sox(args: &[&dyn AsRef<std::ffi::OsStr>]) {
    let status = Command::new("sox").args(args.iter().map(|a| a.as_ref())).status().expect("run sox");
    assert!(status.success(), "sox failed");
}

/// 1 s of a 440 Hz sine at 0.5 in every channel, 16-bit WAV.
fn write_sine_wav(path: &Path, rate: u32, channels: usize) {
    let s: Vec<f32> = (0..rate)
        .map(|i| (2.0 * std::f64::consts::PI * HZ * f64::from(i) / f64::from(rate)).sin() as f32 * AMP)
        .collect();
    audio::write_wav(
        path,
        &AudioBuffer::new(rate, vec![s; channels]).expect("valid buffer"),
        WavSampleFormat::Pcm16,
    )
    .expect("write the sine WAV");
}

/// (frequency from upward zero crossings, RMS) over the middle 80 % of channel 0.
fn analyse(audio: &AudioBuffer) -> (f64, f64) {
    let x = &audio.channels()[0];
    let mid = &x[x.len() / 10..x.len() * 9 / 10];
    let ups: Vec<usize> =
        mid.windows(2).enumerate().filter(|(_, w)| w[0] < 0.0 && w[1] >= 0.0).map(|(i, _)| i).collect();
    let hz = (ups.len() - 1) as f64 * f64::from(audio.sample_rate()) / (ups[ups.len() - 1] - ups[0]) as f64;
    let rms = (mid.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / mid.len() as f64).sqrt();
    (hz, rms)
}

/// Imports `src` and checks the written 48 kHz WAV against the known sine. Lossy codecs may add
/// up to `padding` frames (at 48 kHz): symphonia 0.5 does not trim Vorbis end padding or MP3 encoder
/// delay without a LAME tag.
fn import_and_verify(src: &Path, lossy: bool, padding: usize) -> audio::SourceInfo {
    let dst = src.with_extension("imported.wav");
    let (imported, info) = audio::import_file(src, &dst, ENGINE_SAMPLE_RATE).expect("import");
    let back = audio::read_wav(&dst).expect("read the imported WAV");
    assert_eq!(back, imported, "the WAV on disk is what import returned");
    assert_eq!(back.sample_rate(), ENGINE_SAMPLE_RATE);
    let (hz, rms) = analyse(&back);
    println!(
        "{}: codec {}, {} Hz, {} ch, {:.0} kb/s -> {} frames at 48 kHz, {hz:.2} Hz, RMS {rms:.4}",
        src.display(),
        info.codec,
        info.sample_rate,
        info.channels,
        info.bitrate_kbps,
        back.frames()
    );
    let expected = ENGINE_SAMPLE_RATE as usize;
    assert!(
        (expected..=expected + padding).contains(&back.frames()),
        "{} frames, expected {expected} + at most {padding}",
        back.frames()
    );
    assert!((hz - HZ).abs() < 0.5, "{hz} Hz");
    let expected_rms = f64::from(AMP) / 2f64.sqrt();
    let rms_tol = if lossy { 0.06 } else { 0.002 };
    assert!((rms / expected_rms - 1.0).abs() < rms_tol, "RMS {rms} vs {expected_rms}");
    assert_eq!(info.lossy, lossy);
    info
}

#[test]
fn imports_wav() {
    let dir = fresh_dir("wav");
    let src = dir.join("sine.wav");
    write_sine_wav(&src, 44_100, 2);
    let info = import_and_verify(&src, false, 0);
    assert_eq!((info.codec.as_str(), info.sample_rate, info.channels), ("pcm_s16le", 44_100, 2));
}

#[test]
fn imports_flac() {
    if let Err(reason) = sox_can_write("flac") {
        skip("imports_flac", &reason);
        return;
    }
    let dir = fresh_dir("flac");
    let wav = dir.join("sine.wav");
    write_sine_wav(&wav, 22_050, 1);
    let flac = dir.join("sine.flac");
    sox(&[&wav, &flac]);
    let info = import_and_verify(&flac, false, 0);
    assert_eq!(info.codec, "flac");
    // FLAC is lossless: the decoded samples equal the WAV's.
    let (from_flac, _) = audio::decode_file(&flac).unwrap();
    assert_eq!(from_flac, audio::read_wav(&wav).unwrap());
}

#[test]
fn imports_ogg_vorbis() {
    if let Err(reason) = sox_can_write("vorbis") {
        skip("imports_ogg_vorbis", &reason);
        return;
    }
    let dir = fresh_dir("ogg");
    let wav = dir.join("sine.wav");
    write_sine_wav(&wav, 48_000, 1);
    let ogg = dir.join("sine.ogg");
    sox(&[&wav, &"-C", &"4", &ogg]);
    // Vorbis pads to its 2048-sample block.
    let info = import_and_verify(&ogg, true, 2048);
    assert_eq!(info.codec, "vorbis");
}

#[test]
fn imports_mp3() {
    let dir = fresh_dir("mp3");
    let mp3 = dir.join("sine.mp3");
    std::fs::copy(fixture("sine440_44k1_mono_64k.mp3"), &mp3).unwrap();
    // Encoder delay plus end padding: under two 1152-sample MP3 frames.
    let info = import_and_verify(&mp3, true, 2 * 1152 * 48_000 / 44_100);
    assert_eq!((info.codec.as_str(), info.sample_rate, info.channels), ("mp3", 44_100, 1));
    assert!((info.bitrate_kbps - 64.0).abs() < 6.0, "{} kb/s", info.bitrate_kbps);
    // The checker flags the lossy source.
    let report = clip_check::check_file(&mp3).unwrap();
    let source = report.get(CheckId::Source).unwrap();
    assert_eq!(source.verdict, Verdict::Warn, "{source:?}");
    assert_eq!(source.unit, "kb/s");
}

#[test]
fn corrupt_files_give_a_clear_error_and_write_nothing() {
    let dir = fresh_dir("corrupt");
    let out_dir = dir.join("out");
    std::fs::create_dir_all(&out_dir).unwrap();
    let good_wav = dir.join("good.wav");
    write_sine_wav(&good_wav, 48_000, 1);
    let good = std::fs::read(&good_wav).unwrap();

    let mut cases: Vec<(&str, Vec<u8>)> = vec![
        ("garbage.wav", (0..20_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect()),
        ("empty.wav", Vec::new()),
        ("header_only.wav", good[..40].to_vec()),
        ("no_samples.wav", {
            // A valid header whose data chunk is empty.
            let mut h = good[..44].to_vec();
            h[40..44].copy_from_slice(&0u32.to_le_bytes());
            h[4..8].copy_from_slice(&36u32.to_le_bytes());
            h
        }),
    ];
    if sox_can_write("flac").is_ok() {
        let flac = dir.join("good.flac");
        sox(&[&good_wav, &flac]);
        let mut damaged = std::fs::read(&flac).unwrap();
        let mid = damaged.len() / 2;
        for b in &mut damaged[mid..mid + 64] {
            *b ^= 0x5a;
        }
        cases.push(("damaged.flac", damaged));
        let whole = std::fs::read(&flac).unwrap();
        cases.push(("truncated_header.flac", whole[..30].to_vec()));
    } else {
        skip("the damaged FLAC cases", &sox_can_write("flac").unwrap_err());
    }

    for (name, bytes) in cases {
        let src = dir.join(name);
        std::fs::write(&src, &bytes).unwrap();
        let dst = out_dir.join(format!("{name}.imported.wav"));
        let err = audio::import_file(&src, &dst, ENGINE_SAMPLE_RATE).expect_err(name);
        let msg = err.to_string();
        println!("{name}: {msg}");
        assert!(msg.contains(name), "the message names the file: {msg}");
        assert!(
            matches!(
                err,
                AudioError::Unsupported { .. } | AudioError::Corrupt { .. } | AudioError::Empty { .. }
            ),
            "{name}: unexpected error kind {err:?}"
        );
        assert!(!dst.exists(), "{name}: nothing may be written");
        assert_eq!(std::fs::read_dir(&out_dir).unwrap().count(), 0, "{name}: no temporary files left");
    }
}

#[test]
fn unwritable_destination_fails_cleanly() {
    let dir = fresh_dir("unwritable");
    let src = dir.join("sine.wav");
    write_sine_wav(&src, 48_000, 1);
    let dst = dir.join("missing-folder").join("out.wav");
    let err = audio::import_file(&src, &dst, ENGINE_SAMPLE_RATE).unwrap_err();
    assert!(matches!(err, AudioError::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("missing-folder"), "{err}");
}

#[test]
fn overlong_files_are_refused() {
    let dir = fresh_dir("overlong");
    let src = dir.join("podcast.wav");
    // 601 s at the lowest accepted rate, 8 kHz.
    let audio = AudioBuffer::mono(8_000, vec![0.1; 4_808_000]).unwrap();
    audio::write_wav(&src, &audio, WavSampleFormat::Pcm16).unwrap();
    let dst = dir.join("out.wav");
    let err = audio::import_file(&src, &dst, ENGINE_SAMPLE_RATE).unwrap_err();
    assert!(matches!(err, AudioError::TooLong { .. }), "{err:?}");
    assert!(!dst.exists());
}
