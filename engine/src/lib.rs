//! The Promptbook engine: the prompt language, chunk planning, the model store, audio I/O, the clip
//! checker, and the render pipeline.

pub mod audio;
pub mod clip_check;
pub mod store;
pub mod text;
