//! Source positions: byte ranges with 1-based line and column.

use std::ops::Range;

use serde::Serialize;

/// A region of the prompt source.
///
/// `range` is a byte range into the source. `line` and `column` locate `range.start`: both are
/// 1-based, lines are separated by `\n` only (so `\r\n` files number their lines as editors do) and
/// the column counts characters, not bytes, from the start of the line.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize)]
pub struct Span {
    /// Byte range into the source.
    pub range: Range<usize>,
    /// 1-based line of `range.start`.
    pub line: usize,
    /// 1-based column of `range.start`, counted in characters.
    pub column: usize,
}

/// Maps byte offsets of one source string to lines and columns.
#[derive(Debug, Clone)]
pub(crate) struct LineIndex<'a> {
    src: &'a str,
    /// Byte offset of the first character of every line.
    line_starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    pub(crate) fn new(src: &'a str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(src.match_indices('\n').map(|(i, _)| i + 1));
        Self { src, line_starts }
    }

    pub(crate) fn source(&self) -> &'a str {
        self.src
    }

    /// Line and column (both 1-based) of a byte offset. Offsets past the end are clamped to the
    /// end and offsets inside a character are moved back to its first byte.
    pub(crate) fn position(&self, offset: usize) -> (usize, usize) {
        let offset = floor_char_boundary(self.src, offset);
        let line = self.line_starts.partition_point(|&start| start <= offset);
        let line_start = self.line_starts[line - 1];
        let column = self.src[line_start..offset].chars().count() + 1;
        (line, column)
    }

    /// A [`Span`] for a byte range (clamped to the source and to character boundaries).
    pub(crate) fn span(&self, range: Range<usize>) -> Span {
        let start = floor_char_boundary(self.src, range.start);
        let end = floor_char_boundary(self.src, range.end.max(start));
        let (line, column) = self.position(start);
        Span { range: start..end, line, column }
    }
}

/// The largest character boundary of `s` that is `<= offset`.
pub(crate) fn floor_char_boundary(s: &str, offset: usize) -> usize {
    let mut offset = offset.min(s.len());
    while !s.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_characters_and_newlines() {
        let src = "ab\ncé\r\nx";
        let index = LineIndex::new(src);
        assert_eq!(index.position(0), (1, 1));
        assert_eq!(index.position(2), (1, 3));
        assert_eq!(index.position(3), (2, 1));
        // 'é' is two bytes: the '\r' after it is column 3.
        assert_eq!(index.position(6), (2, 3));
        // Inside 'é' is clamped back to its start.
        assert_eq!(index.position(5), (2, 2));
        assert_eq!(index.position(src.len()), (3, 2));
        assert_eq!(index.position(src.len() + 10), (3, 2));
    }

    #[test]
    fn spans_are_clamped() {
        let index = LineIndex::new("abc");
        let span = index.span(2..10);
        assert_eq!(span.range, 2..3);
        assert_eq!((span.line, span.column), (1, 3));
        assert_eq!(LineIndex::new("").span(0..0), Span { range: 0..0, line: 1, column: 1 });
    }
}
