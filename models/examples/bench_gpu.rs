//! Stage timings of the whole audio path with random weights built on the device, for the GPU check
//! (`tools/gpu/device-check.sh`, which runs this and `tools/gpu/bench_torch.py` and prints both).
//!
//!     cargo run --release --features cuda -p promptbook-models --example bench_gpu -- \
//!         [--device cpu|cuda] [--dtype f32|bf16] [--dims tiny|full] [--stages gemma,step,...]
//!         [--gemma-layers N] [--iters N]
//!
//! Stages: `gemma` (prefill of 1024 tokens), `step` (one X0 forward of the 48-layer transformer on a 15 s
//! chunk, 1024 text tokens), `step_int8` (the same with INT8 weights dequantised at load), `sampler`
//! (8 distilled steps, 15 s), `decode` (VAE decoder + vocoder/BWE of 15 s; the vocoder in f32 as
//! Scenema runs it), `e2e` (a 55 s script: 4 chunks of Gemma, connector, sampler, decode; chunks after the
//! first with a 3 s reference latent in front) with its time to first audio. `full` dims are the real
//! ones (Gemma-3-12B, LTX-2.3 audio transformer, VAE and vocoder widths); `--gemma-layers N` builds
//! only N of Gemma's 48 layers and extrapolates its time per layer (marked `extrapolated`). `tiny`
//! dims exercise the same code in seconds on a CPU.
//!
//! Weights come from a random `VarBuilder` backend on the device (std 1/√fan-in), not from files, so
//! no checkpoint has to travel; the real module constructors consume them. Each result is one line
//! `ROW {json}` (stage, ms, peak_mib, ...), then a table.

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use candle_core::{DType, Device, Result, Shape, Tensor};
use candle_nn::VarBuilder;
use promptbook_models::audio_vae::{self, AudioDecoder};
use promptbook_models::gemma::{self, TextModel, WeightFormat};
use promptbook_models::ltx::config::{ConnectorConfig, TransformerConfig};
use promptbook_models::ltx::connector::AudioEmbeddingsProcessor;
use promptbook_models::ltx::geometry::{
    LATENT_CHANNELS, LATENT_MEL_BINS, TOKEN_WIDTH, latent_frames_for_duration,
};
use promptbook_models::ltx::sampler::{AudioLatentState, DISTILLED_SIGMAS, SampleOutcome, sample};
use promptbook_models::ltx::transformer::X0Model;
use promptbook_models::vocoder::{self, VocoderWithBwe};
use promptbook_models::weights::dequantize_int8;

/// The text context length the reference pads every prompt to, a chunk and a script (tiny dims: short
/// ones, so a CPU runs every stage in seconds).
fn lengths(dims: Dims) -> (usize, f64, f64) {
    match dims {
        Dims::Tiny => (128, 1.0, 2.5),
        Dims::Full => (1024, 15.0, 55.0),
    }
}
/// Chained reference in front of every chunk after the first (spec §3.5: a 3 s tail, 76 latent frames).
const REFERENCE_FRAMES: usize = 76;
const STAGES: [&str; 6] = ["gemma", "step", "step_int8", "sampler", "decode", "e2e"];

#[derive(Debug, Clone, Copy, PartialEq)]
enum Dims {
    Tiny,
    Full,
}

struct Args {
    device: Device,
    device_name: String,
    dtype: DType,
    dims: Dims,
    stages: Vec<String>,
    gemma_layers: Option<usize>,
    iters: usize,
}

fn parse_args() -> std::result::Result<Args, String> {
    let mut raw = std::env::args().skip(1);
    let (mut device, mut dtype, mut dims) = ("cpu".to_string(), "bf16".to_string(), "tiny".to_string());
    let (mut stages, mut gemma_layers, mut iters) = (STAGES.join(","), None, 3usize);
    while let Some(flag) = raw.next() {
        let mut value = || raw.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--device" => device = value()?,
            "--dtype" => dtype = value()?,
            "--dims" => dims = value()?,
            "--stages" => stages = value()?,
            "--gemma-layers" => {
                gemma_layers = Some(value()?.parse().map_err(|e| format!("--gemma-layers: {e}"))?)
            }
            "--iters" => iters = value()?.parse().map_err(|e| format!("--iters: {e}"))?,
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    let device_name = device.clone();
    let device = match device.as_str() {
        "cpu" => Device::Cpu,
        "cuda" => Device::new_cuda(0).map_err(|e| format!("cuda: {e}"))?,
        other => match other.strip_prefix("cuda:").and_then(|n| n.parse().ok()) {
            Some(ordinal) => Device::new_cuda(ordinal).map_err(|e| format!("{other}: {e}"))?,
            None => return Err(format!("unknown device `{other}`: expected cpu, cuda or cuda:N")),
        },
    };
    let dtype = match dtype.as_str() {
        "f32" => DType::F32,
        "bf16" => DType::BF16,
        other => return Err(format!("--dtype {other}: expected f32 or bf16")),
    };
    let dims = match dims.as_str() {
        "tiny" => Dims::Tiny,
        "full" => Dims::Full,
        other => return Err(format!("--dims {other}: expected tiny or full")),
    };
    let stages: Vec<String> =
        stages.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect();
    if let Some(bad) = stages.iter().find(|s| !STAGES.contains(&s.as_str())) {
        return Err(format!("unknown stage `{bad}`; stages: {}", STAGES.join(",")));
    }
    Ok(Args {
        device_name: format!("{device_name}/{}", dtype.as_str()),
        device,
        dtype,
        dims,
        stages,
        gemma_layers,
        iters: iters.max(1),
    })
}

/// Random weights for any module tree: matrices and kernels N(0, 1/fan-in), vectors 1 + N(0, 0.02²)
/// (norm scales, biases, statistics stay near one). With `int8`, every 2-D `weight` is stored as
/// int8 + per-row scale and dequantised the way the loader does it.
struct RandomWeights {
    int8: bool,
    /// Tensors the module would recompute when absent (the Kaiser anti-aliasing filters).
    absent: &'static [&'static str],
}

impl RandomWeights {
    fn random(shape: &Shape, dtype: DType, dev: &Device, name: &str, int8: bool) -> Result<Tensor> {
        let dims = shape.dims();
        if dims.len() < 2 {
            return (Tensor::randn(0f32, 0.02, shape, dev)? + 1.0)?.to_dtype(dtype);
        }
        let fan_in: usize = dims[1..].iter().product();
        let std = 1.0 / (fan_in as f32).sqrt();
        if dev.is_cpu() && shape.elem_count() > 1 << 26 {
            // The Gemma embedding table (1 B values) lives in host memory: tile one random block.
            let rows = (1 << 26) / dims[1..].iter().product::<usize>();
            let block = Tensor::randn(0f32, std, [&[rows], &dims[1..]].concat(), dev)?.to_dtype(dtype)?;
            let reps = dims[0].div_ceil(rows);
            let mut tile = vec![1; dims.len()];
            tile[0] = reps;
            return block.repeat(tile)?.narrow(0, 0, dims[0]);
        }
        if int8 && dims.len() == 2 && name.ends_with("weight") {
            let q = (Tensor::randn(0f32, 40.0, shape, dev)?.round()?).clamp(-127f32, 127f32)?;
            let scale = Tensor::full(std / 40.0, dims[0], dev)?;
            return dequantize_int8(&q, &scale)?.to_dtype(dtype);
        }
        Tensor::randn(0f32, std, shape, dev)?.to_dtype(dtype)
    }
}

impl candle_nn::var_builder::SimpleBackend for RandomWeights {
    fn get(&self, s: Shape, name: &str, _: candle_nn::Init, dtype: DType, dev: &Device) -> Result<Tensor> {
        Self::random(&s, dtype, dev, name, self.int8)
    }

    fn get_unchecked(&self, name: &str, _: DType, _: &Device) -> Result<Tensor> {
        candle_core::bail!("random weights: `{name}` has no known shape")
    }

    fn contains_tensor(&self, name: &str) -> bool {
        !self.absent.iter().any(|a| name.ends_with(a))
    }
}

fn random_vb(dtype: DType, dev: &Device, int8: bool) -> VarBuilder<'static> {
    let backend = RandomWeights { int8, absent: &["upsample.filter", "lowpass.filter"] };
    VarBuilder::from_backend(Box::new(backend), dtype, dev.clone())
}

fn gemma_config(dims: Dims, layers: Option<usize>) -> gemma::Config {
    let mut cfg = gemma::Config::gemma3_12b();
    if dims == Dims::Tiny {
        cfg.vocab_size = 512;
        cfg.hidden_size = 64;
        cfg.intermediate_size = 128;
        cfg.num_hidden_layers = 6;
        cfg.num_attention_heads = 4;
        cfg.num_key_value_heads = 2;
        cfg.head_dim = 16;
        cfg.query_pre_attn_scalar = 16.0;
        cfg.sliding_window = Some(128);
    }
    if let Some(n) = layers {
        cfg.num_hidden_layers = n.clamp(1, cfg.num_hidden_layers);
    }
    cfg
}

fn transformer_json(dims: Dims) -> serde_json::Value {
    let (layers, heads, head_dim) = match dims {
        Dims::Tiny => (2, 4, 16),
        Dims::Full => (48, 32, 64),
    };
    serde_json::json!({"transformer": {
        "num_layers": layers, "audio_num_attention_heads": heads, "audio_attention_head_dim": head_dim,
        "audio_cross_attention_dim": heads * head_dim, "rope_type": "split", "frequencies_precision": "float64",
        "apply_gated_attention": true, "cross_attention_adaln": true, "caption_proj_before_connector": true,
        "caption_projection_first_linear": false, "caption_projection_second_linear": false,
        "caption_proj_input_norm": false, "connector_num_layers": if dims == Dims::Tiny { 2 } else { 8 },
        "audio_connector_num_attention_heads": heads, "audio_connector_attention_head_dim": head_dim,
        "connector_positional_embedding_max_pos": [4096], "connector_apply_gated_attention": true
    }})
}

fn vae_config(dims: Dims) -> audio_vae::Config {
    let mut cfg = audio_vae::Config::ltx23();
    if dims == Dims::Tiny {
        cfg.ch = 16;
    }
    cfg
}

fn vocoder_config(dims: Dims) -> vocoder::Config {
    let mut cfg = vocoder::Config::ltx23();
    if dims == Dims::Tiny {
        cfg.vocoder.upsample_initial_channel = 64;
        cfg.bwe.generator.upsample_initial_channel = 32;
    }
    cfg
}

/// Peak device memory while a stage runs: the driver's used bytes polled every millisecond on CUDA
/// (includes candle's stream-ordered pool), the process's resident high-water mark on the CPU.
struct MemoryProbe {
    peak: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    baseline: u64,
}

fn host_rss_hwm() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

#[cfg(feature = "cuda")]
fn device_used(dev: &Device) -> Option<u64> {
    let Device::Cuda(cuda) = dev else { return None };
    let (free, total) = cuda.cuda_stream().context().mem_get_info().ok()?;
    Some((total - free) as u64)
}

#[cfg(not(feature = "cuda"))]
fn device_used(_: &Device) -> Option<u64> {
    None
}

impl MemoryProbe {
    fn start(dev: &Device) -> Self {
        let peak = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let Some(baseline) = device_used(dev) else {
            return Self { peak, stop, thread: None, baseline: 0 };
        };
        let (p, s, d) = (peak.clone(), stop.clone(), dev.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                if let Some(used) = device_used(&d) {
                    p.fetch_max(used, Ordering::Relaxed);
                }
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        });
        Self { peak, stop, thread: Some(thread), baseline }
    }

    /// MiB above the state before the stage (device), or the process's peak (host).
    fn finish(mut self) -> (f64, &'static str) {
        self.stop.store(true, Ordering::Relaxed);
        match self.thread.take() {
            Some(t) => {
                t.join().ok();
                let peak = self.peak.load(Ordering::Relaxed).saturating_sub(self.baseline);
                (peak as f64 / (1 << 20) as f64, "device")
            }
            None => (host_rss_hwm() as f64 / (1 << 20) as f64, "host-rss"),
        }
    }
}

struct Row {
    stage: String,
    what: String,
    ms: f64,
    peak_mib: f64,
    memory: &'static str,
    note: String,
}

struct Bench {
    args: Args,
    rows: Mutex<Vec<Row>>,
}

impl Bench {
    fn sync(&self) -> Result<()> {
        self.args.device.synchronize()
    }

    /// Median of `iters` timed runs after one warm-up, in ms.
    fn time<T>(&self, iters: usize, mut f: impl FnMut() -> Result<T>) -> Result<f64> {
        f()?;
        self.sync()?;
        let mut times = Vec::with_capacity(iters);
        for _ in 0..iters {
            let start = Instant::now();
            f()?;
            self.sync()?;
            times.push(start.elapsed().as_secs_f64() * 1e3);
        }
        times.sort_by(f64::total_cmp);
        Ok(times[times.len() / 2])
    }

    fn push(
        &self,
        stage: &str,
        what: String,
        ms: f64,
        (peak_mib, memory): (f64, &'static str),
        note: String,
    ) {
        let row = Row { stage: stage.into(), what, ms, peak_mib, memory, note };
        let json = serde_json::json!({
            "impl": "candle", "stage": row.stage, "what": row.what, "ms": row.ms, "peak_mib": row.peak_mib,
            "memory": row.memory, "note": row.note, "device": self.args.device_name,
        });
        println!("ROW {json}");
        self.rows.lock().expect("rows").push(row);
    }

    fn dev(&self) -> &Device {
        &self.args.device
    }

    fn gemma(&self) -> Result<TextModel> {
        let cfg = gemma_config(self.args.dims, self.args.gemma_layers);
        TextModel::new(&cfg, random_vb(self.args.dtype, self.dev(), false), WeightFormat::Dense)
    }

    fn processor(&self, gemma: &gemma::Config) -> Result<AudioEmbeddingsProcessor> {
        let cfg = ConnectorConfig::from_json(&transformer_json(self.args.dims))?;
        let vb = random_vb(self.args.dtype, self.dev(), false);
        AudioEmbeddingsProcessor::new(&cfg, gemma.hidden_size, gemma.num_hidden_states(), vb)
    }

    fn transformer(&self, int8: bool) -> Result<X0Model> {
        let cfg = TransformerConfig::from_json(&transformer_json(self.args.dims))?;
        X0Model::new(&cfg, random_vb(self.args.dtype, self.dev(), int8))
    }

    fn decoder(&self) -> Result<AudioDecoder> {
        let vb = random_vb(self.args.dtype, self.dev(), false);
        AudioDecoder::new(&vae_config(self.args.dims), vb.pp("decoder"), vb.pp("per_channel_statistics"))
    }

    fn vocoder(&self) -> Result<VocoderWithBwe> {
        // Scenema runs the vocoder in f32 whatever the rest runs in.
        VocoderWithBwe::new(&vocoder_config(self.args.dims), random_vb(DType::F32, self.dev(), false))
    }

    fn context_width(&self) -> Result<usize> {
        Ok(TransformerConfig::from_json(&transformer_json(self.args.dims))?.audio_inner_dim())
    }

    fn ids(&self, vocab: usize) -> Result<(Tensor, Tensor)> {
        let (text_tokens, _, _) = lengths(self.args.dims);
        let ids: Vec<u32> = (0..text_tokens).map(|i| ((i * 7919 + 13) % vocab) as u32).collect();
        let ids = Tensor::from_vec(ids, (1, text_tokens), &Device::Cpu)?;
        let mask = Tensor::ones((1, text_tokens), DType::U32, &Device::Cpu)?;
        Ok((ids, mask))
    }

    fn stage_gemma(&self) -> Result<()> {
        let (text_tokens, _, _) = lengths(self.args.dims);
        let probe = MemoryProbe::start(self.dev());
        let model = self.gemma()?;
        let cfg = model.config().clone();
        let (ids, mask) = self.ids(cfg.vocab_size)?;
        let ms = self.time(self.args.iters, || model.forward_hidden_states(&ids, &mask))?;
        let built = cfg.num_hidden_layers;
        let full = gemma_config(self.args.dims, None).num_hidden_layers;
        let memory = probe.finish();
        if built < full {
            // Embedding and final norm are negligible next to a decoder layer at these widths.
            let per_layer = ms / built as f64;
            self.push(
                "gemma",
                format!("prefill {text_tokens} tokens, {built}/{full} layers built"),
                ms,
                memory,
                String::new(),
            );
            self.push(
                "gemma",
                format!("prefill {text_tokens} tokens, {full} layers"),
                per_layer * full as f64,
                (f64::NAN, memory.1),
                format!("extrapolated from {built} layers ({per_layer:.1} ms/layer)"),
            );
        } else {
            self.push(
                "gemma",
                format!("prefill {text_tokens} tokens, {full} layers"),
                ms,
                memory,
                String::new(),
            );
        }
        Ok(())
    }

    fn chunk_inputs(&self, seconds: f64, reference: bool) -> Result<(Tensor, Option<Tensor>, Tensor)> {
        let (text_tokens, _, _) = lengths(self.args.dims);
        let frames = latent_frames_for_duration(seconds)?;
        let noise =
            Tensor::randn(0f32, 1.0, (1, frames, TOKEN_WIDTH), self.dev())?.to_dtype(self.args.dtype)?;
        let reference = if reference {
            let r = Tensor::randn(
                0f32,
                1.0,
                (1, LATENT_CHANNELS, REFERENCE_FRAMES, LATENT_MEL_BINS),
                self.dev(),
            )?;
            Some(r.to_dtype(self.args.dtype)?)
        } else {
            None
        };
        let context = Tensor::randn(0f32, 1.0, (1, text_tokens, self.context_width()?), self.dev())?
            .to_dtype(self.args.dtype)?;
        Ok((noise, reference, context))
    }

    fn run_sampler(
        model: &X0Model,
        noise: &Tensor,
        reference: Option<&Tensor>,
        context: &Tensor,
    ) -> Result<Tensor> {
        let mut state = AudioLatentState::new(noise, reference)?;
        let mut denoiser = |s: &AudioLatentState, sigma: f32| {
            model.forward(&s.latent, &s.denoise_mask, sigma, &s.positions, context)
        };
        match sample(&mut state, &DISTILLED_SIGMAS, &mut denoiser, &mut |_| false)? {
            SampleOutcome::Finished => state.generated_latent(),
            SampleOutcome::Cancelled { .. } => candle_core::bail!("sampler stopped"),
        }
    }

    fn stage_transformer(&self, int8: bool, with_sampler: bool) -> Result<()> {
        let (text_tokens, chunk_len, _) = lengths(self.args.dims);
        let stage = if int8 { "step_int8" } else { "step" };
        let probe = MemoryProbe::start(self.dev());
        let start = Instant::now();
        let model = self.transformer(int8)?;
        self.sync()?;
        let build_ms = start.elapsed().as_secs_f64() * 1e3;
        let (noise, _, context) = self.chunk_inputs(chunk_len, false)?;
        let state = AudioLatentState::new(&noise, None)?;
        let ms = self.time(self.args.iters, || {
            model.forward(&state.latent, &state.denoise_mask, 0.909375, &state.positions, &context)
        })?;
        let tokens = noise.dim(1)?;
        let what = format!("one X0 step, {tokens} tokens + {text_tokens} text");
        let note = if int8 {
            format!("weights int8 + scale, dequantised at build ({build_ms:.0} ms)")
        } else {
            String::new()
        };
        if with_sampler {
            let sampler_ms = self.time(1, || Self::run_sampler(&model, &noise, None, &context))?;
            let memory = probe.finish();
            self.push(stage, what, ms, memory, note);
            self.push("sampler", format!("8 steps, {chunk_len} s chunk"), sampler_ms, memory, String::new());
        } else {
            self.push(stage, what, ms, probe.finish(), note);
        }
        Ok(())
    }

    fn stage_decode(&self) -> Result<()> {
        let (_, chunk_len, _) = lengths(self.args.dims);
        let probe = MemoryProbe::start(self.dev());
        let decoder = self.decoder()?;
        let voc = self.vocoder()?;
        let frames = latent_frames_for_duration(chunk_len)?;
        let latent = Tensor::randn(0f32, 1.0, (1, LATENT_CHANNELS, frames, LATENT_MEL_BINS), self.dev())?
            .to_dtype(self.args.dtype)?;
        let ms = self.time(1, || audio_vae::decode_audio(&decoder, &voc, &latent))?;
        let mel_ms = self.time(1, || decoder.decode(&latent))?;
        let memory = probe.finish();
        self.push("decode", format!("VAE decoder + vocoder/BWE, {chunk_len} s"), ms, memory, String::new());
        self.push("decode", format!("of which VAE decoder, {chunk_len} s"), mel_ms, memory, String::new());
        Ok(())
    }

    fn stage_e2e(&self) -> Result<()> {
        let (_, chunk_len, script_len) = lengths(self.args.dims);
        let probe = MemoryProbe::start(self.dev());
        let start = Instant::now();
        let text = self.gemma()?;
        let gemma_cfg = text.config().clone();
        let processor = self.processor(&gemma_cfg)?;
        let model = self.transformer(false)?;
        let decoder = self.decoder()?;
        let voc = self.vocoder()?;
        self.sync()?;
        let build_ms = start.elapsed().as_secs_f64() * 1e3;
        let (ids, mask) = self.ids(gemma_cfg.vocab_size)?;
        let chunks = (script_len / chunk_len).ceil() as usize;
        let chunk_s = script_len / chunks as f64;
        let run = |first_audio: &mut Option<f64>| -> Result<f64> {
            let start = Instant::now();
            for chunk in 0..chunks {
                let states = text.forward_hidden_states(&ids, &mask)?;
                let mask_dev = mask.to_device(self.dev())?;
                let features = processor.feature_extractor.forward_levels(&states, &mask_dev)?;
                let context = processor.audio_connector.forward(&features, &mask_dev)?;
                let (noise, reference, _) = self.chunk_inputs(chunk_s, chunk > 0)?;
                let latent = Self::run_sampler(&model, &noise, reference.as_ref(), &context)?;
                let audio = audio_vae::decode_audio(&decoder, &voc, &latent)?;
                // The take is written on the host.
                let _ = audio.to_device(&Device::Cpu)?;
                first_audio.get_or_insert(start.elapsed().as_secs_f64() * 1e3);
            }
            Ok(start.elapsed().as_secs_f64() * 1e3)
        };
        // Warm-up on the first chunk's shapes, then one timed script.
        let mut ignored = None;
        run(&mut ignored)?;
        let mut first = None;
        let ms = run(&mut first)?;
        let memory = probe.finish();
        let extrapolated = gemma_cfg.num_hidden_layers < gemma_config(self.args.dims, None).num_hidden_layers;
        let note = if extrapolated {
            format!("Gemma with {} layers only (not extrapolated)", gemma_cfg.num_hidden_layers)
        } else {
            String::new()
        };
        self.push(
            "e2e",
            format!("{script_len} s script, {chunks} chunks of {chunk_s:.2} s"),
            ms,
            memory,
            note.clone(),
        );
        self.push("e2e", "time to first audio (chunk 1 decoded)".into(), first.unwrap_or(ms), memory, note);
        println!("# e2e models built in {build_ms:.0} ms");
        Ok(())
    }

    fn print_table(&self) {
        let a = &self.args;
        println!();
        println!(
            "candle on {} ({:?} weights, {} dims, vocoder f32), {} threads",
            a.device_name,
            a.dtype,
            if a.dims == Dims::Full { "full" } else { "tiny" },
            candle_core::utils::get_num_threads()
        );
        println!();
        println!("| stage | what | ms | peak MiB | note |");
        println!("|---|---|---|---|---|");
        for r in self.rows.lock().expect("rows").iter() {
            let peak = if r.peak_mib.is_nan() {
                "-".to_string()
            } else {
                format!("{:.0} ({})", r.peak_mib, r.memory)
            };
            println!("| {} | {} | {:.1} | {} | {} |", r.stage, r.what, r.ms, peak, r.note);
        }
    }
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(err) => {
            eprintln!("bench_gpu: {err}");
            return ExitCode::from(2);
        }
    };
    let stages = args.stages.clone();
    let bench = Bench { args, rows: Mutex::new(Vec::new()) };
    let mut failed = false;
    for stage in &stages {
        let result = match stage.as_str() {
            "gemma" => bench.stage_gemma(),
            "step" => bench.stage_transformer(false, stages.iter().any(|s| s == "sampler")),
            "step_int8" => bench.stage_transformer(true, false),
            // Timed together with `step` (same model) when both are asked for.
            "sampler" if stages.iter().any(|s| s == "step") => Ok(()),
            "sampler" => bench.stage_transformer(false, true),
            "decode" => bench.stage_decode(),
            "e2e" => bench.stage_e2e(),
            other => Err(candle_core::Error::Msg(format!("unknown stage `{other}`"))),
        };
        if let Err(err) = result {
            failed = true;
            eprintln!("bench_gpu: stage {stage}: {err}");
            println!(
                "ROW {}",
                serde_json::json!({"impl": "candle", "stage": stage, "error": err.to_string()})
            );
        }
    }
    bench.print_table();
    if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}
