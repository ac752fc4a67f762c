//! Loading from the committed tiny case, padding invariance, and the quantised modes' error against bf16.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use candle_core::{DType, Device, IndexOp, Tensor};
use candle_nn::VarBuilder;

use super::*;

fn case_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/parity").join(name)
}

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn open_case(name: &str) -> (Config, Arc<Checkpoint>) {
    let dir = case_dir(name);
    let cfg = Config::from_hub_json(&read_json(&dir.join("config.json"))).unwrap();
    let files = shard_files(&read_json(&dir.join("model.safetensors.index.json"))).unwrap();
    let paths: Vec<PathBuf> = files.iter().map(|f| dir.join(f)).collect();
    (cfg, Arc::new(Checkpoint::open(&paths).unwrap()))
}

fn row(ids: &[u32], pad: usize) -> (Tensor, Tensor) {
    let mut padded = vec![0u32; pad];
    padded.extend_from_slice(ids);
    let mask: Vec<u32> = (0..padded.len()).map(|j| u32::from(j >= pad)).collect();
    let n = padded.len();
    (
        Tensor::from_vec(padded, (1, n), &Device::Cpu).unwrap(),
        Tensor::from_vec(mask, (1, n), &Device::Cpu).unwrap(),
    )
}

/// Deterministic normal samples (xorshift64* and Box-Muller), so that measured errors repeat run to run.
pub(crate) fn seeded_normal(seed: u64, shape: &[usize], std: f32) -> Tensor {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut uniform = move || {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        ((state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    };
    let n: usize = shape.iter().product();
    let values: Vec<f32> = (0..n)
        .map(|_| {
            let (u1, u2) = (uniform(), uniform());
            ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32 * std
        })
        .collect();
    Tensor::from_vec(values, shape, &Device::Cpu).unwrap()
}

fn max_abs(a: &Tensor, b: &Tensor) -> f64 {
    crate::parity::parity_error(a, b).unwrap().0
}

#[test]
fn released_key_layout_is_found() {
    let (_, ckpt) = open_case("gemma-text-tiny-s0");
    assert_eq!(language_model_prefix(|n| ckpt.contains(n)).unwrap(), "language_model.model");
    assert!(ckpt.contains("vision_tower.vision_model.post_layernorm.weight"));
    let index = serde_json::json!({"weight_map": {
        "model.language_model.embed_tokens.weight": "a.safetensors",
        "model.language_model.norm.weight": "b.safetensors",
        "model.vision_tower.x": "c.safetensors"}});
    assert_eq!(shard_files(&index).unwrap(), vec!["a.safetensors", "b.safetensors"]);
    let err = language_model_prefix(|_| false).unwrap_err().to_string();
    assert!(err.contains("language_model.model.embed_tokens.weight"), "{err}");
}

#[test]
fn padding_and_batching_only_move_positions() {
    let (cfg, ckpt) = open_case("gemma-text-tiny2-s0");
    let model = load(&cfg, &ckpt, MemoryMode::CPU_F32, &Device::Cpu).unwrap();
    let ids: Vec<u32> = (2..25).collect();
    let (a_ids, a_mask) = row(&ids, 0);
    let (b_ids, b_mask) = row(&ids, 9);
    let a = model.forward_hidden_states(&a_ids, &a_mask).unwrap();
    let b = model.forward_hidden_states(&b_ids, &b_mask).unwrap();
    assert_eq!(a.len(), cfg.num_hidden_states());
    for (level, (a, b)) in a.iter().zip(&b).enumerate() {
        assert_eq!(b.dims(), &[1, 32, cfg.hidden_size]);
        let pad = b.i((.., ..9, ..)).unwrap();
        assert_eq!(max_abs(&pad, &pad.zeros_like().unwrap()), 0.0);
        // RoPE is shift-invariant; f32 angles at other positions differ in the last bits only.
        let d = max_abs(a, &b.i((.., 9.., ..)).unwrap());
        assert!(d < 1e-4, "level {level}: {d}");
    }
    // A batch of both rows gives each row's own result.
    let batch_ids = Tensor::cat(&[&row(&ids, 9).0, &row(&ids[..20], 12).0], 0).unwrap();
    let batch_mask = Tensor::cat(&[&row(&ids, 9).1, &row(&ids[..20], 12).1], 0).unwrap();
    let (c_ids, c_mask) = row(&ids[..20], 12);
    let c = model.forward_hidden_states(&c_ids, &c_mask).unwrap();
    let batch = model.forward_hidden_states(&batch_ids, &batch_mask).unwrap();
    for level in 0..cfg.num_hidden_states() {
        assert!(max_abs(&batch[level].i(0).unwrap(), &b[level].i(0).unwrap()) < 1e-5);
        assert!(max_abs(&batch[level].i(1).unwrap(), &c[level].i(0).unwrap()) < 1e-5);
    }
    let bad_mask = Tensor::new(&[[1u32, 0, 1]], &Device::Cpu).unwrap();
    let bad_ids = Tensor::new(&[[2u32, 3, 4]], &Device::Cpu).unwrap();
    assert!(model.forward_hidden_states(&bad_ids, &bad_mask).is_err());
    let oov = Tensor::new(&[[2u32, 100_000]], &Device::Cpu).unwrap();
    let err =
        model.forward_hidden_states(&oov, &Tensor::new(&[[1u32, 1]], &Device::Cpu).unwrap()).unwrap_err();
    assert!(err.to_string().contains("100000"), "{err}");
}

/// Errors of one mode's hidden states against a reference, over valid rows, worst level.
#[derive(Debug, Clone, Copy)]
struct ModeError {
    /// `‖a − b‖ / ‖b‖`.
    rel_l2: f32,
    /// `max|a − b| / max(1, max|b|)` (the parity metric).
    scaled_max: f64,
}

fn mode_error(got: &[Tensor], want: &[Tensor]) -> ModeError {
    let mut worst = ModeError { rel_l2: 0.0, scaled_max: 0.0 };
    for (a, b) in got.iter().zip(want) {
        let a = a.to_dtype(DType::F32).unwrap();
        let b = b.to_dtype(DType::F32).unwrap();
        let diff = (&a - &b).unwrap();
        let norm = |t: &Tensor| t.sqr().unwrap().sum_all().unwrap().to_scalar::<f32>().unwrap().sqrt();
        // `f32::max` ignores a NaN: count it as the worst possible error instead.
        let rel = norm(&diff) / norm(&b);
        worst.rel_l2 = if rel.is_finite() { worst.rel_l2.max(rel) } else { f32::INFINITY };
        worst.scaled_max = worst.scaled_max.max(crate::parity::parity_error(&a, &b).unwrap().1);
    }
    worst
}

/// A random model whose widths are multiples of 256 (as in 12B), so that Q4_K really quantises every linear.
fn random_256() -> (Config, HashMap<String, Tensor>) {
    let cfg = Config {
        vocab_size: 384,
        hidden_size: 256,
        intermediate_size: 512,
        num_hidden_layers: 6,
        num_attention_heads: 4,
        num_key_value_heads: 2,
        head_dim: 64,
        query_pre_attn_scalar: 64.0,
        sliding_window: Some(16),
        ..Config::gemma3_12b()
    };
    let mut t = HashMap::new();
    let mut put = |name: String, shape: &[usize], std: f64| {
        let v = seeded_normal(t.len() as u64 + 1, shape, std as f32);
        t.insert(name, v);
    };
    let (h, i, d) = (cfg.hidden_size, cfg.intermediate_size, cfg.head_dim);
    let (q, kv) = (cfg.num_attention_heads * d, cfg.num_key_value_heads * d);
    put("embed_tokens.weight".into(), &[cfg.vocab_size, h], 1.0);
    put("norm.weight".into(), &[h], 0.3);
    for l in 0..cfg.num_hidden_layers {
        let p = |n: &str| format!("layers.{l}.{n}");
        for (name, out, inp) in [
            ("self_attn.q_proj", q, h),
            ("self_attn.k_proj", kv, h),
            ("self_attn.v_proj", kv, h),
            ("self_attn.o_proj", h, q),
            ("mlp.gate_proj", i, h),
            ("mlp.up_proj", i, h),
            ("mlp.down_proj", h, i),
        ] {
            put(p(&format!("{name}.weight")), &[out, inp], (inp as f64).powf(-0.5));
        }
        for name in [
            "input_layernorm",
            "post_attention_layernorm",
            "pre_feedforward_layernorm",
            "post_feedforward_layernorm",
        ] {
            put(p(&format!("{name}.weight")), &[h], 0.3);
        }
        put(p("self_attn.q_norm.weight"), &[d], 0.3);
        put(p("self_attn.k_norm.weight"), &[d], 0.3);
    }
    (cfg, t)
}

/// Run `modes` on the same prompt; errors against f32 and against bf16.
fn measure(
    name: &str,
    build: &dyn Fn(MemoryMode) -> TextModel,
    modes: &[MemoryMode],
) -> Vec<(MemoryMode, ModeError, ModeError)> {
    let ids: Vec<u32> = [2u32].into_iter().chain((0..40).map(|k| 5 + (k * 37 % 370))).collect();
    let (input_ids, mask) = row(&ids, 8);
    let run = |mode: MemoryMode| {
        let hs = build(mode).forward_hidden_states(&input_ids, &mask).unwrap();
        hs.into_iter().map(|h| h.i((.., 8.., ..)).unwrap()).collect::<Vec<_>>()
    };
    let f32_states = run(MemoryMode::CPU_F32);
    let bf16_states = run(MemoryMode::CPU_BF16);
    let mut rows = Vec::new();
    println!("{name}: worst level over {} hidden states, valid rows", f32_states.len());
    println!(
        "  {:<10} {:>12} {:>14} {:>12} {:>14}",
        "mode", "relL2 vs f32", "scaled vs f32", "relL2 vs bf16", "scaled vs bf16"
    );
    for &mode in modes {
        let states = if mode == MemoryMode::CPU_BF16 { bf16_states.clone() } else { run(mode) };
        let (e32, e16) = (mode_error(&states, &f32_states), mode_error(&states, &bf16_states));
        println!(
            "  {:<10} {:>12.3e} {:>14.3e} {:>12.3e} {:>14.3e}",
            mode.name(),
            e32.rel_l2,
            e32.scaled_max,
            e16.rel_l2,
            e16.scaled_max
        );
        rows.push((mode, e32, e16));
    }
    rows
}

/// The quantised modes' error (printed with `--nocapture`; numbers in docs/text-encoder.md), with loose
/// bounds so that a broken quantised path fails.
#[test]
fn quantised_modes_track_bf16() {
    let modes = [MemoryMode::CPU_BF16, MemoryMode::CPU_Q8_0, MemoryMode::CPU_Q4K];
    let (cfg, weights) = random_256();
    let build = |mode: MemoryMode| {
        let vb = VarBuilder::from_tensors(weights.clone(), mode.dtype, &Device::Cpu);
        TextModel::new(&cfg, vb, mode.weights).unwrap()
    };
    let rows = measure("random hidden-256 model", &build, &modes);
    // bf16 against f32; the quantised modes against bf16.
    let check = |rows: &[(MemoryMode, ModeError, ModeError)], q4_bound: f32| {
        for (mode, e32, e16) in rows {
            let (err, bound) = match mode.weights {
                WeightFormat::Dense => (e32.rel_l2, 0.02),
                WeightFormat::Q8_0 => (e16.rel_l2, 0.03),
                WeightFormat::Q4K => (e16.rel_l2, q4_bound),
            };
            assert!(err <= bound, "{mode}: {err} > {bound} ({e32:?}, {e16:?})");
        }
    };
    check(&rows, 0.1);
    let q8 = rows[1].2.rel_l2;
    let q4 = rows[2].2.rel_l2;
    assert!(q8 > 0.0 && q4 > q8, "Q4_K ({q4}) should be coarser than Q8_0 ({q8})");

    let (cfg, ckpt) = open_case("gemma-text-tiny-s0");
    let build = |mode: MemoryMode| load(&cfg, &ckpt, mode, &Device::Cpu).unwrap();
    // Widths 64/128: Q8_0 quantises every linear, Q4_K none (kept dense), so only Q8_0 is measured here.
    check(&measure("tiny case (spec §8.1)", &build, &[MemoryMode::CPU_BF16, MemoryMode::CPU_Q8_0]), 0.0);
}
