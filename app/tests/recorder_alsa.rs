//! Recording through the real cpal → ALSA path, with a raw file as the microphone
//! (`tests/fixtures/audio/asound.conf`): a sine and a spoken clip made with espeak-ng. Each test
//! checks the take's duration (counted frames), its level and its content sample by sample.

mod recorder_support;

use std::time::{Duration, Instant};

use promptbook::recorder::{Phase, Recorder, RecorderConfig, RecorderError, StopReason, input_devices};
use promptbook_engine::clip_check::{self, CheckId};
use recorder_support::{MIC_RATE, espeak_mic, read_raw_s16, run_with_file_mic, write_raw_s16};

/// The recorder settings for the file microphone. ALSA's `file` plugin mis-sizes its reads when the
/// `plug` in front of it converts the sample format (measured with alsa-lib 1.2.8: F32 or I32
/// capture reads two file frames per frame delivered), so the tests record in the file's own
/// format, I16; everything after the device is the production path.
fn file_mic_config() -> RecorderConfig {
    RecorderConfig { sample_format: Some(cpal::SampleFormat::I16), ..RecorderConfig::default() }
}

/// Polls until the recorder finishes; the deadline only guards against a hung device.
fn record_to_end(mut recorder: Recorder) -> promptbook::recorder::Take {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match recorder.poll() {
            Phase::Finished(_) => break,
            Phase::CountIn { .. } | Phase::Recording { .. } => {}
        }
        assert!(Instant::now() < deadline, "the recording never finished");
        std::thread::sleep(Duration::from_millis(2));
    }
    recorder.stop().expect("stop")
}

/// Index of the first frame of `take` inside `source`, searched near `expected`.
fn alignment(take: &[f32], source: &[f32], expected: usize) -> Option<usize> {
    let probe = &take[..4800.min(take.len())];
    (expected.saturating_sub(4800)..=expected + 4800).find(|&off| {
        source
            .get(off..off + probe.len())
            .is_some_and(|s| s.iter().zip(probe).all(|(a, b)| (a - b).abs() < 1e-6))
    })
}

#[test]
fn records_a_sine_through_cpal() {
    const COUNT_IN_SECS: f64 = 0.5;
    const SECS: f64 = 3.0;
    const HZ: f64 = 997.0;
    let Some(dir) = run_with_file_mic("records_a_sine_through_cpal", |dir| {
        // Count-in + recording + 2 s of margin: the file mic keeps returning stale data past its end.
        // The count-in part is quieter, so a count-in that skips too little shows in the take.
        let count_in = (COUNT_IN_SECS * f64::from(MIC_RATE)) as usize;
        let n = ((COUNT_IN_SECS + SECS + 2.0) * f64::from(MIC_RATE)) as usize;
        let sine: Vec<f32> = (0..n)
            .map(|i| {
                let amp = if i < count_in { 0.1 } else { 0.5 };
                (amp * (2.0 * std::f64::consts::PI * HZ * i as f64 / f64::from(MIC_RATE)).sin()) as f32
            })
            .collect();
        let mic = dir.join("mic.raw");
        write_raw_s16(&mic, &sine);
        Ok(mic)
    }) else {
        return;
    };
    let source = read_raw_s16(&dir.join("mic.raw"));
    let config = RecorderConfig { max_secs: SECS, count_in_secs: COUNT_IN_SECS, ..file_mic_config() };
    let recorder = Recorder::start(&config).expect("start recording");
    println!("device {:?} at {} Hz", recorder.device(), recorder.sample_rate());
    assert_eq!(recorder.sample_rate(), MIC_RATE, "48 kHz is preferred and the plug device offers it");
    let take = record_to_end(recorder);

    // Duration: exactly the requested frames, and the auto stop says why.
    assert_eq!(take.stop_reason, StopReason::MaxDuration);
    assert_eq!(take.audio.frames(), (SECS * f64::from(MIC_RATE)) as usize);
    assert_eq!((take.dropped_frames, take.audio.sample_rate()), (0, MIC_RATE));
    // Content: the take is the file, sample for sample, starting right after the count-in.
    let samples = &take.audio.channels()[0];
    let count_in_frames = (COUNT_IN_SECS * f64::from(MIC_RATE)) as usize;
    let offset = alignment(samples, &source, count_in_frames).expect("the take matches the mic file");
    let max_err = samples.iter().zip(&source[offset..]).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
    println!(
        "sine take starts at mic frame {offset} (count-in {count_in_frames}), max sample error {max_err}"
    );
    assert_eq!(offset, count_in_frames, "the count-in skips exactly its frames");
    assert!(max_err < 1e-6, "max sample error {max_err}");
    // Level and frequency, as the clip checker and a zero-crossing count see them.
    let m = clip_check::measure(&take.audio).unwrap();
    let peak_db = 20.0 * m.sample_peak.log10();
    let ups = samples.windows(2).filter(|w| w[0] < 0.0 && w[1] >= 0.0).count();
    let hz = ups as f64 / SECS;
    let lufs = m.integrated_lufs.unwrap();
    println!("sine take: peak {peak_db:.2} dBFS, {lufs:.2} LUFS, {hz:.1} Hz by zero crossings");
    assert!((peak_db - (-6.02)).abs() < 0.05, "peak {peak_db}");
    assert!((hz - HZ).abs() <= 1.0, "{hz} Hz");
    // BS.1770: a 997 Hz sine at amplitude A in one channel reads 20·log10(A) − 3.01 LUFS.
    assert!((lufs - (-9.03)).abs() < 0.1, "{lufs} LUFS");
}

#[test]
fn records_espeak_speech_through_cpal() {
    const LEAD_SECS: f64 = 0.5;
    let text =
        "Reference voices need range. Did you hear that? What a wonderful, surprising day it has been!";
    let Some(dir) = run_with_file_mic("records_espeak_speech_through_cpal", |dir| {
        let (mic, speech_secs) = espeak_mic(dir, text, LEAD_SECS, 3.0)?;
        std::fs::write(dir.join("speech_secs"), speech_secs.to_string()).map_err(|e| e.to_string())?;
        Ok(mic)
    }) else {
        return;
    };
    let source = read_raw_s16(&dir.join("mic.raw"));
    let speech_secs: f64 = std::fs::read_to_string(dir.join("speech_secs")).unwrap().parse().unwrap();
    // Record the lead-in silence, the speech and 0.5 s after it; the file has 3 s after the speech.
    let secs = (LEAD_SECS + speech_secs + 0.5).min(source.len() as f64 / f64::from(MIC_RATE) - 1.0);
    let config = RecorderConfig { max_secs: secs, ..file_mic_config() };
    let take = record_to_end(Recorder::start(&config).expect("start recording"));
    assert_eq!(take.stop_reason, StopReason::MaxDuration);
    assert_eq!(take.audio.frames(), (secs * f64::from(MIC_RATE)).round() as usize);
    let samples = &take.audio.channels()[0];
    let offset = alignment(samples, &source, 0).expect("the take matches the spoken mic file");
    assert_eq!(offset, 0, "no count-in: the take starts with the file");
    let max_err = samples.iter().zip(&source[offset..]).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
    println!("speech take: {secs:.2} s, starts at mic frame {offset}, max sample error {max_err}");
    assert!(max_err < 1e-6);

    let report = clip_check::check_clip(&take.audio, None).unwrap();
    let value = |id| report.get(id).and_then(|c| c.value);
    println!("{}", serde_json::to_string_pretty(&report).unwrap());
    let speech = value(CheckId::SpeechRatio).unwrap();
    let expected_speech = 100.0 * speech_secs / secs;
    assert!(
        speech > 40.0 && speech <= expected_speech + 5.0,
        "speech {speech} % (at most ~{expected_speech:.0} %)"
    );
    let range = value(CheckId::PitchRange).expect("espeak speech is voiced");
    assert!(range > 1.0 && range < 24.0, "pitch range {range}");
    let m = clip_check::measure(&take.audio).unwrap();
    let median = m.pitch.unwrap().median_hz;
    assert!((70.0..300.0).contains(&median), "median F0 {median} Hz");
    assert!(m.integrated_lufs.is_some_and(|l| l > -40.0 && l < 0.0));
    assert!(m.noise_floor_dbfs < -90.0, "espeak's silence is digital: {}", m.noise_floor_dbfs);
}

#[test]
fn stopping_early_keeps_what_was_recorded() {
    let Some(_) = run_with_file_mic("stopping_early_keeps_what_was_recorded", |dir| {
        let mic = dir.join("mic.raw");
        write_raw_s16(&mic, &vec![0.25; 30 * MIC_RATE as usize]);
        Ok(mic)
    }) else {
        return;
    };
    let mut recorder = Recorder::start(&RecorderConfig { max_secs: 20.0, ..file_mic_config() }).unwrap();
    // Wait for some audio (by frames), then stop by hand.
    while recorder.samples().len() < MIC_RATE as usize / 10 {
        assert!(matches!(recorder.poll(), Phase::Recording { .. } | Phase::Finished(_)));
        std::thread::sleep(Duration::from_millis(1));
    }
    let take = recorder.stop().unwrap();
    println!("stopped with {} frames ({:?})", take.audio.frames(), take.stop_reason);
    assert!(take.audio.frames() >= MIC_RATE as usize / 10);
    assert!(take.audio.channels()[0].iter().all(|&s| (s - 0.25).abs() < 1e-4));
    // The unpaced file mic may already have delivered all 20 s by the time stop() runs.
    assert!(matches!(take.stop_reason, StopReason::Stopped | StopReason::MaxDuration));
}

#[test]
fn unknown_device_is_a_clear_error() {
    let Some(_) = run_with_file_mic("unknown_device_is_a_clear_error", |dir| {
        let mic = dir.join("mic.raw");
        write_raw_s16(&mic, &vec![0.0; MIC_RATE as usize]);
        Ok(mic)
    }) else {
        return;
    };
    let devices = input_devices().unwrap();
    println!("input devices: {devices:?}");
    assert!(devices.iter().any(|d| d.is_default), "the default input is listed");
    let config = RecorderConfig { device: Some("no such microphone".into()), ..RecorderConfig::default() };
    match Recorder::start(&config) {
        Err(err @ RecorderError::DeviceNotFound { .. }) => {
            let msg = err.to_string();
            println!("{msg}");
            assert!(msg.contains("no such microphone") && msg.contains("available"));
        }
        Err(other) => panic!("wrong error: {other}"),
        Ok(_) => panic!("a missing device must not open"),
    }
    let bad = RecorderConfig { max_secs: 0.0, ..RecorderConfig::default() };
    assert!(matches!(Recorder::start(&bad), Err(RecorderError::InvalidConfig(_))));
}
