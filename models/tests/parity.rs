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
