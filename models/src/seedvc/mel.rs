//! The 22.05 kHz log-mel spectrogram of the DiT and BigVGAN (`modules/audio.py::mel_spectrogram`, spec §5.6):
//! reflect padding of `(n_fft - hop) / 2`, an uncentred STFT with a periodic Hann window, magnitude with a
//! `1e-9` floor inside the root, librosa's Slaney mel basis, `ln(max(·, 1e-5))`.

use candle_core::{Device, Result, Tensor, bail};

use super::config::MelConfig;
use crate::dsp::{MelNorm, MelScale, PadMode, Stft, hann_window, mel_filterbank};

pub struct MelFrontEnd {
    cfg: MelConfig,
    stft: Stft,
    /// `[n_mels][n_freqs]`.
    basis: Vec<f32>,
}

impl MelFrontEnd {
    pub fn new(cfg: &MelConfig) -> Result<Self> {
        if cfg.win_length > cfg.n_fft || cfg.hop_length > cfg.n_fft {
            bail!(
                "Seed-VC mel: window {} / hop {} longer than n_fft {}",
                cfg.win_length,
                cfg.hop_length,
                cfg.n_fft
            );
        }
        let window = hann_window(cfg.win_length, true);
        let stft = Stft::new(cfg.n_fft, cfg.hop_length, &window, false, PadMode::Reflect)?;
        let fmax = cfg.fmax.unwrap_or(f64::from(cfg.sample_rate) / 2.0);
        let basis = mel_filterbank(
            stft.n_freqs(),
            cfg.fmin,
            fmax,
            cfg.n_mels,
            cfg.sample_rate,
            MelScale::Slaney,
            MelNorm::Slaney,
        );
        Ok(Self { cfg: cfg.clone(), stft, basis })
    }

    /// Frames for `n` samples: `⌊n / hop⌋` (with the `(n_fft - hop) / 2` padding on both sides).
    pub fn frames(&self, n: usize) -> usize {
        self.stft.num_frames(n + 2 * self.pad())
    }

    fn pad(&self) -> usize {
        (self.cfg.n_fft - self.cfg.hop_length) / 2
    }

    /// `(1, n_mels, frames)` for one 22.05 kHz channel.
    pub fn compute(&self, wave: &[f32], device: &Device) -> Result<Tensor> {
        let pad = self.pad();
        let n = wave.len();
        if n <= pad {
            bail!(
                "Seed-VC mel: {n} samples is too short ({:.3} s; at least {} samples are needed)",
                n as f64 / f64::from(self.cfg.sample_rate),
                pad + 1
            );
        }
        // Reflect padding without repeating the edge sample (torch `F.pad(mode="reflect")`).
        let mut padded = Vec::with_capacity(n + 2 * pad);
        padded.extend((1..=pad).rev().map(|i| wave[i]));
        padded.extend_from_slice(wave);
        padded.extend((0..pad).map(|i| wave[n - 2 - i]));
        let spec = self.stft.complex(&padded)?;
        let n_freqs = spec.n_freqs;
        let n_mels = self.cfg.n_mels;
        let mut out = vec![0f32; n_mels * spec.n_frames];
        let mut mag = vec![0f64; n_freqs];
        for t in 0..spec.n_frames {
            for (m, c) in mag.iter_mut().zip(&spec.data[t * n_freqs..(t + 1) * n_freqs]) {
                *m = (c.re * c.re + c.im * c.im + 1e-9).sqrt();
            }
            for mel in 0..n_mels {
                let row = &self.basis[mel * n_freqs..(mel + 1) * n_freqs];
                let e: f64 = row.iter().zip(&mag).map(|(&w, &m)| f64::from(w) * m).sum();
                out[mel * spec.n_frames + t] = (e.max(1e-5).ln()) as f32;
            }
        }
        Tensor::from_vec(out, (1, n_mels, spec.n_frames), device)
    }
}
