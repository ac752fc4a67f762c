//! The lower deck of the studio (takes, timeline, transport, render queue) and the render controls.

use egui::RichText;

use super::keys::RENDER;
use super::{ModelState, NO_MODEL_HELP, Side, StudioApp};
use crate::studio::queue::JobState;
use crate::studio::theme;
use crate::studio::waveform_view::{self, TimelineView};

impl StudioApp {
    pub(super) fn render_controls(&mut self, ui: &mut egui::Ui) {
        let ready = matches!(self.engine.model, ModelState::Loaded(_)) && self.lint.report.valid;
        let button = egui::Button::new(RichText::new("Render").strong())
            .shortcut_text(ui.ctx().format_shortcut(&RENDER))
            .min_size(egui::vec2(120.0, 28.0));
        let response = ui.add_enabled(ready, button);
        let response = match &self.engine.model {
            ModelState::Missing | ModelState::Failed(_) => response.on_disabled_hover_text(NO_MODEL_HELP),
            ModelState::Lost(_) => {
                response.on_disabled_hover_text("The model was unloaded: reload it first.")
            }
            ModelState::Loading { .. } => response.on_disabled_hover_text("The model is still loading."),
            ModelState::Loaded(_) => {
                response.on_disabled_hover_text("Fix the script's errors first (see Problems).")
            }
        };
        if response.clicked() {
            let _ = self.render();
        }
        match &self.engine.model {
            ModelState::Missing => {
                ui.colored_label(theme::WARNING, NO_MODEL_HELP);
                self.download_controls(ui);
            }
            ModelState::Failed(message) => {
                ui.colored_label(theme::ERROR, format!("The model did not load: {message}"));
                ui.weak(NO_MODEL_HELP);
                self.download_controls(ui);
            }
            ModelState::Loading { message, fraction } => {
                ui.add(egui::ProgressBar::new(*fraction).text(format!("Loading: {message}")));
            }
            ModelState::Lost(message) => {
                ui.colored_label(theme::ERROR, format!("The model was unloaded: {message}"));
                if ui.button("Reload model").on_hover_text("Load the same model files again").clicked() {
                    self.reload_model();
                }
            }
            ModelState::Loaded(_) => {}
        }
    }

    /// The model store's download, from the Render area: start, progress, cancel.
    fn download_controls(&mut self, ui: &mut egui::Ui) {
        if let Some(download) = &self.engine.download {
            let (done, total) = download.bytes();
            let file = download.current.as_deref().unwrap_or("planning the download");
            ui.label(format!(
                "Downloading {} of {} ({} file(s) so far)",
                promptbook_engine::store::human_bytes(done),
                promptbook_engine::store::human_bytes(total),
                download.files_seen()
            ));
            ui.add(egui::ProgressBar::new(download.current_fraction()).text(file.to_string()));
            if ui
                .button("Cancel download")
                .on_hover_text("What arrived is kept and resumes next time")
                .clicked()
            {
                download.cancel();
            }
            return;
        }
        let Some(source) = &self.engine.source else { return };
        if let promptbook_engine::store::Source::ModelsDir(dir) = source.store.source() {
            ui.weak(format!(
                "{} is read-only to Promptbook: copy the files there, or start without --models-dir to download into the Hugging Face cache.",
                dir.display()
            ));
            return;
        }
        let button = ui.button("Download the model").on_hover_ui(|ui| {
            let missing = source
                .store
                .status(source.variant, false)
                .into_iter()
                .filter(|f| f.state != promptbook_engine::store::FileState::Present)
                .count();
            ui.label(format!(
                "{missing} file(s) from the Hugging Face hub into the standard cache (HF_TOKEN is used for gated repositories)"
            ));
        });
        if button.clicked() {
            self.start_download(ui.ctx());
        }
    }

    pub(super) fn lower_deck(&mut self, ui: &mut egui::Ui) {
        egui::Panel::left("takes").resizable(true).default_size(300.0).show(ui, |ui| self.takes_list(ui));
        egui::Panel::right("queue").resizable(true).default_size(300.0).show(ui, |ui| self.queue_list(ui));
        egui::CentralPanel::default().show(ui, |ui| {
            self.transport_bar(ui);
            self.timeline(ui);
        });
    }

    fn takes_list(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            ui.label(RichText::new("Takes").strong());
            let trashed = self.takes.trashed().count();
            if trashed > 0 && ui.small_button(format!("Empty trash ({trashed})")).clicked() {
                self.empty_trash();
            }
        });
        let numbers: Vec<u32> = self.takes.live().map(|t| t.number).collect();
        if numbers.is_empty() {
            ui.weak("No takes yet: every render becomes one.");
        }
        egui::ScrollArea::vertical().id_salt("takes_scroll").show(ui, |ui| {
            for (i, number) in numbers.into_iter().enumerate() {
                self.take_row(ui, i, number);
            }
            let trashed: Vec<(u32, String)> =
                self.takes.trashed().map(|t| (t.number, t.name.clone())).collect();
            if !trashed.is_empty() {
                ui.separator();
                ui.weak("Trash");
                for (number, name) in trashed {
                    ui.horizontal(|ui| {
                        ui.weak(name);
                        if ui.small_button("Restore").clicked() {
                            self.takes.set_trashed(number, false);
                        }
                    });
                }
            }
        });
    }

    fn take_row(&mut self, ui: &mut egui::Ui, index: usize, number: u32) {
        let Some(take) = self.takes.get(number) else { return };
        let (name, code, starred, duration, lufs) =
            (take.name.clone(), take.code(), take.starred, take.audio.duration_secs(), take.loudness_lufs);
        let seed = take.record.base_seed;
        let is_a = self.selected == Some(number);
        let is_b = self.compare == Some(number);
        let row = ui.horizontal(|ui| {
            if ui.selectable_label(starred, "Star").on_hover_text("Star (circle) this take").clicked()
                && let Some(t) = self.takes.get_mut(number)
            {
                t.starred = !t.starred;
            }
            let key = if index < 9 { format!("{} ", index + 1) } else { String::new() };
            let title = if name == code { format!("{key}{code}") } else { format!("{key}{code} {name}") };
            if ui.selectable_label(is_a, title).on_hover_text(format!("seed {seed}")).clicked() {
                self.select_take(number);
            }
            ui.weak(format!("{duration:.1} s"));
            ui.weak(lufs.map_or("— LUFS".into(), |l| format!("{l:.1} LUFS")));
            // A and B mark the pair being compared; any other take can become B.
            let mark = |text: &str| {
                RichText::new(text).strong().color(theme::CHUNK_TEXT).background_color(theme::AB_MARK)
            };
            if is_a && self.compare.is_some() {
                ui.label(mark("A")).on_hover_text("Side A of the comparison (Tab switches)");
            } else if is_b {
                let b =
                    ui.button(mark("B")).on_hover_text("Side B of the comparison; click to stop comparing");
                if b.clicked() {
                    self.set_compare(None);
                }
            } else if let Some(a) = self.selected.filter(|_| !is_a) {
                let compare = ui
                    .small_button("Compare")
                    .on_hover_text(format!("Compare with T{a:02}: this take becomes B"));
                if compare.clicked() {
                    self.set_compare(Some(number));
                }
            }
            ui.menu_button("More", |ui| {
                if ui.button("Rename").clicked() {
                    self.ui_state.renaming = Some((number, name.clone()));
                    self.ui_state.focus_rename = true;
                    ui.close();
                }
                if ui.button("Delete to trash").clicked() {
                    self.takes.set_trashed(number, true);
                    if self.selected == Some(number) {
                        self.selected = None;
                        self.runtime.transport.stop();
                    }
                    if self.compare == Some(number) {
                        self.set_compare(None);
                    }
                    ui.close();
                }
            });
        });
        if self.ui_state.scroll_to_take == Some(number) {
            row.response.scroll_to_me(Some(egui::Align::Center));
            self.ui_state.scroll_to_take = None;
        }
        if let Some((renaming, text)) = &mut self.ui_state.renaming
            && *renaming == number
        {
            let id = egui::Id::unique(("rename", number));
            let chars = text.chars().count();
            if self.ui_state.focus_rename && crate::studio::editor::focus_can_move(ui.ctx()) {
                self.ui_state.focus_rename = false;
                // The whole name selected, so typing replaces it.
                let mut state = egui::text_edit::TextEditState::load(ui.ctx(), id).unwrap_or_default();
                let all = egui::text::CCursorRange::two(
                    egui::text::CCursor::new(0),
                    egui::text::CCursor::new(chars),
                );
                state.cursor.set_char_range(Some(all));
                state.store(ui.ctx(), id);
                ui.memory_mut(|m| m.request_focus(id));
            }
            let field = ui.add(egui::TextEdit::singleline(text).id(id).hint_text("New name, Enter to keep"));
            let field = field.on_hover_text("Enter keeps the name, Esc leaves it as it was");
            if field.lost_focus() {
                let new_name = text.trim().to_string();
                let escaped = ui.input(|i| i.key_pressed(egui::Key::Escape));
                if let Some(t) = self.takes.get_mut(number)
                    && !new_name.is_empty()
                    && !escaped
                {
                    t.name = new_name;
                }
                self.ui_state.renaming = None;
            }
        }
        if is_a && let Some(t) = self.takes.get_mut(number) {
            ui.add(egui::TextEdit::singleline(&mut t.note).hint_text("Note on this take"));
        }
    }

    fn transport_bar(&mut self, ui: &mut egui::Ui) {
        // Wrapped: with a selection and an A/B pair the controls are wider than a narrow deck.
        ui.horizontal_wrapped(|ui| {
            let has = self.selected.is_some();
            let play = if self.runtime.transport.is_playing() { "Pause" } else { "Play" };
            if ui.add_enabled(has, egui::Button::new(play).shortcut_text("Space")).clicked() {
                self.runtime.transport.toggle();
            }
            if ui.add_enabled(has, egui::Button::new("Stop")).clicked() {
                self.runtime.transport.stop();
            }
            let mut looping = self.looping;
            let loop_box = ui.add_enabled(has, egui::Checkbox::new(&mut looping, "Loop"));
            if loop_box.on_hover_text("Shift+Space: loop the selection (or the whole take)").changed() {
                self.set_looping(looping);
            }
            ui.label(
                RichText::new(format!(
                    "{:6.2} / {:.2} s",
                    self.runtime.transport.position_s(),
                    self.runtime.transport.duration_secs()
                ))
                .monospace(),
            );
            if let Some((from, to)) = self.selection {
                ui.separator();
                ui.label(
                    RichText::new(format!("Selection {from:.2}–{to:.2} s ({:.2} s)", to - from)).monospace(),
                );
                if ui.small_button("Clear").on_hover_text("Clear the selection").clicked() {
                    self.set_selection(None);
                }
            }
            ui.checkbox(&mut self.ui_state.follow_playhead, "Follow")
                .on_hover_text("Keep the playhead in view while playing a zoomed-in take");
            if let Some(b) = self.compare {
                ui.separator();
                let a = self.selected.unwrap_or_default();
                let side = match self.side {
                    Side::A => format!("A: T{a:02}"),
                    Side::B => format!("B: T{b:02}"),
                };
                if ui
                    .button(format!("A/B ({side})"))
                    .on_hover_text("Tab switches at the same playhead")
                    .clicked()
                {
                    self.toggle_ab();
                }
                let mut raw = self.raw_level;
                if ui.checkbox(&mut raw, "Raw level").changed() {
                    self.set_raw_level(raw);
                }
                let gain = self.b_gain_db();
                ui.label(if self.raw_level {
                    "B at its own level".to_string()
                } else {
                    format!("B matched: {gain:+.1} LU")
                });
            }
            if let Some(err) = &self.runtime.transport.error {
                ui.colored_label(theme::ERROR, err);
            }
        });
    }

    fn timeline(&mut self, ui: &mut egui::Ui) {
        let Some((number, _)) = self.audible() else {
            ui.weak("Render a take to see its waveform here.");
            return;
        };
        let Some(take) = self.takes.get(number) else { return };
        let total = take.audio.duration_secs();
        let mut view = self.view.unwrap_or((0.0, total.max(0.05)));
        if self.ui_state.follow_playhead
            && self.runtime.transport.is_playing()
            && let Some(paged) = waveform_view::followed(view, self.runtime.transport.position_s(), total)
        {
            view = paged;
            self.view = Some(paged);
        }
        let boundaries = take.chunk_boundaries();
        let shown = TimelineView {
            pyramid: &take.pyramid,
            audio: Some(&take.audio),
            sample_rate: take.audio.sample_rate(),
            boundaries: &boundaries,
            playhead_s: self.runtime.transport.position_s(),
            view,
            selection: self.selection,
        };
        let height = ui.available_height().max(60.0);
        let response = waveform_view::show(ui, &shown, height);
        if let Some(t) = response.seek_to_s {
            self.runtime.transport.seek(t);
        }
        if let Some(span) = response.select {
            self.set_selection(Some(span));
        }
        if let Some(v) = response.view {
            self.view = Some(v);
        }
    }

    fn queue_list(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            ui.label(RichText::new("Render queue").strong());
            if ui.small_button("Clear finished").clicked() {
                self.queue.clear_finished();
            }
        });
        self.queue_offer_banner(ui);
        let mut cancel = None;
        let mut audition = None;
        egui::ScrollArea::vertical().id_salt("queue_scroll").show(ui, |ui| {
            if self.queue.jobs.is_empty() {
                ui.weak("Nothing queued.");
            }
            for job in self.queue.jobs.iter().rev() {
                ui.horizontal(|ui| {
                    let color = match job.state {
                        JobState::Failed(_) => theme::ERROR,
                        JobState::Done { .. } => theme::OK,
                        _ => ui.visuals().text_color(),
                    };
                    ui.label(format!("#{}", job.id));
                    ui.colored_label(color, job.describe()).on_hover_text(&job.label);
                    if job.is_active() && ui.small_button("Cancel").clicked() {
                        cancel = Some(job.id);
                    }
                    if job.is_active()
                        && !job.chunk_audio.is_empty()
                        && ui
                            .small_button(format!("Audition {}", job.chunk_audio.len()))
                            .on_hover_text("Play the chunks rendered so far")
                            .clicked()
                    {
                        audition = Some(job.id);
                    }
                });
                if let JobState::Running { .. } | JobState::Decoding { .. } = job.state {
                    let decoding = matches!(job.state, JobState::Decoding { .. });
                    ui.add(
                        egui::ProgressBar::new(job.fraction() as f32).desired_height(6.0).animate(decoding),
                    );
                }
            }
        });
        if let Some(id) = cancel {
            self.cancel(id);
        }
        if let Some(id) = audition {
            self.audition(id);
        }
    }

    /// Renders the last session left unfinished: queue them again, or let them go.
    fn queue_offer_banner(&mut self, ui: &mut egui::Ui) {
        let count = self.session.queue_offer.len();
        if count == 0 {
            return;
        }
        ui.group(|ui| {
            let question = if count == 1 {
                "1 render was queued: queue it again?".to_string()
            } else {
                format!("{count} renders were queued: queue them again?")
            };
            ui.colored_label(theme::WARNING, question)
                .on_hover_text("Renders that were queued or running when the last session ended");
            ui.horizontal(|ui| {
                let loaded = matches!(self.engine.model, ModelState::Loaded(_));
                let again = ui
                    .add_enabled(loaded, egui::Button::new("Queue again"))
                    .on_disabled_hover_text("Waits for the model to load");
                if again.clicked() {
                    let _ = self.requeue_offered();
                }
                if ui.button("Dismiss").clicked() {
                    self.dismiss_queue_offer();
                }
            });
        });
    }

    /// Delete the trashed takes for good, their files included.
    pub fn empty_trash(&mut self) {
        let gone = self.takes.empty_trash();
        let mut failed = Vec::new();
        if let Some(project) = &self.project {
            for number in &gone {
                if let Err(err) = project.delete_take(*number) {
                    failed.push(format!("{err:#}"));
                }
            }
        }
        self.status = if failed.is_empty() {
            format!("Deleted {} takes for good", gone.len())
        } else {
            format!("Deleted {} takes; some files stayed: {}", gone.len(), failed.join("; "))
        };
    }
}
