//! The render queue as the studio sees it: one row per request sent to the engine thread, updated
//! from engine events; the UI thread never waits on the engine.
//!
//! Progress counts each chunk as sampling then decoding. The decode is one call without steps, so its
//! share of a chunk and its expected length come from the chunk before (measured here, from the events'
//! arrival times); the first chunk assumes decoding takes as long as sampling did.

use std::sync::Arc;
use std::time::{Duration, Instant};

use promptbook_engine::audio::AudioBuffer;
use promptbook_engine::pipeline::render::Take;
use promptbook_engine::runtime::{EngineEvent, RequestId};

use super::project::PendingRender;

/// A decode that overruns its estimate stops short of done, so the bar never claims a chunk early.
const DECODE_ESTIMATE_CAP: f64 = 0.95;
/// The shortest decode expected: a quick sampling pass says little about the decode after it.
const MIN_DECODE_ESTIMATE: Duration = Duration::from_secs(1);

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
    /// Chunk `chunk` (0-based) of `of` is being decoded to audio.
    Decoding {
        chunk: usize,
        of: usize,
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
    pub chunk_audio: Vec<Arc<AudioBuffer>>,
    /// What was asked for, kept so the queue can be written to the project and queued again.
    pub request: PendingRender,
    /// When the current chunk's sampling and decoding began.
    phase: ChunkTiming,
    /// `(sampling, decoding)` of the last chunk that finished.
    last_chunk: Option<(Duration, Duration)>,
    /// The post stage running now (with its chunk for the per-chunk validation).
    pub stage: Option<(promptbook_engine::stages::StageId, Option<usize>)>,
}

#[derive(Debug, Clone, Copy, Default)]
struct ChunkTiming {
    sampling_from: Option<Instant>,
    decoding_from: Option<Instant>,
}

impl Job {
    pub fn is_active(&self) -> bool {
        matches!(self.state, JobState::Queued | JobState::Running { .. } | JobState::Decoding { .. })
    }

    /// Fraction done: sampler steps, then the decode (estimated from the chunk before), across chunks.
    pub fn fraction(&self) -> f64 {
        self.fraction_at(Instant::now())
    }

    fn fraction_at(&self, now: Instant) -> f64 {
        let decode_share = self.decode_share();
        match self.state {
            JobState::Running { chunk, of, step, steps } if of > 0 && steps > 0 => {
                (chunk as f64 + (1.0 - decode_share) * step as f64 / steps as f64) / of as f64
            }
            JobState::Decoding { chunk, of } if of > 0 => {
                let done = match (self.phase.decoding_from, self.expected_decode()) {
                    (Some(from), Some(expected)) if !expected.is_zero() => {
                        (now.duration_since(from).as_secs_f64() / expected.as_secs_f64())
                            .min(DECODE_ESTIMATE_CAP)
                    }
                    _ => 0.0,
                };
                (chunk as f64 + (1.0 - decode_share) + decode_share * done) / of as f64
            }
            JobState::Done { .. } => 1.0,
            _ => 0.0,
        }
    }

    /// The part of a chunk's time spent decoding, as measured on the chunk before (half until then).
    fn decode_share(&self) -> f64 {
        match self.last_chunk {
            Some((sampling, decoding)) if !(sampling + decoding).is_zero() => {
                decoding.as_secs_f64() / (sampling + decoding).as_secs_f64()
            }
            _ => 0.5,
        }
    }

    /// How long this chunk's decode should take: as long as the last one, else as long as this sampling
    /// (at least a second).
    fn expected_decode(&self) -> Option<Duration> {
        let guess = match (self.last_chunk, self.phase.sampling_from, self.phase.decoding_from) {
            (Some((_, decoding)), _, _) => decoding,
            (None, Some(sampled_from), Some(decoding_from)) => decoding_from.duration_since(sampled_from),
            _ => return None,
        };
        Some(guess.max(MIN_DECODE_ESTIMATE))
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
            JobState::Decoding { chunk, of } => {
                let eta =
                    self.eta().map_or(String::new(), |d| format!(" · ETA {:.0} s", d.as_secs_f64().ceil()));
                format!("chunk {}/{of} · decoding{eta}", chunk + 1)
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
    pub fn push(&mut self, id: RequestId, request: PendingRender) {
        let label: String = request
            .script
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
            request,
            phase: ChunkTiming::default(),
            last_chunk: None,
            stage: None,
        });
    }

    /// The renders not finished yet, in queue order (what `.queue.json` keeps).
    pub fn pending(&self) -> Vec<PendingRender> {
        self.jobs.iter().filter(|j| j.is_active()).map(|j| j.request.clone()).collect()
    }

    pub fn active_ids(&self) -> Vec<RequestId> {
        self.jobs.iter().filter(|j| j.is_active()).map(|j| j.id).collect()
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
                job.phase = ChunkTiming { sampling_from: Some(Instant::now()), decoding_from: None };
                let steps = match job.state {
                    JobState::Running { steps, .. } => steps,
                    _ => 8,
                };
                job.state = JobState::Running { chunk: index, of, step: 0, steps };
            }
            EngineEvent::SamplerStep { chunk, step, of, .. } => {
                job.started_at.get_or_insert_with(Instant::now);
                let chunks = match job.state {
                    JobState::Running { of, .. } | JobState::Decoding { of, .. } => of,
                    _ => 1,
                };
                job.state = JobState::Running { chunk, of: chunks, step, steps: of };
            }
            EngineEvent::Decoding { chunk, of, .. } => {
                job.phase.decoding_from = Some(Instant::now());
                job.state = JobState::Decoding { chunk, of };
            }
            EngineEvent::ChunkAudio { audio, .. } => {
                if let ChunkTiming { sampling_from: Some(s), decoding_from: Some(d) } = job.phase {
                    job.last_chunk = Some((d.duration_since(s), d.elapsed()));
                }
                job.chunk_audio.push(audio);
            }
            EngineEvent::Finished { id, take } => return Some((id, *take)),
            EngineEvent::Failed { error, .. } => {
                job.state = JobState::Failed(crate::messages::engine_error(&error))
            }
            EngineEvent::Cancelled { .. } => job.state = JobState::Cancelled,
            EngineEvent::StageStarted { stage, chunk, .. } => {
                job.stage = Some((stage, chunk));
            }
            EngineEvent::LoadProgress { .. }
            | EngineEvent::Loaded { .. }
            | EngineEvent::Resident { .. }
            | EngineEvent::AudioPiece { .. }
            | EngineEvent::StageFinished { .. }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn job(state: JobState) -> Job {
        let mut queue = RenderQueue::default();
        let request = PendingRender {
            script: "<speak voice=\"v\">Hello there</speak>".into(),
            seed: 1,
            pace: 1.5,
            mode: promptbook_engine::pipeline::render::RenderMode::Generate,
            estimator: promptbook_engine::check::EstimatorKind::Default,
            reference: None,
            stages: None,
            controls: Default::default(),
        };
        queue.push(1, request);
        let mut job = queue.jobs.remove(0);
        job.state = state;
        job
    }

    #[test]
    fn the_last_sampler_step_leaves_room_for_the_decode() {
        let t0 = Instant::now();
        let mut j = job(JobState::Running { chunk: 0, of: 2, step: 8, steps: 8 });
        assert_eq!(j.fraction_at(t0), 0.25, "half of chunk 1 of 2 is its decode");
        j.phase = ChunkTiming { sampling_from: Some(t0), decoding_from: Some(t0 + Duration::from_secs(2)) };
        j.state = JobState::Decoding { chunk: 0, of: 2 };
        assert_eq!(j.fraction_at(t0 + Duration::from_secs(2)), 0.25, "no jump when decoding starts");
        // Expected as long as sampling took (2 s): one second in is half the decode.
        assert_eq!(j.fraction_at(t0 + Duration::from_secs(3)), 0.375);
        let overrun = j.fraction_at(t0 + Duration::from_secs(60));
        assert!((overrun - (0.5 + 0.5 * DECODE_ESTIMATE_CAP) / 2.0).abs() < 1e-12, "{overrun}");
        assert!(j.describe().starts_with("chunk 1/2 · decoding"), "{}", j.describe());
    }

    #[test]
    fn later_chunks_weigh_the_decode_as_the_chunk_before_measured_it() {
        let t0 = Instant::now();
        let mut j = job(JobState::Running { chunk: 1, of: 2, step: 4, steps: 8 });
        j.last_chunk = Some((Duration::from_secs(1), Duration::from_secs(3)));
        assert_eq!(j.fraction_at(t0), (1.0 + 0.25 * 0.5) / 2.0);
        j.phase = ChunkTiming { sampling_from: Some(t0), decoding_from: Some(t0) };
        j.state = JobState::Decoding { chunk: 1, of: 2 };
        // Three seconds expected (the last decode): 1.5 s in is half of the decode's 75 %.
        let at = j.fraction_at(t0 + Duration::from_millis(1500));
        assert!((at - (1.0 + 0.25 + 0.375) / 2.0).abs() < 1e-12, "{at}");
        assert!(j.is_active());
    }
}
