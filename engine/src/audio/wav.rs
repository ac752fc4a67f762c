//! WAV reading and atomic WAV writing with hound.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use super::{AudioBuffer, AudioError};

/// How samples are stored in a written WAV file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WavSampleFormat {
    /// 16-bit integer PCM (×32767, rounded, clamped to ±1.0 first).
    Pcm16,
    /// 24-bit integer PCM (×8388607, rounded, clamped to ±1.0 first).
    Pcm24,
    /// 32-bit IEEE float, written as is (lossless for our `f32` buffers).
    Float32,
}

/// Reads a WAV file (8/16/24/32-bit integer or 32-bit float PCM). Integers are scaled by
/// `1 / 2^(bits-1)`, so full-scale negative is exactly -1.0.
pub fn read_wav(path: &Path) -> Result<AudioBuffer, AudioError> {
    let wav_err = |source| AudioError::Wav { action: "read", path: path.to_path_buf(), source };
    let mut reader = hound::WavReader::open(path).map_err(wav_err)?;
    let spec = reader.spec();
    let interleaved: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => reader.samples::<f32>().collect::<Result<_, _>>().map_err(wav_err)?,
        hound::SampleFormat::Int => {
            let scale = 1.0 / (1_i64 << (spec.bits_per_sample - 1)) as f32;
            reader
                .samples::<i32>()
                .map(|s| s.map(|s| s as f32 * scale))
                .collect::<Result<_, _>>()
                .map_err(wav_err)?
        }
    };
    if interleaved.is_empty() {
        return Err(AudioError::Empty { path: path.to_path_buf() });
    }
    AudioBuffer::from_interleaved(spec.sample_rate, usize::from(spec.channels), &interleaved)
}

/// Writes `audio` as a WAV file. The data goes to a temporary file beside `path` that is renamed
/// over `path` only once it is complete, so a failure never leaves a partial or damaged file.
pub fn write_wav(path: &Path, audio: &AudioBuffer, format: WavSampleFormat) -> Result<(), AudioError> {
    let channels = u16::try_from(audio.num_channels())
        .map_err(|_| AudioError::InvalidBuffer(format!("{} channels", audio.num_channels())))?;
    let (bits_per_sample, sample_format) = match format {
        WavSampleFormat::Pcm16 => (16, hound::SampleFormat::Int),
        WavSampleFormat::Pcm24 => (24, hound::SampleFormat::Int),
        WavSampleFormat::Float32 => (32, hound::SampleFormat::Float),
    };
    let spec = hound::WavSpec { channels, sample_rate: audio.sample_rate(), bits_per_sample, sample_format };
    write_atomically(path, |file, tmp| {
        let wav_err = |source| AudioError::Wav { action: "write", path: tmp.to_path_buf(), source };
        let mut writer = hound::WavWriter::new(BufWriter::new(file), spec).map_err(wav_err)?;
        for s in audio.interleaved() {
            match format {
                WavSampleFormat::Pcm16 => writer.write_sample((s.clamp(-1.0, 1.0) * 32767.0).round() as i16),
                WavSampleFormat::Pcm24 => {
                    writer.write_sample((s.clamp(-1.0, 1.0) * 8_388_607.0).round() as i32)
                }
                WavSampleFormat::Float32 => writer.write_sample(s),
            }
            .map_err(wav_err)?;
        }
        writer.finalize().map_err(wav_err)
    })
}

/// Writes `bytes` to `path` through a temporary file and a rename, like [`write_wav`].
pub fn write_bytes_atomically(path: &Path, bytes: &[u8]) -> Result<(), AudioError> {
    use std::io::Write as _;
    write_atomically(path, |mut file, tmp| {
        file.write_all(bytes).and_then(|()| file.sync_all()).map_err(|source| AudioError::Io {
            action: "write",
            path: tmp.to_path_buf(),
            source,
        })
    })
}

/// Runs `write` on a fresh temporary file in `path`'s directory, then renames it to `path`.
/// On any error the temporary file is removed and `path` is left untouched.
pub(crate) fn write_atomically(
    path: &Path,
    write: impl FnOnce(File, &Path) -> Result<(), AudioError>,
) -> Result<(), AudioError> {
    let tmp = temp_path_for(path);
    let file = File::create(&tmp).map_err(|source| AudioError::Io {
        action: "create",
        path: tmp.clone(),
        source,
    })?;
    let result = write(file, &tmp).and_then(|()| {
        std::fs::rename(&tmp, path).map_err(|source| AudioError::Io {
            action: "rename",
            path: path.to_path_buf(),
            source,
        })
    });
    if result.is_err() {
        // Best effort: the original error is the one worth reporting.
        std::fs::remove_file(&tmp).ok();
    }
    result
}

fn temp_path_for(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!(".{name}.{}.part", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("promptbook-wav-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn round_trips_each_format() {
        let dir = temp_dir("roundtrip");
        let samples: Vec<f32> = (0..480).map(|i| (i as f32 * 0.05).sin() * 0.8).collect();
        let audio =
            AudioBuffer::new(48_000, vec![samples.clone(), samples.iter().map(|s| -s).collect()]).unwrap();
        for (format, tol) in [
            (WavSampleFormat::Pcm16, 1.0 / 16_000.0),
            (WavSampleFormat::Pcm24, 1.0 / 4_000_000.0),
            (WavSampleFormat::Float32, 0.0),
        ] {
            let path = dir.join(format!("{format:?}.wav"));
            write_wav(&path, &audio, format).unwrap();
            let back = read_wav(&path).unwrap();
            assert_eq!(back.sample_rate(), 48_000);
            assert_eq!(back.num_channels(), 2);
            for (a, b) in audio.channels().iter().flatten().zip(back.channels().iter().flatten()) {
                assert!((a - b).abs() <= tol, "{format:?}: {a} vs {b}");
            }
        }
        let leftovers: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".part"))
            .collect();
        assert!(leftovers.is_empty(), "temporary files left behind: {leftovers:?}");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn failed_write_leaves_nothing() {
        let dir = temp_dir("fail");
        let path = dir.join("out.wav");
        let err = write_atomically(&path, |_, _| Err(AudioError::InvalidBuffer("boom".into())));
        assert!(err.is_err());
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
        std::fs::remove_dir_all(&dir).ok();
    }
}
