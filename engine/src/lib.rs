//! The Promptbook engine: the prompt language, chunk planning, the model store, audio I/O, the clip
//! checker, and the render pipeline with its engine thread.

pub mod audio;
pub mod check;
pub mod clip_check;
pub mod error;
pub mod memory;
pub mod pipeline;
pub mod plan;
pub mod presets;
pub mod prompt;
pub mod runtime;
pub mod store;
pub mod text;
pub mod validation;
pub mod voice_conversion;
