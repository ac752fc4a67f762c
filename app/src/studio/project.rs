//! A project is a folder: `project.json` (settings and what the director set on each take), `script.xml`,
//! `takes/` (one WAV and one generation record per take, written as soon as the take exists), `refs/`
//! (reference voices), `exports/`, `.recovery.json` while there are unsaved changes and `.queue.json`
//! while renders are queued. Every file is written to a temporary name and renamed, so a crash or a full
//! disk never leaves half a file.
//!
//! A take belongs to the project from the moment its two files are in `takes/`, saved or not: opening a
//! project adopts every complete take there, listed in `project.json` or not. Take numbers are never
//! reused: the next one is above every number any file in `takes/` has, and above `takes/.last-take`,
//! which remembers the numbers of takes deleted for good. A take write never replaces a file.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use promptbook_engine::audio::AudioBuffer;
use promptbook_engine::audio::wav::{WavSampleFormat, read_wav, write_bytes_atomically, write_wav};
use promptbook_engine::pipeline::render::{GenerationRecord, Take, TakeVersion};
use promptbook_engine::stages::separation::Stems;
use serde::{Deserialize, Serialize};

use super::settings::RenderSettings;

pub const PROJECT_FILE: &str = "project.json";
pub const SCRIPT_FILE: &str = "script.xml";
pub const RECOVERY_FILE: &str = ".recovery.json";
pub const TAKES_DIR: &str = "takes";
pub const REFS_DIR: &str = "refs";
pub const EXPORTS_DIR: &str = "exports";
pub const QUEUE_FILE: &str = ".queue.json";
/// The highest take number ever written in this folder (a deleted take's number stays used).
pub const LAST_TAKE_FILE: &str = ".last-take";
/// Bumped when an old studio could no longer read the file correctly.
pub const FORMAT_VERSION: u32 = 1;
/// Recent projects kept in the File menu.
const RECENT_LIMIT: usize = 10;

/// The per-take facts a director can change (the audio and record never change).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TakeEntry {
    pub number: u32,
    pub name: String,
    #[serde(default)]
    pub starred: bool,
    #[serde(default)]
    pub note: String,
    #[serde(default)]
    pub trashed: bool,
}

impl TakeEntry {
    /// A take as it is before the director touches it.
    pub fn new(number: u32) -> Self {
        Self { number, name: format!("T{number:02}"), starred: false, note: String::new(), trashed: false }
    }
}

/// `project.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProjectState {
    pub format_version: u32,
    /// The line's name in export file names (`{project}_{line}_T01.wav`).
    #[serde(default = "default_line")]
    pub line: String,
    #[serde(default)]
    pub settings: RenderSettings,
    /// A file in `refs/` that conditions the first chunk, if any.
    #[serde(default)]
    pub reference: Option<String>,
    #[serde(default = "default_export_format")]
    pub export_format: WavSampleFormat,
    #[serde(default)]
    pub takes: Vec<TakeEntry>,
    /// The number the next take gets; numbers are never reused.
    #[serde(default)]
    pub next_take: u32,
}

fn default_line() -> String {
    "line01".into()
}

fn default_export_format() -> WavSampleFormat {
    WavSampleFormat::Pcm24
}

impl Default for ProjectState {
    fn default() -> Self {
        Self {
            format_version: FORMAT_VERSION,
            line: default_line(),
            settings: RenderSettings::default(),
            reference: None,
            export_format: default_export_format(),
            takes: Vec::new(),
            next_take: 1,
        }
    }
}

/// Unsaved work, written a moment after each change and removed by a save.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recovery {
    pub written_unix_s: u64,
    pub script: String,
    pub state: ProjectState,
}

/// An open project folder.
#[derive(Debug, Clone, PartialEq)]
pub struct Project {
    pub dir: PathBuf,
}

/// What [`Project::open`] found.
pub struct Opened {
    pub project: Project,
    /// `project.json`, with every complete take in `takes/` listed and `next_take` above every number used.
    pub state: ProjectState,
    pub script: String,
    /// Unsaved work left by a session that did not close cleanly (differs from what was saved).
    pub recovery: Option<Recovery>,
    /// Takes found in `takes/` that `project.json` does not list (rendered after the last save).
    pub adopted: Vec<u32>,
    /// Take files without their partner (a WAV without its record, or the reverse): kept, not opened.
    pub incomplete: Vec<PathBuf>,
    /// Renders that were queued or running when the last session ended.
    pub queued: Vec<PendingRender>,
}

/// A render request as `.queue.json` keeps it: enough to queue it again after a crash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingRender {
    pub script: String,
    pub seed: i64,
    pub pace: f64,
    pub mode: promptbook_engine::pipeline::render::RenderMode,
    pub estimator: promptbook_engine::check::EstimatorKind,
    /// The clip in `refs/` that conditions chunk 1.
    pub reference: Option<String>,
    /// The post stages' settings (`None`: the engine alone; renders queued before stages existed).
    #[serde(default)]
    pub stages: Option<promptbook_engine::stages::StageSettings>,
    /// The engine's own controls, as the inspector set them.
    #[serde(default)]
    pub controls: promptbook_engine::engines::EngineControls,
}

/// What `takes/` holds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TakeFiles {
    /// Numbers with both a WAV and its record.
    pub complete: Vec<u32>,
    /// Take files whose partner is missing.
    pub incomplete: Vec<PathBuf>,
    /// The highest number any take file or `.last-take` has used (0 for none).
    pub highest: u32,
}

/// The take number in a file name `T07.wav` / `T123.json`, with the extension.
fn take_file_number(name: &str) -> Option<(u32, &str)> {
    let (stem, ext) = name.strip_prefix('T')?.split_once('.')?;
    if stem.is_empty() || !stem.bytes().all(|b| b.is_ascii_digit()) || !matches!(ext, "wav" | "json") {
        return None;
    }
    Some((stem.parse().ok()?, ext))
}

/// The versions kept beside a take as `Tnn.{name}.wav` (the converted one is the take itself).
const VERSION_FILES: [TakeVersion; 2] = [TakeVersion::Raw, TakeVersion::Separated];
/// The stems kept beside a take as `Tnn.{name}.wav`, dialogue first.
const STEM_FILES: [&str; 2] = ["dialogue", "sfx"];

/// Every `{name}` a take may have a `Tnn.{name}.wav` for, beside its main file.
fn extra_names() -> impl Iterator<Item = &'static str> {
    VERSION_FILES.into_iter().map(TakeVersion::name).chain(STEM_FILES)
}

/// A take's audio beside its main file: its earlier versions and its stems.
fn take_extras(take: &Take) -> Vec<(&'static str, &AudioBuffer)> {
    let mut extras: Vec<(&'static str, &AudioBuffer)> = take
        .versions
        .iter()
        .filter(|(v, _)| VERSION_FILES.contains(v))
        .map(|(v, audio)| (v.name(), &**audio))
        .collect();
    if let Some(stems) = &take.stems {
        extras.extend(STEM_FILES.into_iter().zip([&stems.dialogue, &stems.sfx]));
    }
    extras
}

/// Put the finished file `from` at `to` unless something is there already (`Ok(false)`): a hard link
/// cannot replace a file, where a rename would. File systems without hard links get a checked rename.
fn place_new_file(from: &Path, to: &Path) -> std::io::Result<bool> {
    match std::fs::hard_link(from, to) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(_) if to.exists() => Ok(false),
        Err(_) => std::fs::rename(from, to).map(|()| true),
    }
}

impl Project {
    /// Create a new project in `dir` (made if missing), holding `script`.
    pub fn create(dir: &Path, script: &str, state: &ProjectState) -> anyhow::Result<Project> {
        if dir.join(PROJECT_FILE).exists() {
            bail!("{} is already a Promptbook project: open it instead", dir.display());
        }
        let project = Project { dir: dir.to_path_buf() };
        project.make_folders()?;
        project.save(script, state)?;
        Ok(project)
    }

    /// Open the project in `dir` (or the folder of a `project.json` path).
    pub fn open(path: &Path) -> anyhow::Result<Opened> {
        let dir = if path.file_name().is_some_and(|n| n == PROJECT_FILE) {
            path.parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf)
        } else {
            path.to_path_buf()
        };
        let file = dir.join(PROJECT_FILE);
        let text = std::fs::read_to_string(&file).with_context(|| {
            format!("{} is not a Promptbook project (cannot read {PROJECT_FILE})", dir.display())
        })?;
        let mut state: ProjectState = serde_json::from_str(&text)
            .with_context(|| format!("{} is damaged; nothing was changed", file.display()))?;
        if state.format_version > FORMAT_VERSION {
            bail!(
                "{} was written by a newer Promptbook (format {}); update the studio to open it",
                file.display(),
                state.format_version
            );
        }
        state.settings = state.settings.clamped();
        let script_path = dir.join(SCRIPT_FILE);
        let script = std::fs::read_to_string(&script_path)
            .with_context(|| format!("cannot read the script {}", script_path.display()))?;
        let project = Project { dir };
        project.make_folders()?;
        let files = project.scan_takes();
        let mut adopted = Vec::new();
        for &number in &files.complete {
            if !state.takes.iter().any(|t| t.number == number) {
                state.takes.push(TakeEntry::new(number));
                adopted.push(number);
            }
        }
        state.takes.sort_by_key(|t| t.number);
        state.next_take = state.next_take.max(files.highest + 1);
        let recovery = project.read_recovery().filter(|r| r.script != script || r.state != state);
        let queued = project.read_queue();
        Ok(Opened { project, state, script, recovery, adopted, incomplete: files.incomplete, queued })
    }

    fn make_folders(&self) -> anyhow::Result<()> {
        for sub in [TAKES_DIR, REFS_DIR, EXPORTS_DIR] {
            let path = self.dir.join(sub);
            std::fs::create_dir_all(&path).with_context(|| format!("cannot create {}", path.display()))?;
        }
        Ok(())
    }

    /// The folder's name, used in export file names and the title.
    pub fn name(&self) -> String {
        self.dir.file_name().map_or_else(|| "project".into(), |n| n.to_string_lossy().into_owned())
    }

    pub fn refs_dir(&self) -> PathBuf {
        self.dir.join(REFS_DIR)
    }

    pub fn exports_dir(&self) -> PathBuf {
        self.dir.join(EXPORTS_DIR)
    }

    /// Write the script and `project.json`; the recovery file is no longer needed after that.
    pub fn save(&self, script: &str, state: &ProjectState) -> anyhow::Result<()> {
        write_bytes_atomically(&self.dir.join(SCRIPT_FILE), script.as_bytes())?;
        let json = serde_json::to_vec_pretty(state)?;
        write_bytes_atomically(&self.dir.join(PROJECT_FILE), &json)?;
        self.clear_recovery();
        Ok(())
    }

    /// Copy the project's takes, references and exports into `dir` and save there; returns the new project.
    pub fn save_as(&self, dir: &Path, script: &str, state: &ProjectState) -> anyhow::Result<Project> {
        if dir == self.dir {
            self.save(script, state)?;
            return Ok(self.clone());
        }
        if dir.join(PROJECT_FILE).exists() {
            bail!("{} already holds a project; choose an empty folder", dir.display());
        }
        let target = Project { dir: dir.to_path_buf() };
        target.refuse_foreign_takes()?;
        target.make_folders()?;
        for sub in [TAKES_DIR, REFS_DIR, EXPORTS_DIR] {
            let Ok(entries) = std::fs::read_dir(self.dir.join(sub)) else { continue };
            for entry in entries.flatten() {
                let unfinished = entry.file_name().to_string_lossy().ends_with(".part");
                if entry.file_type().is_ok_and(|t| t.is_file()) && !unfinished {
                    let to = dir.join(sub).join(entry.file_name());
                    std::fs::copy(entry.path(), &to)
                        .with_context(|| format!("cannot copy to {}", to.display()))?;
                }
            }
        }
        target.save(script, state)?;
        Ok(target)
    }

    /// A folder about to receive this session's takes must not hold take files already: the numbers would
    /// clash, and no take is ever overwritten.
    pub fn refuse_foreign_takes(&self) -> anyhow::Result<()> {
        let files = self.scan_takes();
        if !files.complete.is_empty() || !files.incomplete.is_empty() {
            bail!("{} already holds take files; choose an empty folder", self.dir.join(TAKES_DIR).display());
        }
        Ok(())
    }

    fn take_stem(&self, number: u32) -> PathBuf {
        self.dir.join(TAKES_DIR).join(format!("T{number:02}"))
    }

    /// Every take file in `takes/` (temporary files of unfinished writes are hidden and skipped).
    pub fn scan_takes(&self) -> TakeFiles {
        let takes = self.dir.join(TAKES_DIR);
        let mut found: std::collections::BTreeMap<u32, (bool, bool)> = Default::default();
        for entry in std::fs::read_dir(&takes).into_iter().flatten().flatten() {
            let name = entry.file_name();
            if let Some((number, ext)) = name.to_str().and_then(take_file_number) {
                let seen = found.entry(number).or_default();
                if ext == "wav" { seen.0 = true } else { seen.1 = true }
            }
        }
        let mut files = TakeFiles { highest: self.last_take_number(), ..TakeFiles::default() };
        for (number, (wav, json)) in found {
            files.highest = files.highest.max(number);
            match (wav, json) {
                (true, true) => files.complete.push(number),
                (true, false) => files.incomplete.push(self.take_stem(number).with_extension("wav")),
                _ => files.incomplete.push(self.take_stem(number).with_extension("json")),
            }
        }
        files
    }

    fn last_take_number(&self) -> u32 {
        std::fs::read_to_string(self.dir.join(TAKES_DIR).join(LAST_TAKE_FILE))
            .ok()
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or(0)
    }

    fn note_last_take_number(&self, number: u32) -> anyhow::Result<()> {
        if number > self.last_take_number() {
            let path = self.dir.join(TAKES_DIR).join(LAST_TAKE_FILE);
            write_bytes_atomically(&path, format!("{number}\n").as_bytes())?;
        }
        Ok(())
    }

    /// Keep a finished take on disk as `takes/Tnn.wav` (32-bit float, lossless) and `takes/Tnn.json` (its
    /// record), numbered `first` or, when that number is used already, the next unused one; returns the
    /// number. Both files are written in full under temporary names first, then put in place without
    /// replacing anything: a take on disk is never overwritten, and a crash leaves no half file.
    pub fn write_new_take(&self, first: u32, take: &Take) -> anyhow::Result<u32> {
        let takes = self.dir.join(TAKES_DIR);
        std::fs::create_dir_all(&takes).with_context(|| format!("cannot create {}", takes.display()))?;
        let part = |ext: &str| takes.join(format!(".take-{}-{first}.{ext}.part", std::process::id()));
        let (wav_part, json_part) = (part("wav"), part("json"));
        // The versions and stems are written in full before anything is placed, like the take itself.
        let extras: Vec<(&str, &AudioBuffer, PathBuf)> = take_extras(take)
            .into_iter()
            .map(|(name, audio)| (name, audio, part(&format!("{name}.wav"))))
            .collect();
        let result = (|| -> anyhow::Result<u32> {
            write_wav(&wav_part, &take.audio, WavSampleFormat::Float32)?;
            write_bytes_atomically(&json_part, &serde_json::to_vec_pretty(&take.record)?)?;
            for (_, audio, extra_part) in &extras {
                write_wav(extra_part, audio, WavSampleFormat::Float32)?;
            }
            let mut number = first.max(self.scan_takes().highest + 1);
            loop {
                let stem = self.take_stem(number);
                let (wav, json) = (stem.with_extension("wav"), stem.with_extension("json"));
                let placed = !json.exists()
                    && place_new_file(&wav_part, &wav)
                        .with_context(|| format!("cannot write {}", wav.display()))?;
                if placed {
                    if place_new_file(&json_part, &json)
                        .with_context(|| format!("cannot write {}", json.display()))?
                    {
                        // The number is ours now: a leftover version file of it (a crash) is replaced.
                        for (name, _, extra_part) in &extras {
                            let to = takes.join(format!("T{number:02}.{name}.wav"));
                            std::fs::rename(extra_part, &to)
                                .with_context(|| format!("cannot write {}", to.display()))?;
                        }
                        self.note_last_take_number(number)?;
                        return Ok(number);
                    }
                    // Another writer took this number's record in between: the WAV just placed is ours.
                    std::fs::remove_file(&wav).ok();
                }
                number += 1;
            }
        })();
        std::fs::remove_file(&wav_part).ok();
        std::fs::remove_file(&json_part).ok();
        for (_, _, extra_part) in &extras {
            std::fs::remove_file(extra_part).ok();
        }
        result
    }

    /// Read take `number` back.
    pub fn read_take(&self, number: u32) -> anyhow::Result<Take> {
        let stem = self.take_stem(number);
        let json_path = stem.with_extension("json");
        let text = std::fs::read_to_string(&json_path)
            .with_context(|| format!("take T{number:02}: cannot read {}", json_path.display()))?;
        let record: GenerationRecord = serde_json::from_str(&text)
            .with_context(|| format!("take T{number:02}: {} is damaged", json_path.display()))?;
        let wav_path = stem.with_extension("wav");
        let audio =
            read_wav(&wav_path).with_context(|| format!("take T{number:02}: cannot read its audio"))?;
        let extra = |name: &str| -> anyhow::Result<Option<AudioBuffer>> {
            let path = self.take_stem(number).with_extension(format!("{name}.wav"));
            if !path.exists() {
                return Ok(None);
            }
            read_wav(&path)
                .map(Some)
                .with_context(|| format!("take T{number:02}: cannot read its {name} audio"))
        };
        // The take plays without its versions and stems; a damaged one is said, not fatal.
        let mut versions = Vec::new();
        for version in VERSION_FILES {
            match extra(version.name()) {
                Ok(Some(audio)) => versions.push((version, std::sync::Arc::new(audio))),
                Ok(None) => {}
                Err(err) => tracing::warn!("{err:#}"),
            }
        }
        let [dialogue, sfx] = STEM_FILES.map(extra);
        let stems = match (dialogue, sfx) {
            (Ok(Some(dialogue)), Ok(Some(sfx))) => Some(std::sync::Arc::new(Stems { dialogue, sfx })),
            (Err(err), _) | (_, Err(err)) => {
                tracing::warn!("{err:#}");
                None
            }
            _ => None,
        };
        Ok(Take { audio: std::sync::Arc::new(audio), versions, stems, record })
    }

    /// Remove a take's files for good (emptying the trash); its number stays used.
    pub fn delete_take(&self, number: u32) -> anyhow::Result<()> {
        self.note_last_take_number(number)?;
        let stem = self.take_stem(number);
        let extras = extra_names().map(|name| format!("{name}.wav"));
        for ext in ["wav".to_string(), "json".to_string()].into_iter().chain(extras) {
            let path = stem.with_extension(ext);
            match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(e).with_context(|| format!("cannot delete {}", path.display()));
                }
                _ => {}
            }
        }
        Ok(())
    }

    pub fn write_recovery(&self, script: &str, state: &ProjectState) -> anyhow::Result<()> {
        let recovery =
            Recovery { written_unix_s: unix_now(), script: script.to_string(), state: state.clone() };
        write_bytes_atomically(&self.dir.join(RECOVERY_FILE), &serde_json::to_vec(&recovery)?)?;
        Ok(())
    }

    pub fn read_recovery(&self) -> Option<Recovery> {
        let text = std::fs::read_to_string(self.dir.join(RECOVERY_FILE)).ok()?;
        serde_json::from_str(&text).ok()
    }

    pub fn clear_recovery(&self) {
        let _ = std::fs::remove_file(self.dir.join(RECOVERY_FILE));
    }

    /// Keep the renders still to do in `.queue.json` (removed when there are none).
    pub fn write_queue(&self, renders: &[PendingRender]) -> anyhow::Result<()> {
        let path = self.dir.join(QUEUE_FILE);
        if renders.is_empty() {
            match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(e).with_context(|| format!("cannot remove {}", path.display()));
                }
                _ => return Ok(()),
            }
        }
        write_bytes_atomically(&path, &serde_json::to_vec_pretty(renders)?)?;
        Ok(())
    }

    /// The renders `.queue.json` holds (none when it is missing or unreadable).
    pub fn read_queue(&self) -> Vec<PendingRender> {
        std::fs::read_to_string(self.dir.join(QUEUE_FILE))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default()
    }
}

pub fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Where the studio keeps its own files (`$XDG_DATA_HOME/promptbook`, else `~/.local/share/promptbook`).
pub fn data_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))?;
    Some(base.join("promptbook"))
}

/// The scratch project used until the director saves somewhere else.
pub fn scratch_dir() -> Option<PathBuf> {
    data_dir().map(|d| d.join("untitled"))
}

/// The recently opened projects, newest first, kept in `recent.json` beside the scratch project.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RecentProjects {
    file: Option<PathBuf>,
    pub dirs: Vec<PathBuf>,
}

impl RecentProjects {
    /// The list in `file` (an unreadable list is an empty one: it is a convenience, not data).
    pub fn load(file: Option<PathBuf>) -> Self {
        let dirs = file
            .as_ref()
            .and_then(|f| std::fs::read_to_string(f).ok())
            .and_then(|t| serde_json::from_str::<Vec<PathBuf>>(&t).ok())
            .unwrap_or_default();
        Self { file, dirs }
    }

    pub fn default_file() -> Option<PathBuf> {
        data_dir().map(|d| d.join("recent.json"))
    }

    /// Put `dir` first and write the list; returns why it could not be written.
    pub fn push(&mut self, dir: &Path) -> anyhow::Result<()> {
        let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
        self.dirs.retain(|d| *d != dir);
        self.dirs.insert(0, dir);
        self.dirs.truncate(RECENT_LIMIT);
        if let Some(file) = &self.file {
            if let Some(parent) = file.parent() {
                std::fs::create_dir_all(parent)?;
            }
            write_bytes_atomically(file, &serde_json::to_vec_pretty(&self.dirs)?)?;
        }
        Ok(())
    }

    /// Projects in the list that still exist.
    pub fn existing(&self) -> impl Iterator<Item = &PathBuf> {
        self.dirs.iter().filter(|d| d.join(PROJECT_FILE).is_file())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("promptbook-project-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    fn take(seconds: f64) -> Take {
        let n = (seconds * 48_000.0) as usize;
        let tone: Vec<f32> = (0..n).map(|i| (i as f32 * 0.01).sin() * 0.25).collect();
        let record: GenerationRecord = serde_json::from_value(serde_json::json!({
            "promptbook_version": "0.1.0", "created_unix_s": 1, "script": "<speak/>", "mode": "generate",
            "base_seed": 7, "pace": 1.5, "estimator": "default", "max_pause_s": 1.5, "chunks": [],
            "stages": [], "model": {"device": "cpu", "dtype": "f32", "files": [], "weight_bytes": 0,
            "sample_rate": 48000, "steps": 8}, "sample_rate": 48000, "channels": 2, "duration_s": seconds,
            "render_seconds": 1.0, "real_time_factor": 1.0
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        Take {
            audio: std::sync::Arc::new(promptbook_engine::audio::AudioBuffer::from_channels(
                48_000,
                vec![tone.clone(), tone],
            )),
            versions: Vec::new(),
            stems: None,
            record,
        }
    }

    #[test]
    fn a_project_round_trips_its_script_state_and_takes() -> anyhow::Result<()> {
        let dir = temp("roundtrip");
        let mut state = ProjectState::default();
        state.settings.pace = 2.0;
        let project = Project::create(&dir, "<speak/>", &state)?;
        let original = take(0.5);
        assert_eq!(project.write_new_take(1, &original)?, 1);
        state.takes.push(TakeEntry {
            number: 1,
            name: "Softer".into(),
            starred: true,
            note: "keep".into(),
            trashed: false,
        });
        state.next_take = 2;
        project.save("<speak voice=\"x\"/>", &state)?;
        let opened = Project::open(&dir)?;
        assert_eq!(opened.state, state);
        assert_eq!(opened.script, "<speak voice=\"x\"/>");
        assert!(opened.recovery.is_none());
        let back = project.read_take(1)?;
        assert_eq!(back.audio, original.audio, "takes are stored losslessly");
        assert_eq!(back.record, original.record);
        assert!(Project::create(&dir, "", &state).is_err(), "never overwrite a project");
        std::fs::remove_dir_all(&dir)?;
        Ok(())
    }

    #[test]
    fn a_takes_versions_and_stems_are_kept_beside_it_and_go_with_it() -> anyhow::Result<()> {
        let dir = temp("versions");
        let project = Project::create(&dir, "s", &ProjectState::default())?;
        let mut original = take(0.2);
        let half = |t: &Take| {
            let c: Vec<Vec<f32>> =
                t.audio.channels().iter().map(|c| c.iter().map(|v| v * 0.5).collect()).collect();
            AudioBuffer::from_channels(48_000, c)
        };
        let raw = std::sync::Arc::new(half(&original));
        original.versions =
            vec![(TakeVersion::Raw, raw.clone()), (TakeVersion::Separated, original.audio.clone())];
        original.stems = Some(std::sync::Arc::new(Stems { dialogue: half(&original), sfx: (*raw).clone() }));
        assert_eq!(project.write_new_take(1, &original)?, 1);
        for name in ["T01.raw.wav", "T01.separated.wav", "T01.dialogue.wav", "T01.sfx.wav"] {
            assert!(dir.join(TAKES_DIR).join(name).is_file(), "{name}");
        }
        // Version files are not takes of their own.
        assert_eq!(project.scan_takes().complete, vec![1]);
        let back = project.read_take(1)?;
        let kinds: Vec<TakeVersion> = back.versions.iter().map(|(v, _)| *v).collect();
        assert_eq!(kinds, [TakeVersion::Raw, TakeVersion::Separated]);
        assert_eq!(*back.versions[0].1, *raw, "versions are stored losslessly");
        assert_eq!(back.stems.as_deref(), original.stems.as_deref());
        // A damaged version costs only that version.
        std::fs::write(dir.join(TAKES_DIR).join("T01.raw.wav"), b"RIFF")?;
        let back = project.read_take(1)?;
        assert_eq!(back.versions.len(), 1);
        assert_eq!(back.audio, original.audio);
        project.delete_take(1)?;
        let left: Vec<_> = std::fs::read_dir(dir.join(TAKES_DIR))?
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("T01"))
            .collect();
        assert!(left.is_empty(), "{left:?}");
        std::fs::remove_dir_all(&dir)?;
        Ok(())
    }

    #[test]
    fn unsaved_work_is_offered_back_and_a_save_clears_it() -> anyhow::Result<()> {
        let dir = temp("recovery");
        let state = ProjectState::default();
        let project = Project::create(&dir, "saved", &state)?;
        project.write_recovery("unsaved edit", &state)?;
        let opened = Project::open(&dir)?;
        assert_eq!(opened.recovery.map(|r| r.script).as_deref(), Some("unsaved edit"));
        project.save("unsaved edit", &state)?;
        assert!(Project::open(&dir)?.recovery.is_none());
        // A recovery identical to the saved project is not worth offering.
        project.write_recovery("unsaved edit", &state)?;
        assert!(Project::open(&dir)?.recovery.is_none());
        std::fs::remove_dir_all(&dir)?;
        Ok(())
    }

    #[test]
    fn damaged_or_foreign_folders_are_refused_with_the_file_named() -> anyhow::Result<()> {
        let dir = temp("damaged");
        std::fs::create_dir_all(&dir)?;
        let err = Project::open(&dir).err().map(|e| format!("{e:#}")).unwrap_or_default();
        assert!(err.contains("is not a Promptbook project"), "{err}");
        std::fs::write(dir.join(PROJECT_FILE), "{ not json")?;
        let err = Project::open(&dir).err().map(|e| format!("{e:#}")).unwrap_or_default();
        assert!(err.contains("project.json is damaged"), "{err}");
        std::fs::write(dir.join(PROJECT_FILE), r#"{"format_version": 99}"#)?;
        let err = Project::open(&dir).err().map(|e| format!("{e:#}")).unwrap_or_default();
        assert!(err.contains("newer Promptbook"), "{err}");
        std::fs::remove_dir_all(&dir)?;
        Ok(())
    }

    #[test]
    fn save_as_carries_the_takes_along() -> anyhow::Result<()> {
        let (a, b) = (temp("save-as-a"), temp("save-as-b"));
        let state = ProjectState::default();
        let project = Project::create(&a, "s", &state)?;
        project.write_new_take(1, &take(0.1))?;
        let moved = project.save_as(&b, "s2", &state)?;
        assert_eq!(moved.read_take(1)?.audio.frames(), 4800);
        assert_eq!(Project::open(&b)?.script, "s2");
        moved.delete_take(1)?;
        assert!(moved.read_take(1).is_err());
        std::fs::remove_dir_all(&a)?;
        std::fs::remove_dir_all(&b)?;
        Ok(())
    }

    #[test]
    fn a_take_write_never_replaces_a_file_and_never_reuses_a_number() -> anyhow::Result<()> {
        let dir = temp("numbers");
        let project = Project::create(&dir, "s", &ProjectState::default())?;
        assert_eq!(project.write_new_take(1, &take(0.1))?, 1);
        let first = std::fs::read(dir.join("takes/T01.wav"))?;
        assert_eq!(project.write_new_take(1, &take(0.2))?, 2, "T01 exists: the next free number");
        assert_eq!(std::fs::read(dir.join("takes/T01.wav"))?, first, "T01 is untouched");
        // A record without its audio (a crash between the two files) still holds its number.
        std::fs::write(dir.join("takes/T05.json"), "{}")?;
        assert_eq!(project.write_new_take(3, &take(0.1))?, 6);
        // A take deleted for good keeps its number used.
        project.delete_take(6)?;
        assert_eq!(project.write_new_take(1, &take(0.1))?, 7);
        let left: Vec<String> = std::fs::read_dir(dir.join(TAKES_DIR))?
            .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect::<Result<_, _>>()?;
        assert!(!left.iter().any(|n| n.ends_with(".part")), "temporary files are gone: {left:?}");
        assert_eq!(project.read_take(2)?.audio.frames(), 9600);
        std::fs::remove_dir_all(&dir)?;
        Ok(())
    }

    #[test]
    fn opening_adopts_every_take_in_the_folder_and_numbers_above_them() -> anyhow::Result<()> {
        let dir = temp("adopt");
        let mut state = ProjectState::default();
        let project = Project::create(&dir, "s", &state)?;
        for n in 1..=3 {
            project.write_new_take(n, &take(0.1))?;
        }
        state.takes.push(TakeEntry { name: "Kept".into(), ..TakeEntry::new(1) });
        state.next_take = 2;
        project.save("s", &state)?;
        std::fs::write(dir.join("takes/T09.wav"), "half a take")?;
        std::fs::write(dir.join("takes/.take-1-4.wav.part"), "unfinished")?;
        let opened = Project::open(&dir)?;
        let numbers: Vec<u32> = opened.state.takes.iter().map(|t| t.number).collect();
        assert_eq!(numbers, [1, 2, 3]);
        assert_eq!(opened.state.takes[0].name, "Kept", "a listed take keeps what the director set");
        assert_eq!(opened.state.takes[2], TakeEntry::new(3));
        assert_eq!(opened.adopted, [2, 3]);
        assert_eq!(opened.incomplete, [dir.join("takes/T09.wav")]);
        assert_eq!(opened.state.next_take, 10, "above the incomplete T09 too");
        std::fs::remove_dir_all(&dir)?;
        Ok(())
    }

    #[test]
    fn the_queue_file_keeps_unfinished_renders_until_there_are_none() -> anyhow::Result<()> {
        let dir = temp("queue");
        let project = Project::create(&dir, "s", &ProjectState::default())?;
        assert!(project.read_queue().is_empty());
        let render = PendingRender {
            script: "<speak/>".into(),
            seed: 42,
            pace: 1.5,
            mode: promptbook_engine::pipeline::render::RenderMode::Generate,
            estimator: promptbook_engine::check::EstimatorKind::Default,
            reference: Some("anna.wav".into()),
            stages: None,
            controls: Default::default(),
        };
        project.write_queue(&[render.clone(), render.clone()])?;
        assert_eq!(Project::open(&dir)?.queued, [render.clone(), render]);
        project.write_queue(&[])?;
        assert!(!dir.join(QUEUE_FILE).exists());
        project.write_queue(&[])?;
        std::fs::remove_dir_all(&dir)?;
        Ok(())
    }

    #[test]
    fn recent_projects_are_newest_first_without_duplicates() -> anyhow::Result<()> {
        let dir = temp("recent");
        let file = dir.join("recent.json");
        let mut recent = RecentProjects::load(Some(file.clone()));
        for name in ["one", "two", "one"] {
            recent.push(&dir.join(name))?;
        }
        let loaded = RecentProjects::load(Some(file));
        assert_eq!(loaded.dirs, [dir.join("one"), dir.join("two")]);
        std::fs::remove_dir_all(&dir)?;
        Ok(())
    }
}
