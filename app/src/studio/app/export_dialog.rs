//! The export window: which takes, full mix and/or one file per chunk, the WAV format, the line's name
//! and the destination folder (the project's `exports/` unless the director picks another).

use std::path::PathBuf;

use egui::RichText;
use promptbook_engine::audio::WavSampleFormat;

use super::StudioApp;
use crate::studio::dialogs::{DialogAnswer, PathPrompt, PathPurpose};
use crate::studio::export::{self, ExportOptions};

/// Which takes an export writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportTakes {
    /// The take under the playhead.
    Selected,
    /// The A and B takes being compared.
    AbPair,
    Starred,
    AllLive,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ExportDialog {
    pub takes: ExportTakes,
    pub full_mix: bool,
    pub per_chunk: bool,
    pub dir: PathBuf,
}

impl StudioApp {
    pub fn open_export_dialog(&mut self) {
        let takes = if self.compare.is_some() { ExportTakes::AbPair } else { ExportTakes::Selected };
        self.ui_state.export_dialog =
            Some(ExportDialog { takes, full_mix: true, per_chunk: false, dir: self.export_dir() });
    }

    pub fn export_dialog_mut(&mut self) -> Option<&mut ExportDialog> {
        self.ui_state.export_dialog.as_mut()
    }

    /// The take numbers `which` names, in take order.
    pub fn takes_to_export(&self, which: ExportTakes) -> Vec<u32> {
        match which {
            ExportTakes::Selected => self.selected.into_iter().collect(),
            ExportTakes::AbPair => self.selected.into_iter().chain(self.compare).collect(),
            ExportTakes::Starred => self.takes.live().filter(|t| t.starred).map(|t| t.number).collect(),
            ExportTakes::AllLive => self.takes.live().map(|t| t.number).collect(),
        }
    }

    /// Run the export the dialog describes; returns the WAV files written.
    pub fn run_export(&mut self) -> anyhow::Result<Vec<PathBuf>> {
        let dialog = self
            .ui_state
            .export_dialog
            .clone()
            .ok_or_else(|| anyhow::anyhow!("the export window is not open"))?;
        let numbers = self.takes_to_export(dialog.takes);
        anyhow::ensure!(!numbers.is_empty(), "no takes match: pick other takes to export");
        anyhow::ensure!(dialog.full_mix || dialog.per_chunk, "choose the full mix, the chunks, or both");
        let options = ExportOptions {
            project: self.project_name(),
            line: self.session.line.clone(),
            format: self.session.export_format,
            full_mix: dialog.full_mix,
            per_chunk: dialog.per_chunk,
        };
        let mut written = Vec::new();
        for number in numbers {
            if let Some(take) = self.takes.get(number) {
                written.extend(export::export_take(take, &dialog.dir, &options)?);
            }
        }
        self.status = format!("Exported {} files to {}", written.len(), dialog.dir.display());
        Ok(written)
    }

    pub(super) fn export_window(&mut self, ctx: &egui::Context) {
        let Some(mut dialog) = self.ui_state.export_dialog.take() else { return };
        let mut open = true;
        let mut run = false;
        let mut cancel = false;
        egui::Window::new("Export").open(&mut open).collapsible(false).resizable(false).show(ctx, |ui| {
            ui.label(RichText::new("Takes").strong());
            for (which, label) in [
                (ExportTakes::Selected, "Selected take"),
                (ExportTakes::AbPair, "A and B takes"),
                (ExportTakes::Starred, "Starred takes"),
                (ExportTakes::AllLive, "All takes (not the trash)"),
            ] {
                let count = self.takes_to_export(which).len();
                ui.radio_value(&mut dialog.takes, which, format!("{label} ({count})"));
            }
            ui.separator();
            ui.label(RichText::new("Files").strong());
            ui.checkbox(&mut dialog.full_mix, "Full mix");
            ui.checkbox(&mut dialog.per_chunk, "One file per chunk");
            ui.add_enabled(false, egui::Checkbox::new(&mut false, "Dialogue and SFX stems"))
                .on_disabled_hover_text(
                    "Needs the MelBandRoFormer separation stage, which is not in this build yet",
                );
            ui.separator();
            egui::Grid::new("export_grid").num_columns(2).show(ui, |ui| {
                let format_label = ui.label("Format");
                egui::ComboBox::from_id_salt("export_format")
                    .selected_text(format_name(self.session.export_format))
                    .show_ui(ui, |ui| {
                        for format in
                            [WavSampleFormat::Pcm16, WavSampleFormat::Pcm24, WavSampleFormat::Float32]
                        {
                            ui.selectable_value(&mut self.session.export_format, format, format_name(format));
                        }
                    })
                    .response
                    .labelled_by(format_label.id);
                ui.end_row();
                let line_label = ui.label("Line");
                ui.text_edit_singleline(&mut self.session.line).labelled_by(line_label.id);
                ui.end_row();
                ui.label("Folder");
                ui.horizontal(|ui| {
                    ui.add(egui::Label::new(dialog.dir.display().to_string()).truncate());
                    if ui.button("Choose...").clicked() {
                        let purpose = PathPurpose::ExportFolder;
                        match self.runtime.dialogs.pick_folder(purpose.title(), Some(&dialog.dir)) {
                            DialogAnswer::Picked(dir) => dialog.dir = dir,
                            DialogAnswer::Cancelled => {}
                            DialogAnswer::Unavailable(why) => {
                                self.status = "No file dialog opened: type the path instead".into();
                                self.ui_state.path_prompt =
                                    Some(PathPrompt::new(purpose, why, Some(&dialog.dir)));
                            }
                        }
                    }
                });
                ui.end_row();
            });
            let example = export::file_name(&self.project_name(), &self.session.line, 1, None);
            ui.weak(format!("Files are named like {example}.wav, each with its .json record."));
            ui.horizontal(|ui| {
                if ui.button("Export").clicked() {
                    run = true;
                }
                if ui.button("Cancel").clicked() {
                    cancel = true;
                }
            });
        });
        if !open || cancel {
            return;
        }
        self.ui_state.export_dialog = Some(dialog);
        if run {
            match self.run_export() {
                Ok(_) => self.ui_state.export_dialog = None,
                Err(err) => self.status = format!("Export failed: {err:#}"),
            }
        }
    }
}

pub fn format_name(format: WavSampleFormat) -> &'static str {
    match format {
        WavSampleFormat::Pcm16 => "WAV 48 kHz 16-bit",
        WavSampleFormat::Pcm24 => "WAV 48 kHz 24-bit",
        WavSampleFormat::Float32 => "WAV 48 kHz 32-bit float",
    }
}
