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
    /// Print a safetensors header: tensor names, dtypes, shapes and the `config` metadata.
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
    },
}

/// Which configuration.
#[derive(Debug, Clone, clap::Args)]
pub struct Select {
    /// Transformer weights.
    #[arg(long, default_value = "int8", value_parser = parse_variant)]
    pub variant: Variant,
    /// Include files no render needs (the ComfyUI-only audio pipeline file; Whisper-small for `qc`).
    #[arg(long)]
    pub optional: bool,
}

fn parse_variant(s: &str) -> Result<Variant, String> {
    s.parse()
}

pub fn run(args: &ModelsArgs) -> anyhow::Result<ExitCode> {
    let store = Store::from_env(args.models_dir.clone());
    match &args.action {
        ModelsAction::Status { select, json } => status(&store, select, *json),
        ModelsAction::Download { select, retries, json } => download(&store, select, *retries, *json),
        ModelsAction::Verify { select, delete_corrupt, json } => {
            verify(&store, select, *delete_corrupt, *json)
        }
        ModelsAction::Path { file: None } => {
            println!("{}", store.source().path().display());
            Ok(ExitCode::SUCCESS)
        }
        ModelsAction::Path { file: Some(name) } => {
            println!("{}", store.path_of(name)?.display());
            Ok(ExitCode::SUCCESS)
        }
        ModelsAction::Inspect { file, filter, json } => inspect(&store, file, filter.as_deref(), *json),
        ModelsAction::MakeTestModel { dir, seed } => {
            let mut files = promptbook_engine::pipeline::test_model::make_test_model(dir, *seed)?.files;
            files.extend(promptbook_engine::pipeline::test_model_seedvc::make_seedvc_test_model(dir, *seed)?);
            let params: u64 = files.iter().map(|(_, n)| n).sum();
            println!("wrote {} files ({params} parameters) to {}", files.len(), dir.display());
            println!("render with: promptbook render SCRIPT.xml -o OUT.wav --models-dir {}", dir.display());
            println!(
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
    let rows = store.status(select.variant, select.optional);
    let complete = rows.iter().all(|r| r.state == FileState::Present);
    if json {
        let report = serde_json::json!({
            "source": store.source(),
            "variant": select.variant,
            "complete": complete,
            "files": rows,
        });
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(if complete { ExitCode::SUCCESS } else { ExitCode::from(1) });
    }
    println!("{}\nvariant {}\n", describe_source(store), select.variant);
    for row in &rows {
        let state = match &row.state {
            FileState::Present => "present",
            FileState::Missing => "missing",
            FileState::Damaged(_) => "DAMAGED",
        };
        println!("  {state:<8} {:>9}  {}", size_column(row), row.key);
        if let FileState::Damaged(reason) = &row.state {
            println!("           {reason}");
        }
    }
    let missing: Vec<&FileStatus> = rows.iter().filter(|r| r.state != FileState::Present).collect();
    println!();
    if missing.is_empty() {
        println!("All {} files present.", rows.len());
        return Ok(ExitCode::SUCCESS);
    }
    let known: u64 = missing.iter().filter_map(|r| r.file.size.estimate()).sum();
    let unknown = missing.iter().filter(|r| r.file.size.estimate().is_none()).count();
    let mut size = format!("about {}", store::human_bytes(known));
    if unknown > 0 {
        size.push_str(&format!(" plus {unknown} file(s) of unknown size"));
    }
    println!("{} of {} files present; to download: {size}.", rows.len() - missing.len(), rows.len());
    for repo in &store.manifest().repos {
        if repo.gated && store.hub().token.is_none() && missing.iter().any(|r| r.file.repo == repo.id) {
            println!(
                "{} is gated: accept the licence at {}, then set HF_TOKEN or run `huggingface-cli login`.",
                repo.id,
                repo.page_url()
            );
        }
    }
    if rows.iter().any(|r| matches!(r.state, FileState::Damaged(_))) {
        println!(
            "Damaged files: run `promptbook models verify --delete-corrupt`, then `promptbook models download`."
        );
    } else {
        println!("Run `promptbook models download{}`.", variant_flag(select));
    }
    Ok(ExitCode::from(1))
}

fn variant_flag(select: &Select) -> String {
    let mut flags = String::new();
    if select.variant != Variant::default() {
        flags.push_str(&format!(" --variant {}", select.variant));
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

fn download(store: &Store, select: &Select, retries: u32, json: bool) -> anyhow::Result<ExitCode> {
    if !json {
        println!("{}\n", describe_source(store));
    }
    let options =
        DownloadOptions { include_optional: select.optional, retries, ..DownloadOptions::default() };
    let mut bars = Bars::new("downloading");
    let report = store.download(select.variant, &options, &mut |e| bars.event(e))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
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
        println!("  {key}: {what}");
    }
    println!("\nAll {} files present and checked.", report.files.len());
    Ok(ExitCode::SUCCESS)
}

fn verify(store: &Store, select: &Select, delete_corrupt: bool, json: bool) -> anyhow::Result<ExitCode> {
    let mut bars = Bars::new("hashing");
    let results =
        store.verify(select.variant, select.optional, &mut |e| bars.event(e), &CancelToken::new())?;
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
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(if good { ExitCode::SUCCESS } else { ExitCode::from(1) });
    }
    for result in &results {
        let what = match &result.outcome {
            VerifyOutcome::Verified(method) => format!("ok ({method})"),
            VerifyOutcome::Missing => "missing".into(),
            VerifyOutcome::Corrupt(message) => format!("CORRUPT: {message}"),
            VerifyOutcome::Failed(message) => format!("not checked: {message}"),
        };
        println!("  {}: {what}", result.key);
    }
    for key in &deleted {
        println!("deleted {key}");
    }
    if good {
        println!("\nAll {} files verified.", results.len());
    } else if !deleted.is_empty() {
        println!("\nRun `promptbook models download{}` to fetch them again.", variant_flag(select));
    }
    Ok(if good { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn inspect(store: &Store, file: &str, filter: Option<&str>, json: bool) -> anyhow::Result<ExitCode> {
    let path = if Path::new(file).exists() { PathBuf::from(file) } else { store.path_of(file)? };
    let mut inspection = store::inspect(&path)?;
    if let Some(text) = filter {
        inspection.tensors.retain(|(name, _, _)| name.contains(text));
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&inspection)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("{} ({})", path.display(), store::human_bytes(inspection.file_bytes));
    let params: Vec<String> = inspection
        .params_by_dtype()
        .iter()
        .map(|(dtype, n)| format!("{dtype} {}", human_count(*n)))
        .collect();
    println!("{} tensors; parameters: {}", inspection.tensors.len(), params.join(", "));
    for (key, value) in &inspection.metadata {
        println!("metadata {key} = {value}");
    }
    match &inspection.config {
        Some(config) => println!("config:\n{}", serde_json::to_string_pretty(config)?),
        None => println!("config: none"),
    }
    let width = inspection.tensors.iter().map(|(name, _, _)| name.len()).max().unwrap_or(0);
    for (name, dtype, shape) in &inspection.tensors {
        println!("{name:<width$}  {dtype:<5} {shape:?}");
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
