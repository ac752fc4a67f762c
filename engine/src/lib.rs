//! The Promptbook engine: the prompt language, chunk planning, the model store, audio I/O, the clip
//! checker, the voice engines (`engines/`), the post stages (`stages/`), and the render pipeline with its
//! engine thread.

pub mod audio;
pub mod check;
pub mod clip_check;
pub mod device;
pub mod engines;
pub mod error;
pub mod memory;
pub mod noise;
pub mod pipeline;
pub mod plan;
pub mod presets;
pub mod prompt;
pub mod runtime;
pub mod stages;
pub mod store;
pub mod test_weights;
pub mod text;
