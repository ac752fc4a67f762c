//! LTX-2.3 vocoder with bandwidth extension: stereo log-mel -> 16 kHz waveform (BigVGAN-v2-style
//! generator) -> 48 kHz waveform (causal mel of the 16 kHz signal, a second generator predicting the
//! residual over a x3 Hann-sinc resample, clamped to [-1, 1]).
//!
//! Reference: ltx-core 1.0.0 `model/audio_vae/vocoder.py` (`Vocoder`, `VocoderWithBWE`, `MelSTFT`,
//! `_STFTFn`) and `model_configurator.py` (`VocoderConfigurator`); ltx-audio-spec §6.3, §6.4. Scenema runs
//! it in f32 ([V] autocast), so load it as f32.
//!
//! The generators are not causal (centred convolutions), so streaming ([`VocoderStream`]) decodes
//! overlapping windows with [`VocoderWithBwe::context_frames`] of context on each side; the pieces
//! equal a whole pass.

mod activation;
mod generator;

use std::sync::Arc;

use candle_core::{DType, Device, Result, Tensor, bail};
use candle_nn::VarBuilder;

pub use activation::Activation1d;
pub use generator::{Generator, Layout, MEL_INPUT_CHANNELS};

use crate::dsp::FirUpsampler;
use crate::weights::Checkpoint;

/// Key prefix in the pipeline files (ltx-core `VOCODER_COMFY_KEYS_FILTER` strips one `vocoder.`).
pub const VOCODER_PREFIX: &str = "vocoder";

/// One generator (`config["vocoder"]["vocoder"]` or `["bwe"]`), with `VocoderConfigurator`'s defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratorConfig {
    pub upsample_initial_channel: usize,
    pub upsample_rates: Vec<usize>,
    pub upsample_kernel_sizes: Vec<usize>,
    pub resblock_kernel_sizes: Vec<usize>,
    pub resblock_dilation_sizes: Vec<Vec<usize>>,
    pub use_tanh_at_final: bool,
    pub use_bias_at_final: bool,
}

impl GeneratorConfig {
    fn from_json(v: &serde_json::Value, what: &str) -> Result<Self> {
        for (key, want, default) in [("resblock", "AMP1", "1"), ("activation", "snakebeta", "snake")] {
            let got = v[key].as_str().unwrap_or(default);
            if got != want {
                bail!("vocoder config `{what}.{key}` = {got:?}: only {want:?} (LTX-2.3) is supported");
            }
        }
        if v["stereo"].as_bool() == Some(false) {
            bail!("vocoder config `{what}.stereo` is false: only stereo checkpoints exist");
        }
        let list = |key: &str, default: &[usize]| -> Vec<usize> {
            v[key]
                .as_array()
                .map(|a| a.iter().filter_map(|x| x.as_u64().map(|x| x as usize)).collect())
                .unwrap_or_else(|| default.to_vec())
        };
        let dilations = v["resblock_dilation_sizes"]
            .as_array()
            .map(|rows| {
                rows.iter()
                    .map(|r| {
                        r.as_array()
                            .map(|a| a.iter().filter_map(|x| x.as_u64().map(|x| x as usize)).collect())
                            .unwrap_or_default()
                    })
                    .collect()
            })
            .unwrap_or_else(|| vec![vec![1, 3, 5]; 3]);
        let cfg = Self {
            upsample_initial_channel: v["upsample_initial_channel"].as_u64().map_or(1024, |x| x as usize),
            upsample_rates: list("upsample_rates", &[6, 5, 2, 2, 2]),
            upsample_kernel_sizes: list("upsample_kernel_sizes", &[16, 15, 8, 4, 4]),
            resblock_kernel_sizes: list("resblock_kernel_sizes", &[3, 7, 11]),
            resblock_dilation_sizes: dilations,
            use_tanh_at_final: v["use_tanh_at_final"].as_bool().unwrap_or(true),
            use_bias_at_final: v["use_bias_at_final"].as_bool().unwrap_or(true),
        };
        cfg.check()?;
        Ok(cfg)
    }

    fn check(&self) -> Result<()> {
        let n = self.upsample_rates.len();
        if n == 0 || n != self.upsample_kernel_sizes.len() {
            bail!("vocoder: {n} upsample rates for {} kernels", self.upsample_kernel_sizes.len());
        }
        if self.resblock_kernel_sizes.is_empty()
            || self.resblock_kernel_sizes.len() != self.resblock_dilation_sizes.len()
        {
            bail!("vocoder: resblock kernels and dilations differ in number");
        }
        if self.upsample_initial_channel >> n == 0 {
            bail!("vocoder: {} channels cannot be halved {n} times", self.upsample_initial_channel);
        }
        Ok(())
    }

    /// Channels after the last upsampling stage.
    pub fn final_channels(&self) -> usize {
        self.upsample_initial_channel >> self.upsample_rates.len()
    }

    /// Output samples per input frame.
    pub fn hop(&self) -> usize {
        self.upsample_rates.iter().product()
    }
}

/// `config["vocoder"]["bwe"]`: the generator plus the resampling and mel-STFT settings.
#[derive(Debug, Clone, PartialEq)]
pub struct BweConfig {
    pub generator: GeneratorConfig,
    pub input_sampling_rate: u32,
    pub output_sampling_rate: u32,
    pub hop_length: usize,
    pub n_fft: usize,
    pub num_mels: usize,
}

/// `config["vocoder"]` of an LTX-2.3 checkpoint (the nested form with `bwe`).
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub vocoder: GeneratorConfig,
    pub bwe: BweConfig,
}

impl Config {
    /// The LTX-2.3 values (spec §1.2).
    pub fn ltx23() -> Self {
        let dil = vec![vec![1, 3, 5]; 3];
        let generator = |c0, rates: &[usize], kernels: &[usize]| GeneratorConfig {
            upsample_initial_channel: c0,
            upsample_rates: rates.to_vec(),
            upsample_kernel_sizes: kernels.to_vec(),
            resblock_kernel_sizes: vec![3, 7, 11],
            resblock_dilation_sizes: dil.clone(),
            use_tanh_at_final: false,
            use_bias_at_final: false,
        };
        Self {
            vocoder: generator(1536, &[5, 2, 2, 2, 2, 2], &[11, 4, 4, 4, 4, 4]),
            bwe: BweConfig {
                generator: generator(512, &[6, 5, 2, 2, 2], &[12, 11, 4, 4, 4]),
                input_sampling_rate: 16000,
                output_sampling_rate: 48000,
                hop_length: 80,
                n_fft: 512,
                num_mels: 64,
            },
        }
    }

    /// Read `config["vocoder"]` from a checkpoint's `config` metadata (the whole JSON object).
    pub fn from_checkpoint_config(config: &serde_json::Value) -> Result<Self> {
        let section = &config["vocoder"];
        if !section.is_object() {
            bail!("checkpoint config has no `vocoder` section");
        }
        let bwe = &section["bwe"];
        if !bwe.is_object() {
            bail!("vocoder config has no `bwe` section: the pre-LTX-2.3 vocoder is not supported");
        }
        let need = |key: &str| -> Result<u64> {
            bwe[key]
                .as_u64()
                .ok_or_else(|| candle_core::Error::Msg(format!("vocoder config: `bwe.{key}` missing")))
        };
        let cfg = Self {
            vocoder: GeneratorConfig::from_json(&section["vocoder"], "vocoder")?,
            bwe: BweConfig {
                generator: GeneratorConfig::from_json(bwe, "bwe")?,
                input_sampling_rate: need("input_sampling_rate")? as u32,
                output_sampling_rate: need("output_sampling_rate")? as u32,
                hop_length: need("hop_length")? as usize,
                n_fft: need("n_fft")? as usize,
                num_mels: need("num_mels")? as usize,
            },
        };
        cfg.check()?;
        Ok(cfg)
    }

    fn check(&self) -> Result<()> {
        let bwe = &self.bwe;
        if bwe.input_sampling_rate == 0 || !bwe.output_sampling_rate.is_multiple_of(bwe.input_sampling_rate) {
            bail!(
                "vocoder: BWE {} -> {} Hz is not an integer ratio",
                bwe.input_sampling_rate,
                bwe.output_sampling_rate
            );
        }
        let ratio = (bwe.output_sampling_rate / bwe.input_sampling_rate) as usize;
        if bwe.hop_length == 0 || bwe.generator.hop() != ratio * bwe.hop_length {
            bail!(
                "vocoder: BWE upsampling x{} must equal {ratio} x hop {} (upstream asserts residual = skip length)",
                bwe.generator.hop(),
                bwe.hop_length
            );
        }
        if 2 * bwe.num_mels != MEL_INPUT_CHANNELS {
            bail!("vocoder: BWE num_mels {} (conv_pre takes 2 x 64)", bwe.num_mels);
        }
        Ok(())
    }
}

/// Causal log-mel with the checkpoint's DFT and mel bases (`MelSTFT`, `_STFTFn`): left zero pad
/// `n_fft - hop`, conv with `forward_basis (2F, 1, n_fft)` at stride `hop`, magnitude, mel, `ln(max(·, 1e-5))`.
#[derive(Debug, Clone)]
pub struct MelStft {
    forward_basis: Tensor,
    mel_basis: Tensor,
    hop_length: usize,
    n_fft: usize,
}

impl MelStft {
    /// `vb` at `mel_stft` (`stft_fn.inverse_basis` is stored too but never used).
    pub fn new(n_fft: usize, hop_length: usize, num_mels: usize, vb: VarBuilder) -> Result<Self> {
        let n_freqs = n_fft / 2 + 1;
        let forward_basis = vb.pp("stft_fn").get((2 * n_freqs, 1, n_fft), "forward_basis")?;
        let mel_basis = vb.get((num_mels, n_freqs), "mel_basis")?;
        Ok(Self { forward_basis, mel_basis, hop_length, n_fft })
    }

    /// `(B, C, L)` -> `(B, C, num_mels, L / hop)`.
    pub fn log_mel(&self, audio: &Tensor) -> Result<Tensor> {
        let (b, c, l) = audio.dims3()?;
        let left = self.n_fft.saturating_sub(self.hop_length);
        // (b, c, l) -> (b·c, 1, left + l): causal, past-only padding.
        let y = audio.reshape((b * c, 1, l))?.pad_with_zeros(2, left, 0)?;
        let spec = y.conv1d(&self.forward_basis.to_dtype(y.dtype())?, 0, self.hop_length, 1, 1)?;
        let n_freqs = spec.dim(1)? / 2;
        let re = spec.narrow(1, 0, n_freqs)?;
        let im = spec.narrow(1, n_freqs, n_freqs)?;
        let magnitude = (re.sqr()? + im.sqr()?)?.sqrt()?;
        let mel = self.mel_basis.to_dtype(y.dtype())?.broadcast_matmul(&magnitude)?;
        let mel = mel.clamp(1e-5, f64::INFINITY)?.log()?;
        let (_, n_mels, frames) = mel.dims3()?;
        // (b·c, mels, frames) -> (b, c, mels, frames)
        mel.reshape((b, c, n_mels, frames))
    }
}

/// The 16 kHz waveform, the BWE's log-mel input and the 48 kHz output of one pass.
#[derive(Debug, Clone)]
pub struct VocoderOutput {
    /// `(B, 2, L)`.
    pub x16: Tensor,
    /// `(B, 2, L / hop, num_mels)`.
    pub bwe_mel: Tensor,
    /// `(B, 2, ratio · L)`.
    pub wave: Tensor,
}

#[derive(Debug, Clone)]
pub struct VocoderWithBwe {
    cfg: Config,
    dtype: DType,
    vocoder: Generator,
    bwe_generator: Generator,
    mel_stft: MelStft,
    resampler: FirUpsampler,
}

impl VocoderWithBwe {
    /// `vb` at the `vocoder` prefix (`vocoder.vocoder.*`, `vocoder.bwe_generator.*`, `vocoder.mel_stft.*`).
    pub fn new(cfg: &Config, vb: VarBuilder) -> Result<Self> {
        cfg.check()?;
        let vocoder = Generator::new(&cfg.vocoder, true, vb.pp("vocoder"))?;
        let bwe_generator = Generator::new(&cfg.bwe.generator, false, vb.pp("bwe_generator"))?;
        let mel_stft = MelStft::new(cfg.bwe.n_fft, cfg.bwe.hop_length, cfg.bwe.num_mels, vb.pp("mel_stft"))?;
        // Not stored (non-persistent upstream): computed here in f32.
        let resampler = FirUpsampler::hann(cfg.bwe.generator.hop() / cfg.bwe.hop_length, vb.device())?;
        Ok(Self { cfg: cfg.clone(), dtype: vb.dtype(), vocoder, bwe_generator, mel_stft, resampler })
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// The weights' dtype, which inputs must match (f32 in Scenema).
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    pub fn output_sample_rate(&self) -> u32 {
        self.cfg.bwe.output_sampling_rate
    }

    /// 48 kHz samples per mel frame (480 for LTX-2.3).
    pub fn samples_per_frame(&self) -> usize {
        self.cfg.vocoder.hop() * self.resampler.ratio()
    }

    /// Stereo log-mel `(B, 2, M, 64)` -> 48 kHz stereo `(B, 2, samples_per_frame · M)` in [-1, 1].
    pub fn forward(&self, mel: &Tensor) -> Result<Tensor> {
        Ok(self.forward_parts(mel)?.wave)
    }

    pub fn forward_parts(&self, mel: &Tensor) -> Result<VocoderOutput> {
        let x16 = self.vocoder.forward(mel)?;
        let l = x16.dim(2)?;
        let out_len = l * self.resampler.ratio();
        let hop = self.cfg.bwe.hop_length;
        let x = if l % hop != 0 { x16.pad_with_zeros(2, 0, hop - l % hop)? } else { x16.clone() };
        // (b, c, mels, frames) -> (b, c, frames, mels), the generator's input layout.
        let bwe_mel = self.mel_stft.log_mel(&x)?.transpose(2, 3)?.contiguous()?;
        let residual = self.bwe_generator.forward(&bwe_mel)?;
        let skip = self.resampler.forward(&x)?;
        if residual.dims() != skip.dims() {
            bail!("vocoder: BWE residual {:?} and skip {:?} differ", residual.dims(), skip.dims());
        }
        let wave = (residual + skip)?.clamp(-1f32, 1f32)?.narrow(2, 0, out_len)?;
        Ok(VocoderOutput { x16, bwe_mel, wave })
    }

    /// Mel frames of context on each side that make a windowed decode equal the whole pass: the
    /// vocoder's reach, the BWE generator's (in mel frames), its STFT window and the x3 resampler's.
    pub fn context_frames(&self) -> usize {
        let hop16 = self.cfg.vocoder.hop() as f64;
        let bwe_frames_per_mel = hop16 / self.cfg.bwe.hop_length as f64;
        let (_, skip_pad, _) = self.resampler.geometry();
        let radius = self.vocoder.receptive_radius_frames()
            + self.bwe_generator.receptive_radius_frames() / bwe_frames_per_mel
            + self.cfg.bwe.n_fft as f64 / hop16
            + skip_pad as f64 / hop16;
        radius.ceil() as usize + 1
    }

    /// A streaming decoder emitting at least `min_emit_frames` mel frames' worth of audio at a time.
    pub fn stream(&self, min_emit_frames: usize) -> VocoderStream<'_> {
        VocoderStream {
            vocoder: self,
            context: self.context_frames(),
            min_emit: min_emit_frames.max(1),
            buffer: None,
            buffer_start: 0,
            received: 0,
            emitted: 0,
        }
    }

    /// Decode in windows of `chunk_frames` mel frames (plus context); equals [`Self::forward`].
    pub fn forward_chunked(&self, mel: &Tensor, chunk_frames: usize) -> Result<Tensor> {
        let frames = mel.dim(2)?;
        let mut stream = self.stream(chunk_frames);
        let mut pieces = Vec::new();
        let mut start = 0;
        while start < frames {
            let len = chunk_frames.max(1).min(frames - start);
            pieces.extend(stream.push(&mel.narrow(2, start, len)?)?);
            start += len;
        }
        pieces.extend(stream.finish()?);
        Tensor::cat(&pieces, 2)
    }
}

/// Incremental vocoding of a growing mel spectrogram: [`Self::push`] returns audio as soon as its frames
/// have [`VocoderWithBwe::context_frames`] of look-ahead, [`Self::finish`] the rest. The concatenated
/// output equals one [`VocoderWithBwe::forward`] over all frames.
pub struct VocoderStream<'a> {
    vocoder: &'a VocoderWithBwe,
    context: usize,
    min_emit: usize,
    /// Mel frames `buffer_start .. received`, `(B, 2, frames, 64)`.
    buffer: Option<Tensor>,
    buffer_start: usize,
    received: usize,
    emitted: usize,
}

impl VocoderStream<'_> {
    /// Mel frames whose audio has been returned.
    pub fn emitted_frames(&self) -> usize {
        self.emitted
    }

    /// Look-ahead in mel frames (the latency before a frame's audio can be emitted).
    pub fn context_frames(&self) -> usize {
        self.context
    }

    /// Append mel frames `(B, 2, n, 64)`; returns new 48 kHz audio when enough look-ahead has arrived.
    pub fn push(&mut self, mel: &Tensor) -> Result<Option<Tensor>> {
        let n = mel.dim(2)?;
        if n == 0 {
            return Ok(None);
        }
        self.buffer = Some(match &self.buffer {
            Some(buffer) => Tensor::cat(&[buffer, mel], 2)?,
            None => mel.clone(),
        });
        self.received += n;
        let ready = self.received.saturating_sub(self.context);
        if ready >= self.emitted + self.min_emit { self.emit(ready, false).map(Some) } else { Ok(None) }
    }

    /// The audio of every frame not yet returned (the end of the take has no look-ahead to wait for).
    pub fn finish(&mut self) -> Result<Option<Tensor>> {
        if self.received > self.emitted { self.emit(self.received, true).map(Some) } else { Ok(None) }
    }

    fn emit(&mut self, end: usize, last: bool) -> Result<Tensor> {
        let Some(buffer) = &self.buffer else { bail!("vocoder stream: nothing buffered") };
        let window_start = self.emitted.saturating_sub(self.context);
        let window_end = if last { self.received } else { (end + self.context).min(self.received) };
        let mel = buffer.narrow(2, window_start - self.buffer_start, window_end - window_start)?;
        let wave = self.vocoder.forward(&mel)?;
        let spf = self.vocoder.samples_per_frame();
        let out = wave.narrow(2, (self.emitted - window_start) * spf, (end - self.emitted) * spf)?;
        self.emitted = end;
        let keep_from = self.emitted.saturating_sub(self.context);
        if keep_from > self.buffer_start {
            let kept =
                buffer.narrow(2, keep_from - self.buffer_start, self.received - keep_from)?.contiguous()?;
            self.buffer = Some(kept);
            self.buffer_start = keep_from;
        }
        Ok(out)
    }
}

/// Load the vocoder + BWE from a pipeline checkpoint (`scenema-audio-pipeline{,-audio}.safetensors`).
/// Scenema computes it in f32 whatever the stored dtype.
pub fn load(ckpt: &Arc<Checkpoint>, dtype: DType, device: &Device) -> Result<VocoderWithBwe> {
    let files = ckpt.paths().iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ");
    let config = ckpt.config()?.ok_or_else(|| {
        candle_core::Error::Msg(format!("{files}: no `config` metadata (the vocoder section lives there)"))
    })?;
    let cfg = Config::from_checkpoint_config(&config)?;
    VocoderWithBwe::new(&cfg, ckpt.var_builder(dtype, device).pp(VOCODER_PREFIX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio_vae;

    fn fixture(case: &str) -> Arc<Checkpoint> {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/parity").join(case);
        Arc::new(Checkpoint::open(&[dir.join(audio_vae::PIPELINE_AUDIO_FILE)]).unwrap())
    }

    fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
        assert_eq!(a.dims(), b.dims());
        (a - b).unwrap().abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar().unwrap()
    }

    #[test]
    fn ltx23_config_geometry() {
        let cfg = Config::ltx23();
        cfg.check().unwrap();
        assert_eq!(cfg.vocoder.hop(), 160);
        assert_eq!(cfg.bwe.generator.hop(), 240);
        assert_eq!(cfg.vocoder.final_channels(), 24);
        assert_eq!(cfg.bwe.generator.final_channels(), 16);
        let mut bad = cfg.clone();
        bad.bwe.hop_length = 81;
        assert!(bad.check().unwrap_err().to_string().contains("hop"));
    }

    #[test]
    fn windowed_decoding_equals_whole_pass() {
        for case in ["vocoder_bwe-tiny-s0", "vocoder_bwe-tiny2-s1"] {
            let voc = load(&fixture(case), DType::F32, &Device::Cpu).unwrap();
            let ctx = voc.context_frames();
            let frames = 2 * ctx + 17;
            let mel = (Tensor::randn(0f32, 1.5, (1, 2, frames, 64), &Device::Cpu).unwrap() - 3.0).unwrap();
            let whole = voc.forward(&mel).unwrap();
            assert_eq!(whole.dims(), &[1, 2, frames * voc.samples_per_frame()]);
            for chunk in [7, ctx + 3] {
                let chunked = voc.forward_chunked(&mel, chunk).unwrap();
                let diff = max_diff(&whole, &chunked);
                assert!(diff <= 1e-5, "{case}, chunks of {chunk}: {diff}");
            }
        }
    }

    #[test]
    fn too_little_context_is_visible() {
        // The check above can fail: a window with one frame too few of context differs from the whole pass.
        let voc = load(&fixture("vocoder_bwe-tiny-s0"), DType::F32, &Device::Cpu).unwrap();
        let frames = 40;
        let mel = Tensor::randn(0f32, 1.5, (1, 2, frames, 64), &Device::Cpu).unwrap();
        let whole = voc.forward(&mel).unwrap();
        let spf = voc.samples_per_frame();
        let part = voc.forward(&mel.narrow(2, 0, 21).unwrap()).unwrap().narrow(2, 20 * spf, spf).unwrap();
        assert!(max_diff(&whole.narrow(2, 20 * spf, spf).unwrap(), &part) > 1e-4);
    }

    #[test]
    fn streamed_latent_to_48k_equals_whole_decode() {
        let dec_ckpt = {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../tests/fixtures/parity/audio_vae_decoder-tiny-s0");
            Arc::new(Checkpoint::open(&[dir.join(audio_vae::PIPELINE_AUDIO_FILE)]).unwrap())
        };
        let mut decoder = audio_vae::load_decoder(&dec_ckpt, DType::F32, &Device::Cpu).unwrap();
        let voc = load(&fixture("vocoder_bwe-tiny-s0"), DType::F32, &Device::Cpu).unwrap();
        let latent = Tensor::randn(0f32, 1.0, (1, 8, 30, 16), &Device::Cpu).unwrap();
        let whole = audio_vae::decode_audio(&decoder, &voc, &latent).unwrap();
        assert_eq!(whole.dims(), &[1, 2, (4 * 30 - 3) * voc.samples_per_frame()]);
        let mut stream = voc.stream(8);
        let mut pieces = Vec::new();
        let mut start = 0;
        for len in [1, 2, 5, 3, 9, 10] {
            let mel = decoder.decode_step(&latent.narrow(2, start, len).unwrap()).unwrap();
            pieces.extend(stream.push(&mel).unwrap());
            start += len;
        }
        assert!(!pieces.is_empty(), "audio should start before the take is decoded");
        pieces.extend(stream.finish().unwrap());
        let streamed = Tensor::cat(&pieces, 2).unwrap();
        let diff = max_diff(&whole, &streamed);
        assert!(diff <= 1e-5, "{diff}");
    }
}
