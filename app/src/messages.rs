//! What people are told when the engine fails: the one place an [`EngineError`] becomes words, shared by
//! the command line and the studio.

use promptbook_engine::error::EngineError;

/// Where to get a model, for every place that finds none.
pub const NO_MODEL_HELP: &str = "No model is loaded. Install the Scenema Audio weights with \
    `promptbook models download`, or use a folder that already has them with `--models-dir DIR` \
    (or PROMPTBOOK_MODELS_DIR); `promptbook models status` shows what is missing.";

/// The message for `error`, as one or two plain sentences.
pub fn engine_error(error: &EngineError) -> String {
    match error {
        EngineError::NoModel => NO_MODEL_HELP.into(),
        EngineError::InvalidSettings(why) => why.to_string(),
        EngineError::InvalidScript { problems } => {
            format!("the script has errors (nothing was rendered): {}", problems.join("; "))
        }
        EngineError::Model { chunk, source } => format!("the model failed on chunk {}: {source}", chunk + 1),
        EngineError::OutOfMemory { chunk: Some(chunk), message } => format!(
            "the device ran out of memory on chunk {} ({message}); close other programs using it, \
             render a shorter script, or run on the CPU",
            chunk + 1
        ),
        EngineError::OutOfMemory { chunk: None, message } => format!(
            "the device ran out of memory while loading the model ({message}); close other programs \
             using it, or run on the CPU"
        ),
        EngineError::Panic { message } => format!(
            "internal error ({message}): the model was unloaded, since its state is unknown; \
             Reload model loads it again"
        ),
        EngineError::Cancelled => "cancelled".into(),
        EngineError::MissingFiles(message)
        | EngineError::Device(message)
        | EngineError::Load(message)
        | EngineError::InvalidControls(message) => message.clone(),
        EngineError::NothingToReload => "there is no model to reload: load one first".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use promptbook_engine::error::ModelError;
    use promptbook_engine::prompt::PromptError;

    #[test]
    fn every_error_reads_as_a_sentence_with_what_to_do() {
        assert_eq!(engine_error(&EngineError::NoModel), NO_MODEL_HELP);
        let oom = EngineError::OutOfMemory { chunk: Some(1), message: "CUDA_ERROR_OUT_OF_MEMORY".into() };
        assert!(engine_error(&oom).contains("out of memory on chunk 2"));
        let model = EngineError::Model { chunk: 0, source: ModelError::Failed("bad shape".into()) };
        assert_eq!(engine_error(&model), "the model failed on chunk 1: bad shape");
        let panic = EngineError::Panic { message: "boom".into() };
        assert!(engine_error(&panic).contains("boom") && engine_error(&panic).contains("Reload model"));
        let seed = EngineError::InvalidSettings(PromptError::InvalidSeed(-5));
        assert_eq!(engine_error(&seed), "seed must be -1 (a random seed) or 0 or more, got -5");
    }
}
