//! Dialogue / SFX separation with MelBandRoFormer (postprocessing-spec §4).
//!
//! The audio is resampled to the model's 44.1 kHz with torchaudio's sinc resampler (as the ComfyUI node does),
//! separated in overlapping 8 s chunks, and the vocals are resampled back to the input's own rate: the server's
//! habit of labelling the 44.1 kHz result as 48 kHz (§1.8 #1, 8.8 % fast) is not reproduced. The **dialogue**
//! stem is the model's vocals; the **SFX** stem is the input minus the dialogue, computed at the input rate,
//! so the two always sum back to the input. Mono input is separated as dual mono and the dialogue folded back to
//! one channel; the stems always have the input's rate, length and channel count.

pub mod test_model;

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use promptbook_models::candle::{DType, Device};
use promptbook_models::dsp::SincResampler;
use promptbook_models::mel_band_roformer::{self, CHUNK_SIZE, MelBandRoformer, chunked_inference};
use promptbook_models::weights::Checkpoint;

use crate::audio::{AudioBuffer, AudioError};
use crate::device::DeviceKind;
use crate::store::{Store, StoreError};

/// The checkpoint's file name, as the store knows it.
pub const SEPARATOR_FILE: &str = mel_band_roformer::CHECKPOINT_FILE;

/// Torchaudio's sinc kernel has `new × (2·width + orig)` taps for the gcd-reduced rates; above this many
/// (odd rates such as 44 101 Hz) the FFT resampler is used instead.
const MAX_SINC_TAPS: usize = 1 << 22;

/// Why separation failed. Nothing is written by this module, so no failure loses anything.
#[derive(Debug, thiserror::Error)]
pub enum SeparationError {
    /// The model file is not in the store.
    #[error("the separation model is not available: {0}")]
    Missing(#[source] StoreError),
    /// The device could not be opened.
    #[error("{0}")]
    Device(String),
    /// The checkpoint could not be read or does not fit the model.
    #[error("cannot load the separation model: {source} ({path})")]
    Load {
        /// The checkpoint.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: promptbook_models::candle::Error,
    },
    /// The model takes mono or stereo audio.
    #[error("separation takes mono or stereo audio; this has {0} channels")]
    Channels(usize),
    /// The model failed while running.
    #[error("separation failed: {0}")]
    Model(#[source] promptbook_models::candle::Error),
    /// Resampling failed.
    #[error(transparent)]
    Audio(#[from] AudioError),
    /// The progress callback asked to stop.
    #[error("separation cancelled")]
    Cancelled,
}

/// The two stems of one piece of audio, at its rate, length and channel count.
#[derive(Debug, Clone, PartialEq)]
pub struct Stems {
    /// The model's vocals.
    pub dialogue: AudioBuffer,
    /// The input minus the dialogue: ambience, effects, music.
    pub sfx: AudioBuffer,
}

/// A loaded MelBandRoFormer.
#[derive(Debug)]
pub struct Separator {
    model: MelBandRoformer,
    chunk_size: usize,
}

impl Separator {
    /// Load `path` (a `MelBandRoformer_fp16.safetensors`) for f32 compute on `device`.
    pub fn load(path: &Path, device: DeviceKind) -> Result<Self, SeparationError> {
        let device = device.open().map_err(SeparationError::Device)?;
        let load_err = |source| SeparationError::Load { path: path.to_path_buf(), source };
        let checkpoint = Arc::new(Checkpoint::open(&[path]).map_err(load_err)?);
        let model = mel_band_roformer::load(&checkpoint, DType::F32, &device).map_err(load_err)?;
        Ok(Self { model, chunk_size: CHUNK_SIZE })
    }

    /// Find the model in `store` and load it.
    pub fn from_store(store: &Store, device: DeviceKind) -> Result<Self, SeparationError> {
        let path = store.path_of(SEPARATOR_FILE).map_err(SeparationError::Missing)?;
        Self::load(&path, device)
    }

    /// The rate the model runs at (44.1 kHz for the released model).
    pub fn model_rate(&self) -> u32 {
        self.model.config().sample_rate
    }

    /// Model chunks `audio` will take (`progress` counts them).
    pub fn num_chunks(&self, audio: &AudioBuffer) -> usize {
        let frames = (audio.frames() as u64 * u64::from(self.model_rate()))
            .div_ceil(u64::from(audio.sample_rate())) as usize;
        frames.div_ceil(self.chunk_size - self.chunk_size / mel_band_roformer::OVERLAP_FACTOR)
    }

    /// Split `audio` into dialogue and SFX. `progress(done, total)` is called before each model chunk and at
    /// the end; breaking off returns [`SeparationError::Cancelled`].
    pub fn separate(
        &self,
        audio: &AudioBuffer,
        mut progress: impl FnMut(usize, usize) -> ControlFlow<()>,
    ) -> Result<Stems, SeparationError> {
        let (rate, frames, channels) = (audio.sample_rate(), audio.frames(), audio.num_channels());
        if channels > 2 {
            return Err(SeparationError::Channels(channels));
        }
        let model_rate = self.model_rate();
        let at_model_rate: Vec<Vec<f32>> =
            audio.channels().iter().map(|c| resample(c, rate, model_rate)).collect::<Result<_, _>>()?;
        let takes = self.model.config().audio_channels();
        // Dual mono for a stereo model; channel by channel for a mono one.
        let groups: Vec<Vec<Vec<f32>>> = match (takes, channels) {
            (2, 1) => vec![vec![at_model_rate[0].clone(), at_model_rate[0].clone()]],
            (2, _) => vec![at_model_rate],
            _ => at_model_rate.into_iter().map(|c| vec![c]).collect(),
        };
        let total = groups.len() * self.num_chunks(audio);
        let mut vocals = Vec::with_capacity(channels);
        for (g, group) in groups.iter().enumerate() {
            let per_group = total / groups.len();
            let out = chunked_inference(&self.model, group, self.chunk_size, |done, _| {
                progress(g * per_group + done, total)
            })
            .map_err(SeparationError::Model)?
            .ok_or(SeparationError::Cancelled)?;
            vocals.extend(out);
        }
        if channels == 1 && vocals.len() == 2 {
            let (l, r) = (&vocals[0], &vocals[1]);
            vocals = vec![l.iter().zip(r).map(|(a, b)| 0.5 * (a + b)).collect()];
        }
        let mut dialogue = Vec::with_capacity(channels);
        for v in &vocals {
            let mut back = resample(v, model_rate, rate)?;
            back.resize(frames, 0.0);
            dialogue.push(back);
        }
        let sfx: Vec<Vec<f32>> = audio
            .channels()
            .iter()
            .zip(&dialogue)
            .map(|(x, d)| x.iter().zip(d).map(|(x, d)| x - d).collect())
            .collect();
        Ok(Stems { dialogue: AudioBuffer::new(rate, dialogue)?, sfx: AudioBuffer::new(rate, sfx)? })
    }
}

/// One channel from `from_hz` to `to_hz`: torchaudio's resampler (its defaults) where its kernel is small.
fn resample(x: &[f32], from_hz: u32, to_hz: u32) -> Result<Vec<f32>, AudioError> {
    if from_hz == to_hz {
        return Ok(x.to_vec());
    }
    let g = gcd(from_hz, to_hz);
    let (orig, new) = ((from_hz / g) as usize, (to_hz / g) as usize);
    if new.saturating_mul(orig.saturating_add(64)) > MAX_SINC_TAPS {
        let mono = AudioBuffer::mono(from_hz, x.to_vec())?;
        return Ok(crate::audio::resample(&mono, to_hz)?.into_channels().remove(0));
    }
    let err =
        |e: promptbook_models::candle::Error| AudioError::Resample { from_hz, to_hz, detail: e.to_string() };
    let resampler = SincResampler::torchaudio_default(from_hz, to_hz).map_err(err)?;
    let input = promptbook_models::candle::Tensor::from_slice(x, x.len(), &Device::Cpu).map_err(err)?;
    resampler.process_tensor(&input).and_then(|t| t.to_vec1::<f32>()).map_err(err)
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 { a } else { gcd(b, a % b) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resampling_keeps_a_tone_and_the_length_formula() {
        let tone: Vec<f32> =
            (0..48_000).map(|i| (i as f32 * 2.0 * std::f32::consts::PI * 440.0 / 48_000.0).sin()).collect();
        let down = resample(&tone, 48_000, 44_100).unwrap();
        assert_eq!(down.len(), 44_100);
        let back = resample(&down, 44_100, 48_000).unwrap();
        assert_eq!(back.len(), 48_000);
        let err = tone[1000..47_000]
            .iter()
            .zip(&back[1000..47_000])
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        // torchaudio's default kernel (width 6, rolloff 0.99) ripples by about 1e-3 in the pass band.
        assert!(err < 2e-3, "round trip error {err}");
        // An odd rate pair goes through the FFT resampler.
        assert_eq!(resample(&tone, 48_000, 44_101).unwrap().len(), 44_101);
    }
}
