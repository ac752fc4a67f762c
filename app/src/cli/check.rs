//! `promptbook check FILE`: lint a script, show the prompt the model will see and the chunk plan.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use promptbook_engine::check::{CheckOptions, CheckReport, EstimatorKind, check};
use promptbook_engine::plan::{check_pace, check_seed};

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// The script (`-` reads standard input).
    pub file: PathBuf,
    /// Speaking pace multiplier (0.5–3.0; higher plans shorter chunks).
    #[arg(long, default_value_t = 1.5)]
    pub pace: f64,
    /// Base seed (0 or more); chunk i gets seed + i·1000. -1 picks a random base and reports it.
    #[arg(long, default_value_t = -1, allow_negative_numbers = true)]
    pub seed: i64,
    /// Duration estimator used for planning.
    #[arg(long, value_enum, default_value_t = EstimatorArg::Default)]
    pub estimator: EstimatorArg,
    /// Print one JSON object instead of the human report.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EstimatorArg {
    /// The reference fallback: 2.2 words per second.
    Reference,
    /// Promptbook's estimator (syllables, punctuation pauses, action time).
    Default,
}

impl From<EstimatorArg> for EstimatorKind {
    fn from(arg: EstimatorArg) -> Self {
        match arg {
            EstimatorArg::Reference => EstimatorKind::Reference,
            EstimatorArg::Default => EstimatorKind::Default,
        }
    }
}

/// `--pace` and `--seed` as the engine takes them; checked before anything is read, so a bad value is
/// the error (exit status 2, and `{"error"}` with `--json`).
pub fn check_pace_and_seed(pace: f64, seed: i64) -> anyhow::Result<()> {
    check_pace(pace).context("--pace")?;
    check_seed(seed).context("--seed")?;
    Ok(())
}

pub fn run(args: &CheckArgs) -> anyhow::Result<ExitCode> {
    super::json_errors(args.json, lint(args))
}

fn lint(args: &CheckArgs) -> anyhow::Result<ExitCode> {
    check_pace_and_seed(args.pace, args.seed)?;
    let (name, source) = read_source(&args.file)?;
    let opts = CheckOptions { pace: args.pace, seed: args.seed, estimator: args.estimator.into() };
    let report = check(&source, &opts);
    if args.json {
        super::print_out(&(serde_json::to_string(&report).context("serialising the report")? + "\n"))?;
    } else {
        super::print_out(&human_report(&name, &report))?;
    }
    Ok(if report.valid { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn read_source(path: &std::path::Path) -> anyhow::Result<(String, String)> {
    if path.as_os_str() == "-" {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text).context("reading the script from standard input")?;
        return Ok(("<stdin>".to_string(), text));
    }
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        anyhow::anyhow!("{} is not UTF-8 text (byte {})", path.display(), e.utf8_error().valid_up_to())
    })?;
    Ok((path.display().to_string(), text))
}

/// The human report: problems in `FILE:LINE:COL: severity: message` form, then prompt and plan.
pub fn human_report(name: &str, report: &CheckReport) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    for (severity, list) in [("error", &report.errors), ("warning", &report.warnings)] {
        for problem in list {
            let _ =
                writeln!(out, "{name}:{}:{}: {severity}: {}", problem.line, problem.column, problem.message);
        }
    }
    if !report.valid {
        return out;
    }
    if let Some(compiled) = &report.compiled {
        if !out.is_empty() {
            out.push('\n');
        }
        let _ = writeln!(out, "Compiled prompt:\n  {}\n", compiled.prompt);
        let _ = writeln!(
            out,
            "voice: {}  gender: {}  shot: {}  language: {}  scene: {}",
            compiled.voice,
            compiled.gender,
            compiled.shot,
            compiled.language,
            compiled.scene.as_deref().unwrap_or("-")
        );
    }
    let total: f64 = report.plan.iter().map(|c| c.duration_s).sum();
    let _ = writeln!(out, "\nChunk plan ({} chunks, ~{total:.1} s):", report.plan.len());
    let _ = writeln!(out, "  {:>3}  {:>7}  {:>12}  text", "#", "dur (s)", "seed");
    for (i, chunk) in report.plan.iter().enumerate() {
        let _ =
            writeln!(out, "  {:>3}  {:>7.2}  {:>12}  {}", i + 1, chunk.duration_s, chunk.seed, chunk.text);
    }
    out
}
