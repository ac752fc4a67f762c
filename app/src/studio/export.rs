//! Export takes as WAV files with their generation record beside each as JSON, all written atomically:
//! the full mix `{project}_{line}_T{nn}.wav` and, on request, one file per chunk
//! `{project}_{line}_T{nn}_chunk{kk}.wav`. (Dialogue/SFX stems join here once separation exists.)

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use promptbook_engine::audio::AudioBuffer;
use promptbook_engine::audio::wav::{WavSampleFormat, write_bytes_atomically, write_wav};

use super::takes::StudioTake;

#[derive(Debug, Clone, PartialEq)]
pub struct ExportOptions {
    pub project: String,
    pub line: String,
    pub format: WavSampleFormat,
    /// The whole take.
    pub full_mix: bool,
    /// One file per chunk, cut at the chunk starts the pipeline recorded.
    pub per_chunk: bool,
}

/// Write `take` into `dir` as `options` say; returns the WAV files written.
pub fn export_take(take: &StudioTake, dir: &Path, options: &ExportOptions) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let base = file_name(&options.project, &options.line, take.number, None);
    let mut written = Vec::new();
    if options.full_mix {
        let json = serde_json::json!({
            "take": take.code(),
            "name": take.name,
            "starred": take.starred,
            "note": take.note,
            "integrated_lufs": take.loudness_lufs,
            "record": take.record,
        });
        written.push(write_pair(
            dir,
            &base,
            take.audio.channels(),
            take.audio.sample_rate(),
            options.format,
            &json,
        )?);
    }
    if options.per_chunk {
        for ((start, end), chunk) in take.chunk_spans().into_iter().zip(&take.record.chunks) {
            let stem = format!("chunk{:02}", chunk.index + 1);
            let name = file_name(&options.project, &options.line, take.number, Some(&stem));
            let channels: Vec<Vec<f32>> =
                take.audio.channels().iter().map(|c| c[start..end].to_vec()).collect();
            let json = serde_json::json!({
                "take": take.code(),
                "chunk": chunk,
                "start_s": start as f64 / f64::from(take.audio.sample_rate()),
                "script": take.record.script,
                "base_seed": take.record.base_seed,
                "model": take.record.model,
            });
            written.push(write_pair(dir, &name, &channels, take.audio.sample_rate(), options.format, &json)?);
        }
    }
    Ok(written)
}

fn write_pair(
    dir: &Path,
    stem: &str,
    channels: &[Vec<f32>],
    sample_rate: u32,
    format: WavSampleFormat,
    json: &serde_json::Value,
) -> anyhow::Result<PathBuf> {
    let wav = dir.join(format!("{stem}.wav"));
    let audio = AudioBuffer::new(sample_rate, channels.to_vec())?;
    write_wav(&wav, &audio, format)?;
    write_bytes_atomically(&dir.join(format!("{stem}.json")), &serde_json::to_vec_pretty(json)?)?;
    Ok(wav)
}

/// `{project}_{line}_T{nn}[_{stem}]` with file-system-safe parts.
pub fn file_name(project: &str, line: &str, take: u32, stem: Option<&str>) -> String {
    let mut name = format!("{}_{}_T{take:02}", file_safe(project), file_safe(line));
    if let Some(stem) = stem {
        name.push('_');
        name.push_str(&file_safe(stem));
    }
    name
}

/// Letters, digits, `-` and `_` only, so names work on every file system.
fn file_safe(name: &str) -> String {
    let cleaned: String =
        name.chars().map(|c| if c.is_alphanumeric() || c == '-' || c == '_' { c } else { '-' }).collect();
    let trimmed = cleaned.trim_matches('-');
    if trimmed.is_empty() { "untitled".into() } else { trimmed.to_string() }
}

#[cfg(test)]
mod tests {
    use super::file_name;

    #[test]
    fn names_follow_the_pattern_and_stay_file_safe() {
        assert_eq!(file_name("Ad read", "line01", 3, None), "Ad-read_line01_T03");
        assert_eq!(file_name("a/b", "", 12, Some("chunk02")), "a-b_untitled_T12_chunk02");
    }
}
