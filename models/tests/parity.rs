//! Runs every committed parity case in `tests/fixtures/parity/` (written by `tools/parity/generate.py`).

use std::path::Path;

use promptbook_models::parity::run_all;

#[test]
fn committed_parity_cases_match_the_reference() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/parity");
    let summary = run_all(&root);
    for report in &summary.reports {
        println!("{report}");
    }
    println!("{} cases, {} tensors compared", summary.cases, summary.reports.len());
    assert!(summary.cases > 0, "no parity cases under {}", root.display());
    assert!(summary.passed(), "parity failures:\n{}", summary.failures().join("\n"));
}
