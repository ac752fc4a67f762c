//! `promptbook separate IN -o DIR`: split any audio file (WAV, FLAC, MP3, OGG Vorbis) into `DIR/dialogue.wav`
//! (the MelBandRoFormer vocals) and `DIR/sfx.wav` (the rest), both 32-bit float at the input's rate, length and
//! channel count, so that the two add up to the input.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use promptbook_engine::audio::{WavSampleFormat, decode_file, write_wav};
use promptbook_engine::engines::DeviceKind;
use promptbook_engine::stages::separation::{SEPARATOR_FILE, Separator};
use promptbook_engine::store::Store;

#[derive(Debug, clap::Args)]
pub struct SeparateArgs {
    /// The audio to separate (WAV, FLAC, MP3 or OGG Vorbis).
    pub input: PathBuf,
    /// The folder to write `dialogue.wav` and `sfx.wav` into (created if needed).
    #[arg(short, long, value_name = "DIR")]
    pub output: PathBuf,
    /// Read the model from this folder (also `PROMPTBOOK_MODELS_DIR`; else the Hugging Face cache).
    #[arg(long, value_name = "DIR")]
    pub models_dir: Option<PathBuf>,
    /// Where the model runs (`cuda`/`metal` need a build with that feature).
    #[arg(long, default_value = "cpu", value_parser = ["cpu", "cuda", "metal"])]
    pub device: String,
}

/// The stems, in the order they are written.
const STEMS: [&str; 2] = ["dialogue.wav", "sfx.wav"];

pub fn run(args: &SeparateArgs) -> anyhow::Result<ExitCode> {
    let device = DeviceKind::parse(&args.device).context("--device must be cpu, cuda or metal")?;
    let outputs: Vec<PathBuf> = STEMS.iter().map(|name| args.output.join(name)).collect();
    refuse_overwriting_the_input(&args.input, &outputs)?;
    let (audio, source) = decode_file(&args.input)?;
    eprintln!(
        "{}: {:.1} s, {} Hz, {} channel{} ({})",
        args.input.display(),
        audio.duration_secs(),
        audio.sample_rate(),
        audio.num_channels(),
        if audio.num_channels() == 1 { "" } else { "s" },
        source.codec
    );

    let store = Store::from_env(args.models_dir.clone());
    let separator = Separator::from_store(&store, device).with_context(|| {
        format!("run `promptbook models download --optional` to fetch {SEPARATOR_FILE}, or pass --models-dir")
    })?;
    let bar = ProgressBar::new(separator.num_chunks(&audio) as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} chunks {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    let started = Instant::now();
    let stems = separator.separate(&audio, |done, total| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
        ControlFlow::Continue(())
    });
    bar.finish_and_clear();
    let stems = stems?;

    std::fs::create_dir_all(&args.output)
        .with_context(|| format!("cannot create the output folder {}", args.output.display()))?;
    for (path, stem) in outputs.iter().zip([&stems.dialogue, &stems.sfx]) {
        write_wav(path, stem, WavSampleFormat::Float32)?;
    }
    eprintln!(
        "separated in {:.1} s: {} and {}",
        started.elapsed().as_secs_f64(),
        outputs[0].display(),
        outputs[1].display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Writing a stem over the input would destroy it (`promptbook separate out/sfx.wav -o out`).
fn refuse_overwriting_the_input(input: &Path, outputs: &[PathBuf]) -> anyhow::Result<()> {
    let Ok(input) = input.canonicalize() else { return Ok(()) };
    for output in outputs {
        if output.canonicalize().is_ok_and(|o| o == input) {
            bail!("{} is the input; choose another output folder so it is not overwritten", output.display());
        }
    }
    Ok(())
}
