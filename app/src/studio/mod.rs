//! The studio window.

use std::path::PathBuf;
use std::process::ExitCode;

mod app;
pub mod dialogs;
mod editor;
pub mod export;
mod highlight;
pub mod history;
mod lint;
pub mod memory;
pub mod model_download;
mod plan_ribbon;
pub mod playback;
pub mod project;
pub mod queue;
pub mod script_form;
pub mod settings;
pub mod takes;
pub mod theme;
pub mod waveform_view;
mod xml_lexer;

pub use app::{
    ExportDialog, ExportTakes, ModelSource, ModelState, NO_MODEL_HELP, Side, StudioApp, WELCOME_SCRIPT,
};
pub use lint::Lint;

#[derive(Debug, Default, Clone, clap::Args)]
pub struct StudioArgs {
    /// A project folder (or its project.json) to open, or a `<speak>` script to start from.
    pub script: Option<PathBuf>,
    /// A folder with the model files instead of the Hugging Face cache (also `PROMPTBOOK_MODELS_DIR`).
    #[arg(long)]
    pub models_dir: Option<PathBuf>,
    /// Where the model runs: cpu (default), cuda or metal.
    #[arg(long)]
    pub device: Option<String>,
    /// The voice engine (`promptbook engines` lists them).
    #[arg(long, default_value = promptbook_engine::engines::DEFAULT_ENGINE)]
    pub engine: String,
}

/// Why the window cannot open on this machine, if we can tell before trying.
pub fn missing_display() -> Option<&'static str> {
    if !cfg!(target_os = "linux") {
        return None;
    }
    let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
    if set("DISPLAY") || set("WAYLAND_DISPLAY") || set("WAYLAND_SOCKET") {
        None
    } else {
        Some(
            "no display found: the studio needs a desktop session (neither DISPLAY nor WAYLAND_DISPLAY is set).\n\
             Run it from a desktop, under `xvfb-run -a promptbook`, or use the command line: `promptbook check FILE`, \
             `promptbook --help`.",
        )
    }
}

/// Open the studio and block until its window closes.
pub fn run(args: &StudioArgs) -> anyhow::Result<ExitCode> {
    if let Some(reason) = missing_display() {
        eprintln!("promptbook: {reason}");
        return Ok(ExitCode::from(1));
    }
    // The window plays through the sound card; tests build the app with the null output.
    let app = StudioApp::open(args.script.clone())?.with_output(Box::new(playback::RodioOutput::default()));
    // Load the model in the background when its files are there; otherwise the Render area explains and
    // offers the download.
    let name = args.device.as_deref().unwrap_or("cpu");
    let device = promptbook_engine::engines::DeviceKind::parse(name)
        .ok_or_else(|| anyhow::anyhow!("--device must be cpu, cuda or metal, not {name:?}"))?;
    let store = promptbook_engine::store::Store::from_env(args.models_dir.clone());
    let variant = promptbook_engine::store::Variant::default();
    let app = app.with_model_source(ModelSource {
        store,
        variant,
        models_dir: args.models_dir.clone(),
        device,
        // `StudioArgs::default()` (no subcommand) leaves it empty.
        engine: if args.engine.is_empty() {
            promptbook_engine::engines::DEFAULT_ENGINE.into()
        } else {
            args.engine.clone()
        },
    });
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("Promptbook")
            .with_inner_size([1280.0, 800.0])
            .with_min_inner_size([760.0, 480.0]),
        ..Default::default()
    };
    eframe::run_native(
        "Promptbook",
        options,
        Box::new(move |cc| {
            theme::apply(&cc.egui_ctx);
            Ok(Box::new(app))
        }),
    )
    .map_err(|e| anyhow::anyhow!("the studio window could not open: {e}"))?;
    Ok(ExitCode::SUCCESS)
}
