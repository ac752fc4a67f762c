//! Syntax highlighting for `<speak>` scripts.
//!
//! A forgiving lexer of its own (not the engine's parser) so that half-typed, broken XML still colours
//! sensibly while the director types.

use std::ops::Range;

use egui::text::{LayoutJob, TextFormat};
use egui::{FontId, Stroke};

use super::theme;

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
    let bytes = src.as_bytes();
    let mut tokens = Vec::new();
    let mut stack: Vec<&str> = Vec::new();
    let mut i = 0;
    let text_kind = |stack: &[&str]| match stack.last() {
        Some(&"action") => TokenKind::Action,
        Some(&"sound") => TokenKind::Sound,
        _ => TokenKind::Text,
    };
    while i < bytes.len() {
        if src[i..].starts_with("<!--") {
            let end = src[i + 4..].find("-->").map_or(bytes.len(), |p| i + 4 + p + 3);
            tokens.push((i..end, TokenKind::Comment));
            i = end;
        } else if bytes[i] == b'<' {
            i = lex_tag(src, i, &mut tokens, &mut stack);
        } else {
            let end = src[i..].find('<').map_or(bytes.len(), |p| i + p);
            tokens.push((i..end, text_kind(&stack)));
            i = end;
        }
    }
    tokens
}

fn lex_tag<'a>(
    src: &'a str,
    start: usize,
    tokens: &mut Vec<(Range<usize>, TokenKind)>,
    stack: &mut Vec<&'a str>,
) -> usize {
    let bytes = src.as_bytes();
    let closing = bytes.get(start + 1) == Some(&b'/');
    let mut i = start + if closing { 2 } else { 1 };
    tokens.push((start..i, TokenKind::Punctuation));
    let name_end = scan(bytes, i, |b| !b.is_ascii_whitespace() && !matches!(b, b'>' | b'/' | b'<'));
    let name = &src[i..name_end];
    let kind = match name {
        "action" => TokenKind::Action,
        "sound" => TokenKind::Sound,
        _ => TokenKind::Tag,
    };
    if name_end > i {
        tokens.push((i..name_end, kind));
    }
    i = name_end;
    loop {
        let ws_end = scan(bytes, i, |b| b.is_ascii_whitespace());
        if ws_end > i {
            tokens.push((i..ws_end, TokenKind::Text));
            i = ws_end;
        }
        match bytes.get(i) {
            None => return i,
            Some(b'<') => return i, // unterminated tag: let the next one start
            Some(b'>') => {
                tokens.push((i..i + 1, TokenKind::Punctuation));
                update_stack(stack, name, closing, false);
                return i + 1;
            }
            Some(b'/') if bytes.get(i + 1) == Some(&b'>') => {
                tokens.push((i..i + 2, TokenKind::Punctuation));
                update_stack(stack, name, closing, true);
                return i + 2;
            }
            Some(b'=') => {
                tokens.push((i..i + 1, TokenKind::Punctuation));
                i += 1;
            }
            Some(&q @ (b'"' | b'\'')) => {
                let end = src[i + 1..].find(q as char).map_or(bytes.len(), |p| i + 1 + p + 1);
                tokens.push((i..end, TokenKind::Value));
                i = end;
            }
            Some(_) => {
                let end =
                    scan(bytes, i, |b| !b.is_ascii_whitespace() && !matches!(b, b'=' | b'>' | b'<' | b'"'))
                        .max(i + 1);
                let end = next_char_boundary(src, end);
                tokens.push((i..end, TokenKind::Attribute));
                i = end;
            }
        }
    }
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

fn scan(bytes: &[u8], from: usize, keep: impl Fn(u8) -> bool) -> usize {
    let mut i = from;
    while i < bytes.len() && keep(bytes[i]) {
        i += 1;
    }
    i
}

fn next_char_boundary(src: &str, mut i: usize) -> usize {
    while i < src.len() && !src.is_char_boundary(i) {
        i += 1;
    }
    i
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
