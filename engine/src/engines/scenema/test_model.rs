//! A tiny random Scenema model set for tests and demos: every file the store and [`super`] loader
//! read, in the real layout (`DIR/scenema-audio/…`, `DIR/gemma-3-12b-it/…`), with the real key prefixes and
//! `config` metadata, but at a tiny config (the `tiny` parity configs of `tools/parity/`) so that a
//! render runs end to end on any CPU in seconds. The audio it makes is noise-like: only the plumbing is real.
//!
//! As in the released files, the pipeline file also holds the audio VAE encoder (`audio_vae.encoder.*`), with
//! the same values as the encoder file, so a take is the same whichever of the two the loader reads. With
//! [`TestModelOptions::int8`] the transformer is written as the INT8 file instead: every linear weight as
//! `*.weight.int8` (i8, per-row absmax / 127) plus `*.weight.scale` (f32, `[out]`), the rest as stored.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use promptbook_models::audio_vae::{self, AudioDecoder, AudioEncoder};
use promptbook_models::candle::Tensor;
use promptbook_models::gemma::{self, TextModel, WeightFormat};
use promptbook_models::ltx::config::{ConnectorConfig, TransformerConfig};
use promptbook_models::ltx::connector::AudioEmbeddingsProcessor;
use promptbook_models::ltx::keys;
use promptbook_models::ltx::transformer::X0Model;
use promptbook_models::vocoder::{self, VocoderWithBwe};

use super::TRANSFORMER_FILES;
pub use crate::test_weights::TestModelError;
use crate::test_weights::{new_varmap, randomised, save, write};

pub use crate::stages::validation::test_model::{WHISPER_DIR, make_test_whisper};

/// The Scenema `config` metadata of the tiny model (transformer, audio VAE and vocoder sections).
const CONFIG: &str = include_str!("test_model_config.json");
/// A 448-token Gemma-style tokenizer (the same file as `tests/fixtures/tokenizer/tokenizer.json`).
const TOKENIZER: &[u8] = include_bytes!("../../../../tests/fixtures/tokenizer/tokenizer.json");
/// Folder names under the models dir: the repositories' short names, as the store looks them up.
pub const SCENEMA_DIR: &str = "scenema-audio";
pub const GEMMA_DIR: &str = "gemma-3-12b-it";
/// The real Gemma download has five shards; the test model spreads its tensors over as many.
const GEMMA_SHARDS: usize = 5;

fn gemma_config() -> serde_json::Value {
    serde_json::json!({
        "architectures": ["Gemma3ForConditionalGeneration"],
        "model_type": "gemma3",
        "text_config": {
            "model_type": "gemma3_text",
            "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 6,
            "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 32, "query_pre_attn_scalar": 32,
            "rope_theta": 1_000_000.0, "rope_local_base_freq": 10_000.0,
            "rope_scaling": {"factor": 8.0, "rope_type": "linear"},
            "sliding_window": 1024, "sliding_window_pattern": 6, "vocab_size": 448, "rms_norm_eps": 1e-6
        },
        "torch_dtype": "float32"
    })
}

/// What [`make_test_model`] wrote.
#[derive(Debug, Clone)]
pub struct TestModel {
    /// Every file written, with its parameter count (0 for JSON files).
    pub files: Vec<(PathBuf, u64)>,
}

/// Variants of the test model.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TestModelOptions {
    /// Write `scenema-audio-transformer-int8.safetensors` (the default download) instead of the bf16 file.
    pub int8: bool,
}

/// Save the transformer in the INT8 layout (ltx-audio-spec §1.4): each 2-D `*.weight` (the linears; the
/// scale-shift tables are not named `weight`) as `.int8` + `.scale`, everything else as f32.
fn save_int8(
    path: &Path,
    tensors: &[(String, Tensor)],
    config: &serde_json::Value,
) -> Result<u64, TestModelError> {
    let mut raw: Vec<(String, safetensors::Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
    let f32_bytes = |t: &Tensor| -> Result<Vec<u8>, TestModelError> {
        let values = t.flatten_all()?.to_vec1::<f32>()?;
        Ok(values.iter().flat_map(|v| v.to_le_bytes()).collect())
    };
    for (name, tensor) in tensors {
        if name.ends_with(".weight") && tensor.rank() == 2 {
            let rows = tensor.to_vec2::<f32>()?;
            let scales: Vec<f32> =
                rows.iter().map(|r| r.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-12) / 127.0).collect();
            let q: Vec<u8> = rows
                .iter()
                .zip(&scales)
                .flat_map(|(r, s)| r.iter().map(move |v| (v / s).round().clamp(-127.0, 127.0) as i8 as u8))
                .collect();
            raw.push((format!("{name}.int8"), safetensors::Dtype::I8, tensor.dims().to_vec(), q));
            let scale_bytes = scales.iter().flat_map(|v| v.to_le_bytes()).collect();
            raw.push((format!("{name}.scale"), safetensors::Dtype::F32, vec![scales.len()], scale_bytes));
        } else {
            raw.push((name.clone(), safetensors::Dtype::F32, tensor.dims().to_vec(), f32_bytes(tensor)?));
        }
    }
    let views = raw
        .iter()
        .map(|(name, dtype, shape, data)| {
            safetensors::tensor::TensorView::new(*dtype, shape.clone(), data)
                .map(|view| (name.clone(), view))
                .map_err(|e| TestModelError::Save { path: path.to_path_buf(), message: e.to_string() })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|source| TestModelError::Io { path: parent.to_path_buf(), source })?;
    }
    let metadata = HashMap::from([("config".to_string(), config.to_string())]);
    safetensors::serialize_to_file(views, Some(metadata), path)
        .map_err(|e| TestModelError::Save { path: path.to_path_buf(), message: e.to_string() })?;
    Ok(tensors.iter().map(|(_, t)| t.elem_count() as u64).sum())
}

/// Write a tiny random model set under `dir` (created if needed), deterministic in `seed`.
pub fn make_test_model(dir: &Path, seed: u64) -> Result<TestModel, TestModelError> {
    make_test_model_with(dir, seed, TestModelOptions::default())
}

/// [`make_test_model`] with a variant.
pub fn make_test_model_with(
    dir: &Path,
    seed: u64,
    options: TestModelOptions,
) -> Result<TestModel, TestModelError> {
    let config: serde_json::Value = serde_json::from_str(CONFIG)?;
    let scenema = dir.join(SCENEMA_DIR);
    let gemma_dir = dir.join(GEMMA_DIR);
    let mut files = Vec::new();

    // Transformer (f32 values), stored under the X0 wrapper's `velocity_model.`.
    let (varmap, vb) = new_varmap();
    X0Model::new(&TransformerConfig::from_json(&config)?, vb)?;
    let tensors = randomised(&varmap, seed, str::to_string)?;
    let (path, params) = if options.int8 {
        let path = scenema.join(TRANSFORMER_FILES[0]);
        let params = save_int8(&path, &tensors, &config)?;
        (path, params)
    } else {
        let path = scenema.join(TRANSFORMER_FILES[1]);
        let params = save(&path, &tensors, Some(&config))?;
        (path, params)
    };
    files.push((path, params));

    // Pipeline file: text path under the single-file prefixes, VAE decoder + statistics, vocoder + BWE.
    let gemma_json = gemma_config();
    let gemma_cfg = gemma::Config::from_hub_json(&gemma_json)?;
    let (varmap, vb) = new_varmap();
    AudioEmbeddingsProcessor::new(
        &ConnectorConfig::from_json(&config)?,
        gemma_cfg.hidden_size,
        gemma_cfg.num_hidden_layers + 1,
        vb.clone(),
    )?;
    let vae_cfg = audio_vae::Config::from_checkpoint_config(&config)?;
    AudioDecoder::new(&vae_cfg, vb.pp(audio_vae::DECODER_PREFIX), vb.pp(audio_vae::STATISTICS_PREFIX))?;
    VocoderWithBwe::new(&vocoder::Config::from_checkpoint_config(&config)?, vb.pp(vocoder::VOCODER_PREFIX))?;
    let rename = |name: &str| {
        for entry in keys::PIPELINE {
            if let Some(rest) = name.strip_prefix(entry.module).and_then(|r| r.strip_prefix('.')) {
                return format!("{}.{rest}", entry.stored[0]);
            }
        }
        name.to_string()
    };
    let mut pipeline = randomised(&varmap, seed, rename)?;

    // VAE encoder, once: bare keys in its own file; the same values under `audio_vae.encoder.*` in the
    // pipeline file; its statistics are the pipeline's (the decoder's), as the spec expects (§6.5).
    let (varmap, vb) = new_varmap();
    AudioEncoder::new(&vae_cfg, vb.clone(), vb.pp("per_channel_statistics"))?;
    let stats = |name: &str| name.strip_prefix("per_channel_statistics.").map(str::to_string);
    let pipeline_stat = |stat: &str| {
        let key = format!("{}.{stat}", audio_vae::STATISTICS_PREFIX);
        pipeline.iter().find(|(n, _)| *n == key).map(|(_, t)| t.clone())
    };
    let mut encoder = Vec::new();
    for (name, tensor) in randomised(&varmap, seed, str::to_string)? {
        match stats(&name) {
            Some(stat) => {
                let tensor = pipeline_stat(&stat).ok_or_else(|| {
                    TestModelError::Model(promptbook_models::candle::Error::Msg(format!(
                        "no pipeline `{stat}`"
                    )))
                })?;
                encoder.push((name, tensor));
            }
            None => encoder.push((name, tensor)),
        }
    }
    pipeline.extend(
        encoder
            .iter()
            .filter(|(name, _)| stats(name).is_none())
            .map(|(name, t)| (format!("{}.{name}", audio_vae::PIPELINE_ENCODER_PREFIX), t.clone())),
    );
    pipeline.sort_by(|a, b| a.0.cmp(&b.0));
    let path = scenema.join(audio_vae::PIPELINE_FILE);
    let params = save(&path, &pipeline, Some(&config))?;
    files.push((path, params));
    let path = scenema.join(audio_vae::ENCODER_FILE);
    let params = save(&path, &encoder, Some(&config))?;
    files.push((path, params));

    // Gemma: config, tokenizer, index and five shards under the multimodal prefix.
    let path = gemma_dir.join("config.json");
    write(&path, serde_json::to_string_pretty(&gemma_json)?.as_bytes())?;
    files.push((path, 0));
    let path = gemma_dir.join("tokenizer.json");
    write(&path, TOKENIZER)?;
    files.push((path, 0));
    let (varmap, vb) = new_varmap();
    TextModel::new(&gemma_cfg, vb.pp("language_model.model"), WeightFormat::Dense)?;
    let tensors = randomised(&varmap, seed, str::to_string)?;
    let mut weight_map = serde_json::Map::new();
    let mut total_bytes = 0;
    for shard in 0..GEMMA_SHARDS {
        let name = format!("model-{:05}-of-{GEMMA_SHARDS:05}.safetensors", shard + 1);
        let part: Vec<(String, Tensor)> = tensors.iter().skip(shard).step_by(GEMMA_SHARDS).cloned().collect();
        for (key, tensor) in &part {
            weight_map.insert(key.clone(), name.clone().into());
            total_bytes += tensor.elem_count() * 4;
        }
        let path = gemma_dir.join(&name);
        let params = save(&path, &part, None)?;
        files.push((path, params));
    }
    let index = serde_json::json!({"metadata": {"total_size": total_bytes}, "weight_map": weight_map});
    let path = gemma_dir.join("model.safetensors.index.json");
    write(&path, serde_json::to_string_pretty(&index)?.as_bytes())?;
    files.push((path, 0));
    files.extend(make_test_whisper(dir, seed)?);
    files.push(crate::stages::separation::test_model::make_test_separator(dir, seed)?);
    Ok(TestModel { files })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engines::scenema::ScenemaFiles;
    use crate::store::{HubSettings, Manifest, Source, Store};

    #[test]
    fn int8_variant_is_the_real_layout_and_loads() {
        let dir = std::env::temp_dir().join(format!("pb-test-model-int8-{}", std::process::id()));
        make_test_model_with(&dir, 7, TestModelOptions { int8: true }).unwrap();
        let scenema = dir.join(SCENEMA_DIR);
        assert!(!scenema.join(TRANSFORMER_FILES[1]).exists());
        let header = promptbook_models::weights::read_header(&scenema.join(TRANSFORMER_FILES[0])).unwrap();
        let q = &header.tensors["velocity_model.transformer_blocks.0.audio_attn1.to_q.weight.int8"];
        let scale = &header.tensors["velocity_model.transformer_blocks.0.audio_attn1.to_q.weight.scale"];
        assert_eq!((q.dtype.as_str(), scale.dtype.as_str()), ("I8", "F32"));
        assert_eq!(scale.shape, vec![q.shape[0]]);
        assert!(!header.tensors.contains_key("velocity_model.transformer_blocks.0.audio_attn1.to_q.weight"));
        // Tables and norms stay dense.
        assert_eq!(header.tensors["velocity_model.audio_scale_shift_table"].dtype, "F32");
        let store = Store::new(Source::ModelsDir(dir.clone()), HubSettings::from_env(), Manifest::builtin());
        let files = ScenemaFiles::locate(&store).unwrap();
        assert_eq!(files.transformer, scenema.join(TRANSFORMER_FILES[0]));
        // The real loader dequantises it.
        let device = promptbook_models::candle::Device::Cpu;
        promptbook_models::ltx::transformer::load(
            &[&files.transformer],
            promptbook_models::candle::DType::F32,
            &device,
        )
        .unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn every_store_file_is_written_and_deterministic() {
        let dir = std::env::temp_dir().join(format!("pb-test-model-{}", std::process::id()));
        let a = make_test_model(&dir.join("a"), 7).unwrap();
        let b = make_test_model(&dir.join("b"), 7).unwrap();
        let store =
            Store::new(Source::ModelsDir(dir.join("a")), HubSettings::from_env(), Manifest::builtin());
        let missing: Vec<String> = store
            .status(crate::store::Variant::Bf16, false)
            .into_iter()
            .filter(|s| s.path.is_none())
            .map(|s| s.key)
            .collect();
        assert!(missing.is_empty(), "missing {missing:?}");
        ScenemaFiles::locate(&store).unwrap();
        for ((pa, _), (pb, _)) in a.files.iter().zip(&b.files) {
            assert_eq!(std::fs::read(pa).unwrap(), std::fs::read(pb).unwrap(), "{}", pa.display());
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
