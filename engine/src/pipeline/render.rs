//! Rendering a take: plan → per chunk (the voice engine renders it, conditioned on a reference, heard back
//! and retried by the validation stage) → clean up and join → separation → pause shortening → SeedVC.
//! Behaviour follows ltx-audio-spec §7.2 and postprocessing-spec §1.3 (the standalone server): chunk seeds
//! `base + 1000·i`, the next chunk conditioned on the last 3 s of the previous one, per-chunk
//! `trim_silence(max_pause)` + `normalize_volume`, then `shorten_long_silence(max_pause, 0.6·max_pause)`,
//! with `max_pause = min(pace, 3)`.
//!
//! References: the director's clip (first ≤ 20 s) conditions the first chunk, as the ComfyUI front end does
//! (the server gives it to SeedVC only); with Skip VC every chunk is conditioned on its last 3 s instead
//! (the server's anchor mode). The next chunk continues from the attempt that was kept, not from the last
//! one tried (the server's quirk, postprocessing-spec §1.8 #3, is not reproduced).

use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::postprocess;
use crate::audio::AudioBuffer;
use crate::check::EstimatorKind;
use crate::engines::{
    ChunkRequest, ChunkSink, Continuity, EngineControls, ModelInfo, ReferenceAudio, ReferenceSource,
    RenderedChunk, VoiceEngine,
};
use crate::error::{EngineError, ModelError};
use crate::plan::{check_pace, check_seed};
use crate::prompt::PromptError;
use crate::stages::separation::Stems;
use crate::stages::validation::{TranscribeOptions, word_match};
use crate::stages::voice_conversion::VoiceConversionSettings;
use crate::stages::{
    PlannedStage, RenderFacts, StageId, StageModels, StageRecord, StageSettings, plan_stages,
};

/// Voice design renders one sample of this length.
pub const VOICE_DESIGN_SECONDS: f64 = 15.0;
/// The anchor: the last seconds of the director's clip, with Skip VC (`tail_seconds = 3.0`).
pub const ANCHOR_SECONDS: f64 = 3.0;
/// Validation attempts per chunk, and how each retry changes the chunk (postprocessing-spec §2.7).
pub const VALIDATION_ATTEMPTS: usize = 4;
pub const RETRY_DURATION_FACTOR: f64 = 1.3;
pub const RETRY_MAX_DURATION_S: f64 = 20.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RenderMode {
    /// Plan the script into chunks and render them with voice continuity.
    Generate,
    /// One 15 s sample without chunking, to audition a voice description.
    VoiceDesign,
}

/// Everything a render depends on besides the engine.
#[derive(Debug, Clone)]
pub struct RenderRequest {
    pub script: String,
    /// Base seed; -1 picks a random base (reported in the record); other negatives are refused.
    pub seed: i64,
    pub pace: f64,
    pub mode: RenderMode,
    pub estimator: EstimatorKind,
    /// The director's reference clip, if any.
    pub reference: Option<Arc<AudioBuffer>>,
    /// What the reference says, for engines that need it.
    pub reference_transcript: Option<String>,
    /// The engine's own controls (those its capabilities declare).
    pub controls: EngineControls,
    /// The post stages' settings; `None` renders with the engine alone (no stage runs, the reference
    /// conditions the first chunk).
    pub stages: Option<StageSettings>,
}

impl RenderRequest {
    /// A request with the default controls and the stages off (the engine alone).
    pub fn engine_only(
        script: String,
        seed: i64,
        pace: f64,
        mode: RenderMode,
        estimator: EstimatorKind,
    ) -> Self {
        Self {
            script,
            seed,
            pace,
            mode,
            estimator,
            reference: None,
            reference_transcript: None,
            controls: EngineControls::default(),
            stages: None,
        }
    }
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
    /// Sampling of chunk `index` is done and it is being decoded to audio.
    Decoding {
        index: usize,
        of: usize,
    },
    /// A piece of a chunk's audio from a streaming engine.
    AudioPiece {
        index: usize,
        audio: Arc<AudioBuffer>,
    },
    /// A chunk's decoded audio, sent as soon as it exists (before the take is joined).
    ChunkReady {
        index: usize,
        of: usize,
        audio: Arc<AudioBuffer>,
    },
    /// A post stage starts (`chunk` for the per-chunk validation).
    Stage {
        stage: StageId,
        chunk: Option<usize>,
    },
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
    /// The validation attempts of this chunk (empty when it was not validated).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attempts: Vec<AttemptRecord>,
}

/// One validation attempt of a chunk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttemptRecord {
    pub seed: i64,
    pub duration_s: f64,
    pub transcript: String,
    pub ratio: f64,
    pub passed: bool,
    /// The attempt the take keeps.
    pub kept: bool,
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage_settings: Option<StageSettings>,
    #[serde(default, skip_serializing_if = "is_default_controls")]
    pub controls: EngineControls,
    pub model: ModelInfo,
    pub sample_rate: u32,
    pub channels: usize,
    pub duration_s: f64,
    pub render_seconds: f64,
    /// Seconds of audio per second of compute (> 1 is faster than real time).
    pub real_time_factor: f64,
}

fn is_default_controls(c: &EngineControls) -> bool {
    *c == EngineControls::default()
}

/// A version of a take's audio along the stage chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TakeVersion {
    /// The engine's chunks, cleaned and joined, before any stage (with the take's pause cuts, so it lines up
    /// with the take).
    Raw,
    /// After separation (the dialogue stem, or the full mix with Background SFX).
    Separated,
    /// After SeedVC (the final take when it ran).
    Converted,
}

impl TakeVersion {
    pub fn name(self) -> &'static str {
        match self {
            TakeVersion::Raw => "raw",
            TakeVersion::Separated => "separated",
            TakeVersion::Converted => "converted",
        }
    }
}

/// A finished render: the final audio, the versions before the stages that changed it, its stems and
/// its record. Audio is shared, never copied, between the engine, the studio and playback.
#[derive(Debug, Clone)]
pub struct Take {
    pub audio: Arc<AudioBuffer>,
    /// Earlier versions worth an A/B ("before VC"), oldest first; empty when no stage changed the audio.
    pub versions: Vec<(TakeVersion, Arc<AudioBuffer>)>,
    /// Dialogue and SFX stems, aligned with the take, when separation ran.
    pub stems: Option<Arc<Stems>>,
    pub record: GenerationRecord,
}

struct PlannedRender {
    base_seed: i64,
    language: String,
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
    let language = report.compiled.as_ref().map_or_else(|| "en".to_string(), |c| c.language.clone());
    let base_seed = report.base_seed.unwrap_or(request.seed);
    match request.mode {
        RenderMode::Generate => Ok(PlannedRender {
            base_seed,
            language,
            chunks: report
                .plan
                .iter()
                .map(|c| (c.text.clone(), c.prompt.clone(), c.duration_s, c.seed))
                .collect(),
        }),
        RenderMode::VoiceDesign => {
            let text = report.compiled.as_ref().map(|c| c.speech_text.clone()).unwrap_or_default();
            Ok(PlannedRender {
                base_seed,
                language,
                chunks: vec![(text, compiled, VOICE_DESIGN_SECONDS, base_seed)],
            })
        }
    }
}

/// The observer seen from inside one chunk.
struct ChunkObserver<'a> {
    index: usize,
    of: usize,
    observer: &'a mut dyn FnMut(RenderProgress<'_>) -> ControlFlow<()>,
}

impl ChunkSink for ChunkObserver<'_> {
    fn step(&mut self, step: usize, of: usize) -> ControlFlow<()> {
        (self.observer)(RenderProgress::Step { chunk: self.index, step, of })
    }

    fn decoding(&mut self) -> ControlFlow<()> {
        (self.observer)(RenderProgress::Decoding { index: self.index, of: self.of })
    }

    fn audio_piece(&mut self, piece: Arc<AudioBuffer>) -> ControlFlow<()> {
        (self.observer)(RenderProgress::AudioPiece { index: self.index, audio: piece })
    }
}

fn cancelled(flow: ControlFlow<()>) -> Result<(), EngineError> {
    if flow.is_break() { Err(EngineError::Cancelled) } else { Ok(()) }
}

fn stage_runs(planned: &[PlannedStage], stage: StageId) -> bool {
    planned.iter().any(|p| p.stage == stage && p.decision.runs())
}

/// Render one attempt of a chunk, and refuse audio that is not finite (silence trimming would quietly turn
/// NaN audio into a near-empty take).
fn render_attempt(
    engine: &mut dyn VoiceEngine,
    chunk: &ChunkRequest<'_>,
    observer: &mut dyn FnMut(RenderProgress<'_>) -> ControlFlow<()>,
) -> Result<RenderedChunk, EngineError> {
    let mut sink = ChunkObserver { index: chunk.index, of: chunk.of, observer };
    let rendered =
        engine.render_chunk(chunk, &mut sink).map_err(|e| EngineError::from_model(chunk.index, e))?;
    if !rendered.audio.is_finite() {
        return Err(EngineError::Model {
            chunk: chunk.index,
            source: ModelError::Failed("the decoded audio holds NaN or infinite samples; the model's weights are damaged (run `promptbook models verify`)".into()),
        });
    }
    Ok(rendered)
}

/// Render `request` with `engine` and the post stages of `stages`, reporting progress to `observer`.
pub fn render(
    engine: &mut dyn VoiceEngine,
    stages: &mut StageModels,
    request: &RenderRequest,
    observer: &mut dyn FnMut(RenderProgress<'_>) -> ControlFlow<()>,
) -> Result<Take, EngineError> {
    let started = Instant::now();
    let planned = plan(request)?;
    let caps = engine.capabilities().clone();
    request.controls.check(&caps).map_err(EngineError::InvalidControls)?;
    let info = engine.info();
    let of = planned.chunks.len();
    let max_pause_s = request.pace.min(3.0);
    let generate = request.mode == RenderMode::Generate;

    let facts =
        RenderFacts { voice_design: !generate, has_reference: request.reference.is_some(), chunks: of };
    let settings = request.stages.unwrap_or_default();
    let order = if request.stages.is_some() { caps.stages.as_slice() } else { &[] };
    let stage_plan = plan_stages(order, &settings, facts, &|s| stages.installed(s));
    let mut stage_records: Vec<StageRecord> = stage_plan
        .iter()
        .filter(|p| !p.decision.runs())
        .map(|p| StageRecord::skipped(p.stage, p.decision.why()))
        .collect();
    let validate = stage_runs(&stage_plan, StageId::Validation);

    // The director's clip: the first chunk hears its head; with Skip VC every chunk hears its tail.
    let anchored = generate && request.stages.is_some_and(|s| s.skip_vc) && request.reference.is_some();
    let user_reference = match &request.reference {
        Some(clip) if generate => {
            let reference = if anchored {
                (clip.tail(ANCHOR_SECONDS), ReferenceSource::UserClipAnchor)
            } else {
                let head_s = caps.reference_max_s.unwrap_or(f64::INFINITY);
                let frames = (head_s * f64::from(clip.sample_rate())).min(clip.frames() as f64) as usize;
                (clip.slice(0, frames), ReferenceSource::UserClip)
            };
            Some(ReferenceAudio {
                audio: Arc::new(reference.0),
                transcript: request.reference_transcript.clone(),
                source: reference.1,
            })
        }
        _ => None,
    };
    let mut reference = user_reference.clone();

    let mut records = Vec::with_capacity(of);
    let mut cleaned = Vec::with_capacity(of);
    let mut first_raw: Option<Arc<AudioBuffer>> = None;
    let mut validation_s = 0.0;
    for (index, (text, prompt, duration_s, seed)) in planned.chunks.iter().enumerate() {
        cancelled(observer(RenderProgress::ChunkStarted { index, of, text }))?;
        let attempts = if validate { VALIDATION_ATTEMPTS } else { 1 };
        let (mut attempt_seed, mut attempt_duration) = (*seed, *duration_s);
        let mut best: Option<(RenderedChunk, f64, i64, f64)> = None; // (chunk, ratio, seed, duration)
        let mut attempt_records = Vec::new();
        for attempt in 0..attempts {
            // The plan refuses negative seeds; were one to get here, it must not alias another chunk's noise.
            let seed_u64 = u64::try_from(attempt_seed)
                .map_err(|_| EngineError::InvalidSettings(PromptError::InvalidSeed(attempt_seed)))?;
            let chunk = ChunkRequest {
                index,
                of,
                text,
                prompt,
                seed: seed_u64,
                duration_s: attempt_duration,
                reference: reference.as_ref(),
                controls: &request.controls,
            };
            let rendered = render_attempt(engine, &chunk, observer)?;
            if !validate {
                best = Some((rendered, 1.0, attempt_seed, attempt_duration));
                break;
            }
            cancelled(observer(RenderProgress::Stage { stage: StageId::Validation, chunk: Some(index) }))?;
            let t = Instant::now();
            let heard = transcribe(stages, &rendered.audio, Some(planned.language.clone()));
            validation_s += t.elapsed().as_secs_f64();
            // A transcription that fails scores 0, as the server's swallowed exception does (§1.8 #5).
            let transcript = heard.unwrap_or_default();
            let score = word_match(text, &transcript, settings.min_match_ratio);
            attempt_records.push(AttemptRecord {
                seed: attempt_seed,
                duration_s: attempt_duration,
                transcript,
                ratio: score.ratio,
                passed: score.passed,
                kept: false,
            });
            if best.as_ref().is_none_or(|(_, ratio, ..)| score.ratio > *ratio) {
                best = Some((rendered, score.ratio, attempt_seed, attempt_duration));
            }
            if score.passed {
                break;
            }
            if attempt + 1 < attempts {
                attempt_duration = (attempt_duration * RETRY_DURATION_FACTOR).min(RETRY_MAX_DURATION_S);
                attempt_seed += 1;
            }
        }
        let Some((rendered, _, kept_seed, kept_duration)) = best else {
            return Err(EngineError::Cancelled);
        };
        for a in &mut attempt_records {
            a.kept = a.seed == kept_seed;
        }
        let audio = Arc::new(rendered.audio);
        cancelled(observer(RenderProgress::ChunkReady { index, of, audio: audio.clone() }))?;
        if index == 0 {
            first_raw = Some(audio.clone());
        }

        records.push(ChunkRecord {
            index,
            text: text.clone(),
            prompt: prompt.clone(),
            seed: kept_seed,
            planned_duration_s: kept_duration,
            rendered_duration_s: audio.duration_secs(),
            start_s: 0.0,
            take_duration_s: 0.0,
            reference: reference.as_ref().map_or(ReferenceSource::None, |r| r.source),
            reference_latent_frames: rendered.reference_frames,
            latent_frames: rendered.latent_frames.unwrap_or(0),
            encode_text_ms: rendered.encode_text_ms,
            sample_ms: rendered.sample_ms,
            decode_ms: rendered.decode_ms,
            attempts: attempt_records,
        });

        // Voice continuity: the next chunk hears the end of this one (or the anchor, with Skip VC).
        if index + 1 < of
            && !anchored
            && let Continuity::PreviousTail { seconds } = caps.continuity
        {
            reference = Some(ReferenceAudio {
                audio: Arc::new(audio.tail(seconds)),
                transcript: None,
                source: ReferenceSource::PreviousChunkTail,
            });
        }

        let chunk_audio = match request.mode {
            RenderMode::Generate => postprocess::trim_silence(&audio, max_pause_s, -40.0),
            RenderMode::VoiceDesign => {
                // Voice design separates the raw sample, before its trimming (§1.4).
                let raw =
                    separate_stage(stages, &stage_plan, &settings, &audio, observer, &mut stage_records)?;
                let separated = raw.as_ref().and_then(|(dialogue, _)| dialogue.as_ref());
                postprocess::trim_silence(separated.unwrap_or(&*audio), 0.5, -40.0)
            }
        };
        cleaned.push(postprocess::normalize_volume(&chunk_audio, -23.0).0);
    }
    if validate {
        stages.after_use(StageId::Validation);
        let attempts: usize = records.iter().map(|r| r.attempts.len()).sum();
        let failed = records.iter().filter(|r| !r.attempts.iter().any(|a| a.passed)).count();
        stage_records.push(StageRecord {
            name: StageId::Validation.name().into(),
            ran: true,
            note: format!(
                "{attempts} attempts over {of} chunks; {failed} chunk(s) never reached the minimum match, their best attempt kept"
            ),
            params: serde_json::json!({
                "min_match_ratio": settings.min_match_ratio,
                "attempts": VALIDATION_ATTEMPTS,
                "language": planned.language,
            }),
            seconds: validation_s,
            files: StageId::Validation.files(),
        });
    }

    let mut joined = AudioBuffer::from_channels(info.sample_rate, Vec::new());
    let mut starts = Vec::with_capacity(of);
    for chunk in &cleaned {
        starts.push(joined.frames());
        joined.append(chunk);
    }
    let mut versions: Vec<(TakeVersion, Arc<AudioBuffer>)> = Vec::new();
    let mut stems = None;
    let (joined, cuts) = match request.mode {
        RenderMode::Generate => {
            let separated =
                separate_stage(stages, &stage_plan, &settings, &joined, observer, &mut stage_records)?;
            // The audio before separation, kept only when separation replaced it with the dialogue.
            let mut before_separation = None;
            let joined = match separated {
                Some((Some(dialogue), found)) => {
                    stems = Some(found);
                    before_separation = Some(joined);
                    dialogue
                }
                Some((None, found)) => {
                    stems = Some(found);
                    joined
                }
                None => joined,
            };
            let (shortened, cuts) =
                postprocess::shorten_long_silence_mapped(&joined, max_pause_s, 0.6 * max_pause_s, -35.0);
            // The stems and the raw version follow the take's cuts, so an A/B at one playhead lines up.
            stems =
                stems.map(|s: Stems| Stems { dialogue: cuts.apply(&s.dialogue), sfx: cuts.apply(&s.sfx) });
            if let Some(raw) = before_separation {
                versions.push((TakeVersion::Raw, Arc::new(cuts.apply(&raw))));
            }
            (shortened, cuts)
        }
        RenderMode::VoiceDesign => {
            let (shortened, cuts) = postprocess::shorten_long_silence_mapped(&joined, 1.0, 0.3, -35.0);
            (postprocess::normalize_volume(&shortened, -23.0).0, cuts)
        }
    };
    for (record, start) in records.iter_mut().zip(starts) {
        record.start_s = cuts.map_frame(start) as f64 / f64::from(joined.sample_rate());
    }

    let mut audio = joined;
    if stage_runs(&stage_plan, StageId::Seedvc) {
        let target = request.reference.clone().or(first_raw);
        if let Some(target) = target {
            let settings = VoiceConversionSettings {
                steps: settings.vc_steps,
                cfg_rate: settings.vc_cfg_rate,
                seed: u64::try_from(planned.base_seed).unwrap_or(0),
            };
            cancelled(observer(RenderProgress::Stage { stage: StageId::Seedvc, chunk: None }))?;
            let (record, converted) =
                convert_stage(stages, &audio, &target, &settings, request.reference.is_some());
            stage_records.push(record);
            if let Some(converted) = converted {
                let before = std::mem::replace(&mut audio, converted);
                // After separation only when separation changed the audio (not with Background SFX).
                let changed_by_separation = !versions.is_empty();
                versions.push((
                    if changed_by_separation { TakeVersion::Separated } else { TakeVersion::Raw },
                    Arc::new(before),
                ));
            }
        }
    }
    let audio = postprocess::ensure_stereo(&audio);
    let ends: Vec<f64> =
        records.iter().skip(1).map(|r| r.start_s).chain(std::iter::once(audio.duration_secs())).collect();
    for (record, end) in records.iter_mut().zip(ends) {
        record.take_duration_s = end - record.start_s;
    }
    stage_records.sort_by_key(|r| {
        StageId::parse(&r.name)
            .map_or(usize::MAX, |s| caps.stages.iter().position(|c| *c == s).unwrap_or(usize::MAX))
    });

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
        stages: stage_records,
        stage_settings: request.stages,
        controls: request.controls.clone(),
        model: info,
        sample_rate: audio.sample_rate(),
        channels: audio.num_channels(),
        duration_s: audio.duration_secs(),
        render_seconds,
        real_time_factor: if render_seconds > 0.0 { audio.duration_secs() / render_seconds } else { 0.0 },
    };
    Ok(Take { audio: Arc::new(audio), versions, stems: stems.map(Arc::new), record })
}

/// What Whisper hears in `audio` (the faster-whisper settings of the reference, §3.2).
fn transcribe(
    stages: &mut StageModels,
    audio: &AudioBuffer,
    language: Option<String>,
) -> Result<String, String> {
    let whisper = stages.transcriber()?;
    let opts = TranscribeOptions { language, ..Default::default() };
    whisper.transcribe(audio, &opts).map(|t| t.text).map_err(|e| e.to_string())
}

/// Validation on its own, on a finished take: does it say `text`?
pub fn validate_stage(
    stages: &mut StageModels,
    audio: &AudioBuffer,
    text: &str,
    language: Option<String>,
    min_match_ratio: f64,
) -> StageRecord {
    let stage = StageId::Validation;
    let t = Instant::now();
    let heard = transcribe(stages, audio, language.clone());
    stages.after_use(stage);
    match heard {
        Ok(transcript) => {
            let score = word_match(text, &transcript, min_match_ratio);
            StageRecord {
                name: stage.name().into(),
                ran: true,
                note: format!(
                    "{} with a word match of {:.2} (min {min_match_ratio:.2}); heard: {transcript}",
                    if score.passed { "passed" } else { "failed" },
                    score.ratio,
                ),
                params: serde_json::json!({ "min_match_ratio": min_match_ratio, "language": language }),
                seconds: t.elapsed().as_secs_f64(),
                files: stage.files(),
            }
        }
        Err(e) => StageRecord::skipped(stage, format!("Whisper could not run: {e}")),
    }
}

/// Run separation if planned: `Some((the dialogue when it replaces the audio, the stems))` (`None` for the
/// audio with Background SFX); a failure is recorded and leaves the audio as it was.
fn separate_stage(
    stages: &mut StageModels,
    plan: &[PlannedStage],
    settings: &StageSettings,
    audio: &AudioBuffer,
    observer: &mut dyn FnMut(RenderProgress<'_>) -> ControlFlow<()>,
    records: &mut Vec<StageRecord>,
) -> Result<Option<(Option<AudioBuffer>, Stems)>, EngineError> {
    if !stage_runs(plan, StageId::Separation) {
        return Ok(None);
    }
    cancelled(observer(RenderProgress::Stage { stage: StageId::Separation, chunk: None }))?;
    let (record, stems) = run_separation(stages, audio, settings.background_sfx);
    records.push(record);
    Ok(stems.map(|stems| ((!settings.background_sfx).then(|| stems.dialogue.clone()), stems)))
}

/// Separation on its own (for a render, or again on a finished take).
pub fn run_separation(
    stages: &mut StageModels,
    audio: &AudioBuffer,
    background_sfx: bool,
) -> (StageRecord, Option<Stems>) {
    let t = Instant::now();
    let result = stages
        .separator()
        .and_then(|s| s.separate(audio, |_, _| ControlFlow::Continue(())).map_err(|e| e.to_string()));
    stages.after_use(StageId::Separation);
    let (note, ran, stems) = match result {
        Ok(stems) => (
            if background_sfx {
                "stems kept; the take keeps the full mix (Background SFX)".to_string()
            } else {
                "the take is the dialogue stem; the SFX stem is kept beside it".to_string()
            },
            true,
            Some(stems),
        ),
        Err(e) => (format!("failed, the take keeps the audio it had: {e}"), false, None),
    };
    let record = StageRecord {
        name: StageId::Separation.name().into(),
        ran,
        note,
        params: serde_json::json!({ "background_sfx": background_sfx }),
        seconds: t.elapsed().as_secs_f64(),
        files: StageId::Separation.files(),
    };
    (record, stems)
}

/// SeedVC on its own (for a render, or again on a finished take): the record, and the converted audio
/// at the input's rate when it ran.
pub fn convert_stage(
    stages: &mut StageModels,
    audio: &AudioBuffer,
    target: &AudioBuffer,
    settings: &VoiceConversionSettings,
    target_is_reference: bool,
) -> (StageRecord, Option<AudioBuffer>) {
    let t = Instant::now();
    let result = stages
        .converter()
        .and_then(|vc| vc.convert(audio, target, settings, &mut |_| {}).map_err(|e| e.to_string()))
        .and_then(|converted| {
            let rate = audio.sample_rate();
            let converted = converted.audio;
            if converted.sample_rate() == rate {
                return Ok(converted);
            }
            crate::audio::resample(&converted, rate).map_err(|e| e.to_string())
        });
    stages.after_use(StageId::Seedvc);
    let target_name = if target_is_reference { "the reference" } else { "chunk 1 (raw)" };
    let (ran, note, out) = match result {
        Ok(converted) => (true, format!("converted towards {target_name}"), Some(converted)),
        Err(e) => (false, format!("failed, the take keeps the audio it had: {e}"), None),
    };
    let record = StageRecord {
        name: StageId::Seedvc.name().into(),
        ran,
        note,
        params: serde_json::json!({
            "steps": settings.steps,
            "cfg_rate": settings.cfg_rate,
            "seed": settings.seed,
            "target": if target_is_reference { "reference" } else { "chunk_0" },
        }),
        seconds: t.elapsed().as_secs_f64(),
        files: StageId::Seedvc.files(),
    };
    (record, out)
}
