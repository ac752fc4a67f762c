//! The Scenema Audio diffusion core, i.e. the audio path of LTX-2.3 between Gemma's hidden states and a
//! clean audio latent: typed config, split RoPE, attention, the audio-only transformer with its X0 wrapper,
//! the feature extractor and text connector, latent geometry and the distilled sampler.
//!
//! Reference: ltx-core 1.0.0 (`ltx_core/model/transformer/*`, `ltx_core/text_encoders/gemma/*`,
//! `ltx_pipelines/utils/*`), which ltx-audio-spec §0.3 finds identical to the code Scenema runs on every fact
//! used here; the spec (`ltx-audio-spec.md` §1–§5) is the porting reference.

pub mod attention;
pub mod config;
pub mod connector;
pub mod geometry;
pub mod inspect;
pub mod keys;
pub mod rope;
pub mod sampler;
pub mod transformer;

pub use inspect::inspect;
