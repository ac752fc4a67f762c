//! Decode benchmark, candle side: `cargo run --release -p promptbook-models --example bench_decode -- DIR`
//!
//! `DIR` is written by `tools/parity/bench_decode.py` (which runs this and prints the PyTorch/candle table):
//! `scenema-audio-pipeline-audio.safetensors` (real-width random weights, real key names and config),
//! `inputs.safetensors` (`latent`), `torch_outputs.safetensors` (`mel`, `wave`). Times the whole decode
//! (decoder, then vocoder + BWE, f32, CPU), then a streamed decode in 1 s latent pieces, and compares
//! both with PyTorch's output. Prints a table and one `BENCH_JSON {...}` line.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use promptbook_models::audio_vae::{self, PIPELINE_AUDIO_FILE};
use promptbook_models::candle::{DType, Device, Tensor};
use promptbook_models::vocoder;
use promptbook_models::weights::Checkpoint;

const LATENT_FRAMES_PER_SECOND: usize = 25;

fn max_abs(a: &Tensor, b: &Tensor) -> candle_core::Result<f64> {
    Ok(promptbook_models::parity::parity_error(a, b)?.0)
}

fn run(dir: PathBuf) -> candle_core::Result<()> {
    let device = Device::Cpu;
    let t = Instant::now();
    let ckpt = Arc::new(Checkpoint::open(&[dir.join(PIPELINE_AUDIO_FILE)])?);
    let mut decoder = audio_vae::load_decoder(&ckpt, DType::F32, &device)?;
    let voc = vocoder::load(&ckpt, DType::F32, &device)?;
    let load_s = t.elapsed().as_secs_f64();
    let latent = candle_core::safetensors::load(dir.join("inputs.safetensors"), &device)?
        .remove("latent")
        .ok_or_else(|| candle_core::Error::Msg("inputs.safetensors: no `latent`".into()))?;
    let torch = candle_core::safetensors::load(dir.join("torch_outputs.safetensors"), &device)?;
    let frames = latent.dim(2)?;

    // Warm-up on 1 s, as the PyTorch side does.
    voc.forward(&decoder.decode(&latent.narrow(2, 0, LATENT_FRAMES_PER_SECOND.min(frames))?)?)?;

    let t = Instant::now();
    let mel = decoder.decode(&latent)?;
    let decoder_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let wave = voc.forward(&mel)?;
    let vocoder_s = t.elapsed().as_secs_f64();

    // Streamed: 1 s latent pieces through decode_step and the vocoder stream.
    decoder.reset_state();
    let t = Instant::now();
    let mut stream = voc.stream(4 * LATENT_FRAMES_PER_SECOND);
    let (mut pieces, mut first) = (Vec::new(), None);
    let mut start = 0;
    while start < frames {
        let n = LATENT_FRAMES_PER_SECOND.min(frames - start);
        let mel_piece = decoder.decode_step(&latent.narrow(2, start, n)?)?;
        if let Some(audio) = stream.push(&mel_piece)? {
            first.get_or_insert(t.elapsed().as_secs_f64());
            pieces.push(audio);
        }
        start += n;
    }
    pieces.extend(stream.finish()?);
    let stream_total_s = t.elapsed().as_secs_f64();
    let streamed = Tensor::cat(&pieces, 2)?;

    let mel_err = max_abs(&mel, &torch["mel"])?;
    let wave_err = max_abs(&wave, &torch["wave"])?;
    let stream_err = max_abs(&streamed, &wave)?;
    let total_s = decoder_s + vocoder_s;
    let audio_s = wave.dim(2)? as f64 / f64::from(voc.output_sample_rate());
    println!("candle {} threads, weights loaded in {load_s:.2} s", candle_core::utils::get_num_threads());
    println!("| stage | candle |");
    println!("|---|---|");
    println!("| VAE decoder | {decoder_s:.2} s |");
    println!("| vocoder + BWE | {vocoder_s:.2} s |");
    println!("| total ({audio_s:.2} s of audio) | {total_s:.2} s |");
    println!(
        "| streamed, context {} mel frames: first audio / total | {:.2} s / {stream_total_s:.2} s |",
        stream.context_frames(),
        first.unwrap_or(stream_total_s)
    );
    println!(
        "vs PyTorch: mel max|Δ| {mel_err:.2e}, wave max|Δ| {wave_err:.2e}; streamed vs whole {stream_err:.2e}"
    );
    let json = serde_json::json!({
        "load_s": load_s,
        "decoder_s": decoder_s,
        "vocoder_s": vocoder_s,
        "total_s": total_s,
        "stream_first_s": first.unwrap_or(stream_total_s),
        "stream_total_s": stream_total_s,
        "context_frames": stream.context_frames(),
        "mel_max_abs": mel_err,
        "wave_max_abs": wave_err,
        "stream_max_abs": stream_err,
    });
    println!("BENCH_JSON {json}");
    Ok(())
}

fn main() -> ExitCode {
    let Some(dir) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: bench_decode DIR (written by tools/parity/bench_decode.py)");
        return ExitCode::from(2);
    };
    match run(dir) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("bench_decode: {err}");
            ExitCode::FAILURE
        }
    }
}
