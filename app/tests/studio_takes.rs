//! Never losing a take: "Don't save" keeps takes, take files the project file does not list are adopted,
//! numbers are never reused and no take file is overwritten, renders left queued are offered back; and
//! the takes list around them: new takes selected and scrolled to, A/B marks only on the pair, rename
//! and insert focus, decode progress, and a typed path where the desktop shows no file dialog.
#![allow(clippy::unwrap_used)]

mod studio_support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use egui::accesskit::Role;
use egui_kittest::kittest::{NodeT as _, Queryable};
use promptbook::studio::StudioApp;
use promptbook::studio::dialogs::{NO_DIALOG_MESSAGE, ScriptedDialogs};
use promptbook::studio::project::{PROJECT_FILE, ProjectState, QUEUE_FILE, TakeEntry};
use promptbook::studio::queue::JobState;
use studio_support::{
    StandIn, VALID, assert_unchanged, harness, load, loaded, loaded_with, snapshot, step_until, type_keys,
};

fn temp(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("studio-takes-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn render_one(h: &mut egui_kittest::Harness<'static, StudioApp>) -> u32 {
    let before = h.state().takes().live().count();
    h.state_mut().render().unwrap();
    step_until(h, "a take arrives", |app| app.takes().live().count() == before + 1);
    h.state().takes().live().map(|t| t.number).max().unwrap()
}

fn codes(app: &StudioApp) -> Vec<String> {
    app.takes().live().map(|t| t.code()).collect()
}

/// Ask the window to close, as the window manager's close button does.
fn request_close(h: &mut egui_kittest::Harness<'static, StudioApp>) {
    let viewport = h.input_mut().viewports.entry(egui::ViewportId::ROOT).or_default();
    viewport.events.push(egui::ViewportEvent::Close);
    h.run();
}

fn reopen(dir: &Path) -> egui_kittest::Harness<'static, StudioApp> {
    let mut h = loaded("", Duration::ZERO);
    h.state_mut().open_project(dir).unwrap();
    h.run();
    h
}

#[test]
fn dont_save_discards_edits_but_keeps_every_take() {
    let dir = temp("dont-save");
    let mut h = loaded(VALID, Duration::ZERO);
    h.state_mut().save_as(&dir).unwrap();
    render_one(&mut h);
    render_one(&mut h);
    h.state_mut().set_script(VALID.replace("firing squad", "open sea"));
    request_close(&mut h);
    h.get_by_label("Don't save").click();
    h.run();
    let before = snapshot(&dir.join("takes"));
    drop(h);

    let mut h = reopen(&dir);
    assert_eq!(codes(h.state()), ["T01", "T02"], "the takes stay in the project");
    assert_eq!(h.state().script(), VALID, "the script edit is gone");
    assert_eq!(render_one(&mut h), 3, "the next take does not reuse a number");
    assert_unchanged(&before, &snapshot(&dir.join("takes")));
}

#[test]
fn take_files_the_project_does_not_list_are_adopted_and_numbers_go_above_them() {
    let dir = temp("stray");
    let mut h = loaded(VALID, Duration::ZERO);
    h.state_mut().save_as(&dir).unwrap();
    for _ in 0..3 {
        render_one(&mut h);
    }
    h.state_mut().takes_mut().get_mut(1).unwrap().name = "Keeper".into();
    h.state_mut().save();
    drop(h);
    // As the walk-through found it: project.json lists T01 only, with next_take 2 ...
    let mut state: ProjectState =
        serde_json::from_str(&std::fs::read_to_string(dir.join(PROJECT_FILE)).unwrap()).unwrap();
    state.takes.retain(|t| t.number == 1);
    state.next_take = 2;
    std::fs::write(dir.join(PROJECT_FILE), serde_json::to_vec(&state).unwrap()).unwrap();
    // ... and a stray T07 sits in takes/ with its record.
    for ext in ["wav", "json"] {
        std::fs::copy(dir.join(format!("takes/T02.{ext}")), dir.join(format!("takes/T07.{ext}"))).unwrap();
    }
    let before = snapshot(&dir.join("takes"));

    let mut h = reopen(&dir);
    assert_eq!(codes(h.state()), ["T01", "T02", "T03", "T07"]);
    assert_eq!(h.state().takes().get(1).unwrap().name, "Keeper");
    assert!(h.state().status().contains("back: T02, T03, T07"), "{}", h.state().status());
    assert_eq!(h.state().project_state().takes[3], TakeEntry::new(7));
    assert_eq!(render_one(&mut h), 8);
    assert_unchanged(&before, &snapshot(&dir.join("takes")));
    h.get_by_label_contains("T07");
}

#[test]
fn renders_left_queued_are_offered_back_and_queue_again() {
    let dir = temp("queue");
    {
        let mut h = loaded(VALID, Duration::from_millis(40));
        h.state_mut().save_as(&dir).unwrap();
        h.state_mut().settings_mut().takes = 3;
        h.state_mut().render().unwrap();
        step_until(&mut h, "the first render runs", |app| {
            matches!(app.queue().jobs[0].state, JobState::Running { .. })
        });
        let kept: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join(QUEUE_FILE)).unwrap()).unwrap();
        assert_eq!(kept.as_array().map(Vec::len), Some(3), "{kept}");
        // Dropped mid-render: the session ends without a word, as in a crash.
    }
    let mut h = harness("");
    h.state_mut().open_project(&dir).unwrap();
    h.run();
    assert_eq!(h.state().queue_offer().len(), 3);
    h.get_by_label("3 renders were queued: queue them again?");
    assert!(h.get_by_label("Queue again").accesskit_node().is_disabled(), "no model yet");
    load(&mut h, StandIn::new(0.4, Duration::ZERO, Duration::ZERO, false));
    h.run();
    h.get_by_label("Queue again").click();
    h.step();
    h.step();
    assert!(h.state().queue_offer().is_empty());
    step_until(&mut h, "three takes arrive", |app| app.takes().live().count() == 3);
    let seeds: Vec<i64> = h.state().takes().live().map(|t| t.record.base_seed).collect();
    let first = seeds[0];
    assert_eq!(seeds, [first, first + 1, first + 2], "the same renders, in order");
    h.step();
    assert!(!dir.join(QUEUE_FILE).exists(), "nothing is left to do");

    // Dismissing lets them go for good.
    std::fs::write(
        dir.join(QUEUE_FILE),
        serde_json::to_vec(&[h.state().queue().jobs[0].request.clone()]).unwrap(),
    )
    .unwrap();
    let mut h = harness("");
    h.state_mut().open_project(&dir).unwrap();
    h.run();
    h.get_by_label("1 render was queued: queue it again?");
    h.get_by_label("Dismiss").click();
    h.run();
    assert!(h.state().queue_offer().is_empty());
    assert!(!dir.join(QUEUE_FILE).exists());
}

#[test]
fn each_new_take_is_selected_and_scrolled_to_unless_another_is_playing() {
    let mut h = loaded(VALID, Duration::ZERO);
    for n in 1..=12 {
        assert_eq!(render_one(&mut h), n);
        assert_eq!(h.state().selected_take(), Some(n), "T{n:02} is selected when it arrives");
    }
    h.run();
    let row = h.get_by_label("T12").rect();
    let window = h.ctx.content_rect();
    assert!(window.contains_rect(row), "the newest row is scrolled into view: {row:?} in {window:?}");
    h.state_mut().select_take(3);
    h.state_mut().transport_mut().play();
    render_one(&mut h);
    assert_eq!(h.state().selected_take(), Some(3), "a take being listened to keeps playing");
}

#[test]
fn a_and_b_marks_only_the_pair_being_compared() {
    let mut h = loaded(VALID, Duration::ZERO);
    for _ in 0..3 {
        render_one(&mut h);
    }
    h.state_mut().select_take(1);
    h.run();
    assert!(h.query_by_label("A").is_none() && h.query_by_label("B").is_none(), "no pair yet");
    assert_eq!(h.query_all_by_label("Compare").count(), 2, "the other takes can become B");
    h.query_all_by_label("Compare").last().unwrap().click();
    h.run();
    assert_eq!(h.state().compared_take(), Some(3));
    h.get_by_label("A");
    h.get_by_label("B");
    assert_eq!(h.query_all_by_label("Compare").count(), 1, "only T02 is outside the pair");
    h.get_by_label("B").click();
    h.run();
    assert_eq!(h.state().compared_take(), None);
    assert!(h.query_by_label("A").is_none());
}

#[test]
fn renaming_takes_the_keyboard_so_typing_never_plays_or_picks_takes() {
    let mut h = loaded(VALID, Duration::ZERO);
    render_one(&mut h);
    render_one(&mut h);
    h.state_mut().select_take(1);
    h.run();
    h.query_all_by_label("More").next().unwrap().click();
    h.run();
    h.get_by_label("Rename").click();
    h.run();
    let field = h.get_by(|n| n.role() == Role::TextInput && n.value().as_deref() == Some("T01"));
    assert!(field.is_focused(), "the rename field has the keyboard, the old name selected");
    type_keys(&mut h, "Take 2 soft");
    assert!(!h.state().transport().is_playing(), "Space went into the name");
    assert_eq!(h.state().selected_take(), Some(1), "2 went into the name");
    h.key_press(egui::Key::Enter);
    h.run();
    assert_eq!(h.state().takes().get(1).unwrap().name, "Take 2 soft");
    h.get_by_label("1 T01 Take 2 soft");
}

#[test]
fn insert_action_leaves_the_caret_in_the_editor_on_the_placeholder() {
    let script = r#"<speak voice="Calm narrator" gender="male">It was late.</speak>"#;
    let mut h = harness(script);
    h.run();
    h.get_by_label("Insert action").click();
    h.run();
    type_keys(&mut h, "He sighs");
    assert!(h.state().script().contains("<action>He sighs</action>"), "{}", h.state().script());
}

#[test]
fn the_decode_shows_as_its_own_phase_after_the_last_sampler_step() {
    let mut h = loaded_with(VALID, StandIn::new(0.4, Duration::ZERO, Duration::from_millis(900), false));
    let id = h.state_mut().render().unwrap();
    step_until(&mut h, "decoding starts", |app| {
        matches!(app.queue().get(id).map(|j| &j.state), Some(JobState::Decoding { .. }))
    });
    let job = h.state().queue().get(id).unwrap();
    let at_start = job.fraction();
    assert!(at_start > 0.0 && at_start < 1.0, "{at_start}");
    assert!(job.describe().starts_with("chunk 1/1 · decoding"), "{}", job.describe());
    h.step();
    h.get_by_label_contains("decoding");
    // Expected to take as long as the sampling did, but at least a second: 0.3 s in is well short of done.
    std::thread::sleep(Duration::from_millis(300));
    let later = h.state().queue().get(id).unwrap().fraction();
    assert!(later > at_start && later < 1.0, "the bar moves while decoding: {at_start} then {later}");
    step_until(&mut h, "the take arrives", |app| app.takes().live().count() == 1);
}

#[test]
fn without_a_file_dialog_the_path_is_typed_instead() {
    let dir = temp("typed");
    let mut h = egui_kittest::Harness::builder().with_size([1280.0, 800.0]).build_eframe(|_cc| {
        StudioApp::with_script(VALID.into()).with_dialogs(Box::new(ScriptedDialogs::without_dialogs(2)))
    });
    h.run();
    // A folder that is not a project: the error shows in the window, which stays.
    h.get_by_label("File").click();
    h.run();
    h.get_by_label("Open project...").click();
    h.run();
    h.get_by_label(NO_DIALOG_MESSAGE);
    let field = h.get_by(|n| n.role() == Role::TextInput && n.label().as_deref() == Some("Folder"));
    assert!(field.is_focused());
    field.type_text(env!("CARGO_TARGET_TMPDIR"));
    h.run();
    h.get_by_label("OK").click();
    h.run();
    h.get_by_label_contains("is not a Promptbook project");
    h.get_by_label("Cancel").click();
    h.run();
    assert!(h.state().path_prompt().is_none());

    h.get_by_label("File").click();
    h.run();
    h.get_by_label("Save project as...").click();
    h.run();
    let field = h.get_by(|n| n.role() == Role::TextInput && n.label().as_deref() == Some("Folder"));
    field.type_text(dir.to_str().unwrap());
    h.run();
    h.key_press(egui::Key::Enter);
    h.run();
    assert!(h.state().path_prompt().is_none(), "the typed folder was used");
    assert!(dir.join(PROJECT_FILE).is_file());
    assert_eq!(h.state().project().map(|p| p.dir.clone()), Some(dir));
}
