//! Whisper encoder and decoder (HF `WhisperEncoder`, `WhisperDecoder`), module tree = state-dict keys:
//! `model.encoder.{conv1, conv2, embed_positions, layers.N.{self_attn, self_attn_layer_norm, fc1, fc2,
//! final_layer_norm}, layer_norm}` and `model.decoder.{embed_tokens, embed_positions, layers.N.{self_attn,
//! self_attn_layer_norm, encoder_attn, encoder_attn_layer_norm, fc1, fc2, final_layer_norm}, layer_norm}`.
//! The output projection (`proj_out`) is tied to `embed_tokens` and not stored.

use candle_core::{DType, Module, Result, Tensor, bail};
use candle_nn::{Conv1d, Conv1dConfig, LayerNorm, Linear, VarBuilder};

use super::config::Config;

/// `nn.LayerNorm` default.
const LAYER_NORM_EPS: f64 = 1e-5;

fn layer_norm(dim: usize, vb: VarBuilder) -> Result<LayerNorm> {
    candle_nn::layer_norm(dim, LAYER_NORM_EPS, vb)
}

/// `WhisperAttention`: q and v have a bias, k has none; q is scaled by `head_dim^-0.5` before the product.
#[derive(Debug, Clone)]
struct Attention {
    q_proj: Linear,
    k_proj: Linear,
    v_proj: Linear,
    out_proj: Linear,
    num_heads: usize,
    head_dim: usize,
    span: tracing::Span,
}

impl Attention {
    fn new(dim: usize, num_heads: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            q_proj: candle_nn::linear(dim, dim, vb.pp("q_proj"))?,
            k_proj: candle_nn::linear_no_bias(dim, dim, vb.pp("k_proj"))?,
            v_proj: candle_nn::linear(dim, dim, vb.pp("v_proj"))?,
            out_proj: candle_nn::linear(dim, dim, vb.pp("out_proj"))?,
            num_heads,
            head_dim: dim / num_heads,
            span: tracing::span!(tracing::Level::TRACE, "whisper-attn"),
        })
    }

    /// (b, t, d) -> (b, h, t, hd)
    fn heads(&self, x: &Tensor) -> Result<Tensor> {
        let (b, t, _) = x.dims3()?;
        x.reshape((b, t, self.num_heads, self.head_dim))?.transpose(1, 2)?.contiguous()
    }

    /// Keys and values of `x` (b, t, d), each (b, h, t, hd).
    fn key_value(&self, x: &Tensor) -> Result<(Tensor, Tensor)> {
        Ok((self.heads(&self.k_proj.forward(x)?)?, self.heads(&self.v_proj.forward(x)?)?))
    }

    fn query(&self, x: &Tensor) -> Result<Tensor> {
        let scale = (self.head_dim as f64).powf(-0.5);
        self.heads(&(self.q_proj.forward(x)? * scale)?)
    }

    /// Softmax attention of `q` (b, h, l, hd) over `k`, `v` (b, h, t, hd), projected back to (b, l, d).
    /// `mask` (l, t) holds 0 or -inf.
    fn attend(&self, q: &Tensor, k: &Tensor, v: &Tensor, mask: Option<&Tensor>) -> Result<Tensor> {
        let (b, h, l, hd) = q.dims4()?;
        let mut scores = q.matmul(&k.t()?)?; // (b, h, l, t)
        if let Some(mask) = mask {
            scores = scores.broadcast_add(mask)?;
        }
        let probs = candle_nn::ops::softmax_last_dim(&scores)?;
        let out = probs.matmul(v)?; // (b, h, l, hd)
        out.transpose(1, 2)?.reshape((b, l, h * hd))?.apply(&self.out_proj)
    }

    /// Cross-attention of `q` (b, h, l, hd) over keys/values shared by every row (1, h, t, hd): the rows
    /// are folded into the query length so that the shared keys are never copied per beam.
    fn attend_shared(&self, q: &Tensor, k: &Tensor, v: &Tensor) -> Result<Tensor> {
        let (b, h, l, hd) = q.dims4()?;
        if b == 1 || k.dim(0)? != 1 {
            return self.attend(q, k, v, None);
        }
        let folded = q.transpose(0, 1)?.reshape((1, h, b * l, hd))?; // (1, h, b·l, hd)
        let probs = candle_nn::ops::softmax_last_dim(&folded.matmul(&k.t()?)?)?;
        let out = probs.matmul(v)?.reshape((h, b, l, hd))?.permute((1, 2, 0, 3))?; // (b, l, h, hd)
        out.reshape((b, l, h * hd))?.apply(&self.out_proj)
    }

    fn forward_self(&self, x: &Tensor) -> Result<Tensor> {
        let _enter = self.span.enter();
        let (k, v) = self.key_value(x)?;
        self.attend(&self.query(x)?, &k, &v, None)
    }
}

/// `fc1` -> GELU (erf) -> `fc2`.
#[derive(Debug, Clone)]
struct FeedForward {
    fc1: Linear,
    fc2: Linear,
}

impl FeedForward {
    fn new(dim: usize, ffn_dim: usize, vb: &VarBuilder) -> Result<Self> {
        Ok(Self {
            fc1: candle_nn::linear(dim, ffn_dim, vb.pp("fc1"))?,
            fc2: candle_nn::linear(ffn_dim, dim, vb.pp("fc2"))?,
        })
    }
}

impl Module for FeedForward {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.fc1.forward(x)?.gelu_erf()?.apply(&self.fc2)
    }
}

/// `WhisperEncoderLayer`: pre-LN self-attention and feed-forward, each residual.
#[derive(Debug, Clone)]
struct EncoderLayer {
    self_attn: Attention,
    self_attn_layer_norm: LayerNorm,
    ffn: FeedForward,
    final_layer_norm: LayerNorm,
}

impl EncoderLayer {
    fn new(cfg: &Config, vb: VarBuilder) -> Result<Self> {
        let d = cfg.d_model;
        Ok(Self {
            self_attn: Attention::new(d, cfg.encoder_attention_heads, vb.pp("self_attn"))?,
            self_attn_layer_norm: layer_norm(d, vb.pp("self_attn_layer_norm"))?,
            ffn: FeedForward::new(d, cfg.encoder_ffn_dim, &vb)?,
            final_layer_norm: layer_norm(d, vb.pp("final_layer_norm"))?,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let x = (x + self.self_attn.forward_self(&x.apply(&self.self_attn_layer_norm)?)?)?;
        &x + x.apply(&self.final_layer_norm)?.apply(&self.ffn)?
    }
}

/// `WhisperEncoder`: log-mel (b, n_mels, frames) -> hidden states (b, frames / 2, d_model).
#[derive(Debug, Clone)]
pub struct Encoder {
    conv1: Conv1d,
    conv2: Conv1d,
    /// (max_source_positions, d_model), stored (sinusoids in the released files).
    embed_positions: Tensor,
    layers: Vec<EncoderLayer>,
    layer_norm: LayerNorm,
    span: tracing::Span,
}

impl Encoder {
    /// `vb` at `model.encoder`.
    pub fn new(cfg: &Config, vb: VarBuilder) -> Result<Self> {
        let d = cfg.d_model;
        let conv = |stride| Conv1dConfig { padding: 1, stride, ..Default::default() };
        Ok(Self {
            conv1: candle_nn::conv1d(cfg.num_mel_bins, d, 3, conv(1), vb.pp("conv1"))?,
            conv2: candle_nn::conv1d(d, d, 3, conv(2), vb.pp("conv2"))?,
            embed_positions: vb.pp("embed_positions").get((cfg.max_source_positions, d), "weight")?,
            layers: (0..cfg.encoder_layers)
                .map(|i| EncoderLayer::new(cfg, vb.pp(format!("layers.{i}"))))
                .collect::<Result<_>>()?,
            layer_norm: layer_norm(d, vb.pp("layer_norm"))?,
            span: tracing::span!(tracing::Level::TRACE, "whisper-encoder"),
        })
    }

    /// The last hidden state (after the final LayerNorm). HF requires exactly `2 · max_source_positions`
    /// frames; any even count up to that is accepted here (the positions are taken from the start).
    pub fn forward(&self, features: &Tensor) -> Result<Tensor> {
        let _enter = self.span.enter();
        let frames = features.dim(2)?;
        let positions = self.embed_positions.dim(0)?;
        if frames == 0 || frames > 2 * positions {
            bail!("whisper encoder: {frames} mel frames, expected 1..={}", 2 * positions);
        }
        let dtype = self.embed_positions.dtype();
        let x = features.to_dtype(dtype)?.apply(&self.conv1)?.gelu_erf()?.apply(&self.conv2)?.gelu_erf()?;
        let x = x.transpose(1, 2)?; // (b, frames / 2, d)
        let n = x.dim(1)?;
        let mut x = x.broadcast_add(&self.embed_positions.narrow(0, 0, n)?)?;
        for layer in &self.layers {
            x = layer.forward(&x)?;
        }
        x.apply(&self.layer_norm)
    }
}

/// `WhisperDecoderLayer`: causal self-attention, cross-attention over the encoder output, feed-forward.
#[derive(Debug, Clone)]
struct DecoderLayer {
    self_attn: Attention,
    self_attn_layer_norm: LayerNorm,
    encoder_attn: Attention,
    encoder_attn_layer_norm: LayerNorm,
    ffn: FeedForward,
    final_layer_norm: LayerNorm,
}

impl DecoderLayer {
    fn new(cfg: &Config, vb: VarBuilder) -> Result<Self> {
        let (d, h) = (cfg.d_model, cfg.decoder_attention_heads);
        Ok(Self {
            self_attn: Attention::new(d, h, vb.pp("self_attn"))?,
            self_attn_layer_norm: layer_norm(d, vb.pp("self_attn_layer_norm"))?,
            encoder_attn: Attention::new(d, h, vb.pp("encoder_attn"))?,
            encoder_attn_layer_norm: layer_norm(d, vb.pp("encoder_attn_layer_norm"))?,
            ffn: FeedForward::new(d, cfg.decoder_ffn_dim, &vb)?,
            final_layer_norm: layer_norm(d, vb.pp("final_layer_norm"))?,
        })
    }

    fn forward(
        &self,
        x: &Tensor,
        cache: &mut Option<(Tensor, Tensor)>,
        cross: &(Tensor, Tensor),
        mask: Option<&Tensor>,
    ) -> Result<Tensor> {
        let h = x.apply(&self.self_attn_layer_norm)?;
        let (k, v) = self.self_attn.key_value(&h)?;
        let (k, v) = match cache.take() {
            Some((pk, pv)) => (Tensor::cat(&[&pk, &k], 2)?, Tensor::cat(&[&pv, &v], 2)?),
            None => (k, v),
        };
        let attn = self.self_attn.attend(&self.self_attn.query(&h)?, &k, &v, mask)?;
        *cache = Some((k, v));
        let x = (x + attn)?;
        let h = x.apply(&self.encoder_attn_layer_norm)?;
        let q = self.encoder_attn.query(&h)?;
        let x = (&x + self.encoder_attn.attend_shared(&q, &cross.0, &cross.1)?)?;
        &x + x.apply(&self.final_layer_norm)?.apply(&self.ffn)?
    }
}

/// The cross-attention keys and values of one encoder output, per decoder layer, each (b, h, frames, hd).
#[derive(Debug, Clone)]
pub struct CrossKv {
    layers: Vec<(Tensor, Tensor)>,
    device: candle_core::Device,
}

impl CrossKv {
    pub fn device(&self) -> &candle_core::Device {
        &self.device
    }
}

/// The self-attention keys and values of the tokens decoded so far, per decoder layer, each (b, h, t, hd).
#[derive(Debug, Clone)]
pub struct DecoderCache {
    layers: Vec<Option<(Tensor, Tensor)>>,
    len: usize,
}

impl DecoderCache {
    pub fn new(layers: usize) -> Self {
        Self { layers: vec![None; layers], len: 0 }
    }

    /// Tokens cached.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Keep the rows `rows` (u32 indices, length = the new batch), in that order: beam reordering, or
    /// copying one prompt row into every beam.
    pub fn select_rows(&mut self, rows: &Tensor) -> Result<()> {
        let Self { layers, len: _ } = self;
        for (k, v) in layers.iter_mut().flatten() {
            *k = k.index_select(rows, 0)?;
            *v = v.index_select(rows, 0)?;
        }
        Ok(())
    }
}

/// `WhisperDecoder` plus the tied output projection: tokens -> logits.
#[derive(Debug, Clone)]
pub struct Decoder {
    /// (vocab, d_model), also the output projection.
    embed_tokens: Tensor,
    /// (max_target_positions, d_model), learned.
    embed_positions: Tensor,
    layers: Vec<DecoderLayer>,
    layer_norm: LayerNorm,
    span: tracing::Span,
}

impl Decoder {
    /// `vb` at `model.decoder`.
    pub fn new(cfg: &Config, vb: VarBuilder) -> Result<Self> {
        let d = cfg.d_model;
        Ok(Self {
            embed_tokens: vb.pp("embed_tokens").get((cfg.vocab_size, d), "weight")?,
            embed_positions: vb.pp("embed_positions").get((cfg.max_target_positions, d), "weight")?,
            layers: (0..cfg.decoder_layers)
                .map(|i| DecoderLayer::new(cfg, vb.pp(format!("layers.{i}"))))
                .collect::<Result<_>>()?,
            layer_norm: layer_norm(d, vb.pp("layer_norm"))?,
            span: tracing::span!(tracing::Level::TRACE, "whisper-decoder"),
        })
    }

    pub fn vocab_size(&self) -> usize {
        self.embed_tokens.dim(0).unwrap_or(0)
    }

    /// Positions the decoder has (prompt and generated tokens together).
    pub fn max_positions(&self) -> usize {
        self.embed_positions.dim(0).unwrap_or(0)
    }

    pub fn num_layers(&self) -> usize {
        self.layers.len()
    }

    pub fn new_cache(&self) -> DecoderCache {
        DecoderCache::new(self.layers.len())
    }

    /// Cross-attention keys and values of `encoder_out` (b, frames, d), computed once per window.
    pub fn cross_kv(&self, encoder_out: &Tensor) -> Result<CrossKv> {
        let x = encoder_out.to_dtype(self.embed_tokens.dtype())?;
        let layers = self.layers.iter().map(|l| l.encoder_attn.key_value(&x)).collect::<Result<_>>()?;
        Ok(CrossKv { layers, device: x.device().clone() })
    }

    /// Logits (b, l, vocab) in f32 for `tokens` (b, l) following the `cache.len()` tokens already cached;
    /// appends them to the cache.
    pub fn forward(&self, tokens: &Tensor, cross: &CrossKv, cache: &mut DecoderCache) -> Result<Tensor> {
        let _enter = self.span.enter();
        let (b, l) = tokens.dims2()?;
        let start = cache.len;
        if start + l > self.max_positions() {
            bail!(
                "whisper decoder: {} tokens exceed max_target_positions {}",
                start + l,
                self.max_positions()
            );
        }
        let embed = self.embed_tokens.index_select(&tokens.flatten_all()?, 0)?.reshape((b, l, ()))?;
        let mut x = embed.broadcast_add(&self.embed_positions.narrow(0, start, l)?)?;
        let mask = (l > 1).then(|| causal_mask(l, start, x.dtype(), x.device())).transpose()?;
        for ((layer, kv), cross) in self.layers.iter().zip(&mut cache.layers).zip(&cross.layers) {
            x = layer.forward(&x, kv, cross, mask.as_ref())?;
        }
        cache.len += l;
        let x = x.apply(&self.layer_norm)?;
        x.broadcast_matmul(&self.embed_tokens.t()?)?.to_dtype(DType::F32)
    }
}

/// (l, start + l): row i sees the cached tokens and new tokens 0..=i.
fn causal_mask(l: usize, start: usize, dtype: DType, device: &candle_core::Device) -> Result<Tensor> {
    let t = start + l;
    let data: Vec<f32> = (0..l)
        .flat_map(|i| (0..t).map(move |j| if j <= start + i { 0.0 } else { f32::NEG_INFINITY }))
        .collect();
    Tensor::from_vec(data, (l, t), device)?.to_dtype(dtype)
}

/// Encoder and decoder of one checkpoint.
#[derive(Debug, Clone)]
pub struct Whisper {
    pub encoder: Encoder,
    pub decoder: Decoder,
    pub config: Config,
}

impl Whisper {
    /// `vb` at the checkpoint root (`model.encoder.*`, `model.decoder.*`).
    pub fn new(cfg: &Config, vb: VarBuilder) -> Result<Self> {
        cfg.check()?;
        Ok(Self {
            encoder: Encoder::new(cfg, vb.pp("model.encoder"))?,
            decoder: Decoder::new(cfg, vb.pp("model.decoder"))?,
            config: cfg.clone(),
        })
    }
}

/// Largest value of the last dim and its index, for (n,) or (1, n) f32 data.
pub(crate) fn argmax(values: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in values.iter().enumerate() {
        if v > values[best] {
            best = i;
        }
    }
    best
}

/// `log_softmax` of one row in f32 (as torch computes it: max-shifted, log of the sum of exps).
pub(crate) fn log_softmax(row: &[f32]) -> Vec<f32> {
    let max = row.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
    if max == f32::NEG_INFINITY {
        return row.to_vec();
    }
    let sum: f32 = row.iter().map(|&v| (v - max).exp()).sum();
    let log_sum = sum.ln();
    row.iter().map(|&v| v - max - log_sum).collect()
}

/// Softmax of one row.
pub(crate) fn softmax(row: &[f32]) -> Vec<f32> {
    log_softmax(row).into_iter().map(f32::exp).collect()
}

/// The last row of (b, l, vocab) logits, per batch row, as vectors.
pub(crate) fn last_logits(logits: &Tensor) -> Result<Vec<Vec<f32>>> {
    let l = logits.dim(1)?;
    logits.narrow(1, l - 1, 1)?.squeeze(1)?.to_dtype(DType::F32)?.to_vec2()
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Tensor};
    use candle_nn::{VarBuilder, VarMap};

    use super::*;

    fn tiny() -> (Whisper, Config) {
        let cfg = Config {
            vocab_size: 40,
            num_mel_bins: 8,
            d_model: 12,
            encoder_layers: 1,
            encoder_attention_heads: 3,
            encoder_ffn_dim: 16,
            decoder_layers: 2,
            decoder_attention_heads: 3,
            decoder_ffn_dim: 16,
            max_source_positions: 6,
            max_target_positions: 16,
            ..Config::whisper_small()
        };
        let varmap = VarMap::new();
        let model = Whisper::new(&cfg, VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu)).unwrap();
        for (i, var) in varmap.all_vars().iter().enumerate() {
            let t = Tensor::randn(0f32, 0.5, var.shape(), &Device::Cpu).unwrap();
            var.set(&(t + 0.01 * i as f64).unwrap()).unwrap();
        }
        (model, cfg)
    }

    fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
        a.sub(b).unwrap().abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar().unwrap()
    }

    /// Token by token through the KV cache gives the logits of one pass over the whole sequence.
    #[test]
    fn cached_steps_equal_one_full_pass() {
        let (model, _) = tiny();
        let features = Tensor::randn(0f32, 1.0, (1, 8, 12), &Device::Cpu).unwrap();
        let cross = model.decoder.cross_kv(&model.encoder.forward(&features).unwrap()).unwrap();
        let tokens: Vec<u32> = vec![3, 17, 5, 39, 0, 22];
        let mut cache = model.decoder.new_cache();
        let full = model
            .decoder
            .forward(
                &Tensor::new(tokens.as_slice(), &Device::Cpu).unwrap().unsqueeze(0).unwrap(),
                &cross,
                &mut cache,
            )
            .unwrap();
        let mut cache = model.decoder.new_cache();
        let prefix = Tensor::new(&tokens[..2], &Device::Cpu).unwrap().unsqueeze(0).unwrap();
        let mut steps = vec![model.decoder.forward(&prefix, &cross, &mut cache).unwrap()];
        for &t in &tokens[2..] {
            steps.push(
                model
                    .decoder
                    .forward(&Tensor::new(&[[t]], &Device::Cpu).unwrap(), &cross, &mut cache)
                    .unwrap(),
            );
        }
        let stepped = Tensor::cat(&steps, 1).unwrap();
        assert_eq!(cache.len(), tokens.len());
        assert!(max_diff(&full, &stepped) < 1e-4, "{}", max_diff(&full, &stepped));
    }

    /// Rows of a batch sharing one encoder output: the folded cross-attention equals attending per row, and
    /// reordering the cache moves each row's history with it.
    #[test]
    fn shared_cross_attention_and_row_selection() {
        let (model, _) = tiny();
        let features = Tensor::randn(0f32, 1.0, (1, 8, 12), &Device::Cpu).unwrap();
        let cross = model.decoder.cross_kv(&model.encoder.forward(&features).unwrap()).unwrap();
        let rows = [[4u32, 9], [4, 30], [11, 2]];
        let mut batch_cache = model.decoder.new_cache();
        let batch = model
            .decoder
            .forward(&Tensor::new(&rows, &Device::Cpu).unwrap(), &cross, &mut batch_cache)
            .unwrap();
        let mut singles = Vec::new();
        for row in rows {
            let mut cache = model.decoder.new_cache();
            singles.push(
                model
                    .decoder
                    .forward(&Tensor::new(&[row], &Device::Cpu).unwrap(), &cross, &mut cache)
                    .unwrap(),
            );
        }
        assert!(max_diff(&batch, &Tensor::cat(&singles, 0).unwrap()) < 1e-5);
        // Reorder to rows (2, 0, 0), then step each: equal to stepping those rows' own histories.
        batch_cache.select_rows(&Tensor::new(&[2u32, 0, 0], &Device::Cpu).unwrap()).unwrap();
        let next = model
            .decoder
            .forward(&Tensor::new(&[[7u32], [8], [9]], &Device::Cpu).unwrap(), &cross, &mut batch_cache)
            .unwrap();
        for (i, (history, token)) in [(rows[2], 7u32), (rows[0], 8), (rows[0], 9)].into_iter().enumerate() {
            let mut cache = model.decoder.new_cache();
            let seq = [history[0], history[1], token];
            let one = model
                .decoder
                .forward(&Tensor::new(&[seq], &Device::Cpu).unwrap(), &cross, &mut cache)
                .unwrap();
            let want = one.narrow(1, 2, 1).unwrap();
            assert!(max_diff(&next.narrow(0, i, 1).unwrap(), &want) < 1e-4, "row {i}");
        }
    }

    #[test]
    fn too_many_frames_or_positions_are_errors() {
        let (model, _) = tiny();
        let features = Tensor::zeros((1, 8, 14), DType::F32, &Device::Cpu).unwrap();
        assert!(model.encoder.forward(&features).unwrap_err().to_string().contains("14 mel frames"));
        let cross = model
            .decoder
            .cross_kv(&model.encoder.forward(&features.narrow(2, 0, 12).unwrap()).unwrap())
            .unwrap();
        let mut cache = model.decoder.new_cache();
        let tokens = Tensor::zeros((1, 17), DType::U32, &Device::Cpu).unwrap();
        assert!(
            model
                .decoder
                .forward(&tokens, &cross, &mut cache)
                .unwrap_err()
                .to_string()
                .contains("max_target_positions")
        );
    }
}
