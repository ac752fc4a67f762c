//! BigVGAN-v2 22 kHz, 80 bands, 256× (`nvidia/bigvgan_v2_22khz_80band_256x`: `config.json` +
//! `bigvgan_generator.pt`; spec §5.10). The math is the LTX vocoder's generator ([`crate::vocoder::Generator`],
//! anti-aliased SnakeBeta AMP blocks); only the key names and the mono input/output differ
//! ([`Layout::BigVgan`]). Weight norm is folded at load, as `remove_weight_norm()` does upstream.

use candle_core::{DType, Device, Result, Tensor, bail};
use serde_json::Value;

use crate::pth::{StateDict, TrackedTensors, fold_weight_norm};
use crate::vocoder::{Generator, GeneratorConfig, Layout};

pub const CONFIG_FILE: &str = "config.json";
pub const CHECKPOINT_FILE: &str = "bigvgan_generator.pt";

/// The fields of the NVIDIA `config.json` the generator uses.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub generator: GeneratorConfig,
    /// `num_mels`
    pub num_mels: usize,
    /// `sampling_rate`
    pub sampling_rate: u32,
    /// `hop_size`
    pub hop_size: usize,
}

impl Config {
    pub fn from_json(v: &Value) -> Result<Self> {
        let need = |key: &str| -> Result<&Value> {
            v.get(key).ok_or_else(|| candle_core::Error::Msg(format!("BigVGAN config: `{key}` is missing")))
        };
        let uint = |key: &str| -> Result<usize> {
            need(key)?.as_u64().map(|x| x as usize).ok_or_else(|| {
                candle_core::Error::Msg(format!("BigVGAN config: `{key}` is not a whole number"))
            })
        };
        let list = |value: &Value, key: &str| -> Result<Vec<usize>> {
            value
                .as_array()
                .and_then(|a| a.iter().map(|x| x.as_u64().map(|x| x as usize)).collect::<Option<Vec<_>>>())
                .ok_or_else(|| {
                    candle_core::Error::Msg(format!("BigVGAN config: `{key}` is not a list of numbers"))
                })
        };
        for (key, want) in [("resblock", "1"), ("activation", "snakebeta")] {
            let got = need(key)?.as_str().unwrap_or_default();
            if got != want {
                bail!(
                    "BigVGAN config: `{key}` = {got:?}; only {want:?} (AMPBlock1 with SnakeBeta) is supported"
                );
            }
        }
        if v.get("snake_logscale").and_then(Value::as_bool) == Some(false) {
            bail!("BigVGAN config: `snake_logscale` = false is not supported");
        }
        let dilations = need("resblock_dilation_sizes")?
            .as_array()
            .map(|rows| rows.iter().map(|r| list(r, "resblock_dilation_sizes")).collect::<Result<Vec<_>>>())
            .transpose()?
            .unwrap_or_default();
        let generator = GeneratorConfig {
            upsample_initial_channel: uint("upsample_initial_channel")?,
            upsample_rates: list(need("upsample_rates")?, "upsample_rates")?,
            upsample_kernel_sizes: list(need("upsample_kernel_sizes")?, "upsample_kernel_sizes")?,
            resblock_kernel_sizes: list(need("resblock_kernel_sizes")?, "resblock_kernel_sizes")?,
            resblock_dilation_sizes: dilations,
            // `h.get("use_tanh_at_final", True)`, `h.get("use_bias_at_final", True)`.
            use_tanh_at_final: v.get("use_tanh_at_final").and_then(Value::as_bool).unwrap_or(true),
            use_bias_at_final: v.get("use_bias_at_final").and_then(Value::as_bool).unwrap_or(true),
        };
        Ok(Self {
            generator,
            num_mels: uint("num_mels")?,
            sampling_rate: uint("sampling_rate")? as u32,
            hop_size: uint("hop_size")?,
        })
    }
}

pub struct BigVgan {
    cfg: Config,
    generator: Generator,
}

impl BigVgan {
    /// From `bigvgan_generator.pt`'s `generator` state dict (with or without weight norm). Returns the vocoder
    /// and the stored keys it left unused.
    pub fn load(
        cfg: &Config,
        mut sd: StateDict,
        source: &str,
        device: &Device,
    ) -> Result<(Self, Vec<String>)> {
        fold_weight_norm(&mut sd)?;
        let tracked = TrackedTensors::new(sd, source);
        // Spec §5.10: the vocoder runs in f32.
        let vb = tracked.var_builder(DType::F32, device);
        let generator =
            Generator::with_layout(&cfg.generator, true, Layout::BigVgan { num_mels: cfg.num_mels }, vb)?;
        if generator.config().hop() != cfg.hop_size {
            bail!(
                "BigVGAN: upsampling ×{} does not match hop_size {} ({source})",
                generator.config().hop(),
                cfg.hop_size
            );
        }
        Ok((Self { cfg: cfg.clone(), generator }, tracked.unused()))
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Mel `(B, num_mels, T)` → waveform `(B, 1, hop · T)` in [-1, 1].
    pub fn forward(&self, mel: &Tensor) -> Result<Tensor> {
        self.generator.forward(&mel.to_dtype(DType::F32)?)
    }
}
