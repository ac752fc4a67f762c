//! Syntax highlighting for `<speak>` scripts.
//!
//! On the studio's forgiving lexer ([`super::xml_lexer`], not the engine's parser), so that half-typed,
//! broken XML still colours sensibly while the director types.

use std::ops::Range;

use egui::text::{LayoutJob, TextFormat};
use egui::{FontId, Stroke};

use super::theme;
use super::xml_lexer::{self, TokenKind as Lexed};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// `<`, `</`, `>`, `/>`, `=`.
    Punctuation,
    /// An element name other than `action` / `sound`.
    Tag,
    /// The `action` element name or the text inside it.
    Action,
    /// The `sound` element name or the text inside it.
    Sound,
    Attribute,
    Value,
    Comment,
    Text,
}

/// Split `src` into coloured tokens that cover it exactly, in order.
pub fn tokenize(src: &str) -> Vec<(Range<usize>, TokenKind)> {
    let mut out = Vec::new();
    // The open elements, to colour the text inside `<action>` and `<sound>`.
    let mut stack: Vec<&str> = Vec::new();
    // The tag being read: its name and whether it is an end tag.
    let mut tag: Option<(&str, bool)> = None;
    for token in xml_lexer::tokens(src) {
        let text = &src[token.range.clone()];
        let kind = match token.kind {
            Lexed::Text => match stack.last() {
                Some(&"action") => TokenKind::Action,
                Some(&"sound") => TokenKind::Sound,
                _ => TokenKind::Text,
            },
            Lexed::Other => TokenKind::Comment,
            Lexed::Open => {
                tag = Some(("", text == "</"));
                TokenKind::Punctuation
            }
            Lexed::Name => {
                if let Some((name, _)) = &mut tag {
                    *name = text;
                }
                match text {
                    "action" => TokenKind::Action,
                    "sound" => TokenKind::Sound,
                    _ => TokenKind::Tag,
                }
            }
            Lexed::Close => {
                if let Some((name, closing)) = tag.take() {
                    update_stack(&mut stack, name, closing, text == "/>");
                }
                TokenKind::Punctuation
            }
            Lexed::Equals => TokenKind::Punctuation,
            Lexed::Space => TokenKind::Text,
            Lexed::Attribute => TokenKind::Attribute,
            Lexed::Value => TokenKind::Value,
        };
        out.push((token.range, kind));
    }
    out
}

fn update_stack<'a>(stack: &mut Vec<&'a str>, name: &'a str, closing: bool, self_closing: bool) {
    if closing {
        if let Some(pos) = stack.iter().rposition(|n| *n == name) {
            stack.truncate(pos);
        }
    } else if !self_closing {
        stack.push(name);
    }
}

/// A squiggle to draw under a byte range.
#[derive(Debug, Clone, PartialEq)]
pub struct Mark {
    pub range: Range<usize>,
    pub is_error: bool,
}

/// Build the editor's layout: colours per token, underlines under diagnostics.
pub fn layout_job(src: &str, marks: &[Mark], font: FontId, dark: bool, wrap_width: f32) -> LayoutJob {
    let colors = theme::syntax(dark);
    let mut job = LayoutJob {
        wrap: egui::text::TextWrapping { max_width: wrap_width, ..Default::default() },
        ..Default::default()
    };
    let tokens = tokenize(src);
    let mut cuts: Vec<usize> = Vec::with_capacity(tokens.len() + marks.len() * 2 + 1);
    cuts.extend(tokens.iter().map(|(r, _)| r.start));
    for mark in marks {
        cuts.push(mark.range.start.min(src.len()));
        cuts.push(mark.range.end.min(src.len()));
    }
    cuts.push(src.len());
    cuts.retain(|&c| src.is_char_boundary(c));
    cuts.sort_unstable();
    cuts.dedup();
    let mut token_index = 0;
    for pair in cuts.windows(2) {
        let (start, end) = (pair[0], pair[1]);
        if start == end {
            continue;
        }
        while token_index + 1 < tokens.len() && tokens[token_index].0.end <= start {
            token_index += 1;
        }
        let kind = tokens.get(token_index).map_or(TokenKind::Text, |t| t.1);
        let color = match kind {
            TokenKind::Punctuation => colors.punctuation,
            TokenKind::Tag => colors.tag,
            TokenKind::Action => colors.action,
            TokenKind::Sound => colors.sound,
            TokenKind::Attribute => colors.attribute,
            TokenKind::Value => colors.value,
            TokenKind::Comment => colors.comment,
            TokenKind::Text => colors.text,
        };
        let mut format = TextFormat::simple(font.clone(), color);
        format.italics = matches!(kind, TokenKind::Action | TokenKind::Comment);
        // An error wins over a warning on the same text.
        let hit = marks.iter().filter(|m| m.range.start < end && start < m.range.end.max(m.range.start + 1));
        if let Some(is_error) = hit.map(|m| m.is_error).reduce(|a, b| a || b) {
            format.underline = Stroke::new(1.5, if is_error { theme::ERROR } else { theme::WARNING });
        }
        job.append(&src[start..end], 0.0, format);
    }
    job
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<(&str, TokenKind)> {
        tokenize(src).into_iter().map(|(r, k)| (&src[r], k)).collect()
    }

    #[test]
    fn tokens_cover_the_input_in_order() {
        for src in [
            r#"<speak voice="Warm" gender="female"><action>She sighs</action>Hello.<sound>rain</sound></speak>"#,
            "<speak voice='x",
            "<<>>< / = \" ' <!-- unterminated",
            "plain text é ü 日本",
            "<speak a=b é=\"ü\">x</speak>",
        ] {
            let tokens = tokenize(src);
            let mut at = 0;
            for (range, _) in &tokens {
                assert_eq!(range.start, at, "{src:?}: gap or overlap at {at}");
                assert!(range.end > range.start && src.is_char_boundary(range.end));
                at = range.end;
            }
            assert_eq!(at, src.len(), "{src:?}");
        }
    }

    #[test]
    fn action_and_sound_text_are_coloured_as_such() {
        let k = kinds(r#"<speak voice="V"><action>He pauses</action>Hi<sound>door</sound></speak>"#);
        assert!(k.contains(&("He pauses", TokenKind::Action)));
        assert!(k.contains(&("door", TokenKind::Sound)));
        assert!(k.contains(&("Hi", TokenKind::Text)));
        assert!(k.contains(&("voice", TokenKind::Attribute)));
        assert!(k.contains(&("\"V\"", TokenKind::Value)));
    }

    #[test]
    fn marks_underline_their_text() {
        let src = "<speak>bad</speak>";
        let job =
            layout_job(src, &[Mark { range: 7..10, is_error: true }], FontId::monospace(12.0), true, 500.0);
        let underlined: String = job
            .sections
            .iter()
            .filter(|s| s.format.underline.width > 0.0)
            .map(|s| &job.text[s.byte_range.start.0..s.byte_range.end.0])
            .collect();
        assert_eq!(underlined, "bad");
    }
}
