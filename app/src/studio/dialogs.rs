//! Native file dialogs (rfd) behind a trait: tests answer them from a script, and a desktop without a
//! portal simply gets no answer (rfd returns `None`), never a hang.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

pub trait FileDialogs {
    /// Choose a folder (new project, save as, export destination).
    fn pick_folder(&mut self, title: &str, start: Option<&Path>) -> Option<PathBuf>;
    /// Choose an existing file with one of `extensions`.
    fn pick_file(
        &mut self,
        title: &str,
        what: &str,
        extensions: &[&str],
        start: Option<&Path>,
    ) -> Option<PathBuf>;
}

/// The desktop's own dialogs through rfd (XDG portal on Linux).
#[derive(Default)]
pub struct NativeDialogs;

impl FileDialogs for NativeDialogs {
    fn pick_folder(&mut self, title: &str, start: Option<&Path>) -> Option<PathBuf> {
        let mut dialog = rfd::FileDialog::new().set_title(title);
        if let Some(dir) = start {
            dialog = dialog.set_directory(dir);
        }
        dialog.pick_folder()
    }

    fn pick_file(
        &mut self,
        title: &str,
        what: &str,
        extensions: &[&str],
        start: Option<&Path>,
    ) -> Option<PathBuf> {
        let mut dialog = rfd::FileDialog::new().set_title(title).add_filter(what, extensions);
        if let Some(dir) = start {
            dialog = dialog.set_directory(dir);
        }
        dialog.pick_file()
    }
}

/// Answers given in advance, in order (tests); `None` when it runs out, like a cancelled dialog.
#[derive(Default)]
pub struct ScriptedDialogs {
    pub answers: VecDeque<PathBuf>,
    /// The titles of the dialogs that were opened.
    pub asked: Vec<String>,
}

impl ScriptedDialogs {
    pub fn new(answers: impl IntoIterator<Item = PathBuf>) -> Self {
        Self { answers: answers.into_iter().collect(), asked: Vec::new() }
    }
}

impl FileDialogs for ScriptedDialogs {
    fn pick_folder(&mut self, title: &str, _start: Option<&Path>) -> Option<PathBuf> {
        self.asked.push(title.to_string());
        self.answers.pop_front()
    }

    fn pick_file(
        &mut self,
        title: &str,
        _what: &str,
        _ext: &[&str],
        _start: Option<&Path>,
    ) -> Option<PathBuf> {
        self.asked.push(title.to_string());
        self.answers.pop_front()
    }
}
