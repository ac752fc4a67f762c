//! Attention with q/k RMS norms over the full width, optional RoPE and per-head output gating, plus the
//! parameter-free norms and the tanh-GELU feed-forward shared by the transformer and the connector.
//!
//! Reference: `ltx_core/model/transformer/attention.py` (`Attention`, `PytorchAttention`),
//! `feed_forward.py`, `gelu_approx.py`, `ltx_core/utils.py::rms_norm` (ltx-audio-spec §4.5, §10).

use candle_core::{D, DType, Module, Result, Tensor};
use candle_nn::{Linear, VarBuilder};

use super::rope::Rope;

/// `x · rsqrt(mean(x², last) + eps)`, no weight, computed in f32.
pub fn rms_norm(x: &Tensor, eps: f64) -> Result<Tensor> {
    let dtype = x.dtype();
    let x = x.to_dtype(DType::F32)?;
    let mean_sq = x.sqr()?.mean_keepdim(D::Minus1)?;
    let inv = (mean_sq + eps)?.sqrt()?.recip()?;
    x.broadcast_mul(&inv)?.to_dtype(dtype)
}

/// LayerNorm over the last dim without affine parameters (biased variance), computed in f32.
pub fn layer_norm(x: &Tensor, eps: f64) -> Result<Tensor> {
    let dtype = x.dtype();
    let x = x.to_dtype(DType::F32)?;
    let centred = x.broadcast_sub(&x.mean_keepdim(D::Minus1)?)?;
    let var = centred.sqr()?.mean_keepdim(D::Minus1)?;
    centred.broadcast_div(&(var + eps)?.sqrt()?)?.to_dtype(dtype)
}

/// `net.0.proj` (dim → 4·dim) → GELU (tanh approximation) → `net.2` (4·dim → dim).
#[derive(Debug, Clone)]
pub struct FeedForward {
    proj_in: Linear,
    proj_out: Linear,
}

impl FeedForward {
    pub fn new(dim: usize, vb: VarBuilder) -> Result<Self> {
        let inner = 4 * dim;
        let proj_in = candle_nn::linear(dim, inner, vb.pp("net.0.proj"))?;
        let proj_out = candle_nn::linear(inner, dim, vb.pp("net.2"))?;
        Ok(Self { proj_in, proj_out })
    }
}

impl Module for FeedForward {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        // `Tensor::gelu` is the tanh form (`gelu_erf` is the exact one).
        self.proj_in.forward(x)?.gelu()?.apply(&self.proj_out)
    }
}

/// One attention module (`audio_attn1`, `audio_attn2`, or a connector block's `attn1`).
#[derive(Debug, Clone)]
pub struct Attention {
    to_q: Linear,
    to_k: Linear,
    to_v: Linear,
    to_out: Linear,
    q_norm: Tensor,
    k_norm: Tensor,
    to_gate_logits: Option<Linear>,
    heads: usize,
    dim_head: usize,
    eps: f32,
}

impl Attention {
    /// `context_dim` is the K/V input width (equal to `query_dim` for self-attention).
    pub fn new(
        query_dim: usize,
        context_dim: usize,
        heads: usize,
        dim_head: usize,
        gated: bool,
        eps: f64,
        vb: VarBuilder,
    ) -> Result<Self> {
        let inner = heads * dim_head;
        Ok(Self {
            to_q: candle_nn::linear(query_dim, inner, vb.pp("to_q"))?,
            to_k: candle_nn::linear(context_dim, inner, vb.pp("to_k"))?,
            to_v: candle_nn::linear(context_dim, inner, vb.pp("to_v"))?,
            // `to_out` is Sequential(Linear, Identity).
            to_out: candle_nn::linear(inner, query_dim, vb.pp("to_out.0"))?,
            q_norm: vb.pp("q_norm").get(inner, "weight")?,
            k_norm: vb.pp("k_norm").get(inner, "weight")?,
            to_gate_logits: if gated {
                Some(candle_nn::linear(query_dim, heads, vb.pp("to_gate_logits"))?)
            } else {
                None
            },
            heads,
            dim_head,
            eps: eps as f32,
        })
    }

    /// `x`: (B, T, query_dim); `context`: (B, S, context_dim), `None` for self-attention. RoPE rotates q and
    /// k when given. No mask: Scenema attends to every token.
    pub fn forward(&self, x: &Tensor, context: Option<&Tensor>, rope: Option<&Rope>) -> Result<Tensor> {
        let context = context.unwrap_or(x);
        let (b, t, _) = x.dims3()?;
        let s = context.dim(1)?;
        let q = candle_nn::ops::rms_norm(&self.to_q.forward(x)?, &self.q_norm, self.eps)?;
        let k = candle_nn::ops::rms_norm(&self.to_k.forward(context)?, &self.k_norm, self.eps)?;
        let v = self.to_v.forward(context)?;
        // (b, t, h·d) -> (b, h, t, d)
        let q = q.reshape((b, t, self.heads, self.dim_head))?.transpose(1, 2)?.contiguous()?;
        let k = k.reshape((b, s, self.heads, self.dim_head))?.transpose(1, 2)?.contiguous()?;
        let v = v.reshape((b, s, self.heads, self.dim_head))?.transpose(1, 2)?.contiguous()?;
        let (q, k) = match rope {
            Some(rope) => (rope.apply(&q)?, rope.apply(&k)?),
            None => (q, k),
        };
        let scale = 1.0 / (self.dim_head as f64).sqrt();
        // Scores, softmax and the weighted sum in f32, as PyTorch's fused attention keeps them: bf16 logits
        // lose 2^-8 of their magnitude, and candle's CPU softmax sums in the input dtype.
        let dtype = q.dtype();
        let (q, k, v) = (q.to_dtype(DType::F32)?, k.to_dtype(DType::F32)?, v.to_dtype(DType::F32)?);
        let scores = (q.matmul(&k.t()?)? * scale)?;
        let probs = candle_nn::ops::softmax_last_dim(&scores)?;
        // (b, h, t, d) -> (b, t, h, d)
        let mut out = probs.matmul(&v)?.to_dtype(dtype)?.transpose(1, 2)?;
        if let Some(gate) = &self.to_gate_logits {
            // 2·sigmoid(logits) per head, from the query-side input.
            let gates = (candle_nn::ops::sigmoid(&gate.forward(x)?)? * 2.0)?;
            out = out.broadcast_mul(&gates.unsqueeze(3)?)?;
        }
        // (b, t, h, d) -> (b, t, h·d)
        let out = out.reshape((b, t, self.heads * self.dim_head))?;
        self.to_out.forward(&out)
    }
}
