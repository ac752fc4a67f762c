//! CAM++ speaker embedding (`modules/campplus/DTDNN.py::CAMPPlus`, 3D-Speaker; spec §5.5): a 2-D conv front end
//! over the 80 fbank bins, a strided TDNN, three densely connected context-aware TDNN blocks, statistics pooling
//! and a linear projection to the embedding. BatchNorm is folded to a per-channel affine (eval mode).
//!
//! Every size is read from the weights (`funasr/campplus/campplus_cn_common.bin` has 32 FCM channels, blocks of
//! 12/24/16 layers, growth 32, 192 outputs); the block dilations (1, 2, 2) and kernel 3 are fixed upstream.

use candle_core::{D, DType, Device, Result, Tensor, bail};
use candle_nn::VarBuilder;

use crate::pth::{StateDict, TrackedTensors};

/// The stored file's name in `funasr/campplus`.
pub const CHECKPOINT_FILE: &str = "campplus_cn_common.bin";
const BN_EPS: f64 = 1e-5;
const BLOCK_DILATIONS: [usize; 3] = [1, 2, 2];
/// `CAMLayer.seg_pooling(seg_len=100)`.
const SEGMENT: usize = 100;

/// Sizes, read from the checkpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `feat_dim`
    pub feat_dim: usize,
    /// `FCM.m_channels`
    pub m_channels: usize,
    /// `FCM.num_blocks`: BasicResBlocks in `layer1`, `layer2`.
    pub fcm_blocks: [usize; 2],
    /// `init_channels`
    pub init_channels: usize,
    /// `growth_rate`
    pub growth_rate: usize,
    /// `bn_size * growth_rate`
    pub bn_channels: usize,
    /// Layers of each `CAMDenseTDNNBlock` (`(12, 24, 16)` upstream).
    pub block_layers: Vec<usize>,
    /// `embedding_size`
    pub embedding_size: usize,
}

fn count(sd: &StateDict, pattern: impl Fn(usize) -> String) -> usize {
    (0..).take_while(|&i| sd.contains_key(&pattern(i))).count()
}

fn dim0(sd: &StateDict, key: &str) -> Result<usize> {
    sd.get(key)
        .map(|t| t.dims()[0])
        .ok_or_else(|| candle_core::Error::Msg(format!("CAMPPlus: missing `{key}`")))
}

impl Config {
    pub fn from_state_dict(sd: &StateDict) -> Result<Self> {
        let fcm_blocks = [
            count(sd, |i| format!("head.layer1.{i}.conv1.weight")),
            count(sd, |i| format!("head.layer2.{i}.conv1.weight")),
        ];
        let block_layers: Vec<usize> = (1..)
            .map(|b| count(sd, |l| format!("xvector.block{b}.tdnnd{}.linear1.weight", l + 1)))
            .take_while(|&n| n > 0)
            .collect();
        if block_layers.is_empty() || block_layers.len() > BLOCK_DILATIONS.len() || fcm_blocks.contains(&0) {
            bail!(
                "CAMPPlus: the checkpoint does not have the CAM++ layout (head.layer1/2, xvector.block1..3)"
            );
        }
        let m_channels = dim0(sd, "head.conv1.weight")?;
        let tdnn_in = sd.get("xvector.tdnn.linear.weight").map(|t| t.dims()[1]).unwrap_or(0);
        if !tdnn_in.is_multiple_of(m_channels) {
            bail!("CAMPPlus: TDNN input {tdnn_in} is not a multiple of the {m_channels} FCM channels");
        }
        Ok(Self {
            feat_dim: 8 * tdnn_in / m_channels,
            m_channels,
            fcm_blocks,
            init_channels: dim0(sd, "xvector.tdnn.linear.weight")?,
            growth_rate: dim0(sd, "xvector.block1.tdnnd1.cam_layer.linear_local.weight")?,
            bn_channels: dim0(sd, "xvector.block1.tdnnd1.linear1.weight")?,
            block_layers,
            embedding_size: dim0(sd, "dense.linear.weight")?,
        })
    }
}

/// Eval-mode BatchNorm as `x · scale + shift` over dim 1.
#[derive(Debug, Clone)]
struct BatchNorm {
    scale: Tensor,
    shift: Tensor,
}

impl BatchNorm {
    fn new(channels: usize, affine: bool, vb: VarBuilder) -> Result<Self> {
        let mean = vb.get(channels, "running_mean")?;
        let var = vb.get(channels, "running_var")?;
        let mut scale = (var + BN_EPS)?.sqrt()?.recip()?;
        let mut shift = mean.neg()?.mul(&scale)?;
        if affine {
            let w = vb.get(channels, "weight")?;
            let b = vb.get(channels, "bias")?;
            scale = scale.mul(&w)?;
            shift = shift.mul(&w)?.add(&b)?;
        }
        Ok(Self { scale, shift })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut shape = vec![1; x.rank()];
        shape[1] = self.scale.dim(0)?;
        x.broadcast_mul(&self.scale.reshape(shape.clone())?)?.broadcast_add(&self.shift.reshape(shape)?)
    }
}

/// Conv2d 3×3 (padding 1) or 1×1, stride `(stride, 1)`, no bias. Candle's conv2d has one stride for both
/// axes, so a frequency stride of 2 runs at stride 1 and keeps every other row.
#[derive(Debug, Clone)]
struct Conv2d {
    weight: Tensor,
    freq_stride: usize,
}

impl Conv2d {
    fn new(c_in: usize, c_out: usize, kernel: usize, freq_stride: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Self { weight: vb.get((c_out, c_in, kernel, kernel), "weight")?, freq_stride })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let k = self.weight.dim(2)?;
        let x = if k == 1 && self.freq_stride > 1 { subsample_rows(x, self.freq_stride)? } else { x.clone() };
        let y = x.conv2d(&self.weight, k / 2, 1, 1, 1)?;
        if k > 1 && self.freq_stride > 1 { subsample_rows(&y, self.freq_stride) } else { Ok(y) }
    }
}

/// Rows `0, s, 2s, ...` of dim 2.
fn subsample_rows(x: &Tensor, s: usize) -> Result<Tensor> {
    let rows = x.dim(2)?;
    let idx: Vec<u32> = (0..rows).step_by(s).map(|r| r as u32).collect();
    let n = idx.len();
    x.index_select(&Tensor::from_vec(idx, n, x.device())?, 2)
}

/// `BasicResBlock`.
#[derive(Debug, Clone)]
struct ResBlock {
    conv1: Conv2d,
    bn1: BatchNorm,
    conv2: Conv2d,
    bn2: BatchNorm,
    shortcut: Option<(Conv2d, BatchNorm)>,
}

impl ResBlock {
    fn new(c_in: usize, c_out: usize, stride: usize, vb: VarBuilder) -> Result<Self> {
        let shortcut = if stride != 1 || c_in != c_out {
            Some((
                Conv2d::new(c_in, c_out, 1, stride, vb.pp("shortcut.0"))?,
                BatchNorm::new(c_out, true, vb.pp("shortcut.1"))?,
            ))
        } else {
            None
        };
        Ok(Self {
            conv1: Conv2d::new(c_in, c_out, 3, stride, vb.pp("conv1"))?,
            bn1: BatchNorm::new(c_out, true, vb.pp("bn1"))?,
            conv2: Conv2d::new(c_out, c_out, 3, 1, vb.pp("conv2"))?,
            bn2: BatchNorm::new(c_out, true, vb.pp("bn2"))?,
            shortcut,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let out = self.bn1.forward(&self.conv1.forward(x)?)?.relu()?;
        let out = self.bn2.forward(&self.conv2.forward(&out)?)?;
        let skip = match &self.shortcut {
            Some((conv, bn)) => bn.forward(&conv.forward(x)?)?,
            None => x.clone(),
        };
        (out + skip)?.relu()
    }
}

/// `Conv1d` with optional bias.
#[derive(Debug, Clone)]
struct Conv1d {
    weight: Tensor,
    bias: Option<Tensor>,
    stride: usize,
    padding: usize,
    dilation: usize,
}

impl Conv1d {
    #[allow(clippy::too_many_arguments)]
    fn new(
        c_in: usize,
        c_out: usize,
        kernel: usize,
        stride: usize,
        padding: usize,
        dilation: usize,
        bias: bool,
        vb: VarBuilder,
    ) -> Result<Self> {
        let weight = vb.get((c_out, c_in, kernel), "weight")?;
        let bias = if bias { Some(vb.get(c_out, "bias")?.reshape((1, c_out, 1))?) } else { None };
        Ok(Self { weight, bias, stride, padding, dilation })
    }

    fn pointwise(c_in: usize, c_out: usize, bias: bool, vb: VarBuilder) -> Result<Self> {
        Self::new(c_in, c_out, 1, 1, 0, 1, bias, vb)
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let y = x.conv1d(&self.weight, self.padding, self.stride, self.dilation, 1)?;
        match &self.bias {
            Some(b) => y.broadcast_add(b),
            None => Ok(y),
        }
    }
}

/// `CAMDenseTDNNLayer`: BN-ReLU, 1×1 bottleneck, BN-ReLU, then the context-aware mask layer.
#[derive(Debug, Clone)]
struct DenseTdnnLayer {
    nonlinear1: BatchNorm,
    linear1: Conv1d,
    nonlinear2: BatchNorm,
    linear_local: Conv1d,
    cam_linear1: Conv1d,
    cam_linear2: Conv1d,
}

impl DenseTdnnLayer {
    fn new(c_in: usize, cfg: &Config, dilation: usize, vb: VarBuilder) -> Result<Self> {
        let bn = cfg.bn_channels;
        let cam = vb.pp("cam_layer");
        Ok(Self {
            nonlinear1: BatchNorm::new(c_in, true, vb.pp("nonlinear1.batchnorm"))?,
            linear1: Conv1d::pointwise(c_in, bn, false, vb.pp("linear1"))?,
            nonlinear2: BatchNorm::new(bn, true, vb.pp("nonlinear2.batchnorm"))?,
            linear_local: Conv1d::new(
                bn,
                cfg.growth_rate,
                3,
                1,
                dilation,
                dilation,
                false,
                cam.pp("linear_local"),
            )?,
            cam_linear1: Conv1d::pointwise(bn, bn / 2, true, cam.pp("linear1"))?,
            cam_linear2: Conv1d::pointwise(bn / 2, cfg.growth_rate, true, cam.pp("linear2"))?,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let x = self.linear1.forward(&self.nonlinear1.forward(x)?.relu()?)?;
        let x = self.nonlinear2.forward(&x)?.relu()?;
        let y = self.linear_local.forward(&x)?;
        let context = x.mean_keepdim(2)?.broadcast_add(&segment_means(&x)?)?;
        let context = self.cam_linear1.forward(&context)?.relu()?;
        let mask = candle_nn::ops::sigmoid(&self.cam_linear2.forward(&context)?)?;
        y.broadcast_mul(&mask)
    }
}

/// `seg_pooling`: the mean of each 100-frame segment (the last, partial one over its own length), repeated
/// back over its frames: `(B, C, T)` → `(B, C, T)`.
fn segment_means(x: &Tensor) -> Result<Tensor> {
    let t = x.dim(2)?;
    let mut pieces = Vec::new();
    let mut start = 0;
    while start < t {
        let len = SEGMENT.min(t - start);
        let mean = x.narrow(2, start, len)?.mean_keepdim(2)?;
        pieces.push(mean.repeat((1, 1, len))?);
        start += len;
    }
    Tensor::cat(&pieces, 2)
}

/// `TransitLayer`: BN-ReLU, 1×1 conv halving the channels.
#[derive(Debug, Clone)]
struct Transit {
    nonlinear: BatchNorm,
    linear: Conv1d,
}

#[derive(Debug, Clone)]
pub struct CampPlus {
    cfg: Config,
    conv1: Conv2d,
    bn1: BatchNorm,
    layer1: Vec<ResBlock>,
    layer2: Vec<ResBlock>,
    conv2: Conv2d,
    bn2: BatchNorm,
    tdnn: Conv1d,
    tdnn_bn: BatchNorm,
    blocks: Vec<(Vec<DenseTdnnLayer>, Transit)>,
    out_bn: BatchNorm,
    dense: Conv1d,
    dense_bn: BatchNorm,
}

impl CampPlus {
    /// `vb` at the module root, with the stored `xvector.dense.*` keys already renamed to `dense.*`.
    pub fn new(cfg: &Config, vb: VarBuilder) -> Result<Self> {
        let m = cfg.m_channels;
        let head = vb.pp("head");
        let layer = |name: &str, n: usize| -> Result<Vec<ResBlock>> {
            (0..n)
                .map(|i| ResBlock::new(m, m, if i == 0 { 2 } else { 1 }, head.pp(format!("{name}.{i}"))))
                .collect()
        };
        let x = vb.pp("xvector");
        let head_out = m * (cfg.feat_dim / 8);
        let mut channels = cfg.init_channels;
        let mut blocks = Vec::new();
        for (b, &n) in cfg.block_layers.iter().enumerate() {
            let block = x.pp(format!("block{}", b + 1));
            let layers = (0..n)
                .map(|l| {
                    DenseTdnnLayer::new(
                        channels + l * cfg.growth_rate,
                        cfg,
                        BLOCK_DILATIONS[b],
                        block.pp(format!("tdnnd{}", l + 1)),
                    )
                })
                .collect::<Result<Vec<_>>>()?;
            channels += n * cfg.growth_rate;
            let transit = x.pp(format!("transit{}", b + 1));
            blocks.push((
                layers,
                Transit {
                    nonlinear: BatchNorm::new(channels, true, transit.pp("nonlinear.batchnorm"))?,
                    linear: Conv1d::pointwise(channels, channels / 2, false, transit.pp("linear"))?,
                },
            ));
            channels /= 2;
        }
        Ok(Self {
            cfg: cfg.clone(),
            conv1: Conv2d::new(1, m, 3, 1, head.pp("conv1"))?,
            bn1: BatchNorm::new(m, true, head.pp("bn1"))?,
            layer1: layer("layer1", cfg.fcm_blocks[0])?,
            layer2: layer("layer2", cfg.fcm_blocks[1])?,
            conv2: Conv2d::new(m, m, 3, 2, head.pp("conv2"))?,
            bn2: BatchNorm::new(m, true, head.pp("bn2"))?,
            tdnn: Conv1d::new(head_out, cfg.init_channels, 5, 2, 2, 1, false, x.pp("tdnn.linear"))?,
            tdnn_bn: BatchNorm::new(cfg.init_channels, true, x.pp("tdnn.nonlinear.batchnorm"))?,
            blocks,
            out_bn: BatchNorm::new(channels, true, x.pp("out_nonlinear.batchnorm"))?,
            dense: Conv1d::pointwise(2 * channels, cfg.embedding_size, false, vb.pp("dense.linear"))?,
            dense_bn: BatchNorm::new(cfg.embedding_size, false, vb.pp("dense.nonlinear.batchnorm"))?,
        })
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Features `(B, T, feat_dim)` → embedding `(B, embedding_size)`.
    pub fn forward(&self, feats: &Tensor) -> Result<Tensor> {
        let (b, t, f) = feats.dims3()?;
        if f != self.cfg.feat_dim {
            bail!("CAMPPlus: {f} feature bins, the model takes {}", self.cfg.feat_dim);
        }
        // (b, t, f) -> (b, 1, f, t)
        let x = feats.transpose(1, 2)?.unsqueeze(1)?.contiguous()?;
        let mut x = self.bn1.forward(&self.conv1.forward(&x)?)?.relu()?;
        for block in self.layer1.iter().chain(&self.layer2) {
            x = block.forward(&x)?;
        }
        let x = self.bn2.forward(&self.conv2.forward(&x)?)?.relu()?;
        let (_, c, f2, t2) = x.dims4()?;
        // (b, c, f', t) -> (b, c·f', t)
        let mut x = x.reshape((b, c * f2, t2))?;
        debug_assert_eq!(t2, t);
        x = self.tdnn_bn.forward(&self.tdnn.forward(&x)?)?.relu()?;
        for (layers, transit) in &self.blocks {
            for layer in layers {
                let y = layer.forward(&x)?;
                x = Tensor::cat(&[&x, &y], 1)?;
            }
            x = transit.linear.forward(&transit.nonlinear.forward(&x)?.relu()?)?;
        }
        let x = self.out_bn.forward(&x)?.relu()?;
        let frames = x.dim(2)?;
        if frames < 2 {
            bail!(
                "CAMPPlus: the reference is too short for a speaker embedding ({frames} frame after the TDNN)"
            );
        }
        // Statistics pooling: mean and unbiased std over time -> (b, 2c, 1).
        let mean = x.mean_keepdim(D::Minus1)?;
        let var =
            x.broadcast_sub(&mean)?.sqr()?.sum_keepdim(D::Minus1)?.affine(1.0 / (frames - 1) as f64, 0.0)?;
        let stats = Tensor::cat(&[&mean, &var.sqrt()?], 1)?;
        let y = self.dense_bn.forward(&self.dense.forward(&stats)?)?;
        y.squeeze(2)
    }
}

/// Load from `campplus_cn_common.bin` (a state dict; keys `xvector.stats*` / `xvector.dense*` are renamed to
/// `stats*` / `dense*` as `CAMPPlus.load_state_dict` does). Returns the model and the stored keys it left unused.
pub fn load(sd: StateDict, source: &str, dtype: DType, device: &Device) -> Result<(CampPlus, Vec<String>)> {
    let sd: StateDict = sd
        .into_iter()
        .map(|(k, v)| {
            let k = match k.strip_prefix("xvector.") {
                Some(rest) if rest.starts_with("stats") || rest.starts_with("dense") => rest.to_string(),
                _ => k,
            };
            (k, v)
        })
        .collect();
    let cfg = Config::from_state_dict(&sd)?;
    let tracked = TrackedTensors::new(sd, source);
    let model = CampPlus::new(&cfg, tracked.var_builder(dtype, device))?;
    // `num_batches_tracked` counters are training bookkeeping.
    let unused = tracked.unused().into_iter().filter(|k| !k.ends_with("num_batches_tracked")).collect();
    Ok((model, unused))
}
