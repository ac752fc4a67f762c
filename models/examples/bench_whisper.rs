//! Transcription cost of 15 s of audio on CPU at real whisper-small widths (random f32 weights): the log-mel
//! front end, the encoder, and decoding a fixed number of tokens greedily and with beam search 5.
//!
//!     cargo run --release -p promptbook-models --example bench_whisper -- [--seconds S] [--tokens N] [--beams B] [--iters I]
//!
//! Random weights never say anything useful, so the end token is suppressed and every decode runs exactly
//! `--tokens` steps (HF: `min_new_tokens = max_new_tokens = N`); `tools/parity/bench_whisper.py` runs this
//! and transformers in one go and prints the table.

use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use promptbook_models::whisper::{
    self, Config, DecodeOptions, LogMel, PreprocessorConfig, Strategy, Whisper,
};

fn arg(args: &[String], name: &str, default: usize) -> usize {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn median_ms(mut times: Vec<f64>) -> (f64, f64) {
    times.sort_by(f64::total_cmp);
    (times[0], times[times.len() / 2])
}

fn time<T>(iters: usize, mut f: impl FnMut() -> candle_core::Result<T>) -> candle_core::Result<(f64, f64)> {
    let mut times = Vec::with_capacity(iters);
    for _ in 0..iters {
        let start = Instant::now();
        f()?;
        times.push(start.elapsed().as_secs_f64() * 1e3);
    }
    Ok(median_ms(times))
}

fn main() -> candle_core::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let seconds = arg(&args, "--seconds", 15);
    let tokens = arg(&args, "--tokens", 48);
    let beams = arg(&args, "--beams", 5);
    let iters = arg(&args, "--iters", 3).max(1);

    let device = Device::Cpu;
    let cfg = Config::whisper_small();
    let varmap = VarMap::new();
    let model = Whisper::new(&cfg, VarBuilder::from_varmap(&varmap, DType::F32, &device))?;
    for var in varmap.all_vars() {
        var.set(&Tensor::randn(0f32, 0.02, var.shape(), &device)?)?;
    }
    let log_mel = LogMel::new(&PreprocessorConfig::default())?;
    let n = seconds * 16_000;
    let audio: Vec<f32> = (0..n)
        .map(|i| 0.3 * (i as f32 * 0.05).sin() + 0.01 * ((i * 7919 % 101) as f32 - 50.0) / 50.0)
        .collect();

    let sot = cfg.decoder_start_token_id;
    // <|startoftranscript|> <|en|> <|transcribe|> <|notimestamps|>
    let prompt = vec![sot, sot + 1, 50359, 50363];
    let opts = DecodeOptions {
        max_length: prompt.len() + tokens,
        prompt,
        eot: cfg.eos_token_id,
        suppress_tokens: vec![cfg.eos_token_id],
        begin_suppress_tokens: vec![220, cfg.eos_token_id],
        length_penalty: 1.0,
        no_speech: None,
    };
    let transcribe = |strategy: Strategy| -> candle_core::Result<usize> {
        let features = log_mel.tensor(&audio, &device)?;
        let encoded = model.encoder.forward(&features)?;
        let cross = model.decoder.cross_kv(&encoded)?;
        Ok(whisper::decode(&model.decoder, &cross, &opts, strategy)?.tokens.len())
    };
    // Warm-up (allocator, thread pool), and a check that every decode runs the full length.
    assert_eq!(transcribe(Strategy::Beam { beams })?, tokens);
    assert_eq!(transcribe(Strategy::Greedy)?, tokens);

    let features = log_mel.tensor(&audio, &device)?;
    let mel = time(iters, || log_mel.tensor(&audio, &device))?;
    let encoder = time(iters, || model.encoder.forward(&features)?.sum_all()?.to_scalar::<f32>())?;
    let greedy = time(iters, || transcribe(Strategy::Greedy))?;
    let beam = time(iters, || transcribe(Strategy::Beam { beams }))?;
    let threads = candle_core::utils::get_num_threads();
    for (stage, (min, median)) in
        [("features", mel), ("encoder", encoder), ("greedy", greedy), ("beam", beam)]
    {
        println!(
            "RESULT impl=candle stage={stage} threads={threads} seconds={seconds} tokens={tokens} beams={beams} iters={iters} min_ms={min:.1} median_ms={median:.1}"
        );
    }
    Ok(())
}
