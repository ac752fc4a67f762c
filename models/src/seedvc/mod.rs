//! SeedVC zero-shot voice conversion (Seed-VC v1, `config_dit_mel_seed_uvit_whisper_small_wavenet`): content
//! features of the source (Whisper-small encoder), the target's speaker embedding (CAM++) and mel prompt, a
//! flow-matching DiT that generates the target-voiced mel, BigVGAN-v2 at 22.05 kHz.
//!
//! Reference: Plachtaa/seed-vc@d334fb7 `app_vc.py::voice_conversion` and `modules/*` (the commit Scenema
//! vendors); postprocessing-spec §5. [`SeedVc::convert`] is the whole of `voice_conversion` plus Scenema's
//! post-processing (§5.12): 22.05 kHz mono in, 22.05 kHz mono out, the same length as the source up to its
//! last partial mel frame.
//!
//! The content encoder comes in through [`ContentEncoder`] ([`crate::whisper::ContentEncoder`] implements it)
//! and the noise through a closure: the reference draws
//! unseeded noise, so parity runs inject it (spec §5.13).

pub mod bigvgan;
pub mod campplus;
pub mod cfm;
pub mod config;
pub mod dit;
pub mod fbank;
pub mod length_regulator;
pub mod mel;
pub mod wavenet;

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Result, Tensor, bail};

pub use bigvgan::BigVgan;
pub use campplus::CampPlus;
pub use cfm::SamplerOptions;
pub use config::Config;
pub use dit::Dit;
pub use length_regulator::LengthRegulator;
pub use mel::MelFrontEnd;

use crate::dsp::SincResampler;
use crate::pth::{PthFile, StateDict, TrackedTensors, fold_weight_norm, strip_prefix};

/// The content encoder's rate.
pub const CONTENT_SAMPLE_RATE: u32 = 16000;
/// `ref_audio[: sr * 25]`: the reference is capped at 25 s.
pub const MAX_REFERENCE_SECONDS: usize = 25;
/// `max_context_window = sr // hop_length * 30`: mel frames (reference + source window) per DiT call.
pub const CONTEXT_SECONDS: usize = 30;
/// `overlap_frame_len`: frames shared (and cross-faded) by consecutive windows.
pub const OVERLAP_FRAMES: usize = 16;
/// Whisper takes at most 30 s; longer sources go in windows overlapping by 5 s (spec §5.3 step 3).
const CONTENT_WINDOW: usize = 30 * CONTENT_SAMPLE_RATE as usize;
const CONTENT_OVERLAP: usize = 5 * CONTENT_SAMPLE_RATE as usize;
/// Content frames per second (Whisper: 16 kHz / 320).
const CONTENT_FRAME_SAMPLES: usize = 320;
const CONTENT_OVERLAP_FRAMES: usize = 50 * 5;

/// The speech content encoder (`semantic_fn`): the Whisper-small encoder's last hidden state for one 16 kHz
/// window of at most 30 s, `(1, frames, dim)` (Whisper pads to 30 s, giving 1500 frames; the caller keeps the
/// first `len / 320 + 1`).
pub trait ContentEncoder {
    fn encode(&self, wave_16k: &[f32]) -> Result<Tensor>;
}

impl ContentEncoder for crate::whisper::ContentEncoder {
    fn encode(&self, wave_16k: &[f32]) -> Result<Tensor> {
        crate::whisper::ContentEncoder::encode(self, wave_16k)
    }
}

/// `semantic_fn` with `voice_conversion`'s long-audio windowing: one call up to 30 s; beyond that, windows of
/// 30 s where each later one starts with the previous one's last 5 s and drops its first 250 frames.
pub fn content_features(encoder: &dyn ContentEncoder, wave_16k: &[f32]) -> Result<Tensor> {
    let encode = |w: &[f32]| -> Result<Tensor> {
        let s = encoder.encode(w)?;
        let keep = (w.len() / CONTENT_FRAME_SAMPLES + 1).min(s.dim(1)?);
        s.narrow(1, 0, keep)
    };
    if wave_16k.len() <= CONTENT_WINDOW {
        return encode(wave_16k);
    }
    let mut kept = Vec::new();
    let mut buffer: Option<Vec<f32>> = None;
    let mut read = 0;
    while read < wave_16k.len() {
        let chunk: Vec<f32> = match &buffer {
            None => wave_16k[..CONTENT_WINDOW.min(wave_16k.len())].to_vec(),
            Some(b) => {
                let end = (read + CONTENT_WINDOW - CONTENT_OVERLAP).min(wave_16k.len());
                [b.as_slice(), &wave_16k[read..end]].concat()
            }
        };
        let s = encode(&chunk)?;
        if read == 0 {
            kept.push(s);
        } else {
            let frames = s.dim(1)?;
            let skip = CONTENT_OVERLAP_FRAMES.min(frames);
            kept.push(s.narrow(1, skip, frames - skip)?);
        }
        buffer = Some(chunk[chunk.len().saturating_sub(CONTENT_OVERLAP)..].to_vec());
        read += if read == 0 { CONTENT_WINDOW } else { chunk.len() - CONTENT_OVERLAP };
    }
    Tensor::cat(&kept, 1)
}

/// `crossfade(a, b, n)`: the first `n` samples of `b` fade in (`cos²` from π/2 to 0) over the last `n` of `a`
/// fading out; returns all of `b`. Computed in f64 as numpy does, stored as f32.
pub fn crossfade(a: &[f32], b: &mut [f32]) {
    let n = a.len().min(b.len());
    let a = &a[a.len() - n..];
    for i in 0..n {
        let phase = if n > 1 { std::f64::consts::FRAC_PI_2 * i as f64 / (n - 1) as f64 } else { 0.0 };
        let fade_out = phase.cos().powi(2);
        let fade_in = (std::f64::consts::FRAC_PI_2 - phase).cos().powi(2);
        b[i] = (f64::from(b[i]) * fade_in + f64::from(a[i]) * fade_out) as f32;
    }
}

/// Scenema's `SeedVC.convert` post-processing (spec §5.12): the final samples as f32, divided by their peak when
/// it exceeds 1.
pub fn postprocess(mut samples: Vec<f32>) -> Result<Vec<f32>> {
    if samples.is_empty() {
        bail!("SeedVC produced no output");
    }
    let peak = samples.iter().fold(0f32, |m, &x| m.max(x.abs()));
    if peak > 1.0 {
        for x in &mut samples {
            *x /= peak;
        }
    }
    Ok(samples)
}

/// The files of one Seed-VC model set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedVcFiles {
    /// `DiT_seed_v2_uvit_whisper_small_wavenet_bigvgan_pruned.pth`
    pub checkpoint: PathBuf,
    /// `config_dit_mel_seed_uvit_whisper_small_wavenet.yml`
    pub config: PathBuf,
    /// `campplus_cn_common.bin`
    pub campplus: PathBuf,
    /// BigVGAN's `config.json`
    pub bigvgan_config: PathBuf,
    /// `bigvgan_generator.pt`
    pub bigvgan_checkpoint: PathBuf,
}

impl SeedVcFiles {
    /// The files under their real names: the Seed-VC two and CAMPPlus in `dir`, BigVGAN's in `bigvgan_dir`.
    pub fn in_dirs(dir: &Path, bigvgan_dir: &Path) -> Self {
        Self {
            checkpoint: dir.join(config::CHECKPOINT_FILE),
            config: dir.join(config::CONFIG_FILE),
            campplus: dir.join(campplus::CHECKPOINT_FILE),
            bigvgan_config: bigvgan_dir.join(bigvgan::CONFIG_FILE),
            bigvgan_checkpoint: bigvgan_dir.join(bigvgan::CHECKPOINT_FILE),
        }
    }
}

/// Conversion settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConvertOptions {
    /// `diffusion_steps` (Scenema `vc_steps`: 25).
    pub steps: usize,
    /// `inference_cfg_rate` (Scenema `vc_cfg_rate`: 0.5).
    pub cfg_rate: f64,
    /// `length_adjust` (Scenema: 1.0).
    pub length_adjust: f64,
    /// `max_context_window` in mel frames; `None`: `sr / hop · 30` (2580).
    pub max_context_frames: Option<usize>,
    /// `overlap_frame_len` (16).
    pub overlap_frames: usize,
}

impl Default for ConvertOptions {
    /// Scenema's defaults (spec §1.1: `vc_steps = 25`, `vc_cfg_rate = 0.5`).
    fn default() -> Self {
        Self {
            steps: 25,
            cfg_rate: 0.5,
            length_adjust: 1.0,
            max_context_frames: None,
            overlap_frames: OVERLAP_FRAMES,
        }
    }
}

/// Where a conversion is, for progress displays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub window: usize,
    pub windows: usize,
    pub step: usize,
    pub steps: usize,
}

/// Source-frame windows `(start, len)` of the streaming loop for `frames` source frames and `budget` frames
/// per window (spec §5.11).
pub fn windows(frames: usize, budget: usize, overlap: usize) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut p = 0;
    while p < frames {
        let len = budget.min(frames - p);
        out.push((p, len));
        if p + budget >= frames {
            break;
        }
        p += len - overlap;
    }
    out
}

/// Everything [`SeedVc::convert`] computes on the way, for parity checks.
#[derive(Debug, Clone)]
pub struct Trace {
    pub ref_16k: Vec<f32>,
    pub src_16k: Vec<f32>,
    /// `(1, T, content)` of the source and the reference.
    pub content_source: Tensor,
    pub content_reference: Tensor,
    /// `(frames, 80)`, mean-subtracted.
    pub fbank: Vec<f32>,
    /// `(1, style)`.
    pub style: Tensor,
    /// `(1, mel, T_ref)`.
    pub mel_reference: Tensor,
    /// `(1, T, channels)` of the source and the reference.
    pub cond: Tensor,
    pub prompt_cond: Tensor,
    /// Per window: the generated mel (prompt dropped) and the vocoded wave `(1, hop · len)`.
    pub window_mels: Vec<Tensor>,
    pub window_waves: Vec<Tensor>,
    /// The post-processed output.
    pub output: Vec<f32>,
}

/// Stored keys each file's modules did not take (the reference skips them silently).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadReport {
    /// `(file (and entry), keys)`.
    pub skipped: Vec<(String, Vec<String>)>,
}

pub struct SeedVc {
    cfg: Config,
    mel: MelFrontEnd,
    length_regulator: LengthRegulator,
    dit: Dit,
    campplus: CampPlus,
    bigvgan: BigVgan,
    to_16k: SincResampler,
    device: Device,
    dtype: DType,
    report: LoadReport,
}

/// Everything a [`SeedVc`] is built from, read from its files (so that weights can be inspected or edited
/// before the modules take them).
pub struct SeedVcWeights {
    pub config: Config,
    /// `state["net"]["cfm"]` and `state["net"]["length_regulator"]`, `module.` stripped.
    pub cfm: StateDict,
    pub length_regulator: StateDict,
    /// CAMPPlus's state dict as stored.
    pub campplus: StateDict,
    pub bigvgan_config: bigvgan::Config,
    /// `bigvgan_generator.pt`'s `generator`, weight norm not yet folded.
    pub bigvgan: StateDict,
    /// Where each came from, for messages: checkpoint, CAMPPlus, BigVGAN.
    pub sources: [String; 3],
}

fn read_text(path: &Path) -> Result<String> {
    std::fs::read_to_string(path)
        .map_err(|e| candle_core::Error::Msg(format!("cannot read {}: {e}", path.display())))
}

impl SeedVcWeights {
    pub fn read(files: &SeedVcFiles) -> Result<Self> {
        let config = Config::from_yaml(&read_text(&files.config)?)
            .map_err(|e| candle_core::Error::Msg(format!("{}: {e}", files.config.display())))?;
        let ckpt = PthFile::open(&files.checkpoint)?;
        let bigvgan_json: serde_json::Value = serde_json::from_str(&read_text(&files.bigvgan_config)?)
            .map_err(|e| candle_core::Error::Msg(format!("{}: {e}", files.bigvgan_config.display())))?;
        Ok(Self {
            config,
            cfm: strip_prefix(ckpt.state_dict(&["net", "cfm"])?, "module."),
            length_regulator: strip_prefix(ckpt.state_dict(&["net", "length_regulator"])?, "module."),
            campplus: PthFile::open(&files.campplus)?.state_dict(&[])?,
            bigvgan_config: bigvgan::Config::from_json(&bigvgan_json)
                .map_err(|e| candle_core::Error::Msg(format!("{}: {e}", files.bigvgan_config.display())))?,
            bigvgan: PthFile::open(&files.bigvgan_checkpoint)?.state_dict(&["generator"])?,
            sources: [
                files.checkpoint.display().to_string(),
                files.campplus.display().to_string(),
                files.bigvgan_checkpoint.display().to_string(),
            ],
        })
    }
}

impl SeedVc {
    /// Load every part. `dtype` is the DiT's and the length regulator's (CAMPPlus and BigVGAN run in f32).
    pub fn load(files: &SeedVcFiles, dtype: DType, device: &Device) -> Result<Self> {
        Self::from_weights(SeedVcWeights::read(files)?, dtype, device)
    }

    pub fn from_weights(weights: SeedVcWeights, dtype: DType, device: &Device) -> Result<Self> {
        let SeedVcWeights {
            config: cfg,
            mut cfm,
            length_regulator: lr,
            campplus: cp_sd,
            bigvgan_config: big_cfg,
            bigvgan: big_sd,
            sources,
        } = weights;
        let [name, cp_name, big_name] = sources;
        let mut report = LoadReport::default();
        fold_weight_norm(&mut cfm)?;
        let cfm = TrackedTensors::new(cfm, format!("{name} [net.cfm]"));
        let dit = Dit::new(&cfg.dit, &cfg.wavenet, cfm.var_builder(dtype, device).pp("estimator"))?;
        report.skipped.push((format!("{name} [net.cfm]"), cfm.unused()));

        let lr = TrackedTensors::new(lr, format!("{name} [net.length_regulator]"));
        let length_regulator = LengthRegulator::new(&cfg.length_regulator, lr.var_builder(dtype, device))?;
        report.skipped.push((format!("{name} [net.length_regulator]"), lr.unused()));

        let (campplus, unused) = campplus::load(cp_sd, &cp_name, DType::F32, device)?;
        if campplus.config().embedding_size != cfg.dit.style_dim {
            bail!(
                "{cp_name}: a {}-wide speaker embedding, the DiT takes {}",
                campplus.config().embedding_size,
                cfg.dit.style_dim
            );
        }
        report.skipped.push((cp_name, unused));

        let (bigvgan, unused) = BigVgan::load(&big_cfg, big_sd, &big_name, device)?;
        report.skipped.push((format!("{big_name} [generator]"), unused));
        if big_cfg.num_mels != cfg.mel.n_mels
            || big_cfg.hop_size != cfg.mel.hop_length
            || big_cfg.sampling_rate != cfg.mel.sample_rate
        {
            bail!(
                "BigVGAN ({} mels, hop {}, {} Hz) does not match the Seed-VC mel ({} mels, hop {}, {} Hz)",
                big_cfg.num_mels,
                big_cfg.hop_size,
                big_cfg.sampling_rate,
                cfg.mel.n_mels,
                cfg.mel.hop_length,
                cfg.mel.sample_rate
            );
        }
        report.skipped.retain(|(_, keys)| !keys.is_empty());
        Ok(Self {
            mel: MelFrontEnd::new(&cfg.mel)?,
            to_16k: SincResampler::torchaudio_default(cfg.mel.sample_rate, CONTENT_SAMPLE_RATE)?,
            cfg,
            length_regulator,
            dit,
            campplus,
            bigvgan,
            device: device.clone(),
            dtype,
            report,
        })
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    pub fn sample_rate(&self) -> u32 {
        self.cfg.mel.sample_rate
    }

    pub fn hop_length(&self) -> usize {
        self.cfg.mel.hop_length
    }

    pub fn load_report(&self) -> &LoadReport {
        &self.report
    }

    pub fn dit(&self) -> &Dit {
        &self.dit
    }

    pub fn campplus(&self) -> &CampPlus {
        &self.campplus
    }

    pub fn bigvgan(&self) -> &BigVgan {
        &self.bigvgan
    }

    pub fn length_regulator(&self) -> &LengthRegulator {
        &self.length_regulator
    }

    pub fn mel_front_end(&self) -> &MelFrontEnd {
        &self.mel
    }

    /// 22.05 kHz → 16 kHz (`torchaudio.functional.resample` defaults).
    pub fn to_content_rate(&self, wave: &[f32]) -> Vec<f32> {
        self.to_16k.process(wave)
    }

    /// The CAMPPlus embedding `(1, style)` of a 16 kHz reference (fbank minus its mean).
    pub fn speaker_embedding(&self, ref_16k: &[f32]) -> Result<(Vec<f32>, Tensor)> {
        let feats = fbank::fbank_cmn(ref_16k)?;
        let frames = feats.len() / fbank::NUM_MEL_BINS;
        let x = Tensor::from_vec(feats.clone(), (1, frames, fbank::NUM_MEL_BINS), &self.device)?;
        Ok((feats, self.campplus.forward(&x)?))
    }

    /// The DiT sampler over `[prompt_cond; window]` with noise `z (1, mel, T_ref + len)`; returns the
    /// generated mel without the prompt frames.
    #[allow(clippy::too_many_arguments)]
    pub fn sample_window(
        &self,
        prompt_cond: &Tensor,
        window: &Tensor,
        mel_reference: &Tensor,
        style: &Tensor,
        z: &Tensor,
        opts: &ConvertOptions,
        on_step: impl FnMut(usize) -> Result<()>,
    ) -> Result<Tensor> {
        let mu = Tensor::cat(&[prompt_cond, window], 1)?.to_dtype(self.dtype)?;
        let sampler = SamplerOptions {
            steps: opts.steps,
            cfg_rate: opts.cfg_rate,
            zero_prompt_content: self.cfg.dit.zero_prompt_speech_token,
        };
        let out = cfm::sample(
            &self.dit,
            &mu,
            &mel_reference.to_dtype(self.dtype)?,
            &style.to_dtype(self.dtype)?,
            &z.to_dtype(self.dtype)?,
            &sampler,
            on_step,
        )?;
        let t_ref = mel_reference.dim(2)?;
        out.narrow(2, t_ref, out.dim(2)? - t_ref)
    }

    /// Convert `source` into the voice of `target` (both 22.05 kHz mono); see the module docs.
    pub fn convert(
        &self,
        source: &[f32],
        target: &[f32],
        content: &dyn ContentEncoder,
        opts: &ConvertOptions,
        noise: &mut dyn FnMut(&[usize]) -> Result<Tensor>,
        progress: &mut dyn FnMut(Progress) -> Result<()>,
    ) -> Result<Trace> {
        let sr = self.cfg.mel.sample_rate as usize;
        let hop = self.cfg.mel.hop_length;
        let target = &target[..target.len().min(sr * MAX_REFERENCE_SECONDS)];
        let frames = (((source.len() / hop) as f64) * opts.length_adjust) as usize;
        if frames == 0 {
            bail!(
                "the source is too short to convert ({} samples; at least {hop} at {sr} Hz are needed)",
                source.len()
            );
        }
        let ref_16k = self.to_content_rate(target);
        let src_16k = self.to_content_rate(source);
        let content_source = content_features(content, &src_16k)?.to_dtype(self.dtype)?;
        let content_reference = content_features(content, &ref_16k)?.to_dtype(self.dtype)?;
        let mel_reference = self.mel.compute(target, &self.device)?;
        let t_ref = mel_reference.dim(2)?;
        let (fbank, style) = self.speaker_embedding(&ref_16k)?;
        let cond = self.length_regulator.forward(&content_source, frames)?;
        let prompt_cond = self.length_regulator.forward(&content_reference, t_ref)?;

        let context = opts.max_context_frames.unwrap_or(sr / hop * CONTEXT_SECONDS);
        let budget = context.saturating_sub(t_ref);
        let overlap = opts.overlap_frames;
        if budget <= 2 * overlap {
            bail!(
                "SeedVC: the reference's {t_ref} mel frames leave {budget} of the {context}-frame context for the \
                 source; more than {} are needed (use a shorter reference)",
                2 * overlap
            );
        }
        let plan = windows(frames, budget, overlap);
        let overlap_samples = overlap * hop;
        let mut output: Vec<f32> = Vec::with_capacity(frames * hop);
        let mut previous: Vec<f32> = Vec::new();
        let mut window_mels = Vec::new();
        let mut window_waves = Vec::new();
        for (w, &(start, len)) in plan.iter().enumerate() {
            let last = w + 1 == plan.len();
            let z = noise(&[1, self.cfg.mel.n_mels, t_ref + len])?;
            let window = cond.narrow(1, start, len)?;
            let mel =
                self.sample_window(&prompt_cond, &window, &mel_reference, &style, &z, opts, |step| {
                    progress(Progress { window: w, windows: plan.len(), step, steps: opts.steps })
                })?;
            let wave = self.bigvgan.forward(&mel)?.squeeze(1)?;
            let mut samples: Vec<f32> = wave.flatten_all()?.to_dtype(DType::F32)?.to_vec1()?;
            window_mels.push(mel);
            window_waves.push(wave);
            if last {
                if w > 0 {
                    crossfade(&previous, &mut samples);
                }
                output.extend_from_slice(&samples);
            } else {
                let keep = samples.len() - overlap_samples;
                let (body, tail) = samples.split_at_mut(keep);
                if w > 0 {
                    crossfade(&previous, body);
                }
                output.extend_from_slice(body);
                previous = tail.to_vec();
            }
        }
        Ok(Trace {
            ref_16k,
            src_16k,
            content_source,
            content_reference,
            fbank,
            style,
            mel_reference,
            cond,
            prompt_cond,
            window_mels,
            window_waves,
            output: postprocess(output)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_follow_the_streaming_loop() {
        // One window when it all fits; else advance by len - overlap until a window reaches the end.
        assert_eq!(windows(20, 30, 16), vec![(0, 20)]);
        assert_eq!(windows(21, 10, 4), vec![(0, 10), (6, 10), (12, 9)]);
        assert_eq!(windows(427 + 100, 427, 16), vec![(0, 427), (411, 116)]);
        // Every window but the first starts `overlap` frames before the previous one ended.
        let w = windows(5000, 427, 16);
        for pair in w.windows(2) {
            assert_eq!(pair[1].0, pair[0].0 + pair[0].1 - 16);
        }
        assert_eq!(w.last().map(|&(s, l)| s + l), Some(5000));
    }

    #[test]
    fn crossfade_and_postprocess_as_upstream() {
        let a = [1.0f32; 4];
        let mut b = [0.0f32; 6];
        crossfade(&a, &mut b);
        // fade_out = cos²(linspace(0, π/2, 4)) = [1, 0.75, 0.25, 0]
        let want = [1.0, 0.75, 0.25, 0.0, 0.0, 0.0];
        for (g, w) in b.iter().zip(want) {
            assert!((g - w).abs() < 1e-6, "{b:?}");
        }
        // Golden cases of test_seedvc.py (postprocessing-spec §8.6).
        assert_eq!(postprocess(vec![0.5, -0.3, 0.0]).unwrap(), vec![0.5, -0.3, 0.0]);
        let clipped = postprocess(vec![2.0, -3.0, 0.5]).unwrap();
        assert_eq!(clipped, vec![0.666_666_7, -1.0, 0.166_666_67]);
        assert!(postprocess(vec![]).unwrap_err().to_string().starts_with("SeedVC produced no output"));
    }

    struct FakeEncoder;

    impl ContentEncoder for FakeEncoder {
        /// 1500 frames whose value is the first sample of its 320-sample hop, like a 30-s padded encoder.
        fn encode(&self, wave: &[f32]) -> Result<Tensor> {
            let v: Vec<f32> = (0..1500).map(|i| wave.get(i * 320).copied().unwrap_or(-1.0)).collect();
            Tensor::from_vec(v, (1, 1500, 1), &Device::Cpu)
        }
    }

    #[test]
    fn long_sources_are_encoded_in_overlapping_windows() {
        // A ramp whose content frame k carries k: the stitched features must be 0, 1, 2, ... without gaps.
        let n = 16000 * 70 + 1234;
        let wave: Vec<f32> = (0..n).map(|i| (i / 320) as f32).collect();
        let s = content_features(&FakeEncoder, &wave).unwrap();
        let v: Vec<f32> = s.flatten_all().unwrap().to_vec1().unwrap();
        // Windows [0, 30 s], [25, 55 s], [50 s, end]: all of the first, the later ones from their 251st frame.
        assert_eq!(v.len(), n / 320 + 1);
        assert_eq!(v, (0..v.len()).map(|k| k as f32).collect::<Vec<_>>());
        let short: Vec<f32> = (0..16000).map(|i| (i / 320) as f32).collect();
        assert_eq!(content_features(&FakeEncoder, &short).unwrap().dim(1).unwrap(), 16000 / 320 + 1);
    }
}
