//! Offline sample-rate conversion with rubato: its synchronous FFT resampler for rate pairs that reduce
//! to small integers (44.1 ↔ 48 kHz is 147 : 160), its sinc interpolator for any other pair.
//!
//! The FFT resampler's block sizes are the reduced rates themselves, so an odd rate such as 48 017 Hz
//! (48 017 : 16 000 against 16 kHz) would need blocks of 48 017 frames per chunk and gigabytes of
//! FFT plans; the interpolator's cost depends only on its filter length.

use rubato::audioadapter_buffers::direct::SequentialSliceOfVecs;
use rubato::{Async, Fft, FixedAsync, FixedSync, Resampler, SincInterpolationParameters, WindowFunction};

use super::{AudioBuffer, AudioError, MAX_SAMPLE_RATE, MIN_SAMPLE_RATE};

/// Chunk size hint for the FFT resampler; rubato rounds it to fit the ratio.
const CHUNK_FRAMES: usize = 1024;
/// Reduced rates up to this go through the FFT resampler.
const MAX_FFT_BLOCK: u32 = 1024;
/// Length of the interpolator's windowed sinc (rubato's suggested starting point).
const SINC_LEN: usize = 256;

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// Whether `from_hz → to_hz` goes through the FFT resampler (true for every rate the product uses).
pub fn uses_fft(from_hz: u32, to_hz: u32) -> bool {
    let g = gcd(from_hz, to_hz).max(1);
    from_hz / g <= MAX_FFT_BLOCK && to_hz / g <= MAX_FFT_BLOCK
}

/// Converts `audio` to `to_hz`. The output is aligned with the input (rubato trims its delay) and
/// is `ceil(frames · to_hz / from_hz)` frames long. The same rate returns a copy. Both rates must lie
/// in 8–384 kHz and every sample must be finite.
pub fn resample(audio: &AudioBuffer, to_hz: u32) -> Result<AudioBuffer, AudioError> {
    let from_hz = audio.sample_rate();
    if from_hz == to_hz {
        return Ok(audio.clone());
    }
    let err = |detail: String| AudioError::Resample { from_hz, to_hz, detail };
    let rates = MIN_SAMPLE_RATE..=MAX_SAMPLE_RATE;
    if !rates.contains(&from_hz) || !rates.contains(&to_hz) {
        return Err(err("rates must lie between 8 kHz and 384 kHz".into()));
    }
    if audio.channels().iter().flatten().any(|s| !s.is_finite()) {
        return Err(err("the audio holds NaN or infinite samples".into()));
    }
    let channels = audio.num_channels();
    let frames = audio.frames();
    if frames == 0 {
        return AudioBuffer::new(to_hz, vec![Vec::new(); channels]);
    }
    let mut resampler: Box<dyn Resampler<f32>> = if uses_fft(from_hz, to_hz) {
        Box::new(
            Fft::<f32>::new(from_hz as usize, to_hz as usize, CHUNK_FRAMES, channels, FixedSync::Both)
                .map_err(|e| err(e.to_string()))?,
        )
    } else {
        let params = SincInterpolationParameters::new(SINC_LEN, WindowFunction::BlackmanHarris2);
        let ratio = f64::from(to_hz) / f64::from(from_hz);
        Box::new(
            Async::<f32>::new_sinc(ratio, 1.0, &params, CHUNK_FRAMES, channels, FixedAsync::Input)
                .map_err(|e| err(e.to_string()))?,
        )
    };
    let input =
        SequentialSliceOfVecs::new(audio.channels(), channels, frames).map_err(|e| err(e.to_string()))?;
    let output = resampler.process_all(&input, frames, None).map_err(|e| err(e.to_string()))?;
    let interleaved = output.take_data();
    let out = AudioBuffer::from_interleaved(to_hz, channels, &interleaved)?;
    // rubato may round up by a frame; keep the exact expected length.
    let expected = (frames as u64 * u64::from(to_hz)).div_ceil(u64::from(from_hz)) as usize;
    let channels = out.into_channels().into_iter().map(|mut c| {
        c.resize(expected, 0.0);
        c
    });
    AudioBuffer::new(to_hz, channels.collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(rate: u32, hz: f64, secs: f64, amp: f32) -> Vec<f32> {
        let n = (secs * f64::from(rate)) as usize;
        (0..n)
            .map(|i| (2.0 * std::f64::consts::PI * hz * i as f64 / f64::from(rate)).sin() as f32 * amp)
            .collect()
    }

    /// Least-squares fit of `a·sin(ωt) + b·cos(ωt)` over the middle 90 %: (amplitude, lead in seconds, rms residual).
    fn fit_sine(y: &[f32], rate: u32, hz: f64) -> (f64, f64, f64) {
        let w = 2.0 * std::f64::consts::PI * hz;
        let range = y.len() / 20..y.len() - y.len() / 20;
        let (mut ss, mut sc, mut cc, mut ys, mut yc) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for i in range.clone() {
            let (s, c) = (w * i as f64 / f64::from(rate)).sin_cos();
            let v = f64::from(y[i]);
            (ss, sc, cc, ys, yc) = (ss + s * s, sc + s * c, cc + c * c, ys + v * s, yc + v * c);
        }
        let det = ss * cc - sc * sc;
        let (a, b) = ((ys * cc - yc * sc) / det, (yc * ss - ys * sc) / det);
        let residual = range.clone().map(|i| {
            let t = w * i as f64 / f64::from(rate);
            (f64::from(y[i]) - a * t.sin() - b * t.cos()).powi(2)
        });
        let rms = (residual.sum::<f64>() / range.len() as f64).sqrt();
        (a.hypot(b), b.atan2(a) / w, rms)
    }

    #[test]
    fn sine_keeps_frequency_timing_and_level() {
        for (from, to) in [(44_100, 48_000), (22_050, 48_000), (48_000, 16_000), (16_000, 48_000)] {
            let input = AudioBuffer::mono(from, sine(from, 440.0, 1.0, 0.5)).unwrap();
            let out = resample(&input, to).unwrap();
            assert_eq!(out.sample_rate(), to);
            assert_eq!(out.frames(), to as usize, "{from}->{to}");
            let (amp, lead_secs, residual) = fit_sine(&out.channels()[0], to, 440.0);
            assert!((amp - 0.5).abs() < 1e-4, "{from}->{to}: amplitude {amp}");
            assert!(residual < 1e-4, "{from}->{to}: residual {residual}");
            // rubato's FFT resampler trims its delay to within half an input sample.
            assert!(lead_secs.abs() <= 0.51 / f64::from(from), "{from}->{to}: offset {lead_secs} s");
        }
    }

    #[test]
    fn odd_rates_use_the_interpolator_and_keep_the_sine() {
        assert!(uses_fft(44_100, 48_000) && uses_fft(22_050, 16_000) && uses_fft(24_000, 48_000));
        for (from, to) in [(48_017, 16_000), (383_999, 48_000), (8_000, 44_100 + 1)] {
            assert!(!uses_fft(from, to), "{from}->{to}");
            let input = AudioBuffer::mono(from, sine(from, 440.0, 1.0, 0.5)).unwrap();
            let out = resample(&input, to).unwrap();
            assert_eq!(out.frames(), to as usize, "{from}->{to}");
            let (amp, lead_secs, residual) = fit_sine(&out.channels()[0], to, 440.0);
            assert!((amp - 0.5).abs() < 1e-3, "{from}->{to}: amplitude {amp}");
            assert!(residual < 1e-3, "{from}->{to}: residual {residual}");
            assert!(lead_secs.abs() <= 1.5 / f64::from(from.min(to)), "{from}->{to}: offset {lead_secs} s");
        }
    }

    #[test]
    fn refuses_rates_outside_the_range_and_non_finite_samples() {
        let input = AudioBuffer::mono(1_000_003, vec![0.0; 100]).unwrap();
        assert!(resample(&input, 16_000).is_err());
        let input = AudioBuffer::mono(48_000, vec![0.0, f32::NAN, 0.0]).unwrap();
        assert!(resample(&input, 16_000).is_err());
    }

    #[test]
    fn same_rate_is_a_copy() {
        let input = AudioBuffer::mono(48_000, sine(48_000, 100.0, 0.1, 0.3)).unwrap();
        assert_eq!(resample(&input, 48_000).unwrap(), input);
    }
}
