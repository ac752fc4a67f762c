//! The prompt-language error type.

use super::parser::ParseError;

/// Why a script could not be compiled or planned.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PromptError {
    /// The XML is not well-formed.
    #[error("Invalid XML: {0}")]
    Parse(#[from] ParseError),
    /// The script failed validation; `errors` are the validator's messages in order. The message
    /// reads like the reference's `ValueError("Invalid prompt: " + "; ".join(errors))`.
    #[error("Invalid prompt: {}", .errors.join("; "))]
    Invalid {
        /// The validator's error messages.
        errors: Vec<String>,
        /// 1-based line of the first error.
        line: usize,
        /// 1-based column (in characters) of the first error.
        column: usize,
    },
    /// `pace` must lie in the planner's `PACE_RANGE` (0.5 to 3.0).
    #[error("pace must be from 0.5 to 3.0 (1.5 is the reference default), got {0}")]
    InvalidPace(f64),
    /// A seed is `-1` (random) or not negative.
    #[error("seed must be -1 (a random seed) or 0 or more, got {0}")]
    InvalidSeed(i64),
    /// `base_seed + i * 1000` does not fit into an `i64` for every chunk.
    #[error("seed {base_seed} is too large for {chunks} chunks (chunk i uses seed + i*1000)")]
    SeedOverflow {
        /// The base seed.
        base_seed: i64,
        /// How many chunks were planned.
        chunks: usize,
    },
}

impl PromptError {
    /// 1-based line of the problem, when it has one.
    pub fn line(&self) -> Option<usize> {
        match self {
            Self::Parse(e) => Some(e.line),
            Self::Invalid { line, .. } => Some(*line),
            Self::InvalidPace(_) | Self::InvalidSeed(_) | Self::SeedOverflow { .. } => None,
        }
    }

    /// 1-based column (in characters) of the problem, when it has one.
    pub fn column(&self) -> Option<usize> {
        match self {
            Self::Parse(e) => Some(e.column),
            Self::Invalid { column, .. } => Some(*column),
            Self::InvalidPace(_) | Self::InvalidSeed(_) | Self::SeedOverflow { .. } => None,
        }
    }
}
