//! Sample peak, clipped samples and decibel helpers.

use crate::audio::AudioBuffer;

/// A sample at or above this magnitude (−0.009 dBFS) counts as clipped. Integer full scale
/// (32767/32768) is above it, so clipped PCM files are caught too.
pub const CLIP_LEVEL: f32 = 0.999;

/// The largest absolute sample over all channels.
pub fn sample_peak(audio: &AudioBuffer) -> f32 {
    audio.channels().iter().flatten().fold(0.0_f32, |m, s| m.max(s.abs()))
}

/// The number of samples (over all channels) at or above [`CLIP_LEVEL`].
pub fn clipped_samples(audio: &AudioBuffer) -> usize {
    audio.channels().iter().flatten().filter(|s| s.abs() >= CLIP_LEVEL).count()
}

/// `20·log10(amplitude)`; zero gives −∞.
pub fn amplitude_db(amplitude: f64) -> f64 {
    20.0 * amplitude.log10()
}

/// `10·log10(power)`; zero gives −∞.
pub fn power_db(power: f64) -> f64 {
    10.0 * power.log10()
}

/// The `q`-quantile (0…1) of `values` with linear interpolation; `None` when empty.
pub fn quantile(values: &[f64], q: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let pos = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    let frac = pos - lo as f64;
    Some(sorted[lo] + (sorted[hi] - sorted[lo]) * frac)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate() {
        let v = [4.0, 1.0, 3.0, 2.0];
        assert_eq!(quantile(&v, 0.0), Some(1.0));
        assert_eq!(quantile(&v, 1.0), Some(4.0));
        assert_eq!(quantile(&v, 0.5), Some(2.5));
        assert_eq!(quantile(&[], 0.5), None);
    }
}
