//! The `promptbook` command line. Without a subcommand it opens the studio.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub mod check;
pub mod check_clip;
pub mod convert_voice;
pub mod engines;
pub mod models;
pub mod outputs;
pub mod presets;
pub mod qc;
pub mod record;
pub mod render;
pub mod separate;

#[derive(Debug, Parser)]
#[command(name = "promptbook", version, about = "Direct synthetic voice performances", long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Open the studio window (the default).
    Studio(crate::studio::StudioArgs),
    /// Lint a `<speak>` script, print its compiled prompt and chunk plan.
    Check(check::CheckArgs),
    /// List the voice presets, or print one as XML.
    Presets(presets::PresetsArgs),
    /// The voice engines and post stages of this build: capabilities, install state, licences.
    Engines(engines::EnginesArgs),
    /// Model files: status, download, verify, path, inspect.
    Models(models::ModelsArgs),
    /// Render a script to a take: OUT.wav (48 kHz stereo) and OUT.json (the generation record).
    Render(render::RenderArgs),
    /// Convert a recording into the voice of a reference clip (SeedVC): OUT.wav (48 kHz) and OUT.json.
    ConvertVoice(convert_voice::ConvertVoiceArgs),
    /// Record a reference clip from a microphone.
    Record(record::RecordArgs),
    /// Judge a reference clip: duration, level, noise, speech, pitch.
    CheckClip(check_clip::CheckClipArgs),
    /// Does a take say the words? Transcribe it with Whisper (or give a transcript) and score it.
    Qc(qc::QcArgs),
    /// Split an audio file into DIR/dialogue.wav and DIR/sfx.wav (MelBandRoFormer).
    Separate(separate::SeparateArgs),
}

/// Parse the command line and run it; errors are printed once, here.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        None => crate::studio::run(&crate::studio::StudioArgs::default()),
        Some(Command::Studio(args)) => crate::studio::run(&args),
        Some(Command::Check(args)) => check::run(&args),
        Some(Command::Presets(args)) => presets::run(&args),
        Some(Command::Engines(args)) => engines::run(&args),
        Some(Command::Models(args)) => models::run(&args),
        Some(Command::Render(args)) => render::run(&args),
        Some(Command::ConvertVoice(args)) => convert_voice::run(&args),
        Some(Command::Record(args)) => record::run(args).map(|()| ExitCode::SUCCESS),
        Some(Command::CheckClip(args)) => check_clip::run(&args),
        Some(Command::Separate(args)) => separate::run(&args),
        Some(Command::Qc(args)) => qc::run(&args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {}", error_text(&err));
            ExitCode::from(2)
        }
    }
}

/// The error and its causes, `: `-joined, leaving out a cause whose text an outer message already quotes
/// (library errors often name their source in their own message).
pub fn error_text(err: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in err.chain() {
        let part = cause.to_string();
        if text.contains(&part) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&part);
    }
    text
}

/// With `--json`, a command that cannot run still prints one JSON object, `{"error": "..."}`, and
/// exits with status 2; the error goes to standard error as well, as without `--json`.
pub fn json_errors(json: bool, result: anyhow::Result<ExitCode>) -> anyhow::Result<ExitCode> {
    match result {
        Err(err) if json => {
            let message = error_text(&err);
            eprintln!("error: {message}");
            let text = serde_json::json!({ "error": message }).to_string() + "\n";
            print_out(&text)?;
            Ok(ExitCode::from(2))
        }
        other => other,
    }
}

/// `println!` that never panics: a closed pipe (`promptbook models status | head`) ends the output
/// quietly instead of crashing.
#[macro_export]
macro_rules! outln {
    () => { $crate::cli::print_out("\n")? };
    ($($arg:tt)*) => { $crate::cli::print_out(&(format!($($arg)*) + "\n"))? };
}

/// Write to standard output; a closed pipe (`promptbook presets | head`) ends the output quietly.
pub fn print_out(text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::error_text;

    #[test]
    fn a_cause_the_message_already_quotes_is_said_once() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "No such file or directory (os error 2)");
        let quoted =
            anyhow::Error::new(io).context("open failed: No such file or directory (os error 2) (a.wav)");
        assert_eq!(error_text(&quoted), "open failed: No such file or directory (os error 2) (a.wav)");

        let plain = anyhow::anyhow!("disk full").context("cannot write take.wav");
        assert_eq!(error_text(&plain), "cannot write take.wav: disk full");
    }
}
