//! Band-limited resampling: torchaudio's windowed-sinc resampler (`torchaudio.functional.resample`,
//! any integer rate pair) and the Kaiser-sinc / Hann-sinc filters of the BigVGAN-style fixed-ratio
//! resamplers (ltx-core `vocoder.py` `kaiser_sinc_filter1d`, `UpSample1d(window_type="hann")`).
//!
//! The CPU path (`SincResampler::process`) accumulates in f64; `process_tensor` runs the same kernel as a
//! strided conv1d on any candle device.

use candle_core::{DType, Result, Tensor, bail};

use super::window::{bessel_i0, kaiser_window, sinc};

/// Window applied to the sinc kernel.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SincWindow {
    /// `cos(t π / (2 · lowpass_filter_width))²` (torchaudio `sinc_interp_hann`, its default).
    Hann,
    /// `I0(β sqrt(1 - (t / width)²)) / I0(β)` (torchaudio `sinc_interp_kaiser`).
    Kaiser { beta: f64 },
}

/// Phase tables larger than this many taps are not built: such ratios (48 017 Hz → 16 kHz reduces to
/// 48 017 : 16 000, a 6 GB table) are evaluated tap by tap instead, which costs
/// `~12 · max(1, orig / new)` multiply-adds per output sample whatever the rates are.
const MAX_TABLE_TAPS: usize = 1 << 22;

/// A polyphase windowed-sinc resampler between two integer rates, equal to
/// `torchaudio.functional.resample(x, orig, new, lowpass_filter_width, rolloff, method)`.
///
/// Rate pairs that reduce to small integers (every rate the product uses) precompute torchaudio's
/// kernel table. Others evaluate the same kernel formula for each output sample, so memory and time
/// stay bounded for any pair.
#[derive(Debug, Clone)]
pub struct SincResampler {
    /// Rates reduced by their gcd.
    orig: usize,
    new: usize,
    width: usize,
    /// `orig.min(new) · rolloff`.
    base: f64,
    lowpass_filter_width: f64,
    window: SincWindow,
    /// `[new][2 * width + orig]`, or `None` when the pair is evaluated directly.
    kernel: Option<Vec<f64>>,
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 { a } else { gcd(b, a % b) }
}

impl SincResampler {
    pub fn new(
        orig_hz: u32,
        new_hz: u32,
        lowpass_filter_width: usize,
        rolloff: f64,
        window: SincWindow,
    ) -> Result<Self> {
        if orig_hz == 0 || new_hz == 0 {
            bail!("resample: rates must be positive (got {orig_hz} -> {new_hz})");
        }
        if lowpass_filter_width == 0 {
            bail!("resample: lowpass_filter_width must be positive");
        }
        let g = gcd(orig_hz as usize, new_hz as usize);
        let (orig, new) = (orig_hz as usize / g, new_hz as usize / g);
        let base = orig.min(new) as f64 * rolloff;
        let lpw = lowpass_filter_width as f64;
        let width = (lpw * orig as f64 / base).ceil() as usize;
        let mut resampler = Self { orig, new, width, base, lowpass_filter_width: lpw, window, kernel: None };
        let taps = resampler.taps();
        if new.saturating_mul(taps) <= MAX_TABLE_TAPS {
            let mut kernel = vec![0f64; new * taps];
            for phase in 0..new {
                for i in 0..taps {
                    let idx = (i as f64 - width as f64) / orig as f64;
                    kernel[phase * taps + i] = resampler.weight((-(phase as f64) / new as f64 + idx) * base);
                }
            }
            resampler.kernel = Some(kernel);
        }
        Ok(resampler)
    }

    /// torchaudio's kernel value at `t` (in units of the lower rate's samples, before clamping).
    fn weight(&self, t: f64) -> f64 {
        let lpw = self.lowpass_filter_width;
        let t = t.clamp(-lpw, lpw);
        let w = match self.window {
            SincWindow::Hann => (t * std::f64::consts::PI / lpw / 2.0).cos().powi(2),
            SincWindow::Kaiser { beta } => {
                bessel_i0(beta * (1.0 - (t / lpw).powi(2)).max(0.0).sqrt()) / bessel_i0(beta)
            }
        };
        sinc(t) * w * self.base / self.orig as f64
    }

    /// torchaudio's defaults: Hann window, `lowpass_filter_width = 6`, `rolloff = 0.99`.
    pub fn torchaudio_default(orig_hz: u32, new_hz: u32) -> Result<Self> {
        Self::new(orig_hz, new_hz, 6, 0.99, SincWindow::Hann)
    }

    /// Whether this pair uses the precomputed table (true for every rate the product uses).
    pub fn uses_table(&self) -> bool {
        self.kernel.is_some()
    }

    /// `ceil(n · new / orig)`.
    pub fn output_len(&self, n: usize) -> usize {
        (n as u128 * self.new as u128).div_ceil(self.orig as u128) as usize
    }

    fn taps(&self) -> usize {
        2 * self.width + self.orig
    }

    /// Resample one channel.
    pub fn process(&self, x: &[f32]) -> Vec<f32> {
        if self.orig == self.new {
            return x.to_vec();
        }
        let Some(kernel) = &self.kernel else { return self.process_direct(x) };
        let taps = self.taps();
        let out_len = self.output_len(x.len());
        let mut out = Vec::with_capacity(out_len);
        'frames: for m in 0.. {
            // Output frame m covers outputs m*new .. (m+1)*new, reading x[m*orig - width ..].
            let start = (m * self.orig) as isize - self.width as isize;
            for phase in 0..self.new {
                if out.len() == out_len {
                    break 'frames;
                }
                let k = &kernel[phase * taps..(phase + 1) * taps];
                let mut acc = 0f64;
                for (j, &w) in k.iter().enumerate() {
                    let i = start + j as isize;
                    if i >= 0 && (i as usize) < x.len() {
                        acc += w * f64::from(x[i as usize]);
                    }
                }
                out.push(acc as f32);
            }
        }
        out
    }

    /// The table's sum for output `j`, `Σ_k weight((k / orig - j / new) · base) · x[k]`, over the
    /// inputs within the filter's reach of `j · orig / new`; exact integer offsets keep it equal to the
    /// table path up to rounding.
    fn process_direct(&self, x: &[f32]) -> Vec<f32> {
        let (orig, new) = (self.orig as i128, self.new as i128);
        let scale = self.base / (self.orig as f64 * self.new as f64);
        (0..self.output_len(x.len()))
            .map(|j| {
                let j = j as i128;
                let centre = j * orig / new;
                let lo = (centre - self.width as i128).max(0);
                let hi = (centre + self.width as i128 + 1).min(x.len() as i128 - 1);
                let mut acc = 0f64;
                for k in lo..=hi {
                    let t = (k * new - j * orig) as f64 * scale;
                    acc += self.weight(t) * f64::from(x[k as usize]);
                }
                acc as f32
            })
            .collect()
    }

    /// Resample the last dimension of `x` (any leading shape, any device) with one strided conv1d.
    pub fn process_tensor(&self, x: &Tensor) -> Result<Tensor> {
        if self.orig == self.new {
            return Ok(x.clone());
        }
        let dims = x.dims().to_vec();
        let Some((&n, lead)) = dims.split_last() else { bail!("resample: scalar input") };
        let rows: usize = lead.iter().product();
        let mut out_dims = lead.to_vec();
        out_dims.push(self.output_len(n));
        let Some(kernel) = &self.kernel else {
            // Odd ratios run on the CPU: a conv1d would need the table this path avoids.
            let flat = x.reshape((rows, n))?.to_dtype(DType::F32)?.to_device(&candle_core::Device::Cpu)?;
            let out: Vec<f32> = flat.to_vec2::<f32>()?.iter().flat_map(|row| self.process(row)).collect();
            return Tensor::from_vec(out, out_dims, x.device())?.to_dtype(x.dtype());
        };
        let taps = self.taps();
        let kernel: Vec<f32> = kernel.iter().map(|&v| v as f32).collect();
        let kernel = Tensor::from_vec(kernel, (self.new, 1, taps), x.device())?.to_dtype(x.dtype())?;
        // (rows, 1, n + 2w + orig) -> (rows, new, frames) -> (rows, frames * new)
        let padded = x.reshape((rows, 1, n))?.pad_with_zeros(2, self.width, self.width + self.orig)?;
        let y = padded.conv1d(&kernel, 0, self.orig, 1, 1)?;
        let frames = y.dim(2)?;
        let y = y.transpose(1, 2)?.reshape((rows, frames * self.new))?.narrow(1, 0, self.output_len(n))?;
        // (rows, n_out) -> (..., n_out)
        y.reshape(out_dims)
    }
}

/// `torchaudio.functional.resample(x, orig_hz, new_hz)` with its defaults, one channel.
pub fn resample(x: &[f32], orig_hz: u32, new_hz: u32) -> Result<Vec<f32>> {
    Ok(SincResampler::torchaudio_default(orig_hz, new_hz)?.process(x))
}

/// BigVGAN's Kaiser-windowed sinc low-pass filter (`kaiser_sinc_filter1d`): `cutoff` and `half_width`
/// as fractions of the sample rate, normalised to sum 1.
pub fn kaiser_sinc_filter(cutoff: f64, half_width: f64, kernel_size: usize) -> Vec<f32> {
    let even = kernel_size.is_multiple_of(2);
    let half = (kernel_size / 2) as f64;
    let delta_f = 4.0 * half_width;
    let amplitude = 2.285 * (half - 1.0) * std::f64::consts::PI * delta_f + 7.95;
    let beta = if amplitude > 50.0 {
        0.1102 * (amplitude - 8.7)
    } else if amplitude >= 21.0 {
        0.5842 * (amplitude - 21.0).powf(0.4) + 0.07886 * (amplitude - 21.0)
    } else {
        0.0
    };
    let window = kaiser_window(kernel_size, beta, false);
    if cutoff == 0.0 {
        return vec![0.0; kernel_size];
    }
    let h: Vec<f64> = (0..kernel_size)
        .map(|i| {
            let t = if even { i as f64 - half + 0.5 } else { i as f64 - half };
            2.0 * cutoff * f64::from(window[i]) * sinc(2.0 * cutoff * t)
        })
        .collect();
    let sum: f64 = h.iter().sum();
    h.iter().map(|&v| (v / sum) as f32).collect()
}

/// The Hann-windowed sinc interpolation filter of ltx-core's `UpSample1d(ratio, window_type="hann")`
/// (torchaudio-equivalent upsampling by an integer `ratio`, rolloff 0.99, lowpass width 6).
/// Returns `(filter of 2·width·ratio + 1 taps, width)`.
pub fn hann_sinc_upsample_filter(ratio: usize) -> (Vec<f32>, usize) {
    const ROLLOFF: f64 = 0.99;
    const LOWPASS_FILTER_WIDTH: f64 = 6.0;
    let width = (LOWPASS_FILTER_WIDTH / ROLLOFF).ceil() as usize;
    let taps = 2 * width * ratio + 1;
    let filter = (0..taps)
        .map(|i| {
            let t = (i as f64 / ratio as f64 - width as f64) * ROLLOFF;
            let tc = t.clamp(-LOWPASS_FILTER_WIDTH, LOWPASS_FILTER_WIDTH);
            let w = (tc * std::f64::consts::PI / LOWPASS_FILTER_WIDTH / 2.0).cos().powi(2);
            (sinc(t) * w * ROLLOFF / ratio as f64) as f32
        })
        .collect();
    (filter, width)
}

/// A fixed-ratio FIR upsampler on `(B, C, L)` tensors with the same filter on every channel, as
/// ltx-core's `UpSample1d`: replicate-pad `pad` on both sides, `ratio · conv_transpose1d(stride=ratio)`,
/// crop `crop_left` / `crop_right`. Output length `ratio · L`.
#[derive(Debug, Clone)]
pub struct FirUpsampler {
    ratio: usize,
    filter: Tensor,
    pad: usize,
    crop_left: usize,
    crop_right: usize,
}

impl FirUpsampler {
    /// BigVGAN layout for an even Kaiser filter of `filter.len()` taps (`UpSample1d(ratio, kernel_size)`).
    pub fn kaiser(filter: Tensor, ratio: usize) -> Result<Self> {
        let k = filter.elem_count();
        if ratio == 0 || k < ratio {
            bail!("upsample: {k} taps cannot upsample by {ratio}");
        }
        let pad = k / ratio - 1;
        let crop_left = pad * ratio + (k - ratio) / 2;
        let crop_right = pad * ratio + (k - ratio).div_ceil(2);
        Ok(Self { ratio, filter: filter.flatten_all()?, pad, crop_left, crop_right })
    }

    /// `UpSample1d(ratio, window_type="hann")`: the filter of [`hann_sinc_upsample_filter`].
    pub fn hann(ratio: usize, device: &candle_core::Device) -> Result<Self> {
        let (filter, width) = hann_sinc_upsample_filter(ratio);
        let k = filter.len();
        let filter = Tensor::from_vec(filter, k, device)?;
        Ok(Self { ratio, filter, pad: width, crop_left: 2 * width * ratio, crop_right: k - ratio })
    }

    pub fn ratio(&self) -> usize {
        self.ratio
    }

    pub fn filter(&self) -> &Tensor {
        &self.filter
    }

    /// `(pad, crop_left, crop_right)`.
    pub fn geometry(&self) -> (usize, usize, usize) {
        (self.pad, self.crop_left, self.crop_right)
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (b, c, l) = x.dims3()?;
        let k = self.filter.elem_count();
        // (k) -> (1, 1, k)
        let filter = self.filter.to_dtype(x.dtype())?.reshape((1, 1, k))?;
        // (b, c, l) -> (b·c, 1, l + 2 pad): channels into the batch, one single-channel transposed conv
        // instead of C groups.
        let x = x.reshape((b * c, 1, l))?.pad_with_same(2, self.pad, self.pad)?;
        let y = x.conv_transpose1d(&filter, 0, 0, self.ratio, 1, 1)?;
        let full = y.dim(2)?;
        let y = y.narrow(2, self.crop_left, full - self.crop_left - self.crop_right)?;
        // (b·c, 1, ratio·l) -> (b, c, ratio·l)
        (y * self.ratio as f64)?.reshape((b, c, self.ratio * l))
    }
}

/// BigVGAN's `DownSample1d` / `LowPassFilter1d`: replicate-pad `(k/2 - even, k/2)`, filter, stride `ratio`,
/// same filter on every channel of `(B, C, L)`.
#[derive(Debug, Clone)]
pub struct FirDownsampler {
    ratio: usize,
    filter: Tensor,
    pad_left: usize,
    pad_right: usize,
}

impl FirDownsampler {
    pub fn new(filter: Tensor, ratio: usize) -> Result<Self> {
        let k = filter.elem_count();
        if ratio == 0 || k == 0 {
            bail!("downsample: {k} taps, ratio {ratio}");
        }
        let pad_left = k / 2 - usize::from(k.is_multiple_of(2));
        Ok(Self { ratio, filter: filter.flatten_all()?, pad_left, pad_right: k / 2 })
    }

    pub fn ratio(&self) -> usize {
        self.ratio
    }

    pub fn filter(&self) -> &Tensor {
        &self.filter
    }

    /// `(pad_left, pad_right)`.
    pub fn padding(&self) -> (usize, usize) {
        (self.pad_left, self.pad_right)
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (b, c, l) = x.dims3()?;
        let k = self.filter.elem_count();
        // (k) -> (1, 1, k); (b, c, l) -> (b·c, 1, l + pads)
        let filter = self.filter.to_dtype(x.dtype())?.reshape((1, 1, k))?;
        let x = x.reshape((b * c, 1, l))?.pad_with_same(2, self.pad_left, self.pad_right)?;
        let y = x.conv1d(&filter, 0, self.ratio, 1, 1)?;
        let l_out = y.dim(2)?;
        // (b·c, 1, l_out) -> (b, c, l_out)
        y.reshape((b, c, l_out))
    }
}

/// Filter taps as an f32 vector (for CPU kernels).
pub fn filter_taps(filter: &Tensor) -> Result<Vec<f32>> {
    filter.flatten_all()?.to_dtype(DType::F32)?.to_vec1::<f32>()
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn kaiser_filter_matches_bigvgan() {
        // ltx_core.model.audio_vae.vocoder.kaiser_sinc_filter1d(0.25, 0.3, 12)
        let want = [
            0.002_028_964_7,
            0.009_389_466,
            -0.025_543_462,
            -0.057_657_383,
            0.128_572_58,
            0.443_209_8,
            0.443_209_8,
            0.128_572_58,
            -0.057_657_383,
            -0.025_543_462,
            0.009_389_466,
            0.002_028_964_7,
        ];
        let got = kaiser_sinc_filter(0.25, 0.3, 12);
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 2e-7, "{got:?}");
        }
        assert!((got.iter().sum::<f32>() - 1.0).abs() < 1e-6);
    }

    #[test]
    fn hann_upsample_filter_geometry() {
        let (f, width) = hann_sinc_upsample_filter(3);
        assert_eq!((f.len(), width), (43, 7));
        // ltx-core UpSample1d(3, window_type="hann").filter: centre 0.33, [24] = 0.003113866, sum 1.00046587.
        assert!((f[21] - 0.33).abs() < 1e-7);
        assert!((f[24] - 0.003_113_866).abs() < 1e-7);
        let dc: f32 = f.iter().sum();
        assert!((dc - 1.000_465_9).abs() < 1e-6, "{dc}");
    }

    #[test]
    fn resampler_matches_torchaudio() {
        // torchaudio.functional.resample(x, 48000, 16000) and (x, 16000, 24000) for x = sin(0.05 n) + 0.3 cos(0.31 n), n < 40.
        let x: Vec<f32> =
            (0..40).map(|n| ((0.05 * n as f64).sin() + 0.3 * (0.31 * n as f64).cos()) as f32).collect();
        let down = resample(&x, 48000, 16000).unwrap();
        assert_eq!(down.len(), 14);
        let want_down = [0.213_979_53, 0.350_982_28, 0.200_374_3, 0.157_827_97, 0.312_079_73, 0.663_264_16];
        for (g, w) in down.iter().zip(want_down) {
            assert!((g - w).abs() < 2e-6, "{down:?}");
        }
        let up = resample(&x, 16000, 24000).unwrap();
        assert_eq!(up.len(), 60);
        let want_up = [0.298_629_6, 0.352_160_9, 0.327_581_47, 0.343_140_04];
        for (g, w) in up.iter().zip(want_up) {
            assert!((g - w).abs() < 2e-6, "{up:?}");
        }
        // The tensor path runs the same kernel.
        let t = Tensor::from_vec(x.clone(), (1, 40), &Device::Cpu).unwrap();
        let r = SincResampler::torchaudio_default(48000, 16000).unwrap();
        let via_conv = r.process_tensor(&t).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        for (a, b) in via_conv.iter().zip(&down) {
            assert!((a - b).abs() < 1e-6);
        }
    }

    #[test]
    fn direct_evaluation_equals_the_table_and_bounds_odd_ratios() {
        let x: Vec<f32> =
            (0..3000).map(|n| ((0.05 * n as f64).sin() + 0.3 * (0.31 * n as f64).cos()) as f32).collect();
        for (from, to) in
            [(48_000, 16_000), (44_100, 16_000), (22_050, 48_000), (16_000, 24_000), (24_000, 16_000)]
        {
            let table = SincResampler::torchaudio_default(from, to).unwrap();
            assert!(table.uses_table(), "{from} -> {to} keeps torchaudio's table");
            let direct = SincResampler { kernel: None, ..table.clone() };
            let (a, b) = (table.process(&x), direct.process(&x));
            assert_eq!(a.len(), b.len());
            let worst = a.iter().zip(&b).map(|(p, q)| (p - q).abs()).fold(0f32, f32::max);
            assert!(worst < 1e-6, "{from} -> {to}: table and direct differ by {worst}");
        }
        // 48 017 : 16 000 would need a 6 GB table; the direct path keeps a sine's level.
        let odd = SincResampler::torchaudio_default(48_017, 16_000).unwrap();
        assert!(!odd.uses_table());
        let sine: Vec<f32> = (0..48_017)
            .map(|n| (2.0 * std::f64::consts::PI * 440.0 * n as f64 / 48_017.0).sin() as f32)
            .collect();
        let y = odd.process(&sine);
        assert_eq!(y.len(), 16_000);
        let rms = (y[1000..15_000].iter().map(|v| f64::from(*v).powi(2)).sum::<f64>() / 14_000.0).sqrt();
        assert!((rms - 0.5f64.sqrt()).abs() < 1e-3, "rms {rms}");
    }

    #[test]
    fn upsampler_and_downsampler_keep_lengths_and_dc() {
        let dev = Device::Cpu;
        let x = Tensor::ones((1, 3, 20), DType::F32, &dev).unwrap();
        let kaiser = Tensor::from_vec(kaiser_sinc_filter(0.25, 0.3, 12), 12, &dev).unwrap();
        let up = FirUpsampler::kaiser(kaiser.clone(), 2).unwrap();
        assert_eq!(up.geometry(), (5, 15, 15));
        let y = up.forward(&x).unwrap();
        assert_eq!(y.dims(), &[1, 3, 40]);
        let down = FirDownsampler::new(kaiser, 2).unwrap();
        assert_eq!(down.padding(), (5, 6));
        let z = down.forward(&y).unwrap();
        assert_eq!(z.dims(), &[1, 3, 20]);
        // A constant passes unchanged through both (replicate padding, unit DC gain).
        for v in z.flatten_all().unwrap().to_vec1::<f32>().unwrap() {
            assert!((v - 1.0).abs() < 1e-5, "{v}");
        }
        let hann = FirUpsampler::hann(3, &dev).unwrap();
        assert_eq!(hann.geometry(), (7, 42, 40));
        assert_eq!(hann.forward(&x).unwrap().dims(), &[1, 3, 60]);
    }
}
