//! Whisper's log-mel front end, as HF `WhisperFeatureExtractor` computes it on the torch path
//! (`_torch_extract_fbank_features`, postprocessing-spec §5.4):
//! 1. zero-pad or cut the 16 kHz signal to `n_samples` (30 s);
//! 2. `torch.stft(n_fft = 400, hop = 160, periodic Hann, center, reflect)`, last frame dropped, `|X|²`;
//! 3. 80 Slaney mel filters over 0–8 kHz, Slaney norm;
//! 4. `log10(max(mel, 1e-10))`, then `max(x, max(x) - 8)` over the whole window, then `(x + 4) / 4`.

use candle_core::{Device, Result, Tensor, bail};

use super::config::PreprocessorConfig;
use crate::dsp::{MelNorm, MelScale, PadMode, Stft, hann_window, mel_filterbank};

/// Upper edge of the filterbank, fixed in the extractor whatever the sampling rate.
const MEL_F_MAX_HZ: f64 = 8000.0;
/// `torch.clamp(mel_spec, min = 1e-10)`.
const LOG_FLOOR: f32 = 1e-10;
/// Dynamic range kept below the window's peak, in log10 units.
const DYNAMIC_RANGE: f32 = 8.0;

/// The front end for one preprocessor config (filterbank and FFT plan built once).
#[derive(Debug)]
pub struct LogMel {
    cfg: PreprocessorConfig,
    stft: Stft,
    /// `[n_mels][n_freqs]`.
    filters: Vec<f32>,
    /// Per mel band, the bins where its triangle is non-zero (the sum skips the rest).
    support: Vec<std::ops::Range<usize>>,
}

impl LogMel {
    pub fn new(cfg: &PreprocessorConfig) -> Result<Self> {
        let window = hann_window(cfg.n_fft, true);
        let stft = Stft::new(cfg.n_fft, cfg.hop_length, &window, true, PadMode::Reflect)?;
        let filters = mel_filterbank(
            stft.n_freqs(),
            0.0,
            MEL_F_MAX_HZ,
            cfg.feature_size,
            cfg.sampling_rate,
            MelScale::Slaney,
            MelNorm::Slaney,
        );
        let n_freqs = stft.n_freqs();
        let support = filters
            .chunks(n_freqs)
            .map(|row| {
                let first = row.iter().position(|&w| w != 0.0).unwrap_or(0);
                let last = row.iter().rposition(|&w| w != 0.0).map_or(first, |i| i + 1);
                first..last
            })
            .collect();
        Ok(Self { cfg: cfg.clone(), stft, filters, support })
    }

    pub fn config(&self) -> &PreprocessorConfig {
        &self.cfg
    }

    pub fn n_mels(&self) -> usize {
        self.cfg.feature_size
    }

    /// Frames per window (3000).
    pub fn n_frames(&self) -> usize {
        self.cfg.nb_max_frames()
    }

    /// Features of one window, mel-major (`[n_mels][n_frames]`, the `(80, 3000)` layout the encoder takes).
    /// `samples` (mono, at the config's rate) are zero-padded or cut to the window.
    pub fn features(&self, samples: &[f32]) -> Result<Vec<f32>> {
        let n_samples = self.cfg.n_samples();
        let mut window = vec![0f32; n_samples];
        let used = samples.len().min(n_samples);
        window[..used].copy_from_slice(&samples[..used]);
        if window.len() <= self.cfg.n_fft / 2 {
            bail!("whisper features: a {n_samples}-sample window is too short for n_fft {}", self.cfg.n_fft);
        }
        let spec = self.stft.complex(&window)?;
        let (n_freqs, n_mels) = (spec.n_freqs, self.cfg.feature_size);
        let n_frames = self.n_frames().min(spec.n_frames);
        let mut out = vec![0f32; n_mels * n_frames];
        let mut power = vec![0f32; n_freqs];
        let mut peak = f32::NEG_INFINITY;
        for t in 0..n_frames {
            for (p, c) in power.iter_mut().zip(&spec.data[t * n_freqs..(t + 1) * n_freqs]) {
                *p = c.norm_sqr() as f32;
            }
            for (m, bins) in self.support.iter().enumerate() {
                let w = &self.filters[m * n_freqs + bins.start..m * n_freqs + bins.end];
                let acc: f64 =
                    power[bins.clone()].iter().zip(w).map(|(&p, &w)| f64::from(p) * f64::from(w)).sum();
                let v = (acc as f32).max(LOG_FLOOR).log10();
                peak = peak.max(v);
                out[m * n_frames + t] = v;
            }
        }
        let floor = peak - DYNAMIC_RANGE;
        for v in &mut out {
            *v = (v.max(floor) + 4.0) / 4.0;
        }
        Ok(out)
    }

    /// [`Self::features`] as a `(1, n_mels, n_frames)` f32 tensor.
    pub fn tensor(&self, samples: &[f32], device: &Device) -> Result<Tensor> {
        let data = self.features(samples)?;
        let n_frames = data.len() / self.n_mels();
        Tensor::from_vec(data, (1, self.n_mels(), n_frames), device)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> PreprocessorConfig {
        PreprocessorConfig { chunk_length: 1, ..Default::default() }
    }

    #[test]
    fn silence_is_the_floor_everywhere() {
        let mel = LogMel::new(&small()).unwrap();
        let f = mel.features(&[]).unwrap();
        assert_eq!(f.len(), 80 * 100);
        // log10(1e-10) = -10 is also the peak, so every value is (-10 + 4) / 4.
        assert!(f.iter().all(|&v| (v - -1.5).abs() < 1e-6), "{:?}", &f[..4]);
    }

    #[test]
    fn long_input_is_cut_and_the_floor_is_eight_below_the_peak() {
        let mel = LogMel::new(&small()).unwrap();
        let tone: Vec<f32> = (0..40_000).map(|i| (i as f32 * 0.2).sin() * 0.5).collect();
        let cut = mel.features(&tone).unwrap();
        assert_eq!(cut, mel.features(&tone[..16_000]).unwrap());
        let max = cut.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
        let min = cut.iter().cloned().fold(f32::INFINITY, f32::min);
        assert!((max - min - 2.0).abs() < 1e-5, "range {min}..{max} is not 8/4");
        // A 509 Hz tone (0.2 rad/sample) peaks in a low band, not at the top.
        let band_energy = |m: usize| cut[m * 100..(m + 1) * 100].iter().sum::<f32>();
        let loudest = (0..80).max_by(|&a, &b| band_energy(a).total_cmp(&band_energy(b))).unwrap();
        assert!((10..25).contains(&loudest), "loudest band {loudest}");
    }
}
