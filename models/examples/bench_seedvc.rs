//! SeedVC conversion on CPU at real widths, from a folder written by `tools/parity/bench_seedvc.py`: the model
//! files in the real layout (random weights), `inputs.safetensors` with `source`, `target` (22.05 kHz) and
//! the noise `z_0, z_1, ...`.
//!
//!     cargo run --release -p promptbook-models --example bench_seedvc -- DIR [--steps N] [--cfg X]
//!
//! Prints `load_s=… convert_s=…` and writes `DIR/candle_output.safetensors` for the script to compare.

use std::path::PathBuf;
use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use promptbook_models::seedvc::{ConvertOptions, SeedVc, SeedVcFiles};
use promptbook_models::whisper::ContentEncoder;

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned()
}

fn main() -> candle_core::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let Some(dir) = args.get(1).map(PathBuf::from) else {
        candle_core::bail!("usage: bench_seedvc DIR [--steps N] [--cfg X]");
    };
    let steps = arg(&args, "--steps").and_then(|v| v.parse().ok()).unwrap_or(10);
    let cfg_rate = arg(&args, "--cfg").and_then(|v| v.parse().ok()).unwrap_or(0.5);
    let device = Device::Cpu;
    let inputs = candle_core::safetensors::load(dir.join("inputs.safetensors"), &device)?;
    let vec = |name: &str| -> candle_core::Result<Vec<f32>> {
        inputs
            .get(name)
            .ok_or_else(|| candle_core::Error::Msg(format!("no `{name}` in inputs.safetensors")))?
            .flatten_all()?
            .to_vec1()
    };
    let (source, target) = (vec("source")?, vec("target")?);

    let started = Instant::now();
    let files = SeedVcFiles::in_dirs(&dir, &dir.join("bigvgan_v2_22khz_80band_256x"));
    let model = SeedVc::load(&files, DType::F32, &device)?;
    let content = ContentEncoder::from_dir(&dir.join("whisper-small"), DType::F32, &device)?;
    let load_s = started.elapsed().as_secs_f64();

    let opts = ConvertOptions { steps, cfg_rate, ..Default::default() };
    let mut window = 0;
    let mut noise = |shape: &[usize]| -> candle_core::Result<Tensor> {
        let z = inputs
            .get(&format!("z_{window}"))
            .ok_or_else(|| candle_core::Error::Msg(format!("no noise z_{window}")))?
            .clone();
        window += 1;
        if z.dims() != shape {
            candle_core::bail!("noise {:?}, the model asks for {shape:?}", z.dims());
        }
        Ok(z)
    };
    let started = Instant::now();
    let trace = model.convert(&source, &target, &content, &opts, &mut noise, &mut |_| Ok(()))?;
    let convert_s = started.elapsed().as_secs_f64();
    let n = trace.output.len();
    let out = Tensor::from_vec(trace.output, n, &device)?;
    candle_core::safetensors::save(
        &std::collections::HashMap::from([("output".to_string(), out)]),
        dir.join("candle_output.safetensors"),
    )?;
    println!("load_s={load_s:.3} convert_s={convert_s:.3} windows={} samples={n}", trace.window_waves.len());
    Ok(())
}
