//! The engine thread: owns the loaded model, renders one request at a time, and talks to the studio and
//! the command line only through two bounded channels of [`EngineCommand`] and [`EngineEvent`].
//!
//! Every event carries the request id of the command that caused it, so a caller can drop stale results.
//! A panic inside a command becomes [`EngineEvent::Failed`] and the thread carries on (with the model
//! unloaded, since its state is unknown). Cancel is checked after every sampler step.
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

use crate::pipeline::model::{AudioModel, ModelInfo};
use crate::pipeline::render::{RenderError, RenderProgress, RenderRequest, Take, render};
use crate::pipeline::waveform::Waveform;

pub type RequestId = u64;

/// Capacity of the command queue.
const COMMANDS: usize = 64;
/// Capacity of the event queue.
const EVENTS: usize = 256;

/// How to get a model: the engine calls the loader on its own thread.
pub trait ModelLoader: Send {
    /// Load, reporting `(message, fraction 0..=1)` as it goes.
    fn load(&mut self, progress: &mut dyn FnMut(&str, f32)) -> Result<Box<dyn AudioModel>, String>;
}

pub enum EngineCommand {
    /// Load (or reload) the model.
    Load { id: RequestId, loader: Box<dyn ModelLoader> },
    /// Render a take with the loaded model.
    Render { id: RequestId, request: Box<RenderRequest> },
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
    /// A chunk's raw decoded audio, as soon as it exists: the studio can play it while the next renders.
    ChunkAudio {
        id: RequestId,
        index: usize,
        of: usize,
        audio: Arc<Waveform>,
    },
    Finished {
        id: RequestId,
        take: Box<Take>,
    },
    Failed {
        id: RequestId,
        message: String,
    },
    Cancelled {
        id: RequestId,
    },
}

impl EngineEvent {
    pub fn id(&self) -> RequestId {
        match self {
            EngineEvent::LoadProgress { id, .. }
            | EngineEvent::Loaded { id, .. }
            | EngineEvent::Unloaded { id }
            | EngineEvent::ChunkStarted { id, .. }
            | EngineEvent::SamplerStep { id, .. }
            | EngineEvent::Decoding { id, .. }
            | EngineEvent::ChunkAudio { id, .. }
            | EngineEvent::Finished { id, .. }
            | EngineEvent::Failed { id, .. }
            | EngineEvent::Cancelled { id } => *id,
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

    pub fn load(&mut self, loader: Box<dyn ModelLoader>) -> Result<RequestId, EngineGone> {
        let id = self.next_id();
        self.send(EngineCommand::Load { id, loader })?;
        Ok(id)
    }

    pub fn render(&mut self, request: RenderRequest) -> Result<RequestId, EngineGone> {
        let id = self.next_id();
        self.send(EngineCommand::Render { id, request: Box::new(request) })?;
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
    model: Option<Box<dyn AudioModel>>,
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
            let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| self.execute(command)));
            if let Err(panic) = outcome {
                let message = panic_message(&panic);
                // The model may be half-updated: drop it rather than trust it.
                self.model = None;
                self.emit(EngineEvent::Failed { id, message: format!("internal error: {message}") });
            }
        }
    }

    fn execute(&mut self, command: EngineCommand) {
        match command {
            EngineCommand::Load { id, mut loader } => {
                self.model = None; // free the old model before loading the new one
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
                        self.model = Some(model);
                        self.emit(EngineEvent::Loaded { id, info });
                    }
                    Err(message) => self.emit(EngineEvent::Failed { id, message }),
                }
            }
            EngineCommand::Render { id, request } => self.render(id, &request),
            EngineCommand::Cancel { id } => {
                // Only queued renders reach here (a running one is cancelled from its step callback).
                let before = self.pending.len();
                self.pending.retain(|c| !matches!(c, EngineCommand::Render { id: rid, .. } if *rid == id));
                if self.pending.len() != before {
                    self.emit(EngineEvent::Cancelled { id });
                }
            }
            EngineCommand::Unload { id } => {
                self.model = None;
                self.emit(EngineEvent::Unloaded { id });
            }
            EngineCommand::Shutdown => {}
        }
    }

    fn render(&mut self, id: RequestId, request: &RenderRequest) {
        let Some(mut model) = self.model.take() else {
            self.emit(EngineEvent::Failed {
                id,
                message: "no model is loaded: install one with `promptbook models download`, or point \
                          --models-dir at a folder that has the files"
                    .into(),
            });
            return;
        };
        let result = {
            let mut observer = |progress: RenderProgress<'_>| self.on_progress(id, progress);
            render(model.as_mut(), request, &mut observer)
        };
        self.model = Some(model);
        match result {
            Ok(take) => self.emit(EngineEvent::Finished { id, take: Box::new(take) }),
            Err(RenderError::Cancelled) => self.emit(EngineEvent::Cancelled { id }),
            Err(err) => self.emit(EngineEvent::Failed { id, message: err.to_string() }),
        }
    }

    /// Forward progress, and look at the command queue: a Cancel for this render stops it.
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
        | EngineCommand::Render { id, .. }
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
