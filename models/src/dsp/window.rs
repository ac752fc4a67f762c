//! Window functions and the normalised sinc, as torch defines them (`torch.hann_window`,
//! `torch.kaiser_window`, `torch.sinc`).
//!
//! Computed in f64 and returned as f32, the dtype torch builds them in.

use std::f64::consts::PI;

/// Hann window of `len` points. `periodic` drops the last point of a `len + 1` symmetric window
/// (torch's default, what `torch.stft` callers pass); `periodic = false` is the symmetric window.
pub fn hann_window(len: usize, periodic: bool) -> Vec<f32> {
    // torch returns [1] for a one-point window, periodic or not.
    if len <= 1 {
        return vec![1.0; len];
    }
    let denom = if periodic { len } else { len - 1 };
    (0..len).map(|n| (0.5 - 0.5 * (2.0 * PI * n as f64 / denom as f64).cos()) as f32).collect()
}

/// Kaiser window of `len` points with shape `beta`: `I0(beta * sqrt(1 - ((n - a) / a)^2)) / I0(beta)`,
/// `a = (N - 1) / 2` with `N = len` (symmetric) or `len + 1` (periodic).
pub fn kaiser_window(len: usize, beta: f64, periodic: bool) -> Vec<f32> {
    let n_points = if periodic { len + 1 } else { len };
    if n_points <= 1 {
        return vec![1.0; len];
    }
    let alpha = (n_points - 1) as f64 / 2.0;
    let norm = bessel_i0(beta);
    (0..len)
        .map(|n| {
            let r = (n as f64 - alpha) / alpha;
            (bessel_i0(beta * (1.0 - r * r).max(0.0).sqrt()) / norm) as f32
        })
        .collect()
}

/// Modified Bessel function of the first kind, order 0 (power series; converges for any real `x`).
pub fn bessel_i0(x: f64) -> f64 {
    let quarter_x2 = x * x / 4.0;
    let (mut term, mut sum) = (1.0f64, 1.0f64);
    for k in 1..500 {
        term *= quarter_x2 / (k as f64 * k as f64);
        sum += term;
        if term < sum * 1e-17 {
            break;
        }
    }
    sum
}

/// Normalised sinc: `sin(pi x) / (pi x)`, 1 at 0.
pub fn sinc(x: f64) -> f64 {
    if x == 0.0 { 1.0 } else { (PI * x).sin() / (PI * x) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: &[f32], b: &[f64], tol: f64) {
        assert_eq!(a.len(), b.len());
        for (i, (&x, &y)) in a.iter().zip(b).enumerate() {
            assert!((x as f64 - y).abs() <= tol, "index {i}: {x} vs {y}");
        }
    }

    #[test]
    fn hann_matches_torch() {
        // torch.hann_window(8) and torch.hann_window(5, periodic=False)
        close(
            &hann_window(8, true),
            &[0.0, 0.146_446_6, 0.5, 0.853_553_4, 1.0, 0.853_553_4, 0.5, 0.146_446_6],
            2e-7,
        );
        close(&hann_window(5, false), &[0.0, 0.5, 1.0, 0.5, 0.0], 1e-7);
        assert_eq!(hann_window(1, true), vec![1.0]);
    }

    #[test]
    fn kaiser_matches_torch() {
        // torch.kaiser_window(6, periodic=False, beta=5.0)
        close(
            &kaiser_window(6, 5.0, false),
            &[0.036_710_888, 0.414_903_58, 0.913_812_3, 0.913_812_3, 0.414_903_58, 0.036_710_888],
            2e-7,
        );
        // Periodic = the first `len` points of the symmetric `len + 1` window.
        let p = kaiser_window(6, 5.0, true);
        let s = kaiser_window(7, 5.0, false);
        assert_eq!(p[..], s[..6]);
    }

    #[test]
    fn bessel_and_sinc_known_values() {
        assert!((bessel_i0(0.0) - 1.0).abs() < 1e-15);
        assert!((bessel_i0(1.0) - 1.266_065_877_752_008_4).abs() < 1e-14);
        assert!((bessel_i0(10.0) - 2_815.716_628_466_254).abs() < 1e-9);
        assert_eq!(sinc(0.0), 1.0);
        assert!(sinc(1.0).abs() < 1e-16);
        assert!((sinc(0.5) - 2.0 / PI).abs() < 1e-15);
    }
}
