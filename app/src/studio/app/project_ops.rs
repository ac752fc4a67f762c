//! Projects in the studio: new, open, open recent, save, save as, the recovery file and its restore
//! offer, renders left queued by the last session, the save-before-closing question, file dialogs with
//! a typed-path fallback, and the recorder window that fills the project's `refs/`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context as _;

use super::{RECOVERY_DELAY, StudioApp, WELCOME_SCRIPT};
use crate::recorder::{RecorderEvent, RecorderPanel};
use crate::studio::dialogs::{DialogAnswer, PathPrompt, PathPurpose};
use crate::studio::history::History;
use crate::studio::project::{Opened, Project, ProjectState, Recovery, scratch_dir, unix_now};
use crate::studio::settings::RenderSettings;

impl StudioApp {
    /// Everything `project.json` keeps, as the studio holds it now.
    pub fn project_state(&self) -> ProjectState {
        ProjectState {
            line: self.session.line.clone(),
            settings: self.settings,
            reference: self.reference.clone(),
            export_format: self.session.export_format,
            takes: self.takes.entries(),
            next_take: self.takes.next_number(),
            ..ProjectState::default()
        }
    }

    /// Unsaved changes: always for a session without a project that holds anything.
    pub fn is_dirty(&self) -> bool {
        self.differs_from_saved(&self.session.script, &self.project_state())
    }

    fn differs_from_saved(&self, script: &str, state: &ProjectState) -> bool {
        match &self.session.saved {
            Some((saved_script, saved_state)) => saved_script != script || saved_state != state,
            None => self.takes.live().next().is_some(),
        }
    }

    /// Once a frame: note whether there is unsaved work (the status bar, title and close check read it),
    /// and keep the recovery file up to date. The project state is built once for all of them.
    pub(super) fn track_changes(&mut self, ctx: &egui::Context) {
        let now = (self.session.script.clone(), self.project_state());
        self.session.dirty = self.differs_from_saved(&now.0, &now.1);
        self.autosave(ctx, now);
    }

    pub fn project(&self) -> Option<&Project> {
        self.project.as_ref()
    }

    pub fn recovery_offer(&self) -> Option<&Recovery> {
        self.session.recovery_offer.as_ref()
    }

    /// Open the project at `path`, replacing the session (whose unsaved work stays in its recovery file).
    pub fn open_project(&mut self, path: &Path) -> anyhow::Result<()> {
        let opened = Project::open(path)?;
        self.leave_project();
        self.adopt(opened);
        Ok(())
    }

    fn adopt(&mut self, opened: Opened) {
        let Opened { project, state, script, recovery, adopted, incomplete, queued } = opened;
        self.runtime.transport.unload();
        self.selected = None;
        self.compare = None;
        self.selection = None;
        self.view = None;
        self.ui_state.renaming = None;
        self.takes.clear();
        let mut missing = Vec::new();
        for entry in &state.takes {
            match project.read_take(entry.number) {
                Ok(take) => self.takes.restore(entry, take, &project.dir),
                Err(err) => missing.push(format!("{err:#}")),
            }
        }
        self.session.queue_offer = queued;
        self.session.queue_written = None;
        self.takes.reserve_numbers_below(state.next_take);
        self.apply_state(&state);
        self.replace_script(script.clone());
        self.session.saved = Some((script, state));
        self.session.recovery_offer = recovery;
        self.session.recovery_written = None;
        self.session.pending_recovery = None;
        if let Err(err) = self.session.recent.push(&project.dir) {
            self.status = format!("Could not update the recent projects list: {err:#}");
        }
        let mut status = format!("Opened {}", project.dir.display());
        if !adopted.is_empty() {
            let codes: Vec<String> = adopted.iter().map(|n| format!("T{n:02}")).collect();
            status.push_str(&format!(
                "; {} take(s) rendered after the last save are back: {}",
                adopted.len(),
                codes.join(", ")
            ));
        }
        if !missing.is_empty() {
            status.push_str(&format!(
                "; {} take(s) could not be read: {}",
                missing.len(),
                missing.join("; ")
            ));
        }
        if !incomplete.is_empty() {
            let files: Vec<String> = incomplete.iter().map(|p| p.display().to_string()).collect();
            status.push_str(&format!(
                "; {} take file(s) lack their partner and were left as they are: {}",
                files.len(),
                files.join(", ")
            ));
        }
        self.status = status;
        self.project = Some(project);
        self.refresh_references();
        if let Some(first) = self.takes.nth_live(0) {
            self.select_take(first);
        }
    }

    fn apply_state(&mut self, state: &ProjectState) {
        self.settings = state.settings;
        self.session.line.clone_from(&state.line);
        self.reference.clone_from(&state.reference);
        self.session.export_format = state.export_format;
        self.session.history = History::new((self.session.script.clone(), self.settings));
    }

    /// Before switching away: unsaved work goes to the recovery file, so nothing is lost.
    fn leave_project(&mut self) {
        if self.project.is_some() && self.is_dirty() {
            self.write_recovery_now();
        }
    }

    /// The scratch project in the studio's data folder, made with the welcome script the first time.
    pub fn open_scratch(&mut self) {
        let Some(dir) = scratch_dir() else {
            self.replace_script(WELCOME_SCRIPT.into());
            return;
        };
        let result = if dir.join(crate::studio::project::PROJECT_FILE).exists() {
            Project::open(&dir)
        } else {
            Project::create(&dir, WELCOME_SCRIPT, &ProjectState::default()).and_then(|_| Project::open(&dir))
        };
        match result {
            Ok(opened) => self.adopt(opened),
            Err(err) => {
                self.replace_script(WELCOME_SCRIPT.into());
                self.status = format!("Working without a project: {err:#}");
            }
        }
    }

    /// Ask for a path with the desktop's dialog; where none opens, in a text field instead.
    pub fn ask_path(&mut self, purpose: PathPurpose) {
        let start = self.path_start(purpose);
        let answer = if purpose.wants_folder() {
            self.runtime.dialogs.pick_folder(purpose.title(), start.as_deref())
        } else {
            let (what, extensions): (&str, &[&str]) = match purpose {
                PathPurpose::ImportScript => ("Promptbook script", &["xml", "txt"]),
                _ => ("Audio", &["wav", "flac", "mp3", "ogg"]),
            };
            self.runtime.dialogs.pick_file(purpose.title(), what, extensions, start.as_deref())
        };
        match answer {
            DialogAnswer::Picked(path) => {
                if let Err(err) = self.use_path(purpose, &path) {
                    self.status = format!("{err:#}");
                }
            }
            DialogAnswer::Cancelled => {}
            DialogAnswer::Unavailable(why) => {
                self.status = "No file dialog opened: type the path instead".into();
                self.ui_state.path_prompt = Some(PathPrompt::new(purpose, why, start.as_deref()));
            }
        }
    }

    /// Where a dialog for `purpose` starts.
    fn path_start(&self, purpose: PathPurpose) -> Option<PathBuf> {
        match purpose {
            PathPurpose::ExportFolder => self.ui_state.export_dialog.as_ref().map(|d| d.dir.clone()),
            _ => self.project.as_ref().and_then(|p| p.dir.parent().map(Path::to_path_buf)),
        }
    }

    /// Do what the chosen (or typed) path was asked for.
    pub fn use_path(&mut self, purpose: PathPurpose, path: &Path) -> anyhow::Result<()> {
        match purpose {
            PathPurpose::NewProject => self.new_project_in(path),
            PathPurpose::OpenProject => self.open_project(path),
            PathPurpose::SaveAs => {
                self.save_as(path).with_context(|| format!("Could not save as {}", path.display()))
            }
            PathPurpose::ImportScript => self.import_script(path),
            PathPurpose::ImportReference => self.import_reference(path),
            PathPurpose::ExportFolder => {
                if let Some(dialog) = &mut self.ui_state.export_dialog {
                    dialog.dir = path.to_path_buf();
                }
                Ok(())
            }
        }
    }

    pub fn path_prompt(&self) -> Option<&PathPrompt> {
        self.ui_state.path_prompt.as_ref()
    }

    pub fn new_project(&mut self) {
        self.ask_path(PathPurpose::NewProject);
    }

    fn new_project_in(&mut self, dir: &Path) -> anyhow::Result<()> {
        let state = ProjectState {
            settings: RenderSettings { seed: self.settings.seed, ..RenderSettings::default() },
            ..ProjectState::default()
        };
        let opened = Project::create(dir, WELCOME_SCRIPT, &state)
            .and_then(|_| Project::open(dir))
            .context("No new project")?;
        self.leave_project();
        self.adopt(opened);
        Ok(())
    }

    pub fn open_project_dialog(&mut self) {
        self.ask_path(PathPurpose::OpenProject);
    }

    /// Ctrl+S: save the project; a session without one asks where to make it.
    pub fn save(&mut self) {
        let Some(project) = &self.project else {
            self.save_as_dialog();
            return;
        };
        let dir = project.dir.clone();
        let unstored = self.store_missing_takes();
        let Some(project) = &self.project else { return };
        let state = self.project_state();
        match project.save(&self.session.script, &state) {
            Ok(()) if unstored.is_empty() => {
                self.status = format!("Saved {}", dir.display());
                self.session.saved = Some((self.session.script.clone(), state));
                self.session.recovery_written = None;
            }
            Ok(()) => {
                self.status = format!(
                    "Saved {}, but {} take(s) are only in memory: {}",
                    dir.display(),
                    unstored.len(),
                    unstored.join("; ")
                );
                self.session.saved = Some((self.session.script.clone(), state));
                self.session.recovery_written = None;
            }
            Err(err) => {
                self.status =
                    format!("Could not save {}: {err:#}; your work is still here", project.dir.display())
            }
        }
    }

    pub fn save_as_dialog(&mut self) {
        self.ask_path(PathPurpose::SaveAs);
    }

    /// Write every take whose files are not in the current project (a write that failed, or a take that
    /// finished while the project changed); returns what could not be written.
    pub(super) fn store_missing_takes(&mut self) -> Vec<String> {
        let Some(project) = self.project.clone() else { return Vec::new() };
        let unstored: Vec<u32> = self
            .takes
            .all()
            .filter(|t| t.stored_in.as_deref() != Some(project.dir.as_path()))
            .map(|t| t.number)
            .collect();
        let mut failed = Vec::new();
        for number in unstored {
            let Some(studio_take) = self.takes.get(number) else { continue };
            let take = studio_take.to_take();
            match project.write_new_take(number, &take) {
                Ok(written) => {
                    if written != number {
                        self.renumber_take(number, written);
                    }
                    if let Some(t) = self.takes.get_mut(written) {
                        t.stored_in = Some(project.dir.clone());
                    }
                }
                Err(err) => failed.push(format!("T{number:02}: {err:#}")),
            }
        }
        failed
    }

    /// A take whose number turned out to be used in the project folder gets the number it was written as.
    fn renumber_take(&mut self, from: u32, to: u32) {
        self.takes.renumber(from, to);
        for slot in [&mut self.selected, &mut self.compare] {
            if *slot == Some(from) {
                *slot = Some(to);
            }
        }
    }

    /// Save the session (takes included) as the project in `dir` and continue there.
    pub fn save_as(&mut self, dir: &Path) -> anyhow::Result<()> {
        let state = self.project_state();
        let project = match &self.project {
            Some(current) => current.save_as(dir, &self.session.script, &state)?,
            None => {
                Project { dir: dir.to_path_buf() }.refuse_foreign_takes()?;
                let project = Project::create(dir, &self.session.script, &state)?;
                // In number order into an empty takes/, so every take keeps its number.
                for take in self.takes.all() {
                    let take_copy = take.to_take();
                    let written = project.write_new_take(take.number, &take_copy)?;
                    anyhow::ensure!(
                        written == take.number,
                        "{} became T{written:02} in the new folder; nothing else was changed",
                        take.code()
                    );
                }
                project
            }
        };
        if let Some(old) = &self.project
            && old.dir != project.dir
        {
            if self.is_dirty() {
                // The old folder keeps its last saved state.
                old.clear_recovery();
            }
            // The queue goes along with the session.
            let _ = old.write_queue(&[]);
            self.session.queue_written = None;
            for take in self.takes.all_mut() {
                if take.stored_in.as_deref() == Some(old.dir.as_path()) {
                    take.stored_in = Some(project.dir.clone());
                }
            }
        }
        if self.project.is_none() {
            for take in self.takes.all_mut() {
                take.stored_in = Some(project.dir.clone());
            }
        }
        self.session.saved = Some((self.session.script.clone(), state));
        self.session.recovery_written = None;
        self.status = format!("Saved as {}", project.dir.display());
        let _ = self.session.recent.push(&project.dir);
        self.project = Some(project);
        let unstored = self.store_missing_takes();
        if !unstored.is_empty() {
            self.status.push_str(&format!("; take(s) only in memory: {}", unstored.join("; ")));
        }
        self.refresh_references();
        Ok(())
    }

    pub fn import_script_dialog(&mut self) {
        self.ask_path(PathPurpose::ImportScript);
    }

    fn import_script(&mut self, path: &Path) -> anyhow::Result<()> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("Cannot import {}", path.display()))?;
        self.set_script(text);
        self.status = format!("Imported {} (Ctrl+Z takes it back)", path.display());
        Ok(())
    }

    /// Take back the unsaved work the recovery file holds.
    pub fn restore_recovery(&mut self) {
        let Some(recovery) = self.session.recovery_offer.take() else { return };
        let numbers: Vec<u32> = self.takes.live().chain(self.takes.trashed()).map(|t| t.number).collect();
        for entry in &recovery.state.takes {
            if let Some(take) = self.takes.get_mut(entry.number) {
                take.name.clone_from(&entry.name);
                take.starred = entry.starred;
                take.note.clone_from(&entry.note);
                take.trashed = entry.trashed;
            } else if !numbers.contains(&entry.number)
                && let Some(project) = &self.project
                && let Ok(take) = project.read_take(entry.number)
            {
                // A take rendered after the last save: its files were written at once.
                self.takes.restore(entry, take, &project.dir);
            }
        }
        self.takes.reserve_numbers_below(recovery.state.next_take);
        self.apply_state(&recovery.state);
        self.set_script(recovery.script);
        if self.selected.is_none()
            && let Some(first) = self.takes.nth_live(0)
        {
            self.select_take(first);
        }
        self.status = "Restored the unsaved work; save to keep it".into();
    }

    pub fn discard_recovery(&mut self) {
        self.session.recovery_offer = None;
        if let Some(project) = &self.project {
            project.clear_recovery();
        }
    }

    /// Write the recovery file once the session has been unchanged for a moment.
    fn autosave(&mut self, ctx: &egui::Context, now: (String, ProjectState)) {
        if self.project.is_none() || self.session.recovery_offer.is_some() {
            return;
        }
        if self.session.saved.as_ref() == Some(&now) || self.session.recovery_written.as_ref() == Some(&now) {
            self.session.pending_recovery = None;
            return;
        }
        match &self.session.pending_recovery {
            Some((snapshot, since)) if *snapshot == now => {
                let waited = since.elapsed();
                if waited >= RECOVERY_DELAY {
                    self.write_recovery_now();
                } else {
                    ctx.request_repaint_after(RECOVERY_DELAY - waited);
                }
            }
            _ => {
                self.session.pending_recovery = Some((now, Instant::now()));
                ctx.request_repaint_after(RECOVERY_DELAY);
            }
        }
    }

    pub(super) fn write_recovery_now(&mut self) {
        let Some(project) = &self.project else { return };
        let state = self.project_state();
        match project.write_recovery(&self.session.script, &state) {
            Ok(()) => self.session.recovery_written = Some((self.session.script.clone(), state)),
            Err(err) => self.status = format!("Could not write the recovery file: {err:#}"),
        }
        self.session.pending_recovery = None;
    }

    pub fn open_recorder(&mut self) {
        match &self.project {
            Some(project) => {
                if self.runtime.recorder.is_none() {
                    self.runtime.recorder = Some(RecorderPanel::new(project.refs_dir()));
                }
            }
            None => {
                self.status = "Save the session as a project first: clips are kept in its refs/ folder".into()
            }
        }
    }

    pub fn import_reference_dialog(&mut self) {
        self.ask_path(PathPurpose::ImportReference);
    }

    fn import_reference(&mut self, path: &Path) -> anyhow::Result<()> {
        self.open_recorder();
        let panel = self.runtime.recorder.as_mut().context("save the session as a project first")?;
        panel.import_file(path).with_context(|| format!("cannot import {}", path.display()))?;
        Ok(())
    }

    /// The text field that stands in for a file dialog the desktop could not show.
    fn path_prompt_window(&mut self, ctx: &egui::Context) {
        let Some(mut prompt) = self.ui_state.path_prompt.take() else { return };
        let mut open = true;
        let (mut accept, mut cancel) = (false, false);
        egui::Window::new(prompt.purpose.title())
            .id(egui::Id::unique("path_prompt"))
            .open(&mut open)
            .collapsible(false)
            .resizable(false)
            .show(ctx, |ui| {
                ui.label(&prompt.why);
                let what = if prompt.purpose.wants_folder() { "Folder" } else { "File" };
                let label = ui.label(what);
                let field = ui
                    .add(
                        egui::TextEdit::singleline(&mut prompt.text)
                            .desired_width(420.0)
                            .hint_text("/home/me/voices/scene04"),
                    )
                    .labelled_by(label.id);
                if prompt.focus && crate::studio::editor::focus_can_move(ui.ctx()) {
                    prompt.focus = false;
                    field.request_focus();
                }
                if field.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter)) {
                    accept = true;
                }
                if let Some(err) = &prompt.error {
                    ui.colored_label(crate::studio::theme::ERROR, err);
                }
                ui.horizontal(|ui| {
                    accept |= ui.add_enabled(prompt.path().is_some(), egui::Button::new("OK")).clicked();
                    cancel = ui.button("Cancel").clicked();
                });
            });
        if !open || cancel {
            return;
        }
        if accept && let Some(path) = prompt.path() {
            match self.use_path(prompt.purpose, &path) {
                Ok(()) => return,
                Err(err) => {
                    prompt.error = Some(format!("{err:#}"));
                    prompt.focus = true;
                }
            }
        }
        self.ui_state.path_prompt = Some(prompt);
    }

    pub(super) fn windows(&mut self, ctx: &egui::Context) {
        if let Some(recovery) = &self.session.recovery_offer {
            let ago = unix_now().saturating_sub(recovery.written_unix_s);
            let mut choice = None;
            egui::Modal::new(egui::Id::unique("recovery_offer")).show(ctx, |ui| {
                ui.heading("Unsaved work found");
                ui.label(format!(
                    "The last session of this project ended with unsaved changes ({} ago). Restore them?",
                    describe_age(ago)
                ));
                ui.horizontal(|ui| {
                    if ui.button("Restore").clicked() {
                        choice = Some(true);
                    }
                    if ui.button("Discard").clicked() {
                        choice = Some(false);
                    }
                });
            });
            match choice {
                Some(true) => self.restore_recovery(),
                Some(false) => self.discard_recovery(),
                None => {}
            }
        }
        if self.ui_state.confirm_close {
            let mut choice = None;
            egui::Modal::new(egui::Id::unique("confirm_close")).show(ctx, |ui| {
                ui.heading("Save changes before closing?");
                ui.label("Unsaved changes to the script, settings or takes.");
                ui.horizontal(|ui| {
                    if ui.button("Save").clicked() {
                        choice = Some("save");
                    }
                    if ui.button("Don't save").clicked() {
                        choice = Some("discard");
                    }
                    if ui.button("Cancel").clicked() {
                        choice = Some("cancel");
                    }
                });
            });
            match choice {
                Some("save") => {
                    self.save();
                    self.ui_state.confirm_close = false;
                    if !self.is_dirty() {
                        self.ui_state.close_now = true;
                        ctx.send_viewport_cmd(egui::ViewportCommand::Close);
                    }
                }
                Some("discard") => {
                    if let Some(project) = &self.project {
                        project.clear_recovery();
                    }
                    self.ui_state.confirm_close = false;
                    self.ui_state.close_now = true;
                    ctx.send_viewport_cmd(egui::ViewportCommand::Close);
                }
                Some(_) => self.ui_state.confirm_close = false,
                None => {}
            }
        }
        self.export_window(ctx);
        self.path_prompt_window(ctx);
        if let Some(mut panel) = self.runtime.recorder.take() {
            let mut open = true;
            let mut saved = None;
            egui::Window::new("Record reference voice").open(&mut open).default_width(640.0).show(
                ctx,
                |ui| {
                    if let Some(RecorderEvent::Saved(clip)) = panel.ui(ui) {
                        saved = Some(clip);
                    }
                },
            );
            if let Some(clip) = saved {
                self.refresh_references();
                self.reference = clip.wav.file_name().map(|f| f.to_string_lossy().into_owned());
                self.status = format!("Reference voice: {}", clip.wav.display());
            }
            if open {
                self.runtime.recorder = Some(panel);
            }
        }
    }
}

fn describe_age(seconds: u64) -> String {
    match seconds {
        0..=119 => format!("{seconds} s"),
        120..=7199 => format!("{} min", seconds / 60),
        _ => format!("{} h", seconds / 3600),
    }
}
