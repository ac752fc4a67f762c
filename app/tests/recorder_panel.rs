//! The recorder panel without a device: a take is loaded as if just recorded, the panel shows the
//! selection, the span the engine uses and the clip check, and "Save to refs/" writes the WAV and
//! its check results where the inspector finds them.

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable as _;
use promptbook::recorder::{RecorderEvent, RecorderPanel, StopReason, Take, list_references};
use promptbook_engine::audio::{AudioBuffer, read_wav};
use promptbook_engine::clip_check::CheckId;

/// 12 s at 48 kHz: a voiced, gliding tone with 0.5 s pauses every 2 s, over faint noise.
fn speechlike_take() -> Take {
    let rate = 48_000;
    let n = 12 * rate as usize;
    let mut phase = 0.0_f64;
    let samples: Vec<f32> = (0..n)
        .map(|i| {
            let t = i as f64 / f64::from(rate);
            let f0 = 120.0 * 2f64.powf((t * 0.7).sin() * 0.6);
            phase += 2.0 * std::f64::consts::PI * f0 / f64::from(rate);
            let voiced = t % 2.0 < 1.5;
            let tone = if voiced { 0.3 * (phase.sin() + 0.5 * (2.0 * phase).sin()) } else { 0.0 };
            let noise = 1e-4
                * (((i as u64).wrapping_mul(6_364_136_223_846_793_005) >> 40) as f64 / 16_777_216.0 - 0.5);
            (tone + noise) as f32
        })
        .collect();
    Take {
        audio: AudioBuffer::mono(rate, samples).expect("valid buffer"),
        stop_reason: StopReason::Stopped,
        device: "test".into(),
        dropped_frames: 0,
        xruns: 0,
    }
}

#[test]
fn shows_the_take_checks_it_and_saves_it_to_refs() {
    let refs = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("recorder-panel-refs");
    std::fs::remove_dir_all(&refs).ok();
    let mut panel = RecorderPanel::new(&refs);
    panel.load_take(speechlike_take());
    let report = panel.report().expect("a loaded take is checked");
    assert_eq!(report.get(CheckId::Duration).unwrap().value, Some(12.0));

    let mut harness = Harness::builder().with_size(egui::vec2(900.0, 900.0)).build_ui_state(
        |ui, (panel, events): &mut (RecorderPanel, Vec<RecorderEvent>)| {
            if let Some(event) = panel.ui(ui) {
                events.push(event);
            }
        },
        (panel, Vec::new()),
    );
    harness.run();
    harness.get_by_label("Record");
    harness.get_by_label_contains("Selection 0.0–12.0 s (12.0 s)");
    harness.get_by_label("inside the 10–20 s target");
    harness.get_by_label_contains("0.0–12.0 s = 301 latent frames");
    harness.get_by_label("Noise floor");
    harness.get_by_label_contains("Clip check:");

    // Anchor mode: the engine uses the last 3 s.
    harness.get_by_label("Anchor (last 3 s)").click();
    harness.run();
    harness.get_by_label_contains("9.0–12.0 s = 76 latent frames");

    // Trim to 2–9 s: too short, and the check follows the selection.
    harness.state_mut().0.set_trim(2.0, 9.0);
    harness.run();
    harness.get_by_label("shorter than the 10–20 s target");
    let duration = harness.state().0.report().unwrap().get(CheckId::Duration).unwrap().value;
    assert_eq!(duration, Some(7.0));

    harness.get_by_label("Save to refs/").click();
    harness.run();
    let events = &harness.state().1;
    assert_eq!(events.len(), 1);
    let RecorderEvent::Saved(saved) = &events[0];
    let wav = read_wav(&saved.wav).unwrap();
    assert_eq!((wav.sample_rate(), wav.frames()), (48_000, 7 * 48_000));
    let listed = list_references(&refs);
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].name, "reference");
    // The sidecar holds the same report (JSON floats round-trip to within an ulp or two).
    let sidecar = listed[0].report.as_ref().expect("the check results are saved beside the clip");
    assert_eq!(sidecar.verdict, saved.report.verdict);
    for (a, b) in sidecar.checks.iter().zip(&saved.report.checks) {
        assert_eq!((a.id, &a.unit, a.verdict, &a.advice), (b.id, &b.unit, b.verdict, &b.advice));
        assert!(a.value.zip(b.value).is_none_or(|(x, y)| (x - y).abs() <= 1e-9 * x.abs().max(1.0)));
    }
    harness.get_by_label_contains("Saved ");

    // Saving again does not overwrite.
    harness.get_by_label("Save to refs/").click();
    harness.run();
    let names: Vec<String> = list_references(&refs).into_iter().map(|r| r.name).collect();
    assert_eq!(names, ["reference", "reference-2"]);
}

#[test]
fn imports_a_file_as_a_take() {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("recorder-panel-import");
    std::fs::remove_dir_all(&dir).ok();
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join("voice take.wav");
    let stereo = AudioBuffer::new(44_100, vec![vec![0.25; 44_100], vec![0.75; 44_100]]).unwrap();
    promptbook_engine::audio::write_wav(&src, &stereo, promptbook_engine::audio::WavSampleFormat::Float32)
        .unwrap();
    let mut panel = RecorderPanel::new(dir.join("refs"));
    panel.import_file(&src).unwrap();
    let take = panel.take().unwrap();
    assert_eq!(
        (take.audio.sample_rate(), take.audio.num_channels(), take.audio.frames()),
        (44_100, 1, 44_100)
    );
    assert!(take.audio.channels()[0].iter().all(|&s| (s - 0.5).abs() < 1e-6), "mixed to mono");
    assert!(panel.import_file(&dir.join("missing.flac")).is_err());
}

#[test]
fn saving_resamples_to_48_khz_but_checks_the_original_rate() {
    let refs = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("recorder-refs-rate");
    std::fs::remove_dir_all(&refs).ok();
    let tone: Vec<f32> = (0..22_050 * 11).map(|i| 0.3 * (i as f32 * 0.05).sin()).collect();
    let clip = AudioBuffer::mono(22_050, tone).unwrap();
    let saved = promptbook::recorder::save_reference(&refs, "Anna, take 3", &clip).unwrap();
    assert_eq!(saved.wav, refs.join("Anna__take_3.wav"));
    assert_eq!(saved.check, refs.join("Anna__take_3.check.json"));
    let wav = read_wav(&saved.wav).unwrap();
    assert_eq!((wav.sample_rate(), wav.frames()), (48_000, 11 * 48_000));
    let rate = saved.report.get(CheckId::SampleRate).unwrap();
    assert_eq!(rate.value, Some(22_050.0), "the check sees the recording's own rate");
    assert_eq!(rate.verdict, promptbook_engine::clip_check::Verdict::Warn);
}
