//! The test model's Whisper: `DIR/whisper-small/{config.json, preprocessor_config.json, tokenizer.json,
//! model.safetensors}` in the `openai/whisper-small` layout, at a tiny width but with the real front end
//! (80 mels, 30 s windows) and the committed 459-token test tokenizer, so that `promptbook qc` runs end to end.
//! It hears nothing: the transcripts are random tokens.

use std::path::Path;

use promptbook_models::whisper::{self, Config, PreprocessorConfig, Whisper};

use crate::test_weights::{TestModelError, new_varmap, randomised, save, write};

/// Folder under the models dir (the repository's short name, as the store looks it up).
pub const WHISPER_DIR: &str = "whisper-small";
/// The test tokenizer (`tests/fixtures/whisper_tokenizer/`, from `tools/parity/components/whisper.py`).
const TOKENIZER: &[u8] = include_bytes!("../../../../tests/fixtures/whisper_tokenizer/tokenizer.json");
/// Its vocabulary: 256 bytes, 96 merges, 107 special tokens.
const VOCAB_SIZE: usize = 459;

/// The tiny config: whisper-small's front end and token ids of the test tokenizer, 16 wide, 2 + 2 layers.
pub fn test_config() -> Config {
    Config {
        vocab_size: VOCAB_SIZE,
        d_model: 16,
        encoder_layers: 2,
        encoder_attention_heads: 2,
        encoder_ffn_dim: 32,
        decoder_layers: 2,
        decoder_attention_heads: 2,
        decoder_ffn_dim: 32,
        max_target_positions: 24,
        decoder_start_token_id: 353,
        eos_token_id: 352,
        ..Config::whisper_small()
    }
}

/// Write the files under `dir/whisper-small`; returns each file with its parameter count.
pub fn make_test_whisper(dir: &Path, seed: u64) -> Result<Vec<(std::path::PathBuf, u64)>, TestModelError> {
    let out = dir.join(WHISPER_DIR);
    let cfg = test_config();
    let mut files = Vec::new();
    let mut config = serde_json::to_value(&cfg)?;
    config["architectures"] = serde_json::json!(["WhisperForConditionalGeneration"]);
    config["model_type"] = "whisper".into();
    for (name, value) in [
        (whisper::CONFIG_FILE, config),
        (whisper::PREPROCESSOR_FILE, serde_json::to_value(PreprocessorConfig::default())?),
    ] {
        let path = out.join(name);
        write(&path, serde_json::to_string_pretty(&value)?.as_bytes())?;
        files.push((path, 0));
    }
    let path = out.join(whisper::TOKENIZER_FILE);
    write(&path, TOKENIZER)?;
    files.push((path, 0));
    let (varmap, vb) = new_varmap();
    Whisper::new(&cfg, vb)?;
    let path = out.join(whisper::MODEL_FILE);
    let params = save(&path, &randomised(&varmap, seed, str::to_string)?, None)?;
    files.push((path, params));
    Ok(files)
}
