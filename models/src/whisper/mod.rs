//! Whisper (`openai/whisper-small`): log-mel front end, encoder, decoder with KV cache, and the decoding
//! searches (greedy, beam, sampling) on token ids.
//!
//! Paper: Radford et al., "Robust Speech Recognition via Large-Scale Weak Supervision" (2022). Reference
//! implementation: HF transformers 5.12.1 `models/whisper/{modeling,generation,feature_extraction}_whisper.py`
//! and `generation/utils.py` (`_sample`, `_beam_search`); parity on tiny random weights in
//! `tools/parity/components/whisper.py`.
//!
//! Our own module rather than candle-transformers' Whisper: it is a few hundred lines, candle-transformers
//! would add a large crate to the build, and its front end differs from the HF extractor (its own FFT and
//! padding) while its decoder has no beam search.
//!
//! Two users: the validation path (`promptbook-engine`, transcription and word matching) and SeedVC's
//! content encoder ([`ContentEncoder`], postprocessing-spec §5.4). Text lives outside this crate: the
//! decoding functions take and return token ids, special tokens are passed in.

pub mod audio;
pub mod config;
pub mod decoding;
pub mod model;

use std::path::Path;
use std::sync::Arc;

use candle_core::{DType, Device, Result, Tensor, bail};

pub use audio::LogMel;
pub use config::{Config, PreprocessorConfig};
pub use decoding::{DecodeOptions, Hypothesis, Strategy, decode, detect_language, no_speech_probability};
pub use model::{CrossKv, Decoder, DecoderCache, Encoder, Whisper};

use crate::weights::Checkpoint;

/// File names in the hub repository.
pub const MODEL_FILE: &str = "model.safetensors";
pub const CONFIG_FILE: &str = "config.json";
pub const PREPROCESSOR_FILE: &str = "preprocessor_config.json";
pub const TOKENIZER_FILE: &str = "tokenizer.json";
/// Key prefixes in `model.safetensors`.
pub const ENCODER_PREFIX: &str = "model.encoder";
pub const DECODER_PREFIX: &str = "model.decoder";

/// Parse a JSON file, naming it in the error.
pub fn read_json(path: &Path) -> Result<serde_json::Value> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| candle_core::Error::Msg(format!("cannot read {}: {e}", path.display())))?;
    serde_json::from_str(&text).map_err(|e| candle_core::Error::Msg(format!("{}: {e}", path.display())))
}

/// `config.json` and `preprocessor_config.json` of a model folder (the second defaults to Whisper's values
/// where absent).
pub fn read_configs(dir: &Path) -> Result<(Config, PreprocessorConfig)> {
    let cfg = Config::from_json(&read_json(&dir.join(CONFIG_FILE))?)?;
    let pre_path = dir.join(PREPROCESSOR_FILE);
    let pre = if pre_path.exists() {
        PreprocessorConfig::from_json(&read_json(&pre_path)?)?
    } else {
        PreprocessorConfig::default()
    };
    check_pair(&cfg, &pre)?;
    Ok((cfg, pre))
}

/// The front end must produce what the encoder takes.
pub fn check_pair(cfg: &Config, pre: &PreprocessorConfig) -> Result<()> {
    if pre.feature_size != cfg.num_mel_bins {
        bail!(
            "whisper: preprocessor feature_size {} != config num_mel_bins {}",
            pre.feature_size,
            cfg.num_mel_bins
        );
    }
    if pre.nb_max_frames() > cfg.n_frames() {
        bail!(
            "whisper: a {} s window gives {} mel frames, the encoder takes at most {}",
            pre.chunk_length,
            pre.nb_max_frames(),
            cfg.n_frames()
        );
    }
    Ok(())
}

/// SeedVC's content encoder (`semantic_fn`, postprocessing-spec §5.4): 16 kHz audio of at most one window
/// (30 s) -> the encoder's last hidden state, f32, cut to `len / 320 + 1` frames (one frame per 20 ms of
/// input, at most `max_source_positions`).
#[derive(Debug, Clone)]
pub struct ContentEncoder {
    log_mel: Arc<LogMel>,
    encoder: Encoder,
    device: Device,
}

impl ContentEncoder {
    /// From loaded parts: `checkpoint` holds `model.encoder.*` (the decoder, if present, is not read).
    pub fn new(
        checkpoint: &Arc<Checkpoint>,
        cfg: &Config,
        pre: &PreprocessorConfig,
        dtype: DType,
        device: &Device,
    ) -> Result<Self> {
        check_pair(cfg, pre)?;
        let vb = checkpoint.var_builder(dtype, device);
        Ok(Self {
            log_mel: Arc::new(LogMel::new(pre)?),
            encoder: Encoder::new(cfg, vb.pp(ENCODER_PREFIX))?,
            device: device.clone(),
        })
    }

    /// From a model folder holding `config.json`, `model.safetensors` and (optionally)
    /// `preprocessor_config.json`. SeedVC runs it in f16 on a GPU; f32 on the CPU.
    pub fn from_dir(dir: &Path, dtype: DType, device: &Device) -> Result<Self> {
        let (cfg, pre) = read_configs(dir)?;
        let checkpoint = Arc::new(Checkpoint::open(&[dir.join(MODEL_FILE)])?);
        Self::new(&checkpoint, &cfg, &pre, dtype, device)
    }

    pub fn log_mel(&self) -> &LogMel {
        &self.log_mel
    }

    /// Frames [`Self::encode`] returns for `n_samples` of input.
    pub fn frames_for(&self, n_samples: usize) -> usize {
        let per_frame = 2 * self.log_mel.config().hop_length;
        (n_samples / per_frame + 1).min(self.log_mel.n_frames() / 2)
    }

    /// (1, frames, d_model) f32; `samples` are mono at 16 kHz and at most one window long.
    pub fn encode(&self, samples: &[f32]) -> Result<Tensor> {
        let window = self.log_mel.config().n_samples();
        if samples.len() > window {
            bail!(
                "whisper content encoder: {} samples exceed one {window}-sample window; split longer audio as SeedVC does",
                samples.len()
            );
        }
        let features = self.log_mel.tensor(samples, &self.device)?;
        let hidden = self.encoder.forward(&features)?.to_dtype(DType::F32)?;
        hidden.narrow(1, 0, self.frames_for(samples.len()))
    }
}
