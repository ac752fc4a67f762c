//! Numerical parity against the Python reference.
//!
//! A *case* is a directory written by `tools/parity/generate.py`:
//! - `case.json`: `{"component", "config", "seed", "tolerance", "tolerances": {tensor: tol}}`;
//! - the weights in the real checkpoint layout (file names given per component in `case.json`);
//! - `inputs.safetensors`: what the component is fed (including injected noise);
//! - `expected.safetensors`: what the reference computed.
//!
//! The metric is the spec's (ltx-audio-spec §8.4): `max|a - b| / max(1, max|ref|)`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};

mod audio_vae;
mod diffusion;
mod gemma;
mod mel_band_roformer;
mod text_chain;

/// What a case directory says about itself.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct CaseMeta {
    pub component: String,
    #[serde(default)]
    pub config: serde_json::Value,
    #[serde(default)]
    pub seed: u64,
    /// Tolerance for tensors not named in `tolerances`.
    pub tolerance: f64,
    #[serde(default)]
    pub tolerances: HashMap<String, f64>,
    /// Free-form details the component needs (file names, step counts, ...).
    #[serde(default)]
    pub extra: serde_json::Value,
}

/// One loaded case.
pub struct Case {
    pub dir: PathBuf,
    pub meta: CaseMeta,
    pub inputs: HashMap<String, Tensor>,
    pub expected: HashMap<String, Tensor>,
}

impl Case {
    pub fn load(dir: &Path) -> candle_core::Result<Self> {
        let meta_path = dir.join("case.json");
        let text = std::fs::read_to_string(&meta_path)
            .map_err(|e| candle_core::Error::Msg(format!("{}: {e}", meta_path.display())))?;
        let meta: CaseMeta = serde_json::from_str(&text)
            .map_err(|e| candle_core::Error::Msg(format!("{}: {e}", meta_path.display())))?;
        let load = |name: &str| -> candle_core::Result<HashMap<String, Tensor>> {
            let path = dir.join(name);
            if path.exists() {
                candle_core::safetensors::load(&path, &Device::Cpu)
            } else {
                Ok(HashMap::new())
            }
        };
        Ok(Self {
            dir: dir.to_path_buf(),
            inputs: load("inputs.safetensors")?,
            expected: load("expected.safetensors")?,
            meta,
        })
    }

    /// Name shown in reports: the directory's file name.
    pub fn name(&self) -> String {
        self.dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| self.dir.display().to_string())
    }

    pub fn input(&self, name: &str) -> candle_core::Result<&Tensor> {
        self.inputs
            .get(name)
            .ok_or_else(|| candle_core::Error::Msg(format!("case {}: no input tensor `{name}`", self.name())))
    }

    pub fn expected(&self, name: &str) -> candle_core::Result<&Tensor> {
        self.expected.get(name).ok_or_else(|| {
            candle_core::Error::Msg(format!("case {}: no expected tensor `{name}`", self.name()))
        })
    }

    pub fn tolerance(&self, tensor: &str) -> f64 {
        self.meta.tolerances.get(tensor).copied().unwrap_or(self.meta.tolerance)
    }

    /// Compare `got` with the expected tensor of the same name.
    pub fn check(&self, tensor: &str, got: &Tensor) -> candle_core::Result<TensorReport> {
        let want = self.expected(tensor)?;
        let (max_abs, scaled) = parity_error(got, want)?;
        let tolerance = self.tolerance(tensor);
        Ok(TensorReport {
            case: self.name(),
            component: self.meta.component.clone(),
            tensor: tensor.to_string(),
            max_abs,
            scaled,
            tolerance,
            pass: scaled <= tolerance,
        })
    }
}

/// One compared output tensor.
#[derive(Debug, Clone)]
pub struct TensorReport {
    pub case: String,
    pub component: String,
    pub tensor: String,
    /// `max|a - b|`.
    pub max_abs: f64,
    /// `max|a - b| / max(1, max|ref|)`, the quantity held to `tolerance`.
    pub scaled: f64,
    pub tolerance: f64,
    pub pass: bool,
}

impl std::fmt::Display for TensorReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:<28} {:<18} {:<24} max_abs={:.3e} scaled={:.3e} tol={:.1e} {}",
            self.case,
            self.component,
            self.tensor,
            self.max_abs,
            self.scaled,
            self.tolerance,
            if self.pass { "PASS" } else { "FAIL" }
        )
    }
}

/// `(max|a - b|, max|a - b| / max(1, max|b|))`; shapes must match exactly.
pub fn parity_error(got: &Tensor, want: &Tensor) -> candle_core::Result<(f64, f64)> {
    if got.dims() != want.dims() {
        candle_core::bail!("shape mismatch: got {:?}, expected {:?}", got.dims(), want.dims());
    }
    let got = got.to_device(&Device::Cpu)?.to_dtype(DType::F64)?.flatten_all()?;
    let want = want.to_device(&Device::Cpu)?.to_dtype(DType::F64)?.flatten_all()?;
    if want.elem_count() == 0 {
        return Ok((0.0, 0.0));
    }
    let max_abs = got.sub(&want)?.abs()?.max(0)?.to_scalar::<f64>()?;
    let ref_max = want.abs()?.max(0)?.to_scalar::<f64>()?;
    if max_abs.is_nan() {
        return Ok((f64::INFINITY, f64::INFINITY));
    }
    Ok((max_abs, max_abs / ref_max.max(1.0)))
}

/// Run one case directory through its Rust component and compare every output.
pub fn run_case(dir: &Path) -> candle_core::Result<Vec<TensorReport>> {
    let case = Case::load(dir)?;
    if let Some(reports) = diffusion::run(&case)? {
        return Ok(reports);
    }
    if let Some(reports) = audio_vae::run(&case)? {
        return Ok(reports);
    }
    if let Some(reports) = gemma::run(&case)? {
        return Ok(reports);
    }
    if let Some(reports) = text_chain::run(&case)? {
        return Ok(reports);
    }
    if let Some(reports) = mel_band_roformer::run(&case)? {
        return Ok(reports);
    }
    candle_core::bail!("case {}: unknown component `{}`", case.name(), case.meta.component)
}

/// Case directories under `root`: `root` itself when it holds a `case.json`, else its sub-directories that do, sorted.
pub fn find_cases(root: &Path) -> Vec<PathBuf> {
    if root.join("case.json").exists() {
        return vec![root.to_path_buf()];
    }
    let mut found = Vec::new();
    if let Ok(entries) = std::fs::read_dir(root) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                found.extend(find_cases(&path));
            }
        }
    }
    found.sort();
    found
}
