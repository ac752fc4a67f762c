//! Reusable audio signal processing for the model ports: windows, STFT and mel spectrograms,
//! Slaney/HTK mel filterbanks, torchaudio's sinc resampler, and the Kaiser-/Hann-sinc FIR
//! up/down-samplers of the BigVGAN-style vocoder.
//!
//! Each function states which torch/torchaudio call it reproduces; the unit tests hold them to values
//! printed by those calls.

pub mod mel;
pub mod resample;
pub mod stft;
pub mod window;

pub use mel::{MelNorm, MelScale, apply_filterbank, hz_to_mel, mel_filterbank, mel_to_hz};
pub use resample::{
    FirDownsampler, FirUpsampler, SincResampler, SincWindow, hann_sinc_upsample_filter, kaiser_sinc_filter,
    resample,
};
pub use stft::{MelConfig, MelSpectrogram, PadMode, Spectrogram, Stft};
pub use window::{bessel_i0, hann_window, kaiser_window, sinc};
