//! `promptbook engines [--json]`: the voice engines and post stages of this build, what each can do,
//! whether its model files are installed, and the licences of its weights.

use std::path::PathBuf;
use std::process::ExitCode;

use promptbook_engine::engines::{self, Capabilities, EngineFile, file_states};
use promptbook_engine::stages::StageId;
use promptbook_engine::store::Store;
use serde::Serialize;

#[derive(Debug, clap::Args)]
pub struct EnginesArgs {
    /// One JSON object: `engines` and `stages`.
    #[arg(long)]
    pub json: bool,
    /// Look for the model files in this folder (also `PROMPTBOOK_MODELS_DIR`; else the Hugging Face cache).
    #[arg(long, value_name = "DIR")]
    pub models_dir: Option<PathBuf>,
}

#[derive(Serialize)]
struct EngineReport {
    #[serde(flatten)]
    capabilities: Capabilities,
    installed: bool,
    files: Vec<EngineFile>,
}

#[derive(Serialize)]
struct StageReport {
    id: StageId,
    name: &'static str,
    installed: bool,
    files: Vec<EngineFile>,
}

#[derive(Serialize)]
struct Report {
    engines: Vec<EngineReport>,
    stages: Vec<StageReport>,
}

fn report(store: &Store) -> Report {
    let engines = engines::registry()
        .iter()
        .map(|entry| {
            let files = entry.file_states(store);
            EngineReport {
                capabilities: (entry.capabilities)(),
                installed: files.iter().all(|f| f.installed),
                files,
            }
        })
        .collect();
    let stages = StageId::ALL
        .iter()
        .map(|&stage| {
            let files = file_states(store, &stage.files());
            StageReport {
                id: stage,
                name: stage.title(),
                installed: files.iter().all(|f| f.installed),
                files,
            }
        })
        .collect();
    Report { engines, stages }
}

fn installed(yes: bool) -> &'static str {
    if yes { "installed" } else { "not installed" }
}

fn licences(files: &[EngineFile]) -> String {
    let mut names: Vec<&str> = files.iter().map(|f| f.licence.as_deref().unwrap_or("not recorded")).collect();
    names.sort_unstable();
    names.dedup();
    names.join("; ")
}

pub fn run(args: &EnginesArgs) -> anyhow::Result<ExitCode> {
    let store = Store::from_env(args.models_dir.clone());
    let report = report(&store);
    if args.json {
        super::print_out(&format!("{}\n", serde_json::to_string_pretty(&report)?))?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = String::new();
    for e in &report.engines {
        let c = &e.capabilities;
        out += &format!("engine {} — {} ({})\n", c.id, c.name, installed(e.installed));
        out += &format!("  {}\n", c.summary);
        out += &format!(
            "  {} Hz, {} channel(s); reference {:?}; duration control {:?}; streaming {:?}; voice design {}\n",
            c.sample_rate, c.channels, c.reference, c.duration, c.streaming, c.voice_design
        );
        out += &format!("  languages {}; stages {}\n", c.languages.join(", "), stage_names(&c.stages));
        out += &format!("  licences: {}\n", licences(&e.files));
    }
    for s in &report.stages {
        out += &format!("stage {} — {} ({})\n", s.id.name(), s.name, installed(s.installed));
        out += &format!("  licences: {}\n", licences(&s.files));
    }
    super::print_out(&out)?;
    Ok(ExitCode::SUCCESS)
}

fn stage_names(stages: &[StageId]) -> String {
    stages.iter().map(|s| s.name()).collect::<Vec<_>>().join(" → ")
}
