//! Voice engines: the models that turn one planned chunk into speech. Each engine is a folder here that
//! implements [`VoiceEngine`] and declares its [`Capabilities`]; [`registry`] lists them. Everything
//! around an engine (planning, continuity between chunks, the post stages, takes) is the render's
//! (`crate::pipeline`), and the studio draws an engine's controls from its capabilities alone.
//!
//! Adding an engine: a folder `engines/NAME/` with its loader and its [`VoiceEngine`] impl, and one
//! [`EngineEntry`] in [`registry`].

pub mod capabilities;
pub mod scenema;

use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub use capabilities::{
    Capabilities, Continuity, DurationControl, EmotionControls, EngineControls, EngineFile, InstructionKind,
    ReferenceNeed, Streaming,
};

use crate::audio::AudioBuffer;
pub use crate::device::DeviceKind;
use crate::error::{EngineError, ModelError};
use crate::stages::StageModels;
use crate::store::Store;

/// The id of the default engine.
pub const DEFAULT_ENGINE: &str = "scenema";

/// Where a chunk's reference voice came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReferenceSource {
    None,
    /// The director's clip.
    UserClip,
    /// The end of the previous chunk ([`Continuity::PreviousTail`]).
    PreviousChunkTail,
    /// The end of the director's clip, for every chunk (the server's anchor mode with Skip VC).
    UserClipAnchor,
}

/// A reference voice for one chunk.
#[derive(Debug, Clone)]
pub struct ReferenceAudio {
    pub audio: Arc<AudioBuffer>,
    /// What it says, for engines that need it ([`ReferenceNeed::AudioAndTranscript`]).
    pub transcript: Option<String>,
    pub source: ReferenceSource,
}

/// One planned chunk, as an engine renders it.
#[derive(Debug, Clone, Copy)]
pub struct ChunkRequest<'a> {
    pub index: usize,
    pub of: usize,
    /// The words of this chunk.
    pub text: &'a str,
    /// The compiled prompt of this chunk: voice, scene, directions and words.
    pub prompt: &'a str,
    pub seed: u64,
    /// The planned length in seconds.
    pub duration_s: f64,
    pub reference: Option<&'a ReferenceAudio>,
    pub controls: &'a EngineControls,
}

/// What an engine made of a chunk.
#[derive(Debug, Clone)]
pub struct RenderedChunk {
    /// At the engine's native rate.
    pub audio: AudioBuffer,
    /// Latent frames of the generated audio, for engines that have latents.
    pub latent_frames: Option<usize>,
    /// Latent frames of the reference it was conditioned on.
    pub reference_frames: Option<usize>,
    pub encode_text_ms: f64,
    pub sample_ms: f64,
    pub decode_ms: f64,
}

/// Where an engine reports while it renders a chunk; `Break` from any call stops it (cancel).
pub trait ChunkSink {
    /// Sampler (or decoder) step `step` of `of` is done.
    fn step(&mut self, step: usize, of: usize) -> ControlFlow<()>;
    /// The last step is done and the audio is being decoded.
    fn decoding(&mut self) -> ControlFlow<()>;
    /// A piece of audio, as soon as it exists ([`Streaming::Pieces`] engines; others send none).
    fn audio_piece(&mut self, piece: Arc<AudioBuffer>) -> ControlFlow<()>;
}

/// A loaded voice engine.
pub trait VoiceEngine: Send {
    fn capabilities(&self) -> &Capabilities;

    /// Facts about the loaded model for the status bar and the take's record.
    fn info(&self) -> ModelInfo;

    /// Render one chunk into audio at the native rate.
    fn render_chunk(
        &mut self,
        chunk: &ChunkRequest<'_>,
        sink: &mut dyn ChunkSink,
    ) -> Result<RenderedChunk, ModelError>;
}

/// How to get an engine: called on the engine thread, and kept to reload.
pub trait EngineLoader: Send {
    /// Load, reporting `(message, fraction 0..=1)` as it goes.
    fn load(&mut self, progress: &mut dyn FnMut(&str, f32)) -> Result<Box<dyn VoiceEngine>, EngineError>;

    /// The post stages' models that go with this engine: its store and device (none by default).
    fn stages(&self) -> StageModels {
        StageModels::none()
    }
}

/// Facts about a loaded model for the status bar and the generation record.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct ModelInfo {
    /// The engine's id (`scenema`); takes made before engines existed are Scenema's.
    #[serde(default = "default_engine_id")]
    pub engine: String,
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

fn default_engine_id() -> String {
    DEFAULT_ENGINE.to_string()
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

/// How the studio or the command line asks for an engine.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// `--models-dir`; `None` uses `$PROMPTBOOK_MODELS_DIR` or the hub cache.
    pub models_dir: Option<PathBuf>,
    pub device: DeviceKind,
    /// Read from this store instead (the one the studio just downloaded into); `models_dir` is then unused.
    pub store: Option<Store>,
}

impl LoadOptions {
    pub fn store(&self) -> Store {
        self.store.clone().unwrap_or_else(|| Store::from_env(self.models_dir.clone()))
    }
}

/// One engine this build knows.
pub struct EngineEntry {
    pub capabilities: fn() -> Capabilities,
    /// The store keys (`org/name/file`) of its model files.
    pub files: fn(&Store) -> Vec<String>,
    pub loader: fn(LoadOptions) -> Box<dyn EngineLoader>,
}

impl EngineEntry {
    /// Its files with their licences and whether each is installed in `store`.
    pub fn file_states(&self, store: &Store) -> Vec<EngineFile> {
        file_states(store, &(self.files)(store))
    }
}

/// `keys` with the manifest's licence and whether the store holds each.
pub fn file_states(store: &Store, keys: &[String]) -> Vec<EngineFile> {
    keys.iter()
        .map(|key| {
            let file = store.manifest().find(key);
            EngineFile {
                key: key.clone(),
                licence: file.and_then(|f| f.licence.clone()),
                installed: file.and_then(|f| store.locate(f)).is_some(),
            }
        })
        .collect()
}

/// Every engine of this build, the default first.
pub fn registry() -> Vec<EngineEntry> {
    vec![scenema::entry()]
}

/// The engine called `id`, or a message naming the ones there are.
pub fn find(id: &str) -> Result<EngineEntry, String> {
    let mut entries = registry();
    match entries.iter().position(|e| (e.capabilities)().id == id) {
        Some(at) => Ok(entries.swap_remove(at)),
        None => {
            let known: Vec<String> = registry().iter().map(|e| (e.capabilities)().id).collect();
            Err(format!("no engine called {id:?}; this build has: {}", known.join(", ")))
        }
    }
}
