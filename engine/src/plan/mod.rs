//! Chunk planning: a script becomes chunks of at most 15 s (after pace), each with its own prompt
//! and seed (`S: src/audio_core/chunker.py`, spec §2.4–2.5).
//!
//! With [`ReferenceEstimator`] and [`SplitterMode::Reference`] every function here reproduces the
//! reference's fallback path exactly, including its quirks: `<sound>` blocks vanish from
//! multi-chunk plans, only actions that precede a chunk's first sentence survive, and sentence
//! indices drift when a text block lacks final punctuation (spec §2.5, ambiguity A12).

pub mod estimator;
pub(crate) mod lints;
// The splitter is part of the prompt language (the reference compiler counts sentences too); the planner
// keeps its old path.
pub use crate::prompt::sentences;

use rand::Rng as _;
use serde::Serialize;

pub use estimator::{DefaultEstimator, DurationEstimator, EstimatorKind, ReferenceEstimator};
pub use sentences::{SplitterMode, split_sentences};

use crate::prompt::PromptError;
use crate::prompt::compiler::{
    BlockKind, CompiledPrompt, blocks, compile_chunk_prompt, compile_document, sentence_actions,
};
use crate::prompt::parser::Document;
use crate::prompt::pystr::py_min;
use crate::prompt::validate::check_reference;
use sentences::{clause_ranges, has_clause_separator};

/// Longest chunk the model is asked to generate, in seconds (`MAX_CHUNK_DURATION_S`).
pub const MAX_CHUNK_DURATION_S: f64 = 15.0;
/// Default `pace` (`LTX_MULTIPLIER`): the model speaks more slowly than the estimate.
pub const DEFAULT_PACE: f64 = 1.5;
/// The paces Promptbook accepts: the reference server takes any number, its ComfyUI widget 0.5 to 3.0
/// (postprocessing-spec §1.1), and so do the command line, the studio and the engine. The messages of
/// [`PromptError::InvalidPace`] and the CLI help say these bounds in words.
pub const PACE_RANGE: std::ops::RangeInclusive<f64> = 0.5..=3.0;
/// The base seed that asks for a random one; every other seed must be 0 or more.
pub const RANDOM_SEED: i64 = -1;
/// Seconds per action in the reference's `estimate_duration` (unused by its planner, A14).
pub const ACTION_DURATION_S: f64 = 1.5;
/// Chunk `i` uses seed `base + i * SEED_STRIDE`.
pub const SEED_STRIDE: i64 = 1000;
/// Largest random base seed (`random.randint(0, 999999)`).
pub const MAX_RANDOM_SEED: i64 = 999_999;

/// One planned chunk.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedChunk {
    /// The speech text of this chunk (what Whisper should hear).
    pub text: String,
    /// The compiled prompt for this chunk.
    pub prompt: String,
    /// Seconds to generate (already multiplied by pace, at most 15).
    pub duration_s: f64,
    /// The generation seed.
    pub seed: i64,
}

/// A chunk plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    /// The base seed actually used (a random one when `-1` was asked for).
    pub base_seed: i64,
    /// The chunks in order.
    pub chunks: Vec<PlannedChunk>,
}

/// The reference's `estimate_duration`: `min((text + actions·1.5) · multiplier, 15)`, with the
/// whole-text estimate.
pub fn estimate_duration(
    estimator: &dyn DurationEstimator,
    text: &str,
    num_actions: usize,
    multiplier: f64,
) -> f64 {
    let action_time = num_actions as f64 * ACTION_DURATION_S;
    py_min((estimator.text_secs(text) + action_time) * multiplier, MAX_CHUNK_DURATION_S)
}

/// The comma expansion of one sentence (`split_text_by_duration` step 2): the sentence itself, or
/// when it is too long and has commas, greedy groups of its clauses.
pub fn expand_sentence(
    sentence: &str,
    multiplier: f64,
    max_duration: f64,
    estimator: &dyn DurationEstimator,
    mode: SplitterMode,
) -> Vec<String> {
    let duration = estimator.sentence_secs(sentence);
    if !(duration * multiplier > max_duration && has_clause_separator(sentence, mode)) {
        return vec![sentence.to_owned()];
    }
    let clauses = clause_ranges(sentence, mode);
    let mut out = Vec::new();
    // Indices into `clauses` of the group being built.
    let mut group: Vec<usize> = Vec::new();
    let mut group_secs = 0.0;
    let emit = |group: &[usize], out: &mut Vec<String>| match mode {
        SplitterMode::Reference => {
            let texts: Vec<&str> = group.iter().map(|&k| &sentence[clauses[k].clone()]).collect();
            out.push(texts.join(", "));
        }
        // Keep the original punctuation and spacing between the grouped clauses.
        SplitterMode::Improved => {
            if let (Some(&first), Some(&last)) = (group.first(), group.last()) {
                out.push(sentence[clauses[first].start..clauses[last].end].to_owned());
            }
        }
    };
    for k in 0..clauses.len() {
        let secs = match mode {
            SplitterMode::Reference => estimator.sentence_secs(&sentence[clauses[k].clone()]),
            // Time the clause with its separator so that grouped clauses add up.
            SplitterMode::Improved => {
                let end = clauses.get(k + 1).map_or(sentence.len(), |next| next.start);
                estimator.sentence_secs(sentence[clauses[k].start..end].trim_end())
            }
        };
        if !group.is_empty() && (group_secs + secs) * multiplier > max_duration {
            emit(&group, &mut out);
            group.clear();
            group_secs = 0.0;
        }
        group.push(k);
        group_secs += secs;
    }
    if !group.is_empty() {
        emit(&group, &mut out);
    }
    out
}

/// `split_text_by_duration`: sentences (comma-split when too long), greedily merged into pieces of at
/// most `max_duration` after `multiplier`. Returns `(text, duration)`; a piece that is too long on
/// its own keeps its text and gets `max_duration`.
pub fn split_text_by_duration(
    text: &str,
    multiplier: f64,
    max_duration: f64,
    estimator: &dyn DurationEstimator,
    mode: SplitterMode,
) -> Vec<(String, f64)> {
    split_with_openings(text, multiplier, max_duration, estimator, mode, &|_| 0.0)
}

/// [`split_text_by_duration`] where a chunk starting at sentence `g` (counted over the chunks before
/// it) already holds `opening(g)` seconds, the time of the directions that open it. With no
/// opening time this is exactly the reference arithmetic (`0.0 + d == d`).
fn split_with_openings(
    text: &str,
    multiplier: f64,
    max_duration: f64,
    estimator: &dyn DurationEstimator,
    mode: SplitterMode,
    opening: &dyn Fn(usize) -> f64,
) -> Vec<(String, f64)> {
    let sentences = split_sentences(text, mode);
    let expanded: Vec<String> = sentences
        .iter()
        .flat_map(|s| expand_sentence(s, multiplier, max_duration, estimator, mode))
        .collect();
    let durations: Vec<f64> = expanded.iter().map(|e| estimator.sentence_secs(e)).collect();

    let mut chunks = Vec::new();
    let mut current: Vec<&str> = Vec::new();
    let mut sentence_index = 0;
    let mut current_secs = opening(sentence_index);
    for (piece, secs) in expanded.iter().zip(durations) {
        if !current.is_empty() && (current_secs + secs) * multiplier > max_duration {
            let text = current.join(" ");
            sentence_index += split_sentences(&text, mode).len();
            chunks.push((text, py_min(current_secs * multiplier, max_duration)));
            current.clear();
            current_secs = opening(sentence_index);
        }
        current.push(piece);
        current_secs += secs;
    }
    if !current.is_empty() {
        chunks.push((current.join(" "), py_min(current_secs * multiplier, max_duration)));
    }
    chunks
}

/// `plan_chunks`: validates, compiles and plans a script.
///
/// `base_seed == -1` picks a random base in `0..=999999` (reported in [`Plan::base_seed`]).
pub fn plan_chunks(
    xml: &str,
    base_seed: i64,
    pace: f64,
    estimator: &dyn DurationEstimator,
    mode: SplitterMode,
) -> Result<Plan, PromptError> {
    check_pace(pace)?;
    let checked = check_reference(xml);
    let doc = match checked.doc {
        Some(doc) if checked.errors.is_empty() => doc,
        _ => {
            let (line, column) = checked.errors.first().map_or((1, 1), |d| (d.line, d.column));
            let errors = checked.errors.into_iter().map(|d| d.message).collect();
            return Err(PromptError::Invalid { errors, line, column });
        }
    };
    let compiled = compile_document(&doc);
    plan_compiled(&doc, &compiled, base_seed, pace, estimator, mode)
}

/// Plans an already validated and compiled document.
pub fn plan_compiled(
    doc: &Document,
    compiled: &CompiledPrompt,
    base_seed: i64,
    pace: f64,
    estimator: &dyn DurationEstimator,
    mode: SplitterMode,
) -> Result<Plan, PromptError> {
    check_pace(pace)?;
    check_seed(base_seed)?;
    let base_seed =
        if base_seed == RANDOM_SEED { rand::rng().random_range(0..=MAX_RANDOM_SEED) } else { base_seed };

    let all_actions: f64 = blocks(doc)
        .iter()
        .filter(|b| b.kind == BlockKind::Action)
        .map(|b| estimator.action_secs(&b.text))
        .sum();
    let speech_secs = estimator.text_secs(&compiled.speech_text);
    // Adding 0.0 would be exact too; skipping it keeps the reference arithmetic visibly identical.
    let total_secs = if all_actions == 0.0 { speech_secs } else { speech_secs + all_actions };
    let total = total_secs * pace;
    if total <= MAX_CHUNK_DURATION_S {
        let chunk = PlannedChunk {
            text: compiled.speech_text.clone(),
            prompt: compiled.prompt.clone(),
            duration_s: py_min(total, MAX_CHUNK_DURATION_S),
            seed: base_seed,
        };
        return Ok(Plan { base_seed, chunks: vec![chunk] });
    }

    let action_map = sentence_actions(doc, mode);
    let opening = |g: usize| -> f64 {
        action_map.get(&g).map_or(0.0, |actions| actions.iter().map(|a| estimator.action_secs(a)).sum())
    };
    let pieces =
        split_with_openings(&compiled.speech_text, pace, MAX_CHUNK_DURATION_S, estimator, mode, &opening);
    let mut chunks = Vec::with_capacity(pieces.len());
    let mut sentence_index = 0;
    for (i, (text, duration_s)) in pieces.into_iter().enumerate() {
        let actions = action_map.get(&sentence_index).map_or(&[][..], Vec::as_slice);
        let prompt = compile_chunk_prompt(
            &text,
            &compiled.voice,
            compiled.scene.as_deref(),
            actions,
            &[],
            &compiled.gender,
            &compiled.shot,
        );
        let seed = i64::try_from(i)
            .ok()
            .and_then(|i| i.checked_mul(SEED_STRIDE))
            .and_then(|offset| base_seed.checked_add(offset))
            .ok_or(PromptError::SeedOverflow { base_seed, chunks: i + 1 })?;
        sentence_index += split_sentences(&text, mode).len();
        chunks.push(PlannedChunk { text, prompt, duration_s, seed });
    }
    Ok(Plan { base_seed, chunks })
}

/// `pace` if it lies in [`PACE_RANGE`] (NaN does not).
pub fn check_pace(pace: f64) -> Result<f64, PromptError> {
    if PACE_RANGE.contains(&pace) { Ok(pace) } else { Err(PromptError::InvalidPace(pace)) }
}

/// `seed` if it is [`RANDOM_SEED`] or not negative: a negative seed would alias another chunk's noise.
pub fn check_seed(seed: i64) -> Result<i64, PromptError> {
    if seed == RANDOM_SEED || seed >= 0 { Ok(seed) } else { Err(PromptError::InvalidSeed(seed)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LONG: &str = "<speak voice=\"V\" gender=\"female\" shot=\"wide\"><sound>Rain</sound><action>She sighs</action>\
        One two three four five six seven eight nine ten. One two three four five six seven eight nine ten. \
        One two three four five six seven eight nine ten.<action>She pauses</action>Eleven twelve.</speak>";

    #[test]
    fn single_chunk_keeps_the_full_prompt() {
        let xml = "<speak voice=\"V\" gender=\"male\"><sound>Door</sound>Hello world.</speak>";
        let plan = plan_chunks(xml, 7, 1.5, &ReferenceEstimator, SplitterMode::Reference).expect("plans");
        assert_eq!(plan.chunks.len(), 1);
        assert_eq!(
            plan.chunks[0].prompt,
            "Close-up in a person speaking to camera. Door. \"Hello world.\" V."
        );
        assert_eq!(plan.chunks[0].seed, 7);
    }

    #[test]
    fn multi_chunk_drops_sounds_and_keeps_leading_actions() {
        let plan = plan_chunks(LONG, 5, 1.5, &ReferenceEstimator, SplitterMode::Reference).expect("plans");
        // 10-word sentences take (10/2.2 + 0.3) * 1.5 = 7.3 s: two fit into 15 s.
        assert_eq!(plan.chunks.len(), 2);
        assert!(plan.chunks[0].prompt.contains("She sighs: \"One two"));
        assert!(!plan.chunks.iter().any(|c| c.prompt.contains("Rain.")));
        // "She pauses" maps to sentence 3, which does not open a chunk: it is dropped.
        assert!(plan.chunks[1].prompt.contains("She speaks: \"One two"));
        assert!(plan.chunks[1].text.ends_with("Eleven twelve."));
        assert_eq!(plan.chunks.iter().map(|c| c.seed).collect::<Vec<_>>(), [5, 1005]);
        assert!(plan.chunks.iter().all(|c| c.duration_s <= MAX_CHUNK_DURATION_S));
    }

    #[test]
    fn default_estimator_reserves_time_for_opening_actions() {
        let est = DefaultEstimator::new("en");
        let plan = plan_chunks(LONG, 5, 1.5, &est, SplitterMode::Improved).expect("plans");
        let first = &plan.chunks[0];
        // The chunk starts with the action's time, then adds its sentences in order.
        let secs = split_sentences(&first.text, SplitterMode::Improved)
            .iter()
            .fold(estimator::ACTION_S, |acc, s| acc + est.sentence_secs(s));
        assert!(first.prompt.contains("She sighs:"));
        assert_eq!(first.duration_s, py_min(secs * 1.5, MAX_CHUNK_DURATION_S));
        assert!(plan.chunks.iter().all(|c| c.duration_s <= MAX_CHUNK_DURATION_S));
    }

    #[test]
    fn random_seed_and_errors() {
        let xml = "<speak voice=\"V\" gender=\"male\">Hello.</speak>";
        let plan = plan_chunks(xml, -1, 1.5, &ReferenceEstimator, SplitterMode::Reference).expect("plans");
        assert!((0..=MAX_RANDOM_SEED).contains(&plan.base_seed));
        assert_eq!(plan.chunks[0].seed, plan.base_seed);
        let err = plan_chunks("<broken>", 1, 1.5, &ReferenceEstimator, SplitterMode::Reference)
            .expect_err("invalid");
        assert!(err.to_string().starts_with("Invalid prompt: Invalid XML: "), "{err}");
        assert_eq!(err.line(), Some(1));
        for pace in [0.0, -1.0, 0.49, 3.01, 10.0, f64::NAN, f64::INFINITY] {
            let err = plan_chunks(xml, 1, pace, &ReferenceEstimator, SplitterMode::Reference);
            assert!(matches!(err, Err(PromptError::InvalidPace(_))), "pace {pace}");
        }
        for pace in [0.5, 3.0] {
            assert!(plan_chunks(xml, 1, pace, &ReferenceEstimator, SplitterMode::Reference).is_ok());
        }
        for seed in [-2, -5, -1000, i64::MIN] {
            let err = plan_chunks(xml, seed, 1.5, &ReferenceEstimator, SplitterMode::Reference);
            assert!(matches!(err, Err(PromptError::InvalidSeed(s)) if s == seed), "seed {seed}");
        }
        let err = plan_chunks(LONG, i64::MAX - 10, 1.5, &ReferenceEstimator, SplitterMode::Reference);
        assert!(matches!(err, Err(PromptError::SeedOverflow { .. })));
    }

    #[test]
    fn improved_comma_groups_keep_original_text() {
        let sentence = "Alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi, \
            omicron pi rho sigma tau upsilon phi chi psi omega alpha beta gamma delta, \
            epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma tau.";
        let pieces = expand_sentence(sentence, 1.5, 15.0, &ReferenceEstimator, SplitterMode::Improved);
        assert!(pieces.len() > 1);
        assert_eq!(pieces.join(", "), sentence);
    }
}
