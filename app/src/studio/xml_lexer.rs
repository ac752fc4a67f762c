//! One forgiving lexer of `<speak>` XML for the studio: the highlighter colours its tokens and the form
//! finds tags with it. It makes no well-formedness checks (that is the engine's parser's job), so
//! half-typed and broken scripts still lex: a `<` that starts no markup is text, and a tag, comment or
//! quote that never ends runs to the end of the script (a quote that never closes inside a start tag
//! gives way to the tag's first `>`).

use std::ops::Range;

/// What a piece of markup is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkupKind {
    /// `<name ...>` or `<name .../>`.
    Start,
    /// `</name>`.
    End,
    /// A comment, CDATA section, processing instruction or declaration.
    Other,
}

/// One piece of markup found by [`markup`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Markup {
    pub kind: MarkupKind,
    /// From `<` to just after `>` (to the end of the script when unterminated).
    pub range: Range<usize>,
    /// The tag name (empty for [`MarkupKind::Other`]).
    pub name: Range<usize>,
    /// A start tag ending in `/>`.
    pub empty: bool,
    /// Whether the closing `>` was found.
    pub closed: bool,
}

/// The markup in `src`, in order. Quotes are honoured inside start tags (an attribute value may
/// contain `>`).
pub fn markup(src: &str) -> Vec<Markup> {
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(offset) = src[i..].find('<') {
        let start = i + offset;
        match markup_at(src, start) {
            Some(m) => {
                i = m.range.end;
                out.push(m);
            }
            None => i = start + 1,
        }
    }
    out
}

/// The markup starting with the `<` at byte `start`, if that `<` starts any.
fn markup_at(src: &str, start: usize) -> Option<Markup> {
    let rest = &src[start..];
    let delimited = |open: usize, close: &str| match src[start + open..].find(close) {
        Some(j) => (start + open + j + close.len(), true),
        None => (src.len(), false),
    };
    let other = |(end, closed): (usize, bool)| Markup {
        kind: MarkupKind::Other,
        range: start..end,
        name: start..start,
        empty: false,
        closed,
    };
    if rest.starts_with("<!--") {
        Some(other(delimited(4, "-->")))
    } else if rest.starts_with("<![CDATA[") {
        Some(other(delimited(9, "]]>")))
    } else if rest.starts_with("<?") {
        Some(other(delimited(2, "?>")))
    } else if rest.starts_with("<!") {
        Some(other(delimited(2, ">")))
    } else if let Some(after) = rest.strip_prefix("</") {
        let len = name_len(after);
        (len > 0).then(|| {
            let name = start + 2..start + 2 + len;
            let (end, closed) = delimited(2 + len, ">");
            Markup { kind: MarkupKind::End, range: start..end, name, empty: false, closed }
        })
    } else {
        let len = name_len(&rest[1..]);
        (len > 0).then(|| {
            let name = start + 1..start + 1 + len;
            let (end, closed) = match start_tag_end(src, name.end) {
                Some(end) => (end, true),
                None => (src.len(), false),
            };
            let empty = closed && src[..end - 1].ends_with('/');
            Markup { kind: MarkupKind::Start, range: start..end, name, empty, closed }
        })
    }
}

/// The byte after the `>` that ends a start tag whose name ends at `from`. Quotes are honoured;
/// when a quote never closes, the first `>` ends the tag (the parser then says what is wrong).
fn start_tag_end(src: &str, from: usize) -> Option<usize> {
    let mut quote = None;
    for (i, c) in src[from..].char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '>') => return Some(from + i + 1),
            _ => {}
        }
    }
    src[from..].find('>').map(|i| from + i + 1)
}

/// Byte length of the (loosely checked) XML name at the start of `s`.
fn name_len(s: &str) -> usize {
    let mut chars = s.char_indices();
    match chars.next() {
        Some((_, c)) if c.is_alphabetic() || c == '_' || c == ':' => {}
        _ => return 0,
    }
    chars
        .find(|&(_, c)| !(c.is_alphanumeric() || matches!(c, '-' | '.' | '_' | ':' | '\u{B7}')))
        .map_or(s.len(), |(i, _)| i)
}

/// What a [`Token`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// Character data between markup (including a `<` that starts no markup).
    Text,
    /// A whole comment, CDATA section, processing instruction or declaration.
    Other,
    /// `<` or `</` opening a tag.
    Open,
    /// The tag's name.
    Name,
    /// Whitespace inside a tag.
    Space,
    /// An attribute name, or anything else inside a tag that is not whitespace, `=` or a value.
    Attribute,
    /// `=` inside a tag.
    Equals,
    /// A quoted attribute value with its quotes (to the end of the tag when the quote never closes).
    Value,
    /// `>` or `/>` closing a tag.
    Close,
}

/// One token of [`tokens`]: a non-empty byte range on char boundaries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub range: Range<usize>,
    pub kind: TokenKind,
}

/// Splits `src` into tokens that cover it exactly, in order, with no empty ones.
pub fn tokens(src: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let mut at = 0;
    for m in markup(src) {
        push(&mut out, at..m.range.start, TokenKind::Text);
        if m.kind == MarkupKind::Other {
            push(&mut out, m.range.clone(), TokenKind::Other);
        } else {
            let close = match (m.closed, m.empty) {
                (false, _) => m.range.end..m.range.end,
                (true, false) => m.range.end - 1..m.range.end,
                (true, true) => m.range.end - 2..m.range.end,
            };
            push(&mut out, m.range.start..m.name.start, TokenKind::Open);
            push(&mut out, m.name.clone(), TokenKind::Name);
            tag_body(src, m.name.end..close.start, &mut out);
            push(&mut out, close, TokenKind::Close);
        }
        at = m.range.end;
    }
    push(&mut out, at..src.len(), TokenKind::Text);
    out
}

/// The tokens between a tag's name and its `>` (or the end of the script).
fn tag_body(src: &str, body: Range<usize>, out: &mut Vec<Token>) {
    let text = &src[body.clone()];
    let mut i = 0;
    while let Some(c) = text[i..].chars().next() {
        let (len, kind) = match c {
            c if c.is_whitespace() => (run(&text[i..], char::is_whitespace), TokenKind::Space),
            '=' => (1, TokenKind::Equals),
            '"' | '\'' => {
                let len = text[i + 1..].find(c).map_or(text.len() - i, |p| p + 2);
                (len, TokenKind::Value)
            }
            _ => {
                let len = run(&text[i..], |c| !(c.is_whitespace() || matches!(c, '=' | '"' | '\'')));
                (len, TokenKind::Attribute)
            }
        };
        push(out, body.start + i..body.start + i + len, kind);
        i += len;
    }
}

/// Byte length of the run of chars at the start of `s` that `keep` accepts.
fn run(s: &str, keep: impl Fn(char) -> bool) -> usize {
    s.char_indices().find(|&(_, c)| !keep(c)).map_or(s.len(), |(i, _)| i)
}

/// Appends a token, skipping empty ones and merging adjacent text.
fn push(out: &mut Vec<Token>, range: Range<usize>, kind: TokenKind) {
    if range.is_empty() {
        return;
    }
    if let Some(last) = out.last_mut()
        && kind == TokenKind::Text
        && last.kind == TokenKind::Text
        && last.range.end == range.start
    {
        last.range.end = range.end;
        return;
    }
    out.push(Token { range, kind });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_covers(src: &str) -> Vec<(&str, TokenKind)> {
        let tokens = tokens(src);
        let mut at = 0;
        for t in &tokens {
            assert_eq!(t.range.start, at, "{src:?}: gap or overlap at {at}");
            assert!(t.range.end > t.range.start, "{src:?}: empty token at {at}");
            assert!(src.is_char_boundary(t.range.end), "{src:?}: {:?} splits a char", t.range);
            at = t.range.end;
        }
        assert_eq!(at, src.len(), "{src:?}: text lost at the end");
        tokens.iter().map(|t| (&src[t.range.clone()], t.kind)).collect()
    }

    #[test]
    fn markup_in_broken_text() {
        let s = "<a x='>'>t < b<!-- <c> --><![CDATA[<d>]]><?p <e>?></a><f";
        let found: Vec<(MarkupKind, &str, bool)> =
            markup(s).iter().map(|m| (m.kind, &s[m.range.clone()], m.closed)).collect();
        assert_eq!(
            found,
            [
                (MarkupKind::Start, "<a x='>'>", true),
                (MarkupKind::Other, "<!-- <c> -->", true),
                (MarkupKind::Other, "<![CDATA[<d>]]>", true),
                (MarkupKind::Other, "<?p <e>?>", true),
                (MarkupKind::End, "</a>", true),
                (MarkupKind::Start, "<f", false),
            ]
        );
    }

    #[test]
    fn broken_input_neither_panics_nor_loses_text() {
        use TokenKind::*;
        // An unclosed tag runs to the end.
        assert_eq!(
            assert_covers("Hi <speak voice=\"V\""),
            [
                ("Hi ", Text),
                ("<", Open),
                ("speak", Name),
                (" ", Space),
                ("voice", Attribute),
                ("=", Equals),
                ("\"V\"", Value)
            ]
        );
        // A stray `<` (and `</`, `<` at the end) is text.
        assert_eq!(assert_covers("a < b </ c <"), [("a < b </ c <", Text)]);
        assert_eq!(assert_covers("x<<a>"), [("x<", Text), ("<", Open), ("a", Name), (">", Close)]);
        // An attribute quote that never closes: to the tag's first `>`, or to the end without one.
        assert_eq!(
            assert_covers("<speak voice=\"V>Hi</speak>"),
            [
                ("<", Open),
                ("speak", Name),
                (" ", Space),
                ("voice", Attribute),
                ("=", Equals),
                ("\"V", Value),
                (">", Close),
                ("Hi", Text),
                ("</", Open),
                ("speak", Name),
                (">", Close)
            ]
        );
        assert_eq!(
            assert_covers("<speak voice='V é"),
            [
                ("<", Open),
                ("speak", Name),
                (" ", Space),
                ("voice", Attribute),
                ("=", Equals),
                ("'V é", Value)
            ]
        );
        for src in [
            "",
            "<",
            "</",
            "<!--",
            "<![CDATA[ x",
            "<?pi",
            "<!DOCTYPE",
            "<a/",
            "<a/>",
            "</a b='c'>",
            "<<>>< / = \" ' <!-- unterminated",
            "<é ü=日本>テキスト</é>",
            "<speak\u{2003}voice=\"V\"\u{A0}gender='x'>\u{1F600}</speak",
        ] {
            assert_covers(src);
        }
    }
}
