//! The studio window driven through egui_kittest (no display, no GPU).

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use promptbook::studio::StudioApp;

fn harness(script: &str) -> Harness<'static, StudioApp> {
    let script = script.to_string();
    Harness::builder().with_size([1280.0, 800.0]).build_eframe(move |_cc| StudioApp::with_script(script))
}

const VALID: &str = r#"<speak voice="Deep male voice, gravitas" scene="A dimly lit room" gender="male"><action>He takes a slow breath</action>Many years later, as he faced the firing squad.</speak>"#;

#[test]
fn a_valid_script_shows_its_compiled_prompt_and_plan() {
    let mut harness = harness(VALID);
    harness.run();
    harness.get_by_label("No problems.");
    harness.get_by_label_contains("Close-up in A dimly lit room. He takes a slow breath.");
    harness.get_by_label_contains("Chunk 1 ·"); // the first block of the chunk-plan ribbon
    assert!(harness.state().lint().report.valid);
}

#[test]
fn a_broken_script_lists_problems_with_line_and_column() {
    let mut harness = harness("<speak voice=\"V\" gender=\"female\">\nHello <action>open\n</speak>");
    harness.run();
    let lint = harness.state().lint().clone();
    assert!(lint.error_count() > 0);
    let first = &lint.problems[0];
    harness.get_by_label_contains(&format!("{}:{}  error:", first.line, first.column));
    harness.get_by_label("Fix the errors to see the prompt the model will hear.");
}

#[test]
fn editing_the_script_relints_live() {
    let mut harness = harness(VALID);
    harness.run();
    assert!(harness.state().lint().report.valid);
    harness.state_mut().set_script("<speak>no voice</speak>".to_string());
    harness.run();
    assert!(!harness.state().lint().report.valid);
    assert!(harness.state().lint().error_count() > 0);
}

#[test]
fn pace_changes_the_plan() {
    let long = format!(
        "<speak voice=\"Calm narrator\" gender=\"male\">{}</speak>",
        "This is a sentence that takes a while to say aloud. ".repeat(12)
    );
    let mut harness = harness(&long);
    harness.run();
    let slow: f64 = harness.state().lint().report.plan.iter().map(|c| c.duration_s).sum();
    harness.state_mut().settings_mut().pace = 3.0;
    harness.run();
    let fast: f64 = harness.state().lint().report.plan.iter().map(|c| c.duration_s).sum();
    assert!(fast > slow, "a higher pace multiplier plans more time: {slow} -> {fast}");
}

#[test]
fn presets_menu_loads_a_preset() {
    let mut harness = harness("");
    harness.run();
    harness.get_by_label("Presets").click();
    harness.run();
    let first = promptbook_engine::presets::all().remove(0);
    harness.get_by_label(&first.name).click();
    harness.run();
    assert_eq!(harness.state().script(), first.xml());
    assert!(harness.state().lint().report.valid);
}

#[test]
fn fixing_a_broken_script_brings_the_plan_back() {
    let broken = VALID.replace(" gender=\"male\"", "");
    let mut harness = harness(&broken);
    harness.run();
    assert!(!harness.state().lint().report.valid);
    let problem = harness.state().lint().problems[0].clone();
    assert!(problem.message.contains("gender"), "{}", problem.message);
    harness.get_by_label_contains(&format!("{}:{}  error:", problem.line, problem.column));
    assert!(harness.query_by_label_contains("Chunk 1 ·").is_none(), "no plan while the script is broken");
    harness.state_mut().set_script(VALID.to_string());
    harness.run();
    harness.get_by_label("No problems.");
    harness.get_by_label_contains("Chunk 1 ·");
}
