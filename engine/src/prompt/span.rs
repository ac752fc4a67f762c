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

/// Bytes between two entries of [`LineIndex::chars_before_block`].
const BLOCK_BYTES: usize = 64;

/// Maps byte offsets of one source string to lines and columns.
///
/// A lookup costs a binary search plus at most [`BLOCK_BYTES`] bytes of counting, whatever the line
/// length, so positions for every token of a megabyte-long line stay linear overall.
#[derive(Debug, Clone)]
pub(crate) struct LineIndex<'a> {
    src: &'a str,
    /// Byte offset of the first character of every line.
    line_starts: Vec<usize>,
    /// Characters in `src[..k * BLOCK_BYTES]`, for every block start `k`.
    chars_before_block: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    pub(crate) fn new(src: &'a str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(src.match_indices('\n').map(|(i, _)| i + 1));
        let mut chars_before_block = Vec::with_capacity(src.len() / BLOCK_BYTES + 1);
        let mut chars = 0;
        for block in src.as_bytes().chunks(BLOCK_BYTES) {
            chars_before_block.push(chars);
            chars += count_chars(block);
        }
        chars_before_block.push(chars);
        Self { src, line_starts, chars_before_block }
    }

    /// Characters in `src[..offset]` (`offset` on a character boundary).
    fn chars_before(&self, offset: usize) -> usize {
        let block = offset / BLOCK_BYTES;
        self.chars_before_block[block] + count_chars(&self.src.as_bytes()[block * BLOCK_BYTES..offset])
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
        let column = self.chars_before(offset) - self.chars_before(line_start) + 1;
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

/// Characters that start in `bytes`: every byte that is not a UTF-8 continuation byte.
fn count_chars(bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&b| (b as i8) >= -0x40).count()
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
    fn positions_agree_with_counting_from_the_line_start() {
        let src = format!("{}\n{}", "aé€😀b".repeat(40), "xyz".repeat(30));
        let index = LineIndex::new(&src);
        for offset in (0..=src.len()).filter(|&o| src.is_char_boundary(o)) {
            let before = &src[..offset];
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
            assert_eq!(index.position(offset), (line, column), "offset {offset}");
        }
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
