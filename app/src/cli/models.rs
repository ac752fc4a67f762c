//! `promptbook models status | download | verify | path | inspect`: the model files, where they are,
//! getting them, and checking them.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use indicatif::{ProgressBar, ProgressStyle};
use promptbook_engine::store::{
    self, CancelToken, DownloadOptions, FileState, FileStatus, Outcome, Source, Store, StoreEvent, Variant,
    VerifyOutcome,
};

#[derive(Debug, clap::Args)]
pub struct ModelsArgs {
    #[command(subcommand)]
    pub action: ModelsAction,
    /// Read the models from this folder instead of the Hugging Face cache (also `PROMPTBOOK_MODELS_DIR`).
    #[arg(long, global = true, value_name = "DIR")]
    pub models_dir: Option<PathBuf>,
}

#[derive(Debug, clap::Subcommand)]
pub enum ModelsAction {
    /// List the files a configuration needs and whether each is present (no network).
    Status {
        #[command(flatten)]
        select: Select,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Download what is missing into the Hugging Face cache (resumes interrupted downloads).
    Download {
        #[command(flatten)]
        select: Select,
        /// Attempts after a transfer breaks off.
        #[arg(long, default_value_t = 5)]
        retries: u32,
        /// Accept files the hub gives no sha256 or git-sha1 hash for (checked by structure only).
        #[arg(long)]
        no_verify: bool,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Check every present file against its hash (sizes and headers where no hash is known).
    Verify {
        #[command(flatten)]
        select: Select,
        /// Delete corrupt files from the cache so that `download` fetches them again.
        #[arg(long)]
        delete_corrupt: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print where the models are, or the path of one file.
    Path {
        /// A manifest file, by name (`config.json`) or as `org/name/file`.
        file: Option<String>,
    },
    /// Print a safetensors header (tensor names, dtypes, shapes, the `config` metadata) and the layout
    /// check: which audio modules the file's keys and shapes satisfy.
    Inspect {
        /// A path, or a manifest file name.
        file: String,
        /// Only tensors whose name contains this text.
        #[arg(long)]
        filter: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Write a tiny random model set (every file, real layout) so `render --models-dir DIR` runs anywhere.
    MakeTestModel {
        /// The folder to fill (created if needed).
        dir: PathBuf,
        /// Seed of the random weights.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Write the INT8 transformer file (`*.weight.int8` + `*.weight.scale`) instead of the bf16 one.
        #[arg(long)]
        int8: bool,
    },
}

/// Which configuration.
#[derive(Debug, Clone, clap::Args)]
pub struct Select {
    /// Transformer weights (default: the one `render` would load: int8 when present, else bf16 when
    /// present, else int8).
    #[arg(long, value_parser = parse_variant)]
    pub variant: Option<Variant>,
    /// Include files no render needs (the ComfyUI-only audio pipeline file; Whisper-small for `qc`, MelBandRoFormer
    /// for `separate`).
    #[arg(long)]
    pub optional: bool,
}

fn parse_variant(s: &str) -> Result<Variant, String> {
    s.parse()
}

impl Select {
    fn variant(&self, store: &Store) -> Variant {
        self.variant.unwrap_or_else(|| store.variant_in_use())
    }
}

pub fn run(args: &ModelsArgs) -> anyhow::Result<ExitCode> {
    let store = Store::from_env(args.models_dir.clone());
    match &args.action {
        ModelsAction::Status { select, json } => status(&store, select, *json),
        ModelsAction::Download { select, retries, no_verify, json } => {
            download(&store, select, *retries, *no_verify, *json)
        }
        ModelsAction::Verify { select, delete_corrupt, json } => {
            verify(&store, select, *delete_corrupt, *json)
        }
        ModelsAction::Path { file: None } => {
            crate::outln!("{}", store.source().path().display());
            Ok(ExitCode::SUCCESS)
        }
        ModelsAction::Path { file: Some(name) } => {
            crate::outln!("{}", store.path_of(name)?.display());
            Ok(ExitCode::SUCCESS)
        }
        ModelsAction::Inspect { file, filter, json } => inspect(&store, file, filter.as_deref(), *json),
        ModelsAction::MakeTestModel { dir, seed, int8 } => {
            use promptbook_engine::engines::scenema::test_model::{TestModelOptions, make_test_model_with};
            use promptbook_engine::stages::voice_conversion::test_model::make_seedvc_test_model;
            let mut files = make_test_model_with(dir, *seed, TestModelOptions { int8: *int8 })?.files;
            files.extend(make_seedvc_test_model(dir, *seed)?);
            let params: u64 = files.iter().map(|(_, n)| n).sum();
            crate::outln!("wrote {} files ({params} parameters) to {}", files.len(), dir.display());
            crate::outln!(
                "render with: promptbook render SCRIPT.xml -o OUT.wav --models-dir {}",
                dir.display()
            );
            crate::outln!(
                "convert with: promptbook convert-voice SOURCE.wav --target REF.wav -o OUT.wav --models-dir {}",
                dir.display()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn describe_source(store: &Store) -> String {
    let hub = store.hub();
    let source = match store.source() {
        Source::Cache(dir) => format!("Hugging Face cache {}", dir.display()),
        Source::ModelsDir(dir) => format!("local copy {} (--models-dir, read only)", dir.display()),
    };
    let token = if hub.token.is_some() { "token set" } else { "no token" };
    let offline = if hub.offline { ", offline (HF_HUB_OFFLINE)" } else { "" };
    format!("{source}\nhub {}, {token}{offline}", hub.endpoint)
}

fn size_column(status: &FileStatus) -> String {
    match (status.bytes, status.file.size) {
        (Some(n), _) => store::human_bytes(n),
        (None, store::FileSize::Exact(n)) => store::human_bytes(n),
        (None, store::FileSize::About(n)) => format!("~{}", store::human_bytes(n)),
        (None, store::FileSize::Unknown) => "?".into(),
    }
}

fn status(store: &Store, select: &Select, json: bool) -> anyhow::Result<ExitCode> {
    let rows = store.status(select.variant(store), select.optional);
    let complete = rows.iter().all(|r| r.state == FileState::Present);
    if json {
        let report = serde_json::json!({
            "source": store.source(),
            "variant": select.variant(store),
            "complete": complete,
            "files": rows,
        });
        crate::outln!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(if complete { ExitCode::SUCCESS } else { ExitCode::from(1) });
    }
    crate::outln!("{}\nvariant {}\n", describe_source(store), select.variant(store));
    for row in &rows {
        let state = match &row.state {
            FileState::Present => "present",
            FileState::Missing => "missing",
            FileState::Damaged(_) => "DAMAGED",
        };
        crate::outln!("  {state:<8} {:>9}  {}", size_column(row), row.key);
        if let FileState::Damaged(reason) = &row.state {
            crate::outln!("           {reason}");
        }
    }
    let missing: Vec<&FileStatus> = rows.iter().filter(|r| r.state != FileState::Present).collect();
    crate::outln!();
    if missing.is_empty() {
        crate::outln!("All {} files present.", rows.len());
        return Ok(ExitCode::SUCCESS);
    }
    let known: u64 = missing.iter().filter_map(|r| r.file.size.estimate()).sum();
    let unknown = missing.iter().filter(|r| r.file.size.estimate().is_none()).count();
    let mut size = format!("about {}", store::human_bytes(known));
    if unknown > 0 {
        size.push_str(&format!(" plus {unknown} file(s) of unknown size"));
    }
    crate::outln!("{} of {} files present; to download: {size}.", rows.len() - missing.len(), rows.len());
    for repo in &store.manifest().repos {
        if repo.gated && store.hub().token.is_none() && missing.iter().any(|r| r.file.repo == repo.id) {
            crate::outln!(
                "{} is gated: accept the licence at {}, then set HF_TOKEN or run `huggingface-cli login`.",
                repo.id,
                repo.page_url()
            );
        }
    }
    if rows.iter().any(|r| matches!(r.state, FileState::Damaged(_))) {
        crate::outln!(
            "Damaged files: run `promptbook models verify --delete-corrupt`, then `promptbook models download`."
        );
    } else {
        crate::outln!("Run `promptbook models download{}`.", variant_flag(select));
    }
    Ok(ExitCode::from(1))
}

fn variant_flag(select: &Select) -> String {
    let mut flags = String::new();
    if select.variant.is_some_and(|v| v != Variant::default()) {
        flags.push_str(&format!(" --variant {}", select.variant.unwrap_or_default()));
    }
    if select.optional {
        flags.push_str(" --optional");
    }
    flags
}

const BAR_TEMPLATE: &str = concat!(
    "{msg:42!} [{bar:30}] {decimal_bytes:>9}/{decimal_total_bytes:<9} ",
    "{decimal_bytes_per_sec:>11} {eta:>4}"
);

/// Shows store events as one progress bar per file on a terminal, as plain lines otherwise.
struct Bars {
    bar: Option<ProgressBar>,
    terminal: bool,
    verb: &'static str,
}

impl Bars {
    fn new(verb: &'static str) -> Self {
        Bars { bar: None, terminal: std::io::stderr().is_terminal(), verb }
    }

    fn event(&mut self, event: StoreEvent) {
        match event {
            StoreEvent::Started { file, total } => {
                if self.terminal {
                    let bar = ProgressBar::new(total);
                    if let Ok(style) = ProgressStyle::with_template(BAR_TEMPLATE) {
                        bar.set_style(style.progress_chars("=> "));
                    }
                    bar.set_message(short_name(&file));
                    self.bar = Some(bar);
                } else {
                    eprintln!("{} {file} ({})", self.verb, store::human_bytes(total));
                }
            }
            StoreEvent::Progress { done, .. } => {
                if let Some(bar) = &self.bar {
                    bar.set_position(done);
                }
            }
            StoreEvent::Finished { file } => match self.bar.take() {
                Some(bar) => bar.finish(),
                None => eprintln!("done {file}"),
            },
            StoreEvent::Failed { file, message } => {
                if let Some(bar) = self.bar.take() {
                    bar.abandon();
                }
                eprintln!("failed {file}: {message}");
            }
        }
    }
}

/// The file name without the repository, for a progress bar's label.
fn short_name(key: &str) -> String {
    key.rsplit('/').next().unwrap_or(key).to_string()
}

fn download(
    store: &Store,
    select: &Select,
    retries: u32,
    no_verify: bool,
    json: bool,
) -> anyhow::Result<ExitCode> {
    if !json {
        crate::outln!("{}\n", describe_source(store));
    }
    let options = DownloadOptions {
        include_optional: select.optional,
        retries,
        allow_unverified: no_verify,
        ..DownloadOptions::default()
    };
    let mut bars = Bars::new("downloading");
    let report = store.download(select.variant(store), &options, &mut |e| bars.event(e))?;
    if json {
        crate::outln!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    for (key, outcome) in &report.files {
        let what = match outcome {
            Outcome::Present => "present".to_string(),
            Outcome::Linked => "linked (already in the cache)".to_string(),
            Outcome::Downloaded { bytes, resumed_from: 0 } => {
                format!("downloaded {}", store::human_bytes(*bytes))
            }
            Outcome::Downloaded { bytes, resumed_from } => format!(
                "downloaded {} (resumed at {})",
                store::human_bytes(*bytes),
                store::human_bytes(*resumed_from)
            ),
        };
        crate::outln!("  {key}: {what}");
    }
    crate::outln!("\nAll {} files present and checked.", report.files.len());
    Ok(ExitCode::SUCCESS)
}

fn verify(store: &Store, select: &Select, delete_corrupt: bool, json: bool) -> anyhow::Result<ExitCode> {
    let mut bars = Bars::new("hashing");
    let mut results =
        store.verify(select.variant(store), select.optional, &mut |e| bars.event(e), &CancelToken::new())?;
    apply_layout_check(store, &mut results);
    let mut deleted = Vec::new();
    let read_only = matches!(store.source(), Source::ModelsDir(_));
    if delete_corrupt && read_only {
        eprintln!("--delete-corrupt leaves a --models-dir copy alone; replace bad files there yourself");
    }
    if delete_corrupt && !read_only {
        for result in &results {
            if matches!(result.outcome, VerifyOutcome::Corrupt(_))
                && let Some(file) = store.manifest().find(&result.key)
            {
                store.remove(file)?;
                deleted.push(result.key.clone());
            }
        }
    }
    let good = results.iter().all(|r| matches!(r.outcome, VerifyOutcome::Verified(_)));
    if json {
        let report = serde_json::json!({ "ok": good, "files": results, "deleted": deleted });
        crate::outln!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(if good { ExitCode::SUCCESS } else { ExitCode::from(1) });
    }
    for result in &results {
        let what = match &result.outcome {
            VerifyOutcome::Verified(method) => format!("ok ({method})"),
            VerifyOutcome::Missing => "missing".into(),
            VerifyOutcome::Corrupt(message) => format!("CORRUPT: {message}"),
            VerifyOutcome::Failed(message) => format!("not checked: {message}"),
        };
        crate::outln!("  {}: {what}", result.key);
    }
    for key in &deleted {
        crate::outln!("deleted {key}");
    }
    if good {
        crate::outln!("\nAll {} files verified.", results.len());
    } else if !deleted.is_empty() {
        crate::outln!("\nRun `promptbook models download{}` to fetch them again.", variant_flag(select));
    }
    Ok(if good { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// A file verified without a hash is only known to be well-formed: build every module over the
/// headers, as `render` would, and call the files it would refuse corrupt.
fn apply_layout_check(store: &Store, results: &mut [store::VerifyResult]) {
    let unhashed = |r: &store::VerifyResult| matches!(&r.outcome, VerifyOutcome::Verified(method) if method != "sha256" && method != "git-sha1");
    if !results.iter().any(unhashed) {
        return;
    }
    let problems = promptbook_engine::engines::scenema::layout::check_store(store);
    for result in results.iter_mut().filter(|r| unhashed(r)) {
        let Some(path) = &result.path else { continue };
        let found: Vec<&str> =
            problems.iter().filter(|p| &p.path == path).map(|p| p.message.as_str()).collect();
        let checked_by_layout = path.extension().is_some_and(|e| e == "safetensors")
            || path.file_name().is_some_and(|n| n == "config.json");
        if !found.is_empty() {
            result.outcome = VerifyOutcome::Corrupt(format!("render cannot load it: {}", found.join("; ")));
        } else if checked_by_layout {
            result.outcome =
                VerifyOutcome::Verified("structure and the loader's layout check (no hash known)".into());
        }
    }
}

fn inspect(store: &Store, file: &str, filter: Option<&str>, json: bool) -> anyhow::Result<ExitCode> {
    let path = if Path::new(file).exists() {
        PathBuf::from(file)
    } else if store.manifest().find(file).is_some() {
        store.path_of(file)?
    } else {
        anyhow::bail!(
            "{file} does not exist, and no model file has that name (see `promptbook models status`)"
        )
    };
    let mut inspection = store::inspect(&path)?;
    if let Some(text) = filter {
        inspection.tensors.retain(|(name, _, _)| name.contains(text));
    }
    if json {
        crate::outln!("{}", serde_json::to_string_pretty(&inspection)?);
        return Ok(ExitCode::SUCCESS);
    }
    crate::outln!("{} ({})", path.display(), store::human_bytes(inspection.file_bytes));
    let params: Vec<String> = inspection
        .params_by_dtype()
        .iter()
        .map(|(dtype, n)| format!("{dtype} {}", human_count(*n)))
        .collect();
    crate::outln!("{} tensors; parameters: {}", inspection.tensors.len(), params.join(", "));
    for (key, value) in &inspection.metadata {
        crate::outln!("metadata {key} = {value}");
    }
    match &inspection.config {
        Some(config) => crate::outln!("config:\n{}", serde_json::to_string_pretty(config)?),
        None => crate::outln!("config: none"),
    }
    let width = inspection.tensors.iter().map(|(name, _, _)| name.len()).max().unwrap_or(0);
    for (name, dtype, shape) in &inspection.tensors {
        crate::outln!("{name:<width$}  {dtype:<5} {shape:?}");
    }
    crate::outln!();
    if inspection.layout.is_empty() {
        crate::outln!("layout check: no transformer or text-connector keys in this file");
    }
    for line in &inspection.layout {
        crate::outln!("{line}");
    }
    Ok(ExitCode::SUCCESS)
}

/// `4.87 B`-style parameter counts.
fn human_count(n: u64) -> String {
    match n {
        0..1_000 => n.to_string(),
        1_000..1_000_000 => format!("{:.1} k", n as f64 / 1e3),
        1_000_000..1_000_000_000 => format!("{:.1} M", n as f64 / 1e6),
        _ => format!("{:.2} B", n as f64 / 1e9),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_read_like_model_cards() {
        assert_eq!(human_count(999), "999");
        assert_eq!(human_count(21_330_000), "21.3 M");
        assert_eq!(human_count(4_870_000_000), "4.87 B");
    }

    #[test]
    fn the_progress_bar_template_parses() {
        assert!(ProgressStyle::with_template(BAR_TEMPLATE).is_ok());
    }

    #[test]
    fn short_names_drop_the_repository() {
        assert_eq!(short_name("google/gemma-3-12b-it/config.json"), "config.json");
    }
}
