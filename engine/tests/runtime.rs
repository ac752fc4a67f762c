//! The engine thread with a stand-in model: events carry ids, chunk audio arrives before the take,
//! cancel stops within one sampler step (and drops a queued render at once), failures are typed, and a
//! panic becomes `ModelLost` + `Failed` without killing the engine, which can then reload.
#![allow(clippy::unwrap_used)]

use std::ops::ControlFlow;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use promptbook_engine::audio::AudioBuffer;
use promptbook_engine::check::EstimatorKind;
use promptbook_engine::engines::{
    Capabilities, ChunkRequest, ChunkSink, EngineLoader, ModelInfo, RenderedChunk, VoiceEngine,
};
use promptbook_engine::error::{EngineError, ModelError};
use promptbook_engine::pipeline::render::{RenderMode, RenderRequest};
use promptbook_engine::runtime::{EngineEvent, EngineHandle};
use promptbook_engine::stages::StageModels;

const RATE: u32 = 48_000;
const WAIT: Duration = Duration::from_secs(20);

/// A model that renders a quiet tone of the asked length; optionally waits for a token before each step
/// after the first, or panics on a given prompt.
struct StandIn {
    gate: Option<Arc<Mutex<Receiver<()>>>>,
    panic_on: Option<String>,
    references: Arc<Mutex<Vec<Option<usize>>>>,
    /// The seed of every `sample` call.
    seeds: Arc<Mutex<Vec<u64>>>,
    /// `sample` fails with this backend message.
    fail_with: Option<&'static str>,
    capabilities: Capabilities,
}

impl VoiceEngine for StandIn {
    fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    fn info(&self) -> ModelInfo {
        ModelInfo {
            engine: "stand-in".into(),
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
        if self.panic_on.as_deref().is_some_and(|p| chunk.prompt.contains(p)) {
            panic!("stand-in model exploded");
        }
        self.seeds.lock().unwrap().push(chunk.seed);
        if let Some(message) = self.fail_with {
            return Err(ModelError::from_message(message.into()));
        }
        // 16 kHz mel at hop 160 → 4× downsampled latent: 25 frames per second, plus the causal first one.
        let reference = chunk.reference.map(|r| (r.audio.duration_secs() * 25.0).round() as usize + 1);
        self.references.lock().unwrap().push(reference);
        for step in 1..=8 {
            if let (true, Some(gate)) = (step > 1, &self.gate) {
                gate.lock().unwrap().recv().map_err(|_| ModelError::Failed("gate closed".into()))?;
            }
            if sink.step(step, 8).is_break() {
                return Err(ModelError::Cancelled);
            }
        }
        if sink.decoding().is_break() {
            return Err(ModelError::Cancelled);
        }
        let n = (chunk.duration_s * f64::from(RATE)) as usize;
        let tone: Vec<f32> = (0..n).map(|i| 0.2 * (i as f32 * 0.05).sin()).collect();
        Ok(RenderedChunk {
            audio: AudioBuffer::from_channels(RATE, vec![tone.clone(), tone]),
            latent_frames: Some((chunk.duration_s * 25.0).round() as usize + 1),
            reference_frames: reference,
            encode_text_ms: 0.0,
            sample_ms: 0.0,
            decode_ms: 0.0,
        })
    }
}

struct Loader(Option<StandIn>);

impl EngineLoader for Loader {
    fn load(&mut self, progress: &mut dyn FnMut(&str, f32)) -> Result<Box<dyn VoiceEngine>, EngineError> {
        progress("stand-in", 1.0);
        Ok(Box::new(self.0.take().ok_or(EngineError::Load("loaded twice".into()))?))
    }
}

/// Makes a fresh stand-in on every load (load number 1, 2, …).
struct Factory(usize, fn(usize) -> StandIn);

impl EngineLoader for Factory {
    fn load(&mut self, _progress: &mut dyn FnMut(&str, f32)) -> Result<Box<dyn VoiceEngine>, EngineError> {
        self.0 += 1;
        Ok(Box::new((self.1)(self.0)))
    }
}

fn script(sentences: usize) -> String {
    let body = "The quick brown fox jumps over the lazy dog near the riverbank today. ".repeat(sentences);
    format!("<speak voice=\"Calm narrator\" gender=\"male\">{body}</speak>")
}

fn request(sentences: usize) -> RenderRequest {
    RenderRequest::engine_only(script(sentences), 10, 1.5, RenderMode::Generate, EstimatorKind::Reference)
}

fn engine_with(model: StandIn) -> EngineHandle {
    engine_loading(Box::new(Loader(Some(model))))
}

fn engine_loading(loader: Box<dyn EngineLoader>) -> EngineHandle {
    let mut engine = EngineHandle::spawn(|| {}).unwrap();
    let id = engine.load(loader).unwrap();
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
    StandIn {
        gate: None,
        panic_on: None,
        references: Arc::default(),
        seeds: Arc::default(),
        fail_with: None,
        capabilities: promptbook_engine::engines::scenema::capabilities(),
    }
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
            EngineEvent::Failed { error, .. } => panic!("{error}"),
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
    assert_eq!(take.audio.sample_rate(), RATE);
    assert_eq!(take.audio.num_channels(), 2);
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
fn a_panic_in_the_model_loses_the_model_says_so_and_a_reload_brings_it_back() {
    let mut engine = engine_loading(Box::new(Factory(0, |load| StandIn {
        panic_on: (load == 1).then(|| "quick".into()),
        ..plain()
    })));
    let id = engine.render(request(1)).unwrap();
    let mut lost = None;
    let error = loop {
        match engine.wait_event(WAIT).expect("event") {
            EngineEvent::ModelLost { id: got, reason } => {
                assert_eq!(got, id);
                lost = Some(reason);
            }
            EngineEvent::Failed { id: got, error } => {
                assert_eq!(got, id);
                break error;
            }
            EngineEvent::Finished { .. } => panic!("should have failed"),
            _ => {}
        }
    };
    assert!(
        matches!(&error, EngineError::Panic { message } if message.contains("stand-in model exploded")),
        "{error}"
    );
    let lost = lost.expect("ModelLost comes before the request's Failed");
    assert!(
        matches!(&lost, EngineError::Panic { message } if message.contains("stand-in model exploded")),
        "{lost}"
    );
    // The engine is alive: the next command gets an answer (the model was dropped after the panic).
    let id = engine.render(request(1)).unwrap();
    match engine.wait_event(WAIT).expect("event") {
        EngineEvent::Failed { id: got, error: EngineError::NoModel } => assert_eq!(got, id),
        other => panic!("unexpected {other:?}"),
    }
    // Reload runs the same loader again; the second stand-in renders.
    let reload = engine.reload().unwrap();
    loop {
        match engine.wait_event(WAIT).expect("event") {
            EngineEvent::Loaded { id, .. } => {
                assert_eq!(id, reload);
                break;
            }
            EngineEvent::LoadProgress { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    let id = engine.render(request(1)).unwrap();
    loop {
        match engine.wait_event(WAIT).expect("event") {
            EngineEvent::Finished { id: got, .. } => {
                assert_eq!(got, id);
                break;
            }
            EngineEvent::Failed { error, .. } | EngineEvent::ModelLost { reason: error, .. } => {
                panic!("{error}")
            }
            _ => {}
        }
    }
}

#[test]
fn reload_before_any_load_fails_with_a_reason() {
    let mut engine = EngineHandle::spawn(|| {}).unwrap();
    let id = engine.reload().unwrap();
    match engine.wait_event(WAIT).expect("event") {
        EngineEvent::Failed { id: got, error: EngineError::NothingToReload } => assert_eq!(got, id),
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
        EngineEvent::Failed { id: got, error: EngineError::InvalidScript { problems } } => {
            assert_eq!(got, id);
            assert!(problems.iter().any(|p| p.starts_with("1:") && p.contains("gender")), "{problems:?}");
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn model_failures_carry_the_chunk_and_out_of_memory_is_its_own_error() {
    let fail = |message: &'static str| {
        let mut engine = engine_with(StandIn { fail_with: Some(message), ..plain() });
        let id = engine.render(request(1)).unwrap();
        loop {
            match engine.wait_event(WAIT).expect("event") {
                EngineEvent::Failed { id: got, error } => {
                    assert_eq!(got, id);
                    return error;
                }
                EngineEvent::Finished { .. } => panic!("should have failed"),
                _ => {}
            }
        }
    };
    match fail("CUDA_ERROR_OUT_OF_MEMORY") {
        EngineError::OutOfMemory { chunk: Some(0), message } => assert!(message.contains("OUT_OF_MEMORY")),
        other => panic!("unexpected {other:?}"),
    }
    match fail("the latent has the wrong shape") {
        EngineError::Model { chunk: 0, source } => {
            assert_eq!(source.to_string(), "the latent has the wrong shape")
        }
        other => panic!("unexpected {other:?}"),
    }
    let mut engine = engine_with(plain());
    let id = engine.render(RenderRequest { pace: 5.0, ..request(1) }).unwrap();
    match engine.wait_event(WAIT).expect("event") {
        EngineEvent::Failed { id: got, error: EngineError::InvalidSettings(why) } => {
            assert_eq!(got, id);
            assert!(why.to_string().contains("from 0.5 to 3.0"), "{why}");
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn progress_observer_can_cancel_directly() {
    // The pure pipeline function honours Break from its observer too.
    let mut model = plain();
    let mut seen = 0;
    let result = promptbook_engine::pipeline::render::render(
        &mut model,
        &mut StageModels::none(),
        &request(1),
        &mut |_| {
            seen += 1;
            if seen == 3 { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
        },
    );
    assert!(matches!(result, Err(EngineError::Cancelled)));
}

#[test]
fn cancelling_a_queued_render_removes_it_at_once_while_another_runs() {
    let (token_tx, token_rx): (SyncSender<()>, Receiver<()>) = sync_channel(64);
    let mut engine = engine_with(StandIn { gate: Some(Arc::new(Mutex::new(token_rx))), ..plain() });
    let running = engine.render(request(1)).unwrap();
    let queued = engine.render(request(1)).unwrap();
    loop {
        if let EngineEvent::SamplerStep { id, step: 1, .. } = engine.wait_event(WAIT).expect("event") {
            assert_eq!(id, running);
            break;
        }
    }
    engine.cancel(queued).unwrap();
    // One more step of the running render: the engine reads its commands there.
    token_tx.send(()).unwrap();
    loop {
        match engine.wait_event(WAIT).expect("the queued render is cancelled while the other runs") {
            EngineEvent::Cancelled { id } => {
                assert_eq!(id, queued);
                break;
            }
            EngineEvent::SamplerStep { id, .. } => assert_eq!(id, running),
            other => panic!("unexpected {other:?}"),
        }
    }
    // Let the running render finish; the cancelled one never starts.
    for _ in 0..8 {
        token_tx.send(()).unwrap();
    }
    loop {
        let event = engine.wait_event(WAIT).expect("event");
        assert_eq!(event.id(), running, "the cancelled render sent {event:?}");
        if let EngineEvent::Finished { .. } = event {
            break;
        }
    }
    let next = engine.render(request(1)).unwrap();
    for _ in 0..8 {
        token_tx.send(()).unwrap();
    }
    loop {
        let event = engine.wait_event(WAIT).expect("event");
        assert_eq!(event.id(), next, "the cancelled render sent {event:?}");
        if let EngineEvent::Finished { .. } = event {
            break;
        }
    }
}

#[test]
fn only_minus_one_is_a_random_seed_and_other_negatives_never_reach_the_model() {
    use promptbook_engine::pipeline::render::render;
    let seeds = Arc::new(Mutex::new(Vec::new()));
    let mut model = StandIn { seeds: seeds.clone(), ..plain() };
    for bad in [-5, -2, -1000, i64::MIN] {
        let result = render(
            &mut model,
            &mut StageModels::none(),
            &RenderRequest { seed: bad, ..request(12) },
            &mut |_| ControlFlow::Continue(()),
        );
        assert!(result.is_err(), "seed {bad} rendered");
        assert!(seeds.lock().unwrap().is_empty(), "seed {bad} reached the model as {:?}", seeds.lock());
    }
    // Every chunk gets its own seed, base + 1000·i, exactly as recorded.
    for base in [0, 10, -1] {
        let take = render(
            &mut model,
            &mut StageModels::none(),
            &RenderRequest { seed: base, ..request(12) },
            &mut |_| ControlFlow::Continue(()),
        )
        .unwrap();
        let used: Vec<u64> = std::mem::take(&mut *seeds.lock().unwrap());
        let recorded: Vec<u64> = take.record.chunks.iter().map(|c| u64::try_from(c.seed).unwrap()).collect();
        assert!(used.len() >= 2, "a long script plans several chunks");
        assert_eq!(used, recorded);
        let base = u64::try_from(take.record.base_seed).unwrap();
        assert!(used.iter().enumerate().all(|(i, s)| *s == base + 1000 * i as u64), "{used:?}");
    }
}
