//! BigVGAN-v2 anti-aliased SnakeBeta: upsample x2 (Kaiser-sinc), `x + sin²(e^α x) / (e^β + 1e-9)`,
//! downsample x2 (ltx-core `vocoder.py` `Activation1d`, `SnakeBeta`, `UpSample1d`, `DownSample1d`).
//!
//! On the CPU the three steps run fused, one channel row at a time in cache, on candle's thread count;
//! elsewhere (and as the checked reference in tests) they run as tensor ops.

use candle_core::{CpuStorage, CustomOp1, DType, Layout, Result, Shape, Tensor, bail};
use candle_nn::VarBuilder;

use crate::dsp::resample::{FirDownsampler, FirUpsampler, filter_taps, kaiser_sinc_filter};

/// Taps of the stored anti-aliasing filters (`Activation1d(up_kernel_size=12, down_kernel_size=12)`).
pub const FILTER_TAPS: usize = 12;
const RATIO: usize = 2;
const SNAKE_EPS: f32 = 1e-9;

#[derive(Debug, Clone)]
pub struct Activation1d {
    /// `exp(alpha)` and `1 / (exp(beta) + 1e-9)` as `(1, C, 1)`.
    alpha: Tensor,
    inv_beta: Tensor,
    up: FirUpsampler,
    down: FirDownsampler,
    kernel: FusedKernel,
}

/// The filter the checkpoint stores under `name`, or BigVGAN's recomputed one if it is absent.
fn stored_filter(vb: &VarBuilder, name: &str) -> Result<Tensor> {
    if vb.contains_tensor(name) {
        return vb.get((1, 1, FILTER_TAPS), name)?.flatten_all();
    }
    let taps = kaiser_sinc_filter(0.5 / RATIO as f64, 0.6 / RATIO as f64, FILTER_TAPS);
    Tensor::from_vec(taps, FILTER_TAPS, vb.device())?.to_dtype(vb.dtype())
}

impl Activation1d {
    /// `vb` at the `Activation1d` (`…acts1.0`): `act.{alpha,beta}`, `upsample.filter`, `downsample.lowpass.filter`.
    pub fn new(channels: usize, vb: VarBuilder) -> Result<Self> {
        let alpha_log = vb.pp("act").get(channels, "alpha")?;
        let beta_log = vb.pp("act").get(channels, "beta")?;
        let alpha = alpha_log.exp()?;
        // The reciprocal is taken in the weights' dtype, as upstream does.
        let inv_beta = (beta_log.exp()? + f64::from(SNAKE_EPS))?.recip()?;
        let up = FirUpsampler::kaiser(stored_filter(&vb.pp("upsample"), "filter")?, RATIO)?;
        let down = FirDownsampler::new(stored_filter(&vb.pp("downsample").pp("lowpass"), "filter")?, RATIO)?;
        let (up_pad, up_crop_left, _) = up.geometry();
        let (down_pad_left, down_pad_right) = down.padding();
        let kernel = FusedKernel {
            alpha: alpha.to_dtype(DType::F32)?.to_vec1()?,
            inv_beta: inv_beta.to_dtype(DType::F32)?.to_vec1()?,
            up: filter_taps(up.filter())?,
            down: filter_taps(down.filter())?,
            up_pad,
            up_crop_left,
            down_pad_left,
            down_pad_right,
        };
        // (C) -> (1, C, 1)
        let alpha = alpha.reshape((1, channels, 1))?;
        let inv_beta = inv_beta.reshape((1, channels, 1))?;
        Ok(Self { alpha, inv_beta, up, down, kernel })
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        if x.device().is_cpu() && x.dtype() == DType::F32 {
            return x.contiguous()?.apply_op1_no_bwd(&self.kernel);
        }
        self.forward_unfused(x)
    }

    /// The same computation as separate tensor ops (any device and dtype).
    pub fn forward_unfused(&self, x: &Tensor) -> Result<Tensor> {
        let y = self.up.forward(x)?;
        let alpha = self.alpha.to_dtype(y.dtype())?;
        let inv_beta = self.inv_beta.to_dtype(y.dtype())?;
        let snake = y.broadcast_mul(&alpha)?.sin()?.sqr()?.broadcast_mul(&inv_beta)?;
        self.down.forward(&(y + snake)?)
    }
}

/// Up x2 -> SnakeBeta -> down x2 over `(B, C, L)` f32, one row at a time.
#[derive(Debug, Clone)]
struct FusedKernel {
    alpha: Vec<f32>,
    inv_beta: Vec<f32>,
    up: Vec<f32>,
    down: Vec<f32>,
    up_pad: usize,
    up_crop_left: usize,
    down_pad_left: usize,
    down_pad_right: usize,
}

impl FusedKernel {
    fn out_len(&self, l: usize) -> usize {
        (RATIO * l + self.down_pad_left + self.down_pad_right - self.down.len()) / RATIO + 1
    }

    /// `xp`, `sp` and `acc` are scratch buffers reused across rows.
    fn row(&self, x: &[f32], channel: usize, out: &mut [f32], scratch: &mut Scratch) {
        let Scratch { xp, sp, acc } = scratch;
        let l = x.len();
        let (pad, r, ku) = (self.up_pad, RATIO, self.up.len());
        // Replicate padding.
        xp.clear();
        xp.extend(std::iter::repeat_n(x[0], pad));
        xp.extend_from_slice(x);
        xp.extend(std::iter::repeat_n(x[l - 1], pad));
        let n_up = r * l;
        let (pl, pr) = (self.down_pad_left, self.down_pad_right);
        sp.clear();
        sp.resize(pl + n_up + pr, 0.0);
        // Transposed conv with stride r, cropped: y[n] = r Σ_i xp[i] f[j - r i], j = n + crop. Output phase e
        // (n = r m + e) uses taps f[p + q r] on xp[m + off - q]: one contiguous multiply-add per tap.
        for e in 0..r {
            let p = (e + self.up_crop_left) % r;
            let off = (e + self.up_crop_left - p) / r;
            acc.clear();
            acc.resize(l, 0.0);
            for (q, tap) in (p..ku).step_by(r).enumerate() {
                let (f, src) = (self.up[tap], off as isize - q as isize);
                if src >= 0 && src as usize + l <= xp.len() {
                    for (a, &v) in acc.iter_mut().zip(&xp[src as usize..src as usize + l]) {
                        *a += v * f;
                    }
                } else {
                    // Outside the padded input (never with BigVGAN's geometry): those terms are zero.
                    for (m, a) in acc.iter_mut().enumerate() {
                        let i = src + m as isize;
                        if i >= 0 && (i as usize) < xp.len() {
                            *a += xp[i as usize] * f;
                        }
                    }
                }
            }
            for (m, &a) in acc.iter().enumerate() {
                sp[pl + r * m + e] = r as f32 * a;
            }
        }
        let (alpha, inv_beta) = (self.alpha[channel], self.inv_beta[channel]);
        let body = &mut sp[pl..pl + n_up];
        let peak = body.iter().fold(0f32, |m, &y| m.max(y.abs())) * alpha.abs();
        if peak <= FAST_SIN_LIMIT {
            for y in body.iter_mut() {
                *y += inv_beta * sin_squared(*y * alpha);
            }
        } else {
            for y in body.iter_mut() {
                let s = (*y * alpha).sin();
                *y += inv_beta * (s * s);
            }
        }
        let (first, last) = (sp[pl], sp[pl + n_up - 1]);
        sp[..pl].fill(first);
        sp[pl + n_up..].fill(last);
        out.fill(0.0);
        for (k, &f) in self.down.iter().enumerate() {
            for (m, o) in out.iter_mut().enumerate() {
                *o += sp[r * m + k] * f;
            }
        }
    }
}

#[derive(Default)]
struct Scratch {
    xp: Vec<f32>,
    sp: Vec<f32>,
    acc: Vec<f32>,
}

/// Arguments up to this size keep the fast sine within ~1e-7 of libm (Cody-Waite reduction in f32).
const FAST_SIN_LIMIT: f32 = 8192.0;

/// `sin(x)²` with Cephes' single-precision reduction by π/4 and minimax polynomials; branch-free so the
/// loop vectorises. The sign of the sine is irrelevant once squared.
#[inline(always)]
fn sin_squared(x: f32) -> f32 {
    const FOUR_OVER_PI: f32 = 1.273_239_5;
    const DP1: f32 = 0.785_156_25;
    const DP2: f32 = 2.418_756_5e-4;
    const DP3: f32 = 3.774_895e-8;
    let ax = x.abs();
    let mut j = (ax * FOUR_OVER_PI) as i32;
    j += j & 1;
    let y = j as f32;
    let r = ((ax - y * DP1) - y * DP2) - y * DP3;
    let z = r * r;
    let sin = ((-1.951_529_6e-4 * z + 8.332_161e-3) * z - 1.666_665_5e-1) * z * r + r;
    let cos = ((2.443_315_7e-5 * z - 1.388_731_6e-3) * z + 4.166_664_6e-2) * z * z - 0.5 * z + 1.0;
    let v = if j & 2 != 0 { cos } else { sin };
    v * v
}

impl CustomOp1 for FusedKernel {
    fn name(&self) -> &'static str {
        "anti-aliased-snake-beta"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let CpuStorage::F32(data) = storage else { bail!("anti-aliased snake: f32 only") };
        let (b, c, l) = layout.shape().dims3()?;
        let Some((start, end)) = layout.contiguous_offsets() else {
            bail!("anti-aliased snake: not contiguous")
        };
        if c != self.alpha.len() || l == 0 {
            bail!("anti-aliased snake: input {:?} for {} channels", layout.shape().dims(), self.alpha.len());
        }
        let x = &data[start..end];
        let l_out = self.out_len(l);
        let rows = b * c;
        let mut out = vec![0f32; rows * l_out];
        let threads = candle_core::utils::get_num_threads().clamp(1, rows);
        let rows_per = rows.div_ceil(threads);
        std::thread::scope(|scope| {
            for (part, out_part) in out.chunks_mut(rows_per * l_out).enumerate() {
                scope.spawn(move || {
                    let mut scratch = Scratch::default();
                    for (k, o) in out_part.chunks_mut(l_out).enumerate() {
                        let row = part * rows_per + k;
                        self.row(&x[row * l..(row + 1) * l], row % c, o, &mut scratch);
                    }
                });
            }
        });
        Ok((CpuStorage::F32(out), Shape::from((b, c, l_out))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;
    use candle_nn::VarMap;

    #[test]
    fn fast_sine_squared_matches_libm() {
        let mut worst = 0f32;
        for i in -200_000..=200_000 {
            let x = i as f32 * 0.040_96; // |x| up to 8192
            worst = worst.max((sin_squared(x) - x.sin().powi(2)).abs());
        }
        assert!(worst < 2e-6, "{worst}");
        assert_eq!(sin_squared(0.0), 0.0);
    }

    #[test]
    fn fused_cpu_kernel_equals_tensor_ops() {
        let map = VarMap::new();
        let vb = VarBuilder::from_varmap(&map, DType::F32, &Device::Cpu);
        let act = Activation1d::new(5, vb.pp("a")).unwrap();
        // Non-trivial alpha/beta: the VarMap starts them at 0.
        let mut act = act;
        let alpha = Tensor::new(&[0.5f32, 1.0, 2.0, 0.7, 1.3], &Device::Cpu).unwrap();
        let inv_beta = Tensor::new(&[1.0f32, 0.5, 2.0, 0.3, 1.1], &Device::Cpu).unwrap();
        act.kernel.alpha = alpha.to_vec1().unwrap();
        act.kernel.inv_beta = inv_beta.to_vec1().unwrap();
        act.alpha = alpha.reshape((1, 5, 1)).unwrap();
        act.inv_beta = inv_beta.reshape((1, 5, 1)).unwrap();
        for l in [1usize, 2, 7, 40] {
            let x = Tensor::randn(0f32, 2.0, (2, 5, l), &Device::Cpu).unwrap();
            let fused = act.forward(&x).unwrap();
            let plain = act.forward_unfused(&x).unwrap();
            assert_eq!(fused.dims(), &[2, 5, l]);
            assert_eq!(plain.dims(), &[2, 5, l]);
            let diff = crate::parity::parity_error(&fused, &plain).unwrap().0;
            assert!(diff < 1e-5, "L = {l}: {diff}");
        }
    }
}
