//! Short-time Fourier transform, its inverse and the mel spectrogram on the CPU, as `torch.stft` /
//! `torch.istft` / `torchaudio.transforms.MelSpectrogram` compute them (one-sided, unnormalised, optional
//! centring).
//!
//! The FFT runs in f64 (realfft), so results are closer to exact than torch's f32 and differ from it
//! only by torch's own rounding.

use std::sync::Arc;

use candle_core::{Result, bail};
use realfft::num_complex::Complex;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};

use super::mel::{MelNorm, MelScale, apply_filterbank, mel_filterbank};

/// Padding added at both ends when `center` is set (`torch.stft`'s `pad_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PadMode {
    /// Mirror without repeating the edge sample (needs more than `n_fft / 2` samples).
    Reflect,
    /// Zeros.
    Constant,
    /// Repeat the edge sample.
    Replicate,
}

/// An STFT plan: window, hop, centring, and the FFT.
pub struct Stft {
    n_fft: usize,
    hop_length: usize,
    /// `n_fft` points: a shorter window is zero-padded on both sides, as torch does.
    window: Vec<f64>,
    center: bool,
    pad_mode: PadMode,
    fft: Arc<dyn RealToComplex<f64>>,
    ifft: Arc<dyn ComplexToReal<f64>>,
}

impl std::fmt::Debug for Stft {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stft")
            .field("n_fft", &self.n_fft)
            .field("hop_length", &self.hop_length)
            .field("center", &self.center)
            .field("pad_mode", &self.pad_mode)
            .finish()
    }
}

/// A complex one-sided spectrogram, frame-major: `data[t * n_freqs + k]`.
#[derive(Debug, Clone)]
pub struct Spectrogram {
    pub n_frames: usize,
    pub n_freqs: usize,
    pub data: Vec<Complex<f64>>,
}

impl Spectrogram {
    /// `|X|^power` as f32, frame-major (`power = 1`: magnitude, `2`: power spectrum).
    pub fn magnitude(&self, power: f64) -> Vec<f32> {
        self.data
            .iter()
            .map(|c| {
                let m = c.norm();
                (if power == 1.0 { m } else { m.powf(power) }) as f32
            })
            .collect()
    }
}

impl Stft {
    /// `window` has `win_length <= n_fft` points (e.g. `hann_window(n_fft, true)`).
    pub fn new(
        n_fft: usize,
        hop_length: usize,
        window: &[f32],
        center: bool,
        pad_mode: PadMode,
    ) -> Result<Self> {
        if n_fft == 0 || hop_length == 0 {
            bail!("stft: n_fft ({n_fft}) and hop_length ({hop_length}) must be positive");
        }
        if window.len() > n_fft || window.is_empty() {
            bail!("stft: window has {} points, expected 1..={n_fft}", window.len());
        }
        let left = (n_fft - window.len()) / 2;
        let mut padded = vec![0f64; n_fft];
        for (i, &w) in window.iter().enumerate() {
            padded[left + i] = f64::from(w);
        }
        let mut planner = RealFftPlanner::<f64>::new();
        let fft = planner.plan_fft_forward(n_fft);
        let ifft = planner.plan_fft_inverse(n_fft);
        Ok(Self { n_fft, hop_length, window: padded, center, pad_mode, fft, ifft })
    }

    pub fn n_fft(&self) -> usize {
        self.n_fft
    }

    pub fn hop_length(&self) -> usize {
        self.hop_length
    }

    pub fn n_freqs(&self) -> usize {
        self.n_fft / 2 + 1
    }

    /// Frames produced for `n_samples` input samples (0 when the input is too short).
    pub fn num_frames(&self, n_samples: usize) -> usize {
        let len = if self.center { n_samples + 2 * (self.n_fft / 2) } else { n_samples };
        if len < self.n_fft { 0 } else { (len - self.n_fft) / self.hop_length + 1 }
    }

    /// The complex one-sided STFT of one channel.
    pub fn complex(&self, signal: &[f32]) -> Result<Spectrogram> {
        let padded = self.padded(signal)?;
        let n_frames = self.num_frames(signal.len());
        let n_freqs = self.n_freqs();
        let mut input = self.fft.make_input_vec();
        let mut output = self.fft.make_output_vec();
        let mut scratch = self.fft.make_scratch_vec();
        let mut data = Vec::with_capacity(n_frames * n_freqs);
        for t in 0..n_frames {
            let frame = &padded[t * self.hop_length..t * self.hop_length + self.n_fft];
            for ((dst, &x), &w) in input.iter_mut().zip(frame).zip(&self.window) {
                *dst = x * w;
            }
            self.fft
                .process_with_scratch(&mut input, &mut output, &mut scratch)
                .map_err(|e| candle_core::Error::Msg(format!("stft: {e}")))?;
            data.extend_from_slice(&output);
        }
        Ok(Spectrogram { n_frames, n_freqs, data })
    }

    /// `torch.istft(spec, n_fft, hop, window=window, center, length=None)`: the inverse FFT of each frame
    /// (the imaginary parts of the DC and Nyquist bins are ignored, as `irfft` does), windowed, overlap-added
    /// and divided by the overlap-added squared window; with `center`, `n_fft / 2` samples are dropped at each
    /// end, so `T` frames give `hop · (T − 1)` samples.
    pub fn inverse(&self, spec: &Spectrogram) -> Result<Vec<f32>> {
        if spec.n_freqs != self.n_freqs() || spec.data.len() != spec.n_frames * spec.n_freqs {
            bail!(
                "istft: spectrogram has {} bins x {} frames ({} values), expected {} bins",
                spec.n_freqs,
                spec.n_frames,
                spec.data.len(),
                self.n_freqs()
            );
        }
        if spec.n_frames == 0 {
            bail!("istft: no frames");
        }
        let (n_fft, hop) = (self.n_fft, self.hop_length);
        let full = n_fft + hop * (spec.n_frames - 1);
        let mut signal = vec![0f64; full];
        let mut envelope = vec![0f64; full];
        let mut input = self.ifft.make_input_vec();
        let mut output = self.ifft.make_output_vec();
        let mut scratch = self.ifft.make_scratch_vec();
        let scale = 1.0 / n_fft as f64;
        for (t, frame) in spec.data.chunks_exact(spec.n_freqs).enumerate() {
            input.copy_from_slice(frame);
            input[0].im = 0.0;
            if n_fft % 2 == 0 {
                input[spec.n_freqs - 1].im = 0.0;
            }
            self.ifft
                .process_with_scratch(&mut input, &mut output, &mut scratch)
                .map_err(|e| candle_core::Error::Msg(format!("istft: {e}")))?;
            let start = t * hop;
            for (i, (&y, &w)) in output.iter().zip(&self.window).enumerate() {
                signal[start + i] += y * scale * w;
                envelope[start + i] += w * w;
            }
        }
        let (from, to) = if self.center { (n_fft / 2, full - n_fft / 2) } else { (0, full) };
        if let Some(i) = (from..to).find(|&i| envelope[i] < 1e-11) {
            bail!("istft: the window does not overlap-add to a nonzero envelope at sample {i} (NOLA fails)");
        }
        Ok((from..to).map(|i| (signal[i] / envelope[i]) as f32).collect())
    }

    fn padded(&self, signal: &[f32]) -> Result<Vec<f64>> {
        let x: Vec<f64> = signal.iter().map(|&v| f64::from(v)).collect();
        if !self.center {
            return Ok(x);
        }
        let pad = self.n_fft / 2;
        let n = x.len();
        if n == 0 {
            bail!("stft: empty signal");
        }
        if self.pad_mode == PadMode::Reflect && pad >= n {
            bail!("stft: reflect padding of {pad} needs more than {pad} samples, got {n}");
        }
        let edge = |i: isize| -> f64 {
            if (0..n as isize).contains(&i) {
                return x[i as usize];
            }
            match self.pad_mode {
                PadMode::Constant => 0.0,
                PadMode::Replicate => x[i.clamp(0, n as isize - 1) as usize],
                PadMode::Reflect if i < 0 => x[(-i) as usize],
                PadMode::Reflect => x[2 * (n - 1) - i as usize],
            }
        };
        Ok((-(pad as isize)..(n + pad) as isize).map(edge).collect())
    }
}

/// Settings of `torchaudio.transforms.MelSpectrogram` (window: periodic Hann of `win_length`).
#[derive(Debug, Clone, PartialEq)]
pub struct MelConfig {
    pub sample_rate: u32,
    pub n_fft: usize,
    pub win_length: usize,
    pub hop_length: usize,
    pub f_min: f64,
    pub f_max: f64,
    pub n_mels: usize,
    /// 1: magnitude, 2: power.
    pub power: f64,
    pub center: bool,
    pub pad_mode: PadMode,
    pub mel_scale: MelScale,
    pub norm: MelNorm,
}

/// STFT + mel filterbank.
#[derive(Debug)]
pub struct MelSpectrogram {
    cfg: MelConfig,
    stft: Stft,
    /// `[n_mels][n_freqs]`.
    filterbank: Vec<f32>,
}

impl MelSpectrogram {
    pub fn new(cfg: MelConfig) -> Result<Self> {
        let window = super::window::hann_window(cfg.win_length, true);
        let stft = Stft::new(cfg.n_fft, cfg.hop_length, &window, cfg.center, cfg.pad_mode)?;
        let filterbank = mel_filterbank(
            stft.n_freqs(),
            cfg.f_min,
            cfg.f_max,
            cfg.n_mels,
            cfg.sample_rate,
            cfg.mel_scale,
            cfg.norm,
        );
        Ok(Self { cfg, stft, filterbank })
    }

    pub fn config(&self) -> &MelConfig {
        &self.cfg
    }

    pub fn stft(&self) -> &Stft {
        &self.stft
    }

    /// `[n_mels][n_freqs]`.
    pub fn filterbank(&self) -> &[f32] {
        &self.filterbank
    }

    /// Mel spectrogram of one channel, frame-major `[frames][n_mels]`.
    pub fn compute(&self, signal: &[f32]) -> Result<Vec<f32>> {
        let spec = self.stft.complex(signal)?;
        let mag = spec.magnitude(self.cfg.power);
        Ok(apply_filterbank(&mag, spec.n_freqs, &self.filterbank, self.cfg.n_mels))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsp::window::hann_window;

    #[test]
    fn sine_peaks_in_its_bin_with_hann_gain() {
        // A bin-centred cosine of amplitude A gives |X[k]| = A * Σw / 2 under any window.
        let (n_fft, k0) = (64usize, 5usize);
        let x: Vec<f32> = (0..640)
            .map(|n| (0.5 * (2.0 * std::f64::consts::PI * k0 as f64 * n as f64 / n_fft as f64).cos()) as f32)
            .collect();
        let stft = Stft::new(n_fft, 16, &hann_window(n_fft, true), true, PadMode::Reflect).unwrap();
        let spec = stft.complex(&x).unwrap();
        assert_eq!(spec.n_frames, 640 / 16 + 1);
        let mag = spec.magnitude(1.0);
        let t = 10;
        let row = &mag[t * 33..(t + 1) * 33];
        assert!((row[k0] as f64 - 0.5 * 32.0 / 2.0).abs() < 1e-5, "{}", row[k0]);
        assert!(row[k0 - 1] as f64 > 3.9 && (row[k0 - 1] as f64 - 4.0).abs() < 1e-5);
        assert!(row[k0 + 2].abs() < 1e-5 && row[0].abs() < 1e-5);
    }

    #[test]
    fn matches_a_direct_dft_with_reflect_padding() {
        let x: Vec<f32> = (0..50).map(|i| ((i * 7919) % 23) as f32 / 23.0 - 0.5).collect();
        let (n_fft, hop) = (16usize, 5usize);
        let window = hann_window(12, true); // shorter than n_fft: centred with zeros
        let stft = Stft::new(n_fft, hop, &window, true, PadMode::Reflect).unwrap();
        let spec = stft.complex(&x).unwrap();
        let mut padded: Vec<f64> = Vec::new();
        for i in (1..=8).rev() {
            padded.push(x[i] as f64);
        }
        padded.extend(x.iter().map(|&v| v as f64));
        for i in 0..8 {
            padded.push(x[x.len() - 2 - i] as f64);
        }
        let mut w = vec![0f64; n_fft];
        for (i, &v) in window.iter().enumerate() {
            w[2 + i] = v as f64;
        }
        assert_eq!(spec.n_frames, 11);
        for t in 0..spec.n_frames {
            for k in 0..9 {
                let (mut re, mut im) = (0f64, 0f64);
                for n in 0..n_fft {
                    let a = -2.0 * std::f64::consts::PI * (k * n) as f64 / n_fft as f64;
                    let v = padded[t * hop + n] * w[n];
                    re += v * a.cos();
                    im += v * a.sin();
                }
                let got = spec.data[t * 9 + k];
                assert!((got.re - re).abs() < 1e-12 && (got.im - im).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn inverse_reconstructs_the_signal() {
        let x: Vec<f32> = (0..441 * 9).map(|i| ((i * 7919) % 101) as f32 / 101.0 - 0.5).collect();
        for (n_fft, hop, win) in [(64usize, 16usize, 64usize), (48, 11, 40)] {
            let stft = Stft::new(n_fft, hop, &hann_window(win, true), true, PadMode::Reflect).unwrap();
            let n = hop * 60;
            let spec = stft.complex(&x[..n]).unwrap();
            let y = stft.inverse(&spec).unwrap();
            assert_eq!(y.len(), hop * (spec.n_frames - 1));
            assert_eq!(y.len(), n);
            let err = y.iter().zip(&x).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
            assert!(err < 1e-6, "n_fft {n_fft}: max error {err}");
        }
        // A spectrogram of the wrong size is refused.
        let stft = Stft::new(16, 4, &hann_window(16, true), true, PadMode::Reflect).unwrap();
        let spec = Spectrogram { n_frames: 2, n_freqs: 8, data: vec![Complex::new(0.0, 0.0); 16] };
        assert!(stft.inverse(&spec).unwrap_err().to_string().contains("expected 9 bins"));
    }

    #[test]
    fn frame_counts_and_errors() {
        let w = hann_window(8, true);
        let centred = Stft::new(8, 2, &w, true, PadMode::Constant).unwrap();
        assert_eq!(centred.num_frames(10), 6);
        let plain = Stft::new(8, 2, &w, false, PadMode::Constant).unwrap();
        assert_eq!(plain.num_frames(10), 2);
        assert_eq!(plain.num_frames(7), 0);
        let reflect = Stft::new(8, 2, &w, true, PadMode::Reflect).unwrap();
        assert!(reflect.complex(&[0.0; 4]).unwrap_err().to_string().contains("reflect"));
        assert!(Stft::new(8, 2, &hann_window(9, true), true, PadMode::Reflect).is_err());
    }
}
