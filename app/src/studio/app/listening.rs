//! Listening to takes: the take under the playhead, the A/B comparison and its loudness match, the
//! timeline's view and selection, looping, and auditioning a render's first chunks.

use std::sync::Arc;

use promptbook_engine::audio::AudioBuffer;
use promptbook_engine::runtime::RequestId;

use super::{Side, StudioApp};
use crate::studio::playback::Transport;
use crate::studio::takes::matching_gain_db;

impl StudioApp {
    pub fn transport(&self) -> &Transport {
        &self.runtime.transport
    }

    pub fn transport_mut(&mut self) -> &mut Transport {
        &mut self.runtime.transport
    }

    pub fn selected_take(&self) -> Option<u32> {
        self.selected
    }

    /// The B take of the A/B comparison, if one is set.
    pub fn compared_take(&self) -> Option<u32> {
        self.compare
    }

    pub fn audible_side(&self) -> Side {
        self.side
    }

    /// Play the chunks of render `id` decoded so far (live playback while later chunks render).
    pub fn audition(&mut self, id: RequestId) -> bool {
        let Some(job) = self.queue.get(id) else { return false };
        let Some(first) = job.chunk_audio.first() else { return false };
        let mut joined = AudioBuffer::from_channels(first.sample_rate(), Vec::new());
        for chunk in &job.chunk_audio {
            joined.append(chunk);
        }
        let chunks = job.chunk_audio.len();
        // The audition is not a take: nothing is selected, so the timeline and A/B stay out of it.
        self.selected = None;
        self.compare = None;
        self.side = Side::A;
        self.runtime.transport.load(Arc::new(joined), 0.0);
        self.runtime.transport.seek(0.0);
        self.runtime.transport.play();
        self.status = format!("Auditioning {chunks} chunk(s) of render #{id}");
        true
    }

    /// The visible span of the timeline in seconds; `None` shows the whole take.
    pub fn timeline_view(&self) -> Option<(f64, f64)> {
        self.view
    }

    pub fn set_timeline_view(&mut self, view: Option<(f64, f64)>) {
        self.view = view;
    }

    /// Select a span of the take (seconds), or clear the selection; a running loop follows it.
    pub fn set_selection(&mut self, span: Option<(f64, f64)>) {
        self.selection = span;
        if self.looping {
            self.set_looping(true);
        }
    }

    pub fn selection(&self) -> Option<(f64, f64)> {
        self.selection
    }

    pub fn is_looping(&self) -> bool {
        self.looping
    }

    /// Loop the selection, or the whole take when nothing is selected.
    pub fn set_looping(&mut self, looping: bool) {
        self.looping = looping;
        let whole = (0.0, self.runtime.transport.duration_secs());
        self.runtime.transport.set_loop(looping.then(|| self.selection.unwrap_or(whole)));
    }

    /// Put take `number` under the playhead (keeping the position); it becomes side A.
    pub fn select_take(&mut self, number: u32) {
        if self.takes.get(number).is_none() {
            return;
        }
        if self.selected != Some(number) {
            self.view = None;
            self.selection = None;
        }
        self.selected = Some(number);
        self.side = Side::A;
        if self.compare == Some(number) {
            self.compare = None;
        }
        self.load_audible();
    }

    /// Compare the selected take (A) with `number` (B).
    pub fn set_compare(&mut self, number: Option<u32>) {
        self.compare = number.filter(|n| Some(*n) != self.selected && self.takes.get(*n).is_some());
        if self.compare.is_none() {
            self.side = Side::A;
        }
        self.load_audible();
    }

    /// Switch A/B at the same playhead position.
    pub fn toggle_ab(&mut self) {
        if self.compare.is_none() {
            return;
        }
        self.side = if self.side == Side::A { Side::B } else { Side::A };
        self.load_audible();
    }

    pub fn set_raw_level(&mut self, raw: bool) {
        self.raw_level = raw;
        self.load_audible();
    }

    /// The audible take and the gain it plays at (dB; B is matched to A unless raw).
    pub fn audible(&self) -> Option<(u32, f64)> {
        let a = self.selected?;
        match (self.side, self.compare) {
            (Side::B, Some(b)) => Some((b, self.b_gain_db())),
            _ => Some((a, 0.0)),
        }
    }

    /// Gain applied to B to match A's integrated loudness (0 with the raw toggle).
    pub fn b_gain_db(&self) -> f64 {
        if self.raw_level {
            return 0.0;
        }
        let lufs = |n: Option<u32>| n.and_then(|n| self.takes.get(n)).and_then(|t| t.loudness_lufs);
        matching_gain_db(lufs(self.selected), lufs(self.compare))
    }

    pub(super) fn load_audible(&mut self) {
        if let Some((number, gain)) = self.audible()
            && let Some(take) = self.takes.get(number)
        {
            self.runtime.transport.load(take.audio.clone(), gain);
            if self.looping {
                self.set_looping(true);
            }
        }
    }
}
