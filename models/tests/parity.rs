//! Runs every committed parity case in `tests/fixtures/parity/` (written by `tools/parity/generate.py`).

use std::path::Path;

use promptbook_models::parity::{find_cases, run_case};

#[test]
fn committed_parity_cases_match_the_reference() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/parity");
    let mut failures = Vec::new();
    let mut compared = 0;
    for dir in find_cases(&root) {
        match run_case(&dir) {
            Ok(reports) => {
                for report in reports {
                    compared += 1;
                    println!("{report}");
                    if !report.pass {
                        failures.push(report.to_string());
                    }
                }
            }
            Err(err) => failures.push(format!("{}: {err}", dir.display())),
        }
    }
    println!("{compared} tensors compared");
    assert!(failures.is_empty(), "parity failures:\n{}", failures.join("\n"));
}

/// The device check runs the same cases in bf16 (`parity --dtype bf16`): on the CPU the diffusion cases
/// pass at the bf16 tolerance, really run in bf16 (their error is far above f32's), and the reference
/// tokens still come back exactly (as their bf16 rounding).
#[test]
fn bf16_runs_of_the_diffusion_cases_pass() {
    use promptbook_models::candle::DType;
    use promptbook_models::parity::{BF16_TOLERANCE, Target, run_case_on};

    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/parity");
    let target = Target { device: promptbook_models::candle::Device::Cpu, dtype: DType::BF16 };
    for case in ["transformer-tiny-s0", "sampler-tiny-s0"] {
        let reports = run_case_on(&root.join(case), &target).expect("case runs");
        for report in &reports {
            println!("{report}");
            assert!(report.pass, "{report}");
        }
        let worst = reports.iter().map(|r| r.scaled).fold(0.0, f64::max);
        assert!(worst > 1e-3 && worst < BF16_TOLERANCE, "{case}: worst scaled error {worst}");
        if let Some(tokens) = reports.iter().find(|r| r.tensor == "ref_tokens") {
            assert_eq!(tokens.tolerance, 0.0);
        }
    }
}
