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
// The parity runner (reference cases, the one tensor metric) is for tests, examples and tools only: it is
// not in the production library. `--features parity` turns it on outside this crate's own unit tests.
#[cfg(any(test, feature = "parity"))]
pub mod parity;
pub mod pth;
pub mod seedvc;
pub mod vocoder;
pub mod weights;
pub mod whisper;
