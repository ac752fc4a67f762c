//! Parity runner: `cargo run --release -p promptbook-models --example parity -- [--device cpu|cuda]
//! [--dtype f32|bf16] CASE_DIR...`
//!
//! Each argument is a case directory or a folder of them. Prints one line per compared tensor
//! and exits non-zero when any exceeds its tolerance or a case fails to run. The default target is
//! the reference's: f32 on the CPU.

use std::path::PathBuf;
use std::process::ExitCode;

use promptbook_models::parity::{Target, find_cases, run_case_on};

const USAGE: &str = "usage: parity [--device cpu|cuda|cuda:N] [--dtype f32|bf16] CASE_DIR...";

fn main() -> ExitCode {
    let (mut device, mut dtype) = ("cpu".to_string(), "f32".to_string());
    let mut roots: Vec<PathBuf> = Vec::new();
    let mut args = std::env::args_os().skip(1);
    while let Some(arg) = args.next() {
        let slot = match arg.to_str() {
            Some("--device") => &mut device,
            Some("--dtype") => &mut dtype,
            Some("-h" | "--help") => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            _ => {
                roots.push(PathBuf::from(arg));
                continue;
            }
        };
        match args.next().and_then(|v| v.into_string().ok()) {
            Some(value) => *slot = value,
            None => {
                eprintln!("{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    if roots.is_empty() {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    }
    let target = match Target::parse(&device, &dtype) {
        Ok(target) => target,
        Err(err) => {
            eprintln!("parity: {err}");
            return ExitCode::from(2);
        }
    };
    println!("target {}", target.name());
    let (mut passed, mut failed) = (0usize, 0usize);
    for root in &roots {
        let cases = find_cases(root);
        if cases.is_empty() {
            eprintln!("{}: no case.json found", root.display());
            failed += 1;
        }
        for dir in cases {
            match run_case_on(&dir, &target) {
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
