//! Parity runner: `cargo run --release -p promptbook-models --example parity -- CASE_DIR...`
//!
//! Each argument is a case directory or a folder of them. Prints one line per compared tensor
//! and exits non-zero when any exceeds its tolerance or a case fails to run.

use std::path::PathBuf;
use std::process::ExitCode;

use promptbook_models::parity::{find_cases, run_case};

fn main() -> ExitCode {
    let roots: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    if roots.is_empty() {
        eprintln!("usage: parity CASE_DIR...");
        return ExitCode::from(2);
    }
    let (mut passed, mut failed) = (0usize, 0usize);
    for root in &roots {
        let cases = find_cases(root);
        if cases.is_empty() {
            eprintln!("{}: no case.json found", root.display());
            failed += 1;
        }
        for dir in cases {
            match run_case(&dir) {
                Ok(reports) => {
                    for report in reports {
                        println!("{report}");
                        if report.pass { passed += 1 } else { failed += 1 }
                    }
                }
                Err(err) => {
                    println!("{}: ERROR {err}", dir.display());
                    failed += 1;
                }
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    if failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}
