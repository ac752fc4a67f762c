//! Getting the model from the studio: the Render area offers the model store's download, and a hub
//! that cannot be reached (or offline mode) ends in the store's own message, not a hang or a crash.
#![allow(clippy::unwrap_used)]

mod studio_support;

use std::path::PathBuf;

use egui_kittest::kittest::Queryable;
use promptbook::studio::{ModelSource, ModelState, StudioApp};
use promptbook_engine::engines::DeviceKind;
use promptbook_engine::store::{HubSettings, Manifest, Source, Store, Variant};
use studio_support::{VALID, step_until};

fn studio(hub: HubSettings, name: &str) -> egui_kittest::Harness<'static, StudioApp> {
    let cache = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("studio-download-{name}"));
    let _ = std::fs::remove_dir_all(&cache);
    let store = Store::new(Source::Cache(cache), hub, Manifest::builtin());
    let source = ModelSource {
        store,
        variant: Variant::default(),
        models_dir: None,
        device: DeviceKind::Cpu,
        engine: "scenema".into(),
    };
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

#[path = "../../engine/tests/store_support/mod.rs"]
mod fake_hub;

/// The whole way a new user goes: no model, Download, progress, the model loads, Render makes a take.
/// The fake hub serves the tiny test model under the real repository and file names (Gemma gated).
#[test]
fn downloading_from_the_hub_loads_the_model_and_renders_a_take() {
    use fake_hub::{FakeFile, FakeHub, FakeRepo};
    use promptbook_engine::store::{GEMMA_REPO, SCENEMA_REPO};
    use std::collections::BTreeMap;

    let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("studio-download-hub");
    let _ = std::fs::remove_dir_all(&root);
    let model = root.join("test-model");
    promptbook_engine::engines::scenema::test_model::make_test_model(&model, 5).unwrap();
    let mut repos = BTreeMap::new();
    for (repo, folder, gate) in
        [(SCENEMA_REPO, "scenema-audio", None), (GEMMA_REPO, "gemma-3-12b-it", Some("tok"))]
    {
        let mut files = BTreeMap::new();
        for entry in std::fs::read_dir(model.join(folder)).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let content = std::fs::read(&path).unwrap();
            let file =
                if name.ends_with(".safetensors") { FakeFile::lfs(content) } else { FakeFile::git(content) };
            files.insert(name, file);
        }
        let commit = "0123456789abcdef0123456789abcdef01234567".to_string();
        repos.insert(repo.to_string(), FakeRepo { commit, gate_token: gate.map(str::to_string), files });
    }
    let hub = FakeHub::start(repos);
    let settings = HubSettings { endpoint: hub.endpoint.clone(), token: Some("tok".into()), offline: false };
    let store = Store::new(Source::Cache(root.join("cache")), settings, Manifest::builtin());
    // The test model carries the bf16 transformer name.
    let source = ModelSource {
        store,
        variant: Variant::Bf16,
        models_dir: None,
        device: DeviceKind::Cpu,
        engine: "scenema".into(),
    };
    let mut h = egui_kittest::Harness::builder()
        .with_size([1280.0, 800.0])
        .build_eframe(move |_cc| StudioApp::with_script(VALID.to_string()).with_model_source(source));
    h.run();
    assert_eq!(*h.state().model(), ModelState::Missing);
    h.get_by_label("Download the model").click();
    h.step();
    assert!(h.state().download().is_some(), "the download runs in the background");
    step_until(&mut h, "the model is downloaded and loaded", |app| {
        matches!(app.model(), ModelState::Loaded(_) | ModelState::Failed(_))
    });
    assert!(matches!(h.state().model(), ModelState::Loaded(_)), "{:?}", h.state().model());
    h.state_mut().render().unwrap();
    step_until(&mut h, "a take arrives", |app| app.takes().live().count() == 1);
    let take = h.state().takes().get(1).unwrap();
    assert_eq!(take.audio.sample_rate(), 48_000);
    assert!(take.record.model.files.iter().any(|f| f.name == "scenema-audio-transformer.safetensors"));
}
