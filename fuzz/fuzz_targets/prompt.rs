//! parse → validate → compile → plan on arbitrary input: nothing may panic, every reported span
//! must lie inside the input and every plan must respect the chunk limits.

#![no_main]

use libfuzzer_sys::fuzz_target;
use promptbook_engine::check::{CheckOptions, check};
use promptbook_engine::plan::{EstimatorKind, MAX_CHUNK_DURATION_S};
use promptbook_engine::prompt::{compile_prompt, parse, validate};

fn assert_span(src: &str, range: &std::ops::Range<usize>, line: usize, column: usize) {
    assert!(range.start <= range.end && range.end <= src.len());
    assert!(src.is_char_boundary(range.start) && src.is_char_boundary(range.end));
    let before = &src[..range.start];
    assert_eq!(line, before.matches('\n').count() + 1);
    assert_eq!(column, before.rsplit('\n').next().unwrap_or("").chars().count() + 1);
}

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else { return };
    if let Ok(doc) = parse(src) {
        let span = &doc.root.span;
        assert_span(src, &span.range, span.line, span.column);
    }
    for d in validate(src) {
        assert_span(src, &d.span, d.line, d.column);
    }
    let compiled = compile_prompt(src);
    for estimator in [EstimatorKind::Reference, EstimatorKind::Default] {
        let report = check(src, &CheckOptions { pace: 1.5, seed: 11, estimator });
        for issue in report.errors.iter().chain(&report.warnings) {
            assert_span(src, &issue.span, issue.line, issue.column);
        }
        if report.valid {
            assert!(compiled.is_ok());
            assert!(!report.plan.is_empty());
            for (i, chunk) in report.plan.iter().enumerate() {
                assert!(
                    chunk.duration_s.is_finite() && (0.0..=MAX_CHUNK_DURATION_S).contains(&chunk.duration_s)
                );
                assert_eq!(chunk.seed, 11 + 1000 * i as i64);
            }
        } else {
            assert!(report.plan.is_empty() && report.compiled.is_none());
        }
    }
});
