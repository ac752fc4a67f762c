//! The engine thread: owns the loaded voice engine and the post stages' models, renders one request at a
//! time (or runs one stage again on a finished take), and talks to the studio and
//! the command line only through two bounded channels of [`EngineCommand`] and [`EngineEvent`].
//!
//! Every event carries the request id of the command that caused it, so a caller can drop stale results.
//! Failures are typed ([`EngineError`]). A panic inside a command becomes [`EngineEvent::Failed`] and the
//! thread carries on with the model unloaded, since its state is unknown; [`EngineEvent::ModelLost`] says so,
//! and [`EngineCommand::Reload`] runs the last loader again. Commands are read after every sampler step:
//! cancel stops the running render there, and removes a queued one at once.
//!
//! Drop policy: progress events (`LoadProgress`, `SamplerStep`) are dropped when the event queue is full;
//! every other event waits for room.

use std::collections::VecDeque;
use std::ops::ControlFlow;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, TrySendError, sync_channel};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::audio::AudioBuffer;
use crate::engines::{Capabilities, EngineLoader, ModelInfo, VoiceEngine};
use crate::error::EngineError;
use crate::pipeline::render::{
    RenderProgress, RenderRequest, Take, convert_stage, render, run_separation, validate_stage,
};
use crate::stages::separation::Stems;
use crate::stages::voice_conversion::VoiceConversionSettings;
use crate::stages::{StageId, StageModels, StageRecord};

pub type RequestId = u64;

/// Capacity of the command queue.
const COMMANDS: usize = 64;
/// Capacity of the event queue.
const EVENTS: usize = 256;

/// A post stage to run again on a finished take ("re-run VC on this take" without re-generating).
#[derive(Debug, Clone)]
pub enum StageJob {
    Separation {
        audio: Arc<AudioBuffer>,
        background_sfx: bool,
    },
    VoiceConversion {
        audio: Arc<AudioBuffer>,
        target: Arc<AudioBuffer>,
        settings: VoiceConversionSettings,
        target_is_reference: bool,
    },
    Validation {
        audio: Arc<AudioBuffer>,
        text: String,
        language: Option<String>,
        min_match_ratio: f64,
    },
}

impl StageJob {
    pub fn stage(&self) -> StageId {
        match self {
            StageJob::Separation { .. } => StageId::Separation,
            StageJob::VoiceConversion { .. } => StageId::Seedvc,
            StageJob::Validation { .. } => StageId::Validation,
        }
    }
}

pub enum EngineCommand {
    /// Load (or reload) the voice engine (and point the stages at its store).
    Load { id: RequestId, loader: Box<dyn EngineLoader> },
    /// Run the last loader again (after the model was lost).
    Reload { id: RequestId },
    /// Render a take with the loaded engine and the post stages.
    Render { id: RequestId, request: Box<RenderRequest> },
    /// Run one post stage on existing audio.
    RunStage { id: RequestId, job: Box<StageJob> },
    /// Cancel a queued or running render.
    Cancel { id: RequestId },
    /// Free the model.
    Unload { id: RequestId },
    /// Stop the thread after the current command.
    Shutdown,
}

#[derive(Debug)]
pub enum EngineEvent {
    LoadProgress {
        id: RequestId,
        message: String,
        fraction: f32,
    },
    Loaded {
        id: RequestId,
        info: ModelInfo,
        /// What the loaded engine can do (the studio draws its controls from this).
        capabilities: Box<Capabilities>,
    },
    /// The post stages whose models are loaded now, whenever that changes (the engine itself is told by
    /// `Loaded` and `Unloaded`).
    Resident {
        id: RequestId,
        stages: Vec<StageId>,
    },
    Unloaded {
        id: RequestId,
    },
    ChunkStarted {
        id: RequestId,
        index: usize,
        of: usize,
        text: String,
    },
    SamplerStep {
        id: RequestId,
        chunk: usize,
        step: usize,
        of: usize,
    },
    /// Chunk `chunk` is being decoded (after its last sampler step, before [`EngineEvent::ChunkAudio`]).
    Decoding {
        id: RequestId,
        chunk: usize,
        of: usize,
    },
    /// A piece of a chunk's audio from a streaming engine, as it is decoded.
    AudioPiece {
        id: RequestId,
        chunk: usize,
        audio: Arc<AudioBuffer>,
    },
    /// A post stage starts (`chunk` for the per-chunk validation).
    StageStarted {
        id: RequestId,
        stage: StageId,
        chunk: Option<usize>,
    },
    /// A stage run again on existing audio ([`EngineCommand::RunStage`]) is done: its record, and its audio
    /// where it makes new audio (separation's take and stems, SeedVC's conversion).
    StageFinished {
        id: RequestId,
        record: StageRecord,
        audio: Option<Arc<AudioBuffer>>,
        stems: Option<Stems>,
    },
    /// A chunk's raw decoded audio, as soon as it exists: the studio can play it while the next renders.
    ChunkAudio {
        id: RequestId,
        index: usize,
        of: usize,
        audio: Arc<AudioBuffer>,
    },
    Finished {
        id: RequestId,
        take: Box<Take>,
    },
    Failed {
        id: RequestId,
        error: EngineError,
    },
    Cancelled {
        id: RequestId,
    },
    /// The model was dropped without being asked to (a panic while running command `id`); renders fail
    /// with [`EngineError::NoModel`] until a load or [`EngineCommand::Reload`].
    ModelLost {
        id: RequestId,
        reason: EngineError,
    },
}

impl EngineEvent {
    pub fn id(&self) -> RequestId {
        match self {
            EngineEvent::LoadProgress { id, .. }
            | EngineEvent::Loaded { id, .. }
            | EngineEvent::Resident { id, .. }
            | EngineEvent::AudioPiece { id, .. }
            | EngineEvent::StageStarted { id, .. }
            | EngineEvent::StageFinished { id, .. }
            | EngineEvent::Unloaded { id }
            | EngineEvent::ChunkStarted { id, .. }
            | EngineEvent::SamplerStep { id, .. }
            | EngineEvent::Decoding { id, .. }
            | EngineEvent::ChunkAudio { id, .. }
            | EngineEvent::Finished { id, .. }
            | EngineEvent::Failed { id, .. }
            | EngineEvent::Cancelled { id }
            | EngineEvent::ModelLost { id, .. } => *id,
        }
    }
}

/// The caller's side of the engine thread.
pub struct EngineHandle {
    commands: SyncSender<EngineCommand>,
    events: Receiver<EngineEvent>,
    next_id: RequestId,
    thread: Option<JoinHandle<()>>,
}

impl EngineHandle {
    /// Start the engine thread. `wake` is called after every event is queued (the studio passes
    /// `egui::Context::request_repaint`).
    pub fn spawn(wake: impl Fn() + Send + 'static) -> std::io::Result<Self> {
        let (command_tx, command_rx) = sync_channel(COMMANDS);
        let (event_tx, event_rx) = sync_channel(EVENTS);
        let thread = std::thread::Builder::new().name("promptbook-engine".into()).spawn(move || {
            Engine {
                model: None,
                loader: None,
                stages: StageModels::none(),
                resident: Vec::new(),
                commands: command_rx,
                pending: VecDeque::new(),
                events: event_tx,
                wake: Box::new(wake),
            }
            .run();
        })?;
        Ok(Self { commands: command_tx, events: event_rx, next_id: 1, thread: Some(thread) })
    }

    /// A fresh request id.
    pub fn next_id(&mut self) -> RequestId {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// Queue a command. Fails only when the engine thread is gone.
    pub fn send(&self, command: EngineCommand) -> Result<(), EngineGone> {
        self.commands.send(command).map_err(|_| EngineGone)
    }

    pub fn load(&mut self, loader: Box<dyn EngineLoader>) -> Result<RequestId, EngineGone> {
        let id = self.next_id();
        self.send(EngineCommand::Load { id, loader })?;
        Ok(id)
    }

    /// Run the last loader again.
    pub fn reload(&mut self) -> Result<RequestId, EngineGone> {
        let id = self.next_id();
        self.send(EngineCommand::Reload { id })?;
        Ok(id)
    }

    pub fn render(&mut self, request: RenderRequest) -> Result<RequestId, EngineGone> {
        let id = self.next_id();
        self.send(EngineCommand::Render { id, request: Box::new(request) })?;
        Ok(id)
    }

    /// Run one post stage on existing audio.
    pub fn run_stage(&mut self, job: StageJob) -> Result<RequestId, EngineGone> {
        let id = self.next_id();
        self.send(EngineCommand::RunStage { id, job: Box::new(job) })?;
        Ok(id)
    }

    pub fn cancel(&self, id: RequestId) -> Result<(), EngineGone> {
        self.send(EngineCommand::Cancel { id })
    }

    /// The next event, if one is waiting (never blocks: for UI frames).
    pub fn try_event(&self) -> Option<EngineEvent> {
        self.events.try_recv().ok()
    }

    /// Wait up to `timeout` for the next event (for the command line and tests).
    pub fn wait_event(&self, timeout: Duration) -> Option<EngineEvent> {
        self.events.recv_timeout(timeout).ok()
    }
}

impl Drop for EngineHandle {
    fn drop(&mut self) {
        let _ = self.commands.try_send(EngineCommand::Shutdown);
        // Drain so a blocked sender can see Shutdown; then the thread ends on its own.
        while self.events.try_recv().is_ok() {}
        if let Some(thread) = self.thread.take() {
            drop(thread); // detached: a render in flight stops at its next step check
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the engine thread has stopped")]
pub struct EngineGone;

struct Engine {
    model: Option<Box<dyn VoiceEngine>>,
    /// The loader of the last load, for [`EngineCommand::Reload`].
    loader: Option<Box<dyn EngineLoader>>,
    stages: StageModels,
    /// The stage models last reported resident.
    resident: Vec<StageId>,
    commands: Receiver<EngineCommand>,
    /// Commands that arrived while a render was running.
    pending: VecDeque<EngineCommand>,
    events: SyncSender<EngineEvent>,
    wake: Box<dyn Fn() + Send>,
}

impl Engine {
    fn run(mut self) {
        loop {
            let command = match self.pending.pop_front() {
                Some(command) => command,
                None => match self.commands.recv() {
                    Ok(command) => command,
                    Err(_) => return, // every handle is gone
                },
            };
            if matches!(command, EngineCommand::Shutdown) {
                return;
            }
            let id = command_id(&command);
            // A render holds the model outside `self.model` while it runs, so look before.
            let loses_model = self.model.is_some()
                && !matches!(command, EngineCommand::Load { .. } | EngineCommand::Reload { .. });
            let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| self.execute(command)));
            if let Err(panic) = outcome {
                let message = panic_message(&panic);
                // The model may be half-updated: drop it rather than trust it.
                self.model = None;
                if loses_model {
                    self.emit(EngineEvent::ModelLost {
                        id,
                        reason: EngineError::Panic { message: message.clone() },
                    });
                }
                self.emit(EngineEvent::Failed { id, error: EngineError::Panic { message } });
            }
        }
    }

    fn execute(&mut self, command: EngineCommand) {
        match command {
            EngineCommand::Load { id, loader } => self.load(id, loader),
            EngineCommand::Reload { id } => match self.loader.take() {
                Some(loader) => self.load(id, loader),
                None => self.emit(EngineEvent::Failed { id, error: EngineError::NothingToReload }),
            },
            EngineCommand::Render { id, request } => self.render(id, &request),
            EngineCommand::RunStage { id, job } => self.run_stage(id, *job),
            // A running render is cancelled from its step callback; this one has not started.
            EngineCommand::Cancel { id } => self.cancel_queued(id),
            EngineCommand::Unload { id } => {
                self.model = None;
                self.stages.unload();
                self.emit(EngineEvent::Unloaded { id });
                self.emit_resident(id);
            }
            EngineCommand::Shutdown => {}
        }
    }

    fn load(&mut self, id: RequestId, loader: Box<dyn EngineLoader>) {
        self.model = None; // free the old model before loading the new one
        self.stages = loader.stages();
        // Kept before it runs, so a failed load can be retried with Reload.
        let loader = self.loader.insert(loader);
        let events = self.events.clone();
        let wake = &self.wake;
        let mut progress = |message: &str, fraction: f32| {
            if events
                .try_send(EngineEvent::LoadProgress { id, message: message.to_string(), fraction })
                .is_ok()
            {
                wake();
            }
        };
        match loader.load(&mut progress) {
            Ok(model) => {
                let info = model.info();
                let capabilities = Box::new(model.capabilities().clone());
                self.model = Some(model);
                self.emit(EngineEvent::Loaded { id, info, capabilities });
            }
            Err(error) => self.emit(EngineEvent::Failed { id, error }),
        }
    }

    fn emit_resident(&mut self, id: RequestId) {
        let now = self.stages.resident();
        if now != self.resident {
            self.resident = now.clone();
            self.emit(EngineEvent::Resident { id, stages: now });
        }
    }

    fn run_stage(&mut self, id: RequestId, job: StageJob) {
        let stage = job.stage();
        self.emit(EngineEvent::StageStarted { id, stage, chunk: None });
        let (record, audio, stems) = match job {
            StageJob::Separation { audio, background_sfx } => {
                let (record, stems) = run_separation(&mut self.stages, &audio, background_sfx);
                // With Background SFX the take keeps the audio it had (shared, not copied).
                let take = stems
                    .as_ref()
                    .map(|s| if background_sfx { audio.clone() } else { Arc::new(s.dialogue.clone()) });
                (record, take, stems)
            }
            StageJob::VoiceConversion { audio, target, settings, target_is_reference } => {
                let (record, converted) =
                    convert_stage(&mut self.stages, &audio, &target, &settings, target_is_reference);
                (record, converted.map(Arc::new), None)
            }
            StageJob::Validation { audio, text, language, min_match_ratio } => {
                (validate_stage(&mut self.stages, &audio, &text, language, min_match_ratio), None, None)
            }
        };
        self.emit(EngineEvent::StageFinished { id, record, audio, stems });
        self.emit_resident(id);
    }

    fn render(&mut self, id: RequestId, request: &RenderRequest) {
        let Some(mut model) = self.model.take() else {
            self.emit(EngineEvent::Failed { id, error: EngineError::NoModel });
            return;
        };
        let mut stages = std::mem::replace(&mut self.stages, StageModels::none());
        let result = {
            let mut observer = |progress: RenderProgress<'_>| self.on_progress(id, progress);
            render(model.as_mut(), &mut stages, request, &mut observer)
        };
        self.model = Some(model);
        self.stages = stages;
        self.emit_resident(id);
        match result {
            Ok(take) => self.emit(EngineEvent::Finished { id, take: Box::new(take) }),
            Err(EngineError::Cancelled) => self.emit(EngineEvent::Cancelled { id }),
            Err(error) => self.emit(EngineEvent::Failed { id, error }),
        }
    }

    /// Forward progress, and look at the command queue: a Cancel for this render stops it, one for a queued
    /// render removes that at once.
    fn on_progress(&mut self, id: RequestId, progress: RenderProgress<'_>) -> ControlFlow<()> {
        let event = match progress {
            RenderProgress::ChunkStarted { index, of, text } => {
                EngineEvent::ChunkStarted { id, index, of, text: text.to_string() }
            }
            RenderProgress::Step { chunk, step, of } => EngineEvent::SamplerStep { id, chunk, step, of },
            RenderProgress::Decoding { index, of } => EngineEvent::Decoding { id, chunk: index, of },
            RenderProgress::ChunkReady { index, of, audio } => {
                EngineEvent::ChunkAudio { id, index, of, audio }
            }
            RenderProgress::AudioPiece { index, audio } => {
                EngineEvent::AudioPiece { id, chunk: index, audio }
            }
            RenderProgress::Stage { stage, chunk } => EngineEvent::StageStarted { id, stage, chunk },
        };
        if matches!(event, EngineEvent::SamplerStep { .. }) {
            if self.events.try_send(event).is_ok() {
                (self.wake)();
            }
        } else {
            self.emit(event);
        }
        loop {
            match self.commands.try_recv() {
                Ok(EngineCommand::Cancel { id: cancel }) if cancel == id => return ControlFlow::Break(()),
                Ok(EngineCommand::Cancel { id: cancel }) => self.cancel_queued(cancel),
                Ok(EngineCommand::Shutdown) => {
                    self.pending.push_front(EngineCommand::Shutdown);
                    return ControlFlow::Break(());
                }
                Ok(other) => self.pending.push_back(other),
                Err(TryRecvError::Empty) => return ControlFlow::Continue(()),
                Err(TryRecvError::Disconnected) => return ControlFlow::Break(()),
            }
        }
    }

    /// Drop a render that has not started yet and say so; a Cancel for anything else is stale.
    fn cancel_queued(&mut self, id: RequestId) {
        let before = self.pending.len();
        self.pending.retain(|c| !matches!(c, EngineCommand::Render { id: queued, .. } if *queued == id));
        if self.pending.len() != before {
            self.emit(EngineEvent::Cancelled { id });
        }
    }

    fn emit(&self, event: EngineEvent) {
        match self.events.try_send(event) {
            Ok(()) => {}
            Err(TrySendError::Full(event)) => {
                if self.events.send(event).is_err() {
                    return;
                }
            }
            Err(TrySendError::Disconnected(_)) => return,
        }
        (self.wake)();
    }
}

fn command_id(command: &EngineCommand) -> RequestId {
    match command {
        EngineCommand::Load { id, .. }
        | EngineCommand::Reload { id }
        | EngineCommand::Render { id, .. }
        | EngineCommand::RunStage { id, .. }
        | EngineCommand::Cancel { id }
        | EngineCommand::Unload { id } => *id,
        EngineCommand::Shutdown => 0,
    }
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic".to_string()
    }
}
