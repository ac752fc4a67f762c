//! PyTorch checkpoints (`torch.save` zip archives) read without running Python: candle's restricted pickle
//! reader builds the object tree (it knows tensors, dicts, lists and scalars, and executes nothing), and the
//! tensor records are read from the archive.
//!
//! On top of that: selecting a nested state dict (`state["net"]["cfm"]`), stripping a key prefix, folding
//! weight norm (`weight_g`, `weight_v` → `weight`), and a `VarBuilder` that remembers which tensors a model
//! took, so that every key a model leaves unused is reported rather than silently skipped.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use candle_core::pickle::{Object, Stack, TensorInfo};
use candle_core::{DType, Device, Error, Result, Shape, Tensor};
use candle_nn::VarBuilder;

/// Tensors by their state-dict name.
pub type StateDict = BTreeMap<String, Tensor>;

fn fail(path: &Path, what: impl std::fmt::Display) -> Error {
    Error::Msg(format!("{}: {what}", path.display()))
}

/// The pickled object tree of a `torch.save` archive, with where its tensor records live.
pub struct PthFile {
    path: PathBuf,
    root: Object,
    /// `archive/data` inside the zip (the folder the tensor records are in).
    data_dir: PathBuf,
}

impl PthFile {
    pub fn open(path: &Path) -> Result<Self> {
        let file = std::fs::File::open(path).map_err(|e| fail(path, format!("cannot open: {e}")))?;
        let mut zip = zip::ZipArchive::new(BufReader::new(file)).map_err(|e| {
            fail(
                path,
                format!(
                    "not a PyTorch zip checkpoint ({e}); files saved with the legacy (pre-1.6) format are not \
                     supported"
                ),
            )
        })?;
        let pkl = zip
            .file_names()
            .filter_map(|n| n.ok().map(|n| n.into_owned()))
            .find(|n| n.ends_with("data.pkl"))
            .ok_or_else(|| fail(path, "no data.pkl inside: not a torch.save archive"))?;
        let data_dir = PathBuf::from(pkl.strip_suffix(".pkl").unwrap_or(&pkl));
        let mut reader = BufReader::new(zip.by_name(&pkl).map_err(|e| fail(path, e))?);
        let mut stack = Stack::empty();
        stack.read_loop(&mut reader).map_err(|e| fail(path, format!("unreadable pickle: {e}")))?;
        let root = stack.finalize().map_err(|e| fail(path, format!("unreadable pickle: {e}")))?;
        Ok(Self { path: path.to_path_buf(), root, data_dir })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The dict at `keys` (`&[]`: the top level), loaded as tensors in f32 or their stored float dtype.
    /// Entries that are not tensors (nested dicts, numbers) are left out.
    pub fn state_dict(&self, keys: &[&str]) -> Result<StateDict> {
        let mut obj = &self.root;
        for (depth, key) in keys.iter().enumerate() {
            let Object::Dict(items) = obj else {
                return Err(fail(&self.path, format!("`{}` is not a dict", keys[..depth].join("."))));
            };
            obj = items
                .iter()
                .find(|(k, _)| matches!(k, Object::Unicode(s) if s == key))
                .map(|(_, v)| v)
                .ok_or_else(|| {
                    let have: Vec<String> = items
                        .iter()
                        .filter_map(|(k, _)| match k {
                            Object::Unicode(s) => Some(format!("`{s}`")),
                            _ => None,
                        })
                        .collect();
                    fail(
                        &self.path,
                        format!("no `{}` entry (it has {})", keys[..=depth].join("."), have.join(", ")),
                    )
                })?;
        }
        let Object::Dict(items) = obj else {
            return Err(fail(&self.path, format!("`{}` is not a state dict", keys.join("."))));
        };
        let infos: Vec<TensorInfo> = items
            .iter()
            .filter_map(|(name, value)| {
                value.clone().into_tensor_info(name.clone(), &self.data_dir).ok().flatten()
            })
            .collect();
        let file = std::fs::File::open(&self.path).map_err(|e| fail(&self.path, e))?;
        let mut zip = zip::ZipArchive::new(BufReader::new(file)).map_err(|e| fail(&self.path, e))?;
        let mut tensors = StateDict::new();
        for info in infos {
            let tensor = read_record(&mut zip, &info)
                .map_err(|e| fail(&self.path, format!("`{}`: {e}", info.name)))?;
            tensors.insert(info.name.clone(), tensor);
        }
        Ok(tensors)
    }
}

fn read_record<R: Read + std::io::Seek>(zip: &mut zip::ZipArchive<R>, info: &TensorInfo) -> Result<Tensor> {
    let mut reader = zip.by_name(&info.path).map_err(|e| Error::Msg(format!("record {}: {e}", info.path)))?;
    let layout = &info.layout;
    let fortran = layout.is_fortran_contiguous() && layout.shape().rank() > 1;
    if !layout.is_contiguous() && !fortran {
        candle_core::bail!("strided tensor {:?} (not stored contiguously)", layout.dims());
    }
    let mut skip = vec![0u8; layout.start_offset()];
    reader.read_exact(&mut skip)?;
    let mut bytes = vec![0u8; layout.shape().elem_count() * info.dtype.size_in_bytes()];
    reader.read_exact(&mut bytes)?;
    if !fortran {
        return Tensor::from_raw_buffer(&bytes, info.dtype, layout.dims(), &Device::Cpu);
    }
    // Column-major storage: read it reversed, then reverse the dims back.
    let reversed: Vec<usize> = layout.dims().iter().rev().copied().collect();
    let t = Tensor::from_raw_buffer(&bytes, info.dtype, &reversed, &Device::Cpu)?;
    let order: Vec<usize> = (0..layout.dims().len()).rev().collect();
    t.permute(order)?.contiguous()
}

/// Keys with `prefix` lose it (the reference strips DDP's `module.`); others are kept as they are.
pub fn strip_prefix(tensors: StateDict, prefix: &str) -> StateDict {
    tensors.into_iter().map(|(k, v)| (k.strip_prefix(prefix).map(str::to_string).unwrap_or(k), v)).collect()
}

/// Replace every `P.weight_g` + `P.weight_v` pair by `P.weight = g · v / ‖v‖`, the norm over every dim but the
/// first (PyTorch `weight_norm(dim=0)`: out-channels of a Conv1d/Linear, in-channels of a ConvTranspose1d,
/// whose weight is `(in, out, k)`). Computed in f32.
pub fn fold_weight_norm(tensors: &mut StateDict) -> Result<()> {
    let stems: Vec<String> =
        tensors.keys().filter_map(|k| k.strip_suffix(".weight_g").map(str::to_string)).collect();
    for stem in stems {
        let (g_key, v_key) = (format!("{stem}.weight_g"), format!("{stem}.weight_v"));
        let Some(v) = tensors.get(&v_key) else {
            candle_core::bail!("`{g_key}` has no `{v_key}` beside it");
        };
        let v = v.to_dtype(DType::F32)?;
        let g = tensors[&g_key].to_dtype(DType::F32)?;
        let rows = v.dim(0)?;
        // (d0, ...) -> (d0, rest): ‖v‖ per leading index.
        let norm = v.reshape((rows, ()))?.sqr()?.sum_keepdim(1)?.sqrt()?;
        let g = g.reshape((rows, 1))?;
        let w = v.reshape((rows, ()))?.broadcast_mul(&g.broadcast_div(&norm)?)?.reshape(v.shape())?;
        tensors.remove(&g_key);
        tensors.remove(&v_key);
        tensors.insert(format!("{stem}.weight"), w);
    }
    Ok(())
}

/// A `VarBuilder` source over a loaded state dict that records which tensors were taken.
#[derive(Clone)]
pub struct TrackedTensors {
    inner: Arc<Tracked>,
}

struct Tracked {
    tensors: HashMap<String, Tensor>,
    used: Mutex<BTreeSet<String>>,
    source: String,
}

impl TrackedTensors {
    /// `source` names the file(s) in error messages.
    pub fn new(tensors: StateDict, source: impl Into<String>) -> Self {
        let inner = Tracked {
            tensors: tensors.into_iter().collect(),
            used: Mutex::new(BTreeSet::new()),
            source: source.into(),
        };
        Self { inner: Arc::new(inner) }
    }

    pub fn var_builder(&self, dtype: DType, device: &Device) -> VarBuilder<'static> {
        VarBuilder::from_backend(Box::new(self.clone()), dtype, device.clone())
    }

    /// Stored keys no module took, sorted: the reference's silently skipped keys, here reported.
    pub fn unused(&self) -> Vec<String> {
        let used = self.inner.used.lock().map(|u| u.clone()).unwrap_or_default();
        let mut unused: Vec<String> =
            self.inner.tensors.keys().filter(|k| !used.contains(*k)).cloned().collect();
        unused.sort();
        unused
    }

    fn take(&self, name: &str, dtype: DType, dev: &Device) -> Result<Tensor> {
        let t = self
            .inner
            .tensors
            .get(name)
            .ok_or_else(|| Error::Msg(format!("{}: missing tensor `{name}`", self.inner.source)))?;
        if let Ok(mut used) = self.inner.used.lock() {
            used.insert(name.to_string());
        }
        t.to_dtype(dtype)?.to_device(dev)
    }
}

impl candle_nn::var_builder::SimpleBackend for TrackedTensors {
    fn get(&self, s: Shape, name: &str, _h: candle_nn::Init, dtype: DType, dev: &Device) -> Result<Tensor> {
        let t = self.take(name, dtype, dev)?;
        if t.shape() != &s {
            // The reference would skip a mis-shaped tensor and run with its random init; refuse instead.
            return Err(Error::Msg(format!(
                "{}: tensor `{name}` has shape {:?}, the model expects {:?}",
                self.inner.source,
                t.dims(),
                s.dims()
            )));
        }
        Ok(t)
    }

    fn get_unchecked(&self, name: &str, dtype: DType, dev: &Device) -> Result<Tensor> {
        self.take(name, dtype, dev)
    }

    fn contains_tensor(&self, name: &str) -> bool {
        self.inner.tensors.contains_key(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weight_norm_folds_per_leading_index() {
        let v = Tensor::new(&[[[3f32, 4.0]], [[0.0, 2.0]]], &Device::Cpu).unwrap(); // (2, 1, 2)
        let g = Tensor::new(&[[[10f32]], [[0.5]]], &Device::Cpu).unwrap();
        let mut sd = StateDict::from([("c.weight_g".to_string(), g), ("c.weight_v".to_string(), v)]);
        fold_weight_norm(&mut sd).unwrap();
        assert!(!sd.contains_key("c.weight_g"));
        let w = sd["c.weight"].flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(w, vec![6.0, 8.0, 0.0, 0.5]);
    }

    #[test]
    fn unused_keys_are_reported() {
        let t = |x: f32| Tensor::new(&[x], &Device::Cpu).unwrap();
        let sd = StateDict::from([("a.w".to_string(), t(1.0)), ("b.w".to_string(), t(2.0))]);
        let tracked = TrackedTensors::new(sd, "test");
        let vb = tracked.var_builder(DType::F32, &Device::Cpu);
        vb.pp("a").get(1, "w").unwrap();
        assert_eq!(tracked.unused(), vec!["b.w".to_string()]);
        let err = vb.pp("b").get(2, "w").unwrap_err().to_string();
        assert!(err.contains("`b.w`") && err.contains("[1]"), "{err}");
    }
}
