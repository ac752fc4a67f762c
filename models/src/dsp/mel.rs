//! Mel scales and triangular mel filterbanks, as `torchaudio.functional.melscale_fbanks` builds them
//! (which follows librosa: `mel_scale = "slaney"`, `norm = "slaney"` is librosa's default and Whisper's).

/// The Hz <-> mel mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MelScale {
    /// `2595 log10(1 + f / 700)`.
    Htk,
    /// Linear below 1 kHz (`3 f / 200`), logarithmic above (`15 + 27 ln(f / 1000) / ln(6.4)`).
    Slaney,
}

/// Filter normalisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MelNorm {
    /// Triangles peak at 1.
    None,
    /// Each triangle is divided by its width in Hz / 2 (constant energy per band).
    Slaney,
}

const SLANEY_F_SP: f64 = 200.0 / 3.0;
const SLANEY_MIN_LOG_HZ: f64 = 1000.0;
const SLANEY_MIN_LOG_MEL: f64 = SLANEY_MIN_LOG_HZ / SLANEY_F_SP;

fn slaney_logstep() -> f64 {
    6.4f64.ln() / 27.0
}

pub fn hz_to_mel(hz: f64, scale: MelScale) -> f64 {
    match scale {
        MelScale::Htk => 2595.0 * (1.0 + hz / 700.0).log10(),
        MelScale::Slaney if hz >= SLANEY_MIN_LOG_HZ => {
            SLANEY_MIN_LOG_MEL + (hz / SLANEY_MIN_LOG_HZ).ln() / slaney_logstep()
        }
        MelScale::Slaney => hz / SLANEY_F_SP,
    }
}

pub fn mel_to_hz(mel: f64, scale: MelScale) -> f64 {
    match scale {
        MelScale::Htk => 700.0 * (10f64.powf(mel / 2595.0) - 1.0),
        MelScale::Slaney if mel >= SLANEY_MIN_LOG_MEL => {
            SLANEY_MIN_LOG_HZ * (slaney_logstep() * (mel - SLANEY_MIN_LOG_MEL)).exp()
        }
        MelScale::Slaney => SLANEY_F_SP * mel,
    }
}

/// Triangular mel filterbank, row-major `[n_mels][n_freqs]` (the transpose of torchaudio's
/// `(n_freqs, n_mels)` matrix, i.e. librosa's layout), so `mel = fb · |X|` per frame.
///
/// The STFT bins are `linspace(0, sample_rate / 2, n_freqs)` with torchaudio's integer `sample_rate / 2`.
pub fn mel_filterbank(
    n_freqs: usize,
    f_min: f64,
    f_max: f64,
    n_mels: usize,
    sample_rate: u32,
    scale: MelScale,
    norm: MelNorm,
) -> Vec<f32> {
    let nyquist = f64::from(sample_rate / 2);
    let bin_hz = |i: usize| if n_freqs > 1 { nyquist * i as f64 / (n_freqs - 1) as f64 } else { 0.0 };
    let (m_min, m_max) = (hz_to_mel(f_min, scale), hz_to_mel(f_max, scale));
    let f_pts: Vec<f64> = (0..n_mels + 2)
        .map(|i| mel_to_hz(m_min + (m_max - m_min) * i as f64 / (n_mels + 1) as f64, scale))
        .collect();
    let mut fb = vec![0f32; n_mels * n_freqs];
    for m in 0..n_mels {
        let (lo, mid, hi) = (f_pts[m], f_pts[m + 1], f_pts[m + 2]);
        let enorm = match norm {
            MelNorm::None => 1.0,
            MelNorm::Slaney => 2.0 / (hi - lo),
        };
        for i in 0..n_freqs {
            let f = bin_hz(i);
            let down = (f - lo) / (mid - lo);
            let up = (hi - f) / (hi - mid);
            fb[m * n_freqs + i] = (down.min(up).max(0.0) * enorm) as f32;
        }
    }
    fb
}

/// `out[t][m] = Σ_k fb[m][k] · spec[t][k]` for frame-major `spec` (`[frames][n_freqs]`) and a
/// `[n_mels][n_freqs]` filterbank; accumulates in f64.
pub fn apply_filterbank(spec: &[f32], n_freqs: usize, fb: &[f32], n_mels: usize) -> Vec<f32> {
    assert_eq!(fb.len(), n_mels * n_freqs, "filterbank is not [n_mels][n_freqs]");
    assert_eq!(spec.len() % n_freqs.max(1), 0, "spectrogram is not [frames][n_freqs]");
    let frames = spec.len() / n_freqs.max(1);
    let mut out = vec![0f32; frames * n_mels];
    for t in 0..frames {
        let row = &spec[t * n_freqs..(t + 1) * n_freqs];
        for m in 0..n_mels {
            let w = &fb[m * n_freqs..(m + 1) * n_freqs];
            let acc: f64 = row.iter().zip(w).map(|(&s, &w)| f64::from(s) * f64::from(w)).sum();
            out[t * n_mels + m] = acc as f32;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slaney_scale_known_points() {
        assert_eq!(hz_to_mel(0.0, MelScale::Slaney), 0.0);
        assert!((hz_to_mel(1000.0, MelScale::Slaney) - 15.0).abs() < 1e-12);
        assert!((hz_to_mel(6400.0, MelScale::Slaney) - 42.0).abs() < 1e-12);
        assert!((hz_to_mel(500.0, MelScale::Slaney) - 7.5).abs() < 1e-12);
        for hz in [0.0, 300.0, 999.0, 1000.0, 4321.0, 8000.0] {
            for scale in [MelScale::Slaney, MelScale::Htk] {
                assert!((mel_to_hz(hz_to_mel(hz, scale), scale) - hz).abs() < 1e-9);
            }
        }
        assert!((hz_to_mel(700.0, MelScale::Htk) - 2595.0 * 2f64.log10()).abs() < 1e-12);
    }

    #[test]
    fn filterbank_matches_torchaudio() {
        // torchaudio.functional.melscale_fbanks(513, 0, 8000, 64, 16000, "slaney", "slaney"), transposed.
        let fb = mel_filterbank(513, 0.0, 8000.0, 64, 16000, MelScale::Slaney, MelNorm::Slaney);
        let at = |i: usize, m: usize| fb[m * 513 + i] as f64;
        for (i, m, want) in [
            (1, 0, 0.007_255_642_209_202_051),
            (2, 1, 0.0),
            (3, 0, 0.021_331_152),
            (100, 30, 0.011_584_225_110_709_667),
            (480, 63, 0.001_769_327_674_992_382_5),
            (512, 63, 0.0),
        ] {
            // torchaudio builds it in f32: agree to its rounding.
            assert!((at(i, m) - want).abs() < 1e-7, "fb[{i}, {m}] = {} want {want}", at(i, m));
        }
        let total: f64 = fb.iter().map(|&v| v as f64).sum();
        assert!((total - 4.095_880_032).abs() < 1e-5, "{total}");
        // melscale_fbanks(201, 0, 8000, 80, 16000, None, "htk") run with torch's default dtype set to f64
        // (in f32 torchaudio is off by ~1e-6 relative here: its `10^x - 1` cancels near 0 Hz).
        let fb = mel_filterbank(201, 0.0, 8000.0, 80, 16000, MelScale::Htk, MelNorm::None);
        let at = |i: usize, m: usize| fb[m * 201 + i] as f64;
        assert!((at(1, 0) - 0.216_447_443_526_507_88).abs() < 1e-7, "{}", at(1, 0));
        assert!((at(190, 79) - 0.483_228_798_105_989_2).abs() < 1e-7, "{}", at(190, 79));
        assert_eq!(at(3, 1), 0.0);
    }

    #[test]
    fn apply_filterbank_is_a_matrix_product() {
        let fb = [1.0, 0.0, 2.0, 0.5, 0.5, 0.0];
        let spec = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        assert_eq!(apply_filterbank(&spec, 3, &fb, 2), vec![7.0, 1.5, 16.0, 4.5]);
    }
}
