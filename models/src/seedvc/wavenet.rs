//! The DiT's WaveNet head (`modules/wavenet.py::WN`, spec §5.8): gated dilated convolutions conditioned on the
//! timestep, with residual and skip outputs. The convolutions are encodec `SConv1d`s: weight norm (folded at
//! load) and reflect padding outside the conv.

use candle_core::{Result, Tensor};
use candle_nn::VarBuilder;

use super::config::WavenetConfig;

/// `SConv1d(c_in, c_out, k, dilation, norm="weight_norm", pad_mode="reflect")`, stride 1, non-causal: the
/// padding `(k - 1) · d` goes left-heavy (`total - total / 2` left).
#[derive(Debug, Clone)]
pub(super) struct SConv1d {
    weight: Tensor,
    bias: Tensor,
    dilation: usize,
    pad_left: usize,
    pad_right: usize,
}

impl SConv1d {
    /// `vb` at the `SConv1d` (`….conv.conv.weight` inside).
    pub(super) fn new(
        c_in: usize,
        c_out: usize,
        kernel: usize,
        dilation: usize,
        vb: VarBuilder,
    ) -> Result<Self> {
        let vb = vb.pp("conv").pp("conv");
        let weight = vb.get((c_out, c_in, kernel), "weight")?;
        // (C_out) -> (1, C_out, 1)
        let bias = vb.get(c_out, "bias")?.reshape((1, c_out, 1))?;
        let total = (kernel - 1) * dilation;
        Ok(Self { weight, bias, dilation, pad_left: total - total / 2, pad_right: total / 2 })
    }

    pub(super) fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let x = reflect_pad(x, self.pad_left, self.pad_right)?;
        x.conv1d(&self.weight, 0, 1, self.dilation, 1)?.broadcast_add(&self.bias)
    }
}

/// encodec `pad1d(mode="reflect")` on dim 2: an input no longer than the padding is first extended with
/// zeros (so reflection is defined), and those zeros are cut from the end again.
fn reflect_pad(x: &Tensor, left: usize, right: usize) -> Result<Tensor> {
    if left == 0 && right == 0 {
        return Ok(x.clone());
    }
    let n = x.dim(2)?;
    let max_pad = left.max(right);
    let extra = if n <= max_pad { max_pad - n + 1 } else { 0 };
    let x = if extra > 0 { x.pad_with_zeros(2, 0, extra)? } else { x.clone() };
    let m = n + extra;
    let idx: Vec<u32> = (-(left as isize)..(m + right) as isize)
        .map(|i| {
            let j = if i < 0 {
                -i
            } else if i >= m as isize {
                2 * (m as isize - 1) - i
            } else {
                i
            };
            j as u32
        })
        .collect();
    let len = idx.len() - extra;
    let idx = Tensor::from_vec(idx[..len].to_vec(), len, x.device())?;
    x.index_select(&idx, 2)
}

#[derive(Debug, Clone)]
pub struct WaveNet {
    hidden: usize,
    cond_layer: SConv1d,
    in_layers: Vec<SConv1d>,
    res_skip_layers: Vec<SConv1d>,
}

impl WaveNet {
    /// `vb` at `wavenet` (`gin_channels` = hidden).
    pub fn new(cfg: &WavenetConfig, vb: VarBuilder) -> Result<Self> {
        let h = cfg.hidden_dim;
        let cond_layer = SConv1d::new(h, 2 * h * cfg.num_layers, 1, 1, vb.pp("cond_layer"))?;
        let mut in_layers = Vec::new();
        let mut res_skip_layers = Vec::new();
        for i in 0..cfg.num_layers {
            let dilation = cfg.dilation_rate.pow(i as u32);
            in_layers.push(SConv1d::new(
                h,
                2 * h,
                cfg.kernel_size,
                dilation,
                vb.pp(format!("in_layers.{i}")),
            )?);
            let out = if i + 1 < cfg.num_layers { 2 * h } else { h };
            res_skip_layers.push(SConv1d::new(h, out, 1, 1, vb.pp(format!("res_skip_layers.{i}")))?);
        }
        Ok(Self { hidden: h, cond_layer, in_layers, res_skip_layers })
    }

    /// `x (B, h, T)`, conditioning `g (B, h, 1)` → `(B, h, T)` (the length mask is all ones here).
    pub fn forward(&self, x: &Tensor, g: &Tensor) -> Result<Tensor> {
        let h = self.hidden;
        let g = self.cond_layer.forward(g)?;
        let mut x = x.clone();
        let mut output: Option<Tensor> = None;
        let n = self.in_layers.len();
        for (i, (in_layer, res_skip)) in self.in_layers.iter().zip(&self.res_skip_layers).enumerate() {
            let x_in = in_layer.forward(&x)?;
            let g_l = g.narrow(1, 2 * h * i, 2 * h)?;
            // fused_add_tanh_sigmoid_multiply
            let a = x_in.broadcast_add(&g_l)?;
            let acts = (a.narrow(1, 0, h)?.tanh()? * candle_nn::ops::sigmoid(&a.narrow(1, h, h)?)?)?;
            let r = res_skip.forward(&acts)?;
            let skip = if i + 1 < n {
                x = (x + r.narrow(1, 0, h)?)?;
                r.narrow(1, h, h)?
            } else {
                r
            };
            output = Some(match output {
                Some(o) => (o + skip)?,
                None => skip,
            });
        }
        output.ok_or_else(|| candle_core::Error::Msg("WaveNet without layers".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn reflect_padding_matches_encodec_pad1d() {
        let x = Tensor::new(&[[[1f32, 2.0, 3.0, 4.0]]], &Device::Cpu).unwrap();
        let y = reflect_pad(&x, 2, 2).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(y, vec![3.0, 2.0, 1.0, 2.0, 3.0, 4.0, 3.0, 2.0]);
        // Shorter than the padding: zeros are appended first (pad1d's extra_pad), then cut again.
        let x = Tensor::new(&[[[1f32, 2.0]]], &Device::Cpu).unwrap();
        let y = reflect_pad(&x, 2, 2).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        // [1, 2, 0] reflected by 2 → [0, 2, 1, 2, 0, 2, 1], minus the one appended zero at the end.
        assert_eq!(y, vec![0.0, 2.0, 1.0, 2.0, 0.0, 2.0]);
    }
}
