use clap::{Parser, Subcommand};
use promptbook::cli;

/// Promptbook: a desktop studio for directing synthetic voice performances.
#[derive(Debug, Parser)]
#[command(name = "promptbook", version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Record a reference clip: `promptbook record -o REF.wav [--device NAME] [--seconds S]`.
    Record(cli::record::RecordArgs),
    /// Check a reference clip: `promptbook check-clip FILE [--json]`.
    CheckClip(cli::check_clip::CheckClipArgs),
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Some(Command::Record(args)) => cli::record::run(args),
        Some(Command::CheckClip(args)) => cli::check_clip::run(args),
        None => {
            println!("promptbook");
            Ok(())
        }
    }
}
