//! Audio file I/O and sample-rate conversion for reference clips and takes.
//!
//! - [`AudioBuffer`]: planar `f32` audio, `(channels, frames)` like the candle side.
//! - [`wav`]: read and write WAV files with hound; writes are atomic (temp file, then rename).
//! - [`import`]: decode WAV, FLAC, MP3 and OGG Vorbis with symphonia, resample, save as WAV.
//! - [`resample`]: offline sample-rate conversion with rubato's FFT resampler.
//! - [`reference`]: which part of a reference clip the engine turns into the reference latent.
//! - [`bwf`], [`stems`]: Broadcast WAV stems with `bext` / `iXML` metadata and loudness presets.

pub mod bwf;
pub mod import;
pub mod reference;
pub mod resample;
pub mod stems;
pub mod wav;

use std::path::PathBuf;

pub use import::{
    MAX_SAMPLE_RATE, MIN_SAMPLE_RATE, ReadLimits, SourceInfo, decode_file, decode_file_head,
    decode_file_with, decode_wav_bytes, import_file,
};
pub use reference::ReferenceUse;
pub use resample::resample;
pub use wav::{WavSampleFormat, read_wav, write_bytes_atomically, write_wav, write_wav_with_record};

/// The rate the studio stores reference clips and takes at: the model's 48 kHz output rate.
pub const ENGINE_SAMPLE_RATE: u32 = 48_000;

/// Files longer than this are refused by [`decode_file`] rather than decoded into memory.
pub const MAX_DECODE_SECS: f64 = 600.0;

/// Errors from reading, decoding, resampling or writing audio.
#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    /// The file could not be opened, read or written.
    #[error("{action} failed: {source} ({path})")]
    Io {
        /// What was being done ("open", "write", "rename", ...).
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The container or codec is not one we can decode (WAV, FLAC, MP3, OGG Vorbis).
    #[error("not a WAV, FLAC, MP3 or OGG Vorbis file we can decode: {detail} ({path})")]
    Unsupported {
        /// The file.
        path: PathBuf,
        /// What the decoder said.
        detail: String,
    },
    /// The file is recognised but its data is damaged or truncated.
    #[error("the audio data is corrupt near {at_secs:.2} s: {detail} ({path})")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Roughly where decoding failed, in seconds from the start.
        at_secs: f64,
        /// What the decoder said.
        detail: String,
    },
    /// The file is longer than [`MAX_DECODE_SECS`]; reference clips are seconds long.
    #[error("the file is longer than {max_secs:.0} s; cut out the part you want first ({path})")]
    TooLong {
        /// The file.
        path: PathBuf,
        /// The limit.
        max_secs: f64,
    },
    /// The path is a folder or a device, not a file.
    #[error("{path} is {what}, not an audio file")]
    NotAFile {
        /// The path.
        path: PathBuf,
        /// "a folder" or "not a regular file".
        what: &'static str,
    },
    /// The header's sample rate is outside what any recording uses.
    #[error("the sample rate {rate} Hz is outside 8 kHz–384 kHz; resample the file to 48 kHz first ({path})")]
    SampleRate {
        /// The file.
        path: PathBuf,
        /// What the header says.
        rate: u32,
    },
    /// A sample is NaN or infinite (a broken float WAV): it would turn everything after it to noise.
    #[error("the audio holds a NaN or infinite sample at {at_secs:.3} s; re-export the file ({path})")]
    NonFinite {
        /// The file.
        path: PathBuf,
        /// Where the first one is.
        at_secs: f64,
    },
    /// The file decoded but holds no samples.
    #[error("the file holds no audio ({path})")]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// The WAV reader or writer failed.
    #[error("WAV {action} failed: {source} ({path})")]
    Wav {
        /// "read" or "write".
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// hound's error.
        #[source]
        source: hound::Error,
    },
    /// The resampler could not be built or failed.
    #[error("resampling {from_hz} Hz -> {to_hz} Hz failed: {detail}")]
    Resample {
        /// Input rate.
        from_hz: u32,
        /// Output rate.
        to_hz: u32,
        /// rubato's message.
        detail: String,
    },
    /// A buffer was built with inconsistent channels or an invalid rate.
    #[error("invalid audio buffer: {0}")]
    InvalidBuffer(String),
}

/// Planar `f32` audio: one `Vec` per channel, every channel the same length. Nominal range is ±1.0.
/// The one audio type of the engine: files, references, chunks, takes and stems. Takes are shared by
/// `Arc<AudioBuffer>` between the engine, the studio's timeline and playback, never copied.
#[derive(Debug, Clone, PartialEq)]
pub struct AudioBuffer {
    sample_rate: u32,
    channels: Vec<Vec<f32>>,
}

impl AudioBuffer {
    /// Builds a buffer from planar channels; fails if there are no channels, the lengths differ or
    /// the rate is zero.
    pub fn new(sample_rate: u32, channels: Vec<Vec<f32>>) -> Result<Self, AudioError> {
        if sample_rate == 0 {
            return Err(AudioError::InvalidBuffer("sample rate is 0".into()));
        }
        let Some(first) = channels.first() else {
            return Err(AudioError::InvalidBuffer("no channels".into()));
        };
        let frames = first.len();
        if let Some(bad) = channels.iter().position(|c| c.len() != frames) {
            return Err(AudioError::InvalidBuffer(format!(
                "channel {bad} has {} frames, channel 0 has {frames}",
                channels[bad].len()
            )));
        }
        Ok(Self { sample_rate, channels })
    }

    /// A buffer from channels that have one length by construction (DSP output, model output); the
    /// lengths are checked in debug builds. Use [`AudioBuffer::new`] for anything from outside.
    pub fn from_channels(sample_rate: u32, channels: Vec<Vec<f32>>) -> Self {
        debug_assert!(channels.windows(2).all(|w| w[0].len() == w[1].len()), "ragged channels");
        Self { sample_rate, channels }
    }

    /// `frames` of silence on `channels` channels.
    pub fn silence(sample_rate: u32, channels: usize, frames: usize) -> Self {
        Self::from_channels(sample_rate, vec![vec![0.0; frames]; channels])
    }

    /// A one-channel buffer.
    pub fn mono(sample_rate: u32, samples: Vec<f32>) -> Result<Self, AudioError> {
        Self::new(sample_rate, vec![samples])
    }

    /// Splits interleaved samples (`frame0ch0, frame0ch1, ...`) into planar channels. A trailing
    /// partial frame is dropped.
    pub fn from_interleaved(
        sample_rate: u32,
        num_channels: usize,
        interleaved: &[f32],
    ) -> Result<Self, AudioError> {
        if num_channels == 0 {
            return Err(AudioError::InvalidBuffer("no channels".into()));
        }
        let frames = interleaved.len() / num_channels;
        let mut channels = vec![Vec::with_capacity(frames); num_channels];
        for frame in interleaved.chunks_exact(num_channels) {
            for (channel, &s) in channels.iter_mut().zip(frame) {
                channel.push(s);
            }
        }
        Self::new(sample_rate, channels)
    }

    /// Samples per second.
    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    /// Number of channels (at least 1).
    pub fn num_channels(&self) -> usize {
        self.channels.len()
    }

    /// Number of frames (samples per channel).
    pub fn frames(&self) -> usize {
        self.channels.first().map_or(0, Vec::len)
    }

    /// Length in seconds.
    pub fn duration_secs(&self) -> f64 {
        self.frames() as f64 / f64::from(self.sample_rate)
    }

    /// The planar channels.
    pub fn channels(&self) -> &[Vec<f32>] {
        &self.channels
    }

    /// Consumes the buffer, returning its planar channels.
    pub fn into_channels(self) -> Vec<Vec<f32>> {
        self.channels
    }

    /// The mean of all channels, frame by frame (summed in f64: for two channels this is exactly the
    /// f32 mean, and it stays exact for more).
    pub fn to_mono(&self) -> Vec<f32> {
        match self.channels.as_slice() {
            [] => Vec::new(),
            [only] => only.clone(),
            channels => {
                let n = channels.len() as f64;
                (0..self.frames())
                    .map(|i| (channels.iter().map(|c| f64::from(c[i])).sum::<f64>() / n) as f32)
                    .collect()
            }
        }
    }

    /// Frames `start..end` of every channel, clamped to the buffer.
    pub fn slice(&self, start: usize, end: usize) -> Self {
        let end = end.min(self.frames());
        let start = start.min(end);
        Self::from_channels(self.sample_rate, self.channels.iter().map(|c| c[start..end].to_vec()).collect())
    }

    /// The last `seconds` (all of it when shorter).
    pub fn tail(&self, seconds: f64) -> Self {
        let frames = (seconds * f64::from(self.sample_rate)).round() as usize;
        self.slice(self.frames().saturating_sub(frames), self.frames())
    }

    /// Append `other` (same rate and channel count) at the end; an empty buffer takes `other`'s channels.
    pub fn append(&mut self, other: &AudioBuffer) {
        debug_assert_eq!(self.sample_rate, other.sample_rate);
        if self.channels.is_empty() || self.frames() == 0 && self.channels.len() != other.channels.len() {
            self.channels = other.channels.clone();
            return;
        }
        for (dst, src) in self.channels.iter_mut().zip(&other.channels) {
            dst.extend_from_slice(src);
        }
    }

    /// The largest absolute sample.
    pub fn peak(&self) -> f32 {
        self.channels.iter().flatten().fold(0.0f32, |m, &s| m.max(s.abs()))
    }

    /// Whether every sample is finite (no NaN or infinity).
    pub fn is_finite(&self) -> bool {
        self.channels.iter().flatten().all(|s| s.is_finite())
    }

    /// Interleaves the channels (`frame0ch0, frame0ch1, ...`).
    pub fn interleaved(&self) -> Vec<f32> {
        let mut out = Vec::with_capacity(self.frames() * self.num_channels());
        for i in 0..self.frames() {
            out.extend(self.channels.iter().map(|c| c[i]));
        }
        out
    }

    /// The part between `start_secs` and `end_secs`, clamped to the buffer (frames are rounded to
    /// the nearest sample). An empty or inverted range gives an empty buffer.
    pub fn slice_secs(&self, start_secs: f64, end_secs: f64) -> Self {
        let to_frame = |secs: f64| {
            let f = (secs.max(0.0) * f64::from(self.sample_rate)).round() as usize;
            f.min(self.frames())
        };
        let start = to_frame(start_secs);
        let end = to_frame(end_secs).max(start);
        Self {
            sample_rate: self.sample_rate,
            channels: self.channels.iter().map(|c| c[start..end].to_vec()).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interleave_round_trip_and_mono_mix() {
        let buf = AudioBuffer::from_interleaved(8000, 2, &[0.5, -0.5, 1.0, 0.0, 0.25, 0.75]).unwrap();
        assert_eq!(buf.frames(), 3);
        assert_eq!(buf.channels()[1], vec![-0.5, 0.0, 0.75]);
        assert_eq!(buf.interleaved(), vec![0.5, -0.5, 1.0, 0.0, 0.25, 0.75]);
        assert_eq!(buf.to_mono(), vec![0.0, 0.5, 0.5]);
    }

    #[test]
    fn rejects_ragged_channels_and_zero_rate() {
        assert!(AudioBuffer::new(48_000, vec![vec![0.0; 3], vec![0.0; 2]]).is_err());
        assert!(AudioBuffer::new(0, vec![vec![0.0; 3]]).is_err());
        assert!(AudioBuffer::new(48_000, vec![]).is_err());
    }

    #[test]
    fn slice_clamps_to_the_buffer() {
        let buf = AudioBuffer::mono(10, (0..20).map(|i| i as f32).collect()).unwrap();
        assert_eq!(buf.slice_secs(0.5, 1.2).channels()[0], vec![5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0]);
        assert_eq!(buf.slice_secs(1.5, 9.0).frames(), 5);
        assert_eq!(buf.slice_secs(1.5, 0.5).frames(), 0);
    }
}
