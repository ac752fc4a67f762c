//! What the pipeline needs from a loaded model, as one trait: text → conditioning, conditioning → latent,
//! latent → 48 kHz audio, and audio → reference latent. The Scenema implementation lives in
//! `scenema.rs`; tests may substitute their own.

use std::ops::ControlFlow;

use super::waveform::Waveform;

/// Opaque conditioning for one chunk (the connector's `audio_context`).
pub struct TextConditioning(pub Box<dyn std::any::Any + Send>);

/// An audio latent `(1, 8, T, 16)`, with `T` exposed for checks and records.
pub struct Latent {
    pub frames: usize,
    pub data: Box<dyn std::any::Any + Send>,
}

/// Called after every sampler step with `(step, of)`; `Break` stops sampling (cancel).
pub type StepCallback<'a> = dyn FnMut(usize, usize) -> ControlFlow<()> + 'a;

/// Why a model call did not produce a result.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("cancelled")]
    Cancelled,
    /// The device ran out of memory (the backend's message).
    #[error("out of memory: {0}")]
    OutOfMemory(String),
    /// A tensor operation failed.
    #[error(transparent)]
    Tensor(promptbook_models::candle::Error),
    #[error("{0}")]
    Failed(String),
}

impl ModelError {
    /// A failure from its message, told apart when the device ran out of memory.
    pub fn from_message(message: String) -> Self {
        if crate::error::is_out_of_memory(&message) {
            Self::OutOfMemory(message)
        } else {
            Self::Failed(message)
        }
    }
}

impl From<promptbook_models::candle::Error> for ModelError {
    fn from(err: promptbook_models::candle::Error) -> Self {
        let message = err.to_string();
        if crate::error::is_out_of_memory(&message) { Self::OutOfMemory(message) } else { Self::Tensor(err) }
    }
}

/// Facts about a loaded model for the status bar and the generation record.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct ModelInfo {
    /// e.g. "cpu", "cuda:0".
    pub device: String,
    /// e.g. "f32", "bf16".
    pub dtype: String,
    /// Files the model was loaded from, with sizes and (where known) hashes.
    pub files: Vec<ModelFile>,
    /// Bytes of weights resident on the device.
    pub weight_bytes: u64,
    /// Audio output rate (48 kHz for Scenema).
    pub sample_rate: u32,
    /// Sampler steps per chunk (8 for the distilled schedule).
    pub steps: usize,
    /// How the files were read where they allow more than one way.
    #[serde(default)]
    pub load_report: LoadReport,
}

/// The load report: what the generation record says about how the checkpoints were read.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct LoadReport {
    /// Where the reference encoder's weights and statistics came from (file and key prefix).
    pub reference_encoder: Option<String>,
    /// Config keys absent from the checkpoints that took ltx-core 1.0.0's default, as `section.key = value`.
    pub config_defaults: Vec<String>,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct ModelFile {
    pub name: String,
    pub bytes: u64,
    pub sha256: Option<String>,
}

pub trait AudioModel: Send {
    fn info(&self) -> ModelInfo;

    /// Encode a compiled chunk prompt.
    fn encode_text(&mut self, prompt: &str) -> Result<TextConditioning, ModelError>;

    /// Sample a clean latent for `duration_s` seconds from `seed`, optionally conditioned on a clean
    /// reference latent placed in front of the sequence.
    fn sample(
        &mut self,
        text: &TextConditioning,
        duration_s: f64,
        seed: u64,
        reference: Option<&Latent>,
        on_step: &mut StepCallback<'_>,
    ) -> Result<Latent, ModelError>;

    /// Decode a latent to stereo audio at `info().sample_rate`.
    fn decode(&mut self, latent: &Latent) -> Result<Waveform, ModelError>;

    /// Encode a reference waveform (any rate, mono or stereo) to a latent.
    fn encode_reference(&mut self, audio: &Waveform) -> Result<Latent, ModelError>;
}
