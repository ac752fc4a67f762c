//! The flow-matching estimator (`modules/diffusion_transformer.py::DiT`, spec §5.8): a pre-norm transformer
//! with timestep-adaptive RMSNorm, interleaved RoPE and UViT skips, a long skip from the noisy mel, and a
//! WaveNet head with an adaLN final layer. Predicts the velocity `(B, mel, T)`.

use candle_core::{D, DType, Device, Result, Tensor, bail};
use candle_nn::{Linear, Module, VarBuilder};

use super::config::{DitConfig, WavenetConfig};
use super::wavenet::WaveNet;

/// `TimestepEmbedder(frequency_embedding_size=256)`.
const FREQUENCY_EMBEDDING: usize = 256;
const TIME_SCALE: f64 = 1000.0;
const MAX_PERIOD: f64 = 10000.0;
const ROPE_BASE: f32 = 10000.0;
const RMS_EPS: f64 = 1e-5;
const FINAL_NORM_EPS: f64 = 1e-6;

/// `TimestepEmbedder`: `[cos, sin](1000 · t · freqs)` then Linear-SiLU-Linear.
#[derive(Debug, Clone)]
struct TimestepEmbedder {
    /// `(1, 128)`.
    freqs: Tensor,
    mlp0: Linear,
    mlp2: Linear,
}

impl TimestepEmbedder {
    fn new(hidden: usize, vb: VarBuilder) -> Result<Self> {
        let half = FREQUENCY_EMBEDDING / 2;
        // A stored buffer; recomputed as upstream does when absent.
        let freqs = if vb.contains_tensor("freqs") {
            vb.get(half, "freqs")?
        } else {
            let f: Vec<f32> =
                (0..half).map(|k| (-MAX_PERIOD.ln() * k as f64 / half as f64).exp() as f32).collect();
            Tensor::from_vec(f, half, vb.device())?.to_dtype(vb.dtype())?
        };
        Ok(Self {
            freqs: freqs.reshape((1, half))?,
            mlp0: candle_nn::linear(FREQUENCY_EMBEDDING, hidden, vb.pp("mlp.0"))?,
            mlp2: candle_nn::linear(hidden, hidden, vb.pp("mlp.2"))?,
        })
    }

    /// `t (B,)` → `(B, hidden)`.
    fn forward(&self, t: &Tensor) -> Result<Tensor> {
        let b = t.dim(0)?;
        // (b, 1) · (1, 128) -> (b, 128)
        let args =
            (t.reshape((b, 1))?.to_dtype(self.freqs.dtype())? * TIME_SCALE)?.broadcast_mul(&self.freqs)?;
        let emb = Tensor::cat(&[args.cos()?, args.sin()?], 1)?;
        self.mlp2.forward(&self.mlp0.forward(&emb)?.silu()?)
    }
}

fn rms_norm(x: &Tensor, weight: &Tensor) -> Result<Tensor> {
    let dtype = x.dtype();
    let xf = x.to_dtype(DType::F32)?;
    let rms = (xf.sqr()?.mean_keepdim(D::Minus1)? + RMS_EPS)?.sqrt()?;
    xf.broadcast_div(&rms)?.to_dtype(dtype)?.broadcast_mul(weight)
}

/// `AdaptiveLayerNorm(d, RMSNorm(d))`: `w ⊙ RMSNorm(x) + b`, `[w, b] = project_layer(c)`.
#[derive(Debug, Clone)]
struct AdaRmsNorm {
    project_layer: Linear,
    weight: Tensor,
    dim: usize,
}

impl AdaRmsNorm {
    fn new(dim: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            project_layer: candle_nn::linear(dim, 2 * dim, vb.pp("project_layer"))?,
            weight: vb.pp("norm").get(dim, "weight")?,
            dim,
        })
    }

    /// `x (B, T, D)`, `c (B, 1, D)`.
    fn forward(&self, x: &Tensor, c: &Tensor) -> Result<Tensor> {
        let wb = self.project_layer.forward(c)?;
        let w = wb.narrow(D::Minus1, 0, self.dim)?;
        let b = wb.narrow(D::Minus1, self.dim, self.dim)?;
        rms_norm(x, &self.weight)?.broadcast_mul(&w)?.broadcast_add(&b)
    }
}

/// `precompute_freqs_cis(block_size, head_dim, 10000)` rows `0..T`, in f32 as upstream: `(1, T, 1, D/2, 1)` each.
fn rope_tables(t: usize, head_dim: usize, dtype: DType, device: &Device) -> Result<(Tensor, Tensor)> {
    let half = head_dim / 2;
    let freqs: Vec<f32> = (0..half).map(|i| 1.0 / ROPE_BASE.powf((2 * i) as f32 / head_dim as f32)).collect();
    let mut cos = Vec::with_capacity(t * half);
    let mut sin = Vec::with_capacity(t * half);
    for p in 0..t {
        for &f in &freqs {
            let angle = f64::from(p as f32 * f);
            cos.push(angle.cos() as f32);
            sin.push(angle.sin() as f32);
        }
    }
    let shape = (1, t, 1, half, 1);
    Ok((
        Tensor::from_vec(cos, shape, device)?.to_dtype(dtype)?,
        Tensor::from_vec(sin, shape, device)?.to_dtype(dtype)?,
    ))
}

/// Interleaved pairs: `(x0, x1) → (x0·cos − x1·sin, x1·cos + x0·sin)` on `(B, T, H, Dh)`.
fn apply_rope(x: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
    let (b, t, h, d) = x.dims4()?;
    // (b, t, h, d) -> (b, t, h, d/2, 2)
    let x = x.reshape((b, t, h, d / 2, 2))?;
    let x0 = x.narrow(4, 0, 1)?;
    let x1 = x.narrow(4, 1, 1)?;
    let y0 = (x0.broadcast_mul(cos)? - x1.broadcast_mul(sin)?)?;
    let y1 = (x1.broadcast_mul(cos)? + x0.broadcast_mul(sin)?)?;
    Tensor::cat(&[y0, y1], 4)?.reshape((b, t, h, d))
}

#[derive(Debug, Clone)]
struct Attention {
    wqkv: Linear,
    wo: Linear,
    n_head: usize,
    head_dim: usize,
}

impl Attention {
    fn forward(&self, x: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
        let (b, t, dim) = x.dims3()?;
        let qkv = self.wqkv.forward(x)?;
        let shape = (b, t, self.n_head, self.head_dim);
        let q = apply_rope(&qkv.narrow(2, 0, dim)?.reshape(shape)?, cos, sin)?;
        let k = apply_rope(&qkv.narrow(2, dim, dim)?.reshape(shape)?, cos, sin)?;
        let v = qkv.narrow(2, 2 * dim, dim)?.reshape(shape)?;
        // (b, t, h, d) -> (b, h, t, d)
        let q = (q.transpose(1, 2)?.contiguous()? / (self.head_dim as f64).sqrt())?;
        let k = k.transpose(1, 2)?.contiguous()?;
        let v = v.transpose(1, 2)?.contiguous()?;
        // The boolean mask is all true for one utterance (x_lens = T): plain softmax attention.
        let scores = q.matmul(&k.t()?)?;
        let probs = candle_nn::ops::softmax_last_dim(&scores.to_dtype(DType::F32)?)?.to_dtype(v.dtype())?;
        // (b, h, t, d) -> (b, t, h·d)
        let y = probs.matmul(&v)?.transpose(1, 2)?.reshape((b, t, dim))?;
        self.wo.forward(&y)
    }
}

/// SwiGLU `w2(silu(w1 x) ⊙ w3 x)`.
#[derive(Debug, Clone)]
struct FeedForward {
    w1: Linear,
    w2: Linear,
    w3: Linear,
}

impl FeedForward {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.w2.forward(&(self.w1.forward(x)?.silu()? * self.w3.forward(x)?)?)
    }
}

#[derive(Debug, Clone)]
struct TransformerBlock {
    attention: Attention,
    feed_forward: FeedForward,
    attention_norm: AdaRmsNorm,
    ffn_norm: AdaRmsNorm,
    skip_in_linear: Option<Linear>,
}

impl TransformerBlock {
    fn new(cfg: &DitConfig, vb: VarBuilder) -> Result<Self> {
        let (d, ffn) = (cfg.hidden_dim, cfg.intermediate_size());
        let attn = vb.pp("attention");
        let ff = vb.pp("feed_forward");
        Ok(Self {
            attention: Attention {
                wqkv: candle_nn::linear_no_bias(d, 3 * d, attn.pp("wqkv"))?,
                wo: candle_nn::linear_no_bias(d, d, attn.pp("wo"))?,
                n_head: cfg.num_heads,
                head_dim: cfg.head_dim(),
            },
            feed_forward: FeedForward {
                w1: candle_nn::linear_no_bias(d, ffn, ff.pp("w1"))?,
                w2: candle_nn::linear_no_bias(ffn, d, ff.pp("w2"))?,
                w3: candle_nn::linear_no_bias(d, ffn, ff.pp("w3"))?,
            },
            attention_norm: AdaRmsNorm::new(d, vb.pp("attention_norm"))?,
            ffn_norm: AdaRmsNorm::new(d, vb.pp("ffn_norm"))?,
            skip_in_linear: if cfg.uvit_skip_connection {
                Some(candle_nn::linear(2 * d, d, vb.pp("skip_in_linear"))?)
            } else {
                None
            },
        })
    }

    fn forward(
        &self,
        x: &Tensor,
        c: &Tensor,
        rope: &(Tensor, Tensor),
        skip: Option<&Tensor>,
    ) -> Result<Tensor> {
        let x = match (&self.skip_in_linear, skip) {
            (Some(linear), Some(skip)) => linear.forward(&Tensor::cat(&[x, skip], D::Minus1)?)?,
            _ => x.clone(),
        };
        let h = (&x + self.attention.forward(&self.attention_norm.forward(&x, c)?, &rope.0, &rope.1)?)?;
        &h + self.feed_forward.forward(&self.ffn_norm.forward(&h, c)?)?
    }
}

/// `FinalLayer`: LayerNorm without affine, `x·(1 + scale) + shift` from `SiLU(c)`, a (weight-normed) Linear.
#[derive(Debug, Clone)]
struct FinalLayer {
    modulation: Linear,
    linear: Linear,
    dim: usize,
}

impl FinalLayer {
    /// `x (B, T, D)`, `c (B, D)`.
    fn forward(&self, x: &Tensor, c: &Tensor) -> Result<Tensor> {
        let mean = x.mean_keepdim(D::Minus1)?;
        let xc = x.broadcast_sub(&mean)?;
        let var = xc.sqr()?.mean_keepdim(D::Minus1)?;
        let normed = xc.broadcast_div(&(var + FINAL_NORM_EPS)?.sqrt()?)?;
        let ss = self.modulation.forward(&c.silu()?)?;
        // (b, 2d) -> shift, scale as (b, 1, d)
        let shift = ss.narrow(1, 0, self.dim)?.unsqueeze(1)?;
        let scale = ss.narrow(1, self.dim, self.dim)?.unsqueeze(1)?;
        let y = normed.broadcast_mul(&(scale + 1.0)?)?.broadcast_add(&shift)?;
        self.linear.forward(&y)
    }
}

#[derive(Debug, Clone)]
pub struct Dit {
    cfg: DitConfig,
    t_embedder: TimestepEmbedder,
    cond_projection: Linear,
    cond_x_merge_linear: Linear,
    layers: Vec<TransformerBlock>,
    norm: AdaRmsNorm,
    skip_linear: Option<Linear>,
    conv1: Linear,
    t_embedder2: TimestepEmbedder,
    wavenet: WaveNet,
    res_projection: Linear,
    final_layer: FinalLayer,
    /// Conv1d k1 `(mel, wavenet hidden)`, bias `(1, mel, 1)`.
    conv2: (Tensor, Tensor),
}

impl Dit {
    /// `vb` at `estimator` (inside the `cfm` state dict).
    pub fn new(cfg: &DitConfig, wn: &WavenetConfig, vb: VarBuilder) -> Result<Self> {
        let d = cfg.hidden_dim;
        let merge_in = d + 2 * cfg.in_channels + cfg.style_dim;
        let layers = (0..cfg.depth)
            .map(|i| TransformerBlock::new(cfg, vb.pp(format!("transformer.layers.{i}"))))
            .collect::<Result<Vec<_>>>()?;
        let h = wn.hidden_dim;
        let fl = vb.pp("final_layer");
        let conv2_w = vb.pp("conv2").get((cfg.in_channels, h, 1), "weight")?.squeeze(2)?;
        let conv2_b = vb.pp("conv2").get(cfg.in_channels, "bias")?.reshape((1, cfg.in_channels, 1))?;
        Ok(Self {
            cfg: cfg.clone(),
            t_embedder: TimestepEmbedder::new(d, vb.pp("t_embedder"))?,
            cond_projection: candle_nn::linear(cfg.content_dim, d, vb.pp("cond_projection"))?,
            cond_x_merge_linear: candle_nn::linear(merge_in, d, vb.pp("cond_x_merge_linear"))?,
            layers,
            norm: AdaRmsNorm::new(d, vb.pp("transformer.norm"))?,
            skip_linear: if cfg.long_skip_connection {
                Some(candle_nn::linear(d + cfg.in_channels, d, vb.pp("skip_linear"))?)
            } else {
                None
            },
            conv1: candle_nn::linear(d, h, vb.pp("conv1"))?,
            t_embedder2: TimestepEmbedder::new(h, vb.pp("t_embedder2"))?,
            wavenet: WaveNet::new(wn, vb.pp("wavenet"))?,
            res_projection: candle_nn::linear(d, h, vb.pp("res_projection"))?,
            final_layer: FinalLayer {
                modulation: candle_nn::linear(h, 2 * h, fl.pp("adaLN_modulation.1"))?,
                linear: candle_nn::linear(h, h, fl.pp("linear"))?,
                dim: h,
            },
            conv2: (conv2_w, conv2_b),
        })
    }

    pub fn config(&self) -> &DitConfig {
        &self.cfg
    }

    /// Layers whose outputs are kept for a UViT skip, and the layers that take them (last kept first).
    fn emits_skip(&self, i: usize) -> bool {
        self.cfg.uvit_skip_connection && i < self.cfg.depth / 2
    }

    fn receives_skip(&self, i: usize) -> bool {
        self.cfg.uvit_skip_connection && i > self.cfg.depth / 2
    }

    /// The velocity for `x`, `prompt_x (B, mel, T)`, `t (B,)`, `style (B, style_dim)`, `cond (B, T, content)`.
    pub fn forward(
        &self,
        x: &Tensor,
        prompt_x: &Tensor,
        t: &Tensor,
        style: &Tensor,
        cond: &Tensor,
    ) -> Result<Tensor> {
        let (b, c, len) = x.dims3()?;
        if c != self.cfg.in_channels || cond.dim(1)? != len || prompt_x.dims() != x.dims() {
            bail!(
                "DiT: x {:?}, prompt {:?}, cond {:?} do not line up ({} mel bins)",
                x.dims(),
                prompt_x.dims(),
                cond.dims(),
                self.cfg.in_channels
            );
        }
        let t1 = self.t_embedder.forward(t)?;
        let cond = self.cond_projection.forward(cond)?;
        // (b, mel, t) -> (b, t, mel)
        let xt = x.transpose(1, 2)?.contiguous()?;
        let pt = prompt_x.transpose(1, 2)?.contiguous()?;
        // (b, style) -> (b, t, style)
        let style = style.unsqueeze(1)?.repeat((1, len, 1))?;
        let x_in = Tensor::cat(&[&xt, &pt, &cond, &style], D::Minus1)?;
        let mut h = self.cond_x_merge_linear.forward(&x_in)?;
        let c1 = t1.unsqueeze(1)?;
        let rope = rope_tables(len, self.cfg.head_dim(), h.dtype(), h.device())?;
        let mut skips = Vec::new();
        for (i, layer) in self.layers.iter().enumerate() {
            let skip = if self.receives_skip(i) { skips.pop() } else { None };
            h = layer.forward(&h, &c1, &rope, skip.as_ref())?;
            if self.emits_skip(i) {
                skips.push(h.clone());
            }
        }
        let mut x_res = self.norm.forward(&h, &c1)?;
        if let Some(skip_linear) = &self.skip_linear {
            x_res = skip_linear.forward(&Tensor::cat(&[&x_res, &xt], D::Minus1)?)?;
        }
        // WaveNet head: (b, t, h) -> (b, h, t) and back.
        let w = self.conv1.forward(&x_res)?.transpose(1, 2)?.contiguous()?;
        let t2 = self.t_embedder2.forward(t)?.unsqueeze(2)?;
        let w = self.wavenet.forward(&w, &t2)?.transpose(1, 2)?;
        let w = (w + self.res_projection.forward(&x_res)?)?;
        let w = self.final_layer.forward(&w, &t1)?.transpose(1, 2)?.contiguous()?;
        // conv2 (k = 1): (mel, h) · (b, h, t) -> (b, mel, t)
        let (weight, bias) = &self.conv2;
        let y = weight.broadcast_matmul(&w)?.broadcast_add(bias)?;
        debug_assert_eq!(y.dims(), &[b, c, len]);
        Ok(y)
    }
}
