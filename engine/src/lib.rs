//! The Promptbook engine: the prompt language, chunk planning, and (later) the render pipeline.

pub mod text;
pub mod store;
