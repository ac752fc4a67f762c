//! The length regulator (`modules/length_regulator.py::InterpolateRegulator`, continuous content; spec §5.7):
//! project the content features, stretch them to the mel frame count by nearest-neighbour interpolation, then
//! conv / GroupNorm(1) / Mish blocks and a 1×1 conv.

use candle_core::{Result, Tensor, bail};
use candle_nn::{Conv1dConfig, GroupNorm, Linear, Module, VarBuilder};

use super::config::LengthRegulatorConfig;

const GROUP_NORM_EPS: f64 = 1e-5;

#[derive(Debug, Clone)]
pub struct LengthRegulator {
    content_in_proj: Linear,
    /// `model.{3i}` conv k3 p1 and `model.{3i+1}` GroupNorm (Mish at `3i+2` has no weights).
    blocks: Vec<(candle_nn::Conv1d, GroupNorm)>,
    /// `model.{3n}`.
    out: candle_nn::Conv1d,
}

/// Source index of each output frame for `F.interpolate(mode="nearest")` from `n_in` to `n_out` frames:
/// `min(⌊i · (n_in / n_out as f32)⌋, n_in - 1)`, the identity for equal lengths.
pub fn nearest_indices(n_in: usize, n_out: usize) -> Vec<u32> {
    if n_in == n_out {
        return (0..n_out as u32).collect();
    }
    let scale = n_in as f32 / n_out as f32;
    (0..n_out).map(|i| ((i as f32 * scale).floor() as usize).min(n_in - 1) as u32).collect()
}

/// `x · tanh(softplus(x))` (softplus is linear above 20, as torch's).
fn mish(x: &Tensor) -> Result<Tensor> {
    let soft = x.exp()?.affine(1.0, 1.0)?.log()?;
    let linear = x.ge(20.0)?;
    let soft = linear.where_cond(x, &soft)?;
    x.mul(&soft.tanh()?)
}

impl LengthRegulator {
    /// `vb` at the `length_regulator` state dict.
    pub fn new(cfg: &LengthRegulatorConfig, vb: VarBuilder) -> Result<Self> {
        let c = cfg.channels;
        let same = Conv1dConfig { padding: 1, ..Default::default() };
        let blocks = (0..cfg.blocks)
            .map(|i| {
                let conv = candle_nn::conv1d(c, c, 3, same, vb.pp(format!("model.{}", 3 * i)))?;
                let norm =
                    candle_nn::group_norm(1, c, GROUP_NORM_EPS, vb.pp(format!("model.{}", 3 * i + 1)))?;
                Ok((conv, norm))
            })
            .collect::<Result<Vec<_>>>()?;
        let out = candle_nn::conv1d(c, c, 1, Default::default(), vb.pp(format!("model.{}", 3 * cfg.blocks)))?;
        let content_in_proj = candle_nn::linear(cfg.in_channels, c, vb.pp("content_in_proj"))?;
        Ok(Self { content_in_proj, blocks, out })
    }

    /// Content `(1, T_in, in_channels)` → `(1, frames, channels)`.
    pub fn forward(&self, content: &Tensor, frames: usize) -> Result<Tensor> {
        let (b, t_in, _) = content.dims3()?;
        if t_in == 0 || frames == 0 {
            bail!("length regulator: {t_in} content frames to stretch to {frames}");
        }
        // (b, t_in, c) -> (b, c, t_in) -> (b, c, frames)
        let x = self.content_in_proj.forward(content)?.transpose(1, 2)?.contiguous()?;
        let idx = nearest_indices(t_in, frames);
        let idx = Tensor::from_vec(idx, frames, x.device())?;
        let mut x = x.index_select(&idx, 2)?;
        for (conv, norm) in &self.blocks {
            x = mish(&norm.forward(&conv.forward(&x)?)?)?;
        }
        // (b, c, frames) -> (b, frames, c); the all-ones length mask changes nothing for one utterance.
        let y = self.out.forward(&x)?.transpose(1, 2)?.contiguous()?;
        debug_assert_eq!(y.dim(0)?, b);
        Ok(y)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_matches_torch_interpolate() {
        // torch.nn.functional.interpolate(torch.arange(5.)[None, None], size=n, mode="nearest")
        assert_eq!(nearest_indices(5, 5), vec![0, 1, 2, 3, 4]);
        assert_eq!(nearest_indices(5, 10), vec![0, 0, 1, 1, 2, 2, 3, 3, 4, 4]);
        assert_eq!(nearest_indices(5, 8), vec![0, 0, 1, 1, 2, 3, 3, 4]);
        assert_eq!(nearest_indices(5, 3), vec![0, 1, 3]);
    }
}
