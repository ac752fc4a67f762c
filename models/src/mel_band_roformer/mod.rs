//! Mel-Band RoFormer vocal separation (Wang, Lu & Won, "Mel-Band RoFormer for Music Source Separation",
//! arXiv:2310.01809), the Kimberley Jensen vocal model that Scenema strips backgrounds with.
//!
//! Reference: `kijai/ComfyUI-MelBandRoFormer@b40e263` `model/mel_band_roformer.py` (vendored unchanged but for
//! the mel filterbank function in `ScenemaAI/ComfyUI-ScenemaAudio@1dc965a` `vendor/mel_band_roformer/`), with
//! `rotary-embedding-torch==0.8.9`; chunked inference from `nodes/vocal_separator.py::_chunked_inference`
//! of the same repository (postprocessing-spec §4).
//!
//! Weights: `Kijai/MelBandRoFormer_comfy` / `MelBandRoformer_fp16.safetensors`, fp16, computed in f32 on the
//! CPU. The STFT, mask averaging and iSTFT run on the CPU in f64 whatever the device; the band projections,
//! the axial transformers and the mask estimators run on the model's device and dtype.

mod bands;
mod chunked;
mod layout;
mod transformer;

use std::sync::Arc;

use candle_core::{DType, Device, Module, Result, Tensor, bail};
use candle_nn::VarBuilder;

pub use bands::{BandSplit, MaskEstimator};
pub use chunked::{CHUNK_SIZE, ChunkPlan, OVERLAP_FACTOR, chunked_inference};
pub use layout::BandLayout;
pub use transformer::{Attention, FeedForward, RmsNorm, Rotary, Transformer};

use crate::dsp::{PadMode, Spectrogram, Stft, hann_window};
use crate::weights::Checkpoint;

/// The file name on the hub (`Kijai/MelBandRoFormer_comfy`).
pub const CHECKPOINT_FILE: &str = "MelBandRoformer_fp16.safetensors";

/// `Transformer(ff_mult=4)` and `MaskEstimator(mlp_expansion_factor=4)`: defaults the model never overrides.
const FF_MULT: usize = 4;
const MLP_EXPANSION: usize = 4;

/// `MelBandRoformer(**MODEL_CONFIG)`; the field names are the constructor's. Training-only arguments
/// (`attn_dropout`, `ff_dropout`, `multi_stft_*`, `flash_attn`) are accepted in JSON and ignored.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(default)]
pub struct Config {
    /// `dim`: the token width.
    pub dim: usize,
    /// `depth`: (time, freq) transformer pairs.
    pub depth: usize,
    /// `stereo`: 2 audio channels, else 1.
    pub stereo: bool,
    /// `num_stems`: mask estimators (the vocal model has 1).
    pub num_stems: usize,
    /// `time_transformer_depth`.
    pub time_transformer_depth: usize,
    /// `freq_transformer_depth`.
    pub freq_transformer_depth: usize,
    /// `num_bands`: mel bands.
    pub num_bands: usize,
    /// `dim_head`.
    pub dim_head: usize,
    /// `heads`.
    pub heads: usize,
    /// `dim_freqs_in`: must equal `stft_n_fft / 2 + 1` (the reference derives it from the STFT).
    pub dim_freqs_in: usize,
    /// `sample_rate`: for the mel filterbank only; audio must arrive at this rate.
    pub sample_rate: u32,
    /// `stft_n_fft`.
    pub stft_n_fft: usize,
    /// `stft_hop_length`.
    pub stft_hop_length: usize,
    /// `stft_win_length`: periodic Hann window, zero-padded to `stft_n_fft`.
    pub stft_win_length: usize,
    /// `stft_normalized` (only `false` is supported).
    pub stft_normalized: bool,
    /// `mask_estimator_depth`: hidden layers of each band's mask MLP.
    pub mask_estimator_depth: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self::vocals()
    }
}

impl Config {
    /// `MODEL_CONFIG` of `nodes/vocal_separator.py` (and the S server), golden `TestModelConfig`.
    pub fn vocals() -> Self {
        Self {
            dim: 384,
            depth: 6,
            stereo: true,
            num_stems: 1,
            time_transformer_depth: 1,
            freq_transformer_depth: 1,
            num_bands: 60,
            dim_head: 64,
            heads: 8,
            dim_freqs_in: 1025,
            sample_rate: 44_100,
            stft_n_fft: 2048,
            stft_hop_length: 441,
            stft_win_length: 2048,
            stft_normalized: false,
            mask_estimator_depth: 2,
        }
    }

    /// A checkpoint's `config` metadata (`MODEL_CONFIG` keys), or [`Config::vocals`] for a file without one
    /// (the released file carries none; ComfyUI hard-codes the config).
    pub fn from_checkpoint(checkpoint: &Checkpoint) -> Result<Self> {
        match checkpoint.config()? {
            None => Ok(Self::vocals()),
            Some(json) => serde_json::from_value(json)
                .map_err(|e| candle_core::Error::Msg(format!("MelBandRoformer `config` metadata: {e}"))),
        }
    }

    /// 2 for stereo, else 1.
    pub fn audio_channels(&self) -> usize {
        if self.stereo { 2 } else { 1 }
    }

    fn validate(&self) -> Result<()> {
        if self.stft_normalized {
            bail!("MelBandRoformer: stft_normalized = true is not supported");
        }
        if self.num_stems != 1 {
            bail!("MelBandRoformer: num_stems = {} (only single-stem models are supported)", self.num_stems);
        }
        if self.dim_freqs_in != self.stft_n_fft / 2 + 1 {
            bail!("MelBandRoformer: dim_freqs_in {} != stft_n_fft / 2 + 1", self.dim_freqs_in);
        }
        if !self.dim_head.is_multiple_of(2)
            || self.stft_win_length > self.stft_n_fft
            || self.stft_hop_length == 0
        {
            bail!("MelBandRoformer: inconsistent config {self:?}");
        }
        Ok(())
    }
}

/// What one forward pass computed, for parity checks: `features` after the band split (B, T, bands, dim),
/// `embedded` after the axial transformers (same shape), and the separated `vocals` (B, channels, hop · (T − 1)).
#[derive(Debug, Clone)]
pub struct ForwardParts {
    pub features: Tensor,
    pub embedded: Tensor,
    pub vocals: Tensor,
}

/// The model (`MelBandRoformer`, inference branch: no target, no loss).
#[derive(Debug)]
pub struct MelBandRoformer {
    cfg: Config,
    layout: BandLayout,
    stft: Stft,
    band_split: BandSplit,
    /// `layers.{l}`: (time transformer `0`, freq transformer `1`).
    layers: Vec<(Transformer, Transformer)>,
    mask_estimator: MaskEstimator,
    device: Device,
    dtype: DType,
}

impl MelBandRoformer {
    pub fn new(cfg: &Config, vb: VarBuilder) -> Result<Self> {
        cfg.validate()?;
        let layout = BandLayout::new(cfg.sample_rate, cfg.stft_n_fft, cfg.num_bands)?;
        let window = hann_window(cfg.stft_win_length, true);
        let stft = Stft::new(cfg.stft_n_fft, cfg.stft_hop_length, &window, true, PadMode::Reflect)?;
        let channels = cfg.audio_channels();
        // `freqs_per_bands_with_complex`: (re, im) per bin per channel.
        let dim_inputs: Vec<usize> = layout.freqs_per_band().iter().map(|n| 2 * n * channels).collect();
        let band_split = BandSplit::new(cfg.dim, &dim_inputs, vb.pp("band_split"))?;
        let layers = (0..cfg.depth)
            .map(|l| {
                let vb = vb.pp("layers").pp(l);
                let make = |depth, vb| Transformer::new(cfg.dim, depth, cfg.heads, cfg.dim_head, FF_MULT, vb);
                Ok((make(cfg.time_transformer_depth, vb.pp(0))?, make(cfg.freq_transformer_depth, vb.pp(1))?))
            })
            .collect::<Result<Vec<_>>>()?;
        let mask_estimator = MaskEstimator::new(
            cfg.dim,
            &dim_inputs,
            cfg.mask_estimator_depth,
            cfg.dim * MLP_EXPANSION,
            vb.pp("mask_estimators").pp(0),
        )?;
        Ok(Self {
            cfg: cfg.clone(),
            layout,
            stft,
            band_split,
            layers,
            mask_estimator,
            device: vb.device().clone(),
            dtype: vb.dtype(),
        })
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    pub fn layout(&self) -> &BandLayout {
        &self.layout
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Samples out for `samples` in: `hop · (1 + samples / hop − 1)` (the iSTFT's `length=None`).
    pub fn output_len(&self, samples: usize) -> usize {
        self.cfg.stft_hop_length * (samples / self.cfg.stft_hop_length)
    }

    /// `audio` (B, channels, L) at `sample_rate` -> vocals (B, channels, [`Self::output_len`]).
    pub fn forward(&self, audio: &Tensor) -> Result<Tensor> {
        Ok(self.forward_parts(audio)?.vocals)
    }

    pub fn forward_parts(&self, audio: &Tensor) -> Result<ForwardParts> {
        let (batch, channels, _) = audio.dims3()?;
        if channels != self.cfg.audio_channels() {
            bail!(
                "MelBandRoformer: {channels} audio channels in, the model takes {}",
                self.cfg.audio_channels()
            );
        }
        let audio: Vec<Vec<Vec<f32>>> = audio.to_device(&Device::Cpu)?.to_dtype(DType::F32)?.to_vec3()?;
        // (b, ch) spectrograms, frame-major.
        let specs: Vec<Vec<Spectrogram>> = audio
            .iter()
            .map(|item| item.iter().map(|signal| self.stft.complex(signal)).collect::<Result<Vec<_>>>())
            .collect::<Result<_>>()?;
        let frames = specs[0][0].n_frames;
        let rows = self.layout.freq_indices(channels);
        let n_freqs = self.layout.n_freqs();

        // 'b f t c -> b t (f c)' over the gathered rows: per frame, per band, per bin, per channel: re, im.
        let mut gathered = Vec::with_capacity(batch * frames * rows.len() * 2);
        for item in &specs {
            for t in 0..frames {
                for &row in &rows {
                    let value = item[row % channels].data[t * n_freqs + row / channels];
                    gathered.push(value.re as f32);
                    gathered.push(value.im as f32);
                }
            }
        }
        let x = Tensor::from_vec(gathered, (batch, frames, rows.len() * 2), &self.device)?
            .to_dtype(self.dtype)?;
        let features = self.band_split.forward(&x)?; // (b, t, f, d)
        let embedded = self.axial(&features)?;
        let masks = self.mask_estimator.forward(&embedded)?; // (b, t, rows · 2)
        let masks: Vec<Vec<Vec<f32>>> = masks.to_device(&Device::Cpu)?.to_dtype(DType::F32)?.to_vec3()?;

        let bands_per_freq = self.layout.bands_per_freq();
        let out_len = self.stft.hop_length() * (frames - 1);
        let mut vocals = Vec::with_capacity(batch * channels * out_len);
        for (item, mask) in specs.iter().zip(&masks) {
            for (ch, spec) in item.iter().enumerate() {
                vocals.extend(self.apply_mask(spec, mask, &rows, &bands_per_freq, ch, channels)?);
            }
        }
        let vocals = Tensor::from_vec(vocals, (batch, channels, out_len), &Device::Cpu)?;
        Ok(ForwardParts { features, embedded, vocals })
    }

    /// The time transformer over frames (sequences: every band), then the freq transformer over bands
    /// (sequences: every frame), `depth` times.
    fn axial(&self, x: &Tensor) -> Result<Tensor> {
        let (b, t, f, d) = x.dims4()?;
        let mut x = x.clone();
        for (time, freq) in &self.layers {
            // (b, t, f, d) -> (b·f, t, d)
            let seq = x.permute((0, 2, 1, 3))?.contiguous()?.reshape((b * f, t, d))?;
            let seq = time.forward(&seq)?;
            // (b·f, t, d) -> (b, t, f, d) -> (b·t, f, d)
            let seq =
                seq.reshape((b, f, t, d))?.permute((0, 2, 1, 3))?.contiguous()?.reshape((b * t, f, d))?;
            x = freq.forward(&seq)?.reshape((b, t, f, d))?;
        }
        Ok(x)
    }

    /// Average the complex masks over the bands that share a bin (scatter-add, divide by the band count),
    /// multiply the channel's spectrogram, and invert it.
    fn apply_mask(
        &self,
        spec: &Spectrogram,
        mask: &[Vec<f32>],
        rows: &[usize],
        bands_per_freq: &[usize],
        ch: usize,
        channels: usize,
    ) -> Result<Vec<f32>> {
        let n_freqs = spec.n_freqs;
        let mut masked = spec.clone();
        let mut summed = vec![(0f32, 0f32); n_freqs];
        for (t, frame_mask) in mask.iter().enumerate() {
            summed.fill((0.0, 0.0));
            for (i, &row) in rows.iter().enumerate() {
                if row % channels == ch {
                    let s = &mut summed[row / channels];
                    s.0 += frame_mask[2 * i];
                    s.1 += frame_mask[2 * i + 1];
                }
            }
            for (bin, (&(re, im), &count)) in summed.iter().zip(bands_per_freq).enumerate() {
                let m = realfft::num_complex::Complex::new(
                    f64::from(re / count as f32),
                    f64::from(im / count as f32),
                );
                let x = &mut masked.data[t * n_freqs + bin];
                *x *= m;
            }
        }
        self.stft.inverse(&masked)
    }
}

/// Build the model from a checkpoint (config from its metadata, else [`Config::vocals`]).
pub fn load(checkpoint: &Arc<Checkpoint>, dtype: DType, device: &Device) -> Result<MelBandRoformer> {
    let cfg = Config::from_checkpoint(checkpoint)?;
    MelBandRoformer::new(&cfg, checkpoint.var_builder(dtype, device))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_json_uses_the_constructor_names_and_defaults_to_the_vocal_model() {
        let cfg: Config = serde_json::from_str(r#"{"dim": 8, "depth": 1, "attn_dropout": 0.1}"#).unwrap();
        assert_eq!((cfg.dim, cfg.depth, cfg.heads, cfg.stft_hop_length), (8, 1, 8, 441));
        assert!(Config { num_stems: 2, ..Config::vocals() }.validate().is_err());
        assert!(Config { dim_freqs_in: 1024, ..Config::vocals() }.validate().is_err());
        Config::vocals().validate().unwrap();
    }
}
