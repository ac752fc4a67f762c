//! The studio's top-level state and layout.
//!
//! `StudioApp` groups its state by lifetime: [`SessionState`] is the document a project saves (and how it
//! stands against the saved copy), [`Runtime`] the handles that live only while the window is open,
//! [`EngineLink`] the engine thread and the model, [`UiState`] the window's transient state. The children
//! add to `impl StudioApp`: the engine link, keys, menus, panels, listening, the deck, the inspector, the
//! export dialog and the project operations.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use egui::RichText;
use promptbook_engine::audio::WavSampleFormat;

mod deck;
mod engine_link;
mod export_dialog;
mod inspector;
mod keys;
mod listening;
mod menus;
mod panels;
mod project_ops;
mod state;

pub use engine_link::{ModelSource, ModelState};
pub use export_dialog::{ExportDialog, ExportTakes};

use super::dialogs::{FileDialogs, NativeDialogs};
use super::history::History;
use super::lint::Lint;
use super::playback::{AudioOutput, Transport};
use super::project::{Project, RecentProjects};
use super::queue::RenderQueue;
use super::settings::RenderSettings;
use super::takes::Takes;
use super::{plan_ribbon, script_form};
use engine_link::EngineLink;
use state::{Runtime, SessionState, UiState};

pub use crate::messages::NO_MODEL_HELP;

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
    // The inspector reads these (and the settings and reference, which the project saves) straight off
    // the app, so they are not grouped.
    settings: RenderSettings,
    /// The engine's own controls (target length, emotion, instruction), for engines that declare them.
    controls: promptbook_engine::engines::EngineControls,
    /// The reference voice (a file in the project's `refs/`) for chunk 1.
    reference: Option<String>,
    /// The clips in the project's `refs/`, read when the project opens, a clip is saved or the list opens.
    references: Vec<crate::recorder::ReferenceEntry>,
    /// The open project folder; `None` for a session that lives only in memory until "Save as".
    project: Option<Project>,
    status: String,
    lint: Lint,
    linted: (String, RenderSettings),
    queue: RenderQueue,
    takes: Takes,
    // Listening (listening.rs).
    /// The take under the playhead (side A when comparing).
    selected: Option<u32>,
    /// The B take of an A/B comparison.
    compare: Option<u32>,
    side: Side,
    /// Play takes at their own level instead of loudness-matched.
    raw_level: bool,
    /// Visible span of the timeline in seconds; `None` shows the whole take.
    view: Option<(f64, f64)>,
    /// The span dragged out on the timeline, in seconds.
    selection: Option<(f64, f64)>,
    looping: bool,
    session: SessionState,
    engine: EngineLink,
    runtime: Runtime,
    ui_state: UiState,
}

impl StudioApp {
    /// Open what the command line names: a project folder (or its `project.json`), a script file (kept in
    /// memory until saved as a project), or nothing: the most recent project, else the scratch project.
    pub fn open(path: Option<PathBuf>) -> anyhow::Result<Self> {
        let mut app = Self::with_script(String::new());
        app.runtime.dialogs = Box::new(NativeDialogs);
        app.session.recent = RecentProjects::load(RecentProjects::default_file());
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
                let recent = app.session.recent.existing().next().cloned();
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
            settings,
            controls: Default::default(),
            reference: None,
            references: Vec::new(),
            project: None,
            status: String::new(),
            lint,
            queue: RenderQueue::default(),
            takes: Takes::default(),
            selected: None,
            compare: None,
            side: Side::A,
            raw_level: false,
            view: None,
            selection: None,
            looping: false,
            session: SessionState::new(script, history),
            engine: EngineLink::default(),
            runtime: Runtime::new(Box::new(super::dialogs::ScriptedDialogs::default())),
            ui_state: UiState::default(),
        }
    }

    /// Answer file dialogs with `dialogs` (tests script them).
    pub fn with_dialogs(mut self, dialogs: Box<dyn FileDialogs>) -> Self {
        self.runtime.dialogs = dialogs;
        self
    }

    /// Play through `output` instead of the default.
    pub fn with_output(mut self, output: Box<dyn AudioOutput>) -> Self {
        self.runtime.transport = Transport::new(output);
        // A take selected while opening the project goes on the new transport.
        self.load_audible();
        self
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

    pub fn status(&self) -> &str {
        &self.status
    }

    pub fn script(&self) -> &str {
        &self.session.script
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
        self.session.script = script;
        self.refresh_lint();
    }

    /// Start over with `script`: no undo back to what was there (opening a project or a file).
    fn replace_script(&mut self, script: String) {
        self.session.script = script;
        self.session.history = History::new((self.session.script.clone(), self.settings));
        self.refresh_lint();
    }

    /// Insert an `<action>` or `<sound>` at the editor's caret and select its placeholder for overtyping.
    pub fn insert_cue(&mut self, cue: script_form::Cue, caret: usize) {
        let (script, placeholder) = script_form::insert_cue(&self.session.script, caret, cue);
        self.set_script(script);
        self.ui_state.pending_select = Some(placeholder);
    }

    fn refresh_lint(&mut self) {
        if self.linted.0 != self.session.script || self.linted.1 != self.settings {
            self.lint = Lint::of(&self.session.script, &self.settings.check_options());
            self.linted = (self.session.script.clone(), self.settings);
        }
    }

    /// Go back to the script and settings before the last edit.
    pub fn undo(&mut self) {
        let current = (self.session.script.clone(), self.settings);
        if let Some((script, settings)) = self.session.history.undo(&current) {
            self.restore(script, settings, "Undone");
        }
    }

    /// Redo what the last undo took back.
    pub fn redo(&mut self) {
        let current = (self.session.script.clone(), self.settings);
        if let Some((script, settings)) = self.session.history.redo(&current) {
            self.restore(script, settings, "Redone");
        }
    }

    fn restore(&mut self, script: String, settings: RenderSettings, what: &str) {
        self.session.script = script;
        self.settings = settings;
        self.refresh_lint();
        self.status = what.into();
    }

    pub fn export_format_mut(&mut self) -> &mut WavSampleFormat {
        &mut self.session.export_format
    }

    /// Write the audible take to `dir` as WAV + JSON (the export dialog's quick path); returns the WAV path.
    pub fn export_selected(&mut self, dir: &Path) -> anyhow::Result<PathBuf> {
        let number = self.audible().map(|a| a.0).context("no take is selected")?;
        let take = self.takes.get(number).context("the take is gone")?;
        let options = super::export::ExportOptions {
            project: self.project_name(),
            line: self.session.line.clone(),
            format: self.session.export_format,
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
}

impl eframe::App for StudioApp {
    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        self.shortcuts(ctx);
        self.pump_download();
        self.pump_engine(ctx);
        self.persist_queue();
        self.transport_keys(ctx);
        self.runtime.transport.tick();
        if self.runtime.transport.is_playing() {
            ctx.request_repaint();
        }
        self.track_changes(ctx);
        self.runtime.memory.poll(ctx);
        let title =
            format!("{}{} - Promptbook", self.project_name(), if self.session.dirty { " *" } else { "" });
        if title != self.ui_state.title {
            ctx.send_viewport_cmd(egui::ViewportCommand::Title(title.clone()));
            self.ui_state.title = title;
        }
        if ctx.input(|i| i.viewport().close_requested()) && !self.ui_state.close_now && self.session.dirty {
            ctx.send_viewport_cmd(egui::ViewportCommand::CancelClose);
            self.ui_state.confirm_close = true;
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
        if !self.ui_state.close_now && self.is_dirty() {
            self.write_recovery_now();
        }
    }
}
