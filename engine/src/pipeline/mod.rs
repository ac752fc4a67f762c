//! The render pipeline: from a checked script to a take (48 kHz stereo plus its generation record).

pub mod layout;
pub mod model;
pub mod postprocess;
pub mod render;
pub mod scenema;
pub mod separation;
pub mod test_model;
pub mod test_model_seedvc;
pub mod test_separator;
pub mod waveform;

pub use model::{AudioModel, Latent, LoadReport, ModelError, ModelInfo, TextConditioning};
pub use render::{GenerationRecord, RenderMode, RenderRequest, Take, render};
pub use waveform::Waveform;
