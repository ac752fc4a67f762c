//! The studio's top-level state and layout.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use egui::{Key, KeyboardShortcut, Modifiers, RichText};
use promptbook_engine::presets;

use promptbook_engine::audio::WavSampleFormat;
use promptbook_engine::pipeline::model::ModelInfo;
use promptbook_engine::pipeline::render::{RenderMode, RenderRequest};
use promptbook_engine::pipeline::waveform::Waveform;
use promptbook_engine::runtime::{EngineEvent, EngineHandle, ModelLoader, RequestId};

#[path = "deck.rs"]
mod deck;
#[path = "export_dialog.rs"]
mod export_dialog;
#[path = "inspector.rs"]
mod inspector;
#[path = "project_ops.rs"]
mod project_ops;

pub use export_dialog::{ExportDialog, ExportTakes};

use super::dialogs::{FileDialogs, NativeDialogs, PathPrompt};
use super::history::History;
use super::lint::Lint;
use super::memory::MemoryGauge;
use super::model_download::{DownloadState, ModelDownload};
use super::playback::{AudioOutput, NullOutput, Transport};
use super::project::{PendingRender, Project, ProjectState, RecentProjects, Recovery};
use super::queue::{JobState, RenderQueue};
use super::settings::{RenderSettings, random_seed};
use super::takes::{StudioTake, Takes, matching_gain_db};
use super::waveform_view::{self, TimelineView};
use super::{editor, plan_ribbon, script_form, theme};
use crate::recorder::RecorderPanel;

const SAVE: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND, Key::S);
const RENDER: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND, Key::Enter);
const UNDO: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND, Key::Z);
const REDO: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND.plus(Modifiers::SHIFT), Key::Z);
const EXPORT: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND, Key::E);
pub use crate::messages::NO_MODEL_HELP;

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
    pub device: promptbook_engine::pipeline::scenema::DeviceKind,
}

impl ModelSource {
    fn loader(&self) -> Box<dyn ModelLoader> {
        Box::new(promptbook_engine::pipeline::scenema::ScenemaLoader {
            models_dir: self.models_dir.clone(),
            device: self.device,
            store: Some(self.store.clone()),
        })
    }
}

/// Which side of the A/B pair is audible.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    A,
    B,
}
/// How long after the last change the recovery file is written.
const RECOVERY_DELAY: Duration = Duration::from_secs(2);

pub const WELCOME_SCRIPT: &str = r#"<speak voice="Warm, low female voice, unhurried" gender="female" scene="A quiet recording booth" shot="closeup" language="en">
<action>She smiles before she speaks</action>Welcome to Promptbook. Write the performance here, and the lint will tell you what the model will hear.
<action>A short pause</action>Every chunk of the plan below is one render.
</speak>
"#;

pub struct StudioApp {
    script: String,
    settings: RenderSettings,
    /// The open project folder; `None` for a session that lives only in memory until "Save as".
    project: Option<Project>,
    /// The script and project state as last saved, to tell unsaved changes.
    saved: Option<(String, ProjectState)>,
    /// The line's name in export file names.
    line: String,
    /// The reference voice (a file in the project's `refs/`) for chunk 1.
    reference: Option<String>,
    /// The clips in the project's `refs/`, read when the project opens, a clip is saved or the list opens.
    references: Vec<crate::recorder::ReferenceEntry>,
    /// Unsaved work a previous session left, offered back until the director decides.
    recovery_offer: Option<Recovery>,
    /// The snapshot waiting to be written to the recovery file, and since when it is unchanged.
    pending_recovery: Option<((String, ProjectState), Instant)>,
    recovery_written: Option<(String, ProjectState)>,
    recent: RecentProjects,
    dialogs: Box<dyn FileDialogs>,
    /// Unsaved work as of this frame's start (see `track_changes`).
    dirty: bool,
    /// Asked whether to save before the window closes.
    confirm_close: bool,
    close_now: bool,
    lint: Lint,
    linted: (String, RenderSettings),
    pending_jump: Option<usize>,
    /// Select this char range of the script in the editor next frame (an inserted placeholder).
    pending_select: Option<std::ops::Range<usize>>,
    status: String,
    engine: Option<EngineHandle>,
    pending_loader: Option<Box<dyn ModelLoader>>,
    load_id: Option<RequestId>,
    model: ModelState,
    /// Where the model comes from, so the studio can download and load it.
    model_source: Option<ModelSource>,
    download: Option<ModelDownload>,
    memory: MemoryGauge,
    queue: RenderQueue,
    takes: Takes,
    /// The take under the playhead (side A when comparing).
    selected: Option<u32>,
    /// The B take of an A/B comparison.
    compare: Option<u32>,
    side: Side,
    /// Play takes at their own level instead of loudness-matched.
    raw_level: bool,
    transport: Transport,
    /// Visible span of the timeline in seconds; `None` shows the whole take.
    view: Option<(f64, f64)>,
    export_format: WavSampleFormat,
    export_dialog: Option<export_dialog::ExportDialog>,
    /// Undo/redo over the script and the render settings.
    history: History<(String, RenderSettings)>,
    /// The span dragged out on the timeline, in seconds.
    selection: Option<(f64, f64)>,
    looping: bool,
    renaming: Option<(u32, String)>,
    recorder: Option<RecorderPanel>,
    /// The window title last sent, so it is only sent when it changes.
    title: String,
    /// Finished renders being written and measured on worker threads.
    finished_takes: (Sender<FinishedTake>, Receiver<FinishedTake>),
    finishing: usize,
    /// Renders the last session left queued or running, offered to queue again.
    queue_offer: Vec<PendingRender>,
    /// The active request ids and offered renders `.queue.json` was last written for.
    queue_written: Option<(Vec<RequestId>, usize)>,
    /// Scroll the takes list to this take on the next frame (a new take).
    scroll_to_take: Option<u32>,
    /// Give the rename field the keyboard on the next frame.
    focus_rename: bool,
    /// Keep the playhead in view while playing a zoomed-in take.
    follow_playhead: bool,
    /// Stands in for a file dialog the desktop could not show.
    path_prompt: Option<PathPrompt>,
}

/// A take back from its worker thread.
struct FinishedTake {
    id: RequestId,
    take: StudioTake,
    write_error: Option<String>,
}

impl StudioApp {
    /// Open what the command line names: a project folder (or its `project.json`), a script file (kept in
    /// memory until saved as a project), or nothing: the most recent project, else the scratch project.
    pub fn open(path: Option<PathBuf>) -> anyhow::Result<Self> {
        let mut app = Self::with_script(String::new());
        app.dialogs = Box::new(NativeDialogs);
        app.recent = RecentProjects::load(RecentProjects::default_file());
        match path {
            Some(path)
                if path.is_dir() || path.file_name().is_some_and(|n| n == super::project::PROJECT_FILE) =>
            {
                app.open_project(&path)?;
            }
            Some(path) => {
                let text = std::fs::read_to_string(&path)
                    .with_context(|| format!("cannot open {}", path.display()))?;
                app.replace_script(text);
                app.status =
                    format!("Opened {}: use File > Save project as... to keep takes with it", path.display());
            }
            None => {
                let recent = app.recent.existing().next().cloned();
                let opened = recent.map(|dir| app.open_project(&dir));
                if !matches!(opened, Some(Ok(()))) {
                    app.open_scratch();
                }
            }
        }
        Ok(app)
    }

    /// A studio holding `script` in memory, with no project and no dialogs (tests, embedding).
    pub fn with_script(script: String) -> Self {
        let settings = RenderSettings::default();
        let lint = Lint::of(&script, &settings.check_options());
        let history = History::new((script.clone(), settings));
        Self {
            linted: (script.clone(), settings),
            script,
            settings,
            project: None,
            saved: None,
            line: "line01".into(),
            reference: None,
            references: Vec::new(),
            recovery_offer: None,
            pending_recovery: None,
            recovery_written: None,
            recent: RecentProjects::default(),
            dialogs: Box::new(super::dialogs::ScriptedDialogs::default()),
            dirty: false,
            confirm_close: false,
            close_now: false,
            lint,
            pending_jump: None,
            pending_select: None,
            status: String::new(),
            engine: None,
            pending_loader: None,
            load_id: None,
            model: ModelState::Missing,
            model_source: None,
            download: None,
            memory: MemoryGauge::default(),
            queue: RenderQueue::default(),
            takes: Takes::default(),
            selected: None,
            compare: None,
            side: Side::A,
            raw_level: false,
            transport: Transport::new(Box::new(NullOutput::default())),
            view: None,
            export_format: WavSampleFormat::Pcm24,
            export_dialog: None,
            history,
            selection: None,
            looping: false,
            renaming: None,
            recorder: None,
            title: String::new(),
            finished_takes: channel(),
            finishing: 0,
            queue_offer: Vec::new(),
            queue_written: None,
            scroll_to_take: None,
            focus_rename: false,
            follow_playhead: true,
            path_prompt: None,
        }
    }

    /// Answer file dialogs with `dialogs` (tests script them).
    pub fn with_dialogs(mut self, dialogs: Box<dyn FileDialogs>) -> Self {
        self.dialogs = dialogs;
        self
    }

    /// Play through `output` instead of the default.
    pub fn with_output(mut self, output: Box<dyn AudioOutput>) -> Self {
        self.transport = Transport::new(output);
        // A take selected while opening the project goes on the new transport.
        self.load_audible();
        self
    }

    /// Load a model on the engine thread (started on the next frame if it is not running yet).
    pub fn load_model(&mut self, loader: Box<dyn ModelLoader>) {
        self.pending_loader = Some(loader);
        self.model = ModelState::Loading { message: "starting the engine".into(), fraction: 0.0 };
    }

    /// Load the model from `source` now if its files are there; otherwise offer to download it.
    pub fn with_model_source(mut self, source: ModelSource) -> Self {
        if promptbook_engine::pipeline::scenema::ScenemaFiles::locate(&source.store).is_ok() {
            self.load_model(source.loader());
        }
        self.model_source = Some(source);
        self
    }

    /// Download the missing model files in the background (the Render area shows the progress).
    pub fn start_download(&mut self, ctx: &egui::Context) {
        let Some(source) = &self.model_source else { return };
        let wake = ctx.clone();
        match ModelDownload::start(source.store.clone(), source.variant, move || wake.request_repaint()) {
            Ok(download) => self.download = Some(download),
            Err(err) => self.status = format!("Cannot start the download: {err}"),
        }
    }

    pub fn download(&self) -> Option<&ModelDownload> {
        self.download.as_ref()
    }

    fn pump_download(&mut self) {
        let Some(download) = &mut self.download else { return };
        download.poll();
        match download.state.clone() {
            DownloadState::Running => {}
            DownloadState::Finished => {
                self.download = None;
                self.status = "The model is downloaded; loading it".into();
                if let Some(source) = &self.model_source {
                    let loader = source.loader();
                    self.load_model(loader);
                }
            }
            DownloadState::Cancelled => {
                self.download = None;
                self.status = "Download cancelled; what arrived is kept and resumes next time".into();
            }
            DownloadState::Failed(message) => {
                self.download = None;
                self.status = format!("The download stopped: {message}");
                self.model = ModelState::Failed(format!("download: {message}"));
            }
        }
    }

    pub fn model(&self) -> &ModelState {
        &self.model
    }

    pub fn queue(&self) -> &RenderQueue {
        &self.queue
    }

    pub fn takes(&self) -> &Takes {
        &self.takes
    }

    pub fn takes_mut(&mut self) -> &mut Takes {
        &mut self.takes
    }

    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    pub fn transport_mut(&mut self) -> &mut Transport {
        &mut self.transport
    }

    pub fn selected_take(&self) -> Option<u32> {
        self.selected
    }

    /// The B take of the A/B comparison, if one is set.
    pub fn compared_take(&self) -> Option<u32> {
        self.compare
    }

    pub fn audible_side(&self) -> Side {
        self.side
    }

    pub fn status(&self) -> &str {
        &self.status
    }

    /// Queue a render of the current script (the inspector's "takes" count of them, with consecutive
    /// seeds); returns the first request's id, or why it cannot start.
    pub fn render(&mut self) -> Result<RequestId, String> {
        if let ModelState::Lost(why) = &self.model {
            let why = format!("The model was unloaded ({why}); use Reload model first");
            self.status = why.clone();
            return Err(why);
        }
        if !matches!(self.model, ModelState::Loaded(_)) {
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
                script: self.script.clone(),
                seed: self.settings.seed + i64::from(i),
                pace: self.settings.pace,
                mode: self.settings.mode,
                estimator: self.settings.estimator,
                reference: self.reference.clone(),
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
    fn submit(&mut self, renders: Vec<PendingRender>) -> Result<RequestId, String> {
        let mut requests = Vec::with_capacity(renders.len());
        for pending in renders {
            let reference = self.reference_audio(&pending).map_err(|err| format!("{err:#}"))?;
            let request = RenderRequest {
                script: pending.script.clone(),
                seed: pending.seed,
                pace: pending.pace,
                mode: pending.mode,
                estimator: pending.estimator,
                reference,
            };
            requests.push((request, pending));
        }
        let engine = self.engine.as_mut().ok_or("the engine is not running")?;
        let mut first = None;
        for (request, pending) in requests {
            let id = engine.render(request).map_err(|e| e.to_string())?;
            self.queue.push(id, pending);
            first.get_or_insert(id);
        }
        first.ok_or_else(|| "nothing to render".to_string())
    }

    /// The reference voice a render asks for, read from the project's `refs/`.
    fn reference_audio(&self, render: &PendingRender) -> anyhow::Result<Option<Waveform>> {
        if render.mode == RenderMode::VoiceDesign {
            return Ok(None);
        }
        let (Some(name), Some(project)) = (&render.reference, &self.project) else { return Ok(None) };
        let path = project.refs_dir().join(name);
        let audio = promptbook_engine::audio::read_wav(&path)
            .with_context(|| format!("the reference voice {} cannot be read", path.display()))?;
        Ok(Some(Waveform::new(audio.sample_rate(), audio.into_channels())))
    }

    /// Load the last model again on the engine thread (after it was lost).
    pub fn reload_model(&mut self) {
        let Some(engine) = &mut self.engine else { return };
        match engine.reload() {
            Ok(id) => {
                self.load_id = Some(id);
                self.model = ModelState::Loading { message: "reloading the model".into(), fraction: 0.0 };
            }
            Err(err) => self.model = ModelState::Failed(err.to_string()),
        }
    }

    /// Renders the last session left unfinished, offered back.
    pub fn queue_offer(&self) -> &[PendingRender] {
        &self.queue_offer
    }

    /// Queue the renders the last session left unfinished again.
    pub fn requeue_offered(&mut self) -> Result<RequestId, String> {
        if !matches!(self.model, ModelState::Loaded(_)) {
            return Err("the model is not loaded yet".into());
        }
        let renders = std::mem::take(&mut self.queue_offer);
        let count = renders.len();
        match self.submit(renders.clone()) {
            Ok(first) => {
                self.status = format!("Queued the {count} render(s) from the last session again");
                Ok(first)
            }
            Err(why) => {
                self.queue_offer = renders;
                self.status = format!("Could not queue them again: {why}");
                Err(why)
            }
        }
    }

    /// Forget the renders the last session left unfinished.
    pub fn dismiss_queue_offer(&mut self) {
        self.queue_offer.clear();
    }

    /// Keep `.queue.json` up to date with the offered and the unfinished renders.
    fn persist_queue(&mut self) {
        let Some(project) = &self.project else { return };
        let now = (self.queue.active_ids(), self.queue_offer.len());
        if self.queue_written.as_ref() == Some(&now) {
            return;
        }
        let renders: Vec<PendingRender> =
            self.queue_offer.iter().cloned().chain(self.queue.pending()).collect();
        match project.write_queue(&renders) {
            Ok(()) => self.queue_written = Some(now),
            Err(err) => self.status = format!("Could not write the render queue to the project: {err:#}"),
        }
    }

    /// Cancel a queued or running render.
    pub fn cancel(&mut self, id: RequestId) {
        if let Some(engine) = &self.engine
            && engine.cancel(id).is_err()
        {
            self.status = "the engine thread has stopped".into();
        }
    }

    /// Play the chunks of render `id` decoded so far (live playback while later chunks render).
    pub fn audition(&mut self, id: RequestId) -> bool {
        let Some(job) = self.queue.get(id) else { return false };
        let Some(first) = job.chunk_audio.first() else { return false };
        let mut joined = Waveform::new(first.sample_rate, Vec::new());
        for chunk in &job.chunk_audio {
            joined.append(chunk);
        }
        let chunks = job.chunk_audio.len();
        // The audition is not a take: nothing is selected, so the timeline and A/B stay out of it.
        self.selected = None;
        self.compare = None;
        self.side = Side::A;
        self.transport.load(Arc::new(joined), 0.0);
        self.transport.seek(0.0);
        self.transport.play();
        self.status = format!("Auditioning {chunks} chunk(s) of render #{id}");
        true
    }

    /// Go back to the script and settings before the last edit.
    pub fn undo(&mut self) {
        let current = (self.script.clone(), self.settings);
        if let Some((script, settings)) = self.history.undo(&current) {
            self.restore(script, settings, "Undone");
        }
    }

    /// Redo what the last undo took back.
    pub fn redo(&mut self) {
        let current = (self.script.clone(), self.settings);
        if let Some((script, settings)) = self.history.redo(&current) {
            self.restore(script, settings, "Redone");
        }
    }

    fn restore(&mut self, script: String, settings: RenderSettings, what: &str) {
        self.script = script;
        self.settings = settings;
        self.refresh_lint();
        self.status = what.into();
    }

    /// The visible span of the timeline in seconds; `None` shows the whole take.
    pub fn timeline_view(&self) -> Option<(f64, f64)> {
        self.view
    }

    pub fn set_timeline_view(&mut self, view: Option<(f64, f64)>) {
        self.view = view;
    }

    /// Select a span of the take (seconds), or clear the selection; a running loop follows it.
    pub fn set_selection(&mut self, span: Option<(f64, f64)>) {
        self.selection = span;
        if self.looping {
            self.set_looping(true);
        }
    }

    pub fn selection(&self) -> Option<(f64, f64)> {
        self.selection
    }

    pub fn is_looping(&self) -> bool {
        self.looping
    }

    /// Loop the selection, or the whole take when nothing is selected.
    pub fn set_looping(&mut self, looping: bool) {
        self.looping = looping;
        let whole = (0.0, self.transport.duration_s());
        self.transport.set_loop(looping.then(|| self.selection.unwrap_or(whole)));
    }

    pub fn export_format_mut(&mut self) -> &mut WavSampleFormat {
        &mut self.export_format
    }

    /// Put take `number` under the playhead (keeping the position); it becomes side A.
    pub fn select_take(&mut self, number: u32) {
        if self.takes.get(number).is_none() {
            return;
        }
        if self.selected != Some(number) {
            self.view = None;
            self.selection = None;
        }
        self.selected = Some(number);
        self.side = Side::A;
        if self.compare == Some(number) {
            self.compare = None;
        }
        self.load_audible();
    }

    /// Compare the selected take (A) with `number` (B).
    pub fn set_compare(&mut self, number: Option<u32>) {
        self.compare = number.filter(|n| Some(*n) != self.selected && self.takes.get(*n).is_some());
        if self.compare.is_none() {
            self.side = Side::A;
        }
        self.load_audible();
    }

    /// Switch A/B at the same playhead position.
    pub fn toggle_ab(&mut self) {
        if self.compare.is_none() {
            return;
        }
        self.side = if self.side == Side::A { Side::B } else { Side::A };
        self.load_audible();
    }

    pub fn set_raw_level(&mut self, raw: bool) {
        self.raw_level = raw;
        self.load_audible();
    }

    /// The audible take and the gain it plays at (dB; B is matched to A unless raw).
    pub fn audible(&self) -> Option<(u32, f64)> {
        let a = self.selected?;
        match (self.side, self.compare) {
            (Side::B, Some(b)) => Some((b, self.b_gain_db())),
            _ => Some((a, 0.0)),
        }
    }

    /// Gain applied to B to match A's integrated loudness (0 with the raw toggle).
    pub fn b_gain_db(&self) -> f64 {
        if self.raw_level {
            return 0.0;
        }
        let lufs = |n: Option<u32>| n.and_then(|n| self.takes.get(n)).and_then(|t| t.loudness_lufs);
        matching_gain_db(lufs(self.selected), lufs(self.compare))
    }

    fn load_audible(&mut self) {
        if let Some((number, gain)) = self.audible()
            && let Some(take) = self.takes.get(number)
        {
            self.transport.load(take.audio.clone(), gain);
            if self.looping {
                self.set_looping(true);
            }
        }
    }

    /// Write the audible take to `dir` as WAV + JSON (the export dialog's quick path); returns the WAV path.
    pub fn export_selected(&mut self, dir: &Path) -> anyhow::Result<PathBuf> {
        let number = self.audible().map(|a| a.0).context("no take is selected")?;
        let take = self.takes.get(number).context("the take is gone")?;
        let options = super::export::ExportOptions {
            project: self.project_name(),
            line: self.line.clone(),
            format: self.export_format,
            full_mix: true,
            per_chunk: false,
        };
        let written = super::export::export_take(take, dir, &options)?;
        let path = written.into_iter().next().context("nothing was written")?;
        self.status = format!("Exported {}", path.display());
        Ok(path)
    }

    /// The project's name for titles and export file names.
    pub fn project_name(&self) -> String {
        self.project.as_ref().map_or_else(|| "promptbook".into(), Project::name)
    }

    fn export_dir(&self) -> PathBuf {
        match &self.project {
            Some(p) => p.exports_dir(),
            None => std::env::current_dir().unwrap_or_default().join("exports"),
        }
    }

    fn pump_engine(&mut self, ctx: &egui::Context) {
        if let Some(loader) = self.pending_loader.take() {
            if self.engine.is_none() {
                let wake = ctx.clone();
                match EngineHandle::spawn(move || wake.request_repaint()) {
                    Ok(engine) => self.engine = Some(engine),
                    Err(err) => {
                        self.model = ModelState::Failed(format!("cannot start the engine thread: {err}"))
                    }
                }
            }
            if let Some(engine) = &mut self.engine {
                match engine.load(loader) {
                    Ok(id) => self.load_id = Some(id),
                    Err(err) => self.model = ModelState::Failed(err.to_string()),
                }
            }
        }
        let mut events = Vec::new();
        if let Some(engine) = &self.engine {
            while let Some(event) = engine.try_event() {
                events.push(event);
            }
        }
        for event in events {
            if let EngineEvent::ModelLost { reason, .. } = &event {
                let why = crate::messages::engine_error(reason);
                self.status = format!("The model was unloaded: {why}");
                self.model = ModelState::Lost(why);
                continue;
            }
            if Some(event.id()) == self.load_id {
                match event {
                    EngineEvent::LoadProgress { message, fraction, .. } => {
                        self.model = ModelState::Loading { message, fraction };
                    }
                    EngineEvent::Loaded { info, .. } => self.model = ModelState::Loaded(info),
                    EngineEvent::Failed { error, .. } => {
                        self.model = ModelState::Failed(crate::messages::engine_error(&error));
                    }
                    _ => {}
                }
                continue;
            }
            if let Some((id, take)) = self.queue.apply(event) {
                self.finish_take(ctx, id, take);
            }
        }
        while let Ok(finished) = self.finished_takes.1.try_recv() {
            self.finishing -= 1;
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
        if self.finishing > 0 {
            ctx.request_repaint_after(Duration::from_millis(50));
        }
        if self.queue.active() > 0 {
            ctx.request_repaint_after(Duration::from_millis(250));
        }
    }

    /// Write a finished render to the project and measure it (peak pyramid, BS.1770 loudness) on a
    /// worker thread: for a long take that is a few hundred milliseconds the window must not freeze for.
    fn finish_take(
        &mut self,
        ctx: &egui::Context,
        id: RequestId,
        take: promptbook_engine::pipeline::render::Take,
    ) {
        let number = self.takes.reserve();
        let project = self.project.clone();
        let sender = self.finished_takes.0.clone();
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
            Ok(_) => self.finishing += 1,
            Err(err) => self.status = format!("cannot start a worker thread for T{number:02}: {err}"),
        }
    }

    /// A new take is selected and scrolled to, unless the director is listening to another one.
    fn take_arrived(&mut self, number: u32) {
        self.scroll_to_take = Some(number);
        if !self.transport.is_playing() {
            self.select_take(number);
        }
    }

    fn transport_keys(&mut self, ctx: &egui::Context) {
        // Keys typed into a field (a take's new name, its note, a path) are text, not transport.
        if ctx.text_edit_focused() || self.renaming.is_some() || self.path_prompt.is_some() {
            return;
        }
        let take_keys = [
            Key::Num1,
            Key::Num2,
            Key::Num3,
            Key::Num4,
            Key::Num5,
            Key::Num6,
            Key::Num7,
            Key::Num8,
            Key::Num9,
        ];
        let (shift_space, space, home, end, tab, digit) = ctx.input_mut(|i| {
            let digit = take_keys.iter().position(|k| i.consume_key(Modifiers::NONE, *k));
            (
                i.consume_key(Modifiers::SHIFT, Key::Space),
                i.consume_key(Modifiers::NONE, Key::Space),
                i.consume_key(Modifiers::NONE, Key::Home),
                i.consume_key(Modifiers::NONE, Key::End),
                i.consume_key(Modifiers::NONE, Key::Tab),
                digit,
            )
        });
        if shift_space {
            self.set_looping(!self.looping);
            if self.looping && !self.transport.is_playing() {
                self.transport.play();
            }
        }
        if space {
            self.transport.toggle();
        }
        if home {
            self.transport.seek(0.0);
        }
        if end {
            self.transport.seek(self.transport.duration_s());
        }
        if tab {
            self.toggle_ab();
        }
        if let Some(n) = digit.and_then(|d| self.takes.nth_live(d)) {
            self.select_take(n);
        }
    }
    pub fn script(&self) -> &str {
        &self.script
    }

    pub fn lint(&self) -> &Lint {
        &self.lint
    }

    pub fn settings(&self) -> &RenderSettings {
        &self.settings
    }

    pub fn settings_mut(&mut self) -> &mut RenderSettings {
        &mut self.settings
    }

    /// Edit the script (an undoable step, like typing).
    pub fn set_script(&mut self, script: String) {
        self.script = script;
        self.refresh_lint();
    }

    /// Start over with `script`: no undo back to what was there (opening a project or a file).
    fn replace_script(&mut self, script: String) {
        self.script = script;
        self.history = History::new((self.script.clone(), self.settings));
        self.refresh_lint();
    }

    /// Insert an `<action>` or `<sound>` at the editor's caret and select its placeholder for overtyping.
    pub fn insert_cue(&mut self, cue: script_form::Cue, caret: usize) {
        let (script, placeholder) = script_form::insert_cue(&self.script, caret, cue);
        self.set_script(script);
        self.pending_select = Some(placeholder);
    }

    fn refresh_lint(&mut self) {
        if self.linted.0 != self.script || self.linted.1 != self.settings {
            self.lint = Lint::of(&self.script, &self.settings.check_options());
            self.linted = (self.script.clone(), self.settings);
        }
    }

    fn menu_bar(&mut self, ui: &mut egui::Ui) {
        egui::MenuBar::new().ui(ui, |ui| {
            ui.menu_button("File", |ui| {
                if ui.button("New project...").clicked() {
                    ui.close();
                    self.new_project();
                }
                if ui.button("Open project...").clicked() {
                    ui.close();
                    self.open_project_dialog();
                }
                let recent: Vec<PathBuf> = self.recent.existing().cloned().collect();
                ui.add_enabled_ui(!recent.is_empty(), |ui| {
                    ui.menu_button("Open recent", |ui| {
                        for dir in recent {
                            if ui.button(dir.display().to_string()).clicked() {
                                ui.close();
                                if let Err(err) = self.open_project(&dir) {
                                    self.status = format!("{err:#}");
                                }
                            }
                        }
                    });
                });
                ui.separator();
                let save = egui::Button::new("Save project").shortcut_text(ui.ctx().format_shortcut(&SAVE));
                if ui.add(save).clicked() {
                    ui.close();
                    self.save();
                }
                if ui.button("Save project as...").clicked() {
                    ui.close();
                    self.save_as_dialog();
                }
                if ui.button("Import script...").clicked() {
                    ui.close();
                    self.import_script_dialog();
                }
                ui.separator();
                let export = egui::Button::new("Export...").shortcut_text(ui.ctx().format_shortcut(&EXPORT));
                if ui.add_enabled(self.takes.live().next().is_some(), export).clicked() {
                    ui.close();
                    self.open_export_dialog();
                }
                ui.separator();
                if ui.button("Quit").clicked() {
                    ui.ctx().send_viewport_cmd(egui::ViewportCommand::Close);
                }
            });
            ui.menu_button("Edit", |ui| {
                let undo = egui::Button::new("Undo").shortcut_text(ui.ctx().format_shortcut(&UNDO));
                if ui.add_enabled(self.history.can_undo(), undo).clicked() {
                    self.undo();
                    ui.close();
                }
                let redo = egui::Button::new("Redo").shortcut_text(ui.ctx().format_shortcut(&REDO));
                if ui.add_enabled(self.history.can_redo(), redo).clicked() {
                    self.redo();
                    ui.close();
                }
            });
            ui.menu_button("Transport", |ui| {
                let render = egui::Button::new("Render").shortcut_text(ui.ctx().format_shortcut(&RENDER));
                if ui.add(render).clicked() {
                    let _ = self.render();
                    ui.close();
                }
                ui.separator();
                for (key, what) in [
                    ("Space", "Play / pause"),
                    ("Shift+Space", "Loop selection"),
                    ("Home / End", "Start / end of take"),
                    ("1-9", "Pick a take"),
                    ("Tab", "Switch A/B"),
                ] {
                    ui.add_enabled(false, egui::Button::new(what).shortcut_text(key));
                }
            });
            ui.menu_button("Voice", |ui| {
                let can_record = self.project.is_some();
                let record = ui.add_enabled(can_record, egui::Button::new("Record reference..."));
                if record
                    .on_disabled_hover_text("Save the project first: clips are kept in its refs/ folder")
                    .clicked()
                {
                    ui.close();
                    self.open_recorder();
                }
                let import = ui.add_enabled(can_record, egui::Button::new("Import reference..."));
                if import
                    .on_disabled_hover_text("Save the project first: clips are kept in its refs/ folder")
                    .clicked()
                {
                    ui.close();
                    self.import_reference_dialog();
                }
            });
            ui.menu_button("Presets", |ui| {
                for preset in presets::all() {
                    if ui.button(&preset.name).on_hover_text(&preset.voice).clicked() {
                        self.set_script(preset.xml());
                        self.status = format!("Loaded preset {}", preset.name);
                        ui.close();
                    }
                }
            });
        });
    }

    fn problems(&mut self, ui: &mut egui::Ui) {
        let (errors, warnings) = (self.lint.error_count(), self.lint.warning_count());
        ui.horizontal(|ui| {
            ui.label(RichText::new("Problems").strong());
            ui.colored_label(theme::ERROR, format!("{errors} errors"));
            ui.colored_label(theme::WARNING, format!("{warnings} warnings"));
        });
        egui::ScrollArea::vertical().id_salt("problems_scroll").max_height(110.0).show(ui, |ui| {
            if self.lint.problems.is_empty() {
                ui.colored_label(theme::OK, "No problems.");
            }
            for problem in &self.lint.problems {
                let (color, kind) =
                    if problem.is_error { (theme::ERROR, "error") } else { (theme::WARNING, "warning") };
                let text = RichText::new(format!(
                    "{}:{}  {kind}: {}",
                    problem.line, problem.column, problem.message
                ))
                .color(color);
                if ui.link(text).on_hover_text("Jump to the problem").clicked() {
                    self.pending_jump =
                        Some(editor::char_index_of(&self.script, problem.line, problem.column));
                }
            }
        });
    }

    fn status_bar(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            let name = match &self.project {
                Some(p) => p.name(),
                None => "unsaved session".into(),
            };
            ui.label(if self.dirty { format!("{name} *") } else { name }).on_hover_text(
                self.project.as_ref().map_or_else(
                    || "Not saved in a project yet: File > Save project as...".into(),
                    |p| p.dir.display().to_string(),
                ),
            );
            ui.separator();
            let total: f64 = self.lint.report.plan.iter().map(|c| c.duration_s).sum();
            ui.label(format!("{} chunks · ~{total:.1} s", self.lint.report.plan.len()));
            ui.separator();
            match &self.model {
                ModelState::Missing => ui.weak("Model: not installed"),
                ModelState::Loading { message, fraction } => {
                    ui.label(format!("Model: loading {:.0}% · {message}", fraction * 100.0))
                }
                ModelState::Loaded(info) => ui.label(format!(
                    "Model: Scenema Audio · {} · {} · weights {:.1} GiB",
                    info.device,
                    info.dtype,
                    info.weight_bytes as f64 / f64::from(1u32 << 30)
                )),
                ModelState::Failed(message) => {
                    ui.colored_label(theme::ERROR, format!("Model failed: {message}"))
                }
                ModelState::Lost(message) => {
                    ui.colored_label(theme::ERROR, format!("Model unloaded: {message}"));
                    let reload = ui.button("Reload model").on_hover_text("Load the same model files again");
                    if reload.clicked() {
                        self.reload_model();
                    }
                    reload
                }
            };
            ui.separator();
            let gpu = matches!(&self.model, ModelState::Loaded(info) if info.device.starts_with("cuda"));
            let memory = self.memory.describe(gpu);
            ui.label(memory).on_hover_text(
                "Memory: this process (RSS), the machine's free RAM, and the GPU when the model runs there",
            );
            ui.separator();
            ui.weak(format!("Output: {}", self.transport.output_name()));
            if !self.status.is_empty() {
                ui.separator();
                ui.label(&self.status);
            }
        });
    }

    fn script_panel(&mut self, ui: &mut egui::Ui) {
        egui::CollapsingHeader::new("Performance").default_open(true).show(ui, |ui| {
            let out = script_form::show(ui, &self.script);
            if let Some(script) = out.new_script {
                self.set_script(script);
            }
            if let Some(cue) = out.insert {
                let caret = editor::caret(ui.ctx()).unwrap_or_else(|| self.script.chars().count());
                self.insert_cue(cue, caret);
            }
        });
        ui.separator();
        let marks = self.lint.marks();
        // A caret jump or a placeholder selection waits for the frame after the click that asked for it.
        let settled = editor::focus_can_move(ui.ctx());
        let jump = if settled { self.pending_jump.take() } else { None };
        let select = if settled { self.pending_select.take() } else { None };
        egui::ScrollArea::vertical().id_salt("editor_scroll").show(ui, |ui| {
            editor::show(ui, &mut self.script, &marks, jump, select);
        });
    }
}

impl eframe::App for StudioApp {
    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        if ctx.input_mut(|i| i.consume_shortcut(&SAVE)) {
            self.save();
        }
        if ctx.input_mut(|i| i.consume_shortcut(&EXPORT)) && self.takes.live().next().is_some() {
            self.open_export_dialog();
        }
        // Redo first: Ctrl+Z would also match Ctrl+Shift+Z.
        if ctx.input_mut(|i| i.consume_shortcut(&REDO)) {
            self.redo();
        }
        if ctx.input_mut(|i| i.consume_shortcut(&UNDO)) {
            self.undo();
        }
        if let Some(wait) = self.history.observe(&(self.script.clone(), self.settings)) {
            ctx.request_repaint_after(wait);
        }
        if ctx.input_mut(|i| i.consume_shortcut(&RENDER)) {
            let _ = self.render();
        }
        self.pump_download();
        self.pump_engine(ctx);
        self.persist_queue();
        self.transport_keys(ctx);
        self.transport.tick();
        if self.transport.is_playing() {
            ctx.request_repaint();
        }
        self.track_changes(ctx);
        self.memory.poll(ctx);
        let title = format!("{}{} - Promptbook", self.project_name(), if self.dirty { " *" } else { "" });
        if title != self.title {
            ctx.send_viewport_cmd(egui::ViewportCommand::Title(title.clone()));
            self.title = title;
        }
        if ctx.input(|i| i.viewport().close_requested()) && !self.close_now && self.dirty {
            ctx.send_viewport_cmd(egui::ViewportCommand::CancelClose);
            self.confirm_close = true;
        }
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        egui::Panel::top("menu").show(ui, |ui| self.menu_bar(ui));
        egui::Panel::bottom("status").show(ui, |ui| self.status_bar(ui));
        egui::Panel::bottom("transport")
            .resizable(true)
            .default_size(250.0)
            .show(ui, |ui| self.lower_deck(ui));
        egui::Panel::right("inspector").resizable(true).default_size(340.0).size_range(260.0..=560.0).show(
            ui,
            |ui| {
                egui::ScrollArea::vertical().id_salt("inspector_scroll").show(ui, |ui| self.inspector(ui));
            },
        );
        egui::Panel::bottom("plan").resizable(false).show(ui, |ui| {
            ui.add_space(4.0);
            self.problems(ui);
            ui.separator();
            ui.label(RichText::new("Chunk plan").strong());
            plan_ribbon::show(ui, &self.lint.report.plan);
            ui.add_space(4.0);
        });
        egui::CentralPanel::default().show(ui, |ui| self.script_panel(ui));
        self.refresh_lint();
        self.windows(ui.ctx());
    }

    fn on_exit(&mut self, _gl: Option<&eframe::glow::Context>) {
        // Closing with unsaved work (after "Don't save" the recovery is already gone) keeps it for next time.
        if !self.close_now && self.is_dirty() {
            self.write_recovery_now();
        }
    }
}
