//! Bias-free linear maps that are either dense or quantised at load with candle's GGML block formats.
//!
//! The quantised formats are the counterpart of the reference's bitsandbytes NF4 option (ltx-audio-spec §7.5):
//! the bf16 shards are read tensor by tensor on the CPU, quantised, and only the blocks reach the device.

use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{DType, Device, Module, Result, Tensor};
use candle_nn::VarBuilder;

/// How the decoder layers' linear weights are held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WeightFormat {
    /// In the compute dtype (bf16 in production, f32 for parity).
    Dense,
    /// GGML Q8_0: blocks of 32 weights with one f16 scale (8.5 bits per weight).
    Q8_0,
    /// GGML Q4_K: super-blocks of 256 with 6-bit sub-block scales (4.5 bits per weight).
    Q4K,
}

impl WeightFormat {
    pub fn ggml(self) -> Option<GgmlDType> {
        match self {
            Self::Dense => None,
            Self::Q8_0 => Some(GgmlDType::Q8_0),
            Self::Q4K => Some(GgmlDType::Q4K),
        }
    }

    /// Bytes per weight once loaded, given the dense dtype.
    pub fn bytes_per_weight(self, dense: DType) -> f64 {
        match self.ggml() {
            None => dense.size_in_bytes() as f64,
            Some(q) => q.type_size() as f64 / q.block_size() as f64,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Dense => "dense",
            Self::Q8_0 => "q8_0",
            Self::Q4K => "q4k",
        }
    }
}

/// `y = x Wᵀ` with `W` of shape `(out, in)` stored dense or quantised.
#[derive(Debug, Clone)]
pub enum Linear {
    Dense(candle_nn::Linear),
    Quantized(QMatMul),
}

impl Linear {
    /// Load `vb.weight` (`(out_dim, in_dim)`). Quantised formats fall back to dense for a weight whose input
    /// width is not a multiple of the block size (never the case for Gemma 3 12B, whose widths are multiples
    /// of 256; tiny test configs hit it with Q4_K).
    pub fn new(in_dim: usize, out_dim: usize, vb: VarBuilder, format: WeightFormat) -> Result<Self> {
        let Some(ggml) = format.ggml().filter(|q| in_dim.is_multiple_of(q.block_size())) else {
            let weight = vb.get((out_dim, in_dim), "weight")?;
            return Ok(Self::Dense(candle_nn::Linear::new(weight, None)));
        };
        let device = vb.device().clone();
        let weight = vb.set_device(Device::Cpu).set_dtype(DType::F32).get((out_dim, in_dim), "weight")?;
        let qtensor = if device.is_cpu() {
            QTensor::quantize(&weight, ggml)?
        } else {
            QTensor::quantize_onto(&weight, ggml, &device)?
        };
        Ok(Self::Quantized(QMatMul::from_qtensor(qtensor)?))
    }

    pub fn is_quantized(&self) -> bool {
        matches!(self, Self::Quantized(QMatMul::QTensor(_)))
    }
}

impl Module for Linear {
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        match self {
            Self::Dense(linear) => linear.forward(xs),
            // The quantised kernels want a contiguous input; keep the caller's dtype on every backend.
            Self::Quantized(q) => q.forward(&xs.contiguous()?)?.to_dtype(xs.dtype()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn quantised_linear_tracks_dense_and_falls_back_on_odd_widths() {
        let dev = Device::Cpu;
        let w = crate::gemma::tests::seeded_normal(1, &[64, 256], 0.05);
        let narrow = crate::gemma::tests::seeded_normal(2, &[16, 48], 0.05);
        let vb = VarBuilder::from_tensors(
            HashMap::from([("a.weight".to_string(), w.clone()), ("b.weight".to_string(), narrow)]),
            DType::F32,
            &dev,
        );
        let x = crate::gemma::tests::seeded_normal(3, &[2, 3, 256], 1.0);
        let dense = Linear::new(256, 64, vb.pp("a"), WeightFormat::Dense).unwrap().forward(&x).unwrap();
        let scale = f64::from(dense.abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap());
        for (format, bound) in [(WeightFormat::Q8_0, 0.02), (WeightFormat::Q4K, 0.15)] {
            let lin = Linear::new(256, 64, vb.pp("a"), format).unwrap();
            assert!(lin.is_quantized());
            let y = lin.forward(&x).unwrap();
            assert_eq!(y.dims(), &[2, 3, 64]);
            let err = crate::parity::parity_error(&y, &dense).unwrap().0;
            assert!(err / scale < bound, "{format:?}: {err} vs {scale}");
            assert!(err > 0.0, "{format:?} should not be exact");
        }
        // 48 is not a multiple of Q4_K's 256 (nor of Q8_0's 32): kept dense.
        assert!(!Linear::new(48, 16, vb.pp("b"), WeightFormat::Q4K).unwrap().is_quantized());
        assert!(!Linear::new(48, 16, vb.pp("b"), WeightFormat::Q8_0).unwrap().is_quantized());
    }
}
