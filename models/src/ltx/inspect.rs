//! Header dump of a checkpoint: keys, dtypes, shapes, the `config` metadata, and a layout check of what the
//! audio modules would load against what the file holds (ltx-audio-spec §8.5 step 1). Reads only the header.
//!
//! The check builds the real modules against a backend that answers from the header and hands out
//! zero-stride views, so the expected key list is exactly what loading would request, at no memory cost.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use candle_core::{DType, Device, Result, Shape, Tensor};
use candle_nn::VarBuilder;
use candle_nn::var_builder::SimpleBackend;

use super::config::{ConnectorConfig, TransformerConfig};
use super::connector::{AudioEmbeddingsProcessor, GEMMA_HIDDEN_SIZE, GEMMA_NUM_LEVELS};
use super::keys::{self, KeyPrefix};
use super::transformer::X0Model;
use crate::weights::{Header, INT8_SUFFIX, SCALE_SUFFIX, TensorInfo, read_header};

/// A checkpoint's header with the layout check, as [`read`] finds it.
#[derive(Debug, Clone)]
pub struct Inspection {
    /// Name → dtype, shape and data offsets, sorted by name.
    pub tensors: BTreeMap<String, TensorInfo>,
    /// `__metadata__` strings other than `config`.
    pub metadata: BTreeMap<String, String>,
    /// The `config` metadata, parsed.
    pub config: Option<serde_json::Value>,
    /// The layout check, one line each: which audio modules (the transformer's audio path, the text
    /// connector) the file's keys and shapes satisfy, what is missing or mis-shaped, and the key
    /// patterns nothing here loads. Empty when the file holds neither module.
    pub layout: Vec<String>,
}

/// Read a safetensors header (keys, dtypes, shapes, `config`) and check the audio modules' layout
/// against it. Reads only the header; a truncated file is named as such.
pub fn read(path: &Path) -> Result<Inspection> {
    let header = Arc::new(read_header(path)?);
    let config = header.config()?;
    let layout = layout_check(&header, config.as_ref())?;
    // The probes are gone by now, so this does not copy.
    let Header { tensors, mut metadata } = Arc::try_unwrap(header).unwrap_or_else(|h| (*h).clone());
    metadata.remove("config");
    Ok(Inspection { tensors, metadata, config, layout })
}

/// Everything the `inspect` example prints.
pub fn inspect(path: &Path) -> Result<String> {
    let inspection = read(path)?;
    let mut out = String::new();
    let w = &mut out;
    let fmt_err = |e: std::fmt::Error| candle_core::Error::Msg(e.to_string());
    writeln!(w, "file: {}", path.display()).map_err(fmt_err)?;
    let mut by_dtype: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for info in inspection.tensors.values() {
        let entry = by_dtype.entry(info.dtype.as_str()).or_default();
        entry.0 += 1;
        entry.1 += info.data_offsets.1 - info.data_offsets.0;
    }
    let summary: Vec<String> =
        by_dtype.iter().map(|(d, (n, bytes))| format!("{n} {d} ({:.1} MB)", *bytes as f64 / 1e6)).collect();
    writeln!(w, "tensors: {} ({})", inspection.tensors.len(), summary.join(", ")).map_err(fmt_err)?;

    writeln!(w, "\nmetadata:").map_err(fmt_err)?;
    for (key, value) in &inspection.metadata {
        writeln!(w, "  {key}: {value}").map_err(fmt_err)?;
    }
    match &inspection.config {
        Some(config) => {
            let pretty =
                serde_json::to_string_pretty(config).map_err(|e| candle_core::Error::Msg(e.to_string()))?;
            writeln!(w, "config:\n{pretty}").map_err(fmt_err)?;
        }
        None => writeln!(w, "config: (none)").map_err(fmt_err)?,
    }

    writeln!(w, "\nkeys:").map_err(fmt_err)?;
    for (name, info) in &inspection.tensors {
        writeln!(w, "  {name}  {}  {:?}", info.dtype, info.shape).map_err(fmt_err)?;
    }
    if !inspection.layout.is_empty() {
        writeln!(w).map_err(fmt_err)?;
    }
    for line in &inspection.layout {
        writeln!(w, "{line}").map_err(fmt_err)?;
    }
    Ok(out)
}

/// The layout check's lines (see [`Inspection::layout`]).
fn layout_check(header: &Arc<Header>, config: Option<&serde_json::Value>) -> Result<Vec<String>> {
    let mut out = String::new();
    let w = &mut out;
    let fmt_err = |e: std::fmt::Error| candle_core::Error::Msg(e.to_string());
    let probe =
        || VarBuilder::from_backend(Box::new(HeaderBackend::new(header.clone())), DType::F32, Device::Cpu);
    let mut used = Vec::new();
    if keys::TRANSFORMER.iter().any(|e| keys::resolve(&probe(), e).is_some()) {
        let report = config
            .ok_or_else(|| candle_core::Error::Msg("no `config` metadata".into()))
            .and_then(TransformerConfig::from_json)
            .map(|cfg| check_layout(header, keys::TRANSFORMER, |vb| X0Model::new(&cfg, vb).map(|_| ())));
        section(w, "transformer (audio path)", keys::TRANSFORMER, &probe(), report, &mut used)?;
    }
    if keys::PIPELINE.iter().any(|e| keys::resolve(&probe(), e).is_some()) {
        let report = config
            .ok_or_else(|| candle_core::Error::Msg("no `config` metadata".into()))
            .and_then(ConnectorConfig::from_json)
            .map(|cfg| {
                check_layout(header, keys::PIPELINE, |vb| {
                    AudioEmbeddingsProcessor::new(&cfg, GEMMA_HIDDEN_SIZE, GEMMA_NUM_LEVELS, vb).map(|_| ())
                })
            });
        section(
            w,
            "text connector (feature extractor + audio connector)",
            keys::PIPELINE,
            &probe(),
            report,
            &mut used,
        )?;
    }
    if !used.is_empty() {
        // Keys nothing here loads, grouped with block indices folded to `*` (video stream, VAE, ...).
        let mut groups: BTreeMap<String, usize> = BTreeMap::new();
        for name in header.tensors.keys().filter(|k| !used.contains(k)) {
            let folded: Vec<&str> = name
                .split('.')
                .map(|p| if p.chars().all(|c| c.is_ascii_digit()) { "*" } else { p })
                .collect();
            *groups.entry(folded.join(".")).or_default() += 1;
        }
        writeln!(w, "\nnot loaded by the audio modules ({} key patterns):", groups.len()).map_err(fmt_err)?;
        for (pattern, count) in groups {
            writeln!(w, "  {pattern}  x{count}").map_err(fmt_err)?;
        }
    }
    // Each section starts with a blank line, the first one too.
    Ok(out.lines().skip_while(|l| l.is_empty()).map(str::to_owned).collect())
}

/// One requested tensor checked against the header.
#[derive(Debug, Clone, PartialEq)]
pub enum KeyStatus {
    Ok {
        dtype: String,
    },
    /// Stored as `NAME.int8` + `NAME.scale` with consistent shapes.
    Int8,
    Missing,
    ShapeMismatch {
        found: Vec<usize>,
    },
}

/// What building the modules over `table` would load from a file with this header.
pub struct LayoutReport {
    pub entries: Vec<(String, Vec<usize>, KeyStatus)>,
    /// Set when construction stopped early (e.g. an inconsistent shape the modules need).
    pub build_error: Option<String>,
}

impl LayoutReport {
    pub fn problems(&self) -> usize {
        self.entries
            .iter()
            .filter(|(_, _, s)| matches!(s, KeyStatus::Missing | KeyStatus::ShapeMismatch { .. }))
            .count()
    }
}

/// Build with `build` against the header (through the `table` renaming) and check every request.
pub fn check_layout(
    header: &Arc<Header>,
    table: &'static [KeyPrefix],
    build: impl FnOnce(VarBuilder<'static>) -> Result<()>,
) -> LayoutReport {
    let backend = HeaderBackend::new(header.clone());
    let requests = backend.requests.clone();
    let vb = keys::map(VarBuilder::from_backend(Box::new(backend), DType::F32, Device::Cpu), table);
    let build_error = build(vb).err().map(|e| e.to_string());
    let requests = requests.lock().unwrap_or_else(PoisonError::into_inner).clone();
    let entries = requests
        .into_iter()
        .map(|(name, shape)| {
            let status = status_of(header, &name, &shape);
            (name, shape, status)
        })
        .collect();
    LayoutReport { entries, build_error }
}

fn status_of(header: &Header, name: &str, shape: &[usize]) -> KeyStatus {
    let get = |k: &str| -> Option<&TensorInfo> { header.tensors.get(k) };
    if let Some(info) = get(name) {
        if info.shape == shape {
            return KeyStatus::Ok { dtype: info.dtype.clone() };
        }
        return KeyStatus::ShapeMismatch { found: info.shape.clone() };
    }
    if let Some(q) = get(&format!("{name}{INT8_SUFFIX}")) {
        let scale_ok = get(&format!("{name}{SCALE_SUFFIX}")).is_some_and(|s| s.shape == shape[..1]);
        if q.shape == shape && scale_ok {
            return KeyStatus::Int8;
        }
        return KeyStatus::ShapeMismatch { found: q.shape.clone() };
    }
    KeyStatus::Missing
}

fn section(
    w: &mut String,
    title: &str,
    table: &'static [KeyPrefix],
    vb: &VarBuilder,
    report: Result<LayoutReport>,
    used: &mut Vec<String>,
) -> Result<()> {
    let fmt_err = |e: std::fmt::Error| candle_core::Error::Msg(e.to_string());
    writeln!(w, "\nlayout check: {title}").map_err(fmt_err)?;
    for entry in table {
        match keys::resolve(vb, entry) {
            Some(prefix) => writeln!(w, "  `{}` stored as `{prefix}`", entry.module),
            None => writeln!(w, "  `{}` not found (tried {:?})", entry.module, entry.stored),
        }
        .map_err(fmt_err)?;
    }
    let report = match report {
        Ok(report) => report,
        Err(err) => {
            writeln!(w, "  cannot check: {err}").map_err(fmt_err)?;
            return Ok(());
        }
    };
    let (mut ok, mut int8) = (0, 0);
    let mut dtypes: BTreeMap<String, usize> = BTreeMap::new();
    for (name, shape, status) in &report.entries {
        match status {
            KeyStatus::Ok { dtype } => {
                ok += 1;
                *dtypes.entry(dtype.clone()).or_default() += 1;
                used.push(name.clone());
            }
            KeyStatus::Int8 => {
                int8 += 1;
                used.push(format!("{name}{INT8_SUFFIX}"));
                used.push(format!("{name}{SCALE_SUFFIX}"));
            }
            KeyStatus::Missing => writeln!(w, "  MISSING  {name}  expected {shape:?}").map_err(fmt_err)?,
            KeyStatus::ShapeMismatch { found } => {
                writeln!(w, "  SHAPE    {name}  expected {shape:?}, found {found:?}").map_err(fmt_err)?
            }
        }
    }
    writeln!(
        w,
        "  {} tensors requested: {ok} stored as {dtypes:?}, {int8} as int8+scale, {} missing or mis-shaped",
        report.entries.len(),
        report.problems()
    )
    .map_err(fmt_err)?;
    if let Some(err) = report.build_error {
        writeln!(w, "  construction stopped: {err}").map_err(fmt_err)?;
    }
    Ok(())
}

/// Tensors requested from a [`HeaderBackend`]: name and shape, in request order.
type Requests = Arc<Mutex<Vec<(String, Vec<usize>)>>>;

/// Answers `contains` from a header and hands out zero-stride zero views of the requested shapes.
struct HeaderBackend {
    header: Arc<Header>,
    requests: Requests,
}

impl HeaderBackend {
    fn new(header: Arc<Header>) -> Self {
        Self { header, requests: Arc::new(Mutex::new(Vec::new())) }
    }
}

impl SimpleBackend for HeaderBackend {
    fn get(&self, s: Shape, name: &str, _: candle_nn::Init, dtype: DType, dev: &Device) -> Result<Tensor> {
        self.requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((name.to_string(), s.dims().to_vec()));
        Tensor::zeros((), dtype, dev)?.broadcast_as(s)
    }

    fn get_unchecked(&self, name: &str, dtype: DType, dev: &Device) -> Result<Tensor> {
        match self.header.tensors.get(name) {
            Some(info) => {
                self.get(Shape::from(info.shape.clone()), name, candle_nn::Init::Const(0.), dtype, dev)
            }
            None => candle_core::bail!("missing tensor `{name}`"),
        }
    }

    fn contains_tensor(&self, name: &str) -> bool {
        self.header.tensors.contains_key(name)
            || self.header.tensors.contains_key(&format!("{name}{INT8_SUFFIX}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(case: &str, file: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/parity").join(case).join(file)
    }

    #[test]
    fn dumps_keys_config_and_a_clean_layout_check() {
        let text =
            inspect(&fixture("transformer_int8-tiny-s0", "scenema-audio-transformer-int8.safetensors"))
                .unwrap();
        assert!(text.contains("velocity_model.audio_patchify_proj.weight  BF16  [16, 128]"), "{text}");
        assert!(text.contains("\"rope_type\": \"split\""), "{text}");
        assert!(text.contains("`velocity_model` stored as `velocity_model`"), "{text}");
        assert!(text.contains("0 missing or mis-shaped"), "{text}");
        assert!(text.contains("as int8+scale"), "{text}");
        // Present in the file, never run by the audio-only forward.
        assert!(
            text.contains("velocity_model.transformer_blocks.*.video_to_audio_attn.to_q.weight.int8"),
            "{text}"
        );

        let text = inspect(&fixture("connector-tiny-s0", "scenema-audio-pipeline.safetensors")).unwrap();
        assert!(
            text.contains("`audio_connector` stored as `model.diffusion_model.audio_embeddings_connector`")
        );
        // The tiny feature extractor is not Gemma-12B-sized: the check names the key and both shapes.
        assert!(text.contains("SHAPE    text_embedding_projection.audio_aggregate_embed.weight"), "{text}");
    }
}
