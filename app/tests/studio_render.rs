//! Rendering, takes, A/B, transport and export in the studio, with a stand-in model on the real
//! engine thread and the null audio output.
#![allow(clippy::unwrap_used)]

mod studio_support;

use std::time::Duration;

use egui::Key;
use egui::accesskit::Role;
use egui_kittest::kittest::Queryable;
use promptbook::studio::queue::JobState;
use promptbook::studio::{ModelState, NO_MODEL_HELP, Side};
use promptbook_engine::audio::AudioBuffer;
use promptbook_engine::pipeline::render::Take;
use studio_support::{VALID, harness, loaded, step_until};

#[test]
fn without_a_model_the_render_button_explains_how_to_get_one() {
    let mut h = harness(VALID);
    h.run();
    h.get_by_label_contains("promptbook models download");
    let err = h.state_mut().render().unwrap_err();
    assert_eq!(err, NO_MODEL_HELP);
    assert!(err.contains("--models-dir"));
    assert!(h.state().queue().jobs.is_empty());
}

#[test]
fn rendering_adds_a_take_with_its_record() {
    let mut h = loaded(VALID, Duration::ZERO);
    h.get_by(|n| n.role() == Role::Button && n.label().is_some_and(|l| l.starts_with("Render"))).click();
    h.step();
    assert_eq!(h.state().queue().jobs.len(), 1);
    step_until(&mut h, "the take arrives", |app| app.takes().live().count() == 1);
    let take = h.state().takes().get(1).unwrap();
    assert_eq!(take.code(), "T01");
    assert_eq!(take.record.script, VALID);
    assert!(take.audio.duration_secs() > 1.0);
    assert_eq!(take.pyramid.frames(), take.audio.frames());
    assert_eq!(h.state().queue().jobs[0].state, JobState::Done { take: 1 });
    assert_eq!(h.state().selected_take(), Some(1));
    h.run();
    h.get_by_label_contains("done: T01");
}

#[test]
fn ctrl_enter_renders_and_a_broken_script_does_not() {
    let mut h = loaded(VALID, Duration::ZERO);
    h.key_press_modifiers(egui::Modifiers::COMMAND, Key::Enter);
    step_until(&mut h, "the take arrives", |app| app.takes().live().count() == 1);
    h.state_mut().set_script("<speak>no voice</speak>".into());
    h.step();
    assert!(h.state_mut().render().is_err());
    assert_eq!(h.state().queue().jobs.len(), 1);
}

#[test]
fn a_running_render_can_be_cancelled_and_shows_progress() {
    let mut h = loaded(VALID, Duration::from_millis(40));
    let id = h.state_mut().render().unwrap();
    step_until(
        &mut h,
        "the render runs",
        |app| matches!(app.queue().get(id).map(|j| &j.state), Some(JobState::Running { step, .. }) if *step >= 1),
    );
    let shown = h.state().queue().get(id).unwrap().describe();
    assert!(shown.starts_with("chunk 1/") && shown.contains("step "), "{shown}");
    h.state_mut().cancel(id);
    step_until(&mut h, "the render is cancelled", |app| {
        app.queue().get(id).unwrap().state == JobState::Cancelled
    });
    assert_eq!(h.state().takes().live().count(), 0);
}

#[test]
fn takes_are_numbered_renamed_starred_and_trashed() {
    let mut h = loaded(VALID, Duration::ZERO);
    for n in 1..=3 {
        h.state_mut().render().unwrap();
        step_until(&mut h, "a take arrives", |app| app.takes().live().count() == n);
    }
    let codes: Vec<String> = h.state().takes().live().map(|t| t.code()).collect();
    assert_eq!(codes, ["T01", "T02", "T03"]);
    {
        let take = h.state_mut().takes_mut().get_mut(2).unwrap();
        take.name = "Softer".into();
        take.starred = true;
    }
    h.state_mut().takes_mut().set_trashed(1, true);
    h.run();
    h.get_by_label_contains("T02 Softer");
    h.get_by_label("Empty trash (1)").click();
    h.run();
    assert!(h.state().takes().get(1).is_none());
    // Numbers are never reused after a delete.
    h.state_mut().render().unwrap();
    step_until(&mut h, "a take arrives", |app| app.takes().live().count() == 3);
    assert!(h.state().takes().get(4).is_some());
}

#[test]
fn ab_switching_keeps_the_playhead_and_matches_loudness() {
    let mut h = loaded(VALID, Duration::ZERO);
    h.state_mut().render().unwrap();
    step_until(&mut h, "a take arrives", |app| app.takes().live().count() == 1);
    // The pipeline normalises every chunk, so B is made as a copy of A at half the amplitude (−6.02 dB).
    let first = h.state().takes().get(1).unwrap();
    let halved = first.audio.channels().iter().map(|c| c.iter().map(|s| s * 0.5).collect()).collect();
    let quieter = AudioBuffer::new(first.audio.sample_rate(), halved).unwrap();
    let record = first.record.clone();
    h.state_mut().takes_mut().add(Take {
        audio: std::sync::Arc::new(quieter),
        versions: Vec::new(),
        stems: None,
        record,
    });
    let (la, lb) = {
        let t = h.state().takes();
        (t.get(1).unwrap().loudness_lufs.unwrap(), t.get(2).unwrap().loudness_lufs.unwrap())
    };
    assert!((la - lb - 6.0206).abs() < 0.01, "{la} vs {lb}");
    h.state_mut().select_take(1);
    h.state_mut().set_compare(Some(2));
    h.state_mut().transport_mut().seek(0.75);
    h.run();
    assert!((h.state().b_gain_db() - (la - lb)).abs() < 1e-9);
    h.get_by_label_contains("B matched: +");
    h.key_press(Key::Tab);
    h.step();
    assert_eq!(h.state().audible_side(), Side::B);
    assert_eq!(h.state().audible(), Some((2, la - lb)));
    assert!((h.state().transport().position_s() - 0.75).abs() < 1e-9);
    h.state_mut().set_raw_level(true);
    assert_eq!(h.state().audible(), Some((2, 0.0)));
    h.key_press(Key::Tab);
    h.step();
    assert_eq!(h.state().audible_side(), Side::A);
    assert!((h.state().transport().position_s() - 0.75).abs() < 1e-9);
}

#[test]
fn keyboard_transport_space_home_end_and_take_keys() {
    let mut h = loaded(VALID, Duration::ZERO);
    for n in 1..=2 {
        h.state_mut().render().unwrap();
        step_until(&mut h, "a take arrives", |app| app.takes().live().count() == n);
    }
    h.key_press(Key::Num2);
    h.step();
    assert_eq!(h.state().selected_take(), Some(2));
    h.key_press(Key::End);
    h.step();
    let end = h.state().transport().position_s();
    assert!((end - h.state().takes().get(2).unwrap().audio.duration_secs()).abs() < 1e-9);
    h.key_press(Key::Home);
    h.step();
    assert_eq!(h.state().transport().position_s(), 0.0);
    h.key_press(Key::Space);
    h.step();
    assert!(h.state().transport().is_playing());
    std::thread::sleep(Duration::from_millis(50));
    assert!(h.state().transport().position_s() > 0.0);
    h.key_press(Key::Space);
    h.step();
    assert!(!h.state().transport().is_playing());
}

#[test]
fn export_writes_a_wav_as_long_as_the_take_and_a_json_record() {
    let mut h = loaded(VALID, Duration::ZERO);
    h.state_mut().render().unwrap();
    step_until(&mut h, "a take arrives", |app| app.takes().live().count() == 1);
    let dir = std::env::temp_dir().join(format!("promptbook-export-{}", std::process::id()));
    let wav = h.state_mut().export_selected(&dir).unwrap();
    assert_eq!(wav.file_name().unwrap(), "promptbook_line01_T01.wav");
    let reader = hound::WavReader::open(&wav).unwrap();
    let take = h.state().takes().get(1).unwrap();
    assert_eq!(reader.spec().sample_rate, 48_000);
    assert_eq!(reader.spec().channels, 2);
    assert_eq!(reader.duration() as usize, take.audio.frames());
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(wav.with_extension("json")).unwrap()).unwrap();
    assert_eq!(json["take"], "T01");
    assert_eq!(json["record"]["script"], VALID);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_first_chunk_can_be_auditioned_while_later_chunks_render() {
    let long = format!(
        "<speak voice=\"Calm narrator\" gender=\"male\">{}</speak>",
        "This is a sentence that takes a while to say aloud. ".repeat(12)
    );
    let mut h = loaded(&long, Duration::from_millis(60));
    assert!(h.state().lint().report.plan.len() > 1, "the script must plan several chunks");
    let id = h.state_mut().render().unwrap();
    step_until(&mut h, "the first chunk is decoded", |app| {
        app.queue().get(id).is_some_and(|j| !j.chunk_audio.is_empty())
    });
    let job = h.state().queue().get(id).unwrap();
    assert!(job.is_active(), "later chunks are still rendering");
    let first = job.chunk_audio[0].duration_secs();
    h.get_by_label_contains("Audition").click();
    h.step();
    assert!(h.state().transport().is_playing());
    let heard = h.state().transport().duration_secs();
    assert!(
        heard >= first - 1e-9
            && heard < h.state().lint().report.plan.iter().map(|c| c.duration_s).sum::<f64>()
    );
    h.state_mut().cancel(id);
    step_until(&mut h, "the render is cancelled", |app| {
        app.queue().get(id).unwrap().state == JobState::Cancelled
    });
}

#[test]
fn shift_space_loops_the_selection() {
    let mut h = loaded(VALID, Duration::ZERO);
    h.state_mut().render().unwrap();
    step_until(&mut h, "a take arrives", |app| app.takes().live().count() == 1);
    h.state_mut().set_selection(Some((0.5, 1.0)));
    h.key_press_modifiers(egui::Modifiers::SHIFT, Key::Space);
    h.step();
    assert!(h.state().is_looping());
    assert!(h.state().transport().is_playing());
    assert_eq!(h.state().transport().loop_range(), Some((0.5, 1.0)));
    // Well past the loop's end: the next frame wraps the playhead back into the span.
    std::thread::sleep(Duration::from_millis(700));
    h.step();
    let at = h.state().transport().position_s();
    assert!((0.5..1.0).contains(&at), "{at}");
    h.key_press_modifiers(egui::Modifiers::SHIFT, Key::Space);
    h.step();
    assert!(!h.state().is_looping());
    assert_eq!(h.state().transport().loop_range(), None);
}

#[test]
fn undo_restores_the_script_and_redo_brings_the_edit_back() {
    let mut h = harness(VALID);
    h.run();
    h.state_mut().set_script("<speak>no voice</speak>".into());
    h.step();
    h.state_mut().settings_mut().pace = 2.5;
    h.step();
    h.key_press_modifiers(egui::Modifiers::COMMAND, Key::Z);
    h.step();
    assert_eq!(h.state().script(), VALID);
    assert!(h.state().lint().report.valid);
    h.key_press_modifiers(egui::Modifiers::COMMAND | egui::Modifiers::SHIFT, Key::Z);
    h.step();
    assert_eq!(h.state().script(), "<speak>no voice</speak>");
    assert!(!h.state().lint().report.valid);
}

#[test]
fn cancelling_a_queued_take_while_another_renders_drops_it_at_once() {
    let mut h = loaded(VALID, Duration::from_millis(40));
    h.state_mut().settings_mut().takes = 3;
    let first = h.state_mut().render().unwrap();
    let (second, third) = (first + 1, first + 2);
    step_until(&mut h, "the first take renders", |app| {
        matches!(app.queue().get(first).map(|j| &j.state), Some(JobState::Running { .. }))
    });
    // The queue lists the newest first: its second Cancel button is the second take's.
    let cancels = h.get_all_by_label("Cancel").collect::<Vec<_>>();
    assert_eq!(cancels.len(), 3);
    // Through accesskit: the row's status text changes width every step, so its button moves.
    cancels[1].click_accesskit();
    step_until(&mut h, "the queued take is cancelled", |app| {
        app.queue().get(second).unwrap().state == JobState::Cancelled
    });
    assert!(h.state().queue().get(first).unwrap().is_active(), "cancelled while the first still ran");
    h.get_by_label("cancelled");
    step_until(&mut h, "the other two takes arrive", |app| {
        app.queue().get(third).is_some_and(|j| matches!(j.state, JobState::Done { .. }))
    });
    assert_eq!(h.state().takes().live().count(), 2);
    assert_eq!(h.state().queue().get(second).unwrap().state, JobState::Cancelled);
}

#[test]
fn a_model_lost_to_a_panic_shows_in_the_status_bar_and_reloads() {
    let mut h = studio_support::harness(VALID);
    h.state_mut().load_model(Box::new(studio_support::PanicsFirst { loads: 0 }));
    step_until(&mut h, "the model loads", |app| matches!(app.model(), ModelState::Loaded(_)));
    let id = h.state_mut().render().unwrap();
    step_until(&mut h, "the render fails", |app| {
        matches!(app.queue().get(id).map(|j| &j.state), Some(JobState::Failed(_)))
    });
    step_until(&mut h, "the studio knows the model is gone", |app| {
        !matches!(app.model(), ModelState::Loaded(_))
    });
    h.run();
    h.get_by_label_contains("Model unloaded");
    h.get_by_label_contains("Model unloaded: internal error (stand-in model exploded");
    assert!(h.state_mut().render().is_err(), "no render is queued without a model");
    h.get_all_by_label("Reload model").next().expect("a Reload model button").click();
    step_until(&mut h, "the model is back", |app| matches!(app.model(), ModelState::Loaded(_)));
    h.state_mut().render().unwrap();
    step_until(&mut h, "a take arrives", |app| app.takes().live().count() == 1);
}

/// Type `text` into the inspector's seed field and press Enter.
fn type_seed(h: &mut egui_kittest::Harness<'static, promptbook::studio::StudioApp>, text: &str) {
    h.get_by(|n| n.role() == Role::SpinButton && n.label().as_deref() == Some("Seed")).focus();
    h.run();
    h.event(egui::Event::Text(text.into()));
    h.run();
    h.key_press(Key::Enter);
    h.run();
}

#[test]
fn the_seed_field_refuses_negative_seeds_except_minus_one_for_random() {
    let mut h = harness(VALID);
    h.run();
    type_seed(&mut h, "1234");
    assert_eq!(h.state().settings().seed, 1234);
    type_seed(&mut h, "-5");
    assert_eq!(h.state().settings().seed, 1234, "-5 is refused, not clamped");
    assert!(h.state().status().contains("-5"), "{}", h.state().status());
    type_seed(&mut h, "-1000");
    assert_eq!(h.state().settings().seed, 1234);
    type_seed(&mut h, "-1");
    let seed = h.state().settings().seed;
    assert!((0..1_000_000).contains(&seed), "-1 rolls a random seed: {seed}");
}
