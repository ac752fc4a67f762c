//! The Seed-VC model config: the preset YAML (`config_dit_mel_seed_uvit_whisper_small_wavenet.yml`), read into
//! JSON and then into typed sections with the upstream key beside each field.

use candle_core::{Result, bail};
use serde_json::Value;
use yaml_rust2::{Yaml, YamlLoader};

/// The preset's file name in `Plachta/Seed-VC`.
pub const CONFIG_FILE: &str = "config_dit_mel_seed_uvit_whisper_small_wavenet.yml";
/// The DiT + length regulator checkpoint in `Plachta/Seed-VC`.
pub const CHECKPOINT_FILE: &str = "DiT_seed_v2_uvit_whisper_small_wavenet_bigvgan_pruned.pth";

/// A YAML document as JSON (mappings with string keys, numbers, strings, booleans, null).
pub fn yaml_to_json(text: &str) -> Result<Value> {
    let docs = YamlLoader::load_from_str(text).map_err(|e| candle_core::Error::Msg(format!("YAML: {e}")))?;
    let Some(doc) = docs.into_iter().next() else { bail!("YAML: empty document") };
    convert(doc)
}

fn convert(y: Yaml) -> Result<Value> {
    Ok(match y {
        Yaml::Real(s) => {
            let v = s.parse::<f64>().map_err(|_| candle_core::Error::Msg(format!("YAML: bad number {s}")))?;
            serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number)
        }
        Yaml::Integer(i) => Value::from(i),
        Yaml::String(s) => Value::String(s),
        Yaml::Boolean(b) => Value::Bool(b),
        Yaml::Array(items) => Value::Array(items.into_iter().map(convert).collect::<Result<_>>()?),
        Yaml::Hash(map) => {
            let mut out = serde_json::Map::new();
            for (k, v) in map {
                let key = match k {
                    Yaml::String(s) | Yaml::Real(s) => s,
                    Yaml::Integer(i) => i.to_string(),
                    Yaml::Boolean(b) => b.to_string(),
                    other => bail!("YAML: unsupported mapping key {other:?}"),
                };
                out.insert(key, convert(v)?);
            }
            Value::Object(out)
        }
        Yaml::Null => Value::Null,
        Yaml::Alias(_) | Yaml::BadValue => bail!("YAML: aliases are not supported"),
    })
}

/// `preprocess_params`: the 22.05 kHz mel spectrogram (`modules/audio.py::mel_spectrogram`).
#[derive(Debug, Clone, PartialEq)]
pub struct MelConfig {
    /// `sr`
    pub sample_rate: u32,
    /// `spect_params.n_fft`
    pub n_fft: usize,
    /// `spect_params.win_length`
    pub win_length: usize,
    /// `spect_params.hop_length`
    pub hop_length: usize,
    /// `spect_params.n_mels`
    pub n_mels: usize,
    /// `spect_params.fmin`
    pub fmin: f64,
    /// `spect_params.fmax`: `"None"` → Nyquist; `app_vc` turns any other value into 8000.
    pub fmax: Option<f64>,
}

/// `model_params.DiT` (with `style_encoder.dim`).
#[derive(Debug, Clone, PartialEq)]
pub struct DitConfig {
    /// `hidden_dim`
    pub hidden_dim: usize,
    /// `num_heads`
    pub num_heads: usize,
    /// `depth`
    pub depth: usize,
    /// `in_channels`: mel bins.
    pub in_channels: usize,
    /// `content_dim`: the length regulator's output width.
    pub content_dim: usize,
    /// `style_encoder.dim`: the CAMPPlus embedding width.
    pub style_dim: usize,
    /// `uvit_skip_connection`
    pub uvit_skip_connection: bool,
    /// `long_skip_connection`
    pub long_skip_connection: bool,
    /// `zero_prompt_speech_token`
    pub zero_prompt_speech_token: bool,
}

impl DitConfig {
    /// `ModelArgs.intermediate_size`: `find_multiple(int(2 · 4 · dim / 3), 256)`.
    pub fn intermediate_size(&self) -> usize {
        (8 * self.hidden_dim / 3).div_ceil(256) * 256
    }

    pub fn head_dim(&self) -> usize {
        self.hidden_dim / self.num_heads
    }
}

/// `model_params.wavenet`: the DiT's WaveNet head.
#[derive(Debug, Clone, PartialEq)]
pub struct WavenetConfig {
    /// `hidden_dim`
    pub hidden_dim: usize,
    /// `num_layers`
    pub num_layers: usize,
    /// `kernel_size`
    pub kernel_size: usize,
    /// `dilation_rate`: layer `i` has dilation `dilation_rate^i`.
    pub dilation_rate: usize,
}

/// `model_params.length_regulator` (`InterpolateRegulator`, continuous).
#[derive(Debug, Clone, PartialEq)]
pub struct LengthRegulatorConfig {
    /// `channels`
    pub channels: usize,
    /// `in_channels`: the content encoder's width (768 for Whisper-small).
    pub in_channels: usize,
    /// `len(sampling_ratios)`: the number of conv/GroupNorm/Mish blocks.
    pub blocks: usize,
}

/// The whole preset.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub mel: MelConfig,
    pub dit: DitConfig,
    pub wavenet: WavenetConfig,
    pub length_regulator: LengthRegulatorConfig,
    /// `model_params.vocoder.name`
    pub vocoder: String,
    /// `model_params.speech_tokenizer.name`
    pub speech_tokenizer: String,
}

fn get<'a>(v: &'a Value, path: &str) -> Result<&'a Value> {
    let mut cur = v;
    for key in path.split('.') {
        cur = cur
            .get(key)
            .ok_or_else(|| candle_core::Error::Msg(format!("Seed-VC config: `{path}` is missing")))?;
    }
    Ok(cur)
}

fn usize_at(v: &Value, path: &str) -> Result<usize> {
    get(v, path)?
        .as_u64()
        .map(|x| x as usize)
        .ok_or_else(|| candle_core::Error::Msg(format!("Seed-VC config: `{path}` is not a whole number")))
}

fn bool_at(v: &Value, path: &str, default: bool) -> Result<bool> {
    match get(v, path) {
        Ok(x) => x
            .as_bool()
            .ok_or_else(|| candle_core::Error::Msg(format!("Seed-VC config: `{path}` is not true/false"))),
        Err(_) => Ok(default),
    }
}

fn str_at(v: &Value, path: &str) -> Result<String> {
    get(v, path)?
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| candle_core::Error::Msg(format!("Seed-VC config: `{path}` is not text")))
}

impl Config {
    pub fn from_yaml(text: &str) -> Result<Self> {
        Self::from_json(&yaml_to_json(text)?)
    }

    /// From the preset as JSON; refuses the options this port does not implement (they change the network).
    pub fn from_json(v: &Value) -> Result<Self> {
        let spect = "preprocess_params.spect_params";
        let fmax = match get(v, &format!("{spect}.fmax")) {
            Ok(Value::String(s)) if s == "None" => None,
            Err(_) => None,
            Ok(_) => Some(8000.0),
        };
        let mel = MelConfig {
            sample_rate: usize_at(v, "preprocess_params.sr")? as u32,
            n_fft: usize_at(v, &format!("{spect}.n_fft"))?,
            win_length: usize_at(v, &format!("{spect}.win_length"))?,
            hop_length: usize_at(v, &format!("{spect}.hop_length"))?,
            n_mels: usize_at(v, &format!("{spect}.n_mels"))?,
            fmin: get(v, &format!("{spect}.fmin")).ok().and_then(Value::as_f64).unwrap_or(0.0),
            fmax,
        };
        let m = get(v, "model_params")?;
        for (path, want) in [
            ("DiT.final_layer_type", "wavenet"),
            ("speech_tokenizer.type", "whisper"),
            ("vocoder.type", "bigvgan"),
        ] {
            let got = str_at(m, path)?;
            if got != want {
                bail!("Seed-VC config: `model_params.{path}` = {got:?}; only {want:?} is supported");
            }
        }
        for (path, want) in [
            ("DiT.time_as_token", false),
            ("DiT.style_as_token", false),
            ("DiT.is_causal", false),
            ("DiT.style_condition", true),
            ("DiT.f0_condition", false),
            ("length_regulator.is_discrete", false),
            ("length_regulator.vector_quantize", false),
            ("length_regulator.f0_condition", false),
        ] {
            if bool_at(m, path, want)? != want {
                bail!("Seed-VC config: `model_params.{path}` = {}; only {want} is supported", !want);
            }
        }
        let dit = DitConfig {
            hidden_dim: usize_at(m, "DiT.hidden_dim")?,
            num_heads: usize_at(m, "DiT.num_heads")?,
            depth: usize_at(m, "DiT.depth")?,
            in_channels: usize_at(m, "DiT.in_channels")?,
            content_dim: usize_at(m, "DiT.content_dim")?,
            style_dim: usize_at(m, "style_encoder.dim")?,
            uvit_skip_connection: bool_at(m, "DiT.uvit_skip_connection", false)?,
            long_skip_connection: bool_at(m, "DiT.long_skip_connection", false)?,
            zero_prompt_speech_token: bool_at(m, "DiT.zero_prompt_speech_token", false)?,
        };
        if dit.num_heads == 0
            || !dit.hidden_dim.is_multiple_of(dit.num_heads)
            || !dit.head_dim().is_multiple_of(2)
        {
            bail!(
                "Seed-VC config: {} heads do not split hidden_dim {} into even halves",
                dit.num_heads,
                dit.hidden_dim
            );
        }
        if dit.in_channels != mel.n_mels {
            bail!("Seed-VC config: DiT in_channels {} but {} mel bins", dit.in_channels, mel.n_mels);
        }
        let wavenet = WavenetConfig {
            hidden_dim: usize_at(m, "wavenet.hidden_dim")?,
            num_layers: usize_at(m, "wavenet.num_layers")?,
            kernel_size: usize_at(m, "wavenet.kernel_size")?,
            dilation_rate: usize_at(m, "wavenet.dilation_rate")?,
        };
        if wavenet.kernel_size.is_multiple_of(2) || wavenet.num_layers == 0 {
            bail!("Seed-VC config: the WaveNet needs an odd kernel and at least one layer");
        }
        let blocks =
            get(m, "length_regulator.sampling_ratios")?.as_array().map(Vec::len).ok_or_else(|| {
                candle_core::Error::Msg("Seed-VC config: `sampling_ratios` is not a list".into())
            })?;
        if blocks == 0 {
            bail!("Seed-VC config: an empty `sampling_ratios` (no interpolation) is not supported");
        }
        let length_regulator = LengthRegulatorConfig {
            channels: usize_at(m, "length_regulator.channels")?,
            in_channels: usize_at(m, "length_regulator.in_channels")?,
            blocks,
        };
        if length_regulator.channels != dit.content_dim {
            bail!(
                "Seed-VC config: the length regulator gives {} channels, the DiT takes {}",
                length_regulator.channels,
                dit.content_dim
            );
        }
        Ok(Self {
            mel,
            dit,
            wavenet,
            length_regulator,
            vocoder: str_at(m, "vocoder.name")?,
            speech_tokenizer: str_at(m, "speech_tokenizer.name")?,
        })
    }

    /// The preset as Scenema runs it (spec §5.2).
    pub fn whisper_small_wavenet() -> Self {
        Self {
            mel: MelConfig {
                sample_rate: 22050,
                n_fft: 1024,
                win_length: 1024,
                hop_length: 256,
                n_mels: 80,
                fmin: 0.0,
                fmax: None,
            },
            dit: DitConfig {
                hidden_dim: 512,
                num_heads: 8,
                depth: 13,
                in_channels: 80,
                content_dim: 512,
                style_dim: 192,
                uvit_skip_connection: true,
                long_skip_connection: true,
                zero_prompt_speech_token: false,
            },
            wavenet: WavenetConfig { hidden_dim: 512, num_layers: 8, kernel_size: 5, dilation_rate: 1 },
            length_regulator: LengthRegulatorConfig { channels: 512, in_channels: 768, blocks: 4 },
            vocoder: "nvidia/bigvgan_v2_22khz_80band_256x".into(),
            speech_tokenizer: "openai/whisper-small".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_preset_yaml_parses() {
        // The values of Plachtaa/seed-vc@d334fb7 configs/presets/config_dit_mel_seed_uvit_whisper_small_wavenet.yml
        // that the port reads, in its layout.
        let yaml = r#"
pretrained_model: "DiT_seed_v2_uvit_whisper_small_wavenet_bigvgan_pruned.pth"
preprocess_params:
  sr: 22050
  spect_params:
    n_fft: 1024
    win_length: 1024
    hop_length: 256
    n_mels: 80
    fmin: 0
    fmax: "None"
model_params:
  dit_type: "DiT" # uDiT or DiT
  speech_tokenizer:
    type: 'whisper'
    name: "openai/whisper-small"
  style_encoder:
    dim: 192
  vocoder:
    type: "bigvgan"
    name: "nvidia/bigvgan_v2_22khz_80band_256x"
  length_regulator:
    channels: 512
    is_discrete: false
    in_channels: 768
    sampling_ratios: [1, 1, 1, 1]
    vector_quantize: false
    f0_condition: false
  DiT:
    hidden_dim: 512
    num_heads: 8
    depth: 13
    block_size: 8192
    in_channels: 80
    style_condition: true
    final_layer_type: 'wavenet'
    content_dim: 512
    f0_condition: false
    is_causal: false
    long_skip_connection: true
    zero_prompt_speech_token: false # for prompt component
    time_as_token: false
    style_as_token: false
    uvit_skip_connection: true
  wavenet:
    hidden_dim: 512
    num_layers: 8
    kernel_size: 5
    dilation_rate: 1
    p_dropout: 0.2
"#;
        let cfg = Config::from_yaml(yaml).unwrap();
        assert_eq!(cfg, Config::whisper_small_wavenet());
        assert_eq!(cfg.dit.intermediate_size(), 1536);
        let bad = yaml.replace("final_layer_type: 'wavenet'", "final_layer_type: 'mlp'");
        let err = Config::from_yaml(&bad).unwrap_err().to_string();
        assert!(err.contains("final_layer_type") && err.contains("mlp"), "{err}");
        let fmax = yaml.replace(r#"fmax: "None""#, "fmax: 11025");
        assert_eq!(Config::from_yaml(&fmax).unwrap().mel.fmax, Some(8000.0));
    }
}
