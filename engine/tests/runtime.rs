//! The engine thread with a stand-in model: events carry ids, chunk audio arrives before the take,
//! cancel stops within one sampler step, and a panic becomes a `Failed` event without killing the engine.
#![allow(clippy::unwrap_used)]

use std::ops::ControlFlow;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use promptbook_engine::check::EstimatorKind;
use promptbook_engine::pipeline::model::{
    AudioModel, Latent, ModelError, ModelInfo, StepCallback, TextConditioning,
};
use promptbook_engine::pipeline::render::{RenderMode, RenderRequest};
use promptbook_engine::pipeline::waveform::Waveform;
use promptbook_engine::runtime::{EngineEvent, EngineHandle, ModelLoader};

const RATE: u32 = 48_000;
const WAIT: Duration = Duration::from_secs(20);

/// A model that renders a quiet tone of the asked length; optionally waits for a token before each step
/// after the first, or panics on a given prompt.
struct StandIn {
    gate: Option<Arc<Mutex<Receiver<()>>>>,
    panic_on: Option<String>,
    references: Arc<Mutex<Vec<Option<usize>>>>,
}

impl AudioModel for StandIn {
    fn info(&self) -> ModelInfo {
        ModelInfo {
            device: "cpu".into(),
            dtype: "f32".into(),
            files: vec![],
            weight_bytes: 0,
            sample_rate: RATE,
            steps: 8,
            load_report: Default::default(),
        }
    }

    fn encode_text(&mut self, prompt: &str) -> Result<TextConditioning, ModelError> {
        if self.panic_on.as_deref().is_some_and(|p| prompt.contains(p)) {
            panic!("stand-in model exploded");
        }
        Ok(TextConditioning(Box::new(prompt.len())))
    }

    fn sample(
        &mut self,
        _text: &TextConditioning,
        duration_s: f64,
        _seed: u64,
        reference: Option<&Latent>,
        on_step: &mut StepCallback<'_>,
    ) -> Result<Latent, ModelError> {
        self.references.lock().unwrap().push(reference.map(|r| r.frames));
        for step in 1..=8 {
            if let (true, Some(gate)) = (step > 1, &self.gate) {
                gate.lock().unwrap().recv().map_err(|_| ModelError::Failed("gate closed".into()))?;
            }
            if on_step(step, 8).is_break() {
                return Err(ModelError::Cancelled);
            }
        }
        let frames = (duration_s * 25.0).round() as usize + 1;
        Ok(Latent { frames, data: Box::new(duration_s) })
    }

    fn decode(&mut self, latent: &Latent) -> Result<Waveform, ModelError> {
        let seconds = *latent.data.downcast_ref::<f64>().expect("stand-in latent");
        let n = (seconds * f64::from(RATE)) as usize;
        let tone: Vec<f32> = (0..n).map(|i| 0.2 * (i as f32 * 0.05).sin()).collect();
        Ok(Waveform::new(RATE, vec![tone.clone(), tone]))
    }

    fn encode_reference(&mut self, audio: &Waveform) -> Result<Latent, ModelError> {
        // 16 kHz mel at hop 160 → 4× downsampled latent: 25 frames per second, plus the causal first one.
        let frames = (audio.duration_s() * 25.0).round() as usize + 1;
        Ok(Latent { frames, data: Box::new(audio.duration_s()) })
    }
}

struct Loader(Option<StandIn>);

impl ModelLoader for Loader {
    fn load(&mut self, progress: &mut dyn FnMut(&str, f32)) -> Result<Box<dyn AudioModel>, String> {
        progress("stand-in", 1.0);
        Ok(Box::new(self.0.take().ok_or("loaded twice")?))
    }
}

fn script(sentences: usize) -> String {
    let body = "The quick brown fox jumps over the lazy dog near the riverbank today. ".repeat(sentences);
    format!("<speak voice=\"Calm narrator\" gender=\"male\">{body}</speak>")
}

fn request(sentences: usize) -> RenderRequest {
    RenderRequest {
        script: script(sentences),
        seed: 10,
        pace: 1.5,
        mode: RenderMode::Generate,
        estimator: EstimatorKind::Reference,
        reference: None,
    }
}

fn engine_with(model: StandIn) -> EngineHandle {
    let mut engine = EngineHandle::spawn(|| {}).unwrap();
    let id = engine.load(Box::new(Loader(Some(model)))).unwrap();
    loop {
        match engine.wait_event(WAIT).expect("load event") {
            EngineEvent::Loaded { id: got, .. } => {
                assert_eq!(got, id);
                return engine;
            }
            EngineEvent::LoadProgress { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    }
}

fn plain() -> StandIn {
    StandIn { gate: None, panic_on: None, references: Arc::default() }
}

#[test]
fn render_streams_chunks_then_finishes_with_a_complete_record() {
    let references = Arc::new(Mutex::new(Vec::new()));
    let mut engine = engine_with(StandIn { references: references.clone(), ..plain() });
    let id = engine.render(request(12)).unwrap();
    let mut chunk_audio = Vec::new();
    let mut decoding = None;
    let take = loop {
        let event = engine.wait_event(WAIT).expect("event");
        assert_eq!(event.id(), id);
        match event {
            EngineEvent::SamplerStep { chunk, .. } => {
                assert_eq!(decoding, None, "chunk {chunk} still sampling")
            }
            EngineEvent::Decoding { chunk, .. } => decoding = Some(chunk),
            EngineEvent::ChunkAudio { index, audio, .. } => {
                assert_eq!(decoding.take(), Some(index), "chunk {index} announced its decode first");
                chunk_audio.push((index, audio.frames()));
            }
            EngineEvent::Finished { take, .. } => break take,
            EngineEvent::Failed { message, .. } => panic!("{message}"),
            _ => {}
        }
    };
    let record = &take.record;
    assert!(record.chunks.len() >= 2, "a long script plans several chunks");
    assert_eq!(chunk_audio.len(), record.chunks.len(), "every chunk's audio was sent before the take");
    for (i, chunk) in record.chunks.iter().enumerate() {
        assert_eq!(chunk.seed, 10 + 1000 * i as i64);
        assert_eq!(chunk_audio[i].0, i);
    }
    // Chunk 0 has no reference; chunk k+1 hears the 3 s tail of chunk k (76 latent frames).
    let refs = references.lock().unwrap().clone();
    assert_eq!(refs[0], None);
    assert!(refs[1..].iter().all(|r| *r == Some(76)), "{refs:?}");
    assert_eq!(take.audio.sample_rate, RATE);
    assert_eq!(take.audio.channel_count(), 2);
    assert!(record.stages.iter().all(|s| !s.ran), "no post stage is faked");
    assert!(record.real_time_factor > 0.0);
}

#[test]
fn cancel_stops_within_one_sampler_step() {
    let (token_tx, token_rx): (SyncSender<()>, Receiver<()>) = sync_channel(16);
    let mut engine = engine_with(StandIn { gate: Some(Arc::new(Mutex::new(token_rx))), ..plain() });
    let id = engine.render(request(3)).unwrap();
    // Wait for step 1, cancel, then let the model take one more step.
    loop {
        if let EngineEvent::SamplerStep { step: 1, .. } = engine.wait_event(WAIT).expect("event") {
            break;
        }
    }
    engine.cancel(id).unwrap();
    token_tx.send(()).unwrap();
    let mut steps_after_cancel = 0;
    loop {
        match engine.wait_event(WAIT).expect("event") {
            EngineEvent::SamplerStep { .. } => steps_after_cancel += 1,
            EngineEvent::Cancelled { id: got } => {
                assert_eq!(got, id);
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(steps_after_cancel <= 1, "{steps_after_cancel} steps ran after cancel");
}

#[test]
fn a_panic_in_the_model_fails_the_request_and_the_engine_comes_back() {
    let mut engine = engine_with(StandIn { panic_on: Some("quick".into()), ..plain() });
    let id = engine.render(request(1)).unwrap();
    let message = loop {
        match engine.wait_event(WAIT).expect("event") {
            EngineEvent::Failed { id: got, message } => {
                assert_eq!(got, id);
                break message;
            }
            EngineEvent::Finished { .. } => panic!("should have failed"),
            _ => {}
        }
    };
    assert!(message.contains("stand-in model exploded"), "{message}");
    // The engine is alive: the next command gets an answer (the model was dropped after the panic).
    let id = engine.render(request(1)).unwrap();
    match engine.wait_event(WAIT).expect("event") {
        EngineEvent::Failed { id: got, message } => {
            assert_eq!(got, id);
            assert!(message.contains("no model is loaded"), "{message}");
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn an_invalid_script_fails_with_its_problems() {
    let mut engine = engine_with(plain());
    let mut bad = request(1);
    bad.script = "<speak>missing voice</speak>".into();
    let id = engine.render(bad).unwrap();
    match engine.wait_event(WAIT).expect("event") {
        EngineEvent::Failed { id: got, message } => {
            assert_eq!(got, id);
            assert!(message.contains("script has errors"), "{message}");
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn progress_observer_can_cancel_directly() {
    // The pure pipeline function honours Break from its observer too.
    let mut model = plain();
    let mut seen = 0;
    let result = promptbook_engine::pipeline::render::render(&mut model, &request(1), &mut |_| {
        seen += 1;
        if seen == 3 { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
    });
    assert!(matches!(result, Err(promptbook_engine::pipeline::render::RenderError::Cancelled)));
}
