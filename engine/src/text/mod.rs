//! Text conditioning: Gemma tokenisation and the Gemma 3 text encoder's files, memory mode and device.
//!
//! The engine owns the files (`tokenizer.json`, `config.json`, the safetensors shards) and the probing of
//! free memory; the model itself is `promptbook_models::gemma` (pure compute). See `docs/text-encoder.md`.

mod encoder;
mod tokenizer;

use std::path::PathBuf;

pub use encoder::{EncodedText, EncoderOptions, GemmaFiles, TextEncoder, probe_memory};
pub use tokenizer::{
    GemmaTokenizer, NF4_REFERENCE_MAX_LENGTH, REFERENCE_MAX_LENGTH, TokenizedPrompt, python_strip,
};

/// What can go wrong between a prompt and its hidden states.
#[derive(Debug, thiserror::Error)]
pub enum TextError {
    /// A file could not be read.
    #[error("cannot read a text-encoder file: {source}: {}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    /// A JSON file is not what it should be.
    #[error("invalid JSON: {source}: {}", path.display())]
    Json { path: PathBuf, source: serde_json::Error },
    /// The tokenizer failed to load or to encode.
    #[error("tokenizer: {message}: {}", path.display())]
    Tokenizer { path: PathBuf, message: String },
    /// The tokenizer lacks a token the reference relies on.
    #[error("the tokenizer has no `{0}` token; is this a Gemma tokenizer.json?")]
    MissingToken(String),
    /// A zero `max_length`.
    #[error("the token length must be at least 1")]
    InvalidLength,
    /// No weights next to the config.
    #[error(
        "no Gemma weights (model.safetensors.index.json or model.safetensors); download the text encoder first: {}",
        .0.display()
    )]
    NoWeights(PathBuf),
    /// The index names a shard outside the model folder (`..`, an absolute path).
    #[error("{} names the shard {shard:?}, which is outside the model folder; the index is damaged or hostile", index.display())]
    ShardOutsideFolder { index: PathBuf, shard: String },
    /// A GPU mode was requested but no GPU can be used.
    #[error("text encoder mode {0} needs a GPU, but this build or machine has none; choose a cpu-* mode")]
    NoGpu(String),
    /// Loading or running the model failed.
    #[error("text encoder: {0}")]
    Model(#[from] promptbook_models::candle::Error),
}

impl TextError {
    /// Name `path` in a tokenizer error that was raised without one.
    fn at(self, path: &std::path::Path) -> Self {
        match self {
            Self::Tokenizer { path: p, message } if p.as_os_str().is_empty() => {
                Self::Tokenizer { path: path.to_path_buf(), message }
            }
            other => other,
        }
    }
}
