//! The inspector draws an engine's controls from its capabilities: a stand-in engine that declares a
//! target length and an emotion vector gets those controls (and its renders carry their values); Scenema,
//! which declares neither, does not.
#![allow(clippy::unwrap_used)]

mod studio_support;

use std::time::Duration;

use egui_kittest::kittest::{NodeT as _, Queryable as _};

use promptbook_engine::engines::{DurationControl, scenema};
use studio_support::*;

#[test]
fn scenema_gets_no_duration_or_emotion_controls() {
    let mut h = loaded(VALID, Duration::ZERO);
    h.run();
    assert!(h.query_by_label("Target length").is_none());
    assert!(h.query_all_by_label("Joy").next().is_none());
    assert!(h.query_all_by_label("Emotion strength").next().is_none());
    assert!(h.query_by_label_contains("controls").is_none(), "no engine controls section for Scenema");
    assert!(h.query_by_label("Voice design").is_some(), "Scenema declares voice design");
}

#[test]
fn an_engine_with_duration_and_emotion_gets_those_controls_and_its_renders_carry_them() {
    let mut caps = scenema::capabilities();
    caps.id = "stand-in".into();
    caps.name = "Stand-in".into();
    caps.duration = DurationControl::TargetSeconds { min_s: 1.0, max_s: 30.0 };
    caps.emotion.vector = vec!["Joy".into(), "Anger".into()];
    caps.emotion.strength = true;
    caps.voice_design = false;
    let mut model = StandIn::new(0.4, Duration::ZERO, Duration::ZERO, false);
    model.capabilities = caps;
    let heard = model.heard.clone();
    let mut h = loaded_with(VALID, model);
    h.run();
    assert!(h.query_by_label("Stand-in controls").is_some(), "the section is named after the engine");
    assert!(h.query_all_by_label("Joy").next().is_some() && h.query_all_by_label("Anger").next().is_some());
    assert!(h.query_all_by_label("Emotion strength").next().is_some());
    assert!(h.query_by_label("Voice design").is_none(), "this engine declares no voice design");

    h.get_by_label("Target length").click();
    h.run();
    let controls = h.state().engine_controls();
    assert!(controls.target_duration_s.is_some_and(|d| (1.0..=30.0).contains(&d)), "{controls:?}");
    assert_eq!(controls.emotion_vector.len(), 2);

    h.state_mut().render().unwrap();
    step_until(&mut h, "the take arrives", |app| app.takes().live().count() == 1);
    let heard = heard.lock().unwrap();
    assert!(!heard.is_empty());
    for c in heard.iter() {
        assert_eq!(c.target_duration_s, controls.target_duration_s);
        assert_eq!(c.emotion_vector, controls.emotion_vector);
        assert_eq!(c.emotion_strength, Some(1.0));
    }
}

#[test]
fn an_engine_without_post_stages_gets_their_controls_disabled() {
    let mut caps = scenema::capabilities();
    caps.name = "Bare".into();
    caps.stages = Vec::new();
    let mut model = StandIn::new(0.4, Duration::ZERO, Duration::ZERO, false);
    model.capabilities = caps;
    let mut h = loaded_with(VALID, model);
    h.run();
    for label in ["Validate words", "Skip voice conversion", "Background SFX"] {
        assert!(h.get_by_label(label).accesskit_node().is_disabled(), "{label} must be disabled");
    }
}
