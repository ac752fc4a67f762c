//! The live level meter: atomics written by the audio callback, ballistics computed on the UI side.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use promptbook_engine::clip_check::levels::CLIP_LEVEL;

/// Meter values shared between the audio callback (the only writer of `rms` and the peak) and the
/// UI thread (which takes the peak). Lock-free: the callback only uses `fetch_max`, `store` and
/// `fetch_add`.
#[derive(Debug, Default)]
pub struct MeterShared {
    /// Largest absolute sample since the UI last took it, as `f32` bits. Non-negative floats
    /// order like their bit patterns, so `fetch_max` on the bits is a float max.
    peak_bits: AtomicU32,
    /// RMS of the input with a 300 ms time constant, as `f32` bits.
    rms_bits: AtomicU32,
    /// Samples at or above the clip level since the stream started.
    clipped: AtomicU64,
}

/// One reading of the meter.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct MeterReading {
    /// Largest absolute sample since the previous reading (linear).
    pub peak: f32,
    /// Current RMS (linear).
    pub rms: f32,
    /// Clipped samples since the stream started.
    pub clipped_total: u64,
}

impl MeterShared {
    /// Audio thread: publishes one callback block. No allocation, no locks.
    pub(crate) fn publish(&self, block_peak: f32, rms: f32, clipped: u64) {
        self.peak_bits.fetch_max(block_peak.abs().to_bits(), Ordering::Relaxed);
        self.rms_bits.store(rms.to_bits(), Ordering::Relaxed);
        if clipped > 0 {
            self.clipped.fetch_add(clipped, Ordering::Relaxed);
        }
    }

    /// UI thread: takes the peak since the last call (resetting it) and reads the RMS and clip count.
    pub fn take(&self) -> MeterReading {
        MeterReading {
            peak: f32::from_bits(self.peak_bits.swap(0, Ordering::Relaxed)),
            rms: f32::from_bits(self.rms_bits.load(Ordering::Relaxed)),
            clipped_total: self.clipped.load(Ordering::Relaxed),
        }
    }
}

/// Whether a sample counts as clipped (the same level the clip checker uses).
pub(crate) fn is_clipped(sample: f32) -> bool {
    sample.abs() >= CLIP_LEVEL
}

/// The bottom of the meter scale.
pub const METER_FLOOR_DB: f32 = -60.0;
/// How fast the peak bar falls.
const PEAK_FALL_DB_PER_SEC: f32 = 24.0;
/// How long the peak-hold marker stays before it falls.
const HOLD_SECS: f32 = 1.5;

/// UI-side meter ballistics: a falling peak bar, a peak-hold marker and a latched clip light.
#[derive(Debug, Clone, PartialEq)]
pub struct MeterBallistics {
    peak_db: f32,
    rms_db: f32,
    hold_db: f32,
    hold_left_secs: f32,
    clip_seen: u64,
    clip_lit: bool,
}

impl Default for MeterBallistics {
    fn default() -> Self {
        Self {
            peak_db: METER_FLOOR_DB,
            rms_db: METER_FLOOR_DB,
            hold_db: METER_FLOOR_DB,
            hold_left_secs: 0.0,
            clip_seen: 0,
            clip_lit: false,
        }
    }
}

impl MeterBallistics {
    /// Feeds a reading taken `dt_secs` after the previous one.
    pub fn update(&mut self, reading: MeterReading, dt_secs: f32) {
        let new_peak = to_db(reading.peak);
        let fallen = self.peak_db - PEAK_FALL_DB_PER_SEC * dt_secs;
        self.peak_db = new_peak.max(fallen).max(METER_FLOOR_DB);
        self.rms_db = to_db(reading.rms);
        if new_peak >= self.hold_db {
            self.hold_db = new_peak;
            self.hold_left_secs = HOLD_SECS;
        } else {
            self.hold_left_secs -= dt_secs;
            if self.hold_left_secs <= 0.0 {
                self.hold_db = self.peak_db;
            }
        }
        if reading.clipped_total > self.clip_seen {
            self.clip_lit = true;
        }
        self.clip_seen = reading.clipped_total;
    }

    /// The peak bar, dBFS (≥ [`METER_FLOOR_DB`]).
    pub fn peak_db(&self) -> f32 {
        self.peak_db
    }

    /// The RMS bar, dBFS (≥ [`METER_FLOOR_DB`]).
    pub fn rms_db(&self) -> f32 {
        self.rms_db
    }

    /// The peak-hold marker, dBFS.
    pub fn hold_db(&self) -> f32 {
        self.hold_db
    }

    /// True from the first clipped sample until [`Self::reset_clip`].
    pub fn clip_lit(&self) -> bool {
        self.clip_lit
    }

    /// Turns the clip light off.
    pub fn reset_clip(&mut self) {
        self.clip_lit = false;
    }
}

/// Linear amplitude to dBFS, floored at [`METER_FLOOR_DB`].
pub fn to_db(amplitude: f32) -> f32 {
    if amplitude <= 0.0 { METER_FLOOR_DB } else { (20.0 * amplitude.log10()).max(METER_FLOOR_DB) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peak_is_a_float_max_and_resets_on_take() {
        let m = MeterShared::default();
        m.publish(0.25, 0.1, 0);
        m.publish(0.5, 0.2, 2);
        m.publish(0.125, 0.3, 1);
        let r = m.take();
        assert_eq!((r.peak, r.rms, r.clipped_total), (0.5, 0.3, 3));
        assert_eq!(m.take().peak, 0.0);
    }

    #[test]
    fn ballistics_fall_hold_and_latch_the_clip_light() {
        let mut b = MeterBallistics::default();
        b.update(MeterReading { peak: 0.5, rms: 0.25, clipped_total: 0 }, 0.1);
        assert!((b.peak_db() - (-6.02)).abs() < 0.01);
        assert!((b.hold_db() - (-6.02)).abs() < 0.01);
        // Silence: the bar falls 24 dB/s, the hold marker stays for 1.5 s.
        b.update(MeterReading::default(), 0.5);
        assert!((b.peak_db() - (-18.02)).abs() < 0.01, "{}", b.peak_db());
        assert!((b.hold_db() - (-6.02)).abs() < 0.01);
        b.update(MeterReading::default(), 1.1);
        assert!(b.hold_db() < -30.0, "hold released after 1.5 s: {}", b.hold_db());
        assert!(!b.clip_lit());
        b.update(MeterReading { peak: 1.0, rms: 0.7, clipped_total: 4 }, 0.1);
        assert!(b.clip_lit());
        b.update(MeterReading { peak: 0.1, rms: 0.07, clipped_total: 4 }, 0.1);
        assert!(b.clip_lit(), "the clip light stays on until reset");
        b.reset_clip();
        assert!(!b.clip_lit());
    }
}
