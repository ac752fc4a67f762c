//! Header dump: `cargo run -p promptbook-models --example inspect -- FILE.safetensors...`
//!
//! Prints keys, dtypes, shapes, the `config` metadata and a layout check of the audio modules against the
//! file (the transformer and the text connector; `promptbook models inspect FILE` prints the same check
//! under its own header listing). Reads only the header.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let paths: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    if paths.is_empty() {
        eprintln!("usage: inspect FILE.safetensors...");
        return ExitCode::from(2);
    }
    let mut status = ExitCode::SUCCESS;
    for path in paths {
        match promptbook_models::ltx::inspect(&path) {
            Ok(text) => println!("{text}"),
            Err(err) => {
                eprintln!("{}: {err}", path.display());
                status = ExitCode::FAILURE;
            }
        }
    }
    status
}
