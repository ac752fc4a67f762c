//! Projects in the studio: save as and reopen (takes, names, settings), the recovery file after a crash,
//! the export window (full mix and chunk files), takes ×N, voice design, the reference voice, and the
//! stages not in this build shown disabled.
#![allow(clippy::unwrap_used)]

mod studio_support;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use egui::accesskit::Role;
use egui_kittest::kittest::{NodeT as _, Queryable};
use promptbook::studio::project::{PROJECT_FILE, RECOVERY_FILE, SCRIPT_FILE};
use promptbook::studio::{ExportTakes, StudioApp};
use promptbook_engine::audio::{AudioBuffer, WavSampleFormat, wav::write_wav};
use promptbook_engine::engines::ReferenceSource;
use promptbook_engine::pipeline::render::RenderMode;
use studio_support::{VALID, harness, loaded, step_until};

fn temp(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("studio-project-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn render_one(h: &mut egui_kittest::Harness<'static, StudioApp>) {
    let before = h.state().takes().live().count();
    h.state_mut().render().unwrap();
    step_until(h, "a take arrives", |app| app.takes().live().count() == before + 1);
}

/// Step frames until the studio has written the project's recovery file (two seconds after the last change).
fn wait_for_recovery_file(h: &mut egui_kittest::Harness<'static, StudioApp>, dir: &std::path::Path) {
    let start = Instant::now();
    while !dir.join(RECOVERY_FILE).exists() {
        assert!(start.elapsed() < Duration::from_secs(30), "the recovery file is never written");
        std::thread::sleep(Duration::from_millis(50));
        h.step();
    }
}

#[test]
fn save_as_then_reopen_brings_back_script_settings_and_takes() {
    let dir = temp("reopen");
    let mut h = loaded(VALID, Duration::ZERO);
    render_one(&mut h);
    render_one(&mut h);
    h.state_mut().settings_mut().pace = 2.25;
    {
        let take = h.state_mut().takes_mut().get_mut(2).unwrap();
        take.name = "Warmer".into();
        take.starred = true;
        take.note = "use the breath".into();
    }
    assert!(h.state().is_dirty(), "takes in a session without a project are unsaved work");
    h.state_mut().save_as(&dir).unwrap();
    assert!(!h.state().is_dirty());
    for file in [PROJECT_FILE, SCRIPT_FILE, "takes/T01.wav", "takes/T01.json", "takes/T02.wav"] {
        assert!(dir.join(file).is_file(), "{file} is written");
    }
    // A take rendered into a saved project is on disk at once.
    render_one(&mut h);
    assert!(dir.join("takes/T03.wav").is_file());
    let take3_frames = h.state().takes().get(3).unwrap().audio.frames();
    h.state_mut().save();

    let mut reopened = harness("");
    reopened.state_mut().open_project(&dir).unwrap();
    reopened.run();
    let app = reopened.state();
    assert_eq!(app.script(), VALID);
    assert_eq!(app.settings().pace, 2.25);
    let codes: Vec<String> = app.takes().live().map(|t| t.code()).collect();
    assert_eq!(codes, ["T01", "T02", "T03"]);
    let warmer = app.takes().get(2).unwrap();
    assert_eq!(
        (warmer.name.as_str(), warmer.starred, warmer.note.as_str()),
        ("Warmer", true, "use the breath")
    );
    assert_eq!(app.takes().get(3).unwrap().audio.frames(), take3_frames);
    assert!(!app.is_dirty());
    reopened.get_by_label_contains("T02 Warmer");
}

#[test]
fn after_a_crash_the_studio_offers_the_unsaved_work_back() {
    let dir = temp("recovery");
    {
        let mut h = harness(VALID);
        h.state_mut().save_as(&dir).unwrap();
        h.state_mut().set_script(VALID.replace("firing squad", "morning tide"));
        h.state_mut().settings_mut().pace = 1.0;
        wait_for_recovery_file(&mut h, &dir);
        // The harness is dropped without a clean exit: a crash.
    }
    let mut h = harness("");
    h.state_mut().open_project(&dir).unwrap();
    h.run();
    assert_eq!(h.state().script(), VALID, "the saved script opens first");
    h.get_by_label("Unsaved work found");
    h.get_by_label("Restore").click();
    h.run();
    assert!(h.state().script().contains("morning tide"));
    assert_eq!(h.state().settings().pace, 1.0);
    assert!(h.state().recovery_offer().is_none());
    h.state_mut().save();
    assert!(!dir.join(RECOVERY_FILE).exists(), "a save makes the recovery file unnecessary");

    // Discarding removes it too.
    h.state_mut().set_script(VALID.to_string());
    let state = h.state().project_state();
    h.state().project().unwrap().write_recovery(VALID, &state).unwrap();
    let mut again = harness("");
    again.state_mut().open_project(&dir).unwrap();
    again.run();
    again.get_by_label("Discard").click();
    again.run();
    assert!(again.state().script().contains("morning tide"));
    assert!(!dir.join(RECOVERY_FILE).exists());
}

#[test]
fn a_damaged_project_is_refused_and_the_session_is_kept() {
    let dir = temp("damaged");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(PROJECT_FILE), "{ half a file").unwrap();
    let mut h = harness(VALID);
    let err = h.state_mut().open_project(&dir).unwrap_err();
    assert!(format!("{err:#}").contains("project.json is damaged"), "{err:#}");
    assert_eq!(h.state().script(), VALID);
}

#[test]
fn the_export_window_writes_full_mixes_and_chunk_files_with_records() {
    let long = format!(
        "<speak voice=\"Calm narrator\" gender=\"male\">{}</speak>",
        "This is a sentence that takes a while to say aloud. ".repeat(10)
    );
    let dir = temp("export");
    let mut h = loaded(&long, Duration::ZERO);
    h.state_mut().save_as(&dir).unwrap();
    render_one(&mut h);
    render_one(&mut h);
    h.state_mut().takes_mut().get_mut(2).unwrap().starred = true;
    *h.state_mut().export_format_mut() = WavSampleFormat::Pcm16;
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::E);
    h.run();
    assert!(h.state_mut().export_dialog_mut().is_some(), "Ctrl+E opens the export window");
    h.get_by_label_contains("Starred takes (1)").click();
    h.get_by_label("One file per chunk").click();
    h.run();
    h.get_by(|n| n.role() == Role::Button && n.label().as_deref() == Some("Export")).click();
    h.run();
    assert!(h.state().status().starts_with("Exported"), "{}", h.state().status());
    let exports = dir.join("exports");
    let name = dir.file_name().unwrap().to_string_lossy().into_owned();
    let take = h.state().takes().get(2).unwrap();
    let full = hound::WavReader::open(exports.join(format!("{name}_line01_T02.wav"))).unwrap();
    assert_eq!((full.spec().bits_per_sample, full.spec().sample_rate), (16, 48_000));
    assert_eq!(full.duration() as usize, take.audio.frames());
    let chunks = take.record.chunks.len();
    assert!(chunks > 1);
    let mut total = 0;
    for k in 1..=chunks {
        let stem = exports.join(format!("{name}_line01_T02_chunk{k:02}"));
        total += hound::WavReader::open(stem.with_extension("wav")).unwrap().duration() as usize;
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(stem.with_extension("json")).unwrap()).unwrap();
        assert_eq!(json["chunk"]["index"], k - 1);
    }
    assert_eq!(total, take.audio.frames(), "the chunk files add up to the take");
    assert!(!exports.join(format!("{name}_line01_T01.wav")).exists(), "only the starred take");
    // Every chunk starts where the record says, and the starts are increasing.
    let starts: Vec<f64> = take.record.chunks.iter().map(|c| c.start_s).collect();
    assert_eq!(starts[0], 0.0);
    assert!(starts.windows(2).all(|w| w[0] < w[1]), "{starts:?}");
    assert_eq!(h.state().takes_to_export(ExportTakes::AllLive), [1, 2]);
}

#[test]
fn takes_times_n_queues_n_renders_with_consecutive_seeds() {
    let mut h = loaded(VALID, Duration::ZERO);
    h.state_mut().settings_mut().takes = 3;
    h.state_mut().settings_mut().seed = 500;
    h.state_mut().render().unwrap();
    assert_eq!(h.state().queue().jobs.len(), 3);
    step_until(&mut h, "three takes arrive", |app| app.takes().live().count() == 3);
    let mut seeds: Vec<i64> = h.state().takes().live().map(|t| t.record.base_seed).collect();
    seeds.sort_unstable();
    assert_eq!(seeds, [500, 501, 502]);
}

#[test]
fn voice_design_mode_and_a_reference_voice_reach_the_render() {
    let dir = temp("reference");
    let mut h = loaded(VALID, Duration::ZERO);
    h.state_mut().save_as(&dir).unwrap();
    let clip: Vec<f32> = (0..48_000 * 12).map(|i| 0.3 * (i as f32 * 0.03).sin()).collect();
    let audio = AudioBuffer::mono(48_000, clip).unwrap();
    write_wav(&dir.join("refs/anna.wav"), &audio, WavSampleFormat::Float32).unwrap();
    h.run();
    h.get_by(|n| n.role() == Role::ComboBox && n.label().as_deref() == Some("Clip for chunk 1")).click();
    h.run();
    h.get_by_label("anna").click();
    h.run();
    render_one(&mut h);
    let record = &h.state().takes().get(1).unwrap().record;
    assert_eq!(record.chunks[0].reference, ReferenceSource::UserClip);
    assert_eq!(record.chunks[0].reference_latent_frames, Some(301), "12 s at 25 latent frames/s, plus one");

    h.get_by_label("Voice design").click();
    h.run();
    assert_eq!(h.state().settings().mode, RenderMode::VoiceDesign);
    render_one(&mut h);
    let record = &h.state().takes().get(2).unwrap().record;
    assert_eq!(record.mode, RenderMode::VoiceDesign);
    assert_eq!(record.chunks.len(), 1);
    assert_eq!(record.chunks[0].reference, ReferenceSource::None);

    // A reference that vanished is named instead of silently dropped.
    std::fs::remove_file(dir.join("refs/anna.wav")).unwrap();
    h.get_by_label("Generate").click();
    h.run();
    let err = h.state_mut().render().unwrap_err();
    assert!(err.contains("anna.wav"), "{err}");
}

#[test]
fn the_stages_scenema_uses_have_live_controls() {
    let mut h = harness(VALID);
    h.run();
    for label in ["Validate words", "Skip voice conversion", "Background SFX"] {
        let node = h.get_by_label(label);
        assert!(!node.accesskit_node().is_disabled(), "{label} must be enabled for Scenema");
    }
    h.get_by(|n| n.role() == Role::Slider && n.label().as_deref() == Some("Takes per render"));
    h.get_by_label("Voice design");
}

#[test]
fn a_take_rendered_after_the_last_save_survives_a_crash() {
    let dir = temp("crash-take");
    {
        let mut h = loaded(VALID, Duration::ZERO);
        h.state_mut().save_as(&dir).unwrap();
        render_one(&mut h);
        wait_for_recovery_file(&mut h, &dir);
    }
    let mut h = harness("");
    h.state_mut().open_project(&dir).unwrap();
    h.run();
    // project.json was saved before the take, but the take's files are in takes/: it is back at once.
    assert_eq!(h.state().takes().live().map(|t| t.code()).collect::<Vec<_>>(), ["T01"]);
    assert_eq!(h.state().selected_take(), Some(1));
    assert!(h.state().status().contains("back: T01"), "{}", h.state().status());
    h.get_by_label("Restore").click();
    h.run();
    assert_eq!(h.state().takes().live().map(|t| t.code()).collect::<Vec<_>>(), ["T01"]);
    assert!(h.state().is_dirty(), "the restored seed is not saved yet");
}

/// Ask the window to close, as the window manager's close button does.
fn request_close(h: &mut egui_kittest::Harness<'static, StudioApp>) {
    let viewport = h.input_mut().viewports.entry(egui::ViewportId::ROOT).or_default();
    viewport.events.push(egui::ViewportEvent::Close);
    h.run();
}

#[test]
fn closing_with_unsaved_work_asks_first() {
    let dir = temp("close");
    let mut h = harness(VALID);
    h.state_mut().save_as(&dir).unwrap();
    // Saved: closing does not ask.
    request_close(&mut h);
    assert!(h.query_by_label("Save changes before closing?").is_none());

    h.state_mut().set_script(VALID.replace("firing squad", "open sea"));
    request_close(&mut h);
    h.get_by_label("Save changes before closing?");
    h.get_by_label("Cancel").click();
    h.run();
    assert!(h.query_by_label("Save changes before closing?").is_none());
    assert!(h.state().is_dirty(), "Cancel keeps working, nothing saved");

    request_close(&mut h);
    h.get_by_label("Save").click();
    h.run();
    assert!(!h.state().is_dirty());
    assert!(std::fs::read_to_string(dir.join(SCRIPT_FILE)).unwrap().contains("open sea"));

    // After Save the window closes; a new session goes on with "Don't save".
    let mut h = harness("");
    h.state_mut().open_project(&dir).unwrap();
    h.state_mut().set_script(VALID.to_string());
    h.state().project().unwrap().write_recovery(VALID, &h.state().project_state()).unwrap();
    request_close(&mut h);
    h.get_by_label("Don't save").click();
    h.run();
    assert!(!dir.join(RECOVERY_FILE).exists(), "Don't save means the edits are not offered back");
    assert!(std::fs::read_to_string(dir.join(SCRIPT_FILE)).unwrap().contains("open sea"));
}
