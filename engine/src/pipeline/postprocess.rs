//! Per-chunk clean-up and joining, as the reference does it (postprocessing-spec §6, `audio_utils.py`).
//!
//! The analysis is windowed on the mono mix; cuts and gains apply to every channel, so the channel
//! count is preserved.

use crate::audio::AudioBuffer;

/// `trim_silence(x, sr, max_silence=0.5, threshold_db=-40)`: keep the voiced span plus `max_silence`
/// seconds either side. The last partial window is never analysed (reference quirk, kept).
pub fn trim_silence(x: &AudioBuffer, max_silence_s: f64, threshold_db: f64) -> AudioBuffer {
    let (start, end) = trim_bounds(x, max_silence_s, threshold_db);
    if start == 0 && end == x.frames() { x.clone() } else { x.slice(start, end) }
}

/// The slice `trim_silence` keeps, as `(start, end)` frames.
pub fn trim_bounds(x: &AudioBuffer, max_silence_s: f64, threshold_db: f64) -> (usize, usize) {
    let sr = f64::from(x.sample_rate());
    let threshold = 10f64.powf(threshold_db / 20.0);
    let keep = (max_silence_s * sr) as usize;
    let window = (0.02 * sr) as usize;
    let len = x.frames();
    if window == 0 || len < window {
        return (0, len);
    }
    let energies = window_peaks(&x.to_mono(), window);
    let voiced: Vec<usize> = (0..energies.len()).filter(|&k| f64::from(energies[k]) > threshold).collect();
    match (voiced.first(), voiced.last()) {
        (Some(&first), Some(&last)) => {
            ((first * window).saturating_sub(keep), ((last + 1) * window + keep).min(len))
        }
        _ => (0, len),
    }
}

/// `shorten_long_silence(x, sr, max_duration=1.0, target_duration=0.3, threshold_db=-35)`: silent runs longer
/// than `max_duration_s` keep only their first `target_duration_s`.
pub fn shorten_long_silence(
    x: &AudioBuffer,
    max_duration_s: f64,
    target_duration_s: f64,
    threshold_db: f64,
) -> AudioBuffer {
    shorten_long_silence_mapped(x, max_duration_s, target_duration_s, threshold_db).0
}

/// [`shorten_long_silence`] that also says what it cut, so positions in `x` (chunk starts) can be found
/// in the output with [`SilenceCuts::map_frame`].
pub fn shorten_long_silence_mapped(
    x: &AudioBuffer,
    max_duration_s: f64,
    target_duration_s: f64,
    threshold_db: f64,
) -> (AudioBuffer, SilenceCuts) {
    let sr = f64::from(x.sample_rate());
    let threshold = 10f64.powf(threshold_db / 20.0);
    let window = (0.02 * sr) as usize;
    let len = x.frames();
    let target = (target_duration_s * sr) as usize;
    let none = SilenceCuts { regions: Vec::new(), keep: target };
    if window == 0 || len < window {
        return (x.clone(), none);
    }
    let energies = window_peaks(&x.to_mono(), window);
    let max_len = (max_duration_s * sr) as usize;
    let mut regions = Vec::new();
    let mut start = None;
    for (k, &e) in energies.iter().enumerate() {
        let silent = f64::from(e) < threshold;
        match (silent, start) {
            (true, None) => start = Some(k * window),
            (false, Some(s)) => {
                regions.push((s, k * window));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        regions.push((s, len));
    }
    regions.retain(|&(s, e)| e - s > max_len);
    if regions.is_empty() {
        return (x.clone(), none);
    }
    let cuts = SilenceCuts { regions, keep: target };
    (cuts.apply(x), cuts)
}

/// The silent regions `[start, end)` that [`shorten_long_silence_mapped`] cut down to their first `keep` frames.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SilenceCuts {
    pub regions: Vec<(usize, usize)>,
    pub keep: usize,
}

impl SilenceCuts {
    /// Make these cuts in `x`: the buffer they were found in, or one as long (a stem, which then stays
    /// aligned with the take).
    pub fn apply(&self, x: &AudioBuffer) -> AudioBuffer {
        let len = x.frames();
        let mut out = AudioBuffer::from_channels(x.sample_rate(), vec![Vec::new(); x.num_channels()]);
        let mut prev_end = 0;
        for &(s, e) in &self.regions {
            out.append(&x.slice(prev_end, s));
            out.append(&x.slice(s, (s + self.keep).min(len)));
            prev_end = e;
        }
        out.append(&x.slice(prev_end, len));
        out
    }

    /// Where input frame `frame` lands in the output; a frame inside a cut lands at most `keep` into it.
    pub fn map_frame(&self, frame: usize) -> usize {
        let mut removed = 0;
        for &(s, e) in &self.regions {
            let kept_end = (s + self.keep).min(e);
            if frame >= e {
                removed += e - kept_end;
            } else if frame > kept_end {
                removed += frame - kept_end;
                break;
            } else {
                break;
            }
        }
        frame - removed
    }
}

/// `normalize_volume(x, sr, target_lufs=-23)`: RMS-based (not BS.1770), gain clamped to [0.1, 10], then a
/// 0.99 peak limit. Returns the waveform and the gain applied at the peak (the limiter included).
pub fn normalize_volume(x: &AudioBuffer, target_lufs: f64) -> (AudioBuffer, f64) {
    let mono = x.to_mono();
    if mono.is_empty() {
        return (x.clone(), 1.0);
    }
    let rms = (mono.iter().map(|&s| f64::from(s) * f64::from(s)).sum::<f64>() / mono.len() as f64).sqrt();
    if rms < 1e-8 {
        return (x.clone(), 1.0);
    }
    let current = 20.0 * rms.log10() - 0.691;
    let mut gain = 10f64.powf((target_lufs - current) / 20.0).clamp(0.1, 10.0);
    let peak = f64::from(x.peak()) * gain;
    if peak > 0.99 {
        gain *= 0.99 / peak;
    }
    let channels =
        x.channels().iter().map(|c| c.iter().map(|&s| (f64::from(s) * gain) as f32).collect()).collect();
    (AudioBuffer::from_channels(x.sample_rate(), channels), gain)
}

/// Stereo from mono by duplication; anything else unchanged (`ensure_stereo`).
pub fn ensure_stereo(x: &AudioBuffer) -> AudioBuffer {
    if x.num_channels() == 1 {
        AudioBuffer::from_channels(x.sample_rate(), vec![x.channels()[0].clone(), x.channels()[0].clone()])
    } else {
        x.clone()
    }
}

/// Mono from stereo by averaging; any other channel count unchanged (`to_mono` quirk, kept).
pub fn to_mono(x: &AudioBuffer) -> AudioBuffer {
    if x.num_channels() == 2 {
        AudioBuffer::from_channels(x.sample_rate(), vec![x.to_mono()])
    } else {
        x.clone()
    }
}

/// `max|x|` over the non-overlapping windows starting at `range(0, len - window, window)`.
fn window_peaks(mono: &[f32], window: usize) -> Vec<f32> {
    (0..mono.len().saturating_sub(window))
        .step_by(window)
        .map(|start| mono[start..start + window].iter().fold(0.0f32, |m, &s| m.max(s.abs())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference suite's `tone(n) = sin(linspace(0, 100π, n))`.
    fn tone(n: usize) -> Vec<f32> {
        let step = 100.0 * std::f64::consts::PI / (n as f64 - 1.0);
        (0..n).map(|i| (i as f64 * step).sin() as f32).collect()
    }

    fn cat(parts: &[Vec<f32>]) -> Vec<f32> {
        parts.concat()
    }

    fn mono(samples: Vec<f32>) -> AudioBuffer {
        AudioBuffer::from_channels(16_000, vec![samples])
    }

    #[test]
    fn trim_silence_matches_reference_cases() {
        let z = |n| vec![0.0f32; n];
        let cases: [(Vec<f32>, (usize, usize)); 5] = [
            (cat(&[z(32000), tone(16000)]), (24000, 48000)),
            (cat(&[tone(16000), z(32000)]), (0, 24000)),
            (cat(&[z(4800), tone(16000), z(4800)]), (0, 25600)),
            (z(16000), (0, 16000)),
            (vec![0.5, 0.3, 0.1], (0, 3)),
        ];
        for (signal, expected) in cases {
            let x = mono(signal);
            assert_eq!(trim_bounds(&x, 0.5, -40.0), expected);
            assert_eq!(trim_silence(&x, 0.5, -40.0).frames(), expected.1 - expected.0);
        }
        let stereo = AudioBuffer::from_channels(16000, vec![cat(&[z(32000), tone(16000)]); 2]);
        let out = trim_silence(&stereo, 0.5, -40.0);
        assert_eq!((out.frames(), out.num_channels()), (24000, 2));
    }

    #[test]
    fn shorten_long_silence_matches_reference_cases() {
        let z = |n| vec![0.0f32; n];
        let t = || tone(16000);
        let cases = [
            (cat(&[t(), z(48000), t()]), 36800),
            (cat(&[t(), z(8000), t()]), 40000),
            (tone(32000), 32000),
            (cat(&[t(), z(32000), t(), z(32000), t()]), 57600),
        ];
        for (signal, expected) in cases {
            assert_eq!(shorten_long_silence(&mono(signal), 1.0, 0.3, -35.0).frames(), expected);
        }
        let stereo = AudioBuffer::from_channels(16000, vec![cat(&[t(), z(32000), t()]); 2]);
        let out = shorten_long_silence(&stereo, 1.0, 0.3, -35.0);
        assert_eq!((out.frames(), out.num_channels()), (36800, 2));
    }

    #[test]
    fn normalize_volume_matches_reference_cases() {
        let scaled = |k: f32| tone(16000).into_iter().map(|s| s * k).collect::<Vec<_>>();
        // (signal, target, effective gain, out rms, out peak)
        let cases = [
            (scaled(0.001), -23.0, 10.0, 0.007070846837543577, 0.009999999951802547),
            (scaled(0.95), -23.0, 0.11411821361382408, 0.07665667893455588, 0.10841230241061318),
            (scaled(0.8), -14.0, 0.3819342301572661, 0.21604787547657164, 0.3055473826531523),
        ];
        for (signal, target, gain, rms, peak) in cases {
            let (out, applied) = normalize_volume(&mono(signal), target);
            let samples = &out.channels()[0];
            let out_rms =
                (samples.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / samples.len() as f64).sqrt();
            assert!((applied - gain).abs() < 1e-6 * gain, "gain {applied} vs {gain}");
            assert!((out_rms - rms).abs() < 1e-6, "rms {out_rms} vs {rms}");
            assert!((f64::from(out.peak()) - peak).abs() < 1e-6, "peak {} vs {peak}", out.peak());
        }
        let (silent, gain) = normalize_volume(&mono(vec![0.0; 16000]), -23.0);
        assert_eq!((silent.peak(), gain), (0.0, 1.0));
        let stereo = AudioBuffer::from_channels(16000, vec![scaled(0.01), scaled(0.01)]);
        let (out, gain) = normalize_volume(&stereo, -23.0);
        assert_eq!(out.num_channels(), 2);
        assert!((gain - 10.0).abs() < 1e-9 && (f64::from(out.peak()) - 0.09999999951802548).abs() < 1e-6);
    }

    #[test]
    fn channel_helpers_match_reference_cases() {
        let stereo = AudioBuffer::from_channels(1, vec![vec![1.0, 0.0, 0.5], vec![0.0, 1.0, 0.5]]);
        assert_eq!(to_mono(&stereo).channels(), vec![vec![0.5, 0.5, 0.5]]);
        let m = AudioBuffer::from_channels(1, vec![vec![1.0, 2.0, 3.0]]);
        assert_eq!(to_mono(&m), m);
        assert_eq!(ensure_stereo(&m).channels(), vec![vec![1.0, 2.0, 3.0], vec![1.0, 2.0, 3.0]]);
        let s = AudioBuffer::from_channels(1, vec![vec![1.0, 3.0], vec![2.0, 4.0]]);
        assert_eq!(ensure_stereo(&s), s);
        let three = AudioBuffer::from_channels(1, vec![vec![1.0]; 3]);
        assert_eq!(to_mono(&three), three);
    }

    #[test]
    fn mapped_cuts_land_chunk_starts_where_the_output_has_them() {
        let sr = 1000;
        let loud = |n: usize| (0..n).map(|i| if i % 2 == 0 { 0.5 } else { -0.5 }).collect::<Vec<f32>>();
        // 1 s loud, 3 s silence, 1 s loud (a chunk starts here), 0.5 s silence, 1 s loud.
        let signal = cat(&[loud(1000), vec![0.0; 3000], loud(1000), vec![0.0; 500], loud(1000)]);
        let x = AudioBuffer::from_channels(sr, vec![signal.clone()]);
        let (out, cuts) = shorten_long_silence_mapped(&x, 1.0, 0.3, -35.0);
        assert_eq!(out, shorten_long_silence(&x, 1.0, 0.3, -35.0));
        assert_eq!(cuts.regions.len(), 1);
        let start = cuts.map_frame(4000);
        assert_eq!(out.channels()[0][start..start + 1000], signal[4000..5000]);
        assert_eq!(cuts.map_frame(0), 0);
        assert_eq!(cuts.map_frame(signal.len()), out.frames());
        // Inside the cut: no further than the kept 0.3 s into it.
        assert_eq!(cuts.map_frame(2500), cuts.map_frame(1000) + 300);
    }
}
