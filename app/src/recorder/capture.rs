//! The realtime side of a recording: what runs inside cpal's input callback.
//!
//! [`CaptureState::process`] runs on the audio thread. It never allocates, locks or blocks: it
//! converts samples, updates the meter atomics, counts the count-in down in frames, and pushes the
//! mono signal into a wait-free SPSC ring buffer (rtrb). Everything else happens on the UI thread.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};

use cpal::{FromSample, Sample};

use super::meter::{MeterShared, is_clipped};

/// Which input channel(s) make the mono recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InputChannel {
    /// The mean of all channels.
    #[default]
    Mix,
    /// One channel (0-based), for interfaces with the microphone on a single input.
    Only(u16),
}

/// Where a capture is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum CapturePhase {
    /// Counting in: the meter runs, nothing is recorded.
    CountIn = 0,
    /// Recording.
    Recording = 1,
    /// The maximum length was reached; nothing more is recorded.
    Full = 2,
    /// Stopped on request; nothing more is recorded.
    Stopped = 3,
}

impl CapturePhase {
    fn from_u8(v: u8) -> Self {
        match v {
            0 => Self::CountIn,
            1 => Self::Recording,
            2 => Self::Full,
            _ => Self::Stopped,
        }
    }
}

/// State shared between the callback and the UI thread; every field is an atomic.
#[derive(Debug)]
pub struct CaptureShared {
    /// The live meter.
    pub meter: MeterShared,
    phase: AtomicU8,
    count_in_left: AtomicU64,
    captured: AtomicU64,
    dropped: AtomicU64,
    stop: AtomicBool,
    failed: AtomicBool,
    xruns: AtomicU64,
}

impl CaptureShared {
    fn new(count_in_frames: u64) -> Self {
        let phase = if count_in_frames > 0 { CapturePhase::CountIn } else { CapturePhase::Recording };
        Self {
            meter: MeterShared::default(),
            phase: AtomicU8::new(phase as u8),
            count_in_left: AtomicU64::new(count_in_frames),
            captured: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            failed: AtomicBool::new(false),
            xruns: AtomicU64::new(0),
        }
    }

    /// The current phase.
    pub fn phase(&self) -> CapturePhase {
        CapturePhase::from_u8(self.phase.load(Ordering::Acquire))
    }

    /// Frames of count-in still to go.
    pub fn count_in_left(&self) -> u64 {
        self.count_in_left.load(Ordering::Relaxed)
    }

    /// Frames pushed into the ring buffer so far.
    pub fn captured_frames(&self) -> u64 {
        self.captured.load(Ordering::Acquire)
    }

    /// Frames lost because the ring buffer was full (should stay 0: it holds a whole take).
    pub fn dropped_frames(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Buffer under/overruns reported by the backend.
    pub fn xruns(&self) -> u64 {
        self.xruns.load(Ordering::Relaxed)
    }

    /// True once the stream reported a fatal error.
    pub fn failed(&self) -> bool {
        self.failed.load(Ordering::Acquire)
    }

    /// Asks the callback to record nothing more.
    pub fn request_stop(&self) {
        self.stop.store(true, Ordering::Release);
    }

    pub(crate) fn mark_failed(&self) {
        self.failed.store(true, Ordering::Release);
    }

    pub(crate) fn count_xrun(&self) {
        self.xruns.fetch_add(1, Ordering::Relaxed);
    }
}

/// Meter RMS time constant.
const RMS_TIME_CONSTANT_SECS: f32 = 0.3;

/// Callback-side state, moved into cpal's data callback.
pub struct CaptureState {
    producer: rtrb::Producer<f32>,
    shared: Arc<CaptureShared>,
    channels: usize,
    pick: InputChannel,
    count_in_left: u64,
    max_frames: u64,
    captured: u64,
    mean_square: f32,
    alpha: f32,
}

/// Per-block meter accumulation inside the callback.
struct BlockMeter {
    pick: InputChannel,
    alpha: f32,
    mean_square: f32,
    peak: f32,
    clipped: u64,
}

impl BlockMeter {
    /// Meters one interleaved frame (peak and clip count over every channel, RMS of the recorded
    /// signal) and returns the recorded mono sample.
    fn frame<T>(&mut self, frame: &[T]) -> f32
    where
        T: Sample,
        f32: FromSample<T>,
    {
        let mut sum = 0.0;
        for s in frame {
            let v = s.to_sample::<f32>();
            self.peak = self.peak.max(v.abs());
            self.clipped += u64::from(is_clipped(v));
            sum += v;
        }
        let mono = match self.pick {
            InputChannel::Mix => sum / frame.len() as f32,
            InputChannel::Only(c) => frame.get(usize::from(c)).map_or(0.0, |s| s.to_sample::<f32>()),
        };
        self.mean_square += self.alpha * (mono * mono - self.mean_square);
        mono
    }
}

/// What a capture needs to know up front.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CaptureParams {
    /// Frames per second of the stream.
    pub sample_rate: u32,
    /// Interleaved channels per frame.
    pub channels: u16,
    /// Which channel(s) to record.
    pub pick: InputChannel,
    /// Frames to meter but not record before recording starts.
    pub count_in_frames: u64,
    /// Frames to record at most; the capture stops by itself after this many.
    pub max_frames: u64,
}

/// Builds the callback state and the UI-side ends: the shared atomics and the ring buffer's
/// consumer. The ring buffer holds the whole take (`max_frames`), so a stalled UI thread never
/// loses audio; it is allocated here, never in the callback.
pub fn capture_pair(params: CaptureParams) -> (CaptureState, Arc<CaptureShared>, rtrb::Consumer<f32>) {
    let (producer, consumer) = rtrb::RingBuffer::new(params.max_frames.max(1) as usize);
    let shared = Arc::new(CaptureShared::new(params.count_in_frames));
    let alpha = 1.0 - (-1.0 / (RMS_TIME_CONSTANT_SECS * params.sample_rate as f32)).exp();
    let state = CaptureState {
        producer,
        shared: Arc::clone(&shared),
        channels: usize::from(params.channels.max(1)),
        pick: params.pick,
        count_in_left: params.count_in_frames,
        max_frames: params.max_frames,
        captured: 0,
        mean_square: 0.0,
        alpha,
    };
    (state, shared, consumer)
}

impl CaptureState {
    /// Audio thread: handles one block of interleaved samples. Realtime-safe: no allocation, no
    /// locks, no blocking, no I/O.
    pub fn process<T>(&mut self, data: &[T])
    where
        T: Sample,
        f32: FromSample<T>,
    {
        let mut frames = data.chunks_exact(self.channels);
        let total = frames.len() as u64;
        // Split the block: count-in frames, recorded frames, and the rest (after the end or a stop).
        let stopped = self.shared.stop.load(Ordering::Acquire);
        let skip = if stopped { 0 } else { total.min(self.count_in_left) };
        let wanted = if stopped { 0 } else { (total - skip).min(self.max_frames - self.captured) };
        // Drop policy: if the ring is full, the newest frames are dropped and counted.
        let room = wanted.min(self.producer.slots() as u64);

        // One pass over the samples: every frame feeds the meter, the recorded ones also the ring.
        let mut meter = BlockMeter {
            pick: self.pick,
            alpha: self.alpha,
            mean_square: self.mean_square,
            peak: 0.0,
            clipped: 0,
        };
        frames.by_ref().take(skip as usize).for_each(|f| {
            meter.frame(f);
        });
        if let Ok(chunk) = self.producer.write_chunk_uninit(room as usize) {
            chunk.fill_from_iter(frames.by_ref().take(room as usize).map(|f| meter.frame(f)));
        }
        frames.for_each(|f| {
            meter.frame(f);
        });
        self.mean_square = meter.mean_square;
        self.shared.meter.publish(meter.peak, meter.mean_square.sqrt(), meter.clipped);

        if stopped {
            self.set_phase(CapturePhase::Stopped);
            return;
        }
        // Count-in, counted in frames so it is exact whatever the device's pacing.
        if skip > 0 {
            self.count_in_left -= skip;
            self.shared.count_in_left.store(self.count_in_left, Ordering::Relaxed);
        }
        if self.count_in_left > 0 {
            return;
        }
        self.set_phase(CapturePhase::Recording);
        let lost = wanted - room;
        if lost > 0 {
            self.shared.dropped.fetch_add(lost, Ordering::Relaxed);
        }
        self.captured += wanted;
        self.shared.captured.store(self.captured - self.shared.dropped_frames(), Ordering::Release);
        if self.captured >= self.max_frames {
            self.set_phase(CapturePhase::Full);
        }
    }

    fn set_phase(&self, phase: CapturePhase) {
        // Never move back from a final phase.
        let current = self.shared.phase.load(Ordering::Acquire);
        if current < CapturePhase::Full as u8 {
            self.shared.phase.store(phase as u8, Ordering::Release);
        }
    }
}
