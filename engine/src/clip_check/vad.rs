//! Frame energies, the noise floor and an energy-based voice activity detector.
//!
//! The clip is cut into 20 ms frames of the mono mix. The noise floor is the 10th percentile of the
//! frame levels (the quiet gaps between words). A frame is voice when it is at least 12 dB above
//! that floor, within 40 dB of the loudest frame and above −60 dBFS; a 60 ms hangover keeps word
//! endings. A signal without any level changes (steady noise or a steady tone) has no frame above
//! its own floor, so it counts as no speech.

use super::levels::{power_db, quantile};

/// Analysis frame length in seconds.
pub const FRAME_SECS: f64 = 0.02;
/// Percentile of frame levels taken as the noise floor.
pub const FLOOR_QUANTILE: f64 = 0.10;
/// How far above the noise floor a frame must be to count as voice.
pub const ABOVE_FLOOR_DB: f64 = 12.0;
/// Frames more than this below the loudest frame are never voice.
pub const BELOW_LOUDEST_DB: f64 = 40.0;
/// Frames below this level are never voice.
pub const ABSOLUTE_MIN_DBFS: f64 = -60.0;
/// Frames kept as voice after the level drops.
pub const HANGOVER_FRAMES: usize = 3;
/// Level reported for digital silence, instead of −∞.
pub const SILENCE_DBFS: f64 = -150.0;

/// Frame-level analysis of a mono signal.
#[derive(Debug, Clone, PartialEq)]
pub struct FrameAnalysis {
    /// Samples per frame.
    pub frame_len: usize,
    /// Mean power of each frame.
    pub power: Vec<f64>,
    /// RMS level of each frame in dBFS (digital silence is [`SILENCE_DBFS`]).
    pub level_db: Vec<f64>,
    /// The noise floor in dBFS.
    pub noise_floor_db: f64,
    /// The voice threshold in dBFS.
    pub threshold_db: f64,
    /// Voice activity per frame.
    pub active: Vec<bool>,
}

impl FrameAnalysis {
    /// Analyses `mono` at `sample_rate`. A trailing partial frame is ignored.
    pub fn new(mono: &[f32], sample_rate: u32) -> Self {
        let frame_len = ((f64::from(sample_rate) * FRAME_SECS).round() as usize).max(1);
        let power: Vec<f64> = mono
            .chunks_exact(frame_len)
            .map(|f| f.iter().map(|&s| f64::from(s) * f64::from(s)).sum::<f64>() / frame_len as f64)
            .collect();
        let level_db: Vec<f64> = power.iter().map(|&p| power_db(p).max(SILENCE_DBFS)).collect();
        let noise_floor_db = quantile(&level_db, FLOOR_QUANTILE).unwrap_or(SILENCE_DBFS);
        let loudest = level_db.iter().copied().fold(SILENCE_DBFS, f64::max);
        let threshold_db =
            (noise_floor_db + ABOVE_FLOOR_DB).max(loudest - BELOW_LOUDEST_DB).max(ABSOLUTE_MIN_DBFS);
        let mut active = vec![false; level_db.len()];
        let mut hang = 0;
        for (a, &l) in active.iter_mut().zip(&level_db) {
            if l >= threshold_db {
                *a = true;
                hang = HANGOVER_FRAMES;
            } else if hang > 0 {
                *a = true;
                hang -= 1;
            }
        }
        Self { frame_len, power, level_db, noise_floor_db, threshold_db, active }
    }

    /// The fraction of frames with voice (0…1); 0 for an empty clip.
    pub fn speech_ratio(&self) -> f64 {
        if self.active.is_empty() {
            return 0.0;
        }
        self.active.iter().filter(|&&a| a).count() as f64 / self.active.len() as f64
    }

    /// Indices of the frames at or above the threshold (voice without the hangover).
    pub fn loud_frames(&self) -> impl Iterator<Item = usize> + '_ {
        self.level_db.iter().enumerate().filter(|(_, l)| **l >= self.threshold_db).map(|(i, _)| i)
    }

    /// RMS level of the frames at or above the threshold, in dBFS; `None` when there are none.
    pub fn speech_rms_db(&self) -> Option<f64> {
        let (sum, n) = self.loud_frames().fold((0.0, 0usize), |(s, n), i| (s + self.power[i], n + 1));
        (n > 0).then(|| power_db(sum / n as f64))
    }

    /// The loudest frame in dBFS.
    pub fn loudest_db(&self) -> f64 {
        self.level_db.iter().copied().fold(SILENCE_DBFS, f64::max)
    }
}
