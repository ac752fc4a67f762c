//! Shared audio VAE blocks: causal 2-D convolution, pixel norm, residual block, up/down-sampling
//! (ltx-core `causal_conv_2d.py`, `common/normalization.py`, `resnet.py`, `upsample.py`, `downsample.py`).
//!
//! Causal along time (dim 2): a `k x k` conv sees `k - 1` past rows (zeros before the start) and no future.
//! The `step` methods keep those rows between calls, so feeding time in pieces equals one whole pass.

use candle_core::{DType, Module, Result, Tensor, bail};
use candle_nn::{Conv2d, Conv2dConfig, VarBuilder};

/// `conv.forward(x)`. candle 0.11 has no bf16 conv2d on the CPU (its im2col matmul rejects BF16); there the
/// convolution widens to f32 and rounds its output to bf16, which is what a bf16 convolution accumulating
/// in f32 (cuDNN, PyTorch's CPU kernels) computes.
fn conv2d(conv: &Conv2d, x: &Tensor) -> Result<Tensor> {
    if x.dtype() != DType::BF16 || !x.device().is_cpu() {
        return conv.forward(x);
    }
    let bias = conv.bias().map(|b| b.to_dtype(DType::F32)).transpose()?;
    let wide = Conv2d::new(conv.weight().to_dtype(DType::F32)?, bias, *conv.config());
    wide.forward(&x.to_dtype(DType::F32)?)?.to_dtype(DType::BF16)
}

/// `PixelNorm(dim=1, eps=1e-6)`: `x / sqrt(mean_c(x²) + eps)`, no parameters.
pub fn pixel_norm(x: &Tensor) -> Result<Tensor> {
    // In f32, rounded once: candle's reductions sum in the input dtype.
    let dtype = x.dtype();
    let x = x.to_dtype(DType::F32)?;
    let rms = (x.sqr()?.mean_keepdim(1)? + 1e-6)?.sqrt()?;
    x.broadcast_div(&rms)?.to_dtype(dtype)
}

fn pad_freq(x: &Tensor, left: usize, right: usize) -> Result<Tensor> {
    if left == 0 && right == 0 { Ok(x.clone()) } else { x.pad_with_zeros(3, left, right) }
}

/// `CausalConv2d(causality_axis="height")`: zero pad `(k_f - 1)` split over frequency, `k_t - 1` rows on top.
///
/// On the CPU in f32 the convolution runs as one matmul per time tap: the tap's weight as
/// `(C_out, k_f · C_in)` against the `k_f` frequency-shifted views of the padded input stacked along
/// channels (im2col for one tap, a third of full im2col). Elsewhere candle's conv2d runs.
#[derive(Debug, Clone)]
pub struct CausalConv2d {
    conv: Conv2d,
    time_pad: usize,
    freq_left: usize,
    freq_right: usize,
    /// The last `time_pad` input rows seen by `step`.
    prev: Option<Tensor>,
}

impl CausalConv2d {
    /// `vb` at the wrapper (`…conv_in`); the weights live under `.conv`.
    pub fn new(in_channels: usize, out_channels: usize, kernel: usize, vb: VarBuilder) -> Result<Self> {
        let conv =
            candle_nn::conv2d(in_channels, out_channels, kernel, Conv2dConfig::default(), vb.pp("conv"))?;
        let pad = kernel - 1;
        Ok(Self { conv, time_pad: pad, freq_left: pad / 2, freq_right: pad - pad / 2, prev: None })
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let x = pad_freq(x, self.freq_left, self.freq_right)?;
        let x = if self.time_pad > 0 { x.pad_with_zeros(2, self.time_pad, 0)? } else { x };
        self.conv_padded(&x)
    }

    /// The valid convolution of an input already padded on both axes.
    /// On the CPU, one matmul per time tap instead of candle's im2col (which copies the input k² times), and
    /// bf16 widened to f32: candle 0.11 has no CPU bf16 conv2d matmul, and a bf16 convolution accumulating in
    /// f32 (cuDNN, PyTorch's CPU kernels) rounds only its output.
    fn conv_padded(&self, x: &Tensor) -> Result<Tensor> {
        if !x.device().is_cpu() || !matches!(x.dtype(), DType::F32 | DType::BF16) {
            return self.conv.forward(x);
        }
        let dtype = x.dtype();
        let x = &x.to_dtype(DType::F32)?;
        let weight = &self.conv.weight().to_dtype(DType::F32)?;
        let (b, c_in, rows, cols) = x.dims4()?;
        let (c_out, _, k, _) = weight.dims4()?;
        let (t_out, f_out) = (rows + 1 - k, cols + 1 - k);
        // (b, k_f · c_in, rows, f_out): the frequency shifts stacked along channels.
        let shifted = if k == 1 {
            x.clone()
        } else {
            let views = (0..k).map(|df| x.narrow(3, df, f_out)).collect::<Result<Vec<_>>>()?;
            Tensor::cat(&views, 1)?
        };
        let mut y: Option<Tensor> = None;
        for dt in 0..k {
            // (c_out, c_in, k_t, k_f) -> (c_out, k_f, c_in) at tap dt -> (c_out, k_f · c_in)
            let tap = weight.narrow(2, dt, 1)?.squeeze(2)?.permute((0, 2, 1))?.contiguous()?;
            let tap = tap.reshape((c_out, k * c_in))?;
            // (b, k_f · c_in, t_out · f_out), contiguous rows dt .. dt + t_out
            let col = shifted.narrow(2, dt, t_out)?.contiguous()?.reshape((b, k * c_in, t_out * f_out))?;
            let part = tap.broadcast_matmul(&col)?;
            y = Some(match y {
                Some(acc) => (acc + part)?,
                None => part,
            });
        }
        let y = y.ok_or_else(|| candle_core::Error::Msg("causal conv: no taps".into()))?;
        let y = y.reshape((b, c_out, t_out, f_out))?;
        let y = match self.conv.bias() {
            Some(bias) => y.broadcast_add(&bias.to_dtype(DType::F32)?.reshape((1, c_out, 1, 1))?)?,
            None => y,
        };
        y.to_dtype(dtype)
    }

    /// Continue along time from the previous call (the first call sees zeros before it).
    pub fn step(&mut self, x: &Tensor) -> Result<Tensor> {
        if self.time_pad == 0 {
            return self.forward(x);
        }
        let x = pad_freq(x, self.freq_left, self.freq_right)?;
        let prev = match &self.prev {
            Some(prev) => prev.clone(),
            None => x.narrow(2, 0, 1)?.zeros_like()?.repeat((1, 1, self.time_pad, 1))?,
        };
        let joined = Tensor::cat(&[&prev, &x], 2)?;
        let rows = joined.dim(2)?;
        self.prev = Some(joined.narrow(2, rows - self.time_pad, self.time_pad)?);
        self.conv_padded(&joined)
    }

    pub fn reset_state(&mut self) {
        self.prev = None;
    }
}

/// `ResnetBlock` with pixel norm, no time embedding: `x' + conv2(silu(norm(conv1(silu(norm(x))))))`,
/// `x' = nin_shortcut(x)` (causal 1x1) when the width changes.
#[derive(Debug, Clone)]
pub struct ResnetBlock {
    conv1: CausalConv2d,
    conv2: CausalConv2d,
    nin_shortcut: Option<CausalConv2d>,
}

impl ResnetBlock {
    pub fn new(in_channels: usize, out_channels: usize, vb: VarBuilder) -> Result<Self> {
        let conv1 = CausalConv2d::new(in_channels, out_channels, 3, vb.pp("conv1"))?;
        let conv2 = CausalConv2d::new(out_channels, out_channels, 3, vb.pp("conv2"))?;
        let nin_shortcut = if in_channels != out_channels {
            Some(CausalConv2d::new(in_channels, out_channels, 1, vb.pp("nin_shortcut"))?)
        } else {
            None
        };
        Ok(Self { conv1, conv2, nin_shortcut })
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let h = self.conv1.forward(&pixel_norm(x)?.silu()?)?;
        let h = self.conv2.forward(&pixel_norm(&h)?.silu()?)?;
        let x = match &self.nin_shortcut {
            Some(nin) => nin.forward(x)?,
            None => x.clone(),
        };
        x + h
    }

    pub fn step(&mut self, x: &Tensor) -> Result<Tensor> {
        let h = self.conv1.step(&pixel_norm(x)?.silu()?)?;
        let h = self.conv2.step(&pixel_norm(&h)?.silu()?)?;
        let x = match &mut self.nin_shortcut {
            Some(nin) => nin.step(x)?,
            None => x.clone(),
        };
        x + h
    }

    pub fn reset_state(&mut self) {
        self.conv1.reset_state();
        self.conv2.reset_state();
        if let Some(nin) = &mut self.nin_shortcut {
            nin.reset_state();
        }
    }
}

/// Decoder `Upsample`: nearest x2 on time and frequency, causal 3x3 conv, then drop the first time row
/// (T -> 2T - 1: the first two rows only saw input row 0, see upstream's comment).
#[derive(Debug, Clone)]
pub struct Upsample {
    conv: CausalConv2d,
    started: bool,
}

impl Upsample {
    pub fn new(channels: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Self { conv: CausalConv2d::new(channels, channels, 3, vb.pp("conv"))?, started: false })
    }

    fn double(x: &Tensor) -> Result<Tensor> {
        let (_, _, t, f) = x.dims4()?;
        x.upsample_nearest2d(2 * t, 2 * f)
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let y = self.conv.forward(&Self::double(x)?)?;
        let rows = y.dim(2)?;
        y.narrow(2, 1, rows - 1)
    }

    pub fn step(&mut self, x: &Tensor) -> Result<Tensor> {
        let y = self.conv.step(&Self::double(x)?)?;
        if self.started {
            return Ok(y);
        }
        self.started = true;
        let rows = y.dim(2)?;
        y.narrow(2, 1, rows - 1)
    }

    pub fn reset_state(&mut self) {
        self.conv.reset_state();
        self.started = false;
    }
}

/// Encoder `Downsample`: zero pad (freq 0/1, time 2/0), plain 3x3 conv with stride 2 (key `…downsample.conv`).
/// `T -> (T - 1) / 2 + 1`, `F -> (F - 2) / 2 + 1`.
#[derive(Debug, Clone)]
pub struct Downsample {
    conv: Conv2d,
}

impl Downsample {
    pub fn new(channels: usize, vb: VarBuilder) -> Result<Self> {
        let cfg = Conv2dConfig { stride: 2, ..Default::default() };
        Ok(Self { conv: candle_nn::conv2d(channels, channels, 3, cfg, vb.pp("conv"))? })
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (_, _, t, f) = x.dims4()?;
        if t == 0 || f < 2 {
            bail!("downsample: input of {t} frames x {f} bins is too small");
        }
        let x = x.pad_with_zeros(3, 0, 1)?.pad_with_zeros(2, 2, 0)?;
        conv2d(&self.conv, &x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};
    use candle_nn::VarMap;

    fn random_vb(map: &VarMap) -> VarBuilder<'_> {
        VarBuilder::from_varmap(map, DType::F32, &Device::Cpu)
    }

    fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
        a.sub(b).unwrap().abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar().unwrap()
    }

    #[test]
    fn pixel_norm_normalises_channels() {
        let x = Tensor::new(&[3f32, 4.0], &Device::Cpu).unwrap().reshape((1, 2, 1, 1)).unwrap();
        let y = pixel_norm(&x).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let rms = (12.5f32 + 1e-6).sqrt();
        assert!((y[0] - 3.0 / rms).abs() < 1e-7 && (y[1] - 4.0 / rms).abs() < 1e-7);
    }

    #[test]
    fn cpu_tap_matmuls_equal_candle_conv2d() {
        for (c_in, c_out, k, rows, cols) in [(3, 5, 3, 9, 7), (4, 2, 1, 3, 4), (6, 6, 3, 3, 3)] {
            let map = VarMap::new();
            let conv = CausalConv2d::new(c_in, c_out, k, random_vb(&map).pp("c")).unwrap();
            for var in map.all_vars() {
                var.set(&Tensor::randn(0f32, 1.0, var.shape(), &Device::Cpu).unwrap()).unwrap();
            }
            let x = Tensor::randn(0f32, 1.0, (2, c_in, rows, cols), &Device::Cpu).unwrap();
            let fast = conv.conv_padded(&x).unwrap();
            let plain = conv.conv.forward(&x).unwrap();
            assert_eq!(fast.dims(), plain.dims());
            let diff = max_diff(&fast, &plain);
            assert!(diff < 1e-4, "{c_in}->{c_out} k{k}: {diff}");
        }
    }

    #[test]
    fn causal_conv_sees_no_future() {
        let map = VarMap::new();
        let conv = CausalConv2d::new(2, 3, 3, random_vb(&map).pp("c")).unwrap();
        let x = Tensor::randn(0f32, 1.0, (1, 2, 6, 5), &Device::Cpu).unwrap();
        let y = conv.forward(&x).unwrap();
        assert_eq!(y.dims(), &[1, 3, 6, 5]);
        // Changing row 4 leaves rows 0..4 of the output untouched.
        let x2 = x
            .slice_assign(
                &[0..1, 0..2, 4..5, 0..5],
                &Tensor::ones((1, 2, 1, 5), DType::F32, &Device::Cpu).unwrap(),
            )
            .unwrap();
        let y2 = conv.forward(&x2).unwrap();
        assert_eq!(max_diff(&y.narrow(2, 0, 4).unwrap(), &y2.narrow(2, 0, 4).unwrap()), 0.0);
        assert!(max_diff(&y, &y2) > 0.0);
    }

    #[test]
    fn steps_equal_whole_pass() {
        let map = VarMap::new();
        let vb = random_vb(&map);
        let mut block = ResnetBlock::new(4, 6, vb.pp("res")).unwrap();
        let mut up = Upsample::new(6, vb.pp("up")).unwrap();
        let x = Tensor::randn(0f32, 1.0, (1, 4, 9, 4), &Device::Cpu).unwrap();
        let whole = up.forward(&block.forward(&x).unwrap()).unwrap();
        assert_eq!(whole.dims(), &[1, 6, 17, 8]);
        let mut pieces = Vec::new();
        for (start, len) in [(0, 1), (1, 3), (4, 2), (6, 3)] {
            let y = block.step(&x.narrow(2, start, len).unwrap()).unwrap();
            pieces.push(up.step(&y).unwrap());
        }
        let stepped = Tensor::cat(&pieces, 2).unwrap();
        assert!(max_diff(&whole, &stepped) < 1e-5);
        block.reset_state();
        up.reset_state();
        let again = up.step(&block.step(&x).unwrap()).unwrap();
        assert!(max_diff(&whole, &again) < 1e-5);
    }

    #[test]
    fn downsample_shapes() {
        let map = VarMap::new();
        let down = Downsample::new(2, random_vb(&map).pp("d")).unwrap();
        let x = Tensor::randn(0f32, 1.0, (1, 2, 26, 64), &Device::Cpu).unwrap();
        assert_eq!(down.forward(&x).unwrap().dims(), &[1, 2, 13, 32]);
        let x = Tensor::randn(0f32, 1.0, (1, 2, 13, 32), &Device::Cpu).unwrap();
        assert_eq!(down.forward(&x).unwrap().dims(), &[1, 2, 7, 16]);
    }
}
