//! `AudioEncoder` and its front end: reference waveform -> 16 kHz Slaney log-mel -> normalised latent
//! (ltx-core `audio_vae.py` `AudioEncoder`, `encode_audio`, `ops.py` `AudioProcessor`; spec §6.5), and
//! the reference preparation of Scenema's ComfyUI "VAE Encode" node (`nodes/vae_encode.py`).

use candle_core::{Device, Result, Tensor, bail};
use candle_nn::VarBuilder;

use super::blocks::{CausalConv2d, Downsample, ResnetBlock, pixel_norm};
use super::{Config, PerChannelStatistics};
use crate::dsp::{MelConfig, MelNorm, MelScale, MelSpectrogram, PadMode, SincResampler};

/// Hard cap on the reference length ([C] `MAX_REF_CAP_SECONDS`): longer clips are cut to their first 20 s.
pub const MAX_REF_CAP_SECONDS: f64 = 20.0;

/// Scenema's reference preparation: resample every channel to `target_rate` (torchaudio defaults), keep
/// the first `min(max_seconds, 20)` seconds, duplicate mono to stereo. Returns the two 16 kHz channels.
pub fn prepare_reference(
    channels: &[Vec<f32>],
    sample_rate: u32,
    max_seconds: f64,
    target_rate: u32,
) -> Result<[Vec<f32>; 2]> {
    if channels.is_empty() || channels.len() > 2 {
        bail!("reference audio has {} channels, expected mono or stereo", channels.len());
    }
    let resampler = SincResampler::torchaudio_default(sample_rate, target_rate)?;
    let max_samples = (max_seconds.min(MAX_REF_CAP_SECONDS) * f64::from(target_rate)) as usize;
    let mut out: Vec<Vec<f32>> = channels
        .iter()
        .map(|c| {
            let mut y = if sample_rate == target_rate { c.clone() } else { resampler.process(c) };
            y.truncate(max_samples);
            y
        })
        .collect();
    let second = if out.len() == 1 { out[0].clone() } else { out.remove(1) };
    Ok([out.remove(0), second])
}

/// The encoder's log-mel front end: torchaudio `MelSpectrogram(n_fft, hop, periodic Hann, center, reflect,
/// power 1, Slaney scale and norm, 0 .. sr/2)`, then `ln(max(mel, 1e-5))`.
#[derive(Debug)]
pub struct AudioProcessor {
    mel: MelSpectrogram,
}

impl AudioProcessor {
    pub fn new(sample_rate: u32, n_fft: usize, hop_length: usize, n_mels: usize) -> Result<Self> {
        let mel = MelSpectrogram::new(MelConfig {
            sample_rate,
            n_fft,
            win_length: n_fft,
            hop_length,
            f_min: 0.0,
            f_max: f64::from(sample_rate) / 2.0,
            n_mels,
            power: 1.0,
            center: true,
            pad_mode: PadMode::Reflect,
            mel_scale: MelScale::Slaney,
            norm: MelNorm::Slaney,
        })?;
        Ok(Self { mel })
    }

    pub fn from_config(cfg: &Config) -> Result<Self> {
        Self::new(cfg.sample_rate, cfg.n_fft, cfg.hop_length, cfg.mel_bins)
    }

    /// Log-mel `(1, C, frames, n_mels)` of equally long channels (`frames = N / hop + 1`).
    pub fn log_mel(&self, channels: &[Vec<f32>], device: &Device) -> Result<Tensor> {
        let n_mels = self.mel.config().n_mels;
        let mut data = Vec::new();
        let mut frames = 0;
        for (i, channel) in channels.iter().enumerate() {
            if channel.len() != channels[0].len() {
                bail!(
                    "log-mel: channel {i} has {} samples, channel 0 has {}",
                    channel.len(),
                    channels[0].len()
                );
            }
            let mel = self.mel.compute(channel)?;
            frames = mel.len() / n_mels;
            data.extend(mel.into_iter().map(|v| v.max(1e-5).ln()));
        }
        Tensor::from_vec(data, (1, channels.len(), frames, n_mels), device)
    }
}

#[derive(Debug, Clone)]
struct DownLevel {
    blocks: Vec<ResnetBlock>,
    downsample: Option<Downsample>,
}

#[derive(Debug)]
pub struct AudioEncoder {
    cfg: Config,
    statistics: PerChannelStatistics,
    processor: AudioProcessor,
    conv_in: CausalConv2d,
    down: Vec<DownLevel>,
    mid_block_1: ResnetBlock,
    mid_block_2: ResnetBlock,
    conv_out: CausalConv2d,
}

impl AudioEncoder {
    /// `vb` at the encoder root (`conv_in.*`, `down.*`, ...), `statistics_vb` at its `per_channel_statistics`
    /// (in the encoder file both sit at the root). A mid-block attention in the config is ignored: Scenema's
    /// `load_vae_encoder` replaces it with `Identity`.
    pub fn new(cfg: &Config, vb: VarBuilder, statistics_vb: VarBuilder) -> Result<Self> {
        cfg.check_no_attention(true)?;
        let statistics = PerChannelStatistics::new(cfg.z_channels, cfg.latent_mel_bins(), statistics_vb)?;
        let conv_in = CausalConv2d::new(cfg.in_channels, cfg.ch, 3, vb.pp("conv_in"))?;
        let levels = cfg.ch_mult.len();
        let mut down = Vec::with_capacity(levels);
        let mut block_in = cfg.ch;
        for level in 0..levels {
            let vb_level = vb.pp(format!("down.{level}"));
            let mut ch_in = cfg.ch * if level == 0 { 1 } else { cfg.ch_mult[level - 1] };
            let block_out = cfg.ch * cfg.ch_mult[level];
            let mut blocks = Vec::with_capacity(cfg.num_res_blocks);
            for i in 0..cfg.num_res_blocks {
                blocks.push(ResnetBlock::new(ch_in, block_out, vb_level.pp(format!("block.{i}")))?);
                ch_in = block_out;
            }
            let downsample = if level + 1 != levels {
                Some(Downsample::new(ch_in, vb_level.pp("downsample"))?)
            } else {
                None
            };
            down.push(DownLevel { blocks, downsample });
            block_in = ch_in;
        }
        let mid_block_1 = ResnetBlock::new(block_in, block_in, vb.pp("mid.block_1"))?;
        let mid_block_2 = ResnetBlock::new(block_in, block_in, vb.pp("mid.block_2"))?;
        let z_out = if cfg.double_z { 2 * cfg.z_channels } else { cfg.z_channels };
        let conv_out = CausalConv2d::new(block_in, z_out, 3, vb.pp("conv_out"))?;
        let processor = AudioProcessor::from_config(cfg)?;
        Ok(Self {
            cfg: cfg.clone(),
            statistics,
            processor,
            conv_in,
            down,
            mid_block_1,
            mid_block_2,
            conv_out,
        })
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    pub fn processor(&self) -> &AudioProcessor {
        &self.processor
    }

    /// Log-mel `(B, 2, Tm, 64)` -> normalised latent means `(B, 8, (Tm - 1) / 4 + 1, 16)`.
    pub fn encode_mel(&self, mel: &Tensor) -> Result<Tensor> {
        let (_, c, t, f) = mel.dims4()?;
        if c != self.cfg.in_channels || f != self.cfg.mel_bins || t == 0 {
            bail!(
                "audio encoder: log-mel {:?}, expected (B, {}, T >= 1, {})",
                mel.dims(),
                self.cfg.in_channels,
                self.cfg.mel_bins
            );
        }
        let mut h = self.conv_in.forward(mel)?;
        for level in &self.down {
            for block in &level.blocks {
                h = block.forward(&h)?;
            }
            if let Some(downsample) = &level.downsample {
                h = downsample.forward(&h)?;
            }
        }
        h = self.mid_block_2.forward(&self.mid_block_1.forward(&h)?)?;
        let h = self.conv_out.forward(&pixel_norm(&h)?.silu()?)?;
        // The first z_channels are the means; the log-variances are dropped.
        let means = h.narrow(1, 0, self.cfg.z_channels)?;
        self.statistics.normalize(&means)
    }

    /// 16 kHz stereo channels -> latent (what `encode_audio` does after resampling).
    pub fn encode_waveform(&self, channels: &[Vec<f32>; 2], device: &Device) -> Result<Tensor> {
        let n = channels[0].len();
        if n <= self.cfg.n_fft / 2 {
            bail!(
                "reference too short: {n} samples at {} Hz, the log-mel needs more than {}",
                self.cfg.sample_rate,
                self.cfg.n_fft / 2
            );
        }
        let mel = self.processor.log_mel(channels, device)?;
        let dtype = self.statistics.std.dtype();
        self.encode_mel(&mel.to_dtype(dtype)?)
    }

    /// A reference clip (mono or stereo, any rate) -> latent, with Scenema's resampling and length cap.
    pub fn encode_reference(
        &self,
        channels: &[Vec<f32>],
        sample_rate: u32,
        max_seconds: f64,
        device: &Device,
    ) -> Result<Tensor> {
        let stereo = prepare_reference(channels, sample_rate, max_seconds, self.cfg.sample_rate)?;
        self.encode_waveform(&stereo, device)
    }
}
