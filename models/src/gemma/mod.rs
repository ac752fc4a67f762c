//! Gemma 3 text encoder (the language model of google/gemma-3-12b-it) returning every hidden state, as the
//! Scenema/LTX text path uses it (ltx-audio-spec §2.3).
//!
//! References: HF transformers `models/gemma3/modeling_gemma3.py` and `configuration_gemma3.py` (4.57.6, the
//! version Scenema runs; 5.x computes the same), ltx_core `text_encoders/gemma/encoders/base_encoder.py` and
//! `encoder_configurator.py` (the key mapping of the released shards).
//!
//! Checkpoint keys. The released multimodal shards store the language model under `language_model.model.`
//! (`language_model.model.embed_tokens.weight`, `language_model.model.layers.N.self_attn.q_proj.weight`,
//! `language_model.model.norm.weight`), beside `vision_tower.vision_model.*` and `multi_modal_projector.*`
//! (never read) and without an `lm_head` (tied to the embedding). transformers ≥ 4.52 maps
//! `^language_model.model` to `model.language_model` when loading, and files it saves use that spelling;
//! text-only Gemma 3 files use `model.`. [`language_model_prefix`] finds whichever is present.

pub mod config;
pub mod linear;
pub mod memory;
pub mod model;

use std::sync::Arc;

use candle_core::{Device, Result, bail};

pub use config::{Config, LayerType};
pub use linear::WeightFormat;
pub use memory::{Available, MemoryEstimate, MemoryMode, ModeChoice, Placement, estimate, pick_mode};
pub use model::TextModel;

use crate::weights::Checkpoint;

/// Where the language model may sit in a checkpoint, most specific first: the released multimodal shards,
/// transformers ≥ 4.52 `save_pretrained` of the multimodal model, a text-only `Gemma3ForCausalLM`, a bare
/// `Gemma3TextModel`.
pub const LANGUAGE_MODEL_PREFIXES: [&str; 4] = ["language_model.model", "model.language_model", "model", ""];

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() { name.to_string() } else { format!("{prefix}.{name}") }
}

/// The prefix of [`LANGUAGE_MODEL_PREFIXES`] under which `embed_tokens.weight` is stored.
pub fn language_model_prefix(contains: impl Fn(&str) -> bool) -> Result<&'static str> {
    LANGUAGE_MODEL_PREFIXES.into_iter().find(|p| contains(&join(p, "embed_tokens.weight"))).ok_or_else(|| {
        let tried: Vec<String> =
            LANGUAGE_MODEL_PREFIXES.iter().map(|p| join(p, "embed_tokens.weight")).collect();
        candle_core::Error::Msg(format!(
            "no Gemma 3 language model in the checkpoint (looked for {})",
            tried.join(", ")
        ))
    })
}

/// The shard files of a `model.safetensors.index.json` that hold language-model tensors, sorted.
pub fn shard_files(index: &serde_json::Value) -> Result<Vec<String>> {
    let Some(map) = index.get("weight_map").and_then(|m| m.as_object()) else {
        bail!("safetensors index has no `weight_map` object")
    };
    let prefix = language_model_prefix(|name| map.contains_key(name))?;
    let mut files: Vec<String> = map
        .iter()
        .filter(|(key, _)| prefix.is_empty() || key.starts_with(&format!("{prefix}.")))
        .filter_map(|(_, file)| file.as_str().map(str::to_string))
        .collect();
    files.sort();
    files.dedup();
    Ok(files)
}

/// Build the text model from an opened checkpoint in `mode` on `device` (a GPU device for GPU modes).
pub fn load(
    cfg: &Config,
    checkpoint: &Arc<Checkpoint>,
    mode: MemoryMode,
    device: &Device,
) -> Result<TextModel> {
    match (mode.placement, device.is_cpu()) {
        (Placement::Gpu, true) => bail!("text encoder mode {mode} needs a GPU device"),
        (Placement::Cpu, false) => bail!("text encoder mode {mode} runs on the CPU, got {device:?}"),
        _ => {}
    }
    let prefix = language_model_prefix(|name| checkpoint.contains(name))?;
    let vb = checkpoint.var_builder(mode.dtype, device);
    let vb = if prefix.is_empty() { vb } else { vb.pp(prefix) };
    TextModel::new(cfg, vb, mode.weights)
}

#[cfg(test)]
mod tests;
