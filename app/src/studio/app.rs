//! The studio's top-level state and layout.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use egui::{Key, KeyboardShortcut, Modifiers, RichText};
use promptbook_engine::check::{CheckOptions, EstimatorKind};
use promptbook_engine::presets;

use promptbook_engine::audio::WavSampleFormat;
use promptbook_engine::pipeline::model::ModelInfo;
use promptbook_engine::pipeline::render::{RenderMode, RenderRequest};
use promptbook_engine::pipeline::waveform::Waveform;
use promptbook_engine::runtime::{EngineEvent, EngineHandle, ModelLoader, RequestId};

#[path = "deck.rs"]
mod deck;

use super::history::History;
use super::lint::Lint;
use super::playback::{AudioOutput, NullOutput, Transport};
use super::queue::{JobState, RenderQueue};
use super::takes::{Takes, matching_gain_db};
use super::waveform_view::{self, TimelineView};
use super::{editor, export, plan_ribbon, theme};

const SAVE: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND, Key::S);
const RENDER: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND, Key::Enter);
const UNDO: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND, Key::Z);
const REDO: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND.plus(Modifiers::SHIFT), Key::Z);
/// What the render button says when there is no model.
pub const NO_MODEL_HELP: &str = "No model is loaded. Install the Scenema Audio weights with \
    `promptbook models download`, or use a folder that already has them with `--models-dir DIR` \
    (or PROMPTBOOK_MODELS_DIR); `promptbook models status` shows what is missing.";

/// Where the studio's model stands.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelState {
    Missing,
    Loading { message: String, fraction: f32 },
    Loaded(ModelInfo),
    Failed(String),
}

/// Which side of the A/B pair is audible.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    A,
    B,
}
/// How long after the last keystroke the draft is written.
const DRAFT_DELAY: Duration = Duration::from_secs(2);

const WELCOME_SCRIPT: &str = r#"<speak voice="Warm, low female voice, unhurried" gender="female" scene="A quiet recording booth" shot="closeup" language="en">
<action>She smiles before she speaks</action>Welcome to Promptbook. Write the performance here, and the lint will tell you what the model will hear.
<action>A short pause</action>Every chunk of the plan below is one render.
</speak>
"#;

/// Planning options the director sets in the inspector.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlanSettings {
    pub pace: f64,
    pub seed: i64,
    pub seed_locked: bool,
    pub estimator: EstimatorKind,
}

impl Default for PlanSettings {
    fn default() -> Self {
        Self { pace: 1.5, seed: rand_seed(), seed_locked: false, estimator: EstimatorKind::Default }
    }
}

impl PlanSettings {
    fn check_options(&self) -> CheckOptions {
        CheckOptions { pace: self.pace, seed: self.seed, estimator: self.estimator }
    }
}

fn rand_seed() -> i64 {
    // Seeds shown to people stay short enough to read aloud and type.
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    i64::from(nanos % 1_000_000)
}

pub struct StudioApp {
    script: String,
    /// The file the script came from and is saved to.
    script_path: Option<PathBuf>,
    /// Where unsaved work is kept between sessions (none in tests).
    draft_path: Option<PathBuf>,
    saved_script: String,
    settings: PlanSettings,
    lint: Lint,
    linted: (String, PlanSettings),
    pending_jump: Option<usize>,
    last_edit: Option<Instant>,
    status: String,
    engine: Option<EngineHandle>,
    pending_loader: Option<Box<dyn ModelLoader>>,
    load_id: Option<RequestId>,
    model: ModelState,
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
    /// Undo/redo over the script and the plan settings.
    history: History<(String, PlanSettings)>,
    /// The span dragged out on the timeline, in seconds.
    selection: Option<(f64, f64)>,
    looping: bool,
    renaming: Option<(u32, String)>,
}

impl StudioApp {
    /// Open `script_path` if given, else the last draft, else a welcome script.
    pub fn open(script_path: Option<PathBuf>) -> anyhow::Result<Self> {
        let draft_path = default_draft_path();
        let (script, saved) = match &script_path {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot open {}", path.display()))?;
                (text.clone(), text)
            }
            None => {
                let draft = draft_path.as_ref().and_then(|p| std::fs::read_to_string(p).ok());
                (draft.unwrap_or_else(|| WELCOME_SCRIPT.to_string()), String::new())
            }
        };
        let mut app = Self::with_script(script, script_path);
        app.saved_script = saved;
        app.draft_path = draft_path;
        Ok(app)
    }

    /// A studio holding `script`, writing no draft (tests, embedding).
    pub fn with_script(script: String, script_path: Option<PathBuf>) -> Self {
        let settings = PlanSettings::default();
        let lint = Lint::of(&script, &settings.check_options());
        let history = History::new((script.clone(), settings));
        Self {
            linted: (script.clone(), settings),
            saved_script: script.clone(),
            script,
            script_path,
            draft_path: None,
            settings,
            lint,
            pending_jump: None,
            last_edit: None,
            status: String::new(),
            engine: None,
            pending_loader: None,
            load_id: None,
            model: ModelState::Missing,
            queue: RenderQueue::default(),
            takes: Takes::default(),
            selected: None,
            compare: None,
            side: Side::A,
            raw_level: false,
            transport: Transport::new(Box::new(NullOutput::default())),
            view: None,
            export_format: WavSampleFormat::Pcm24,
            history,
            selection: None,
            looping: false,
            renaming: None,
        }
    }

    /// Play through `output` instead of the default.
    pub fn with_output(mut self, output: Box<dyn AudioOutput>) -> Self {
        self.transport = Transport::new(output);
        self
    }

    /// Load a model on the engine thread (started on the next frame if it is not running yet).
    pub fn load_model(&mut self, loader: Box<dyn ModelLoader>) {
        self.pending_loader = Some(loader);
        self.model = ModelState::Loading { message: "starting the engine".into(), fraction: 0.0 };
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

    pub fn audible_side(&self) -> Side {
        self.side
    }

    pub fn status(&self) -> &str {
        &self.status
    }

    /// Queue a render of the current script; returns why not when it cannot start.
    pub fn render(&mut self) -> Result<RequestId, String> {
        if !matches!(self.model, ModelState::Loaded(_)) {
            self.status = NO_MODEL_HELP.into();
            return Err(NO_MODEL_HELP.into());
        }
        if !self.lint.report.valid {
            let why = "fix the script's errors before rendering (see Problems)".to_string();
            self.status = why.clone();
            return Err(why);
        }
        let request = RenderRequest {
            script: self.script.clone(),
            seed: self.settings.seed,
            pace: self.settings.pace,
            mode: RenderMode::Generate,
            estimator: self.settings.estimator,
            reference: None,
        };
        let engine = self.engine.as_mut().ok_or("the engine is not running")?;
        let id = engine.render(request).map_err(|e| e.to_string())?;
        self.queue.push(id, &self.script);
        self.status = format!("Queued render #{id} (seed {})", self.settings.seed);
        if !self.settings.seed_locked {
            // The render used the seed on screen; the next one explores a new seed unless it is locked.
            self.settings.seed = rand_seed();
        }
        Ok(id)
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

    fn restore(&mut self, script: String, settings: PlanSettings, what: &str) {
        if script != self.script {
            self.last_edit = Some(Instant::now());
        }
        self.script = script;
        self.settings = settings;
        self.refresh_lint();
        self.status = what.into();
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

    /// Write the selected take to `dir` as WAV + JSON; returns the WAV path.
    pub fn export_selected(&mut self, dir: &std::path::Path) -> anyhow::Result<PathBuf> {
        let number = self.audible().map(|a| a.0).context("no take is selected")?;
        let take = self.takes.get(number).context("the take is gone")?;
        let project = self
            .script_path
            .as_ref()
            .and_then(|p| p.file_stem())
            .map_or("promptbook".to_string(), |s| s.to_string_lossy().into_owned());
        let path = export::export_take(take, dir, &project, "line01", self.export_format)?;
        self.status = format!("Exported {}", path.display());
        Ok(path)
    }

    fn export_dir(&self) -> PathBuf {
        match &self.script_path {
            Some(p) => p.parent().map_or_else(|| PathBuf::from("exports"), |d| d.join("exports")),
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
            if Some(event.id()) == self.load_id {
                match event {
                    EngineEvent::LoadProgress { message, fraction, .. } => {
                        self.model = ModelState::Loading { message, fraction };
                    }
                    EngineEvent::Loaded { info, .. } => self.model = ModelState::Loaded(info),
                    EngineEvent::Failed { message, .. } => self.model = ModelState::Failed(message),
                    _ => {}
                }
                continue;
            }
            if let Some((id, take)) = self.queue.apply(event) {
                let number = self.takes.add(take);
                self.queue.mark_done(id, number);
                self.status = format!("Render #{id} became T{number:02}");
                if self.selected.is_none() {
                    self.select_take(number);
                }
            }
        }
        if self.queue.active() > 0 {
            ctx.request_repaint_after(Duration::from_millis(250));
        }
    }

    fn transport_keys(&mut self, ctx: &egui::Context) {
        if ctx.text_edit_focused() {
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

    pub fn settings_mut(&mut self) -> &mut PlanSettings {
        &mut self.settings
    }

    pub fn set_script(&mut self, script: String) {
        self.script = script;
        self.last_edit = Some(Instant::now());
        self.refresh_lint();
    }

    fn refresh_lint(&mut self) {
        if self.linted.0 != self.script || self.linted.1 != self.settings {
            self.lint = Lint::of(&self.script, &self.settings.check_options());
            self.linted = (self.script.clone(), self.settings);
        }
    }

    fn save(&mut self) {
        match &self.script_path {
            Some(path) => match write_atomically(path, &self.script) {
                Ok(()) => {
                    self.saved_script = self.script.clone();
                    self.status = format!("Saved {}", path.display());
                }
                Err(err) => self.status = format!("Could not save {}: {err:#}", path.display()),
            },
            None => self.write_draft(),
        }
    }

    fn write_draft(&mut self) {
        self.last_edit = None;
        let Some(path) = &self.draft_path else { return };
        match write_atomically(path, &self.script) {
            Ok(()) => self.status = format!("Draft kept in {}", path.display()),
            Err(err) => self.status = format!("Could not keep the draft in {}: {err:#}", path.display()),
        }
    }

    fn menu_bar(&mut self, ui: &mut egui::Ui) {
        egui::MenuBar::new().ui(ui, |ui| {
            ui.menu_button("File", |ui| {
                let save = egui::Button::new("Save").shortcut_text(ui.ctx().format_shortcut(&SAVE));
                if ui.add(save).clicked() {
                    self.save();
                    ui.close();
                }
                ui.menu_button("Export format", |ui| {
                    for (format, name) in [
                        (WavSampleFormat::Pcm16, "WAV 16-bit"),
                        (WavSampleFormat::Pcm24, "WAV 24-bit"),
                        (WavSampleFormat::Float32, "WAV 32-bit float"),
                    ] {
                        ui.radio_value(&mut self.export_format, format, name);
                    }
                });
                let export = egui::Button::new("Export selected take");
                if ui.add_enabled(self.selected.is_some(), export).clicked() {
                    let dir = self.export_dir();
                    if let Err(err) = self.export_selected(&dir) {
                        self.status = format!("Export failed: {err:#}");
                    }
                    ui.close();
                }
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

    fn inspector(&mut self, ui: &mut egui::Ui) {
        self.render_controls(ui);
        ui.separator();
        ui.heading("Inspector");
        ui.add_space(4.0);
        egui::Grid::new("inspector_grid").num_columns(2).spacing([8.0, 6.0]).show(ui, |ui| {
            let seed_label = ui.label("Seed");
            ui.horizontal(|ui| {
                ui.add_enabled(
                    !self.settings.seed_locked,
                    egui::DragValue::new(&mut self.settings.seed).range(0..=i64::MAX),
                )
                .labelled_by(seed_label.id);
                let dice = ui.add_enabled(!self.settings.seed_locked, egui::Button::new("Random"));
                if dice.on_hover_text("New random seed").clicked() {
                    self.settings.seed = rand_seed();
                }
                ui.checkbox(&mut self.settings.seed_locked, "Lock");
            });
            ui.end_row();
            ui.label("Pace");
            ui.add(egui::Slider::new(&mut self.settings.pace, 0.5..=3.0).step_by(0.05))
                .on_hover_text("Duration multiplier used for planning; the reference default is 1.5");
            ui.end_row();
            let estimator_label = ui.label("Estimator");
            egui::ComboBox::from_id_salt("estimator")
                .selected_text(match self.settings.estimator {
                    EstimatorKind::Reference => "Reference (2.2 words/s)",
                    EstimatorKind::Default => "Promptbook",
                })
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut self.settings.estimator, EstimatorKind::Default, "Promptbook");
                    ui.selectable_value(
                        &mut self.settings.estimator,
                        EstimatorKind::Reference,
                        "Reference (2.2 words/s)",
                    );
                })
                .response
                .labelled_by(estimator_label.id);
            ui.end_row();
        });
        ui.separator();
        ui.label(RichText::new("Compiled prompt").strong());
        match &self.lint.report.compiled {
            Some(compiled) => {
                egui::ScrollArea::vertical().id_salt("compiled_scroll").max_height(260.0).show(ui, |ui| {
                    ui.add(egui::Label::new(RichText::new(&compiled.prompt).monospace()).wrap());
                });
                if ui.button("Copy prompt").clicked() {
                    ui.ctx().copy_text(compiled.prompt.clone());
                }
                ui.add_space(4.0);
                egui::Grid::new("compiled_fields").num_columns(2).show(ui, |ui| {
                    for (k, v) in [
                        ("Voice", compiled.voice.as_str()),
                        ("Gender", compiled.gender.as_str()),
                        ("Shot", compiled.shot.as_str()),
                        ("Language", compiled.language.as_str()),
                        ("Scene", compiled.scene.as_deref().unwrap_or("—")),
                    ] {
                        ui.weak(k);
                        // Voice descriptions run long: truncate in the grid, full text on hover.
                        ui.add(egui::Label::new(v).truncate()).on_hover_text(v);
                        ui.end_row();
                    }
                });
            }
            None => {
                ui.weak("Fix the errors to see the prompt the model will hear.");
            }
        }
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

    fn status_bar(&self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            let dirty = self.script != self.saved_script;
            let name =
                self.script_path.as_ref().map_or("untitled script".to_string(), |p| p.display().to_string());
            ui.label(if dirty { format!("{name} •") } else { name });
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
                    "Model: {} · {} · {:.1} GiB",
                    info.device,
                    info.dtype,
                    info.weight_bytes as f64 / f64::from(1u32 << 30)
                )),
                ModelState::Failed(message) => {
                    ui.colored_label(theme::ERROR, format!("Model failed: {message}"))
                }
            };
            ui.separator();
            ui.weak(format!("Output: {}", self.transport.output_name()));
            if !self.status.is_empty() {
                ui.separator();
                ui.label(&self.status);
            }
        });
    }
}

impl eframe::App for StudioApp {
    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        if ctx.input_mut(|i| i.consume_shortcut(&SAVE)) {
            self.save();
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
        self.pump_engine(ctx);
        self.transport_keys(ctx);
        self.transport.tick();
        if self.transport.is_playing() {
            ctx.request_repaint();
        }
        if let Some(at) = self.last_edit {
            if at.elapsed() >= DRAFT_DELAY {
                self.write_draft();
            } else {
                ctx.request_repaint_after(DRAFT_DELAY - at.elapsed());
            }
        }
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        egui::Panel::top("menu").show(ui, |ui| self.menu_bar(ui));
        egui::Panel::bottom("status").show(ui, |ui| self.status_bar(ui));
        egui::Panel::bottom("transport")
            .resizable(true)
            .default_size(250.0)
            .show(ui, |ui| self.lower_deck(ui));
        egui::Panel::right("inspector")
            .resizable(true)
            .default_size(340.0)
            .size_range(260.0..=560.0)
            .show(ui, |ui| self.inspector(ui));
        egui::Panel::bottom("plan").resizable(false).show(ui, |ui| {
            ui.add_space(4.0);
            self.problems(ui);
            ui.separator();
            ui.label(RichText::new("Chunk plan").strong());
            plan_ribbon::show(ui, &self.lint.report.plan);
            ui.add_space(4.0);
        });
        egui::CentralPanel::default().show(ui, |ui| {
            let marks = self.lint.marks();
            let jump = self.pending_jump.take();
            egui::ScrollArea::vertical().id_salt("editor_scroll").show(ui, |ui| {
                if editor::show(ui, &mut self.script, &marks, jump) {
                    self.last_edit = Some(Instant::now());
                }
            });
        });
        self.refresh_lint();
    }

    fn on_exit(&mut self, _gl: Option<&eframe::glow::Context>) {
        if self.script != self.saved_script {
            self.write_draft();
        }
    }
}

fn default_draft_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))?;
    Some(base.join("promptbook").join("draft.xml"))
}

/// Write to a temporary file beside `path`, then rename: a crash or a full disk never leaves half a script.
fn write_atomically(path: &std::path::Path, text: &str) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("xml.tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}
