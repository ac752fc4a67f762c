//! Checkpoint access: safetensors headers (with the `config` metadata), memory-mapped tensors, and a
//! `VarBuilder` over one or more files that dequantises INT8 linears and names the file, key and shapes
//! in every error.
//!
//! INT8 layout (ltx-audio-spec §1.4): a linear at path `P` stores `P.weight.int8` (i8, `[out, in]`) and
//! `P.weight.scale` (f32, `[out]`); `W[o, i] = int8[o, i] * scale[o]`, computed in f32 then cast.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use candle_core::safetensors::MmapedSafetensors;
use candle_core::{DType, Device, Error, Result, Shape, Tensor};
use candle_nn::VarBuilder;

/// Suffixes of the INT8 weight format.
pub const INT8_SUFFIX: &str = ".int8";
pub const SCALE_SUFFIX: &str = ".scale";

/// A safetensors header: tensor names, dtypes, shapes and the `__metadata__` strings.
#[derive(Debug, Clone)]
pub struct Header {
    pub tensors: BTreeMap<String, TensorInfo>,
    pub metadata: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorInfo {
    /// As written in the header (`BF16`, `F32`, `I8`, ...).
    pub dtype: String,
    pub shape: Vec<usize>,
    /// Byte range inside the data section.
    pub data_offsets: (usize, usize),
}

impl Header {
    /// The `config` metadata string parsed as JSON (the real checkpoints carry the model config there).
    pub fn config(&self) -> Result<Option<serde_json::Value>> {
        match self.metadata.get("config") {
            None => Ok(None),
            Some(text) => serde_json::from_str(text)
                .map(Some)
                .map_err(|e| Error::Msg(format!("`config` metadata is not valid JSON: {e}"))),
        }
    }
}

/// A real header is a few MB at most; a larger claimed length means this is not a safetensors file.
const MAX_HEADER_BYTES: u64 = 100 * 1024 * 1024;

/// Read and check only the header of a safetensors file (no mmap). Truncated or corrupt files give an
/// error naming the file and what is wrong.
pub fn read_header(path: &Path) -> Result<Header> {
    let fail = |what: String| Error::Msg(format!("{}: {what}", path.display()));
    let mut file = std::fs::File::open(path).map_err(|e| fail(format!("cannot open: {e}")))?;
    let file_len = file.metadata().map_err(|e| fail(e.to_string()))?.len();
    let mut len_bytes = [0u8; 8];
    file.read_exact(&mut len_bytes)
        .map_err(|_| fail("not a safetensors file (shorter than its 8-byte header length)".into()))?;
    let header_len = header_length(len_bytes, file_len).map_err(fail)?;
    let mut raw = vec![0u8; header_len as usize];
    file.read_exact(&mut raw).map_err(|e| fail(format!("truncated header: {e}")))?;
    parse_header(&raw, file_len - 8 - header_len).map_err(fail)
}

/// The header length a file of `file_len` bytes starts with, if it is plausible.
fn header_length(len_bytes: [u8; 8], file_len: u64) -> std::result::Result<u64, String> {
    let header_len = u64::from_le_bytes(len_bytes);
    if header_len > MAX_HEADER_BYTES || header_len + 8 > file_len {
        return Err(format!(
            "not a safetensors file or truncated (header claims {header_len} bytes, file has {file_len})"
        ));
    }
    Ok(header_len)
}

/// Checks a whole safetensors file held in memory, as [`read_header`] does (for fuzzing and tests).
pub fn parse_file_header(bytes: &[u8]) -> std::result::Result<Header, String> {
    let len_bytes: [u8; 8] = bytes
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .ok_or("not a safetensors file (shorter than its 8-byte header length)")?;
    let header_len = header_length(len_bytes, bytes.len() as u64)?;
    let end = 8 + header_len as usize;
    parse_header(&bytes[8..end], (bytes.len() - end) as u64)
}

/// Bytes per element of the dtypes a safetensors header may name.
fn dtype_bytes(dtype: &str) -> Option<u64> {
    Some(match dtype {
        "BOOL" | "U8" | "I8" | "F8_E5M2" | "F8_E4M3" => 1,
        "I16" | "U16" | "F16" | "BF16" => 2,
        "I32" | "U32" | "F32" => 4,
        "I64" | "U64" | "F64" => 8,
        _ => return None,
    })
}

/// Parses the JSON header and checks it the way the loader (the safetensors crate) will: known dtypes,
/// byte ranges that match the shapes, lie back to back from 0 and cover the `data_len` bytes exactly,
/// and string-valued metadata.
pub fn parse_header(raw: &[u8], data_len: u64) -> std::result::Result<Header, String> {
    let json: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(raw).map_err(|e| format!("corrupt header JSON: {e}"))?;
    let mut tensors = BTreeMap::new();
    let mut metadata = BTreeMap::new();
    for (name, value) in json {
        if name == "__metadata__" {
            let map = value.as_object().ok_or("`__metadata__` is not an object")?;
            for (k, v) in map {
                let text = v.as_str().ok_or_else(|| format!("metadata `{k}` is not a string"))?;
                metadata.insert(k.clone(), text.to_string());
            }
            continue;
        }
        let info: RawInfo =
            serde_json::from_value(value).map_err(|e| format!("tensor `{name}`: bad header entry: {e}"))?;
        let (start, end) = (info.data_offsets[0], info.data_offsets[1]);
        if end < start || end as u64 > data_len {
            return Err(format!(
                "tensor `{name}` lies outside the file (bytes {start}..{end} of {data_len}): the file is truncated; delete it and download again"
            ));
        }
        let size = dtype_bytes(&info.dtype)
            .ok_or_else(|| format!("tensor `{name}` has the unknown dtype {:?}", info.dtype))?;
        let bytes = info
            .shape
            .iter()
            .try_fold(size, |n, &d| n.checked_mul(d as u64))
            .ok_or_else(|| format!("tensor `{name}`: the shape {:?} overflows", info.shape))?;
        if bytes != (end - start) as u64 {
            return Err(format!(
                "tensor `{name}`: {} {:?} needs {bytes} bytes, the header gives it {}",
                info.dtype,
                info.shape,
                end - start
            ));
        }
        tensors.insert(name, TensorInfo { dtype: info.dtype, shape: info.shape, data_offsets: (start, end) });
    }
    let mut ranges: Vec<(usize, usize, &str)> =
        tensors.iter().map(|(n, t)| (t.data_offsets.0, t.data_offsets.1, n.as_str())).collect();
    ranges.sort_unstable();
    let mut expected = 0;
    for (start, end, name) in ranges {
        if start != expected {
            return Err(format!(
                "tensor `{name}` starts at byte {start}, expected {expected}: tensors overlap or leave gaps"
            ));
        }
        expected = end;
    }
    if expected as u64 != data_len {
        return Err(format!("the tensors cover {expected} of the {data_len} data bytes"));
    }
    Ok(Header { tensors, metadata })
}

#[derive(serde::Deserialize)]
struct RawInfo {
    dtype: String,
    shape: Vec<usize>,
    data_offsets: [usize; 2],
}

/// One or more memory-mapped safetensors files seen as a single key space.
pub struct Checkpoint {
    paths: Vec<PathBuf>,
    headers: Vec<Header>,
    /// `None` for a header-only checkpoint ([`Checkpoint::open_layout`]).
    tensors: Option<MmapedSafetensors>,
}

impl Checkpoint {
    /// Map `paths` (a tensor name appearing twice resolves to the last file).
    pub fn open<P: AsRef<Path>>(paths: &[P]) -> Result<Self> {
        let paths: Vec<PathBuf> = paths.iter().map(|p| p.as_ref().to_path_buf()).collect();
        let headers = paths.iter().map(|p| read_header(p)).collect::<Result<Vec<_>>>()?;
        let tensors = Some(mmap_safetensors(&paths)?);
        Ok(Self { paths, headers, tensors })
    }

    /// Read only the headers of `paths`. Loading from it checks names, shapes and dtypes exactly as
    /// [`Checkpoint::open`] would, but hands out zero-stride views instead of weights, so building every
    /// module costs no memory: it is how `promptbook models verify` runs the loader's checks.
    pub fn open_layout<P: AsRef<Path>>(paths: &[P]) -> Result<Self> {
        let paths: Vec<PathBuf> = paths.iter().map(|p| p.as_ref().to_path_buf()).collect();
        let headers = paths.iter().map(|p| read_header(p)).collect::<Result<Vec<_>>>()?;
        Ok(Self { paths, headers, tensors: None })
    }

    pub fn paths(&self) -> &[PathBuf] {
        &self.paths
    }

    pub fn headers(&self) -> &[Header] {
        &self.headers
    }

    /// The first `config` metadata found among the files.
    pub fn config(&self) -> Result<Option<serde_json::Value>> {
        for header in &self.headers {
            if let Some(config) = header.config()? {
                return Ok(Some(config));
            }
        }
        Ok(None)
    }

    pub fn info(&self, name: &str) -> Option<&TensorInfo> {
        self.headers.iter().rev().find_map(|h| h.tensors.get(name))
    }

    pub fn contains(&self, name: &str) -> bool {
        self.info(name).is_some()
    }

    /// Load a tensor by its stored name. `I8` (which candle has no dtype for) comes back as `F32`.
    pub fn load_stored(&self, name: &str, device: &Device) -> Result<Tensor> {
        let Some(tensors) = &self.tensors else {
            let info = self
                .info(name)
                .ok_or_else(|| Error::Msg(format!("{}: missing tensor `{name}`", self.describe())))?;
            return self.layout_view(name, info, None, device);
        };
        let view = tensors.get(name)?;
        if view.dtype() == safetensors::Dtype::I8 {
            let values: Vec<f32> = view.data().iter().map(|&b| f32::from(b as i8)).collect();
            return Tensor::from_vec(values, view.shape(), device);
        }
        tensors.load(name, device)
    }

    /// A zero-stride zero tensor standing for `name` in a header-only checkpoint, in `dtype` (else in
    /// the stored dtype), after the checks loading would make.
    fn layout_view(
        &self,
        name: &str,
        info: &TensorInfo,
        dtype: Option<DType>,
        device: &Device,
    ) -> Result<Tensor> {
        let stored = match info.dtype.as_str() {
            "I8" | "F32" => DType::F32,
            "U8" => DType::U8,
            "U32" => DType::U32,
            "I64" => DType::I64,
            "BF16" => DType::BF16,
            "F16" => DType::F16,
            "F64" => DType::F64,
            other => {
                return Err(Error::Msg(format!(
                    "{}: tensor `{name}` is stored as {other}, which cannot be loaded",
                    self.describe()
                )));
            }
        };
        Tensor::zeros((), dtype.unwrap_or(stored), device)?.broadcast_as(info.shape.clone())
    }

    /// A `VarBuilder` over these files, with INT8 dequantisation and descriptive errors.
    pub fn var_builder(self: &Arc<Self>, dtype: DType, device: &Device) -> VarBuilder<'static> {
        VarBuilder::from_backend(
            Box::new(CheckpointBackend { checkpoint: self.clone() }),
            dtype,
            device.clone(),
        )
    }

    fn describe(&self) -> String {
        self.paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
    }

    /// Load `name`, dequantising `name.int8 * name.scale` when only the INT8 form is stored.
    fn load_any(&self, name: &str, dtype: DType, device: &Device) -> Result<Tensor> {
        if self.tensors.is_none() {
            return self.load_layout(name, dtype, device);
        }
        if self.contains(name) {
            return self.load_stored(name, device)?.to_dtype(dtype);
        }
        let (q_name, s_name) = (format!("{name}{INT8_SUFFIX}"), format!("{name}{SCALE_SUFFIX}"));
        if self.contains(&q_name) {
            if !self.contains(&s_name) {
                return Err(Error::Msg(format!(
                    "{}: `{q_name}` has no `{s_name}` beside it",
                    self.describe()
                )));
            }
            let q = self.load_stored(&q_name, device)?;
            let scale = self.load_stored(&s_name, device)?.to_dtype(DType::F32)?;
            return dequantize_int8(&q, &scale)?.to_dtype(dtype);
        }
        Err(Error::Msg(format!("{}: missing tensor `{name}`", self.describe())))
    }

    /// [`Self::load_any`] for a header-only checkpoint: the same lookups and INT8 checks, no data.
    fn load_layout(&self, name: &str, dtype: DType, device: &Device) -> Result<Tensor> {
        if let Some(info) = self.info(name) {
            return self.layout_view(name, info, Some(dtype), device);
        }
        let (q_name, s_name) = (format!("{name}{INT8_SUFFIX}"), format!("{name}{SCALE_SUFFIX}"));
        let Some(q) = self.info(&q_name) else {
            return Err(Error::Msg(format!("{}: missing tensor `{name}`", self.describe())));
        };
        let Some(scale) = self.info(&s_name) else {
            return Err(Error::Msg(format!("{}: `{q_name}` has no `{s_name}` beside it", self.describe())));
        };
        self.layout_view(&s_name, scale, Some(DType::F32), device)?;
        let rows = q.shape.first().copied().unwrap_or(0);
        if q.shape.len() != 2 || scale.shape.iter().product::<usize>() != rows {
            candle_core::bail!(
                "{}: `{q_name}` {:?} with `{s_name}` {:?} is not an int8 matrix with one scale per row",
                self.describe(),
                q.shape,
                scale.shape
            );
        }
        self.layout_view(&q_name, q, Some(dtype), device)
    }
}

/// `W[o, i] = float(q[o, i]) * scale[o]` in f32.
pub fn dequantize_int8(q: &Tensor, scale: &Tensor) -> Result<Tensor> {
    let (out_features, _) = q.dims2()?;
    if scale.elem_count() != out_features {
        candle_core::bail!("int8 scale has {} values for {out_features} output rows", scale.elem_count());
    }
    let q = q.to_dtype(DType::F32)?;
    q.broadcast_mul(&scale.reshape((out_features, 1))?)
}

struct CheckpointBackend {
    checkpoint: Arc<Checkpoint>,
}

impl candle_nn::var_builder::SimpleBackend for CheckpointBackend {
    fn get(&self, s: Shape, name: &str, _h: candle_nn::Init, dtype: DType, dev: &Device) -> Result<Tensor> {
        let tensor = self.checkpoint.load_any(name, dtype, dev)?;
        if tensor.shape() != &s {
            return Err(Error::Msg(format!(
                "{}: tensor `{name}` has shape {:?}, expected {:?}",
                self.checkpoint.describe(),
                tensor.dims(),
                s.dims()
            )));
        }
        Ok(tensor)
    }

    fn get_unchecked(&self, name: &str, dtype: DType, dev: &Device) -> Result<Tensor> {
        self.checkpoint.load_any(name, dtype, dev)
    }

    fn contains_tensor(&self, name: &str) -> bool {
        self.checkpoint.contains(name) || self.checkpoint.contains(&format!("{name}{INT8_SUFFIX}"))
    }
}

/// The one place that memory-maps weight files.
#[allow(unsafe_code)]
fn mmap_safetensors(paths: &[PathBuf]) -> Result<MmapedSafetensors> {
    // SAFETY: the mapping is only valid while nobody truncates or rewrites the files; the model store
    // writes downloads to a temporary name and renames them into place, so mapped files are never modified.
    unsafe { MmapedSafetensors::multi(paths) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_i8(
        path: &Path,
        name: &str,
        shape: &[usize],
        values: &[i8],
        extra: &[(&str, Tensor)],
        config: &str,
    ) {
        let extra_path = path.with_extension("extra");
        write(&extra_path, extra, None);
        let data = std::fs::read(&extra_path).unwrap();
        let st = safetensors::SafeTensors::deserialize(&data).unwrap();
        let bytes: Vec<u8> = values.iter().map(|&v| v as u8).collect();
        let mut views: Vec<(String, safetensors::tensor::TensorView)> =
            st.tensors().into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        views.push((
            name.to_string(),
            safetensors::tensor::TensorView::new(safetensors::Dtype::I8, shape.to_vec(), &bytes).unwrap(),
        ));
        let meta = std::collections::HashMap::from([("config".to_string(), config.to_string())]);
        std::fs::write(path, safetensors::serialize(views, Some(meta)).unwrap()).unwrap();
    }

    fn write(path: &Path, tensors: &[(&str, Tensor)], config: Option<&str>) {
        let map: std::collections::HashMap<String, Tensor> =
            tensors.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
        candle_core::safetensors::save(&map, path).unwrap();
        if let Some(config) = config {
            // Re-write with metadata through the safetensors crate directly.
            let data = std::fs::read(path).unwrap();
            let st = safetensors::SafeTensors::deserialize(&data).unwrap();
            let views: Vec<(String, safetensors::tensor::TensorView)> =
                st.tensors().into_iter().map(|(k, v)| (k.to_string(), v)).collect();
            let meta = std::collections::HashMap::from([("config".to_string(), config.to_string())]);
            let bytes = safetensors::serialize(views, Some(meta)).unwrap();
            std::fs::write(path, bytes).unwrap();
        }
    }

    #[test]
    fn reads_config_metadata_and_dequantises_int8() {
        let dir = std::env::temp_dir().join(format!("pb-weights-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("w.safetensors");
        let scale = Tensor::new(&[0.5f32, 2.0], &Device::Cpu).unwrap();
        let bias = Tensor::new(&[1f32, 1.0], &Device::Cpu).unwrap();
        write_i8(
            &path,
            "lin.weight.int8",
            &[2, 2],
            &[1, -2, 3, 4],
            &[("lin.weight.scale", scale), ("lin.bias", bias)],
            r#"{"transformer": {"num_layers": 2}}"#,
        );
        let ckpt = Arc::new(Checkpoint::open(&[&path]).unwrap());
        assert_eq!(ckpt.config().unwrap().unwrap()["transformer"]["num_layers"], 2);
        let vb = ckpt.var_builder(DType::F32, &Device::Cpu);
        let w = vb.pp("lin").get((2, 2), "weight").unwrap();
        assert_eq!(w.to_vec2::<f32>().unwrap(), vec![vec![0.5, -1.0], vec![6.0, 8.0]]);
        let err = vb.pp("lin").get(3, "bias").unwrap_err().to_string();
        assert!(err.contains("lin.bias") && err.contains("[2]") && err.contains("[3]"), "{err}");
        let err = vb.get(1, "absent").unwrap_err().to_string();
        assert!(err.contains("missing tensor `absent`"), "{err}");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn truncated_file_is_named() {
        let dir = std::env::temp_dir().join(format!("pb-weights-trunc-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.safetensors");
        write(&path, &[("a", Tensor::zeros(64, DType::F32, &Device::Cpu).unwrap())], None);
        let data = std::fs::read(&path).unwrap();
        std::fs::write(&path, &data[..data.len() - 10]).unwrap();
        let err = read_header(&path).unwrap_err().to_string();
        assert!(err.contains("t.safetensors") && err.contains("truncated"), "{err}");
        std::fs::write(&path, b"garbage").unwrap();
        assert!(read_header(&path).unwrap_err().to_string().contains("not a safetensors file"));
        std::fs::remove_dir_all(&dir).ok();
    }
}
