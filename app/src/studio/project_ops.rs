//! Projects in the studio: new, open, open recent, save, save as, the recovery file and its restore
//! offer, the save-before-closing question, and the recorder window that fills the project's `refs/`.

use std::path::Path;
use std::time::Instant;

use anyhow::Context as _;

use super::{RECOVERY_DELAY, StudioApp, WELCOME_SCRIPT};
use crate::recorder::{RecorderEvent, RecorderPanel};
use crate::studio::history::History;
use crate::studio::project::{Opened, Project, ProjectState, Recovery, scratch_dir, unix_now};
use crate::studio::settings::RenderSettings;

impl StudioApp {
    /// Everything `project.json` keeps, as the studio holds it now.
    pub fn project_state(&self) -> ProjectState {
        ProjectState {
            line: self.line.clone(),
            settings: self.settings,
            reference: self.reference.clone(),
            export_format: self.export_format,
            takes: self.takes.entries(),
            next_take: self.takes.next_number(),
            ..ProjectState::default()
        }
    }

    /// Unsaved changes: always for a session without a project that holds anything.
    pub fn is_dirty(&self) -> bool {
        self.differs_from_saved(&self.script, &self.project_state())
    }

    fn differs_from_saved(&self, script: &str, state: &ProjectState) -> bool {
        match &self.saved {
            Some((saved_script, saved_state)) => saved_script != script || saved_state != state,
            None => self.takes.live().next().is_some(),
        }
    }

    /// Once a frame: note whether there is unsaved work (the status bar, title and close check read it),
    /// and keep the recovery file up to date. The project state is built once for all of them.
    pub(super) fn track_changes(&mut self, ctx: &egui::Context) {
        let now = (self.script.clone(), self.project_state());
        self.dirty = self.differs_from_saved(&now.0, &now.1);
        self.autosave(ctx, now);
    }

    pub fn project(&self) -> Option<&Project> {
        self.project.as_ref()
    }

    pub fn recovery_offer(&self) -> Option<&Recovery> {
        self.recovery_offer.as_ref()
    }

    /// Open the project at `path`, replacing the session (whose unsaved work stays in its recovery file).
    pub fn open_project(&mut self, path: &Path) -> anyhow::Result<()> {
        let opened = Project::open(path)?;
        self.leave_project();
        self.adopt(opened);
        Ok(())
    }

    fn adopt(&mut self, opened: Opened) {
        let Opened { project, state, script, recovery } = opened;
        self.transport.unload();
        self.selected = None;
        self.compare = None;
        self.selection = None;
        self.view = None;
        self.takes.clear();
        let mut missing = Vec::new();
        for entry in &state.takes {
            match project.read_take(entry.number) {
                Ok(take) => self.takes.restore(entry, take),
                Err(err) => missing.push(format!("{err:#}")),
            }
        }
        self.takes.reserve_numbers_below(state.next_take);
        self.apply_state(&state);
        self.replace_script(script.clone());
        self.saved = Some((script, state));
        self.recovery_offer = recovery;
        self.recovery_written = None;
        self.pending_recovery = None;
        if let Err(err) = self.recent.push(&project.dir) {
            self.status = format!("Could not update the recent projects list: {err:#}");
        }
        self.status = if missing.is_empty() {
            format!("Opened {}", project.dir.display())
        } else {
            format!(
                "Opened {}, but {} take(s) could not be read: {}",
                project.dir.display(),
                missing.len(),
                missing.join("; ")
            )
        };
        self.project = Some(project);
        self.refresh_references();
        if let Some(first) = self.takes.nth_live(0) {
            self.select_take(first);
        }
    }

    fn apply_state(&mut self, state: &ProjectState) {
        self.settings = state.settings;
        self.line.clone_from(&state.line);
        self.reference.clone_from(&state.reference);
        self.export_format = state.export_format;
        self.history = History::new((self.script.clone(), self.settings));
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

    pub fn new_project(&mut self) {
        let Some(dir) = self.dialogs.pick_folder("New project: choose an empty folder", None) else { return };
        let state = ProjectState {
            settings: RenderSettings { seed: self.settings.seed, ..RenderSettings::default() },
            ..ProjectState::default()
        };
        match Project::create(&dir, WELCOME_SCRIPT, &state).and_then(|_| Project::open(&dir)) {
            Ok(opened) => {
                self.leave_project();
                self.adopt(opened);
            }
            Err(err) => self.status = format!("No new project: {err:#}"),
        }
    }

    pub fn open_project_dialog(&mut self) {
        let start = self.project.as_ref().and_then(|p| p.dir.parent().map(Path::to_path_buf));
        let Some(dir) = self.dialogs.pick_folder("Open project folder", start.as_deref()) else { return };
        if let Err(err) = self.open_project(&dir) {
            self.status = format!("{err:#}");
        }
    }

    /// Ctrl+S: save the project; a session without one asks where to make it.
    pub fn save(&mut self) {
        let Some(project) = &self.project else {
            self.save_as_dialog();
            return;
        };
        let state = self.project_state();
        match project.save(&self.script, &state) {
            Ok(()) => {
                self.status = format!("Saved {}", project.dir.display());
                self.saved = Some((self.script.clone(), state));
                self.recovery_written = None;
            }
            Err(err) => {
                self.status =
                    format!("Could not save {}: {err:#}; your work is still here", project.dir.display())
            }
        }
    }

    pub fn save_as_dialog(&mut self) {
        let Some(dir) = self.dialogs.pick_folder("Save project as: choose an empty folder", None) else {
            return;
        };
        if let Err(err) = self.save_as(&dir) {
            self.status = format!("Could not save as {}: {err:#}", dir.display());
        }
    }

    /// Save the session (takes included) as the project in `dir` and continue there.
    pub fn save_as(&mut self, dir: &Path) -> anyhow::Result<()> {
        let state = self.project_state();
        let project = match &self.project {
            Some(current) => current.save_as(dir, &self.script, &state)?,
            None => {
                let project = Project::create(dir, &self.script, &state)?;
                for take in self.takes.live().chain(self.takes.trashed()) {
                    let record = take.record.clone();
                    let audio = (*take.audio).clone();
                    project.write_take(
                        take.number,
                        &promptbook_engine::pipeline::render::Take { audio, record },
                    )?;
                }
                project
            }
        };
        if let Some(old) = &self.project
            && old.dir != project.dir
            && self.is_dirty()
        {
            // The old folder keeps its last saved state.
            old.clear_recovery();
        }
        self.saved = Some((self.script.clone(), state));
        self.recovery_written = None;
        self.status = format!("Saved as {}", project.dir.display());
        let _ = self.recent.push(&project.dir);
        self.project = Some(project);
        self.refresh_references();
        Ok(())
    }

    pub fn import_script_dialog(&mut self) {
        let Some(path) = self.dialogs.pick_file("Import script", "Promptbook script", &["xml", "txt"], None)
        else {
            return;
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                self.set_script(text);
                self.status = format!("Imported {} (Ctrl+Z takes it back)", path.display());
            }
            Err(err) => self.status = format!("Cannot import {}: {err}", path.display()),
        }
    }

    /// Take back the unsaved work the recovery file holds.
    pub fn restore_recovery(&mut self) {
        let Some(recovery) = self.recovery_offer.take() else { return };
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
                self.takes.restore(entry, take);
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
        self.recovery_offer = None;
        if let Some(project) = &self.project {
            project.clear_recovery();
        }
    }

    /// Write the recovery file once the session has been unchanged for a moment.
    fn autosave(&mut self, ctx: &egui::Context, now: (String, ProjectState)) {
        if self.project.is_none() || self.recovery_offer.is_some() {
            return;
        }
        if self.saved.as_ref() == Some(&now) || self.recovery_written.as_ref() == Some(&now) {
            self.pending_recovery = None;
            return;
        }
        match &self.pending_recovery {
            Some((snapshot, since)) if *snapshot == now => {
                let waited = since.elapsed();
                if waited >= RECOVERY_DELAY {
                    self.write_recovery_now();
                } else {
                    ctx.request_repaint_after(RECOVERY_DELAY - waited);
                }
            }
            _ => {
                self.pending_recovery = Some((now, Instant::now()));
                ctx.request_repaint_after(RECOVERY_DELAY);
            }
        }
    }

    pub(super) fn write_recovery_now(&mut self) {
        let Some(project) = &self.project else { return };
        let state = self.project_state();
        match project.write_recovery(&self.script, &state) {
            Ok(()) => self.recovery_written = Some((self.script.clone(), state)),
            Err(err) => self.status = format!("Could not write the recovery file: {err:#}"),
        }
        self.pending_recovery = None;
    }

    pub fn open_recorder(&mut self) {
        match &self.project {
            Some(project) => {
                if self.recorder.is_none() {
                    self.recorder = Some(RecorderPanel::new(project.refs_dir()));
                }
            }
            None => {
                self.status = "Save the session as a project first: clips are kept in its refs/ folder".into()
            }
        }
    }

    pub fn import_reference_dialog(&mut self) {
        let Some(path) =
            self.dialogs.pick_file("Import a reference voice", "Audio", &["wav", "flac", "mp3", "ogg"], None)
        else {
            return;
        };
        self.open_recorder();
        if let Some(panel) = &mut self.recorder
            && let Err(err) =
                panel.import_file(&path).with_context(|| format!("cannot import {}", path.display()))
        {
            self.status = format!("{err:#}");
        }
    }

    pub(super) fn windows(&mut self, ctx: &egui::Context) {
        if let Some(recovery) = &self.recovery_offer {
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
        if self.confirm_close {
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
                    self.confirm_close = false;
                    if !self.is_dirty() {
                        self.close_now = true;
                        ctx.send_viewport_cmd(egui::ViewportCommand::Close);
                    }
                }
                Some("discard") => {
                    if let Some(project) = &self.project {
                        project.clear_recovery();
                    }
                    self.confirm_close = false;
                    self.close_now = true;
                    ctx.send_viewport_cmd(egui::ViewportCommand::Close);
                }
                Some(_) => self.confirm_close = false,
                None => {}
            }
        }
        self.export_window(ctx);
        if let Some(mut panel) = self.recorder.take() {
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
                self.recorder = Some(panel);
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
