//! Design tokens: every colour the studio draws with has a name here.

use egui::Color32;

/// Syntax colours for the script editor.
pub struct SyntaxColors {
    pub tag: Color32,
    pub attribute: Color32,
    pub value: Color32,
    pub action: Color32,
    pub sound: Color32,
    pub text: Color32,
    pub comment: Color32,
    pub punctuation: Color32,
}

pub const DARK_SYNTAX: SyntaxColors = SyntaxColors {
    tag: Color32::from_rgb(0x6c, 0xb6, 0xff),
    attribute: Color32::from_rgb(0x9c, 0xdc, 0xfe),
    value: Color32::from_rgb(0xce, 0x91, 0x78),
    action: Color32::from_rgb(0xc5, 0x86, 0xc0),
    sound: Color32::from_rgb(0x4e, 0xc9, 0xb0),
    text: Color32::from_rgb(0xe6, 0xe6, 0xe6),
    comment: Color32::from_rgb(0x6a, 0x99, 0x55),
    punctuation: Color32::from_rgb(0x80, 0x80, 0x80),
};

pub const LIGHT_SYNTAX: SyntaxColors = SyntaxColors {
    tag: Color32::from_rgb(0x00, 0x55, 0xaa),
    attribute: Color32::from_rgb(0x00, 0x6a, 0x8e),
    value: Color32::from_rgb(0xa3, 0x15, 0x15),
    action: Color32::from_rgb(0x80, 0x20, 0x90),
    sound: Color32::from_rgb(0x00, 0x7a, 0x5e),
    text: Color32::from_rgb(0x1e, 0x1e, 0x1e),
    comment: Color32::from_rgb(0x3a, 0x7a, 0x2a),
    punctuation: Color32::from_rgb(0x70, 0x70, 0x70),
};

pub fn syntax(dark: bool) -> &'static SyntaxColors {
    if dark { &DARK_SYNTAX } else { &LIGHT_SYNTAX }
}

pub const ERROR: Color32 = Color32::from_rgb(0xf1, 0x4c, 0x4c);
pub const WARNING: Color32 = Color32::from_rgb(0xe5, 0xa5, 0x0a);
pub const OK: Color32 = Color32::from_rgb(0x4c, 0xc2, 0x6a);

/// Behind the A and B marks of the two takes being compared.
pub const AB_MARK: Color32 = Color32::from_rgb(0x2d, 0x5a, 0x88);

/// Alternating fills for the chunk-plan ribbon.
pub const CHUNK_FILLS: [Color32; 2] =
    [Color32::from_rgb(0x2d, 0x5a, 0x88), Color32::from_rgb(0x3b, 0x74, 0x6e)];
pub const CHUNK_TEXT: Color32 = Color32::from_rgb(0xf0, 0xf0, 0xf0);
/// A chunk longer than the model's 15 s window.
pub const CHUNK_OVERLONG: Color32 = Color32::from_rgb(0x9a, 0x3b, 0x3b);

pub fn apply(ctx: &egui::Context) {
    ctx.set_visuals(egui::Visuals::dark());
}
