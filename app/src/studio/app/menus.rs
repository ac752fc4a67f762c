//! The studio's menu bar: File, Edit, Transport, Voice and Presets.

use std::path::PathBuf;

use promptbook_engine::presets;

use super::StudioApp;
use super::keys::{EXPORT, REDO, RENDER, SAVE, UNDO};

impl StudioApp {
    pub(super) fn menu_bar(&mut self, ui: &mut egui::Ui) {
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
                let recent: Vec<PathBuf> = self.session.recent.existing().cloned().collect();
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
                if ui.add_enabled(self.session.history.can_undo(), undo).clicked() {
                    self.undo();
                    ui.close();
                }
                let redo = egui::Button::new("Redo").shortcut_text(ui.ctx().format_shortcut(&REDO));
                if ui.add_enabled(self.session.history.can_redo(), redo).clicked() {
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
}
