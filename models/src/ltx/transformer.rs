//! The LTX-2.3 transformer, audio stream only, as Scenema runs it, and the X0 (velocity → x0) wrapper.
//!
//! Reference: `ltx_core/model/transformer/{model.py, transformer.py, transformer_args.py, adaln.py,
//! timestep_embedding.py}` with Scenema's audio-only block forward (ltx-audio-spec §4). Per block:
//! self-attention with RoPE, text cross-attention on the prompt-modulated context, feed-forward, each with
//! adaLN from 9 modulation rows; no video stream and no video-to-audio attention (spec §4.8).
//! The final head uses LayerNorm, the blocks RMS norm (spec §9.5).

use std::path::Path;
use std::sync::Arc;

use candle_core::{DType, Device, IndexOp, Module, Result, Tensor};
use candle_nn::{Linear, VarBuilder};

use super::attention::{Attention, FeedForward, layer_norm, rms_norm};
use super::config::TransformerConfig;
use super::keys;
use super::rope::Rope;
use crate::weights::Checkpoint;

/// Width of the sinusoidal timestep features.
const TIMESTEP_CHANNELS: usize = 256;
/// Modulation rows per block with cross-attention adaLN (6 base + 3 for the cross-attention).
const BLOCK_ADA_ROWS: usize = 9;

/// `[cos(u·f_k), sin(u·f_k)]` with `f_k = exp(−ln(10000)·k/128)`, computed in f32 in the reference's order
/// (`flip_sin_to_cos=True`, `downscale_freq_shift=0`). Returns `(values.len(), 256)` row-major.
fn timestep_features(values: &[f32]) -> Vec<f32> {
    let half = TIMESTEP_CHANNELS / 2;
    let log_period = -(10000f64.ln()) as f32;
    let freqs: Vec<f32> = (0..half).map(|k| ((log_period * k as f32) / half as f32).exp()).collect();
    let mut out = Vec::with_capacity(values.len() * TIMESTEP_CHANNELS);
    for &u in values {
        out.extend(freqs.iter().map(|f| (u * f).cos()));
        out.extend(freqs.iter().map(|f| (u * f).sin()));
    }
    out
}

/// `emb.timestep_embedder`: Linear(256 → D) → SiLU → Linear(D → D).
#[derive(Debug, Clone)]
struct TimestepEmbedder {
    linear_1: Linear,
    linear_2: Linear,
}

/// `AdaLayerNormSingle`: the embedded timestep and `linear(SiLU(emb))` with `coefficient` rows of width D.
#[derive(Debug, Clone)]
pub struct AdaLayerNormSingle {
    timestep_embedder: TimestepEmbedder,
    linear: Linear,
}

impl AdaLayerNormSingle {
    pub fn new(dim: usize, coefficient: usize, vb: VarBuilder) -> Result<Self> {
        let emb = vb.pp("emb.timestep_embedder");
        Ok(Self {
            timestep_embedder: TimestepEmbedder {
                linear_1: candle_nn::linear(TIMESTEP_CHANNELS, dim, emb.pp("linear_1"))?,
                linear_2: candle_nn::linear(dim, dim, emb.pp("linear_2"))?,
            },
            linear: candle_nn::linear(dim, coefficient * dim, vb.pp("linear"))?,
        })
    }

    /// For scaled timesteps `u` (σ·1000), returns `(modulation (K, coefficient·D), embedded (K, D))`.
    pub fn forward(&self, scaled: &[f32], dtype: DType, device: &Device) -> Result<(Tensor, Tensor)> {
        let features =
            Tensor::from_vec(timestep_features(scaled), (scaled.len(), TIMESTEP_CHANNELS), device)?
                .to_dtype(dtype)?;
        let TimestepEmbedder { linear_1, linear_2 } = &self.timestep_embedder;
        let embedded = linear_1.forward(&features)?.silu()?.apply(linear_2)?;
        let modulation = embedded.silu()?.apply(&self.linear)?;
        Ok((modulation, embedded))
    }
}

/// Per-token adaLN values kept once per distinct timestep (there are at most two: σ for generated tokens,
/// 0 for reference tokens) and gathered per token on use.
struct TokenModulation {
    /// (K, rows, D)
    per_value: Tensor,
    /// (K, D)
    embedded: Tensor,
    /// Token → distinct-value index, (N,); `None` when every token shares one value (then broadcast).
    index: Option<Tensor>,
}

impl TokenModulation {
    /// `table[row] + modulation[row]` per token: (1, N, D), or (1, 1, D) when uniform.
    fn row(&self, table: &Tensor, row: usize) -> Result<Tensor> {
        let values = self.per_value.i((.., row))?.broadcast_add(&table.i(row)?)?;
        self.per_token(&values)
    }

    fn per_token(&self, values: &Tensor) -> Result<Tensor> {
        match &self.index {
            None => values.unsqueeze(0),
            Some(index) => values.index_select(index, 0)?.unsqueeze(0),
        }
    }
}

/// One `BasicAVTransformerBlock`, audio half.
#[derive(Debug, Clone)]
pub struct BasicTransformerBlock {
    audio_attn1: Attention,
    audio_attn2: Attention,
    audio_ff: FeedForward,
    /// (9, D)
    audio_scale_shift_table: Tensor,
    /// (2, D)
    audio_prompt_scale_shift_table: Tensor,
    norm_eps: f64,
}

impl BasicTransformerBlock {
    pub fn new(cfg: &TransformerConfig, vb: VarBuilder) -> Result<Self> {
        let dim = cfg.audio_inner_dim();
        let (heads, head_dim, gated, eps) = (
            cfg.audio_num_attention_heads,
            cfg.audio_attention_head_dim,
            cfg.apply_gated_attention,
            cfg.norm_eps,
        );
        Ok(Self {
            audio_attn1: Attention::new(dim, dim, heads, head_dim, gated, eps, vb.pp("audio_attn1"))?,
            audio_attn2: Attention::new(
                dim,
                cfg.audio_cross_attention_dim,
                heads,
                head_dim,
                gated,
                eps,
                vb.pp("audio_attn2"),
            )?,
            audio_ff: FeedForward::new(dim, vb.pp("audio_ff"))?,
            audio_scale_shift_table: vb.get((BLOCK_ADA_ROWS, dim), "audio_scale_shift_table")?,
            audio_prompt_scale_shift_table: vb.get((2, dim), "audio_prompt_scale_shift_table")?,
            norm_eps: eps,
        })
    }

    /// `prompt`: the prompt adaLN values (2, D) of the scalar σ.
    fn forward(
        &self,
        x: &Tensor,
        context: &Tensor,
        rope: &Rope,
        ada: &TokenModulation,
        prompt: &Tensor,
    ) -> Result<Tensor> {
        let table = &self.audio_scale_shift_table;
        let modulate = |x: &Tensor, shift: &Tensor, scale: &Tensor| -> Result<Tensor> {
            rms_norm(x, self.norm_eps)?.broadcast_mul(&(scale + 1.0)?)?.broadcast_add(shift)
        };
        // Rows: 0 shift_msa, 1 scale_msa, 2 gate_msa, 3 shift_ff, 4 scale_ff, 5 gate_ff,
        // 6 shift_q (cross), 7 scale_q (cross), 8 gate (cross).
        let h = modulate(x, &ada.row(table, 0)?, &ada.row(table, 1)?)?;
        let x = (x + self.audio_attn1.forward(&h, None, Some(rope))?.broadcast_mul(&ada.row(table, 2)?)?)?;

        // The context is modulated by the prompt adaLN, not normalised.
        let kv_shift = self.audio_prompt_scale_shift_table.i(0)?.add(&prompt.i(0)?)?;
        let kv_scale = self.audio_prompt_scale_shift_table.i(1)?.add(&prompt.i(1)?)?;
        let context = context.broadcast_mul(&(kv_scale + 1.0)?)?.broadcast_add(&kv_shift)?;
        let h = modulate(&x, &ada.row(table, 6)?, &ada.row(table, 7)?)?;
        let x =
            (&x + self.audio_attn2.forward(&h, Some(&context), None)?.broadcast_mul(&ada.row(table, 8)?)?)?;

        let h = modulate(&x, &ada.row(table, 3)?, &ada.row(table, 4)?)?;
        &x + self.audio_ff.forward(&h)?.broadcast_mul(&ada.row(table, 5)?)?
    }
}

/// `LTXModel` restricted to the audio stream: returns the velocity.
#[derive(Debug, Clone)]
pub struct LtxAudioModel {
    audio_patchify_proj: Linear,
    audio_adaln_single: AdaLayerNormSingle,
    audio_prompt_adaln_single: AdaLayerNormSingle,
    /// (2, D): output shift and scale.
    audio_scale_shift_table: Tensor,
    audio_proj_out: Linear,
    transformer_blocks: Vec<BasicTransformerBlock>,
    cfg: TransformerConfig,
}

impl LtxAudioModel {
    pub fn new(cfg: &TransformerConfig, vb: VarBuilder) -> Result<Self> {
        let dim = cfg.audio_inner_dim();
        let blocks = vb.pp("transformer_blocks");
        let transformer_blocks = (0..cfg.num_layers)
            .map(|i| BasicTransformerBlock::new(cfg, blocks.pp(i)))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            audio_patchify_proj: candle_nn::linear(cfg.audio_in_channels, dim, vb.pp("audio_patchify_proj"))?,
            audio_adaln_single: AdaLayerNormSingle::new(dim, BLOCK_ADA_ROWS, vb.pp("audio_adaln_single"))?,
            audio_prompt_adaln_single: AdaLayerNormSingle::new(dim, 2, vb.pp("audio_prompt_adaln_single"))?,
            audio_scale_shift_table: vb.get((2, dim), "audio_scale_shift_table")?,
            audio_proj_out: candle_nn::linear(dim, cfg.audio_out_channels, vb.pp("audio_proj_out"))?,
            transformer_blocks,
            cfg: cfg.clone(),
        })
    }

    pub fn config(&self) -> &TransformerConfig {
        &self.cfg
    }

    /// RoPE tables for `(1, 1, N, 2)` `[start, end)` positions in seconds (midpoint, max_pos 20).
    pub fn rope(&self, positions: &Tensor, dtype: DType) -> Result<Rope> {
        let (_, _, n, _) = positions.dims4()?;
        let flat = positions.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
        let intervals: Vec<[f32; 2]> = (0..n).map(|i| [flat[2 * i], flat[2 * i + 1]]).collect();
        Rope::for_intervals(
            &intervals,
            self.cfg.audio_positional_embedding_max_pos,
            self.cfg.audio_inner_dim(),
            self.cfg.audio_num_attention_heads,
            self.cfg.positional_embedding_theta,
            dtype,
            positions.device(),
        )
    }

    /// Velocity for `latent` (1, N, C_in) at per-token timesteps `τ = mask·σ`.
    ///
    /// `denoise_mask`: (1, N, 1); `positions`: (1, 1, N, 2) seconds; `context`: (1, S, D_ctx).
    pub fn forward(
        &self,
        latent: &Tensor,
        denoise_mask: &Tensor,
        sigma: f32,
        positions: &Tensor,
        context: &Tensor,
    ) -> Result<Tensor> {
        let (b, n, _) = latent.dims3()?;
        if b != 1 {
            candle_core::bail!("the audio transformer runs one sequence at a time (batch {b})");
        }
        let device = latent.device();
        let x = self.audio_patchify_proj.forward(latent)?;
        let dtype = x.dtype();

        // Distinct scaled timesteps u = (mask·σ)·1000, each once through the adaLN MLP.
        let mask = denoise_mask.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
        if mask.len() != n {
            candle_core::bail!("denoise mask has {} values for {n} tokens", mask.len());
        }
        let mut distinct: Vec<f32> = Vec::new();
        let mut index = Vec::with_capacity(n);
        for m in &mask {
            let u = (m * sigma) * self.cfg.timestep_scale_multiplier;
            let k = match distinct.iter().position(|d| d.to_bits() == u.to_bits()) {
                Some(k) => k,
                None => {
                    distinct.push(u);
                    distinct.len() - 1
                }
            };
            index.push(k as u32);
        }
        let (modulation, embedded) = self.audio_adaln_single.forward(&distinct, dtype, device)?;
        let dim = self.cfg.audio_inner_dim();
        let ada = TokenModulation {
            // (K, 9·D) -> (K, 9, D)
            per_value: modulation.reshape((distinct.len(), BLOCK_ADA_ROWS, dim))?,
            embedded,
            index: if distinct.len() > 1 { Some(Tensor::from_vec(index, n, device)?) } else { None },
        };
        let (prompt, _) = self.audio_prompt_adaln_single.forward(
            &[sigma * self.cfg.timestep_scale_multiplier],
            dtype,
            device,
        )?;
        // (1, 2·D) -> (2, D)
        let prompt = prompt.reshape((2, dim))?;

        let rope = self.rope(positions, dtype)?;
        let context = context.to_dtype(dtype)?;
        let mut x = x;
        for block in &self.transformer_blocks {
            x = block.forward(&x, &context, &rope, &ada, &prompt)?;
        }

        // Output head: LayerNorm, then shift/scale from the table plus the embedded timestep.
        let shift = ada.per_token(&ada.embedded.broadcast_add(&self.audio_scale_shift_table.i(0)?)?)?;
        let scale = ada.per_token(&ada.embedded.broadcast_add(&self.audio_scale_shift_table.i(1)?)?)?;
        let y = layer_norm(&x, self.cfg.norm_eps)?.broadcast_mul(&(scale + 1.0)?)?.broadcast_add(&shift)?;
        self.audio_proj_out.forward(&y)
    }
}

/// `X0Model`: `x0 = x_t − v·τ` with per-token `τ = mask·σ`, computed in f32 (spec §4.7).
#[derive(Debug, Clone)]
pub struct X0Model {
    velocity_model: LtxAudioModel,
}

impl X0Model {
    /// `vb` is the wrapper root: weights live under `velocity_model.` (see `keys::TRANSFORMER`).
    pub fn new(cfg: &TransformerConfig, vb: VarBuilder) -> Result<Self> {
        Ok(Self { velocity_model: LtxAudioModel::new(cfg, vb.pp("velocity_model"))? })
    }

    pub fn velocity_model(&self) -> &LtxAudioModel {
        &self.velocity_model
    }

    /// Denoised estimate for `latent` (1, N, C); see [`LtxAudioModel::forward`].
    pub fn forward(
        &self,
        latent: &Tensor,
        denoise_mask: &Tensor,
        sigma: f32,
        positions: &Tensor,
        context: &Tensor,
    ) -> Result<Tensor> {
        let velocity = self.velocity_model.forward(latent, denoise_mask, sigma, positions, context)?;
        to_denoised(latent, &velocity, denoise_mask, sigma)
    }
}

/// `(x − v·(mask·σ))` in f32, cast back to `x`'s dtype.
pub fn to_denoised(latent: &Tensor, velocity: &Tensor, denoise_mask: &Tensor, sigma: f32) -> Result<Tensor> {
    let tau = denoise_mask.to_dtype(DType::F32)?.broadcast_mul(&Tensor::new(sigma, latent.device())?)?;
    let x = latent.to_dtype(DType::F32)?;
    let v = velocity.to_dtype(DType::F32)?;
    x.sub(&v.broadcast_mul(&tau)?)?.to_dtype(latent.dtype())
}

/// Memory-map the transformer file(s) (`scenema-audio-transformer[-int8].safetensors`), read the config from
/// their metadata and build the model in `dtype`; INT8 linears are dequantised once here.
pub fn load<P: AsRef<Path>>(paths: &[P], dtype: DType, device: &Device) -> Result<X0Model> {
    load_from(&Arc::new(Checkpoint::open(paths)?), dtype, device)
}

/// [`load`] from an opened checkpoint (a header-only one checks the layout without reading weights).
pub fn load_from(checkpoint: &Arc<Checkpoint>, dtype: DType, device: &Device) -> Result<X0Model> {
    let config = checkpoint
        .config()?
        .ok_or_else(|| candle_core::Error::Msg(format!("{:?}: no `config` metadata", checkpoint.paths())))?;
    let cfg = TransformerConfig::from_json(&config)?;
    X0Model::new(&cfg, keys::map(checkpoint.var_builder(dtype, device), keys::TRANSFORMER))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestep_features_put_cos_first() {
        let f = timestep_features(&[0.0, 500.0]);
        assert_eq!(f.len(), 512);
        assert!(f[..128].iter().all(|&c| c == 1.0) && f[128..256].iter().all(|&s| s == 0.0));
        // k = 0 has frequency 1: cos(500), sin(500).
        assert_eq!((f[256], f[384]), (500f32.cos(), 500f32.sin()));
    }
}
