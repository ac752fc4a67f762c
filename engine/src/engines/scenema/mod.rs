//! Scenema Audio, the first voice engine ([`VoiceEngine`]): Gemma 3 → audio connector → distilled 8-step sampler over
//! the audio transformer → audio VAE decoder → vocoder + BWE (48 kHz stereo), and the VAE encoder for
//! reference voices. Follows ltx-audio-spec §7.2 (the standalone server's `generate`).
//!
//! Noise: the reference draws its initial noise with torch's CUDA generator, which cannot be reproduced
//! bit for bit (spec §5.5). Here a seed gives a fixed, platform-independent stream: SplitMix64 feeding a
//! Box–Muller transform, one standard normal per latent value in `(T, 128)` token order. The same seed gives
//! the same take on every machine and build, but not the take the reference would give for that seed.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use promptbook_models::audio_vae::{self, AudioDecoder, AudioEncoder, MAX_REF_CAP_SECONDS};
use promptbook_models::candle::{DType, Device, Tensor};
use promptbook_models::gemma::MemoryMode;
use promptbook_models::ltx::connector::{self, AudioEmbeddingsProcessor};
use promptbook_models::ltx::geometry::{TOKEN_WIDTH, latent_frames_for_duration};
use promptbook_models::ltx::sampler::{AudioLatentState, DISTILLED_SIGMAS, SampleOutcome, sample};
use promptbook_models::ltx::transformer::{self, X0Model};
use promptbook_models::vocoder::{self, VocoderWithBwe};
use promptbook_models::weights::Checkpoint;

use super::{
    Capabilities, ChunkRequest, ChunkSink, Continuity, DurationControl, EmotionControls, EngineEntry,
    EngineLoader, LoadOptions, LoadReport, ModelFile, ModelInfo, ReferenceAudio, ReferenceNeed,
    RenderedChunk, Streaming, VoiceEngine,
};
use crate::audio::AudioBuffer;
use crate::error::{EngineError, ModelError};
pub use crate::noise::seeded_noise;
use crate::stages::{Residency, StageId, StageModels};
use crate::store::{GEMMA_REPO, SCENEMA_REPO, Store};
use crate::text::{EncoderOptions, GemmaFiles, TextEncoder};

pub mod layout;
pub mod test_model;

/// The transformer files, preferred first (INT8 is the default download).
pub const TRANSFORMER_FILES: [&str; 2] =
    ["scenema-audio-transformer-int8.safetensors", "scenema-audio-transformer.safetensors"];
/// Sampler steps per chunk.
pub const STEPS: usize = DISTILLED_SIGMAS.len() - 1;

/// The files of one Scenema model set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenemaFiles {
    pub transformer: PathBuf,
    /// `scenema-audio-pipeline.safetensors`: connector, text projection, VAE decoder and encoder, vocoder,
    /// config.
    pub pipeline: PathBuf,
    /// `scenema-audio-vae-encoder.safetensors`; without it the pipeline file's `audio_vae.encoder.*` is used.
    pub encoder: Option<PathBuf>,
    /// The folder holding Gemma's `config.json`, `tokenizer.json` and shards.
    pub gemma_dir: PathBuf,
}

impl ScenemaFiles {
    /// Find every file in `store` (INT8 transformer if present, else bf16), naming all that are missing. The
    /// encoder file is optional: the pipeline file holds the encoder too.
    pub fn locate(store: &Store) -> Result<Self, String> {
        let mut missing = Vec::new();
        let mut find = |name: &str| match store.path_of(name) {
            Ok(path) => Some(path),
            Err(_) => {
                missing.push(name.to_string());
                None
            }
        };
        let transformer = TRANSFORMER_FILES.iter().find_map(|name| store.path_of(name).ok());
        let pipeline = find(audio_vae::PIPELINE_FILE);
        let encoder = store.path_of(audio_vae::ENCODER_FILE).ok();
        // Full keys: `config.json` and `tokenizer.json` also exist in other repositories (Whisper).
        let gemma_config = find(&format!("{GEMMA_REPO}/config.json"));
        let _ = find(&format!("{GEMMA_REPO}/tokenizer.json"));
        let _ = find(&format!("{GEMMA_REPO}/model.safetensors.index.json"));
        if transformer.is_none() {
            missing.insert(0, TRANSFORMER_FILES.join(" or "));
        }
        match (transformer, pipeline, gemma_config) {
            (Some(transformer), Some(pipeline), Some(config)) if missing.is_empty() => {
                let gemma_dir = config.parent().map(Path::to_path_buf).unwrap_or_default();
                Ok(Self { transformer, pipeline, encoder, gemma_dir })
            }
            _ => Err(format!(
                "model files missing in {}: {}; run `promptbook models download` (or `promptbook models \
                 make-test-model DIR` for a tiny random model)",
                store.source().path().display(),
                missing.join(", ")
            )),
        }
    }
}

/// The tail of each chunk that conditions the next (`REF_TAIL_SECONDS`).
pub const REF_TAIL_SECONDS: f64 = 3.0;
/// The longest user reference the encoder is given (ComfyUI VAE Encode cap).
pub const MAX_USER_REFERENCE_SECONDS: f64 = 20.0;

/// What Scenema Audio can do.
pub fn capabilities() -> Capabilities {
    Capabilities {
        id: "scenema".into(),
        name: "Scenema Audio".into(),
        summary:
            "LTX-2.3's audio path: Gemma 3 → connector → 8-step distilled audio transformer → VAE → vocoder, \
                  48 kHz stereo; the voice, scene and directions come from the <speak> prompt"
                .into(),
        sample_rate: 48_000,
        channels: 2,
        reference: ReferenceNeed::OptionalAudio,
        reference_max_s: Some(MAX_USER_REFERENCE_SECONDS),
        instruction: None,
        emotion: EmotionControls::default(),
        duration: DurationControl::None,
        streaming: Streaming::WholeChunk,
        languages: vec!["en".into()],
        voice_design: true,
        continuity: Continuity::PreviousTail { seconds: REF_TAIL_SECONDS },
        max_chunk_s: crate::plan::MAX_CHUNK_DURATION_S,
        stages: vec![StageId::Validation, StageId::Separation, StageId::Seedvc],
    }
}

/// The registry entry.
pub fn entry() -> EngineEntry {
    EngineEntry {
        capabilities,
        files: |store| {
            let variant = store.variant_in_use();
            store
                .manifest()
                .files_for(variant, false)
                .into_iter()
                .filter(|f| f.repo == SCENEMA_REPO || f.repo == GEMMA_REPO)
                .map(|f| f.key())
                .collect()
        },
        loader: |options| Box::new(ScenemaLoader { options }),
    }
}

/// Loads [`ScenemaModel`] from a models folder (or the hub cache) on the engine thread.
#[derive(Debug, Clone, Default)]
pub struct ScenemaLoader {
    pub options: LoadOptions,
}

impl EngineLoader for ScenemaLoader {
    fn load(&mut self, progress: &mut dyn FnMut(&str, f32)) -> Result<Box<dyn VoiceEngine>, EngineError> {
        let store = self.options.store();
        progress("locating model files", 0.0);
        let files = ScenemaFiles::locate(&store).map_err(EngineError::MissingFiles)?;
        let device = self.options.device.open().map_err(EngineError::Device)?;
        Ok(Box::new(ScenemaModel::load(&files, device, progress).map_err(EngineError::load)?))
    }

    fn stages(&self) -> StageModels {
        let device = self.options.device;
        StageModels::new(Some(self.options.store()), device, Residency::for_device(device))
    }
}

/// The loaded Scenema Audio model.
pub struct ScenemaModel {
    text: TextEncoder,
    processor: AudioEmbeddingsProcessor,
    transformer: X0Model,
    decoder: AudioDecoder,
    vocoder: VocoderWithBwe,
    encoder: AudioEncoder,
    device: Device,
    dtype: DType,
    info: ModelInfo,
    /// Named when a stage's output is not finite.
    files: ScenemaFiles,
    gemma_shards: Vec<PathBuf>,
    capabilities: Capabilities,
    /// The last reference encoded, kept while the same clip conditions chunk after chunk (anchor mode).
    encoded_reference: Option<(Arc<AudioBuffer>, Latent)>,
}

/// An audio latent `(1, 8, T, 16)`.
struct Latent {
    frames: usize,
    tensor: Tensor,
}

/// An error unless every value of `t` is finite: `x · 0` is 0 for finite `x` and NaN otherwise, so the
/// sum is NaN exactly when something is not finite (and cannot overflow).
fn ensure_finite(t: &Tensor, stage: &str, files: &[&Path]) -> Result<(), ModelError> {
    let probe = (t.to_dtype(DType::F32)? * 0.0)?.sum_all()?.to_scalar::<f32>()?;
    if probe.is_finite() {
        return Ok(());
    }
    let names: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
    Err(ModelError::Failed(format!(
        "the {stage} produced NaN or infinite values; its weights are damaged ({}). Run `promptbook models verify`",
        names.join(", ")
    )))
}

fn file_error(path: &Path, what: &str) -> impl Fn(promptbook_models::candle::Error) -> String {
    let path = path.display().to_string();
    let what = what.to_string();
    move |e| format!("cannot load the {what} from {path}: {e}")
}

fn model_file(path: &Path) -> ModelFile {
    ModelFile {
        name: path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
        bytes: std::fs::metadata(path).map_or(0, |m| m.len()),
        // Hashing ~40 GB on every load is too slow; `promptbook models verify` checks the hashes.
        sha256: None,
    }
}

impl ScenemaModel {
    /// Load every part from `files` onto `device`: bf16 on a GPU, f32 on the CPU (the vocoder always f32).
    pub fn load(
        files: &ScenemaFiles,
        device: Device,
        progress: &mut dyn FnMut(&str, f32),
    ) -> Result<Self, String> {
        let dtype = if device.is_cpu() { DType::F32 } else { DType::BF16 };

        progress("loading the Gemma 3 text encoder", 0.05);
        let gemma = GemmaFiles::in_dir(&files.gemma_dir).map_err(|e| e.to_string())?;
        let options =
            EncoderOptions { mode: device.is_cpu().then_some(MemoryMode::CPU_F32), ..Default::default() };
        let text = TextEncoder::load(&gemma, &options).map_err(|e| e.to_string())?;
        let gemma_cfg = text.model().config();
        let (embedding_dim, num_levels) = (gemma_cfg.hidden_size, gemma_cfg.num_hidden_layers + 1);

        progress("loading the audio connector", 0.4);
        let processor = connector::load(&[&files.pipeline], embedding_dim, num_levels, dtype, &device)
            .map_err(file_error(&files.pipeline, "audio connector"))?;

        progress("loading the audio transformer", 0.5);
        let transformer = transformer::load(&[&files.transformer], dtype, &device)
            .map_err(file_error(&files.transformer, "audio transformer"))?;
        let mut config_defaults: Vec<String> = transformer
            .velocity_model()
            .config()
            .defaulted
            .iter()
            .map(|d| format!("transformer.{d}"))
            .collect();
        config_defaults
            .extend(processor.audio_connector.config().defaulted.iter().map(|d| format!("connector.{d}")));
        config_defaults.sort();
        config_defaults.dedup();

        progress("loading the audio VAE decoder and vocoder", 0.8);
        let pipeline = Arc::new(
            Checkpoint::open(&[&files.pipeline]).map_err(file_error(&files.pipeline, "pipeline file"))?,
        );
        let decoder = audio_vae::load_decoder(&pipeline, dtype, &device)
            .map_err(file_error(&files.pipeline, "audio VAE decoder"))?;
        let vocoder =
            vocoder::load(&pipeline, DType::F32, &device).map_err(file_error(&files.pipeline, "vocoder"))?;

        progress("loading the audio VAE encoder", 0.9);
        let encoder_ckpt = match &files.encoder {
            Some(path) => {
                Some(Arc::new(Checkpoint::open(&[path]).map_err(file_error(path, "audio VAE encoder"))?))
            }
            None => None,
        };
        let encoder_source = files.encoder.as_deref().unwrap_or(&files.pipeline);
        let (encoder, encoder_origin) =
            audio_vae::load_reference_encoder(encoder_ckpt.as_ref(), &pipeline, dtype, &device)
                .map_err(file_error(encoder_source, "audio VAE encoder"))?;

        let mut model_files: Vec<ModelFile> =
            [Some(&files.transformer), Some(&files.pipeline), files.encoder.as_ref()]
                .into_iter()
                .flatten()
                .map(|p| model_file(p))
                .collect();
        model_files.extend(gemma.weights.iter().map(|p| model_file(p)));
        model_files.push(model_file(&gemma.config));
        model_files.push(model_file(&gemma.tokenizer));
        let weight_bytes =
            model_files.iter().filter(|f| f.name.ends_with(".safetensors")).map(|f| f.bytes).sum();
        let info = ModelInfo {
            engine: "scenema".into(),
            device: device_name(&device),
            dtype: format!("{dtype:?}").to_lowercase(),
            files: model_files,
            weight_bytes,
            sample_rate: vocoder.output_sample_rate(),
            steps: STEPS,
            load_report: LoadReport { reference_encoder: Some(encoder_origin.to_string()), config_defaults },
        };
        progress("model loaded", 1.0);
        Ok(Self {
            text,
            processor,
            transformer,
            decoder,
            vocoder,
            encoder,
            device,
            dtype,
            info,
            files: files.clone(),
            gemma_shards: gemma.weights.clone(),
            capabilities: capabilities(),
            encoded_reference: None,
        })
    }
}

fn device_name(device: &Device) -> String {
    match device.location() {
        promptbook_models::candle::DeviceLocation::Cpu => "cpu".into(),
        promptbook_models::candle::DeviceLocation::Cuda { gpu_id } => format!("cuda:{gpu_id}"),
        promptbook_models::candle::DeviceLocation::Metal { gpu_id } => format!("metal:{gpu_id}"),
    }
}

impl ScenemaModel {
    /// Encode a compiled chunk prompt to the connector's `audio_context`.
    fn encode_text(&mut self, prompt: &str) -> Result<Tensor, ModelError> {
        let encoded = self.text.encode(prompt).map_err(|e| ModelError::from_message(e.to_string()))?;
        let shards: Vec<&Path> = self.gemma_shards.iter().map(PathBuf::as_path).collect();
        for hidden in &encoded.hidden_states {
            ensure_finite(hidden, "Gemma 3 text encoder", &shards)?;
        }
        let levels = encoded
            .hidden_states
            .iter()
            .map(|h| h.to_device(&self.device)?.to_dtype(self.dtype))
            .collect::<promptbook_models::candle::Result<Vec<_>>>()?;
        let mask = encoded.attention_mask.to_device(&self.device)?;
        let features = self.processor.feature_extractor.forward_levels(&levels, &mask)?;
        let context = self.processor.audio_connector.forward(&features, &mask)?;
        ensure_finite(&context, "audio connector", &[&self.files.pipeline])?;
        Ok(context)
    }

    /// Sample a clean latent for `duration_s` seconds from `seed`, optionally conditioned on a clean
    /// reference latent placed in front of the sequence.
    fn sample(
        &mut self,
        context: &Tensor,
        duration_s: f64,
        seed: u64,
        reference: Option<&Tensor>,
        sink: &mut dyn ChunkSink,
    ) -> Result<Latent, ModelError> {
        let frames = latent_frames_for_duration(duration_s)?;
        let noise = Tensor::from_vec(
            seeded_noise(seed, frames * TOKEN_WIDTH),
            (1, frames, TOKEN_WIDTH),
            &Device::Cpu,
        )?
        .to_device(&self.device)?
        .to_dtype(self.dtype)?;
        let mut state = AudioLatentState::new(&noise, reference)?;
        let transformer = &self.transformer;
        let mut denoiser = |s: &AudioLatentState, sigma: f32| {
            transformer.forward(&s.latent, &s.denoise_mask, sigma, &s.positions, context)
        };
        // Asked before each step: reporting step k (k ≥ 1 done) there lets cancel stop before step k + 1.
        let mut should_stop = |step: usize| step > 0 && sink.step(step, STEPS).is_break();
        let outcome = sample(&mut state, &DISTILLED_SIGMAS, &mut denoiser, &mut should_stop)?;
        match outcome {
            SampleOutcome::Cancelled { .. } => return Err(ModelError::Cancelled),
            SampleOutcome::Finished => {
                if sink.step(STEPS, STEPS).is_break() {
                    return Err(ModelError::Cancelled);
                }
            }
        }
        let latent = state.generated_latent()?;
        ensure_finite(&latent, "audio transformer", &[&self.files.transformer])?;
        Ok(Latent { frames: latent.dim(2)?, tensor: latent })
    }

    /// Decode a latent to stereo audio at the vocoder's rate.
    fn decode(&mut self, latent: &Latent) -> Result<AudioBuffer, ModelError> {
        let audio = audio_vae::decode_audio(&self.decoder, &self.vocoder, &latent.tensor)?;
        ensure_finite(&audio, "audio VAE decoder and vocoder", &[&self.files.pipeline])?;
        // (1, 2, N) -> two channels of N samples
        let channels = audio.squeeze(0)?.to_dtype(DType::F32)?.to_device(&Device::Cpu)?.to_vec2::<f32>()?;
        Ok(AudioBuffer::from_channels(self.vocoder.output_sample_rate(), channels))
    }

    /// Encode a reference waveform (any rate, mono or stereo) to a latent.
    fn encode_reference(&mut self, audio: &AudioBuffer) -> Result<Latent, ModelError> {
        let channels =
            if audio.num_channels() > 2 { vec![audio.to_mono()] } else { audio.channels().to_vec() };
        let latent = self.encoder.encode_reference(
            &channels,
            audio.sample_rate(),
            MAX_REF_CAP_SECONDS,
            &self.device,
        )?;
        // Without an encoder file the encoder was read from the pipeline file.
        let weights = self.files.encoder.as_deref().unwrap_or(&self.files.pipeline);
        ensure_finite(&latent, "audio VAE encoder", &[weights])?;
        let latent = latent.to_dtype(self.dtype)?;
        Ok(Latent { frames: latent.dim(2)?, tensor: latent })
    }

    /// The latent of `reference`, encoded once per clip.
    fn reference_latent(&mut self, reference: &ReferenceAudio) -> Result<(usize, Tensor), ModelError> {
        if let Some((clip, latent)) = &self.encoded_reference
            && Arc::ptr_eq(clip, &reference.audio)
        {
            return Ok((latent.frames, latent.tensor.clone()));
        }
        let latent = self.encode_reference(&reference.audio)?;
        let out = (latent.frames, latent.tensor.clone());
        self.encoded_reference = Some((reference.audio.clone(), latent));
        Ok(out)
    }
}

fn ms(since: std::time::Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

impl VoiceEngine for ScenemaModel {
    fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    fn info(&self) -> ModelInfo {
        self.info.clone()
    }

    fn render_chunk(
        &mut self,
        chunk: &ChunkRequest<'_>,
        sink: &mut dyn ChunkSink,
    ) -> Result<RenderedChunk, ModelError> {
        let reference = chunk.reference.map(|r| self.reference_latent(r)).transpose()?;
        let t = std::time::Instant::now();
        let context = self.encode_text(chunk.prompt)?;
        let encode_text_ms = ms(t);

        let t = std::time::Instant::now();
        let latent =
            self.sample(&context, chunk.duration_s, chunk.seed, reference.as_ref().map(|(_, l)| l), sink)?;
        let sample_ms = ms(t);

        if sink.decoding().is_break() {
            return Err(ModelError::Cancelled);
        }
        let t = std::time::Instant::now();
        let audio = self.decode(&latent)?;
        let decode_ms = ms(t);
        Ok(RenderedChunk {
            audio,
            latent_frames: Some(latent.frames),
            reference_frames: reference.map(|(frames, _)| frames),
            encode_text_ms,
            sample_ms,
            decode_ms,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_noise_is_deterministic_and_standard() {
        let a = seeded_noise(42, 10_001);
        assert_eq!(a, seeded_noise(42, 10_001));
        assert_ne!(a[..16], seeded_noise(43, 16)[..]);
        let mean = a.iter().map(|&x| f64::from(x)).sum::<f64>() / a.len() as f64;
        let var = a.iter().map(|&x| (f64::from(x) - mean).powi(2)).sum::<f64>() / a.len() as f64;
        assert!(mean.abs() < 0.05 && (var - 1.0).abs() < 0.05, "mean {mean} var {var}");
    }
}
