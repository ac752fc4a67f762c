//! Typed configs read from the checkpoint's `config` metadata (ltx-audio-spec §1.2).
//!
//! Reference: `ltx_core/model/transformer/model_configurator.py` (`LTXModelConfigurator.from_config`) and
//! `ltx_core/text_encoders/gemma/embeddings_connector.py` (`AudioEmbeddings1DConnectorConfigurator`). Fields
//! carry the upstream key names; a key that is absent takes ltx-core 1.0.0's default, listed in the config's
//! `defaulted` (the load report), and a value this port does not implement, given or defaulted, is an error
//! naming `config.transformer.<key>`.

use std::cell::RefCell;

use candle_core::{Error, Result};
use serde_json::{Map, Value};

/// How the RoPE rotation pairs the features of a head (`rope_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RopeType {
    /// First half rotated against the second half; what LTX-2.3 uses.
    Split,
}

/// The audio half of `config["transformer"]`: everything the audio-only forward reads.
#[derive(Debug, Clone, PartialEq)]
pub struct TransformerConfig {
    pub num_layers: usize,
    pub audio_num_attention_heads: usize,
    pub audio_attention_head_dim: usize,
    pub audio_in_channels: usize,
    pub audio_out_channels: usize,
    /// K/V input width of `audio_attn2`, i.e. the text context width.
    pub audio_cross_attention_dim: usize,
    /// RoPE max position in seconds (`audio_positional_embedding_max_pos[0]`).
    pub audio_positional_embedding_max_pos: f32,
    pub positional_embedding_theta: f64,
    pub timestep_scale_multiplier: f32,
    pub norm_eps: f64,
    pub rope_type: RopeType,
    pub apply_gated_attention: bool,
    /// Keys absent from the checkpoint's config that took ltx-core 1.0.0's default, as `key = value`.
    pub defaulted: Vec<String>,
}

impl TransformerConfig {
    /// `D_a`, the audio hidden width.
    pub fn audio_inner_dim(&self) -> usize {
        self.audio_num_attention_heads * self.audio_attention_head_dim
    }

    /// Parse `root["transformer"]` (`root` is the whole `config` metadata object).
    pub fn from_json(root: &Value) -> Result<Self> {
        let s = Section::transformer(root)?;
        s.check_constants()?;
        // Only the cross-attention-adaLN block (9 modulation rows, prompt adaLN) is implemented.
        s.expect_bool("cross_attention_adaln", false, true)?;
        // The text projection must live in the feature extractor (FeatureExtractorV2), not the transformer.
        s.expect_bool("caption_proj_before_connector", false, true)?;
        let mut cfg = Self {
            num_layers: s.usize("num_layers", Some(48))?,
            audio_num_attention_heads: s.usize("audio_num_attention_heads", Some(32))?,
            audio_attention_head_dim: s.usize("audio_attention_head_dim", Some(64))?,
            audio_in_channels: s.usize("audio_in_channels", Some(128))?,
            audio_out_channels: s.usize("audio_out_channels", Some(128))?,
            audio_cross_attention_dim: s.usize("audio_cross_attention_dim", Some(2048))?,
            audio_positional_embedding_max_pos: s
                .single_max_pos("audio_positional_embedding_max_pos", 20.0)?,
            positional_embedding_theta: s.f64("positional_embedding_theta", Some(10000.0))?,
            timestep_scale_multiplier: s.f64("timestep_scale_multiplier", Some(1000.0))? as f32,
            norm_eps: s.f64("norm_eps", Some(1e-6))?,
            rope_type: s.rope_type()?,
            apply_gated_attention: s.bool("apply_gated_attention", Some(false))?,
            defaulted: Vec::new(),
        };
        s.frequencies_precision()?;
        cfg.defaulted = s.defaulted();
        if !cfg.audio_attention_head_dim.is_multiple_of(2) {
            return Err(s.err("audio_attention_head_dim", "must be even for RoPE"));
        }
        if cfg.audio_cross_attention_dim != cfg.audio_inner_dim() {
            // Upstream `_prepare_context` views the context as (B, -1, D_a); other widths are reshaped
            // into garbage rather than rejected, so refuse them here.
            return Err(s.err(
                "audio_cross_attention_dim",
                &format!("must equal audio heads x head dim ({})", cfg.audio_inner_dim()),
            ));
        }
        Ok(cfg)
    }
}

/// The audio embeddings connector, also read from `config["transformer"]`.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectorConfig {
    /// `audio_connector_num_attention_heads`, falling back to `connector_num_attention_heads`.
    pub num_attention_heads: usize,
    /// `audio_connector_attention_head_dim`, falling back to `connector_attention_head_dim`.
    pub attention_head_dim: usize,
    /// `audio_connector_num_layers`, falling back to `connector_num_layers`.
    pub num_layers: usize,
    /// `connector_positional_embedding_max_pos[0]` (token index units, no midpoint).
    pub positional_embedding_max_pos: f32,
    /// `connector_apply_gated_attention`.
    pub apply_gated_attention: bool,
    pub rope_type: RopeType,
    /// Constructor default; upstream does not read `connector_num_learnable_registers`.
    pub num_learnable_registers: usize,
    /// Constructor default; the connector does not read `positional_embedding_theta`.
    pub positional_embedding_theta: f64,
    /// Keys absent from the checkpoint's config that took ltx-core 1.0.0's default, as `key = value`.
    pub defaulted: Vec<String>,
}

impl ConnectorConfig {
    pub fn inner_dim(&self) -> usize {
        self.num_attention_heads * self.attention_head_dim
    }

    pub fn from_json(root: &Value) -> Result<Self> {
        let s = Section::transformer(root)?;
        // FeatureExtractorV2 is selected by exactly these four keys (`_create_feature_extractor`).
        s.expect_bool("caption_proj_before_connector", false, true)?;
        s.expect_bool("caption_projection_first_linear", false, false)?;
        s.expect_bool("caption_projection_second_linear", false, false)?;
        s.expect_bool("caption_proj_input_norm", false, false)?;
        let heads = s.usize_or("audio_connector_num_attention_heads", "connector_num_attention_heads", 30)?;
        let head_dim =
            s.usize_or("audio_connector_attention_head_dim", "connector_attention_head_dim", 128)?;
        let mut cfg = Self {
            num_attention_heads: heads,
            attention_head_dim: head_dim,
            num_layers: s.usize_or("audio_connector_num_layers", "connector_num_layers", 2)?,
            positional_embedding_max_pos: s.single_max_pos("connector_positional_embedding_max_pos", 1.0)?,
            apply_gated_attention: s.bool("connector_apply_gated_attention", Some(false))?,
            rope_type: s.rope_type()?,
            num_learnable_registers: 128,
            positional_embedding_theta: 10000.0,
            defaulted: Vec::new(),
        };
        s.frequencies_precision()?;
        cfg.defaulted = s.defaulted();
        if !head_dim.is_multiple_of(2) {
            return Err(s.err("audio_connector_attention_head_dim", "must be even for RoPE"));
        }
        Ok(cfg)
    }
}

/// One JSON object of the config, with errors that name `config.<section>.<key>`, recording which absent
/// keys took their default.
struct Section<'a> {
    name: &'static str,
    map: &'a Map<String, Value>,
    defaulted: RefCell<Vec<String>>,
}

impl<'a> Section<'a> {
    fn transformer(root: &'a Value) -> Result<Self> {
        let map = root
            .get("transformer")
            .and_then(Value::as_object)
            .ok_or_else(|| Error::Msg("config has no `transformer` object".into()))?;
        Ok(Self { name: "transformer", map, defaulted: RefCell::new(Vec::new()) })
    }

    /// The absent keys read so far that took their default, sorted, each once.
    fn defaulted(&self) -> Vec<String> {
        let mut keys = self.defaulted.borrow().clone();
        keys.sort();
        keys.dedup();
        keys
    }

    fn note_default(&self, key: &str, value: impl std::fmt::Display) {
        self.defaulted.borrow_mut().push(format!("{key} = {value}"));
    }

    fn err(&self, key: &str, what: &str) -> Error {
        Error::Msg(format!("config.{}.{key}: {what}", self.name))
    }

    fn found(&self, key: &str, expected: &str, v: &Value) -> Error {
        self.err(key, &format!("expected {expected}, found {v}"))
    }

    fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    fn missing(&self, key: &str) -> Error {
        self.err(key, "missing")
    }

    fn usize(&self, key: &str, default: Option<usize>) -> Result<usize> {
        match self.get(key) {
            None => {
                let value = default.ok_or_else(|| self.missing(key))?;
                self.note_default(key, value);
                Ok(value)
            }
            Some(v) => match v.as_u64() {
                Some(n) if n > 0 => Ok(n as usize),
                _ => Err(self.found(key, "a positive integer", v)),
            },
        }
    }

    /// `key`, else `fallback`, else `default` (the audio connector keys fall back to the video ones).
    fn usize_or(&self, key: &str, fallback: &str, default: usize) -> Result<usize> {
        if self.get(key).is_some() { self.usize(key, None) } else { self.usize(fallback, Some(default)) }
    }

    fn f64(&self, key: &str, default: Option<f64>) -> Result<f64> {
        match self.get(key) {
            None => {
                let value = default.ok_or_else(|| self.missing(key))?;
                self.note_default(key, value);
                Ok(value)
            }
            Some(v) => match v.as_f64() {
                Some(x) if x.is_finite() && x > 0.0 => Ok(x),
                _ => Err(self.found(key, "a positive number", v)),
            },
        }
    }

    fn bool(&self, key: &str, default: Option<bool>) -> Result<bool> {
        match self.get(key) {
            None => {
                let value = default.ok_or_else(|| self.missing(key))?;
                self.note_default(key, value);
                Ok(value)
            }
            Some(v) => v.as_bool().ok_or_else(|| self.found(key, "true or false", v)),
        }
    }

    /// Error unless `key` (ltx-core's `default` when absent) equals `want`.
    fn expect_bool(&self, key: &str, default: bool, want: bool) -> Result<()> {
        if self.get(key).is_none() && default != want {
            return Err(self.err(
                key,
                &format!(
                    "missing (ltx-core 1.0.0 would default to {default}, which is not supported; only {want})"
                ),
            ));
        }
        let value = self.bool(key, Some(default))?;
        if value != want {
            return Err(self.err(key, &format!("{value} is not supported (only {want})")));
        }
        Ok(())
    }

    /// A one-element max-position list (audio time only, or connector token index).
    fn single_max_pos(&self, key: &str, default: f32) -> Result<f32> {
        let Some(v) = self.get(key) else {
            self.note_default(key, format!("[{default}]"));
            return Ok(default);
        };
        match v.as_array().map(|a| a.as_slice()) {
            Some([x]) => match x.as_f64() {
                Some(x) if x.is_finite() && x > 0.0 => Ok(x as f32),
                _ => Err(self.found(key, "a one-element list of a positive number", v)),
            },
            _ => Err(self.found(key, "a one-element list", v)),
        }
    }

    fn rope_type(&self) -> Result<RopeType> {
        // Upstream's default is "interleaved"; LTX-2.3 sets "split" (spec §9.4).
        match self.get("rope_type").and_then(Value::as_str) {
            Some("split") => Ok(RopeType::Split),
            Some(other) => Err(self.err("rope_type", &format!("`{other}` is not supported (only `split`)"))),
            None => Err(self.err(
                "rope_type",
                "missing (ltx-core 1.0.0 would default to `interleaved`, which is not supported; LTX-2.3 uses `split`)",
            )),
        }
    }

    /// Only the float64 frequency grid (`generate_freq_grid_np`) is implemented.
    fn frequencies_precision(&self) -> Result<()> {
        match self.get("frequencies_precision") {
            Some(Value::String(s)) if s == "float64" => Ok(()),
            Some(v) => Err(self.err("frequencies_precision", &format!("{v} is not supported (only \"float64\")"))),
            None => Err(self.err(
                "frequencies_precision",
                "missing (ltx-core 1.0.0 would use the float32 grid, which is not supported; LTX-2.3 uses \"float64\")",
            )),
        }
    }

    /// The values `LTXModelConfigurator.from_config` insists on; a different value means a model this port
    /// does not implement.
    fn check_constants(&self) -> Result<()> {
        let constants: [(&str, Value); 18] = [
            ("dropout", Value::from(0.0)),
            ("attention_bias", Value::Bool(true)),
            ("num_vector_embeds", Value::Null),
            ("activation_fn", Value::from("gelu-approximate")),
            ("num_embeds_ada_norm", Value::from(1000)),
            ("use_linear_projection", Value::Bool(false)),
            ("only_cross_attention", Value::Bool(false)),
            ("cross_attention_norm", Value::Bool(true)),
            ("double_self_attention", Value::Bool(false)),
            ("upcast_attention", Value::Bool(false)),
            ("standardization_norm", Value::from("rms_norm")),
            ("norm_elementwise_affine", Value::Bool(false)),
            ("qk_norm", Value::from("rms_norm")),
            ("positional_embedding_type", Value::from("rope")),
            ("use_audio_video_cross_attention", Value::Bool(true)),
            ("share_ff", Value::Bool(false)),
            ("av_cross_ada_norm", Value::Bool(true)),
            ("use_middle_indices_grid", Value::Bool(true)),
        ];
        for (key, want) in constants {
            let Some(got) = self.map.get(key) else {
                // ltx-core refuses a config without it; the only value implemented here is assumed.
                self.note_default(key, &want);
                continue;
            };
            let same = match (got.as_f64(), want.as_f64()) {
                (Some(a), Some(b)) => a == b,
                _ => *got == want,
            };
            if !same {
                return Err(self.err(key, &format!("{got} is not supported (only {want})")));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tiny() -> Value {
        json!({"transformer": {
            "num_layers": 2, "audio_num_attention_heads": 2, "audio_attention_head_dim": 8,
            "audio_cross_attention_dim": 16, "audio_positional_embedding_max_pos": [20],
            "rope_type": "split", "frequencies_precision": "float64", "apply_gated_attention": true,
            "cross_attention_adaln": true, "caption_proj_before_connector": true,
            "caption_projection_first_linear": false, "caption_projection_second_linear": false,
            "caption_proj_input_norm": false, "connector_num_layers": 2,
            "audio_connector_num_attention_heads": 2, "audio_connector_attention_head_dim": 8,
            "connector_positional_embedding_max_pos": [4096], "connector_apply_gated_attention": true,
            "activation_fn": "gelu-approximate", "norm_eps": 1e-6, "timestep_scale_multiplier": 1000
        }})
    }

    #[test]
    fn reads_tiny_config_with_upstream_defaults() {
        let cfg = TransformerConfig::from_json(&tiny()).unwrap();
        assert_eq!(cfg.audio_inner_dim(), 16);
        assert_eq!(cfg.audio_in_channels, 128);
        assert_eq!(cfg.positional_embedding_theta, 10000.0);
        assert_eq!(cfg.audio_positional_embedding_max_pos, 20.0);
        let conn = ConnectorConfig::from_json(&tiny()).unwrap();
        assert_eq!((conn.inner_dim(), conn.num_layers, conn.num_learnable_registers), (16, 2, 128));
        assert_eq!(conn.positional_embedding_max_pos, 4096.0);
    }

    #[test]
    fn absent_keys_take_ltx_core_defaults_and_are_reported() {
        let mut root = tiny();
        let t = root["transformer"].as_object_mut().unwrap();
        for key in
            ["num_layers", "norm_eps", "positional_embedding_theta", "audio_positional_embedding_max_pos"]
        {
            t.remove(key);
        }
        let cfg = TransformerConfig::from_json(&root).unwrap();
        assert_eq!((cfg.num_layers, cfg.norm_eps, cfg.audio_positional_embedding_max_pos), (48, 1e-6, 20.0));
        for note in ["num_layers = 48", "norm_eps = 0.000001", "positional_embedding_theta = 10000"] {
            assert!(cfg.defaulted.iter().any(|d| d == note), "{note} not in {:?}", cfg.defaulted);
        }
        assert!(cfg.defaulted.iter().any(|d| d.starts_with("audio_positional_embedding_max_pos = [20]")));
        // The tiny config names every key it relies on except the audio channel counts and the constants.
        let given = TransformerConfig::from_json(&tiny()).unwrap();
        assert!(given.defaulted.iter().all(|d| !d.starts_with("num_layers")), "{:?}", given.defaulted);
        assert!(given.defaulted.iter().any(|d| d == "audio_in_channels = 128"), "{:?}", given.defaulted);

        let mut root = tiny();
        root["transformer"].as_object_mut().unwrap().remove("connector_num_layers");
        let conn = ConnectorConfig::from_json(&root).unwrap();
        assert_eq!(conn.num_layers, 2);
        assert!(conn.defaulted.iter().any(|d| d == "connector_num_layers = 2"), "{:?}", conn.defaulted);

        // Absent keys whose ltx-core default is not implemented stay errors that say so.
        for key in
            ["rope_type", "frequencies_precision", "cross_attention_adaln", "caption_proj_before_connector"]
        {
            let mut root = tiny();
            root["transformer"].as_object_mut().unwrap().remove(key);
            let err = TransformerConfig::from_json(&root).unwrap_err().to_string();
            assert!(err.contains(key) && err.contains("missing") && err.contains("ltx-core 1.0.0"), "{err}");
        }
    }

    #[test]
    fn unsupported_values_name_their_key() {
        let cases: [(&str, Value, &str); 6] = [
            ("rope_type", json!("interleaved"), "config.transformer.rope_type"),
            ("frequencies_precision", json!("float32"), "config.transformer.frequencies_precision"),
            ("num_layers", json!("two"), "config.transformer.num_layers"),
            ("activation_fn", json!("gelu"), "config.transformer.activation_fn"),
            ("cross_attention_adaln", json!(false), "config.transformer.cross_attention_adaln"),
            ("audio_positional_embedding_max_pos", json!([20, 1]), "audio_positional_embedding_max_pos"),
        ];
        for (key, value, needle) in cases {
            let mut root = tiny();
            root["transformer"][key] = value;
            let err = TransformerConfig::from_json(&root).unwrap_err().to_string();
            assert!(err.contains(needle), "{key}: {err}");
        }
        let mut root = tiny();
        root["transformer"]["caption_proj_input_norm"] = json!(true);
        let err = ConnectorConfig::from_json(&root).unwrap_err().to_string();
        assert!(err.contains("config.transformer.caption_proj_input_norm"), "{err}");
        let err = TransformerConfig::from_json(&json!({"vae": {}})).unwrap_err().to_string();
        assert!(err.contains("`transformer`"), "{err}");
    }
}
