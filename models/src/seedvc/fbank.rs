//! Kaldi-compatible log-mel filterbank features, as `torchaudio.compliance.kaldi.fbank(wave, num_mel_bins=80,
//! dither=0, sample_frequency=16000)` computes them with its other defaults (spec §5.5): 25 ms frames every
//! 10 ms (`snip_edges`), DC removal, pre-emphasis 0.97, Povey window, 512-point power spectrum, 80 triangles on
//! the Kaldi mel scale from 20 Hz to Nyquist, `ln(max(E, f32::EPSILON))`. Computed in f64.

use candle_core::{Result, bail};
use realfft::RealFftPlanner;

pub const SAMPLE_RATE: u32 = 16000;
pub const NUM_MEL_BINS: usize = 80;
const FRAME_LENGTH: usize = 400;
const FRAME_SHIFT: usize = 160;
const PADDED: usize = 512;
const PREEMPHASIS: f64 = 0.97;
const LOW_FREQ: f64 = 20.0;

fn kaldi_mel(hz: f64) -> f64 {
    1127.0 * (1.0 + hz / 700.0).ln()
}

/// `[NUM_MEL_BINS][PADDED / 2 + 1]`; the Nyquist bin has weight 0 (`get_mel_banks` pads a zero column).
fn mel_banks() -> Vec<f64> {
    let n_bins = PADDED / 2;
    let bin_hz = f64::from(SAMPLE_RATE) / PADDED as f64;
    let (lo, hi) = (kaldi_mel(LOW_FREQ), kaldi_mel(f64::from(SAMPLE_RATE) / 2.0));
    let delta = (hi - lo) / (NUM_MEL_BINS + 1) as f64;
    let mut banks = vec![0f64; NUM_MEL_BINS * (n_bins + 1)];
    for m in 0..NUM_MEL_BINS {
        let (left, center, right) =
            (lo + m as f64 * delta, lo + (m + 1) as f64 * delta, lo + (m + 2) as f64 * delta);
        for k in 0..n_bins {
            let mel = kaldi_mel(bin_hz * k as f64);
            let up = (mel - left) / (center - left);
            let down = (right - mel) / (right - center);
            banks[m * (n_bins + 1) + k] = up.min(down).max(0.0);
        }
    }
    banks
}

/// Frames for `n` samples (`1 + (n - 400) / 160`, none below 400).
pub fn frames(n: usize) -> usize {
    if n < FRAME_LENGTH { 0 } else { 1 + (n - FRAME_LENGTH) / FRAME_SHIFT }
}

/// Frame-major `[frames][80]` log-mel energies of a 16 kHz signal.
pub fn fbank(wave: &[f32]) -> Result<Vec<f32>> {
    let n_frames = frames(wave.len());
    if n_frames == 0 {
        bail!(
            "speaker embedding: the reference is {} samples at 16 kHz; at least {FRAME_LENGTH} (25 ms) are needed",
            wave.len()
        );
    }
    let window: Vec<f64> = (0..FRAME_LENGTH)
        .map(|i| {
            let hann = 0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / (FRAME_LENGTH - 1) as f64).cos();
            hann.powf(0.85)
        })
        .collect();
    let banks = mel_banks();
    let n_freqs = PADDED / 2 + 1;
    let fft = RealFftPlanner::<f64>::new().plan_fft_forward(PADDED);
    let mut input = fft.make_input_vec();
    let mut spectrum = fft.make_output_vec();
    let mut power = vec![0f64; n_freqs];
    let mut frame = vec![0f64; FRAME_LENGTH];
    let mut out = Vec::with_capacity(n_frames * NUM_MEL_BINS);
    for t in 0..n_frames {
        let src = &wave[t * FRAME_SHIFT..t * FRAME_SHIFT + FRAME_LENGTH];
        let mean = src.iter().map(|&x| f64::from(x)).sum::<f64>() / FRAME_LENGTH as f64;
        for (f, &x) in frame.iter_mut().zip(src) {
            *f = f64::from(x) - mean;
        }
        // Pre-emphasis with x[-1] := x[0], done from the end so each step reads the unmodified neighbour.
        for i in (1..FRAME_LENGTH).rev() {
            frame[i] -= PREEMPHASIS * frame[i - 1];
        }
        frame[0] -= PREEMPHASIS * frame[0];
        input.fill(0.0);
        for ((dst, &x), &w) in input.iter_mut().zip(&frame).zip(&window) {
            *dst = x * w;
        }
        fft.process(&mut input, &mut spectrum).map_err(|e| candle_core::Error::Msg(format!("fbank: {e}")))?;
        for (p, c) in power.iter_mut().zip(&spectrum) {
            *p = c.norm_sqr();
        }
        for m in 0..NUM_MEL_BINS {
            let row = &banks[m * n_freqs..(m + 1) * n_freqs];
            let e: f64 = row.iter().zip(&power).map(|(w, p)| w * p).sum();
            out.push(e.max(f64::from(f32::EPSILON)).ln() as f32);
        }
    }
    Ok(out)
}

/// [`fbank`] minus its mean over frames (the CMN `app_vc` applies before CAMPPlus).
pub fn fbank_cmn(wave: &[f32]) -> Result<Vec<f32>> {
    let mut feats = fbank(wave)?;
    let n_frames = feats.len() / NUM_MEL_BINS;
    for m in 0..NUM_MEL_BINS {
        let mean =
            (0..n_frames).map(|t| f64::from(feats[t * NUM_MEL_BINS + m])).sum::<f64>() / n_frames as f64;
        for t in 0..n_frames {
            let v = &mut feats[t * NUM_MEL_BINS + m];
            *v = (f64::from(*v) - mean) as f32;
        }
    }
    Ok(feats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn banks_cover_20_hz_to_nyquist_without_the_last_bin() {
        let banks = mel_banks();
        let n = PADDED / 2 + 1;
        // Bin 0 (0 Hz) is below 20 Hz and bin 256 is always 0.
        for m in 0..NUM_MEL_BINS {
            assert_eq!(banks[m * n], 0.0);
            assert_eq!(banks[m * n + n - 1], 0.0);
            assert!(banks[m * n..(m + 1) * n].iter().any(|&w| w > 0.0), "band {m} is empty");
        }
        assert_eq!(frames(399), 0);
        assert_eq!(frames(400), 1);
        assert_eq!(frames(16000), 98);
        assert!(fbank(&[0.0; 399]).unwrap_err().to_string().contains("400"));
    }
}
