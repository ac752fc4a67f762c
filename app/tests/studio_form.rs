//! The structured script form driven through egui_kittest: the form and the XML stay in sync both
//! ways.

use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT as _, Queryable as _};
use promptbook::studio::script_form::{self, Cue, read_fields};

/// The host: the script the form edits, and the last insert button pressed.
#[derive(Default)]
struct Host {
    script: String,
    insert: Option<Cue>,
}

fn harness(script: &str) -> Harness<'static, Host> {
    Harness::builder().with_size([640.0, 480.0]).build_ui_state(
        |ui, host: &mut Host| {
            let out = script_form::show(ui, &host.script);
            if let Some(new) = out.new_script {
                host.script = new;
            }
            if out.insert.is_some() {
                host.insert = out.insert;
            }
        },
        Host { script: script.to_owned(), insert: None },
    )
}

const SCRIPT: &str =
    "<speak voice=\"Warm narrator\" gender=\"female\">\n  <action>She smiles</action>Hello there.\n</speak>";

fn type_into(harness: &mut Harness<'static, Host>, label: &str, text: &str) {
    harness.get_by_label(label).focus();
    harness.run();
    harness.get_by_label(label).type_text(text);
    harness.run();
}

#[test]
fn typing_into_scene_writes_the_attribute() {
    let mut harness = harness(SCRIPT);
    harness.run();
    type_into(&mut harness, "Scene", "A rainy street");
    let script = &harness.state().script;
    assert_eq!(
        script,
        &SCRIPT.replace("gender=\"female\">", "gender=\"female\" scene=\"A rainy street\">"),
        "only the attribute is added"
    );
    // Escaped on the way in, unescaped on the way back.
    type_into(&mut harness, "Scene", " & \"bar\"");
    let script = &harness.state().script;
    assert!(script.contains("scene=\"A rainy street &amp; &quot;bar&quot;\""), "{script}");
    assert_eq!(harness.get_by_label("Scene").value().as_deref(), Some("A rainy street & \"bar\""));
}

#[test]
fn editing_the_xml_updates_the_form() {
    let mut harness = harness(SCRIPT);
    harness.run();
    assert_eq!(harness.get_by_label("Voice").value().as_deref(), Some("Warm narrator"));
    assert_eq!(harness.get_by_label("Shot").value().as_deref(), Some("(none)"));
    harness.state_mut().script = SCRIPT
        .replace("Warm narrator", "Gravelly old sailor")
        .replace("gender=\"female\"", "gender=\"male\" shot=\"wide\" language=\"de\" scene=\"A harbour\"");
    harness.run();
    assert_eq!(harness.get_by_label("Voice").value().as_deref(), Some("Gravelly old sailor"));
    assert_eq!(harness.get_by_label("Scene").value().as_deref(), Some("A harbour"));
    assert_eq!(harness.get_by_label("Gender").value().as_deref(), Some("male"));
    assert_eq!(harness.get_by_label("Shot").value().as_deref(), Some("wide"));
    assert_eq!(harness.get_by_label("Language").value().as_deref(), Some("de"));
    // Values the lists do not know are shown as written, not lost.
    harness.state_mut().script =
        SCRIPT.replace("gender=\"female\"", "gender=\"female\" shot=\"drone\" language=\"xx\"");
    harness.run();
    assert_eq!(harness.get_by_label("Shot").value().as_deref(), Some("drone"));
    assert_eq!(harness.get_by_label("Language").value().as_deref(), Some("xx"));
}

#[test]
fn a_missing_gender_is_required_and_choosing_one_writes_it() {
    let script = "<speak voice=\"Warm narrator\">Hello.</speak>";
    let mut harness = harness(script);
    harness.run();
    harness.get_by_label("Gender is required: choose male or female");
    assert_eq!(harness.get_by_label("Gender").value().as_deref(), Some("(required)"));
    assert_eq!(harness.state().script, script, "nothing is guessed");

    harness.get_by_label("Gender").click();
    harness.run();
    harness.get_by_label("female").click();
    harness.run();
    assert_eq!(harness.state().script, "<speak voice=\"Warm narrator\" gender=\"female\">Hello.</speak>");
    harness.run();
    assert!(harness.query_by_label_contains("Gender is required").is_none());
    assert_eq!(harness.get_by_label("Gender").value().as_deref(), Some("female"));

    // An invalid value is flagged too, and shown as written.
    harness.state_mut().script = "<speak voice=\"V\" gender=\"robot\">Hi</speak>".to_owned();
    harness.run();
    harness.get_by_label("Gender \"robot\" is invalid: choose male or female");
    assert_eq!(harness.get_by_label("Gender").value().as_deref(), Some("robot"));
}

#[test]
fn choosing_none_removes_an_optional_attribute() {
    let script = "<speak voice=\"V\" gender=\"male\" shot=\"wide\">Hi</speak>";
    let mut harness = harness(script);
    harness.run();
    harness.get_by_label("Shot").click();
    harness.run();
    harness.get_by_label("(none)").click();
    harness.run();
    assert_eq!(harness.state().script, "<speak voice=\"V\" gender=\"male\">Hi</speak>");
    harness.get_by_label("Language").click();
    harness.run();
    harness.get_by_label("ja").click();
    harness.run();
    assert_eq!(harness.state().script, "<speak voice=\"V\" gender=\"male\" language=\"ja\">Hi</speak>");
}

#[test]
fn a_broken_body_still_edits() {
    let script = "<speak voice=\"V\" gender=\"male\">\nHello <action>unclosed\n</speak>";
    assert!(promptbook_engine::prompt::parse(script).is_err());
    let mut harness = harness(script);
    harness.run();
    type_into(&mut harness, "Voice", " and calm");
    let script_now = &harness.state().script;
    assert_eq!(read_fields(script_now).expect("tag reads").voice.as_deref(), Some("V and calm"));
    assert!(
        script_now.ends_with("\nHello <action>unclosed\n</speak>"),
        "the body is untouched: {script_now}"
    );
    assert!(!harness.get_by_label("Scene").accesskit_node().is_disabled());
}

#[test]
fn an_unreadable_tag_shows_why_and_disables_the_controls() {
    let mut harness = harness("Just some words, no tag yet.");
    harness.run();
    harness.get_by_label_contains("No <speak> tag");
    for label in ["Voice", "Gender", "Scene", "Shot", "Language", "Insert action", "Insert sound"] {
        assert!(harness.get_by_label(label).accesskit_node().is_disabled(), "{label} should be disabled");
    }
    harness.state_mut().script = "<speak voice=\"V\" voice=\"W\">Hi</speak>".to_owned();
    harness.run();
    harness.get_by_label_contains("The <speak> tag cannot be read: duplicate attribute");
}

#[test]
fn insert_buttons_report_the_cue() {
    let mut harness = harness(SCRIPT);
    harness.run();
    harness.get_by_label("Insert sound").click();
    harness.run();
    assert_eq!(harness.state().insert, Some(Cue::Sound));
    harness.get_by_label("Insert action").click();
    harness.run();
    assert_eq!(harness.state().insert, Some(Cue::Action));
    assert_eq!(harness.state().script, SCRIPT, "the caller inserts, the form does not");
}

#[test]
fn insert_action_in_the_window_puts_a_cue_in_the_script_and_keeps_it_valid() {
    let script = r#"<speak voice="Calm narrator" gender="male">It was late.</speak>"#.to_string();
    let mut h = egui_kittest::Harness::builder()
        .with_size([1280.0, 800.0])
        .build_eframe(move |_cc| promptbook::studio::StudioApp::with_script(script));
    h.run();
    h.get_by_label("Insert action").click();
    h.run();
    let after = h.state().script().to_string();
    assert!(after.contains("<action>describe the action</action>"), "{after}");
    assert!(after.ends_with("</speak>"), "{after}");
    assert!(h.state().lint().report.valid, "{:?}", h.state().lint().problems);
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Z);
    h.run();
    assert_eq!(h.state().script(), r#"<speak voice="Calm narrator" gender="male">It was late.</speak>"#);
}
