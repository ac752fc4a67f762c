//! `promptbook record -o REF.wav [--device NAME] [--seconds S]`: record a reference clip.

use std::io::{BufRead as _, Write as _};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context as _, bail};
use promptbook_engine::audio::{self, ENGINE_SAMPLE_RATE, WavSampleFormat};
use promptbook_engine::clip_check;

use crate::recorder::{InputChannel, Phase, Recorder, RecorderConfig, StopReason, input_devices};

/// Record a reference clip from the default or a named input device.
#[derive(Debug, Clone, clap::Args)]
pub struct RecordArgs {
    /// Where to write the clip (WAV, 48 kHz, 32-bit float, mono).
    #[arg(short, long, required_unless_present = "list_devices")]
    pub output: Option<PathBuf>,
    /// Input device name (or a unique part of it) or id; the default input if left out.
    #[arg(long)]
    pub device: Option<String>,
    /// Stop after this many seconds (the engine uses at most 20 s).
    #[arg(long, default_value_t = 20.0)]
    pub seconds: f64,
    /// Seconds of count-in before recording starts.
    #[arg(long, default_value_t = 0.0)]
    pub count_in: f64,
    /// Record only this input channel (1-based) instead of the mix of all channels.
    #[arg(long)]
    pub channel: Option<u16>,
    /// Force a sample format (i16, i32, f32) instead of the best one the device offers.
    #[arg(long, value_parser = ["i16", "i32", "f32"])]
    pub sample_format: Option<String>,
    /// List the input devices and exit.
    #[arg(long)]
    pub list_devices: bool,
}

/// Records until `--seconds`, Enter, or a device failure, then writes the WAV and prints the
/// clip check. A device failure keeps (and writes) what was recorded, then reports an error.
pub fn run(args: RecordArgs) -> anyhow::Result<()> {
    if args.list_devices {
        for d in input_devices()? {
            println!("{}{}  ({})", d.name, if d.is_default { " [default]" } else { "" }, d.id);
        }
        return Ok(());
    }
    let output = args.output.context("--output is required")?;
    super::outputs::check_outputs(&[&output], &[])?;
    let channel = match args.channel {
        None => InputChannel::Mix,
        Some(0) => bail!("--channel counts from 1"),
        Some(c) => InputChannel::Only(c - 1),
    };
    let sample_format = match args.sample_format.as_deref() {
        None => None,
        Some("i16") => Some(cpal::SampleFormat::I16),
        Some("i32") => Some(cpal::SampleFormat::I32),
        Some("f32") => Some(cpal::SampleFormat::F32),
        Some(other) => bail!("unknown sample format {other}"),
    };
    let config = RecorderConfig {
        device: args.device.clone(),
        max_secs: args.seconds,
        count_in_secs: args.count_in,
        channel,
        preferred_rate: ENGINE_SAMPLE_RATE,
        sample_format,
    };
    let mut recorder = Recorder::start(&config)?;
    eprintln!(
        "Recording from {} at {} Hz for up to {:.1} s; press Enter to stop",
        recorder.device(),
        recorder.sample_rate(),
        args.seconds
    );
    let enter = watch_enter();
    let mut last_tenth = None;
    loop {
        let phase = recorder.poll();
        let meter = recorder.meter();
        match &phase {
            Phase::Finished(_) => break,
            Phase::CountIn { remaining_secs } => eprint!("\rcount-in {:>4.1} s        ", remaining_secs),
            Phase::Recording { elapsed_secs } => {
                let tenth = (elapsed_secs * 10.0) as u64;
                if last_tenth != Some(tenth) {
                    last_tenth = Some(tenth);
                    let db = crate::recorder::meter::to_db(meter.peak);
                    let clip = if meter.clipped_total > 0 { "  CLIP" } else { "" };
                    eprint!("\r{elapsed_secs:>5.1} s  peak {db:>6.1} dBFS{clip}   ");
                }
            }
        }
        std::io::stderr().flush().ok();
        if enter.load(Ordering::Relaxed) {
            break;
        }
        // A poll interval, not a timer: the take's length comes from counted frames.
        std::thread::sleep(Duration::from_millis(10));
    }
    eprintln!();
    let take = recorder.stop()?;
    if take.audio.frames() == 0 {
        bail!("nothing was recorded from {}", take.device);
    }
    let wav = audio::resample(&take.audio, ENGINE_SAMPLE_RATE)?;
    audio::write_wav(&output, &wav, WavSampleFormat::Float32)?;
    eprintln!("Wrote {:.2} s to {}", take.audio.duration_secs(), output.display());
    if take.dropped_frames > 0 || take.xruns > 0 {
        eprintln!("warning: {} frames dropped, {} overruns", take.dropped_frames, take.xruns);
    }
    let report = clip_check::check_clip(&take.audio, None)?;
    print!("{}", super::check_clip::format_report(&report));
    if let StopReason::DeviceFailed(msg) = take.stop_reason {
        bail!(
            "the input device failed after {:.2} s ({msg}); what was recorded is saved",
            take.audio.duration_secs()
        );
    }
    Ok(())
}

/// A flag set when a line is read from stdin. End of input (no terminal) never sets it.
fn watch_enter() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let set = Arc::clone(&flag);
    std::thread::spawn(move || {
        let mut line = String::new();
        if matches!(std::io::stdin().lock().read_line(&mut line), Ok(n) if n > 0) {
            set.store(true, Ordering::Relaxed);
        }
    });
    flag
}
