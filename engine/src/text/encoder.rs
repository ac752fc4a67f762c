//! Prompt → Gemma 3 hidden states: files, memory mode, device.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use promptbook_models::candle::{Device, Tensor};
use promptbook_models::gemma::{self, Available, Config, MemoryMode, ModeChoice, Placement, TextModel};
use promptbook_models::weights::Checkpoint;

use super::TextError;
use super::tokenizer::{GemmaTokenizer, REFERENCE_MAX_LENGTH, TokenizedPrompt};

/// The files of a Gemma 3 folder (a hub snapshot of google/gemma-3-12b-it or a local copy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GemmaFiles {
    pub tokenizer: PathBuf,
    pub config: PathBuf,
    /// The safetensors shards holding the language model.
    pub weights: Vec<PathBuf>,
}

impl GemmaFiles {
    /// `tokenizer.json`, `config.json`, and the shards named by `model.safetensors.index.json` that hold
    /// language-model tensors (else `model.safetensors`) in `dir`.
    pub fn in_dir(dir: &Path) -> Result<Self, TextError> {
        let index = dir.join("model.safetensors.index.json");
        let weights = if index.is_file() {
            let shards = gemma::shard_files(&read_json(&index)?)?;
            if let Some(bad) = shards.iter().find(|f| !is_inside(f)) {
                return Err(TextError::ShardOutsideFolder { index, shard: bad.clone() });
            }
            shards.into_iter().map(|f| dir.join(f)).collect()
        } else if dir.join("model.safetensors").is_file() {
            vec![dir.join("model.safetensors")]
        } else {
            return Err(TextError::NoWeights(dir.to_path_buf()));
        };
        Ok(Self { tokenizer: dir.join("tokenizer.json"), config: dir.join("config.json"), weights })
    }
}

/// How to set the encoder up.
#[derive(Debug, Clone, PartialEq)]
pub struct EncoderOptions {
    /// Tokens per prompt after padding ([`REFERENCE_MAX_LENGTH`]; 256 only to match the reference's NF4 path).
    pub max_length: usize,
    /// A memory mode to use instead of the one picked from free memory.
    pub mode: Option<MemoryMode>,
}

impl Default for EncoderOptions {
    fn default() -> Self {
        Self { max_length: REFERENCE_MAX_LENGTH, mode: None }
    }
}

/// Hidden states of one prompt.
#[derive(Debug, Clone)]
pub struct EncodedText {
    pub tokens: TokenizedPrompt,
    /// `num_hidden_layers + 1` tensors `(1, max_length, hidden)` on the encoder's device, pad rows zero.
    pub hidden_states: Vec<Tensor>,
    /// `(1, max_length)` u32 on the encoder's device.
    pub attention_mask: Tensor,
}

/// The tokenizer and the Gemma 3 language model, loaded in a memory mode.
#[derive(Debug)]
pub struct TextEncoder {
    tokenizer: GemmaTokenizer,
    model: TextModel,
    choice: ModeChoice,
}

impl TextEncoder {
    /// Load with the mode picked from [`probe_memory`] (or `options.mode`).
    pub fn load(files: &GemmaFiles, options: &EncoderOptions) -> Result<Self, TextError> {
        Self::load_with(files, options, probe_memory())
    }

    /// Load with the mode picked from `available` (or `options.mode`).
    pub fn load_with(
        files: &GemmaFiles,
        options: &EncoderOptions,
        available: Available,
    ) -> Result<Self, TextError> {
        let tokenizer = GemmaTokenizer::from_file(&files.tokenizer, options.max_length)?;
        let cfg = Config::from_hub_json(&read_json(&files.config)?)?;
        let choice = gemma::pick_mode(&cfg, options.max_length, available, options.mode);
        tracing::info!(mode = %choice.mode, reason = %choice.reason, "text encoder memory mode");
        let device = device_for(choice.mode)?;
        let checkpoint = Arc::new(Checkpoint::open(&files.weights)?);
        let model = gemma::load(&cfg, &checkpoint, choice.mode, &device)?;
        Ok(Self { tokenizer, model, choice })
    }

    pub fn tokenizer(&self) -> &GemmaTokenizer {
        &self.tokenizer
    }

    pub fn model(&self) -> &TextModel {
        &self.model
    }

    /// The mode in use and why.
    pub fn mode_choice(&self) -> &ModeChoice {
        &self.choice
    }

    /// Tokenise `prompt` and return every hidden state.
    pub fn encode(&self, prompt: &str) -> Result<EncodedText, TextError> {
        let tokens = self.tokenizer.encode(prompt)?;
        let len = tokens.input_ids.len();
        let input_ids = Tensor::from_vec(tokens.input_ids.clone(), (1, len), &Device::Cpu)?;
        let mask = Tensor::from_vec(tokens.attention_mask.clone(), (1, len), &Device::Cpu)?;
        let hidden_states = self.model.forward_hidden_states(&input_ids, &mask)?;
        let attention_mask = mask.to_device(self.model.device())?;
        Ok(EncodedText { tokens, hidden_states, attention_mask })
    }
}

/// A relative path of plain names only: no `..`, no root, no drive, so `dir.join(name)` stays in `dir`.
fn is_inside(name: &str) -> bool {
    let path = Path::new(name);
    !name.is_empty() && path.components().all(|c| matches!(c, std::path::Component::Normal(_)))
}

fn read_json(path: &Path) -> Result<serde_json::Value, TextError> {
    let text =
        std::fs::read_to_string(path).map_err(|source| TextError::Io { path: path.to_path_buf(), source })?;
    serde_json::from_str(&text).map_err(|source| TextError::Json { path: path.to_path_buf(), source })
}

fn device_for(mode: MemoryMode) -> Result<Device, TextError> {
    use promptbook_models::candle::utils::{cuda_is_available, metal_is_available};
    match mode.placement {
        Placement::Cpu => Ok(Device::Cpu),
        Placement::Gpu if cuda_is_available() => Ok(Device::new_cuda(0)?),
        Placement::Gpu if metal_is_available() => Ok(Device::new_metal(0)?),
        Placement::Gpu => Err(TextError::NoGpu(mode.name())),
    }
}

/// Free memory of the first CUDA device (through `nvidia-smi`, honouring `CUDA_VISIBLE_DEVICES`) when this
/// build has CUDA, and the host's `MemAvailable` on Linux. Unknown values are `None`; Metal's unified memory
/// is not probed, so on Apple machines the CPU modes are picked unless a GPU mode is requested.
pub fn probe_memory() -> Available {
    let gpu_free_bytes = if promptbook_models::candle::utils::cuda_is_available() {
        crate::memory::nvidia_memory().and_then(|g| g.free_bytes)
    } else {
        None
    };
    Available { gpu_free_bytes, host_available_bytes: crate::memory::host_memory().available_bytes }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_weights_are_named() {
        let dir = std::env::temp_dir().join(format!("pb-gemma-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let err = GemmaFiles::in_dir(&dir).unwrap_err().to_string();
        assert!(err.contains("download the text encoder") && err.contains("pb-gemma-files"), "{err}");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn shards_outside_the_folder_are_refused() {
        let dir = std::env::temp_dir().join(format!("pb-gemma-shards-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for shard in ["../../../outside/x.safetensors", "/etc/passwd", "sub/../../y.safetensors"] {
            let index = serde_json::json!({"weight_map": {"model.embed_tokens.weight": shard}});
            std::fs::write(dir.join("model.safetensors.index.json"), index.to_string()).unwrap();
            let err = GemmaFiles::in_dir(&dir).unwrap_err().to_string();
            assert!(err.contains("outside the model folder") && err.contains(shard), "{err}");
        }
        let index = serde_json::json!({"weight_map": {"model.embed_tokens.weight": "model-00001-of-00002.safetensors"}});
        std::fs::write(dir.join("model.safetensors.index.json"), index.to_string()).unwrap();
        assert_eq!(
            GemmaFiles::in_dir(&dir).unwrap().weights,
            vec![dir.join("model-00001-of-00002.safetensors")]
        );
        std::fs::remove_dir_all(&dir).ok();
    }
}
