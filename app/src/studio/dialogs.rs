//! File dialogs behind a trait: the desktop's own (rfd: the XDG portal, else zenity, on Linux), or answers
//! scripted by tests. When the desktop shows no dialog at all, the answer says so, and the studio asks for
//! the path in a text field instead (see `path_prompt` in the app).

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// What a file dialog gave back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DialogAnswer {
    Picked(PathBuf),
    /// The director closed the dialog without choosing.
    Cancelled,
    /// No dialog could be shown; the text says why.
    Unavailable(String),
}

/// rfd answers `None` both for a cancelled dialog and for one that never opened; nobody cancels a dialog
/// this fast, so a quicker `None` means no dialog was shown.
const NO_DIALOG_WITHIN: Duration = Duration::from_millis(400);

pub const NO_DIALOG_MESSAGE: &str = "The desktop showed no file dialog (no XDG desktop portal or zenity \
    answered), so type the path here instead.";

pub trait FileDialogs {
    /// Choose a folder (new project, save as, export destination).
    fn pick_folder(&mut self, title: &str, start: Option<&Path>) -> DialogAnswer;
    /// Choose an existing file with one of `extensions`.
    fn pick_file(
        &mut self,
        title: &str,
        what: &str,
        extensions: &[&str],
        start: Option<&Path>,
    ) -> DialogAnswer;
}

/// The desktop's own dialogs through rfd.
#[derive(Default)]
pub struct NativeDialogs;

impl NativeDialogs {
    fn answer(asked_at: Instant, picked: Option<PathBuf>) -> DialogAnswer {
        match picked {
            Some(path) => DialogAnswer::Picked(path),
            None if asked_at.elapsed() < NO_DIALOG_WITHIN => {
                DialogAnswer::Unavailable(NO_DIALOG_MESSAGE.into())
            }
            None => DialogAnswer::Cancelled,
        }
    }
}

impl FileDialogs for NativeDialogs {
    fn pick_folder(&mut self, title: &str, start: Option<&Path>) -> DialogAnswer {
        let mut dialog = rfd::FileDialog::new().set_title(title);
        if let Some(dir) = start {
            dialog = dialog.set_directory(dir);
        }
        let asked_at = Instant::now();
        Self::answer(asked_at, dialog.pick_folder())
    }

    fn pick_file(
        &mut self,
        title: &str,
        what: &str,
        extensions: &[&str],
        start: Option<&Path>,
    ) -> DialogAnswer {
        let mut dialog = rfd::FileDialog::new().set_title(title).add_filter(what, extensions);
        if let Some(dir) = start {
            dialog = dialog.set_directory(dir);
        }
        let asked_at = Instant::now();
        Self::answer(asked_at, dialog.pick_file())
    }
}

/// Answers given in advance, in order (tests); `Cancelled` when they run out.
#[derive(Default)]
pub struct ScriptedDialogs {
    pub answers: VecDeque<DialogAnswer>,
    /// The titles of the dialogs that were opened.
    pub asked: Vec<String>,
}

impl ScriptedDialogs {
    /// Each dialog picks the next of `paths`.
    pub fn new(paths: impl IntoIterator<Item = PathBuf>) -> Self {
        Self { answers: paths.into_iter().map(DialogAnswer::Picked).collect(), asked: Vec::new() }
    }

    /// A desktop where no dialog ever opens.
    pub fn without_dialogs(questions: usize) -> Self {
        let why = DialogAnswer::Unavailable(NO_DIALOG_MESSAGE.into());
        Self { answers: std::iter::repeat_n(why, questions).collect(), asked: Vec::new() }
    }

    fn next(&mut self, title: &str) -> DialogAnswer {
        self.asked.push(title.to_string());
        self.answers.pop_front().unwrap_or(DialogAnswer::Cancelled)
    }
}

impl FileDialogs for ScriptedDialogs {
    fn pick_folder(&mut self, title: &str, _start: Option<&Path>) -> DialogAnswer {
        self.next(title)
    }

    fn pick_file(&mut self, title: &str, _what: &str, _ext: &[&str], _start: Option<&Path>) -> DialogAnswer {
        self.next(title)
    }
}

/// What a path, chosen in a dialog or typed, is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathPurpose {
    NewProject,
    OpenProject,
    SaveAs,
    ImportScript,
    ImportReference,
    ExportFolder,
}

impl PathPurpose {
    /// The dialog's title, which the typed-path window shows too.
    pub fn title(self) -> &'static str {
        match self {
            PathPurpose::NewProject => "New project: choose an empty folder",
            PathPurpose::OpenProject => "Open project folder",
            PathPurpose::SaveAs => "Save project as: choose an empty folder",
            PathPurpose::ImportScript => "Import script",
            PathPurpose::ImportReference => "Import a reference voice",
            PathPurpose::ExportFolder => "Export to",
        }
    }

    pub fn wants_folder(self) -> bool {
        matches!(
            self,
            PathPurpose::NewProject
                | PathPurpose::OpenProject
                | PathPurpose::SaveAs
                | PathPurpose::ExportFolder
        )
    }
}

/// The typed-path window shown when no dialog opens.
#[derive(Debug, Clone, PartialEq)]
pub struct PathPrompt {
    pub purpose: PathPurpose,
    pub why: String,
    pub text: String,
    /// Focus the field on the first frame only.
    pub focus: bool,
    /// Why the last path typed did not work.
    pub error: Option<String>,
}

impl PathPrompt {
    pub fn new(purpose: PathPurpose, why: String, start: Option<&Path>) -> Self {
        let text = start.map(|p| p.display().to_string()).unwrap_or_default();
        Self { purpose, why, text, focus: true, error: None }
    }

    /// The path typed, with a leading `~/` meaning the home folder; `None` while the field is blank.
    pub fn path(&self) -> Option<PathBuf> {
        let text = self.text.trim();
        if text.is_empty() {
            return None;
        }
        match (text.strip_prefix("~/"), std::env::var_os("HOME")) {
            (Some(rest), Some(home)) => Some(PathBuf::from(home).join(rest)),
            _ => Some(PathBuf::from(text)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_none_at_once_means_no_dialog_and_a_late_none_a_cancel() {
        let now = Instant::now();
        assert!(matches!(NativeDialogs::answer(now, None), DialogAnswer::Unavailable(_)));
        let long_ago = now - Duration::from_secs(5);
        assert_eq!(NativeDialogs::answer(long_ago, None), DialogAnswer::Cancelled);
        assert_eq!(NativeDialogs::answer(now, Some("/x".into())), DialogAnswer::Picked("/x".into()));
    }

    #[test]
    fn a_typed_path_is_trimmed_and_may_start_at_home() {
        let mut prompt = PathPrompt::new(PathPurpose::SaveAs, String::new(), None);
        assert_eq!(prompt.path(), None);
        prompt.text = "  /tmp/take one  ".into();
        assert_eq!(prompt.path(), Some(PathBuf::from("/tmp/take one")));
        let Some(home) = std::env::var_os("HOME") else { panic!("HOME is not set") };
        prompt.text = "~/voice".into();
        assert_eq!(prompt.path(), Some(PathBuf::from(home).join("voice")));
    }
}
