//! The timing lints: warnings about a script that need the duration estimator and the planner's
//! clause splitting, so they live with the planner rather than with the prompt language's validator.

use super::estimator::{DurationEstimator, EstimatorKind};
use super::sentences::{SplitterMode, sentence_ranges};
use super::{MAX_CHUNK_DURATION_S, expand_sentence};
use crate::prompt::parser::{Document, TextRun};
use crate::prompt::pystr::py_strip;
use crate::prompt::validate::{Diagnostic, Severity};

/// Warnings for sentences that cannot fit into one chunk at `pace` even after splitting at commas, in
/// source order. Nothing for a pace that is not a positive number (the pace check reports that).
pub(crate) fn timing_warnings(doc: &Document, pace: f64, estimator: EstimatorKind) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    if !(pace.is_finite() && pace > 0.0) {
        return out;
    }
    let root = &doc.root;
    let language = py_strip(root.get("language").unwrap_or("en"));
    let mode = estimator.splitter();
    let estimator = estimator.estimator(language);
    let runs = std::iter::once(root.text.as_ref()).chain(root.children.iter().map(|c| c.tail.as_ref()));
    for run in runs.flatten() {
        long_sentences(run, estimator.as_ref(), mode, pace, &mut out);
    }
    out
}

/// Warns about sentences that cannot fit into one chunk even after splitting at commas.
fn long_sentences(
    run: &TextRun,
    estimator: &dyn DurationEstimator,
    mode: SplitterMode,
    pace: f64,
    out: &mut Vec<Diagnostic>,
) {
    for range in sentence_ranges(&run.text, mode) {
        let sentence = &run.text[range.clone()];
        if estimator.sentence_secs(sentence) * pace <= MAX_CHUNK_DURATION_S {
            continue;
        }
        let longest = expand_sentence(sentence, pace, MAX_CHUNK_DURATION_S, estimator, mode)
            .iter()
            .map(|piece| estimator.sentence_secs(piece) * pace)
            .fold(0.0, f64::max);
        if longest > MAX_CHUNK_DURATION_S {
            out.push(Diagnostic::new(
                Severity::Warning,
                format!(
                    "This sentence needs about {longest:.1} s at pace {pace}, more than the {MAX_CHUNK_DURATION_S} s \
                     one chunk can hold, so it will be rushed: break it up with a full stop"
                ),
                &run.span_of(range),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::DEFAULT_PACE;
    use crate::prompt::validate::{check_reference, warnings};

    /// Everything `check` reports for a script before planning: errors, then every warning by position.
    fn diagnostics(src: &str, pace: f64, estimator: EstimatorKind) -> Vec<Diagnostic> {
        let checked = check_reference(src);
        let mut out = checked.errors;
        if let Some(doc) = &checked.doc {
            let mut warns = warnings(doc);
            warns.extend(timing_warnings(doc, pace, estimator));
            warns.sort_by_key(|d| d.span.start);
            out.extend(warns);
        }
        out
    }

    #[test]
    fn long_sentence_warning_has_a_source_span() {
        let sentence = "word ".repeat(60);
        let src = format!("<speak voice=\"V\" gender=\"male\">\n  Short. {}end.</speak>", sentence);
        let d = diagnostics(&src, 1.5, EstimatorKind::Reference);
        assert_eq!(d.len(), 1, "{d:#?}");
        assert!(d[0].message.starts_with("This sentence needs about"));
        assert!(src[d[0].span.clone()].starts_with("word word"));
        assert_eq!((d[0].line, d[0].column), (2, 10));
        // Commas rescue it: the planner splits there.
        let with_commas = "word word word word word word word word, ".repeat(8);
        let src = format!("<speak voice=\"V\" gender=\"male\">{with_commas}end.</speak>");
        assert!(diagnostics(&src, DEFAULT_PACE, EstimatorKind::Default).is_empty());
    }
}
