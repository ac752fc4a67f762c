//! The clip checker against synthetic signals with known answers: a clipped sine, silence, white
//! noise at a known level, a glide with known F0, a 997 Hz sine of known loudness, a sine whose
//! true peak falls between samples, and a tone burst with a known share of "voice".

use std::f64::consts::PI;

use promptbook_engine::audio::AudioBuffer;
use promptbook_engine::clip_check::{self, CheckId, Verdict, levels, pitch, vad};
use rand::{Rng as _, SeedableRng as _};

const RATE: u32 = 48_000;

fn sine(hz: f64, amp: f64, phase: f64, secs: f64) -> Vec<f32> {
    let n = (secs * f64::from(RATE)).round() as usize;
    (0..n).map(|i| (amp * (2.0 * PI * hz * i as f64 / f64::from(RATE) + phase).sin()) as f32).collect()
}

fn uniform_noise(rms: f64, secs: f64, seed: u64) -> Vec<f32> {
    // Uniform on [-a, a] has RMS a/√3.
    let a = rms * 3.0_f64.sqrt();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let n = (secs * f64::from(RATE)).round() as usize;
    (0..n).map(|_| rng.random_range(-a..a) as f32).collect()
}

fn mono(samples: Vec<f32>) -> AudioBuffer {
    AudioBuffer::mono(RATE, samples).expect("valid buffer")
}

fn db(x: f64) -> f64 {
    20.0 * x.log10()
}

#[test]
fn clipped_sine() {
    // A 440 Hz sine at twice full scale, hard-clipped to ±1.
    let samples: Vec<f32> = sine(440.0, 2.0, 0.0, 2.0).into_iter().map(|s| s.clamp(-1.0, 1.0)).collect();
    let n = samples.len();
    let m = clip_check::measure(&mono(samples)).unwrap();
    // |2 sin θ| ≥ 0.999 for a share 1 − (2/π)·asin(0.4995) of the cycle.
    let expected = 1.0 - 2.0 / PI * (f64::from(levels::CLIP_LEVEL) / 2.0).asin();
    let share = m.clipped_samples as f64 / n as f64;
    println!(
        "clipped sine: {} of {n} samples clipped ({share:.4}, expected {expected:.4}), peak {:.2} dBFS, true peak {:.2} dBTP",
        m.clipped_samples,
        db(m.sample_peak),
        db(m.true_peak)
    );
    assert!((share - expected).abs() < 0.002, "share {share} vs {expected}");
    assert_eq!(m.sample_peak, 1.0);
    assert!(
        db(m.true_peak) > 0.02,
        "the clipped corners overshoot between samples: {} dBTP",
        db(m.true_peak)
    );
    let report = clip_check::judge(&m, None);
    assert_eq!(report.get(CheckId::ClippedSamples).unwrap().verdict, Verdict::Fail);
    assert_eq!(report.get(CheckId::TruePeak).unwrap().verdict, Verdict::Warn);
    assert_eq!(report.verdict, Verdict::Fail);
}

#[test]
fn silence() {
    let m = clip_check::measure(&mono(vec![0.0; 12 * RATE as usize])).unwrap();
    assert_eq!(m.sample_peak, 0.0);
    assert_eq!(m.clipped_samples, 0);
    assert_eq!(m.noise_floor_dbfs, vad::SILENCE_DBFS);
    assert_eq!(m.speech_ratio, 0.0);
    assert_eq!(m.integrated_lufs, None);
    assert_eq!(m.crest_db, None);
    assert_eq!(m.pitch, None);
    let report = clip_check::judge(&m, None);
    for id in [CheckId::Peak, CheckId::SpeechRatio, CheckId::Loudness, CheckId::PitchRange] {
        assert_eq!(report.get(id).unwrap().verdict, Verdict::Fail, "{id:?}");
    }
    assert_eq!(report.get(CheckId::Duration).unwrap().verdict, Verdict::Pass);
    assert_eq!(report.get(CheckId::Peak).unwrap().value, None, "−∞ must not reach the JSON");
}

#[test]
fn white_noise_at_a_known_level() {
    for rms_db in [-30.0, -50.0] {
        let rms = 10f64.powf(rms_db / 20.0);
        let m = clip_check::measure(&mono(uniform_noise(rms, 10.0, 7))).unwrap();
        println!(
            "white noise at {rms_db} dBFS RMS: floor {:.2} dBFS, speech {:.1} %, pitch {:?}, peak {:.2} dBFS",
            m.noise_floor_dbfs,
            m.speech_ratio * 100.0,
            m.pitch,
            db(m.sample_peak)
        );
        assert!((m.noise_floor_dbfs - rms_db).abs() < 0.5, "floor {} vs {rms_db}", m.noise_floor_dbfs);
        assert!(m.speech_ratio < 0.01, "steady noise is not speech: {}", m.speech_ratio);
        assert_eq!(m.pitch, None, "noise has no pitch");
        // Uniform noise peaks at √3 × RMS.
        assert!((db(m.sample_peak) - (rms_db + db(3.0_f64.sqrt()))).abs() < 0.1);
        let expected = if rms_db > -45.0 { Verdict::Fail } else { Verdict::Warn };
        assert_eq!(clip_check::judge(&m, None).get(CheckId::NoiseFloor).unwrap().verdict, expected);
    }
}

#[test]
fn glide_with_known_f0() {
    // Exponential glide 100 → 400 Hz over 4 s: F0(t) = 100·4^(t/4), uniform in semitones (24 st).
    let secs = 4.0;
    let (f_start, f_end): (f64, f64) = (100.0, 400.0);
    let k = (f_end / f_start).ln() / secs;
    let n = (secs * f64::from(RATE)) as usize;
    let samples: Vec<f32> = (0..n)
        .map(|i| {
            let t = i as f64 / f64::from(RATE);
            // Phase is the integral of 2π·F0(t).
            (0.3 * (2.0 * PI * f_start * ((k * t).exp() - 1.0) / k).sin()) as f32
        })
        .collect();
    // Frame-level accuracy straight from the tracker.
    let at_16k = promptbook_engine::audio::resample(&mono(samples.clone()), pitch::PITCH_RATE).unwrap();
    let frames = pitch::track(&at_16k.channels()[0], pitch::PITCH_RATE);
    let mut worst: f64 = 0.0;
    let mut voiced = 0;
    for f in &frames {
        let truth = f_start * (k * f.time_secs).exp();
        let est = f.f0_hz.expect("every frame of a clean glide is voiced");
        worst = worst.max((est / truth).log2().abs() * 1200.0);
        voiced += 1;
    }
    println!("glide: {voiced} frames, worst F0 error {worst:.1} cents");
    assert!(voiced > 350);
    assert!(worst < 25.0, "worst F0 error {worst} cents");

    // The frames cover F0 uniformly in semitones between the first and last frame times, so the
    // 5–95 % spread is 0.9 of that span and the deviation is span/√12 (24 st for the full 4 s).
    let span_st = 12.0 * k * (frames[frames.len() - 1].time_secs - frames[0].time_secs) / 2f64.ln();
    let m = clip_check::measure(&mono(samples)).unwrap();
    let p = m.pitch.unwrap();
    println!(
        "glide stats: range {:.2} st (expected {:.2}), std {:.2} st (expected {:.2}), median {:.1} Hz",
        p.range_semitones,
        0.9 * span_st,
        p.std_semitones,
        span_st / 12f64.sqrt(),
        p.median_hz
    );
    assert!(span_st > 23.0 && span_st <= 24.0);
    assert!((p.range_semitones - 0.9 * span_st).abs() < 0.15, "range {}", p.range_semitones);
    assert!((p.std_semitones - span_st / 12f64.sqrt()).abs() < 0.1, "std {}", p.std_semitones);
    assert!((p.median_hz - 200.0).abs() < 4.0, "median {}", p.median_hz);
}

#[test]
fn steady_tone_has_a_narrow_pitch_range() {
    let m = clip_check::measure(&mono(sine(220.0, 0.3, 0.0, 3.0))).unwrap();
    let p = m.pitch.unwrap();
    assert!((p.median_hz - 220.0).abs() < 0.5, "median {}", p.median_hz);
    assert!(p.range_semitones < 0.05 && p.std_semitones < 0.05, "{p:?}");
    let report = clip_check::judge(&m, None);
    assert_eq!(report.get(CheckId::PitchRange).unwrap().verdict, Verdict::Warn);
    assert_eq!(report.get(CheckId::PitchVariability).unwrap().verdict, Verdict::Warn);
}

#[test]
fn loudness_of_a_997_hz_sine() {
    // BS.1770: a 0 dBFS 997 Hz sine in one channel reads −3.01 LUFS.
    let m = clip_check::measure(&mono(sine(997.0, 0.1, 0.0, 5.0))).unwrap();
    let lufs = m.integrated_lufs.unwrap();
    println!("997 Hz sine at -20 dBFS, mono: {lufs:.3} LUFS (expected -23.01)");
    assert!((lufs - (-23.01)).abs() < 0.1, "{lufs}");
    // The same sine in both channels of a stereo clip adds 3.01 dB.
    let s = sine(997.0, 0.1, 0.0, 5.0);
    let stereo = AudioBuffer::new(RATE, vec![s.clone(), s]).unwrap();
    let lufs = clip_check::measure(&stereo).unwrap().integrated_lufs.unwrap();
    assert!((lufs - (-20.0)).abs() < 0.1, "{lufs}");
}

#[test]
fn true_peak_between_samples() {
    // A sine at fs/4 with a 45° phase: every sample sits at ±A·√½, the crest falls between samples.
    let amp = 0.5;
    let m = clip_check::measure(&mono(sine(f64::from(RATE) / 4.0, amp, PI / 4.0, 1.0))).unwrap();
    println!(
        "fs/4 sine, amplitude 0.5: sample peak {:.2} dBFS, true peak {:.2} dBTP",
        db(m.sample_peak),
        db(m.true_peak)
    );
    assert!((db(m.sample_peak) - (db(amp) - 3.01)).abs() < 0.01);
    assert!((db(m.true_peak) - db(amp)).abs() < 0.2, "true peak {} dBTP", db(m.true_peak));
}

#[test]
fn tone_burst_speech_ratio_and_crest() {
    // 1 s of faint noise, 2 s of a −12 dBFS sine over it, 1 s of noise: "voice" for half the clip.
    let mut samples = uniform_noise(10f64.powf(-70.0 / 20.0), 4.0, 3);
    let tone = sine(300.0, 0.25, 0.0, 2.0);
    for (s, t) in samples[RATE as usize..].iter_mut().zip(tone) {
        *s += t;
    }
    let m = clip_check::measure(&mono(samples)).unwrap();
    println!(
        "tone burst: speech {:.2} %, floor {:.2} dBFS, crest {:?} dB",
        m.speech_ratio * 100.0,
        m.noise_floor_dbfs,
        m.crest_db
    );
    // 2 s of 4 s, plus at most the 60 ms hangover and one partial frame.
    assert!(m.speech_ratio >= 0.5 && m.speech_ratio <= 0.5 + 0.08 / 4.0, "{}", m.speech_ratio);
    assert!((m.noise_floor_dbfs - (-70.0)).abs() < 0.5, "{}", m.noise_floor_dbfs);
    // A sine's peak is 3.01 dB above its RMS.
    assert!((m.crest_db.unwrap() - 3.01).abs() < 0.1, "{:?}", m.crest_db);
    assert_eq!(clip_check::judge(&m, None).get(CheckId::Dynamics).unwrap().verdict, Verdict::Warn);
}

#[test]
fn json_has_one_entry_per_check_with_value_unit_verdict_and_advice() {
    let report = clip_check::check_clip(&mono(sine(220.0, 0.3, 0.0, 12.0)), None).unwrap();
    let json = serde_json::to_value(&report).unwrap();
    let checks = json["checks"].as_array().unwrap();
    assert_eq!(checks.len(), 11);
    let mut ids: Vec<&str> = checks.iter().map(|c| c["id"].as_str().unwrap()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 11, "ids must be unique");
    for c in checks {
        for key in ["id", "label", "value", "unit", "verdict", "advice"] {
            assert!(c.get(key).is_some(), "{key} missing in {c}");
        }
        assert!(["pass", "warn", "fail"].contains(&c["verdict"].as_str().unwrap()));
    }
    let duration = checks.iter().find(|c| c["id"] == "duration").unwrap();
    assert_eq!(duration["value"], 12.0);
    assert_eq!(duration["unit"], "s");
    let back: clip_check::ClipReport = serde_json::from_value(json).unwrap();
    assert_eq!(back.verdict, report.verdict);
    for (a, b) in back.checks.iter().zip(&report.checks) {
        assert_eq!((a.id, &a.unit, a.verdict, &a.advice), (b.id, &b.unit, b.verdict, &b.advice));
        assert!(a.value.zip(b.value).is_none_or(|(x, y)| (x - y).abs() <= 1e-9 * x.abs().max(1.0)));
    }
}
