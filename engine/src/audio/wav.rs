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

/// Reads a WAV file (8/16/24/32-bit integer or 32-bit float PCM) of any length, through the same
/// checks as [`super::decode_file`]. Integers are scaled by `1 / 2^(bits-1)`, so full-scale negative
/// is exactly -1.0.
pub fn read_wav(path: &Path) -> Result<AudioBuffer, AudioError> {
    let whole = super::ReadLimits { max_file_secs: None, head_secs: None };
    super::decode_file_with(path, whole).map(|(audio, _)| audio)
}

/// Writes `audio` as a WAV file. The data goes to a temporary file beside `path` that is renamed
/// over `path` only once it is complete, so a failure never leaves a partial or damaged file.
pub fn write_wav(path: &Path, audio: &AudioBuffer, format: WavSampleFormat) -> Result<(), AudioError> {
    write_atomically(path, |file, tmp| encode_wav(file, tmp, audio, format))
}

fn encode_wav(
    file: File,
    tmp: &Path,
    audio: &AudioBuffer,
    format: WavSampleFormat,
) -> Result<(), AudioError> {
    let channels = u16::try_from(audio.num_channels())
        .map_err(|_| AudioError::InvalidBuffer(format!("{} channels", audio.num_channels())))?;
    let (bits_per_sample, sample_format) = match format {
        WavSampleFormat::Pcm16 => (16, hound::SampleFormat::Int),
        WavSampleFormat::Pcm24 => (24, hound::SampleFormat::Int),
        WavSampleFormat::Float32 => (32, hound::SampleFormat::Float),
    };
    let spec = hound::WavSpec { channels, sample_rate: audio.sample_rate(), bits_per_sample, sample_format };
    let wav_err = |source| AudioError::Wav { action: "write", path: tmp.to_path_buf(), source };
    let mut writer = hound::WavWriter::new(BufWriter::new(file), spec).map_err(wav_err)?;
    for s in audio.interleaved() {
        match format {
            WavSampleFormat::Pcm16 => writer.write_sample((s.clamp(-1.0, 1.0) * 32767.0).round() as i16),
            WavSampleFormat::Pcm24 => writer.write_sample((s.clamp(-1.0, 1.0) * 8_388_607.0).round() as i32),
            WavSampleFormat::Float32 => writer.write_sample(s),
        }
        .map_err(wav_err)?;
    }
    writer.finalize().map_err(wav_err)
}

/// Writes `bytes` to `path` through a temporary file and a rename, like [`write_wav`].
pub fn write_bytes_atomically(path: &Path, bytes: &[u8]) -> Result<(), AudioError> {
    write_atomically(path, |file, tmp| write_all_synced(file, tmp, bytes))
}

/// Writes a take and its JSON record as a pair: both are written in full to temporary files first and
/// renamed into place only when both are complete, so a full disk leaves neither (and any earlier
/// pair untouched) rather than a WAV without its record.
pub fn write_wav_with_record(
    wav_path: &Path,
    audio: &AudioBuffer,
    format: WavSampleFormat,
    json_path: &Path,
    record: &[u8],
) -> Result<(), AudioError> {
    if wav_path == json_path {
        return Err(AudioError::InvalidBuffer(format!(
            "the take and its record would both be {}",
            wav_path.display()
        )));
    }
    let wav_tmp = write_temp(wav_path, |file, tmp| encode_wav(file, tmp, audio, format))?;
    let json_tmp = match write_temp(json_path, |file, tmp| write_all_synced(file, tmp, record)) {
        Ok(tmp) => tmp,
        Err(e) => {
            std::fs::remove_file(&wav_tmp).ok();
            return Err(e);
        }
    };
    if let Err(e) = commit(&wav_tmp, wav_path) {
        std::fs::remove_file(&json_tmp).ok();
        return Err(e);
    }
    commit(&json_tmp, json_path)
}

fn write_all_synced(mut file: File, tmp: &Path, bytes: &[u8]) -> Result<(), AudioError> {
    use std::io::Write as _;
    file.write_all(bytes).and_then(|()| file.sync_all()).map_err(|source| AudioError::Io {
        action: "write",
        path: tmp.to_path_buf(),
        source,
    })
}

/// Runs `write` on a fresh temporary file in `path`'s directory, then renames it to `path`.
/// On any error the temporary file is removed and `path` is left untouched.
pub(crate) fn write_atomically(
    path: &Path,
    write: impl FnOnce(File, &Path) -> Result<(), AudioError>,
) -> Result<(), AudioError> {
    let tmp = write_temp(path, write)?;
    commit(&tmp, path)
}

/// Writes a complete temporary file beside `path` and returns its name; on error nothing is left.
/// Temporary files of earlier runs that died before their rename are removed first.
fn write_temp(
    path: &Path,
    write: impl FnOnce(File, &Path) -> Result<(), AudioError>,
) -> Result<PathBuf, AudioError> {
    remove_stale_parts(path);
    let tmp = temp_path_for(path);
    let file = File::create(&tmp).map_err(|source| AudioError::Io {
        action: "create",
        path: tmp.clone(),
        source,
    })?;
    match write(file, &tmp) {
        Ok(()) => Ok(tmp),
        Err(e) => {
            // Best effort: the original error is the one worth reporting.
            std::fs::remove_file(&tmp).ok();
            Err(e)
        }
    }
}

fn commit(tmp: &Path, path: &Path) -> Result<(), AudioError> {
    std::fs::rename(tmp, path).map_err(|source| {
        std::fs::remove_file(tmp).ok();
        AudioError::Io { action: "rename", path: path.to_path_buf(), source }
    })
}

pub(crate) fn temp_path_for(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!(".{name}.{}.part", std::process::id()))
}

/// Removes `.{name}.{pid}.part` files beside `path` whose writer is gone (a crash or a kill between
/// write and rename), so they do not pile up. Where live processes cannot be listed, only files older
/// than a day count as stale.
fn remove_stale_parts(path: &Path) {
    let Some(name) = path.file_name().map(|n| n.to_string_lossy().into_owned()) else { return };
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let prefix = format!(".{name}.");
    let proc_listed = Path::new("/proc/self").exists();
    for entry in entries.flatten() {
        let file_name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = file_name.strip_prefix(&prefix).and_then(|rest| rest.strip_suffix(".part")) else {
            continue;
        };
        let Ok(pid) = pid.parse::<u32>() else { continue };
        if pid == std::process::id() {
            continue;
        }
        let stale = if proc_listed {
            !Path::new("/proc").join(pid.to_string()).exists()
        } else {
            entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t.elapsed().is_ok_and(|age| age.as_secs() > 86_400))
        };
        if stale && entry.file_type().is_ok_and(|t| t.is_file()) {
            std::fs::remove_file(entry.path()).ok();
        }
    }
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
    fn a_take_and_its_record_are_written_both_or_neither() {
        let dir = temp_dir("pair");
        let (wav, json) = (dir.join("take.wav"), dir.join("take.json"));
        let audio = AudioBuffer::mono(48_000, vec![0.25; 4_800]).unwrap();
        // The record cannot be written (its temporary name is taken by a folder): the WAV must not appear.
        std::fs::create_dir(temp_path_for(&json)).unwrap();
        assert!(write_wav_with_record(&wav, &audio, WavSampleFormat::Pcm16, &json, b"{}").is_err());
        assert!(!wav.exists() && !json.exists());
        std::fs::remove_dir(temp_path_for(&json)).unwrap();
        write_wav_with_record(&wav, &audio, WavSampleFormat::Pcm16, &json, b"{}").unwrap();
        assert_eq!(read_wav(&wav).unwrap().frames(), 4_800);
        assert_eq!(std::fs::read(&json).unwrap(), b"{}");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 2, "no temporary files left");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn temporary_files_of_dead_writers_are_removed() {
        let dir = temp_dir("stale");
        let path = dir.join("out.wav");
        // Above Linux's largest pid, so no live process owns it; ours stays.
        let stale = dir.join(".out.wav.4194305.part");
        let other = dir.join(".other.wav.4194305.part");
        std::fs::write(&stale, b"half a take").unwrap();
        std::fs::write(&other, b"not ours").unwrap();
        write_bytes_atomically(&path, b"done").unwrap();
        assert!(!stale.exists(), "a dead writer's temporary file is removed");
        assert!(other.exists(), "another file's temporary file is left alone");
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
