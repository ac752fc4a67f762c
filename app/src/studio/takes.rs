//! Takes: every finished render becomes an immutable take (audio + generation record) named T01, T02, …
//! Only the name, star and note can change; deleting moves a take to a trash that can be emptied.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use promptbook_engine::audio::AudioBuffer;
use promptbook_engine::clip_check::loudness;
use promptbook_engine::pipeline::render::{GenerationRecord, Take, TakeVersion};
use promptbook_engine::stages::separation::Stems;

use super::project::TakeEntry;
use super::waveform_view::PeakPyramid;

pub struct StudioTake {
    /// 1 for T01; never reused.
    pub number: u32,
    pub name: String,
    pub starred: bool,
    pub note: String,
    pub trashed: bool,
    pub audio: Arc<AudioBuffer>,
    /// The audio before the stages that changed it ("before VC"), oldest first.
    pub versions: Vec<(TakeVersion, Arc<AudioBuffer>)>,
    /// Dialogue and SFX stems, when separation ran.
    pub stems: Option<Arc<Stems>>,
    pub record: GenerationRecord,
    pub pyramid: PeakPyramid,
    /// BS.1770 integrated loudness; `None` for silence or takes shorter than one gate.
    pub loudness_lufs: Option<f64>,
    /// The project folder whose `takes/` holds this take's files; `None` while it is only in memory.
    pub stored_in: Option<PathBuf>,
}

impl StudioTake {
    pub fn from_take(number: u32, take: Take) -> Self {
        let pyramid = PeakPyramid::build(&take.audio);
        let loudness_lufs = loudness::measure(&take.audio).and_then(|m| m.integrated_lufs);
        Self {
            number,
            name: format!("T{number:02}"),
            starred: false,
            note: String::new(),
            trashed: false,
            audio: take.audio,
            versions: take.versions,
            stems: take.stems,
            record: take.record,
            pyramid,
            loudness_lufs,
            stored_in: None,
        }
    }

    /// The engine-side take (audio shared, not copied).
    pub fn to_take(&self) -> Take {
        Take {
            audio: self.audio.clone(),
            versions: self.versions.clone(),
            stems: self.stems.clone(),
            record: self.record.clone(),
        }
    }

    /// `T03`, whatever the take was renamed to.
    pub fn code(&self) -> String {
        format!("T{:02}", self.number)
    }

    /// `(start_s, text)` of every chunk: where the pipeline placed it in the joined, silence-shortened take.
    pub fn chunk_boundaries(&self) -> Vec<(f64, String)> {
        self.record.chunks.iter().map(|c| (c.start_s, format!("{} · {}", c.index + 1, c.text))).collect()
    }

    /// The frame span of every chunk in the take, in order.
    pub fn chunk_spans(&self) -> Vec<(usize, usize)> {
        let rate = f64::from(self.audio.sample_rate());
        let frames = self.audio.frames();
        let starts: Vec<usize> =
            self.record.chunks.iter().map(|c| ((c.start_s * rate).round() as usize).min(frames)).collect();
        starts
            .iter()
            .enumerate()
            .map(|(i, &s)| (s, starts.get(i + 1).copied().unwrap_or(frames).max(s)))
            .collect()
    }
}

/// All takes of the session, in render order.
#[derive(Default)]
pub struct Takes {
    takes: Vec<StudioTake>,
    next_number: u32,
}

impl Takes {
    /// Add a finished render; returns its number.
    pub fn add(&mut self, take: Take) -> u32 {
        self.next_number += 1;
        self.takes.push(StudioTake::from_take(self.next_number, take));
        self.next_number
    }

    /// Hand out the next number now; the take arrives later with [`Takes::insert`].
    pub fn reserve(&mut self) -> u32 {
        self.next_number += 1;
        self.next_number
    }

    /// Add a take built elsewhere (off the UI thread), keeping number order.
    pub fn insert(&mut self, take: StudioTake) {
        self.next_number = self.next_number.max(take.number);
        self.takes.push(take);
        self.takes.sort_by_key(|t| t.number);
    }

    /// Put back a take read from the project in `dir`, with what the director set on it.
    pub fn restore(&mut self, entry: &TakeEntry, take: Take, dir: &Path) {
        let mut restored = StudioTake::from_take(entry.number, take);
        restored.stored_in = Some(dir.to_path_buf());
        restored.name.clone_from(&entry.name);
        restored.starred = entry.starred;
        restored.note.clone_from(&entry.note);
        restored.trashed = entry.trashed;
        self.takes.push(restored);
        self.takes.sort_by_key(|t| t.number);
        self.next_number = self.next_number.max(entry.number);
    }

    /// The number the next take gets.
    pub fn next_number(&self) -> u32 {
        self.next_number + 1
    }

    /// Numbers are never reused, even after the trash is emptied and the project reopened.
    pub fn reserve_numbers_below(&mut self, next: u32) {
        self.next_number = self.next_number.max(next.saturating_sub(1));
    }

    /// What the project file keeps of each take.
    pub fn entries(&self) -> Vec<TakeEntry> {
        self.takes
            .iter()
            .map(|t| TakeEntry {
                number: t.number,
                name: t.name.clone(),
                starred: t.starred,
                note: t.note.clone(),
                trashed: t.trashed,
            })
            .collect()
    }

    pub fn clear(&mut self) {
        self.takes.clear();
        self.next_number = 0;
    }

    /// Every take, the trash included, in number order.
    pub fn all(&self) -> impl Iterator<Item = &StudioTake> {
        self.takes.iter()
    }

    pub fn all_mut(&mut self) -> impl Iterator<Item = &mut StudioTake> {
        self.takes.iter_mut()
    }

    /// Give take `from` the number `to` (its default name follows).
    pub fn renumber(&mut self, from: u32, to: u32) {
        if let Some(take) = self.get_mut(from) {
            if take.name == take.code() {
                take.name = format!("T{to:02}");
            }
            take.number = to;
        }
        self.takes.sort_by_key(|t| t.number);
        self.next_number = self.next_number.max(to);
    }

    /// Takes not in the trash.
    pub fn live(&self) -> impl Iterator<Item = &StudioTake> {
        self.takes.iter().filter(|t| !t.trashed)
    }

    pub fn trashed(&self) -> impl Iterator<Item = &StudioTake> {
        self.takes.iter().filter(|t| t.trashed)
    }

    pub fn get(&self, number: u32) -> Option<&StudioTake> {
        self.takes.iter().find(|t| t.number == number)
    }

    pub fn get_mut(&mut self, number: u32) -> Option<&mut StudioTake> {
        self.takes.iter_mut().find(|t| t.number == number)
    }

    /// The `n`-th live take (0-based), for the 1–9 keys.
    pub fn nth_live(&self, n: usize) -> Option<u32> {
        self.live().nth(n).map(|t| t.number)
    }

    pub fn set_trashed(&mut self, number: u32, trashed: bool) {
        if let Some(take) = self.get_mut(number) {
            take.trashed = trashed;
        }
    }

    /// Forget every trashed take for good; returns their numbers.
    pub fn empty_trash(&mut self) -> Vec<u32> {
        let gone = self.trashed().map(|t| t.number).collect();
        self.takes.retain(|t| !t.trashed);
        gone
    }
}

/// Gain in dB that brings `b` to the loudness of `a` (0 when either cannot be measured).
pub fn matching_gain_db(a: Option<f64>, b: Option<f64>) -> f64 {
    match (a, b) {
        (Some(a), Some(b)) => a - b,
        _ => 0.0,
    }
}
