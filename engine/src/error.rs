//! The engine's one error type: what the loader, the render pipeline and the engine thread report, carried
//! by [`crate::runtime::EngineEvent`]. The app turns it into words for people (`promptbook::messages`).

use crate::prompt::PromptError;

/// Why a voice engine's call did not produce a result.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("cancelled")]
    Cancelled,
    /// The device ran out of memory (the backend's message).
    #[error("out of memory: {0}")]
    OutOfMemory(String),
    /// A tensor operation failed.
    #[error(transparent)]
    Tensor(promptbook_models::candle::Error),
    #[error("{0}")]
    Failed(String),
}

impl ModelError {
    /// A failure from its message, told apart when the device ran out of memory.
    pub fn from_message(message: String) -> Self {
        if is_out_of_memory(&message) { Self::OutOfMemory(message) } else { Self::Failed(message) }
    }
}

impl From<promptbook_models::candle::Error> for ModelError {
    fn from(err: promptbook_models::candle::Error) -> Self {
        let message = err.to_string();
        if is_out_of_memory(&message) { Self::OutOfMemory(message) } else { Self::Tensor(err) }
    }
}

/// Why a command on the engine did not produce its result.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A render was asked for while no model is loaded (never loaded, or lost to a panic).
    #[error("no model is loaded")]
    NoModel,
    /// The request's settings are out of range (pace, seed).
    #[error("{0}")]
    InvalidSettings(PromptError),
    /// The engine controls do not fit the engine (a control it lacks, a value out of range).
    #[error("{0}")]
    InvalidControls(String),
    /// The script does not validate; each problem as `line:column: message`.
    #[error("the script has errors: {}", .problems.join("; "))]
    InvalidScript { problems: Vec<String> },
    /// The model failed on one chunk (0-based).
    #[error("chunk {}: {source}", .chunk + 1)]
    Model {
        chunk: usize,
        #[source]
        source: ModelError,
    },
    /// The device ran out of memory: while rendering `chunk` (0-based), or while loading (`None`).
    #[error("out of memory{}: {message}", .chunk.map_or(String::new(), |c| format!(" on chunk {}", c + 1)))]
    OutOfMemory { chunk: Option<usize>, message: String },
    /// A command panicked; the engine dropped the model, since its state is unknown.
    #[error("internal error: {message}")]
    Panic { message: String },
    /// The render was cancelled.
    #[error("cancelled")]
    Cancelled,
    /// Model files are missing (the message names them and where they were looked for).
    #[error("{0}")]
    MissingFiles(String),
    /// The device could not be opened.
    #[error("{0}")]
    Device(String),
    /// The model files are there but could not be loaded.
    #[error("{0}")]
    Load(String),
    /// Reload was asked for before any model was loaded.
    #[error("there is no model to reload: load one first")]
    NothingToReload,
}

impl EngineError {
    /// A load failure from its message, told apart when the device ran out of memory.
    pub fn load(message: String) -> Self {
        if is_out_of_memory(&message) {
            Self::OutOfMemory { chunk: None, message }
        } else {
            Self::Load(message)
        }
    }

    /// A model failure on `chunk`, with out of memory and cancel lifted out of it.
    pub fn from_model(chunk: usize, source: ModelError) -> Self {
        match source {
            ModelError::Cancelled => Self::Cancelled,
            ModelError::OutOfMemory(message) => Self::OutOfMemory { chunk: Some(chunk), message },
            source => Self::Model { chunk, source },
        }
    }
}

/// Whether a backend's error message means the device ran out of memory (candle passes CUDA's
/// `CUDA_ERROR_OUT_OF_MEMORY` and Metal's allocation failures through as text).
pub fn is_out_of_memory(message: &str) -> bool {
    let message = message.to_ascii_lowercase();
    ["out of memory", "out_of_memory", "outofmemory", "failed to allocate"]
        .iter()
        .any(|m| message.contains(m))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_memory_is_told_apart_from_other_failures() {
        let cuda = "DriverError(CUDA_ERROR_OUT_OF_MEMORY, \"out of memory\")";
        assert!(is_out_of_memory(cuda));
        assert!(matches!(EngineError::load(cuda.into()), EngineError::OutOfMemory { chunk: None, .. }));
        assert!(matches!(EngineError::load("shape mismatch".into()), EngineError::Load(_)));
        let oom = EngineError::from_model(2, ModelError::from_message(cuda.into()));
        assert!(matches!(oom, EngineError::OutOfMemory { chunk: Some(2), .. }));
        assert!(oom.to_string().starts_with("out of memory on chunk 3: "), "{oom}");
        let failed = EngineError::from_model(0, ModelError::Failed("bad tensor".into()));
        assert_eq!(failed.to_string(), "chunk 1: bad tensor");
        assert!(matches!(EngineError::from_model(4, ModelError::Cancelled), EngineError::Cancelled));
    }
}
