//! The inspector: render controls, seed and pace, takes per render, mode, the engine's own controls, the
//! reference voice, the post stages and the compiled prompt. Everything engine-specific is drawn from the
//! engine's capabilities (`promptbook_engine::engines::Capabilities`): no engine is named here.

use egui::RichText;
use promptbook_engine::check::EstimatorKind;
use promptbook_engine::pipeline::render::RenderMode;
use promptbook_engine::plan::{PACE_RANGE, RANDOM_SEED, check_seed};

use super::StudioApp;
use crate::studio::settings::{MAX_TAKES_PER_RENDER, random_seed};

use promptbook_engine::engines::{DurationControl, InstructionKind, ReferenceNeed};
use promptbook_engine::stages::StageId;

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
            if self.engine.capabilities.voice_design {
                ui.label("Mode");
                ui.horizontal(|ui| {
                    ui.selectable_value(&mut self.settings.mode, RenderMode::Generate, "Generate")
                        .on_hover_text("Render the whole script, chunk by chunk, with voice continuity");
                    ui.selectable_value(&mut self.settings.mode, RenderMode::VoiceDesign, "Voice design")
                        .on_hover_text("One 15 s sample of the voice description, to audition a voice");
                });
                ui.end_row();
            } else if self.settings.mode == RenderMode::VoiceDesign {
                self.settings.mode = RenderMode::Generate;
            }
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
        self.engine_controls_section(ui);
        ui.separator();
        if self.engine.capabilities.reference != ReferenceNeed::None {
            self.reference_section(ui);
            ui.separator();
        }
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

    /// The controls the engine declares beyond the script: instruction, emotion, target length.
    fn engine_controls_section(&mut self, ui: &mut egui::Ui) {
        // Field by field, so the controls can change while the capabilities are read (no clone per frame).
        let caps = &self.engine.capabilities;
        let has_duration = matches!(caps.duration, DurationControl::TargetSeconds { .. });
        if caps.instruction.is_none() && !caps.emotion.any() && !has_duration {
            return;
        }
        ui.separator();
        ui.label(RichText::new(format!("{} controls", caps.name)).strong());
        let controls = &mut self.controls;
        egui::Grid::new("engine_controls_grid").num_columns(2).spacing([8.0, 6.0]).show(ui, |ui| {
            if let Some(kind) = caps.instruction {
                let (label, hint) = match kind {
                    InstructionKind::VoiceDescription => {
                        ("Voice description", "a warm, low voice, unhurried")
                    }
                    InstructionKind::EmotionText => ("Emotion", "whispered, close to tears"),
                };
                let label = ui.label(label);
                let text = controls.instruction.get_or_insert_with(String::new);
                ui.add(egui::TextEdit::singleline(text).hint_text(hint)).labelled_by(label.id);
                ui.end_row();
            }
            if let DurationControl::TargetSeconds { min_s, max_s } = caps.duration {
                let mut on = controls.target_duration_s.is_some();
                ui.checkbox(&mut on, "Target length");
                let mut seconds = controls.target_duration_s.unwrap_or((min_s + max_s) / 2.0);
                ui.add_enabled(on, egui::Slider::new(&mut seconds, min_s..=max_s).suffix(" s"))
                    .on_hover_text("The engine renders each chunk to this length");
                controls.target_duration_s = on.then_some(seconds);
                ui.end_row();
            }
            if !caps.emotion.vector.is_empty() {
                controls.emotion_vector.resize(caps.emotion.vector.len(), 0.0);
                for (axis, value) in caps.emotion.vector.iter().zip(controls.emotion_vector.iter_mut()) {
                    let label = ui.label(axis);
                    ui.add(egui::Slider::new(value, 0.0..=1.0)).labelled_by(label.id);
                    ui.end_row();
                }
            }
            if caps.emotion.strength {
                let label = ui.label("Emotion strength");
                let strength = controls.emotion_strength.get_or_insert(1.0);
                ui.add(egui::Slider::new(strength, 0.0..=1.0)).labelled_by(label.id);
                ui.end_row();
            }
        });
    }

    fn postprocessing_section(&mut self, ui: &mut egui::Ui) {
        ui.label(RichText::new("After generation").strong());
        let caps = &self.engine.capabilities;
        let why_not = |stage: StageId| -> Option<String> {
            if !caps.stages.contains(&stage) {
                return Some(format!("{} does not use the {} stage", caps.name, stage.title()));
            }
            None
        };
        let installed = &self.engine.installed_stages;
        let hint = |stage: StageId| {
            if installed.contains(&stage) {
                format!("{}: installed", stage.title())
            } else {
                format!(
                    "{}: its model files are not installed, so renders skip it (Models > Download)",
                    stage.title()
                )
            }
        };
        egui::Grid::new("post_grid").num_columns(2).spacing([8.0, 6.0]).show(ui, |ui| {
            let validation = why_not(StageId::Validation);
            let on = validation.is_none();
            let r = ui.add_enabled(on, egui::Checkbox::new(&mut self.settings.validate, "Validate words"));
            stage_hover(r, validation.as_deref(), &hint(StageId::Validation));
            let r = ui.add_enabled(
                on && self.settings.validate,
                egui::Slider::new(&mut self.settings.min_match_ratio, 0.0..=1.0).text("min match"),
            );
            stage_hover(r, validation.as_deref(), "The share of the words Whisper must hear; below it the chunk is rendered again (up to 4 attempts)");
            ui.end_row();
            let vc = why_not(StageId::Seedvc);
            let on = vc.is_none();
            let r = ui.add_enabled(on, egui::Checkbox::new(&mut self.settings.skip_vc, "Skip voice conversion"));
            stage_hover(r, vc.as_deref(), &format!("{}. Skip VC also conditions every chunk on the reference's last 3 s", hint(StageId::Seedvc)));
            ui.label("");
            ui.end_row();
            let vc_on = on && !self.settings.skip_vc;
            let r = ui.add_enabled(vc_on, egui::Slider::new(&mut self.settings.vc_steps, 10..=50).text("VC steps"));
            stage_hover(r, vc.as_deref(), "SeedVC diffusion steps (25 by default)");
            let r = ui.add_enabled(vc_on, egui::Slider::new(&mut self.settings.vc_cfg, 0.0..=1.0).text("VC cfg"));
            stage_hover(r, vc.as_deref(), "SeedVC classifier-free guidance (0.5 by default)");
            ui.end_row();
            let sep = why_not(StageId::Separation);
            let r = ui.add_enabled(
                sep.is_none(),
                egui::Checkbox::new(&mut self.settings.background_sfx, "Background SFX"),
            );
            stage_hover(r, sep.as_deref(), &format!("{}. On: the take keeps the full mix; off: the dialogue stem (both stems are kept)", hint(StageId::Separation)));
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

fn stage_hover(response: egui::Response, disabled: Option<&str>, hint: &str) {
    match disabled {
        Some(why) => {
            response.on_disabled_hover_text(why);
        }
        None => {
            response.on_hover_text(hint);
        }
    }
}
