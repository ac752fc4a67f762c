//! The studio's link to the engine thread: starting it and loading the model (or downloading it first),
//! sending renders and cancels, and polling its events into the model state, the queue and the takes.

use std::path::PathBuf;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::Duration;

use anyhow::Context as _;
use std::sync::Arc;

use promptbook_engine::audio::AudioBuffer;
use promptbook_engine::engines::{self, Capabilities, EngineLoader, LoadOptions, ModelInfo};
use promptbook_engine::pipeline::render::{RenderMode, RenderRequest};
use promptbook_engine::runtime::{EngineEvent, EngineHandle, RequestId};
use promptbook_engine::stages::StageId;

use super::{NO_MODEL_HELP, StudioApp};
use crate::studio::model_download::{DownloadState, ModelDownload};
use crate::studio::project::PendingRender;
use crate::studio::settings::random_seed;
use crate::studio::takes::StudioTake;

/// Where the studio's model stands.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelState {
    Missing,
    Loading {
        message: String,
        fraction: f32,
    },
    Loaded(ModelInfo),
    Failed(String),
    /// The engine dropped a loaded model (a panic); "Reload model" runs its loader again.
    Lost(String),
}

/// Where the studio gets the model: the store (hub cache or `--models-dir`) and the device to load it on.
pub struct ModelSource {
    pub store: promptbook_engine::store::Store,
    /// Which transformer the download fetches (INT8 by default).
    pub variant: promptbook_engine::store::Variant,
    pub models_dir: Option<PathBuf>,
    pub device: promptbook_engine::engines::DeviceKind,
    /// The voice engine's id (`scenema`).
    pub engine: String,
}

impl ModelSource {
    fn entry(&self) -> Option<engines::EngineEntry> {
        engines::find(&self.engine).ok()
    }

    fn loader(&self) -> Option<Box<dyn EngineLoader>> {
        let options = LoadOptions {
            models_dir: self.models_dir.clone(),
            device: self.device,
            store: Some(self.store.clone()),
        };
        self.entry().map(|e| (e.loader)(options))
    }

    /// The post stages whose files are all in the store.
    fn installed_stages(&self) -> Vec<StageId> {
        StageId::ALL
            .into_iter()
            .filter(|s| engines::file_states(&self.store, &s.files()).iter().all(|f| f.installed))
            .collect()
    }

    /// Whether every file the engine loads is in the store.
    fn installed(&self) -> bool {
        self.entry().is_some_and(|e| e.file_states(&self.store).iter().all(|f| f.installed))
    }
}

/// The engine thread and what the studio knows of it: the model's state and where it comes from, the
/// model download, and the finished renders being written out on worker threads.
pub(super) struct EngineLink {
    pub(super) handle: Option<EngineHandle>,
    /// A loader waiting for the next frame, which starts the engine thread if it is not running yet.
    pub(super) pending_loader: Option<Box<dyn EngineLoader>>,
    pub(super) load_id: Option<RequestId>,
    pub(super) model: ModelState,
    /// Where the model comes from, so the studio can download and load it.
    pub(super) source: Option<ModelSource>,
    pub(super) download: Option<ModelDownload>,
    /// Finished renders being written and measured on worker threads.
    pub(super) finished: (Sender<FinishedTake>, Receiver<FinishedTake>),
    pub(super) finishing: usize,
    /// What the engine can do: the loaded one's, else the chosen one's from the registry.
    pub(super) capabilities: Capabilities,
    /// The post stages whose models are loaded now.
    pub(super) resident_stages: Vec<StageId>,
    /// The post stages whose model files are in the store (looked up when the source is set or downloaded).
    pub(super) installed_stages: Vec<StageId>,
}

impl Default for EngineLink {
    fn default() -> Self {
        Self {
            handle: None,
            pending_loader: None,
            load_id: None,
            model: ModelState::Missing,
            source: None,
            download: None,
            finished: channel(),
            finishing: 0,
            capabilities: engines::scenema::capabilities(),
            resident_stages: Vec::new(),
            installed_stages: Vec::new(),
        }
    }
}

/// A take back from its worker thread.
pub(super) struct FinishedTake {
    id: RequestId,
    take: StudioTake,
    write_error: Option<String>,
}

impl StudioApp {
    /// Load a model on the engine thread (started on the next frame if it is not running yet).
    pub fn load_model(&mut self, loader: Box<dyn EngineLoader>) {
        self.engine.pending_loader = Some(loader);
        self.engine.model = ModelState::Loading { message: "starting the engine".into(), fraction: 0.0 };
    }

    /// Load the model from `source` now if its files are there; otherwise offer to download it.
    pub fn with_model_source(mut self, source: ModelSource) -> Self {
        if let Some(entry) = source.entry() {
            self.engine.capabilities = (entry.capabilities)();
        }
        self.engine.installed_stages = source.installed_stages();
        if source.installed()
            && let Some(loader) = source.loader()
        {
            self.load_model(loader);
        }
        self.engine.source = Some(source);
        self
    }

    /// Download the missing model files in the background (the Render area shows the progress).
    pub fn start_download(&mut self, ctx: &egui::Context) {
        let Some(source) = &self.engine.source else { return };
        let wake = ctx.clone();
        match ModelDownload::start(source.store.clone(), source.variant, move || wake.request_repaint()) {
            Ok(download) => self.engine.download = Some(download),
            Err(err) => self.status = format!("Cannot start the download: {err}"),
        }
    }

    pub fn download(&self) -> Option<&ModelDownload> {
        self.engine.download.as_ref()
    }

    pub(super) fn pump_download(&mut self) {
        let Some(download) = &mut self.engine.download else { return };
        download.poll();
        match download.state.clone() {
            DownloadState::Running => {}
            DownloadState::Finished => {
                self.engine.download = None;
                self.status = "The model is downloaded; loading it".into();
                if let Some(source) = &self.engine.source {
                    self.engine.installed_stages = source.installed_stages();
                }
                if let Some(loader) = self.engine.source.as_ref().and_then(ModelSource::loader) {
                    self.load_model(loader);
                }
            }
            DownloadState::Cancelled => {
                self.engine.download = None;
                self.status = "Download cancelled; what arrived is kept and resumes next time".into();
            }
            DownloadState::Failed(message) => {
                self.engine.download = None;
                self.status = format!("The download stopped: {message}");
                self.engine.model = ModelState::Failed(format!("download: {message}"));
            }
        }
    }

    pub fn model(&self) -> &ModelState {
        &self.engine.model
    }

    /// What the current engine can do (the inspector's controls come from this).
    pub fn capabilities(&self) -> &Capabilities {
        &self.engine.capabilities
    }

    /// The inspector's engine controls that the current engine declares (others are left out).
    pub fn engine_controls(&self) -> engines::EngineControls {
        let caps = &self.engine.capabilities;
        let c = &self.controls;
        engines::EngineControls {
            instruction: c.instruction.clone().filter(|t| caps.instruction.is_some() && !t.trim().is_empty()),
            emotion_vector: if c.emotion_vector.len() == caps.emotion.vector.len() {
                c.emotion_vector.clone()
            } else {
                Vec::new()
            },
            emotion_strength: c.emotion_strength.filter(|_| caps.emotion.strength),
            target_duration_s: c
                .target_duration_s
                .filter(|_| matches!(caps.duration, engines::DurationControl::TargetSeconds { .. })),
        }
    }

    /// The post stages whose models are loaded now.
    pub fn resident_stages(&self) -> &[StageId] {
        &self.engine.resident_stages
    }

    /// Queue a render of the current script (the inspector's "takes" count of them, with consecutive
    /// seeds); returns the first request's id, or why it cannot start.
    pub fn render(&mut self) -> Result<RequestId, String> {
        if let ModelState::Lost(why) = &self.engine.model {
            let why = format!("The model was unloaded ({why}); use Reload model first");
            self.status = why.clone();
            return Err(why);
        }
        if !matches!(self.engine.model, ModelState::Loaded(_)) {
            self.status = NO_MODEL_HELP.into();
            return Err(NO_MODEL_HELP.into());
        }
        if !self.lint.report.valid {
            let why = "fix the script's errors before rendering (see Problems)".to_string();
            self.status = why.clone();
            return Err(why);
        }
        let renders: Vec<PendingRender> = (0..self.settings.takes.max(1))
            .map(|i| PendingRender {
                script: self.session.script.clone(),
                seed: self.settings.seed + i64::from(i),
                pace: self.settings.pace,
                mode: self.settings.mode,
                estimator: self.settings.estimator,
                reference: self.reference.clone(),
                stages: Some(self.settings.stage_settings()),
                controls: self.engine_controls(),
            })
            .collect();
        let first = match self.submit(renders) {
            Ok(first) => first,
            Err(why) => {
                self.status = why.clone();
                return Err(why);
            }
        };
        let takes = self.settings.takes.max(1);
        self.status = if takes == 1 {
            format!("Queued render #{first} (seed {})", self.settings.seed)
        } else {
            format!(
                "Queued {takes} renders from #{first} (seeds {} to {})",
                self.settings.seed,
                self.settings.seed + i64::from(takes) - 1
            )
        };
        if !self.settings.seed_locked {
            // The render used the seed on screen; the next one explores a new seed unless it is locked.
            self.settings.seed = random_seed();
        }
        Ok(first)
    }

    /// Send `renders` to the engine thread, in order; returns the first request's id.
    pub(super) fn submit(&mut self, renders: Vec<PendingRender>) -> Result<RequestId, String> {
        let mut requests = Vec::with_capacity(renders.len());
        for pending in renders {
            let reference = self.reference_audio(&pending).map_err(|err| format!("{err:#}"))?;
            let mut request = RenderRequest::engine_only(
                pending.script.clone(),
                pending.seed,
                pending.pace,
                pending.mode,
                pending.estimator,
            );
            request.reference = reference.map(Arc::new);
            request.stages = pending.stages;
            request.controls = pending.controls.clone();
            requests.push((request, pending));
        }
        let engine = self.engine.handle.as_mut().ok_or("the engine is not running")?;
        let mut first = None;
        for (request, pending) in requests {
            let id = engine.render(request).map_err(|e| e.to_string())?;
            self.queue.push(id, pending);
            first.get_or_insert(id);
        }
        first.ok_or_else(|| "nothing to render".to_string())
    }

    /// The reference voice a render asks for, read from the project's `refs/`.
    pub(super) fn reference_audio(&self, render: &PendingRender) -> anyhow::Result<Option<AudioBuffer>> {
        if render.mode == RenderMode::VoiceDesign {
            return Ok(None);
        }
        let (Some(name), Some(project)) = (&render.reference, &self.project) else { return Ok(None) };
        let path = project.refs_dir().join(name);
        let audio = promptbook_engine::audio::read_wav(&path)
            .with_context(|| format!("the reference voice {} cannot be read", path.display()))?;
        Ok(Some(audio))
    }

    /// Load the last model again on the engine thread (after it was lost).
    pub fn reload_model(&mut self) {
        let Some(engine) = &mut self.engine.handle else { return };
        match engine.reload() {
            Ok(id) => {
                self.engine.load_id = Some(id);
                self.engine.model =
                    ModelState::Loading { message: "reloading the model".into(), fraction: 0.0 };
            }
            Err(err) => self.engine.model = ModelState::Failed(err.to_string()),
        }
    }

    /// Renders the last session left unfinished, offered back.
    pub fn queue_offer(&self) -> &[PendingRender] {
        &self.session.queue_offer
    }

    /// Queue the renders the last session left unfinished again.
    pub fn requeue_offered(&mut self) -> Result<RequestId, String> {
        if !matches!(self.engine.model, ModelState::Loaded(_)) {
            return Err("the model is not loaded yet".into());
        }
        let renders = std::mem::take(&mut self.session.queue_offer);
        let count = renders.len();
        match self.submit(renders.clone()) {
            Ok(first) => {
                self.status = format!("Queued the {count} render(s) from the last session again");
                Ok(first)
            }
            Err(why) => {
                self.session.queue_offer = renders;
                self.status = format!("Could not queue them again: {why}");
                Err(why)
            }
        }
    }

    /// Forget the renders the last session left unfinished.
    pub fn dismiss_queue_offer(&mut self) {
        self.session.queue_offer.clear();
    }

    /// Keep `.queue.json` up to date with the offered and the unfinished renders.
    pub(super) fn persist_queue(&mut self) {
        let Some(project) = &self.project else { return };
        let now = (self.queue.active_ids(), self.session.queue_offer.len());
        if self.session.queue_written.as_ref() == Some(&now) {
            return;
        }
        let renders: Vec<PendingRender> =
            self.session.queue_offer.iter().cloned().chain(self.queue.pending()).collect();
        match project.write_queue(&renders) {
            Ok(()) => self.session.queue_written = Some(now),
            Err(err) => self.status = format!("Could not write the render queue to the project: {err:#}"),
        }
    }

    /// Cancel a queued or running render.
    pub fn cancel(&mut self, id: RequestId) {
        if let Some(engine) = &self.engine.handle
            && engine.cancel(id).is_err()
        {
            self.status = "the engine thread has stopped".into();
        }
    }

    pub(super) fn pump_engine(&mut self, ctx: &egui::Context) {
        if let Some(loader) = self.engine.pending_loader.take() {
            if self.engine.handle.is_none() {
                let wake = ctx.clone();
                match EngineHandle::spawn(move || wake.request_repaint()) {
                    Ok(engine) => self.engine.handle = Some(engine),
                    Err(err) => {
                        self.engine.model =
                            ModelState::Failed(format!("cannot start the engine thread: {err}"))
                    }
                }
            }
            if let Some(engine) = &mut self.engine.handle {
                match engine.load(loader) {
                    Ok(id) => self.engine.load_id = Some(id),
                    Err(err) => self.engine.model = ModelState::Failed(err.to_string()),
                }
            }
        }
        let mut events = Vec::new();
        if let Some(engine) = &self.engine.handle {
            while let Some(event) = engine.try_event() {
                events.push(event);
            }
        }
        for event in events {
            if let EngineEvent::Resident { stages, .. } = &event {
                self.engine.resident_stages = stages.clone();
                continue;
            }
            if let EngineEvent::ModelLost { reason, .. } = &event {
                let why = crate::messages::engine_error(reason);
                self.status = format!("The model was unloaded: {why}");
                self.engine.model = ModelState::Lost(why);
                continue;
            }
            if Some(event.id()) == self.engine.load_id {
                match event {
                    EngineEvent::LoadProgress { message, fraction, .. } => {
                        self.engine.model = ModelState::Loading { message, fraction };
                    }
                    EngineEvent::Loaded { info, capabilities, .. } => {
                        self.engine.capabilities = *capabilities;
                        self.engine.model = ModelState::Loaded(info);
                    }
                    EngineEvent::Failed { error, .. } => {
                        self.engine.model = ModelState::Failed(crate::messages::engine_error(&error));
                    }
                    _ => {}
                }
                continue;
            }
            if let Some((id, take)) = self.queue.apply(event) {
                self.finish_take(ctx, id, take);
            }
        }
        while let Ok(finished) = self.engine.finished.1.try_recv() {
            self.engine.finishing -= 1;
            let FinishedTake { id, take, write_error } = finished;
            let number = take.number;
            // Finished while the session moved to another folder (or into its first one).
            let elsewhere = write_error.is_none()
                && self.project.as_ref().is_some_and(|p| take.stored_in.as_deref() != Some(p.dir.as_path()));
            self.takes.insert(take);
            self.queue.mark_done(id, number);
            let unstored = if elsewhere { self.store_missing_takes() } else { Vec::new() };
            self.status = match (write_error, unstored.is_empty()) {
                (Some(err), _) => format!(
                    "T{number:02} could not be written to the project: {err}; it is kept in memory and Save tries again"
                ),
                (None, false) => {
                    format!("T{number:02} could not be copied to the project: {}", unstored.join("; "))
                }
                (None, true) => format!("Render #{id} became T{number:02}"),
            };
            self.take_arrived(number);
        }
        if self.engine.finishing > 0 {
            ctx.request_repaint_after(Duration::from_millis(50));
        }
        if self.queue.active() > 0 {
            ctx.request_repaint_after(Duration::from_millis(250));
        }
    }

    /// Write a finished render to the project and measure it (peak pyramid, BS.1770 loudness) on a
    /// worker thread: for a long take that is a few hundred milliseconds the window must not freeze for.
    pub(super) fn finish_take(
        &mut self,
        ctx: &egui::Context,
        id: RequestId,
        take: promptbook_engine::pipeline::render::Take,
    ) {
        let number = self.takes.reserve();
        let project = self.project.clone();
        let sender = self.engine.finished.0.clone();
        let wake = ctx.clone();
        let work = move || {
            // Kept on disk at once: a crash after a render never loses the take.
            let (number, stored_in, write_error) = match &project {
                Some(p) => match p.write_new_take(number, &take) {
                    Ok(written) => (written, Some(p.dir.clone()), None),
                    Err(err) => (number, None, Some(format!("{err:#}"))),
                },
                None => (number, None, None),
            };
            let mut take = StudioTake::from_take(number, take);
            take.stored_in = stored_in;
            let _ = sender.send(FinishedTake { id, take, write_error });
            wake.request_repaint();
        };
        match std::thread::Builder::new().name(format!("take-T{number:02}")).spawn(work) {
            Ok(_) => self.engine.finishing += 1,
            Err(err) => self.status = format!("cannot start a worker thread for T{number:02}: {err}"),
        }
    }

    /// A new take is selected and scrolled to, unless the director is listening to another one.
    pub(super) fn take_arrived(&mut self, number: u32) {
        self.ui_state.scroll_to_take = Some(number);
        if !self.runtime.transport.is_playing() {
            self.select_take(number);
        }
    }
}
