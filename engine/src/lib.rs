//! The Promptbook engine: the prompt language, chunk planning, and (later) the render pipeline.
pub mod pipeline;
pub mod runtime;
