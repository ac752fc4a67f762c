//! `promptbook render SCRIPT.xml -o OUT.wav`: render a take through the engine thread, with a progress bar,
//! and write OUT.wav (48 kHz stereo) and OUT.json (the generation record), each atomically.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use promptbook_engine::audio::{AudioBuffer, WavSampleFormat, decode_file_head, write_wav_with_record};
use promptbook_engine::check::{CheckOptions, check};
use promptbook_engine::engines::{self, DeviceKind, LoadOptions};
use promptbook_engine::pipeline::{RenderMode, RenderRequest};
use promptbook_engine::runtime::{EngineEvent, EngineHandle};
use promptbook_engine::stages::StageSettings;

use super::check::{EstimatorArg, check_pace_and_seed};
use crate::messages::engine_error;

#[derive(Debug, clap::Args)]
pub struct RenderArgs {
    /// The `<speak>` script.
    pub script: PathBuf,
    /// The WAV to write; the generation record goes beside it as `.json`.
    #[arg(short, long, value_name = "OUT.wav")]
    pub output: PathBuf,
    /// Base seed (0 or more); chunk i gets seed + i·1000. -1 picks a random base and records it.
    #[arg(long, default_value_t = -1, allow_negative_numbers = true)]
    pub seed: i64,
    /// Speaking pace multiplier (0.5–3.0; higher plans shorter chunks).
    #[arg(long, default_value_t = 1.5)]
    pub pace: f64,
    /// A reference voice clip (WAV) that conditions the first chunk.
    #[arg(long, value_name = "REF.wav")]
    pub reference: Option<PathBuf>,
    /// `generate` renders the planned chunks; `voice_design` one 15 s sample.
    #[arg(long, value_enum, default_value_t = ModeArg::Generate)]
    pub mode: ModeArg,
    /// Read the models from this folder (also `PROMPTBOOK_MODELS_DIR`; else the Hugging Face cache).
    #[arg(long, value_name = "DIR")]
    pub models_dir: Option<PathBuf>,
    /// Where the model runs (`cuda`/`metal` need a build with that feature).
    #[arg(long, default_value = "cpu", value_parser = ["cpu", "cuda", "metal"])]
    pub device: String,
    /// Sample format of OUT.wav.
    #[arg(long, value_enum, default_value_t = FormatArg::Pcm24)]
    pub format: FormatArg,
    /// Duration estimator used for planning.
    #[arg(long, value_enum, default_value_t = EstimatorArg::Default)]
    pub estimator: EstimatorArg,
    /// The voice engine (`promptbook engines` lists them).
    #[arg(long, default_value = engines::DEFAULT_ENGINE, value_name = "NAME")]
    pub engine: String,
    #[command(flatten)]
    pub stages: StageArgs,
}

/// The post stages, with the Scenema server's defaults; each runs only where its model files are installed.
#[derive(Debug, Clone, clap::Args)]
pub struct StageArgs {
    /// Render with the engine alone: no validation, separation or voice conversion.
    #[arg(long)]
    pub no_stages: bool,
    /// Do not hear each chunk back with Whisper (and do not retry).
    #[arg(long)]
    pub no_validate: bool,
    /// Whisper word-match a chunk needs to pass (0–1).
    #[arg(long, default_value_t = 0.90, value_name = "RATIO")]
    pub min_match: f64,
    /// Keep the full mix (speech and SFX) instead of the separated dialogue.
    #[arg(long)]
    pub background_sfx: bool,
    /// No SeedVC; with a reference, every chunk is conditioned on its last 3 s instead (anchor).
    #[arg(long)]
    pub skip_vc: bool,
    /// SeedVC diffusion steps.
    #[arg(long, default_value_t = 25, value_name = "N")]
    pub vc_steps: usize,
    /// SeedVC classifier-free guidance (0–1).
    #[arg(long, default_value_t = 0.5, value_name = "X")]
    pub vc_cfg: f64,
}

impl StageArgs {
    pub fn settings(&self) -> anyhow::Result<Option<StageSettings>> {
        anyhow::ensure!(
            (0.0..=1.0).contains(&self.min_match),
            "--min-match {} is out of range (0–1)",
            self.min_match
        );
        // The ranges `convert-voice` and the stage itself accept.
        promptbook_engine::stages::voice_conversion::VoiceConversionSettings {
            steps: self.vc_steps,
            cfg_rate: self.vc_cfg,
            seed: 0,
        }
        .check()?;
        if self.no_stages {
            return Ok(None);
        }
        Ok(Some(StageSettings {
            validate: !self.no_validate,
            min_match_ratio: self.min_match,
            background_sfx: self.background_sfx,
            skip_vc: self.skip_vc,
            vc_steps: self.vc_steps,
            vc_cfg_rate: self.vc_cfg,
        }))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ModeArg {
    Generate,
    #[value(name = "voice_design")]
    VoiceDesign,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FormatArg {
    Pcm16,
    Pcm24,
    F32,
}

/// How long the command line waits for the engine before concluding it is stuck.
const ENGINE_SILENCE_LIMIT: Duration = Duration::from_secs(3600);
/// How often the wait for engine events looks at Ctrl-C.
const POLL: Duration = Duration::from_millis(100);
/// Exit status after Ctrl-C (128 + SIGINT), as shells report it.
const INTERRUPTED: u8 = 130;

pub fn run(args: &RenderArgs) -> anyhow::Result<ExitCode> {
    check_pace_and_seed(args.pace, args.seed)?;
    let script = std::fs::read_to_string(&args.script)
        .with_context(|| format!("cannot read the script {}", args.script.display()))?;
    let estimator = args.estimator.into();
    let report = check(&script, &CheckOptions { pace: args.pace, seed: args.seed, estimator });
    if !report.valid {
        for e in &report.errors {
            eprintln!("{}:{}:{}: error: {}", args.script.display(), e.line, e.column, e.message);
        }
        bail!("{} has errors; nothing was rendered", args.script.display());
    }
    let output_dir = args.output.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    anyhow::ensure!(output_dir.is_dir(), "the output folder {} does not exist", output_dir.display());
    let json_path = args.output.with_extension("json");
    let inputs: Vec<&Path> =
        std::iter::once(args.script.as_path()).chain(args.reference.as_deref()).collect();
    super::outputs::check_outputs(&[&args.output, &json_path], &inputs)?;
    let entry = engines::find(&args.engine).map_err(anyhow::Error::msg)?;
    let caps = (entry.capabilities)();
    let stages = args.stages.settings()?;
    let reference = args.reference.as_ref().map(|path| read_reference(path, &caps)).transpose()?;
    let device = DeviceKind::parse(&args.device).context("--device must be cpu, cuda or metal")?;

    let interrupted = interrupt_flag();
    let mut waiter = EventWaiter::default();
    let mut engine = EngineHandle::spawn(|| {}).context("cannot start the engine thread")?;
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg}").unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(Duration::from_millis(120));
    let loaded_at = Instant::now();
    let load_id = engine
        .load((entry.loader)(LoadOptions { models_dir: args.models_dir.clone(), device, store: None }))
        .context("engine")?;
    loop {
        if interrupted.load(Ordering::SeqCst) {
            bar.finish_and_clear();
            eprintln!("promptbook: interrupted while loading the model; nothing was written");
            return Ok(ExitCode::from(INTERRUPTED));
        }
        let Some(event) = waiter.next(&engine)? else { continue };
        match event {
            EngineEvent::LoadProgress { id, message, .. } if id == load_id => bar.set_message(message),
            EngineEvent::Loaded { id, info, .. } if id == load_id => {
                bar.println(format!(
                    "model loaded in {:.1} s on {} ({}), {:.1} MB of weights",
                    loaded_at.elapsed().as_secs_f64(),
                    info.device,
                    info.dtype,
                    info.weight_bytes as f64 / 1e6
                ));
                break;
            }
            EngineEvent::Failed { id, error } if id == load_id => {
                bar.finish_and_clear();
                bail!("cannot load the model: {}", engine_error(&error));
            }
            _ => {}
        }
    }

    let mode = match args.mode {
        ModeArg::Generate => RenderMode::Generate,
        ModeArg::VoiceDesign => RenderMode::VoiceDesign,
    };
    let mut request = RenderRequest::engine_only(script, args.seed, args.pace, mode, estimator);
    request.reference = reference.map(Arc::new);
    request.stages = stages;
    let render_id = engine.render(request).context("engine")?;
    let mut cancel_sent = false;
    let take = loop {
        if interrupted.load(Ordering::SeqCst) && !cancel_sent {
            // The engine stops within one sampler step; a second Ctrl-C ends the process at once.
            bar.println("interrupted: cancelling the render (Ctrl-C again to quit at once)");
            engine.cancel(render_id).context("engine")?;
            cancel_sent = true;
        }
        let Some(event) = waiter.next(&engine)? else { continue };
        match event {
            EngineEvent::ChunkStarted { id, index, of, text } if id == render_id => {
                if bar.length().is_none() {
                    bar.set_length((of * 8) as u64);
                    bar.set_style(
                        ProgressStyle::with_template("{msg} [{bar:30}] {percent}% ETA {eta}")
                            .unwrap_or_else(|_| ProgressStyle::default_bar()),
                    );
                }
                bar.set_position((index * 8) as u64);
                let preview: String = text.chars().take(40).collect();
                bar.set_message(format!("chunk {}/{of} step 0/8 \u{201c}{preview}\u{201d}", index + 1));
            }
            EngineEvent::SamplerStep { id, chunk, step, of } if id == render_id => {
                let chunks = bar.length().unwrap_or(8) / 8;
                bar.set_position((chunk * of + step) as u64);
                bar.set_message(format!("chunk {}/{chunks} step {step}/{of}", chunk + 1));
            }
            EngineEvent::Decoding { id, chunk, of } if id == render_id => {
                bar.set_message(format!("chunk {}/{of} decoding", chunk + 1));
            }
            EngineEvent::StageStarted { id, stage, chunk } if id == render_id => {
                let at = chunk.map_or(String::new(), |c| format!(" (chunk {})", c + 1));
                bar.set_message(format!("{}{at}", stage.title()));
            }
            EngineEvent::Finished { id, take } if id == render_id => break take,
            EngineEvent::Failed { id, error } if id == render_id => {
                bar.finish_and_clear();
                bail!("render failed: {}", engine_error(&error));
            }
            EngineEvent::Cancelled { id } if id == render_id => {
                bar.finish_and_clear();
                eprintln!("promptbook: render cancelled; nothing was written");
                return Ok(ExitCode::from(INTERRUPTED));
            }
            _ => {}
        }
    };
    bar.finish_and_clear();

    let record = &take.record;
    let audio = &take.audio;
    let format = match args.format {
        FormatArg::Pcm16 => WavSampleFormat::Pcm16,
        FormatArg::Pcm24 => WavSampleFormat::Pcm24,
        FormatArg::F32 => WavSampleFormat::Float32,
    };
    let json = serde_json::to_string_pretty(record).context("serialising the generation record")?;
    // Checked again: the files may have changed during a render that took minutes.
    super::outputs::check_outputs(&[&args.output, &json_path], &inputs)?;
    write_wav_with_record(&args.output, audio, format, &json_path, json.as_bytes())?;
    println!(
        "{}: {:.2} s, {} Hz, {} channels, {} chunk(s), seed {}; rendered in {:.1} s (real-time factor {:.2})",
        args.output.display(),
        record.duration_s,
        record.sample_rate,
        record.channels,
        record.chunks.len(),
        record.base_seed,
        record.render_seconds,
        record.real_time_factor
    );
    for (path, audio) in extra_files(&args.output, &take) {
        super::outputs::check_outputs(&[&path], &inputs)?;
        promptbook_engine::audio::write_wav(&path, audio, format)?;
        println!("kept: {}", path.display());
    }
    for stage in record.stages.iter().filter(|s| s.ran) {
        println!("stage {}: {}", stage.name, stage.note);
    }
    println!("record: {}", json_path.display());
    Ok(ExitCode::SUCCESS)
}

/// The take's earlier versions (`OUT.raw.wav`, `OUT.separated.wav`) and stems (`OUT.dialogue.wav`,
/// `OUT.sfx.wav`), named beside OUT.
fn extra_files<'a>(
    output: &Path,
    take: &'a promptbook_engine::pipeline::Take,
) -> Vec<(PathBuf, &'a AudioBuffer)> {
    let beside = |what: &str| output.with_extension(format!("{what}.wav"));
    let mut files: Vec<(PathBuf, &AudioBuffer)> =
        take.versions.iter().map(|(version, audio)| (beside(version.name()), &**audio)).collect();
    if let Some(stems) = &take.stems {
        files.push((beside("dialogue"), &stems.dialogue));
        files.push((beside("sfx"), &stems.sfx));
    }
    files
}

/// Waits for engine events in short slices so the caller can look at Ctrl-C in between.
#[derive(Default)]
struct EventWaiter {
    quiet_since: Option<Instant>,
}

impl EventWaiter {
    /// The next event, or `None` after [`POLL`]; fails when the engine has said nothing for
    /// [`ENGINE_SILENCE_LIMIT`].
    fn next(&mut self, engine: &EngineHandle) -> anyhow::Result<Option<EngineEvent>> {
        if let Some(event) = engine.wait_event(POLL) {
            self.quiet_since = None;
            return Ok(Some(event));
        }
        let since = *self.quiet_since.get_or_insert_with(Instant::now);
        anyhow::ensure!(
            since.elapsed() < ENGINE_SILENCE_LIMIT,
            "the engine stopped answering (no event for an hour); giving up"
        );
        Ok(None)
    }
}

/// Set by the first Ctrl-C; the second one exits with the usual status.
fn interrupt_flag() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let seen = flag.clone();
    let installed = ctrlc::set_handler(move || {
        if seen.swap(true, Ordering::SeqCst) {
            std::process::exit(i32::from(INTERRUPTED));
        }
    });
    if let Err(err) = installed {
        eprintln!("promptbook: Ctrl-C will not cancel cleanly: {err}");
    }
    flag
}

/// The part of the reference clip the engine uses (Scenema: its first 20 s), read with the same reader
/// and rules as `check-clip`; the rest of the file is never read.
fn read_reference(path: &Path, caps: &engines::Capabilities) -> anyhow::Result<AudioBuffer> {
    let head_s = caps.reference_max_s.unwrap_or(promptbook_engine::audio::MAX_DECODE_SECS);
    let (buffer, _) = decode_file_head(path, head_s).context("cannot use the reference clip")?;
    Ok(buffer)
}
