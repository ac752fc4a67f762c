//! Properties of the prompt pipeline on arbitrary and mutated input: parse → validate → compile →
//! plan never panics, every span lies inside the input with a consistent line and column, and
//! planning never loses or invents speech.

use promptbook_engine::check::{CheckOptions, check};
use promptbook_engine::plan::{EstimatorKind, MAX_CHUNK_DURATION_S, plan_chunks};
use promptbook_engine::presets;
use promptbook_engine::prompt::pystr::is_py_space;
use promptbook_engine::prompt::{Element, Span, compile_prompt, parse, validate, validate_reference};
use proptest::prelude::*;

/// Line and column of a byte offset, computed independently of the engine.
fn position(src: &str, offset: usize) -> (usize, usize) {
    let before = &src[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    (line, column)
}

fn check_span(src: &str, range: &std::ops::Range<usize>, line: usize, column: usize, what: &str) {
    assert!(
        range.start <= range.end && range.end <= src.len(),
        "{what}: {range:?} outside {} bytes",
        src.len()
    );
    assert!(
        src.is_char_boundary(range.start) && src.is_char_boundary(range.end),
        "{what}: {range:?} splits a char"
    );
    assert_eq!(position(src, range.start), (line, column), "{what}: {range:?} in {src:?}");
}

fn check_span_struct(src: &str, span: &Span, what: &str) {
    check_span(src, &span.range, span.line, span.column, what);
}

fn check_element(src: &str, e: &Element) {
    check_span_struct(src, &e.span, "element");
    check_span_struct(src, &e.start_tag, "start tag");
    check_span_struct(src, &e.name_span, "name");
    assert_eq!(&src[e.name_span.range.clone()], e.qname);
    for a in &e.attributes {
        check_span_struct(src, &a.span, "attribute");
        check_span_struct(src, &a.name_span, "attribute name");
        check_span_struct(src, &a.value_span, "attribute value");
    }
    for run in e.text.iter().chain(&e.tail) {
        check_span_struct(src, &run.span, "text run");
        let mut ends: Vec<usize> = run.text.char_indices().map(|(i, _)| i).collect();
        ends.push(run.text.len());
        for &i in &ends {
            let span = run.span_of(i..run.text.len());
            check_span_struct(src, &span, "text offset");
        }
    }
    for child in &e.children {
        check_element(src, child);
    }
}

/// Runs the whole pipeline and checks every invariant.
fn exercise(src: &str) {
    if let Ok(doc) = parse(src) {
        check_element(src, &doc.root);
    }
    for d in validate(src) {
        check_span(src, &d.span, d.line, d.column, &d.message);
    }
    let reference = validate_reference(src);
    let compiled = compile_prompt(src);
    for estimator in [EstimatorKind::Reference, EstimatorKind::Default] {
        for pace in [0.5, 1.5, 3.0] {
            let report = check(src, &CheckOptions { pace, seed: 7, estimator });
            assert_eq!(report.valid, reference.valid, "{src:?}");
            for issue in report.errors.iter().chain(&report.warnings) {
                check_span(src, &issue.span, issue.line, issue.column, &issue.message);
            }
            serde_json::to_string(&report).expect("report serialises");
            if !report.valid {
                assert!(report.plan.is_empty() && report.compiled.is_none());
                continue;
            }
            let compiled = compiled.as_ref().expect("a valid script compiles");
            assert!(!report.plan.is_empty());
            for (i, chunk) in report.plan.iter().enumerate() {
                assert!(chunk.duration_s.is_finite() && chunk.duration_s >= 0.0, "{chunk:?}");
                assert!(chunk.duration_s <= MAX_CHUNK_DURATION_S, "{chunk:?}");
                assert_eq!(chunk.seed, 7 + 1000 * i as i64);
            }
            // Chunking only drops whitespace and commas (the reference re-joins clauses with ", ").
            let keep = |s: &str| s.chars().filter(|&c| !is_py_space(c) && c != ',').collect::<String>();
            let joined: Vec<&str> = report.plan.iter().map(|c| c.text.as_str()).collect();
            assert_eq!(keep(&joined.join(" ")), keep(&compiled.speech_text), "{src:?}");
        }
    }
    let _ = plan_chunks(src, -1, 1.5, &promptbook_engine::plan::ReferenceEstimator, Default::default());
}

/// Characters that make XML interesting.
fn xmlish() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[<>/a-z =\"'&;#!?\\[\\]\\-.,:\n\r\t éä中😀\u{85}\u{2028}]{0,160}")
        .expect("regex")
}

/// Seeds for mutation: golden-like scripts and every preset.
fn seeds() -> Vec<String> {
    let mut out: Vec<String> = presets::all().iter().map(|p| p.xml()).collect();
    out.extend(
        [
            "<speak voice=\"V\" gender=\"male\">Hello world. Short text.</speak>",
            "<speak voice=\"Tense male whisper\" gender=\"male\" scene=\"Dark room, heavy rain\" shot=\"scene\"><sound>A phone rings twice then stops</sound><action>He picks up the receiver</action>Its done. The package is at the location.<sound>Thunder</sound><action>He continues urgently</action>You have thirty minutes.</speak>",
            "<?xml version=\"1.0\"?>\n<speak voice=\"V &amp; W\" gender='female' language=\"ja\">\r\n  こんにちは。<!-- c --> 元気？<![CDATA[<x>]]>&#x4E2D;\n</speak>",
        ]
        .map(str::to_owned),
    );
    out
}

const TOKENS: &[&str] = &[
    "<",
    ">",
    "/",
    "&",
    "\"",
    "'",
    "=",
    "</speak>",
    "<action>",
    "</action>",
    "<sound>",
    "<b/>",
    "<!--",
    "-->",
    "<![CDATA[",
    "]]>",
    "&amp;",
    "&#10;",
    "&bogus;",
    ".",
    "!",
    "?",
    ",",
    "...",
    "\n",
    "\r\n",
    " ",
    "é",
    "😀",
    "xmlns:p=\"u\" ",
    "p:",
    "shot=\"wide\" ",
];

#[derive(Debug, Clone)]
enum Mutation {
    Insert(usize, usize),
    Delete(usize, usize),
    Duplicate(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 0..TOKENS.len()).prop_map(|(i, t)| Mutation::Insert(i, t)),
        (any::<usize>(), 1usize..8).prop_map(|(i, n)| Mutation::Delete(i, n)),
        (any::<usize>(), 1usize..40).prop_map(|(i, n)| Mutation::Duplicate(i, n)),
    ]
}

fn apply(src: &str, m: &Mutation) -> String {
    let boundary = |i: usize| {
        let mut i = i % (src.len() + 1);
        while !src.is_char_boundary(i) {
            i -= 1;
        }
        i
    };
    match *m {
        Mutation::Insert(i, t) => {
            let i = boundary(i);
            format!("{}{}{}", &src[..i], TOKENS[t], &src[i..])
        }
        Mutation::Delete(i, n) => {
            let i = boundary(i);
            let j = boundary(i + n).max(i);
            format!("{}{}", &src[..i], &src[j..])
        }
        Mutation::Duplicate(i, n) => {
            let i = boundary(i);
            let j = boundary(i + n).max(i);
            format!("{}{}", &src[..j], &src[i..])
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_strings(src in any::<String>()) {
        exercise(&src);
    }

    #[test]
    fn xml_like_strings(src in xmlish()) {
        exercise(&src);
        exercise(&format!("<speak voice=\"V\" gender=\"male\">{src}</speak>"));
    }

    #[test]
    fn mutated_scripts(seed in 0usize..15, mutations in proptest::collection::vec(mutation(), 1..4)) {
        let seeds = seeds();
        let mut src = seeds[seed % seeds.len()].clone();
        for m in &mutations {
            src = apply(&src, m);
        }
        exercise(&src);
    }
}
