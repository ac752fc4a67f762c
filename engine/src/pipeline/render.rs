//! Rendering a take: plan → per chunk (encode prompt, sample with the chunk's seed conditioned on a reference
//! latent, decode) → clean up and join. Behaviour follows ltx-audio-spec §7.2 (the standalone server):
//! chunk seeds `base + 1000·i`, the next chunk conditioned on the last 3 s of the previous one, per-chunk
//! `trim_silence(max_pause)` + `normalize_volume`, then `shorten_long_silence(max_pause, 0.6·max_pause)`,
//! with `max_pause = min(pace, 3)`. The user's reference clip (first ≤ 20 s) conditions the first chunk,
//! as the ComfyUI front end does; the server's SeedVC pass is a later stage (recorded as not run).

use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::model::{AudioModel, Latent, ModelError, ModelInfo};
use super::postprocess;
use super::waveform::Waveform;
use crate::check::EstimatorKind;
use crate::error::EngineError;
use crate::plan::{check_pace, check_seed};
use crate::prompt::PromptError;

/// The tail of each chunk that conditions the next (`REF_TAIL_SECONDS`).
pub const REF_TAIL_SECONDS: f64 = 3.0;
/// The longest user reference the encoder is given (ComfyUI VAE Encode cap).
pub const MAX_USER_REFERENCE_SECONDS: f64 = 20.0;
/// Voice design renders one sample of this length.
pub const VOICE_DESIGN_SECONDS: f64 = 15.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RenderMode {
    /// Plan the script into chunks and render them with voice continuity.
    Generate,
    /// One 15 s sample without chunking, to audition a voice description.
    VoiceDesign,
}

/// Everything a render depends on besides the model.
#[derive(Debug, Clone)]
pub struct RenderRequest {
    pub script: String,
    /// Base seed; -1 picks a random base (reported in the record); other negatives are refused.
    pub seed: i64,
    pub pace: f64,
    pub mode: RenderMode,
    pub estimator: EstimatorKind,
    /// The director's reference clip, if any.
    pub reference: Option<Waveform>,
}

/// Progress reported while rendering; `Break` from the observer cancels.
pub enum RenderProgress<'a> {
    ChunkStarted {
        index: usize,
        of: usize,
        text: &'a str,
    },
    Step {
        chunk: usize,
        step: usize,
        of: usize,
    },
    /// Sampling of chunk `index` is done and its latent is being decoded to audio (on the real model
    /// this takes longer than the sampler steps).
    Decoding {
        index: usize,
        of: usize,
    },
    /// A chunk's decoded audio, sent as soon as it exists (before the take is joined).
    ChunkReady {
        index: usize,
        of: usize,
        audio: Arc<Waveform>,
    },
}

/// Which reference latent conditioned a chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReferenceSource {
    None,
    UserClip,
    PreviousChunkTail,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChunkRecord {
    pub index: usize,
    pub text: String,
    pub prompt: String,
    pub seed: i64,
    pub planned_duration_s: f64,
    pub rendered_duration_s: f64,
    /// Where this chunk starts in the take, after trimming, joining and silence shortening.
    #[serde(default)]
    pub start_s: f64,
    /// How much of the take this chunk fills (to the next chunk's start); these add up to the take's
    /// `duration_s`, while `rendered_duration_s` is what the model made before trimming.
    #[serde(default)]
    pub take_duration_s: f64,
    pub reference: ReferenceSource,
    /// Latent frames of the reference (76 for a 3 s tail).
    pub reference_latent_frames: Option<usize>,
    pub latent_frames: usize,
    pub encode_text_ms: f64,
    pub sample_ms: f64,
    pub decode_ms: f64,
}

/// A post-processing stage and whether it ran on this take.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageRecord {
    pub name: String,
    pub ran: bool,
    pub note: String,
}

/// Everything needed to understand and reproduce a take.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerationRecord {
    pub promptbook_version: String,
    pub created_unix_s: u64,
    pub script: String,
    pub mode: RenderMode,
    pub base_seed: i64,
    pub pace: f64,
    pub estimator: String,
    pub max_pause_s: f64,
    pub chunks: Vec<ChunkRecord>,
    pub stages: Vec<StageRecord>,
    pub model: ModelInfo,
    pub sample_rate: u32,
    pub channels: usize,
    pub duration_s: f64,
    pub render_seconds: f64,
    /// Seconds of audio per second of compute (> 1 is faster than real time).
    pub real_time_factor: f64,
}

/// A finished render: the joined audio and its record.
#[derive(Debug, Clone)]
pub struct Take {
    pub audio: Waveform,
    pub record: GenerationRecord,
}

struct PlannedRender {
    base_seed: i64,
    chunks: Vec<(String, String, f64, i64)>, // (text, prompt, duration_s, seed)
}

fn plan(request: &RenderRequest) -> Result<PlannedRender, EngineError> {
    check_pace(request.pace).map_err(EngineError::InvalidSettings)?;
    check_seed(request.seed).map_err(EngineError::InvalidSettings)?;
    let opts =
        crate::check::CheckOptions { pace: request.pace, seed: request.seed, estimator: request.estimator };
    let report = crate::check::check(&request.script, &opts);
    if !report.valid {
        let messages: Vec<String> =
            report.errors.iter().map(|e| format!("{}:{}: {}", e.line, e.column, e.message)).collect();
        return Err(EngineError::InvalidScript { problems: messages });
    }
    let compiled = report.compiled.as_ref().map(|c| c.prompt.clone()).unwrap_or_default();
    let base_seed = report.base_seed.unwrap_or(request.seed);
    match request.mode {
        RenderMode::Generate => Ok(PlannedRender {
            base_seed,
            chunks: report
                .plan
                .iter()
                .map(|c| (c.text.clone(), c.prompt.clone(), c.duration_s, c.seed))
                .collect(),
        }),
        RenderMode::VoiceDesign => {
            let text = report.compiled.as_ref().map(|c| c.speech_text.clone()).unwrap_or_default();
            Ok(PlannedRender { base_seed, chunks: vec![(text, compiled, VOICE_DESIGN_SECONDS, base_seed)] })
        }
    }
}

fn model_error(chunk: usize) -> impl Fn(ModelError) -> EngineError {
    move |err| EngineError::from_model(chunk, err)
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

/// Render `request` with `model`, reporting progress to `observer`.
pub fn render(
    model: &mut dyn AudioModel,
    request: &RenderRequest,
    observer: &mut dyn FnMut(RenderProgress<'_>) -> ControlFlow<()>,
) -> Result<Take, EngineError> {
    let started = Instant::now();
    let planned = plan(request)?;
    let info = model.info();
    let of = planned.chunks.len();
    let max_pause_s = request.pace.min(3.0);

    let mut reference: Option<(Latent, ReferenceSource)> = match &request.reference {
        Some(clip) if request.mode == RenderMode::Generate => {
            let head = clip.slice(0, (MAX_USER_REFERENCE_SECONDS * f64::from(clip.sample_rate)) as usize);
            Some((model.encode_reference(&head).map_err(model_error(0))?, ReferenceSource::UserClip))
        }
        _ => None,
    };

    let mut records = Vec::with_capacity(of);
    let mut cleaned = Vec::with_capacity(of);
    for (index, (text, prompt, duration_s, seed)) in planned.chunks.iter().enumerate() {
        if observer(RenderProgress::ChunkStarted { index, of, text }).is_break() {
            return Err(EngineError::Cancelled);
        }
        let t = Instant::now();
        let conditioning = model.encode_text(prompt).map_err(model_error(index))?;
        let encode_text_ms = ms(t);

        let t = Instant::now();
        let mut on_step =
            |step: usize, steps: usize| observer(RenderProgress::Step { chunk: index, step, of: steps });
        // The plan refuses negative seeds; were one to get here, it must not alias another chunk's noise.
        let seed_u64 = u64::try_from(*seed)
            .map_err(|_| EngineError::InvalidSettings(PromptError::InvalidSeed(*seed)))?;
        let latent = model
            .sample(&conditioning, *duration_s, seed_u64, reference.as_ref().map(|(l, _)| l), &mut on_step)
            .map_err(model_error(index))?;
        let sample_ms = ms(t);

        if observer(RenderProgress::Decoding { index, of }).is_break() {
            return Err(EngineError::Cancelled);
        }
        let t = Instant::now();
        let audio = model.decode(&latent).map_err(model_error(index))?;
        let decode_ms = ms(t);
        // Silence trimming would quietly turn NaN audio into a near-empty take.
        if audio.channels.iter().flatten().any(|s| !s.is_finite()) {
            return Err(EngineError::Model {
                chunk: index,
                source: ModelError::Failed("the decoded audio holds NaN or infinite samples; the model's weights are damaged (run `promptbook models verify`)".into()),
            });
        }
        let audio = Arc::new(audio);
        if observer(RenderProgress::ChunkReady { index, of, audio: audio.clone() }).is_break() {
            return Err(EngineError::Cancelled);
        }

        records.push(ChunkRecord {
            index,
            text: text.clone(),
            prompt: prompt.clone(),
            seed: *seed,
            planned_duration_s: *duration_s,
            rendered_duration_s: audio.duration_s(),
            start_s: 0.0,
            take_duration_s: 0.0,
            reference: reference.as_ref().map_or(ReferenceSource::None, |(_, s)| *s),
            reference_latent_frames: reference.as_ref().map(|(l, _)| l.frames),
            latent_frames: latent.frames,
            encode_text_ms,
            sample_ms,
            decode_ms,
        });

        // Voice continuity: the next chunk hears the end of this one.
        if index + 1 < of {
            let tail = audio.tail(REF_TAIL_SECONDS);
            reference = Some((
                model.encode_reference(&tail).map_err(model_error(index))?,
                ReferenceSource::PreviousChunkTail,
            ));
        }

        let chunk_audio = match request.mode {
            RenderMode::Generate => postprocess::trim_silence(&audio, max_pause_s, -40.0),
            RenderMode::VoiceDesign => postprocess::trim_silence(&audio, 0.5, -40.0),
        };
        cleaned.push(postprocess::normalize_volume(&chunk_audio, -23.0).0);
    }

    let mut joined = Waveform::new(info.sample_rate, Vec::new());
    let mut starts = Vec::with_capacity(of);
    for chunk in &cleaned {
        starts.push(joined.frames());
        joined.append(chunk);
    }
    let (joined, cuts) = match request.mode {
        RenderMode::Generate => {
            postprocess::shorten_long_silence_mapped(&joined, max_pause_s, 0.6 * max_pause_s, -35.0)
        }
        RenderMode::VoiceDesign => {
            let (shortened, cuts) = postprocess::shorten_long_silence_mapped(&joined, 1.0, 0.3, -35.0);
            (postprocess::normalize_volume(&shortened, -23.0).0, cuts)
        }
    };
    for (record, start) in records.iter_mut().zip(starts) {
        record.start_s = cuts.map_frame(start) as f64 / f64::from(joined.sample_rate);
    }
    let audio = postprocess::ensure_stereo(&joined);
    let ends: Vec<f64> =
        records.iter().skip(1).map(|r| r.start_s).chain(std::iter::once(audio.duration_s())).collect();
    for (record, end) in records.iter_mut().zip(ends) {
        record.take_duration_s = end - record.start_s;
    }

    let render_seconds = started.elapsed().as_secs_f64();
    let record = GenerationRecord {
        promptbook_version: env!("CARGO_PKG_VERSION").to_string(),
        created_unix_s: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        script: request.script.clone(),
        mode: request.mode,
        base_seed: planned.base_seed,
        pace: request.pace,
        estimator: format!("{:?}", request.estimator).to_lowercase(),
        max_pause_s,
        chunks: records,
        stages: later_stages(),
        model: info,
        sample_rate: audio.sample_rate,
        channels: audio.channel_count(),
        duration_s: audio.duration_s(),
        render_seconds,
        real_time_factor: if render_seconds > 0.0 { audio.duration_s() / render_seconds } else { 0.0 },
    };
    Ok(Take { audio, record })
}

/// The stages around the model that exist in the reference but not yet here: recorded, never faked.
fn later_stages() -> Vec<StageRecord> {
    [
        ("whisper_validation", "Whisper word check and retries: not available in this build"),
        ("vocal_separation", "MelBandRoFormer dialogue/SFX split: not available in this build"),
        ("voice_conversion", "SeedVC voice identity pass: not available in this build"),
    ]
    .into_iter()
    .map(|(name, note)| StageRecord { name: name.to_string(), ran: false, note: note.to_string() })
    .collect()
}
