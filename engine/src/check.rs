//! One call that validates, compiles and plans a script, for `promptbook check` and the editor.

use std::ops::Range;

use serde::Serialize;

use std::collections::HashSet;

pub use crate::plan::EstimatorKind;
use crate::plan::lints::timing_warnings;
use crate::plan::sentences::{SplitterMode, sentence_ranges, split_sentences};
use crate::plan::{PlannedChunk, check_pace, check_seed, plan_compiled};
use crate::prompt::Document;
use crate::prompt::compiler::{Block, BlockKind, CompiledPrompt, blocks, compile_document};
use crate::prompt::validate::{Diagnostic, check_reference, warnings};

/// One chunk of [`CheckReport::plan`].
pub type PlannedChunkReport = PlannedChunk;

/// Options for [`check`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CheckOptions {
    /// Duration multiplier (the reference default is 1.5).
    pub pace: f64,
    /// Base seed; `-1` picks a random one (see [`CheckReport::base_seed`]); other negatives are errors.
    pub seed: i64,
    /// Duration estimator. [`EstimatorKind::Reference`] also selects the reference sentence splitter
    /// (full reference parity); [`EstimatorKind::Default`] the improved one.
    pub estimator: EstimatorKind,
}

impl Default for CheckOptions {
    fn default() -> Self {
        Self { pace: crate::plan::DEFAULT_PACE, seed: -1, estimator: EstimatorKind::Default }
    }
}

/// One error or warning in a [`CheckReport`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Issue {
    /// What is wrong.
    pub message: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// Byte range in the source (not serialised).
    #[serde(skip)]
    pub span: Range<usize>,
}

impl From<Diagnostic> for Issue {
    fn from(d: Diagnostic) -> Self {
        Self { message: d.message, line: d.line, column: d.column, span: d.span }
    }
}

/// Everything known about a script. Serialises to exactly
/// `{"valid", "errors", "warnings", "compiled", "plan"}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckReport {
    /// No errors.
    pub valid: bool,
    /// Errors, in the reference validator's order.
    pub errors: Vec<Issue>,
    /// Warnings, by position.
    pub warnings: Vec<Issue>,
    /// The compiled prompt; `None` when invalid.
    pub compiled: Option<CompiledPrompt>,
    /// The chunk plan; empty when invalid.
    pub plan: Vec<PlannedChunk>,
    /// The base seed the plan used (`None` when there is no plan). Not serialised.
    #[serde(skip)]
    pub base_seed: Option<i64>,
}

/// Validates, compiles and plans `src`.
pub fn check(src: &str, opts: &CheckOptions) -> CheckReport {
    let checked = check_reference(src);
    let mut errors: Vec<Issue> = checked.errors.into_iter().map(Issue::from).collect();
    let mut warns: Vec<Issue> = Vec::new();
    if let Some(doc) = &checked.doc {
        // The prompt's own warnings and the planner's timing lints, by position.
        let mut found = warnings(doc);
        found.extend(timing_warnings(doc, opts.pace, opts.estimator));
        found.sort_by_key(|d| d.span.start);
        warns.extend(found.into_iter().map(Issue::from));
    }
    let mut report = CheckReport {
        valid: false,
        errors: Vec::new(),
        warnings: Vec::new(),
        compiled: None,
        plan: Vec::new(),
        base_seed: None,
    };
    for bad in [check_pace(opts.pace).err(), check_seed(opts.seed).err()].into_iter().flatten() {
        errors.push(option_error(bad.to_string()));
    }
    if let (Some(doc), true) = (&checked.doc, errors.is_empty()) {
        let compiled = compile_document(doc);
        let estimator = opts.estimator.estimator(&compiled.language);
        match plan_compiled(
            doc,
            &compiled,
            opts.seed,
            opts.pace,
            estimator.as_ref(),
            opts.estimator.splitter(),
        ) {
            Ok(plan) => {
                if plan.chunks.len() > 1 {
                    warns.extend(dropped_blocks(doc, &plan.chunks, opts.estimator.splitter()));
                    warns.sort_by_key(|w| w.span.start);
                }
                report.valid = true;
                report.compiled = Some(compiled);
                report.base_seed = Some(plan.base_seed);
                report.plan = plan.chunks;
            }
            Err(e) => errors.push(option_error(e.to_string())),
        }
    }
    report.errors = errors;
    report.warnings = warns;
    report
}

/// An error about the options rather than the script: it points at the start.
fn option_error(message: String) -> Issue {
    Issue { message, line: 1, column: 1, span: 0..0 }
}

/// Warnings for blocks a multi-chunk plan leaves out (reference behaviour, spec §2.5): every
/// `<sound>`, and every `<action>` that does not map to the first sentence of a chunk.
fn dropped_blocks(doc: &Document, chunks: &[PlannedChunk], mode: SplitterMode) -> Vec<Issue> {
    let mut chunk_starts = HashSet::new();
    let mut index = 0;
    for chunk in chunks {
        chunk_starts.insert(index);
        index += split_sentences(&chunk.text, mode).len();
    }
    let mut out = Vec::new();
    let mut pending: Vec<Block> = Vec::new();
    let mut sentence = 0;
    let mut warn = |block: &Block, message: &str| {
        out.push(Issue {
            message: message.to_owned(),
            line: block.span.line,
            column: block.span.column,
            span: block.span.range.clone(),
        });
    };
    const ACTION: &str =
        "<action> is dropped: in a multi-chunk plan only a direction before a chunk's first sentence is kept";
    for block in blocks(doc) {
        match block.kind {
            BlockKind::Sound => {
                warn(&block, "<sound> is dropped: plans of more than one chunk keep no sound events")
            }
            BlockKind::Action => pending.push(block),
            BlockKind::Text => {
                let count = sentence_ranges(&block.text, mode).len();
                if count > 0 {
                    for action in pending.drain(..) {
                        if !chunk_starts.contains(&sentence) {
                            warn(&action, ACTION);
                        }
                    }
                }
                sentence += count;
            }
        }
    }
    for action in &pending {
        warn(action, ACTION);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_shape_is_exact() {
        let opts = CheckOptions { pace: 1.5, seed: 42, estimator: EstimatorKind::Reference };
        let report = check("<speak voice=\"V\" gender=\"male\">Hello world. Short text.</speak>", &opts);
        let json = serde_json::to_value(&report).expect("serialises");
        assert_eq!(
            json,
            serde_json::json!({
                "valid": true,
                "errors": [],
                "warnings": [],
                "compiled": {
                    "prompt": "Close-up in a person speaking to camera. \"Hello world. Short text.\" V.",
                    "speech_text": "Hello world. Short text.",
                    "voice": "V",
                    "scene": null,
                    "language": "en",
                    "gender": "male",
                    "shot": "closeup"
                },
                "plan": [{
                    "text": "Hello world. Short text.",
                    "prompt": "Close-up in a person speaking to camera. \"Hello world. Short text.\" V.",
                    "duration_s": 3.4772727272727275,
                    "seed": 42
                }]
            })
        );
        assert_eq!(report.base_seed, Some(42));
    }

    #[test]
    fn invalid_scripts_have_no_plan() {
        let report = check("<speak voice=\"V\">Hi</speak>", &CheckOptions::default());
        let json = serde_json::to_value(&report).expect("serialises");
        assert_eq!(json["valid"], false);
        assert_eq!(json["compiled"], serde_json::Value::Null);
        assert_eq!(json["plan"], serde_json::json!([]));
        assert_eq!(json["errors"][0]["line"], 1);
        assert_eq!(report.base_seed, None);
        let bad_pace = check(
            "<speak voice=\"V\" gender=\"male\">Hi</speak>",
            &CheckOptions { pace: 0.0, ..Default::default() },
        );
        assert!(!bad_pace.valid);
        assert!(bad_pace.errors[0].message.starts_with("pace must be"));
    }

    #[test]
    fn pace_outside_its_range_and_negative_seeds_other_than_minus_one_are_errors() {
        let src = "<speak voice=\"V\" gender=\"male\">Hi</speak>";
        let at = |pace: f64, seed: i64| check(src, &CheckOptions { pace, seed, ..Default::default() });
        for pace in [0.1, 0.49, 3.01, 10.0, f64::NAN] {
            let report = at(pace, 7);
            assert!(!report.valid, "pace {pace}");
            assert!(report.errors[0].message.contains("from 0.5 to 3.0"), "{:?}", report.errors);
        }
        assert!(at(0.5, 7).valid && at(3.0, 7).valid);
        for seed in [-2, -5, -1000] {
            let report = at(1.5, seed);
            assert!(!report.valid, "seed {seed}");
            assert_eq!(
                report.errors[0].message,
                format!("seed must be -1 (a random seed) or 0 or more, got {seed}")
            );
        }
        assert!(at(1.5, -1).valid && at(1.5, 0).valid);
    }

    #[test]
    fn random_seed_is_reported() {
        let report = check("<speak voice=\"V\" gender=\"male\">Hi</speak>", &CheckOptions::default());
        let seed = report.base_seed.expect("planned");
        assert!((0..=999_999).contains(&seed));
        assert_eq!(report.plan[0].seed, seed);
    }

    #[test]
    fn multi_chunk_plans_warn_about_dropped_blocks() {
        // Two 9-word sentences per chunk; "He pauses" maps to sentence 5, which opens no chunk.
        let body = "This sentence has exactly nine words in it here. ".repeat(5);
        let src = format!(
            "<speak voice=\"V\" gender=\"male\" shot=\"wide\"><sound>Rain</sound><action>He sighs</action>{body}\
             <action>He pauses</action>{body}</speak>"
        );
        let opts = CheckOptions { pace: 1.5, seed: 1, estimator: EstimatorKind::Reference };
        let report = check(&src, &opts);
        assert!(report.plan.len() > 1);
        let dropped: Vec<_> = report.warnings.iter().map(|w| w.message.as_str()).collect();
        assert!(dropped.iter().any(|m| m.starts_with("<sound> is dropped")), "{dropped:?}");
        assert!(!report.warnings.iter().any(|w| src[w.span.clone()].contains("He sighs")), "{dropped:?}");
        assert!(report.warnings.iter().any(|w| src[w.span.clone()].contains("He pauses")), "{dropped:?}");
    }
}
