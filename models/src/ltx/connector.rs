//! Text path after Gemma: the V2 feature extractor and the audio embeddings connector (ltx-audio-spec §2.4,
//! §2.5).
//!
//! Reference: `ltx_core/text_encoders/gemma/feature_extractor.py` (`norm_and_concat_per_token_rms`,
//! `FeatureExtractorV2`, `_rescale_norm`) and `embeddings_connector.py` (`Embeddings1DConnector`,
//! `_BasicTransformerBlock1D`). Module paths follow the reference's `EmbeddingsProcessor`
//! (`feature_extractor.*`, `audio_connector.*`); `keys::PIPELINE` maps them to the checkpoint names.

use std::path::Path;
use std::sync::Arc;

use candle_core::{D, DType, Device, Module, Result, Tensor};
use candle_nn::{Linear, VarBuilder};

use super::attention::{Attention, FeedForward, rms_norm};
use super::config::ConnectorConfig;
use super::keys;
use super::rope::Rope;
use crate::weights::Checkpoint;

/// Gemma-3-12B hidden width and hidden-state count (48 layers + the embedding), hard-coded upstream
/// (`GEMMA3_CONFIG_FOR_LTX`).
pub const GEMMA_HIDDEN_SIZE: usize = 3840;
pub const GEMMA_NUM_LEVELS: usize = 49;

const NORM_EPS: f64 = 1e-6;

/// Per-token, per-level RMS normalisation of the stacked hidden states, flatten (level fastest), rescale,
/// `audio_aggregate_embed`.
#[derive(Debug, Clone)]
pub struct FeatureExtractor {
    audio_aggregate_embed: Linear,
    embedding_dim: usize,
    num_levels: usize,
    out_dim: usize,
}

impl FeatureExtractor {
    /// `embedding_dim`/`num_levels`: the text encoder's hidden width and hidden-state count
    /// ([`GEMMA_HIDDEN_SIZE`], [`GEMMA_NUM_LEVELS`] for Gemma-3-12B); `out_dim`: the audio connector width.
    pub fn new(embedding_dim: usize, num_levels: usize, out_dim: usize, vb: VarBuilder) -> Result<Self> {
        let audio_aggregate_embed =
            candle_nn::linear(embedding_dim * num_levels, out_dim, vb.pp("audio_aggregate_embed"))?;
        Ok(Self { audio_aggregate_embed, embedding_dim, num_levels, out_dim })
    }

    /// `levels`: the hidden states, each (B, S, E), in Gemma's order (embedding first).
    pub fn forward_levels(&self, levels: &[Tensor], attention_mask: &Tensor) -> Result<Tensor> {
        // L × (b, s, e) -> (b, s, e, l)
        self.forward(&Tensor::stack(levels, 3)?, attention_mask)
    }

    /// `hidden_states`: (B, S, E, L) with the level last; `attention_mask`: (B, S), nonzero = real token.
    /// Returns the audio features (B, S, out_dim).
    pub fn forward(&self, hidden_states: &Tensor, attention_mask: &Tensor) -> Result<Tensor> {
        let (b, s, e, l) = hidden_states.dims4()?;
        if (e, l) != (self.embedding_dim, self.num_levels) {
            candle_core::bail!(
                "feature extractor built for {} x {} hidden states, got {e} x {l}",
                self.embedding_dim,
                self.num_levels
            );
        }
        let dtype = hidden_states.dtype();
        let x = hidden_states.to_dtype(DType::F32)?;
        // Mean over the hidden dim, per token and level: (b, s, 1, l).
        let variance = x.sqr()?.mean_keepdim(2)?;
        let normed = x.broadcast_mul(&(variance + NORM_EPS)?.sqrt()?.recip()?)?;
        // (b, s, e, l) -> (b, s, e·l): feature index d·L + l.
        let normed = normed.reshape((b, s, e * l))?;
        let keep = attention_mask
            .to_dtype(DType::F32)?
            .gt(0.0)?
            .unsqueeze(D::Minus1)?
            .broadcast_as(normed.shape())?;
        let normed = keep.where_cond(&normed, &normed.zeros_like()?)?.to_dtype(dtype)?;
        let rescale = (self.out_dim as f64 / e as f64).sqrt();
        self.audio_aggregate_embed.forward(&(normed * rescale)?)
    }
}

/// `_BasicTransformerBlock1D`: pre-norm self-attention with RoPE, then pre-norm feed-forward.
#[derive(Debug, Clone)]
struct Block1D {
    attn1: Attention,
    ff: FeedForward,
}

impl Block1D {
    fn forward(&self, x: &Tensor, rope: &Rope) -> Result<Tensor> {
        let x = (x + self.attn1.forward(&rms_norm(x, NORM_EPS)?, None, Some(rope))?)?;
        &x + self.ff.forward(&rms_norm(&x, NORM_EPS)?)?
    }
}

/// `Embeddings1DConnector` (audio): learnable registers replace the padding, then 1-D transformer blocks
/// and a final RMS norm. Output: the audio context the transformer cross-attends to.
#[derive(Debug, Clone)]
pub struct AudioConnector {
    transformer_1d_blocks: Vec<Block1D>,
    /// (R, D)
    learnable_registers: Tensor,
    cfg: ConnectorConfig,
}

impl AudioConnector {
    pub fn new(cfg: &ConnectorConfig, vb: VarBuilder) -> Result<Self> {
        let dim = cfg.inner_dim();
        let blocks = vb.pp("transformer_1d_blocks");
        let transformer_1d_blocks = (0..cfg.num_layers)
            .map(|i| {
                let vb = blocks.pp(i);
                Ok(Block1D {
                    attn1: Attention::new(
                        dim,
                        dim,
                        cfg.num_attention_heads,
                        cfg.attention_head_dim,
                        cfg.apply_gated_attention,
                        NORM_EPS,
                        vb.pp("attn1"),
                    )?,
                    ff: FeedForward::new(dim, vb.pp("ff"))?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let learnable_registers = vb.get((cfg.num_learnable_registers, dim), "learnable_registers")?;
        Ok(Self { transformer_1d_blocks, learnable_registers, cfg: cfg.clone() })
    }

    pub fn config(&self) -> &ConnectorConfig {
        &self.cfg
    }

    /// Valid tokens compacted to the front in order, `registers[p mod R]` elsewhere (spec §2.5 step 1).
    /// Written as the reference's blend `flip(mask)·compacted + (1 − flip(mask))·registers`.
    pub fn replace_padded_with_registers(
        &self,
        features: &Tensor,
        attention_mask: &Tensor,
    ) -> Result<Tensor> {
        let (b, s, dim) = features.dims3()?;
        if b != 1 {
            candle_core::bail!("the connector runs one sequence at a time (batch {b})");
        }
        let registers = self.learnable_registers.dim(0)?;
        if !s.is_multiple_of(registers) {
            candle_core::bail!("text length {s} is not a multiple of the {registers} learnable registers");
        }
        let mask = attention_mask.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
        if mask.len() != s {
            candle_core::bail!("attention mask has {} values for {s} tokens", mask.len());
        }
        let valid: Vec<u32> = (0..s as u32).filter(|&p| mask[p as usize] > 0.0).collect();
        // Rows of [features; registers; zero]: pick one per output position.
        let zero_row = (s + registers) as u32;
        let index: Vec<u32> = (0..s)
            .map(|p| {
                if mask[s - 1 - p] > 0.0 {
                    valid.get(p).copied().unwrap_or(zero_row)
                } else {
                    (s + p % registers) as u32
                }
            })
            .collect();
        let rows = Tensor::cat(
            &[
                features.squeeze(0)?,
                self.learnable_registers.to_dtype(features.dtype())?,
                Tensor::zeros((1, dim), features.dtype(), features.device())?,
            ],
            0,
        )?;
        let index = Tensor::from_vec(index, s, features.device())?;
        rows.index_select(&index, 0)?.unsqueeze(0)
    }

    /// `features`: (1, S, D) from [`FeatureExtractor`]; `attention_mask`: (1, S). Returns (1, S, D).
    pub fn forward(&self, features: &Tensor, attention_mask: &Tensor) -> Result<Tensor> {
        let x = self.replace_padded_with_registers(features, attention_mask)?;
        self.forward_replaced(&x)
    }

    /// The blocks and final norm on an already register-filled sequence. No mask from here on.
    pub fn forward_replaced(&self, x: &Tensor) -> Result<Tensor> {
        let rope = Rope::for_indices(
            x.dim(1)?,
            self.cfg.positional_embedding_max_pos,
            self.cfg.inner_dim(),
            self.cfg.num_attention_heads,
            self.cfg.positional_embedding_theta,
            x.dtype(),
            x.device(),
        )?;
        let mut x = x.clone();
        for block in &self.transformer_1d_blocks {
            x = block.forward(&x, &rope)?;
        }
        rms_norm(&x, NORM_EPS)
    }
}

/// The audio half of the reference's `EmbeddingsProcessor`: Gemma hidden states → audio context.
#[derive(Debug, Clone)]
pub struct AudioEmbeddingsProcessor {
    pub feature_extractor: FeatureExtractor,
    pub audio_connector: AudioConnector,
}

impl AudioEmbeddingsProcessor {
    /// `vb` is the processor root (`feature_extractor.*`, `audio_connector.*`; see `keys::PIPELINE`).
    pub fn new(
        cfg: &ConnectorConfig,
        embedding_dim: usize,
        num_levels: usize,
        vb: VarBuilder,
    ) -> Result<Self> {
        Ok(Self {
            feature_extractor: FeatureExtractor::new(
                embedding_dim,
                num_levels,
                cfg.inner_dim(),
                vb.pp("feature_extractor"),
            )?,
            audio_connector: AudioConnector::new(cfg, vb.pp("audio_connector"))?,
        })
    }

    /// `hidden_states`: (1, S, E, L); `attention_mask`: (1, S). Returns the audio context (1, S, D).
    pub fn forward(&self, hidden_states: &Tensor, attention_mask: &Tensor) -> Result<Tensor> {
        let features = self.feature_extractor.forward(hidden_states, attention_mask)?;
        self.audio_connector.forward(&features, attention_mask)
    }
}

/// Memory-map the pipeline file (`scenema-audio-pipeline.safetensors`), read the connector config from its
/// metadata and build the audio text path for a text encoder with `embedding_dim` x `num_levels` hidden
/// states ([`GEMMA_HIDDEN_SIZE`] x [`GEMMA_NUM_LEVELS`] for Gemma-3-12B).
pub fn load<P: AsRef<Path>>(
    paths: &[P],
    embedding_dim: usize,
    num_levels: usize,
    dtype: DType,
    device: &Device,
) -> Result<AudioEmbeddingsProcessor> {
    let checkpoint = Arc::new(Checkpoint::open(paths)?);
    load_from(&checkpoint, embedding_dim, num_levels, dtype, device)
}

/// [`load`] from an opened checkpoint (a header-only one checks the layout without reading weights).
pub fn load_from(
    checkpoint: &Arc<Checkpoint>,
    embedding_dim: usize,
    num_levels: usize,
    dtype: DType,
    device: &Device,
) -> Result<AudioEmbeddingsProcessor> {
    let config = checkpoint
        .config()?
        .ok_or_else(|| candle_core::Error::Msg(format!("{:?}: no `config` metadata", checkpoint.paths())))?;
    let cfg = ConnectorConfig::from_json(&config)?;
    let vb = keys::map(checkpoint.var_builder(dtype, device), keys::PIPELINE);
    AudioEmbeddingsProcessor::new(&cfg, embedding_dim, num_levels, vb)
}
