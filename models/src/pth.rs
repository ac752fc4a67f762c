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

/// What [`save`] writes: nested string-keyed dicts with tensors at the leaves (`torch.save({"net": {...}})`).
#[derive(Debug, Clone)]
pub enum PthValue {
    Dict(Vec<(String, PthValue)>),
    Tensor(Tensor),
}

/// Writes a `torch.save`-compatible zip archive (pickle protocol 2, one storage record per tensor, tensors as
/// `torch._utils._rebuild_tensor_v2` calls) that both `torch.load(weights_only=True)` and [`PthFile`] read.
/// `archive` is the folder name inside the zip (torch uses the file stem). f32, f16, bf16, f64 and i64 tensors.
pub fn save(path: &Path, archive: &str, root: &PthValue) -> Result<()> {
    use std::io::Write as _;
    let mut pickle = Pickler { out: vec![0x80, 2], storages: Vec::new() };
    pickle.value(root)?;
    pickle.out.push(b'.');
    let file = std::fs::File::create(path).map_err(|e| fail(path, format!("cannot create: {e}")))?;
    let mut zip = zip::ZipWriter::new(file);
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .last_modified_time(zip::DateTime::default());
    let mut put = |name: String, bytes: &[u8]| -> Result<()> {
        zip.start_file(name, options).map_err(|e| fail(path, e))?;
        zip.write_all(bytes).map_err(|e| fail(path, e))
    };
    put(format!("{archive}/data.pkl"), &pickle.out)?;
    put(format!("{archive}/byteorder"), b"little")?;
    for (i, bytes) in pickle.storages.iter().enumerate() {
        put(format!("{archive}/data/{i}"), bytes)?;
    }
    put(format!("{archive}/version"), b"3\n")?;
    zip.finish().map_err(|e| fail(path, e))?;
    Ok(())
}

struct Pickler {
    out: Vec<u8>,
    storages: Vec<Vec<u8>>,
}

impl Pickler {
    fn unicode(&mut self, s: &str) {
        self.out.push(b'X');
        self.out.extend_from_slice(&(s.len() as u32).to_le_bytes());
        self.out.extend_from_slice(s.as_bytes());
    }

    fn global(&mut self, module: &str, name: &str) {
        self.out.push(b'c');
        self.out.extend_from_slice(format!("{module}\n{name}\n").as_bytes());
    }

    fn int(&mut self, v: usize) {
        match v {
            0..=0xff => self.out.extend_from_slice(&[b'K', v as u8]),
            0x100..=0xffff => {
                self.out.push(b'M');
                self.out.extend_from_slice(&(v as u16).to_le_bytes());
            }
            _ => {
                self.out.push(b'J');
                self.out.extend_from_slice(&(v as i32).to_le_bytes());
            }
        }
    }

    fn tuple(&mut self, items: &[usize]) {
        self.out.push(b'(');
        for &i in items {
            self.int(i);
        }
        self.out.push(b't');
    }

    fn value(&mut self, v: &PthValue) -> Result<()> {
        match v {
            PthValue::Dict(items) => {
                self.out.push(b'}');
                if !items.is_empty() {
                    self.out.push(b'(');
                    for (k, v) in items {
                        self.unicode(k);
                        self.value(v)?;
                    }
                    self.out.push(b'u');
                }
            }
            PthValue::Tensor(t) => self.tensor(t)?,
        }
        Ok(())
    }

    fn tensor(&mut self, t: &Tensor) -> Result<()> {
        let storage = match t.dtype() {
            DType::F32 => "FloatStorage",
            DType::F16 => "HalfStorage",
            DType::BF16 => "BFloat16Storage",
            DType::F64 => "DoubleStorage",
            DType::I64 => "LongStorage",
            other => candle_core::bail!("pth: cannot store {other:?} tensors"),
        };
        let dims = t.dims().to_vec();
        let mut strides = vec![1usize; dims.len()];
        for i in (0..dims.len().saturating_sub(1)).rev() {
            strides[i] = strides[i + 1] * dims[i + 1];
        }
        let key = self.storages.len();
        self.storages.push(raw_bytes(t)?);
        self.global("torch._utils", "_rebuild_tensor_v2");
        self.out.push(b'(');
        // persistent id ('storage', torch.FloatStorage, key, location, numel)
        self.out.push(b'(');
        self.unicode("storage");
        self.global("torch", storage);
        self.unicode(&key.to_string());
        self.unicode("cpu");
        self.int(t.elem_count());
        self.out.extend_from_slice(b"tQ");
        self.int(0);
        self.tuple(&dims);
        self.tuple(&strides);
        self.out.push(0x89); // requires_grad = False
        self.global("collections", "OrderedDict");
        self.out.extend_from_slice(b")R"); // backward_hooks = OrderedDict()
        self.out.extend_from_slice(b"tR");
        Ok(())
    }
}

fn raw_bytes(t: &Tensor) -> Result<Vec<u8>> {
    let t = t.to_device(&Device::Cpu)?.flatten_all()?;
    Ok(match t.dtype() {
        DType::F32 => t.to_vec1::<f32>()?.iter().flat_map(|v| v.to_le_bytes()).collect(),
        DType::F16 => t.to_vec1::<half::f16>()?.iter().flat_map(|v| v.to_le_bytes()).collect(),
        DType::BF16 => t.to_vec1::<half::bf16>()?.iter().flat_map(|v| v.to_le_bytes()).collect(),
        DType::F64 => t.to_vec1::<f64>()?.iter().flat_map(|v| v.to_le_bytes()).collect(),
        DType::I64 => t.to_vec1::<i64>()?.iter().flat_map(|v| v.to_le_bytes()).collect(),
        other => candle_core::bail!("pth: cannot store {other:?} tensors"),
    })
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
    fn saved_archives_read_back() {
        let dir = std::env::temp_dir().join(format!("pb-pth-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("w.pth");
        let a = Tensor::arange(0f32, 6.0, &Device::Cpu).unwrap().reshape((2, 3)).unwrap();
        let b = Tensor::new(&[1.5f32, -2.0], &Device::Cpu).unwrap().to_dtype(DType::BF16).unwrap();
        let root = PthValue::Dict(vec![(
            "net".into(),
            PthValue::Dict(vec![
                ("cfm".into(), PthValue::Dict(vec![("a.w".into(), PthValue::Tensor(a.clone()))])),
                ("lr".into(), PthValue::Dict(vec![("b".into(), PthValue::Tensor(b))])),
            ]),
        )]);
        save(&path, "w", &root).unwrap();
        let file = PthFile::open(&path).unwrap();
        let cfm = file.state_dict(&["net", "cfm"]).unwrap();
        assert_eq!(cfm["a.w"].to_vec2::<f32>().unwrap(), a.to_vec2::<f32>().unwrap());
        let lr = file.state_dict(&["net", "lr"]).unwrap();
        assert_eq!(lr["b"].dtype(), DType::BF16);
        assert_eq!(lr["b"].to_dtype(DType::F32).unwrap().to_vec1::<f32>().unwrap(), vec![1.5, -2.0]);
        let err = file.state_dict(&["net", "dit"]).unwrap_err().to_string();
        assert!(err.contains("net.dit") && err.contains("`cfm`"), "{err}");
        std::fs::write(&path, b"not a zip").unwrap();
        let err = PthFile::open(&path).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("not a PyTorch zip checkpoint"), "{err}");
        std::fs::remove_dir_all(&dir).ok();
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
