//! Reference clips in a project's `refs/` folder: `<name>.wav` (48 kHz, 32-bit float) next to
//! `<name>.check.json` (the clip checker's report, the same JSON as `promptbook check-clip --json`).

use std::path::{Path, PathBuf};

use promptbook_engine::audio::{self, AudioBuffer, ENGINE_SAMPLE_RATE, WavSampleFormat};
use promptbook_engine::clip_check::{self, ClipReport};

use super::RecorderError;

/// Suffix of the check-results file beside each clip.
pub const CHECK_SUFFIX: &str = ".check.json";

/// A clip that was just saved.
#[derive(Debug, Clone, PartialEq)]
pub struct SavedReference {
    /// The WAV file.
    pub wav: PathBuf,
    /// The check results beside it.
    pub check: PathBuf,
    /// The check results.
    pub report: ClipReport,
}

/// A clip found in `refs/`, for choosing the reference in the inspector.
#[derive(Debug, Clone, PartialEq)]
pub struct ReferenceEntry {
    /// The file stem, shown as the clip's name.
    pub name: String,
    /// The WAV file.
    pub wav: PathBuf,
    /// Its check results, if the sidecar exists and parses.
    pub report: Option<ClipReport>,
}

/// Checks `audio` (at its own rate, so the sample-rate check sees the real recording), then saves
/// it in `refs_dir` as `<name>.wav` at 48 kHz with `<name>.check.json`. A name that is taken gets
/// `-2`, `-3`, … appended. Both files are written atomically; if the second fails, the first is removed.
pub fn save_reference(
    refs_dir: &Path,
    name: &str,
    audio: &AudioBuffer,
) -> Result<SavedReference, RecorderError> {
    std::fs::create_dir_all(refs_dir).map_err(|source| {
        RecorderError::Save(audio::AudioError::Io {
            action: "create folder",
            path: refs_dir.to_path_buf(),
            source,
        })
    })?;
    let report = clip_check::check_clip(audio, None)?;
    let stem = unique_stem(refs_dir, &sanitize_name(name));
    let wav = refs_dir.join(format!("{stem}.wav"));
    let check = refs_dir.join(format!("{stem}{CHECK_SUFFIX}"));
    let at_engine_rate = audio::resample(audio, ENGINE_SAMPLE_RATE)?;
    audio::write_wav(&wav, &at_engine_rate, WavSampleFormat::Float32)?;
    let json = serde_json::to_vec_pretty(&report)?;
    if let Err(e) = audio::write_bytes_atomically(&check, &json) {
        std::fs::remove_file(&wav).ok();
        return Err(e.into());
    }
    Ok(SavedReference { wav, check, report })
}

/// The clips in `refs_dir`, sorted by name; an absent folder is an empty list.
pub fn list_references(refs_dir: &Path) -> Vec<ReferenceEntry> {
    let Ok(entries) = std::fs::read_dir(refs_dir) else {
        return Vec::new();
    };
    let mut list: Vec<ReferenceEntry> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("wav")))
        .filter_map(|wav| {
            let name = wav.file_stem()?.to_string_lossy().into_owned();
            let report = std::fs::read(refs_dir.join(format!("{name}{CHECK_SUFFIX}")))
                .ok()
                .and_then(|bytes| serde_json::from_slice(&bytes).ok());
            Some(ReferenceEntry { name, wav, report })
        })
        .collect();
    list.sort_by(|a, b| a.name.cmp(&b.name));
    list
}

/// Keeps letters, digits, `-` and `_`; everything else becomes `_`. Empty names become "reference".
pub fn sanitize_name(name: &str) -> String {
    let cleaned: String = name
        .trim()
        .chars()
        .map(|c| if c.is_alphanumeric() || c == '-' || c == '_' { c } else { '_' })
        .collect();
    if cleaned.trim_matches('_').is_empty() { "reference".into() } else { cleaned }
}

fn unique_stem(dir: &Path, stem: &str) -> String {
    let taken =
        |s: &str| dir.join(format!("{s}.wav")).exists() || dir.join(format!("{s}{CHECK_SUFFIX}")).exists();
    if !taken(stem) {
        return stem.to_string();
    }
    (2..).map(|i| format!("{stem}-{i}")).find(|s| !taken(s)).unwrap_or_else(|| stem.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_sanitised() {
        assert_eq!(sanitize_name("  Anna – take 1 "), "Anna___take_1");
        assert_eq!(sanitize_name("../../etc"), "______etc");
        assert_eq!(sanitize_name("///"), "reference");
    }
}
