//! `<speak>` script → the flat, video-style prompt the audio model reads.
//!
//! Byte-exact port of the reference compiler (`S: src/audio_core/compiler.py`): block extraction,
//! `_compile_blocks`, `compile_prompt`, `compile_chunk_prompt`, `extract_speech_text` and
//! `extract_sentence_actions`. It does not validate: like the reference, `compile_prompt` accepts any
//! well-formed XML (a missing `gender` compiles as `male`).

use std::collections::BTreeMap;

use serde::Serialize;

use super::error::PromptError;
use super::parser::{Document, Element, TextRun, parse};
use super::pystr::{py_strip, py_strip_range};
use super::sentences::{SplitterMode, sentence_ranges};
use super::span::Span;

/// Scene used when the script has none.
pub const DEFAULT_SCENE: &str = "a person speaking to camera";

/// The result of compiling a script (the reference's `CompiledPrompt`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CompiledPrompt {
    /// The prompt for the text encoder.
    pub prompt: String,
    /// The spoken text only (text blocks joined by single spaces).
    pub speech_text: String,
    /// `voice`, stripped.
    pub voice: String,
    /// `scene`, stripped; `Some("")` when present but blank (it then acts as no scene).
    pub scene: Option<String>,
    /// `language`, stripped; `en` when absent.
    pub language: String,
    /// `gender`, stripped; `male` when absent.
    pub gender: String,
    /// `shot`, stripped; `closeup` when absent.
    pub shot: String,
}

/// What a block of the script is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BlockKind {
    /// Spoken text.
    Text,
    /// An `<action>` performance direction.
    Action,
    /// A `<sound>` event.
    Sound,
}

/// One block of a script in document order, with its text stripped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// Text, action or sound.
    pub kind: BlockKind,
    /// The stripped text.
    pub text: String,
    /// Where it is: the text itself, or the whole `<action>`/`<sound>` element.
    pub span: Span,
}

/// The blocks of a document (`_extract_blocks`): the root's text, then for every child a non-blank
/// `<action>` or `<sound>` and the child's tail. Other tags contribute only their tail.
pub fn blocks(doc: &Document) -> Vec<Block> {
    let mut out = Vec::new();
    let root = &doc.root;
    push_text_block(root.text.as_ref(), &mut out);
    for child in &root.children {
        let kind = match child.tag.as_str() {
            "action" => Some(BlockKind::Action),
            "sound" => Some(BlockKind::Sound),
            _ => None,
        };
        let text = py_strip(child.text_str());
        if let Some(kind) = kind
            && !text.is_empty()
        {
            out.push(Block { kind, text: text.to_owned(), span: child.span.clone() });
        }
        push_text_block(child.tail.as_ref(), &mut out);
    }
    out
}

fn push_text_block(run: Option<&TextRun>, out: &mut Vec<Block>) {
    let Some(run) = run else { return };
    let inner = py_strip_range(&run.text);
    if inner.is_empty() {
        return;
    }
    let span = run.span_of(inner.clone());
    out.push(Block { kind: BlockKind::Text, text: run.text[inner].to_owned(), span });
}

/// `_ensure_trailing_punctuation`: appends `.` unless the text is empty or ends in `.!?"'`.
fn punctuate(text: &str) -> String {
    match text.chars().last() {
        Some(c) if !".!?\"'".contains(c) => format!("{text}."),
        _ => text.to_owned(),
    }
}

/// `_compile_blocks`.
pub fn compile_blocks(
    blocks: &[(BlockKind, &str)],
    voice: &str,
    scene: Option<&str>,
    gender: &str,
    shot: &str,
) -> String {
    let scene_mode = shot == "scene" || shot == "wide";
    let pronoun = if gender == "female" { "She" } else { "He" };
    let scene = scene.filter(|s| !s.is_empty());
    let scene_text = scene.unwrap_or(DEFAULT_SCENE);
    let prefix = match shot {
        "wide" => "Wide shot of",
        "scene" => "",
        _ => "Close-up in",
    };
    let mut parts = Vec::with_capacity(blocks.len() + 3);
    parts.push(if prefix.is_empty() { format!("{scene_text}.") } else { format!("{prefix} {scene_text}.") });
    let has_action = blocks.iter().any(|(kind, _)| *kind == BlockKind::Action);
    let mut first_speech = true;
    for &(kind, text) in blocks {
        match kind {
            BlockKind::Sound => parts.push(punctuate(text)),
            BlockKind::Action if scene_mode => parts.push(format!("{text}:")),
            BlockKind::Action => parts.push(punctuate(text)),
            BlockKind::Text => {
                let clean = punctuate(text);
                if scene_mode && first_speech && !has_action {
                    parts.push(format!("{pronoun} speaks: \"{clean}\""));
                } else {
                    parts.push(format!("\"{clean}\""));
                }
                first_speech = false;
            }
        }
    }
    parts.push(punctuate(voice));
    if scene_mode && let Some(scene) = scene {
        parts.push(punctuate(scene));
    }
    parts.join(" ")
}

/// Attribute value stripped, or `default` when absent.
fn attr_or<'a>(root: &'a Element, name: &str, default: &'a str) -> &'a str {
    py_strip(root.get(name).unwrap_or(default))
}

/// Compiles a parsed document (no validation).
pub fn compile_document(doc: &Document) -> CompiledPrompt {
    let root = &doc.root;
    let voice = attr_or(root, "voice", "").to_owned();
    let scene = root.get("scene").map(|s| py_strip(s).to_owned());
    let language = attr_or(root, "language", "en").to_owned();
    let gender = attr_or(root, "gender", "male").to_owned();
    let shot = attr_or(root, "shot", "closeup").to_owned();
    let blocks = blocks(doc);
    let refs: Vec<(BlockKind, &str)> = blocks.iter().map(|b| (b.kind, b.text.as_str())).collect();
    let prompt = compile_blocks(&refs, &voice, scene.as_deref(), &gender, &shot);
    CompiledPrompt { prompt, speech_text: speech_text_of(&blocks), voice, scene, language, gender, shot }
}

fn speech_text_of(blocks: &[Block]) -> String {
    let texts: Vec<&str> =
        blocks.iter().filter(|b| b.kind == BlockKind::Text).map(|b| b.text.as_str()).collect();
    texts.join(" ")
}

/// `compile_prompt`: parses and compiles a script. Fails only when the XML is not well-formed.
pub fn compile_prompt(xml: &str) -> Result<CompiledPrompt, PromptError> {
    Ok(compile_document(&parse(xml)?))
}

/// `extract_speech_text`: only the spoken text, blocks joined by single spaces.
pub fn extract_speech_text(xml: &str) -> Result<String, PromptError> {
    Ok(speech_text_of(&blocks(&parse(xml)?)))
}

/// `compile_chunk_prompt`: the prompt for one planned chunk.
pub fn compile_chunk_prompt(
    speech_text: &str,
    voice: &str,
    scene: Option<&str>,
    actions_before: &[String],
    actions_after: &[String],
    gender: &str,
    shot: &str,
) -> String {
    let mut blocks: Vec<(BlockKind, &str)> =
        Vec::with_capacity(actions_before.len() + actions_after.len() + 1);
    blocks.extend(actions_before.iter().map(|a| (BlockKind::Action, a.as_str())));
    blocks.push((BlockKind::Text, speech_text));
    blocks.extend(actions_after.iter().map(|a| (BlockKind::Action, a.as_str())));
    compile_blocks(&blocks, voice, scene, gender, shot)
}

/// `extract_sentence_actions`: maps a sentence index (counted per text block, across the whole
/// script) to the actions written just before it. Actions after the last text are dropped.
pub fn extract_sentence_actions(xml: &str) -> Result<BTreeMap<usize, Vec<String>>, PromptError> {
    Ok(sentence_actions(&parse(xml)?, SplitterMode::Reference))
}

/// [`extract_sentence_actions`] on a parsed document, with a choice of sentence splitter.
pub fn sentence_actions(doc: &Document, mode: SplitterMode) -> BTreeMap<usize, Vec<String>> {
    let mut map = BTreeMap::new();
    let mut pending: Vec<String> = Vec::new();
    let mut index = 0;
    for block in blocks(doc) {
        match block.kind {
            BlockKind::Action => pending.push(block.text),
            BlockKind::Sound => {}
            BlockKind::Text => {
                let count = sentence_ranges(&block.text, mode).len();
                if !pending.is_empty() && count > 0 {
                    map.insert(index, std::mem::take(&mut pending));
                }
                index += count;
            }
        }
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scene_mode_and_punctuation() {
        let c = compile_prompt(
            "<speak voice=\"V\" gender=\"female\" scene=\"Rain.\" shot=\"wide\">Hi<sound>Thunder</sound>Go!</speak>",
        )
        .expect("compiles");
        // The head is not punctuation-aware (A21): "Rain.." is faithful.
        assert_eq!(c.prompt, "Wide shot of Rain.. She speaks: \"Hi.\" Thunder. \"Go!\" V. Rain.");
        assert_eq!(c.speech_text, "Hi Go!");
    }

    #[test]
    fn blank_scene_is_kept_but_ignored() {
        let c = compile_prompt("<speak voice=\"V\" scene=\"  \" shot=\"scene\">Hello.</speak>")
            .expect("compiles");
        assert_eq!(c.scene.as_deref(), Some(""));
        assert_eq!(c.prompt, "a person speaking to camera. He speaks: \"Hello.\" V.");
    }

    #[test]
    fn unknown_tags_contribute_their_tail() {
        let xml = "<speak voice=\"V\"><x>ignored</x>Kept.<action> </action>Also.</speak>";
        assert_eq!(extract_speech_text(xml).expect("parses"), "Kept. Also.");
    }

    #[test]
    fn sentence_actions_drift_per_block() {
        let xml = "<speak voice=\"V\"><action>a</action>One<action>x</action>Two.</speak>";
        let map = extract_sentence_actions(xml).expect("parses");
        assert_eq!(
            map.into_iter().collect::<Vec<_>>(),
            [(0, vec!["a".to_owned()]), (1, vec!["x".to_owned()])]
        );
    }

    #[test]
    fn text_block_spans_cover_the_stripped_text() {
        let src = "<speak voice=\"V\">\n  Hello &amp; bye.\n</speak>";
        let doc = parse(src).expect("parses");
        let b = blocks(&doc);
        assert_eq!(&src[b[0].span.range.clone()], "Hello &amp; bye.");
    }
}
