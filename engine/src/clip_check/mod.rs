//! The reference clip checker: measures a clip and judges it for this model.
//!
//! The model (Scenema Audio, the LTX-2.3 audio path) copies the voice of a reference clip. It works
//! best with 10–20 s of clean, unprocessed speech that has some emotional range: a monotone clip
//! transfers the speaker's identity worse, and noise, clipping and lossy or dynamic-range
//! compression are copied into every take.
//!
//! [`measure`] computes the raw numbers (each tested against signals with known answers);
//! [`judge`] turns them into one [`CheckResult`] per check with a verdict and advice;
//! [`check_clip`] and [`check_file`] do both.

pub mod levels;
pub mod loudness;
pub mod pitch;
pub mod vad;

mod judge;

use std::path::Path;

pub use judge::judge;

use crate::audio::{self, AudioBuffer, AudioError, SourceInfo};

/// How a check came out. Ordered: `Pass < Warn < Fail`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Good for this model.
    Pass,
    /// Usable, but the takes will be better if it is fixed.
    Warn,
    /// Fix this before using the clip.
    Fail,
}

impl Verdict {
    /// "pass", "warn" or "fail".
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Warn => "warn",
            Self::Fail => "fail",
        }
    }
}

/// Which check a result belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckId {
    /// Clip length in seconds.
    Duration,
    /// The file's sample rate.
    SampleRate,
    /// The file's codec and bitrate (only for files).
    Source,
    /// Largest sample, dBFS.
    Peak,
    /// Largest 4× oversampled peak, dBTP.
    TruePeak,
    /// Samples at full scale.
    ClippedSamples,
    /// Level of the quietest frames, dBFS.
    NoiseFloor,
    /// Share of the clip with voice.
    SpeechRatio,
    /// BS.1770 integrated loudness, LUFS.
    Loudness,
    /// Peak-to-RMS ratio of the speech, dB: low values mean compression or limiting.
    Dynamics,
    /// 5th–95th percentile F0 spread, semitones.
    PitchRange,
    /// Standard deviation of F0, semitones.
    PitchVariability,
}

/// One judged check.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CheckResult {
    /// Which check.
    pub id: CheckId,
    /// Short human name ("Noise floor").
    pub label: String,
    /// The measured value in `unit`; `None` when it cannot be measured (silence, no voice).
    pub value: Option<f64>,
    /// Unit of `value` ("s", "Hz", "dBFS", "dBTP", "LUFS", "dB", "%", "samples", "semitones", "kb/s").
    pub unit: String,
    /// Pass, warn or fail.
    pub verdict: Verdict,
    /// What it means for this model and what to do.
    pub advice: String,
}

/// Every check for one clip.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ClipReport {
    /// The worst verdict of all checks.
    pub verdict: Verdict,
    /// One entry per check, in a fixed order.
    pub checks: Vec<CheckResult>,
}

impl ClipReport {
    /// The result of check `id`, if it was run.
    pub fn get(&self, id: CheckId) -> Option<&CheckResult> {
        self.checks.iter().find(|c| c.id == id)
    }
}

/// The raw measurements behind the checks.
#[derive(Debug, Clone, PartialEq)]
pub struct Measurements {
    /// Clip length in seconds.
    pub duration_secs: f64,
    /// Sample rate in Hz.
    pub sample_rate: u32,
    /// Total samples over all channels.
    pub total_samples: usize,
    /// Largest absolute sample (linear).
    pub sample_peak: f64,
    /// Largest true peak (linear, 4× oversampled).
    pub true_peak: f64,
    /// Samples at or above [`levels::CLIP_LEVEL`].
    pub clipped_samples: usize,
    /// Noise floor in dBFS (10th percentile of 20 ms frame levels).
    pub noise_floor_dbfs: f64,
    /// Share of 20 ms frames with voice, 0…1.
    pub speech_ratio: f64,
    /// BS.1770 integrated loudness; `None` for silence.
    pub integrated_lufs: Option<f64>,
    /// Peak over RMS of the frames above the voice threshold, in dB; `None` without voice.
    pub crest_db: Option<f64>,
    /// F0 statistics; `None` with too little voiced speech.
    pub pitch: Option<pitch::PitchStats>,
}

/// Measures everything the checks need.
pub fn measure(audio: &AudioBuffer) -> Result<Measurements, AudioError> {
    let mono = audio.to_mono();
    let frames = vad::FrameAnalysis::new(&mono, audio.sample_rate());
    let bs1770 = loudness::measure(audio);
    let sample_peak = f64::from(levels::sample_peak(audio));
    let crest_db = frames.speech_rms_db().map(|rms_db| {
        let peak = frames
            .loud_frames()
            .flat_map(|i| &mono[i * frames.frame_len..(i + 1) * frames.frame_len])
            .fold(0.0_f32, |m, s| m.max(s.abs()));
        levels::amplitude_db(f64::from(peak)) - rms_db
    });
    let pitch_input = audio::resample(&AudioBuffer::mono(audio.sample_rate(), mono)?, pitch::PITCH_RATE)?;
    let f0 = pitch::track(&pitch_input.channels()[0], pitch::PITCH_RATE);
    Ok(Measurements {
        duration_secs: audio.duration_secs(),
        sample_rate: audio.sample_rate(),
        total_samples: audio.frames() * audio.num_channels(),
        sample_peak,
        true_peak: bs1770.map_or(sample_peak, |m| m.true_peak.max(sample_peak)),
        clipped_samples: levels::clipped_samples(audio),
        noise_floor_dbfs: frames.noise_floor_db,
        speech_ratio: frames.speech_ratio(),
        integrated_lufs: bs1770.and_then(|m| m.integrated_lufs),
        crest_db,
        pitch: pitch::stats(&f0),
    })
}

/// Measures and judges a clip in memory. `source` adds the codec check for a decoded file.
pub fn check_clip(audio: &AudioBuffer, source: Option<&SourceInfo>) -> Result<ClipReport, AudioError> {
    Ok(judge(&measure(audio)?, source))
}

/// Decodes a file (WAV, FLAC, MP3, OGG Vorbis) at its own rate and checks it.
pub fn check_file(path: &Path) -> Result<ClipReport, AudioError> {
    let (audio, source) = audio::decode_file(path)?;
    check_clip(&audio, Some(&source))
}
