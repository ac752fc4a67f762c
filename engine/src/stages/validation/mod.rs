//! Hearing a take back: Whisper transcription (candle, `promptbook_models::whisper`) and the reference's
//! word-match score (postprocessing-spec §3.2).
//!
//! - [`word_match`]: the score of a transcript against the text it should say (NFD, no Mn, Python `\w`, sets).
//! - [`Transcriber`]: `openai/whisper-small` from the store, decoding as the reference's faster-whisper call
//!   does (beam 5, best-of 5, the temperature fallback and its thresholds, previous-text prompts), with
//!   `<|notimestamps|>` and without the Silero VAD (the transcript need not be the reference's, only the
//!   decoding rules).
//! - [`align`]: the Needleman–Wunsch word labelling of the reference's (disabled) hallucination trim.
//!
//! The retry loop around a render (§3.3) is not here: it belongs to the pipeline.

pub mod align;
pub mod fallback;
pub mod test_model;
pub mod tokenizer;
pub mod transcribe;
pub mod word_match;

pub use align::{Alignment, fuzzy_match, needleman_wunsch, normalize_words};
pub use fallback::{Attempt, Chosen, FallbackRules, compression_ratio, decode_with_fallback};
pub use tokenizer::WhisperTokenizer;
pub use transcribe::{Segment, TranscribeOptions, Transcriber, Transcript, WhisperFiles};
pub use word_match::{DEFAULT_MIN_RATIO, WordMatch, is_py_word, match_words, word_match};

/// Why a transcription could not run.
#[derive(Debug, thiserror::Error)]
pub enum ValidationError {
    /// Whisper's files are not in the store.
    #[error(
        "Whisper model files missing in {}: {}; run `promptbook models download --optional` (or `promptbook models make-test-model DIR` for a tiny random model)",
        source_dir.display(),
        missing.join(", ")
    )]
    MissingModel {
        /// `org/name/file` of each missing file.
        missing: Vec<String>,
        /// Where they were looked for.
        source_dir: std::path::PathBuf,
    },
    /// A language code Whisper has no token for.
    #[error("Whisper does not know the language {code:?}; use one of: {}", known.join(" "))]
    UnknownLanguage {
        /// What was asked for.
        code: String,
        /// Every code the model knows.
        known: Vec<String>,
    },
    /// The tokenizer file is unusable.
    #[error("Whisper tokenizer: {0}")]
    Tokenizer(String),
    /// Loading or running the model failed.
    #[error("Whisper: {0}")]
    Model(#[from] promptbook_models::candle::Error),
    /// The audio could not be converted to 16 kHz mono.
    #[error("Whisper input: {0}")]
    Audio(#[from] crate::audio::AudioError),
}
