//! The axial transformers: pre-norm attention with rotary embeddings and per-head sigmoid gates, an erf-GELU
//! feed-forward, and the `F.normalize`-based RMSNorm (`mel_band_roformer.py`: `RMSNorm`, `Attention`,
//! `FeedForward`, `Transformer`; `rotary_embedding_torch` 0.8.9 `RotaryEmbedding`).

use candle_core::{D, DType, Module, Result, Tensor};
use candle_nn::{Linear, VarBuilder};

/// Attention scores are computed for this many (sequence · head · query · key) entries at most at once, so
/// the 801-frame time attention of 60 bands (300 M scores) never needs more than a few hundred MB.
const MAX_SCORES_PER_BLOCK: usize = 1 << 25;

/// `F.normalize(x, dim=-1) · sqrt(dim) · gamma` (`gamma` key): `x / max(‖x‖₂, 1e-12)`, not mean-square + eps.
#[derive(Debug, Clone)]
pub struct RmsNorm {
    /// `gamma · sqrt(dim)`.
    scale: Tensor,
}

impl RmsNorm {
    pub fn new(dim: usize, vb: VarBuilder) -> Result<Self> {
        let gamma = vb.get(dim, "gamma")?;
        Ok(Self { scale: (gamma.to_dtype(DType::F32)? * (dim as f64).sqrt())? })
    }
}

impl Module for RmsNorm {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let dtype = x.dtype();
        let x = x.to_dtype(DType::F32)?;
        let norm = x.sqr()?.sum_keepdim(D::Minus1)?.sqrt()?.maximum(1e-12)?;
        x.broadcast_div(&norm)?.broadcast_mul(&self.scale)?.to_dtype(dtype)
    }
}

/// The rotary embedding of one axis (`rotary_embed.freqs`, `dim_head / 2` frequencies): positions `0..n`,
/// angles `n · freq` in f32, each rotating an adjacent pair of features (the interleaved convention).
#[derive(Debug, Clone)]
pub struct Rotary {
    freqs: Vec<f32>,
}

impl Rotary {
    /// The frequencies come from the checkpoint (fp16 in the released file), as the reference loads them.
    pub fn new(dim_head: usize, vb: VarBuilder) -> Result<Self> {
        let freqs = vb.get(dim_head / 2, "freqs")?.to_dtype(DType::F32)?.to_vec1::<f32>()?;
        Ok(Self { freqs })
    }

    /// `(cos, sin)`, each `(n, dim_head / 2)`.
    pub fn tables(
        &self,
        n: usize,
        vb_dtype: DType,
        device: &candle_core::Device,
    ) -> Result<(Tensor, Tensor)> {
        let half = self.freqs.len();
        let mut cos = Vec::with_capacity(n * half);
        let mut sin = Vec::with_capacity(n * half);
        for pos in 0..n {
            for &f in &self.freqs {
                let angle = f64::from(pos as f32 * f);
                cos.push(angle.cos() as f32);
                sin.push(angle.sin() as f32);
            }
        }
        let cos = Tensor::from_vec(cos, (n, half), device)?.to_dtype(vb_dtype)?;
        let sin = Tensor::from_vec(sin, (n, half), device)?.to_dtype(vb_dtype)?;
        Ok((cos, sin))
    }
}

/// `layers.0.0`: RMSNorm → qkv (no bias) → RoPE on q, k → SDPA → · sigmoid(gates) per head → out (no bias).
#[derive(Debug, Clone)]
pub struct Attention {
    norm: RmsNorm,
    to_qkv: Linear,
    to_gates: Linear,
    to_out: Linear,
    rotary_embed: Rotary,
    heads: usize,
    dim_head: usize,
}

impl Attention {
    pub fn new(dim: usize, heads: usize, dim_head: usize, vb: VarBuilder) -> Result<Self> {
        let inner = heads * dim_head;
        Ok(Self {
            norm: RmsNorm::new(dim, vb.pp("norm"))?,
            to_qkv: candle_nn::linear_no_bias(dim, 3 * inner, vb.pp("to_qkv"))?,
            to_gates: candle_nn::linear(dim, heads, vb.pp("to_gates"))?,
            // `to_out` is Sequential(Linear, Dropout).
            to_out: candle_nn::linear_no_bias(inner, dim, vb.pp("to_out.0"))?,
            rotary_embed: Rotary::new(dim_head, vb.pp("rotary_embed"))?,
            heads,
            dim_head,
        })
    }

    /// `x`: (N, n, dim), N independent sequences of length n.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (seqs, n, dim) = x.dims3()?;
        let (h, d) = (self.heads, self.dim_head);
        let x = self.norm.forward(x)?.reshape((seqs * n, dim))?;
        // (N·n, 3·h·d) -> (3, N, h, n, d): the qkv index is outermost ('b n (qkv h d)').
        let qkv = self.to_qkv.forward(&x)?.reshape((seqs, n, 3, h, d))?.permute((2, 0, 3, 1, 4))?;
        let (cos, sin) = self.rotary_embed.tables(n, x.dtype(), x.device())?;
        let q = candle_nn::rotary_emb::rope_i(&qkv.get(0)?.contiguous()?, &cos, &sin)?;
        let k = candle_nn::rotary_emb::rope_i(&qkv.get(1)?.contiguous()?, &cos, &sin)?;
        let v = qkv.get(2)?.contiguous()?;
        let scale = 1.0 / (d as f64).sqrt();
        let block = (MAX_SCORES_PER_BLOCK / (h * n * n)).clamp(1, seqs);
        let mut outs = Vec::with_capacity(seqs.div_ceil(block));
        for start in (0..seqs).step_by(block) {
            let len = block.min(seqs - start);
            let (q, k, v) = (q.narrow(0, start, len)?, k.narrow(0, start, len)?, v.narrow(0, start, len)?);
            let scores = (q.matmul(&k.t()?)? * scale)?;
            let probs = candle_nn::ops::softmax_last_dim(&scores)?;
            outs.push(probs.matmul(&v)?);
        }
        let out = Tensor::cat(&outs, 0)?; // (N, h, n, d)
        // Per-token, per-head gates from the normed input: (N·n, h) -> (N, h, n, 1).
        let gates = candle_nn::ops::sigmoid(&self.to_gates.forward(&x)?)?;
        let gates = gates.reshape((seqs, n, h))?.transpose(1, 2)?.unsqueeze(3)?;
        let out = out.broadcast_mul(&gates)?;
        // (N, h, n, d) -> (N·n, h·d)
        let out = out.transpose(1, 2)?.reshape((seqs * n, h * d))?;
        self.to_out.forward(&out)?.reshape((seqs, n, dim))
    }
}

/// `layers.0.1.net`: RMSNorm (0) → Linear (1) → GELU, exact erf (2) → Dropout (3) → Linear (4) → Dropout (5).
#[derive(Debug, Clone)]
pub struct FeedForward {
    norm: RmsNorm,
    proj_in: Linear,
    proj_out: Linear,
}

impl FeedForward {
    pub fn new(dim: usize, mult: usize, vb: VarBuilder) -> Result<Self> {
        let inner = dim * mult;
        Ok(Self {
            norm: RmsNorm::new(dim, vb.pp("net.0"))?,
            proj_in: candle_nn::linear(dim, inner, vb.pp("net.1"))?,
            proj_out: candle_nn::linear(inner, dim, vb.pp("net.4"))?,
        })
    }
}

impl Module for FeedForward {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (seqs, n, dim) = x.dims3()?;
        let x = self.norm.forward(&x.reshape((seqs * n, dim))?)?;
        self.proj_in.forward(&x)?.gelu_erf()?.apply(&self.proj_out)?.reshape((seqs, n, dim))
    }
}

/// `layers.{l}.{0|1}`: `depth` × (attention + residual, feed-forward + residual), then RMSNorm (`norm`).
#[derive(Debug, Clone)]
pub struct Transformer {
    layers: Vec<(Attention, FeedForward)>,
    norm: RmsNorm,
}

impl Transformer {
    pub fn new(
        dim: usize,
        depth: usize,
        heads: usize,
        dim_head: usize,
        ff_mult: usize,
        vb: VarBuilder,
    ) -> Result<Self> {
        let layers = (0..depth)
            .map(|i| {
                let vb = vb.pp("layers").pp(i);
                Ok((
                    Attention::new(dim, heads, dim_head, vb.pp(0))?,
                    FeedForward::new(dim, ff_mult, vb.pp(1))?,
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { layers, norm: RmsNorm::new(dim, vb.pp("norm"))? })
    }
}

impl Module for Transformer {
    /// `x`: (N, n, dim).
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut x = x.clone();
        for (attn, ff) in &self.layers {
            x = (attn.forward(&x)? + &x)?;
            x = (ff.forward(&x)? + &x)?;
        }
        self.norm.forward(&x)
    }
}

#[cfg(test)]
mod tests {
    use candle_core::Device;

    use super::*;

    #[test]
    fn rms_norm_is_l2_normalisation_times_sqrt_dim() {
        let dev = Device::Cpu;
        let vb = candle_nn::VarBuilder::from_tensors(
            [("gamma".to_string(), Tensor::new(&[1f32, 2.0], &dev).unwrap())].into(),
            DType::F32,
            &dev,
        );
        let norm = RmsNorm::new(2, vb).unwrap();
        let x = Tensor::new(&[[3f32, 4.0], [0.0, 0.0]], &dev).unwrap();
        let y = norm.forward(&x).unwrap().to_vec2::<f32>().unwrap();
        let s = 2f32.sqrt();
        assert!((y[0][0] - 0.6 * s).abs() < 1e-6 && (y[0][1] - 1.6 * s).abs() < 1e-6, "{y:?}");
        // A zero vector stays zero (the 1e-12 floor), not NaN.
        assert_eq!(y[1], vec![0.0, 0.0]);
    }

    #[test]
    fn rope_rotates_adjacent_pairs() {
        let dev = Device::Cpu;
        let rotary = Rotary { freqs: vec![1.0, 0.5] };
        let (cos, sin) = rotary.tables(3, DType::F32, &dev).unwrap();
        let x = Tensor::new(&[1f32, 2.0, 3.0, 4.0], &dev).unwrap().reshape((1, 1, 1, 4)).unwrap();
        let x = x.repeat((1, 1, 3, 1)).unwrap();
        let y = candle_nn::rotary_emb::rope_i(&x, &cos, &sin)
            .unwrap()
            .squeeze(0)
            .unwrap()
            .to_vec3::<f32>()
            .unwrap();
        // Position 2: pair (1, 2) by angle 2, pair (3, 4) by angle 1 (x·cos + rotate_half(x)·sin, (x0, x1) -> (-x1, x0)).
        let (c, s) = (2f64.cos() as f32, 2f64.sin() as f32);
        let (c1, s1) = (1f64.cos() as f32, 1f64.sin() as f32);
        let want = [c - 2.0 * s, 2.0 * c + s, 3.0 * c1 - 4.0 * s1, 4.0 * c1 + 3.0 * s1];
        for (got, want) in y[0][2].iter().zip(want) {
            assert!((got - want).abs() < 1e-6, "{:?} vs {want:?}", y[0][2]);
        }
        assert_eq!(y[0][0], vec![1.0, 2.0, 3.0, 4.0]);
    }
}
