//! The studio's fixed panels: the problems list, the status bar and the script editor.

use egui::RichText;

use super::{ModelState, StudioApp};
use crate::studio::{editor, script_form, theme};

impl StudioApp {
    pub(super) fn problems(&mut self, ui: &mut egui::Ui) {
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
                    self.ui_state.pending_jump =
                        Some(editor::char_index_of(&self.session.script, problem.line, problem.column));
                }
            }
        });
    }

    pub(super) fn status_bar(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            let name = match &self.project {
                Some(p) => p.name(),
                None => "unsaved session".into(),
            };
            ui.label(if self.session.dirty { format!("{name} *") } else { name }).on_hover_text(
                self.project.as_ref().map_or_else(
                    || "Not saved in a project yet: File > Save project as...".into(),
                    |p| p.dir.display().to_string(),
                ),
            );
            ui.separator();
            let total: f64 = self.lint.report.plan.iter().map(|c| c.duration_s).sum();
            ui.label(format!("{} chunks · ~{total:.1} s", self.lint.report.plan.len()));
            ui.separator();
            match &self.engine.model {
                ModelState::Missing => ui.weak("Model: not installed"),
                ModelState::Loading { message, fraction } => {
                    ui.label(format!("Model: loading {:.0}% · {message}", fraction * 100.0))
                }
                ModelState::Loaded(info) => {
                    let stages: String =
                        self.engine.resident_stages.iter().map(|s| format!(" + {}", s.name())).collect();
                    ui.label(format!(
                        "Resident: {}{stages} · {} · {} · weights {:.1} GiB",
                        self.engine.capabilities.name,
                        info.device,
                        info.dtype,
                        info.weight_bytes as f64 / f64::from(1u32 << 30)
                    ))
                    .on_hover_text(
                        "Loaded now: the voice engine and the post stages' models that stay resident between \
                         uses (they are kept when the device has 40 GB or more, else loaded around each use)",
                    )
                }
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
            let gpu =
                matches!(&self.engine.model, ModelState::Loaded(info) if info.device.starts_with("cuda"));
            let memory = self.runtime.memory.describe(gpu);
            ui.label(memory).on_hover_text(
                "Memory: this process (RSS), the machine's free RAM, and the GPU when the model runs there",
            );
            ui.separator();
            ui.weak(format!("Output: {}", self.runtime.transport.output_name()));
            if !self.status.is_empty() {
                ui.separator();
                ui.label(&self.status);
            }
        });
    }

    pub(super) fn script_panel(&mut self, ui: &mut egui::Ui) {
        egui::CollapsingHeader::new("Performance").default_open(true).show(ui, |ui| {
            let out = script_form::show(ui, &self.session.script);
            if let Some(script) = out.new_script {
                self.set_script(script);
            }
            if let Some(cue) = out.insert {
                let caret = editor::caret(ui.ctx()).unwrap_or_else(|| self.session.script.chars().count());
                self.insert_cue(cue, caret);
            }
        });
        ui.separator();
        let marks = self.lint.marks();
        // A caret jump or a placeholder selection waits for the frame after the click that asked for it.
        let settled = editor::focus_can_move(ui.ctx());
        let jump = if settled { self.ui_state.pending_jump.take() } else { None };
        let select = if settled { self.ui_state.pending_select.take() } else { None };
        egui::ScrollArea::vertical().id_salt("editor_scroll").show(ui, |ui| {
            editor::show(ui, &mut self.session.script, &marks, jump, select);
        });
    }
}
