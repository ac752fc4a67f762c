//! The script editor: highlighted XML with squiggles under problems, and caret jumps from the problem list.

use egui::text::{CCursor, CCursorRange};
use egui::{FontId, TextEdit};

use super::highlight::{self, Mark};

pub const EDITOR_ID: &str = "script_editor";

/// Char index of a 1-based line/column (column counted in characters), clamped to the text.
pub fn char_index_of(src: &str, line: usize, column: usize) -> usize {
    let mut index = 0;
    for (i, text_line) in src.split('\n').enumerate() {
        let len = text_line.chars().count();
        if i + 1 == line {
            return index + column.saturating_sub(1).min(len);
        }
        index += len + 1;
    }
    src.chars().count()
}

/// Whether a field may take the keyboard this frame: not in a frame with a click, because a text field
/// gives up the focus when the click that asked for it landed elsewhere (on the button that asked).
pub fn focus_can_move(ctx: &egui::Context) -> bool {
    let clicking = ctx.input(|i| i.pointer.any_pressed() || i.pointer.any_released());
    if clicking {
        ctx.request_repaint();
    }
    !clicking
}

fn editor_id() -> egui::Id {
    egui::Id::unique(EDITOR_ID)
}

/// The caret's char index in the script editor, if the editor has been shown.
pub fn caret(ctx: &egui::Context) -> Option<usize> {
    let state = egui::text_edit::TextEditState::load(ctx, editor_id())?;
    state.cursor.char_range().map(|r| r.primary.index.0)
}

/// Draw the editor, moving the caret to `jump_to` or selecting `select` (char indices) first; returns
/// true when the text changed this frame.
pub fn show(
    ui: &mut egui::Ui,
    text: &mut String,
    marks: &[Mark],
    jump_to: Option<usize>,
    select: Option<std::ops::Range<usize>>,
) -> bool {
    let id = editor_id();
    let range = match (jump_to, select) {
        (_, Some(r)) => Some(CCursorRange::two(CCursor::new(r.start), CCursor::new(r.end))),
        (Some(at), None) => Some(CCursorRange::one(CCursor::new(at))),
        (None, None) => None,
    };
    if let Some(range) = range {
        let mut state = egui::text_edit::TextEditState::load(ui.ctx(), id).unwrap_or_default();
        state.cursor.set_char_range(Some(range));
        state.store(ui.ctx(), id);
        ui.memory_mut(|m| m.request_focus(id));
    }
    let dark = ui.visuals().dark_mode;
    let font = FontId::monospace(14.0);
    let mut layouter = |ui: &egui::Ui, buffer: &dyn egui::TextBuffer, wrap_width: f32| {
        let job = highlight::layout_job(buffer.as_str(), marks, font.clone(), dark, wrap_width);
        ui.fonts_mut(|f| f.layout_job(job))
    };
    let output = TextEdit::multiline(text)
        .id(id)
        .code_editor()
        .desired_width(f32::INFINITY)
        .desired_rows(24)
        .lock_focus(true)
        .hint_text("<speak voice=\"…\" gender=\"female\">Your line here.</speak>")
        .layouter(&mut layouter)
        .show(ui);
    output.response.changed()
}

#[cfg(test)]
mod tests {
    use super::char_index_of;

    #[test]
    fn line_and_column_map_to_char_index() {
        let src = "ab\ncdé\nf";
        assert_eq!(char_index_of(src, 1, 1), 0);
        assert_eq!(char_index_of(src, 2, 3), 5);
        assert_eq!(char_index_of(src, 3, 1), 7);
        assert_eq!(char_index_of(src, 9, 1), 8);
        assert_eq!(char_index_of(src, 2, 99), 6);
    }
}
