//! A planar multi-channel waveform: what the decoder produces and what a take holds.

/// `channels[c][i]` is sample `i` of channel `c`; every channel has the same length.
#[derive(Debug, Clone, PartialEq)]
pub struct Waveform {
    pub sample_rate: u32,
    pub channels: Vec<Vec<f32>>,
}

impl Waveform {
    pub fn new(sample_rate: u32, channels: Vec<Vec<f32>>) -> Self {
        debug_assert!(channels.windows(2).all(|w| w[0].len() == w[1].len()), "ragged channels");
        Self { sample_rate, channels }
    }

    pub fn mono(sample_rate: u32, samples: Vec<f32>) -> Self {
        Self::new(sample_rate, vec![samples])
    }

    pub fn silence(sample_rate: u32, channels: usize, frames: usize) -> Self {
        Self::new(sample_rate, vec![vec![0.0; frames]; channels])
    }

    pub fn frames(&self) -> usize {
        self.channels.first().map_or(0, Vec::len)
    }

    pub fn channel_count(&self) -> usize {
        self.channels.len()
    }

    pub fn duration_s(&self) -> f64 {
        self.frames() as f64 / f64::from(self.sample_rate)
    }

    /// The per-frame channel mean (the reference's "mono view").
    pub fn mono_mix(&self) -> Vec<f32> {
        match self.channels.len() {
            0 => Vec::new(),
            1 => self.channels[0].clone(),
            n => (0..self.frames())
                .map(|i| (self.channels.iter().map(|c| f64::from(c[i])).sum::<f64>() / n as f64) as f32)
                .collect(),
        }
    }

    /// Frames `start..end` of every channel.
    pub fn slice(&self, start: usize, end: usize) -> Self {
        let end = end.min(self.frames());
        let start = start.min(end);
        Self::new(self.sample_rate, self.channels.iter().map(|c| c[start..end].to_vec()).collect())
    }

    /// The last `seconds` of the waveform (all of it when shorter).
    pub fn tail(&self, seconds: f64) -> Self {
        let frames = (seconds * f64::from(self.sample_rate)).round() as usize;
        self.slice(self.frames().saturating_sub(frames), self.frames())
    }

    /// Append `other` (same rate and channel count) at the end.
    pub fn append(&mut self, other: &Waveform) {
        debug_assert_eq!(self.sample_rate, other.sample_rate);
        if self.channels.is_empty() {
            self.channels = other.channels.clone();
            return;
        }
        for (dst, src) in self.channels.iter_mut().zip(&other.channels) {
            dst.extend_from_slice(src);
        }
    }

    /// Interleaved samples (frame-major), as WAV files and audio devices want them.
    pub fn interleaved(&self) -> Vec<f32> {
        let (frames, n) = (self.frames(), self.channels.len());
        let mut out = Vec::with_capacity(frames * n);
        for i in 0..frames {
            out.extend(self.channels.iter().map(|c| c[i]));
        }
        out
    }

    pub fn peak(&self) -> f32 {
        self.channels.iter().flatten().fold(0.0f32, |m, &s| m.max(s.abs()))
    }
}
