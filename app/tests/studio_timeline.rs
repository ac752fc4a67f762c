//! The timeline: peak-pyramid spans agree with a brute-force min/max, and a click seeks.
#![allow(clippy::unwrap_used)]

mod studio_support;

use std::time::Duration;

use egui_kittest::kittest::Queryable;
use promptbook::studio::waveform_view::{PeakPyramid, panned, zoomed};
use promptbook_engine::pipeline::waveform::Waveform;
use studio_support::{VALID, loaded, step_until};

fn noise(frames: usize) -> Waveform {
    // A deterministic xorshift so the test needs no rand crate.
    let mut state = 0x2545_f491_u32;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        (state as f32 / u32::MAX as f32) * 2.0 - 1.0
    };
    let left: Vec<f32> = (0..frames).map(|_| next() * 0.5).collect();
    let right: Vec<f32> = (0..frames).map(|_| next()).collect();
    Waveform::new(48_000, vec![left, right])
}

fn brute(audio: &Waveform, start: usize, end: usize) -> (f32, f32) {
    audio
        .channels
        .iter()
        .flat_map(|c| &c[start..end])
        .fold((f32::INFINITY, f32::NEG_INFINITY), |a, &s| (a.0.min(s), a.1.max(s)))
}

#[test]
fn pyramid_spans_match_brute_force_on_bucket_edges_and_cover_any_span() {
    let audio = noise(100_003);
    let pyramid = PeakPyramid::build(&audio);
    assert_eq!(pyramid.frames(), 100_003);
    assert!(pyramid.level_count() > 10);
    for (start, end, resolution) in [(0, 64, 1), (128, 8192, 64), (4096, 65_536, 4096), (0, 100_003, 100_000)]
    {
        assert_eq!(pyramid.span(start, end, resolution), Some(brute(&audio, start, end)), "{start}..{end}");
    }
    // Unaligned spans come back as the enclosing buckets: never narrower than the true extremes.
    for (start, end, resolution) in [(10, 20, 1), (1000, 77_777, 512), (99_990, 100_003, 3)] {
        let (lo, hi) = pyramid.span(start, end, resolution).unwrap();
        let (tlo, thi) = brute(&audio, start, end);
        assert!(lo <= tlo && hi >= thi, "{start}..{end}: {lo},{hi} vs {tlo},{thi}");
    }
    assert_eq!(pyramid.span(5, 5, 1), None);
    assert_eq!(pyramid.span(200_000, 300_000, 1), None);
}

#[test]
fn zoom_and_pan_stay_inside_the_take() {
    let (a, b) = zoomed((0.0, 10.0), 5.0, 0.5, 10.0);
    assert!((a - 2.5).abs() < 1e-9 && (b - 7.5).abs() < 1e-9, "{a}..{b}");
    assert_eq!(panned((2.5, 7.5), 100.0, 10.0), (5.0, 10.0));
    assert_eq!(panned((2.5, 7.5), -100.0, 10.0), (0.0, 5.0));
    assert_eq!(zoomed((0.0, 10.0), 5.0, 4.0, 10.0), (0.0, 10.0));
}

#[test]
fn clicking_the_timeline_seeks_the_playhead() {
    let mut h = loaded(VALID, Duration::ZERO);
    h.state_mut().render().unwrap();
    step_until(&mut h, "a take arrives", |app| app.takes().live().count() == 1);
    h.run();
    h.get_by_label("Timeline").click();
    h.run();
    let duration = h.state().takes().get(1).unwrap().audio.duration_s();
    let at = h.state().transport().position_s();
    assert!((at - duration / 2.0).abs() < duration * 0.02, "clicked the middle: {at} of {duration}");
}

#[test]
fn dragging_on_the_timeline_selects_a_span() {
    let mut h = loaded(VALID, Duration::ZERO);
    h.state_mut().render().unwrap();
    step_until(&mut h, "a take arrives", |app| app.takes().live().count() == 1);
    h.run();
    let rect = h.get_by_label("Timeline").rect();
    let at = |f: f32| egui::pos2(rect.left() + rect.width() * f, rect.center().y);
    h.hover_at(at(0.25));
    h.step();
    h.drag_at(at(0.25));
    h.step();
    for f in [0.3, 0.5, 0.75] {
        h.hover_at(at(f));
        h.step();
    }
    h.drop_at(at(0.75));
    h.step();
    let duration = h.state().takes().get(1).unwrap().audio.duration_s();
    let (a, b) = h.state().selection().expect("a selection");
    assert!(
        (a - 0.25 * duration).abs() < 0.02 * duration && (b - 0.75 * duration).abs() < 0.02 * duration,
        "{a}..{b} of {duration}"
    );
}
