//! The render queue as the studio sees it: one row per request sent to the engine thread, updated
//! from engine events; the UI thread never waits on the engine.

use std::sync::Arc;
use std::time::{Duration, Instant};

use promptbook_engine::pipeline::render::Take;
use promptbook_engine::pipeline::waveform::Waveform;
use promptbook_engine::runtime::{EngineEvent, RequestId};

#[derive(Debug, Clone, PartialEq)]
pub enum JobState {
    Queued,
    /// Chunk `chunk` (0-based) of `of`, sampler step `step` of `steps`.
    Running {
        chunk: usize,
        of: usize,
        step: usize,
        steps: usize,
    },
    /// Became take number `take`.
    Done {
        take: u32,
    },
    Failed(String),
    Cancelled,
}

pub struct Job {
    pub id: RequestId,
    /// The first words of the script, to tell jobs apart.
    pub label: String,
    pub state: JobState,
    pub queued_at: Instant,
    pub started_at: Option<Instant>,
    /// Chunks decoded so far, for auditioning before the take is joined.
    pub chunk_audio: Vec<Arc<Waveform>>,
}

impl Job {
    pub fn is_active(&self) -> bool {
        matches!(self.state, JobState::Queued | JobState::Running { .. })
    }

    /// Fraction done, counting sampler steps across chunks.
    pub fn fraction(&self) -> f64 {
        match self.state {
            JobState::Running { chunk, of, step, steps } if of > 0 && steps > 0 => {
                (chunk as f64 + step as f64 / steps as f64) / of as f64
            }
            JobState::Done { .. } => 1.0,
            _ => 0.0,
        }
    }

    /// Remaining time from the pace so far; `None` until there is progress to extrapolate.
    pub fn eta(&self) -> Option<Duration> {
        let f = self.fraction();
        let elapsed = self.started_at?.elapsed().as_secs_f64();
        (f > 0.0 && f < 1.0).then(|| Duration::from_secs_f64(elapsed * (1.0 - f) / f))
    }

    pub fn describe(&self) -> String {
        match &self.state {
            JobState::Queued => "queued".into(),
            JobState::Running { chunk, of, step, steps } => {
                let eta =
                    self.eta().map_or(String::new(), |d| format!(" · ETA {:.0} s", d.as_secs_f64().ceil()));
                format!("chunk {}/{of} · step {step}/{steps}{eta}", chunk + 1)
            }
            JobState::Done { take } => format!("done: T{take:02}"),
            JobState::Failed(message) => format!("failed: {message}"),
            JobState::Cancelled => "cancelled".into(),
        }
    }
}

#[derive(Default)]
pub struct RenderQueue {
    pub jobs: Vec<Job>,
}

impl RenderQueue {
    pub fn push(&mut self, id: RequestId, script: &str) {
        let label: String = script
            .split('>')
            .skip(1)
            .flat_map(|s| s.split('<').next())
            .collect::<Vec<_>>()
            .join(" ")
            .split_whitespace()
            .take(6)
            .collect::<Vec<_>>()
            .join(" ");
        self.jobs.push(Job {
            id,
            label,
            state: JobState::Queued,
            queued_at: Instant::now(),
            started_at: None,
            chunk_audio: Vec::new(),
        });
    }

    pub fn get(&self, id: RequestId) -> Option<&Job> {
        self.jobs.iter().find(|j| j.id == id)
    }

    pub fn active(&self) -> usize {
        self.jobs.iter().filter(|j| j.is_active()).count()
    }

    /// Apply an engine event for one of our jobs; a finished take is handed back to be added, and the
    /// caller reports its number with [`RenderQueue::mark_done`]. Events for unknown ids are ignored.
    pub fn apply(&mut self, event: EngineEvent) -> Option<(RequestId, Take)> {
        let job = self.jobs.iter_mut().find(|j| j.id == event.id())?;
        match event {
            EngineEvent::ChunkStarted { index, of, .. } => {
                job.started_at.get_or_insert_with(Instant::now);
                let steps = match job.state {
                    JobState::Running { steps, .. } => steps,
                    _ => 8,
                };
                job.state = JobState::Running { chunk: index, of, step: 0, steps };
            }
            EngineEvent::SamplerStep { chunk, step, of, .. } => {
                job.started_at.get_or_insert_with(Instant::now);
                let chunks = match job.state {
                    JobState::Running { of, .. } => of,
                    _ => 1,
                };
                job.state = JobState::Running { chunk, of: chunks, step, steps: of };
            }
            EngineEvent::ChunkAudio { audio, .. } => job.chunk_audio.push(audio),
            EngineEvent::Finished { id, take } => return Some((id, *take)),
            EngineEvent::Failed { error, .. } => {
                job.state = JobState::Failed(crate::messages::engine_error(&error))
            }
            EngineEvent::Cancelled { .. } => job.state = JobState::Cancelled,
            EngineEvent::LoadProgress { .. }
            | EngineEvent::Loaded { .. }
            | EngineEvent::Unloaded { .. }
            | EngineEvent::ModelLost { .. } => {}
        }
        None
    }

    pub fn mark_done(&mut self, id: RequestId, take: u32) {
        if let Some(job) = self.jobs.iter_mut().find(|j| j.id == id) {
            job.state = JobState::Done { take };
            job.chunk_audio.clear();
        }
    }

    /// Drop finished, failed and cancelled rows.
    pub fn clear_finished(&mut self) {
        self.jobs.retain(Job::is_active);
    }
}
