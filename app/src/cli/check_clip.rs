//! `promptbook check-clip FILE [--json]`: judge a reference clip.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use promptbook_engine::clip_check;

/// Check a reference clip (WAV, FLAC, MP3, OGG) for voice cloning.
#[derive(Debug, Clone, clap::Args)]
pub struct CheckClipArgs {
    /// The audio file to check.
    pub file: PathBuf,
    /// Print the results as JSON (one entry per check: id, label, value, unit, verdict, advice).
    #[arg(long)]
    pub json: bool,
}

/// Runs the checker and prints a table, or JSON with `--json` (also for a file it cannot check).
pub fn run(args: &CheckClipArgs) -> anyhow::Result<ExitCode> {
    super::json_errors(args.json, check(args))
}

fn check(args: &CheckClipArgs) -> anyhow::Result<ExitCode> {
    // The reader's messages name the file already.
    let report = clip_check::check_file(&args.file).context("cannot check the clip")?;
    if args.json {
        super::print_out(&(serde_json::to_string_pretty(&report)? + "\n"))?;
    } else {
        super::print_out(&format_report(&report))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// A plain-text table of a report.
pub fn format_report(report: &clip_check::ClipReport) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    for c in &report.checks {
        let value = match c.value {
            None => "-".to_string(),
            Some(v) if v.fract() == 0.0 => format!("{v:.0} {}", c.unit),
            Some(v) => format!("{v:.1} {}", c.unit),
        };
        writeln!(out, "{:<18} {:>16}  {:<4}  {}", c.label, value, c.verdict.as_str(), c.advice).ok();
    }
    writeln!(out, "Overall: {}", report.verdict.as_str()).ok();
    out
}
