//! The engine thread with the real Scenema modules on the tiny random test model.

use std::time::{Duration, Instant};

use promptbook_engine::check::EstimatorKind;
use promptbook_engine::engines::scenema::ScenemaLoader;
use promptbook_engine::engines::scenema::test_model::make_test_model;
use promptbook_engine::engines::{DeviceKind, LoadOptions};
use promptbook_engine::pipeline::render::{RenderMode, RenderRequest};
use promptbook_engine::runtime::{EngineEvent, EngineHandle};

const SCRIPT: &str = r#"<speak voice="A calm male voice" gender="male" scene="A small office">I have been meaning to tell you something for a long time. It is about the letters you sent last winter, and the ones I never answered. <action>He pauses.</action> I read every one of them, more than once, and I kept them all in a box by the window.</speak>"#;

fn wait(engine: &EngineHandle) -> EngineEvent {
    engine.wait_event(Duration::from_secs(300)).expect("an engine event within 5 minutes")
}

#[test]
fn cancel_mid_render_stops_within_one_step_with_the_real_model() {
    let dir = std::env::temp_dir().join(format!("pb-engine-scenema-{}", std::process::id()));
    make_test_model(&dir, 5).unwrap();
    let mut engine = EngineHandle::spawn(|| {}).unwrap();
    let load = engine
        .load(Box::new(ScenemaLoader {
            options: LoadOptions { models_dir: Some(dir.clone()), device: DeviceKind::Cpu, store: None },
        }))
        .unwrap();
    loop {
        match wait(&engine) {
            EngineEvent::Loaded { id, info, .. } if id == load => {
                assert_eq!((info.device.as_str(), info.dtype.as_str(), info.steps), ("cpu", "f32", 8));
                assert_eq!(info.sample_rate, 48_000);
                break;
            }
            EngineEvent::Failed { error, .. } => panic!("load failed: {error}"),
            _ => {}
        }
    }
    let request =
        RenderRequest::engine_only(SCRIPT.into(), 7, 1.5, RenderMode::Generate, EstimatorKind::Default);
    let id = engine.render(request).unwrap();
    let mut steps_after_cancel = 0;
    let mut cancelled_at: Option<Instant> = None;
    loop {
        match wait(&engine) {
            EngineEvent::SamplerStep { id: e, chunk, step, .. } if e == id => {
                if cancelled_at.is_some() {
                    steps_after_cancel += 1;
                } else if (chunk, step) == (0, 3) {
                    engine.cancel(id).unwrap();
                    cancelled_at = Some(Instant::now());
                }
            }
            EngineEvent::ChunkAudio { id: e, .. } if e == id => {
                assert!(cancelled_at.is_none(), "a chunk finished after the cancel");
            }
            EngineEvent::Cancelled { id: e } if e == id => break,
            EngineEvent::Finished { .. } => panic!("the render finished despite the cancel"),
            EngineEvent::Failed { error, .. } => panic!("render failed: {error}"),
            _ => {}
        }
    }
    assert!(cancelled_at.is_some());
    assert!(steps_after_cancel <= 1, "{steps_after_cancel} sampler steps ran after the cancel");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_stage_runs_again_on_existing_audio_without_rendering() {
    use promptbook_engine::audio::AudioBuffer;
    use promptbook_engine::runtime::StageJob;
    use promptbook_engine::stages::StageId;
    let dir = std::env::temp_dir().join(format!("pb-engine-rerun-{}", std::process::id()));
    make_test_model(&dir, 6).unwrap();
    let mut engine = EngineHandle::spawn(|| {}).unwrap();
    let options = LoadOptions { models_dir: Some(dir.clone()), device: DeviceKind::Cpu, store: None };
    engine.load(Box::new(ScenemaLoader { options })).unwrap();
    loop {
        match wait(&engine) {
            EngineEvent::Loaded { .. } => break,
            EngineEvent::Failed { error, .. } => panic!("load failed: {error}"),
            _ => {}
        }
    }
    let tone: Vec<f32> = (0..48_000).map(|i| 0.3 * (i as f32 * 0.03).sin()).collect();
    let audio = std::sync::Arc::new(AudioBuffer::from_channels(48_000, vec![tone.clone(), tone]));
    let id = engine.run_stage(StageJob::Separation { audio: audio.clone(), background_sfx: false }).unwrap();
    let (record, take, stems) = loop {
        match wait(&engine) {
            EngineEvent::StageFinished { id: got, record, audio, stems } if got == id => {
                break (record, audio, stems);
            }
            EngineEvent::Failed { error, .. } => panic!("the stage failed: {error}"),
            _ => {}
        }
    };
    assert_eq!(record.name, StageId::Separation.name());
    assert!(record.ran, "{record:?}");
    let stems = stems.expect("both stems");
    let take = take.expect("the dialogue stem as the take's new audio");
    assert_eq!(*take, stems.dialogue, "without Background SFX the take becomes the dialogue");
    // The stems sum back to the input.
    for (c, channel) in audio.channels().iter().enumerate() {
        for (i, s) in channel.iter().enumerate() {
            let sum = stems.dialogue.channels()[c][i] + stems.sfx.channels()[c][i];
            assert!((sum - s).abs() < 1e-5, "channel {c} frame {i}: {sum} vs {s}");
        }
    }
    // Validation on its own: Whisper hears the audio and the record says how it scored.
    let job = StageJob::Validation {
        audio: audio.clone(),
        text: "Hello there".into(),
        language: Some("en".into()),
        min_match_ratio: 0.9,
    };
    let id = engine.run_stage(job).unwrap();
    let record = loop {
        match wait(&engine) {
            EngineEvent::StageFinished { id: got, record, audio, stems } if got == id => {
                assert!(audio.is_none() && stems.is_none(), "validation makes no audio");
                break record;
            }
            EngineEvent::Failed { error, .. } => panic!("the stage failed: {error}"),
            _ => {}
        }
    };
    assert_eq!(record.name, StageId::Validation.name());
    assert!(record.ran && record.note.contains("word match"), "{record:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}
