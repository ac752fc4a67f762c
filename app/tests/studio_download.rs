//! Getting the model from the studio: the Render area offers the model store's download, and a hub
//! that cannot be reached (or offline mode) ends in the store's own message, not a hang or a crash.
#![allow(clippy::unwrap_used)]

mod studio_support;

use std::path::PathBuf;

use egui_kittest::kittest::Queryable;
use promptbook::studio::{ModelSource, ModelState, StudioApp};
use promptbook_engine::pipeline::scenema::DeviceKind;
use promptbook_engine::store::{HubSettings, Manifest, Source, Store};
use studio_support::{VALID, step_until};

fn studio(hub: HubSettings, name: &str) -> egui_kittest::Harness<'static, StudioApp> {
    let cache = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("studio-download-{name}"));
    let _ = std::fs::remove_dir_all(&cache);
    let store = Store::new(Source::Cache(cache), hub, Manifest::builtin());
    let source = ModelSource { store, models_dir: None, device: DeviceKind::Cpu };
    egui_kittest::Harness::builder()
        .with_size([1280.0, 800.0])
        .build_eframe(move |_cc| StudioApp::with_script(VALID.to_string()).with_model_source(source))
}

#[test]
fn an_unreachable_hub_ends_the_download_with_a_clear_message() {
    // Port 9 (discard) on loopback: nothing listens, the connection is refused at once.
    let hub = HubSettings { endpoint: "http://127.0.0.1:9".into(), token: None, offline: false };
    let mut h = studio(hub, "unreachable");
    h.run();
    assert_eq!(*h.state().model(), ModelState::Missing);
    h.get_by_label("Download the model").click();
    h.step();
    step_until(&mut h, "the download gives up", |app| matches!(app.model(), ModelState::Failed(_)));
    let ModelState::Failed(message) = h.state().model().clone() else { unreachable!() };
    assert!(message.contains("127.0.0.1:9"), "the message names the hub it could not reach: {message}");
    assert!(h.state().download().is_none());
    h.run();
    // The Render area still explains and offers to try again.
    h.get_by_label("Download the model");
    h.get_by_label_contains("promptbook models download");
}

#[test]
fn offline_mode_refuses_to_download_and_says_so() {
    let hub = HubSettings { endpoint: "http://127.0.0.1:9".into(), token: None, offline: true };
    let mut h = studio(hub, "offline");
    h.run();
    h.get_by_label("Download the model").click();
    h.step();
    step_until(&mut h, "the download stops", |app| matches!(app.model(), ModelState::Failed(_)));
    let ModelState::Failed(message) = h.state().model().clone() else { unreachable!() };
    assert!(message.to_lowercase().contains("offline"), "{message}");
}
