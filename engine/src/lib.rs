//! The Promptbook engine: the prompt language, chunk planning, and (later) the render pipeline.

pub mod audio;
pub mod clip_check;
