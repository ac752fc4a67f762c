//! `promptbook qc TAKE.wav (--text TEXT | --script SCRIPT.xml) [--transcript TEXT]`: does the take say the
//! words? Transcribes it with Whisper (or scores a transcript given), then the reference's word-match ratio
//! (postprocessing-spec §3.2). Exit status 0 when it passes, 1 when it does not, 2 when it cannot run.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use promptbook_engine::audio::decode_file;
use promptbook_engine::engines::DeviceKind;
use promptbook_engine::prompt::{extract_speech_text, validate_reference};
use promptbook_engine::stages::validation::{
    DEFAULT_MIN_RATIO, TranscribeOptions, Transcriber, WhisperFiles, WordMatch, word_match,
};
use promptbook_engine::store::Store;

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("expected").required(true).args(["text", "script"])))]
pub struct QcArgs {
    /// The recording (WAV, FLAC, MP3 or OGG Vorbis), any rate, mono or stereo.
    pub take: PathBuf,
    /// The words it should say.
    #[arg(long)]
    pub text: Option<String>,
    /// A `<speak>` script: its spoken text is expected, and its language used.
    #[arg(long, value_name = "SCRIPT.xml")]
    pub script: Option<PathBuf>,
    /// Score this transcript instead of transcribing the take (no model needed; TAKE must still exist).
    #[arg(long)]
    pub transcript: Option<String>,
    /// Whisper language code (`en`, `de`, …); default the script's, else detected from the take.
    #[arg(long)]
    pub language: Option<String>,
    /// Share of the expected words that must be heard (the reference's default is 0.90).
    #[arg(long, default_value_t = DEFAULT_MIN_RATIO)]
    pub min_ratio: f64,
    /// Print `{"passed", "ratio", "transcript", "missing_words"}`.
    #[arg(long)]
    pub json: bool,
    /// Read the models from this folder (also `PROMPTBOOK_MODELS_DIR`; else the Hugging Face cache).
    #[arg(long, value_name = "DIR")]
    pub models_dir: Option<PathBuf>,
    /// Where Whisper runs (`cuda`/`metal` need a build with that feature).
    #[arg(long, default_value = "cpu", value_parser = ["cpu", "cuda", "metal"])]
    pub device: String,
}

/// What `--json` prints.
#[derive(Debug, serde::Serialize)]
struct QcReport<'a> {
    passed: bool,
    ratio: f64,
    transcript: &'a str,
    missing_words: &'a [String],
}

/// With `--json`, an input it cannot use is also reported as `{"error": "..."}` (status 2).
pub fn run(args: &QcArgs) -> anyhow::Result<ExitCode> {
    super::json_errors(args.json, judge(args))
}

fn judge(args: &QcArgs) -> anyhow::Result<ExitCode> {
    if !(0.0..=1.0).contains(&args.min_ratio) {
        bail!("--min-ratio {} is out of range (0 to 1; the reference uses 0.90)", args.min_ratio);
    }
    if !args.take.is_file() {
        bail!("cannot read the take: {} is not a file", args.take.display());
    }
    let (expected, script_language) = expected_text(args)?;
    let transcript = match &args.transcript {
        Some(text) => text.clone(),
        None => transcribe(args, args.language.clone().or(script_language))?,
    };
    let score = word_match(&expected, &transcript, args.min_ratio);
    let out = if args.json {
        let report = QcReport {
            passed: score.passed,
            ratio: score.ratio,
            transcript: &transcript,
            missing_words: &score.missing_words,
        };
        serde_json::to_string(&report).context("serialising the report")? + "\n"
    } else {
        human_report(&score, &transcript, args.min_ratio)
    };
    super::print_out(&out)?;
    Ok(if score.passed { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// The expected words, and the script's language when they come from a script.
fn expected_text(args: &QcArgs) -> anyhow::Result<(String, Option<String>)> {
    match (&args.text, &args.script) {
        (Some(text), None) => Ok((text.clone(), None)),
        (None, Some(path)) => {
            let xml =
                std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
            let checked = validate_reference(&xml);
            if !checked.valid {
                bail!("{} is not a valid script: {}", path.display(), checked.errors.join("; "));
            }
            let speech = extract_speech_text(&xml).with_context(|| format!("reading {}", path.display()))?;
            Ok((speech, checked.language))
        }
        _ => bail!("give the expected words with --text or --script"),
    }
}

fn transcribe(args: &QcArgs, language: Option<String>) -> anyhow::Result<String> {
    let store = Store::from_env(args.models_dir.clone());
    let files = WhisperFiles::locate(&store)?;
    let device = DeviceKind::parse(&args.device).context("--device must be cpu, cuda or metal")?;
    let device = device.open().map_err(anyhow::Error::msg)?;
    let transcriber = Transcriber::load(&files, &device)?;
    let (audio, _) =
        decode_file(&args.take).with_context(|| format!("cannot decode {}", args.take.display()))?;
    let opts = TranscribeOptions { language, ..Default::default() };
    Ok(transcriber.transcribe(&audio, &opts)?.text)
}

fn human_report(score: &WordMatch, transcript: &str, min_ratio: f64) -> String {
    let verdict = if score.passed { "PASS" } else { "FAIL" };
    let missing =
        if score.missing_words.is_empty() { "-".to_string() } else { score.missing_words.join(" ") };
    format!(
        "{verdict}  ratio {:.2} (min {min_ratio:.2})\nheard    {transcript}\nmissing  {missing}\n",
        score.ratio
    )
}
