//! One X0 transformer forward on CPU at a mid-size config: real width 2048 (32 heads x 64), 2 layers,
//! 376 audio tokens (15 s), 1024 text tokens, random f32 weights.
//!
//!     cargo run --release -p promptbook-models --example bench_transformer -- [--iters N] [--tokens T] [--text S] [--layers L]
//!
//! `tools/parity/bench_transformer.py` runs this and the PyTorch reference in one go and prints the table.

use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use promptbook_models::ltx::config::TransformerConfig;
use promptbook_models::ltx::geometry::audio_positions_tensor;
use promptbook_models::ltx::transformer::X0Model;

fn arg(args: &[String], name: &str, default: usize) -> usize {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() -> candle_core::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let iters = arg(&args, "--iters", 3).max(1);
    let tokens = arg(&args, "--tokens", 376);
    let text = arg(&args, "--text", 1024);
    let layers = arg(&args, "--layers", 2);

    let cfg = TransformerConfig::from_json(&serde_json::json!({"transformer": {
        "num_layers": layers, "audio_num_attention_heads": 32, "audio_attention_head_dim": 64,
        "audio_cross_attention_dim": 2048, "rope_type": "split", "frequencies_precision": "float64",
        "apply_gated_attention": true, "cross_attention_adaln": true, "caption_proj_before_connector": true
    }}))?;
    let device = Device::Cpu;
    let varmap = VarMap::new();
    let model = X0Model::new(&cfg, VarBuilder::from_varmap(&varmap, DType::F32, &device))?;
    // Tables are zero-initialised by the VarMap; give them values so nothing is trivially cheap.
    for var in varmap.all_vars() {
        if var.dims().iter().product::<usize>() < 1 << 16 {
            var.set(&Tensor::randn(0f32, 0.02, var.shape(), &device)?)?;
        }
    }

    let latent = Tensor::randn(0f32, 1.0, (1, tokens, 128), &device)?;
    let mask = Tensor::ones((1, tokens, 1), DType::F32, &device)?;
    let context = Tensor::randn(0f32, 1.0, (1, text, 2048), &device)?;
    let positions = audio_positions_tensor(tokens, &device)?;
    let sigma = 0.909375;

    // Warm-up (allocator, thread pool).
    let _ = model.forward(&latent, &mask, sigma, &positions, &context)?;
    let mut times_ms = Vec::with_capacity(iters);
    for _ in 0..iters {
        let start = Instant::now();
        let x0 = model.forward(&latent, &mask, sigma, &positions, &context)?;
        // Touch the result so nothing is left pending.
        let _ = x0.sum_all()?.to_scalar::<f32>()?;
        times_ms.push(start.elapsed().as_secs_f64() * 1e3);
    }
    times_ms.sort_by(f64::total_cmp);
    let threads = candle_core::utils::get_num_threads();
    println!(
        "RESULT impl=candle threads={threads} iters={iters} tokens={tokens} text={text} layers={layers} min_ms={:.1} median_ms={:.1}",
        times_ms[0],
        times_ms[times_ms.len() / 2]
    );
    Ok(())
}
