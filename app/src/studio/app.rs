//! The studio's top-level state and layout.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use egui::{Key, KeyboardShortcut, Modifiers, RichText};
use promptbook_engine::check::{CheckOptions, EstimatorKind};
use promptbook_engine::presets;

use super::lint::Lint;
use super::{editor, plan_ribbon, theme};

const SAVE: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND, Key::S);
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
                if ui.button("Quit").clicked() {
                    ui.ctx().send_viewport_cmd(egui::ViewportCommand::Close);
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
                        ui.label(v);
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
            ui.weak("Model: not installed (rendering arrives with the model store)");
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
        egui::Panel::right("inspector").resizable(true).default_size(340.0).show(ui, |ui| self.inspector(ui));
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
