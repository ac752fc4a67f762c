//! Writing tiny random checkpoints for tests and `promptbook models make-test-model`: deterministic values
//! per tensor name and seed, scaled so that random networks stay finite, saved as safetensors. Shared by the
//! engines' and the stages' test models.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_nn::{VarBuilder, VarMap};
use promptbook_models::candle::{DType, Device, Tensor};

use crate::noise::seeded_noise;

/// Why the test model could not be written.
#[derive(Debug, thiserror::Error)]
pub enum TestModelError {
    #[error("cannot write {}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("cannot save {}: {message}", path.display())]
    Save { path: PathBuf, message: String },
    #[error("building the tiny model: {0}")]
    Model(#[from] promptbook_models::candle::Error),
    #[error("test model config: {0}")]
    Json(#[from] serde_json::Error),
}

pub fn write(path: &Path, bytes: &[u8]) -> Result<(), TestModelError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|source| TestModelError::Io { path: parent.to_path_buf(), source })?;
    }
    std::fs::write(path, bytes).map_err(|source| TestModelError::Io { path: path.to_path_buf(), source })
}

/// A stable 64-bit hash of a tensor name (FNV-1a), so each tensor's values depend only on seed and name.
fn name_hash(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// Random values for one tensor, scaled so that a random network stays finite and audible: fan-in scaled
/// weights, near-one norm scales and latent std, small biases, and positive low-pass resampling filters.
pub fn random_values(name: &str, dims: &[usize], seed: u64) -> Vec<f32> {
    let n: usize = dims.iter().product();
    let noise = seeded_noise(seed ^ name_hash(name), n);
    if name.ends_with("filter") {
        // A Hann window summing to one: a plausible low-pass for the anti-aliased resamplers.
        let k = dims.last().copied().unwrap_or(1).max(1);
        let w: Vec<f32> =
            (0..k).map(|i| (std::f32::consts::PI * (i as f32 + 0.5) / k as f32).sin().powi(2)).collect();
        let sum: f32 = w.iter().sum();
        return (0..n).map(|i| w[i % k] / sum).collect();
    }
    if name.contains("std-of-means") {
        return noise.iter().map(|x| 1.0 + 0.1 * x.abs()).collect();
    }
    if name.contains("mean-of-means") || name.ends_with("bias") {
        return noise.iter().map(|x| 0.02 * x).collect();
    }
    if dims.len() <= 1 {
        return noise.iter().map(|x| 1.0 + 0.1 * x).collect();
    }
    let fan_in = (n / dims[0].max(1)).max(1);
    let scale = 1.0 / (fan_in as f32).sqrt();
    noise.iter().map(|x| x * scale).collect()
}

/// Overwrite every variable of `varmap` with [`random_values`]; returns the tensors by (renamed) name.
pub fn randomised(
    varmap: &VarMap,
    seed: u64,
    rename: impl Fn(&str) -> String,
) -> Result<Vec<(String, Tensor)>, TestModelError> {
    let data = varmap.data().lock().map_err(|_| {
        TestModelError::Model(promptbook_models::candle::Error::Msg("var map lock poisoned".into()))
    })?;
    let mut names: Vec<&String> = data.keys().collect();
    names.sort();
    names
        .into_iter()
        .map(|name| {
            let dims = data[name].as_tensor().dims().to_vec();
            let values = random_values(name, &dims, seed);
            Ok((rename(name), Tensor::from_vec(values, dims, &Device::Cpu)?))
        })
        .collect()
}

pub fn save(
    path: &Path,
    tensors: &[(String, Tensor)],
    config: Option<&serde_json::Value>,
) -> Result<u64, TestModelError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|source| TestModelError::Io { path: parent.to_path_buf(), source })?;
    }
    let metadata = config.map(|c| HashMap::from([("config".to_string(), c.to_string())]));
    safetensors::serialize_to_file(tensors.iter().map(|(n, t)| (n.as_str(), t)), metadata, path)
        .map_err(|e| TestModelError::Save { path: path.to_path_buf(), message: e.to_string() })?;
    Ok(tensors.iter().map(|(_, t)| t.elem_count() as u64).sum())
}

pub fn new_varmap() -> (VarMap, VarBuilder<'static>) {
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    (varmap, vb)
}
