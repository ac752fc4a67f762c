//! Pure-compute candle modules for the Scenema Audio generation path (LTX-2.3 audio) and its post-processing
//! models (MelBandRoFormer vocal separation).
//!
//! Knows nothing of projects, UI or files beyond safetensors checkpoints.

pub use candle_core as candle;

pub mod audio_vae;
pub mod dsp;
pub mod gemma;
pub mod ltx;
pub mod mel_band_roformer;
pub mod parity;
pub mod pth;
pub mod seedvc;
pub mod vocoder;
pub mod weights;
pub mod whisper;
