//! XML front end for `<speak>` scripts.
//!
//! The reference parses with Python's `xml.etree.ElementTree` (expat). quick-xml tokenises here and
//! this module adds the well-formedness checks expat makes (names, attribute syntax, references,
//! characters, comments, declarations, namespaces), then builds a document shaped like an
//! ElementTree: every element has a `text` (before its first child) and every child a `tail`
//! (after it). As in ElementTree:
//! - comments and processing instructions are dropped and the text around them is joined;
//! - CDATA sections are text;
//! - `\r\n` and lone `\r` become `\n`; attribute values also turn `\n`, `\r` and `\t` into spaces,
//!   while character references (`&#10;`) are kept literally;
//! - namespaced names are reported as `{uri}local`.
//!
//! Every element, attribute and text run keeps a [`Span`] into the source.
//! Deliberate difference: a `<!DOCTYPE>` with an internal subset (`[...]`) is rejected, so entity
//! declarations and attribute defaults are never half-honoured.

use std::ops::Range;

use quick_xml::Reader;
use quick_xml::events::Event;

use super::span::{LineIndex, Span};

const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";
const XMLNS_NS: &str = "http://www.w3.org/2000/xmlns/";
const INVALID_TOKEN: &str = "not well-formed (invalid token)";

/// The XML could not be parsed. Messages follow expat's wording; `line` and `column` are 1-based
/// (columns count characters), unlike expat's 0-based columns.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}: line {line}, column {column}")]
pub struct ParseError {
    /// What is wrong, e.g. `mismatched tag`.
    pub message: String,
    /// Byte offset of the problem.
    pub offset: usize,
    /// 1-based line of `offset`.
    pub line: usize,
    /// 1-based column of `offset`, in characters.
    pub column: usize,
}

/// A parsed script: its root element (normally `<speak>`).
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// The root element.
    pub root: Element,
}

/// One element, shaped like an ElementTree element.
#[derive(Debug, Clone, PartialEq)]
pub struct Element {
    /// The tag as ElementTree reports it: `local` or `{namespace-uri}local`.
    pub tag: String,
    /// The name as written, e.g. `p:action`.
    pub qname: String,
    /// From the `<` of the start tag to the `>` of the end tag.
    pub span: Span,
    /// The start tag, `<` to `>`.
    pub start_tag: Span,
    /// The name inside the start tag.
    pub name_span: Span,
    /// Attributes in document order (namespace declarations are not attributes).
    pub attributes: Vec<Attribute>,
    /// Text before the first child (ElementTree `text`).
    pub text: Option<TextRun>,
    /// Child elements.
    pub children: Vec<Element>,
    /// Text after this element's end tag, up to the next sibling or the parent's end
    /// (ElementTree `tail`).
    pub tail: Option<TextRun>,
}

impl Element {
    /// The attribute whose ElementTree key is `name`.
    pub fn attribute(&self, name: &str) -> Option<&Attribute> {
        self.attributes.iter().find(|a| a.name == name)
    }

    /// ElementTree `element.get(name)`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.attribute(name).map(|a| a.value.as_str())
    }

    /// ElementTree `element.text` as a string (empty when absent).
    pub fn text_str(&self) -> &str {
        self.text.as_ref().map_or("", |t| t.text.as_str())
    }

    /// ElementTree `element.tail` as a string (empty when absent).
    pub fn tail_str(&self) -> &str {
        self.tail.as_ref().map_or("", |t| t.text.as_str())
    }
}

/// One attribute with its decoded, whitespace-normalised value.
#[derive(Debug, Clone, PartialEq)]
pub struct Attribute {
    /// ElementTree key: `local` or `{namespace-uri}local`.
    pub name: String,
    /// The name as written.
    pub qname: String,
    /// The decoded value.
    pub value: String,
    /// `name="value"` as written.
    pub span: Span,
    /// The name.
    pub name_span: Span,
    /// The value between the quotes.
    pub value_span: Span,
}

/// A run of character data (text, references and CDATA, joined across comments).
#[derive(Debug, Clone, PartialEq)]
pub struct TextRun {
    /// The decoded text.
    pub text: String,
    /// From the first to the last source character of the run.
    pub span: Span,
    /// `(decoded offset, source offset)` at every point where the two stop advancing together.
    offsets: Vec<(usize, usize)>,
    /// The source text of the run, for positions inside it.
    raw: String,
}

impl TextRun {
    /// The source byte offset of a byte offset into [`TextRun::text`].
    pub fn source_offset(&self, decoded: usize) -> usize {
        let i = self.offsets.partition_point(|&(d, _)| d <= decoded);
        match i.checked_sub(1).map(|i| self.offsets[i]) {
            Some((d, s)) => {
                let next_source = self.offsets.get(i).map_or(self.span.range.end, |&(_, s)| s);
                (s + (decoded - d)).min(next_source).min(self.span.range.end)
            }
            None => self.span.range.start,
        }
    }

    /// The source byte range of a byte range into [`TextRun::text`].
    pub fn source_range(&self, decoded: Range<usize>) -> Range<usize> {
        let start = self.source_offset(decoded.start);
        let end = if decoded.end > decoded.start { self.source_offset(decoded.end) } else { start };
        start..end.max(start)
    }

    /// The source [`Span`] of a byte range into [`TextRun::text`].
    pub fn span_of(&self, decoded: Range<usize>) -> Span {
        let range = self.source_range(decoded);
        let before = &self.raw[..range.start - self.span.range.start];
        let (line, column) = match before.rfind('\n') {
            Some(nl) => (self.span.line + before.matches('\n').count(), before[nl + 1..].chars().count() + 1),
            None => (self.span.line, self.span.column + before.chars().count()),
        };
        Span { range, line, column }
    }
}

/// Parses a script. See the module docs for the ElementTree semantics reproduced.
pub fn parse(src: &str) -> Result<Document, ParseError> {
    Parser::new(src).run()
}

/// Text being collected for one `text` or `tail` slot.
struct TextAcc {
    text: String,
    start: usize,
    end: usize,
    offsets: Vec<(usize, usize)>,
}

impl TextAcc {
    fn new(start: usize) -> Self {
        Self { text: String::new(), start, end: start, offsets: Vec::new() }
    }

    /// Appends source text verbatim apart from line-end normalisation.
    fn push_source(&mut self, raw: &str, at: usize) {
        self.offsets.push((self.text.len(), at));
        let mut chars = raw.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            if c == '\r' {
                if chars.peek().is_some_and(|&(_, n)| n == '\n') {
                    // `\r\n`: drop the `\r`, the `\n` maps to its own source byte.
                    self.offsets.push((self.text.len(), at + i + 1));
                } else {
                    self.text.push('\n');
                }
            } else {
                self.text.push(c);
            }
        }
        self.end = at + raw.len();
    }

    /// Appends the expansion of a reference that spans `source` in the input.
    fn push_reference(&mut self, value: &str, source: Range<usize>) {
        self.offsets.push((self.text.len(), source.start));
        self.text.push_str(value);
        self.offsets.push((self.text.len(), source.end));
        self.end = source.end;
    }

    fn finish(self, index: &LineIndex<'_>) -> Option<TextRun> {
        if self.text.is_empty() {
            return None;
        }
        let span = index.span(self.start..self.end);
        let raw = index.source()[span.range.clone()].to_owned();
        Some(TextRun { text: self.text, span, offsets: self.offsets, raw })
    }
}

/// An element whose end tag has not been seen yet.
struct Open {
    element: Element,
    start: usize,
    /// Length of the namespace binding stack before this element's declarations.
    ns_mark: usize,
    /// Text collected for the current slot (the element's `text` or its last child's `tail`).
    pending: Option<TextAcc>,
}

/// An attribute as written, before namespace resolution.
struct RawAttr<'a> {
    qname: &'a str,
    name: Range<usize>,
    value: Range<usize>,
    whole: Range<usize>,
}

struct Parser<'a> {
    src: &'a str,
    index: LineIndex<'a>,
    stack: Vec<Open>,
    root: Option<Element>,
    /// Namespace bindings in scope: `(prefix, uri)`, `None` is the default namespace.
    ns: Vec<(Option<String>, String)>,
    seen_doctype: bool,
    /// Byte offset where the document (after an optional BOM) starts.
    body_start: usize,
}

type PResult<T> = Result<T, ParseError>;

impl<'a> Parser<'a> {
    fn new(src: &'a str) -> Self {
        Self {
            src,
            index: LineIndex::new(src),
            stack: Vec::new(),
            root: None,
            ns: Vec::new(),
            seen_doctype: false,
            body_start: if src.starts_with('\u{feff}') { '\u{feff}'.len_utf8() } else { 0 },
        }
    }

    fn error(&self, offset: usize, message: &str) -> ParseError {
        let span = self.index.span(offset..offset);
        ParseError {
            message: message.to_owned(),
            offset: span.range.start,
            line: span.line,
            column: span.column,
        }
    }

    fn fail<T>(&self, offset: usize, message: &str) -> PResult<T> {
        Err(self.error(offset, message))
    }

    fn run(mut self) -> PResult<Document> {
        if let Some(offset) = self.src.char_indices().find(|&(_, c)| !is_xml_char(c)).map(|(i, _)| i) {
            return self.fail(offset, INVALID_TOKEN);
        }
        let base = self.body_start;
        let body = &self.src[base..];
        if body.starts_with('\u{feff}') {
            return self.fail(base, INVALID_TOKEN);
        }
        let mut reader = Reader::from_str(body);
        {
            let config = reader.config_mut();
            config.allow_dangling_amp = true;
            config.allow_unmatched_ends = true;
            config.check_end_names = false;
            config.check_comments = false;
            config.expand_empty_elements = false;
            config.trim_markup_names_in_closing_tags = false;
            config.trim_text(false);
        }
        loop {
            let start = base + to_usize(reader.buffer_position());
            let event = match reader.read_event() {
                Ok(event) => event,
                Err(err) => {
                    let at = base + to_usize(reader.error_position());
                    let message = match err {
                        quick_xml::Error::Syntax(_) => "unclosed token",
                        _ => INVALID_TOKEN,
                    };
                    return self.fail(at, message);
                }
            };
            let end = base + to_usize(reader.buffer_position());
            let raw = self.src.get(start..end).unwrap_or("");
            match event {
                Event::Start(_) => self.start_tag(raw, start, false)?,
                Event::Empty(_) => self.start_tag(raw, start, true)?,
                Event::End(_) => self.end_tag(raw, start)?,
                Event::Text(_) => self.text(raw, start)?,
                Event::GeneralRef(_) => self.reference(raw, start)?,
                Event::CData(_) => self.cdata(raw, start)?,
                Event::Comment(_) => self.comment(raw, start)?,
                Event::Decl(_) | Event::PI(_) => self.processing_instruction(raw, start)?,
                Event::DocType(_) => self.doctype(raw, start)?,
                Event::Eof => break,
            }
        }
        if self.stack.is_empty()
            && let Some(root) = self.root.take()
        {
            return Ok(Document { root });
        }
        self.fail(self.src.len(), "no element found")
    }

    fn after_root(&self) -> bool {
        self.root.is_some() && self.stack.is_empty()
    }

    /// Fails for markup that is not allowed outside the root element.
    fn require_inside_root(&self, at: usize) -> PResult<()> {
        if self.stack.is_empty() {
            let message = if self.after_root() { "junk after document element" } else { INVALID_TOKEN };
            return self.fail(at, message);
        }
        Ok(())
    }

    fn pending(&mut self, at: usize) -> &mut TextAcc {
        let open = self.stack.last_mut().expect("caller checked that an element is open");
        open.pending.get_or_insert_with(|| TextAcc::new(at))
    }

    /// Moves collected text into the current slot of the innermost open element.
    fn flush_text(&mut self) {
        let Some(open) = self.stack.last_mut() else { return };
        let Some(acc) = open.pending.take() else { return };
        let run = acc.finish(&self.index);
        match open.element.children.last_mut() {
            Some(child) => child.tail = run,
            None => open.element.text = run,
        }
    }

    fn text(&mut self, raw: &str, start: usize) -> PResult<()> {
        if self.stack.is_empty() {
            if let Some(i) = raw.find(|c| !is_xml_space(c)) {
                let message = if self.after_root() { "junk after document element" } else { INVALID_TOKEN };
                return self.fail(start + i, message);
            }
            return Ok(());
        }
        // quick-xml hands a lone `&` back as text.
        if let Some(i) = raw.find('&') {
            return self.fail(start + i, INVALID_TOKEN);
        }
        if let Some(i) = raw.find("]]>") {
            return self.fail(start + i, INVALID_TOKEN);
        }
        self.pending(start).push_source(raw, start);
        Ok(())
    }

    fn reference(&mut self, raw: &str, start: usize) -> PResult<()> {
        self.require_inside_root(start)?;
        let body = raw.strip_prefix('&').unwrap_or(raw);
        let (value, len) = self.parse_reference(body, start)?;
        if len + 1 != raw.len() {
            return self.fail(start, INVALID_TOKEN);
        }
        let mut buf = [0u8; 4];
        let value = value.encode_utf8(&mut buf);
        self.pending(start).push_reference(value, start..start + raw.len());
        Ok(())
    }

    /// Parses `name;`, `#123;` or `#x1F;` (the text after `&`). Returns the character and the
    /// length consumed including the `;`.
    fn parse_reference(&self, body: &str, amp: usize) -> PResult<(char, usize)> {
        let Some(semi) = body.find(';') else { return self.fail(amp, INVALID_TOKEN) };
        let name = &body[..semi];
        let value = if let Some(hex) = name.strip_prefix("#x") {
            if hex.is_empty() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return self.fail(amp, INVALID_TOKEN);
            }
            char_from_reference(u32::from_str_radix(hex, 16).ok())
        } else if let Some(dec) = name.strip_prefix('#') {
            if dec.is_empty() || !dec.bytes().all(|b| b.is_ascii_digit()) {
                return self.fail(amp, INVALID_TOKEN);
            }
            char_from_reference(dec.parse::<u32>().ok())
        } else {
            if name_len(name) != name.len() || name.is_empty() {
                return self.fail(amp, INVALID_TOKEN);
            }
            match name {
                "lt" => Some('<'),
                "gt" => Some('>'),
                "amp" => Some('&'),
                "apos" => Some('\''),
                "quot" => Some('"'),
                _ => return self.fail(amp, "undefined entity"),
            }
        };
        match value {
            Some(c) => Ok((c, semi + 1)),
            None => self.fail(amp, "reference to invalid character number"),
        }
    }

    fn cdata(&mut self, raw: &str, start: usize) -> PResult<()> {
        let Some(inner) = raw.strip_prefix("<![CDATA[").and_then(|r| r.strip_suffix("]]>")) else {
            return self.fail(start, INVALID_TOKEN);
        };
        self.require_inside_root(start)?;
        let at = start + "<![CDATA[".len();
        if !inner.is_empty() {
            self.pending(start).push_source(inner, at);
            // The run ends after `]]>`, not after the data.
            if let Some(acc) = self.stack.last_mut().and_then(|o| o.pending.as_mut()) {
                acc.end = start + raw.len();
            }
        }
        Ok(())
    }

    fn comment(&mut self, raw: &str, start: usize) -> PResult<()> {
        let Some(inner) = raw.strip_prefix("<!--").and_then(|r| r.strip_suffix("-->")) else {
            return self.fail(start, INVALID_TOKEN);
        };
        if raw.len() < "<!---->".len() {
            return self.fail(start, INVALID_TOKEN);
        }
        if let Some(i) = inner.find("--") {
            return self.fail(start + 4 + i, INVALID_TOKEN);
        }
        if inner.ends_with('-') {
            return self.fail(start + raw.len() - 4, INVALID_TOKEN);
        }
        Ok(())
    }

    fn processing_instruction(&mut self, raw: &str, start: usize) -> PResult<()> {
        let Some(inner) = raw.strip_prefix("<?").and_then(|r| r.strip_suffix("?>")) else {
            return self.fail(start, INVALID_TOKEN);
        };
        let target_len = name_len(inner);
        if target_len == 0 {
            return self.fail(start + 2, INVALID_TOKEN);
        }
        let target = &inner[..target_len];
        let rest = &inner[target_len..];
        if !rest.is_empty() && !rest.starts_with(is_xml_space) {
            return self.fail(start + 2 + target_len, INVALID_TOKEN);
        }
        if target == "xml" {
            if start != self.body_start {
                return self.fail(start, "XML or text declaration not at start of entity");
            }
            return self.xml_declaration(rest, start + 2 + target_len);
        }
        if target.eq_ignore_ascii_case("xml") {
            return self.fail(start + 2 + target_len, INVALID_TOKEN);
        }
        Ok(())
    }

    /// `version="…" [encoding="…"] [standalone="yes|no"]`, in that order.
    fn xml_declaration(&self, decl: &str, at: usize) -> PResult<()> {
        const BAD: &str = "XML declaration not well-formed";
        let mut i = 0;
        let mut seen_version = false;
        let mut order = 0;
        loop {
            let ws = decl[i..].len() - decl[i..].trim_start_matches(is_xml_space).len();
            i += ws;
            if i == decl.len() {
                break;
            }
            if ws == 0 {
                return self.fail(at + i, BAD);
            }
            let key_len = decl[i..].find(|c: char| !c.is_ascii_alphabetic()).unwrap_or(decl.len() - i);
            let key = &decl[i..i + key_len];
            let rank = match key {
                "version" => 1,
                "encoding" => 2,
                "standalone" => 3,
                _ => return self.fail(at + i, BAD),
            };
            if rank <= order || (rank > 1 && !seen_version) {
                return self.fail(at + i, BAD);
            }
            order = rank;
            seen_version |= rank == 1;
            i += key_len;
            i += decl[i..].len() - decl[i..].trim_start_matches(is_xml_space).len();
            if !decl[i..].starts_with('=') {
                return self.fail(at + i, BAD);
            }
            i += 1;
            i += decl[i..].len() - decl[i..].trim_start_matches(is_xml_space).len();
            let Some(quote) = decl[i..].chars().next().filter(|&c| c == '"' || c == '\'') else {
                return self.fail(at + i, BAD);
            };
            let Some(len) = decl[i + 1..].find(quote) else { return self.fail(at + i, BAD) };
            let value = &decl[i + 1..i + 1 + len];
            let ok = match rank {
                1 => {
                    !value.is_empty()
                        && value.chars().all(|c| c.is_ascii_alphanumeric() || "_.:-".contains(c))
                }
                2 => {
                    value.starts_with(|c: char| c.is_ascii_alphabetic())
                        && value.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
                }
                _ => value == "yes" || value == "no",
            };
            if !ok {
                return self.fail(at + i, BAD);
            }
            i += len + 2;
        }
        if !seen_version {
            return self.fail(at, BAD);
        }
        Ok(())
    }

    fn doctype(&mut self, raw: &str, start: usize) -> PResult<()> {
        if self.after_root() {
            return self.fail(start, "junk after document element");
        }
        if !self.stack.is_empty() {
            return self.fail(start, INVALID_TOKEN);
        }
        let Some(inner) = raw.strip_prefix("<!DOCTYPE").and_then(|r| r.strip_suffix('>')) else {
            return self.fail(start, "syntax error");
        };
        if self.seen_doctype || !inner.starts_with(is_xml_space) {
            return self.fail(start, "syntax error");
        }
        self.seen_doctype = true;
        let mut rest = inner.trim_start_matches(is_xml_space);
        let len = name_len(rest);
        if len == 0 {
            return self.fail(start, "syntax error");
        }
        rest = &rest[len..];
        let trimmed = rest.trim_start_matches(is_xml_space);
        let external = if let Some(r) = trimmed.strip_prefix("SYSTEM") {
            Some((r, 1))
        } else {
            trimmed.strip_prefix("PUBLIC").map(|r| (r, 2))
        };
        if let Some((mut r, literals)) = external {
            if trimmed.len() == rest.len() {
                return self.fail(start, "syntax error");
            }
            for _ in 0..literals {
                let before = r.len();
                r = r.trim_start_matches(is_xml_space);
                let Some(quote) = r.chars().next().filter(|&c| c == '"' || c == '\'') else {
                    return self.fail(start, "syntax error");
                };
                if before == r.len() {
                    return self.fail(start, "syntax error");
                }
                let Some(end) = r[1..].find(quote) else { return self.fail(start, "syntax error") };
                r = &r[end + 2..];
            }
            rest = r;
        }
        let rest = rest.trim_start_matches(is_xml_space);
        if rest.starts_with('[') {
            return self.fail(start, "DTD internal subsets are not supported");
        }
        if !rest.is_empty() {
            return self.fail(start, "syntax error");
        }
        Ok(())
    }

    fn start_tag(&mut self, raw: &str, start: usize, empty: bool) -> PResult<()> {
        if self.after_root() {
            return self.fail(start, "junk after document element");
        }
        let suffix = if empty { "/>" } else { ">" };
        let Some(content) = raw.strip_prefix('<').and_then(|r| r.strip_suffix(suffix)) else {
            return self.fail(start, INVALID_TOKEN);
        };
        let (qname, attrs) = self.split_tag(content, start + 1)?;
        let name_range = start + 1..start + 1 + qname.len();

        // Namespace declarations first: they apply to this element's own name and attributes.
        let ns_mark = self.ns.len();
        for (i, attr) in attrs.iter().enumerate() {
            if attrs[..i].iter().any(|a| a.qname == attr.qname) {
                return self.fail(attr.name.start, "duplicate attribute");
            }
        }
        let mut decoded = Vec::with_capacity(attrs.len());
        for attr in &attrs {
            decoded.push(self.attribute_value(attr.value.clone())?);
        }
        for (attr, value) in attrs.iter().zip(&decoded) {
            let prefix = if attr.qname == "xmlns" {
                None
            } else if let Some(p) = attr.qname.strip_prefix("xmlns:") {
                Some(p)
            } else {
                continue;
            };
            self.declare(prefix, value, start)?;
        }

        let tag = self.resolve(qname, true, name_range.start)?;
        let mut attributes = Vec::new();
        for (attr, value) in attrs.iter().zip(decoded) {
            if attr.qname == "xmlns" || attr.qname.starts_with("xmlns:") {
                continue;
            }
            let name = self.resolve(attr.qname, false, attr.name.start)?;
            if attributes.iter().any(|a: &Attribute| a.name == name) {
                return self.fail(start, "duplicate attribute");
            }
            attributes.push(Attribute {
                name,
                qname: attr.qname.to_owned(),
                value,
                span: self.index.span(attr.whole.clone()),
                name_span: self.index.span(attr.name.clone()),
                value_span: self.index.span(attr.value.clone()),
            });
        }

        let end = start + raw.len();
        let element = Element {
            tag,
            qname: qname.to_owned(),
            span: self.index.span(start..end),
            start_tag: self.index.span(start..end),
            name_span: self.index.span(name_range),
            attributes,
            text: None,
            children: Vec::new(),
            tail: None,
        };
        self.flush_text();
        self.stack.push(Open { element, start, ns_mark, pending: None });
        if empty {
            self.close(end);
        }
        Ok(())
    }

    /// Splits the inside of a start tag into its name and raw attributes.
    fn split_tag<'c>(&self, content: &'c str, at: usize) -> PResult<(&'c str, Vec<RawAttr<'c>>)> {
        let name_end = name_len(content);
        if name_end == 0 {
            return self.fail(at, INVALID_TOKEN);
        }
        let mut attrs = Vec::new();
        let mut i = name_end;
        loop {
            let ws_start = i;
            i += content[i..].len() - content[i..].trim_start_matches(is_xml_space).len();
            if i == content.len() {
                break;
            }
            if i == ws_start {
                return self.fail(at + i, INVALID_TOKEN);
            }
            let len = name_len(&content[i..]);
            if len == 0 {
                return self.fail(at + i, INVALID_TOKEN);
            }
            let name = i..i + len;
            let mut j = i + len;
            j += content[j..].len() - content[j..].trim_start_matches(is_xml_space).len();
            if !content[j..].starts_with('=') {
                return self.fail(at + j, INVALID_TOKEN);
            }
            j += 1;
            j += content[j..].len() - content[j..].trim_start_matches(is_xml_space).len();
            let Some(quote) = content[j..].chars().next().filter(|&c| c == '"' || c == '\'') else {
                return self.fail(at + j, INVALID_TOKEN);
            };
            let Some(len) = content[j + 1..].find(quote) else { return self.fail(at + j, INVALID_TOKEN) };
            let value = j + 1..j + 1 + len;
            let close = value.end + 1;
            attrs.push(RawAttr {
                qname: &content[name.clone()],
                name: at + name.start..at + name.end,
                value: at + value.start..at + value.end,
                whole: at + name.start..at + close,
            });
            i = close;
        }
        Ok((&content[..name_end], attrs))
    }

    /// Decodes an attribute value: references expanded, literal whitespace normalised to spaces.
    fn attribute_value(&self, range: Range<usize>) -> PResult<String> {
        let raw = &self.src[range.clone()];
        let mut out = String::with_capacity(raw.len());
        let mut chars = raw.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            match c {
                '<' => return self.fail(range.start + i, INVALID_TOKEN),
                '&' => {
                    let (value, len) = self.parse_reference(&raw[i + 1..], range.start + i)?;
                    out.push(value);
                    while chars.peek().is_some_and(|&(j, _)| j <= i + len) {
                        chars.next();
                    }
                }
                '\r' => {
                    if chars.peek().is_some_and(|&(_, n)| n == '\n') {
                        chars.next();
                    }
                    out.push(' ');
                }
                '\n' | '\t' => out.push(' '),
                c => out.push(c),
            }
        }
        Ok(out)
    }

    fn declare(&mut self, prefix: Option<&str>, uri: &str, at: usize) -> PResult<()> {
        match prefix {
            None => {
                if uri == XML_NS || uri == XMLNS_NS {
                    return self.fail(at, "prefix must not be bound to one of the reserved namespace names");
                }
            }
            Some(p) => {
                if name_len(p) != p.len() || p.is_empty() || p.contains(':') {
                    return self.fail(at, INVALID_TOKEN);
                }
                if p == "xmlns" {
                    return self.fail(at, "reserved prefix (xmlns) must not be declared or undeclared");
                }
                if p == "xml" {
                    if uri != XML_NS {
                        return self.fail(
                            at,
                            "reserved prefix (xml) must not be undeclared or bound to another namespace name",
                        );
                    }
                    return Ok(());
                }
                if uri.is_empty() {
                    return self.fail(at, "must not undeclare prefix");
                }
                if uri == XML_NS || uri == XMLNS_NS {
                    return self.fail(at, "prefix must not be bound to one of the reserved namespace names");
                }
            }
        }
        self.ns.push((prefix.map(str::to_owned), uri.to_owned()));
        Ok(())
    }

    /// ElementTree's name for a qualified name: `{uri}local` when it has a namespace.
    fn resolve(&self, qname: &str, is_element: bool, at: usize) -> PResult<String> {
        let (prefix, local) = match qname.split_once(':') {
            Some((p, l)) => (Some(p), l),
            None => (None, qname),
        };
        if local.is_empty() || local.contains(':') || prefix.is_some_and(str::is_empty) {
            return self.fail(at + qname.find(':').unwrap_or(0), INVALID_TOKEN);
        }
        if name_len(local) != local.len() {
            return self.fail(at, INVALID_TOKEN);
        }
        let uri = match prefix {
            Some("xml") => Some(XML_NS),
            Some(p) => match self.ns.iter().rev().find(|(q, _)| q.as_deref() == Some(p)) {
                Some((_, uri)) => Some(uri.as_str()),
                None => return self.fail(at, "unbound prefix"),
            },
            None if is_element => {
                self.ns.iter().rev().find(|(q, _)| q.is_none()).map(|(_, uri)| uri.as_str())
            }
            None => None,
        };
        Ok(match uri {
            Some(uri) if !uri.is_empty() => format!("{{{uri}}}{local}"),
            _ => local.to_owned(),
        })
    }

    fn end_tag(&mut self, raw: &str, start: usize) -> PResult<()> {
        if self.stack.is_empty() {
            let message = if self.after_root() { "junk after document element" } else { INVALID_TOKEN };
            return self.fail(start, message);
        }
        let Some(inner) = raw.strip_prefix("</").and_then(|r| r.strip_suffix('>')) else {
            return self.fail(start, INVALID_TOKEN);
        };
        let len = name_len(inner);
        if len == 0 || !inner[len..].chars().all(is_xml_space) {
            return self.fail(start + 2 + len, INVALID_TOKEN);
        }
        let open = self.stack.last().expect("checked non-empty above");
        if inner[..len] != open.element.qname {
            return self.fail(start, "mismatched tag");
        }
        self.close(start + raw.len());
        Ok(())
    }

    /// Pops the innermost element, ending at byte `end`.
    fn close(&mut self, end: usize) {
        self.flush_text();
        let Some(open) = self.stack.pop() else { return };
        let mut element = open.element;
        element.span = self.index.span(open.start..end);
        self.ns.truncate(open.ns_mark);
        match self.stack.last_mut() {
            Some(parent) => parent.element.children.push(element),
            None => self.root = Some(element),
        }
    }
}

fn to_usize(position: u64) -> usize {
    usize::try_from(position).unwrap_or(usize::MAX)
}

/// XML 1.0 `Char`.
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// XML `S`.
fn is_xml_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

fn char_from_reference(code: Option<u32>) -> Option<char> {
    code.and_then(char::from_u32).filter(|&c| is_xml_char(c))
}

/// XML 1.0 (5th edition) `NameStartChar`, limited to the Basic Multilingual Plane as expat is.
fn is_name_start(c: char) -> bool {
    matches!(c,
        ':' | 'A'..='Z' | '_' | 'a'..='z' | '\u{C0}'..='\u{D6}' | '\u{D8}'..='\u{F6}'
        | '\u{F8}'..='\u{2FF}' | '\u{370}'..='\u{37D}' | '\u{37F}'..='\u{1FFF}'
        | '\u{200C}'..='\u{200D}' | '\u{2070}'..='\u{218F}' | '\u{2C00}'..='\u{2FEF}'
        | '\u{3001}'..='\u{D7FF}' | '\u{F900}'..='\u{FDCF}' | '\u{FDF0}'..='\u{FFFD}')
}

/// XML 1.0 (5th edition) `NameChar`, limited to the Basic Multilingual Plane.
fn is_name_char(c: char) -> bool {
    is_name_start(c)
        || matches!(c, '-' | '.' | '0'..='9' | '\u{B7}' | '\u{300}'..='\u{36F}' | '\u{203F}'..='\u{2040}')
}

/// Byte length of the XML `Name` at the start of `s` (0 when there is none).
fn name_len(s: &str) -> usize {
    let mut chars = s.char_indices();
    match chars.next() {
        Some((_, c)) if is_name_start(c) => {}
        _ => return 0,
    }
    chars.find(|&(_, c)| !is_name_char(c)).map_or(s.len(), |(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(src: &str) -> Document {
        parse(src).unwrap_or_else(|e| panic!("{src:?} should parse: {e}"))
    }

    fn err(src: &str) -> ParseError {
        parse(src).expect_err(&format!("{src:?} should not parse"))
    }

    #[test]
    fn text_and_tail_like_elementtree() {
        let doc = ok("<a>text<b/>tail<c>ct</c>tail2</a>");
        assert_eq!(doc.root.text_str(), "text");
        assert_eq!(doc.root.children[0].tag, "b");
        assert_eq!(doc.root.children[0].tail_str(), "tail");
        assert_eq!(doc.root.children[1].text_str(), "ct");
        assert_eq!(doc.root.children[1].tail_str(), "tail2");
    }

    #[test]
    fn comments_pis_and_cdata_merge_into_text() {
        let doc = ok("<speak>Hello <!-- c --> world.<?pi x?><![CDATA[<x>]]>&amp;</speak>");
        assert_eq!(doc.root.text_str(), "Hello  world.<x>&");
        let run = doc.root.text.as_ref().expect("text");
        assert_eq!(run.span.range, 7..58);
    }

    #[test]
    fn newlines_and_attribute_normalisation() {
        let doc = ok("<a x=\"a\nb\tc\r\nd&#10;e\">x\r\ny\rz&#13;</a>");
        assert_eq!(doc.root.get("x"), Some("a b c d\ne"));
        assert_eq!(doc.root.text_str(), "x\ny\nz\r");
    }

    #[test]
    fn text_offsets_map_back_to_source() {
        let src = "<a>x&amp;y\r\nz</a>";
        let doc = ok(src);
        let run = doc.root.text.as_ref().expect("text");
        assert_eq!(run.text, "x&y\nz");
        assert_eq!(run.source_offset(0), 3);
        assert_eq!(run.source_offset(1), 4);
        assert_eq!(run.source_offset(2), 9);
        assert_eq!(&src[run.source_range(3..5)], "\nz");
        assert_eq!(run.source_offset(5), 13);
        let span = run.span_of(4..5);
        assert_eq!((span.range.start, span.line, span.column), (12, 2, 1));
        let span = run.span_of(2..3);
        assert_eq!((span.range.start, span.line, span.column), (9, 1, 10));
    }

    #[test]
    fn namespaces_resolve_like_elementtree() {
        let doc = ok("<a xmlns:p=\"u\" p:x=\"1\" y=\"2\" xml:lang=\"en\"><p:b/><c xmlns=\"v\"/></a>");
        let names: Vec<_> = doc.root.attributes.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["{u}x", "y", "{http://www.w3.org/XML/1998/namespace}lang"]);
        assert_eq!(doc.root.children[0].tag, "{u}b");
        assert_eq!(doc.root.children[1].tag, "{v}c");
        assert_eq!(ok("<a xmlns=\"u\"/>").root.tag, "{u}a");
        assert_eq!(err("<a:b/>").message, "unbound prefix");
        assert_eq!(err("<a xmlns:p=\"\"/>").message, "must not undeclare prefix");
        assert_eq!(
            err("<a xmlns:p=\"u\" xmlns:q=\"u\" p:x=\"1\" q:x=\"2\"/>").message,
            "duplicate attribute"
        );
    }

    #[test]
    fn rejects_what_expat_rejects() {
        for src in [
            "",
            "<a",
            "<a>",
            "<speak>a]]>b</speak>",
            "<1a/>",
            "<a:b:c/>",
            "<a x=\"1\" x=\"2\"/>",
            "<a x=\"a<b\"/>",
            "<a x=\"a&b\"/>",
            " <?xml version=\"1.0\"?><a/>",
            "<a/><?xml version=\"1.0\"?>",
            "<a/>x",
            "x<a/>",
            "<a/><b/>",
            "<a>&e;</a>",
            "<a>&#0;</a>",
            "<a>&#xFFFE;</a>",
            "<a>\u{1}</a>",
            "<a><!-- a -- b --></a>",
            "<a><!-- a ---></a>",
            "<a>\u{ffff}</a>",
            "<a x=1/>",
            "<a x=\"1\"y=\"2\"/>",
            "</a>",
            "<a></ a>",
            "<a>< b/></a>",
            "<a><?xml x?></a>",
            "<a><?XmL x?></a>",
            "<a><![cdata[a]]></a>",
            "<a>&#x;</a>",
            "<a>&#X41;</a>",
            "<a>&lt</a>",
            "<a>& </a>",
            "<a/ >",
            "<a><b></a></b>",
            "<a\u{85}/>",
            "<?xml?><a/>",
            "<?xml version=\"1.0\" standalone=\"maybe\"?><a/>",
            "<?xml encoding=\"utf-8\"?><a/>",
            "<!DOCTYPE a><!DOCTYPE a><a/>",
            "<!doctype a><a/>",
            "<!DOCTYPE a [<!ENTITY e \"hi\">]><a>&e;</a>",
            "<\u{1F600}/>",
            "\u{feff}\u{feff}<a/>",
        ] {
            err(src);
        }
    }

    #[test]
    fn accepts_what_expat_accepts() {
        for src in [
            "<speak>a>b</speak>",
            "<a x=\"a>b\"/>",
            "<?xml version=\"1.0\"?><a/>",
            "\u{feff}<?xml version=\"1.0\" encoding='utf-8' standalone=\"yes\" ?>\n<a/>",
            "<a/> <!-- c --> <?pi x?> ",
            "<!-- c --><!DOCTYPE a SYSTEM \"x.dtd\"><a/>",
            "<a>&#x10FFFF;&#0065;</a>",
            "<a><?p?><?p x?y?><?xml-foo?></a>",
            "<a><!----><!-- - --></a>",
            "<a><![CDATA[]]><![CDATA[a]]]></a>",
            "<a\n x = \"1\"\n/>",
            "<a></a >",
            "<é·/>",
            "<a xmlns=\"\"/>",
            "<a>]]</a>",
        ] {
            ok(src);
        }
    }

    #[test]
    fn errors_carry_positions() {
        let e = err("<a>\n  <b></c></a>");
        assert_eq!(e.message, "mismatched tag");
        assert_eq!((e.line, e.column, e.offset), (2, 6, 9));
        let e = err("<speak voice='test'>unclosed");
        assert_eq!(e.message, "no element found");
        assert_eq!((e.line, e.column), (1, 29));
    }

    #[test]
    fn spans_point_at_names_and_values() {
        let src = "<speak voice=\"V\" gender='male'><action>x</action>y</speak>";
        let doc = ok(src);
        let voice = doc.root.attribute("voice").expect("voice");
        assert_eq!(&src[voice.span.range.clone()], "voice=\"V\"");
        assert_eq!(&src[voice.value_span.range.clone()], "V");
        let action = &doc.root.children[0];
        assert_eq!(&src[action.span.range.clone()], "<action>x</action>");
        assert_eq!(&src[action.name_span.range.clone()], "action");
        assert_eq!(&src[doc.root.span.range.clone()], src);
    }
}
