//! Numerical parity against the Python reference.
//!
//! A *case* is a directory written by `tools/parity/generate.py`:
//! - `case.json`: `{"component", "dtype", "config", "seed", "tolerance", "tolerances": {tensor: tol}, "extra"}`;
//! - the weights in the real checkpoint layout (file names given per component in `extra`), or
//!   `weights_from`: the directory (relative to the case) of another case whose weight files it uses;
//! - `inputs.safetensors`: what the component is fed (including injected noise), or `inputs_from`;
//! - `expected.safetensors`: what the reference computed.
//!
//! The metric is the spec's (ltx-audio-spec §8.4): `max|a - b| / max(1, max|ref|)`. A NaN or infinity
//! anywhere in either tensor fails, whatever the tolerance. A case fails when it compares nothing or when one
//! of its expected tensors is never compared, and no case may pass with a tolerance looser than the cap its
//! component registers for that output.
//!
//! Adding a component: in its module, write `fn run(case: &Case) -> Result<Vec<TensorReport>>` (each output
//! compared with [`Case::check`]) and list it in the module's `COMPONENTS: &[Component]` with one [`Cap`] per
//! output; then add that list to [`REGISTRY`].

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Error, Result, Tensor};

mod audio_vae;
mod diffusion;
mod gemma;
mod mel_band_roformer;
pub mod seedvc;
mod text_chain;
mod whisper;

/// Every component the runner knows, one list per module.
pub const REGISTRY: &[&[Component]] = &[
    diffusion::COMPONENTS,
    audio_vae::COMPONENTS,
    gemma::COMPONENTS,
    text_chain::COMPONENTS,
    seedvc::COMPONENTS,
    whisper::COMPONENTS,
    mel_band_roformer::COMPONENTS,
];

/// A component's runner and the loosest tolerances the spec allows it.
#[derive(Debug)]
pub struct Component {
    /// `case.json` `component`.
    pub name: &'static str,
    /// `case.json` `dtype`: what our side computes in (`f32` unless the case says otherwise).
    pub dtype: DType,
    /// One per output the runner compares.
    pub caps: &'static [Cap],
    /// Load the case's weights through the real loaders, recompute, [`Case::check`] every output.
    pub run: fn(&Case) -> Result<Vec<TensorReport>>,
}

/// The loosest tolerance any case may use for the outputs matching `tensor`: an exact name, or a prefix
/// followed by `*` (`velocity_*`, `hs.*`).
#[derive(Debug, Clone, Copy)]
pub struct Cap {
    pub tensor: &'static str,
    pub max: f64,
    /// Where the number comes from (spec section, or the measured bf16 error it bounds).
    pub source: &'static str,
}

impl Cap {
    fn matches(&self, tensor: &str) -> bool {
        match self.tensor.strip_suffix('*') {
            Some(prefix) => tensor.starts_with(prefix),
            None => tensor == self.tensor,
        }
    }
}

impl Component {
    /// The cap for `tensor`, if this component registers one.
    pub fn cap(&self, tensor: &str) -> Option<&Cap> {
        self.caps.iter().find(|c| c.matches(tensor))
    }
}

/// Every registered component.
pub fn components() -> impl Iterator<Item = &'static Component> {
    REGISTRY.iter().flat_map(|list| list.iter())
}

/// The component registered for `name` computing in `dtype`.
pub fn component(name: &str, dtype: DType) -> Option<&'static Component> {
    components().find(|c| c.name == name && c.dtype == dtype)
}

/// What a case directory says about itself.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct CaseMeta {
    pub component: String,
    /// `f32` or `bf16`: the dtype the reference ran in and ours must run in.
    #[serde(default = "default_dtype")]
    pub dtype: String,
    #[serde(default)]
    pub config: serde_json::Value,
    #[serde(default)]
    pub seed: u64,
    /// Tolerance for tensors not named in `tolerances`.
    pub tolerance: f64,
    #[serde(default)]
    pub tolerances: HashMap<String, f64>,
    /// Another case directory (relative to this one) whose weight files this case uses.
    #[serde(default)]
    pub weights_from: Option<String>,
    /// Another case directory whose `inputs.safetensors` this case uses (when it has none of its own).
    #[serde(default)]
    pub inputs_from: Option<String>,
    /// Free-form details the component needs (file names, step counts, ...).
    #[serde(default)]
    pub extra: serde_json::Value,
}

fn default_dtype() -> String {
    "f32".into()
}

fn parse_dtype(name: &str) -> Result<DType> {
    match name {
        "f32" => Ok(DType::F32),
        "bf16" => Ok(DType::BF16),
        other => Err(Error::Msg(format!("dtype `{other}` is not one of f32, bf16"))),
    }
}

/// One loaded case.
pub struct Case {
    pub dir: PathBuf,
    pub meta: CaseMeta,
    pub inputs: HashMap<String, Tensor>,
    pub expected: HashMap<String, Tensor>,
    /// For a bf16 case, the f32 reference of its `weights_from` case (what the reports' `vs_f32` measures).
    pub f32_expected: HashMap<String, Tensor>,
    /// Where the runner computes: the CPU under `cargo test`, a GPU in the device check. Inputs are placed
    /// on it; expectations stay on the CPU (the metric runs there).
    device: Device,
    component: &'static Component,
    /// Expected tensors [`Case::check`] has compared so far.
    compared: RefCell<BTreeSet<String>>,
}

impl Case {
    /// Read `dir/case.json` and the tensors; an unknown component or dtype is an error.
    pub fn load(dir: &Path) -> Result<Self> {
        Self::load_on(dir, &Device::Cpu)
    }

    /// [`Case::load`] for a run on `device`.
    pub fn load_on(dir: &Path, device: &Device) -> Result<Self> {
        let meta_path = dir.join("case.json");
        let text = std::fs::read_to_string(&meta_path)
            .map_err(|e| Error::Msg(format!("{}: {e}", meta_path.display())))?;
        let meta: CaseMeta =
            serde_json::from_str(&text).map_err(|e| Error::Msg(format!("{}: {e}", meta_path.display())))?;
        let dtype =
            parse_dtype(&meta.dtype).map_err(|e| Error::Msg(format!("{}: {e}", meta_path.display())))?;
        let component = component(&meta.component, dtype).ok_or_else(|| {
            Error::Msg(format!(
                "{}: no runner for component `{}` in {}",
                meta_path.display(),
                meta.component,
                meta.dtype
            ))
        })?;
        let load = |path: PathBuf| -> Result<HashMap<String, Tensor>> {
            if path.exists() {
                candle_core::safetensors::load(&path, &Device::Cpu)
            } else {
                Ok(HashMap::new())
            }
        };
        let own_inputs = dir.join("inputs.safetensors");
        let inputs = match &meta.inputs_from {
            Some(other) if !own_inputs.exists() => load(dir.join(other).join("inputs.safetensors"))?,
            _ => load(own_inputs)?,
        };
        let inputs = inputs
            .into_iter()
            .map(|(name, t)| Ok((name, t.to_device(device)?)))
            .collect::<Result<HashMap<_, _>>>()?;
        let expected = load(dir.join("expected.safetensors"))?;
        let f32_expected = match &meta.weights_from {
            Some(other) if dtype != DType::F32 => load(dir.join(other).join("expected.safetensors"))?,
            _ => HashMap::new(),
        };
        Ok(Self {
            dir: dir.to_path_buf(),
            inputs,
            expected,
            f32_expected,
            meta,
            device: device.clone(),
            component,
            compared: RefCell::new(BTreeSet::new()),
        })
    }

    /// Name shown in reports: the directory's file name.
    pub fn name(&self) -> String {
        self.dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| self.dir.display().to_string())
    }

    /// The dtype our side must compute in.
    pub fn dtype(&self) -> DType {
        self.component.dtype
    }

    /// The device our side computes on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The text encoder's dense mode for this case's device and dtype.
    pub fn gemma_mode(&self) -> crate::gemma::MemoryMode {
        use crate::gemma::{MemoryMode, Placement, WeightFormat};
        let placement = if self.device.is_cpu() { Placement::Cpu } else { Placement::Gpu };
        MemoryMode { placement, dtype: self.dtype(), weights: WeightFormat::Dense }
    }

    /// The path of weight file `name`: in this case, or in its `weights_from` case.
    pub fn weights(&self, name: &str) -> PathBuf {
        match &self.meta.weights_from {
            Some(other) => self.dir.join(other).join(name),
            None => self.dir.join(name),
        }
    }

    pub fn input(&self, name: &str) -> Result<&Tensor> {
        self.inputs
            .get(name)
            .ok_or_else(|| Error::Msg(format!("case {}: no input tensor `{name}`", self.name())))
    }

    /// Input `name` cast to the case's dtype (floating tensors only; ids and masks stay as stored).
    pub fn input_as_dtype(&self, name: &str) -> Result<Tensor> {
        let t = self.input(name)?;
        if t.dtype().is_float() { t.to_dtype(self.dtype()) } else { Ok(t.clone()) }
    }

    pub fn expected(&self, name: &str) -> Result<&Tensor> {
        self.expected
            .get(name)
            .ok_or_else(|| Error::Msg(format!("case {}: no expected tensor `{name}`", self.name())))
    }

    /// The tolerance applied to `tensor`: the case's, never looser than the component's cap. `None` when the
    /// component registers no cap for it.
    pub fn tolerance(&self, tensor: &str) -> Option<f64> {
        let asked = self.meta.tolerances.get(tensor).copied().unwrap_or(self.meta.tolerance);
        self.component.cap(tensor).map(|cap| asked.min(cap.max))
    }

    /// Compare `got` with the expected tensor of the same name.
    pub fn check(&self, tensor: &str, got: &Tensor) -> Result<TensorReport> {
        self.check_as(tensor, tensor, got)
    }

    /// Compare `got` with expected tensor `tensor`, reported under `label` (a second path to the same
    /// output, e.g. the streaming decoder).
    pub fn check_as(&self, tensor: &str, label: &str, got: &Tensor) -> Result<TensorReport> {
        let want = self.expected(tensor)?;
        let diff = compare(got, want)?;
        self.compared.borrow_mut().insert(tensor.to_string());
        let (tolerance, problem) = match self.tolerance(tensor) {
            Some(tol) => (tol, None),
            None => (0.0, Some(format!("component `{}` registers no tolerance cap", self.meta.component))),
        };
        let problem = problem
            .or_else(|| (diff.nonfinite > 0).then(|| format!("{} NaN/infinite values", diff.nonfinite)));
        let vs_f32 = match self.f32_expected.get(tensor) {
            Some(reference) => Some(compare(got, reference)?.scaled),
            None => None,
        };
        Ok(TensorReport {
            case: self.name(),
            component: self.meta.component.clone(),
            tensor: label.to_string(),
            max_abs: diff.max_abs,
            scaled: diff.scaled,
            tolerance,
            pass: problem.is_none() && diff.within(tolerance),
            problem,
            vs_f32,
        })
    }

    /// Failing reports for expected tensors that no [`Case::check`] compared.
    fn uncompared(&self) -> Vec<TensorReport> {
        let compared = self.compared.borrow();
        let mut names: Vec<&String> = self.expected.keys().filter(|k| !compared.contains(*k)).collect();
        names.sort();
        names
            .into_iter()
            .map(|name| TensorReport {
                case: self.name(),
                component: self.meta.component.clone(),
                tensor: name.clone(),
                max_abs: f64::INFINITY,
                scaled: f64::INFINITY,
                tolerance: 0.0,
                pass: false,
                problem: Some("expected tensor was never compared".into()),
                vs_f32: None,
            })
            .collect()
    }
}

/// One compared output tensor.
#[derive(Debug, Clone)]
pub struct TensorReport {
    pub case: String,
    pub component: String,
    pub tensor: String,
    /// `max|a - b|` (infinite when either tensor holds a NaN or infinity).
    pub max_abs: f64,
    /// `max|a - b| / max(1, max|ref|)`, the quantity held to `tolerance`.
    pub scaled: f64,
    /// The tolerance applied (the case's, capped by the component's).
    pub tolerance: f64,
    pub pass: bool,
    /// Why it failed beyond the tolerance: non-finite values, never compared, no cap.
    pub problem: Option<String>,
    /// bf16 cases: the scaled error of our output against the f32 reference (information, not checked).
    pub vs_f32: Option<f64>,
}

impl std::fmt::Display for TensorReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:<30} {:<18} {:<24} max_abs={:.3e} scaled={:.3e} tol={:.1e} {}",
            self.case,
            self.component,
            self.tensor,
            self.max_abs,
            self.scaled,
            self.tolerance,
            if self.pass { "PASS" } else { "FAIL" }
        )?;
        if let Some(vs_f32) = self.vs_f32 {
            write!(f, " vs_f32={vs_f32:.3e}")?;
        }
        if let Some(problem) = &self.problem {
            write!(f, " ({problem})")?;
        }
        Ok(())
    }
}

/// The difference of two tensors under the spec's metric.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Comparison {
    /// `max|a - b|`; infinite when `nonfinite > 0`.
    pub max_abs: f64,
    /// `max|a - b| / max(1, max|b|)`; infinite when `nonfinite > 0`.
    pub scaled: f64,
    /// NaN or infinite values in either tensor.
    pub nonfinite: usize,
}

impl Comparison {
    /// Finite everywhere and `scaled <= tolerance`.
    pub fn within(&self, tolerance: f64) -> bool {
        self.nonfinite == 0 && self.scaled <= tolerance
    }
}

/// The one parity metric: compare `got` with the reference `want` (shapes must match exactly), element by
/// element in f64, counting non-finite values on either side (candle's `max` skips NaN, so it is not used).
pub fn compare(got: &Tensor, want: &Tensor) -> Result<Comparison> {
    if got.dims() != want.dims() {
        candle_core::bail!("shape mismatch: got {:?}, expected {:?}", got.dims(), want.dims());
    }
    let values = |t: &Tensor| -> Result<Vec<f64>> {
        t.to_device(&Device::Cpu)?.to_dtype(DType::F64)?.flatten_all()?.to_vec1::<f64>()
    };
    let (got, want) = (values(got)?, values(want)?);
    let (mut max_abs, mut ref_max, mut nonfinite) = (0f64, 0f64, 0usize);
    for (&a, &b) in got.iter().zip(&want) {
        nonfinite += usize::from(!a.is_finite()) + usize::from(!b.is_finite());
        max_abs = max_abs.max((a - b).abs());
        ref_max = ref_max.max(b.abs());
    }
    if nonfinite > 0 {
        return Ok(Comparison { max_abs: f64::INFINITY, scaled: f64::INFINITY, nonfinite });
    }
    Ok(Comparison { max_abs, scaled: max_abs / ref_max.max(1.0), nonfinite })
}

/// `(max|a - b|, max|a - b| / max(1, max|b|))` of [`compare`]; both infinite when a value is not finite.
pub fn parity_error(got: &Tensor, want: &Tensor) -> Result<(f64, f64)> {
    let c = compare(got, want)?;
    Ok((c.max_abs, c.scaled))
}

/// Run one case directory through its Rust component and compare every output. Besides the tolerance
/// checks, the reports include a failure for every expected tensor not compared; a case that compares
/// nothing is an error.
pub fn run_case(dir: &Path) -> Result<Vec<TensorReport>> {
    run_case_on(dir, &Device::Cpu)
}

/// [`run_case`] computing on `device` (the committed expectations are the same on every device).
pub fn run_case_on(dir: &Path, device: &Device) -> Result<Vec<TensorReport>> {
    let case = Case::load_on(dir, device)?;
    if case.expected.is_empty() {
        candle_core::bail!("case {}: no expected tensors", case.name());
    }
    let mut reports = (case.component.run)(&case)?;
    if reports.is_empty() {
        candle_core::bail!("case {}: the runner compared nothing", case.name());
    }
    reports.extend(case.uncompared());
    Ok(reports)
}

/// Everything one run over some case directories found.
#[derive(Debug, Default)]
pub struct RunSummary {
    pub cases: usize,
    pub reports: Vec<TensorReport>,
    /// Cases that could not run, and roots without any case.
    pub errors: Vec<String>,
}

impl RunSummary {
    /// Failed tensors and errors, one line each.
    pub fn failures(&self) -> Vec<String> {
        let failed = self.reports.iter().filter(|r| !r.pass).map(ToString::to_string);
        failed.chain(self.errors.iter().cloned()).collect()
    }

    /// True when at least one case ran and nothing failed.
    pub fn passed(&self) -> bool {
        self.cases > 0 && self.failures().is_empty()
    }
}

/// Run every case under `root` ([`find_cases`]); a root without cases is an error.
pub fn run_all(root: &Path) -> RunSummary {
    run_all_on(root, &Device::Cpu)
}

/// [`run_all`] computing on `device`.
pub fn run_all_on(root: &Path, device: &Device) -> RunSummary {
    let mut summary = RunSummary::default();
    let cases = find_cases(root);
    if cases.is_empty() {
        summary.errors.push(format!("{}: no case.json found", root.display()));
    }
    for dir in cases {
        summary.cases += 1;
        match run_case_on(&dir, device) {
            Ok(reports) => summary.reports.extend(reports),
            Err(err) => summary.errors.push(format!("{}: ERROR {err}", dir.display())),
        }
    }
    summary
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

#[cfg(test)]
mod tests {
    use super::*;

    fn t(values: &[f32]) -> Tensor {
        Tensor::new(values, &Device::Cpu).unwrap()
    }

    #[test]
    fn any_nan_or_infinity_fails_the_metric() {
        let want = t(&[1.0, 2.0, 3.0, 4.0]);
        assert!(compare(&want, &want).unwrap().within(0.0));
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            for index in 0..4 {
                let mut values = vec![1.0, 2.0, 3.0, 4.0];
                values[index] = bad;
                let got = t(&values);
                let c = compare(&got, &want).unwrap();
                assert!(!c.within(f64::MAX), "{bad} at {index}: {c:?}");
                assert_eq!(c.nonfinite, 1);
                assert!(!compare(&want, &got).unwrap().within(f64::MAX), "{bad} in the reference");
                let (max_abs, scaled) = parity_error(&got, &want).unwrap();
                assert!(max_abs.is_infinite() && scaled.is_infinite());
            }
        }
    }

    #[test]
    fn metric_scales_by_the_reference_peak_above_one() {
        let c = compare(&t(&[0.0, 4.5]), &t(&[0.0, 4.0])).unwrap();
        assert_eq!((c.max_abs, c.scaled), (0.5, 0.125));
        let c = compare(&t(&[0.25]), &t(&[0.0])).unwrap();
        assert_eq!((c.max_abs, c.scaled), (0.25, 0.25));
        assert!(compare(&t(&[0.0, 1.0]), &t(&[0.0])).is_err());
    }

    #[test]
    fn every_component_caps_every_tolerance_it_is_asked_for() {
        let mut seen = BTreeSet::new();
        for c in components() {
            assert!(seen.insert((c.name, format!("{:?}", c.dtype))), "{} registered twice", c.name);
            assert!(!c.caps.is_empty(), "{} has no caps", c.name);
            for cap in c.caps {
                assert!(cap.max.is_finite() && cap.max >= 0.0 && cap.max < 1.0, "{}: {cap:?}", c.name);
            }
        }
        let transformer = component("transformer", DType::F32).unwrap();
        assert_eq!(transformer.cap("velocity_1").map(|c| c.max), Some(1e-5));
        assert_eq!(transformer.cap("positions").map(|c| c.max), Some(0.0));
        assert!(transformer.cap("positionsX").is_none());
    }
}
