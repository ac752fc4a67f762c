//! Gemma 3 text configuration, read from a hub `config.json` with the upstream field names.
//!
//! Reference: HF transformers `models/gemma3/configuration_gemma3.py` (`Gemma3TextConfig`, `Gemma3Config`).
//! A hub `config.json` only lists the fields that differ from the class defaults (google/gemma-3-12b-it sets
//! hidden/intermediate sizes, layer and head counts, `rope_scaling` and `sliding_window`), so every default
//! below is the upstream class default. Both RoPE spellings are read: the 4.x one that the released files use
//! (`rope_theta`, `rope_local_base_freq`, `rope_scaling`) and the 5.x `rope_parameters` per layer type.

use candle_core::{Result, bail};

/// What a decoder layer attends to (`layer_types` entries upstream).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub enum LayerType {
    /// Local layer: causal, keys at most `sliding_window - 1` positions back, local RoPE base.
    #[serde(rename = "sliding_attention")]
    Sliding,
    /// Global layer: causal over everything, global RoPE base with linear scaling.
    #[serde(rename = "full_attention")]
    Full,
}

/// `rope_scaling` (4.x) or one entry of `rope_parameters` (5.x).
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct RopeScaling {
    /// `rope_type` (older files: `type`); `default` or `linear` are supported.
    #[serde(alias = "type", default = "default_rope_type")]
    pub rope_type: String,
    #[serde(default)]
    pub factor: Option<f64>,
    /// Only in the 5.x `rope_parameters` form.
    #[serde(default)]
    pub rope_theta: Option<f64>,
}

fn default_rope_type() -> String {
    "default".to_string()
}

/// 5.x `rope_parameters`: one RoPE setting per layer type.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct RopeParameters {
    pub full_attention: Option<RopeScaling>,
    pub sliding_attention: Option<RopeScaling>,
}

/// `Gemma3TextConfig`.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct Config {
    #[serde(default = "d_vocab_size")]
    pub vocab_size: usize,
    #[serde(default = "d_hidden_size")]
    pub hidden_size: usize,
    #[serde(default = "d_intermediate_size")]
    pub intermediate_size: usize,
    #[serde(default = "d_num_hidden_layers")]
    pub num_hidden_layers: usize,
    #[serde(default = "d_num_attention_heads")]
    pub num_attention_heads: usize,
    #[serde(default = "d_num_key_value_heads")]
    pub num_key_value_heads: usize,
    #[serde(default = "d_head_dim")]
    pub head_dim: usize,
    #[serde(default = "d_hidden_activation")]
    pub hidden_activation: String,
    #[serde(default = "d_rms_norm_eps")]
    pub rms_norm_eps: f64,
    /// Global RoPE base.
    #[serde(default = "d_rope_theta")]
    pub rope_theta: f64,
    /// Local (sliding-window) RoPE base.
    #[serde(default = "d_rope_local_base_freq")]
    pub rope_local_base_freq: f64,
    /// Scaling of the global RoPE (google/gemma-3-12b-it: linear, factor 8).
    #[serde(default)]
    pub rope_scaling: Option<RopeScaling>,
    #[serde(default)]
    pub rope_parameters: Option<RopeParameters>,
    /// Scores are scaled by `query_pre_attn_scalar^-0.5` (not `head_dim^-0.5`).
    #[serde(default = "d_query_pre_attn_scalar")]
    pub query_pre_attn_scalar: f64,
    #[serde(default = "d_sliding_window")]
    pub sliding_window: Option<usize>,
    /// Every `sliding_window_pattern`-th layer is global (used when `layer_types` is absent).
    #[serde(default = "d_sliding_window_pattern")]
    pub sliding_window_pattern: usize,
    #[serde(default)]
    pub layer_types: Option<Vec<LayerType>>,
    #[serde(default)]
    pub attention_bias: bool,
    #[serde(default)]
    pub attn_logit_softcapping: Option<f64>,
    #[serde(default)]
    pub use_bidirectional_attention: Option<bool>,
    #[serde(default = "d_pad_token_id")]
    pub pad_token_id: Option<u32>,
    #[serde(default = "d_bos_token_id")]
    pub bos_token_id: Option<u32>,
}

fn d_vocab_size() -> usize {
    262_208
}
fn d_hidden_size() -> usize {
    2304
}
fn d_intermediate_size() -> usize {
    9216
}
fn d_num_hidden_layers() -> usize {
    26
}
fn d_num_attention_heads() -> usize {
    8
}
fn d_num_key_value_heads() -> usize {
    4
}
fn d_head_dim() -> usize {
    256
}
fn d_hidden_activation() -> String {
    "gelu_pytorch_tanh".to_string()
}
fn d_rms_norm_eps() -> f64 {
    1e-6
}
fn d_rope_theta() -> f64 {
    1_000_000.0
}
fn d_rope_local_base_freq() -> f64 {
    10_000.0
}
fn d_query_pre_attn_scalar() -> f64 {
    256.0
}
fn d_sliding_window() -> Option<usize> {
    Some(4096)
}
fn d_sliding_window_pattern() -> usize {
    6
}
fn d_pad_token_id() -> Option<u32> {
    Some(0)
}
fn d_bos_token_id() -> Option<u32> {
    Some(2)
}

/// The RoPE of one layer type, resolved.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rope {
    pub theta: f64,
    /// Linear scaling: the inverse frequencies are divided by this (1 = none).
    pub linear_factor: f64,
}

impl Config {
    /// The text config of a hub `config.json`: `text_config` of a multimodal `Gemma3Config`, or the whole
    /// object for a text-only `Gemma3TextConfig` (e.g. gemma-3-1b).
    pub fn from_hub_json(value: &serde_json::Value) -> Result<Self> {
        let text = value.get("text_config").unwrap_or(value);
        let cfg: Config = serde_json::from_value(text.clone())
            .map_err(|e| candle_core::Error::Msg(format!("gemma config: {e}")))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// google/gemma-3-12b-it (`text_config` of its `config.json` filled with the class defaults).
    pub fn gemma3_12b() -> Self {
        Self {
            vocab_size: 262_208,
            hidden_size: 3840,
            intermediate_size: 15_360,
            num_hidden_layers: 48,
            num_attention_heads: 16,
            num_key_value_heads: 8,
            head_dim: 256,
            hidden_activation: d_hidden_activation(),
            rms_norm_eps: 1e-6,
            rope_theta: 1_000_000.0,
            rope_local_base_freq: 10_000.0,
            rope_scaling: Some(RopeScaling {
                rope_type: "linear".to_string(),
                factor: Some(8.0),
                rope_theta: None,
            }),
            rope_parameters: None,
            query_pre_attn_scalar: 256.0,
            sliding_window: Some(1024),
            sliding_window_pattern: 6,
            layer_types: None,
            attention_bias: false,
            attn_logit_softcapping: None,
            use_bidirectional_attention: None,
            pad_token_id: Some(0),
            bos_token_id: Some(2),
        }
    }

    pub fn validate(&self) -> Result<()> {
        if !matches!(self.hidden_activation.as_str(), "gelu_pytorch_tanh" | "gelu_tanh") {
            bail!("gemma config: hidden_activation `{}` is not supported", self.hidden_activation)
        }
        if self.use_bidirectional_attention == Some(true) {
            bail!("gemma config: use_bidirectional_attention is not supported (the text encoder is causal)")
        }
        if self.num_key_value_heads == 0 || !self.num_attention_heads.is_multiple_of(self.num_key_value_heads)
        {
            bail!(
                "gemma config: {} attention heads are not a multiple of {} key/value heads",
                self.num_attention_heads,
                self.num_key_value_heads
            )
        }
        if !self.head_dim.is_multiple_of(2) {
            bail!("gemma config: head_dim {} is odd", self.head_dim)
        }
        if let Some(types) = &self.layer_types
            && types.len() != self.num_hidden_layers
        {
            bail!("gemma config: {} layer_types for {} layers", types.len(), self.num_hidden_layers)
        }
        if self.sliding_window_pattern == 0 {
            bail!("gemma config: sliding_window_pattern is 0")
        }
        for layer_type in [LayerType::Sliding, LayerType::Full] {
            self.rope(layer_type)?;
        }
        Ok(())
    }

    /// One entry per layer: `layer_types`, else every `sliding_window_pattern`-th layer is global.
    pub fn layer_types(&self) -> Vec<LayerType> {
        match &self.layer_types {
            Some(types) => types.clone(),
            None => (0..self.num_hidden_layers)
                .map(|i| {
                    if (i + 1).is_multiple_of(self.sliding_window_pattern) {
                        LayerType::Full
                    } else {
                        LayerType::Sliding
                    }
                })
                .collect(),
        }
    }

    /// RoPE base and linear factor of a layer type. Global layers use `rope_theta` and `rope_scaling`, local
    /// layers `rope_local_base_freq` unscaled; a 5.x `rope_parameters` entry takes precedence.
    pub fn rope(&self, layer_type: LayerType) -> Result<Rope> {
        let (theta, scaling) = match layer_type {
            LayerType::Full => (self.rope_theta, self.rope_scaling.as_ref()),
            LayerType::Sliding => (self.rope_local_base_freq, None),
        };
        let from_parameters = self.rope_parameters.as_ref().and_then(|p| match layer_type {
            LayerType::Full => p.full_attention.as_ref(),
            LayerType::Sliding => p.sliding_attention.as_ref(),
        });
        let (theta, scaling) = match from_parameters {
            Some(p) => (p.rope_theta.unwrap_or(theta), Some(p)),
            None => (theta, scaling),
        };
        let linear_factor = match scaling {
            None => 1.0,
            Some(s) if s.rope_type == "default" => 1.0,
            Some(s) if s.rope_type == "linear" => match s.factor {
                Some(f) if f > 0.0 => f,
                other => bail!("gemma config: linear RoPE scaling needs a positive factor, got {other:?}"),
            },
            Some(s) => bail!("gemma config: RoPE type `{}` is not supported", s.rope_type),
        };
        Ok(Rope { theta, linear_factor })
    }

    /// The window of a layer type (`None`: unlimited).
    pub fn window(&self, layer_type: LayerType) -> Option<usize> {
        match layer_type {
            LayerType::Sliding => self.sliding_window,
            LayerType::Full => None,
        }
    }

    /// Number of hidden states the encoder returns: the embeddings plus one per layer.
    pub fn num_hidden_states(&self) -> usize {
        self.num_hidden_layers + 1
    }

    /// Parameters in the decoder layers' linear maps (the part the quantised modes shrink).
    pub fn linear_params(&self) -> u64 {
        let (h, i) = (self.hidden_size as u64, self.intermediate_size as u64);
        let q = (self.num_attention_heads * self.head_dim) as u64;
        let kv = (self.num_key_value_heads * self.head_dim) as u64;
        let per_layer = h * q + 2 * h * kv + q * h + 3 * h * i;
        per_layer * self.num_hidden_layers as u64
    }

    /// Parameters of the token embedding table.
    pub fn embedding_params(&self) -> u64 {
        self.vocab_size as u64 * self.hidden_size as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `text_config` block of google/gemma-3-12b-it's `config.json` (transformers 4.50 release).
    const HUB_12B: &str = r#"{
        "architectures": ["Gemma3ForConditionalGeneration"],
        "model_type": "gemma3",
        "text_config": {
            "hidden_size": 3840, "intermediate_size": 15360, "model_type": "gemma3_text",
            "num_attention_heads": 16, "num_hidden_layers": 48, "num_key_value_heads": 8,
            "rope_scaling": {"factor": 8.0, "rope_type": "linear"}, "sliding_window": 1024
        },
        "vision_config": {"hidden_size": 1152, "model_type": "siglip_vision_model"}
    }"#;

    #[test]
    fn hub_config_fills_upstream_defaults() {
        let cfg = Config::from_hub_json(&serde_json::from_str(HUB_12B).unwrap()).unwrap();
        assert_eq!(cfg, Config::gemma3_12b());
        let types = cfg.layer_types();
        let globals: Vec<usize> = (0..48).filter(|&i| types[i] == LayerType::Full).collect();
        assert_eq!(globals, vec![5, 11, 17, 23, 29, 35, 41, 47]);
        assert_eq!(cfg.rope(LayerType::Full).unwrap(), Rope { theta: 1e6, linear_factor: 8.0 });
        assert_eq!(cfg.rope(LayerType::Sliding).unwrap(), Rope { theta: 1e4, linear_factor: 1.0 });
        assert_eq!(cfg.num_hidden_states(), 49);
        // 11.77 B parameters in total (embedding 1.007 B + linears 10.76 B + norms).
        assert_eq!(cfg.embedding_params(), 1_006_878_720);
        assert_eq!(cfg.linear_params(), 10_758_389_760);
    }

    #[test]
    fn rope_parameters_of_transformers_5_take_precedence() {
        let json = r#"{"num_hidden_layers": 2, "layer_types": ["full_attention", "sliding_attention"],
            "rope_parameters": {
                "full_attention": {"rope_type": "linear", "factor": 4.0, "rope_theta": 5000.0},
                "sliding_attention": {"rope_type": "default", "rope_theta": 50.0}}}"#;
        let cfg = Config::from_hub_json(&serde_json::from_str(json).unwrap()).unwrap();
        assert_eq!(cfg.layer_types(), vec![LayerType::Full, LayerType::Sliding]);
        assert_eq!(cfg.rope(LayerType::Full).unwrap(), Rope { theta: 5000.0, linear_factor: 4.0 });
        assert_eq!(cfg.rope(LayerType::Sliding).unwrap(), Rope { theta: 50.0, linear_factor: 1.0 });
    }

    #[test]
    fn unsupported_settings_are_named() {
        let bad =
            |json: &str| Config::from_hub_json(&serde_json::from_str(json).unwrap()).unwrap_err().to_string();
        assert!(bad(r#"{"rope_scaling": {"rope_type": "yarn", "factor": 2.0}}"#).contains("yarn"));
        assert!(bad(r#"{"hidden_activation": "relu"}"#).contains("relu"));
        assert!(
            bad(r#"{"num_hidden_layers": 3, "layer_types": ["full_attention"]}"#).contains("layer_types")
        );
        assert!(bad(r#"{"num_attention_heads": 3, "num_key_value_heads": 2}"#).contains("key/value"));
    }
}
