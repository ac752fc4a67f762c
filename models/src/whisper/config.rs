//! The two JSON files of a Whisper repository that shape the model: `config.json` (HF `WhisperConfig`) and
//! `preprocessor_config.json` (HF `WhisperFeatureExtractor`). Field names are the upstream ones.

use candle_core::{Result, bail};

/// HF `WhisperConfig`, the fields the encoder and decoder read. Unknown fields are ignored.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
pub struct Config {
    /// `vocab_size`: rows of `embed_tokens` (and of the tied output projection).
    pub vocab_size: usize,
    /// `num_mel_bins`: input channels of `conv1`.
    pub num_mel_bins: usize,
    /// `d_model`.
    pub d_model: usize,
    /// `encoder_layers`.
    pub encoder_layers: usize,
    /// `encoder_attention_heads`.
    pub encoder_attention_heads: usize,
    /// `encoder_ffn_dim`.
    pub encoder_ffn_dim: usize,
    /// `decoder_layers`.
    pub decoder_layers: usize,
    /// `decoder_attention_heads`.
    pub decoder_attention_heads: usize,
    /// `decoder_ffn_dim`.
    pub decoder_ffn_dim: usize,
    /// `max_source_positions`: encoder frames after the stride-2 conv (1500 for 30 s).
    pub max_source_positions: usize,
    /// `max_target_positions`: decoder positions, prompt included (448).
    pub max_target_positions: usize,
    /// `activation_function` of the feed-forwards (only `gelu`, the exact erf form, exists in the released
    /// checkpoints).
    #[serde(default = "default_activation")]
    pub activation_function: String,
    /// `decoder_start_token_id`: `<|startoftranscript|>`.
    #[serde(default = "default_decoder_start")]
    pub decoder_start_token_id: u32,
    /// `eos_token_id`: `<|endoftext|>`.
    #[serde(default = "default_eos")]
    pub eos_token_id: u32,
}

fn default_activation() -> String {
    "gelu".into()
}

fn default_decoder_start() -> u32 {
    50258
}

fn default_eos() -> u32 {
    50257
}

impl Config {
    /// `openai/whisper-small` (244 M parameters).
    pub fn whisper_small() -> Self {
        Self {
            vocab_size: 51865,
            num_mel_bins: 80,
            d_model: 768,
            encoder_layers: 12,
            encoder_attention_heads: 12,
            encoder_ffn_dim: 3072,
            decoder_layers: 12,
            decoder_attention_heads: 12,
            decoder_ffn_dim: 3072,
            max_source_positions: 1500,
            max_target_positions: 448,
            activation_function: default_activation(),
            decoder_start_token_id: default_decoder_start(),
            eos_token_id: default_eos(),
        }
    }

    /// Parse a hub `config.json` and check that this port can run it.
    pub fn from_json(value: &serde_json::Value) -> Result<Self> {
        let cfg: Self = serde_json::from_value(value.clone())
            .map_err(|e| candle_core::Error::Msg(format!("whisper config.json: {e}")))?;
        cfg.check()?;
        Ok(cfg)
    }

    pub fn check(&self) -> Result<()> {
        if self.activation_function != "gelu" {
            bail!(
                "whisper config: activation_function {:?} is not supported (only \"gelu\")",
                self.activation_function
            );
        }
        for (name, dim, heads) in [
            ("encoder", self.d_model, self.encoder_attention_heads),
            ("decoder", self.d_model, self.decoder_attention_heads),
        ] {
            if heads == 0 || dim % heads != 0 {
                bail!("whisper config: d_model {dim} is not a multiple of {name}_attention_heads {heads}");
            }
        }
        if self.max_source_positions == 0 || self.max_target_positions == 0 {
            bail!("whisper config: max_source_positions and max_target_positions must be positive");
        }
        Ok(())
    }

    /// Log-mel frames the encoder takes for one window (two per output position: `conv2` has stride 2).
    pub fn n_frames(&self) -> usize {
        2 * self.max_source_positions
    }
}

/// HF `WhisperFeatureExtractor` settings (`preprocessor_config.json`). The filterbank always spans 0–8 kHz
/// (Slaney scale and norm), as the extractor builds it.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
pub struct PreprocessorConfig {
    /// `feature_size`: mel bands.
    #[serde(default = "default_feature_size")]
    pub feature_size: usize,
    /// `sampling_rate`.
    #[serde(default = "default_sampling_rate")]
    pub sampling_rate: u32,
    /// `hop_length`.
    #[serde(default = "default_hop_length")]
    pub hop_length: usize,
    /// `chunk_length`: the window in seconds every input is padded or cut to.
    #[serde(default = "default_chunk_length")]
    pub chunk_length: usize,
    /// `n_fft`.
    #[serde(default = "default_n_fft")]
    pub n_fft: usize,
}

fn default_feature_size() -> usize {
    80
}
fn default_sampling_rate() -> u32 {
    16_000
}
fn default_hop_length() -> usize {
    160
}
fn default_chunk_length() -> usize {
    30
}
fn default_n_fft() -> usize {
    400
}

impl Default for PreprocessorConfig {
    fn default() -> Self {
        Self {
            feature_size: default_feature_size(),
            sampling_rate: default_sampling_rate(),
            hop_length: default_hop_length(),
            chunk_length: default_chunk_length(),
            n_fft: default_n_fft(),
        }
    }
}

impl PreprocessorConfig {
    /// Parse a hub `preprocessor_config.json` (its `mel_filters` table, where present, is ignored: the
    /// filterbank is rebuilt the same way).
    pub fn from_json(value: &serde_json::Value) -> Result<Self> {
        let cfg: Self = serde_json::from_value(value.clone())
            .map_err(|e| candle_core::Error::Msg(format!("whisper preprocessor_config.json: {e}")))?;
        if cfg.n_fft == 0 || cfg.hop_length == 0 || cfg.feature_size == 0 || cfg.chunk_length == 0 {
            bail!(
                "whisper preprocessor config: n_fft, hop_length, feature_size and chunk_length must be positive"
            );
        }
        Ok(cfg)
    }

    /// `n_samples`: samples in one window (480 000).
    pub fn n_samples(&self) -> usize {
        self.chunk_length * self.sampling_rate as usize
    }

    /// `nb_max_frames`: log-mel frames in one window (3000).
    pub fn nb_max_frames(&self) -> usize {
        self.n_samples() / self.hop_length
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hub_config_parses_and_unknown_fields_are_ignored() {
        let json = serde_json::json!({
            "vocab_size": 51865, "num_mel_bins": 80, "d_model": 768, "encoder_layers": 12,
            "encoder_attention_heads": 12, "encoder_ffn_dim": 3072, "decoder_layers": 12,
            "decoder_attention_heads": 12, "decoder_ffn_dim": 3072, "max_source_positions": 1500,
            "max_target_positions": 448, "activation_function": "gelu", "scale_embedding": false,
            "decoder_start_token_id": 50258, "eos_token_id": 50257, "suppress_tokens": [1, 2]
        });
        assert_eq!(Config::from_json(&json).unwrap(), Config::whisper_small());
        let mut bad = json.clone();
        bad["activation_function"] = "relu".into();
        assert!(Config::from_json(&bad).unwrap_err().to_string().contains("relu"));
        let mut bad = json;
        bad["encoder_attention_heads"] = 7.into();
        assert!(Config::from_json(&bad).unwrap_err().to_string().contains("encoder_attention_heads"));
    }

    #[test]
    fn preprocessor_defaults_are_whisper_s() {
        let cfg =
            PreprocessorConfig::from_json(&serde_json::json!({"chunk_length": 30, "mel_filters": [[0.0]]}))
                .unwrap();
        assert_eq!(cfg, PreprocessorConfig::default());
        assert_eq!((cfg.n_samples(), cfg.nb_max_frames()), (480_000, 3000));
        assert_eq!(Config::whisper_small().n_frames(), 3000);
    }
}
