//! Export a take as a WAV file with its generation record beside it as JSON, both written atomically.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use promptbook_engine::audio::AudioBuffer;
use promptbook_engine::audio::wav::{WavSampleFormat, write_bytes_atomically, write_wav};

use super::takes::StudioTake;

/// `{project}_{line}_T{nn}.wav` and `.json` in `dir`; returns the WAV path.
pub fn export_take(
    take: &StudioTake,
    dir: &Path,
    project: &str,
    line: &str,
    format: WavSampleFormat,
) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let stem = format!("{}_{}_T{:02}", file_safe(project), file_safe(line), take.number);
    let wav = dir.join(format!("{stem}.wav"));
    let audio = AudioBuffer::new(take.audio.sample_rate, take.audio.channels.clone())?;
    write_wav(&wav, &audio, format)?;
    let json = serde_json::json!({
        "take": take.code(),
        "name": take.name,
        "starred": take.starred,
        "note": take.note,
        "integrated_lufs": take.loudness_lufs,
        "record": take.record,
    });
    let bytes = serde_json::to_vec_pretty(&json)?;
    write_bytes_atomically(&dir.join(format!("{stem}.json")), &bytes)?;
    Ok(wav)
}

/// Letters, digits, `-` and `_` only, so names work on every file system.
fn file_safe(name: &str) -> String {
    let cleaned: String =
        name.chars().map(|c| if c.is_alphanumeric() || c == '-' || c == '_' { c } else { '-' }).collect();
    let trimmed = cleaned.trim_matches('-');
    if trimmed.is_empty() { "untitled".into() } else { trimmed.to_string() }
}
