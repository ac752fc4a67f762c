//! `promptbook convert-voice SOURCE.wav --target REF.wav -o OUT.wav`: convert a recording (a guide read in the
//! director's own voice) into the voice of a reference clip with SeedVC, and write OUT.wav (48 kHz, dual mono)
//! and OUT.json (the conversion record), each atomically.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use promptbook_engine::audio::{WavSampleFormat, read_wav, write_bytes_atomically, write_wav};
use promptbook_engine::engines::DeviceKind;
use promptbook_engine::stages::voice_conversion::{
    DEFAULT_CFG_RATE, DEFAULT_STEPS, VoiceConversionFiles, VoiceConversionSettings, VoiceConverter,
};
use promptbook_engine::store::Store;

use super::render::FormatArg;

#[derive(Debug, clap::Args)]
pub struct ConvertVoiceArgs {
    /// The recording to convert (WAV, any rate and channel count; mixed to mono).
    pub source: PathBuf,
    /// The voice to convert into (WAV; the first 25 s are used).
    #[arg(long, value_name = "REF.wav")]
    pub target: PathBuf,
    /// The WAV to write; the conversion record goes beside it as `.json`.
    #[arg(short, long, value_name = "OUT.wav")]
    pub output: PathBuf,
    /// Diffusion steps (Scenema uses 25; more is slower and cleaner).
    #[arg(long, default_value_t = DEFAULT_STEPS)]
    pub steps: usize,
    /// Classifier-free guidance rate, 0–1 (Scenema uses 0.5).
    #[arg(long, default_value_t = DEFAULT_CFG_RATE)]
    pub cfg: f64,
    /// Seed of the sampler noise; -1 picks one at random and records it.
    #[arg(long, default_value_t = -1, allow_negative_numbers = true)]
    pub seed: i64,
    /// Read the models from this folder (also `PROMPTBOOK_MODELS_DIR`; else the Hugging Face cache).
    #[arg(long, value_name = "DIR")]
    pub models_dir: Option<PathBuf>,
    /// Where the model runs (`cuda`/`metal` need a build with that feature).
    #[arg(long, default_value = "cpu", value_parser = ["cpu", "cuda", "metal"])]
    pub device: String,
    /// Sample format of OUT.wav.
    #[arg(long, value_enum, default_value_t = FormatArg::Pcm24)]
    pub format: FormatArg,
}

/// The same file (after resolving links), when both exist.
fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

pub fn run(args: &ConvertVoiceArgs) -> anyhow::Result<ExitCode> {
    let json_path = args.output.with_extension("json");
    for (what, path) in [("source", &args.source), ("target", &args.target)] {
        anyhow::ensure!(
            !same_file(&args.output, path) && !same_file(&json_path, path),
            "-o {} would overwrite the {what} recording; choose another output name",
            args.output.display()
        );
    }
    let output_dir = args.output.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    anyhow::ensure!(output_dir.is_dir(), "the output folder {} does not exist", output_dir.display());
    let seed = if args.seed < 0 { VoiceConversionSettings::random_seed() } else { args.seed as u64 };
    let settings = VoiceConversionSettings { steps: args.steps, cfg_rate: args.cfg, seed };
    settings.check()?;
    let source = read_wav(&args.source)
        .with_context(|| format!("cannot read the source {}", args.source.display()))?;
    let target = read_wav(&args.target)
        .with_context(|| format!("cannot read the target voice {}", args.target.display()))?;

    let store = Store::from_env(args.models_dir.clone());
    let files = VoiceConversionFiles::locate(&store)?;
    let device = DeviceKind::parse(&args.device).context("--device must be cpu, cuda or metal")?;
    let device = device.open().map_err(anyhow::Error::msg)?;
    let bar = ProgressBar::new_spinner();
    bar.enable_steady_tick(Duration::from_millis(120));
    bar.set_message("loading SeedVC");
    let converter = VoiceConverter::load(&files, device)?;
    for (file, keys) in &converter.model().load_report().skipped {
        bar.println(format!("note: {file}: {} stored tensor(s) unused: {}", keys.len(), keys.join(", ")));
    }
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {percent}%")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let converted = converter.convert(&source, &target, &settings, &mut |p| {
        bar.set_length((p.windows * p.steps) as u64);
        bar.set_position((p.window * p.steps + p.step) as u64);
        bar.set_message(format!("window {}/{} step {}/{}", p.window + 1, p.windows, p.step, p.steps));
    })?;
    bar.finish_and_clear();

    let format = match args.format {
        FormatArg::Pcm16 => WavSampleFormat::Pcm16,
        FormatArg::Pcm24 => WavSampleFormat::Pcm24,
        FormatArg::F32 => WavSampleFormat::Float32,
    };
    let record = &converted.record;
    let json = serde_json::to_string_pretty(record).context("serialising the conversion record")?;
    write_wav(&args.output, &converted.audio, format)?;
    write_bytes_atomically(&json_path, json.as_bytes())?;
    println!(
        "{}: {:.2} s, {} Hz, {} channels, {} steps, cfg {}, seed {}; converted in {:.1} s (real-time factor {:.2})",
        args.output.display(),
        record.duration_s,
        record.sample_rate,
        record.channels,
        record.settings.steps,
        record.settings.cfg_rate,
        record.settings.seed,
        record.timings.convert_s,
        record.real_time_factor
    );
    println!("record: {}", json_path.display());
    Ok(ExitCode::SUCCESS)
}
