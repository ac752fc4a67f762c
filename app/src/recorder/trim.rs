//! Trim handles over a clip, the 10–20 s target band and the span the engine encodes.

use promptbook_engine::audio::ReferenceUse;
use promptbook_engine::audio::reference::{TARGET_MAX_SECS, TARGET_MIN_SECS, latent_frames};

/// The shortest selection the handles allow.
pub const MIN_SELECTION_SECS: f64 = 0.5;

/// A selection `[start, end]` inside a clip of `clip_secs` seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Trim {
    clip_secs: f64,
    start: f64,
    end: f64,
}

/// How the selection's length compares with the 10–20 s the model is built for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LengthFit {
    /// Shorter than 10 s.
    TooShort,
    /// 10–20 s.
    InBand,
    /// Longer than 20 s: the engine ignores the rest.
    TooLong,
}

impl Trim {
    /// Selects the whole clip.
    pub fn new(clip_secs: f64) -> Self {
        let clip_secs = clip_secs.max(0.0);
        Self { clip_secs, start: 0.0, end: clip_secs }
    }

    /// The clip's length.
    pub fn clip_secs(&self) -> f64 {
        self.clip_secs
    }

    /// Start of the selection, seconds.
    pub fn start(&self) -> f64 {
        self.start
    }

    /// End of the selection, seconds.
    pub fn end(&self) -> f64 {
        self.end
    }

    /// Length of the selection.
    pub fn len_secs(&self) -> f64 {
        self.end - self.start
    }

    /// Moves the start handle, keeping at least [`MIN_SELECTION_SECS`] selected.
    pub fn set_start(&mut self, secs: f64) {
        let min_len = MIN_SELECTION_SECS.min(self.clip_secs);
        self.start = secs.clamp(0.0, (self.end - min_len).max(0.0));
    }

    /// Moves the end handle, keeping at least [`MIN_SELECTION_SECS`] selected.
    pub fn set_end(&mut self, secs: f64) {
        let min_len = MIN_SELECTION_SECS.min(self.clip_secs);
        self.end = secs.clamp((self.start + min_len).min(self.clip_secs), self.clip_secs);
    }

    /// Where the end handle must be for a 10–20 s selection, clamped to the clip; `None` when the
    /// clip is too short to reach 10 s from the current start.
    pub fn target_band(&self) -> Option<(f64, f64)> {
        let lo = self.start + TARGET_MIN_SECS;
        (lo <= self.clip_secs).then(|| (lo, (self.start + TARGET_MAX_SECS).min(self.clip_secs)))
    }

    /// How the selection's length compares with 10–20 s.
    pub fn fit(&self) -> LengthFit {
        let len = self.len_secs();
        if len < TARGET_MIN_SECS {
            LengthFit::TooShort
        } else if len <= TARGET_MAX_SECS + 1e-9 {
            LengthFit::InBand
        } else {
            LengthFit::TooLong
        }
    }

    /// The span of the clip (absolute seconds) the engine encodes into the reference latent.
    pub fn used_span(&self, how: ReferenceUse) -> (f64, f64) {
        let (a, b) = how.used_span(self.len_secs());
        (self.start + a, self.start + b)
    }

    /// The number of reference latent frames the used span becomes.
    pub fn latent_frames(&self, how: ReferenceUse) -> usize {
        let (a, b) = self.used_span(how);
        latent_frames(b - a)
    }
}

/// Min/max envelope of `samples` in `columns` equal slices, for drawing a waveform.
pub fn envelope(samples: &[f32], columns: usize) -> Vec<(f32, f32)> {
    if samples.is_empty() || columns == 0 {
        return Vec::new();
    }
    (0..columns)
        .map(|c| {
            let a = c * samples.len() / columns;
            let b = ((c + 1) * samples.len() / columns).max(a + 1).min(samples.len());
            samples[a..b].iter().fold((f32::MAX, f32::MIN), |(lo, hi), &s| (lo.min(s), hi.max(s)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_stay_ordered_and_inside_the_clip() {
        let mut t = Trim::new(25.0);
        t.set_start(-3.0);
        assert_eq!(t.start(), 0.0);
        t.set_end(40.0);
        assert_eq!(t.end(), 25.0);
        t.set_start(24.9);
        assert_eq!(t.start(), 24.5);
        t.set_end(1.0);
        assert_eq!(t.end(), 25.0);
        t.set_start(2.0);
        t.set_end(2.1);
        assert_eq!(t.end(), 2.5);
    }

    #[test]
    fn band_fit_and_used_span() {
        let mut t = Trim::new(25.0);
        assert_eq!(t.fit(), LengthFit::TooLong);
        assert_eq!(t.target_band(), Some((10.0, 20.0)));
        assert_eq!(t.used_span(ReferenceUse::Head), (0.0, 20.0));
        assert_eq!(t.latent_frames(ReferenceUse::Head), 501);
        t.set_start(2.0);
        t.set_end(14.0);
        assert_eq!(t.fit(), LengthFit::InBand);
        assert_eq!(t.target_band(), Some((12.0, 22.0)));
        assert_eq!(t.used_span(ReferenceUse::Head), (2.0, 14.0));
        assert_eq!(t.used_span(ReferenceUse::AnchorTail), (11.0, 14.0));
        assert_eq!(t.latent_frames(ReferenceUse::AnchorTail), 76);
        t.set_end(25.0);
        t.set_start(20.0);
        assert_eq!(t.fit(), LengthFit::TooShort);
        assert_eq!(t.target_band(), None);
    }

    #[test]
    fn envelope_covers_every_sample() {
        let s: Vec<f32> = (0..10).map(|i| i as f32 - 5.0).collect();
        assert_eq!(envelope(&s, 2), vec![(-5.0, -1.0), (0.0, 4.0)]);
        assert_eq!(envelope(&s, 20).len(), 20);
        assert!(envelope(&[], 5).is_empty());
    }
}
