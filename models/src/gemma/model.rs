//! Gemma 3 text decoder that returns every hidden state.
//!
//! Reference: HF transformers `models/gemma3/modeling_gemma3.py` (`Gemma3TextModel`, `Gemma3DecoderLayer`,
//! `Gemma3Attention`, `Gemma3MLP`, `Gemma3RMSNorm`, `Gemma3RotaryEmbedding`; 4.57.6 as Scenema runs it, the
//! same math in 5.x), called as ltx_core `GemmaTextEncoder.encode` does: `output_hidden_states=True` on
//! left-padded input (ltx-audio-spec §2.3).
//!
//! Hidden states: `hs[0]` = embeddings × √hidden, `hs[k]` = output of layer `k-1`, the last one with the final
//! norm applied. Pad rows (mask 0) come back as zeros.

use candle_core::{DType, Device, Module, Result, Tensor, bail};
use candle_nn::VarBuilder;

use super::config::{Config, LayerType, Rope};
use super::linear::{Linear, WeightFormat};

/// `Gemma3RMSNorm`: `x · rsqrt(mean(x²) + eps) · (1 + w)`, in f32, cast back to the input dtype.
#[derive(Debug, Clone)]
struct RmsNorm {
    /// `1 + weight`, f32.
    alpha: Tensor,
    eps: f32,
}

impl RmsNorm {
    fn new(dim: usize, eps: f64, vb: VarBuilder) -> Result<Self> {
        let weight = vb.set_dtype(DType::F32).get(dim, "weight")?;
        Ok(Self { alpha: (weight + 1.0)?, eps: eps as f32 })
    }
}

impl Module for RmsNorm {
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let dtype = xs.dtype();
        let xs = xs.to_dtype(DType::F32)?.contiguous()?;
        candle_nn::ops::rms_norm(&xs, &self.alpha, self.eps)?.to_dtype(dtype)
    }
}

/// cos/sin tables of one RoPE setting for a run of positions, `(T, head_dim/2)` each, in the compute dtype.
struct RopeTables {
    cos: Tensor,
    sin: Tensor,
}

impl RopeTables {
    /// As `Gemma3RotaryEmbedding.forward`: f32 inverse frequencies `1 / θ^(2i/d) / factor`, f32 angles
    /// `position · inv_freq`, cos/sin in f32, then cast.
    fn new(
        rope: Rope,
        head_dim: usize,
        positions: std::ops::Range<usize>,
        dtype: DType,
        dev: &Device,
    ) -> Result<Self> {
        let half = head_dim / 2;
        let inv_freq: Vec<f32> = (0..half)
            .map(|i| {
                let exponent = (2 * i) as f32 / head_dim as f32;
                1f32 / (rope.theta as f32).powf(exponent) / rope.linear_factor as f32
            })
            .collect();
        let len = positions.len();
        let mut angles = Vec::with_capacity(len * half);
        for p in positions {
            angles.extend(inv_freq.iter().map(|f| p as f32 * f));
        }
        let angles = Tensor::from_vec(angles, (len, half), dev)?; // (T, d/2)
        Ok(Self { cos: angles.cos()?.to_dtype(dtype)?, sin: angles.sin()?.to_dtype(dtype)? })
    }

    /// Rotate-half RoPE on `(B, H, T, d)`.
    fn apply(&self, xs: &Tensor) -> Result<Tensor> {
        candle_nn::rotary_emb::rope(&xs.contiguous()?, &self.cos, &self.sin)
    }
}

#[derive(Debug, Clone)]
struct Attention {
    q_proj: Linear,
    k_proj: Linear,
    v_proj: Linear,
    o_proj: Linear,
    q_norm: RmsNorm,
    k_norm: RmsNorm,
    num_heads: usize,
    num_kv_heads: usize,
    head_dim: usize,
    scale: f64,
    softcap: Option<f64>,
}

impl Attention {
    fn new(cfg: &Config, vb: VarBuilder, format: WeightFormat) -> Result<Self> {
        if cfg.attention_bias {
            bail!("gemma: attention_bias = true is not supported")
        }
        let (h, d) = (cfg.hidden_size, cfg.head_dim);
        let (nh, nkv) = (cfg.num_attention_heads, cfg.num_key_value_heads);
        Ok(Self {
            q_proj: Linear::new(h, nh * d, vb.pp("q_proj"), format)?,
            k_proj: Linear::new(h, nkv * d, vb.pp("k_proj"), format)?,
            v_proj: Linear::new(h, nkv * d, vb.pp("v_proj"), format)?,
            o_proj: Linear::new(nh * d, h, vb.pp("o_proj"), format)?,
            q_norm: RmsNorm::new(d, cfg.rms_norm_eps, vb.pp("q_norm"))?,
            k_norm: RmsNorm::new(d, cfg.rms_norm_eps, vb.pp("k_norm"))?,
            num_heads: nh,
            num_kv_heads: nkv,
            head_dim: d,
            scale: cfg.query_pre_attn_scalar.powf(-0.5),
            softcap: cfg.attn_logit_softcapping,
        })
    }

    /// `mask`: additive f32 `(B, 1, T, T)`, `None` when nothing is masked.
    fn forward(&self, xs: &Tensor, rope: &RopeTables, mask: Option<&Tensor>) -> Result<Tensor> {
        let (b, t, _) = xs.dims3()?;
        let (nh, nkv, d) = (self.num_heads, self.num_kv_heads, self.head_dim);
        let q = self.q_proj.forward(xs)?.reshape((b, t, nh, d))?.transpose(1, 2)?; // (B, H, T, d)
        let k = self.k_proj.forward(xs)?.reshape((b, t, nkv, d))?.transpose(1, 2)?; // (B, KV, T, d)
        let v = self.v_proj.forward(xs)?.reshape((b, t, nkv, d))?.transpose(1, 2)?; // (B, KV, T, d)
        let q = rope.apply(&self.q_norm.forward(&q)?)?;
        let k = rope.apply(&self.k_norm.forward(&k)?)?;
        let (k, v) = (repeat_kv(&k, nh / nkv)?, repeat_kv(&v, nh / nkv)?.contiguous()?); // (B, H, T, d)

        // The attention core runs in f32 like the fused SDPA kernels the reference uses (f32 accumulators,
        // no bf16 rounding of scores or probabilities); it is a small share of the FLOPs.
        let dtype = q.dtype();
        let (q, k, v) = (q.to_dtype(DType::F32)?, k.to_dtype(DType::F32)?, v.to_dtype(DType::F32)?);
        let mut scores = (q.matmul(&k.t()?)? * self.scale)?; // (B, H, T, T)
        if let Some(cap) = self.softcap {
            scores = ((scores / cap)?.tanh()? * cap)?;
        }
        if let Some(mask) = mask {
            scores = scores.broadcast_add(mask)?;
        }
        let probs = candle_nn::ops::softmax_last_dim(&scores)?;
        let out = probs.matmul(&v)?.to_dtype(dtype)?; // (B, H, T, d)
        let out = out.transpose(1, 2)?.reshape((b, t, nh * d))?; // (B, T, H·d)
        self.o_proj.forward(&out)
    }
}

/// `(B, KV, T, d)` → `(B, KV·n_rep, T, d)`, head `h` reading key/value head `h / n_rep`.
fn repeat_kv(xs: &Tensor, n_rep: usize) -> Result<Tensor> {
    if n_rep == 1 {
        return Ok(xs.clone());
    }
    let (b, kv, t, d) = xs.dims4()?;
    xs.unsqueeze(2)?.expand((b, kv, n_rep, t, d))?.reshape((b, kv * n_rep, t, d)) // (B, KV·n_rep, T, d)
}

/// `down(gelu_tanh(gate(x)) · up(x))`.
#[derive(Debug, Clone)]
struct Mlp {
    gate_proj: Linear,
    up_proj: Linear,
    down_proj: Linear,
}

impl Mlp {
    fn new(cfg: &Config, vb: VarBuilder, format: WeightFormat) -> Result<Self> {
        let (h, i) = (cfg.hidden_size, cfg.intermediate_size);
        Ok(Self {
            gate_proj: Linear::new(h, i, vb.pp("gate_proj"), format)?,
            up_proj: Linear::new(h, i, vb.pp("up_proj"), format)?,
            down_proj: Linear::new(i, h, vb.pp("down_proj"), format)?,
        })
    }
}

impl Module for Mlp {
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        // candle's `gelu` is the tanh approximation (`gelu_pytorch_tanh`).
        let gate = self.gate_proj.forward(xs)?.gelu()?;
        self.down_proj.forward(&(gate * self.up_proj.forward(xs)?)?)
    }
}

#[derive(Debug, Clone)]
struct DecoderLayer {
    self_attn: Attention,
    mlp: Mlp,
    input_layernorm: RmsNorm,
    post_attention_layernorm: RmsNorm,
    pre_feedforward_layernorm: RmsNorm,
    post_feedforward_layernorm: RmsNorm,
    layer_type: LayerType,
}

impl DecoderLayer {
    fn new(cfg: &Config, layer_type: LayerType, vb: VarBuilder, format: WeightFormat) -> Result<Self> {
        let (h, eps) = (cfg.hidden_size, cfg.rms_norm_eps);
        Ok(Self {
            self_attn: Attention::new(cfg, vb.pp("self_attn"), format)?,
            mlp: Mlp::new(cfg, vb.pp("mlp"), format)?,
            input_layernorm: RmsNorm::new(h, eps, vb.pp("input_layernorm"))?,
            post_attention_layernorm: RmsNorm::new(h, eps, vb.pp("post_attention_layernorm"))?,
            pre_feedforward_layernorm: RmsNorm::new(h, eps, vb.pp("pre_feedforward_layernorm"))?,
            post_feedforward_layernorm: RmsNorm::new(h, eps, vb.pp("post_feedforward_layernorm"))?,
            layer_type,
        })
    }

    fn forward(&self, xs: &Tensor, rope: &RopeTables, mask: Option<&Tensor>) -> Result<Tensor> {
        let attn = self.self_attn.forward(&self.input_layernorm.forward(xs)?, rope, mask)?;
        let xs = (xs + self.post_attention_layernorm.forward(&attn)?)?;
        let ff = self.mlp.forward(&self.pre_feedforward_layernorm.forward(&xs)?)?;
        xs + self.post_feedforward_layernorm.forward(&ff)?
    }
}

/// The Gemma 3 language model without its head (`Gemma3TextModel`).
///
/// `vb` is rooted at the language model (`embed_tokens`, `layers.N`, `norm`; see the `gemma` module for the
/// prefixes of the released files). Activations run in `vb.dtype()` on `vb.device()`; the embedding table is
/// kept on the CPU (a row lookup is exact wherever it runs, and it saves 2 GB of GPU memory on 12B).
#[derive(Debug, Clone)]
pub struct TextModel {
    embed_tokens: Tensor,
    layers: Vec<DecoderLayer>,
    norm: RmsNorm,
    /// `sqrt(hidden)` rounded to the compute dtype, as the reference's `embed_scale.to(weight.dtype)`.
    embed_scale: f64,
    cfg: Config,
    device: Device,
    dtype: DType,
    format: WeightFormat,
}

impl TextModel {
    pub fn new(cfg: &Config, vb: VarBuilder, format: WeightFormat) -> Result<Self> {
        cfg.validate()?;
        let (device, dtype) = (vb.device().clone(), vb.dtype());
        let embed_tokens =
            vb.pp("embed_tokens").set_device(Device::Cpu).get((cfg.vocab_size, cfg.hidden_size), "weight")?;
        let vb_l = vb.pp("layers");
        let layers = cfg
            .layer_types()
            .into_iter()
            .enumerate()
            .map(|(i, layer_type)| DecoderLayer::new(cfg, layer_type, vb_l.pp(i), format))
            .collect::<Result<Vec<_>>>()?;
        let norm = RmsNorm::new(cfg.hidden_size, cfg.rms_norm_eps, vb.pp("norm"))?;
        let embed_scale = Tensor::new(&[(cfg.hidden_size as f64).sqrt() as f32], &Device::Cpu)?
            .to_dtype(dtype)?
            .to_dtype(DType::F64)?
            .to_vec1::<f64>()?[0];
        Ok(Self { embed_tokens, layers, norm, embed_scale, cfg: cfg.clone(), device, dtype, format })
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    pub fn dtype(&self) -> DType {
        self.dtype
    }

    pub fn weight_format(&self) -> WeightFormat {
        self.format
    }

    /// Every hidden state for left-padded `input_ids` / `attention_mask` (both `(B, S)`, any integer dtype,
    /// mask ∈ {0, 1} with each row's valid tokens at its end). Returns `num_hidden_layers + 1` tensors
    /// `(B, S, hidden)` in the compute dtype on the model's device, pad rows zero.
    ///
    /// Valid rows equal the reference's: positions are the absolute column indices (HF's `arange(S)`), pad
    /// keys are masked, so the leading columns that are padding in every row are simply not computed.
    pub fn forward_hidden_states(&self, input_ids: &Tensor, attention_mask: &Tensor) -> Result<Vec<Tensor>> {
        let (b, s) = input_ids.dims2()?;
        if attention_mask.dims() != [b, s] {
            bail!("gemma: attention_mask {:?} does not match input_ids {:?}", attention_mask.dims(), [b, s])
        }
        let ids = input_ids.to_device(&Device::Cpu)?.to_dtype(DType::U32)?.to_vec2::<u32>()?;
        let mask = attention_mask.to_device(&Device::Cpu)?.to_dtype(DType::U32)?.to_vec2::<u32>()?;
        let pads = left_padding(&mask)?;
        let hidden = self.cfg.hidden_size;
        let start = pads.iter().copied().min().unwrap_or(s);
        if start == s {
            let zeros = Tensor::zeros((b, s, hidden), self.dtype, &self.device)?;
            return Ok(vec![zeros; self.cfg.num_hidden_states()]);
        }
        let t = s - start;
        if let Some(&bad) =
            ids.iter().flat_map(|row| &row[start..]).find(|&&id| id as usize >= self.cfg.vocab_size)
        {
            bail!("gemma: token id {bad} is outside the vocabulary ({})", self.cfg.vocab_size)
        }

        let trimmed: Vec<u32> = ids.iter().flat_map(|row| row[start..].iter().copied()).collect();
        let trimmed = Tensor::from_vec(trimmed, b * t, &Device::Cpu)?;
        let xs = self.embed_tokens.index_select(&trimmed, 0)?.reshape((b, t, hidden))?; // (B, T, hidden)
        let xs = (xs.to_device(&self.device)?.to_dtype(self.dtype)? * self.embed_scale)?;

        let mut ropes = Vec::new();
        let mut masks = Vec::new();
        for layer_type in [LayerType::Sliding, LayerType::Full] {
            let rope = self.cfg.rope(layer_type)?;
            ropes.push(RopeTables::new(rope, self.cfg.head_dim, start..s, self.dtype, &self.device)?);
            masks.push(additive_mask(&pads, start, t, self.cfg.window(layer_type), &self.device)?);
        }
        let slot = |layer_type: LayerType| usize::from(layer_type == LayerType::Full);

        let keep = Tensor::from_vec(
            pads.iter().flat_map(|&p| (start..s).map(move |j| if j >= p { 1f32 } else { 0f32 })).collect(),
            (b, t, 1),
            &self.device,
        )?
        .to_dtype(self.dtype)?; // (B, T, 1)
        let finish = |h: &Tensor| -> Result<Tensor> {
            let h = h.broadcast_mul(&keep)?;
            if start == 0 {
                return Ok(h);
            }
            let zeros = Tensor::zeros((b, start, hidden), self.dtype, &self.device)?;
            Tensor::cat(&[&zeros, &h], 1) // (B, S, hidden)
        };

        let mut states = Vec::with_capacity(self.cfg.num_hidden_states());
        let mut xs = xs;
        for layer in &self.layers {
            states.push(finish(&xs)?);
            let i = slot(layer.layer_type);
            xs = layer.forward(&xs, &ropes[i], masks[i].as_ref())?;
        }
        states.push(finish(&self.norm.forward(&xs)?)?);
        Ok(states)
    }
}

/// Number of leading pad columns per row; each row must be zeros then ones.
fn left_padding(mask: &[Vec<u32>]) -> Result<Vec<usize>> {
    mask.iter()
        .enumerate()
        .map(|(row, m)| {
            let pad = m.iter().take_while(|&&v| v == 0).count();
            if m[pad..].iter().any(|&v| v != 1) {
                bail!("gemma: attention_mask row {row} is not left padding (zeros, then ones): {m:?}")
            }
            Ok(pad)
        })
        .collect()
}

/// Additive f32 mask `(B, 1, T, T)` over columns `start..start+T`: a query sees keys at or before it, not
/// padding, and (sliding layers) fewer than `window` positions back. Masked entries get `f32::MIN` as HF
/// does, so a fully masked pad row stays finite. `None` when nothing would be masked.
fn additive_mask(
    pads: &[usize],
    start: usize,
    t: usize,
    window: Option<usize>,
    dev: &Device,
) -> Result<Option<Tensor>> {
    if t == 1 {
        // One key, the query itself: a pad row would be fully masked, which softmax turns into the same 1.
        return Ok(None);
    }
    let b = pads.len();
    let mut values = Vec::with_capacity(b * t * t);
    for &pad in pads {
        for qi in 0..t {
            for ki in 0..t {
                let key_col = start + ki;
                let visible = ki <= qi && key_col >= pad && window.is_none_or(|w| qi - ki < w);
                values.push(if visible { 0f32 } else { f32::MIN });
            }
        }
    }
    Ok(Some(Tensor::from_vec(values, (b, 1, t, t), dev)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_is_causal_windowed_and_hides_padding() {
        let m = additive_mask(&[1, 0], 0, 4, Some(2), &Device::Cpu).unwrap().unwrap();
        let m = m.squeeze(1).unwrap().to_vec3::<f32>().unwrap();
        let seen = |b: usize, q: usize| -> Vec<usize> { (0..4).filter(|&k| m[b][q][k] == 0.0).collect() };
        assert_eq!(seen(0, 0), Vec::<usize>::new()); // pad query sees nothing (row stays finite)
        assert_eq!(seen(0, 1), vec![1]);
        assert_eq!(seen(0, 3), vec![2, 3]); // window 2
        assert_eq!(seen(1, 3), vec![2, 3]);
        assert_eq!(seen(1, 1), vec![0, 1]);
        assert!(m.iter().flatten().flatten().all(|v| v.is_finite()));
    }

    #[test]
    fn left_padding_is_checked() {
        assert_eq!(left_padding(&[vec![0, 0, 1, 1], vec![1, 1, 1, 1]]).unwrap(), vec![2, 0]);
        let err = left_padding(&[vec![1, 0, 1]]).unwrap_err().to_string();
        assert!(err.contains("row 0"), "{err}");
    }
}
