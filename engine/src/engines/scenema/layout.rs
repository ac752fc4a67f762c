//! The loader's checks without the loading: every module of [`super::ScenemaModel::load`]
//! is built over header-only checkpoints ([`Checkpoint::open_layout`]), so a missing tensor, a wrong
//! shape or dtype, overlapping data or bad `config` metadata is found in seconds and with no memory,
//! exactly as `render` would find it. `promptbook models verify` runs it where no hash is known.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use promptbook_models::audio_vae::{self, ENCODER_FILE, PIPELINE_FILE};
use promptbook_models::candle::{DType, Device};
use promptbook_models::gemma::{self, MemoryMode};
use promptbook_models::ltx::connector::{self, GEMMA_HIDDEN_SIZE, GEMMA_NUM_LEVELS};
use promptbook_models::ltx::transformer;
use promptbook_models::vocoder;
use promptbook_models::weights::Checkpoint;

use super::TRANSFORMER_FILES;
use crate::store::GEMMA_REPO;
use crate::store::Store;
use crate::text::GemmaFiles;

/// One file the loader would refuse, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayoutProblem {
    /// The file at fault.
    pub path: PathBuf,
    /// The loader's message.
    pub message: String,
}

/// Builds every module `render` loads from the files present in `store`, header-only, and lists the
/// files it would refuse. Missing files are skipped (`verify` reports them already).
pub fn check_store(store: &Store) -> Vec<LayoutProblem> {
    let mut problems = Vec::new();
    let mut fail = |path: &Path, message: String| {
        problems.push(LayoutProblem { path: path.to_path_buf(), message });
    };
    let device = Device::Cpu;

    // Gemma first: its size fixes the connector's input width.
    let mut gemma_width = (GEMMA_HIDDEN_SIZE, GEMMA_NUM_LEVELS);
    // The full key: Whisper and BigVGAN have a `config.json` too.
    if let Ok(config_path) = store.path_of(&format!("{GEMMA_REPO}/config.json"))
        && let Some(dir) = config_path.parent()
    {
        match GemmaFiles::in_dir(dir) {
            Err(e) => fail(&dir.join("model.safetensors.index.json"), e.to_string()),
            Ok(files) => match gemma_config(&files.config) {
                Err(message) => fail(&files.config, message),
                Ok(cfg) => {
                    gemma_width = (cfg.hidden_size, cfg.num_hidden_layers + 1);
                    let built = Checkpoint::open_layout(&files.weights)
                        .and_then(|c| gemma::load(&cfg, &Arc::new(c), MemoryMode::CPU_F32, &device));
                    if let Err(e) = built {
                        fail(&blame(&files.weights, &e.to_string()), e.to_string());
                    }
                }
            },
        }
    }

    if let Some(path) = TRANSFORMER_FILES.iter().find_map(|name| store.path_of(name).ok()) {
        let built = Checkpoint::open_layout(&[&path])
            .and_then(|c| transformer::load_from(&Arc::new(c), DType::F32, &device));
        if let Err(e) = built {
            fail(&path, format!("the audio transformer cannot be built: {e}"));
        }
    }

    let mut pipeline_config = None;
    if let Ok(path) = store.path_of(PIPELINE_FILE) {
        match Checkpoint::open_layout(&[&path]) {
            Err(e) => fail(&path, e.to_string()),
            Ok(ckpt) => {
                let ckpt = Arc::new(ckpt);
                let (width, levels) = gemma_width;
                let parts: [(&str, Result<(), String>); 3] = [
                    (
                        "audio connector",
                        connector::load_from(&ckpt, width, levels, DType::F32, &device)
                            .map(drop)
                            .map_err(|e| e.to_string()),
                    ),
                    (
                        "audio VAE decoder",
                        audio_vae::load_decoder(&ckpt, DType::F32, &device)
                            .map(drop)
                            .map_err(|e| e.to_string()),
                    ),
                    (
                        "vocoder",
                        vocoder::load(&ckpt, DType::F32, &device).map(drop).map_err(|e| e.to_string()),
                    ),
                ];
                for (what, result) in parts {
                    if let Err(message) = result {
                        fail(&path, format!("the {what} cannot be built: {message}"));
                    }
                }
                match ckpt.config() {
                    Ok(config) => pipeline_config = config,
                    Err(e) => fail(&path, e.to_string()),
                }
            }
        }
    }

    if let Ok(path) = store.path_of(ENCODER_FILE) {
        let built = Checkpoint::open_layout(&[&path]).and_then(|c| {
            audio_vae::load_encoder(&Arc::new(c), pipeline_config.as_ref(), DType::F32, &device)
        });
        if let Err(e) = built {
            fail(&path, format!("the audio VAE encoder cannot be built: {e}"));
        }
    }
    problems
}

fn gemma_config(path: &Path) -> Result<gemma::Config, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read: {e}"))?;
    let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| format!("not valid JSON: {e}"))?;
    gemma::Config::from_hub_json(&json).map_err(|e| format!("not a Gemma 3 config: {e}"))
}

/// The shard a loader message names, else the first shard.
fn blame(shards: &[PathBuf], message: &str) -> PathBuf {
    shards
        .iter()
        .find(|p| message.contains(&p.display().to_string()))
        .or(shards.first())
        .cloned()
        .unwrap_or_default()
}
