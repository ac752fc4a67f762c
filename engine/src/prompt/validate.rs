//! Script validation: the reference's rules and exact messages (`S: validator.py::validate_prompt`,
//! spec §3.1), plus our authoring warnings.
//!
//! Errors come first, in the reference's order. Warnings never make a script invalid; they follow,
//! sorted by position. The warnings that need timing (a sentence too long for one chunk) are the
//! planner's (`plan::lints`); `check::check` reports both.

use std::ops::Range;

use serde::Serialize;

use super::parser::{Document, parse};
use super::pystr::{py_strip, py_word_count};
use super::span::{LineIndex, Span};

/// Attributes `<speak>` accepts.
pub const ALLOWED_ATTRIBUTES: [&str; 5] = ["voice", "scene", "language", "gender", "shot"];
/// Elements allowed inside `<speak>`.
pub const ALLOWED_CHILDREN: [&str; 2] = ["action", "sound"];
/// The `gender` values the validator accepts (after stripping whitespace).
pub const GENDERS: [&str; 2] = ["male", "female"];
/// The `shot` values the compiler knows.
pub const SHOTS: [&str; 3] = ["closeup", "wide", "scene"];
/// Language codes offered by the reference UIs (the Gradio app's 20 plus Swahili from ComfyUI).
pub const KNOWN_LANGUAGES: [&str; 21] = [
    "en", "es", "fr", "de", "it", "pt", "ru", "ja", "ko", "zh", "ar", "hi", "nl", "pl", "tr", "sv", "da",
    "fi", "th", "vi", "sw",
];
/// Scenes with more words than this may be read aloud (prompt guide: "keep it to 3-5 words").
pub const MAX_SCENE_WORDS: usize = 5;

/// How serious a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The script is invalid (a reference validator rule).
    Error,
    /// The script is valid but probably not what the author wants.
    Warning,
}

/// One finding about a script.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// What is wrong; errors use the reference's exact wording.
    pub message: String,
    /// 1-based line of `span.start`.
    pub line: usize,
    /// 1-based column of `span.start`, in characters.
    pub column: usize,
    /// Byte range in the source.
    pub span: Range<usize>,
}

impl Diagnostic {
    pub(crate) fn new(severity: Severity, message: impl Into<String>, span: &Span) -> Self {
        Self {
            severity,
            message: message.into(),
            line: span.line,
            column: span.column,
            span: span.range.clone(),
        }
    }
}

/// The reference's `ValidationResult`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ValidationResult {
    /// No errors.
    pub valid: bool,
    /// Error messages in the reference's order.
    pub errors: Vec<String>,
    /// `voice`, stripped (only when valid).
    pub voice: Option<String>,
    /// `scene`, stripped; `None` when absent or empty (only when valid).
    pub scene: Option<String>,
    /// `language`, stripped, default `en`; `None` when empty (only when valid).
    pub language: Option<String>,
}

/// Validates a script: reference errors, then the warnings that need no timing.
pub fn validate(src: &str) -> Vec<Diagnostic> {
    let checked = check_reference(src);
    let mut out = checked.errors;
    if let Some(doc) = &checked.doc {
        out.extend(warnings(doc));
    }
    out
}

/// The reference validator, result for result (`validate_prompt`).
pub fn validate_reference(src: &str) -> ValidationResult {
    let checked = check_reference(src);
    if !checked.errors.is_empty() {
        return ValidationResult {
            valid: false,
            errors: checked.errors.into_iter().map(|d| d.message).collect(),
            voice: None,
            scene: None,
            language: None,
        };
    }
    let root = checked.doc.as_ref().map(|d| &d.root);
    let non_empty = |v: Option<&str>| v.filter(|v| !v.is_empty()).map(|v| py_strip(v).to_owned());
    ValidationResult {
        valid: true,
        errors: Vec::new(),
        voice: non_empty(root.and_then(|r| r.get("voice"))),
        scene: non_empty(root.and_then(|r| r.get("scene"))),
        language: non_empty(root.map(|r| r.get("language").unwrap_or("en"))),
    }
}

/// Reference errors plus the parsed document (when it parsed and its root is `<speak>`).
pub(crate) struct Checked {
    pub(crate) errors: Vec<Diagnostic>,
    pub(crate) doc: Option<Document>,
}

pub(crate) fn check_reference(src: &str) -> Checked {
    let index = LineIndex::new(src);
    let error = |message: String, span: &Span| Diagnostic::new(Severity::Error, message, span);
    if py_strip(src).is_empty() {
        return Checked {
            errors: vec![error("Prompt is empty".into(), &index.span(0..src.len()))],
            doc: None,
        };
    }
    let doc = match parse(src) {
        Ok(doc) => doc,
        Err(e) => {
            let end = src[e.offset..].chars().next().map_or(e.offset, |c| e.offset + c.len_utf8());
            return Checked {
                errors: vec![error(format!("Invalid XML: {e}"), &index.span(e.offset..end))],
                doc: None,
            };
        }
    };
    let root = &doc.root;
    if root.tag != "speak" {
        let message = format!("Root element must be <speak>, got <{}>", root.tag);
        return Checked { errors: vec![error(message, &root.name_span)], doc: None };
    }
    let mut errors = Vec::new();
    let attr_span = |name: &str| root.attribute(name).map_or(&root.name_span, |a| &a.span);
    if root.get("voice").is_none_or(|v| py_strip(v).is_empty()) {
        errors.push(error("Missing required 'voice' attribute on <speak>".into(), attr_span("voice")));
    }
    if root.get("gender").is_none_or(|g| g.is_empty() || !GENDERS.contains(&py_strip(g))) {
        let message = "Missing or invalid 'gender' attribute on <speak>. Must be 'male' or 'female'";
        errors.push(error(message.into(), attr_span("gender")));
    }
    for attr in &root.attributes {
        if !ALLOWED_ATTRIBUTES.contains(&attr.name.as_str()) {
            errors.push(error(format!("Unknown attribute '{}' on <speak>", attr.name), &attr.name_span));
        }
    }
    for child in &root.children {
        if !ALLOWED_CHILDREN.contains(&child.tag.as_str()) {
            let message = format!(
                "Unsupported tag <{}>. Only <action> and <sound> are allowed inside <speak>",
                child.tag
            );
            errors.push(error(message, &child.name_span));
        }
        if let Some(nested) = child.children.first() {
            let message = format!("<{}> must contain only text, no nested elements", child.tag);
            errors.push(error(message, &nested.span));
        }
    }
    let has_text = !py_strip(root.text_str()).is_empty()
        || root.children.iter().any(|c| !py_strip(c.tail_str()).is_empty());
    if !has_text {
        errors.push(error("Prompt must contain at least one speech text node".into(), &root.start_tag));
    }
    Checked { errors, doc: Some(doc) }
}

/// Our authoring warnings for a `<speak>` document.
pub(crate) fn warnings(doc: &Document) -> Vec<Diagnostic> {
    let root = &doc.root;
    let mut out = Vec::new();
    let warn = |message: String, span: &Span| Diagnostic::new(Severity::Warning, message, span);

    let shot = py_strip(root.get("shot").unwrap_or("closeup"));
    if let Some(attr) = root.attribute("shot")
        && !SHOTS.contains(&shot)
    {
        out.push(warn(
            format!("Unknown shot \"{shot}\": it is treated as \"closeup\" (use closeup, wide or scene)"),
            &attr.value_span,
        ));
    }
    let language = py_strip(root.get("language").unwrap_or("en"));
    if let Some(attr) = root.attribute("language")
        && !KNOWN_LANGUAGES.contains(&language)
    {
        out.push(warn(
            format!(
                "Unknown language \"{language}\": the tested codes are {}; Whisper validation fails for codes it does not know",
                KNOWN_LANGUAGES.join(", ")
            ),
            &attr.value_span,
        ));
    }
    if let Some(attr) = root.attribute("scene") {
        let words = py_word_count(&attr.value);
        if words > MAX_SCENE_WORDS {
            out.push(warn(
                format!(
                    "Scene has {words} words: keep it to about {MAX_SCENE_WORDS} or the model may speak it aloud"
                ),
                &attr.value_span,
            ));
        }
    }
    let scene_mode = shot == "wide" || shot == "scene";
    for child in &root.children {
        let blank = py_strip(child.text_str()).is_empty();
        match child.tag.as_str() {
            "sound" if !blank && !scene_mode => out.push(warn(
                "<sound> has no effect in a closeup shot: sound events are heard only with shot=\"wide\" or shot=\"scene\""
                    .into(),
                &child.span,
            )),
            "action" | "sound" if blank && child.children.is_empty() => {
                out.push(warn(format!("Empty <{}> is ignored", child.tag), &child.span));
            }
            _ => {}
        }
    }
    out.sort_by_key(|d| d.span.start);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(src: &str, severity: Severity) -> Vec<String> {
        validate(src).into_iter().filter(|d| d.severity == severity).map(|d| d.message).collect()
    }

    #[test]
    fn reference_rules_in_order() {
        let src = "<speak mood=\"x\" voice=\" \"><emotion><b/></emotion></speak>";
        assert_eq!(
            messages(src, Severity::Error),
            [
                "Missing required 'voice' attribute on <speak>",
                "Missing or invalid 'gender' attribute on <speak>. Must be 'male' or 'female'",
                "Unknown attribute 'mood' on <speak>",
                "Unsupported tag <emotion>. Only <action> and <sound> are allowed inside <speak>",
                "<emotion> must contain only text, no nested elements",
                "Prompt must contain at least one speech text node",
            ]
        );
        let r = validate_reference(
            "<speak voice=\" V \" gender=\" female \" scene=\" \" language=\"\">Hi</speak>",
        );
        assert!(r.valid);
        assert_eq!((r.voice.as_deref(), r.scene.as_deref(), r.language), (Some("V"), Some(""), None));
    }

    #[test]
    fn error_spans_point_at_the_culprit() {
        let src = "<speak voice=\"V\" gender=\"other\">Hi<emotion>x</emotion></speak>";
        let d = validate(src);
        assert_eq!(&src[d[0].span.clone()], "gender=\"other\"");
        assert_eq!(&src[d[1].span.clone()], "emotion");
        assert_eq!((d[1].line, d[1].column), (1, 36));
        let d = validate("<speak>\n  <broken");
        assert!(d[0].message.starts_with("Invalid XML: "));
    }

    #[test]
    fn warnings() {
        let src = "<speak voice=\"V\" gender=\"male\" shot=\"banana\" language=\"xx\" \
                   scene=\"a man telling you a story in a bar\"><sound>Door</sound>Hi.<action/></speak>";
        let w = messages(src, Severity::Warning);
        assert_eq!(w.len(), 5, "{w:#?}");
        assert!(w[0].starts_with("Unknown shot \"banana\""));
        assert!(w[1].starts_with("Unknown language \"xx\""));
        assert!(w[2].starts_with("Scene has 9 words"));
        assert!(w[3].starts_with("<sound> has no effect"));
        assert_eq!(w[4], "Empty <action> is ignored");
        assert!(messages(src, Severity::Error).is_empty());
    }
}
