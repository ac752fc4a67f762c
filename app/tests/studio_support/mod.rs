//! A stand-in model for studio tests: renders a quiet tone of the planned length per chunk, at a
//! level the test picks, so takes have real, measurable audio.
#![allow(dead_code, clippy::unwrap_used)]

use std::ops::ControlFlow;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use egui_kittest::Harness;
use promptbook::studio::StudioApp;
use promptbook_engine::audio::AudioBuffer;
use promptbook_engine::engines::{
    Capabilities, ChunkRequest, ChunkSink, EngineControls, EngineLoader, ModelInfo, RenderedChunk,
    VoiceEngine,
};
use promptbook_engine::error::{EngineError, ModelError};

pub const RATE: u32 = 48_000;

pub struct StandIn {
    /// Tone amplitude.
    pub amplitude: f32,
    /// Sleep per sampler step, to keep a render running long enough to cancel.
    pub step_delay: Duration,
    /// Panic in the sampler (a model in an unknown state).
    pub panics: bool,
    /// Sleep per decode, standing in for the real model's long VAE + vocoder pass.
    pub decode_delay: Duration,
    /// What it says it can do (Scenema's unless a test gives others).
    pub capabilities: Capabilities,
    /// The engine controls of every chunk it rendered.
    pub heard: Arc<Mutex<Vec<EngineControls>>>,
}

impl StandIn {
    pub fn new(amplitude: f32, step_delay: Duration, decode_delay: Duration, panics: bool) -> Self {
        Self {
            amplitude,
            step_delay,
            decode_delay,
            panics,
            capabilities: promptbook_engine::engines::scenema::capabilities(),
            heard: Arc::default(),
        }
    }
}

impl VoiceEngine for StandIn {
    fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    fn info(&self) -> ModelInfo {
        ModelInfo {
            engine: self.capabilities.id.clone(),
            device: "cpu".into(),
            dtype: "f32".into(),
            files: vec![],
            weight_bytes: 0,
            sample_rate: RATE,
            steps: 8,
            load_report: Default::default(),
        }
    }

    fn render_chunk(
        &mut self,
        chunk: &ChunkRequest<'_>,
        sink: &mut dyn ChunkSink,
    ) -> Result<RenderedChunk, ModelError> {
        assert!(!self.panics, "stand-in model exploded");
        self.heard.lock().unwrap().push(chunk.controls.clone());
        for step in 1..=8 {
            std::thread::sleep(self.step_delay);
            if let ControlFlow::Break(()) = sink.step(step, 8) {
                return Err(ModelError::Cancelled);
            }
        }
        if sink.decoding().is_break() {
            return Err(ModelError::Cancelled);
        }
        std::thread::sleep(self.decode_delay);
        let n = (chunk.duration_s * f64::from(RATE)) as usize;
        let amp = self.amplitude;
        let tone: Vec<f32> = (0..n)
            .map(|i| amp * (i as f32 * 2.0 * std::f32::consts::PI * 220.0 / RATE as f32).sin())
            .collect();
        Ok(RenderedChunk {
            audio: AudioBuffer::from_channels(RATE, vec![tone.clone(), tone]),
            latent_frames: Some((chunk.duration_s * 25.0).round() as usize + 1),
            reference_frames: chunk.reference.map(|r| (r.audio.duration_secs() * 25.0).round() as usize + 1),
            encode_text_ms: 0.0,
            sample_ms: 0.0,
            decode_ms: 0.0,
        })
    }
}

pub struct Loader(pub Option<StandIn>);

impl EngineLoader for Loader {
    fn load(&mut self, progress: &mut dyn FnMut(&str, f32)) -> Result<Box<dyn VoiceEngine>, EngineError> {
        progress("stand-in", 1.0);
        Ok(Box::new(self.0.take().ok_or(EngineError::Load("loaded twice".into()))?))
    }
}

/// Makes a fresh stand-in on every load; the first one panics when it renders.
pub struct PanicsFirst {
    pub loads: usize,
}

impl EngineLoader for PanicsFirst {
    fn load(&mut self, progress: &mut dyn FnMut(&str, f32)) -> Result<Box<dyn VoiceEngine>, EngineError> {
        progress("stand-in", 1.0);
        self.loads += 1;
        Ok(Box::new(StandIn::new(0.4, Duration::ZERO, Duration::ZERO, self.loads == 1)))
    }
}

pub const VALID: &str = r#"<speak voice="Deep male voice, gravitas" scene="A dimly lit room" gender="male"><action>He takes a slow breath</action>Many years later, as he faced the firing squad. He remembered the distant afternoon.</speak>"#;

pub fn harness(script: &str) -> Harness<'static, StudioApp> {
    let script = script.to_string();
    Harness::builder().with_size([1280.0, 800.0]).build_eframe(move |_cc| StudioApp::with_script(script))
}

/// A studio with the stand-in model loaded.
pub fn loaded(script: &str, step_delay: Duration) -> Harness<'static, StudioApp> {
    loaded_with(script, StandIn::new(0.4, step_delay, Duration::ZERO, false))
}

/// A studio with `model` loaded.
pub fn loaded_with(script: &str, model: StandIn) -> Harness<'static, StudioApp> {
    let mut h = harness(script);
    load(&mut h, model);
    h
}

/// Load `model` into the studio and wait until it is ready.
pub fn load(h: &mut Harness<'static, StudioApp>, model: StandIn) {
    h.state_mut().load_model(Box::new(Loader(Some(model))));
    step_until(h, "the model loads", |app| matches!(app.model(), promptbook::studio::ModelState::Loaded(_)));
}

/// Step frames until `done` holds (the engine works on its own thread), failing after 30 s.
pub fn step_until(h: &mut Harness<'static, StudioApp>, what: &str, done: impl Fn(&StudioApp) -> bool) {
    let start = Instant::now();
    while !done(h.state()) {
        assert!(start.elapsed() < Duration::from_secs(30), "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(5));
        h.step();
    }
    h.step();
}

/// Type `text` the way a keyboard does: a key press for each character the keyboard has a key for (so
/// Space and digits reach shortcuts if nothing holds the focus), with the character's text event.
pub fn type_keys(h: &mut Harness<'static, StudioApp>, text: &str) {
    for c in text.chars() {
        let key = egui::Key::from_name(&c.to_ascii_uppercase().to_string())
            .or((c == ' ').then_some(egui::Key::Space));
        let press = |key, pressed| egui::Event::Key {
            key,
            physical_key: None,
            pressed,
            repeat: false,
            modifiers: egui::Modifiers::NONE,
        };
        if let Some(key) = key {
            h.event(press(key, true));
        }
        h.event(egui::Event::Text(c.to_string()));
        if let Some(key) = key {
            h.event(press(key, false));
        }
        h.step();
    }
    h.run();
}

/// Every take file (`T*.wav`, `T*.json`) in `dir` with its bytes, to tell later that none changed.
pub fn snapshot(dir: &std::path::Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_file() && e.file_name().to_string_lossy().starts_with('T'))
        .map(|e| (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap()))
        .collect()
}

/// Every file of `before` is still there with the same bytes.
pub fn assert_unchanged(
    before: &std::collections::BTreeMap<String, Vec<u8>>,
    after: &std::collections::BTreeMap<String, Vec<u8>>,
) {
    for (name, bytes) in before {
        match after.get(name) {
            None => panic!("{name} is gone"),
            Some(now) => assert!(now == bytes, "{name} was overwritten"),
        }
    }
}
