//! Fundamental frequency (F0) tracking with YIN, and pitch statistics in semitones.
//!
//! YIN: de Cheveigné & Kawahara, "YIN, a fundamental frequency estimator for speech and music",
//! JASA 111(4), 2002. Steps used here: the difference function (step 2), the cumulative mean
//! normalised difference (step 3), the absolute threshold (step 4) and parabolic interpolation
//! (step 5). The tracker runs on the mono mix resampled to 8 kHz (speech harmonics below 4 kHz are
//! plenty for F0), and stops computing the difference function once the chosen dip is found.

use super::levels::{power_db, quantile};

/// The rate F0 is tracked at.
pub const PITCH_RATE: u32 = 8_000;
/// Lowest F0 searched, in Hz (low male voices).
pub const MIN_F0_HZ: f64 = 55.0;
/// Highest F0 searched, in Hz (raised, emotional voices).
pub const MAX_F0_HZ: f64 = 600.0;
/// Integration window in samples at [`PITCH_RATE`] (32 ms, almost two periods of the lowest F0).
const WINDOW: usize = 256;
/// Hop between frames in samples at [`PITCH_RATE`] (10 ms).
pub const HOP: usize = 80;
/// YIN's absolute threshold on the normalised difference.
const THRESHOLD: f64 = 0.15;
/// Frames whose best normalised difference is above this are unvoiced.
const VOICED_MAX: f64 = 0.25;
/// Frames more than this below the loudest frame are not tracked (breath, room noise).
const BELOW_LOUDEST_DB: f64 = 30.0;
/// Frames below this level are not tracked.
const MIN_LEVEL_DBFS: f64 = -60.0;
/// Fewer voiced frames than this (0.2 s) give no statistics.
pub const MIN_VOICED_FRAMES: usize = 20;

/// One tracked frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct F0Frame {
    /// Centre of the analysis window, in seconds from the start.
    pub time_secs: f64,
    /// F0 in Hz, or `None` when the frame is unvoiced or too quiet.
    pub f0_hz: Option<f64>,
}

/// Tracks F0 over `signal` (mono, at `sample_rate`, normally [`PITCH_RATE`]).
pub fn track(signal: &[f32], sample_rate: u32) -> Vec<F0Frame> {
    let rate = f64::from(sample_rate);
    let tau_min = (rate / MAX_F0_HZ).floor().max(2.0) as usize;
    let tau_max = (rate / MIN_F0_HZ).ceil() as usize;
    let span = WINDOW + tau_max + 1;
    if signal.len() < span {
        return Vec::new();
    }
    let starts: Vec<usize> = (0..=signal.len() - span).step_by(HOP).collect();
    let levels: Vec<f64> = starts
        .iter()
        .map(|&s| {
            let w = &signal[s..s + WINDOW];
            power_db(w.iter().map(|&x| f64::from(x) * f64::from(x)).sum::<f64>() / WINDOW as f64)
        })
        .collect();
    let loudest = levels.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let gate = (loudest - BELOW_LOUDEST_DB).max(MIN_LEVEL_DBFS);
    let mut cmnd = vec![1.0_f64; tau_max + 2];
    starts
        .iter()
        .zip(&levels)
        .map(|(&s, &level)| {
            let time_secs = (s + WINDOW / 2) as f64 / rate;
            let f0_hz = if level >= gate {
                yin_frame(&signal[s..s + span], tau_min, tau_max, &mut cmnd).map(|tau| rate / tau)
            } else {
                None
            };
            F0Frame { time_secs, f0_hz }
        })
        .collect()
}

/// YIN on one frame; returns the period in samples (fractional) or `None` when unvoiced.
/// `cmnd` is scratch space of at least `tau_max + 2` entries.
fn yin_frame(x: &[f32], tau_min: usize, tau_max: usize, cmnd: &mut [f64]) -> Option<f64> {
    // Steps 2 and 3, one lag at a time: d(τ) = Σ_j (x_j − x_{j+τ})² over the window, and
    // d'(τ) = d(τ) · τ / Σ_{k≤τ} d(k) with d'(0) = 1.
    let mut running = 0.0;
    cmnd[0] = 1.0;
    let mut lag = |tau: usize, cmnd: &mut [f64]| {
        let mut d = 0.0_f64;
        for (&a, &b) in x[..WINDOW].iter().zip(&x[tau..tau + WINDOW]) {
            let e = f64::from(a - b);
            d += e * e;
        }
        running += d;
        cmnd[tau] = if running > 0.0 { d * tau as f64 / running } else { 1.0 };
    };
    for tau in 1..tau_min {
        lag(tau, cmnd);
    }
    // Step 4: the first dip below the threshold, followed down to its local minimum.
    let mut dip = None;
    let mut tau = tau_min;
    lag(tau, cmnd);
    while tau <= tau_max {
        lag(tau + 1, cmnd);
        if dip.is_none() && cmnd[tau] < THRESHOLD {
            dip = Some(tau);
        }
        if dip.is_some() && cmnd[tau + 1] >= cmnd[tau] {
            break;
        }
        tau += 1;
    }
    let tau = match dip {
        Some(_) if tau <= tau_max => tau,
        // No dip below the threshold: the global minimum, if it is low enough to call voiced.
        _ => (tau_min..=tau_max)
            .min_by(|&a, &b| cmnd[a].total_cmp(&cmnd[b]))
            .filter(|&t| cmnd[t] < VOICED_MAX)?,
    };
    if tau == tau_max && cmnd[tau + 1] < cmnd[tau] {
        return None; // still falling at the edge: the period is longer than we search
    }
    // Step 5: parabolic interpolation around the minimum.
    let (a, b, c) = (cmnd[tau - 1], cmnd[tau], cmnd[tau + 1]);
    let denom = a - 2.0 * b + c;
    let shift = if denom > 0.0 { (0.5 * (a - c) / denom).clamp(-0.5, 0.5) } else { 0.0 };
    Some(tau as f64 + shift)
}

/// Pitch statistics over the voiced frames.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PitchStats {
    /// Number of voiced frames.
    pub voiced_frames: usize,
    /// Median F0 in Hz.
    pub median_hz: f64,
    /// 5th–95th percentile spread of F0, in semitones.
    pub range_semitones: f64,
    /// Standard deviation of F0, in semitones.
    pub std_semitones: f64,
}

/// Statistics over the voiced frames of `frames`; `None` with fewer than [`MIN_VOICED_FRAMES`].
pub fn stats(frames: &[F0Frame]) -> Option<PitchStats> {
    let hz: Vec<f64> = frames.iter().filter_map(|f| f.f0_hz).collect();
    if hz.len() < MIN_VOICED_FRAMES {
        return None;
    }
    let st: Vec<f64> = hz.iter().map(|&f| hz_to_semitones(f)).collect();
    let mean = st.iter().sum::<f64>() / st.len() as f64;
    let var = st.iter().map(|s| (s - mean).powi(2)).sum::<f64>() / st.len() as f64;
    Some(PitchStats {
        voiced_frames: hz.len(),
        median_hz: quantile(&hz, 0.5)?,
        range_semitones: quantile(&st, 0.95)? - quantile(&st, 0.05)?,
        std_semitones: var.sqrt(),
    })
}

/// Semitones above 100 Hz.
pub fn hz_to_semitones(hz: f64) -> f64 {
    12.0 * (hz / 100.0).log2()
}
