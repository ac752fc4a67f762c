//! The studio's state, grouped by how long it lives: the session (what a project saves, and how it stands
//! against the saved copy and the recovery file), the runtime handles, and the window's transient state.

use std::time::Instant;

use crate::recorder::RecorderPanel;
use crate::studio::dialogs::{FileDialogs, PathPrompt};
use crate::studio::history::History;
use crate::studio::memory::MemoryGauge;
use crate::studio::playback::{NullOutput, Transport};
use crate::studio::project::{PendingRender, ProjectState, RecentProjects, Recovery};
use crate::studio::settings::RenderSettings;
use promptbook_engine::audio::WavSampleFormat;
use promptbook_engine::runtime::RequestId;

use super::export_dialog::ExportDialog;

/// The document: the script and what `project.json` keeps beside the render settings and the reference
/// (those two are on `StudioApp`), with the saved copy, the recovery file and the left-over render queue.
pub(super) struct SessionState {
    pub(super) script: String,
    /// The line's name in export file names.
    pub(super) line: String,
    pub(super) export_format: WavSampleFormat,
    /// Undo/redo over the script and the render settings.
    pub(super) history: History<(String, RenderSettings)>,
    /// The script and project state as last saved, to tell unsaved changes.
    pub(super) saved: Option<(String, ProjectState)>,
    /// Unsaved work as of this frame's start (see `track_changes`).
    pub(super) dirty: bool,
    pub(super) recent: RecentProjects,
    /// Unsaved work a previous session left, offered back until the director decides.
    pub(super) recovery_offer: Option<Recovery>,
    /// The snapshot waiting to be written to the recovery file, and since when it is unchanged.
    pub(super) pending_recovery: Option<((String, ProjectState), Instant)>,
    pub(super) recovery_written: Option<(String, ProjectState)>,
    /// Renders the last session left queued or running, offered to queue again.
    pub(super) queue_offer: Vec<PendingRender>,
    /// The active request ids and offered renders `.queue.json` was last written for.
    pub(super) queue_written: Option<(Vec<RequestId>, usize)>,
}

impl SessionState {
    pub(super) fn new(script: String, history: History<(String, RenderSettings)>) -> Self {
        Self {
            script,
            line: "line01".into(),
            export_format: WavSampleFormat::Pcm24,
            history,
            saved: None,
            dirty: false,
            recent: RecentProjects::default(),
            recovery_offer: None,
            pending_recovery: None,
            recovery_written: None,
            queue_offer: Vec::new(),
            queue_written: None,
        }
    }
}

/// Handles that live only while the studio runs: playback, file dialogs, the memory gauge, the recorder.
pub(super) struct Runtime {
    pub(super) transport: Transport,
    pub(super) dialogs: Box<dyn FileDialogs>,
    pub(super) memory: MemoryGauge,
    pub(super) recorder: Option<RecorderPanel>,
}

impl Runtime {
    pub(super) fn new(dialogs: Box<dyn FileDialogs>) -> Self {
        Self {
            transport: Transport::new(Box::new(NullOutput::default())),
            dialogs,
            memory: MemoryGauge::default(),
            recorder: None,
        }
    }
}

/// The window's transient state: pending editor moves, open windows and prompts, the close question.
pub(super) struct UiState {
    pub(super) pending_jump: Option<usize>,
    /// Select this char range of the script in the editor next frame (an inserted placeholder).
    pub(super) pending_select: Option<std::ops::Range<usize>>,
    pub(super) renaming: Option<(u32, String)>,
    /// Scroll the takes list to this take on the next frame (a new take).
    pub(super) scroll_to_take: Option<u32>,
    /// Give the rename field the keyboard on the next frame.
    pub(super) focus_rename: bool,
    /// Keep the playhead in view while playing a zoomed-in take.
    pub(super) follow_playhead: bool,
    /// Stands in for a file dialog the desktop could not show.
    pub(super) path_prompt: Option<PathPrompt>,
    pub(super) export_dialog: Option<ExportDialog>,
    /// Asked whether to save before the window closes.
    pub(super) confirm_close: bool,
    pub(super) close_now: bool,
    /// The window title last sent, so it is only sent when it changes.
    pub(super) title: String,
}

impl Default for UiState {
    fn default() -> Self {
        Self {
            pending_jump: None,
            pending_select: None,
            renaming: None,
            scroll_to_take: None,
            focus_rename: false,
            follow_playhead: true,
            path_prompt: None,
            export_dialog: None,
            confirm_close: false,
            close_now: false,
            title: String::new(),
        }
    }
}
