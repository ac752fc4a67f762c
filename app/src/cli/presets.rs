//! `promptbook presets [--json]` and `promptbook presets show NAME`.

use std::process::ExitCode;

use promptbook_engine::presets;

#[derive(Debug, clap::Args)]
pub struct PresetsArgs {
    #[command(subcommand)]
    pub action: Option<PresetsAction>,
    /// List as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Subcommand)]
pub enum PresetsAction {
    /// Print a preset's `<speak>` XML.
    Show {
        /// Preset name (as listed).
        name: String,
    },
}

pub fn run(args: &PresetsArgs) -> anyhow::Result<ExitCode> {
    match &args.action {
        Some(PresetsAction::Show { name }) => {
            let Some(preset) = presets::find(name) else {
                let known: Vec<String> = presets::all().iter().map(|p| p.name.clone()).collect();
                anyhow::bail!("no preset named {name:?}; known presets: {}", known.join(", "));
            };
            super::print_out(&format!("{}\n", preset.xml()))?;
        }
        None if args.json => {
            super::print_out(&format!("{}\n", serde_json::to_string_pretty(&presets::all())?))?;
        }
        None => {
            let list: String =
                presets::all().iter().map(|p| format!("{:<28} {}\n", p.name, p.voice)).collect();
            super::print_out(&list)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
