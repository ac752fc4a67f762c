//! Separation benchmark, candle side: `cargo run --release -p promptbook-models --example bench_separate -- DIR`
//!
//! `DIR` is written by `tools/parity/bench_mel_band_roformer.py` (which runs this and prints the PyTorch/candle
//! table): `MelBandRoformer_fp16.safetensors` (real-width random weights, real key names), `inputs.safetensors`
//! (`audio`, 2 × N at 44.1 kHz) and `torch_outputs.safetensors` (`vocals`). Times the chunked overlap-add
//! inference (8 s chunks, overlap 2, f32, CPU) and compares with PyTorch's output. Prints one
//! `BENCH_JSON {...}` line.

use std::ops::ControlFlow;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use promptbook_models::candle::{DType, Device, Tensor};
use promptbook_models::mel_band_roformer::{self, CHECKPOINT_FILE, CHUNK_SIZE, chunked_inference};
use promptbook_models::weights::Checkpoint;

fn run(dir: PathBuf) -> candle_core::Result<()> {
    let device = Device::Cpu;
    let t = Instant::now();
    let ckpt = Arc::new(Checkpoint::open(&[dir.join(CHECKPOINT_FILE)])?);
    let model = mel_band_roformer::load(&ckpt, DType::F32, &device)?;
    let load_s = t.elapsed().as_secs_f64();
    let take = |file: &str, name: &str| -> candle_core::Result<Tensor> {
        candle_core::safetensors::load(dir.join(file), &device)?
            .remove(name)
            .ok_or_else(|| candle_core::Error::Msg(format!("{file}: no `{name}`")))
    };
    let audio: Vec<Vec<f32>> = take("inputs.safetensors", "audio")?.to_vec2()?;
    let torch = take("torch_outputs.safetensors", "vocals")?;
    let n = audio[0].len();

    let t = Instant::now();
    let mut chunks = 0;
    let vocals = chunked_inference(&model, &audio, CHUNK_SIZE, |done, _| {
        chunks = done;
        ControlFlow::Continue(())
    })?
    .ok_or_else(|| candle_core::Error::Msg("stopped".into()))?;
    let total_s = t.elapsed().as_secs_f64();
    let vocals = Tensor::from_vec(vocals.concat(), (2, n), &device)?;
    let max_abs: f32 = (&vocals - &torch)?.abs()?.flatten_all()?.max(0)?.to_scalar()?;
    let peak: f32 = torch.abs()?.flatten_all()?.max(0)?.to_scalar()?;
    println!(
        "BENCH_JSON {{\"load_s\": {load_s:.3}, \"total_s\": {total_s:.3}, \"chunks\": {chunks}, \"max_abs\": {max_abs:e}, \"peak\": {peak:e}, \"threads\": {}}}",
        candle_core::utils::get_num_threads()
    );
    Ok(())
}

fn main() -> ExitCode {
    let Some(dir) = std::env::args().nth(1) else {
        eprintln!("usage: bench_separate DIR (written by tools/parity/bench_mel_band_roformer.py)");
        return ExitCode::from(2);
    };
    match run(PathBuf::from(dir)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench_separate: {e}");
            ExitCode::FAILURE
        }
    }
}
