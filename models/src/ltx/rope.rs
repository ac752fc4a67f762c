//! Split ("half-rotation") RoPE with the float64 frequency grid (ltx-audio-spec §4.3, §2.5).
//!
//! Reference: `ltx_core/model/transformer/rope.py` (`generate_freq_grid_np`, `generate_freqs`,
//! `split_freqs_cis`, `apply_split_rotary_emb`). The grid is computed in f64 and cast to f32; the angles are
//! computed in f32 in the reference's order, because at ~1.6e4 rad an f64 angle changes cos/sin visibly.
//! Tables are built on the host, so the numerics do not depend on the device.

use candle_core::{DType, Device, Result, Tensor};

/// `θ^(k/(n−1)) · π/2` for `k = 0..n`, in f64 (numpy `power(θ, linspace(0, 1, n))`), cast to f32.
pub fn freq_grid(theta: f64, n: usize) -> Vec<f32> {
    let step = if n > 1 { 1.0 / (n - 1) as f64 } else { 0.0 };
    (0..n)
        .map(|k| {
            // numpy's linspace computes k·step and pins the last value to the end point.
            let exponent = if n > 1 && k == n - 1 { 1.0 } else { k as f64 * step };
            (theta.powf(exponent) * std::f64::consts::PI / 2.0) as f32
        })
        .collect()
}

/// cos/sin tables of one sequence, `(1, heads, T, head_dim / 2)`: head `h` uses frequencies
/// `h·head_dim/2 .. (h+1)·head_dim/2` of the grid.
#[derive(Debug, Clone)]
pub struct Rope {
    cos: Tensor,
    sin: Tensor,
}

impl Rope {
    /// Tables for positions given as fractions of the max position (`frac = pos / max_pos`, f32).
    pub fn from_fractions(
        fractions: &[f32],
        dim: usize,
        heads: usize,
        theta: f64,
        dtype: DType,
        device: &Device,
    ) -> Result<Self> {
        let half = dim / 2;
        if !dim.is_multiple_of(2) || heads == 0 || !half.is_multiple_of(heads) {
            candle_core::bail!("rope: width {dim} does not split into {heads} heads of even size");
        }
        let grid = freq_grid(theta, half);
        let per_head = half / heads;
        let t = fractions.len();
        let mut cos = Vec::with_capacity(heads * t * per_head);
        let mut sin = Vec::with_capacity(heads * t * per_head);
        for h in 0..heads {
            for &frac in fractions {
                // `indices * (frac * 2 - 1)`, each operation rounded to f32 as in the reference.
                let centred = frac * 2.0 - 1.0;
                for g in &grid[h * per_head..(h + 1) * per_head] {
                    let angle = g * centred;
                    cos.push(angle.cos());
                    sin.push(angle.sin());
                }
            }
        }
        let shape = (1, heads, t, per_head);
        let cos = Tensor::from_vec(cos, shape, device)?.to_dtype(dtype)?;
        let sin = Tensor::from_vec(sin, shape, device)?.to_dtype(dtype)?;
        Ok(Self { cos, sin })
    }

    /// Audio tokens: `positions` are `[start, end)` seconds; the midpoint is used when `use_middle`.
    pub fn for_intervals(
        positions: &[[f32; 2]],
        max_pos: f32,
        dim: usize,
        heads: usize,
        theta: f64,
        dtype: DType,
        device: &Device,
    ) -> Result<Self> {
        let fractions: Vec<f32> =
            positions.iter().map(|[start, end]| ((start + end) / 2.0) / max_pos).collect();
        Self::from_fractions(&fractions, dim, heads, theta, dtype, device)
    }

    /// Connector tokens: raw indices `0..len`, no midpoint.
    pub fn for_indices(
        len: usize,
        max_pos: f32,
        dim: usize,
        heads: usize,
        theta: f64,
        dtype: DType,
        device: &Device,
    ) -> Result<Self> {
        let fractions: Vec<f32> = (0..len).map(|p| p as f32 / max_pos).collect();
        Self::from_fractions(&fractions, dim, heads, theta, dtype, device)
    }

    pub fn cos(&self) -> &Tensor {
        &self.cos
    }

    pub fn sin(&self) -> &Tensor {
        &self.sin
    }

    /// Rotate `x` of shape `(B, heads, T, head_dim)`: `[x1·cos − x2·sin, x2·cos + x1·sin]` with `x1`, `x2`
    /// the two halves of each head vector.
    pub fn apply(&self, x: &Tensor) -> Result<Tensor> {
        let half = x.dim(3)? / 2;
        let x1 = x.narrow(3, 0, half)?;
        let x2 = x.narrow(3, half, half)?;
        let out1 = (x1.broadcast_mul(&self.cos)? - x2.broadcast_mul(&self.sin)?)?;
        let out2 = (x2.broadcast_mul(&self.cos)? + x1.broadcast_mul(&self.sin)?)?;
        Tensor::cat(&[out1, out2], 3)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_spans_half_pi_to_theta_half_pi() {
        let g = freq_grid(10000.0, 1024);
        assert_eq!(g[0], std::f32::consts::FRAC_PI_2);
        assert_eq!(g[1023], (5000.0 * std::f64::consts::PI) as f32);
        assert!(g.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(freq_grid(10000.0, 1), vec![std::f32::consts::FRAC_PI_2]);
    }

    #[test]
    fn heads_take_consecutive_frequency_bands_and_rotation_keeps_norms() {
        let dev = Device::Cpu;
        let rope = Rope::from_fractions(&[0.25, 0.6], 16, 2, 10000.0, DType::F32, &dev).unwrap();
        let grid = freq_grid(10000.0, 8);
        let cos = rope.cos().squeeze(0).unwrap().to_vec3::<f32>().unwrap();
        // head 1, token 0, frequency 4 + 2
        assert_eq!(cos[1][0][2], (grid[6] * (0.25f32 * 2.0 - 1.0)).cos());
        let x = Tensor::randn(0f32, 1.0, (1, 2, 2, 8), &dev).unwrap();
        let y = rope.apply(&x).unwrap();
        // Each (i, i + half) pair is rotated, so its norm is kept.
        let pair_norm = |t: &Tensor| {
            let a = t.narrow(3, 0, 4).unwrap().sqr().unwrap();
            let b = t.narrow(3, 4, 4).unwrap().sqr().unwrap();
            (a + b).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap()
        };
        for (a, b) in pair_norm(&x).iter().zip(pair_norm(&y)) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
    }
}
