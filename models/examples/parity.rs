//! Parity runner: `cargo run --release -p promptbook-models --example parity -- CASE_DIR...`
//!
//! Each argument is a case directory or a folder of them. Prints one line per compared tensor and exits
//! non-zero when any exceeds its tolerance, holds a NaN or infinity, is never compared, when a case fails
//! to run, or when an argument holds no case.

use std::path::PathBuf;
use std::process::ExitCode;

use promptbook_models::parity::run_all;

fn main() -> ExitCode {
    let roots: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    if roots.is_empty() {
        eprintln!("usage: parity CASE_DIR...");
        return ExitCode::from(2);
    }
    let (mut passed, mut failed) = (0usize, 0usize);
    for root in &roots {
        let summary = run_all(root);
        for report in &summary.reports {
            println!("{report}");
            if report.pass { passed += 1 } else { failed += 1 }
        }
        for error in &summary.errors {
            println!("{error}");
            failed += 1;
        }
    }
    println!("{passed} passed, {failed} failed");
    if failed == 0 && passed > 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}
