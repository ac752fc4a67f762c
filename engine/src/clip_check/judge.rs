//! Verdicts and advice for each measurement, written for this model.

use super::levels::amplitude_db;
use super::{CheckId, CheckResult, ClipReport, Measurements, Verdict};
use crate::audio::SourceInfo;
use crate::audio::reference::{A2V_MAX_SECS, TARGET_MAX_SECS, TARGET_MIN_SECS};

/// Shorter than this fails: the model hears too little of the voice.
const DURATION_FAIL_SECS: f64 = 8.0;
/// Below this the clip misses part of the 16 kHz encoder's band.
const RATE_FAIL_HZ: u32 = 16_000;
/// Below this is usable but lower than the studio's 48 kHz.
const RATE_WARN_HZ: u32 = 24_000;
/// Lossy sources below this bitrate fail.
const LOSSY_FAIL_KBPS: f64 = 48.0;
/// Peaks above this leave too little headroom.
const PEAK_HIGH_DBFS: f64 = -1.0;
/// Peaks below this are too quiet.
const PEAK_LOW_DBFS: f64 = -20.0;
/// Peaks below this are (nearly) silence.
const PEAK_SILENT_DBFS: f64 = -40.0;
/// True peaks above this warn.
const TRUE_PEAK_MAX_DBTP: f64 = -1.0;
/// More clipped samples than this share of all samples (or 10 samples) fail.
const CLIPPED_FAIL_SHARE: f64 = 1e-4;
/// Noise floors above this warn.
const NOISE_WARN_DBFS: f64 = -60.0;
/// Noise floors above this fail.
const NOISE_FAIL_DBFS: f64 = -45.0;
/// Speech ratio below this warns.
const SPEECH_WARN: f64 = 0.6;
/// Speech ratio below this fails.
const SPEECH_FAIL: f64 = 0.3;
/// Integrated loudness pass band, LUFS.
const LUFS_LOW: f64 = -26.0;
/// Integrated loudness pass band, LUFS.
const LUFS_HIGH: f64 = -14.0;
/// Below this the clip fails as far too quiet.
const LUFS_FAIL: f64 = -40.0;
/// Speech peak-to-RMS below this suggests compression or limiting (natural speech: 15–20 dB).
const CREST_WARN_DB: f64 = 10.0;
/// F0 spread below this warns as monotone.
const RANGE_WARN_ST: f64 = 5.0;
/// F0 standard deviation below this warns as flat.
const VARIABILITY_WARN_ST: f64 = 1.5;

/// Judges measurements. `source` (codec and bitrate of a decoded file) adds the source check.
pub fn judge(m: &Measurements, source: Option<&SourceInfo>) -> ClipReport {
    let mut checks = vec![duration(m), sample_rate(m)];
    if let Some(source) = source {
        checks.push(source_check(source));
    }
    checks.extend([
        peak(m),
        true_peak(m),
        clipped(m),
        noise_floor(m),
        speech_ratio(m),
        loudness(m),
        dynamics(m),
        pitch_range(m),
        pitch_variability(m),
    ]);
    let verdict = checks.iter().map(|c| c.verdict).max().unwrap_or(Verdict::Pass);
    ClipReport { verdict, checks }
}

fn result(
    id: CheckId,
    label: &str,
    value: Option<f64>,
    unit: &str,
    verdict: Verdict,
    advice: String,
) -> CheckResult {
    CheckResult {
        id,
        label: label.into(),
        value: value.filter(|v| v.is_finite()),
        unit: unit.into(),
        verdict,
        advice,
    }
}

fn duration(m: &Measurements) -> CheckResult {
    let d = m.duration_secs;
    let (verdict, advice) = if d < DURATION_FAIL_SECS {
        (
            Verdict::Fail,
            format!(
                "Too short ({d:.1} s): the model hears too little of the voice to copy it. Record 10–20 s of speech"
            ),
        )
    } else if d < TARGET_MIN_SECS {
        (
            Verdict::Warn,
            format!("A little short ({d:.1} s). 10–20 s gives the model more of the voice to copy"),
        )
    } else if d <= TARGET_MAX_SECS {
        (Verdict::Pass, "Good length: 10–20 s is what the model is built for".into())
    } else {
        (
            Verdict::Warn,
            format!(
                "Longer than 20 s: the engine uses only the first {A2V_MAX_SECS:.0} s. Trim to the best 10–20 s"
            ),
        )
    };
    result(CheckId::Duration, "Duration", Some(d), "s", verdict, advice)
}

fn sample_rate(m: &Measurements) -> CheckResult {
    let r = m.sample_rate;
    let (verdict, advice) = if r < RATE_FAIL_HZ {
        (Verdict::Fail, "Below 16 kHz: the voice is encoded at 16 kHz, so this clip is missing part of it. Record at 48 kHz".into())
    } else if r < RATE_WARN_HZ {
        (Verdict::Warn, "Enough for the 16 kHz voice encoder, but voice conversion and the 48 kHz output lose detail. Record at 44.1 or 48 kHz".into())
    } else {
        (Verdict::Pass, "Full bandwidth".into())
    };
    result(CheckId::SampleRate, "Sample rate", Some(f64::from(r)), "Hz", verdict, advice)
}

fn source_check(s: &SourceInfo) -> CheckResult {
    let kbps = s.bitrate_kbps;
    let (verdict, advice) = if !s.lossy {
        (Verdict::Pass, format!("Lossless source ({})", s.codec))
    } else if kbps < LOSSY_FAIL_KBPS {
        (
            Verdict::Fail,
            format!(
                "Low-bitrate {} (about {kbps:.0} kb/s): the model copies the codec's artefacts into the voice. Use the original WAV or FLAC",
                s.codec
            ),
        )
    } else {
        (
            Verdict::Warn,
            format!(
                "Lossy {} (about {kbps:.0} kb/s): the model is sensitive to compression artefacts. Use the original WAV or FLAC if you have it",
                s.codec
            ),
        )
    };
    result(CheckId::Source, "Source format", Some(kbps), "kb/s", verdict, advice)
}

fn peak(m: &Measurements) -> CheckResult {
    let db = amplitude_db(m.sample_peak);
    let (verdict, advice) = if db < PEAK_SILENT_DBFS {
        (Verdict::Fail, "Silent or nearly silent: check the input device and its gain".into())
    } else if db < PEAK_LOW_DBFS {
        (
            Verdict::Warn,
            format!(
                "Quiet (peaks at {db:.1} dBFS). Raise the input gain so that peaks reach about −6 dBFS; a quiet recording brings its noise up when it is levelled"
            ),
        )
    } else if db > PEAK_HIGH_DBFS {
        (
            Verdict::Warn,
            format!(
                "Peaks at {db:.1} dBFS leave no headroom. Lower the gain so that peaks stay near −6 dBFS"
            ),
        )
    } else {
        (Verdict::Pass, "Healthy recording level".into())
    };
    result(CheckId::Peak, "Peak", Some(db), "dBFS", verdict, advice)
}

fn true_peak(m: &Measurements) -> CheckResult {
    let db = amplitude_db(m.true_peak);
    let (verdict, advice) = if db > TRUE_PEAK_MAX_DBTP {
        (
            Verdict::Warn,
            format!(
                "True peak {db:.1} dBTP: inter-sample peaks distort when the clip is resampled for the encoder. Keep at least 1 dB of headroom"
            ),
        )
    } else {
        (Verdict::Pass, "At least 1 dB of headroom between samples".into())
    };
    result(CheckId::TruePeak, "True peak", Some(db), "dBTP", verdict, advice)
}

fn clipped(m: &Measurements) -> CheckResult {
    let n = m.clipped_samples;
    let share = n as f64 / m.total_samples.max(1) as f64;
    let limit = (CLIPPED_FAIL_SHARE * m.total_samples as f64).max(10.0);
    let (verdict, advice) = if n == 0 {
        (Verdict::Pass, "No clipping".into())
    } else if (n as f64) <= limit {
        (
            Verdict::Warn,
            format!(
                "{n} clipped samples: a few clicks the model may copy. Re-record a little quieter if you can"
            ),
        )
    } else {
        (
            Verdict::Fail,
            format!(
                "{n} clipped samples ({:.2} %): the distortion becomes part of the voice the model copies. Re-record with lower gain",
                share * 100.0
            ),
        )
    };
    result(CheckId::ClippedSamples, "Clipped samples", Some(n as f64), "samples", verdict, advice)
}

fn noise_floor(m: &Measurements) -> CheckResult {
    let db = m.noise_floor_dbfs;
    let (verdict, advice) = if db > NOISE_FAIL_DBFS {
        (
            Verdict::Fail,
            format!(
                "Loud background ({db:.0} dBFS between words): the model copies hiss, hum and room tone into every take. Record in a quiet, soft-furnished room, close to the microphone"
            ),
        )
    } else if db > NOISE_WARN_DBFS {
        (
            Verdict::Warn,
            format!(
                "Audible background ({db:.0} dBFS between words); it will be copied into the takes. Turn off fans and move closer to the microphone"
            ),
        )
    } else {
        (Verdict::Pass, "Quiet background".into())
    };
    result(CheckId::NoiseFloor, "Noise floor", Some(db), "dBFS", verdict, advice)
}

fn speech_ratio(m: &Measurements) -> CheckResult {
    let pct = m.speech_ratio * 100.0;
    let speech_secs = m.speech_ratio * m.duration_secs;
    let (verdict, advice) = if m.speech_ratio < SPEECH_FAIL {
        (
            Verdict::Fail,
            format!(
                "Only {speech_secs:.1} s of voice: the clip is mostly silence or noise. The model needs continuous speech"
            ),
        )
    } else if m.speech_ratio < SPEECH_WARN {
        (
            Verdict::Warn,
            format!(
                "Long pauses ({speech_secs:.1} s of voice). Trim them so that the part the engine uses is full of speech"
            ),
        )
    } else {
        (Verdict::Pass, format!("{speech_secs:.1} s of voice"))
    };
    result(CheckId::SpeechRatio, "Speech", Some(pct), "%", verdict, advice)
}

fn loudness(m: &Measurements) -> CheckResult {
    let (verdict, advice) = match m.integrated_lufs {
        None => (Verdict::Fail, "No measurable loudness: the clip is silent".into()),
        Some(l) if l < LUFS_FAIL => {
            (Verdict::Fail, format!("Far too quiet ({l:.1} LUFS). Raise the input gain and record again"))
        }
        Some(l) if l < LUFS_LOW => (
            Verdict::Warn,
            format!(
                "Quiet ({l:.1} LUFS; aim for −26 to −14). Raise the input gain rather than boosting afterwards, which lifts the noise too"
            ),
        ),
        Some(l) if l > LUFS_HIGH => (
            Verdict::Warn,
            format!(
                "Very loud ({l:.1} LUFS; aim for −26 to −14). This usually means the clip was compressed or limited, which the model copies"
            ),
        ),
        Some(_) => (Verdict::Pass, "Good level".into()),
    };
    result(CheckId::Loudness, "Loudness", m.integrated_lufs, "LUFS", verdict, advice)
}

fn dynamics(m: &Measurements) -> CheckResult {
    let (verdict, advice) = match m.crest_db {
        None => (Verdict::Warn, "No speech found, so compression could not be judged".into()),
        Some(c) if c < CREST_WARN_DB => (
            Verdict::Warn,
            format!(
                "Peaks only {c:.1} dB above the speech level (natural speech: 15–20 dB): the clip sounds compressed or limited. Use the raw recording without compressor, limiter or noise reduction"
            ),
        ),
        Some(_) => (Verdict::Pass, "Natural dynamics".into()),
    };
    result(CheckId::Dynamics, "Dynamics", m.crest_db, "dB", verdict, advice)
}

fn pitch_range(m: &Measurements) -> CheckResult {
    let value = m.pitch.map(|p| p.range_semitones);
    let (verdict, advice) = match m.pitch {
        None => (Verdict::Fail, "No voiced speech found: the clip needs someone speaking".into()),
        Some(p) if p.range_semitones < RANGE_WARN_ST => (
            Verdict::Warn,
            format!(
                "Narrow pitch range ({:.1} semitones around {:.0} Hz): a flat, monotone read transfers the voice's identity worse. Read with some emotional range: a question, some emphasis, a smile",
                p.range_semitones, p.median_hz
            ),
        ),
        Some(p) => (Verdict::Pass, format!("Lively pitch range around {:.0} Hz", p.median_hz)),
    };
    result(CheckId::PitchRange, "Pitch range", value, "semitones", verdict, advice)
}

fn pitch_variability(m: &Measurements) -> CheckResult {
    let value = m.pitch.map(|p| p.std_semitones);
    let (verdict, advice) = match m.pitch {
        None => (Verdict::Fail, "No voiced speech found".into()),
        Some(p) if p.std_semitones < VARIABILITY_WARN_ST => (Verdict::Warn, "Little pitch movement: the model copies identity better from an expressive read than from a flat one".into()),
        Some(_) => (Verdict::Pass, "Expressive intonation".into()),
    };
    result(CheckId::PitchVariability, "Pitch variability", value, "semitones", verdict, advice)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clip_check::pitch::PitchStats;

    fn good() -> Measurements {
        Measurements {
            duration_secs: 14.0,
            sample_rate: 48_000,
            total_samples: 14 * 48_000,
            sample_peak: 0.5,
            true_peak: 0.52,
            clipped_samples: 0,
            noise_floor_dbfs: -70.0,
            speech_ratio: 0.8,
            integrated_lufs: Some(-20.0),
            crest_db: Some(16.0),
            pitch: Some(PitchStats {
                voiced_frames: 900,
                median_hz: 140.0,
                range_semitones: 9.0,
                std_semitones: 2.5,
            }),
        }
    }

    #[test]
    fn a_good_clip_passes_everything() {
        let report = judge(&good(), None);
        assert_eq!(report.verdict, Verdict::Pass, "{report:#?}");
        assert_eq!(report.checks.len(), 11);
    }

    #[test]
    fn thresholds_pick_the_right_verdicts() {
        type Tweak = fn(&mut Measurements);
        let cases: Vec<(Tweak, CheckId, Verdict)> = vec![
            (|m| m.duration_secs = 5.0, CheckId::Duration, Verdict::Fail),
            (|m| m.duration_secs = 9.0, CheckId::Duration, Verdict::Warn),
            (|m| m.duration_secs = 24.0, CheckId::Duration, Verdict::Warn),
            (|m| m.sample_rate = 8_000, CheckId::SampleRate, Verdict::Fail),
            (|m| m.sample_rate = 22_050, CheckId::SampleRate, Verdict::Warn),
            (|m| m.sample_peak = 0.0, CheckId::Peak, Verdict::Fail),
            (|m| m.sample_peak = 0.05, CheckId::Peak, Verdict::Warn),
            (|m| m.sample_peak = 0.95, CheckId::Peak, Verdict::Warn),
            (|m| m.true_peak = 1.1, CheckId::TruePeak, Verdict::Warn),
            (|m| m.clipped_samples = 3, CheckId::ClippedSamples, Verdict::Warn),
            (|m| m.clipped_samples = 5_000, CheckId::ClippedSamples, Verdict::Fail),
            (|m| m.noise_floor_dbfs = -50.0, CheckId::NoiseFloor, Verdict::Warn),
            (|m| m.noise_floor_dbfs = -30.0, CheckId::NoiseFloor, Verdict::Fail),
            (|m| m.speech_ratio = 0.45, CheckId::SpeechRatio, Verdict::Warn),
            (|m| m.speech_ratio = 0.1, CheckId::SpeechRatio, Verdict::Fail),
            (|m| m.integrated_lufs = None, CheckId::Loudness, Verdict::Fail),
            (|m| m.integrated_lufs = Some(-30.0), CheckId::Loudness, Verdict::Warn),
            (|m| m.integrated_lufs = Some(-9.0), CheckId::Loudness, Verdict::Warn),
            (|m| m.crest_db = Some(6.0), CheckId::Dynamics, Verdict::Warn),
            (|m| m.pitch = None, CheckId::PitchRange, Verdict::Fail),
            (
                |m| {
                    m.pitch = Some(PitchStats {
                        voiced_frames: 500,
                        median_hz: 120.0,
                        range_semitones: 2.0,
                        std_semitones: 0.6,
                    })
                },
                CheckId::PitchVariability,
                Verdict::Warn,
            ),
        ];
        for (tweak, id, expected) in cases {
            let mut m = good();
            tweak(&mut m);
            let report = judge(&m, None);
            let check = report.get(id).unwrap();
            assert_eq!(check.verdict, expected, "{id:?}: {check:?}");
            assert_eq!(report.verdict, expected.max(Verdict::Pass));
            assert!(!check.advice.is_empty());
        }
    }

    #[test]
    fn lossy_sources_warn_or_fail() {
        let mut source = SourceInfo {
            codec: "mp3".into(),
            lossy: true,
            sample_rate: 44_100,
            channels: 1,
            bitrate_kbps: 128.0,
        };
        assert_eq!(judge(&good(), Some(&source)).get(CheckId::Source).unwrap().verdict, Verdict::Warn);
        source.bitrate_kbps = 32.0;
        assert_eq!(judge(&good(), Some(&source)).get(CheckId::Source).unwrap().verdict, Verdict::Fail);
        source.lossy = false;
        assert_eq!(judge(&good(), Some(&source)).get(CheckId::Source).unwrap().verdict, Verdict::Pass);
    }

    #[test]
    fn silence_gives_null_values_not_infinities() {
        let mut m = good();
        m.sample_peak = 0.0;
        m.true_peak = 0.0;
        m.integrated_lufs = None;
        m.crest_db = None;
        m.pitch = None;
        let json = serde_json::to_value(judge(&m, None)).unwrap();
        let peak = json["checks"].as_array().unwrap().iter().find(|c| c["id"] == "peak").unwrap();
        assert!(peak["value"].is_null());
        assert_eq!(peak["verdict"], "fail");
    }
}
