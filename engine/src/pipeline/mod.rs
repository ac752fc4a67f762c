//! The render pipeline: from a checked script to a take. [`render`] plans the chunks, has the voice engine
//! (`crate::engines`) render each with voice continuity, runs the post stages (`crate::stages`), and joins
//! and cleans the audio into a [`Take`] with its generation record.

pub mod postprocess;
pub mod render;

pub use render::{GenerationRecord, RenderMode, RenderRequest, Take, render};
