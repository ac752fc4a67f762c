//! The inspector: render controls, seed and pace, takes per render, mode, the reference voice, the
//! post-processing stages (shown disabled, with the reason, while their models are not in this build),
//! and the compiled prompt.

use egui::RichText;
use promptbook_engine::check::EstimatorKind;
use promptbook_engine::pipeline::render::RenderMode;
use promptbook_engine::plan::{PACE_RANGE, RANDOM_SEED, check_seed};

use super::StudioApp;
use crate::studio::settings::{MAX_TAKES_PER_RENDER, random_seed};

const NO_WHISPER: &str =
    "Whisper word checking is not in this build yet: renders are not validated or retried";
const NO_SEEDVC: &str = "The SeedVC voice-identity pass is not in this build yet";
const NO_SEPARATION: &str = "MelBandRoFormer separation is not in this build yet: every take keeps its full mix (background SFX included)";

impl StudioApp {
    pub(super) fn inspector(&mut self, ui: &mut egui::Ui) {
        self.render_controls(ui);
        ui.separator();
        ui.heading("Inspector");
        ui.add_space(4.0);
        egui::Grid::new("inspector_grid").num_columns(2).spacing([8.0, 6.0]).show(ui, |ui| {
            let seed_label = ui.label("Seed");
            ui.horizontal(|ui| {
                // Typed -1 rolls a random seed; other negatives are refused (the value stays) with the
                // engine's reason, never clamped to 0 behind the director's back.
                let refused = std::cell::Cell::new(None);
                let parse_seed = |text: &str| {
                    let seed = text.trim().parse::<i64>().ok()?;
                    match check_seed(seed) {
                        Ok(RANDOM_SEED) => Some(random_seed() as f64),
                        Ok(seed) => Some(seed as f64),
                        Err(why) => {
                            refused.set(Some(why));
                            None
                        }
                    }
                };
                let field = egui::DragValue::new(&mut self.settings.seed)
                    .range(0..=i64::MAX)
                    .custom_parser(parse_seed)
                    .update_while_editing(false);
                ui.add_enabled(!self.settings.seed_locked, field)
                    .labelled_by(seed_label.id)
                    .on_hover_text("0 or more; type -1 for a random seed");
                if let Some(why) = refused.take() {
                    self.status = format!("Seed refused: {why}");
                }
                let dice = ui.add_enabled(!self.settings.seed_locked, egui::Button::new("Random"));
                if dice.on_hover_text("New random seed").clicked() {
                    self.settings.seed = random_seed();
                }
                ui.checkbox(&mut self.settings.seed_locked, "Lock");
            });
            ui.end_row();
            let pace_label = ui.label("Pace");
            ui.add(egui::Slider::new(&mut self.settings.pace, PACE_RANGE).step_by(0.05))
                .labelled_by(pace_label.id)
                .on_hover_text("Duration multiplier used for planning; the reference default is 1.5");
            ui.end_row();
            let takes_label = ui.label("Takes per render");
            ui.add(egui::Slider::new(&mut self.settings.takes, 1..=MAX_TAKES_PER_RENDER).suffix(" ×"))
                .labelled_by(takes_label.id)
                .on_hover_text("Renders queued per click, with seeds seed, seed+1, ...");
            ui.end_row();
            ui.label("Mode");
            ui.horizontal(|ui| {
                ui.selectable_value(&mut self.settings.mode, RenderMode::Generate, "Generate")
                    .on_hover_text("Render the whole script, chunk by chunk, with voice continuity");
                ui.selectable_value(&mut self.settings.mode, RenderMode::VoiceDesign, "Voice design")
                    .on_hover_text("One 15 s sample of the voice description, to audition a voice");
            });
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
        self.reference_section(ui);
        ui.separator();
        self.postprocessing_section(ui);
        ui.separator();
        self.compiled_prompt(ui);
    }

    fn reference_section(&mut self, ui: &mut egui::Ui) {
        ui.label(RichText::new("Reference voice").strong());
        if self.project.is_none() {
            ui.weak(
                "Save the session as a project to record or import a reference voice (kept in its refs/).",
            );
            return;
        }
        let chosen = self.reference.clone().unwrap_or_else(|| "None: the voice description alone".into());
        let label = ui.label("Clip for chunk 1");
        let combo = egui::ComboBox::from_id_salt("reference_clip")
            .selected_text(chosen)
            .width(ui.available_width().min(300.0))
            .show_ui(ui, |ui| {
                ui.selectable_value(&mut self.reference, None, "None: the voice description alone");
                for entry in &self.references {
                    let file =
                        entry.wav.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
                    let verdict =
                        entry.report.as_ref().map_or(String::new(), |r| format!(" ({:?})", r.verdict));
                    ui.selectable_value(&mut self.reference, Some(file), format!("{}{verdict}", entry.name));
                }
            })
            .response
            .labelled_by(label.id);
        if combo.clicked() {
            // Clips copied into refs/ by hand show up the next time the list opens.
            self.refresh_references();
        }
        let entries = &self.references;
        if let Some(name) = &self.reference
            && !entries.iter().any(|e| e.wav.file_name().is_some_and(|f| f.to_string_lossy() == *name))
        {
            ui.colored_label(crate::studio::theme::WARNING, format!("{name} is no longer in refs/"));
        }
        if self.settings.mode == RenderMode::VoiceDesign && self.reference.is_some() {
            ui.weak("Voice design renders from the description alone; the clip is not used.");
        }
        ui.horizontal(|ui| {
            if ui.button("Record...").on_hover_text("Record a 10–20 s clip with the clip checker").clicked()
            {
                self.open_recorder();
            }
            if ui.button("Import...").on_hover_text("WAV, FLAC, MP3 or OGG; converted to 48 kHz").clicked() {
                self.import_reference_dialog();
            }
        });
    }

    /// Read `refs/` again (a directory listing and the clip-check files: not something to do every frame).
    pub(super) fn refresh_references(&mut self) {
        self.references = match &self.project {
            Some(project) => crate::recorder::list_references(&project.refs_dir()),
            None => Vec::new(),
        };
    }

    fn postprocessing_section(&mut self, ui: &mut egui::Ui) {
        ui.label(RichText::new("After generation").strong());
        egui::Grid::new("post_grid").num_columns(2).spacing([8.0, 6.0]).show(ui, |ui| {
            ui.add_enabled(false, egui::Checkbox::new(&mut self.settings.validate, "Validate words"))
                .on_disabled_hover_text(NO_WHISPER);
            ui.add_enabled(
                false,
                egui::Slider::new(&mut self.settings.min_match_ratio, 0.0..=1.0).text("min match"),
            )
            .on_disabled_hover_text(NO_WHISPER);
            ui.end_row();
            ui.add_enabled(false, egui::Checkbox::new(&mut self.settings.skip_vc, "Skip voice conversion"))
                .on_disabled_hover_text(NO_SEEDVC);
            ui.label("");
            ui.end_row();
            ui.add_enabled(false, egui::Slider::new(&mut self.settings.vc_steps, 10..=50).text("VC steps"))
                .on_disabled_hover_text(NO_SEEDVC);
            ui.add_enabled(false, egui::Slider::new(&mut self.settings.vc_cfg, 0.0..=1.0).text("VC cfg"))
                .on_disabled_hover_text(NO_SEEDVC);
            ui.end_row();
            ui.add_enabled(false, egui::Checkbox::new(&mut self.settings.background_sfx, "Background SFX"))
                .on_disabled_hover_text(NO_SEPARATION);
            ui.end_row();
        });
    }

    fn compiled_prompt(&mut self, ui: &mut egui::Ui) {
        ui.label(RichText::new("Compiled prompt").strong());
        match &self.lint.report.compiled {
            Some(compiled) => {
                egui::ScrollArea::vertical().id_salt("compiled_scroll").max_height(200.0).show(ui, |ui| {
                    ui.add(egui::Label::new(RichText::new(&compiled.prompt).monospace()).wrap());
                });
                if ui.button("Copy prompt").clicked() {
                    ui.ctx().copy_text(compiled.prompt.clone());
                }
            }
            None => {
                ui.weak("Fix the errors to see the prompt the model will hear.");
            }
        }
    }
}
