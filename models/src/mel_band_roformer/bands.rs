//! The per-band input projections and mask estimators (`mel_band_roformer.py`: `BandSplit`, `MLP`,
//! `MaskEstimator`).

use candle_core::{D, Module, Result, Tensor};
use candle_nn::{Linear, VarBuilder};

use super::transformer::RmsNorm;

/// `band_split.to_features.{k}`: Sequential(RMSNorm (0), Linear (1)) per band, from `dim_inputs[k]` to `dim`.
#[derive(Debug, Clone)]
pub struct BandSplit {
    to_features: Vec<(RmsNorm, Linear)>,
    dim_inputs: Vec<usize>,
}

impl BandSplit {
    pub fn new(dim: usize, dim_inputs: &[usize], vb: VarBuilder) -> Result<Self> {
        let vb = vb.pp("to_features");
        let to_features = dim_inputs
            .iter()
            .enumerate()
            .map(|(k, &dim_in)| {
                let vb = vb.pp(k);
                Ok((RmsNorm::new(dim_in, vb.pp(0))?, candle_nn::linear(dim_in, dim, vb.pp(1))?))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { to_features, dim_inputs: dim_inputs.to_vec() })
    }

    /// `x`: (B, T, Σ dim_inputs) -> (B, T, bands, dim).
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut start = 0;
        let mut outs = Vec::with_capacity(self.to_features.len());
        for ((norm, linear), &width) in self.to_features.iter().zip(&self.dim_inputs) {
            let band = x.narrow(D::Minus1, start, width)?;
            outs.push(norm.forward(&band)?.apply(linear)?);
            start += width;
        }
        Tensor::stack(&outs, D::Minus2)
    }
}

/// `mask_estimators.{stem}.to_freqs.{k}`: Sequential(MLP (0), GLU (1)); the MLP is
/// `Linear(dim → hidden)`, then `depth − 1` × `Linear(hidden → hidden)`, then `Linear(hidden → 2 · dim_in)`,
/// with Tanh between (Sequential indices 0, 2, 4, …).
#[derive(Debug, Clone)]
pub struct MaskEstimator {
    to_freqs: Vec<Vec<Linear>>,
}

impl MaskEstimator {
    pub fn new(
        dim: usize,
        dim_inputs: &[usize],
        depth: usize,
        hidden: usize,
        vb: VarBuilder,
    ) -> Result<Self> {
        let vb = vb.pp("to_freqs");
        let to_freqs = dim_inputs
            .iter()
            .enumerate()
            .map(|(k, &dim_in)| {
                let vb = vb.pp(k).pp(0);
                let mut dims = vec![dim];
                dims.extend(std::iter::repeat_n(hidden, depth));
                dims.push(2 * dim_in);
                dims.windows(2)
                    .enumerate()
                    .map(|(i, io)| candle_nn::linear(io[0], io[1], vb.pp(2 * i)))
                    .collect::<Result<Vec<_>>>()
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { to_freqs })
    }

    /// `x`: (B, T, bands, dim) -> masks (B, T, Σ dim_inputs): `a · sigmoid(b)` of each band's halves.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        // (B, T, bands, dim) -> (bands, B, T, dim), so each band's features are one contiguous block.
        let x = x.permute((2, 0, 1, 3))?.contiguous()?;
        let mut outs = Vec::with_capacity(self.to_freqs.len());
        for (k, mlp) in self.to_freqs.iter().enumerate() {
            let mut h = x.get(k)?;
            for (i, linear) in mlp.iter().enumerate() {
                h = linear.forward(&h)?;
                if i + 1 < mlp.len() {
                    h = h.tanh()?;
                }
            }
            let half = h.dim(D::Minus1)? / 2;
            let gate = candle_nn::ops::sigmoid(&h.narrow(D::Minus1, half, half)?)?;
            outs.push(h.narrow(D::Minus1, 0, half)?.mul(&gate)?);
        }
        Tensor::cat(&outs, D::Minus1)
    }
}
