//! Which STFT bins each mel band reads (`MelBandRoformer.__init__`: `freqs_per_band = mel_filter_bank > 0`).
//!
//! The bands come from librosa's Slaney mel filterbank (`filters.mel(sr, n_fft, n_mels)`, float32) with
//! `fb[0, 0]` and `fb[-1, -1]` forced to 1. They overlap: a bin can belong to two bands, and the masks the
//! model estimates for it are averaged.

use candle_core::{Result, bail};

/// `(first, last)` bin of each band of the released vocal model (sr 44 100, n_fft 2048, 60 bands); postprocessing
/// spec §4.2 asks for the table rather than a re-derivation in another float implementation. Golden
/// `constants (derived)/melband_roformer_band_layout`.
const VOCALS_BANDS: [(u16, u16); 60] = [
    (0, 6),
    (4, 9),
    (7, 12),
    (10, 15),
    (13, 18),
    (16, 21),
    (19, 24),
    (22, 27),
    (25, 30),
    (28, 33),
    (31, 36),
    (34, 39),
    (37, 42),
    (40, 45),
    (43, 48),
    (46, 52),
    (49, 55),
    (53, 59),
    (56, 64),
    (60, 68),
    (65, 73),
    (69, 78),
    (74, 83),
    (79, 89),
    (84, 96),
    (90, 102),
    (97, 109),
    (103, 117),
    (110, 125),
    (118, 134),
    (126, 144),
    (135, 154),
    (145, 164),
    (155, 176),
    (165, 188),
    (177, 202),
    (189, 216),
    (203, 231),
    (217, 247),
    (232, 264),
    (248, 283),
    (265, 303),
    (284, 324),
    (304, 347),
    (325, 371),
    (348, 397),
    (372, 425),
    (398, 454),
    (426, 486),
    (455, 520),
    (487, 557),
    (521, 596),
    (558, 637),
    (597, 682),
    (638, 730),
    (683, 781),
    (731, 835),
    (782, 894),
    (836, 957),
    (895, 1024),
];

/// The bins of every band, in band order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BandLayout {
    n_freqs: usize,
    /// `(first, last)` bin, inclusive; every band is a contiguous run.
    bands: Vec<(usize, usize)>,
}

impl BandLayout {
    /// The layout for `sample_rate`, `n_fft` and `num_bands`: the table for the released model, else derived
    /// from the mel filterbank as the reference does.
    pub fn new(sample_rate: u32, n_fft: usize, num_bands: usize) -> Result<Self> {
        if (sample_rate, n_fft, num_bands) == (44_100, 2048, 60) {
            let bands = VOCALS_BANDS.iter().map(|&(a, b)| (usize::from(a), usize::from(b))).collect();
            return Ok(Self { n_freqs: 1025, bands });
        }
        Self::from_mel(sample_rate, n_fft, num_bands)
    }

    /// Derive the layout from librosa's mel filterbank (f64 maths, f32 weights, as numpy computes it).
    pub fn from_mel(sample_rate: u32, n_fft: usize, num_bands: usize) -> Result<Self> {
        if n_fft < 2 || num_bands == 0 {
            bail!("mel band layout: n_fft ({n_fft}) must be at least 2 and num_bands ({num_bands}) positive");
        }
        let n_freqs = n_fft / 2 + 1;
        let positive = librosa_mel_positive(f64::from(sample_rate), n_fft, num_bands);
        let mut bands = Vec::with_capacity(num_bands);
        for (k, row) in positive.chunks_exact(n_freqs).enumerate() {
            let bins: Vec<usize> = (0..n_freqs).filter(|&i| row[i]).collect();
            let (Some(&first), Some(&last)) = (bins.first(), bins.last()) else {
                bail!(
                    "mel band layout: band {k} of {num_bands} covers no STFT bin (n_fft {n_fft} is too small)"
                );
            };
            if bins.len() != last - first + 1 {
                bail!("mel band layout: band {k} is not a contiguous run of bins");
            }
            bands.push((first, last));
        }
        let layout = Self { n_freqs, bands };
        if let Some(bin) = layout.bands_per_freq().iter().position(|&n| n == 0) {
            // The reference asserts the same: 'all frequencies need to be covered by all bands for now'.
            bail!("mel band layout: bin {bin} lies in no band");
        }
        Ok(layout)
    }

    /// `n_fft / 2 + 1`.
    pub fn n_freqs(&self) -> usize {
        self.n_freqs
    }

    pub fn num_bands(&self) -> usize {
        self.bands.len()
    }

    /// `(first, last)` bin of each band, inclusive.
    pub fn bands(&self) -> &[(usize, usize)] {
        &self.bands
    }

    /// Bins per band (`num_freqs_per_band`).
    pub fn freqs_per_band(&self) -> Vec<usize> {
        self.bands.iter().map(|&(a, b)| b - a + 1).collect()
    }

    /// Bands per bin (`num_bands_per_freq`), the divisor of the mask average.
    pub fn bands_per_freq(&self) -> Vec<usize> {
        let mut count = vec![0; self.n_freqs];
        for &(a, b) in &self.bands {
            for c in &mut count[a..=b] {
                *c += 1;
            }
        }
        count
    }

    /// The gathered rows of the `(bin, channel)`-interleaved spectrogram (`freq_indices`): for every band,
    /// every bin, every channel, `bin · channels + channel`.
    pub fn freq_indices(&self, channels: usize) -> Vec<usize> {
        let mut rows = Vec::new();
        for &(a, b) in &self.bands {
            for bin in a..=b {
                rows.extend((0..channels).map(|ch| bin * channels + ch));
            }
        }
        rows
    }
}

/// `filters.mel(sr, n_fft, n_mels) > 0` (Slaney scale and norm, fmin 0, fmax sr / 2) with `[0, 0]` and `[-1, -1]`
/// forced on, row-major `[n_mels][n_freqs]`.
fn librosa_mel_positive(sr: f64, n_fft: usize, n_mels: usize) -> Vec<bool> {
    let n_freqs = n_fft / 2 + 1;
    let fft_hz: Vec<f64> = (0..n_freqs).map(|i| i as f64 * sr / n_fft as f64).collect();
    // numpy's linspace: start + i·step, the last point set to the end exactly.
    let (lo, hi) = (slaney_hz_to_mel(0.0), slaney_hz_to_mel(sr / 2.0));
    let points = n_mels + 2;
    let step = (hi - lo) / (points - 1) as f64;
    let mel_hz: Vec<f64> = (0..points)
        .map(|i| if i == points - 1 { hi } else { lo + i as f64 * step })
        .map(slaney_mel_to_hz)
        .collect();
    let mut positive = vec![false; n_mels * n_freqs];
    for m in 0..n_mels {
        let (down, up) = (mel_hz[m + 1] - mel_hz[m], mel_hz[m + 2] - mel_hz[m + 1]);
        let enorm = 2.0 / (mel_hz[m + 2] - mel_hz[m]);
        for (i, &f) in fft_hz.iter().enumerate() {
            let lower = -(mel_hz[m] - f) / down;
            let upper = (mel_hz[m + 2] - f) / up;
            // Stored as float32, then scaled in float64 and stored again (numpy's in-place `*=`).
            let weight = (f64::from(lower.min(upper).max(0.0) as f32) * enorm) as f32;
            positive[m * n_freqs + i] = weight > 0.0;
        }
    }
    positive[0] = true;
    positive[n_mels * n_freqs - 1] = true;
    positive
}

const F_SP: f64 = 200.0 / 3.0;
const MIN_LOG_HZ: f64 = 1000.0;

fn logstep() -> f64 {
    6.4f64.ln() / 27.0
}

fn slaney_hz_to_mel(hz: f64) -> f64 {
    if hz >= MIN_LOG_HZ { MIN_LOG_HZ / F_SP + (hz / MIN_LOG_HZ).ln() / logstep() } else { hz / F_SP }
}

fn slaney_mel_to_hz(mel: f64) -> f64 {
    let min_log_mel = MIN_LOG_HZ / F_SP;
    if mel >= min_log_mel { MIN_LOG_HZ * (logstep() * (mel - min_log_mel)).exp() } else { F_SP * mel }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_the_derived_layout_and_matches_the_golden_counts() {
        let table = BandLayout::new(44_100, 2048, 60).unwrap();
        let derived = BandLayout::from_mel(44_100, 2048, 60).unwrap();
        assert_eq!(table, derived);
        // Golden `melband_roformer_band_layout`.
        let per_band = table.freqs_per_band();
        assert_eq!(per_band[..6], [7, 6, 6, 6, 6, 6]);
        assert_eq!(per_band[55..], [99, 105, 113, 122, 130]);
        assert_eq!(per_band.iter().sum::<usize>(), 1979);
        assert_eq!(table.freq_indices(2).len(), 3958);
        let per_bin = table.bands_per_freq();
        assert_eq!(per_bin.iter().filter(|&&n| n == 1).count(), 71);
        assert_eq!(per_bin.iter().filter(|&&n| n == 2).count(), 954);
    }

    #[test]
    fn rows_interleave_channels_and_small_ffts_fail_clearly() {
        let layout = BandLayout { n_freqs: 4, bands: vec![(0, 1), (1, 3)] };
        assert_eq!(layout.freq_indices(2), vec![0, 1, 2, 3, 2, 3, 4, 5, 6, 7]);
        assert_eq!(layout.freq_indices(1), vec![0, 1, 1, 2, 3]);
        assert_eq!(layout.bands_per_freq(), vec![1, 2, 1, 1]);
        let err = BandLayout::from_mel(44_100, 16, 60).unwrap_err().to_string();
        assert!(err.contains("covers no STFT bin"), "{err}");
    }
}
