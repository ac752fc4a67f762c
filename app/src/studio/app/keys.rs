//! The studio's keyboard: the menu shortcuts and the transport keys.

use egui::{Key, KeyboardShortcut, Modifiers};

use super::StudioApp;

pub(super) const SAVE: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND, Key::S);
pub(super) const RENDER: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND, Key::Enter);
pub(super) const UNDO: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND, Key::Z);
pub(super) const REDO: KeyboardShortcut =
    KeyboardShortcut::new(Modifiers::COMMAND.plus(Modifiers::SHIFT), Key::Z);
pub(super) const EXPORT: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND, Key::E);

impl StudioApp {
    /// The menu shortcuts, once a frame. The undo history notes this frame's edit (and any undo or redo)
    /// before a render moves the seed on.
    pub(super) fn shortcuts(&mut self, ctx: &egui::Context) {
        if ctx.input_mut(|i| i.consume_shortcut(&SAVE)) {
            self.save();
        }
        if ctx.input_mut(|i| i.consume_shortcut(&EXPORT)) && self.takes.live().next().is_some() {
            self.open_export_dialog();
        }
        // Redo first: Ctrl+Z would also match Ctrl+Shift+Z.
        if ctx.input_mut(|i| i.consume_shortcut(&REDO)) {
            self.redo();
        }
        if ctx.input_mut(|i| i.consume_shortcut(&UNDO)) {
            self.undo();
        }
        if let Some(wait) = self.session.history.observe(&(self.session.script.clone(), self.settings)) {
            ctx.request_repaint_after(wait);
        }
        if ctx.input_mut(|i| i.consume_shortcut(&RENDER)) {
            let _ = self.render();
        }
    }

    pub(super) fn transport_keys(&mut self, ctx: &egui::Context) {
        // Keys typed into a field (a take's new name, its note, a path) are text, not transport.
        if ctx.text_edit_focused() || self.ui_state.renaming.is_some() || self.ui_state.path_prompt.is_some()
        {
            return;
        }
        let take_keys = [
            Key::Num1,
            Key::Num2,
            Key::Num3,
            Key::Num4,
            Key::Num5,
            Key::Num6,
            Key::Num7,
            Key::Num8,
            Key::Num9,
        ];
        let (shift_space, space, home, end, tab, digit) = ctx.input_mut(|i| {
            let digit = take_keys.iter().position(|k| i.consume_key(Modifiers::NONE, *k));
            (
                i.consume_key(Modifiers::SHIFT, Key::Space),
                i.consume_key(Modifiers::NONE, Key::Space),
                i.consume_key(Modifiers::NONE, Key::Home),
                i.consume_key(Modifiers::NONE, Key::End),
                i.consume_key(Modifiers::NONE, Key::Tab),
                digit,
            )
        });
        if shift_space {
            self.set_looping(!self.looping);
            if self.looping && !self.runtime.transport.is_playing() {
                self.runtime.transport.play();
            }
        }
        if space {
            self.runtime.transport.toggle();
        }
        if home {
            self.runtime.transport.seek(0.0);
        }
        if end {
            self.runtime.transport.seek(self.runtime.transport.duration_secs());
        }
        if tab {
            self.toggle_ab();
        }
        if let Some(n) = digit.and_then(|d| self.takes.nth_live(d)) {
            self.select_take(n);
        }
    }
}
