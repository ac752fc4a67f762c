//! Parity runner: `cargo run --release -p promptbook-models --example parity -- [--device cpu|cuda|cuda:N]
//! CASE_DIR...`
//!
//! Each argument is a case directory or a folder of them. Every case runs in its own dtype (`case.json`
//! `dtype`: the f32 cases and the bf16 cases) on the chosen device, the CPU by default. Prints one line per
//! compared tensor and exits non-zero when any exceeds its tolerance, holds a NaN or infinity, is never
//! compared, when a case fails to run, or when an argument holds no case.

use std::path::PathBuf;
use std::process::ExitCode;

use promptbook_models::candle::Device;
use promptbook_models::parity::run_all_on;

const USAGE: &str = "usage: parity [--device cpu|cuda|cuda:N] CASE_DIR...";

fn parse_device(name: &str) -> Result<Device, String> {
    let ordinal = match name {
        "cpu" => return Ok(Device::Cpu),
        "cuda" => 0,
        other => other
            .strip_prefix("cuda:")
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| format!("unknown device `{other}`: expected cpu, cuda or cuda:N"))?,
    };
    Device::new_cuda(ordinal).map_err(|e| format!("cuda:{ordinal}: {e}"))
}

fn main() -> ExitCode {
    let mut device = Device::Cpu;
    let mut roots: Vec<PathBuf> = Vec::new();
    let mut args = std::env::args_os().skip(1);
    while let Some(arg) = args.next() {
        match arg.to_str() {
            Some("-h" | "--help") => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            Some("--device") => {
                match args.next().and_then(|v| v.into_string().ok()).map(|v| parse_device(&v)) {
                    Some(Ok(d)) => device = d,
                    Some(Err(err)) => {
                        eprintln!("parity: {err}");
                        return ExitCode::from(2);
                    }
                    None => {
                        eprintln!("{USAGE}");
                        return ExitCode::from(2);
                    }
                }
            }
            _ => roots.push(PathBuf::from(arg)),
        }
    }
    if roots.is_empty() {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    }
    println!("device {device:?}");
    let (mut passed, mut failed) = (0usize, 0usize);
    for root in &roots {
        let summary = run_all_on(root, &device);
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
