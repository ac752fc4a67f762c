//! SeedVC voice conversion of whole recordings: find the model files in the store, load them, and convert a
//! source recording into the voice of a target clip the way Scenema's `_apply_seedvc` prepares them
//! (postprocessing-spec §1.3): mono, torchaudio resampling to 22.05 kHz, a PCM16 round trip (the server goes
//! through temporary PCM16 WAVs), the conversion, then 22.05 kHz → the output rate and dual mono.
//!
//! Noise: the reference draws it unseeded; here a seed gives a fixed stream (SplitMix64 + Box–Muller, one
//! stream per window), so a conversion can be repeated exactly.

pub mod test_model;

use std::path::PathBuf;
use std::time::Instant;

use promptbook_models::candle::{DType, Device, Tensor};
use promptbook_models::dsp::resample;
use promptbook_models::seedvc::{self, ConvertOptions, SeedVc, SeedVcFiles};
use promptbook_models::whisper;

use crate::audio::AudioBuffer;
use crate::noise::seeded_noise;
use crate::store::{BIGVGAN_REPO, CAMPPLUS_REPO, SEEDVC_REPO, Store, WHISPER_REPO};

/// The rate of the files `convert-voice` writes (the take rate).
pub const OUTPUT_SAMPLE_RATE: u32 = 48_000;
/// Scenema's defaults (`vc_steps`, `vc_cfg_rate`; spec §1.1).
pub const DEFAULT_STEPS: usize = 25;
pub const DEFAULT_CFG_RATE: f64 = 0.5;
/// Shorter targets give the speaker encoder too little to work with.
pub const MIN_TARGET_SECONDS: f64 = 0.5;

/// Why a conversion could not run.
#[derive(Debug, thiserror::Error)]
pub enum VoiceConversionError {
    #[error(
        "SeedVC model files missing in {dir}: {missing}; run `promptbook models download --optional` (or \
         `promptbook models make-test-model DIR` for a tiny random model)"
    )]
    MissingFiles { dir: PathBuf, missing: String },
    #[error("cannot load the SeedVC model: {0}")]
    Load(String),
    #[error("{0}")]
    Input(String),
    #[error("voice conversion failed: {0}")]
    Convert(String),
    #[error(transparent)]
    Audio(#[from] crate::audio::AudioError),
}

/// Every file a conversion reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoiceConversionFiles {
    pub seedvc: SeedVcFiles,
    /// The Whisper-small folder (`config.json`, `preprocessor_config.json`, `model.safetensors`).
    pub whisper_dir: PathBuf,
}

impl VoiceConversionFiles {
    /// Find every file in `store`, naming all that are missing.
    pub fn locate(store: &Store) -> Result<Self, VoiceConversionError> {
        let mut missing = Vec::new();
        let mut find = |repo: &str, file: &str| {
            let key = format!("{repo}/{file}");
            store.path_of(&key).map_err(|_| missing.push(key)).ok()
        };
        let checkpoint = find(SEEDVC_REPO, seedvc::config::CHECKPOINT_FILE);
        let config = find(SEEDVC_REPO, seedvc::config::CONFIG_FILE);
        let campplus = find(CAMPPLUS_REPO, seedvc::campplus::CHECKPOINT_FILE);
        let bigvgan_config = find(BIGVGAN_REPO, seedvc::bigvgan::CONFIG_FILE);
        let bigvgan_checkpoint = find(BIGVGAN_REPO, seedvc::bigvgan::CHECKPOINT_FILE);
        let whisper_model = find(WHISPER_REPO, whisper::MODEL_FILE);
        find(WHISPER_REPO, whisper::CONFIG_FILE);
        match (checkpoint, config, campplus, bigvgan_config, bigvgan_checkpoint, whisper_model) {
            (
                Some(checkpoint),
                Some(config),
                Some(campplus),
                Some(bigvgan_config),
                Some(bigvgan_checkpoint),
                Some(w),
            ) if missing.is_empty() => {
                let whisper_dir = w.parent().map(PathBuf::from).unwrap_or_default();
                Ok(Self {
                    seedvc: SeedVcFiles { checkpoint, config, campplus, bigvgan_config, bigvgan_checkpoint },
                    whisper_dir,
                })
            }
            _ => Err(VoiceConversionError::MissingFiles {
                dir: store.source().path().to_path_buf(),
                missing: missing.join(", "),
            }),
        }
    }
}

/// Conversion settings as a user gives them.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct VoiceConversionSettings {
    /// Diffusion steps (Scenema: 25; the studio offers 10–50).
    pub steps: usize,
    /// Classifier-free guidance rate, 0–1 (Scenema: 0.5).
    pub cfg_rate: f64,
    /// Seed of the sampler noise.
    pub seed: u64,
}

impl VoiceConversionSettings {
    /// A seed for `--seed -1` (the chunk planner's range, so it reads like a render seed).
    pub fn random_seed() -> u64 {
        use rand::Rng as _;
        rand::rng().random_range(0..=crate::plan::MAX_RANDOM_SEED) as u64
    }

    pub fn check(&self) -> Result<(), VoiceConversionError> {
        if !(1..=200).contains(&self.steps) {
            return Err(VoiceConversionError::Input(format!(
                "{} diffusion steps is out of range (1–200; Scenema uses 25)",
                self.steps
            )));
        }
        if !(0.0..=1.0).contains(&self.cfg_rate) {
            return Err(VoiceConversionError::Input(format!(
                "cfg rate {} is out of range (0–1; Scenema uses 0.5)",
                self.cfg_rate
            )));
        }
        Ok(())
    }
}

/// Seconds spent in each part of a conversion.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct VoiceConversionTimings {
    pub load_s: f64,
    pub convert_s: f64,
}

/// The JSON record written beside a converted file.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct VoiceConversionRecord {
    pub stage: &'static str,
    pub settings: VoiceConversionSettings,
    pub source_sample_rate: u32,
    pub source_duration_s: f64,
    pub target_sample_rate: u32,
    pub target_duration_s: f64,
    /// Seconds of the target the model used (capped at 25 s upstream).
    pub target_used_s: f64,
    pub model_sample_rate: u32,
    pub sample_rate: u32,
    pub channels: usize,
    pub duration_s: f64,
    /// DiT calls the source was split into (each with the whole target as its prompt).
    pub windows: usize,
    pub timings: VoiceConversionTimings,
    pub real_time_factor: f64,
    /// Stored weights no module took, per file (upstream skips these silently).
    pub skipped_keys: Vec<(String, Vec<String>)>,
    pub device: String,
}

/// A converted recording.
#[derive(Debug, Clone)]
pub struct Converted {
    /// `OUTPUT_SAMPLE_RATE`, two identical channels.
    pub audio: AudioBuffer,
    pub record: VoiceConversionRecord,
}

/// The loaded model.
pub struct VoiceConverter {
    model: SeedVc,
    content: whisper::ContentEncoder,
    device: Device,
    load_s: f64,
}

/// `torchaudio.functional.resample` with its defaults, each channel.
fn to_rate(x: &[f32], from: u32, to: u32) -> Result<Vec<f32>, VoiceConversionError> {
    resample(x, from, to).map_err(|e| VoiceConversionError::Input(e.to_string()))
}

/// What the processor's temporary PCM16 WAV does to the samples: `round(x · 32767) / 32768` (clipped first,
/// where libsndfile would wrap; spec A17).
fn pcm16_round_trip(x: &mut [f32]) {
    for v in x {
        *v = (v.clamp(-1.0, 1.0) * 32767.0).round() / 32768.0;
    }
}

impl VoiceConverter {
    /// SeedVC (the DiT in f32 on the CPU, bf16 on a GPU) and the Whisper-small content encoder.
    pub fn load(files: &VoiceConversionFiles, device: Device) -> Result<Self, VoiceConversionError> {
        let started = Instant::now();
        let dtype = if device.is_cpu() { DType::F32 } else { DType::BF16 };
        let model = SeedVc::load(&files.seedvc, dtype, &device)
            .map_err(|e| VoiceConversionError::Load(e.to_string()))?;
        let content = whisper::ContentEncoder::from_dir(&files.whisper_dir, dtype, &device).map_err(|e| {
            VoiceConversionError::Load(format!(
                "Whisper content encoder in {}: {e}",
                files.whisper_dir.display()
            ))
        })?;
        Ok(Self { model, content, device, load_s: started.elapsed().as_secs_f64() })
    }

    pub fn model(&self) -> &SeedVc {
        &self.model
    }

    /// Convert `source` into the voice of `target`; `progress(window, windows, step, steps)` after every step.
    pub fn convert(
        &self,
        source: &AudioBuffer,
        target: &AudioBuffer,
        settings: &VoiceConversionSettings,
        progress: &mut dyn FnMut(seedvc::Progress),
    ) -> Result<Converted, VoiceConversionError> {
        settings.check()?;
        let started = Instant::now();
        let sr = self.model.sample_rate();
        let mut src = to_rate(&source.to_mono(), source.sample_rate(), sr)?;
        let mut tgt = to_rate(&target.to_mono(), target.sample_rate(), sr)?;
        pcm16_round_trip(&mut src);
        pcm16_round_trip(&mut tgt);
        let hop = self.model.hop_length();
        if src.len() < hop {
            return Err(VoiceConversionError::Input(format!(
                "the source is {:.3} s long; at least {:.3} s are needed",
                source.duration_secs(),
                hop as f64 / f64::from(sr)
            )));
        }
        if (tgt.len() as f64) < f64::from(sr) * MIN_TARGET_SECONDS {
            return Err(VoiceConversionError::Input(format!(
                "the target voice clip is {:.2} s long; at least {MIN_TARGET_SECONDS} s is needed (3–25 s of \
                 clean speech works best)",
                target.duration_secs()
            )));
        }
        let opts =
            ConvertOptions { steps: settings.steps, cfg_rate: settings.cfg_rate, ..Default::default() };
        let device = self.device.clone();
        let mut window = 0u64;
        let mut noise = |shape: &[usize]| {
            let n = shape.iter().product();
            let z = seeded_noise(settings.seed.wrapping_add(window.wrapping_mul(1000)), n);
            window += 1;
            Tensor::from_vec(z, shape, &device)
        };
        let trace = self
            .model
            .convert(&src, &tgt, &self.content, &opts, &mut noise, &mut |p| {
                progress(p);
                Ok(())
            })
            .map_err(|e| VoiceConversionError::Convert(e.to_string()))?;
        let out = to_rate(&trace.output, sr, OUTPUT_SAMPLE_RATE)?;
        let audio = AudioBuffer::new(OUTPUT_SAMPLE_RATE, vec![out.clone(), out])?;
        let convert_s = started.elapsed().as_secs_f64();
        let target_used = tgt.len().min(sr as usize * seedvc::MAX_REFERENCE_SECONDS);
        let record = VoiceConversionRecord {
            stage: "seedvc",
            settings: *settings,
            source_sample_rate: source.sample_rate(),
            source_duration_s: source.duration_secs(),
            target_sample_rate: target.sample_rate(),
            target_duration_s: target.duration_secs(),
            target_used_s: target_used as f64 / f64::from(sr),
            model_sample_rate: sr,
            sample_rate: OUTPUT_SAMPLE_RATE,
            channels: audio.num_channels(),
            duration_s: audio.duration_secs(),
            windows: trace.window_waves.len(),
            timings: VoiceConversionTimings { load_s: self.load_s, convert_s },
            real_time_factor: convert_s / source.duration_secs().max(1e-9),
            skipped_keys: self.model.load_report().skipped.clone(),
            device: format!("{:?}", self.device.location()).to_lowercase(),
        };
        Ok(Converted { audio, record })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_checked_and_pcm16_matches_the_temp_wav() {
        let ok = VoiceConversionSettings { steps: 25, cfg_rate: 0.5, seed: 0 };
        ok.check().unwrap();
        let err = VoiceConversionSettings { steps: 0, ..ok }.check().unwrap_err().to_string();
        assert!(err.contains("steps"), "{err}");
        let err = VoiceConversionSettings { cfg_rate: 1.5, ..ok }.check().unwrap_err().to_string();
        assert!(err.contains("cfg"), "{err}");
        let mut x = [0.5f32, -1.0, 2.0, 1e-6];
        pcm16_round_trip(&mut x);
        assert_eq!(x, [16384.0 / 32768.0, -32767.0 / 32768.0, 32767.0 / 32768.0, 0.0]);
    }
}
