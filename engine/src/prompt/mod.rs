//! The `<speak>` prompt language: parsing with spans, validation, and compilation to the flat
//! prompt the audio model reads.
//!
//! The reference is Scenema Audio's `validator.py` and `compiler.py` (spec §2.6, §3.1); this
//! module reproduces them byte for byte and adds source spans and authoring warnings.
//!
//! ```
//! use promptbook_engine::prompt;
//!
//! let xml = r#"<speak voice="Warm narrator" gender="female"><action>She smiles</action>Hello there.</speak>"#;
//! assert!(prompt::validate(xml).is_empty());
//! let compiled = prompt::compile_prompt(xml).unwrap();
//! assert_eq!(compiled.prompt, "Close-up in a person speaking to camera. She smiles. \"Hello there.\" Warm narrator.");
//! ```

pub mod compiler;
mod error;
pub mod parser;
pub mod pystr;
pub mod sentences;
mod span;
pub mod validate;

pub use compiler::{
    Block, BlockKind, CompiledPrompt, compile_chunk_prompt, compile_document, compile_prompt,
    extract_sentence_actions, extract_speech_text,
};
pub use error::PromptError;
pub use parser::{Attribute, Document, Element, ParseError, TextRun, parse};
pub use span::Span;
pub use validate::{Diagnostic, Severity, ValidationResult, validate, validate_reference};
