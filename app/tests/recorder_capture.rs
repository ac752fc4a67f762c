//! The capture path without a device: the callback half ([`CaptureState::process`]) fed by hand,
//! as cpal would, and the UI half ([`Recorder`]) draining it. Checks that the callback never
//! allocates, that count-in and auto stop are exact in frames, channel handling, the meter, and
//! that a failing device ends the take but keeps what was captured.

use assert_no_alloc::{AllocDisabler, assert_no_alloc};
use promptbook::recorder::capture::{CaptureParams, CapturePhase, capture_pair};
use promptbook::recorder::{InputChannel, Phase, Recorder, StopReason};

// Aborts the test binary if anything inside `assert_no_alloc` allocates or frees.
#[global_allocator]
static ALLOCATOR: AllocDisabler = AllocDisabler;

const RATE: u32 = 48_000;

fn params(channels: u16, count_in_frames: u64, max_frames: u64) -> CaptureParams {
    CaptureParams { sample_rate: RATE, channels, pick: InputChannel::Mix, count_in_frames, max_frames }
}

/// Interleaved frames where frame `i` of channel `c` is `(i + 1) * (c + 1) / 1e6`.
fn ramp(frames: usize, channels: usize, start: usize) -> Vec<f32> {
    (start..start + frames)
        .flat_map(|i| (0..channels).map(move |c| ((i + 1) * (c + 1)) as f32 * 1e-6))
        .collect()
}

#[test]
fn the_callback_never_allocates() {
    let (mut state, shared, consumer) = capture_pair(params(2, 1000, 10_000));
    let f32_block = ramp(512, 2, 0);
    let i16_block: Vec<i16> = (0..1024).map(|i| (i * 31) as i16).collect();
    let (shared_ref, state_ref) = (&shared, &mut state);
    assert_no_alloc(|| {
        // Count-in, the block that crosses it, steady recording, the auto stop and past it.
        for _ in 0..30 {
            state_ref.process(&f32_block);
        }
        state_ref.process(&i16_block);
        assert_eq!(shared_ref.phase(), CapturePhase::Full);
    });
    assert_eq!(consumer.slots(), 10_000);
    // A stop request, with the UI never draining.
    let (mut state, shared, _consumer) = capture_pair(params(1, 0, 100_000));
    let block = vec![0.5_f32; 64];
    assert_no_alloc(|| {
        state.process(&block);
        shared.request_stop();
        state.process(&block);
    });
    assert_eq!(
        (shared.phase(), shared.captured_frames(), shared.dropped_frames()),
        (CapturePhase::Stopped, 64, 0)
    );
}

#[test]
fn count_in_and_auto_stop_are_exact_in_frames() {
    // Odd block sizes so the count-in and the end fall inside blocks.
    let count_in = 1_000;
    let max = 4_321;
    let (mut recorder, mut state, _errors) =
        Recorder::without_device(params(2, count_in, max), "test".into());
    let mut fed = 0;
    let mut phases = Vec::new();
    while fed < 9_000 {
        let block = ramp(333, 2, fed);
        state.process(&block);
        fed += 333;
        phases.push(recorder.poll());
    }
    assert!(
        matches!(phases[0], Phase::CountIn { remaining_secs } if (remaining_secs - 667.0 / 48_000.0).abs() < 1e-9)
    );
    assert!(phases.iter().any(|p| matches!(p, Phase::Recording { .. })));
    assert_eq!(phases.last(), Some(&Phase::Finished(StopReason::MaxDuration)));
    let take = recorder.stop().unwrap();
    assert_eq!(take.stop_reason, StopReason::MaxDuration);
    let samples = &take.audio.channels()[0];
    assert_eq!(samples.len() as u64, max);
    // Frame i is the mean of the two channels: (i+1)·1.5e-6, starting right after the count-in.
    for (k, s) in samples.iter().enumerate() {
        let i = count_in as usize + k;
        assert!((s - (i + 1) as f32 * 1.5e-6).abs() < 1e-9, "frame {k}: {s}");
    }
}

#[test]
fn single_channel_pick_and_timer() {
    let mut p = params(4, 0, 48_000);
    p.pick = InputChannel::Only(2);
    let (mut recorder, mut state, _errors) = Recorder::without_device(p, "test".into());
    state.process(&ramp(12_000, 4, 0));
    assert_eq!(recorder.poll(), Phase::Recording { elapsed_secs: 0.25 });
    let take = recorder.stop().unwrap();
    assert_eq!(take.stop_reason, StopReason::Stopped);
    assert_eq!(take.audio.frames(), 12_000);
    assert!((take.audio.channels()[0][9] - 10.0 * 3.0 * 1e-6).abs() < 1e-9, "channel 3 of frame 9");
}

#[test]
fn meter_reads_peak_rms_and_clipping() {
    let (recorder, mut state, _errors) = Recorder::without_device(params(1, 0, 480_000), "test".into());
    // 1 s of a 0.5 sine: peak 0.5, RMS 0.3536 once the 300 ms meter settles.
    let sine: Vec<f32> =
        (0..48_000).map(|i| 0.5 * (2.0 * std::f32::consts::PI * 440.0 * i as f32 / 48_000.0).sin()).collect();
    for block in sine.chunks(480) {
        state.process(block);
    }
    let r = recorder.meter();
    assert!((r.peak - 0.5).abs() < 1e-3, "{r:?}");
    assert!((r.rms - 0.5 / 2f32.sqrt()).abs() < 0.01, "{r:?}");
    assert_eq!(r.clipped_total, 0);
    assert_eq!(recorder.meter().peak, 0.0, "the peak resets when read");
    state.process(&[1.0_f32, -1.0, 0.2, 1.0]);
    assert_eq!(recorder.meter().clipped_total, 3);
}

#[test]
fn a_failing_device_ends_the_take_and_keeps_the_audio() {
    let (mut recorder, mut state, errors) = Recorder::without_device(params(1, 0, 480_000), "usb mic".into());
    state.process(&vec![0.25_f32; 24_000]);
    // An overrun is counted but does not stop the recording.
    errors.report(&cpal::Error::new(cpal::ErrorKind::Xrun));
    assert!(matches!(recorder.poll(), Phase::Recording { .. }));
    state.process(&vec![0.25_f32; 24_000]);
    errors.report(&cpal::Error::with_message(
        cpal::ErrorKind::DeviceNotAvailable,
        "the USB microphone was unplugged",
    ));
    let phase = recorder.poll();
    assert_eq!(phase, Phase::Finished(StopReason::DeviceFailed("the USB microphone was unplugged".into())));
    let take = recorder.stop().unwrap();
    assert_eq!(take.audio.frames(), 48_000, "everything captured before the failure is kept");
    assert_eq!(take.xruns, 1);
    assert!(matches!(take.stop_reason, StopReason::DeviceFailed(ref m) if m.contains("unplugged")));
}
